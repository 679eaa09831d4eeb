//! What the unit tests of the IAM policy language share: callers, policy texts, and [`Case`],
//! one row of an evaluation table.

use super::{evaluate, Context, Decision, Policy, PolicyKind, PrincipalInfo, Request};

const REPO: &str = "arn:aws:ecr:us-east-1:000000000000:repository/team/app";

fn principal(arn: &str) -> PrincipalInfo {
    let account = arn.split(':').nth(4).unwrap_or_default().to_owned();
    PrincipalInfo {
        arn: arn.to_owned(),
        account,
    }
}

pub(super) fn alice() -> PrincipalInfo {
    principal("arn:aws:iam::000000000000:user/alice")
}

pub(super) fn bob() -> PrincipalInfo {
    principal("arn:aws:iam::000000000000:user/bob")
}

pub(super) fn carol_other_account() -> PrincipalInfo {
    principal("arn:aws:iam::111122223333:user/carol")
}

/// A 2012-10-17 policy from statement JSON.
pub(super) fn doc(statements: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)
}

/// One row of an evaluation table, built fluently.
pub(super) struct Case {
    name: &'static str,
    identity: Vec<String>,
    resource: Vec<String>,
    caller: Option<PrincipalInfo>,
    action: &'static str,
    arn: &'static str,
    context: Vec<(&'static str, &'static str)>,
    expect: Decision,
}

pub(super) fn case(name: &'static str) -> Case {
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
    pub(super) fn identity(mut self, statements: &str) -> Self {
        self.identity.push(doc(statements));
        self
    }
    pub(super) fn identity_text(mut self, text: &str) -> Self {
        self.identity.push(text.to_owned());
        self
    }
    pub(super) fn resource(mut self, statements: &str) -> Self {
        self.resource.push(doc(statements));
        self
    }
    pub(super) fn caller(mut self, caller: Option<PrincipalInfo>) -> Self {
        self.caller = caller;
        self
    }
    pub(super) fn action(mut self, action: &'static str) -> Self {
        self.action = action;
        self
    }
    pub(super) fn on(mut self, arn: &'static str) -> Self {
        self.arn = arn;
        self
    }
    pub(super) fn ctx(mut self, key: &'static str, value: &'static str) -> Self {
        self.context.push((key, value));
        self
    }
    pub(super) fn expect(mut self, expect: Decision) -> Self {
        self.expect = expect;
        self
    }

    pub(super) fn run(&self) {
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

pub(super) use super::Decision::{Allow, ExplicitDeny, ImplicitDeny};

pub(super) const ALLOW_ALL: &str = r#"{"Effect":"Allow","Action":"ecr:*","Resource":"*"}"#;
pub(super) const DENY_ALL: &str = r#"{"Effect":"Deny","Action":"*","Resource":"*"}"#;
pub(super) const RES_ALLOW_ANY: &str = r#"{"Effect":"Allow","Principal":"*","Action":"ecr:*"}"#;
pub(super) const RES_DENY_ANY: &str = r#"{"Effect":"Deny","Principal":"*","Action":"ecr:*"}"#;
