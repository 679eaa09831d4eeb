//! Fuzz the `FromStr` impls of `Digest`, `RepositoryName`, `Tag` and `Reference`:
//! "parse, don't validate" means anything accepted prints back exactly as given.

use berth::oci::{Algorithm, Digest, Reference, RepositoryName, Tag};

/// The target: check `data` (panics on a violated invariant).
pub fn run(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };

    let digest = s.parse::<Digest>();
    if let Ok(d) = &digest {
        assert_eq!(d.to_string(), s, "Digest");
        let want = match d.algorithm() {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        };
        assert_eq!(d.hex().len(), want);
        assert!(d
            .hex()
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        assert_eq!(
            d.algorithm().as_str().parse::<Algorithm>(),
            Ok(d.algorithm())
        );
    }

    if let Ok(n) = s.parse::<RepositoryName>() {
        assert_eq!(n.to_string(), s, "RepositoryName");
        assert_eq!(n.as_str(), s);
        assert!(!s.contains(".."), "name {s:?} contains '..'");
        assert!(!s.starts_with('/') && !s.ends_with('/') && !s.contains("//"));
        assert!(s.len() <= berth::oci::name::MAX_NAME_LEN);
        assert!(s
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' | b'/')));
    }

    let tag = s.parse::<Tag>();
    if let Ok(t) = &tag {
        assert_eq!(t.to_string(), s, "Tag");
        assert_eq!(t.as_str(), s);
        assert!(!s.contains(':') && !s.contains('/'), "tag {s:?}");
        assert!(!s.is_empty() && s.len() <= 128);
    }

    let reference = s.parse::<Reference>();
    if let Ok(r) = &reference {
        assert_eq!(r.to_string(), s, "Reference");
        match r {
            Reference::Tag(t) => assert_eq!(tag.as_ref(), Ok(t)),
            Reference::Digest(d) => assert_eq!(digest.as_ref(), Ok(d)),
        }
    }
    // Every tag and every digest is a reference.
    if tag.is_ok() || digest.is_ok() {
        assert!(
            reference.is_ok(),
            "{s:?} is a tag or digest but not a reference"
        );
    }
}
