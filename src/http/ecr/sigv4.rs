//! Reading a SigV4-signed ECR API request: what its signature covers (method, path, query, the
//! headers its `Authorization` header names as signed, the body's SHA-256), as the value
//! `auth::sigv4` verifies. Verifying it is authentication, not HTTP: `crate::auth::sigv4`.

use crate::auth::sigv4::{Authorization, SignedRequest};
use axum::http::{HeaderMap, Method, Uri};
use sha2::Digest as _;

/// The parts of a request its signature covers, given the headers `authorization` signs.
pub fn signed_request<'a>(
    authorization: &'a Authorization,
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    body: &[u8],
) -> SignedRequest<'a> {
    let signed = authorization
        .signed_headers
        .iter()
        .filter_map(|name| {
            let values: Option<Vec<&str>> = headers
                .get_all(name.as_str())
                .iter()
                .map(|v| std::str::from_utf8(v.as_bytes()).ok())
                .collect();
            values.filter(|v| !v.is_empty()).map(|v| (name.as_str(), v))
        })
        .collect();
    SignedRequest {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query(),
        amz_date: headers.get("x-amz-date").and_then(|v| v.to_str().ok()),
        headers: signed,
        body_sha256: hex::encode(sha2::Sha256::digest(body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::sigv4::{parse_amz_date, verify, SigError};
    use axum::http::HeaderValue;

    /// The example of the AWS SigV4 documentation ("GET /?Action=ListUsers", IAM), whose
    /// signature is published: 5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7.
    #[test]
    fn reads_what_the_aws_documentation_example_signs() {
        let auth = Authorization::parse(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        )
        .unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
        );
        h.insert("host", HeaderValue::from_static("iam.amazonaws.com"));
        h.insert("x-amz-date", HeaderValue::from_static("20150830T123600Z"));
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let now = parse_amz_date("20150830T123600Z").unwrap();
        let uri: Uri = "/?Action=ListUsers&Version=2010-05-08".parse().unwrap();
        let check = |h: &HeaderMap, body: &[u8]| {
            verify(
                &auth,
                secret,
                &signed_request(&auth, &Method::GET, &uri, h, body),
                now,
            )
        };
        check(&h, b"").unwrap();
        assert!(check(&h, b"x").is_err());
        let mut h2 = h.clone();
        h2.insert("host", HeaderValue::from_static("evil.example"));
        assert!(check(&h2, b"").is_err());
        // An unsigned header may change.
        let mut h3 = h.clone();
        h3.insert("user-agent", HeaderValue::from_static("anything"));
        check(&h3, b"").unwrap();
        // A signed header that is not text is not there.
        let mut h4 = h.clone();
        h4.insert("host", HeaderValue::from_bytes(b"\xff").unwrap());
        assert!(matches!(
            check(&h4, b""),
            Err(SigError::Invalid(m)) if m.contains("the signed header host is not in the request")
        ));
    }
}
