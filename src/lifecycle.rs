//! Amazon ECR lifecycle policies: parsing and validation of the policy text, and the
//! evaluation algorithm used by `StartLifecyclePolicyPreview` (and by any later executor).
//!
//! This module is pure: no I/O, no clock, no database. The caller supplies the images and `now`.
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

use crate::metadata::wildcard_match;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

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

const DAY_MS: i64 = 86_400_000;
const MAX_INT: i128 = i32::MAX as i128;
const COULD_NOT_MAP: &str = "Could not map policyString into LifecyclePolicy.";
/// Values echoed in error messages are cut to this many characters.
const SHOWN_CHARS: usize = 100;

// ---------------------------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------------------------

/// A validated lifecycle policy. `rules` are sorted by `rule_priority`, ascending (evaluation order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub rule_priority: u32,
    pub description: Option<String>,
    pub selection: Selection,
    pub action: RuleAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagStatus {
    Tagged,
    Untagged,
    Any,
}

impl TagStatus {
    /// The API enum spelling (`TAGGED`, `UNTAGGED`, `ANY`).
    pub fn api_name(&self) -> &'static str {
        match self {
            TagStatus::Tagged => "TAGGED",
            TagStatus::Untagged => "UNTAGGED",
            TagStatus::Any => "ANY",
        }
    }
}

/// The tag filter of a `tagged` rule. Both lists are ANDs: every entry must match some tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagFilter {
    None,
    Prefixes(Vec<String>),
    Patterns(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StorageClass {
    Standard,
    Archive,
}

impl StorageClass {
    /// The API enum spelling (`STANDARD`, `ARCHIVE`).
    pub fn api_name(&self) -> &'static str {
        match self {
            StorageClass::Standard => "STANDARD",
            StorageClass::Archive => "ARCHIVE",
        }
    }

    /// The policy-text spelling (`standard`, `archive`).
    fn policy_name(&self) -> &'static str {
        match self {
            StorageClass::Standard => "standard",
            StorageClass::Archive => "archive",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CountType {
    ImageCountMoreThan(u32),
    SinceImagePushed { days: u32 },
    SinceImagePulled { days: u32 },
    SinceImageTransitioned { days: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub tag_status: TagStatus,
    pub tag_filter: TagFilter,
    pub storage_class: StorageClass,
    pub count: CountType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleAction {
    Expire,
    /// Move the image to the archive storage class (the only `targetStorageClass`).
    Transition,
}

impl RuleAction {
    /// The API enum spelling (`EXPIRE`, `TRANSITION`).
    pub fn api_name(&self) -> &'static str {
        match self {
            RuleAction::Expire => "EXPIRE",
            RuleAction::Transition => "TRANSITION",
        }
    }

    /// The storage class a transition moves images to (`None` for expire).
    pub fn target_storage_class(&self) -> Option<StorageClass> {
        match self {
            RuleAction::Expire => None,
            RuleAction::Transition => Some(StorageClass::Archive),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing and validation
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

/// One image of the repository, as the evaluator sees it. Times are epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Image<'a> {
    pub digest: &'a str,
    pub tags: &'a [String],
    pub pushed_at: i64,
    pub last_pulled_at: Option<i64>,
    pub storage_class: StorageClass,
    /// When the image last moved to the archive storage class.
    pub last_archived_at: Option<i64>,
    /// When the image was last restored from archive (by restore or re-push).
    pub last_activated_at: Option<i64>,
}

/// What a policy does to one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Index into the `images` slice given to [`evaluate`].
    pub image: usize,
    pub rule_priority: u32,
    pub action: RuleAction,
}

/// Whether the image passes the rule's tag selection (storage class is checked separately).
fn tag_selected(image: &Image<'_>, selection: &Selection) -> bool {
    match selection.tag_status {
        TagStatus::Any => true,
        TagStatus::Untagged => image.tags.is_empty(),
        TagStatus::Tagged => {
            !image.tags.is_empty()
                && match &selection.tag_filter {
                    TagFilter::None => true,
                    TagFilter::Prefixes(list) => list
                        .iter()
                        .all(|p| image.tags.iter().any(|t| t.starts_with(p.as_str()))),
                    TagFilter::Patterns(list) => list
                        .iter()
                        .all(|p| image.tags.iter().any(|t| wildcard_match(p, t))),
                }
        }
    }
}

/// The ordering key for `imageCountMoreThan`: push time, replaced by `last_activated_at` for an
/// image that was archived and restored.
fn ordering_time(image: &Image<'_>) -> i64 {
    image
        .last_activated_at
        .map_or(image.pushed_at, |a| a.max(image.pushed_at))
}

/// The clock for `sinceImagePulled`: the last pull, or the restore time if the image was restored
/// and not pulled since, or the push time if it was never pulled.
fn pull_time(image: &Image<'_>) -> i64 {
    match (image.last_pulled_at, image.last_activated_at) {
        (Some(p), Some(a)) => p.max(a),
        (Some(p), None) => p,
        (None, Some(a)) => a,
        (None, None) => image.pushed_at,
    }
}

/// The §9.2 reference algorithm, evaluated at `now` (epoch ms).
///
/// For each rule in ascending `rulePriority`: the candidates are the images of the rule's storage
/// class that pass its tag selection; the count type picks among *all* candidates (images claimed by
/// higher-priority rules still count); a picked image is acted on only if no higher-priority rule
/// has claimed it; then every candidate becomes claimed.
///
/// * `imageCountMoreThan N`: candidates newest first by [push time, or `lastActivatedAt` after a
///   restore]; ties broken by digest (the lexicographically smaller digest counts as newer), then by
///   index; everything after the first N is picked.
/// * `sinceImagePushed N`: `pushed_at < now - N days`. Strictly older: the docs' "Filtering on all
///   images" example B keeps an untagged image pushed exactly one day ago under a 1-day rule.
/// * `sinceImagePulled N`: last pull (or restore, or push; see above) `< now - N days`.
/// * `sinceImageTransitioned N`: archived images with `last_archived_at < now - N days`; an archived
///   image without `last_archived_at` is never picked (it cannot be shown to have served the
///   minimum archive duration).
///
/// Returns at most one outcome per image, ordered by image index.
pub fn evaluate(policy: &Policy, images: &[Image<'_>], now: i64) -> Vec<Outcome> {
    let mut rules: Vec<&Rule> = policy.rules.iter().collect();
    rules.sort_by_key(|r| r.rule_priority);
    let mut claimed = vec![false; images.len()];
    let mut acted: Vec<Option<(u32, RuleAction)>> = vec![None; images.len()];
    let cutoff = |days: u32| now.saturating_sub(i64::from(days).saturating_mul(DAY_MS));

    for rule in rules {
        let sel = &rule.selection;
        let mut candidates: Vec<usize> = images
            .iter()
            .enumerate()
            .filter(|(_, img)| img.storage_class == sel.storage_class && tag_selected(img, sel))
            .map(|(i, _)| i)
            .collect();
        let picked: Vec<usize> = match sel.count {
            CountType::ImageCountMoreThan(keep) => {
                candidates.sort_by(|&a, &b| {
                    ordering_time(&images[b])
                        .cmp(&ordering_time(&images[a]))
                        .then_with(|| images[a].digest.cmp(images[b].digest))
                        .then(a.cmp(&b))
                });
                candidates
                    .iter()
                    .copied()
                    .skip(usize::try_from(keep).unwrap_or(usize::MAX))
                    .collect()
            }
            CountType::SinceImagePushed { days } => {
                let before = cutoff(days);
                candidates
                    .iter()
                    .copied()
                    .filter(|&i| images[i].pushed_at < before)
                    .collect()
            }
            CountType::SinceImagePulled { days } => {
                let before = cutoff(days);
                candidates
                    .iter()
                    .copied()
                    .filter(|&i| pull_time(&images[i]) < before)
                    .collect()
            }
            CountType::SinceImageTransitioned { days } => {
                let before = cutoff(days);
                candidates
                    .iter()
                    .copied()
                    .filter(|&i| {
                        images[i].storage_class == StorageClass::Archive
                            && images[i].last_archived_at.is_some_and(|t| t < before)
                    })
                    .collect()
            }
        };
        for i in picked {
            if !claimed[i] && acted[i].is_none() {
                acted[i] = Some((rule.rule_priority, rule.action));
            }
        }
        for i in candidates {
            claimed[i] = true;
        }
    }

    acted
        .into_iter()
        .enumerate()
        .filter_map(|(image, a)| {
            a.map(|(rule_priority, action)| Outcome {
                image,
                rule_priority,
                action,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_750_000_000_000;
    const HOUR: i64 = 3_600_000;

    // ----------------------------------------------------------------------------------------
    // Fixtures
    // ----------------------------------------------------------------------------------------

    #[derive(Clone)]
    struct Img {
        name: &'static str,
        tags: Vec<String>,
        pushed_at: i64,
        last_pulled_at: Option<i64>,
        storage_class: StorageClass,
        last_archived_at: Option<i64>,
        last_activated_at: Option<i64>,
        digest: String,
    }

    fn days_ago(d: i64) -> i64 {
        NOW - d * DAY_MS
    }

    /// An image named `name` (digest `sha256:<name>`), pushed `days` days ago.
    fn img(name: &'static str, tags: &[&str], days: i64) -> Img {
        Img {
            name,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            pushed_at: days_ago(days),
            last_pulled_at: None,
            storage_class: StorageClass::Standard,
            last_archived_at: None,
            last_activated_at: None,
            digest: format!("sha256:{}", name.to_lowercase()),
        }
    }

    fn archived(mut i: Img, archived_days_ago: Option<i64>) -> Img {
        i.storage_class = StorageClass::Archive;
        i.last_archived_at = archived_days_ago.map(days_ago);
        i
    }

    fn views(imgs: &[Img]) -> Vec<Image<'_>> {
        imgs.iter()
            .map(|i| Image {
                digest: &i.digest,
                tags: &i.tags,
                pushed_at: i.pushed_at,
                last_pulled_at: i.last_pulled_at,
                storage_class: i.storage_class,
                last_archived_at: i.last_archived_at,
                last_activated_at: i.last_activated_at,
            })
            .collect()
    }

    fn policy(text: &str) -> Policy {
        parse(text).unwrap_or_else(|e| panic!("policy should parse, got: {e}\n{text}"))
    }

    /// (image name, rule priority, action) for every image the policy acts on, in image order.
    fn run(text: &str, imgs: &[Img]) -> Vec<(&'static str, u32, RuleAction)> {
        let p = policy(text);
        let v = views(imgs);
        evaluate(&p, &v, NOW)
            .into_iter()
            .map(|o| (imgs[o.image].name, o.rule_priority, o.action))
            .collect()
    }

    fn expired(text: &str, imgs: &[Img]) -> Vec<&'static str> {
        run(text, imgs)
            .into_iter()
            .map(|(n, _, a)| {
                assert_eq!(a, RuleAction::Expire, "{n} should be expired");
                n
            })
            .collect()
    }

    fn transitioned(text: &str, imgs: &[Img]) -> Vec<&'static str> {
        run(text, imgs)
            .into_iter()
            .map(|(n, _, a)| {
                assert_eq!(a, RuleAction::Transition, "{n} should be transitioned");
                n
            })
            .collect()
    }

    /// A one-rule policy with the given selection and action objects.
    fn one(selection: &str, action: &str) -> String {
        format!(r#"{{"rules":[{{"rulePriority":1,"selection":{selection},"action":{action}}}]}}"#)
    }

    const EXPIRE: &str = r#"{"type":"expire"}"#;
    const TRANSITION: &str = r#"{"type":"transition","targetStorageClass":"archive"}"#;
    const SEL_OK: &str =
        r#"{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1}"#;

    fn rule_json(priority: i64, selection: &str) -> String {
        format!(r#"{{"rulePriority":{priority},"selection":{selection},"action":{EXPIRE}}}"#)
    }

    fn rules_json(rules: &[String]) -> String {
        format!(r#"{{"rules":[{}]}}"#, rules.join(","))
    }

    fn prefix_sel(prefix: &str) -> String {
        format!(
            r#"{{"tagStatus":"tagged","tagPrefixList":["{prefix}"],"countType":"imageCountMoreThan","countNumber":1}}"#
        )
    }

    // ----------------------------------------------------------------------------------------
    // Validation: hostile and invalid policies
    // ----------------------------------------------------------------------------------------

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

    // ----------------------------------------------------------------------------------------
    // Glob matching
    // ----------------------------------------------------------------------------------------

    #[test]
    fn glob_table() {
        let table: &[(&str, &str, bool)] = &[
            ("prod*", "prod", true),
            ("prod*", "prod1", true),
            ("prod*", "production-team1", true),
            ("*prod*", "repo-production", true),
            ("*prod*", "prod-team", true),
            ("*prod*", "pro-d", false),
            ("prod*", "pro", false),
            ("prod*", "xprod", false),
            ("prod", "prod", true),
            ("prod", "prod1", false),
            ("Prod*", "prod", false),
            ("", "", true),
            ("", "a", false),
            ("*", "", true),
            ("*", "anything-at-all", true),
            ("**", "", true),
            ("a**b", "ab", true),
            ("a*a", "a", false),
            ("a*a", "aa", true),
            ("a*a", "aba", true),
            ("ab*ba", "aba", false),
            ("ab*ba", "abba", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "acb", false),
            ("a*b*c", "abcx", false),
            ("*-rc*", "v1.2-rc3", true),
            ("*-rc*", "v1.2", false),
            ("*test*1*2*3", "my-test-1-2-3", true),
            ("test*1*2*3*", "test123", true),
            ("test*1*2*3*", "test321", false),
            ("*a*b", "ababab", true),
            ("*a*b", "ababa", false),
            ("ä*ö", "äxyö", true),
            ("ä*ö", "äö", true),
            ("*✓", "done✓", true),
            ("*é*", "cafe", false),
            ("v*.*.*", "v1.22.333", true),
            ("v*.*.*", "v1.22", false),
        ];
        for &(pattern, text, want) in table {
            assert_eq!(
                wildcard_match(pattern, text),
                want,
                "glob {pattern:?} on {text:?}"
            );
        }
    }

    /// Pathological patterns answer correctly; how fast (linear in the input) is measured by
    /// bench/globbench, not here.
    #[test]
    fn glob_pathological_inputs() {
        let text = "a".repeat(200_000);
        assert!(!wildcard_match("*a*a*a*a*b", &text));
        assert!(wildcard_match("*a*a*a*a*", &text));
        // Far more stars than policies allow: still linear.
        let many = format!("{}b", "a*".repeat(10_000));
        assert!(!wildcard_match(&many, &text));
        let many_ok = format!("{}*", "a*".repeat(10_000));
        assert!(wildcard_match(&many_ok, &text));
        let mut almost = "ab".repeat(50_000);
        almost.push('c');
        assert!(wildcard_match("*ab*ab*ab*c", &almost));
        assert!(!wildcard_match("*ab*ab*ab*ac", &almost));
    }

    // ----------------------------------------------------------------------------------------
    // AWS "Examples of lifecycle policies in Amazon ECR", reproduced
    // ----------------------------------------------------------------------------------------

    /// "Filtering on image age": expires images with a tag starting with `prod` (tagPatternList
    /// `prod*`) that are also older than 14 days.
    #[test]
    fn doc_filtering_on_image_age() {
        let text = r#"{"rules":[{"rulePriority":1,"description":"Expire images older than 14 days",
            "selection":{"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"sinceImagePushed",
            "countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}"#;
        let imgs = [
            img("OldProd", &["prod-1"], 20),
            img("NewProd", &["prod-2"], 3),
            img("OldDev", &["dev-1"], 20),
            img("OldUntagged", &[], 20),
        ];
        assert_eq!(expired(text, &imgs), ["OldProd"]);
    }

    /// Older revision of "Filtering on image age": "expires untagged images older than 14 days".
    #[test]
    fn doc_filtering_on_image_age_untagged_revision() {
        let text = r#"{"rules":[{"rulePriority":1,"description":"Expire images older than 14 days",
            "selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14},
            "action":{"type":"expire"}}]}"#;
        let imgs = [
            img("Old", &[], 15),
            img("Young", &[], 13),
            img("OldTagged", &["v1"], 30),
        ];
        assert_eq!(expired(text, &imgs), ["Old"]);
    }

    /// "Filtering on image count": "keeps only one untagged image and expires all others".
    #[test]
    fn doc_filtering_on_image_count() {
        let text = r#"{"rules":[{"rulePriority":1,"description":"Keep only one untagged image, expire all others",
            "selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},
            "action":{"type":"expire"}}]}"#;
        let imgs = [
            img("U1", &[], 3),
            img("U2", &[], 2),
            img("U3", &[], 1),
            img("T", &["latest"], 5),
        ];
        assert_eq!(expired(text, &imgs), ["U1", "U2"]);
    }

    /// "Filtering on last pulled time": "transitions images to archive storage that haven't been
    /// pulled in 90 days" (also the archive example "Archiving images not pulled in a specified
    /// number of days", which has the same policy text).
    #[test]
    fn doc_filtering_on_last_pulled_time() {
        let text = r#"{"rules":[{"rulePriority":1,"description":"Archive images not pulled in 90 days",
            "selection":{"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":90},
            "action":{"type":"transition","targetStorageClass":"archive"}}]}"#;
        let mut pulled_recently = img("PulledRecently", &["a"], 200);
        pulled_recently.last_pulled_at = Some(days_ago(10));
        let mut pulled_long_ago = img("PulledLongAgo", &["b"], 200);
        pulled_long_ago.last_pulled_at = Some(days_ago(95));
        // Restored 5 days ago, last pulled before it was archived: last_activated_at counts.
        let mut restored = img("Restored", &[], 400);
        restored.last_pulled_at = Some(days_ago(300));
        restored.last_activated_at = Some(days_ago(5));
        // Restored long ago, pulled since, but not for 100 days.
        let mut restored_stale = img("RestoredStale", &[], 400);
        restored_stale.last_activated_at = Some(days_ago(200));
        restored_stale.last_pulled_at = Some(days_ago(100));
        let imgs = [
            img("NeverPulledOld", &[], 91),
            img("NeverPulledYoung", &[], 89),
            pulled_recently,
            pulled_long_ago,
            restored,
            restored_stale,
            archived(img("AlreadyArchived", &[], 500), Some(200)),
        ];
        assert_eq!(
            transitioned(text, &imgs),
            ["NeverPulledOld", "PulledLongAgo", "RestoredStale"]
        );
    }

    /// "Filtering on archive transition time": "expires archived images that have been in archive
    /// storage for more than 365 days".
    #[test]
    fn doc_filtering_on_archive_transition_time() {
        let text = r#"{"rules":[{"rulePriority":1,"description":"Expire images archived for more than 365 days",
            "selection":{"tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned",
            "countUnit":"days","countNumber":365},"action":{"type":"expire"}}]}"#;
        let imgs = [
            archived(img("ArchivedLongAgo", &["v1"], 900), Some(400)),
            archived(img("ArchivedRecently", &[], 900), Some(100)),
            img("StandardOld", &[], 1000),
            // No archive time recorded: never expired by sinceImageTransitioned (documented choice).
            archived(img("ArchivedUnknown", &[], 1000), None),
        ];
        assert_eq!(expired(text, &imgs), ["ArchivedLongAgo"]);
    }

    fn beta_prod_repo() -> Vec<Img> {
        vec![
            img("A", &["beta-1", "prod-1"], 10),
            img("B", &["beta-2", "prod-2"], 9),
            img("C", &["beta-3"], 8),
        ]
    }

    fn two_rules(first: &str, second: &str, key: &str) -> String {
        format!(
            r#"{{"rules":[
              {{"rulePriority":1,"description":"Rule 1","selection":{{"tagStatus":"tagged","{key}":["{first}"],"countType":"imageCountMoreThan","countNumber":1}},"action":{{"type":"expire"}}}},
              {{"rulePriority":2,"description":"Rule 2","selection":{{"tagStatus":"tagged","{key}":["{second}"],"countType":"imageCountMoreThan","countNumber":1}},"action":{{"type":"expire"}}}}]}}"#
        )
    }

    /// "Filtering on multiple rules", Example A: Rule 1 (prod*) marks Image A; Rule 2 (beta*) would
    /// mark A and B, "However, Image A has already been seen by Rule 1 and if Image B were expired
    /// it would violate Rule 1 and thus is skipped." — "Result: Image A is expired."
    #[test]
    fn doc_multiple_rules_example_a() {
        let repo = beta_prod_repo();
        assert_eq!(
            run(&two_rules("prod*", "beta*", "tagPatternList"), &repo),
            [("A", 1, RuleAction::Expire)]
        );
        // The older revision of the page used tagPrefixList ["prod"] / ["beta"].
        assert_eq!(
            expired(&two_rules("prod", "beta", "tagPrefixList"), &repo),
            ["A"]
        );
    }

    /// "Filtering on multiple rules", Example B (priorities swapped): Rule 1 (beta*) "sees all three
    /// images and would mark Image A and Image B"; Rule 2 (prod*) "would see no images because all
    /// available images were already seen by Rule 1" — "Result: Images A and B are expired."
    #[test]
    fn doc_multiple_rules_example_b() {
        let repo = beta_prod_repo();
        assert_eq!(
            run(&two_rules("beta*", "prod*", "tagPatternList"), &repo),
            [("A", 1, RuleAction::Expire), ("B", 1, RuleAction::Expire)]
        );
        assert_eq!(
            expired(&two_rules("beta", "prod", "tagPrefixList"), &repo),
            ["A", "B"]
        );
    }

    /// "Filtering on multiple tags in a single rule", Example A: images must match all listed
    /// patterns; Rule 1 "sees images C and F. It should mark images that are older than five days,
    /// which would be Image C." — "Result: Image C is expired."
    #[test]
    fn doc_multiple_tags_example_a() {
        let repo = [
            img("A", &["alpha-1"], 12),
            img("B", &["beta-1"], 11),
            img("C", &["alpha-2", "beta-2"], 10),
            img("D", &["alpha-3"], 4),
            img("E", &["beta-3"], 3),
            img("F", &["alpha-4", "beta-4"], 2),
        ];
        for (key, list) in [
            ("tagPatternList", r#"["alpha*","beta*"]"#),
            ("tagPrefixList", r#"["alpha","beta"]"#),
        ] {
            let text = format!(
                r#"{{"rules":[{{"rulePriority":1,"description":"Rule 1","selection":{{"tagStatus":"tagged","{key}":{list},
                "countType":"sinceImagePushed","countNumber":5,"countUnit":"days"}},"action":{{"type":"expire"}}}}]}}"#
            );
            assert_eq!(expired(&text, &repo), ["C"], "{key}");
        }
    }

    /// "Filtering on multiple tags in a single rule", Example B ("tags are not exclusive"): Rule 1
    /// "sees all images ... It marks image A and B for expiration." — "Result: Images A and B are
    /// expired."
    #[test]
    fn doc_multiple_tags_example_b() {
        let repo = [
            img("A", &["alpha-1", "beta-1", "gamma-1"], 10),
            img("B", &["alpha-2", "beta-2"], 9),
            img("C", &["alpha-3", "beta-3", "gamma-2"], 8),
        ];
        for (key, list) in [
            ("tagPatternList", r#"["alpha*","beta*"]"#),
            ("tagPrefixList", r#"["alpha","beta"]"#),
        ] {
            let text = format!(
                r#"{{"rules":[{{"rulePriority":1,"description":"Rule 1","selection":{{"tagStatus":"tagged","{key}":{list},
                "countType":"imageCountMoreThan","countNumber":1}},"action":{{"type":"expire"}}}}]}}"#
            );
            assert_eq!(expired(&text, &repo), ["A", "B"], "{key}");
        }
    }

    /// "Filtering on all images", Example A: Rule 1 (any, keep 1) "sees images A, B, C, and D ...
    /// It marks images A, B, and C for expiration." — "Result: Images A, B, and C are expired."
    #[test]
    fn doc_all_images_example_a() {
        let text = r#"{"rules":[{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"any",
            "countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#;
        let repo = [
            img("A", &["alpha-1"], 4),
            img("B", &["beta-1"], 3),
            img("C", &[], 2),
            img("D", &["alpha-2"], 1),
        ];
        assert_eq!(expired(text, &repo), ["A", "B", "C"]);
    }

    /// "Filtering on all images", Example B (keep one of each): Rule 1 (alpha*, keep 1) marks A;
    /// Rule 2 (untagged, older than 1 day) marks B; Rule 3 (any, keep 1) "can't mark images A, B, C,
    /// or E because they were identified by higher priority rules. It marks image D for
    /// expiration." — "Result: Images A, B, and D are expired."
    #[test]
    fn doc_all_images_example_b() {
        let text = r#"{"rules":[
            {"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPatternList":["alpha*"],
             "countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},
            {"rulePriority":2,"description":"Rule 2","selection":{"tagStatus":"untagged","countType":"sinceImagePushed",
             "countUnit":"days","countNumber":1},"action":{"type":"expire"}},
            {"rulePriority":3,"description":"Rule 3","selection":{"tagStatus":"any","countType":"imageCountMoreThan",
             "countNumber":1},"action":{"type":"expire"}}]}"#;
        // D and E were both "pushed 1 day ago"; E is the newer of the two (Rule 3 keeps it), and E
        // is not yet *older* than one day (Rule 2 does not mark it).
        let mut d = img("D", &["git hash"], 1);
        d.pushed_at -= HOUR;
        let mut e = img("E", &[], 1);
        e.pushed_at += HOUR;
        let repo = [
            img("A", &["alpha-1", "beta-1"], 4),
            img("B", &[], 3),
            img("C", &["alpha-2"], 2),
            d,
            e,
        ];
        assert_eq!(
            run(text, &repo),
            [
                ("A", 1, RuleAction::Expire),
                ("B", 2, RuleAction::Expire),
                ("D", 3, RuleAction::Expire)
            ]
        );
        // At exactly one day, an untagged image is not "older than" one day.
        let mut exactly = repo.clone();
        exactly[4].pushed_at = days_ago(1);
        assert_eq!(expired(text, &exactly), ["A", "B", "D"]);
    }

    /// "Archive examples": "Archiving images older than a specified number of days" — archives
    /// images with tags starting with `prod` that are older than 30 days.
    #[test]
    fn doc_archive_images_older_than_days() {
        let text = r#"{"rules":[{"rulePriority":1,"description":"Archive production images older than 30 days",
            "selection":{"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"sinceImagePushed",
            "countUnit":"days","countNumber":30},"action":{"type":"transition","targetStorageClass":"archive"}}]}"#;
        let repo = [
            img("OldProd", &["prod-1"], 40),
            img("YoungProd", &["prod-2"], 10),
            img("OldDev", &["dev"], 40),
            archived(img("ArchivedProd", &["prod-0"], 100), Some(60)),
        ];
        assert_eq!(run(text, &repo), [("OldProd", 1, RuleAction::Transition)]);
    }

    /// "Archive examples": "Combining archive and expire rules" — archives images older than 30 days
    /// and expires images archived for more than 365 days. Both rules use tagStatus `any`, one per
    /// storage class, so the "any must be last" rule is scoped per storage class.
    #[test]
    fn doc_combining_archive_and_expire_rules() {
        let text = r#"{"rules":[
            {"rulePriority":1,"description":"Archive images older than 30 days","selection":{"tagStatus":"any",
             "countType":"sinceImagePushed","countUnit":"days","countNumber":30},
             "action":{"type":"transition","targetStorageClass":"archive"}},
            {"rulePriority":2,"description":"Expire images archived for more than 365 days","selection":{
             "tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days",
             "countNumber":365},"action":{"type":"expire"}}]}"#;
        let repo = [
            img("Young", &["v2"], 10),
            img("Old", &["v1"], 31),
            img("OldUntagged", &[], 45),
            archived(img("LongArchived", &["v0"], 900), Some(366)),
            archived(img("RecentlyArchived", &[], 900), Some(200)),
        ];
        assert_eq!(
            run(text, &repo),
            [
                ("Old", 1, RuleAction::Transition),
                ("OldUntagged", 1, RuleAction::Transition),
                ("LongArchived", 2, RuleAction::Expire)
            ]
        );
    }

    // ----------------------------------------------------------------------------------------
    // Evaluation details
    // ----------------------------------------------------------------------------------------

    #[test]
    fn outcomes_are_one_per_image_in_index_order() {
        // Both rules pick the same old images; the first claims them.
        let text = rules_json(&[
            rule_json(
                1,
                r#"{"tagStatus":"tagged","tagPatternList":["*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":5}"#,
            ),
            rule_json(
                2,
                r#"{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1}"#,
            ),
        ]);
        let repo = [
            img("Z", &["z"], 1),
            img("Y", &[], 3),
            img("X", &["x"], 9),
            img("W", &[], 8),
        ];
        assert_eq!(
            run(&text, &repo),
            [
                ("Y", 2, RuleAction::Expire),
                ("X", 1, RuleAction::Expire),
                ("W", 2, RuleAction::Expire)
            ]
        );
    }

    #[test]
    fn count_ties_are_broken_by_digest_and_restores_reorder() {
        let text = one(
            r#"{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1}"#,
            EXPIRE,
        );
        // Same push time: the smaller digest counts as newer and is kept, whatever the input order.
        let repo = [img("B", &[], 2), img("A", &[], 2)];
        assert_eq!(expired(&text, &repo), ["B"]);
        let repo = [img("A", &[], 2), img("B", &[], 2)];
        assert_eq!(expired(&text, &repo), ["B"]);
        // A restored image orders by its activation time.
        let mut restored = img("Restored", &[], 100);
        restored.last_activated_at = Some(days_ago(1));
        let repo = [restored, img("Pushed", &[], 2)];
        assert_eq!(expired(&text, &repo), ["Pushed"]);
    }

    #[test]
    fn storage_class_scopes_rules_and_claims() {
        // An archived image is invisible to standard rules, and a standard rule's claim does not
        // protect archived images from the archive rule.
        let text = rules_json(&[
            rule_json(1, &prefix_sel("v")),
            format!(
                r#"{{"rulePriority":2,"selection":{{"tagStatus":"tagged","tagPrefixList":["v"],"storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":90}},"action":{EXPIRE}}}"#
            ),
        ]);
        let repo = [
            img("New", &["v3"], 1),
            img("Old", &["v2"], 5),
            archived(img("Archived", &["v1"], 500), Some(91)),
        ];
        assert_eq!(
            run(&text, &repo),
            [
                ("Old", 1, RuleAction::Expire),
                ("Archived", 2, RuleAction::Expire)
            ]
        );
    }

    #[test]
    fn tag_matching_semantics() {
        let prefixes = Selection {
            tag_status: TagStatus::Tagged,
            tag_filter: TagFilter::Prefixes(vec!["alpha".into(), "beta".into()]),
            storage_class: StorageClass::Standard,
            count: CountType::ImageCountMoreThan(1),
        };
        let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let image = |tags: &'static [String]| Image {
            digest: "sha256:x",
            tags,
            pushed_at: 0,
            last_pulled_at: None,
            storage_class: StorageClass::Standard,
            last_archived_at: None,
            last_activated_at: None,
        };
        let both: &'static [String] = Box::leak(tags(&["alpha-1", "beta-1"]).into_boxed_slice());
        let one_tag: &'static [String] = Box::leak(tags(&["alphabeta"]).into_boxed_slice());
        let none: &'static [String] = &[];
        assert!(tag_selected(&image(both), &prefixes));
        assert!(!tag_selected(&image(one_tag), &prefixes));
        assert!(!tag_selected(&image(none), &prefixes));
        let untagged = Selection {
            tag_status: TagStatus::Untagged,
            ..prefixes.clone()
        };
        assert!(tag_selected(&image(none), &untagged));
        assert!(!tag_selected(&image(both), &untagged));
        let any = Selection {
            tag_status: TagStatus::Any,
            ..prefixes.clone()
        };
        assert!(tag_selected(&image(none), &any) && tag_selected(&image(one_tag), &any));
        // A single tag may satisfy several patterns.
        let patterns = Selection {
            tag_filter: TagFilter::Patterns(vec!["alpha*".into(), "*beta".into()]),
            ..prefixes
        };
        assert!(tag_selected(&image(one_tag), &patterns));
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let text = one(
            r#"{"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":2147483647}"#,
            EXPIRE,
        );
        let p = policy(&text);
        let tags: Vec<String> = vec![];
        let image = Image {
            digest: "sha256:x",
            tags: &tags,
            pushed_at: i64::MIN,
            last_pulled_at: Some(i64::MAX),
            storage_class: StorageClass::Standard,
            last_archived_at: None,
            last_activated_at: Some(i64::MAX),
        };
        assert!(evaluate(&p, &[image], i64::MIN).is_empty());
        assert_eq!(evaluate(&p, &[image], i64::MAX).len(), 1);
        assert!(evaluate(&p, &[], NOW).is_empty());
    }
}
