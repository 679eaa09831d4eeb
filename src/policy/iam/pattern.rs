//! String patterns of a policy (actions, ARN parts, `String*` condition values), compiled once:
//! literal text, a prefix, a glob (matched by [`crate::policy::glob`]), or a template with
//! policy variables (`${aws:username}`) substituted per request.

use crate::policy::glob::{match_tokens, Tok};

use super::condition::is_condition_key;
use super::message::Quoted;
use super::Request;

/// A piece of a pattern that contains policy variables.
#[derive(Debug, Clone)]
pub(super) enum Piece {
    /// Policy text; `*` and `?` are wildcards when the pattern is a glob.
    Text(Box<str>),
    /// `${*}`, `${?}` or `${$}`: always literal.
    Escaped(char),
    /// `${key}` or `${key, 'default'}`; the key is lowercased.
    Var {
        key: Box<str>,
        default: Option<Box<str>>,
    },
}

/// How a pattern's text is read.
#[derive(Debug, Clone, Copy)]
pub(super) struct Syntax {
    /// `*` and `?` are wildcards.
    pub(super) glob: bool,
    /// Matched case-insensitively: the pattern is lowercased here.
    pub(super) fold: bool,
    /// `${...}` are policy variables (2012-10-17 policies).
    pub(super) vars: bool,
}

/// A compiled string pattern, from the most common (cheapest) case to the least.
#[derive(Debug, Clone)]
pub(super) enum Pattern {
    /// A glob of a lone `*`.
    Any,
    /// No wildcards: equality.
    Exact(Box<str>),
    /// A literal followed by one trailing `*` (e.g. `ecr:batch*`).
    Prefix(Box<str>),
    /// Any other glob.
    Glob(Box<[Tok]>),
    /// Contains policy variables, substituted at evaluation (this allocates).
    Template { pieces: Box<[Piece]>, glob: bool },
}

impl Pattern {
    /// Compiles `raw`. The error is a reason to append to the quoted value.
    pub(super) fn compile(raw: &str, syntax: Syntax) -> Result<Pattern, String> {
        let text = if syntax.fold {
            lowercase(raw)
        } else {
            raw.to_owned()
        };
        let pieces = if syntax.vars {
            parse_template(&text)?
        } else {
            vec![Piece::Text(text.into())]
        };
        if pieces.iter().any(|p| matches!(p, Piece::Var { .. })) {
            return Ok(Pattern::Template {
                pieces: pieces.into(),
                glob: syntax.glob,
            });
        }
        let mut toks = Vec::new();
        for piece in &pieces {
            match piece {
                Piece::Text(text) => push_text(&mut toks, text, syntax.glob),
                Piece::Escaped(c) => push_literal(&mut toks, c.encode_utf8(&mut [0; 4])),
                Piece::Var { .. } => {}
            }
        }
        Ok(Pattern::from_toks(toks))
    }

    fn from_toks(toks: Vec<Tok>) -> Pattern {
        fn literal(toks: &[Tok]) -> Option<Box<str>> {
            let bytes = toks
                .iter()
                .map(|t| match t {
                    Tok::Lit(b) => Some(*b),
                    Tok::One | Tok::Many => None,
                })
                .collect::<Option<Vec<u8>>>()?;
            String::from_utf8(bytes).ok().map(String::into_boxed_str)
        }
        if let Some(exact) = literal(&toks) {
            return Pattern::Exact(exact);
        }
        if let Some((Tok::Many, head)) = toks.split_last() {
            if head.is_empty() {
                return Pattern::Any;
            }
            if let Some(prefix) = literal(head) {
                return Pattern::Prefix(prefix);
            }
        }
        Pattern::Glob(toks.into())
    }

    /// Does `text` match? `fold` must be the `Syntax::fold` the pattern was compiled with.
    /// Exact patterns fold Unicode; globs fold ASCII only (they are used case-insensitively
    /// only for action names, which are ASCII).
    pub(super) fn matches(&self, text: &str, fold: bool, req: &Request<'_>) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Exact(exact) if fold => eq_folded(text, exact),
            Pattern::Exact(exact) => text == &**exact,
            Pattern::Prefix(prefix) => text.as_bytes().get(..prefix.len()).is_some_and(|head| {
                if fold {
                    head.eq_ignore_ascii_case(prefix.as_bytes())
                } else {
                    head == prefix.as_bytes()
                }
            }),
            Pattern::Glob(toks) => match_tokens(toks, text, fold),
            Pattern::Template {
                pieces,
                glob: is_glob,
            } => match_template(pieces, *is_glob, text, fold, req),
        }
    }
}

/// Substitutes the variables of a template and matches. A variable that is missing (and has
/// no default) makes the pattern match nothing.
fn match_template(
    pieces: &[Piece],
    is_glob: bool,
    text: &str,
    fold: bool,
    req: &Request<'_>,
) -> bool {
    let value = |key: &str, default: &Option<Box<str>>| -> Option<String> {
        let v = req.variable(key).or(default.as_deref())?;
        Some(if fold { lowercase(v) } else { v.to_owned() })
    };
    if is_glob {
        let mut toks = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Text(t) => push_text(&mut toks, t, true),
                Piece::Escaped(c) => push_literal(&mut toks, c.encode_utf8(&mut [0; 4])),
                Piece::Var { key, default } => match value(key, default) {
                    Some(v) => push_literal(&mut toks, &v),
                    None => return false,
                },
            }
        }
        match_tokens(&toks, text, fold)
    } else {
        let mut expected = String::new();
        for piece in pieces {
            match piece {
                Piece::Text(t) => expected.push_str(t),
                Piece::Escaped(c) => expected.push(*c),
                Piece::Var { key, default } => match value(key, default) {
                    Some(v) => expected.push_str(&v),
                    None => return false,
                },
            }
        }
        if fold {
            eq_folded(text, &expected)
        } else {
            text == expected
        }
    }
}

fn push_text(toks: &mut Vec<Tok>, text: &str, glob: bool) {
    if !glob {
        return push_literal(toks, text);
    }
    for b in text.bytes() {
        match b {
            // `**` is the same as `*`.
            b'*' if toks.last() == Some(&Tok::Many) => {}
            b'*' => toks.push(Tok::Many),
            b'?' => toks.push(Tok::One),
            b => toks.push(Tok::Lit(b)),
        }
    }
}

fn push_literal(toks: &mut Vec<Tok>, text: &str) {
    toks.extend(text.bytes().map(Tok::Lit));
}

/// Splits `text` into literal text, escapes and policy variables.
fn parse_template(text: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some((before, after)) = rest.split_once("${") {
        if !before.is_empty() {
            pieces.push(Piece::Text(before.into()));
        }
        let Some((body, tail)) = after.split_once('}') else {
            return Err(format!(
                "has an unterminated policy variable {}",
                Quoted(&format!("${{{after}"))
            ));
        };
        pieces.push(parse_variable(body)?);
        rest = tail;
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.into()));
    }
    Ok(pieces)
}

fn parse_variable(body: &str) -> Result<Piece, String> {
    match body {
        "*" => return Ok(Piece::Escaped('*')),
        "?" => return Ok(Piece::Escaped('?')),
        "$" => return Ok(Piece::Escaped('$')),
        _ => {}
    }
    let invalid = || {
        format!(
            "has an invalid policy variable {}: expected ${{key}} or ${{key, 'default'}} with a key such as aws:username",
            Quoted(&format!("${{{body}}}"))
        )
    };
    let (key, default) = match body.split_once(',') {
        None => (body.trim(), None),
        Some((key, default)) => {
            let default = default
                .trim()
                .strip_prefix('\'')
                .and_then(|d| d.strip_suffix('\''))
                .ok_or_else(invalid)?;
            (key.trim(), Some(default.into()))
        }
    };
    if !is_condition_key(key) {
        return Err(invalid());
    }
    Ok(Piece::Var {
        key: key.to_ascii_lowercase().into(),
        default,
    })
}

/// Unicode lowercase, one character at a time (unlike `str::to_lowercase`, this never
/// depends on context, so it agrees with [`eq_folded`]).
fn lowercase(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// `lowercase(text) == lowered`, without allocating.
fn eq_folded(text: &str, lowered: &str) -> bool {
    if text.is_ascii() {
        text.eq_ignore_ascii_case(lowered)
    } else {
        text.chars()
            .flat_map(char::to_lowercase)
            .eq(lowered.chars())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Context;
    use super::*;

    /// A plain recursive glob, as the reference for compiled patterns.
    fn reference_glob(pattern: &[char], text: &[char]) -> bool {
        match (pattern.first(), text.first()) {
            (None, None) => true,
            (Some('*'), _) => {
                reference_glob(&pattern[1..], text)
                    || (!text.is_empty() && reference_glob(pattern, &text[1..]))
            }
            (Some('?'), Some(_)) => reference_glob(&pattern[1..], &text[1..]),
            (Some(p), Some(t)) if p == t => reference_glob(&pattern[1..], &text[1..]),
            _ => false,
        }
    }

    fn compiled_glob_matches(pattern: &str, text: &str) -> bool {
        let context = Context::new();
        let req = Request {
            principal: None,
            action: "",
            resource: "",
            context: &context,
        };
        Pattern::compile(
            pattern,
            Syntax {
                glob: true,
                fold: false,
                vars: false,
            },
        )
        .expect("no variables")
        .matches(text, false, &req)
    }

    #[test]
    fn glob_examples() {
        let cases = [
            ("*", "", true),
            ("*", "anything", true),
            ("a*", "a", true),
            ("a*", "b", false),
            ("*a", "bba", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a?c", "aéc", true),
            ("é*", "éa", true),
            ("**x", "x", true),
            ("*a*a*a*a*b", &"a".repeat(200), false),
            ("", "", true),
            ("", "a", false),
        ];
        for (pattern, text, expect) in cases {
            assert_eq!(
                compiled_glob_matches(pattern, text),
                expect,
                "{pattern:?} vs {text:?}"
            );
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn glob_agrees_with_reference(pattern in "[ab*?é]{0,8}", text in "[abé]{0,10}") {
                let p: Vec<char> = pattern.chars().collect();
                let t: Vec<char> = text.chars().collect();
                prop_assert_eq!(compiled_glob_matches(&pattern, &text), reference_glob(&p, &t));
            }
        }
    }
}
