//! The OCI Distribution API (`/v2`): request parsing, authorization, and responses.
//! Semantics live in the registry layer; this module only speaks HTTP.

mod blobs;
pub mod endpoint;
pub mod error;
mod listings;
mod manifests;
pub mod range;
mod uploads;

pub(crate) use blobs::get_blob;
use listings::{catalog, referrers, tags};
use manifests::{get_manifest, put_manifest};
use uploads::{start_upload, upload};

use crate::auth::{Action, Resource};
use crate::http::auth::{scope_for, ClientAddr, Who};
use crate::http::AppState;
use crate::oci::{manifest, Algorithm, Digest, Reference, RepositoryName, Tag};
use crate::registry::{MissingRepository, Registry, RegistryError};
use crate::storage::ByteStream;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use endpoint::Endpoint;
use error::{Code, OciError};
use futures_util::TryStreamExt;
use http_body_util::BodyExt;
use tracing::Instrument;

pub const API_VERSION: HeaderName = HeaderName::from_static("docker-distribution-api-version");
const CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");
const UPLOAD_UUID: HeaderName = HeaderName::from_static("docker-upload-uuid");
const CHUNK_MIN: HeaderName = HeaderName::from_static("oci-chunk-min-length");
const OCI_SUBJECT: HeaderName = HeaderName::from_static("oci-subject");
const FILTERS_APPLIED: HeaderName = HeaderName::from_static("oci-filters-applied");

/// Default and largest page for tag and catalog listings.
const DEFAULT_PAGE: u32 = 1000;
const MAX_PAGE: u32 = 10_000;

type Result<T> = std::result::Result<T, OciError>;

/// `Range: 0-<last byte>` as upload responses report progress.
pub fn range_header(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: Option<String>) -> Query {
        Query(
            raw.map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default(),
        )
    }
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn body_stream(body: Body) -> ByteStream {
    Box::pin(TryStreamExt::map_err(
        body.into_data_stream(),
        std::io::Error::other,
    ))
}

fn header_str<'a>(h: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn content_length(h: &HeaderMap) -> Option<u64> {
    header_str(h, &header::CONTENT_LENGTH).and_then(|v| v.trim().parse().ok())
}

/// Is there a request body at all? (`Content-Length: 0` or neither length nor chunking.)
fn has_body(h: &HeaderMap) -> bool {
    match content_length(h) {
        Some(n) => n > 0,
        None => h.contains_key(header::TRANSFER_ENCODING),
    }
}

fn check(who: &Who<'_>, action: Action, resource: Resource<'_>) -> Result<()> {
    who.check(action, resource)
}

pub(crate) fn unsupported(method: &Method) -> OciError {
    OciError::new(
        Code::Unsupported,
        format!("method {method} is not supported on this endpoint"),
    )
}

/// `n` and `last` of a listing. Any non-negative integer `n` is accepted and capped at
/// `MAX_PAGE`, however many digits it has; anything else is `PAGINATION_NUMBER_INVALID`.
fn page(q: &Query) -> Result<(Option<String>, u32)> {
    let n = match q.get("n") {
        None => DEFAULT_PAGE,
        Some(v) if !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit()) => {
            // Only digits: parsing fails only when the number exceeds u32, i.e. the cap.
            v.parse::<u32>().map_or(MAX_PAGE, |n| n.min(MAX_PAGE))
        }
        Some(_) => {
            return Err(OciError::new(
                Code::PaginationNumberInvalid,
                "n must be a non-negative integer",
            ))
        }
    };
    Ok((q.get("last").map(str::to_owned), n))
}

fn link_next(path: &str, n: u32, last: &str) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("n", &n.to_string())
        .append_pair("last", last)
        .finish();
    format!("<{path}?{q}>; rel=\"next\"")
}

fn json_response(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response {
    let mut r = (status, body).into_response();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

fn set(r: &mut Response, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

pub async fn base() -> Response {
    let mut r = json_response(StatusCode::OK, "application/json", b"{}".to_vec());
    r.headers_mut()
        .insert(API_VERSION, HeaderValue::from_static("registry/2.0"));
    r
}

/// `/v2/`: the API version check, and its error for other methods. Without credentials (when
/// authentication is on) it answers 401 with the challenge: that is how clients discover the
/// token service.
pub async fn base_any(
    State(st): State<AppState>,
    ClientAddr(ip): ClientAddr,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let mut r = if method != Method::GET && method != Method::HEAD {
        unsupported(&method).into_response()
    } else if !st.auth.enabled() {
        base().await
    } else {
        match crate::http::auth::authenticate(&st.auth, &headers, ip) {
            Ok((_, true)) => base().await,
            Ok((_, false)) => crate::http::auth::challenge(
                &st.auth,
                &crate::http::auth::realm(&st.auth, &headers),
                None,
                None,
                "authentication required",
            )
            .into_response(),
            Err(f) => crate::http::auth::failure(&st.auth, &headers, f).into_response(),
        }
    };
    r.headers_mut()
        .insert(API_VERSION, HeaderValue::from_static("registry/2.0"));
    r
}

/// The one `/v2/<rest>` handler.
#[allow(clippy::too_many_arguments)]
pub async fn dispatch(
    State(st): State<AppState>,
    ClientAddr(ip): ClientAddr,
    method: Method,
    rest: std::result::Result<Path<String>, axum::extract::rejection::PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // The body stays here until a handler takes it, so that a request refused before its
    // body was read can be drained (see `drain`).
    let mut body = Some(body);
    let result = match crate::http::auth::authenticate(&st.auth, &headers, ip) {
        Err(f) => Err(crate::http::auth::failure(&st.auth, &headers, f)),
        Ok((caller, presented)) => {
            let who = Who {
                auth: &st.auth,
                caller,
                presented,
                headers: &headers,
            };
            let parsed = match rest {
                Ok(Path(rest)) => {
                    Endpoint::parse(&rest).map_err(|e| refused_path(&who, &method, &rest, e))
                }
                Err(_) => Err(OciError::new(
                    Code::NameInvalid,
                    "the path is not valid percent-encoded UTF-8",
                )),
            };
            match parsed {
                Ok(ep) => {
                    let span = tracing::info_span!("v2", endpoint = ep.name());
                    handle(
                        &st.registry,
                        &who,
                        method,
                        ep,
                        Query::parse(query),
                        &headers,
                        &mut body,
                    )
                    .instrument(span)
                    .await
                }
                Err(e) => Err(e),
            }
        }
    };
    if result.is_err() {
        if let Some(b) = body.take() {
            drain(b).await;
        }
    }
    let mut resp = result.unwrap_or_else(IntoResponse::into_response);
    resp.headers_mut()
        .insert(API_VERSION, HeaderValue::from_static("registry/2.0"));
    resp
}

/// The answer to a path `Endpoint::parse` refused. A manifest reference that is not a valid tag
/// names no manifest: `GET` and `HEAD` answer `404 MANIFEST_UNKNOWN` to a caller who may read
/// the repository (as distribution answers, and the conformance suites expect); other methods
/// keep `400 TAG_INVALID`.
fn refused_path(who: &Who<'_>, method: &Method, rest: &str, e: OciError) -> OciError {
    if e.code == Code::TagInvalid && (*method == Method::GET || *method == Method::HEAD) {
        if let Some(name) = endpoint::invalid_tag_repository(rest) {
            return match check(who, Action::BatchGetImage, Resource::Repository(&name)) {
                Err(denied) => denied,
                Ok(()) => OciError::new(Code::ManifestUnknown, "manifest unknown to registry"),
            };
        }
    }
    e
}

/// Read and discard what is left of a refused request's body, up to a bound. Closing the
/// connection on unread data instead makes TCP reset it, and a client still sending then loses
/// the error response itself (it sees the connection drop, not the 401/403/400).
async fn drain(body: Body) {
    const LIMIT: usize = 64 * 1024 * 1024;
    let limited = http_body_util::Limited::new(body, LIMIT);
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), limited.collect());
    if read.await.is_err() {
        tracing::debug!("gave up draining a refused request's body");
    }
}

/// The request body, for the handler that consumes it.
fn take(slot: &mut Option<Body>) -> Body {
    slot.take().unwrap_or_default()
}

async fn handle(
    reg: &Registry,
    who: &Who<'_>,
    method: Method,
    ep: Endpoint,
    q: Query,
    h: &HeaderMap,
    body: &mut Option<Body>,
) -> Result<Response> {
    let head = method == Method::HEAD;
    match (ep, method.clone()) {
        (Endpoint::Base, Method::GET | Method::HEAD) => Ok(base().await),
        (Endpoint::Catalog, Method::GET) => catalog(reg, who, &q).await,
        (Endpoint::Tags(name), Method::GET) => {
            check(who, Action::ListImages, Resource::Repository(&name))?;
            tags(reg, &name, &q).await
        }
        (Endpoint::Manifest(name, r), Method::GET | Method::HEAD) => {
            check(who, Action::BatchGetImage, Resource::Repository(&name))?;
            get_manifest(reg, &name, &r, h, head).await
        }
        (Endpoint::Manifest(name, r), Method::PUT) => {
            check(who, Action::PutImage, Resource::Repository(&name))?;
            let missing = push_target(reg, who, &name).await?;
            put_manifest(reg, &name, &r, &q, h, body, missing).await
        }
        (Endpoint::Manifest(name, r), Method::DELETE) => {
            check(who, Action::BatchDeleteImage, Resource::Repository(&name))?;
            reg.delete_manifest(&name, &r).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        (Endpoint::Blob(name, d), Method::HEAD) => {
            check(
                who,
                Action::BatchCheckLayerAvailability,
                Resource::Repository(&name),
            )?;
            get_blob(reg, &name, &d, h, true).await
        }
        (Endpoint::Blob(name, d), Method::GET) => {
            check(
                who,
                Action::GetDownloadUrlForLayer,
                Resource::Repository(&name),
            )?;
            get_blob(reg, &name, &d, h, false).await
        }
        (Endpoint::Blob(name, d), Method::DELETE) => {
            check(who, Action::BatchDeleteImage, Resource::Repository(&name))?;
            reg.delete_blob(&name, &d).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        (Endpoint::UploadStart(name), Method::POST) => {
            who.check_scoped(
                Action::InitiateLayerUpload,
                Resource::Repository(&name),
                &upload_start_scope(&name, &q),
            )?;
            start_upload(reg, who, &name, &q, h, body).await
        }
        (Endpoint::Upload(name, id), m) => {
            let id = parse_upload_id(&id)?;
            upload(reg, who, &name, &id, m, &q, h, body).await
        }
        (Endpoint::Referrers(name, d), Method::GET) => {
            check(who, Action::BatchGetImage, Resource::Repository(&name))?;
            referrers(reg, &name, &d, &q).await
        }
        (_, m) => Err(unsupported(&m)),
    }
}

/// What a push does about its repository. An existing one is written to, and a push racing
/// its deletion fails rather than bringing it back. A missing one: with create-on-push off,
/// `NAME_UNKNOWN` saying how to create it; on, the push creates it, if the caller may
/// `ecr:CreateRepository` on it (else `403 DENIED`, as ECR words it).
async fn push_target(
    reg: &Registry,
    who: &Who<'_>,
    name: &RepositoryName,
) -> Result<MissingRepository> {
    let missing = reg
        .push_creation(name)
        .await
        .map_err(|e| push_error(name, e))?;
    if missing == MissingRepository::Create {
        check(who, Action::CreateRepository, Resource::Repository(name))?;
    }
    Ok(missing)
}

/// A push's registry error; a repository that does not exist (create-on-push is off, or it
/// was deleted during the push) gets a message that says how to create one.
fn push_error(name: &RepositoryName, e: RegistryError) -> OciError {
    match e {
        RegistryError::NameUnknown => OciError::new(
            Code::NameUnknown,
            format!(
                "repository {name} does not exist and this push may not create it; create it \
                 first (aws ecr create-repository --repository-name {name}), then push again"
            ),
        ),
        other => other.into(),
    }
}

/// The scopes a blob upload start needs: push on the repository and, for a mount from
/// another repository, pull on that source (as distribution challenges), so that a client
/// asking for exactly the challenged scopes gets a token the mount works with.
fn upload_start_scope(name: &RepositoryName, q: &Query) -> String {
    let mut scope = scope_for(Action::InitiateLayerUpload, Resource::Repository(name));
    let from = q
        .get("mount")
        .and(q.get("from"))
        .and_then(|f| f.parse::<RepositoryName>().ok());
    if let Some(from) = from.filter(|f| f != name) {
        scope.push(' ');
        scope.push_str(&scope_for(
            Action::BatchGetImage,
            Resource::Repository(&from),
        ));
    }
    scope
}

fn parse_upload_id(id: &str) -> Result<String> {
    uuid::Uuid::parse_str(id)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| OciError::new(Code::BlobUploadUnknown, "blob upload unknown to registry"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(query: &str) -> std::result::Result<u32, Code> {
        page(&Query::parse(Some(query.to_owned())))
            .map(|(_, n)| n)
            .map_err(|e| e.code)
    }

    #[test]
    fn page_size_defaults_and_caps() {
        assert_eq!(n(""), Ok(DEFAULT_PAGE));
        assert_eq!(n("last=x"), Ok(DEFAULT_PAGE));
        assert_eq!(n("n=0"), Ok(0));
        assert_eq!(n("n=7"), Ok(7));
        assert_eq!(n("n=10000"), Ok(MAX_PAGE));
        assert_eq!(n("n=10001"), Ok(MAX_PAGE));
        assert_eq!(n("n=4294967296"), Ok(MAX_PAGE));
        assert_eq!(n("n=99999999999999999999999"), Ok(MAX_PAGE));
        for bad in ["n=", "n=-1", "n=+5", "n=1.5", "n=abc", "n=%201"] {
            assert_eq!(n(bad), Err(Code::PaginationNumberInvalid), "{bad}");
        }
    }
}
