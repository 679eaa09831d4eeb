//! Uploads: start (monolithic, mount with or without `from`), chunks, finish, status, cancel.

use super::*;

pub(super) fn blob_created(name: &RepositoryName, d: &Digest) -> Response {
    let mut resp = StatusCode::CREATED.into_response();
    set(
        &mut resp,
        header::LOCATION,
        &format!("/v2/{name}/blobs/{d}"),
    );
    set(&mut resp, CONTENT_DIGEST, &d.to_string());
    resp
}

pub(super) fn upload_accepted(
    status: StatusCode,
    name: &RepositoryName,
    id: &str,
    size: u64,
) -> Response {
    let mut resp = status.into_response();
    set(
        &mut resp,
        header::LOCATION,
        &format!("/v2/{name}/blobs/uploads/{id}"),
    );
    set(&mut resp, header::RANGE, &range_header(size));
    set(&mut resp, UPLOAD_UUID, id);
    set(&mut resp, header::CONTENT_LENGTH, "0");
    resp
}

pub(super) fn digest_param(q: &Query) -> Result<Option<Digest>> {
    q.get("digest")
        .map(|d| {
            d.parse().map_err(|e: crate::oci::DigestError| {
                OciError::new(Code::DigestInvalid, e.to_string())
            })
        })
        .transpose()
}

pub(super) async fn start_upload(
    reg: &Registry,
    who: &Who<'_>,
    name: &RepositoryName,
    q: &Query,
    h: &HeaderMap,
    body: &mut Option<Body>,
) -> Result<Response> {
    let mount = q
        .get("mount")
        .map(|m| {
            m.parse::<Digest>().map_err(|e: crate::oci::DigestError| {
                OciError::new(Code::DigestInvalid, e.to_string())
            })
        })
        .transpose()?;
    let missing = push_target(reg, who, name).await?;
    if let Some(d) = mount {
        if mount_blob(reg, who, name, &d, q.get("from"), missing).await? {
            return Ok(blob_created(name, &d));
        }
        // Not mountable: fall back to a regular upload session.
    }
    if let Some(d) = digest_param(q)? {
        check(who, Action::UploadLayerPart, Resource::Repository(name))?;
        check(who, Action::CompleteLayerUpload, Resource::Repository(name))?;
        reg.put_blob(name, &d, body_stream(take(body)), missing)
            .await
            .map_err(|e| push_error(name, e))?;
        return Ok(blob_created(name, &d));
    }
    if has_body(h) {
        return Err(OciError::new(
            Code::BlobUploadInvalid,
            "a POST with a body needs ?digest= (monolithic upload)",
        ));
    }
    let algorithm = match q.get("digest-algorithm") {
        None => Algorithm::Sha256,
        Some(a) => a.parse().map_err(|e: crate::oci::DigestError| {
            OciError::new(Code::DigestInvalid, e.to_string())
        })?,
    };
    let status = reg.start_upload(name, algorithm).await?;
    let mut resp = upload_accepted(StatusCode::ACCEPTED, name, &status.id, 0);
    set(&mut resp, CHUNK_MIN, "0");
    Ok(resp)
}

/// A cross-repository mount, reading the blob from `from` or, without it (the specification
/// lets the registry pick), from the first repository holding it; either way only from a
/// repository the caller may pull from. False: nothing mounted, fall back to an upload.
pub(super) async fn mount_blob(
    reg: &Registry,
    who: &Who<'_>,
    name: &RepositoryName,
    d: &Digest,
    from: Option<&str>,
    missing: MissingRepository,
) -> Result<bool> {
    let may_read = |r: &RepositoryName| who.allows(Action::BatchGetImage, Resource::Repository(r));
    let mounted = match from.map(str::parse::<RepositoryName>) {
        Some(Ok(from)) if may_read(&from) => reg
            .mount_blob(name, &from, d, missing)
            .await
            .map(|m| m.is_some()),
        Some(_) => Ok(false),
        None => reg
            .mount_blob_from_any(name, d, may_read, missing)
            .await
            .map(|m| m.is_some()),
    };
    mounted.map_err(|e| push_error(name, e))
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn upload(
    reg: &Registry,
    who: &Who<'_>,
    name: &RepositoryName,
    id: &str,
    method: Method,
    q: &Query,
    h: &HeaderMap,
    body: &mut Option<Body>,
) -> Result<Response> {
    match method {
        Method::GET => {
            check(who, Action::UploadLayerPart, Resource::Repository(name))?;
            let s = reg.upload_status(name, id).await?;
            Ok(upload_accepted(StatusCode::NO_CONTENT, name, &s.id, s.size))
        }
        Method::PATCH => {
            check(who, Action::UploadLayerPart, Resource::Repository(name))?;
            // Appending writes no repository, but a push to one the caller may not create
            // stops at its first write.
            push_target(reg, who, name).await?;
            let range = content_range(h)?;
            match reg
                .append_upload(name, id, range, body_stream(take(body)))
                .await
            {
                Ok(s) => Ok(upload_accepted(StatusCode::ACCEPTED, name, &s.id, s.size)),
                Err(e) => Err(OciError::from(e)
                    .with_header(header::LOCATION, format!("/v2/{name}/blobs/uploads/{id}"))),
            }
        }
        Method::PUT => {
            check(who, Action::CompleteLayerUpload, Resource::Repository(name))?;
            let missing = push_target(reg, who, name).await?;
            let d = digest_param(q)?.ok_or_else(|| {
                OciError::new(
                    Code::DigestInvalid,
                    "PUT to finish an upload needs ?digest=",
                )
            })?;
            let range = content_range(h)?;
            let body = has_body(h).then(|| body_stream(take(body)));
            reg.finish_upload(name, id, &d, range, body, missing)
                .await
                .map_err(|e| push_error(name, e))?;
            Ok(blob_created(name, &d))
        }
        Method::DELETE => {
            check(who, Action::UploadLayerPart, Resource::Repository(name))?;
            reg.cancel_upload(name, id).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        m => Err(unsupported(&m)),
    }
}

pub(super) fn content_range(h: &HeaderMap) -> Result<Option<crate::registry::ChunkRange>> {
    match h.get(header::CONTENT_RANGE) {
        None => Ok(None),
        Some(v) => {
            let s = v.to_str().ok().and_then(range::parse_content_range);
            match s {
                Some((start, end)) => Ok(Some(crate::registry::ChunkRange { start, end })),
                None => Err(OciError::new(
                    Code::BlobUploadInvalid,
                    "malformed Content-Range; expected <start>-<end>",
                )),
            }
        }
    }
}
