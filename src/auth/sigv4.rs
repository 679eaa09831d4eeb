//! Verifying AWS Signature Version 4 (header form, as the aws CLI, boto3 and the SDKs send it
//! to the ECR API): the `Authorization` header's parts, the canonical request and the string to
//! sign, the request's date against the clock, and the signature against the access key's
//! secret, compared in constant time. The key derivation and the HMAC are aws-sigv4's
//! (`generate_signing_key`, `calculate_signature`). What a signature covers is read from the
//! HTTP request by the surface that received it, as a [`SignedRequest`];
//! [`Auth::authenticate_sigv4`](super::Auth::authenticate_sigv4) finds the secret and calls
//! [`verify`].

use super::AuthFailure;
use sha2::Digest as _;
use std::time::{Duration, SystemTime};
use subtle::ConstantTimeEq;

/// How far a request's `X-Amz-Date` may be from the server's clock.
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Why a signature was refused, named as AWS names the errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    /// No `Authorization` header at all.
    #[error("Missing Authentication Token")]
    Missing,
    /// The header is not a well-formed SigV4 header (or misses a required part).
    #[error("{0}")]
    Incomplete(String),
    /// The signature does not match, or the date is outside the allowed window.
    #[error("{0}")]
    Invalid(String),
}

fn incomplete(msg: impl Into<String>) -> SigError {
    SigError::Incomplete(msg.into())
}

impl Authorization {
    pub fn parse(value: &str) -> Result<Authorization, SigError> {
        let rest = value.strip_prefix("AWS4-HMAC-SHA256").ok_or_else(|| {
            incomplete("Authorization header requires the AWS4-HMAC-SHA256 algorithm")
        })?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (k, v) = part.split_once('=').ok_or_else(|| {
                incomplete(format!(
                    "Authorization header part {part:?} is not key=value"
                ))
            })?;
            let slot = match k.trim() {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed,
                "Signature" => &mut signature,
                other => {
                    return Err(incomplete(format!(
                        "Authorization header has an unknown part {:?}",
                        other.chars().take(40).collect::<String>()
                    )))
                }
            };
            if slot.replace(v.trim()).is_some() {
                return Err(incomplete(format!("Authorization header repeats {k}")));
            }
        }
        let credential = credential
            .ok_or_else(|| incomplete("Authorization header requires a 'Credential' parameter"))?;
        let signed = signed.ok_or_else(|| {
            incomplete("Authorization header requires a 'SignedHeaders' parameter")
        })?;
        let signature = signature
            .ok_or_else(|| incomplete("Authorization header requires a 'Signature' parameter"))?;
        let parts: Vec<&str> = credential.split('/').collect();
        let [akid, date, region, service, terminator] = parts[..] else {
            return Err(incomplete(
                "Credential must be <access key id>/<yyyymmdd>/<region>/<service>/aws4_request",
            ));
        };
        if akid.is_empty()
            || akid.len() > 128
            || !akid.bytes().all(|b| b.is_ascii_alphanumeric())
            || date.len() != 8
            || !date.bytes().all(|b| b.is_ascii_digit())
            || region.is_empty()
            || region.len() > 64
            || !region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            || terminator != "aws4_request"
        {
            return Err(incomplete(
                "Credential must be <access key id>/<yyyymmdd>/<region>/<service>/aws4_request",
            ));
        }
        let signed_headers: Vec<String> = signed.split(';').map(str::to_owned).collect();
        let well_formed = signed_headers.iter().all(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        }) && signed_headers.windows(2).all(|w| w[0] < w[1]);
        if !well_formed {
            return Err(incomplete(
                "SignedHeaders must be lower-case header names, sorted, separated by ';'",
            ));
        }
        for required in ["host", "x-amz-date"] {
            if !signed_headers.iter().any(|h| h == required) {
                return Err(incomplete(format!("SignedHeaders must include {required}")));
            }
        }
        if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(incomplete("Signature must be 64 hexadecimal digits"));
        }
        Ok(Authorization {
            access_key_id: akid.to_owned(),
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
            signed_headers,
            signature: signature.to_ascii_lowercase(),
        })
    }
}

/// `yyyymmddTHHMMSSZ` → the time it names.
pub fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + se;
    u64::try_from(secs)
        .ok()
        .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
}

/// Why a SigV4-signed request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The access key is unknown or inactive, or its source is over a failure limit: refused
    /// as any other credential is.
    Credential(AuthFailure),
    /// The signature is malformed, does not match, or is outside the allowed time window.
    Signature(SigError),
}

/// What a SigV4 signature covers, as read from an HTTP request.
#[derive(Debug, Clone)]
pub struct SignedRequest<'a> {
    /// The method, e.g. `POST`.
    pub method: &'a str,
    /// The path as it arrived (already URI-encoded).
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// The `X-Amz-Date` header, if the request has one readable as text.
    pub amz_date: Option<&'a str>,
    /// The signed headers the request carries (lower-case names), each with its values in the
    /// order received; a header with a value that is not UTF-8 is left out.
    pub headers: Vec<(&'a str, Vec<&'a str>)>,
    /// The body's SHA-256, lower-case hexadecimal.
    pub body_sha256: String,
}

/// A signed header's value as SigV4 canonicalizes it: every value of the name, trimmed, inner
/// runs of spaces collapsed, joined with `,`.
fn canonical_value(request: &SignedRequest<'_>, name: &str) -> Option<String> {
    let (_, values) = request
        .headers
        .iter()
        .find(|(n, values)| *n == name && !values.is_empty())?;
    let values: Vec<String> = values
        .iter()
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    Some(values.join(","))
}

/// Canonical URI path: each segment URI-encoded (the path arrives already encoded; AWS
/// services other than S3 encode it once more).
fn canonical_path(path: &str) -> String {
    if path.is_empty() {
        return "/".into();
    }
    path.split('/')
        .map(|seg| percent_encoding::utf8_percent_encode(seg, SIGV4_PATH).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

const SIGV4_PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn canonical_query(query: Option<&str>) -> String {
    let Some(q) = query.filter(|q| !q.is_empty()) else {
        return String::new();
    };
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| {
            (
                percent_encoding::utf8_percent_encode(&k, SIGV4_PATH).to_string(),
                percent_encoding::utf8_percent_encode(&v, SIGV4_PATH).to_string(),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The string to sign for a request, given its parsed authorization.
fn string_to_sign(
    auth: &Authorization,
    request: &SignedRequest<'_>,
    amz_date: &str,
) -> Result<String, SigError> {
    let mut canonical = format!(
        "{}\n{}\n{}\n",
        request.method,
        canonical_path(request.path),
        canonical_query(request.query)
    );
    for name in &auth.signed_headers {
        let value = canonical_value(request, name).ok_or_else(|| {
            SigError::Invalid(format!("the signed header {name} is not in the request"))
        })?;
        canonical.push_str(name);
        canonical.push(':');
        canonical.push_str(&value);
        canonical.push('\n');
    }
    canonical.push('\n');
    canonical.push_str(&auth.signed_headers.join(";"));
    canonical.push('\n');
    canonical.push_str(&request.body_sha256);
    Ok(format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{}/{}/{}/aws4_request\n{}",
        auth.date,
        auth.region,
        auth.service,
        hex::encode(sha2::Sha256::digest(canonical.as_bytes()))
    ))
}

/// Check the request's date against the scope and the clock, then the signature against the
/// secret. `now` is the server's clock.
pub fn verify(
    auth: &Authorization,
    secret: &str,
    request: &SignedRequest<'_>,
    now: SystemTime,
) -> Result<(), SigError> {
    let amz_date = request
        .amz_date
        .ok_or_else(|| incomplete("the request has no X-Amz-Date header"))?;
    let when = parse_amz_date(amz_date)
        .ok_or_else(|| incomplete("X-Amz-Date must be yyyymmddTHHMMSSZ"))?;
    if !amz_date.starts_with(&auth.date) {
        return Err(SigError::Invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
            auth.date,
            &amz_date[..8]
        )));
    }
    let skew = now.duration_since(when).unwrap_or_else(|e| e.duration());
    if skew > MAX_SKEW {
        return Err(SigError::Invalid(format!(
            "Signature expired: {amz_date} is now earlier or later than the server time by more than 15 minutes"
        )));
    }
    let sts = string_to_sign(auth, request, amz_date)?;
    let key = aws_sigv4::sign::v4::generate_signing_key(secret, when, &auth.region, &auth.service);
    let expected = aws_sigv4::sign::v4::calculate_signature(key, sts.as_bytes());
    if bool::from(expected.as_bytes().ct_eq(auth.signature.as_bytes())) {
        Ok(())
    } else {
        Err(SigError::Invalid(
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method."
                .into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the AWS SigV4 documentation ("GET /?Action=ListUsers", IAM), as an HTTP
    /// surface reads it, with `method`, `query`, `host` and `body` in its place.
    fn example<'a>(
        method: &'a str,
        query: Option<&'a str>,
        host: &'a str,
        body: &[u8],
    ) -> SignedRequest<'a> {
        SignedRequest {
            method,
            path: "/",
            query,
            amz_date: Some("20150830T123600Z"),
            headers: vec![
                (
                    "content-type",
                    vec!["application/x-www-form-urlencoded; charset=utf-8"],
                ),
                ("host", vec![host]),
                ("x-amz-date", vec!["20150830T123600Z"]),
            ],
            body_sha256: hex::encode(sha2::Sha256::digest(body)),
        }
    }

    /// The example's published signature:
    /// 5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7.
    #[test]
    fn matches_the_aws_documentation_example() {
        let auth = Authorization::parse(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        )
        .unwrap();
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let now = parse_amz_date("20150830T123600Z").unwrap();
        let q = Some("Action=ListUsers&Version=2010-05-08");
        let host = "iam.amazonaws.com";
        let r = example("GET", q, host, b"");
        verify(&auth, secret, &r, now).unwrap();
        // Anything changed breaks it.
        assert!(verify(&auth, "wrong", &r, now).is_err());
        assert!(verify(&auth, secret, &example("POST", q, host, b""), now).is_err());
        assert!(verify(&auth, secret, &example("GET", q, host, b"x"), now).is_err());
        assert!(verify(
            &auth,
            secret,
            &example("GET", Some("Action=ListUsers"), host, b""),
            now
        )
        .is_err());
        assert!(verify(&auth, secret, &example("GET", q, "evil.example", b""), now).is_err());
        // Too old, too new.
        let late = now + Duration::from_secs(16 * 60);
        assert!(matches!(
            verify(&auth, secret, &r, late),
            Err(SigError::Invalid(m)) if m.contains("Signature expired")
        ));
        let early = now - Duration::from_secs(16 * 60);
        assert!(verify(&auth, secret, &r, early).is_err());
        verify(&auth, secret, &r, now + Duration::from_secs(14 * 60)).unwrap();
    }

    #[test]
    fn hostile_headers_are_incomplete_not_panics() {
        let good = "AWS4-HMAC-SHA256 Credential=AK/20261124/us-east-1/ecr/aws4_request, SignedHeaders=host;x-amz-date, Signature=";
        let sig = "0".repeat(64);
        assert!(Authorization::parse(&format!("{good}{sig}")).is_ok());
        for bad in [
            String::new(),
            "AWS4-HMAC-SHA256".into(),
            "AWS4-HMAC-SHA1 Credential=a".into(),
            format!("{good}{}", "0".repeat(63)),
            format!("{good}{}", "g".repeat(64)),
            "AWS4-HMAC-SHA256 Credential=AK/2026/us-east-1/ecr/aws4_request, SignedHeaders=host;x-amz-date, Signature=".to_string() + &sig,
            "AWS4-HMAC-SHA256 Credential=AK/20261124/us-east-1/ecr, SignedHeaders=host;x-amz-date, Signature=".to_string() + &sig,
            "AWS4-HMAC-SHA256 Credential=AK/20261124/us-east-1/ecr/aws4_request, SignedHeaders=x-amz-date;host, Signature=".to_string() + &sig,
            "AWS4-HMAC-SHA256 Credential=AK/20261124/us-east-1/ecr/aws4_request, SignedHeaders=host, Signature=".to_string() + &sig,
            "AWS4-HMAC-SHA256 Credential=AK/20261124/us-east-1/ecr/aws4_request, SignedHeaders=Host;x-amz-date, Signature=".to_string() + &sig,
            "AWS4-HMAC-SHA256 Credential=A:K/20261124/us-east-1/ecr/aws4_request, SignedHeaders=host;x-amz-date, Signature=".to_string() + &sig,
            format!("{good}{sig}, Signature={sig}"),
            format!("{good}{sig}, Extra=1"),
            "AWS4-HMAC-SHA256 ,,,,".into(),
            "AWS4-HMAC-SHA256 Credential".into(),
        ] {
            assert!(Authorization::parse(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn amz_dates() {
        let t = parse_amz_date("20261124T120000Z").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            1_795_521_600
        );
        for bad in [
            "",
            "20261124",
            "20261124T120000",
            "2026112xT120000Z",
            "20261324T120000Z",
            "20261124T250000Z",
            "20261124 120000Z",
            "+0261124T120000Z",
        ] {
            assert!(parse_amz_date(bad).is_none(), "{bad}");
        }
    }
}
