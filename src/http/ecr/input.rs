//! Reading a request's members as the service model shapes them: structures that refuse
//! members they do not have, lists, strings, `maxResults`. A member of the wrong JSON type is
//! `SerializationException`, as AWS answers it.

use super::{Ctx, EcrError, Result};
use serde_json::{Map, Value};

/// The largest page the listing operations accept (`maxResults`).
pub(super) const MAX_PAGE: u32 = 1000;

pub(super) fn serialization(message: impl Into<String>) -> EcrError {
    EcrError::new("SerializationException", message)
}

/// A structure, refusing members the shape does not have (clients send only modelled ones).
pub(super) fn object<'a>(
    v: &'a Value,
    shape: &str,
    allowed: &[&str],
) -> Result<&'a Map<String, Value>> {
    let Value::Object(m) = v else {
        return Err(serialization(format!("{shape} must be a structure")));
    };
    if let Some(k) = m.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(serialization(format!(
            "unknown member {:?} in {shape}",
            k.chars().take(100).collect::<String>()
        )));
    }
    Ok(m)
}

/// A structure member of the request: `None` when absent.
pub(super) fn structure<'a>(
    c: &'a Ctx<'_>,
    member: &str,
    allowed: &[&str],
) -> Result<Option<&'a Map<String, Value>>> {
    match c.input.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => object(v, member, allowed).map(Some),
    }
}

pub(super) fn list<'a>(c: &'a Ctx<'_>, member: &str) -> Result<Option<&'a Vec<Value>>> {
    array(c.input, member, "")
}

/// `shape.member`, or `member` of the request itself (`shape` empty).
fn path(shape: &str, member: &str) -> String {
    if shape.is_empty() {
        member.to_owned()
    } else {
        format!("{shape}.{member}")
    }
}

/// A string member of a structure (`shape` names it in the error).
pub(super) fn field<'a>(
    m: &'a Map<String, Value>,
    member: &str,
    shape: &str,
) -> Result<Option<&'a str>> {
    match m.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(serialization(format!(
            "{} must be a string",
            path(shape, member)
        ))),
    }
}

/// A list member of a structure.
pub(super) fn array<'a>(
    m: &'a Map<String, Value>,
    member: &str,
    shape: &str,
) -> Result<Option<&'a Vec<Value>>> {
    match m.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(_) => Err(serialization(format!(
            "{} must be a list",
            path(shape, member)
        ))),
    }
}

/// `maxResults`: 1 to `max` (the operation's own bound in the model).
pub(super) fn max_results(c: &Ctx<'_>, max: u32) -> Result<Option<u32>> {
    match c.input.get("maxResults") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(n) if (1..=i64::from(max)).contains(&n) => Ok(Some(n as u32)),
            _ => Err(EcrError::invalid(
                "maxResults",
                format!("must be between 1 and {max}"),
            )),
        },
        Some(_) => Err(serialization("maxResults must be an integer")),
    }
}
