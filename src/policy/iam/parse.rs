//! Reading a policy text: [`Policy::parse`] checks every element strictly, the way IAM and ECR
//! do, and compiles the statements. Every error names the statement and the field.

use super::arn::{classify_aws_principal, is_service_principal, ArnPattern, AwsPrincipal};
use super::condition::{is_condition_key, BaseOp, Condition, Operands, Operator};
use super::json::Json;
use super::message::{suggest, At, Found, Loc, Quoted};
use super::pattern::{Pattern, Syntax};
use super::scalar::{parse_bool, parse_date, parse_ip_net, parse_number};
use super::statement::{Actions, Effect, Principals, Resources, Statement};
use super::{is_ecr_action, Policy, PolicyError, PolicyKind};

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

#[cfg(test)]
mod tests {
    use super::super::fixtures::doc;
    use super::*;

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

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn parse_never_panics_on_arbitrary_text(text in ".{0,300}") {
                let _ = Policy::parse(&text, PolicyKind::Identity);
                let _ = Policy::parse(&text, PolicyKind::Resource);
            }

            #[test]
            fn parse_never_panics_on_json_shaped_text(text in r#"[\[\]{}:,"\\ a-zA-Z0-9*?$/.\-]{0,200}"#) {
                let _ = Policy::parse(&text, PolicyKind::Resource);
            }
        }
    }
}
