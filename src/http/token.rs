//! The Docker token service: `GET /token` (Basic credentials or none, `scope` parameters,
//! `offline_token` for a refresh token) and `POST /token` (the OAuth2 form: `password` and
//! `refresh_token` grants), as docker, containerd, podman and skopeo call it.

use super::auth::{forwarded_https, retry_after, ClientAddr};
use super::AppState;
use crate::auth::scope::{Access, Scope};
use crate::auth::{time_iso8601, AuthFailure, Caller, Credentials};
use axum::extract::{RawForm, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

fn pairs(raw: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw).into_owned().collect()
}

fn get<'a>(p: &'a [(String, String)], key: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// An error in both the registry's (`errors`) and OAuth2's (`error`) shapes, so that either
/// kind of client reports the reason.
fn error(status: StatusCode, code: &str, oauth: &str, message: &str) -> Response {
    let body = json!({
        "errors": [{ "code": code, "message": message, "detail": null }],
        "error": oauth,
        "error_description": message,
    });
    (status, axum::Json(body)).into_response()
}

fn failure(f: AuthFailure) -> Response {
    match f {
        AuthFailure::RateLimited(d) => {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "TOOMANYREQUESTS",
                "slow_down",
                &f.to_string(),
            );
            if let Ok(v) = HeaderValue::from_str(&retry_after(d)) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        AuthFailure::Unavailable => {
            let mut r = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "temporarily_unavailable",
                &f.to_string(),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
        AuthFailure::Invalid(_) | AuthFailure::Expired => {
            let mut r = error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "invalid_grant",
                &f.to_string(),
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"berth\""),
            );
            r
        }
    }
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "token service failure");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "UNKNOWN",
        "server_error",
        "internal server error",
    )
}

/// A request naming another registry's service is a client misconfiguration, said plainly:
/// the answer to give, if so.
fn check_service(st: &AppState, service: Option<&str>) -> Option<Response> {
    match service {
        Some(s) if s != st.auth.settings().service => Some(error(
            StatusCode::BAD_REQUEST,
            "UNSUPPORTED",
            "invalid_request",
            &format!(
                "this token service issues tokens for service {:?}, not {s:?}",
                st.auth.settings().service
            ),
        )),
        _ => None,
    }
}

fn scope_string(access: &[Access]) -> String {
    access
        .iter()
        .map(|a| format!("{}:{}:{}", a.kind, a.name, a.actions.join(",")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Issue the token (and a refresh token when asked) and answer.
async fn grant(
    st: &AppState,
    caller: &Caller,
    scopes: &[Scope],
    refresh: Option<String>,
    want_refresh: bool,
) -> Response {
    super::access_log::record(caller);
    let issued = match st.auth.issue_token(caller, scopes) {
        Ok(t) => t,
        Err(e) => return internal(e),
    };
    let refresh_token = match refresh {
        Some(r) => Some(r),
        None if want_refresh && !caller.is_anonymous() => {
            match st.auth.create_refresh_token(caller).await {
                Ok(t) => Some(t),
                Err(e) => return internal(e),
            }
        }
        None => None,
    };
    let mut body = json!({
        "token": issued.token,
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "issued_at": time_iso8601(issued.issued_at),
        "scope": scope_string(&issued.access),
    });
    if let Some(r) = refresh_token {
        body["refresh_token"] = r.into();
    }
    let mut r = (StatusCode::OK, axum::Json(body)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub async fn get_token(
    State(st): State<AppState>,
    ClientAddr(ip): ClientAddr,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let q = pairs(query.unwrap_or_default().as_bytes());
    if let Some(r) = check_service(&st, get(&q, "service")) {
        return r;
    }
    let creds = Credentials::from_header(headers.get(header::AUTHORIZATION));
    if matches!(creds, Credentials::Bearer(_)) {
        return failure(AuthFailure::Invalid(
            "the token service takes Basic credentials or none",
        ));
    }
    let mut caller = match st.auth.authenticate(&creds, ip) {
        Ok(c) => c,
        Err(f) => return failure(f),
    };
    caller.secure = forwarded_https(&st.auth, &headers);
    let scopes = Scope::parse_all(
        q.iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.as_str()),
    );
    let offline = get(&q, "offline_token").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    grant(&st, &caller, &scopes, None, offline).await
}

pub async fn post_token(
    State(st): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    RawForm(form): RawForm,
) -> Response {
    let f = pairs(&form);
    if let Some(r) = check_service(&st, get(&f, "service")) {
        return r;
    }
    let scopes = Scope::parse_all(
        f.iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.as_str()),
    );
    let result = match get(&f, "grant_type") {
        Some("password") => {
            let (Some(user), Some(password)) = (get(&f, "username"), get(&f, "password")) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "UNAUTHORIZED",
                    "invalid_request",
                    "the password grant needs username and password",
                );
            };
            st.auth
                .basic(user, password, ip)
                .map(|c| (c, get(&f, "access_type") == Some("offline")))
        }
        Some("refresh_token") => {
            let Some(token) = get(&f, "refresh_token") else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "UNAUTHORIZED",
                    "invalid_request",
                    "the refresh_token grant needs refresh_token",
                );
            };
            st.auth
                .redeem_refresh_token(token, ip)
                .await
                .map(|c| (c, false))
        }
        other => {
            return error(
                StatusCode::BAD_REQUEST,
                "UNSUPPORTED",
                "unsupported_grant_type",
                &format!(
                    "grant_type must be password or refresh_token, not {:?}",
                    other.unwrap_or("")
                ),
            )
        }
    };
    match result {
        Ok((mut caller, offline)) => {
            caller.secure = forwarded_https(&st.auth, &headers);
            grant(&st, &caller, &scopes, None, offline).await
        }
        Err(e) => failure(e),
    }
}
