//! The one glob matcher of every policy: ECR's `*` filters (tag-mutability exclusions, scanning
//! repository filters, lifecycle `tagPatternList`) through [`wildcard_match`], and IAM's compiled
//! patterns (`*`, `?`, optionally ASCII case-insensitive) through [`match_tokens`].
//!
//! A glob is segments separated by `*`. The first segment must match at the start of the text,
//! the last one at the end (after the first), and those between are placed leftmost-first, each
//! after the previous one. This needs no backtracking: a segment always matches the same number of
//! characters, so its leftmost placement ends first and leaves the most room for the rest; if
//! any placement of the segments works, the leftmost one does. No recursion, no allocation.
//!
//! The two entry points differ only in how a segment is searched:
//!
//! * [`wildcard_match`]: a segment is plain text, found with `str::find` (the linear Two-Way
//!   search), so a match costs O(len(pattern) + len(text)) whatever the number of `*`. These
//!   patterns come from clients; `bench/globbench` measures the scaling.
//! * [`match_tokens`]: a segment may hold `?` (one UTF-8 character) and compare ASCII letters
//!   case-insensitively, which `str::find` cannot search for, so it is tried at each character
//!   boundary: O(len(text) × len(segment)) per segment, at most O(len(text) × len(pattern)) in
//!   all, the bound IAM's matcher has always had (policy texts are at most 10,240 bytes).

/// One token of a compiled glob: IAM compiles its patterns to these once, when it parses a
/// policy, because policy variables and the `${*}`/`${?}` escapes make `*` and `?` literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    /// A literal byte (patterns are UTF-8; multi-byte characters are several `Lit`s).
    Lit(u8),
    /// `?`: exactly one character.
    One,
    /// `*`: any run of characters, possibly empty.
    Many,
}

/// Whether `text` matches `pattern` entirely, `*` matching any run of characters (including none)
/// and everything else matching itself (case-sensitive; `?` is literal). Tag-mutability
/// exclusions, scanning repository filters and lifecycle tag patterns all use it. Linear in
/// `pattern.len() + text.len()`.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    match_segments(pattern.split('*').map(Literal), text)
}

/// Whether `text` matches the compiled glob `toks` entirely. `?` matches one UTF-8 character;
/// with `fold`, a lowercase ASCII letter of the pattern also matches its uppercase form (the
/// tokens must then be lowercase).
pub fn match_tokens(toks: &[Tok], text: &str, fold: bool) -> bool {
    let segments = toks
        .split(|t| *t == Tok::Many)
        .map(|toks| Tokens { toks, fold });
    match_segments(segments, text)
}

/// The matcher itself (see the module documentation). `segments` are the pieces of the pattern
/// between its `*`s, in order; a pattern without `*` is one segment.
fn match_segments<S: Segment>(
    mut segments: impl DoubleEndedIterator<Item = S>,
    text: &str,
) -> bool {
    let Some(head) = segments.next() else {
        return text.is_empty();
    };
    let Some(rest) = head.strip_prefix(text) else {
        return false;
    };
    let Some(tail) = segments.next_back() else {
        return rest.is_empty();
    };
    let Some(mut window) = tail.strip_suffix(rest) else {
        return false;
    };
    for segment in segments {
        match segment.skip_past(window) {
            Some(after) => window = after,
            None => return false,
        }
    }
    true
}

/// A piece of a glob between two `*`: it matches a fixed number of characters.
trait Segment {
    /// `text` after this segment, if `text` starts with it.
    fn strip_prefix<'t>(&self, text: &'t str) -> Option<&'t str>;
    /// `text` before this segment, if `text` ends with it.
    fn strip_suffix<'t>(&self, text: &'t str) -> Option<&'t str>;
    /// `text` after the leftmost occurrence of this segment, if there is one.
    fn skip_past<'t>(&self, text: &'t str) -> Option<&'t str>;
}

/// A segment of [`wildcard_match`]: literal text.
struct Literal<'p>(&'p str);

impl Segment for Literal<'_> {
    fn strip_prefix<'t>(&self, text: &'t str) -> Option<&'t str> {
        text.strip_prefix(self.0)
    }

    fn strip_suffix<'t>(&self, text: &'t str) -> Option<&'t str> {
        text.strip_suffix(self.0)
    }

    fn skip_past<'t>(&self, text: &'t str) -> Option<&'t str> {
        let at = text.find(self.0)?;
        text.get(at + self.0.len()..)
    }
}

/// A segment of [`match_tokens`]: literal bytes and `?`, never `Many`.
struct Tokens<'p> {
    toks: &'p [Tok],
    fold: bool,
}

impl Tokens<'_> {
    fn same(&self, pattern: u8, text: u8) -> bool {
        pattern == text || (self.fold && pattern == text.to_ascii_lowercase())
    }
}

impl Segment for Tokens<'_> {
    fn strip_prefix<'t>(&self, text: &'t str) -> Option<&'t str> {
        let bytes = text.as_bytes();
        let mut t = 0;
        for tok in self.toks {
            let &b = bytes.get(t)?;
            match *tok {
                Tok::Lit(c) if self.same(c, b) => t += 1,
                Tok::One => t += utf8_width(b),
                Tok::Lit(_) | Tok::Many => return None,
            }
        }
        text.get(t..)
    }

    fn strip_suffix<'t>(&self, text: &'t str) -> Option<&'t str> {
        let bytes = text.as_bytes();
        let mut t = text.len();
        for tok in self.toks.iter().rev() {
            t = t.checked_sub(1)?;
            match *tok {
                Tok::Lit(c) if self.same(c, *bytes.get(t)?) => {}
                // Back to the start of the last character (0 is always a boundary).
                Tok::One => {
                    while !text.is_char_boundary(t) {
                        t -= 1;
                    }
                }
                Tok::Lit(_) | Tok::Many => return None,
            }
        }
        text.get(..t)
    }

    fn skip_past<'t>(&self, text: &'t str) -> Option<&'t str> {
        (0..=text.len())
            .filter(|&at| text.is_char_boundary(at))
            .find_map(|at| self.strip_prefix(text.get(at..)?))
    }
}

/// The length of the UTF-8 sequence that starts with `lead`.
fn utf8_width(lead: u8) -> usize {
    match lead {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pattern` compiled as IAM compiles a glob: `*` and `?` are wildcards, `**` is `*`.
    fn tokens(pattern: &str) -> Vec<Tok> {
        let mut toks = Vec::new();
        for b in pattern.bytes() {
            match b {
                b'*' if toks.last() == Some(&Tok::Many) => {}
                b'*' => toks.push(Tok::Many),
                b'?' => toks.push(Tok::One),
                b => toks.push(Tok::Lit(b)),
            }
        }
        toks
    }

    /// A plain recursive glob over characters, the reference for both entry points.
    /// `one`: `?` is a wildcard; `fold`: ASCII letters compare case-insensitively.
    fn reference(pattern: &[char], text: &[char], one: bool, fold: bool) -> bool {
        match (pattern.first(), text.first()) {
            (None, None) => true,
            (Some('*'), _) => {
                reference(&pattern[1..], text, one, fold)
                    || (!text.is_empty() && reference(pattern, &text[1..], one, fold))
            }
            (Some('?'), Some(_)) if one => reference(&pattern[1..], &text[1..], one, fold),
            (Some(p), Some(t)) if p == t || (fold && *p == t.to_ascii_lowercase()) => {
                reference(&pattern[1..], &text[1..], one, fold)
            }
            _ => false,
        }
    }

    #[test]
    fn wildcards() {
        for (p, s, m) in [
            ("latest", "latest", true),
            ("latest", "latest2", false),
            ("dev-*", "dev-1", true),
            ("dev-*", "dev-", true),
            ("dev-*", "prod-1", false),
            ("*", "", true),
            ("*-rc*", "v1-rc2", true),
            ("*-rc*", "v1-r", false),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
        ] {
            assert_eq!(wildcard_match(p, s), m, "{p} ~ {s}");
        }
    }

    #[test]
    fn glob_table() {
        let table: &[(&str, &str, bool)] = &[
            ("prod*", "prod", true),
            ("prod*", "prod1", true),
            ("prod*", "production-team1", true),
            ("*prod*", "repo-production", true),
            ("*prod*", "prod-team", true),
            ("*prod*", "pro-d", false),
            ("prod*", "pro", false),
            ("prod*", "xprod", false),
            ("prod", "prod", true),
            ("prod", "prod1", false),
            ("Prod*", "prod", false),
            ("", "", true),
            ("", "a", false),
            ("*", "", true),
            ("*", "anything-at-all", true),
            ("**", "", true),
            ("a**b", "ab", true),
            ("a*a", "a", false),
            ("a*a", "aa", true),
            ("a*a", "aba", true),
            ("ab*ba", "aba", false),
            ("ab*ba", "abba", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "acb", false),
            ("a*b*c", "abcx", false),
            ("*-rc*", "v1.2-rc3", true),
            ("*-rc*", "v1.2", false),
            ("*test*1*2*3", "my-test-1-2-3", true),
            ("test*1*2*3*", "test123", true),
            ("test*1*2*3*", "test321", false),
            ("*a*b", "ababab", true),
            ("*a*b", "ababa", false),
            ("ä*ö", "äxyö", true),
            ("ä*ö", "äö", true),
            ("*✓", "done✓", true),
            ("*é*", "cafe", false),
            ("v*.*.*", "v1.22.333", true),
            ("v*.*.*", "v1.22", false),
            // `?` is literal in ECR filters.
            ("v?", "v1", false),
            ("v?", "v?", true),
        ];
        for &(pattern, text, want) in table {
            assert_eq!(
                wildcard_match(pattern, text),
                want,
                "glob {pattern:?} on {text:?}"
            );
        }
    }

    #[test]
    fn token_table() {
        // (pattern, text, fold, answer)
        let table: &[(&str, &str, bool, bool)] = &[
            ("*", "", false, true),
            ("*", "anything", false, true),
            ("a*", "a", false, true),
            ("a*", "b", false, false),
            ("*a", "bba", false, true),
            ("a*b*c", "axxbyyc", false, true),
            ("a*b*c", "axxbyy", false, false),
            ("a?c", "abc", false, true),
            ("a?c", "ac", false, false),
            ("a?c", "aéc", false, true),
            ("a??c", "aéc", false, false),
            ("*?", "", false, false),
            ("*?", "✓", false, true),
            ("?*?", "é", false, false),
            ("?*?", "éé", false, true),
            ("*é?", "xé✓", false, true),
            ("é*", "éa", false, true),
            ("**x", "x", false, true),
            ("", "", false, true),
            ("", "a", false, false),
            ("ecr:batch*image", "ecr:BatchGetImage", true, true),
            ("ecr:batch*image", "ecr:BatchGetImage", false, false),
            ("ecr:batchge?image", "ECR:BATCHGETIMAGE", true, true),
            ("*image", "ecr:PutImage", true, true),
            ("é", "É", true, false),
        ];
        for &(pattern, text, fold, want) in table {
            assert_eq!(
                match_tokens(&tokens(pattern), text, fold),
                want,
                "glob {pattern:?} on {text:?} (fold {fold})"
            );
        }
    }

    /// Pathological patterns answer correctly on long texts. A backtracking matcher takes
    /// billions of steps on these (10,000 stars over 200,000 characters); how the time scales
    /// (linearly) is measured by bench/globbench, not here.
    #[test]
    fn glob_pathological_inputs() {
        let text = "a".repeat(200_000);
        assert!(!wildcard_match("*a*a*a*a*b", &text));
        assert!(wildcard_match("*a*a*a*a*", &text));
        // Far more stars than policies allow: still linear.
        let many = format!("{}b", "a*".repeat(10_000));
        assert!(!wildcard_match(&many, &text));
        let many_ok = format!("{}*", "a*".repeat(10_000));
        assert!(wildcard_match(&many_ok, &text));
        // The last segment is searched through the whole rest of the text, once.
        let missing = format!("{}b*", "*a".repeat(10_000));
        assert!(!wildcard_match(&missing, &text));
        let mut almost = "ab".repeat(50_000);
        almost.push('c');
        assert!(wildcard_match("*ab*ab*ab*c", &almost));
        assert!(!wildcard_match("*ab*ab*ab*ac", &almost));
    }

    /// The same inputs through the token matcher (with `?` and case folding): each segment is
    /// placed once, so many stars cost no more than one.
    #[test]
    fn token_pathological_inputs() {
        let text = "a".repeat(200_000);
        let upper = "A".repeat(200_000);
        for fold in [false, true] {
            assert!(!match_tokens(&tokens("*a*a*a*a*b"), &text, fold));
            assert!(match_tokens(&tokens("*a*a*a*a*"), &text, fold));
            let many = tokens(&format!("{}b", "a*".repeat(10_000)));
            assert!(!match_tokens(&many, &text, fold));
            let many_ok = tokens(&format!("{}*", "?*".repeat(10_000)));
            assert!(match_tokens(&many_ok, &text, fold));
            let many_ok = tokens(&format!("{}*", "a*".repeat(10_000)));
            assert_eq!(match_tokens(&many_ok, &upper, fold), fold);
            let missing = tokens(&format!("{}?b*", "*a".repeat(10_000)));
            assert!(!match_tokens(&missing, &text, fold));
        }
        let mut almost = "ab".repeat(50_000);
        almost.push('c');
        assert!(match_tokens(&tokens("*a?*ab*?b*c"), &almost, false));
        assert!(!match_tokens(&tokens("*ab*a?*ab*ac"), &almost, false));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn wildcard_match_agrees_with_reference(pattern in "[ab*?é]{0,8}", text in "[ab?é]{0,10}") {
                let p: Vec<char> = pattern.chars().collect();
                let t: Vec<char> = text.chars().collect();
                prop_assert_eq!(wildcard_match(&pattern, &text), reference(&p, &t, false, false));
            }

            #[test]
            fn match_tokens_agrees_with_reference(
                pattern in "[ab*?é✓]{0,8}",
                text in "[abABé✓]{0,10}",
                fold in any::<bool>(),
            ) {
                let p: Vec<char> = pattern.chars().collect();
                let t: Vec<char> = text.chars().collect();
                prop_assert_eq!(match_tokens(&tokens(&pattern), &text, fold), reference(&p, &t, true, fold));
            }
        }
    }
}
