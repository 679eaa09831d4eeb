//! Manifest parsing: image manifests and indexes (OCI and Docker schema 2). The raw bytes are
//! kept by the caller; this module only extracts what the registry must check and index.

use super::digest::Digest;
use serde::Deserialize;
use std::collections::BTreeMap;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// Every manifest media type Berth stores.
pub const SUPPORTED: [&str; 4] = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is not valid JSON: {0}")]
    Json(String),
    #[error("manifest schemaVersion must be 2{0}")]
    SchemaVersion(&'static str),
    #[error("unsupported manifest media type {0:?}")]
    UnsupportedMediaType(String),
    #[error("manifest mediaType {field:?} does not match Content-Type {content_type:?}")]
    MediaTypeMismatch { field: String, content_type: String },
    #[error("cannot tell the manifest media type: set Content-Type or the mediaType field")]
    UnknownKind,
    #[error("{0}")]
    Invalid(String),
}

/// The part of a descriptor the registry uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub has_urls: bool,
}

impl Descriptor {
    /// Foreign/non-distributable layers with URLs are fetched elsewhere and need not be pushed.
    pub fn is_external(&self) -> bool {
        self.has_urls
            && (self.media_type.contains("nondistributable") || self.media_type.contains("foreign"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Image,
    Index,
}

/// A manifest as the registry sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub media_type: String,
    pub kind: Kind,
    pub config: Option<Descriptor>,
    pub layers: Vec<Descriptor>,
    pub manifests: Vec<Descriptor>,
    pub subject: Option<Descriptor>,
    pub artifact_type: Option<String>,
    /// The manifest's top-level annotations, as JSON text.
    pub annotations: Option<String>,
}

impl Manifest {
    /// Blobs that must be present in the repository before the manifest is accepted.
    pub fn required_blobs(&self) -> impl Iterator<Item = &Descriptor> {
        self.config
            .iter()
            .chain(self.layers.iter().filter(|d| !d.is_external()))
    }

    /// The artifact type reported by the referrers API.
    pub fn effective_artifact_type(&self) -> Option<&str> {
        self.artifact_type
            .as_deref()
            .or_else(|| self.config.as_ref().map(|c| c.media_type.as_str()))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<serde_json::Value>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<RawDescriptor>,
    layers: Option<Vec<RawDescriptor>>,
    manifests: Option<Vec<RawDescriptor>>,
    subject: Option<RawDescriptor>,
    annotations: Option<BTreeMap<String, String>>,
    // Schema 1 markers.
    fs_layers: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: Option<String>,
    digest: Option<String>,
    size: Option<serde_json::Value>,
    urls: Option<Vec<String>>,
}

fn descriptor(raw: RawDescriptor, field: &str) -> Result<Descriptor, ManifestError> {
    let bad = |why: String| ManifestError::Invalid(format!("{field}: {why}"));
    let media_type = raw
        .media_type
        .filter(|m| valid_media_type(m))
        .ok_or_else(|| bad("descriptor needs a valid mediaType".into()))?;
    let digest = raw
        .digest
        .ok_or_else(|| bad("descriptor needs a digest".into()))?
        .parse::<Digest>()
        .map_err(|e| bad(e.to_string()))?;
    let size = raw
        .size
        .as_ref()
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| bad("descriptor needs a non-negative integer size".into()))?;
    Ok(Descriptor {
        media_type,
        digest,
        size,
        has_urls: raw.urls.is_some_and(|u| !u.is_empty()),
    })
}

/// RFC 6838 `type/subtype` with optional parameters.
pub fn valid_media_type(m: &str) -> bool {
    let essence = m.split(';').next().unwrap_or("").trim();
    let Some((t, s)) = essence.split_once('/') else {
        return false;
    };
    let tok = |x: &str| {
        !x.is_empty()
            && x.len() <= 127
            && x.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    tok(t) && tok(s)
}

/// The media type essence of a Content-Type header value (parameters dropped, lowercased).
pub fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Parse manifest bytes sent with `content_type`.
pub fn parse(content_type: Option<&str>, bytes: &[u8]) -> Result<Manifest, ManifestError> {
    let ct = content_type.map(essence).filter(|c| !c.is_empty());
    if let Some(c) = ct.as_deref() {
        if c == DOCKER_SCHEMA1 || c == DOCKER_SCHEMA1_SIGNED {
            return Err(ManifestError::SchemaVersion(
                ": Docker schema 1 manifests are not supported",
            ));
        }
    }
    let raw: RawManifest =
        serde_json::from_slice(bytes).map_err(|e| ManifestError::Json(e.to_string()))?;
    if raw.fs_layers.is_some() {
        return Err(ManifestError::SchemaVersion(
            ": Docker schema 1 manifests are not supported",
        ));
    }
    match raw
        .schema_version
        .as_ref()
        .and_then(serde_json::Value::as_i64)
    {
        Some(2) => {}
        _ => return Err(ManifestError::SchemaVersion("")),
    }
    let media_type = match (ct, raw.media_type.as_deref()) {
        (Some(c), Some(f)) if c != f => {
            return Err(ManifestError::MediaTypeMismatch {
                field: f.to_owned(),
                content_type: c,
            })
        }
        (Some(c), _) => c,
        (None, Some(f)) => f.to_owned(),
        (None, None) if raw.manifests.is_some() => OCI_INDEX.to_owned(),
        (None, None) if raw.config.is_some() => OCI_MANIFEST.to_owned(),
        (None, None) => return Err(ManifestError::UnknownKind),
    };
    let kind = match media_type.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => Kind::Image,
        OCI_INDEX | DOCKER_LIST => Kind::Index,
        other => return Err(ManifestError::UnsupportedMediaType(other.to_owned())),
    };
    if let Some(a) = &raw.artifact_type {
        if !valid_media_type(a) {
            return Err(ManifestError::Invalid(format!(
                "artifactType {a:?} is not a valid media type"
            )));
        }
    }
    let list =
        |v: Option<Vec<RawDescriptor>>, field: &str| -> Result<Vec<Descriptor>, ManifestError> {
            v.unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(i, d)| descriptor(d, &format!("{field}[{i}]")))
                .collect()
        };
    let (config, layers, manifests) = match kind {
        Kind::Image => {
            if raw.manifests.is_some() {
                return Err(ManifestError::Invalid(
                    "an image manifest must not have a manifests list".into(),
                ));
            }
            let config = raw
                .config
                .ok_or_else(|| ManifestError::Invalid("image manifest needs a config".into()))?;
            if media_type == DOCKER_MANIFEST && raw.layers.is_none() {
                return Err(ManifestError::Invalid(
                    "manifest needs a layers list".into(),
                ));
            }
            (
                Some(descriptor(config, "config")?),
                list(raw.layers, "layers")?,
                Vec::new(),
            )
        }
        Kind::Index => {
            if raw.config.is_some() || raw.layers.is_some() {
                return Err(ManifestError::Invalid(
                    "an index must not have config or layers".into(),
                ));
            }
            let manifests = raw
                .manifests
                .ok_or_else(|| ManifestError::Invalid("index needs a manifests list".into()))?;
            (None, Vec::new(), list(Some(manifests), "manifests")?)
        }
    };
    let subject = raw.subject.map(|s| descriptor(s, "subject")).transpose()?;
    let annotations = match raw.annotations {
        Some(a) if !a.is_empty() => {
            Some(serde_json::to_string(&a).map_err(|e| ManifestError::Json(e.to_string()))?)
        }
        _ => None,
    };
    Ok(Manifest {
        media_type,
        kind,
        config,
        layers,
        manifests,
        subject,
        artifact_type: raw.artifact_type,
        annotations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> String {
        format!("sha256:{}", hex::encode([n; 32]))
    }

    fn image(extra: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":7}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":32}}]{extra}}}"#,
            d(1),
            d(2)
        )
    }

    #[test]
    fn parses_image_manifest() {
        let m = parse(Some(OCI_MANIFEST), image("").as_bytes()).unwrap();
        assert_eq!(m.kind, Kind::Image);
        assert_eq!(m.required_blobs().count(), 2);
        assert_eq!(
            m.effective_artifact_type(),
            Some("application/vnd.oci.image.config.v1+json")
        );
        let with_subject = image(&format!(
            r#","subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":3}},"artifactType":"application/x.sbom","annotations":{{"a":"b"}}"#,
            d(3)
        ));
        let m = parse(None, with_subject.as_bytes()).unwrap();
        assert_eq!(m.subject.as_ref().unwrap().digest.to_string(), d(3));
        assert_eq!(m.effective_artifact_type(), Some("application/x.sbom"));
        assert_eq!(m.annotations.as_deref(), Some(r#"{"a":"b"}"#));
    }

    #[test]
    fn parses_index_and_infers_kind() {
        let idx = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":10,"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#,
            d(4)
        );
        let m = parse(None, idx.as_bytes()).unwrap();
        assert_eq!(m.media_type, OCI_INDEX);
        assert_eq!(m.manifests.len(), 1);
        let m = parse(Some(DOCKER_LIST), idx.as_bytes()).unwrap();
        assert_eq!(m.kind, Kind::Index);
        assert_eq!(m.media_type, DOCKER_LIST);
    }

    #[test]
    fn content_type_parameters_are_ignored() {
        let ct = format!("{OCI_MANIFEST}; charset=utf-8");
        assert!(parse(Some(&ct), image("").as_bytes()).is_ok());
    }

    #[test]
    fn rejects_hostile_manifests() {
        let bad_digest = image("").replace(&d(2), "sha256:../../etc/passwd");
        let neg_size = image("").replace("\"size\":32", "\"size\":-1");
        let float_size = image("").replace("\"size\":32", "\"size\":1.5");
        let no_media = image("").replace(
            "\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",",
            "",
        );
        let cases: Vec<(Option<&str>, String)> = vec![
            (Some(OCI_MANIFEST), String::new()),
            (Some(OCI_MANIFEST), "null".into()),
            (Some(OCI_MANIFEST), "[]".into()),
            (Some(OCI_MANIFEST), "{".into()),
            (Some(OCI_MANIFEST), r#"{"schemaVersion":1}"#.into()),
            (Some(OCI_MANIFEST), r#"{"schemaVersion":"2"}"#.into()),
            (Some(OCI_MANIFEST), r#"{"schemaVersion":2}"#.into()),
            (Some(OCI_INDEX), image("")),
            (Some(DOCKER_MANIFEST), image("")),
            (Some("text/plain"), image("")),
            (Some(DOCKER_SCHEMA1_SIGNED), image("")),
            (None, r#"{"schemaVersion":2}"#.into()),
            (None, r#"{"schemaVersion":1,"fsLayers":[]}"#.into()),
            (Some(OCI_MANIFEST), bad_digest),
            (Some(OCI_MANIFEST), neg_size),
            (Some(OCI_MANIFEST), float_size),
            (Some(OCI_MANIFEST), no_media),
            (Some(OCI_MANIFEST), image(r#","manifests":[]"#)),
            (Some(OCI_MANIFEST), image(r#","artifactType":"nonsense""#)),
            (Some(OCI_MANIFEST), image(r#","subject":{}"#)),
            (Some(OCI_MANIFEST), "\u{feff}{}".into()),
        ];
        for (ct, body) in cases {
            assert!(
                parse(ct, body.as_bytes()).is_err(),
                "accepted {ct:?} {body}"
            );
        }
    }

    #[test]
    fn media_types() {
        assert!(valid_media_type(
            "application/vnd.oci.image.manifest.v1+json"
        ));
        assert!(valid_media_type("text/plain; charset=utf-8"));
        for m in ["", "a", "/b", "a/", "a b/c", "a/b/c"] {
            assert!(!valid_media_type(m), "accepted {m:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(ct in proptest::option::of("\\PC{0,60}"), body in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = parse(ct.as_deref(), &body);
        }
        #[test]
        fn parse_never_panics_on_jsonish(body in "\\{\"schemaVersion\":2,(\"mediaType\":\"[a-z./+]{0,50}\",)?(\"config\":\\{[\"a-zA-Z:0-9,]{0,80}\\},)?\"layers\":\\[\\]\\}") {
            let _ = parse(None, body.as_bytes());
        }
    }
}
