//! Signed tokens: registry bearer tokens (Docker token specification, short-lived) and ECR-style
//! login passwords (user `AWS`, hours). Both are JWTs signed with HS256 under a rotating key
//! named by `kid`; verification accepts exactly HS256 (so `alg: none` and algorithm
//! substitution fail), checks issuer, audience and expiry, and finds the key by `kid`.
//! This is the format; `tokens.rs` issues the tokens and `authenticate.rs` accepts them.

use super::scope::Access;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The audience of login passwords: never the registry's service name, so a login password
/// is not a bearer token and a bearer token is not a login password.
pub const LOGIN_AUDIENCE: &str = "urn:berth:login";
/// The audience of the tokens in `GetDownloadUrlForLayer` URLs: one blob, pull only.
pub const DOWNLOAD_AUDIENCE: &str = "urn:berth:download";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    /// The principal's name; empty for an anonymous token.
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: String,
    #[serde(default)]
    pub access: Vec<Access>,
    /// The principal's id: a principal deleted and created again is someone else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    /// The access key the caller authenticated with: disabling it ends its tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub akid: Option<String>,
    /// A download token's one blob (its digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
}

/// A token signing key.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub created_at: i64,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn new(kid: String, secret: &[u8], created_at: i64) -> Self {
        SigningKey {
            kid,
            created_at,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid")]
    Invalid,
}

/// Verify `token` against `keys` (any of them, chosen by `kid`) for `issuer` and `audience`.
pub fn verify(
    token: &str,
    keys: &[SigningKey],
    issuer: &str,
    audience: &str,
) -> Result<Claims, TokenError> {
    // Bound the work an attacker can make us do before any signature check.
    if token.len() > 16 * 1024 {
        return Err(TokenError::Invalid);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
    if header.alg != Algorithm::HS256 {
        return Err(TokenError::Invalid);
    }
    let kid = header.kid.ok_or(TokenError::Invalid)?;
    let key = keys
        .iter()
        .find(|k| k.kid == kid)
        .ok_or(TokenError::Invalid)?;
    let mut v = Validation::new(Algorithm::HS256);
    v.leeway = 0;
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    match jsonwebtoken::decode::<Claims>(token, &key.decoding, &v) {
        // Expired from the second `exp` names on (RFC 7519: "on or after"); jsonwebtoken,
        // even without leeway, accepts a token for that one more second.
        Ok(data) if data.claims.exp <= super::time::now_secs() => Err(TokenError::Expired),
        Ok(data) => Ok(data.claims),
        Err(e) => match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => Err(TokenError::Expired),
            _ => Err(TokenError::Invalid),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    #[test]
    fn a_token_expires_at_the_second_its_exp_names() {
        let key = SigningKey::new("k".into(), b"0123456789abcdef0123456789abcdef", 0);
        let now = now();
        let claims = |exp: i64| Claims {
            iss: "iss".into(),
            sub: "p".into(),
            aud: "aud".into(),
            exp,
            nbf: now - 10,
            iat: now - 10,
            jti: "j".into(),
            access: vec![],
            pid: None,
            akid: None,
            blob: None,
        };
        let keys = [key.clone()];
        let check = |exp| verify(&key.sign(&claims(exp)).unwrap(), &keys, "iss", "aud");
        assert_eq!(check(now + 60).map(|c| c.exp), Ok(now + 60));
        // `now` may tick between the two reads: `exp` at (or before) it is expired either way.
        assert_eq!(check(now), Err(TokenError::Expired));
        assert_eq!(check(now - 1), Err(TokenError::Expired));
    }

    fn claims(exp_in: i64) -> Claims {
        let t = now();
        Claims {
            iss: "berth".into(),
            sub: "alice".into(),
            aud: "registry".into(),
            exp: t + exp_in,
            nbf: t,
            iat: t,
            jti: "j".into(),
            access: vec![Access {
                kind: "repository".into(),
                name: "a".into(),
                actions: vec!["pull".into()],
            }],
            pid: Some("p".into()),
            akid: None,
            blob: None,
        }
    }

    fn key(kid: &str, secret: &[u8]) -> SigningKey {
        SigningKey::new(kid.into(), secret, 0)
    }

    fn b64(v: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn round_trip_with_rotated_keys() {
        let old = key("old", b"0123456789abcdef0123456789abcdef");
        let new = key("new", b"fedcba9876543210fedcba9876543210");
        // One set of claims: a second `claims(60)` differs once the clock ticks a second.
        let c = claims(60);
        let t = old.sign(&c).unwrap();
        let keys = vec![new.clone(), old.clone()];
        assert_eq!(verify(&t, &keys, "berth", "registry").unwrap(), c);
        // Once the old key is gone, its tokens are not valid.
        assert_eq!(
            verify(&t, &[new], "berth", "registry"),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn attacks_fail() {
        let k = key("k", b"0123456789abcdef0123456789abcdef");
        let keys = [k.clone()];
        let good = k.sign(&claims(60)).unwrap();
        let parts: Vec<&str> = good.split('.').collect();

        // alg: none, with and without a signature.
        let none = b64(&serde_json::json!({"alg": "none", "typ": "JWT", "kid": "k"}));
        for t in [
            format!("{none}.{}.", parts[1]),
            format!("{none}.{}", parts[1]),
            format!("{none}.{}.{}", parts[1], parts[2]),
        ] {
            assert_eq!(
                verify(&t, &keys, "berth", "registry"),
                Err(TokenError::Invalid)
            );
        }
        // Another algorithm named in the header.
        for alg in ["HS384", "HS512", "RS256", "ES256", "hs256", ""] {
            let h = b64(&serde_json::json!({"alg": alg, "typ": "JWT", "kid": "k"}));
            let t = format!("{h}.{}.{}", parts[1], parts[2]);
            assert_eq!(
                verify(&t, &keys, "berth", "registry"),
                Err(TokenError::Invalid),
                "{alg}"
            );
        }
        // Tampered claims: more access, another subject, a later expiry.
        let mut c = claims(60);
        c.access[0].actions.push("push".into());
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64(&serde_json::to_value(&c).unwrap()),
            parts[2]
        );
        assert_eq!(
            verify(&forged, &keys, "berth", "registry"),
            Err(TokenError::Invalid)
        );
        // Wrong key, unknown kid, no kid.
        let other = key("k", b"another key another key another!");
        let t = other.sign(&claims(60)).unwrap();
        assert_eq!(
            verify(&t, &keys, "berth", "registry"),
            Err(TokenError::Invalid)
        );
        let t = key("zz", b"0123456789abcdef0123456789abcdef")
            .sign(&claims(60))
            .unwrap();
        assert_eq!(
            verify(&t, &keys, "berth", "registry"),
            Err(TokenError::Invalid)
        );
        let nokid = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(60),
            &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        )
        .unwrap();
        assert_eq!(
            verify(&nokid, &keys, "berth", "registry"),
            Err(TokenError::Invalid)
        );
        // Wrong issuer or audience (a login password is not a registry token).
        assert_eq!(
            verify(&good, &keys, "other", "registry"),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            verify(&good, &keys, "berth", LOGIN_AUDIENCE),
            Err(TokenError::Invalid)
        );
        // Expired.
        let t = k.sign(&claims(-1)).unwrap();
        assert_eq!(
            verify(&t, &keys, "berth", "registry"),
            Err(TokenError::Expired)
        );
        // Garbage.
        for t in [
            "",
            ".",
            "..",
            "a.b.c",
            "eyJ.eyJ.x",
            &"A".repeat(20_000),
            "\0.\0.\0",
        ] {
            assert_eq!(
                verify(t, &keys, "berth", "registry"),
                Err(TokenError::Invalid)
            );
        }
    }
}
