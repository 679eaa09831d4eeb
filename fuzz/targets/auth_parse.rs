//! Fuzz what an unauthenticated client sends to authentication: token scopes,
//! `Authorization` headers and bearer tokens.
//!
//! Input layout: `data[0] % 4` picks the parser; the rest (`data[1..]`) is its input:
//!
//! - 0: `auth::scope::Scope::parse` of the whole text and `Scope::parse_all` of its lines
//!   (lossy UTF-8). Accepted repository names re-parse as `RepositoryName`, contain no `..`
//!   and are exactly the text between the first and last `:`; actions are sorted and unique;
//!   `parse_all` merges each name once, lists the catalog at most once and keeps exactly the
//!   names that `parse` accepts one by one.
//! - 1: `auth::Credentials::from_header` of the bytes as a `HeaderValue` (skipped when not a
//!   valid header value). Must not panic; a Basic user never contains `:`, a bearer token is
//!   non-empty and trimmed; the result is deterministic.
//! - 2: `auth::jwt::verify` of the text (lossy UTF-8) against a fixed HS256 key, for
//!   audience `berth` and the login audience. It must fail unless the input is exactly the
//!   token the key signs for the claims it returns (a genuine token, such as a seed):
//!   anything else that verifies is a forgery.
//! - 3: `verify` of a token genuinely signed with that key around fuzzed parts: the text up
//!   to the first `\n` is the header JSON and the rest the claims JSON (no `\n`: the header
//!   Berth signs with, `{"typ":"JWT","alg":"HS256","kid":"k"}`, and the whole text is the
//!   claims). A token that verifies must have issuer and audience `berth` and must not have
//!   expired.

use axum::http::HeaderValue;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use berth::auth::jwt::{self, Claims, SigningKey, TokenError, LOGIN_AUDIENCE};
use berth::auth::scope::Scope;
use berth::auth::Credentials;
use berth::oci::RepositoryName;
use std::sync::OnceLock;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const HEADER: &str = r#"{"typ":"JWT","alg":"HS256","kid":"k"}"#;

fn keys() -> &'static [SigningKey] {
    static KEYS: OnceLock<Vec<SigningKey>> = OnceLock::new();
    KEYS.get_or_init(|| vec![SigningKey::new("k".into(), SECRET, 0)])
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

fn check_name(name: &RepositoryName, from: &str) {
    let s = name.as_str();
    let again: RepositoryName = s
        .parse()
        .unwrap_or_else(|e| panic!("scope name {s:?} from {from:?} does not re-parse: {e}"));
    assert_eq!(&again, name);
    assert!(
        !s.contains(".."),
        "scope name {s:?} from {from:?} contains .."
    );
    assert!(!s.is_empty() && !s.starts_with('/') && !s.ends_with('/') && !s.contains("//"));
}

fn check_actions<T: Ord + std::fmt::Debug>(actions: &[T], from: &str) {
    assert!(
        actions.windows(2).all(|w| w[0] < w[1]),
        "actions {actions:?} from {from:?} are not sorted and unique"
    );
}

fn scopes(text: &str) {
    // One scope.
    let one = Scope::parse(text);
    assert_eq!(
        one,
        Scope::parse(text),
        "Scope::parse({text:?}) is not deterministic"
    );
    if let Ok(Some(Scope::Repository { name, actions })) = &one {
        check_name(name, text);
        let (_, rest) = text.split_once(':').expect("a parsed scope has a ':'");
        let (between, _) = rest.rsplit_once(':').expect("a parsed scope has two ':'");
        assert_eq!(name.as_str(), between, "scope {text:?}");
        check_actions(actions, text);
    }

    // Several parameters, each a space-separated list.
    let lines: Vec<&str> = text.split('\n').collect();
    let all = Scope::parse_all(lines.iter().copied());
    let mut names: Vec<&str> = Vec::new();
    let mut catalogs = 0;
    for s in &all {
        match s {
            Scope::Repository { name, actions } => {
                check_name(name, text);
                check_actions(actions, text);
                assert!(
                    !names.contains(&name.as_str()),
                    "parse_all({text:?}) lists {name} twice"
                );
                names.push(name.as_str());
            }
            Scope::Catalog => catalogs += 1,
        }
    }
    assert!(
        catalogs <= 1,
        "parse_all({text:?}) lists the catalog {catalogs} times"
    );
    // The same names as parsing each scope on its own.
    let mut want: Vec<String> = Vec::new();
    let mut want_catalog = false;
    for s in lines
        .iter()
        .flat_map(|l| l.split(' '))
        .filter(|s| !s.is_empty())
    {
        match Scope::parse(s) {
            Ok(Some(Scope::Repository { name, .. })) => {
                if !want.iter().any(|n| n == name.as_str()) {
                    want.push(name.as_str().to_owned());
                }
            }
            Ok(Some(Scope::Catalog)) => want_catalog = true,
            Ok(None) | Err(_) => {}
        }
    }
    assert_eq!(names, want, "parse_all({text:?}) names");
    assert_eq!(catalogs == 1, want_catalog, "parse_all({text:?}) catalog");
}

/// A comparable summary of `Credentials` (which has no `Debug`/`PartialEq`).
fn summary(c: &Credentials) -> String {
    match c {
        Credentials::None => "None".into(),
        Credentials::Basic { user, password } => format!("Basic({user:?}, {password:?})"),
        Credentials::Bearer(t) => format!("Bearer({t:?})"),
        Credentials::Malformed => "Malformed".into(),
    }
}

fn credentials(bytes: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(bytes) else {
        return;
    };
    let got = Credentials::from_header(Some(&value));
    assert_eq!(
        summary(&got),
        summary(&Credentials::from_header(Some(&value))),
        "from_header({value:?}) is not deterministic"
    );
    match &got {
        Credentials::None => panic!("from_header({value:?}) of a present header gave None"),
        Credentials::Basic { user, .. } => {
            assert!(
                !user.contains(':'),
                "Basic user {user:?} from {value:?} contains ':'"
            );
        }
        Credentials::Bearer(t) => {
            assert!(!t.is_empty(), "empty bearer token from {value:?}");
            assert_eq!(t.trim(), *t, "bearer token from {value:?} is not trimmed");
        }
        Credentials::Malformed => {}
    }
}

fn arbitrary_token(text: &str) {
    let key = &keys()[0];
    for audience in ["berth", LOGIN_AUDIENCE] {
        if let Ok(claims) = jwt::verify(text, keys(), "berth", audience) {
            let genuine = key.sign(&claims).expect("sign");
            assert_eq!(
                text, genuine,
                "verify accepted {text:?} (audience {audience:?}), which the key did not sign: {claims:?}"
            );
        }
    }
}

fn signed_token(text: &str) {
    let (header, claims) = text.split_once('\n').unwrap_or((HEADER, text));
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
        jsonwebtoken::Algorithm::HS256,
    )
    .expect("HMAC signing");
    let jwt = format!("{message}.{signature}");
    let before = now();
    let got: Result<Claims, TokenError> = jwt::verify(&jwt, keys(), "berth", "berth");
    if let Ok(c) = got {
        assert_eq!(
            c.iss, "berth",
            "wrong issuer accepted: header {header:?} claims {claims:?}"
        );
        assert_eq!(
            c.aud, "berth",
            "wrong audience accepted: header {header:?} claims {claims:?}"
        );
        assert!(
            c.exp >= before,
            "expired token accepted (exp {} < now {before}): header {header:?} claims {claims:?}",
            c.exp
        );
    }
}

/// The target: check `data` (panics on a violated invariant).
pub fn run(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    match first % 4 {
        0 => scopes(&String::from_utf8_lossy(rest)),
        1 => credentials(rest),
        2 => arbitrary_token(&String::from_utf8_lossy(rest)),
        _ => signed_token(&String::from_utf8_lossy(rest)),
    }
}
