//! Fuzz `berth::oci::manifest::parse(content_type, bytes)`.
//!
//! Input layout: the first byte selects the Content-Type (see `split`), the rest is the body.
//! Besides "never panics", every accepted manifest is checked against the invariants the
//! registry relies on when it stores and indexes it.

use berth::oci::manifest::{self, Descriptor, Kind, Manifest};
use berth::oci::{Algorithm, Digest};

/// Content types the selector byte can pick without spending input on them.
const KNOWN: [&str; 9] = [
    manifest::OCI_MANIFEST,
    manifest::OCI_INDEX,
    manifest::DOCKER_MANIFEST,
    manifest::DOCKER_LIST,
    manifest::DOCKER_SCHEMA1,
    manifest::DOCKER_SCHEMA1_SIGNED,
    "application/vnd.oci.image.manifest.v1+json; charset=utf-8",
    "APPLICATION/VND.OCI.IMAGE.INDEX.V1+JSON",
    "application/json",
];

/// Selector `s = data[0] % 16`:
/// - 0..=8: one of `KNOWN`;
/// - 9: `None`;
/// - 10: `Some("")`;
/// - 11..=15: an arbitrary content type taken from the data: `data[1]` is its length
///   (clamped), the bytes after it are the content type (lossy UTF-8), the rest the body.
fn split(data: &[u8]) -> Option<(Option<String>, &[u8])> {
    let (&sel, rest) = data.split_first()?;
    Some(match sel % 16 {
        s @ 0..=8 => (Some(KNOWN[s as usize].to_owned()), rest),
        9 => (None, rest),
        10 => (Some(String::new()), rest),
        _ => {
            let (&len, rest) = rest.split_first()?;
            let len = (len as usize).min(rest.len());
            let (ct, body) = rest.split_at(len);
            (Some(String::from_utf8_lossy(ct).into_owned()), body)
        }
    })
}

fn check_descriptor(d: &Descriptor, what: &str) {
    let s = d.digest.to_string();
    let back: Digest = s
        .parse()
        .unwrap_or_else(|e| panic!("{what}: digest {s:?} does not re-parse: {e}"));
    assert_eq!(
        back, d.digest,
        "{what}: digest round-trip changed the value"
    );
    assert_eq!(
        back.to_string(),
        s,
        "{what}: digest round-trip changed the text"
    );
    let want_len = match d.digest.algorithm() {
        Algorithm::Sha256 => 64,
        Algorithm::Sha512 => 128,
    };
    assert_eq!(d.digest.hex().len(), want_len, "{what}: digest hex length");
    assert!(
        manifest::valid_media_type(&d.media_type),
        "{what}: accepted descriptor mediaType {:?}",
        d.media_type
    );
    let _ = d.is_external();
}

fn check(ct: Option<&str>, m: &Manifest) {
    let want_kind = match m.media_type.as_str() {
        manifest::OCI_MANIFEST | manifest::DOCKER_MANIFEST => Kind::Image,
        manifest::OCI_INDEX | manifest::DOCKER_LIST => Kind::Index,
        other => panic!("accepted unsupported media type {other:?}"),
    };
    assert_eq!(
        m.kind, want_kind,
        "kind does not match media type {:?}",
        m.media_type
    );
    assert!(manifest::SUPPORTED.contains(&m.media_type.as_str()));

    // A non-empty Content-Type essence is authoritative.
    if let Some(c) = ct.map(manifest::essence).filter(|c| !c.is_empty()) {
        assert_eq!(
            m.media_type, c,
            "media type differs from Content-Type {ct:?}"
        );
    }

    match m.kind {
        Kind::Image => {
            assert!(m.config.is_some(), "image manifest without config");
            assert!(
                m.manifests.is_empty(),
                "image manifest with a manifests list"
            );
        }
        Kind::Index => {
            assert!(m.config.is_none(), "index with a config");
            assert!(m.layers.is_empty(), "index with layers");
        }
    }

    if let Some(c) = &m.config {
        check_descriptor(c, "config");
    }
    for (i, d) in m.layers.iter().enumerate() {
        check_descriptor(d, &format!("layers[{i}]"));
    }
    for (i, d) in m.manifests.iter().enumerate() {
        check_descriptor(d, &format!("manifests[{i}]"));
    }
    if let Some(s) = &m.subject {
        check_descriptor(s, "subject");
    }
    if let Some(a) = &m.artifact_type {
        assert!(manifest::valid_media_type(a), "accepted artifactType {a:?}");
    }
    if let Some(a) = &m.annotations {
        // Stored as JSON text: must be a non-empty object of strings.
        let v: std::collections::BTreeMap<String, String> = serde_json::from_str(a)
            .unwrap_or_else(|e| panic!("annotations {a:?} are not a JSON string map: {e}"));
        assert!(!v.is_empty(), "empty annotations stored as {a:?}");
    }
    let required = m.required_blobs().count();
    assert!(required <= 1 + m.layers.len());
    let _ = m.effective_artifact_type();
}

/// The target: check `data` (panics on a violated invariant).
pub fn run(data: &[u8]) {
    let Some((ct, body)) = split(data) else {
        return;
    };
    let ct = ct.as_deref();
    let Ok(m) = manifest::parse(ct, body) else {
        return;
    };
    check(ct, &m);
    // Parsing is a pure function of its input.
    assert_eq!(
        manifest::parse(ct, body).as_ref(),
        Ok(&m),
        "parse is not deterministic"
    );
}
