//! Fuzz `Endpoint::parse`, the router for everything after `/v2/`.
//!
//! On success the repository name (if any) must be a valid `RepositoryName` that cannot
//! escape the storage layout: no `..`, no leading `/`, no `//`.

use berth::http::distribution::endpoint::Endpoint;
use berth::oci::{Digest, Reference, RepositoryName};

fn check_digest(d: &Digest) {
    let s = d.to_string();
    assert_eq!(
        s.parse::<Digest>().as_ref(),
        Ok(d),
        "digest {s:?} does not round-trip"
    );
}

/// The target: check `data` (panics on a violated invariant).
pub fn run(data: &[u8]) {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(ep) = Endpoint::parse(path) else {
        return;
    };
    let _ = ep.name();
    if let Some(n) = ep.repository() {
        let s = n.as_str();
        let again: RepositoryName = s
            .parse()
            .unwrap_or_else(|e| panic!("repository {s:?} from {path:?} does not re-parse: {e}"));
        assert_eq!(&again, n);
        assert!(!s.is_empty(), "empty repository from {path:?}");
        assert!(
            !s.contains(".."),
            "repository {s:?} from {path:?} contains '..'"
        );
        assert!(
            !s.starts_with('/'),
            "repository {s:?} from {path:?} starts with '/'"
        );
        assert!(
            !s.ends_with('/'),
            "repository {s:?} from {path:?} ends with '/'"
        );
        assert!(
            !s.contains("//"),
            "repository {s:?} from {path:?} contains '//'"
        );
        assert!(s.len() <= berth::oci::name::MAX_NAME_LEN);
        // The name is a prefix of the path: the router never invents components.
        assert!(
            path.starts_with(s),
            "repository {s:?} is not a prefix of {path:?}"
        );
        assert_eq!(path.as_bytes().get(s.len()), Some(&b'/'));
    } else {
        assert!(
            matches!(ep, Endpoint::Base | Endpoint::Catalog),
            "{ep:?} without a repository"
        );
    }
    match &ep {
        Endpoint::Base => assert_eq!(path, ""),
        Endpoint::Catalog => assert_eq!(path, "_catalog"),
        Endpoint::Manifest(_, r) => {
            let s = r.to_string();
            assert!(
                path.ends_with(&format!("/{s}")),
                "reference {s:?} not at the end of {path:?}"
            );
            assert_eq!(s.parse::<Reference>().as_ref(), Ok(r));
        }
        Endpoint::Blob(_, d) | Endpoint::Referrers(_, d) => {
            check_digest(d);
            assert!(path.ends_with(&format!("/{d}")));
        }
        Endpoint::Upload(_, id) => {
            assert!(!id.is_empty(), "empty upload id from {path:?}");
            assert!(!id.contains('/'), "upload id {id:?} contains '/'");
        }
        Endpoint::Tags(_) | Endpoint::UploadStart(_) => {}
    }
}
