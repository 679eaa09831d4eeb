//! Policy texts the unit tests of lifecycle policies share.

use super::{parse, Policy};

pub(super) fn policy(text: &str) -> Policy {
    parse(text).unwrap_or_else(|e| panic!("policy should parse, got: {e}\n{text}"))
}

/// A one-rule policy with the given selection and action objects.
pub(super) fn one(selection: &str, action: &str) -> String {
    format!(r#"{{"rules":[{{"rulePriority":1,"selection":{selection},"action":{action}}}]}}"#)
}

pub(super) const EXPIRE: &str = r#"{"type":"expire"}"#;
pub(super) const TRANSITION: &str = r#"{"type":"transition","targetStorageClass":"archive"}"#;
pub(super) const SEL_OK: &str =
    r#"{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1}"#;

pub(super) fn rule_json(priority: i64, selection: &str) -> String {
    format!(r#"{{"rulePriority":{priority},"selection":{selection},"action":{EXPIRE}}}"#)
}

pub(super) fn rules_json(rules: &[String]) -> String {
    format!(r#"{{"rules":[{}]}}"#, rules.join(","))
}

pub(super) fn prefix_sel(prefix: &str) -> String {
    format!(
        r#"{{"tagStatus":"tagged","tagPrefixList":["{prefix}"],"countType":"imageCountMoreThan","countNumber":1}}"#
    )
}
