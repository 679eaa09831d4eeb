//! Registry-level configuration: DescribeRegistry, PutReplicationConfiguration,
//! Get/PutRegistryScanningConfiguration, BatchGetRepositoryScanningConfiguration and the
//! account settings. Each document is validated against the service model, stored through the
//! registry layer and echoed as ECR echoes it.
//!
//! Scanning and replication themselves come later: their configuration is kept so that tools
//! managing a registry (Terraform, scripts) work today, and the operations that would report
//! their results (StartImageScan, DescribeImageScanFindings, DescribeImageReplicationStatus,
//! the pull-through cache rules) answer with an error that says so.

use super::input::{array, field, list, object, serialization, structure};
use super::{parse_repository_name, Ctx, EcrError, Result};
use crate::auth::{Action, Resource};
use crate::policy::glob::wildcard_match;
use serde_json::{json, Map, Value};

const REPLICATION: &str = "replication";
const SCANNING: &str = "scanning";
const ACCOUNT_PREFIX: &str = "account:";

fn required_field<'a>(m: &'a Map<String, Value>, member: &str, shape: &str) -> Result<&'a str> {
    field(m, member, shape)?
        .ok_or_else(|| EcrError::invalid(&format!("{shape}.{member}"), "must not be null"))
}

fn length(member: &str, n: usize, min: usize, max: usize) -> Result<()> {
    if n < min || n > max {
        return Err(EcrError::invalid(
            member,
            format!("must have between {min} and {max} items"),
        ));
    }
    Ok(())
}

/// `^(?:[a-z0-9]+(?:[._-][a-z0-9]*)*/)*[a-z0-9]*(?:[._-][a-z0-9]*)*$`: components of lowercase
/// alphanumerics and `.`, `_`, `-`; every component before a `/` starts with an alphanumeric
/// (the last may be empty or start with a separator, as the model's expression allows).
fn replication_filter_ok(f: &str) -> bool {
    let allowed =
        |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-');
    let parts: Vec<&str> = f.split('/').collect();
    let last = parts.len() - 1;
    parts.iter().enumerate().all(|(i, p)| {
        p.bytes().all(allowed)
            && (i == last || p.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric()))
    })
}

/// `^[a-z0-9*](?:[._\-/a-z0-9*]?[a-z0-9*]+)*$`: no two separators in a row, none at either end.
fn scanning_filter_ok(f: &str) -> bool {
    let word = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'*';
    let sep = |b: u8| matches!(b, b'.' | b'_' | b'-' | b'/');
    let b = f.as_bytes();
    !b.is_empty()
        && word(b[0])
        && word(b[b.len() - 1])
        && b.iter().all(|&c| word(c) || sep(c))
        && !b.windows(2).any(|w| sep(w[0]) && sep(w[1]))
}

fn region_ok(r: &str) -> bool {
    (2..=25).contains(&r.len())
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn registry_id_ok(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

/// A kind of repository filter in the service model.
struct FilterShape {
    shape: &'static str,
    filter_type: &'static str,
    length: std::ops::RangeInclusive<usize>,
    valid: fn(&str) -> bool,
    /// The length and pattern, as the error states them.
    constraint: &'static str,
}

const REPLICATION_FILTER: FilterShape = FilterShape {
    shape: "RepositoryFilter",
    filter_type: "PREFIX_MATCH",
    length: 2..=256,
    valid: replication_filter_ok,
    constraint: "must have length between 2 and 256 and satisfy regular expression '^(?:[a-z0-9]+(?:[._-][a-z0-9]*)*/)*[a-z0-9]*(?:[._-][a-z0-9]*)*$'",
};

const SCANNING_FILTER: FilterShape = FilterShape {
    shape: "ScanningRepositoryFilter",
    filter_type: "WILDCARD",
    length: 1..=255,
    valid: scanning_filter_ok,
    constraint: "must have length between 1 and 255 and satisfy regular expression '^[a-z0-9*](?:[._\\-/a-z0-9*]?[a-z0-9*]+)*$'",
};

/// `[{filter, filterType}]`, validated as `kind` and normalised.
fn repository_filters(filters: &[Value], kind: &FilterShape) -> Result<Vec<Value>> {
    let shape = kind.shape;
    filters
        .iter()
        .map(|f| {
            let f = object(f, shape, &["filter", "filterType"])?;
            let filter = required_field(f, "filter", shape)?;
            let filter_type = required_field(f, "filterType", shape)?;
            if !kind.length.contains(&filter.len()) || !(kind.valid)(filter) {
                return Err(EcrError::invalid(
                    &format!("{shape}.filter"),
                    kind.constraint,
                ));
            }
            if filter_type != kind.filter_type {
                return Err(EcrError::invalid(
                    &format!("{shape}.filterType"),
                    format!("must satisfy enum value set: [{}]", kind.filter_type),
                ));
            }
            Ok(json!({"filter": filter, "filterType": filter_type}))
        })
        .collect()
}

// ---- replication ------------------------------------------------------------------------

/// `replicationConfiguration`, validated and normalised.
fn replication_configuration(c: &Ctx<'_>) -> Result<Value> {
    let conf = structure(c, "replicationConfiguration", &["rules"])?
        .ok_or_else(|| EcrError::invalid("replicationConfiguration", "must not be null"))?;
    let rules = array(conf, "rules", "replicationConfiguration")?
        .ok_or_else(|| EcrError::invalid("replicationConfiguration.rules", "must not be null"))?;
    length("replicationConfiguration.rules", rules.len(), 0, 10)?;
    let mut destinations_seen: Vec<(String, String)> = Vec::new();
    let mut out_rules = Vec::new();
    for rule in rules {
        let rule = object(
            rule,
            "ReplicationRule",
            &["destinations", "repositoryFilters", "deleteReplication"],
        )?;
        let destinations = array(rule, "destinations", "ReplicationRule")?
            .ok_or_else(|| EcrError::invalid("ReplicationRule.destinations", "must not be null"))?;
        length("ReplicationRule.destinations", destinations.len(), 0, 100)?;
        let mut out_destinations = Vec::new();
        for d in destinations {
            let d = object(d, "ReplicationDestination", &["region", "registryId"])?;
            let region = required_field(d, "region", "ReplicationDestination")?;
            let registry = required_field(d, "registryId", "ReplicationDestination")?;
            if !region_ok(region) {
                return Err(EcrError::invalid(
                    "ReplicationDestination.region",
                    "must satisfy regular expression '[0-9a-z-]{2,25}'",
                ));
            }
            if !registry_id_ok(registry) {
                return Err(EcrError::invalid(
                    "ReplicationDestination.registryId",
                    "must satisfy regular expression '[0-9]{12}'",
                ));
            }
            let settings = c.auth().settings();
            if region == settings.region && registry == settings.account_id {
                return Err(EcrError::new(
                    "InvalidParameterException",
                    "Replication destination cannot be the same as the source registry",
                ));
            }
            let key = (region.to_owned(), registry.to_owned());
            if !destinations_seen.contains(&key) {
                destinations_seen.push(key);
            }
            out_destinations.push(json!({"region": region, "registryId": registry}));
        }
        let mut out = json!({ "destinations": out_destinations });
        if let Some(filters) = array(rule, "repositoryFilters", "ReplicationRule")? {
            length("ReplicationRule.repositoryFilters", filters.len(), 1, 100)?;
            let out_filters = repository_filters(filters, &REPLICATION_FILTER)?;
            out["repositoryFilters"] = json!(out_filters);
        }
        match rule.get("deleteReplication") {
            None | Some(Value::Null) => {}
            Some(v) => {
                let d = object(v, "DeleteReplication", &["enabled"])?;
                match d.get("enabled") {
                    Some(Value::Bool(b)) => out["deleteReplication"] = json!({"enabled": b}),
                    _ => {
                        return Err(EcrError::invalid(
                            "deleteReplication.enabled",
                            "must be a boolean",
                        ))
                    }
                }
            }
        }
        out_rules.push(out);
    }
    if destinations_seen.len() > 25 {
        return Err(EcrError::invalid(
            "replicationConfiguration",
            "must have at most 25 unique destinations across all rules",
        ));
    }
    Ok(json!({ "rules": out_rules }))
}

async fn stored(c: &Ctx<'_>, name: &str) -> Result<Option<Value>> {
    match c.st.registry.registry_setting(name).await? {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| EcrError::server(format!("stored {name} setting: {e}"))),
    }
}

async fn store(c: &Ctx<'_>, name: &str, value: &Value) -> Result<()> {
    Ok(c.st
        .registry
        .put_registry_setting(name, &value.to_string())
        .await?)
}

pub(super) async fn describe_registry(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&[])?;
    c.authorize(Action::DescribeRegistry, Resource::Registry)?;
    let replication = stored(c, REPLICATION)
        .await?
        .unwrap_or_else(|| json!({"rules": []}));
    Ok(json!({"registryId": c.account(), "replicationConfiguration": replication}))
}

pub(super) async fn put_replication_configuration(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&["replicationConfiguration"])?;
    c.authorize(Action::PutReplicationConfiguration, Resource::Registry)?;
    let conf = replication_configuration(c)?;
    store(c, REPLICATION, &conf).await?;
    Ok(json!({ "replicationConfiguration": conf }))
}

// ---- scanning ---------------------------------------------------------------------------

fn default_scanning() -> Value {
    json!({"scanType": "BASIC", "rules": []})
}

/// `scanType` and `rules`, validated and normalised.
fn scanning_configuration(c: &Ctx<'_>) -> Result<Value> {
    let scan_type = c.string("scanType")?.unwrap_or("BASIC");
    if !matches!(scan_type, "BASIC" | "ENHANCED") {
        return Err(EcrError::invalid(
            "scanType",
            "must satisfy enum value set: [BASIC, ENHANCED]",
        ));
    }
    let rules = list(c, "rules")?.map(Vec::as_slice).unwrap_or_default();
    length("rules", rules.len(), 0, 2)?;
    let mut out_rules = Vec::new();
    for rule in rules {
        let rule = object(
            rule,
            "RegistryScanningRule",
            &["scanFrequency", "repositoryFilters"],
        )?;
        let frequency = required_field(rule, "scanFrequency", "RegistryScanningRule")?;
        match (scan_type, frequency) {
            ("BASIC", "SCAN_ON_PUSH") | ("ENHANCED", "SCAN_ON_PUSH" | "CONTINUOUS_SCAN") => {}
            (_, "SCAN_ON_PUSH" | "CONTINUOUS_SCAN" | "MANUAL") => {
                return Err(EcrError::invalid(
                    "RegistryScanningRule.scanFrequency",
                    format!(
                        "{frequency} is not supported with scanType {scan_type} (BASIC: SCAN_ON_PUSH; ENHANCED: SCAN_ON_PUSH, CONTINUOUS_SCAN)"
                    ),
                ))
            }
            _ => {
                return Err(EcrError::invalid(
                    "RegistryScanningRule.scanFrequency",
                    "must satisfy enum value set: [SCAN_ON_PUSH, CONTINUOUS_SCAN, MANUAL]",
                ))
            }
        }
        let filters =
            array(rule, "repositoryFilters", "RegistryScanningRule")?.ok_or_else(|| {
                EcrError::invalid("RegistryScanningRule.repositoryFilters", "must not be null")
            })?;
        length(
            "RegistryScanningRule.repositoryFilters",
            filters.len(),
            0,
            100,
        )?;
        let out_filters = repository_filters(filters, &SCANNING_FILTER)?;
        out_rules.push(json!({"scanFrequency": frequency, "repositoryFilters": out_filters}));
    }
    Ok(json!({"scanType": scan_type, "rules": out_rules}))
}

pub(super) async fn get_registry_scanning_configuration(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&[])?;
    c.authorize(Action::GetRegistryScanningConfiguration, Resource::Registry)?;
    let conf = stored(c, SCANNING).await?.unwrap_or_else(default_scanning);
    Ok(json!({"registryId": c.account(), "scanningConfiguration": conf}))
}

pub(super) async fn put_registry_scanning_configuration(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&["scanType", "rules"])?;
    c.authorize(Action::PutRegistryScanningConfiguration, Resource::Registry)?;
    let conf = scanning_configuration(c)?;
    store(c, SCANNING, &conf).await?;
    Ok(json!({ "registryScanningConfiguration": conf }))
}

/// Whether a scanning filter selects the repository: a filter with `*` is a wildcard match;
/// without, the name only has to contain it (ECR's documented semantics).
fn scanning_filter_matches(filter: &str, name: &str) -> bool {
    if filter.contains('*') {
        wildcard_match(filter, name)
    } else {
        name.contains(filter)
    }
}

pub(super) async fn batch_get_repository_scanning_configuration(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&["repositoryNames"])?;
    let names = list(c, "repositoryNames")?
        .ok_or_else(|| EcrError::invalid("repositoryNames", "must not be null"))?;
    length("repositoryNames", names.len(), 1, 25)?;
    let names = names
        .iter()
        .map(|v| match v {
            Value::String(s) => parse_repository_name("repositoryNames", s),
            _ => Err(serialization("repositoryNames must hold strings")),
        })
        .collect::<Result<Vec<_>>>()?;
    let conf = stored(c, SCANNING).await?.unwrap_or_else(default_scanning);
    let rules = conf["rules"].as_array().cloned().unwrap_or_default();
    let mut configurations = Vec::new();
    let mut failures = Vec::new();
    for name in &names {
        c.authorize(
            Action::BatchGetRepositoryScanningConfiguration,
            Resource::Repository(name),
        )?;
        let Some(record) = c.st.registry.repository(name).await? else {
            failures.push(json!({
                "repositoryName": name.as_str(),
                "failureCode": "REPOSITORY_NOT_FOUND",
                "failureReason": "REPOSITORY_NOT_FOUND",
            }));
            continue;
        };
        // The last rule whose filters select the repository applies; else the repository's
        // own scanOnPush switch; else manual scans only.
        let applied = rules.iter().rev().find_map(|r| {
            let filters: Vec<&Value> = r["repositoryFilters"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter(|f| {
                            scanning_filter_matches(
                                f["filter"].as_str().unwrap_or_default(),
                                name.as_str(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            (!filters.is_empty()).then(|| (r["scanFrequency"].clone(), filters))
        });
        let (frequency, filters) = match applied {
            Some((f, filters)) => (f, json!(filters)),
            None if record.settings.scan_on_push => (json!("SCAN_ON_PUSH"), json!([])),
            None => (json!("MANUAL"), json!([])),
        };
        configurations.push(json!({
            "repositoryArn": c.auth().settings().repository_arn(name.as_str()),
            "repositoryName": name.as_str(),
            "scanOnPush": frequency == "SCAN_ON_PUSH" || record.settings.scan_on_push,
            "scanFrequency": frequency,
            "appliedScanFilters": filters,
        }));
    }
    Ok(json!({"scanningConfigurations": configurations, "failures": failures}))
}

// ---- account settings -------------------------------------------------------------------

/// Account settings: name, the values accepted, and the value in force until one is put.
const ACCOUNT_SETTINGS: &[(&str, &[&str], &str)] = &[
    (
        "BASIC_SCAN_TYPE_VERSION",
        &["AWS_NATIVE", "CLAIR"],
        "AWS_NATIVE",
    ),
    // Registry policies here are evaluated with V2 semantics (every ECR action); V1
    // (replication actions only) is not offered rather than silently ignored.
    ("REGISTRY_POLICY_SCOPE", &["V2"], "V2"),
    // Cross-repository blob mounts (`POST /v2/<name>/blobs/uploads/?mount=`): stored as
    // `crate::registry::BLOB_MOUNTING`, read by `Registry::blob_mounting_enabled`.
    ("BLOB_MOUNTING", &["ENABLED", "DISABLED"], "ENABLED"),
];

fn account_setting(
    name: &str,
) -> Result<&'static (&'static str, &'static [&'static str], &'static str)> {
    ACCOUNT_SETTINGS
        .iter()
        .find(|(n, _, _)| *n == name)
        .ok_or_else(|| {
            let names: Vec<&str> = ACCOUNT_SETTINGS.iter().map(|s| s.0).collect();
            EcrError::new(
                "ValidationException",
                format!(
                    "Invalid account setting name {:?}: must be one of {}",
                    name.chars().take(64).collect::<String>(),
                    names.join(", ")
                ),
            )
        })
}

pub(super) async fn get_account_setting(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&["name"])?;
    c.authorize(Action::GetAccountSetting, Resource::Registry)?;
    let (name, _, default) = account_setting(c.required("name")?)?;
    let value =
        c.st.registry
            .registry_setting(&format!("{ACCOUNT_PREFIX}{name}"))
            .await?
            .unwrap_or_else(|| (*default).to_owned());
    Ok(json!({"name": name, "value": value}))
}

pub(super) async fn put_account_setting(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&["name", "value"])?;
    c.authorize(Action::PutAccountSetting, Resource::Registry)?;
    let (name, values, _) = account_setting(c.required("name")?)?;
    let value = c.required("value")?;
    if !values.contains(&value) {
        return Err(EcrError::new(
            "ValidationException",
            format!(
                "Invalid value {:?} for account setting {name}: this registry accepts {}",
                value.chars().take(64).collect::<String>(),
                values.join(", ")
            ),
        ));
    }
    c.st.registry
        .put_registry_setting(&format!("{ACCOUNT_PREFIX}{name}"), value)
        .await?;
    Ok(json!({"name": name, "value": value}))
}

// ---- features that come later -----------------------------------------------------------

fn not_yet(feature: &str, kind: &'static str) -> EcrError {
    EcrError::new(
        kind,
        format!("{feature} is not available in this registry yet; its configuration is stored but nothing acts on it"),
    )
}

/// StartImageScan, DescribeImageScanFindings: the repository and the caller's permission are
/// checked as for a real scan, then the answer says that no scanner runs.
pub(super) async fn image_scanning(c: &Ctx<'_>, action: Action) -> Result<Value> {
    c.allow_only(&[
        "registryId",
        "repositoryName",
        "imageId",
        "nextToken",
        "maxResults",
    ])?;
    c.existing_repository(action).await?;
    Err(if action == Action::DescribeImageScanFindings {
        not_yet("Image scanning", "ScanNotFoundException")
    } else {
        not_yet("Image scanning", "ValidationException")
    })
}

pub(super) async fn image_replication_status(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&["registryId", "repositoryName", "imageId"])?;
    c.existing_repository(Action::DescribeImageReplicationStatus)
        .await?;
    Err(not_yet("Replication", "ValidationException"))
}

/// The pull-through cache rule operations.
pub(super) fn pull_through_cache() -> Result<Value> {
    Err(EcrError::new(
        "ValidationException",
        "Pull-through cache is not available in this registry yet",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_patterns() {
        for ok in [
            "ab", "prod", "team/app", "team/", "a-b.c_d", "a/b/c", "a1", "ab-", "a/-b",
        ] {
            assert!(replication_filter_ok(ok), "{ok}");
        }
        for bad in ["Prod", "-a/b", "a//b", "/ab", "a b", "ä", "a/B"] {
            assert!(!replication_filter_ok(bad), "{bad}");
        }
        for ok in ["*", "prod*", "a/b*c", "team-*-app", "a"] {
            assert!(scanning_filter_ok(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "a--b", "A", "a//b", "a b"] {
            assert!(!scanning_filter_ok(bad), "{bad}");
        }
        assert!(scanning_filter_matches("prod", "team/prod-app"));
        assert!(!scanning_filter_matches("prod*", "team/prod-app"));
        assert!(scanning_filter_matches("*prod*", "team/prod-app"));
        assert!(region_ok("us-east-1") && !region_ok("US-EAST-1") && !region_ok("x"));
    }
}
