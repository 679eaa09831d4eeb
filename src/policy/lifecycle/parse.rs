//! Lifecycle policy text: parsing and validation into the [`Policy`] model.
//!
//! # Grammar (docs: "Lifecycle policy properties in Amazon ECR")
//! ```text
//! { "rules": [ { "rulePriority": int >= 1, "description": "...",
//!     "selection": { "tagStatus": "tagged"|"untagged"|"any",
//!                    "tagPatternList": [..] | "tagPrefixList": [..],        (tagged only, exactly one)
//!                    "storageClass": "standard"|"archive",                   (default standard)
//!                    "countType": "imageCountMoreThan"|"sinceImagePushed"|"sinceImagePulled"|"sinceImageTransitioned",
//!                    "countUnit": "days",                                    (since* only)
//!                    "countNumber": int >= 1 },
//!     "action": { "type": "expire"|"transition", "targetStorageClass": "archive" } } ] }
//! ```
//!
//! # Error messages
//! `parse` returns only the *detail*; the caller wraps it as
//! `Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: <detail>'`.
//! Where AWS's wording is known (moto reproduces AWS's JSON-schema validator texts) it is used verbatim:
//! `Could not map policyString into LifecyclePolicy.`, `object has missing required properties (...)`,
//! `object instance has properties which are not allowed by the schema: (...)`,
//! `instance value (x) not found in enum :(possible values: [...])`,
//! `numeric instance is lower than the required minimum (minimum: 1, found: 0)` and its `greater than the
//! required maximum` twin. Every other message (limits, cross-field and cross-rule rules, including
//! the "`any` must be evaluated last" rule) is **our own wording: AWS's exact text is unknown**.
//!
//! # Limits chosen here (AWS does not document them; see `ecr-api.md` §9.1, §16)
//! * at most [`MAX_RULES`] (50) rules per policy;
//! * at most [`MAX_FILTERS`] (100) entries per `tagPrefixList` / `tagPatternList`, each 1..=[`MAX_FILTER_CHARS`]
//!   (300, the maximum tag length) characters, no duplicates within a list;
//! * at most [`MAX_WILDCARDS`] (4) `*` per pattern (documented by AWS);
//! * `description` at most [`MAX_DESCRIPTION_CHARS`] (256) characters;
//! * `sinceImageTransitioned` needs `countNumber >= ` [`MIN_ARCHIVE_DAYS`] (90): AWS documents that lifecycle
//!   policies cannot delete images archived for less than 90 days (the exact validation is unverified);
//! * numbers are JSON integers in `1..=i32::MAX` (`1.0`, `"1"`, `1e3` are rejected as unmappable).
//!
//! The policy text length (100..=30720 characters) is checked by the caller. A member repeated in
//! one JSON object keeps its last value (as serde_json and Jackson both do).

use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

use super::{CountType, Policy, Rule, RuleAction, Selection, StorageClass, TagFilter, TagStatus};

/// Most rules one policy may hold (a third-party summary says 50; unverified against AWS).
pub const MAX_RULES: usize = 50;
/// Most entries in one `tagPrefixList` or `tagPatternList` (our choice).
pub const MAX_FILTERS: usize = 100;
/// Longest prefix or pattern, in characters (the longest tag ECR accepts).
pub const MAX_FILTER_CHARS: usize = 300;
/// Most `*` wildcards in one `tagPatternList` entry (documented by AWS).
pub const MAX_WILDCARDS: usize = 4;
/// Longest `description`, in characters (our choice).
pub const MAX_DESCRIPTION_CHARS: usize = 256;
/// Archived images have a 90-day minimum storage duration; lifecycle rules cannot delete them earlier.
pub const MIN_ARCHIVE_DAYS: u32 = 90;

const MAX_INT: i128 = i32::MAX as i128;
const COULD_NOT_MAP: &str = "Could not map policyString into LifecyclePolicy.";
/// Values echoed in error messages are cut to this many characters.
const SHOWN_CHARS: usize = 100;

type Res<T> = Result<T, String>;

fn could_not_map() -> String {
    COULD_NOT_MAP.to_string()
}

/// Cut a value echoed in a message to a readable length (on a character boundary).
fn shown(s: &str) -> String {
    match s.char_indices().nth(SHOWN_CHARS) {
        Some((at, _)) => format!("{}...", &s[..at]),
        None => s.to_string(),
    }
}

fn quoted(s: &str) -> String {
    serde_json::to_string(&shown(s)).unwrap_or_else(|_| "\"?\"".to_string())
}

/// `["a","b"]`, as the JSON-schema validator prints name lists.
fn json_list(items: &[&str]) -> String {
    let parts: Vec<String> = items.iter().map(|s| quoted(s)).collect();
    format!("[{}]", parts.join(","))
}

fn get<'v>(obj: &'v Map<String, Value>, key: &str) -> &'v Value {
    static NULL: Value = Value::Null;
    obj.get(key).unwrap_or(&NULL)
}

fn object(v: &Value) -> Res<&Map<String, Value>> {
    v.as_object().ok_or_else(could_not_map)
}

/// Required members first, then unknown ones; both lists sorted.
fn check_members(obj: &Map<String, Value>, allowed: &[&str], required: &[&str]) -> Res<()> {
    let mut missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|k| !obj.contains_key(*k))
        .collect();
    if !missing.is_empty() {
        missing.sort_unstable();
        return Err(format!(
            "object has missing required properties ({})",
            json_list(&missing)
        ));
    }
    let mut extra: Vec<&str> = obj
        .keys()
        .map(String::as_str)
        .filter(|k| !allowed.contains(k))
        .collect();
    if !extra.is_empty() {
        extra.sort_unstable();
        return Err(format!(
            "object instance has properties which are not allowed by the schema: ({})",
            json_list(&extra)
        ));
    }
    Ok(())
}

/// A JSON integer in `min..=i32::MAX`. Floats, strings, booleans and null do not map.
fn integer(v: &Value, min: i128) -> Res<u32> {
    let n: i128 = if let Some(i) = v.as_i64() {
        i128::from(i)
    } else if let Some(u) = v.as_u64() {
        i128::from(u)
    } else {
        return Err(could_not_map());
    };
    if n < min {
        return Err(format!(
            "numeric instance is lower than the required minimum (minimum: {min}, found: {n})"
        ));
    }
    if n > MAX_INT {
        return Err(format!(
            "numeric instance is greater than the required maximum (maximum: {MAX_INT}, found: {n})"
        ));
    }
    u32::try_from(n).map_err(|_| could_not_map())
}

/// A string that must be one of `allowed` (case-sensitive; `allowed` is sorted).
fn enum_value<'v>(v: &'v Value, allowed: &[&str]) -> Res<&'v str> {
    let s = v.as_str().ok_or_else(could_not_map)?;
    if allowed.contains(&s) {
        Ok(s)
    } else {
        Err(format!(
            "instance value ({}) not found in enum :(possible values: {})",
            shown(s),
            json_list(allowed)
        ))
    }
}

fn optional_enum<'v>(
    obj: &'v Map<String, Value>,
    key: &str,
    allowed: &[&str],
) -> Res<Option<&'v str>> {
    obj.get(key).map(|v| enum_value(v, allowed)).transpose()
}

/// A `tagPrefixList` / `tagPatternList`: 1..=MAX_FILTERS non-empty, distinct strings.
fn filter_list(v: &Value, name: &str, patterns: bool) -> Res<Vec<String>> {
    let arr = v.as_array().ok_or_else(could_not_map)?;
    // Type errors first: a list holding a non-string does not map at all.
    let items: Vec<&str> = arr
        .iter()
        .map(|e| e.as_str().ok_or_else(could_not_map))
        .collect::<Res<_>>()?;
    if items.is_empty() {
        return Err(format!("{name} must contain at least 1 entry"));
    }
    if items.len() > MAX_FILTERS {
        return Err(format!(
            "{name} may contain at most {MAX_FILTERS} entries, found {}",
            items.len()
        ));
    }
    let mut seen = HashSet::new();
    for s in &items {
        if s.is_empty() {
            return Err(format!("{name} entries must not be empty strings"));
        }
        if s.chars().count() > MAX_FILTER_CHARS {
            return Err(format!(
                "{name} entry {} is longer than {MAX_FILTER_CHARS} characters",
                quoted(s)
            ));
        }
        if patterns {
            let stars = s.matches('*').count();
            if stars > MAX_WILDCARDS {
                return Err(format!(
                    "{name} entry {} has {stars} wildcards; at most {MAX_WILDCARDS} '*' are allowed per pattern",
                    quoted(s)
                ));
            }
        }
        if !seen.insert(*s) {
            return Err(format!("{name} contains {} more than once", quoted(s)));
        }
    }
    Ok(items.into_iter().map(str::to_string).collect())
}

const RULE_MEMBERS: &[&str] = &["action", "description", "rulePriority", "selection"];
const RULE_REQUIRED: &[&str] = &["action", "rulePriority", "selection"];
const SELECTION_MEMBERS: &[&str] = &[
    "countNumber",
    "countType",
    "countUnit",
    "storageClass",
    "tagPatternList",
    "tagPrefixList",
    "tagStatus",
];
const SELECTION_REQUIRED: &[&str] = &["countNumber", "countType", "tagStatus"];
const ACTION_MEMBERS: &[&str] = &["targetStorageClass", "type"];
const TAG_STATUSES: &[&str] = &["any", "tagged", "untagged"];
const COUNT_TYPES: &[&str] = &[
    "imageCountMoreThan",
    "sinceImagePulled",
    "sinceImagePushed",
    "sinceImageTransitioned",
];
const COUNT_UNITS: &[&str] = &["days"];
const STORAGE_CLASSES: &[&str] = &["archive", "standard"];
const ACTION_TYPES: &[&str] = &["expire", "transition"];
const TARGET_STORAGE_CLASSES: &[&str] = &["archive"];

fn parse_rule(v: &Value) -> Res<Rule> {
    let rule = object(v)?;
    check_members(rule, RULE_MEMBERS, RULE_REQUIRED)?;
    let rule_priority = integer(get(rule, "rulePriority"), 1)?;
    let description = match rule.get("description") {
        None => None,
        Some(d) => {
            let d = d.as_str().ok_or_else(could_not_map)?;
            let len = d.chars().count();
            if len > MAX_DESCRIPTION_CHARS {
                return Err(format!(
                    "description is longer than {MAX_DESCRIPTION_CHARS} characters (found {len})"
                ));
            }
            Some(d.to_string())
        }
    };

    // --- selection: members and types ---
    let sel = object(get(rule, "selection"))?;
    check_members(sel, SELECTION_MEMBERS, SELECTION_REQUIRED)?;
    let tag_status = match enum_value(get(sel, "tagStatus"), TAG_STATUSES)? {
        "tagged" => TagStatus::Tagged,
        "untagged" => TagStatus::Untagged,
        _ => TagStatus::Any,
    };
    let count_type = enum_value(get(sel, "countType"), COUNT_TYPES)?;
    let count_number = integer(get(sel, "countNumber"), 1)?;
    let count_unit = optional_enum(sel, "countUnit", COUNT_UNITS)?;
    let storage_class = match optional_enum(sel, "storageClass", STORAGE_CLASSES)? {
        Some("archive") => StorageClass::Archive,
        _ => StorageClass::Standard,
    };
    let prefixes = sel
        .get("tagPrefixList")
        .map(|v| filter_list(v, "tagPrefixList", false))
        .transpose()?;
    let patterns = sel
        .get("tagPatternList")
        .map(|v| filter_list(v, "tagPatternList", true))
        .transpose()?;

    // --- action: members and types ---
    let act = object(get(rule, "action"))?;
    check_members(act, ACTION_MEMBERS, &["type"])?;
    let action = match enum_value(get(act, "type"), ACTION_TYPES)? {
        "transition" => RuleAction::Transition,
        _ => RuleAction::Expire,
    };
    let target = optional_enum(act, "targetStorageClass", TARGET_STORAGE_CLASSES)?;

    // --- cross-field rules (our wording unless noted) ---
    let tag_filter = match (tag_status, prefixes, patterns) {
        (_, Some(_), Some(_)) => {
            return Err(
                "a rule may specify tagPrefixList or tagPatternList, but not both".to_string(),
            )
        }
        (TagStatus::Tagged, Some(p), None) => TagFilter::Prefixes(p),
        (TagStatus::Tagged, None, Some(p)) => TagFilter::Patterns(p),
        (TagStatus::Tagged, None, None) => {
            return Err(
                "tagStatus 'tagged' requires a tagPrefixList or a tagPatternList".to_string(),
            )
        }
        (status, prefixes, patterns) => {
            let list = if prefixes.is_some() {
                Some("tagPrefixList")
            } else if patterns.is_some() {
                Some("tagPatternList")
            } else {
                None
            };
            if let Some(list) = list {
                let name = if status == TagStatus::Untagged {
                    "untagged"
                } else {
                    "any"
                };
                return Err(format!(
                    "{list} may only be used when tagStatus is 'tagged' (this rule has tagStatus '{name}')"
                ));
            }
            TagFilter::None
        }
    };

    let since = |days| -> Res<u32> {
        if count_unit.is_none() {
            return Err("object has missing required properties ([\"countUnit\"])".to_string());
        }
        Ok(days)
    };
    let count = match count_type {
        "imageCountMoreThan" => {
            if count_unit.is_some() {
                return Err(
                    "countUnit may only be used when countType is sinceImagePushed, sinceImagePulled or sinceImageTransitioned"
                        .to_string(),
                );
            }
            CountType::ImageCountMoreThan(count_number)
        }
        "sinceImagePushed" => CountType::SinceImagePushed {
            days: since(count_number)?,
        },
        "sinceImagePulled" => CountType::SinceImagePulled {
            days: since(count_number)?,
        },
        _ => CountType::SinceImageTransitioned {
            days: since(count_number)?,
        },
    };

    match (count, storage_class) {
        (CountType::SinceImageTransitioned { .. }, StorageClass::Standard) => {
            return Err(
                "countType sinceImageTransitioned requires storageClass 'archive'".to_string(),
            )
        }
        (CountType::SinceImageTransitioned { days }, StorageClass::Archive)
            if days < MIN_ARCHIVE_DAYS =>
        {
            return Err(format!(
                "countNumber for countType sinceImageTransitioned must be at least {MIN_ARCHIVE_DAYS} days \
                 (archived images have a {MIN_ARCHIVE_DAYS}-day minimum storage duration), found: {days}"
            ));
        }
        (CountType::SinceImageTransitioned { .. }, StorageClass::Archive) => {}
        (_, StorageClass::Archive) => {
            return Err(
                "storageClass 'archive' may only be used with countType sinceImageTransitioned"
                    .to_string(),
            )
        }
        _ => {}
    }

    match (action, target) {
        (RuleAction::Transition, None) => {
            return Err(
                "object has missing required properties ([\"targetStorageClass\"])".to_string(),
            )
        }
        (RuleAction::Expire, Some(_)) => {
            return Err(
                "targetStorageClass may only be used when the action type is 'transition'"
                    .to_string(),
            )
        }
        _ => {}
    }
    match (count, action) {
        (CountType::SinceImagePulled { .. }, RuleAction::Expire) => {
            return Err(
                "countType sinceImagePulled may only be used with action type 'transition' \
                 (images cannot be expired directly by pull time)"
                    .to_string(),
            )
        }
        (CountType::SinceImageTransitioned { .. }, RuleAction::Transition) => {
            return Err(
                "countType sinceImageTransitioned may only be used with action type 'expire'"
                    .to_string(),
            )
        }
        _ => {}
    }

    Ok(Rule {
        rule_priority,
        description,
        selection: Selection {
            tag_status,
            tag_filter,
            storage_class,
            count,
        },
        action,
    })
}

/// Parse and validate policy text. `Err` is the *detail* the caller wraps as
/// `Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: <detail>'`.
/// Never panics; nesting deeper than serde_json's recursion limit (128) does not map.
pub fn parse(text: &str) -> Result<Policy, String> {
    let value: Value = serde_json::from_str(text).map_err(|_| could_not_map())?;
    let top = object(&value)?;
    check_members(top, &["rules"], &["rules"])?;
    let list = get(top, "rules").as_array().ok_or_else(could_not_map)?;
    if list.is_empty() {
        return Err("rules must contain at least 1 rule".to_string());
    }
    if list.len() > MAX_RULES {
        return Err(format!(
            "a lifecycle policy may contain at most {MAX_RULES} rules, found {}",
            list.len()
        ));
    }
    let mut rules: Vec<Rule> = list.iter().map(parse_rule).collect::<Res<_>>()?;

    // Unique priorities (checked in text order so the message names the repeated value).
    let mut seen: HashSet<u32> = HashSet::new();
    for r in &rules {
        if !seen.insert(r.rule_priority) {
            return Err(format!(
                "rulePriority {} is used by more than one rule; every rule needs a unique rulePriority",
                r.rule_priority
            ));
        }
    }
    rules.sort_by_key(|r| r.rule_priority);

    // Cross-rule constraints are scoped per storage class, as the docs state for prefixes and
    // untagged rules. The `any` rule is scoped the same way: AWS's own "Combining archive and
    // expire rules" example has an `any` rule in each storage class (priorities 1 and 2).
    for class in [StorageClass::Standard, StorageClass::Archive] {
        let in_class: Vec<&Rule> = rules
            .iter()
            .filter(|r| r.selection.storage_class == class)
            .collect();
        let Some(last) = in_class.last() else {
            continue;
        };
        if let Some(any) = in_class.iter().find(|r| {
            r.selection.tag_status == TagStatus::Any && r.rule_priority != last.rule_priority
        }) {
            // AWS's exact wording is unknown.
            return Err(format!(
                "the rule with tagStatus 'any' must have the highest rulePriority (be evaluated last) among the rules \
                 selecting storageClass '{}': rulePriority {} has tagStatus 'any' but rulePriority {} is higher",
                class.policy_name(),
                any.rule_priority,
                last.rule_priority
            ));
        }
        let mut untagged: Option<u32> = None;
        let mut prefixes: HashMap<&str, u32> = HashMap::new();
        for r in &in_class {
            if r.selection.tag_status == TagStatus::Untagged {
                if let Some(first) = untagged {
                    return Err(format!(
                        "only one rule selecting storageClass '{}' may have tagStatus 'untagged' \
                         (rulePriority {first} and {} both do)",
                        class.policy_name(),
                        r.rule_priority
                    ));
                }
                untagged = Some(r.rule_priority);
            }
            if let TagFilter::Prefixes(list) = &r.selection.tag_filter {
                for p in list {
                    if let Some(first) = prefixes.insert(p.as_str(), r.rule_priority) {
                        return Err(format!(
                            "tagPrefixList entry {} appears in more than one rule selecting storageClass '{}' \
                             (rulePriority {first} and {}); prefixes must be unique across rules",
                            quoted(p),
                            class.policy_name(),
                            r.rule_priority
                        ));
                    }
                }
            }
        }
    }
    Ok(Policy { rules })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    #[test]
    fn invalid_policies_are_rejected_with_clear_details() {
        let cnm = COULD_NOT_MAP;
        let fifty_one: Vec<String> = (1..=51)
            .map(|p| rule_json(p, &prefix_sel(&format!("p{p}"))))
            .collect();
        let hundred_one: Vec<String> = (0..101).map(|i| format!("\"t{i}\"")).collect();
        let long_desc = "d".repeat(257);
        let long_prefix = "x".repeat(301);
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let deep_obj = format!("{}1{}", r#"{"a":"#.repeat(5_000), "}".repeat(5_000));
        let deep_in_list = one(
            &format!(
                r#"{{"tagStatus":"tagged","tagPrefixList":{}"x"{},"countType":"imageCountMoreThan","countNumber":1}}"#,
                "[".repeat(1000),
                "]".repeat(1000)
            ),
            EXPIRE,
        );

        let cases: Vec<(String, String)> = vec![
            // --- not JSON / wrong shapes ---
            ("".into(), cnm.into()),
            ("not json".into(), cnm.into()),
            ("[]".into(), cnm.into()),
            (r#""rules""#.into(), cnm.into()),
            ("null".into(), cnm.into()),
            (format!("{} trailing", one(SEL_OK, EXPIRE)), cnm.into()),
            (deep, cnm.into()),
            (deep_obj, cnm.into()),
            (deep_in_list, cnm.into()),
            (r#"{"rules":{}}"#.into(), cnm.into()),
            (r#"{"rules":null}"#.into(), cnm.into()),
            (r#"{"rules":[1]}"#.into(), cnm.into()),
            (r#"{"rules":["rule"]}"#.into(), cnm.into()),
            // --- top-level members ---
            ("{}".into(), r#"object has missing required properties (["rules"])"#.into()),
            (r#"{"Rules":[]}"#.into(), r#"object has missing required properties (["rules"])"#.into()),
            (
                format!(r#"{{"foo":1,"bar":2,"rules":{}}}"#, &one(SEL_OK, EXPIRE)[9..one(SEL_OK, EXPIRE).len() - 1]),
                r#"object instance has properties which are not allowed by the schema: (["bar","foo"])"#.into(),
            ),
            // --- rule count ---
            (r#"{"rules":[]}"#.into(), "rules must contain at least 1 rule".into()),
            (rules_json(&fifty_one), "a lifecycle policy may contain at most 50 rules, found 51".into()),
            // --- rule members ---
            (
                r#"{"rules":[{"rulePriority":1}]}"#.into(),
                r#"object has missing required properties (["action","selection"])"#.into(),
            ),
            (
                format!(r#"{{"rules":[{{"rulePriority":1,"priority":2,"selection":{SEL_OK},"action":{EXPIRE}}}]}}"#),
                r#"object instance has properties which are not allowed by the schema: (["priority"])"#.into(),
            ),
            (
                one(r#"{"tagStatus":"untagged"}"#, EXPIRE),
                r#"object has missing required properties (["countNumber","countType"])"#.into(),
            ),
            (
                one(
                    r#"{"tagStatus":"untagged","tagPrefix":["a"],"countType":"imageCountMoreThan","countNumber":1}"#,
                    EXPIRE,
                ),
                r#"object instance has properties which are not allowed by the schema: (["tagPrefix"])"#.into(),
            ),
            (one(SEL_OK, "{}"), r#"object has missing required properties (["type"])"#.into()),
            (
                one(SEL_OK, r#"{"type":"expire","foo":"x"}"#),
                r#"object instance has properties which are not allowed by the schema: (["foo"])"#.into(),
            ),
            (one(SEL_OK, "[]"), cnm.into()),
            (one("\"untagged\"", EXPIRE), cnm.into()),
            // --- enums ---
            (
                one(r#"{"tagStatus":"bogus","countType":"imageCountMoreThan","countNumber":1}"#, EXPIRE),
                r#"instance value (bogus) not found in enum :(possible values: ["any","tagged","untagged"])"#.into(),
            ),
            (
                one(r#"{"tagStatus":"UNTAGGED","countType":"imageCountMoreThan","countNumber":1}"#, EXPIRE),
                r#"instance value (UNTAGGED) not found in enum :(possible values: ["any","tagged","untagged"])"#.into(),
            ),
            (
                one(r#"{"tagStatus":"tägged✓","countType":"imageCountMoreThan","countNumber":1}"#, EXPIRE),
                r#"instance value (tägged✓) not found in enum :(possible values: ["any","tagged","untagged"])"#.into(),
            ),
            (
                one(r#"{"tagStatus":"untagged","countType":"sinceImageCreated","countNumber":1}"#, EXPIRE),
                r#"instance value (sinceImageCreated) not found in enum :(possible values: ["imageCountMoreThan","sinceImagePulled","sinceImagePushed","sinceImageTransitioned"])"#.into(),
            ),
            (
                one(r#"{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"hours","countNumber":1}"#, EXPIRE),
                r#"instance value (hours) not found in enum :(possible values: ["days"])"#.into(),
            ),
            (
                one(SEL_OK, r#"{"type":"delete"}"#),
                r#"instance value (delete) not found in enum :(possible values: ["expire","transition"])"#.into(),
            ),
            (
                one(r#"{"tagStatus":"untagged","storageClass":"glacier","countType":"imageCountMoreThan","countNumber":1}"#, EXPIRE),
                r#"instance value (glacier) not found in enum :(possible values: ["archive","standard"])"#.into(),
            ),
            (
                one(
                    r#"{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1}"#,
                    r#"{"type":"transition","targetStorageClass":"standard"}"#,
                ),
                r#"instance value (standard) not found in enum :(possible values: ["archive"])"#.into(),
            ),
            (one(r#"{"tagStatus":1,"countType":"imageCountMoreThan","countNumber":1}"#, EXPIRE), cnm.into()),
            // --- numbers ---
            (
                format!(r#"{{"rules":[{}]}}"#, rule_json(0, SEL_OK)),
                "numeric instance is lower than the required minimum (minimum: 1, found: 0)".into(),
            ),
            (
                format!(r#"{{"rules":[{}]}}"#, rule_json(-7, SEL_OK)),
                "numeric instance is lower than the required minimum (minimum: 1, found: -7)".into(),
            ),
            (
                format!(r#"{{"rules":[{}]}}"#, rule_json(2_147_483_648, SEL_OK)),
                "numeric instance is greater than the required maximum (maximum: 2147483647, found: 2147483648)".into(),
            ),
            (
                format!(r#"{{"rules":[{}]}}"#, rule_json(i64::MIN, SEL_OK)),
                format!("numeric instance is lower than the required minimum (minimum: 1, found: {})", i64::MIN),
            ),
            (
                one(r#"{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":18446744073709551615}"#, EXPIRE),
                "numeric instance is greater than the required maximum (maximum: 2147483647, found: 18446744073709551615)".into(),
            ),
            (
                one(r#"{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":0}"#, EXPIRE),
                "numeric instance is lower than the required minimum (minimum: 1, found: 0)".into(),
            ),
            (one(r#"{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1.5}"#, EXPIRE), cnm.into()),
            (one(r#"{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1.0}"#, EXPIRE), cnm.into()),
            (one(r#"{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":"1"}"#, EXPIRE), cnm.into()),
            (one(r#"{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1e400}"#, EXPIRE), cnm.into()),
            (
                one(r#"{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":123456789012345678901234567890}"#, EXPIRE),
                cnm.into(),
            ),
            (one(r#"{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":true}"#, EXPIRE), cnm.into()),
            (
                r#"{"rules":[{"rulePriority":"1","selection":{},"action":{}}]}"#.into(),
                cnm.into(),
            ),
            (
                r#"{"rules":[{"rulePriority":1,"selection":{},"action":{}}]}"#.into(),
                r#"object has missing required properties (["countNumber","countType","tagStatus"])"#.into(),
            ),
            // --- description ---
            (
                format!(r#"{{"rules":[{{"rulePriority":1,"description":7,"selection":{SEL_OK},"action":{EXPIRE}}}]}}"#),
                cnm.into(),
            ),
            (
                format!(r#"{{"rules":[{{"rulePriority":1,"description":null,"selection":{SEL_OK},"action":{EXPIRE}}}]}}"#),
                cnm.into(),
            ),
            (
                format!(r#"{{"rules":[{{"rulePriority":1,"description":"{long_desc}","selection":{SEL_OK},"action":{EXPIRE}}}]}}"#),
                "description is longer than 256 characters (found 257)".into(),
            ),
            // --- tag filters ---
            (
                one(r#"{"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":1}"#, EXPIRE),
                "tagStatus 'tagged' requires a tagPrefixList or a tagPatternList".into(),
            ),
            (
                one(r#"{"tagStatus":"untagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":1}"#, EXPIRE),
                "tagPrefixList may only be used when tagStatus is 'tagged' (this rule has tagStatus 'untagged')".into(),
            ),
            (
                one(r#"{"tagStatus":"any","tagPatternList":["v*"],"countType":"imageCountMoreThan","countNumber":1}"#, EXPIRE),
                "tagPatternList may only be used when tagStatus is 'tagged' (this rule has tagStatus 'any')".into(),
            ),
            (
                one(
                    r#"{"tagStatus":"tagged","tagPrefixList":["v"],"tagPatternList":["v*"],"countType":"imageCountMoreThan","countNumber":1}"#,
                    EXPIRE,
                ),
                "a rule may specify tagPrefixList or tagPatternList, but not both".into(),
            ),
            (
                one(r#"{"tagStatus":"tagged","tagPatternList":["test*1*2*3*4*5*6"],"countType":"imageCountMoreThan","countNumber":1}"#, EXPIRE),
                r#"tagPatternList entry "test*1*2*3*4*5*6" has 6 wildcards; at most 4 '*' are allowed per pattern"#.into(),
            ),
            (
                one(r#"{"tagStatus":"tagged","tagPatternList":["*****"],"countType":"imageCountMoreThan","countNumber":1}"#, EXPIRE),
                r#"tagPatternList entry "*****" has 5 wildcards; at most 4 '*' are allowed per pattern"#.into(),
            ),
            (
                one(r#"{"tagStatus":"tagged","tagPrefixList":[],"countType":"imageCountMoreThan","countNumber":1}"#, EXPIRE),
                "tagPrefixList must contain at least 1 entry".into(),
            ),
            (
                one(r#"{"tagStatus":"tagged","tagPrefixList":[""],"countType":"imageCountMoreThan","countNumber":1}"#, EXPIRE),
                "tagPrefixList entries must not be empty strings".into(),
            ),
            (
                one(r#"{"tagStatus":"tagged","tagPatternList":["a","a"],"countType":"imageCountMoreThan","countNumber":1}"#, EXPIRE),
                r#"tagPatternList contains "a" more than once"#.into(),
            ),
            (
                one(
                    &format!(r#"{{"tagStatus":"tagged","tagPrefixList":[{}],"countType":"imageCountMoreThan","countNumber":1}}"#, hundred_one.join(",")),
                    EXPIRE,
                ),
                "tagPrefixList may contain at most 100 entries, found 101".into(),
            ),
            (
                one(
                    &format!(r#"{{"tagStatus":"tagged","tagPrefixList":["{long_prefix}"],"countType":"imageCountMoreThan","countNumber":1}}"#),
                    EXPIRE,
                ),
                format!(r#"tagPrefixList entry "{}..." is longer than 300 characters"#, "x".repeat(100)),
            ),
            (
                one(r#"{"tagStatus":"tagged","tagPrefixList":["v",1],"countType":"imageCountMoreThan","countNumber":1}"#, EXPIRE),
                cnm.into(),
            ),
            (
                one(r#"{"tagStatus":"tagged","tagPrefixList":"v","countType":"imageCountMoreThan","countNumber":1}"#, EXPIRE),
                cnm.into(),
            ),
            // --- countUnit ---
            (
                one(r#"{"tagStatus":"untagged","countType":"sinceImagePushed","countNumber":14}"#, EXPIRE),
                r#"object has missing required properties (["countUnit"])"#.into(),
            ),
            (
                one(r#"{"tagStatus":"untagged","countType":"imageCountMoreThan","countUnit":"days","countNumber":1}"#, EXPIRE),
                "countUnit may only be used when countType is sinceImagePushed, sinceImagePulled or sinceImageTransitioned".into(),
            ),
            // --- count type / storage class / action combinations ---
            (
                one(r#"{"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":90}"#, EXPIRE),
                "countType sinceImagePulled may only be used with action type 'transition' (images cannot be expired directly by pull time)".into(),
            ),
            (
                one(
                    r#"{"tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":365}"#,
                    TRANSITION,
                ),
                "countType sinceImageTransitioned may only be used with action type 'expire'".into(),
            ),
            (
                one(r#"{"tagStatus":"any","countType":"sinceImageTransitioned","countUnit":"days","countNumber":365}"#, EXPIRE),
                "countType sinceImageTransitioned requires storageClass 'archive'".into(),
            ),
            (
                one(
                    r#"{"tagStatus":"any","storageClass":"standard","countType":"sinceImageTransitioned","countUnit":"days","countNumber":365}"#,
                    EXPIRE,
                ),
                "countType sinceImageTransitioned requires storageClass 'archive'".into(),
            ),
            (
                one(r#"{"tagStatus":"any","storageClass":"archive","countType":"sinceImagePushed","countUnit":"days","countNumber":30}"#, EXPIRE),
                "storageClass 'archive' may only be used with countType sinceImageTransitioned".into(),
            ),
            (
                one(r#"{"tagStatus":"any","storageClass":"archive","countType":"imageCountMoreThan","countNumber":3}"#, EXPIRE),
                "storageClass 'archive' may only be used with countType sinceImageTransitioned".into(),
            ),
            (
                one(
                    r#"{"tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":30}"#,
                    EXPIRE,
                ),
                "countNumber for countType sinceImageTransitioned must be at least 90 days (archived images have a 90-day minimum storage duration), found: 30".into(),
            ),
            (
                one(r#"{"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":30}"#, r#"{"type":"transition"}"#),
                r#"object has missing required properties (["targetStorageClass"])"#.into(),
            ),
            (
                one(SEL_OK, r#"{"type":"expire","targetStorageClass":"archive"}"#),
                "targetStorageClass may only be used when the action type is 'transition'".into(),
            ),
            // --- cross-rule ---
            (
                rules_json(&[rule_json(3, &prefix_sel("a")), rule_json(3, &prefix_sel("b"))]),
                "rulePriority 3 is used by more than one rule; every rule needs a unique rulePriority".into(),
            ),
            (
                rules_json(&[
                    rule_json(1, r#"{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":5}"#),
                    rule_json(2, &prefix_sel("a")),
                ]),
                "the rule with tagStatus 'any' must have the highest rulePriority (be evaluated last) among the rules selecting storageClass 'standard': rulePriority 1 has tagStatus 'any' but rulePriority 2 is higher".into(),
            ),
            (
                rules_json(&[
                    rule_json(5, r#"{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":5}"#),
                    rule_json(9, r#"{"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":5}"#),
                ]),
                "the rule with tagStatus 'any' must have the highest rulePriority (be evaluated last) among the rules selecting storageClass 'standard': rulePriority 5 has tagStatus 'any' but rulePriority 9 is higher".into(),
            ),
            (
                rules_json(&[rule_json(1, &prefix_sel("prod")), rule_json(2, &prefix_sel("prod"))]),
                r#"tagPrefixList entry "prod" appears in more than one rule selecting storageClass 'standard' (rulePriority 1 and 2); prefixes must be unique across rules"#.into(),
            ),
            (
                rules_json(&[
                    rule_json(1, SEL_OK),
                    rule_json(4, r#"{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":3}"#),
                ]),
                "only one rule selecting storageClass 'standard' may have tagStatus 'untagged' (rulePriority 1 and 4 both do)".into(),
            ),
        ];
        assert!(cases.len() >= 30);
        for (text, want) in &cases {
            match parse(text) {
                Ok(p) => panic!(
                    "expected rejection `{want}`, but parsed {p:?}\n{}",
                    shown(text)
                ),
                Err(got) => assert_eq!(&got, want, "policy: {}", shown(text)),
            }
        }
    }

    #[test]
    fn valid_policies_parse() {
        let cases: Vec<String> = vec![
            one(SEL_OK, EXPIRE),
            // Four wildcards per pattern is the documented maximum.
            one(
                r#"{"tagStatus":"tagged","tagPatternList":["*test*1*2*3","test*1*2*3*"],"countType":"imageCountMoreThan","countNumber":1}"#,
                EXPIRE,
            ),
            // Unicode, explicit standard storage class, the largest priority and count.
            r#"{"rules":[{"rulePriority":2147483647,"description":"ünïcödé ✓","selection":{"tagStatus":"tagged","tagPrefixList":["prød-","β"],"storageClass":"standard","countType":"imageCountMoreThan","countNumber":2147483647},"action":{"type":"expire"}}]}"#.to_string(),
            // The same prefix and an untagged rule in each storage class are fine.
            rules_json(&[
                rule_json(1, &prefix_sel("prod")),
                r#"{"rulePriority":2,"selection":{"tagStatus":"tagged","tagPrefixList":["prod"],"storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":90},"action":{"type":"expire"}}"#.to_string(),
                rule_json(3, SEL_OK),
                r#"{"rulePriority":4,"selection":{"tagStatus":"untagged","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":120},"action":{"type":"expire"}}"#.to_string(),
            ]),
            // Pattern lists may repeat across rules (only prefixes must be unique).
            rules_json(&[
                rule_json(1, r#"{"tagStatus":"tagged","tagPatternList":["v*"],"countType":"imageCountMoreThan","countNumber":1}"#),
                rule_json(2, r#"{"tagStatus":"tagged","tagPatternList":["v*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":1}"#),
            ]),
            // Whitespace and member order do not matter; an empty description is allowed.
            "\n { \"rules\" : [ { \"action\" : { \"type\" : \"expire\" }, \"selection\" : { \"countNumber\" : 3, \"countType\" : \"imageCountMoreThan\", \"tagStatus\" : \"any\" }, \"description\" : \"\", \"rulePriority\" : 10 } ] } \n".to_string(),
        ];
        for text in &cases {
            policy(text);
        }
        // Exactly 50 rules is accepted.
        let fifty: Vec<String> = (1..=50)
            .map(|p| rule_json(p, &prefix_sel(&format!("p{p}"))))
            .collect();
        assert_eq!(policy(&rules_json(&fifty)).rules.len(), 50);
    }

    #[test]
    fn parse_builds_the_model_sorted_by_priority() {
        let p = policy(&rules_json(&[
            format!(
                r#"{{"rulePriority":20,"description":"archive old","selection":{{"tagStatus":"tagged","tagPatternList":["prod*","*-rc*"],"countType":"sinceImagePulled","countUnit":"days","countNumber":90}},"action":{TRANSITION}}}"#
            ),
            rule_json(3, &prefix_sel("v")),
        ]));
        assert_eq!(
            p,
            Policy {
                rules: vec![
                    Rule {
                        rule_priority: 3,
                        description: None,
                        selection: Selection {
                            tag_status: TagStatus::Tagged,
                            tag_filter: TagFilter::Prefixes(vec!["v".into()]),
                            storage_class: StorageClass::Standard,
                            count: CountType::ImageCountMoreThan(1),
                        },
                        action: RuleAction::Expire,
                    },
                    Rule {
                        rule_priority: 20,
                        description: Some("archive old".into()),
                        selection: Selection {
                            tag_status: TagStatus::Tagged,
                            tag_filter: TagFilter::Patterns(vec!["prod*".into(), "*-rc*".into()]),
                            storage_class: StorageClass::Standard,
                            count: CountType::SinceImagePulled { days: 90 },
                        },
                        action: RuleAction::Transition,
                    },
                ]
            }
        );
        assert_eq!(RuleAction::Transition.api_name(), "TRANSITION");
        assert_eq!(RuleAction::Expire.api_name(), "EXPIRE");
        assert_eq!(
            RuleAction::Transition.target_storage_class(),
            Some(StorageClass::Archive)
        );
        assert_eq!(StorageClass::Archive.api_name(), "ARCHIVE");
        assert_eq!(StorageClass::Standard.api_name(), "STANDARD");
    }
}
