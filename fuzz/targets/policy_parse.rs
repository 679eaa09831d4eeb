//! Fuzz the IAM policy language: `policy::iam::Policy::parse` and `evaluate`.
//!
//! Input layout: `data[0] & 1` picks the kind (0 identity, 1 resource); the rest is the
//! policy text (as is when it is UTF-8, lossy UTF-8 otherwise).
//!
//! Checked: parsing is deterministic (same `Ok`/`Err`, same error message, same compiled
//! policy); a parsed policy is evaluated for fixed requests (anonymous and an authenticated
//! user, several actions and resources, a full condition context) and evaluation is
//! deterministic; a policy whose every statement is `Deny` never allows; and deny wins:
//! with an allow-everything identity policy added (before or after), an authenticated
//! request is `ExplicitDeny` exactly when the fuzzed policy alone denies it explicitly,
//! `Allow` otherwise.

use berth::policy::iam::{evaluate, Context, Decision, Policy, PolicyKind, PrincipalInfo, Request};
use std::sync::OnceLock;

const ACTIONS: &[&str] = &[
    "ecr:BatchGetImage",
    "ecr:PutImage",
    "ecr:BatchDeleteImage",
    "ecr:GetAuthorizationToken",
];
const RESOURCES: &[&str] = &[
    "arn:aws:ecr:us-east-1:000000000000:repository/team/app",
    "*",
];
/// Berth's `ADMIN_POLICY` (src/auth/admin.rs), spelled out so the target does not depend on it.
const ALLOW_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"}]}"#;

struct Fixed {
    alice: PrincipalInfo,
    /// The context of an authenticated request.
    user: Context,
    /// The context of an anonymous request.
    anonymous: Context,
    allow_all: Policy,
}

fn fixed() -> &'static Fixed {
    static FIXED: OnceLock<Fixed> = OnceLock::new();
    FIXED.get_or_init(|| {
        let mut anonymous = Context::new();
        anonymous.set("aws:SourceIp", "127.0.0.1");
        anonymous.set("aws:SecureTransport", "false");
        anonymous.set("aws:CurrentTime", "2026-01-01T00:00:00Z");
        anonymous.set("aws:EpochTime", "1767225600");
        anonymous.set("aws:PrincipalType", "Anonymous");
        let mut user = anonymous.clone();
        user.set("aws:username", "alice");
        user.set("aws:userid", "AIDAALICE");
        user.set("aws:PrincipalType", "User");
        user.add("aws:TagKeys", "team");
        user.add("aws:TagKeys", "env");
        Fixed {
            alice: PrincipalInfo {
                arn: "arn:aws:iam::000000000000:user/alice".into(),
                account: "000000000000".into(),
            },
            user,
            anonymous,
            allow_all: Policy::parse(ALLOW_ALL, PolicyKind::Identity).expect("allow-all policy"),
        }
    })
}

/// Does the policy text (already accepted by the parser) consist of `Deny` statements only?
fn only_denies(text: &str) -> bool {
    let Ok(root) = serde_json::from_str::<serde_json::Value>(text) else {
        return false;
    };
    let statements = match root.get("Statement") {
        Some(serde_json::Value::Array(items)) => items.iter().collect::<Vec<_>>(),
        Some(one @ serde_json::Value::Object(_)) => vec![one],
        _ => return false,
    };
    !statements.is_empty()
        && statements
            .iter()
            .all(|s| s.get("Effect").and_then(|e| e.as_str()) == Some("Deny"))
}

/// The target: check `data` (panics on a violated invariant).
pub fn run(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let kind = if first & 1 == 0 {
        PolicyKind::Identity
    } else {
        PolicyKind::Resource
    };
    let text = String::from_utf8_lossy(rest);

    let parsed = Policy::parse(&text, kind);
    let again = Policy::parse(&text, kind);
    match (&parsed, &again) {
        (Ok(a), Ok(b)) => assert_eq!(
            format!("{a:?}"),
            format!("{b:?}"),
            "{kind:?} policy {text:?} compiles differently twice"
        ),
        (Err(a), Err(b)) => assert_eq!(a, b, "{kind:?} policy {text:?}: different errors"),
        _ => panic!(
            "{kind:?} policy {text:?}: parse is not deterministic: {parsed:?} then {again:?}"
        ),
    }
    let Ok(policy) = parsed else {
        return;
    };
    assert_eq!(policy.kind(), kind);

    let f = fixed();
    let deny_only = only_denies(&text);
    let mine: [&Policy; 1] = [&policy];
    let (identity, resource): (&[&Policy], &[&Policy]) = match kind {
        PolicyKind::Identity => (&mine, &[]),
        PolicyKind::Resource => (&[], &mine),
    };
    for principal in [None, Some(&f.alice)] {
        let context = if principal.is_some() {
            &f.user
        } else {
            &f.anonymous
        };
        for &action in ACTIONS {
            for &resource_arn in RESOURCES {
                let req = Request {
                    principal,
                    action,
                    resource: resource_arn,
                    context,
                };
                let d = evaluate(identity, resource, &req);
                let d2 = evaluate(identity, resource, &req);
                assert_eq!(
                    d, d2,
                    "evaluation is not deterministic for {req:?} under {text:?}"
                );
                if deny_only {
                    assert_ne!(
                        d,
                        Decision::Allow,
                        "a Deny-only {kind:?} policy allowed {req:?}: {text:?}"
                    );
                }
                if principal.is_none() && kind == PolicyKind::Identity {
                    // Identity policies do not apply to anonymous callers.
                    assert_eq!(
                        d,
                        Decision::ImplicitDeny,
                        "anonymous {req:?} under {text:?}"
                    );
                }
                if principal.is_some() {
                    // Add an identity policy that allows every ECR action everywhere: the
                    // result must be the fuzzed policy's explicit deny, if any, else Allow,
                    // whatever the order of the identity policies.
                    let want = if d == Decision::ExplicitDeny {
                        Decision::ExplicitDeny
                    } else {
                        Decision::Allow
                    };
                    let (after, before): (Vec<&Policy>, Vec<&Policy>) = match kind {
                        PolicyKind::Identity => {
                            (vec![&f.allow_all, &policy], vec![&policy, &f.allow_all])
                        }
                        PolicyKind::Resource => (vec![&f.allow_all], vec![&f.allow_all]),
                    };
                    for ids in [&after, &before] {
                        let got = evaluate(ids, resource, &req);
                        assert_eq!(
                            got, want,
                            "with an allow-all identity policy, {req:?} under {text:?} gave {got:?} (alone: {d:?})"
                        );
                    }
                }
            }
        }
    }
}
