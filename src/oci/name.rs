//! Repository names, tags and references, parsed by the distribution grammar.

use super::digest::{Digest, DigestError};
use std::fmt;
use std::str::FromStr;

/// Longest repository name Berth accepts (DESIGN.md: ≤ 256 characters).
pub const MAX_NAME_LEN: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("repository name must not be empty")]
    Empty,
    #[error("repository name is longer than {MAX_NAME_LEN} characters")]
    TooLong,
    #[error("invalid repository name: each path component must match [a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*")]
    Invalid,
}

/// A repository name: `component(/component)*`, each component
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, at most 256 characters in all.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepositoryName(String);

impl RepositoryName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or one or more "-".
        let start = i;
        let sep = b[i];
        while i < b.len() && b[i] == sep {
            i += 1;
        }
        let run = i - start;
        let ok = match sep {
            b'.' => run == 1,
            b'_' => run <= 2,
            b'-' => true,
            _ => false,
        };
        if !ok || i >= b.len() || !alnum(b[i]) {
            return false;
        }
    }
    true
}

impl FromStr for RepositoryName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        if s.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong);
        }
        if !s.split('/').all(valid_component) {
            return Err(NameError::Invalid);
        }
        Ok(RepositoryName(s.to_owned()))
    }
}

impl fmt::Display for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tag: a tag must match [A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}")]
pub struct TagError;

/// A tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Tag {
    type Err = TagError;
    fn from_str(s: &str) -> Result<Self, TagError> {
        let b = s.as_bytes();
        let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
        if b.is_empty() || b.len() > 128 || !word(b[0]) {
            return Err(TagError);
        }
        if !b[1..].iter().all(|&x| word(x) || x == b'.' || x == b'-') {
            return Err(TagError);
        }
        Ok(Tag(s.to_owned()))
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What follows `/manifests/`: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(Tag),
    Digest(Digest),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error(transparent)]
    Tag(#[from] TagError),
    #[error(transparent)]
    Digest(#[from] DigestError),
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, ReferenceError> {
        // A tag cannot contain ':', so a colon means the client meant a digest.
        if s.contains(':') {
            Ok(Reference::Digest(s.parse()?))
        } else {
            Ok(Reference::Tag(s.parse()?))
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(t) => t.fmt(f),
            Reference::Digest(d) => d.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_distribution_names() {
        for n in [
            "a",
            "library/ubuntu",
            "a/b/c/d/e/f/g",
            "foo.bar",
            "foo_bar",
            "foo__bar",
            "foo---bar",
            "0",
            "a/manifests/b",
            "blobs/uploads",
            &"a".repeat(256),
        ] {
            assert!(n.parse::<RepositoryName>().is_ok(), "rejected {n:?}");
        }
    }

    #[test]
    fn rejects_hostile_names() {
        let long = "a".repeat(257);
        for n in [
            "", "/", "/a", "a/", "a//b", "..", "../etc", "a/../b", "a/./b", ".a", "a.", "a..b",
            "a___b", "a_.b", "A", "a b", "a\0b", "a%2fb", "a\\b", "-a", "a-", "ä", "a/_b", &long,
        ] {
            assert!(n.parse::<RepositoryName>().is_err(), "accepted {n:?}");
        }
    }

    #[test]
    fn tags() {
        for t in ["latest", "v1.0", "_x", "A-b_c.d", &"a".repeat(128)] {
            assert!(t.parse::<Tag>().is_ok(), "rejected {t:?}");
        }
        for t in ["", ".a", "-a", "a:b", "a/b", "a b", &"a".repeat(129), "ü"] {
            assert!(t.parse::<Tag>().is_err(), "accepted {t:?}");
        }
    }

    #[test]
    fn references() {
        assert!(matches!("latest".parse(), Ok(Reference::Tag(_))));
        let d = format!("sha256:{}", "a".repeat(64));
        assert!(matches!(d.parse(), Ok(Reference::Digest(_))));
        assert!(matches!(
            "sha256:zz".parse::<Reference>(),
            Err(ReferenceError::Digest(_))
        ));
        assert!(matches!(
            "..".parse::<Reference>(),
            Err(ReferenceError::Tag(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn name_parse_never_panics_and_roundtrips(s in "\\PC{0,300}") {
            if let Ok(n) = s.parse::<RepositoryName>() {
                proptest::prop_assert_eq!(n.as_str(), s.as_str());
                proptest::prop_assert!(!n.as_str().contains(".."));
            }
        }
        #[test]
        fn valid_names_parse(s in "[a-z0-9]{1,5}((\\.|_|__|-+)[a-z0-9]{1,5}){0,3}(/[a-z0-9]{1,5}((\\.|_|__|-+)[a-z0-9]{1,5}){0,3}){0,4}") {
            proptest::prop_assert!(s.parse::<RepositoryName>().is_ok());
        }
    }
}
