//! Condition blocks: the operators (`StringLike`, `IpAddress`, `ForAnyValue:...IfExists`, ...),
//! their compiled values, and the IAM rules for missing keys, negation and multi-valued keys.

use ipnet::IpNet;

use super::arn::ArnPattern;
use super::pattern::Pattern;
use super::scalar::{parse_bool, parse_context_ip, parse_date, parse_number};
use super::Request;

/// `ForAnyValue:` / `ForAllValues:` qualifiers on a condition operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Qualifier {
    Single,
    ForAnyValue,
    ForAllValues,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cmp {
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
pub(super) enum BaseOp {
    String { like: bool, fold: bool },
    Arn,
    Ip,
    Bool,
    Null,
    Numeric(Cmp),
    Date(Cmp),
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Operator {
    pub(super) base: BaseOp,
    pub(super) negated: bool,
    pub(super) qualifier: Qualifier,
    pub(super) if_exists: bool,
}

impl Operator {
    pub(super) fn parse(name: &str) -> Option<Operator> {
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
pub(super) enum Operands {
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
pub(super) struct Condition {
    /// Lowercased.
    pub(super) key: Box<str>,
    pub(super) negated: bool,
    pub(super) qualifier: Qualifier,
    pub(super) if_exists: bool,
    pub(super) operands: Operands,
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
    pub(super) fn holds(&self, req: &Request<'_>) -> bool {
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

/// `prefix:name`, e.g. `aws:SourceIp`, `ecr:ResourceTag/team`: a prefix of letters, digits
/// and `-`, and a non-empty name without control characters.
pub(super) fn is_condition_key(key: &str) -> bool {
    key.split_once(':').is_some_and(|(prefix, name)| {
        !prefix.is_empty()
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !name.is_empty()
            && !name.chars().any(char::is_control)
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;

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
}
