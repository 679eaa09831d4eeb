//! Manifests: GET/HEAD with content negotiation, PUT within the size limit.

use super::*;

/// Does the request's Accept admit `media_type`? No Accept (or a wildcard) admits everything.
pub(super) fn accepts(h: &HeaderMap, media_type: &str) -> bool {
    let mut any = false;
    for v in h.get_all(header::ACCEPT) {
        let Ok(v) = v.to_str() else { continue };
        for item in v.split(',') {
            let e = manifest::essence(item);
            if e.is_empty() {
                continue;
            }
            any = true;
            if e == media_type || e == "*/*" || e == "application/*" {
                return true;
            }
        }
    }
    !any
}

pub(super) async fn get_manifest(
    reg: &Registry,
    name: &RepositoryName,
    r: &Reference,
    h: &HeaderMap,
    head: bool,
) -> Result<Response> {
    let m = reg.get_manifest(name, r).await?;
    if !accepts(h, &m.media_type) {
        return Err(OciError::new(
            Code::ManifestUnknown,
            format!(
                "manifest is {} which the request does not accept",
                m.media_type
            ),
        ));
    }
    let digest = m.digest.to_string();
    let etag = format!("\"{digest}\"");
    let not_modified = header_str(h, &header::IF_NONE_MATCH)
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let len = m.content.len();
    if !head {
        reg.record_pull(name, &m.digest);
    }
    let mut resp = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else if head {
        StatusCode::OK.into_response()
    } else {
        (StatusCode::OK, m.content).into_response()
    };
    set(&mut resp, header::CONTENT_TYPE, &m.media_type);
    set(&mut resp, header::CONTENT_LENGTH, &len.to_string());
    set(&mut resp, CONTENT_DIGEST, &digest);
    set(&mut resp, header::ETAG, &etag);
    Ok(resp)
}

pub(super) async fn read_limited(body: Body, limit: usize) -> Result<Vec<u8>> {
    let limited = http_body_util::Limited::new(body, limit + 1);
    match limited.collect().await {
        Ok(c) => {
            let b = c.to_bytes();
            if b.len() > limit {
                Err(too_large(limit))
            } else {
                Ok(b.to_vec())
            }
        }
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large(limit)),
        Err(e) => Err(OciError::new(
            Code::ManifestInvalid,
            format!("failed to read the request body: {e}"),
        )),
    }
}

pub(super) fn too_large(limit: usize) -> OciError {
    OciError::new(
        Code::SizeInvalid,
        format!("manifest is larger than the {limit}-byte limit"),
    )
    .with_status(StatusCode::PAYLOAD_TOO_LARGE)
}

pub(super) async fn put_manifest(
    reg: &Registry,
    name: &RepositoryName,
    r: &Reference,
    q: &Query,
    h: &HeaderMap,
    body: &mut Option<Body>,
    missing: MissingRepository,
) -> Result<Response> {
    let limit = reg.options.max_manifest_bytes;
    if content_length(h).is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let extra: Vec<Tag> = q
        .all("tag")
        .map(|t| {
            t.parse().map_err(|e: crate::oci::name::TagError| {
                OciError::new(Code::TagInvalid, e.to_string())
            })
        })
        .collect::<Result<_>>()?;
    let content = read_limited(take(body), limit).await?;
    let ct = header_str(h, &header::CONTENT_TYPE);
    let out = reg
        .put_manifest(name, r, &extra, ct, &content, missing)
        .await
        .map_err(|e| push_error(name, e))?;
    let digest = out.digest.to_string();
    let mut resp = StatusCode::CREATED.into_response();
    set(
        &mut resp,
        header::LOCATION,
        &format!("/v2/{name}/manifests/{digest}"),
    );
    set(&mut resp, CONTENT_DIGEST, &digest);
    if let Some(s) = out.subject {
        set(&mut resp, OCI_SUBJECT, &s.to_string());
    }
    Ok(resp)
}
