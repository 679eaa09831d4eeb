//! How parse errors say where and what: `Statement[2].Action[1] "ecr:Foo" ... (Sid "Pull")`.

use std::fmt;

use super::json::Json;
use super::PolicyError;

/// The statement being parsed, for error messages.
pub(super) struct Loc<'a> {
    pub(super) index: usize,
    pub(super) sid: Option<&'a str>,
}

impl Loc<'_> {
    /// `Statement[i].<path> <message> (Sid "...")`.
    pub(super) fn field(&self, path: impl fmt::Display, message: impl fmt::Display) -> PolicyError {
        PolicyError(format!(
            "Statement[{}].{path} {message}{}",
            self.index,
            SidSuffix(self.sid)
        ))
    }

    /// `Statement[i]: <message> (Sid "...")`.
    pub(super) fn statement(&self, message: impl fmt::Display) -> PolicyError {
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
pub(super) struct At<'a>(pub(super) &'a str, pub(super) Option<usize>);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(i) => write!(f, "{}[{i}]", self.0),
            None => f.write_str(self.0),
        }
    }
}

/// A string quoted and escaped as JSON-ish (`"a\0b"`), cut after 64 characters.
pub(super) struct Quoted<'a>(pub(super) &'a str);

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
pub(super) struct Found<'a>(pub(super) &'a Json);

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
pub(super) fn suggest(key: &str, allowed: &[&str]) -> String {
    match allowed.iter().find(|a| a.eq_ignore_ascii_case(key)) {
        Some(right) => format!(" (keys are case-sensitive: did you mean \"{right}\"?)"),
        None => format!(" (allowed: {})", allowed.join(", ")),
    }
}
