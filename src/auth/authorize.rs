//! Authorization: THE decision, [`Auth::authorize`], for every request on every surface.
//! A bearer token's scopes bound what it may do; then identity, repository and registry
//! policies ([`crate::policy::iam`]) combine as IAM combines them, with the condition keys the
//! request supplies.

use super::action::{Action, Resource};
use super::caller::Caller;
use super::scope;
use super::store::PrincipalKind;
use super::time::{now_secs, time_iso8601};
use super::Auth;
use crate::policy::iam::{self as policy, Policy};

/// Why a request was refused; decides between 401 (authenticate, or get a token with more
/// scope) and 403 (you are who you are, and that is not enough).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// An anonymous caller: credentials may help.
    NoCredentials,
    /// A bearer token that does not carry the scope: a new token may help.
    InsufficientScope,
    /// A policy denies it explicitly.
    Explicit,
    /// No policy allows it.
    Implicit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(Denial),
}

impl Decision {
    pub fn allowed(self) -> bool {
        self == Decision::Allow
    }
}

impl Auth {
    /// THE authorization decision. Every request on every surface comes through here.
    pub fn authorize(&self, caller: &Caller, action: Action, resource: Resource<'_>) -> Decision {
        if !self.settings.enabled {
            return Decision::Allow;
        }
        let snap = self.snapshot();
        let deny = |reason| {
            Decision::Deny(
                if caller.is_anonymous() && reason != Denial::InsufficientScope {
                    Denial::NoCredentials
                } else {
                    reason
                },
            )
        };
        if let Some(p) = &caller.principal {
            // The snapshot may have changed since authentication.
            if snap
                .principals
                .get(&p.name)
                .is_none_or(|cur| cur.disabled || cur.id != p.id)
            {
                return Decision::Deny(Denial::Implicit);
            }
        }
        if let Some(access) = &caller.token_access {
            let covered = match resource {
                Resource::Repository(name) => action
                    .scope_actions()
                    .iter()
                    .any(|a| scope::grants(access, name.as_str(), *a)),
                Resource::Registry => match action {
                    Action::DescribeRepositories => scope::grants_catalog(access),
                    _ => false,
                },
            };
            if !covered {
                return Decision::Deny(Denial::InsufficientScope);
            }
        }
        let arn;
        let (resource_arn, repo_policy) = match resource {
            Resource::Repository(name) => {
                arn = self.settings.repository_arn(name.as_str());
                (arn.as_str(), snap.repository_policies.get(name.as_str()))
            }
            Resource::Registry => ("*", None),
        };
        let current = caller
            .principal
            .as_ref()
            .and_then(|p| snap.principals.get(&p.name));
        let identity: Vec<&Policy> = current
            .map(|p| p.policies.iter().map(|x| &**x).collect())
            .unwrap_or_default();
        let resource_policies: Vec<&Policy> = repo_policy
            .into_iter()
            .chain(snap.registry_policy.as_ref())
            .map(|x| &**x)
            .collect();
        // Building the context allocates; most policies never read it.
        let context = if identity
            .iter()
            .chain(&resource_policies)
            .any(|p| p.needs_context())
        {
            self.context(caller)
        } else {
            policy::Context::new()
        };
        let req = policy::Request {
            principal: current.map(|p| &p.info),
            action: action.as_str(),
            resource: resource_arn,
            context: &context,
        };
        match policy::evaluate(&identity, &resource_policies, &req) {
            policy::Decision::Allow => Decision::Allow,
            policy::Decision::ExplicitDeny => deny(Denial::Explicit),
            policy::Decision::ImplicitDeny => deny(Denial::Implicit),
        }
    }

    /// The condition keys a request supplies.
    fn context(&self, caller: &Caller) -> policy::Context {
        let mut c = policy::Context::new();
        if let Some(ip) = caller.source {
            c.set("aws:SourceIp", ip.to_string());
        }
        c.set(
            "aws:SecureTransport",
            if caller.secure { "true" } else { "false" },
        );
        let now = now_secs();
        c.set("aws:EpochTime", now.to_string());
        if let Some(t) = time_iso8601(now) {
            c.set("aws:CurrentTime", t);
        }
        if let Some(p) = &caller.principal {
            c.set("aws:PrincipalArn", p.info.arn.clone());
            c.set("aws:PrincipalAccount", p.info.account.clone());
            c.set("aws:username", p.name.clone());
            c.set("aws:userid", p.id.clone());
            c.set(
                "aws:PrincipalType",
                match p.kind {
                    PrincipalKind::User => "User",
                    PrincipalKind::Robot => "AssumedRole",
                },
            );
        } else {
            c.set("aws:PrincipalType", "Anonymous");
        }
        c
    }
}
