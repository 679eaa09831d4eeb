//! Blob downloads: HEAD/GET with a single `Range` (206/416), or a redirect to the blob store.

use super::*;

pub(crate) async fn get_blob(
    reg: &Registry,
    name: &RepositoryName,
    d: &Digest,
    h: &HeaderMap,
    head: bool,
) -> Result<Response> {
    let blob = reg.stat_blob(name, d).await?;
    let size = blob.size;
    if !head {
        // Offloading downloads to the object store: the client follows the redirect and
        // sends its Range header there.
        if let Some(url) = reg.blob_redirect(&blob).await? {
            let mut resp = StatusCode::TEMPORARY_REDIRECT.into_response();
            set(&mut resp, header::LOCATION, &url);
            set(&mut resp, CONTENT_DIGEST, &d.to_string());
            return Ok(resp);
        }
    }
    let range = match header_str(h, &header::RANGE) {
        Some(v) => match range::parse(v, size) {
            Ok(r) => r,
            Err(range::Unsatisfiable) => {
                let mut resp = OciError::new(Code::RangeInvalid, "requested range not satisfiable")
                    .into_response();
                set(&mut resp, header::CONTENT_RANGE, &format!("bytes */{size}"));
                return Ok(resp);
            }
        },
        None => None,
    };
    let digest = d.to_string();
    let (status, len) = match &range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.end - r.start),
        None => (StatusCode::OK, size),
    };
    let mut resp = if head {
        status.into_response()
    } else {
        // The size is known from metadata: always ask storage for an explicit range.
        let stream = reg
            .get_blob(name, d, &blob, range.clone().unwrap_or(0..size))
            .await?;
        (status, Body::from_stream(stream)).into_response()
    };
    if let Some(r) = &range {
        set(
            &mut resp,
            header::CONTENT_RANGE,
            &format!("bytes {}-{}/{size}", r.start, r.end - 1),
        );
    }
    set(&mut resp, header::CONTENT_LENGTH, &len.to_string());
    set(&mut resp, header::CONTENT_TYPE, "application/octet-stream");
    set(&mut resp, header::ACCEPT_RANGES, "bytes");
    set(&mut resp, CONTENT_DIGEST, &digest);
    set(&mut resp, header::ETAG, &format!("\"{digest}\""));
    set(&mut resp, header::CACHE_CONTROL, "max-age=31536000");
    Ok(resp)
}
