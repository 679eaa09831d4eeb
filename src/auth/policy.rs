//! The IAM policy language as Amazon ECR uses it: parsing, validation and evaluation.
//!
//! Two kinds of policy exist ([`PolicyKind`]):
//!
//! * **identity policies** are attached to a principal (a user or role) and say what that
//!   principal may do. They never name a `Principal`, and every statement needs a `Resource`
//!   or `NotResource`;
//! * **resource policies** (a repository policy or the registry policy) are attached to a
//!   resource and say who may do what with it. Every statement needs a `Principal` or
//!   `NotPrincipal`, and may leave out `Resource`, which then means "the resource this policy
//!   is attached to".
//!
//! [`Policy::parse`] checks a policy text strictly, the way IAM and ECR do (unknown or
//! duplicate keys, bad ARNs, unknown ECR actions, unknown condition operators, bad CIDRs and
//! so on are all errors). Every error says which statement and which field is wrong. The
//! text is then compiled into a form that [`evaluate`] can check without allocating in the
//! common case: names are lowercased ahead of time, wildcard patterns are pre-tokenised
//! (no regular expressions), IP ranges and dates are already parsed.
//!
//! [`evaluate`] implements IAM evaluation within one account (Berth serves a single account):
//! an explicit `Deny` in any policy wins; otherwise an `Allow` in an identity policy or in a
//! resource policy is enough; otherwise the request is implicitly denied. A resource-policy
//! `Allow` naming a whole *account* (`"123456789012"` or `"arn:aws:iam::123456789012:root"`)
//! grants nothing by itself: as in AWS, it hands the decision to that account's identity
//! policies.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// Every ECR action name, without the `ecr:` prefix: the 62 API operations plus the
/// permission-only actions `ReplicateImage` and `BatchImportUpstreamImage`. Sorted.
pub const ECR_ACTIONS: &[&str] = &[
    "BatchCheckLayerAvailability",
    "BatchDeleteImage",
    "BatchGetImage",
    "BatchGetRepositoryScanningConfiguration",
    "BatchImportUpstreamImage",
    "CompleteLayerUpload",
    "CreatePullThroughCacheRule",
    "CreateRepository",
    "CreateRepositoryCreationTemplate",
    "DeleteLifecyclePolicy",
    "DeletePullThroughCacheRule",
    "DeleteRegistryPolicy",
    "DeleteRepository",
    "DeleteRepositoryCreationTemplate",
    "DeleteRepositoryPolicy",
    "DeleteSigningConfiguration",
    "DeregisterPullTimeUpdateExclusion",
    "DescribeImageReplicationStatus",
    "DescribeImageScanFindings",
    "DescribeImageSigningStatus",
    "DescribeImages",
    "DescribePullThroughCacheRules",
    "DescribeRegistry",
    "DescribeReplicationBackfillResults",
    "DescribeRepositories",
    "DescribeRepositoryCreationTemplates",
    "GetAccountSetting",
    "GetAuthorizationToken",
    "GetDownloadUrlForLayer",
    "GetLifecyclePolicy",
    "GetLifecyclePolicyPreview",
    "GetRegistryPolicy",
    "GetRegistryScanningConfiguration",
    "GetRepositoryPolicy",
    "GetSigningConfiguration",
    "InitiateLayerUpload",
    "ListImageReferrers",
    "ListImages",
    "ListPullTimeUpdateExclusions",
    "ListReplicationBackfills",
    "ListTagsForResource",
    "PutAccountSetting",
    "PutImage",
    "PutImageScanningConfiguration",
    "PutImageTagMutability",
    "PutLifecyclePolicy",
    "PutRegistryPolicy",
    "PutRegistryScanningConfiguration",
    "PutReplicationConfiguration",
    "PutSigningConfiguration",
    "RegisterPullTimeUpdateExclusion",
    "ReplicateImage",
    "SetRepositoryPolicy",
    "StartImageScan",
    "StartLifecyclePolicyPreview",
    "StartReplicationBackfill",
    "StopReplicationBackfill",
    "TagResource",
    "UntagResource",
    "UpdateImageStorageClass",
    "UpdatePullThroughCacheRule",
    "UpdateRepositoryCreationTemplate",
    "UploadLayerPart",
    "ValidatePullThroughCacheRule",
];

/// Is `name` (without the `ecr:` prefix) an ECR action? Case-insensitive, as IAM action
/// names are.
pub fn is_ecr_action(name: &str) -> bool {
    ECR_ACTIONS.iter().any(|a| a.eq_ignore_ascii_case(name))
}

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

/// Which kind of policy a text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Attached to a principal: `Principal`/`NotPrincipal` forbidden, `Resource`/`NotResource` required.
    Identity,
    /// A repository policy or the registry policy: `Principal` or `NotPrincipal` required;
    /// `Resource` optional (absent = the resource the policy is attached to).
    Resource,
}

impl PolicyKind {
    /// The longest policy text accepted, in bytes: 10,240 for resource policies (ECR's
    /// repository policy limit), 6,144 for identity policies (IAM's managed policy limit).
    pub const fn max_len(self) -> usize {
        match self {
            PolicyKind::Identity => 6_144,
            PolicyKind::Resource => 10_240,
        }
    }
}

/// Why a policy text was rejected: a precise message naming the statement and field, e.g.
/// `Statement[2].Effect must be "Allow" or "Deny", found "allow"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

/// A parsed, validated policy, compiled for fast evaluation.
#[derive(Debug, Clone)]
pub struct Policy {
    kind: PolicyKind,
    version: Option<&'static str>,
    id: Option<String>,
    statements: Box<[Statement]>,
    /// Whether evaluation reads the request context (conditions or policy variables).
    needs_context: bool,
}

impl Policy {
    /// Parses and validates `text` as a policy of the given kind.
    ///
    /// Rejects texts longer than [`PolicyKind::max_len`], invalid JSON (including duplicate
    /// keys and nesting deeper than 128 levels), unknown keys, and every malformed element.
    pub fn parse(text: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        let limit = kind.max_len();
        if text.len() > limit {
            return Err(PolicyError(format!(
                "policy text is {} bytes; the limit is {limit}",
                text.len()
            )));
        }
        let root: Json = serde_json::from_str(text)
            .map_err(|e| PolicyError(format!("invalid policy JSON: {e}")))?;
        let Json::Object(fields) = &root else {
            return Err(PolicyError(format!(
                "policy must be a JSON object, found {}",
                Found(&root)
            )));
        };
        if let Some((key, _)) = fields
            .iter()
            .find(|(k, _)| !TOP_LEVEL_KEYS.contains(&k.as_str()))
        {
            return Err(PolicyError(format!(
                "unknown top-level key {}{}",
                Quoted(key),
                suggest(key, TOP_LEVEL_KEYS)
            )));
        }
        let version = match field(fields, "Version") {
            None => None,
            Some(Json::String(v)) if v == VERSION_2012 => Some(VERSION_2012),
            Some(Json::String(v)) if v == VERSION_2008 => Some(VERSION_2008),
            Some(other) => {
                return Err(PolicyError(format!(
                    "Version must be \"{VERSION_2012}\" or \"{VERSION_2008}\", found {}",
                    Found(other)
                )))
            }
        };
        let id = match field(fields, "Id") {
            None => None,
            Some(Json::String(id)) => Some(id.clone()),
            Some(other) => {
                return Err(PolicyError(format!(
                    "Id must be a string, found {}",
                    Found(other)
                )))
            }
        };
        let raw_statements: Vec<&[(String, Json)]> = match field(fields, "Statement") {
            None => return Err(PolicyError("missing Statement".into())),
            Some(Json::Object(statement)) => vec![statement.as_slice()],
            Some(Json::Array(items)) if items.is_empty() => {
                return Err(PolicyError("Statement must not be an empty array".into()))
            }
            Some(Json::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Json::Object(statement) => Ok(statement.as_slice()),
                    other => Err(PolicyError(format!(
                        "Statement[{i}] must be an object, found {}",
                        Found(other)
                    ))),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(PolicyError(format!(
                    "Statement must be an object or a non-empty array of objects, found {}",
                    Found(other)
                )))
            }
        };
        // Policy variables only exist in the 2012-10-17 language; in 2008-10-17 (or with no
        // Version) `${...}` is literal text.
        let vars = version == Some(VERSION_2012);
        let statements: Box<[Statement]> = raw_statements
            .into_iter()
            .enumerate()
            .map(|(index, fields)| parse_statement(index, fields, kind, vars))
            .collect::<Result<_, _>>()?;
        let needs_context =
            (vars && text.contains("${")) || statements.iter().any(|s| !s.conditions.is_empty());
        Ok(Policy {
            kind,
            version,
            id,
            needs_context,
            statements,
        })
    }

    /// Which kind of policy this is.
    /// Whether evaluating this policy reads the request context (it has conditions or policy
    /// variables). When no applicable policy does, callers may pass an empty context.
    pub fn needs_context(&self) -> bool {
        self.needs_context
    }

    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// The policy language version, if the text gave one.
    pub fn version(&self) -> Option<&'static str> {
        self.version
    }

    /// The policy's `Id`, if the text gave one.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

/// Who is asking. `None` in [`Request::principal`] means an anonymous caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalInfo {
    /// The caller's ARN, e.g. `arn:aws:iam::000000000000:user/alice`.
    pub arn: String,
    /// The caller's 12-digit account ID.
    pub account: String,
}

/// Condition context: the request's condition keys (`aws:SourceIp`, `aws:username`, ...).
///
/// Keys are case-insensitive (stored lowercased, ASCII); each key has one or more values.
#[derive(Debug, Clone, Default)]
pub struct Context {
    entries: Vec<(String, Vec<String>)>,
}

impl Context {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to the single value `value`, replacing any values it had.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        match self.entry_mut(key) {
            Some(values) => {
                values.clear();
                values.push(value);
            }
            None => self.entries.push((key.to_ascii_lowercase(), vec![value])),
        }
    }

    /// Adds `value` to the values of `key` (for multi-valued keys such as `aws:TagKeys`).
    pub fn add(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        match self.entry_mut(key) {
            Some(values) => values.push(value),
            None => self.entries.push((key.to_ascii_lowercase(), vec![value])),
        }
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) {
        self.entries.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
    }

    /// The values of `key`, if it is present (never an empty slice).
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.entries
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, values)| values.as_slice())
    }

    fn entry_mut(&mut self, key: &str) -> Option<&mut Vec<String>> {
        self.entries
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, values)| values)
    }
}

/// One authorization question: may `principal` perform `action` on `resource`?
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The caller; `None` for an anonymous caller.
    pub principal: Option<&'a PrincipalInfo>,
    /// Always `ecr:<Operation>`, e.g. `ecr:BatchGetImage`.
    pub action: &'a str,
    /// An ARN such as `arn:aws:ecr:us-east-1:000000000000:repository/team/app`, or `*` for
    /// registry-level actions.
    pub resource: &'a str,
    /// Condition keys. `aws:PrincipalArn` and `aws:PrincipalAccount` default to the
    /// principal's ARN and account when the context does not set them.
    pub context: &'a Context,
}

impl<'a> Request<'a> {
    /// The values of a condition key: from the context, else derived from the principal.
    fn values(&self, key: &str) -> Option<&'a [String]> {
        if let Some(values) = self.context.get(key) {
            return Some(values);
        }
        let principal = self.principal?;
        if key.eq_ignore_ascii_case("aws:PrincipalArn") {
            Some(std::slice::from_ref(&principal.arn))
        } else if key.eq_ignore_ascii_case("aws:PrincipalAccount") {
            Some(std::slice::from_ref(&principal.account))
        } else {
            None
        }
    }

    /// The value of a policy variable: the key must be present with exactly one value.
    fn variable(&self, key: &str) -> Option<&'a str> {
        match self.values(key)? {
            [value] => Some(value),
            _ => None,
        }
    }
}

/// The outcome of [`evaluate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Some statement allows the request and none denies it.
    Allow,
    /// No statement allows the request (and none denies it).
    ImplicitDeny,
    /// Some statement denies the request.
    ExplicitDeny,
}

impl Decision {
    /// Is the request allowed?
    pub fn allowed(self) -> bool {
        self == Decision::Allow
    }
}

/// Same-account IAM evaluation. `identity` are the caller's identity policies (ignored for an
/// anonymous caller), `resource` the resource policies that apply (the repository policy
/// and/or the registry policy).
///
/// Any statement of any policy that matches with `Deny` gives [`Decision::ExplicitDeny`];
/// otherwise a matching `Allow` in an identity policy or a resource policy gives
/// [`Decision::Allow`]; otherwise [`Decision::ImplicitDeny`].
///
/// A statement matches when its action, principal (resource policies only), resource and
/// every condition match; see the module documentation for the principal rules.
pub fn evaluate(identity: &[&Policy], resource: &[&Policy], req: &Request<'_>) -> Decision {
    let identity = if req.principal.is_some() {
        identity
    } else {
        &[]
    };
    let mut allowed = false;
    for policy in identity.iter().chain(resource) {
        for statement in policy.statements.iter() {
            let deny = statement.effect == Effect::Deny;
            // Once allowed, only a Deny can still change the outcome.
            if (deny || !allowed) && statement.matches(req) {
                if deny {
                    return Decision::ExplicitDeny;
                }
                allowed = true;
            }
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

// ---------------------------------------------------------------------------------------------
// Compiled policy
// ---------------------------------------------------------------------------------------------

const VERSION_2012: &str = "2012-10-17";
const VERSION_2008: &str = "2008-10-17";
const TOP_LEVEL_KEYS: &[&str] = &["Version", "Id", "Statement"];
const STATEMENT_KEYS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone)]
struct Statement {
    effect: Effect,
    actions: Actions,
    /// `None` in identity policies (the statement is about the principal it is attached to).
    principals: Option<Principals>,
    /// `None` when a resource policy leaves out `Resource` (the attached resource).
    resources: Option<Resources>,
    conditions: Box<[Condition]>,
}

impl Statement {
    /// Cheapest and most selective checks first.
    fn matches(&self, req: &Request<'_>) -> bool {
        self.actions.matches(req)
            && self
                .principals
                .as_ref()
                .is_none_or(|p| p.matches(req.principal, self.effect))
            && self.resources.as_ref().is_none_or(|r| r.matches(req))
            && self.conditions.iter().all(|c| c.holds(req))
    }
}

/// `Action` (any pattern matches) or `NotAction` (no pattern matches). Patterns are
/// lowercased globs matched case-insensitively.
#[derive(Debug, Clone)]
struct Actions {
    negated: bool,
    patterns: Box<[Pattern]>,
}

impl Actions {
    fn matches(&self, req: &Request<'_>) -> bool {
        self.patterns
            .iter()
            .any(|p| p.matches(req.action, true, req))
            != self.negated
    }
}

/// `Resource` (any pattern matches) or `NotResource` (no pattern matches).
#[derive(Debug, Clone)]
struct Resources {
    negated: bool,
    patterns: Box<[ArnPattern]>,
}

impl Resources {
    fn matches(&self, req: &Request<'_>) -> bool {
        self.patterns.iter().any(|p| p.matches(req.resource, req)) != self.negated
    }
}

/// `Principal` or `NotPrincipal` of a resource policy.
#[derive(Debug, Clone)]
struct Principals {
    negated: bool,
    /// `"*"` or `{"AWS": "*"}`: every caller, anonymous included.
    any: bool,
    /// Account IDs named as `"123456789012"` or `"arn:aws:iam::123456789012:root"`.
    accounts: Box<[Box<str>]>,
    /// Exact IAM user and role ARNs.
    arns: Box<[Box<str>]>,
    // Service principals are validated but never stored: they never match a Berth caller.
}

impl Principals {
    /// * `Principal` in an `Allow`: the caller is `*` or named by exact ARN. An account
    ///   principal grants nothing by itself (same-account delegation to identity policies).
    /// * `Principal` in a `Deny`: the caller is `*`, named by ARN, or an authenticated caller
    ///   of a named account.
    /// * `NotPrincipal`: the caller is not in the list (ARNs or accounts); an anonymous
    ///   caller is never in an account.
    fn matches(&self, caller: Option<&PrincipalInfo>, effect: Effect) -> bool {
        if self.negated {
            !self.lists(caller, true)
        } else {
            self.lists(caller, effect == Effect::Deny)
        }
    }

    fn lists(&self, caller: Option<&PrincipalInfo>, count_accounts: bool) -> bool {
        self.any
            || caller.is_some_and(|c| {
                self.arns.iter().any(|a| **a == *c.arn)
                    || (count_accounts && self.accounts.iter().any(|a| **a == *c.account))
            })
    }
}

// ---------------------------------------------------------------------------------------------
// Conditions
// ---------------------------------------------------------------------------------------------

/// `ForAnyValue:` / `ForAllValues:` qualifiers on a condition operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Qualifier {
    Single,
    ForAnyValue,
    ForAllValues,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    /// `context <op> policy`.
    fn holds<T: PartialOrd>(self, context: T, policy: T) -> bool {
        match self {
            Cmp::Eq => context == policy,
            Cmp::Lt => context < policy,
            Cmp::Le => context <= policy,
            Cmp::Gt => context > policy,
            Cmp::Ge => context >= policy,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum BaseOp {
    String { like: bool, fold: bool },
    Arn,
    Ip,
    Bool,
    Null,
    Numeric(Cmp),
    Date(Cmp),
}

#[derive(Debug, Clone, Copy)]
struct Operator {
    base: BaseOp,
    negated: bool,
    qualifier: Qualifier,
    if_exists: bool,
}

impl Operator {
    fn parse(name: &str) -> Option<Operator> {
        let (qualifier, rest) = if let Some(rest) = name.strip_prefix("ForAnyValue:") {
            (Qualifier::ForAnyValue, rest)
        } else if let Some(rest) = name.strip_prefix("ForAllValues:") {
            (Qualifier::ForAllValues, rest)
        } else {
            (Qualifier::Single, name)
        };
        let (rest, if_exists) = match rest.strip_suffix("IfExists") {
            Some(rest) => (rest, true),
            None => (rest, false),
        };
        let string = |like, fold| BaseOp::String { like, fold };
        let (base, negated) = match rest {
            "StringEquals" => (string(false, false), false),
            "StringNotEquals" => (string(false, false), true),
            "StringEqualsIgnoreCase" => (string(false, true), false),
            "StringNotEqualsIgnoreCase" => (string(false, true), true),
            "StringLike" => (string(true, false), false),
            "StringNotLike" => (string(true, false), true),
            "ArnEquals" | "ArnLike" => (BaseOp::Arn, false),
            "ArnNotEquals" | "ArnNotLike" => (BaseOp::Arn, true),
            "IpAddress" => (BaseOp::Ip, false),
            "NotIpAddress" => (BaseOp::Ip, true),
            "Bool" => (BaseOp::Bool, false),
            "Null" => (BaseOp::Null, false),
            "NumericEquals" => (BaseOp::Numeric(Cmp::Eq), false),
            "NumericNotEquals" => (BaseOp::Numeric(Cmp::Eq), true),
            "NumericLessThan" => (BaseOp::Numeric(Cmp::Lt), false),
            "NumericLessThanEquals" => (BaseOp::Numeric(Cmp::Le), false),
            "NumericGreaterThan" => (BaseOp::Numeric(Cmp::Gt), false),
            "NumericGreaterThanEquals" => (BaseOp::Numeric(Cmp::Ge), false),
            "DateEquals" => (BaseOp::Date(Cmp::Eq), false),
            "DateNotEquals" => (BaseOp::Date(Cmp::Eq), true),
            "DateLessThan" => (BaseOp::Date(Cmp::Lt), false),
            "DateLessThanEquals" => (BaseOp::Date(Cmp::Le), false),
            "DateGreaterThan" => (BaseOp::Date(Cmp::Gt), false),
            "DateGreaterThanEquals" => (BaseOp::Date(Cmp::Ge), false),
            _ => return None,
        };
        Some(Operator {
            base,
            negated,
            qualifier,
            if_exists,
        })
    }
}

/// The compiled policy values of one condition key.
#[derive(Debug, Clone)]
enum Operands {
    /// `fold`: compare case-insensitively (the patterns are lowercased).
    Strings {
        patterns: Box<[Pattern]>,
        fold: bool,
    },
    Arns(Box<[ArnPattern]>),
    Ips(Box<[IpNet]>),
    Bools(Box<[bool]>),
    /// `true`: the key must be missing; `false`: it must be present.
    Null(Box<[bool]>),
    Numbers(Cmp, Box<[f64]>),
    /// Milliseconds since the Unix epoch.
    Dates(Cmp, Box<[i64]>),
}

/// One `operator: {key: values}` entry of a `Condition` block.
#[derive(Debug, Clone)]
struct Condition {
    /// Lowercased.
    key: Box<str>,
    negated: bool,
    qualifier: Qualifier,
    if_exists: bool,
    operands: Operands,
}

impl Condition {
    /// IAM semantics:
    ///
    /// * key missing: `Null` decides by itself; `...IfExists` holds; otherwise a plain
    ///   negated operator holds, a plain positive one fails, `ForAnyValue:` fails and
    ///   `ForAllValues:` holds;
    /// * a context value "satisfies" a positive operator when it matches any policy value,
    ///   a negated operator when it matches none;
    /// * plain positive operators need some context value to satisfy them, plain negated
    ///   ones every value (no value matches any policy value); `ForAnyValue:` needs some
    ///   value and `ForAllValues:` every value.
    fn holds(&self, req: &Request<'_>) -> bool {
        let values = req.values(&self.key);
        if let Operands::Null(expect_missing) = &self.operands {
            return expect_missing.contains(&values.is_none());
        }
        let Some(values) = values else {
            return self.if_exists
                || match self.qualifier {
                    Qualifier::Single => self.negated,
                    Qualifier::ForAnyValue => false,
                    Qualifier::ForAllValues => true,
                };
        };
        let satisfies = |v: &String| self.matches_value(v, req) != self.negated;
        match self.qualifier {
            Qualifier::Single if self.negated => values.iter().all(satisfies),
            Qualifier::Single | Qualifier::ForAnyValue => values.iter().any(satisfies),
            Qualifier::ForAllValues => values.iter().all(satisfies),
        }
    }

    /// Does the context value match any policy value (ignoring negation)? A context value
    /// that does not parse as the operator's type (IP, number, date, boolean) matches none.
    fn matches_value(&self, value: &str, req: &Request<'_>) -> bool {
        match &self.operands {
            Operands::Strings { patterns, fold } => {
                patterns.iter().any(|p| p.matches(value, *fold, req))
            }
            Operands::Arns(patterns) => patterns.iter().any(|p| p.matches(value, req)),
            Operands::Ips(nets) => {
                parse_context_ip(value).is_some_and(|ip| nets.iter().any(|n| n.contains(&ip)))
            }
            Operands::Bools(bools) => parse_bool(value).is_some_and(|b| bools.contains(&b)),
            Operands::Numbers(cmp, numbers) => {
                parse_number(value).is_some_and(|x| numbers.iter().any(|&n| cmp.holds(x, n)))
            }
            Operands::Dates(cmp, dates) => {
                parse_date(value).is_some_and(|x| dates.iter().any(|&d| cmp.holds(x, d)))
            }
            Operands::Null(_) => false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Patterns
// ---------------------------------------------------------------------------------------------

/// One token of a compiled glob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    /// A literal byte (patterns are UTF-8; multi-byte characters are several `Lit`s).
    Lit(u8),
    /// `?`: exactly one character.
    One,
    /// `*`: any run of characters, possibly empty.
    Many,
}

/// A piece of a pattern that contains policy variables.
#[derive(Debug, Clone)]
enum Piece {
    /// Policy text; `*` and `?` are wildcards when the pattern is a glob.
    Text(Box<str>),
    /// `${*}`, `${?}` or `${$}`: always literal.
    Escaped(char),
    /// `${key}` or `${key, 'default'}`; the key is lowercased.
    Var {
        key: Box<str>,
        default: Option<Box<str>>,
    },
}

/// How a pattern's text is read.
#[derive(Debug, Clone, Copy)]
struct Syntax {
    /// `*` and `?` are wildcards.
    glob: bool,
    /// Matched case-insensitively: the pattern is lowercased here.
    fold: bool,
    /// `${...}` are policy variables (2012-10-17 policies).
    vars: bool,
}

/// A compiled string pattern, from the most common (cheapest) case to the least.
#[derive(Debug, Clone)]
enum Pattern {
    /// A glob of a lone `*`.
    Any,
    /// No wildcards: equality.
    Exact(Box<str>),
    /// A literal followed by one trailing `*` (e.g. `ecr:batch*`).
    Prefix(Box<str>),
    /// Any other glob.
    Glob(Box<[Tok]>),
    /// Contains policy variables, substituted at evaluation (this allocates).
    Template { pieces: Box<[Piece]>, glob: bool },
}

impl Pattern {
    /// Compiles `raw`. The error is a reason to append to the quoted value.
    fn compile(raw: &str, syntax: Syntax) -> Result<Pattern, String> {
        let text = if syntax.fold {
            lowercase(raw)
        } else {
            raw.to_owned()
        };
        let pieces = if syntax.vars {
            parse_template(&text)?
        } else {
            vec![Piece::Text(text.into())]
        };
        if pieces.iter().any(|p| matches!(p, Piece::Var { .. })) {
            return Ok(Pattern::Template {
                pieces: pieces.into(),
                glob: syntax.glob,
            });
        }
        let mut toks = Vec::new();
        for piece in &pieces {
            match piece {
                Piece::Text(text) => push_text(&mut toks, text, syntax.glob),
                Piece::Escaped(c) => push_literal(&mut toks, c.encode_utf8(&mut [0; 4])),
                Piece::Var { .. } => {}
            }
        }
        Ok(Pattern::from_toks(toks))
    }

    fn from_toks(toks: Vec<Tok>) -> Pattern {
        fn literal(toks: &[Tok]) -> Option<Box<str>> {
            let bytes = toks
                .iter()
                .map(|t| match t {
                    Tok::Lit(b) => Some(*b),
                    Tok::One | Tok::Many => None,
                })
                .collect::<Option<Vec<u8>>>()?;
            String::from_utf8(bytes).ok().map(String::into_boxed_str)
        }
        if let Some(exact) = literal(&toks) {
            return Pattern::Exact(exact);
        }
        if let Some((Tok::Many, head)) = toks.split_last() {
            if head.is_empty() {
                return Pattern::Any;
            }
            if let Some(prefix) = literal(head) {
                return Pattern::Prefix(prefix);
            }
        }
        Pattern::Glob(toks.into())
    }

    /// Does `text` match? `fold` must be the `Syntax::fold` the pattern was compiled with.
    /// Exact patterns fold Unicode; globs fold ASCII only (they are used case-insensitively
    /// only for action names, which are ASCII).
    fn matches(&self, text: &str, fold: bool, req: &Request<'_>) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Exact(exact) if fold => eq_folded(text, exact),
            Pattern::Exact(exact) => text == &**exact,
            Pattern::Prefix(prefix) => text.as_bytes().get(..prefix.len()).is_some_and(|head| {
                if fold {
                    head.eq_ignore_ascii_case(prefix.as_bytes())
                } else {
                    head == prefix.as_bytes()
                }
            }),
            Pattern::Glob(toks) => glob(toks, text.as_bytes(), fold),
            Pattern::Template {
                pieces,
                glob: is_glob,
            } => match_template(pieces, *is_glob, text, fold, req),
        }
    }
}

/// Substitutes the variables of a template and matches. A variable that is missing (and has
/// no default) makes the pattern match nothing.
fn match_template(
    pieces: &[Piece],
    is_glob: bool,
    text: &str,
    fold: bool,
    req: &Request<'_>,
) -> bool {
    let value = |key: &str, default: &Option<Box<str>>| -> Option<String> {
        let v = req.variable(key).or(default.as_deref())?;
        Some(if fold { lowercase(v) } else { v.to_owned() })
    };
    if is_glob {
        let mut toks = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Text(t) => push_text(&mut toks, t, true),
                Piece::Escaped(c) => push_literal(&mut toks, c.encode_utf8(&mut [0; 4])),
                Piece::Var { key, default } => match value(key, default) {
                    Some(v) => push_literal(&mut toks, &v),
                    None => return false,
                },
            }
        }
        glob(&toks, text.as_bytes(), fold)
    } else {
        let mut expected = String::new();
        for piece in pieces {
            match piece {
                Piece::Text(t) => expected.push_str(t),
                Piece::Escaped(c) => expected.push(*c),
                Piece::Var { key, default } => match value(key, default) {
                    Some(v) => expected.push_str(&v),
                    None => return false,
                },
            }
        }
        if fold {
            eq_folded(text, &expected)
        } else {
            text == expected
        }
    }
}

fn push_text(toks: &mut Vec<Tok>, text: &str, glob: bool) {
    if !glob {
        return push_literal(toks, text);
    }
    for b in text.bytes() {
        match b {
            // `**` is the same as `*`.
            b'*' if toks.last() == Some(&Tok::Many) => {}
            b'*' => toks.push(Tok::Many),
            b'?' => toks.push(Tok::One),
            b => toks.push(Tok::Lit(b)),
        }
    }
}

fn push_literal(toks: &mut Vec<Tok>, text: &str) {
    toks.extend(text.bytes().map(Tok::Lit));
}

/// Splits `text` into literal text, escapes and policy variables.
fn parse_template(text: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some((before, after)) = rest.split_once("${") {
        if !before.is_empty() {
            pieces.push(Piece::Text(before.into()));
        }
        let Some((body, tail)) = after.split_once('}') else {
            return Err(format!(
                "has an unterminated policy variable {}",
                Quoted(&format!("${{{after}"))
            ));
        };
        pieces.push(parse_variable(body)?);
        rest = tail;
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.into()));
    }
    Ok(pieces)
}

fn parse_variable(body: &str) -> Result<Piece, String> {
    match body {
        "*" => return Ok(Piece::Escaped('*')),
        "?" => return Ok(Piece::Escaped('?')),
        "$" => return Ok(Piece::Escaped('$')),
        _ => {}
    }
    let invalid = || {
        format!(
            "has an invalid policy variable {}: expected ${{key}} or ${{key, 'default'}} with a key such as aws:username",
            Quoted(&format!("${{{body}}}"))
        )
    };
    let (key, default) = match body.split_once(',') {
        None => (body.trim(), None),
        Some((key, default)) => {
            let default = default
                .trim()
                .strip_prefix('\'')
                .and_then(|d| d.strip_suffix('\''))
                .ok_or_else(invalid)?;
            (key.trim(), Some(default.into()))
        }
    };
    if !is_condition_key(key) {
        return Err(invalid());
    }
    Ok(Piece::Var {
        key: key.to_ascii_lowercase().into(),
        default,
    })
}

/// Glob match of `text` against `toks`, with at most one backtrack point (the last `*`):
/// O(len(text) × len(toks)) in the worst case, no recursion, no allocation. `?` matches one
/// UTF-8 character; `fold` compares ASCII letters case-insensitively (toks are lowercase).
fn glob(toks: &[Tok], text: &[u8], fold: bool) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where to resume after the last `*`: token index after it, and the text position it
    // currently stops at.
    let mut resume: Option<(usize, usize)> = None;
    loop {
        match (toks.get(p), text.get(t)) {
            (Some(Tok::Many), _) => {
                p += 1;
                resume = Some((p, t));
                continue;
            }
            (Some(Tok::One), Some(&b)) => {
                p += 1;
                t += utf8_width(b);
                continue;
            }
            (Some(&Tok::Lit(c)), Some(&b)) if c == b || (fold && c == b.to_ascii_lowercase()) => {
                p += 1;
                t += 1;
                continue;
            }
            (None, None) => return true,
            _ => {}
        }
        // Mismatch: let the last `*` swallow one more character and retry.
        match resume {
            Some((rp, rt)) => match text.get(rt) {
                Some(&b) => {
                    let next = rt + utf8_width(b);
                    resume = Some((rp, next));
                    p = rp;
                    t = next;
                }
                None => return false,
            },
            None => return false,
        }
    }
}

/// The length of the UTF-8 sequence that starts with `lead`.
fn utf8_width(lead: u8) -> usize {
    match lead {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// Unicode lowercase, one character at a time (unlike `str::to_lowercase`, this never
/// depends on context, so it agrees with [`eq_folded`]).
fn lowercase(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// `lowercase(text) == lowered`, without allocating.
fn eq_folded(text: &str, lowered: &str) -> bool {
    if text.is_ascii() {
        text.eq_ignore_ascii_case(lowered)
    } else {
        text.chars()
            .flat_map(char::to_lowercase)
            .eq(lowered.chars())
    }
}

/// A resource pattern or an `Arn*` condition value.
#[derive(Debug, Clone)]
enum ArnPattern {
    /// `*`.
    Any,
    /// The six colon-separated parts, each a glob; the last one (the resource) also covers
    /// any further colons. A text that does not have six parts never matches.
    Parts(Box<[Pattern; 6]>),
    /// An `Arn*` condition value that is not an ARN: a glob over the whole text.
    Whole(Pattern),
}

impl ArnPattern {
    const GLOB: Syntax = Syntax {
        glob: true,
        fold: false,
        vars: false,
    };

    /// A `Resource`/`NotResource` entry: `*` or an ARN; wildcards allowed in every part.
    fn resource(raw: &str, vars: bool) -> Result<ArnPattern, String> {
        const EXPECTED: &str = "is not a valid ARN: expected \"*\" or \"arn:partition:service:region:account-id:resource\"";
        if raw == "*" {
            return Ok(ArnPattern::Any);
        }
        if raw.chars().any(char::is_control) {
            return Err("contains a control character".into());
        }
        let Some(parts) = split_arn(raw, vars) else {
            return Err(EXPECTED.into());
        };
        let [prefix, partition, service, _, _, resource] = parts;
        if prefix != "arn" || partition.is_empty() || service.is_empty() || resource.is_empty() {
            return Err(EXPECTED.into());
        }
        Self::parts(parts, vars)
    }

    /// An `ArnEquals`/`ArnLike` value: compared part by part when it is an ARN, as a whole
    /// otherwise (e.g. `*`).
    fn condition(raw: &str, vars: bool) -> Result<ArnPattern, String> {
        if raw == "*" {
            return Ok(ArnPattern::Any);
        }
        match split_arn(raw, vars) {
            Some(parts) => Self::parts(parts, vars),
            None => Ok(ArnPattern::Whole(Pattern::compile(
                raw,
                Syntax { vars, ..Self::GLOB },
            )?)),
        }
    }

    fn parts(parts: [&str; 6], vars: bool) -> Result<ArnPattern, String> {
        let syntax = Syntax { vars, ..Self::GLOB };
        let [a, b, c, d, e, f] = parts.map(|part| Pattern::compile(part, syntax));
        Ok(ArnPattern::Parts(Box::new([a?, b?, c?, d?, e?, f?])))
    }

    /// Case-sensitive, as IAM compares ARNs.
    fn matches(&self, text: &str, req: &Request<'_>) -> bool {
        match self {
            ArnPattern::Any => true,
            ArnPattern::Whole(pattern) => pattern.matches(text, false, req),
            ArnPattern::Parts(parts) => {
                let mut segments = text.splitn(6, ':');
                parts
                    .iter()
                    .all(|p| segments.next().is_some_and(|s| p.matches(s, false, req)))
            }
        }
    }
}

/// Splits an ARN into its six parts at the first five colons that are not inside a policy
/// variable (`${aws:username}` contains a colon). `None` if there are fewer than six parts.
fn split_arn(raw: &str, vars: bool) -> Option<[&str; 6]> {
    let mut parts = [""; 6];
    let mut found = 0;
    let mut start = 0;
    let mut in_var = false;
    let mut prev = '\0';
    for (i, c) in raw.char_indices() {
        if found == 5 {
            break;
        }
        match c {
            '{' if vars && prev == '$' => in_var = true,
            '}' => in_var = false,
            ':' if !in_var => {
                *parts.get_mut(found)? = raw.get(start..i)?;
                found += 1;
                start = i + 1;
            }
            _ => {}
        }
        prev = c;
    }
    if found != 5 {
        return None;
    }
    *parts.get_mut(5)? = raw.get(start..)?;
    Some(parts)
}

// ---------------------------------------------------------------------------------------------
// Scalar parsers (shared by policy values and context values)
// ---------------------------------------------------------------------------------------------

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// `-?digits(.digits)?`: no exponents, infinities or NaN.
fn parse_number(s: &str) -> Option<f64> {
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match unsigned.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (unsigned, None),
    };
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !frac.is_none_or(digits) {
        return None;
    }
    s.parse().ok().filter(|x: &f64| x.is_finite())
}

fn parse_ip_net(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

/// A context IP address; IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, as dual-stack
/// listeners report IPv4 peers) count as IPv4.
fn parse_context_ip(s: &str) -> Option<IpAddr> {
    let ip: IpAddr = s.parse().ok()?;
    Some(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    })
}

/// Milliseconds since the Unix epoch, from epoch seconds (`1767225600`, optionally with a
/// fraction) or ISO 8601: `YYYY-MM-DD`, optionally followed by `THH:MM`, `:SS`, `.fraction`
/// and a zone (`Z`, `±HH:MM` or `±HHMM`; none means UTC).
fn parse_date(s: &str) -> Option<i64> {
    let (int, frac) = match s.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (s, None),
    };
    let all_digits =
        |d: &str| !d.is_empty() && d.len() <= 15 && d.bytes().all(|b| b.is_ascii_digit());
    if all_digits(int) && frac.is_none_or(all_digits) {
        let seconds: i64 = int.parse().ok()?;
        let millis = frac.map_or(Some(0), fraction_millis)?;
        return seconds.checked_mul(1000)?.checked_add(millis);
    }

    let mut c = Cursor {
        bytes: s.as_bytes(),
        pos: 0,
    };
    let year = c.number(4)?;
    c.expect(b'-')?;
    let month = c.number(2)?;
    c.expect(b'-')?;
    let day = c.number(2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut millis_of_day = 0;
    if c.eat(b'T') || c.eat(b't') {
        let hour = c.number(2)?;
        c.expect(b':')?;
        let minute = c.number(2)?;
        let mut second = 0;
        let mut millis = 0;
        if c.eat(b':') {
            second = c.number(2)?;
            if c.eat(b'.') || c.eat(b',') {
                let start = c.pos;
                while c.peek().is_some_and(|b| b.is_ascii_digit()) {
                    c.pos += 1;
                }
                millis = fraction_millis(s.get(start..c.pos)?)?;
            }
        }
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        millis_of_day = ((hour * 60 + minute) * 60 + second) * 1000 + millis;
        // Zone.
        let sign = match c.peek() {
            Some(b'Z' | b'z') => {
                c.pos += 1;
                0
            }
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => 0,
        };
        if sign != 0 {
            c.pos += 1;
            let zh = c.number(2)?;
            c.eat(b':');
            let zm = c.number(2)?;
            if zh > 23 || zm > 59 {
                return None;
            }
            millis_of_day -= sign * (zh * 60 + zm) * 60_000;
        }
    }
    if !c.done() {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400_000 + millis_of_day)
}

/// The milliseconds of a decimal fraction of a second (`"5"` → 500).
fn fraction_millis(frac: &str) -> Option<i64> {
    if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut millis = 0;
    for (i, b) in frac.bytes().take(3).enumerate() {
        millis += i64::from(b - b'0') * [100, 10, 1].get(i).copied().unwrap_or(0);
    }
    Some(millis)
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        self.eat(b).then_some(())
    }

    /// Exactly `n` decimal digits.
    fn number(&mut self, n: usize) -> Option<i64> {
        let digits = self.bytes.get(self.pos..self.pos + n)?;
        let mut value = 0;
        for &d in digits {
            if !d.is_ascii_digit() {
                return None;
            }
            value = value * 10 + i64::from(d - b'0');
        }
        self.pos += n;
        Some(value)
    }

    fn done(&self) -> bool {
        self.pos == self.bytes.len()
    }
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

// ---------------------------------------------------------------------------------------------
// Validation helpers
// ---------------------------------------------------------------------------------------------

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `prefix:name`, e.g. `aws:SourceIp`, `ecr:ResourceTag/team`: a prefix of letters, digits
/// and `-`, and a non-empty name without control characters.
fn is_condition_key(key: &str) -> bool {
    key.split_once(':').is_some_and(|(prefix, name)| {
        !prefix.is_empty()
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !name.is_empty()
            && !name.chars().any(char::is_control)
    })
}

/// An IAM path and name: `/`-separated, non-empty segments of `[A-Za-z0-9+=,.@_-]`.
fn is_iam_path_and_name(s: &str) -> bool {
    s.split('/').all(|segment| {
        !segment.is_empty()
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
    })
}

/// `aws`, `aws-cn`, `aws-us-gov`, `aws-iso-b`, ...
fn is_partition(s: &str) -> bool {
    s.strip_prefix("aws").is_some_and(|rest| {
        rest.is_empty()
            || (rest.starts_with('-')
                && rest.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
                && !rest.ends_with('-'))
    })
}

/// What an entry of `Principal.AWS` names.
enum AwsPrincipal<'s> {
    Any,
    Account(&'s str),
    Arn(&'s str),
}

/// Classifies a `Principal.AWS` entry; the error is a reason to append to the quoted value.
fn classify_aws_principal(s: &str) -> Result<AwsPrincipal<'_>, &'static str> {
    const EXPECTED: &str = "is not a valid AWS principal: expected \"*\", a 12-digit account ID, \"arn:aws:iam::<account-id>:root\", or an IAM user or role ARN";
    if s == "*" {
        return Ok(AwsPrincipal::Any);
    }
    if s.contains(['*', '?']) {
        return Err("contains a wildcard: only a bare \"*\" may be used as a principal (use a Condition on aws:PrincipalArn to match ARN patterns)");
    }
    if is_account_id(s) {
        return Ok(AwsPrincipal::Account(s));
    }
    let Some([prefix, partition, service, region, account, resource]) = split_arn(s, false) else {
        return Err(EXPECTED);
    };
    if prefix != "arn"
        || !is_partition(partition)
        || service != "iam"
        || !region.is_empty()
        || !is_account_id(account)
    {
        return Err(EXPECTED);
    }
    if resource == "root" {
        return Ok(AwsPrincipal::Account(account));
    }
    match resource
        .strip_prefix("user/")
        .or_else(|| resource.strip_prefix("role/"))
    {
        Some(path) if is_iam_path_and_name(path) => Ok(AwsPrincipal::Arn(s)),
        _ => Err(EXPECTED),
    }
}

/// A service principal name such as `codebuild.amazonaws.com`.
fn is_service_principal(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

// ---------------------------------------------------------------------------------------------
// Statement parsing
// ---------------------------------------------------------------------------------------------

/// The statement being parsed, for error messages.
struct Loc<'a> {
    index: usize,
    sid: Option<&'a str>,
}

impl Loc<'_> {
    /// `Statement[i].<path> <message> (Sid "...")`.
    fn field(&self, path: impl fmt::Display, message: impl fmt::Display) -> PolicyError {
        PolicyError(format!(
            "Statement[{}].{path} {message}{}",
            self.index,
            SidSuffix(self.sid)
        ))
    }

    /// `Statement[i]: <message> (Sid "...")`.
    fn statement(&self, message: impl fmt::Display) -> PolicyError {
        PolicyError(format!(
            "Statement[{}]: {message}{}",
            self.index,
            SidSuffix(self.sid)
        ))
    }
}

struct SidSuffix<'a>(Option<&'a str>);

impl fmt::Display for SidSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(sid) if !sid.is_empty() => write!(f, " (Sid {})", Quoted(sid)),
            _ => Ok(()),
        }
    }
}

/// A field path with an optional array index: `Action` or `Action[2]`.
#[derive(Clone, Copy)]
struct At<'a>(&'a str, Option<usize>);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(i) => write!(f, "{}[{i}]", self.0),
            None => f.write_str(self.0),
        }
    }
}

/// A string quoted and escaped as JSON-ish (`"a\0b"`), cut after 64 characters.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX_CHARS: usize = 64;
        match self.0.char_indices().nth(MAX_CHARS) {
            None => write!(f, "{:?}", self.0),
            Some((cut, _)) => write!(f, "{:?}…", self.0.get(..cut).unwrap_or_default()),
        }
    }
}

/// What was found instead: a string's value, otherwise the JSON type.
struct Found<'a>(&'a Json);

impl fmt::Display for Found<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Json::Null => f.write_str("null"),
            Json::Bool(_) => f.write_str("a boolean"),
            Json::Number(_) => f.write_str("a number"),
            Json::String(s) => Quoted(s).fmt(f),
            Json::Array(_) => f.write_str("an array"),
            Json::Object(_) => f.write_str("an object"),
        }
    }
}

/// A hint for an unknown key: the right spelling if only the case differs, else the list.
fn suggest(key: &str, allowed: &[&str]) -> String {
    match allowed.iter().find(|a| a.eq_ignore_ascii_case(key)) {
        Some(right) => format!(" (keys are case-sensitive: did you mean \"{right}\"?)"),
        None => format!(" (allowed: {})", allowed.join(", ")),
    }
}

fn field<'j>(fields: &'j [(String, Json)], name: &str) -> Option<&'j Json> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// A string or a non-empty array of strings, with each string's array index.
fn string_list<'j>(
    loc: &Loc<'_>,
    name: &str,
    value: &'j Json,
) -> Result<Vec<(Option<usize>, &'j str)>, PolicyError> {
    match value {
        Json::String(s) => Ok(vec![(None, s.as_str())]),
        Json::Array(items) if items.is_empty() => {
            Err(loc.field(name, "must not be an empty array"))
        }
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Json::String(s) => Ok((Some(i), s.as_str())),
                other => Err(loc.field(
                    At(name, Some(i)),
                    format_args!("must be a string, found {}", Found(other)),
                )),
            })
            .collect(),
        other => Err(loc.field(
            name,
            format_args!(
                "must be a string or a non-empty array of strings, found {}",
                Found(other)
            ),
        )),
    }
}

/// A condition value: a string, number or boolean, or a non-empty array of them; numbers and
/// booleans become strings, as in IAM.
fn scalar_list<'j>(
    loc: &Loc<'_>,
    path: &str,
    value: &'j Json,
) -> Result<Vec<(Option<usize>, &'j str)>, PolicyError> {
    fn scalar(value: &Json) -> Option<&str> {
        match value {
            Json::String(s) | Json::Number(s) => Some(s),
            Json::Bool(true) => Some("true"),
            Json::Bool(false) => Some("false"),
            Json::Null | Json::Array(_) | Json::Object(_) => None,
        }
    }
    match value {
        Json::Array(items) if items.is_empty() => {
            Err(loc.field(path, "must not be an empty array"))
        }
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                scalar(item).map(|s| (Some(i), s)).ok_or_else(|| {
                    loc.field(
                        At(path, Some(i)),
                        format_args!("must be a string, number or boolean, found {}", Found(item)),
                    )
                })
            })
            .collect(),
        other => scalar(other).map(|s| vec![(None, s)]).ok_or_else(|| {
            loc.field(
                path,
                format_args!(
                    "must be a string, number, boolean or a non-empty array of them, found {}",
                    Found(other)
                ),
            )
        }),
    }
}

fn parse_statement(
    index: usize,
    fields: &[(String, Json)],
    kind: PolicyKind,
    vars: bool,
) -> Result<Statement, PolicyError> {
    let sid = match field(fields, "Sid") {
        None => None,
        Some(Json::String(sid)) => Some(sid.as_str()),
        Some(other) => {
            return Err(PolicyError(format!(
                "Statement[{index}].Sid must be a string, found {}",
                Found(other)
            )))
        }
    };
    let loc = Loc { index, sid };
    if let Some((key, _)) = fields
        .iter()
        .find(|(k, _)| !STATEMENT_KEYS.contains(&k.as_str()))
    {
        return Err(loc.statement(format_args!(
            "unknown key {}{}",
            Quoted(key),
            suggest(key, STATEMENT_KEYS)
        )));
    }

    let effect = match field(fields, "Effect") {
        None => return Err(loc.statement("missing Effect")),
        Some(Json::String(e)) if e == "Allow" => Effect::Allow,
        Some(Json::String(e)) if e == "Deny" => Effect::Deny,
        Some(other) => {
            return Err(loc.field(
                "Effect",
                format_args!("must be \"Allow\" or \"Deny\", found {}", Found(other)),
            ))
        }
    };

    let actions = match (field(fields, "Action"), field(fields, "NotAction")) {
        (Some(_), Some(_)) => {
            return Err(loc.statement("has both Action and NotAction; use exactly one"))
        }
        (None, None) => return Err(loc.statement("missing Action or NotAction")),
        (Some(v), None) => parse_actions(&loc, "Action", v, kind, false)?,
        (None, Some(v)) => parse_actions(&loc, "NotAction", v, kind, true)?,
    };

    let principals = match (kind, field(fields, "Principal"), field(fields, "NotPrincipal")) {
        (PolicyKind::Identity, None, None) => None,
        (PolicyKind::Identity, Some(_), _) => {
            return Err(loc.statement(
                "Principal is not allowed in an identity policy (it applies to the principal it is attached to)",
            ))
        }
        (PolicyKind::Identity, None, Some(_)) => {
            return Err(loc.statement(
                "NotPrincipal is not allowed in an identity policy (it applies to the principal it is attached to)",
            ))
        }
        (PolicyKind::Resource, Some(_), Some(_)) => {
            return Err(loc.statement("has both Principal and NotPrincipal; use exactly one"))
        }
        (PolicyKind::Resource, None, None) => {
            return Err(loc.statement(
                "missing Principal or NotPrincipal (required in a repository or registry policy)",
            ))
        }
        (PolicyKind::Resource, Some(v), None) => Some(parse_principals(&loc, "Principal", v, false)?),
        (PolicyKind::Resource, None, Some(v)) => {
            Some(parse_principals(&loc, "NotPrincipal", v, true)?)
        }
    };

    let resources = match (field(fields, "Resource"), field(fields, "NotResource")) {
        (Some(_), Some(_)) => {
            return Err(loc.statement("has both Resource and NotResource; use at most one"))
        }
        (None, None) if kind == PolicyKind::Identity => {
            return Err(
                loc.statement("missing Resource or NotResource (required in an identity policy)")
            )
        }
        (None, None) => None,
        (Some(v), None) => Some(parse_resources(&loc, "Resource", v, vars, false)?),
        (None, Some(v)) => Some(parse_resources(&loc, "NotResource", v, vars, true)?),
    };

    let conditions = match field(fields, "Condition") {
        None => Vec::new(),
        Some(v) => parse_conditions(&loc, v, vars)?,
    };

    Ok(Statement {
        effect,
        actions,
        principals,
        resources,
        conditions: conditions.into(),
    })
}

fn parse_actions(
    loc: &Loc<'_>,
    name: &str,
    value: &Json,
    kind: PolicyKind,
    negated: bool,
) -> Result<Actions, PolicyError> {
    let patterns = string_list(loc, name, value)?
        .into_iter()
        .map(|(i, action)| parse_action(loc, At(name, i), action, kind))
        .collect::<Result<_, _>>()?;
    Ok(Actions { negated, patterns })
}

/// `*` or `service:pattern`, where the service is `[A-Za-z0-9-]+` and the pattern
/// `[A-Za-z0-9*?]+`. An ECR action without wildcards must exist; resource policies may only
/// name ECR actions.
fn parse_action(
    loc: &Loc<'_>,
    at: At<'_>,
    action: &str,
    kind: PolicyKind,
) -> Result<Pattern, PolicyError> {
    const SYNTAX: Syntax = Syntax {
        glob: true,
        fold: true,
        vars: false,
    };
    if action == "*" {
        return Ok(Pattern::Any);
    }
    let invalid = |why: &str| {
        loc.field(
            at,
            format_args!("{} is not a valid action: {why}", Quoted(action)),
        )
    };
    let Some((service, name)) = action.split_once(':') else {
        return Err(invalid(
            "expected \"*\" or \"service:action\", such as \"ecr:BatchGetImage\"",
        ));
    };
    if service.is_empty()
        || !service
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(invalid(
            "the service prefix must be letters, digits and '-', such as \"ecr\"",
        ));
    }
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'*' || b == b'?')
    {
        return Err(invalid(
            "the action name must be letters, digits, '*' and '?'",
        ));
    }
    let is_ecr = service.eq_ignore_ascii_case("ecr");
    if kind == PolicyKind::Resource && !is_ecr {
        return Err(loc.field(
            at,
            format_args!(
                "{} is not allowed in a repository or registry policy: only \"*\" and ecr actions apply",
                Quoted(action)
            ),
        ));
    }
    if is_ecr && !name.contains(['*', '?']) && !is_ecr_action(name) {
        return Err(loc.statement(format_args!("unknown action {action}")));
    }
    Pattern::compile(action, SYNTAX)
        .map_err(|why| loc.field(at, format_args!("{} {why}", Quoted(action))))
}

fn parse_principals(
    loc: &Loc<'_>,
    name: &str,
    value: &Json,
    negated: bool,
) -> Result<Principals, PolicyError> {
    let mut any = false;
    let mut accounts: Vec<Box<str>> = Vec::new();
    let mut arns: Vec<Box<str>> = Vec::new();
    match value {
        Json::String(s) if s == "*" => any = true,
        Json::Object(types) if types.is_empty() => {
            return Err(loc.field(name, "must name at least one principal"))
        }
        Json::Object(types) => {
            for (ty, list) in types {
                let path = format!("{name}.{ty}");
                match ty.as_str() {
                    "AWS" => {
                        for (i, s) in string_list(loc, &path, list)? {
                            match classify_aws_principal(s) {
                                Ok(AwsPrincipal::Any) => any = true,
                                Ok(AwsPrincipal::Account(account)) => accounts.push(account.into()),
                                Ok(AwsPrincipal::Arn(arn)) => arns.push(arn.into()),
                                Err(why) => {
                                    return Err(loc.field(At(&path, i), format_args!("{} {why}", Quoted(s))))
                                }
                            }
                        }
                    }
                    "Service" => {
                        for (i, s) in string_list(loc, &path, list)? {
                            if !is_service_principal(s) {
                                return Err(loc.field(
                                    At(&path, i),
                                    format_args!(
                                        "{} is not a valid service principal, such as \"codebuild.amazonaws.com\"",
                                        Quoted(s)
                                    ),
                                ));
                            }
                        }
                    }
                    _ => {
                        return Err(loc.field(
                            name,
                            format_args!(
                                "has unsupported principal type {}: expected \"AWS\" or \"Service\"",
                                Quoted(ty)
                            ),
                        ))
                    }
                }
            }
        }
        other => {
            return Err(loc.field(
                name,
                format_args!(
                    "must be \"*\" or an object such as {{\"AWS\": \"arn:aws:iam::123456789012:root\"}}, found {}",
                    Found(other)
                ),
            ))
        }
    }
    Ok(Principals {
        negated,
        any,
        accounts: accounts.into(),
        arns: arns.into(),
    })
}

fn parse_resources(
    loc: &Loc<'_>,
    name: &str,
    value: &Json,
    vars: bool,
    negated: bool,
) -> Result<Resources, PolicyError> {
    let patterns = string_list(loc, name, value)?
        .into_iter()
        .map(|(i, s)| {
            ArnPattern::resource(s, vars)
                .map_err(|why| loc.field(At(name, i), format_args!("{} {why}", Quoted(s))))
        })
        .collect::<Result<_, _>>()?;
    Ok(Resources { negated, patterns })
}

fn parse_conditions(
    loc: &Loc<'_>,
    value: &Json,
    vars: bool,
) -> Result<Vec<Condition>, PolicyError> {
    let Json::Object(operators) = value else {
        return Err(loc.field(
            "Condition",
            format_args!(
                "must be an object mapping condition operators to {{key: values}} objects, found {}",
                Found(value)
            ),
        ));
    };
    let mut conditions = Vec::new();
    for (name, body) in operators {
        let Some(op) = Operator::parse(name) else {
            return Err(loc.field(
                "Condition",
                format_args!("has unknown condition operator {}", Quoted(name)),
            ));
        };
        if op.if_exists && matches!(op.base, BaseOp::Null) {
            return Err(loc.field(
                "Condition",
                format_args!(
                    "has invalid operator {}: Null cannot be combined with IfExists",
                    Quoted(name)
                ),
            ));
        }
        let op_path = format!("Condition.{name}");
        let Json::Object(keys) = body else {
            return Err(loc.field(
                &op_path,
                format_args!(
                    "must be an object mapping condition keys to values, found {}",
                    Found(body)
                ),
            ));
        };
        for (key, values) in keys {
            if !is_condition_key(key) {
                return Err(loc.field(
                    &op_path,
                    format_args!(
                        "has invalid condition key {}: expected \"prefix:name\", such as \"aws:SourceIp\"",
                        Quoted(key)
                    ),
                ));
            }
            let path = format!("{op_path}[{}]", Quoted(key));
            let raw = scalar_list(loc, &path, values)?;
            let operands = compile_operands(loc, &path, op.base, &raw, vars)?;
            conditions.push(Condition {
                key: key.to_ascii_lowercase().into(),
                negated: op.negated,
                qualifier: op.qualifier,
                if_exists: op.if_exists,
                operands,
            });
        }
    }
    Ok(conditions)
}

/// Compiles the policy values of one condition key. Policy variables are recognised in
/// `String*` and `Arn*` values only; the other types must parse as they are.
fn compile_operands(
    loc: &Loc<'_>,
    path: &str,
    base: BaseOp,
    raw: &[(Option<usize>, &str)],
    vars: bool,
) -> Result<Operands, PolicyError> {
    fn each<T>(
        loc: &Loc<'_>,
        path: &str,
        raw: &[(Option<usize>, &str)],
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Box<[T]>, PolicyError> {
        raw.iter()
            .map(|&(i, s)| {
                parse(s).map_err(|why| loc.field(At(path, i), format_args!("{} {why}", Quoted(s))))
            })
            .collect()
    }
    let or = |why: &str| why.to_owned();
    Ok(match base {
        BaseOp::String { like, fold } => Operands::Strings {
            patterns: each(loc, path, raw, |s| {
                Pattern::compile(
                    s,
                    Syntax {
                        glob: like,
                        fold,
                        vars,
                    },
                )
            })?,
            fold,
        },
        BaseOp::Arn => Operands::Arns(each(loc, path, raw, |s| ArnPattern::condition(s, vars))?),
        BaseOp::Ip => Operands::Ips(each(loc, path, raw, |s| {
            parse_ip_net(s).ok_or_else(|| or("is not an IP address or CIDR block"))
        })?),
        BaseOp::Bool => Operands::Bools(each(loc, path, raw, |s| {
            parse_bool(s).ok_or_else(|| or("is not \"true\" or \"false\""))
        })?),
        BaseOp::Null => Operands::Null(each(loc, path, raw, |s| {
            parse_bool(s).ok_or_else(|| or("is not \"true\" or \"false\""))
        })?),
        BaseOp::Numeric(cmp) => Operands::Numbers(
            cmp,
            each(loc, path, raw, |s| {
                parse_number(s).ok_or_else(|| or("is not a number"))
            })?,
        ),
        BaseOp::Date(cmp) => Operands::Dates(
            cmp,
            each(loc, path, raw, |s| {
                parse_date(s).ok_or_else(|| {
                    or("is not a date: expected ISO 8601 such as \"2026-01-01T00:00:00Z\", or epoch seconds")
                })
            })?,
        ),
    })
}

// ---------------------------------------------------------------------------------------------
// JSON with duplicate-key detection
// ---------------------------------------------------------------------------------------------

/// A JSON value that keeps object keys in order and rejects duplicate keys (which
/// `serde_json::Value` would silently collapse). Numbers keep their textual form, as IAM
/// treats them as strings. Nesting is bounded by serde_json's recursion limit (128).
#[derive(Debug)]
enum Json {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries: Vec<(String, Json)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key {}",
                    Quoted(&key)
                )));
            }
            let value = map.next_value()?;
            entries.push((key, value));
        }
        Ok(Json::Object(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPO: &str = "arn:aws:ecr:us-east-1:000000000000:repository/team/app";

    fn principal(arn: &str) -> PrincipalInfo {
        let account = arn.split(':').nth(4).unwrap_or_default().to_owned();
        PrincipalInfo {
            arn: arn.to_owned(),
            account,
        }
    }

    fn alice() -> PrincipalInfo {
        principal("arn:aws:iam::000000000000:user/alice")
    }

    fn bob() -> PrincipalInfo {
        principal("arn:aws:iam::000000000000:user/bob")
    }

    fn carol_other_account() -> PrincipalInfo {
        principal("arn:aws:iam::111122223333:user/carol")
    }

    /// A 2012-10-17 policy from statement JSON.
    fn doc(statements: &str) -> String {
        format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)
    }

    // -----------------------------------------------------------------------------------------
    // Parsing
    // -----------------------------------------------------------------------------------------

    #[test]
    fn parses_valid_policies() {
        let cases: &[(&str, PolicyKind, &str)] = &[
            (
                "ecr-api.md section 10 cross-account pull",
                PolicyKind::Resource,
                r#"{"Version":"2012-10-17","Statement":[{"Sid":"PullFromB","Effect":"Allow",
                  "Principal":{"AWS":"arn:aws:iam::111122223333:root"},
                  "Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:BatchCheckLayerAvailability"]}]}"#,
            ),
            (
                "identity admin",
                PolicyKind::Identity,
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"}]}"#,
            ),
            (
                "single statement object, 2008 version, Id",
                PolicyKind::Resource,
                r#"{"Version":"2008-10-17","Id":"x","Statement":{"Effect":"Deny","Principal":"*","Action":"*"}}"#,
            ),
            (
                "no Version, Sid with spaces and punctuation",
                PolicyKind::Resource,
                r#"{"Statement":[{"Sid":"allow pull (CI)","Effect":"Allow","Principal":{"AWS":"*"},"Action":"ecr:BatchGetImage"}]}"#,
            ),
            (
                "service principal, user, role with path and account id",
                PolicyKind::Resource,
                r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":["codebuild.amazonaws.com"],
                  "AWS":["123456789012","arn:aws:iam::123456789012:user/alice","arn:aws:iam::123456789012:role/service-role/build-role"]},
                  "Action":["ecr:Batch*","ecr:Get?ownloadUrlForLayer"],
                  "Resource":"arn:aws:ecr:*:123456789012:repository/*"}]}"#,
            ),
            (
                "NotPrincipal, NotAction, NotResource",
                PolicyKind::Resource,
                r#"{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:user/admin"},
                  "NotAction":"ecr:Describe*","NotResource":["arn:aws:ecr:us-east-1:123456789012:repository/public/*"]}]}"#,
            ),
            (
                "every condition operator family, numbers and booleans as values",
                PolicyKind::Identity,
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*","Condition":{
                  "StringEquals":{"aws:username":["alice","bob"]},
                  "StringNotEqualsIgnoreCase":{"aws:PrincipalType":"Anonymous"},
                  "StringLike":{"aws:userid":"AID*"},
                  "ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/*"},
                  "ArnNotEquals":{"aws:SourceArn":"*"},
                  "IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.1.1","2001:db8::/32"]},
                  "Bool":{"aws:SecureTransport":true},
                  "Null":{"aws:TokenIssueTime":"false"},
                  "NumericLessThanEquals":{"aws:MultiFactorAuthAge":3600},
                  "NumericGreaterThan":{"ecr:Count":-1.5},
                  "DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"},
                  "DateLessThanIfExists":{"aws:EpochTime":1893456000},
                  "ForAnyValue:StringEquals":{"aws:TagKeys":["team","env"]},
                  "ForAllValues:StringLikeIfExists":{"aws:TagKeys":"t*"}
                }}]}"#,
            ),
            (
                "policy variables and escapes",
                PolicyKind::Identity,
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*",
                  "Resource":"arn:aws:ecr:*:*:repository/${aws:username}/${*}${aws:userid, 'none'}",
                  "Condition":{"StringEquals":{"ecr:ResourceTag/owner":"${aws:username}"}}}]}"#,
            ),
            (
                "empty Condition",
                PolicyKind::Identity,
                &doc(r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{}}"#),
            ),
            (
                "non-ecr action in identity policy",
                PolicyKind::Identity,
                &doc(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}"#),
            ),
            (
                "case-insensitive ecr action",
                PolicyKind::Identity,
                &doc(r#"{"Effect":"Allow","Action":"ECR:batchgetimage","Resource":"*"}"#),
            ),
            (
                "exactly at the identity limit",
                PolicyKind::Identity,
                &padded(6_144),
            ),
        ];
        for (name, kind, text) in cases {
            if let Err(e) = Policy::parse(text, *kind) {
                panic!("{name}: unexpected error: {e}");
            }
        }
        let policy = Policy::parse(cases[2].2, PolicyKind::Resource).expect("valid");
        assert_eq!(policy.kind(), PolicyKind::Resource);
        assert_eq!(policy.version(), Some("2008-10-17"));
        assert_eq!(policy.id(), Some("x"));
    }

    /// A valid identity policy of exactly `len` bytes.
    fn padded(len: usize) -> String {
        let head = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"}]}"#;
        format!("{head}{}", " ".repeat(len - head.len()))
    }

    #[test]
    fn rejects_malformed_policies_with_precise_messages() {
        use PolicyKind::{Identity as I, Resource as R};
        let deep = "[".repeat(10_000);
        let deep_balanced = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
        let deep_objects = format!("{}1{}", r#"{"a":"#.repeat(1_500), "}".repeat(1_500));
        let huge_array = doc(&format!(
            r#"{{"Effect":"Allow","Action":[{}],"Resource":"*"}}"#,
            vec!["0"; 2_500].join(",")
        ));
        let too_long = padded(6_145);
        let too_long_resource = format!(
            "{}{}",
            doc(r#"{"Effect":"Allow","Principal":"*","Action":"*"}"#),
            " ".repeat(10_240)
        );
        let multibyte = format!(
            "{}{}",
            doc(r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#),
            "é".repeat(3_072)
        );
        let cases: Vec<(&str, PolicyKind, String, &str)> = vec![
            // Top level.
            ("empty text", I, "".into(), "invalid policy JSON: EOF"),
            ("whitespace", I, "   ".into(), "invalid policy JSON"),
            ("not JSON", I, "Version: 1".into(), "invalid policy JSON"),
            ("trailing garbage", I, format!("{} x", padded(100).trim_end()), "invalid policy JSON: trailing characters"),
            ("raw NUL byte", I, "{\"Statement\":\0}".into(), "invalid policy JSON"),
            ("NUL inside a string", I, "{\"Statement\":\"a\0b\"}".into(), "invalid policy JSON: control character"),
            ("array at top level", I, "[]".into(), "policy must be a JSON object, found an array"),
            ("string at top level", I, r#""policy""#.into(), r#"policy must be a JSON object, found "policy""#),
            ("deep arrays", R, deep, "recursion limit exceeded"),
            ("deep balanced arrays", R, deep_balanced, "recursion limit exceeded"),
            ("deep objects", R, deep_objects, "recursion limit exceeded"),
            ("too long identity", I, too_long, "policy text is 6145 bytes; the limit is 6144"),
            ("too long resource", R, too_long_resource, "the limit is 10240"),
            ("length is in bytes", I, multibyte, "bytes; the limit is 6144"),
            ("unknown top-level key", I, r#"{"Statement":[],"Foo":1}"#.into(), r#"unknown top-level key "Foo" (allowed: Version, Id, Statement)"#),
            ("top-level key case", I, r#"{"statement":[]}"#.into(), r#"did you mean "Statement"?"#),
            ("duplicate top-level key", I, r#"{"Statement":[],"Statement":[]}"#.into(), r#"duplicate key "Statement" at line 1"#),
            ("duplicate statement key", I, doc(r#"{"Effect":"Allow","Effect":"Deny","Action":"*","Resource":"*"}"#), r#"duplicate key "Effect""#),
            ("duplicate condition key", I, doc(r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true","aws:SecureTransport":"false"}}}"#), r#"duplicate key "aws:SecureTransport""#),
            ("bad Version", I, r#"{"Version":"2012-10-18","Statement":[]}"#.into(), r#"Version must be "2012-10-17" or "2008-10-17", found "2012-10-18""#),
            ("Version not a string", I, r#"{"Version":2012,"Statement":[]}"#.into(), "Version must be \"2012-10-17\" or \"2008-10-17\", found a number"),
            ("Id not a string", I, r#"{"Id":[],"Statement":[]}"#.into(), "Id must be a string, found an array"),
            ("missing Statement", I, r#"{"Version":"2012-10-17"}"#.into(), "missing Statement"),
            ("empty Statement array", I, r#"{"Statement":[]}"#.into(), "Statement must not be an empty array"),
            ("Statement a string", I, r#"{"Statement":"allow"}"#.into(), r#"Statement must be an object or a non-empty array of objects, found "allow""#),
            ("Statement null", I, r#"{"Statement":null}"#.into(), "found null"),
            ("Statement element not an object", I, r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},3]}"#.into(), "Statement[1] must be an object, found a number"),
            // Statement keys.
            ("unknown statement key", I, doc(r#"{"Effect":"Allow","Actions":"*","Resource":"*"}"#), r#"Statement[0]: unknown key "Actions""#),
            ("statement key case", I, doc(r#"{"effect":"Allow","Action":"*","Resource":"*"}"#), r#"did you mean "Effect"?"#),
            ("Sid not a string", I, doc(r#"{"Sid":1,"Effect":"Allow","Action":"*","Resource":"*"}"#), "Statement[0].Sid must be a string, found a number"),
            // Effect.
            ("Effect lowercase", I, doc(r#"{"Effect":"allow","Action":"*","Resource":"*"}"#), r#"Statement[0].Effect must be "Allow" or "Deny", found "allow""#),
            ("Effect names the Sid", I, doc(r#"{"Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"Two","Effect":"DENY","Action":"*","Resource":"*"}"#), r#"Statement[1].Effect must be "Allow" or "Deny", found "DENY" (Sid "Two")"#),
            ("Effect boolean", I, doc(r#"{"Effect":true,"Action":"*","Resource":"*"}"#), "Statement[0].Effect must be \"Allow\" or \"Deny\", found a boolean"),
            ("missing Effect", I, doc(r#"{"Action":"*","Resource":"*"}"#), "Statement[0]: missing Effect"),
            // Action.
            ("missing Action", I, doc(r#"{"Effect":"Allow","Resource":"*"}"#), "Statement[0]: missing Action or NotAction"),
            ("Action and NotAction", I, doc(r#"{"Effect":"Allow","Action":"*","NotAction":"ecr:PutImage","Resource":"*"}"#), "has both Action and NotAction"),
            ("Action a number", I, doc(r#"{"Effect":"Allow","Action":42,"Resource":"*"}"#), "Statement[0].Action must be a string or a non-empty array of strings, found a number"),
            ("Action element null", I, doc(r#"{"Effect":"Allow","Action":["ecr:PutImage",null],"Resource":"*"}"#), "Statement[0].Action[1] must be a string, found null"),
            ("Action element object", I, doc(r#"{"Effect":"Allow","Action":[{}],"Resource":"*"}"#), "Statement[0].Action[0] must be a string, found an object"),
            ("huge Action array of numbers", I, huge_array, "Statement[0].Action[0] must be a string, found a number"),
            ("empty Action array", I, doc(r#"{"Effect":"Allow","Action":[],"Resource":"*"}"#), "Statement[0].Action must not be an empty array"),
            ("empty action", I, doc(r#"{"Effect":"Allow","Action":"","Resource":"*"}"#), r#"Statement[0].Action "" is not a valid action"#),
            ("action without service", I, doc(r#"{"Effect":"Allow","Action":"BatchGetImage","Resource":"*"}"#), r#""BatchGetImage" is not a valid action: expected "*" or "service:action""#),
            ("action with empty name", I, doc(r#"{"Effect":"Allow","Action":"ecr:","Resource":"*"}"#), "the action name must be"),
            ("action with bad char", I, doc(r#"{"Effect":"Allow","Action":"ecr:Batch-Get","Resource":"*"}"#), "the action name must be letters, digits"),
            ("action with NUL", I, doc(r#"{"Effect":"Allow","Action":"ecr:Batch\u0000","Resource":"*"}"#), r#"Statement[0].Action "ecr:Batch\0" is not a valid action"#),
            ("wildcard service", I, doc(r#"{"Effect":"Allow","Action":"*:*","Resource":"*"}"#), "the service prefix must be"),
            ("unknown ecr action", I, doc(r#"{"Effect":"Allow","Action":"ecr:Foo","Resource":"*"}"#), "Statement[0]: unknown action ecr:Foo"),
            ("unknown ecr action in NotAction", R, doc(r#"{"Effect":"Deny","Principal":"*","NotAction":["ecr:PutImage","ecr:PushImage"]}"#), "Statement[0]: unknown action ecr:PushImage"),
            ("non-ecr action in resource policy", R, doc(r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}"#), r#"Statement[0].Action "s3:GetObject" is not allowed in a repository or registry policy"#),
            // Principal.
            ("Principal in identity policy", I, doc(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}"#), "Statement[0]: Principal is not allowed in an identity policy"),
            ("NotPrincipal in identity policy", I, doc(r#"{"Effect":"Allow","NotPrincipal":"*","Action":"*","Resource":"*"}"#), "NotPrincipal is not allowed in an identity policy"),
            ("missing Principal in resource policy", R, doc(r#"{"Effect":"Allow","Action":"ecr:*"}"#), "Statement[0]: missing Principal or NotPrincipal"),
            ("Principal and NotPrincipal", R, doc(r#"{"Effect":"Allow","Principal":"*","NotPrincipal":"*","Action":"ecr:*"}"#), "has both Principal and NotPrincipal"),
            ("Principal bare non-star string", R, doc(r#"{"Effect":"Allow","Principal":"123456789012","Action":"ecr:*"}"#), r#"Statement[0].Principal must be "*" or an object"#),
            ("Principal empty object", R, doc(r#"{"Effect":"Allow","Principal":{},"Action":"ecr:*"}"#), "Statement[0].Principal must name at least one principal"),
            ("Principal unsupported type", R, doc(r#"{"Effect":"Allow","Principal":{"Federated":"cognito-identity.amazonaws.com"},"Action":"ecr:*"}"#), r#"Statement[0].Principal has unsupported principal type "Federated""#),
            ("wildcard in principal ARN", R, doc(r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/*"},"Action":"ecr:*"}"#), r#"Statement[0].Principal.AWS "arn:aws:iam::123456789012:user/*" contains a wildcard"#),
            ("wildcard account", R, doc(r#"{"Effect":"Allow","Principal":{"AWS":["*","arn:aws:iam::*:root"]},"Action":"ecr:*"}"#), "Statement[0].Principal.AWS[1] \"arn:aws:iam::*:root\" contains a wildcard"),
            ("short account id", R, doc(r#"{"Effect":"Allow","Principal":{"AWS":"12345"},"Action":"ecr:*"}"#), r#""12345" is not a valid AWS principal"#),
            ("group is not a principal", R, doc(r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:group/devs"},"Action":"ecr:*"}"#), "is not a valid AWS principal"),
            ("principal from another service", R, doc(r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:s3:::bucket"},"Action":"ecr:*"}"#), "is not a valid AWS principal"),
            ("principal AWS number", R, doc(r#"{"Effect":"Allow","Principal":{"AWS":123456789012},"Action":"ecr:*"}"#), "Statement[0].Principal.AWS must be a string or a non-empty array of strings, found a number"),
            ("bad service principal", R, doc(r#"{"Effect":"Allow","Principal":{"Service":"*"},"Action":"ecr:*"}"#), "Statement[0].Principal.Service \"*\" is not a valid service principal"),
            // Resource.
            ("missing Resource in identity policy", I, doc(r#"{"Effect":"Allow","Action":"*"}"#), "Statement[0]: missing Resource or NotResource"),
            ("Resource and NotResource", R, doc(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","NotResource":"*"}"#), "has both Resource and NotResource"),
            ("bad ARN", I, doc(r#"{"Effect":"Allow","Action":"*","Resource":"repository/team"}"#), r#"Statement[0].Resource "repository/team" is not a valid ARN"#),
            ("ARN with five parts", I, doc(r#"{"Effect":"Allow","Action":"*","Resource":["*","arn:aws:ecr:us-east-1:repository/x"]}"#), "Statement[0].Resource[1] \"arn:aws:ecr:us-east-1:repository/x\" is not a valid ARN"),
            ("ARN with empty resource", I, doc(r#"{"Effect":"Allow","Action":"*","Resource":"arn:aws:ecr:us-east-1:000000000000:"}"#), "is not a valid ARN"),
            ("empty Resource", I, doc(r#"{"Effect":"Allow","Action":"*","Resource":""}"#), r#"Statement[0].Resource "" is not a valid ARN"#),
            ("Resource with control character", I, doc(r#"{"Effect":"Allow","Action":"*","Resource":"arn:aws:ecr:::repository/\u0001"}"#), "contains a control character"),
            ("empty NotResource array", I, doc(r#"{"Effect":"Allow","Action":"*","NotResource":[]}"#), "Statement[0].NotResource must not be an empty array"),
            ("unterminated variable", I, doc(r#"{"Effect":"Allow","Action":"*","Resource":"arn:aws:ecr:*:*:repository/${aws:username"}"#), "has an unterminated policy variable"),
            ("invalid variable", I, doc(r#"{"Effect":"Allow","Action":"*","Resource":"arn:aws:ecr:*:*:repository/${not a key}"}"#), "has an invalid policy variable \"${not a key}\""),
            // Condition.
            ("Condition not an object", I, doc(r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":[]}"#), "Statement[0].Condition must be an object"),
            ("unknown operator", I, doc(r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEqual":{"aws:username":"a"}}}"#), r#"Statement[0].Condition has unknown condition operator "StringEqual""#),
            ("unknown qualifier", I, doc(r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForSomeValues:StringEquals":{"aws:username":"a"}}}"#), "unknown condition operator \"ForSomeValues:StringEquals\""),
            ("NullIfExists", I, doc(r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NullIfExists":{"aws:username":"true"}}}"#), "Null cannot be combined with IfExists"),
            ("operator body not an object", I, doc(r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":"a"}}"#), r#"Statement[0].Condition.StringEquals must be an object mapping condition keys to values, found "a""#),
            ("invalid condition key", I, doc(r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"username":"a"}}}"#), r#"has invalid condition key "username""#),
            ("condition value object", I, doc(r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:username":{}}}}"#), r#"Statement[0].Condition.StringEquals["aws:username"] must be a string, number, boolean or a non-empty array of them, found an object"#),
            ("condition value null in array", I, doc(r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:username":["a",null]}}}"#), r#"["aws:username"][1] must be a string, number or boolean, found null"#),
            ("condition values empty", I, doc(r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:username":[]}}}"#), "must not be an empty array"),
            ("bad CIDR", I, doc(r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","10.0.0.0/33"]}}}"#), r#"Statement[0].Condition.IpAddress["aws:SourceIp"][1] "10.0.0.0/33" is not an IP address or CIDR block"#),
            ("bad IP", I, doc(r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"localhost"}}}"#), "\"localhost\" is not an IP address or CIDR block"),
            ("bad Bool", I, doc(r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"yes"}}}"#), r#""yes" is not "true" or "false""#),
            ("bad Null", I, doc(r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Null":{"aws:SourceIp":1}}}"#), r#""1" is not "true" or "false""#),
            ("bad number", I, doc(r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":"NaN"}}}"#), r#""NaN" is not a number"#),
            ("bad date", I, doc(r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2026-02-30T00:00:00Z"}}}"#), r#""2026-02-30T00:00:00Z" is not a date"#),
            ("long values are cut", I, doc(&format!(r#"{{"Effect":"Allow","Action":"*","Resource":"{}"}}"#, "x".repeat(500))), "xxxx\"…"),
        ];
        assert!(cases.len() >= 30);
        for (name, kind, text, fragment) in &cases {
            match Policy::parse(text, *kind) {
                Ok(_) => panic!("{name}: parsed, expected an error containing {fragment:?}"),
                Err(PolicyError(message)) => assert!(
                    message.contains(fragment),
                    "{name}: error {message:?} does not contain {fragment:?}"
                ),
            }
        }
    }

    #[test]
    fn json_nesting_is_bounded_beyond_the_length_limit() {
        for text in ["[".repeat(1_000_000), r#"{"a":"#.repeat(200_000)] {
            let err = serde_json::from_str::<Json>(&text).expect_err("too deep");
            assert!(
                err.to_string().contains("recursion limit exceeded"),
                "{err}"
            );
        }
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(serde_json::from_str::<Json>(&ok).is_ok());
    }

    #[test]
    fn ecr_actions_are_sorted_unique_and_complete() {
        assert_eq!(ECR_ACTIONS.len(), 64);
        assert!(
            ECR_ACTIONS.windows(2).all(|w| w[0] < w[1]),
            "sorted and unique"
        );
        for name in [
            "GetAuthorizationToken",
            "ReplicateImage",
            "BatchImportUpstreamImage",
            "ValidatePullThroughCacheRule",
        ] {
            assert!(is_ecr_action(name), "{name}");
        }
        assert!(is_ecr_action("batchgetimage"));
        assert!(!is_ecr_action("PushImage"));
    }

    // -----------------------------------------------------------------------------------------
    // Evaluation
    // -----------------------------------------------------------------------------------------

    /// One row of an evaluation table, built fluently.
    struct Case {
        name: &'static str,
        identity: Vec<String>,
        resource: Vec<String>,
        caller: Option<PrincipalInfo>,
        action: &'static str,
        arn: &'static str,
        context: Vec<(&'static str, &'static str)>,
        expect: Decision,
    }

    fn case(name: &'static str) -> Case {
        Case {
            name,
            identity: Vec::new(),
            resource: Vec::new(),
            caller: Some(alice()),
            action: "ecr:BatchGetImage",
            arn: REPO,
            context: Vec::new(),
            expect: Decision::ImplicitDeny,
        }
    }

    impl Case {
        fn identity(mut self, statements: &str) -> Self {
            self.identity.push(doc(statements));
            self
        }
        fn identity_text(mut self, text: &str) -> Self {
            self.identity.push(text.to_owned());
            self
        }
        fn resource(mut self, statements: &str) -> Self {
            self.resource.push(doc(statements));
            self
        }
        fn caller(mut self, caller: Option<PrincipalInfo>) -> Self {
            self.caller = caller;
            self
        }
        fn action(mut self, action: &'static str) -> Self {
            self.action = action;
            self
        }
        fn on(mut self, arn: &'static str) -> Self {
            self.arn = arn;
            self
        }
        fn ctx(mut self, key: &'static str, value: &'static str) -> Self {
            self.context.push((key, value));
            self
        }
        fn expect(mut self, expect: Decision) -> Self {
            self.expect = expect;
            self
        }

        fn run(&self) {
            let parse = |text: &String, kind| {
                Policy::parse(text, kind)
                    .unwrap_or_else(|e| panic!("{}: policy does not parse: {e}\n{text}", self.name))
            };
            let identity: Vec<Policy> = self
                .identity
                .iter()
                .map(|t| parse(t, PolicyKind::Identity))
                .collect();
            let resource: Vec<Policy> = self
                .resource
                .iter()
                .map(|t| parse(t, PolicyKind::Resource))
                .collect();
            let mut context = Context::new();
            for (key, value) in &self.context {
                context.add(key, *value);
            }
            let req = Request {
                principal: self.caller.as_ref(),
                action: self.action,
                resource: self.arn,
                context: &context,
            };
            let decision = evaluate(
                &identity.iter().collect::<Vec<_>>(),
                &resource.iter().collect::<Vec<_>>(),
                &req,
            );
            assert_eq!(decision, self.expect, "{}", self.name);
        }
    }

    use Decision::{Allow, ExplicitDeny, ImplicitDeny};

    const ALLOW_ALL: &str = r#"{"Effect":"Allow","Action":"ecr:*","Resource":"*"}"#;
    const DENY_ALL: &str = r#"{"Effect":"Deny","Action":"*","Resource":"*"}"#;
    const RES_ALLOW_ANY: &str = r#"{"Effect":"Allow","Principal":"*","Action":"ecr:*"}"#;
    const RES_DENY_ANY: &str = r#"{"Effect":"Deny","Principal":"*","Action":"ecr:*"}"#;

    #[test]
    fn combines_identity_and_resource_policies() {
        let other_repo = "arn:aws:ecr:us-east-1:000000000000:repository/other/app";
        let cases = [
            case("no policies").expect(ImplicitDeny),
            case("identity allow only").identity(ALLOW_ALL).expect(Allow),
            case("resource allow only").resource(RES_ALLOW_ANY).expect(Allow),
            case("identity allow + resource deny").identity(ALLOW_ALL).resource(RES_DENY_ANY).expect(ExplicitDeny),
            case("identity deny + resource allow").identity(DENY_ALL).resource(RES_ALLOW_ANY).expect(ExplicitDeny),
            case("deny in a second identity policy").identity(ALLOW_ALL).identity(DENY_ALL).expect(ExplicitDeny),
            case("deny in the registry policy")
                .resource(RES_ALLOW_ANY)
                .resource(RES_DENY_ANY)
                .expect(ExplicitDeny),
            case("identity allows another action only")
                .identity(r#"{"Effect":"Allow","Action":"ecr:PutImage","Resource":"*"}"#)
                .expect(ImplicitDeny),
            // Principals in resource policies.
            case("resource allow to exact user ARN")
                .resource(r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/alice"},"Action":"ecr:BatchGetImage"}"#)
                .expect(Allow),
            case("resource allow to exact user ARN, another user")
                .resource(r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/alice"},"Action":"ecr:BatchGetImage"}"#)
                .caller(Some(bob()))
                .expect(ImplicitDeny),
            case("resource allow to account root only delegates")
                .resource(r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"ecr:*"}"#)
                .expect(ImplicitDeny),
            case("resource allow to account id only delegates")
                .resource(r#"{"Effect":"Allow","Principal":{"AWS":"000000000000"},"Action":"ecr:*"}"#)
                .expect(ImplicitDeny),
            case("resource allow to account root + identity allow")
                .identity(ALLOW_ALL)
                .resource(r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"ecr:*"}"#)
                .expect(Allow),
            case("resource deny to account root")
                .identity(ALLOW_ALL)
                .resource(r#"{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"ecr:*"}"#)
                .expect(ExplicitDeny),
            case("resource deny to account id")
                .identity(ALLOW_ALL)
                .resource(r#"{"Effect":"Deny","Principal":{"AWS":["000000000000"]},"Action":"ecr:*"}"#)
                .expect(ExplicitDeny),
            case("resource deny to another account")
                .identity(ALLOW_ALL)
                .resource(r#"{"Effect":"Deny","Principal":{"AWS":"111122223333"},"Action":"ecr:*"}"#)
                .expect(Allow),
            case("resource deny to account root does not reach anonymous")
                .caller(None)
                .resource(RES_ALLOW_ANY)
                .resource(r#"{"Effect":"Deny","Principal":{"AWS":"000000000000"},"Action":"ecr:*"}"#)
                .expect(Allow),
            case("service principal never matches")
                .resource(r#"{"Effect":"Allow","Principal":{"Service":"codebuild.amazonaws.com"},"Action":"ecr:*"}"#)
                .expect(ImplicitDeny),
            case("resource allow AWS * to a user of another account")
                .caller(Some(carol_other_account()))
                .resource(r#"{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"ecr:*"}"#)
                .expect(Allow),
            // Anonymous callers.
            case("anonymous with resource allow *").caller(None).resource(RES_ALLOW_ANY).expect(Allow),
            case("anonymous with resource allow AWS *")
                .caller(None)
                .resource(r#"{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"ecr:BatchGetImage"}"#)
                .expect(Allow),
            case("anonymous: identity allow ignored").caller(None).identity(ALLOW_ALL).expect(ImplicitDeny),
            case("anonymous: identity deny ignored")
                .caller(None)
                .identity(DENY_ALL)
                .resource(RES_ALLOW_ANY)
                .expect(Allow),
            case("anonymous with resource allow to a user")
                .caller(None)
                .resource(r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/alice"},"Action":"ecr:*"}"#)
                .expect(ImplicitDeny),
            // NotPrincipal.
            case("NotPrincipal deny spares the listed user")
                .identity(ALLOW_ALL)
                .resource(r#"{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::000000000000:user/alice"},"Action":"ecr:*"}"#)
                .expect(Allow),
            case("NotPrincipal deny hits other users")
                .caller(Some(bob()))
                .identity(ALLOW_ALL)
                .resource(r#"{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::000000000000:user/alice"},"Action":"ecr:*"}"#)
                .expect(ExplicitDeny),
            case("NotPrincipal deny hits anonymous")
                .caller(None)
                .resource(RES_ALLOW_ANY)
                .resource(r#"{"Effect":"Deny","NotPrincipal":{"AWS":"000000000000"},"Action":"ecr:*"}"#)
                .expect(ExplicitDeny),
            case("NotPrincipal account spares its users")
                .caller(Some(bob()))
                .identity(ALLOW_ALL)
                .resource(r#"{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"ecr:*"}"#)
                .expect(Allow),
            // Actions.
            case("NotAction allows other actions")
                .identity(r#"{"Effect":"Allow","NotAction":"ecr:BatchDeleteImage","Resource":"*"}"#)
                .expect(Allow),
            case("NotAction excludes the named action")
                .identity(r#"{"Effect":"Allow","NotAction":"ecr:BatchDeleteImage","Resource":"*"}"#)
                .action("ecr:BatchDeleteImage")
                .expect(ImplicitDeny),
            case("NotAction deny")
                .identity(ALLOW_ALL)
                .identity(r#"{"Effect":"Deny","NotAction":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Resource":"*"}"#)
                .action("ecr:PutImage")
                .expect(ExplicitDeny),
            case("ecr:Batch* matches BatchGetImage")
                .identity(r#"{"Effect":"Allow","Action":"ecr:Batch*","Resource":"*"}"#)
                .expect(Allow),
            case("ecr:Batch* does not match PutImage")
                .identity(r#"{"Effect":"Allow","Action":"ecr:Batch*","Resource":"*"}"#)
                .action("ecr:PutImage")
                .expect(ImplicitDeny),
            case("* matches everything").identity(r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#).expect(Allow),
            case("case-insensitive action")
                .identity(r#"{"Effect":"Allow","Action":"ECR:batchgetimage","Resource":"*"}"#)
                .expect(Allow),
            case("case-insensitive wildcard action")
                .identity(r#"{"Effect":"Allow","Action":"Ecr:bATCH*iMAGE","Resource":"*"}"#)
                .expect(Allow),
            case("? glob in action")
                .identity(r#"{"Effect":"Allow","Action":"ecr:BatchGe?Image","Resource":"*"}"#)
                .expect(Allow),
            case("? matches exactly one character")
                .identity(r#"{"Effect":"Allow","Action":"ecr:Batch?Image","Resource":"*"}"#)
                .expect(ImplicitDeny),
            case("other service's action does not match")
                .identity(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*"}"#)
                .expect(ImplicitDeny),
            // Resources.
            case("wildcard resource matches")
                .identity(r#"{"Effect":"Allow","Action":"ecr:*","Resource":"arn:aws:ecr:*:*:repository/team/*"}"#)
                .expect(Allow),
            case("wildcard resource does not match another repository")
                .identity(r#"{"Effect":"Allow","Action":"ecr:*","Resource":"arn:aws:ecr:*:*:repository/team/*"}"#)
                .on(other_repo)
                .expect(ImplicitDeny),
            case("? glob in resource")
                .identity(r#"{"Effect":"Allow","Action":"ecr:*","Resource":"arn:aws:ecr:us-east-?:000000000000:repository/team/ap?"}"#)
                .expect(Allow),
            case("? glob in resource needs one character")
                .identity(r#"{"Effect":"Allow","Action":"ecr:*","Resource":"arn:aws:ecr:us-east-1:000000000000:repository/team/a?"}"#)
                .expect(ImplicitDeny),
            case("resources are case-sensitive")
                .identity(r#"{"Effect":"Allow","Action":"ecr:*","Resource":"arn:aws:ecr:us-east-1:000000000000:repository/Team/app"}"#)
                .expect(ImplicitDeny),
            case("wildcards do not cross ARN parts")
                .identity(r#"{"Effect":"Allow","Action":"ecr:*","Resource":"arn:aws:ecr:*:*:repository/team/app"}"#)
                .on("arn:aws:ecr:us-east-1:extra:000000000000:repository/team/app")
                .expect(ImplicitDeny),
            case("NotResource allows other repositories")
                .identity(r#"{"Effect":"Allow","Action":"ecr:*","NotResource":"arn:aws:ecr:*:*:repository/other/*"}"#)
                .expect(Allow),
            case("NotResource excludes the named repositories")
                .identity(r#"{"Effect":"Allow","Action":"ecr:*","NotResource":"arn:aws:ecr:*:*:repository/other/*"}"#)
                .on(other_repo)
                .expect(ImplicitDeny),
            case("registry-level action needs Resource *")
                .identity(r#"{"Effect":"Allow","Action":"ecr:GetAuthorizationToken","Resource":"arn:aws:ecr:*:*:repository/*"}"#)
                .action("ecr:GetAuthorizationToken")
                .on("*")
                .expect(ImplicitDeny),
            case("registry-level action with Resource *")
                .identity(r#"{"Effect":"Allow","Action":"ecr:GetAuthorizationToken","Resource":"*"}"#)
                .action("ecr:GetAuthorizationToken")
                .on("*")
                .expect(Allow),
            case("resource policy Resource narrows")
                .resource(r#"{"Effect":"Allow","Principal":"*","Action":"ecr:*","Resource":"arn:aws:ecr:*:*:repository/other/*"}"#)
                .expect(ImplicitDeny),
        ];
        for c in &cases {
            c.run();
        }
    }

    #[test]
    fn evaluates_conditions() {
        let with_condition = |condition: &str| {
            format!(
                r#"{{"Effect":"Allow","Action":"ecr:*","Resource":"*","Condition":{condition}}}"#
            )
        };
        let cases = [
            case("StringEquals aws:username")
                .identity(&with_condition(r#"{"StringEquals":{"aws:username":"alice"}}"#))
                .ctx("aws:username", "alice")
                .expect(Allow),
            case("StringEquals aws:username, other user")
                .identity(&with_condition(r#"{"StringEquals":{"aws:username":"alice"}}"#))
                .ctx("aws:username", "bob")
                .expect(ImplicitDeny),
            case("StringEquals is case-sensitive")
                .identity(&with_condition(r#"{"StringEquals":{"aws:username":"Alice"}}"#))
                .ctx("aws:username", "alice")
                .expect(ImplicitDeny),
            case("condition keys are case-insensitive")
                .identity(&with_condition(r#"{"StringEquals":{"AWS:UserName":"alice"}}"#))
                .ctx("aws:username", "alice")
                .expect(Allow),
            case("StringEquals does not glob")
                .identity(&with_condition(r#"{"StringEquals":{"aws:username":"a*"}}"#))
                .ctx("aws:username", "alice")
                .expect(ImplicitDeny),
            case("StringEqualsIgnoreCase")
                .identity(&with_condition(r#"{"StringEqualsIgnoreCase":{"aws:username":"ÄLICE"}}"#))
                .ctx("aws:username", "älice")
                .expect(Allow),
            case("StringLike")
                .identity(&with_condition(r#"{"StringLike":{"aws:username":["bo?","al*"]}}"#))
                .ctx("aws:username", "alice")
                .expect(Allow),
            case("StringNotLike")
                .identity(&with_condition(r#"{"StringNotLike":{"aws:username":"al*"}}"#))
                .ctx("aws:username", "alice")
                .expect(ImplicitDeny),
            case("ArnLike on aws:PrincipalArn from the principal")
                .identity(&with_condition(r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::000000000000:user/*"}}"#))
                .expect(Allow),
            case("ArnLike on aws:PrincipalArn, no match")
                .identity(&with_condition(r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/*"}}"#))
                .expect(ImplicitDeny),
            case("ArnLike in a resource policy grants to matching callers")
                .caller(Some(bob()))
                .resource(r#"{"Effect":"Allow","Principal":"*","Action":"ecr:*","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::000000000000:user/b*"}}}"#)
                .expect(Allow),
            case("ArnEquals from the context")
                .identity(&with_condition(r#"{"ArnEquals":{"aws:SourceArn":"arn:aws:codebuild:us-east-1:000000000000:project/p"}}"#))
                .ctx("aws:SourceArn", "arn:aws:codebuild:us-east-1:000000000000:project/p")
                .expect(Allow),
            case("ArnNotLike with a non-ARN context value")
                .identity(&with_condition(r#"{"ArnNotLike":{"aws:SourceArn":"arn:aws:iam::*:*"}}"#))
                .ctx("aws:SourceArn", "garbage")
                .expect(Allow),
            case("aws:PrincipalAccount from the principal")
                .identity(&with_condition(r#"{"StringEquals":{"aws:PrincipalAccount":"000000000000"}}"#))
                .expect(Allow),
            case("IpAddress IPv4 CIDR")
                .identity(&with_condition(r#"{"IpAddress":{"aws:SourceIp":["192.0.2.0/24","10.0.0.0/8"]}}"#))
                .ctx("aws:SourceIp", "10.1.2.3")
                .expect(Allow),
            case("IpAddress IPv4 outside")
                .identity(&with_condition(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#))
                .ctx("aws:SourceIp", "192.168.1.1")
                .expect(ImplicitDeny),
            case("IpAddress single address")
                .identity(&with_condition(r#"{"IpAddress":{"aws:SourceIp":"192.168.1.1"}}"#))
                .ctx("aws:SourceIp", "192.168.1.1")
                .expect(Allow),
            case("IpAddress IPv4-mapped IPv6 caller")
                .identity(&with_condition(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#))
                .ctx("aws:SourceIp", "::ffff:10.0.0.7")
                .expect(Allow),
            case("IpAddress IPv6 CIDR")
                .identity(&with_condition(r#"{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}"#))
                .ctx("aws:SourceIp", "2001:db8:1::1")
                .expect(Allow),
            case("IpAddress IPv6 outside")
                .identity(&with_condition(r#"{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}"#))
                .ctx("aws:SourceIp", "2001:db9::1")
                .expect(ImplicitDeny),
            case("IpAddress unparsable context value")
                .identity(&with_condition(r#"{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}"#))
                .ctx("aws:SourceIp", "not-an-ip")
                .expect(ImplicitDeny),
            case("NotIpAddress deny, inside the range")
                .identity(ALLOW_ALL)
                .identity(r#"{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]}}}"#)
                .ctx("aws:SourceIp", "2001:db8::5")
                .expect(Allow),
            case("NotIpAddress deny, outside the range")
                .identity(ALLOW_ALL)
                .identity(r#"{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]}}}"#)
                .ctx("aws:SourceIp", "8.8.8.8")
                .expect(ExplicitDeny),
            case("Bool SecureTransport false denies")
                .identity(ALLOW_ALL)
                .identity(r#"{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}"#)
                .ctx("aws:SecureTransport", "false")
                .expect(ExplicitDeny),
            case("Bool SecureTransport true passes")
                .identity(ALLOW_ALL)
                .identity(r#"{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":false}}}"#)
                .ctx("aws:SecureTransport", "TRUE")
                .expect(Allow),
            case("Bool with the key missing does not match")
                .identity(ALLOW_ALL)
                .identity(r#"{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}"#)
                .expect(Allow),
            case("BoolIfExists with the key missing matches")
                .identity(ALLOW_ALL)
                .identity(r#"{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"BoolIfExists":{"aws:SecureTransport":"false"}}}"#)
                .expect(ExplicitDeny),
            case("IfExists with the key missing holds")
                .identity(&with_condition(r#"{"StringEqualsIfExists":{"aws:username":"bob"}}"#))
                .expect(Allow),
            case("IfExists with the key present is checked")
                .identity(&with_condition(r#"{"StringEqualsIfExists":{"aws:username":"bob"}}"#))
                .ctx("aws:username", "alice")
                .expect(ImplicitDeny),
            case("positive operator with the key missing fails")
                .identity(&with_condition(r#"{"StringEquals":{"aws:username":"alice"}}"#))
                .expect(ImplicitDeny),
            case("negated operator with the key missing holds")
                .identity(&with_condition(r#"{"StringNotEquals":{"aws:username":"bob"}}"#))
                .expect(Allow),
            case("negated operator needs every value to differ")
                .identity(&with_condition(r#"{"StringNotEquals":{"aws:TagKeys":"secret"}}"#))
                .ctx("aws:TagKeys", "team")
                .ctx("aws:TagKeys", "secret")
                .expect(ImplicitDeny),
            case("Null true with the key missing")
                .identity(&with_condition(r#"{"Null":{"aws:SourceIp":"true"}}"#))
                .expect(Allow),
            case("Null true with the key present")
                .identity(&with_condition(r#"{"Null":{"aws:SourceIp":true}}"#))
                .ctx("aws:SourceIp", "10.0.0.1")
                .expect(ImplicitDeny),
            case("Null false with the key present")
                .identity(&with_condition(r#"{"Null":{"aws:SourceIp":"false"}}"#))
                .ctx("aws:SourceIp", "10.0.0.1")
                .expect(Allow),
            case("ForAnyValue: one value matches")
                .identity(&with_condition(r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["team","env"]}}"#))
                .ctx("aws:TagKeys", "owner")
                .ctx("aws:TagKeys", "team")
                .expect(Allow),
            case("ForAnyValue: no value matches")
                .identity(&with_condition(r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["team","env"]}}"#))
                .ctx("aws:TagKeys", "owner")
                .expect(ImplicitDeny),
            case("ForAnyValue: key missing")
                .identity(&with_condition(r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["team","env"]}}"#))
                .expect(ImplicitDeny),
            case("ForAnyValue with a negated operator")
                .identity(&with_condition(r#"{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["team","env"]}}"#))
                .ctx("aws:TagKeys", "team")
                .ctx("aws:TagKeys", "owner")
                .expect(Allow),
            case("ForAllValues: every value matches")
                .identity(&with_condition(r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["team","env"]}}"#))
                .ctx("aws:TagKeys", "team")
                .ctx("aws:TagKeys", "env")
                .expect(Allow),
            case("ForAllValues: one value does not match")
                .identity(&with_condition(r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["team","env"]}}"#))
                .ctx("aws:TagKeys", "team")
                .ctx("aws:TagKeys", "owner")
                .expect(ImplicitDeny),
            case("ForAllValues: key missing")
                .identity(&with_condition(r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["team","env"]}}"#))
                .expect(Allow),
            case("ForAllValues with a negated operator")
                .identity(&with_condition(r#"{"ForAllValues:StringNotLike":{"aws:TagKeys":"secret*"}}"#))
                .ctx("aws:TagKeys", "team")
                .ctx("aws:TagKeys", "secret-x")
                .expect(ImplicitDeny),
            case("NumericLessThan")
                .identity(&with_condition(r#"{"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}"#))
                .ctx("aws:MultiFactorAuthAge", "100")
                .expect(Allow),
            case("NumericGreaterThanEquals fails")
                .identity(&with_condition(r#"{"NumericGreaterThanEquals":{"aws:MultiFactorAuthAge":3600}}"#))
                .ctx("aws:MultiFactorAuthAge", "100.5")
                .expect(ImplicitDeny),
            case("NumericNotEquals")
                .identity(&with_condition(r#"{"NumericNotEquals":{"ecr:Count":[1,2]}}"#))
                .ctx("ecr:Count", "3")
                .expect(Allow),
            case("DateLessThan with ISO 8601 context")
                .identity(&with_condition(r#"{"DateLessThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}"#))
                .ctx("aws:CurrentTime", "2025-12-31T23:59:59Z")
                .expect(Allow),
            case("DateGreaterThan with epoch context")
                .identity(&with_condition(r#"{"DateGreaterThan":{"aws:EpochTime":"2026-01-01T00:00:00Z"}}"#))
                .ctx("aws:EpochTime", "1767225599")
                .expect(ImplicitDeny),
            case("DateEquals epoch policy value vs ISO context")
                .identity(&with_condition(r#"{"DateEquals":{"aws:CurrentTime":1767225600}}"#))
                .ctx("aws:CurrentTime", "2026-01-01T01:00:00+01:00")
                .expect(Allow),
            case("all operators and keys must hold")
                .identity(&with_condition(r#"{"StringEquals":{"aws:username":"alice","aws:PrincipalType":"User"},"Bool":{"aws:SecureTransport":"true"}}"#))
                .ctx("aws:username", "alice")
                .ctx("aws:SecureTransport", "true")
                .expect(ImplicitDeny),
            case("all operators and keys hold")
                .identity(&with_condition(r#"{"StringEquals":{"aws:username":"alice","aws:PrincipalType":"User"},"Bool":{"aws:SecureTransport":"true"}}"#))
                .ctx("aws:username", "alice")
                .ctx("aws:PrincipalType", "User")
                .ctx("aws:SecureTransport", "true")
                .expect(Allow),
            // Policy variables.
            case("${aws:username} in Resource")
                .identity(r#"{"Effect":"Allow","Action":"ecr:*","Resource":"arn:aws:ecr:*:*:repository/${aws:username}/*"}"#)
                .ctx("aws:username", "alice")
                .on("arn:aws:ecr:us-east-1:000000000000:repository/alice/app")
                .expect(Allow),
            case("${aws:username} in Resource, someone else's repository")
                .identity(r#"{"Effect":"Allow","Action":"ecr:*","Resource":"arn:aws:ecr:*:*:repository/${aws:username}/*"}"#)
                .ctx("aws:username", "alice")
                .on("arn:aws:ecr:us-east-1:000000000000:repository/bob/app")
                .expect(ImplicitDeny),
            case("${aws:username} missing matches nothing")
                .identity(r#"{"Effect":"Allow","Action":"ecr:*","Resource":"arn:aws:ecr:*:*:repository/${aws:username}/*"}"#)
                .on("arn:aws:ecr:us-east-1:000000000000:repository/alice/app")
                .expect(ImplicitDeny),
            case("variable default value")
                .identity(r#"{"Effect":"Allow","Action":"ecr:*","Resource":"arn:aws:ecr:*:*:repository/${aws:username, 'shared'}/*"}"#)
                .on("arn:aws:ecr:us-east-1:000000000000:repository/shared/app")
                .expect(Allow),
            case("variable values are literal, not wildcards")
                .identity(r#"{"Effect":"Allow","Action":"ecr:*","Resource":"arn:aws:ecr:*:*:repository/${aws:username}/app"}"#)
                .ctx("aws:username", "*")
                .expect(ImplicitDeny),
            case("${*} escape is a literal star")
                .identity(r#"{"Effect":"Allow","Action":"ecr:*","Resource":"arn:aws:ecr:*:*:repository/team/${*}"}"#)
                .expect(ImplicitDeny),
            case("2008-10-17 has no variables")
                .identity_text(r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"arn:aws:ecr:*:*:repository/${aws:username}/*"}]}"#)
                .ctx("aws:username", "alice")
                .on("arn:aws:ecr:us-east-1:000000000000:repository/alice/app")
                .expect(ImplicitDeny),
            case("2008-10-17 matches the variable text literally")
                .identity_text(r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"arn:aws:ecr:*:*:repository/${aws:username}/*"}]}"#)
                .on("arn:aws:ecr:us-east-1:000000000000:repository/${aws:username}/app")
                .expect(Allow),
            case("variable in a condition value")
                .identity(&with_condition(r#"{"StringEquals":{"ecr:ResourceTag/owner":"${aws:username}"}}"#))
                .ctx("aws:username", "alice")
                .ctx("ecr:ResourceTag/owner", "alice")
                .expect(Allow),
            case("variable in a StringLike condition value")
                .identity(&with_condition(r#"{"StringLike":{"ecr:ResourceTag/owner":"${aws:username}-*"}}"#))
                .ctx("aws:username", "alice")
                .ctx("ecr:ResourceTag/owner", "alice-team")
                .expect(Allow),
            case("${aws:PrincipalArn} in an ArnEquals value")
                .identity(&with_condition(r#"{"ArnEquals":{"ecr:ResourceTag/owner":"${aws:PrincipalArn}"}}"#))
                .ctx("ecr:ResourceTag/owner", "arn:aws:iam::000000000000:user/alice")
                .expect(Allow),
        ];
        for c in &cases {
            c.run();
        }
    }

    #[test]
    fn context_keys_are_case_insensitive_and_multi_valued() {
        let mut c = Context::new();
        c.set("AWS:SourceIp", "10.0.0.1");
        assert_eq!(c.get("aws:sourceip"), Some(&["10.0.0.1".to_owned()][..]));
        c.set("aws:SOURCEIP", "10.0.0.2");
        assert_eq!(c.get("aws:SourceIp"), Some(&["10.0.0.2".to_owned()][..]));
        c.add("aws:TagKeys", "a");
        c.add("AWS:tagkeys", "b");
        assert_eq!(c.get("aws:TagKeys").map(<[String]>::len), Some(2));
        c.remove("aws:tagKEYS");
        assert_eq!(c.get("aws:TagKeys"), None);
        assert_eq!(c.get("missing"), None);
    }

    #[test]
    fn decision_allowed() {
        assert!(Allow.allowed());
        assert!(!ImplicitDeny.allowed());
        assert!(!ExplicitDeny.allowed());
    }

    #[test]
    fn parses_dates() {
        let cases: &[(&str, Option<i64>)] = &[
            ("0", Some(0)),
            ("1767225600", Some(1_767_225_600_000)),
            ("1767225600.25", Some(1_767_225_600_250)),
            ("1970-01-01", Some(0)),
            ("2026-01-01T00:00:00Z", Some(1_767_225_600_000)),
            ("2026-01-01T00:00Z", Some(1_767_225_600_000)),
            ("2026-01-01T00:00:00.123Z", Some(1_767_225_600_123)),
            ("2026-01-01T02:00:00+02:00", Some(1_767_225_600_000)),
            ("2025-12-31T19:00:00-0500", Some(1_767_225_600_000)),
            ("2024-02-29T00:00:00Z", Some(1_709_164_800_000)),
            ("2023-02-29T00:00:00Z", None),
            ("2026-13-01T00:00:00Z", None),
            ("2026-01-01T24:00:00Z", None),
            ("2026-01-01T00:00:00Zjunk", None),
            ("2026-1-1", None),
            ("", None),
            ("-1", None),
            ("tomorrow", None),
            ("9999999999999999999999", None),
        ];
        for (text, expect) in cases {
            assert_eq!(parse_date(text), *expect, "{text}");
        }
    }

    #[test]
    fn parses_numbers() {
        assert_eq!(parse_number("3600"), Some(3600.0));
        assert_eq!(parse_number("-1.5"), Some(-1.5));
        for bad in ["", "-", "1.", ".5", "1e5", "inf", "NaN", "0x10", " 1"] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
    }

    /// A plain recursive glob, as the reference for the iterative matcher.
    fn reference_glob(pattern: &[char], text: &[char]) -> bool {
        match (pattern.first(), text.first()) {
            (None, None) => true,
            (Some('*'), _) => {
                reference_glob(&pattern[1..], text)
                    || (!text.is_empty() && reference_glob(pattern, &text[1..]))
            }
            (Some('?'), Some(_)) => reference_glob(&pattern[1..], &text[1..]),
            (Some(p), Some(t)) if p == t => reference_glob(&pattern[1..], &text[1..]),
            _ => false,
        }
    }

    fn compiled_glob_matches(pattern: &str, text: &str) -> bool {
        let context = Context::new();
        let req = Request {
            principal: None,
            action: "",
            resource: "",
            context: &context,
        };
        Pattern::compile(
            pattern,
            Syntax {
                glob: true,
                fold: false,
                vars: false,
            },
        )
        .expect("no variables")
        .matches(text, false, &req)
    }

    #[test]
    fn glob_examples() {
        let cases = [
            ("*", "", true),
            ("*", "anything", true),
            ("a*", "a", true),
            ("a*", "b", false),
            ("*a", "bba", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a?c", "aéc", true),
            ("é*", "éa", true),
            ("**x", "x", true),
            ("*a*a*a*a*b", &"a".repeat(200), false),
            ("", "", true),
            ("", "a", false),
        ];
        for (pattern, text, expect) in cases {
            assert_eq!(
                compiled_glob_matches(pattern, text),
                expect,
                "{pattern:?} vs {text:?}"
            );
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn glob_agrees_with_reference(pattern in "[ab*?é]{0,8}", text in "[abé]{0,10}") {
                let p: Vec<char> = pattern.chars().collect();
                let t: Vec<char> = text.chars().collect();
                prop_assert_eq!(compiled_glob_matches(&pattern, &text), reference_glob(&p, &t));
            }

            #[test]
            fn parse_never_panics_on_arbitrary_text(text in ".{0,300}") {
                let _ = Policy::parse(&text, PolicyKind::Identity);
                let _ = Policy::parse(&text, PolicyKind::Resource);
            }

            #[test]
            fn parse_never_panics_on_json_shaped_text(text in r#"[\[\]{}:,"\\ a-zA-Z0-9*?$/.\-]{0,200}"#) {
                let _ = Policy::parse(&text, PolicyKind::Resource);
            }

            #[test]
            fn parse_and_evaluate_never_panic_on_mutated_policies(
                value in r#"[a-zA-Z0-9:*?/${}' .\-]{0,40}"#,
                slot in 0usize..6,
                probe in r#"[a-zA-Z0-9:*?/.\-]{0,40}"#,
            ) {
                let value = serde_json::to_string(&value).expect("string");
                let mut fields = [
                    r#""ecr:*""#.to_owned(),
                    r#""*""#.to_owned(),
                    r#""aws:username""#.to_owned(),
                    r#""alice""#.to_owned(),
                    r#""StringLike""#.to_owned(),
                    r#""ArnLike""#.to_owned(),
                ];
                if let Some(f) = fields.get_mut(slot) {
                    *f = value;
                }
                let [action, resource, key, cond_value, op1, op2] = fields;
                let text = doc(&format!(
                    r#"{{"Effect":"Allow","Action":{action},"Resource":{resource},"Condition":{{{op1}:{{{key}:{cond_value}}},{op2}:{{"aws:PrincipalArn":{cond_value}}}}}}}"#
                ));
                if let Ok(policy) = Policy::parse(&text, PolicyKind::Identity) {
                    let mut context = Context::new();
                    context.set("aws:username", probe.clone());
                    let caller = alice();
                    let req = Request { principal: Some(&caller), action: &probe, resource: &probe, context: &context };
                    let _ = evaluate(&[&policy], &[], &req);
                }
            }
        }
    }
}
