//! Amazon ECR lifecycle policies: the model of a validated policy, shared by `parse` (the
//! policy text's grammar and validation) and `evaluate` (the evaluation algorithm used by
//! `StartLifecyclePolicyPreview` and by any later executor).
//!
//! This module is pure: no I/O, no clock, no database. The caller supplies the images and `now`.

mod evaluate;
#[cfg(test)]
mod fixtures;
mod parse;

pub use evaluate::{evaluate, Image, Outcome};
pub use parse::{
    parse, MAX_DESCRIPTION_CHARS, MAX_FILTERS, MAX_FILTER_CHARS, MAX_RULES, MAX_WILDCARDS,
    MIN_ARCHIVE_DAYS,
};

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
