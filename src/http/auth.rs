//! Authentication as HTTP speaks it: who is calling (credentials, client address), the
//! `WWW-Authenticate` challenge that sends clients to the token service, and the responses
//! for requests that are refused.

use crate::auth::{Action, Auth, AuthFailure, Caller, Credentials, Decision, Denial, Resource};
use crate::http::distribution::error::{Code, OciError};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

/// The peer's address, when the server knows it (it always does outside unit tests).
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// Whether a TLS-terminating proxy in front says the client used https. Only when configured
/// to believe it: otherwise any client could claim `aws:SecureTransport`.
pub fn forwarded_https(auth: &Auth, h: &HeaderMap) -> bool {
    auth.settings().trust_forwarded_proto
        && h.get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// The token endpoint to advertise: the configured realm, or this server as the client
/// addressed it. A Host header with anything but host characters is not echoed.
pub fn realm(auth: &Auth, h: &HeaderMap) -> String {
    if let Some(r) = &auth.settings().realm {
        return r.clone();
    }
    let host = h
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 255
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
        })
        .unwrap_or("localhost");
    let scheme = if forwarded_https(auth, h) {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}/token")
}

/// Authenticate a request from its headers.
pub fn authenticate(
    auth: &Auth,
    h: &HeaderMap,
    source: Option<IpAddr>,
) -> Result<(Caller, bool), AuthFailure> {
    if !auth.enabled() {
        return Ok((Caller::anonymous(source), true));
    }
    let creds = Credentials::from_header(h.get(header::AUTHORIZATION));
    let presented = !matches!(creds, Credentials::None);
    let mut caller = auth.authenticate(&creds, source)?;
    caller.secure = forwarded_https(auth, h);
    crate::http::access_log::record(&caller);
    Ok((caller, presented))
}

/// A `/v2` request's caller and what refusing them needs.
pub struct Who<'a> {
    pub auth: &'a Auth,
    pub caller: Caller,
    /// Whether the request carried credentials at all.
    pub presented: bool,
    /// The request's headers (the realm is worked out from them only when refusing).
    pub headers: &'a HeaderMap,
}

/// The scope a client should ask for to perform `action` on `resource`.
pub fn scope_for(action: Action, resource: Resource<'_>) -> String {
    match resource {
        Resource::Registry => "registry:catalog:*".into(),
        Resource::Repository(name) => {
            let actions = match action {
                Action::InitiateLayerUpload
                | Action::UploadLayerPart
                | Action::CompleteLayerUpload
                | Action::PutImage
                | Action::CreateRepository => "pull,push",
                Action::BatchDeleteImage => "delete",
                _ => "pull",
            };
            format!("repository:{name}:{actions}")
        }
    }
}

impl Who<'_> {
    /// `401` with the challenge that starts (or restarts) the token flow.
    pub fn challenge(&self, scope: Option<&str>, error: Option<&str>, message: &str) -> OciError {
        challenge(
            self.auth,
            &realm(self.auth, self.headers),
            scope,
            error,
            message,
        )
    }

    /// Whether the caller may; no response attached (for decisions that fall back quietly).
    pub fn allows(&self, action: Action, resource: Resource<'_>) -> bool {
        self.auth
            .authorize(&self.caller, action, resource)
            .allowed()
    }

    /// The decision, as the `/v2` error to answer when it is no.
    pub fn check(&self, action: Action, resource: Resource<'_>) -> Result<(), OciError> {
        self.check_scoped(action, resource, &scope_for(action, resource))
    }

    /// `check`, with a challenge that asks for `scope`: every scope the request needs,
    /// space-separated (a mount also reads its source: `repository:<from>:pull`).
    pub fn check_scoped(
        &self,
        action: Action,
        resource: Resource<'_>,
        scope: &str,
    ) -> Result<(), OciError> {
        match self.auth.authorize(&self.caller, action, resource) {
            Decision::Allow => Ok(()),
            Decision::Deny(Denial::NoCredentials) => {
                Err(self.challenge(Some(scope), None, "authentication required"))
            }
            Decision::Deny(Denial::InsufficientScope) => Err(self.challenge(
                Some(scope),
                Some("insufficient_scope"),
                &format!("the token does not grant {action}"),
            )),
            Decision::Deny(d) => Err(OciError::new(
                Code::Denied,
                denied_message(self.auth, &self.caller, action, resource, d),
            )),
        }
    }
}

/// AWS's wording: `User: <arn> is not authorized to perform: <action> on resource: <arn> ...`.
pub fn denied_message(
    auth: &Auth,
    caller: &Caller,
    action: Action,
    resource: Resource<'_>,
    d: Denial,
) -> String {
    let res = match resource {
        Resource::Repository(n) => auth.settings().repository_arn(n.as_str()),
        Resource::Registry => "*".into(),
    };
    let why = match d {
        Denial::Explicit => "with an explicit deny".to_owned(),
        _ => format!("because no identity-based policy allows the {action} action"),
    };
    format!(
        "User: {} is not authorized to perform: {action} on resource: {res} {why}",
        caller.arn()
    )
}

pub fn challenge(
    auth: &Auth,
    realm: &str,
    scope: Option<&str>,
    error: Option<&str>,
    message: &str,
) -> OciError {
    let mut value = format!(
        "Bearer realm=\"{realm}\",service=\"{}\"",
        auth.settings().service
    );
    if let Some(s) = scope {
        value.push_str(&format!(",scope=\"{s}\""));
    }
    if let Some(e) = error {
        value.push_str(&format!(",error=\"{e}\""));
    }
    OciError::new(Code::Unauthorized, message).with_header(header::WWW_AUTHENTICATE, value)
}

/// `Retry-After` for a lockout that ends in `d`: whole seconds rounded up (a client that
/// waits that long is let in), at least 1.
pub fn retry_after(d: std::time::Duration) -> String {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1).to_string()
}

/// The response to failed authentication on `/v2`: a retry hint when limited or unavailable,
/// else the challenge (with `error="invalid_token"` when a bearer token was refused).
pub fn failure(auth: &Auth, h: &HeaderMap, f: AuthFailure) -> OciError {
    match f {
        AuthFailure::RateLimited(d) => OciError::new(Code::TooManyRequests, f.to_string())
            .with_header(header::RETRY_AFTER, retry_after(d)),
        AuthFailure::Unavailable => OciError::new(Code::Unavailable, f.to_string())
            .with_header(header::RETRY_AFTER, "1".into()),
        AuthFailure::Expired | AuthFailure::Invalid(_) => {
            let bearer = h
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split_whitespace().next())
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("bearer"));
            challenge(
                auth,
                &realm(auth, h),
                None,
                bearer.then_some("invalid_token"),
                &f.to_string(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::retry_after;
    use std::time::Duration;

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after(Duration::from_millis(1990)), "2");
        assert_eq!(retry_after(Duration::from_secs(2)), "2");
        assert_eq!(retry_after(Duration::from_millis(2001)), "3");
        assert_eq!(retry_after(Duration::from_millis(10)), "1");
        assert_eq!(retry_after(Duration::ZERO), "1");
    }
}
