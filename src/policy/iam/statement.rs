//! A compiled statement: its effect, actions, principals, resources and conditions, and when it
//! matches a request. Built by `parse`, checked by [`super::evaluate`].

use super::arn::ArnPattern;
use super::condition::Condition;
use super::pattern::Pattern;
use super::{PrincipalInfo, Request};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone)]
pub(super) struct Statement {
    pub(super) effect: Effect,
    pub(super) actions: Actions,
    /// `None` in identity policies (the statement is about the principal it is attached to).
    pub(super) principals: Option<Principals>,
    /// `None` when a resource policy leaves out `Resource` (the attached resource).
    pub(super) resources: Option<Resources>,
    pub(super) conditions: Box<[Condition]>,
}

impl Statement {
    /// Cheapest and most selective checks first.
    pub(super) fn matches(&self, req: &Request<'_>) -> bool {
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
pub(super) struct Actions {
    pub(super) negated: bool,
    pub(super) patterns: Box<[Pattern]>,
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
pub(super) struct Resources {
    pub(super) negated: bool,
    pub(super) patterns: Box<[ArnPattern]>,
}

impl Resources {
    fn matches(&self, req: &Request<'_>) -> bool {
        self.patterns.iter().any(|p| p.matches(req.resource, req)) != self.negated
    }
}

/// `Principal` or `NotPrincipal` of a resource policy.
#[derive(Debug, Clone)]
pub(super) struct Principals {
    pub(super) negated: bool,
    /// `"*"` or `{"AWS": "*"}`: every caller, anonymous included.
    pub(super) any: bool,
    /// Account IDs named as `"123456789012"` or `"arn:aws:iam::123456789012:root"`.
    pub(super) accounts: Box<[Box<str>]>,
    /// Exact IAM user and role ARNs.
    pub(super) arns: Box<[Box<str>]>,
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
