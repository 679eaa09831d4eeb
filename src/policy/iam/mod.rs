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
//!
//! This file holds the public types and [`evaluate`]; the rest is split by idea:
//!
//! * `parse`: policy text to compiled [`Policy`] ([`Policy::parse`] and the checks of every
//!   field); `message`: how its errors name the statement, the field and the value; `json`:
//!   the JSON reader that rejects duplicate keys;
//! * `statement`: a compiled statement (effect, actions, principals, resources) and when it
//!   matches a request; `condition`: condition operators, keys and their IAM semantics;
//! * `pattern`: string patterns (globs, policy variables); `arn`: ARN patterns and the
//!   validation of ARNs and principals; `scalar`: booleans, numbers, IP ranges and dates, as
//!   policy values and as context values.
//!
//! Globs are matched by [`crate::policy::glob`], the matcher of ECR's own filters too.

mod arn;
mod condition;
#[cfg(test)]
mod fixtures;
mod json;
mod message;
mod parse;
mod pattern;
mod scalar;
mod statement;

use statement::{Effect, Statement};

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

/// [`Policy::parse`] is in `parse`.
impl Policy {
    /// Whether evaluating this policy reads the request context (it has conditions or policy
    /// variables). When no applicable policy does, callers may pass an empty context.
    pub fn needs_context(&self) -> bool {
        self.needs_context
    }

    /// Which kind of policy this is.
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

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

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

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
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
