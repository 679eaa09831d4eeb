//! `/v2/<rest>` parsed into an endpoint. Repository names contain slashes, so the path is
//! routed once and parsed from the right.

use super::error::{Code, OciError};
use crate::oci::{Digest, Reference, RepositoryName};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Base,
    Catalog,
    Tags(RepositoryName),
    Manifest(RepositoryName, Reference),
    Blob(RepositoryName, Digest),
    UploadStart(RepositoryName),
    Upload(RepositoryName, String),
    Referrers(RepositoryName, Digest),
}

impl Endpoint {
    /// A stable name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Endpoint::Base => "base",
            Endpoint::Catalog => "catalog",
            Endpoint::Tags(_) => "tags",
            Endpoint::Manifest(..) => "manifest",
            Endpoint::Blob(..) => "blob",
            Endpoint::UploadStart(_) => "upload_start",
            Endpoint::Upload(..) => "upload",
            Endpoint::Referrers(..) => "referrers",
        }
    }

    pub fn repository(&self) -> Option<&RepositoryName> {
        match self {
            Endpoint::Base | Endpoint::Catalog => None,
            Endpoint::Tags(n)
            | Endpoint::Manifest(n, _)
            | Endpoint::Blob(n, _)
            | Endpoint::UploadStart(n)
            | Endpoint::Upload(n, _)
            | Endpoint::Referrers(n, _) => Some(n),
        }
    }

    /// Parse the part of the path after `/v2/`.
    pub fn parse(rest: &str) -> Result<Endpoint, OciError> {
        if rest.is_empty() {
            return Ok(Endpoint::Base);
        }
        if rest == "_catalog" {
            return Ok(Endpoint::Catalog);
        }
        let segs: Vec<&str> = rest.split('/').collect();
        let n = segs.len();
        let name = |upto: usize| -> Result<RepositoryName, OciError> {
            segs[..upto]
                .join("/")
                .parse()
                .map_err(|e: crate::oci::name::NameError| {
                    OciError::new(Code::NameInvalid, e.to_string())
                })
        };
        let digest = |s: &str| -> Result<Digest, OciError> {
            s.parse().map_err(|e: crate::oci::DigestError| {
                OciError::new(Code::DigestInvalid, e.to_string())
            })
        };
        if n >= 3 && segs[n - 2] == "tags" && segs[n - 1] == "list" {
            return Ok(Endpoint::Tags(name(n - 2)?));
        }
        if n >= 2 && segs[n - 2] == "manifests" {
            let name = name(n - 2)?;
            let reference = segs[n - 1].parse().map_err(|e| match e {
                crate::oci::name::ReferenceError::Tag(t) => {
                    OciError::new(Code::TagInvalid, t.to_string())
                }
                crate::oci::name::ReferenceError::Digest(d) => {
                    OciError::new(Code::DigestInvalid, d.to_string())
                }
            })?;
            return Ok(Endpoint::Manifest(name, reference));
        }
        if n >= 3 && segs[n - 3] == "blobs" && segs[n - 2] == "uploads" {
            if segs[n - 1].is_empty() {
                return Ok(Endpoint::UploadStart(name(n - 3)?));
            }
            return Ok(Endpoint::Upload(name(n - 3)?, segs[n - 1].to_owned()));
        }
        if n >= 3 && segs[n - 2] == "blobs" && segs[n - 1] == "uploads" {
            return Ok(Endpoint::UploadStart(name(n - 2)?));
        }
        if n >= 2 && segs[n - 2] == "blobs" {
            let d = digest(segs[n - 1])?;
            return Ok(Endpoint::Blob(name(n - 2)?, d));
        }
        if n >= 2 && segs[n - 2] == "referrers" {
            let d = digest(segs[n - 1])?;
            return Ok(Endpoint::Referrers(name(n - 2)?, d));
        }
        Err(OciError::new(Code::NameUnknown, "no such endpoint")
            .with_status(axum::http::StatusCode::NOT_FOUND))
    }
}

/// The repository of `<name>/manifests/<reference>` when the reference is not a valid tag
/// (and not digest-shaped): `Endpoint::parse` refuses such a path with `TAG_INVALID`.
pub fn invalid_tag_repository(rest: &str) -> Option<RepositoryName> {
    let (path, reference) = rest.rsplit_once('/')?;
    let name = path.strip_suffix("/manifests")?;
    match reference.parse::<Reference>() {
        Err(crate::oci::name::ReferenceError::Tag(_)) => name.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_every_endpoint() {
        let n = |s: &str| s.parse::<RepositoryName>().unwrap();
        let d: Digest = D.parse().unwrap();
        let (p1, p2, p3, p4) = (
            format!("a/b/manifests/{D}"),
            format!("a/blobs/{D}"),
            format!("x/blobs/uploads/blobs/{D}"),
            format!("a/referrers/{D}"),
        );
        let cases = vec![
            ("", Endpoint::Base),
            ("_catalog", Endpoint::Catalog),
            ("a/b/tags/list", Endpoint::Tags(n("a/b"))),
            (
                "a/manifests/latest",
                Endpoint::Manifest(n("a"), "latest".parse().unwrap()),
            ),
            (
                p1.as_str(),
                Endpoint::Manifest(n("a/b"), Reference::Digest(d.clone())),
            ),
            (
                "a/manifests/manifests/x",
                Endpoint::Manifest(n("a/manifests"), "x".parse().unwrap()),
            ),
            (p2.as_str(), Endpoint::Blob(n("a"), d.clone())),
            (p3.as_str(), Endpoint::Blob(n("x/blobs/uploads"), d.clone())),
            ("a/b/blobs/uploads/", Endpoint::UploadStart(n("a/b"))),
            ("a/b/blobs/uploads", Endpoint::UploadStart(n("a/b"))),
            (
                "a/blobs/uploads/123",
                Endpoint::Upload(n("a"), "123".into()),
            ),
            (p4.as_str(), Endpoint::Referrers(n("a"), d.clone())),
            ("tags/tags/list", Endpoint::Tags(n("tags"))),
        ];
        for (path, want) in cases {
            assert_eq!(Endpoint::parse(path).unwrap(), want, "{path}");
        }
    }

    #[test]
    fn rejects_hostile_paths() {
        let cases = [
            ("../etc/manifests/latest", "NAME_INVALID"),
            ("a/../../manifests/latest", "NAME_INVALID"),
            ("A/manifests/latest", "NAME_INVALID"),
            ("/a/manifests/latest", "NAME_INVALID"),
            ("a//b/manifests/latest", "NAME_INVALID"),
            ("a/manifests/..", "TAG_INVALID"),
            ("a/manifests/sha256:../../x", "DIGEST_INVALID"),
            ("a/blobs/latest", "DIGEST_INVALID"),
            ("a/blobs/sha256:abc", "DIGEST_INVALID"),
            ("a/referrers/x", "DIGEST_INVALID"),
            ("tags/list", "NAME_UNKNOWN"),
            ("manifests/x", "NAME_INVALID"),
            ("a", "NAME_UNKNOWN"),
            ("a/b/c", "NAME_UNKNOWN"),
            ("_catalog/x", "NAME_UNKNOWN"),
        ];
        for (path, _code) in cases {
            assert!(Endpoint::parse(path).is_err(), "accepted {path}");
        }
    }

    #[test]
    fn invalid_tags_name_their_repository() {
        for tag in ["..", ".lead", "-lead", "t@g", "a b", "\0"] {
            let path = format!("a/b/manifests/{tag}");
            assert_eq!(Endpoint::parse(&path).unwrap_err().code, Code::TagInvalid);
            assert_eq!(
                invalid_tag_repository(&path).map(|n| n.as_str().to_owned()),
                Some("a/b".to_owned()),
                "{path}"
            );
        }
        // a valid tag, a digest-shaped reference, an invalid name, another endpoint
        for path in [
            "a/manifests/latest",
            "a/manifests/sha256:xyz",
            "A/manifests/..",
            "a/tags/..",
            "manifests/..",
        ] {
            assert_eq!(invalid_tag_repository(path), None, "{path}");
        }
        // the repository name is checked before the reference
        let e = Endpoint::parse("A/manifests/..").unwrap_err();
        assert_eq!(e.code, Code::NameInvalid);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,200}") {
            let _ = Endpoint::parse(&s);
        }
        #[test]
        fn never_panics_on_pathlike(s in "([a-z.]{0,3}|manifests|blobs|uploads|tags|list|referrers|sha256:[a-f0-9]{0,64})(/([a-z.]{0,3}|manifests|blobs|uploads|tags|list|referrers)){0,6}") {
            if let Ok(e) = Endpoint::parse(&s) {
                if let Some(n) = e.repository() {
                    proptest::prop_assert!(!n.as_str().contains(".."));
                }
            }
        }
    }
}
