//! `GET`/`HEAD /download/<token>`: the URLs GetDownloadUrlForLayer hands out (when the blob
//! store does not presign its own). They speak the `/v2` blob download, ranges included.

use crate::auth::{Action, Resource};
use crate::http::auth::ClientAddr;
use crate::http::distribution::error::{Code, OciError};
use crate::http::distribution::{get_blob, unsupported};
use crate::http::AppState;
use crate::oci::Digest;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};

/// `GET`/`HEAD /download/<token>`: a `GetDownloadUrlForLayer` URL, fetched with no other
/// credentials. The token names one blob of one repository and stands for the caller who asked
/// for the URL, whose permission is evaluated again now (a key disabled or a policy changed
/// since ends the URL too). Range requests work as on `/v2`.
pub async fn download(
    State(st): State<AppState>,
    ClientAddr(ip): ClientAddr,
    method: Method,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        if method != Method::GET && method != Method::HEAD {
            return Err(unsupported(&method));
        }
        let (caller, name, blob) = st.auth.download_caller(&token, ip).map_err(|f| match f {
            crate::auth::AuthFailure::RateLimited(_) | crate::auth::AuthFailure::Unavailable => {
                crate::http::auth::failure(&st.auth, &headers, f)
            }
            other => OciError::new(Code::Denied, other.to_string()),
        })?;
        crate::http::access_log::record(&caller);
        let digest: Digest = blob
            .parse()
            .map_err(|_| OciError::new(Code::Denied, "the download URL is not valid"))?;
        let action = Action::GetDownloadUrlForLayer;
        let resource = Resource::Repository(&name);
        if let crate::auth::Decision::Deny(d) = st.auth.authorize(&caller, action, resource) {
            return Err(OciError::new(
                Code::Denied,
                crate::http::auth::denied_message(&st.auth, &caller, action, resource, d),
            ));
        }
        get_blob(
            &st.registry,
            &name,
            &digest,
            &headers,
            method == Method::HEAD,
        )
        .await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}
