//! Who a request is: the [`Caller`] authentication produces, the [`PrincipalEntry`] it names
//! (as the in-memory snapshot holds it), and the [`Credentials`] a request presents.

use super::scope::Access;
use super::store::PrincipalKind;
use crate::policy::iam::{Policy, PrincipalInfo};
use base64::Engine as _;
use std::net::IpAddr;
use std::sync::Arc;

/// A principal as the server holds it in memory.
#[derive(Debug)]
pub struct PrincipalEntry {
    pub name: String,
    pub id: String,
    pub kind: PrincipalKind,
    pub disabled: bool,
    pub info: PrincipalInfo,
    pub(super) policies: Vec<Arc<Policy>>,
    pub(super) keys: Vec<String>,
}

/// The caller of a request, once authenticated.
#[derive(Debug, Clone)]
pub struct Caller {
    /// `None`: anonymous.
    pub principal: Option<Arc<PrincipalEntry>>,
    /// The access key the caller used, directly or through a token.
    pub access_key: Option<String>,
    /// A bearer token's `access` claims: the request cannot exceed them.
    pub token_access: Option<Arc<Vec<Access>>>,
    pub source: Option<IpAddr>,
    /// Whether the request came over TLS (`aws:SecureTransport`).
    pub secure: bool,
    /// When the credential presented stops being valid, if it does (a login password): what
    /// it is exchanged for (a refresh token) must not outlive it.
    pub expires_at: Option<i64>,
}

impl Caller {
    pub fn anonymous(source: Option<IpAddr>) -> Caller {
        Caller {
            principal: None,
            access_key: None,
            token_access: None,
            source,
            secure: false,
            expires_at: None,
        }
    }

    pub fn is_anonymous(&self) -> bool {
        self.principal.is_none()
    }

    /// The caller as AWS error messages name it.
    pub fn arn(&self) -> &str {
        self.principal
            .as_ref()
            .map(|p| p.info.arn.as_str())
            .unwrap_or("anonymous")
    }
}

/// Credentials as a request presents them.
pub enum Credentials<'a> {
    None,
    Basic {
        user: String,
        password: String,
    },
    /// Borrowed from the header: the hot path does not copy tokens.
    Bearer(&'a str),
    /// An `Authorization` header we cannot read.
    Malformed,
}

impl<'a> Credentials<'a> {
    pub fn from_header(value: Option<&'a axum::http::HeaderValue>) -> Credentials<'a> {
        let Some(v) = value else {
            return Credentials::None;
        };
        let Ok(v) = v.to_str() else {
            return Credentials::Malformed;
        };
        let (scheme, rest) = v.trim().split_once(' ').unwrap_or((v.trim(), ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(rest) else {
                return Credentials::Malformed;
            };
            let Ok(text) = String::from_utf8(raw) else {
                return Credentials::Malformed;
            };
            match text.split_once(':') {
                Some((u, p)) => Credentials::Basic {
                    user: u.to_owned(),
                    password: p.to_owned(),
                },
                None => Credentials::Malformed,
            }
        } else if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
            Credentials::Bearer(rest)
        } else {
            Credentials::Malformed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_parse() {
        use axum::http::HeaderValue;
        let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        // What a header value parses to, summarised (the credentials borrow the header).
        let parse = |v: &str| {
            let h = HeaderValue::from_str(v).unwrap();
            match Credentials::from_header(Some(&h)) {
                Credentials::None => "none".to_owned(),
                Credentials::Basic { user, password } => format!("basic {user} {password}"),
                Credentials::Bearer(t) => format!("bearer {t}"),
                Credentials::Malformed => "malformed".to_owned(),
            }
        };
        assert!(matches!(Credentials::from_header(None), Credentials::None));
        assert_eq!(
            parse(&format!("Basic {}", b("AWS:tok:en"))),
            "basic AWS tok:en"
        );
        assert_eq!(parse("bearer abc"), "bearer abc");
        for bad in [
            "Basic",
            "Basic !!!",
            &format!("Basic {}", b("nocolon")),
            "Bearer",
            "Digest x",
            "",
        ] {
            assert_eq!(parse(bad), "malformed", "{bad:?}");
        }
        let bin = HeaderValue::from_bytes(b"Basic \xff\xfe").unwrap();
        assert!(matches!(
            Credentials::from_header(Some(&bin)),
            Credentials::Malformed
        ));
    }
}
