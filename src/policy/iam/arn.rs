//! ARNs: resource patterns and `Arn*` condition values (compiled part by part), and the
//! validation of what a policy names (accounts, IAM users and roles, service principals).

use super::pattern::{Pattern, Syntax};
use super::Request;

/// A resource pattern or an `Arn*` condition value.
#[derive(Debug, Clone)]
pub(super) enum ArnPattern {
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
    pub(super) fn resource(raw: &str, vars: bool) -> Result<ArnPattern, String> {
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
    pub(super) fn condition(raw: &str, vars: bool) -> Result<ArnPattern, String> {
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
    pub(super) fn matches(&self, text: &str, req: &Request<'_>) -> bool {
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

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
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
pub(super) enum AwsPrincipal<'s> {
    Any,
    Account(&'s str),
    Arn(&'s str),
}

/// Classifies a `Principal.AWS` entry; the error is a reason to append to the quoted value.
pub(super) fn classify_aws_principal(s: &str) -> Result<AwsPrincipal<'_>, &'static str> {
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
pub(super) fn is_service_principal(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}
