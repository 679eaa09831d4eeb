//! OCI distribution errors: the spec's code table, its JSON body, and one `IntoResponse`.

use crate::registry::RegistryError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    TooManyRequests,
    TagInvalid,
    RangeInvalid,
    PaginationNumberInvalid,
    Unavailable,
    Unknown,
}

impl Code {
    /// The wire code and its default status.
    fn table(self) -> (&'static str, StatusCode) {
        use Code::*;
        match self {
            BlobUnknown => ("BLOB_UNKNOWN", StatusCode::NOT_FOUND),
            BlobUploadInvalid => ("BLOB_UPLOAD_INVALID", StatusCode::BAD_REQUEST),
            BlobUploadUnknown => ("BLOB_UPLOAD_UNKNOWN", StatusCode::NOT_FOUND),
            DigestInvalid => ("DIGEST_INVALID", StatusCode::BAD_REQUEST),
            ManifestBlobUnknown => ("MANIFEST_BLOB_UNKNOWN", StatusCode::BAD_REQUEST),
            ManifestInvalid => ("MANIFEST_INVALID", StatusCode::BAD_REQUEST),
            ManifestUnknown => ("MANIFEST_UNKNOWN", StatusCode::NOT_FOUND),
            NameInvalid => ("NAME_INVALID", StatusCode::BAD_REQUEST),
            NameUnknown => ("NAME_UNKNOWN", StatusCode::NOT_FOUND),
            SizeInvalid => ("SIZE_INVALID", StatusCode::BAD_REQUEST),
            Unauthorized => ("UNAUTHORIZED", StatusCode::UNAUTHORIZED),
            Denied => ("DENIED", StatusCode::FORBIDDEN),
            Unsupported => ("UNSUPPORTED", StatusCode::METHOD_NOT_ALLOWED),
            TooManyRequests => ("TOOMANYREQUESTS", StatusCode::TOO_MANY_REQUESTS),
            TagInvalid => ("TAG_INVALID", StatusCode::BAD_REQUEST),
            RangeInvalid => ("BLOB_UPLOAD_INVALID", StatusCode::RANGE_NOT_SATISFIABLE),
            PaginationNumberInvalid => ("PAGINATION_NUMBER_INVALID", StatusCode::BAD_REQUEST),
            Unavailable => ("UNAVAILABLE", StatusCode::SERVICE_UNAVAILABLE),
            Unknown => ("UNKNOWN", StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

#[derive(Debug)]
pub struct OciError {
    pub code: Code,
    pub status: StatusCode,
    pub message: String,
    /// Extra response headers (kept small: errors travel through every `Result`).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl OciError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        OciError {
            code,
            status: code.table().1,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn with_header(mut self, name: header::HeaderName, value: String) -> Self {
        if let Ok(v) = HeaderValue::from_str(&value) {
            self.headers.push((name, v));
        }
        self
    }
}

impl From<RegistryError> for OciError {
    fn from(e: RegistryError) -> Self {
        use RegistryError as R;
        let msg = e.to_string();
        match e {
            R::BlobUnknown => OciError::new(Code::BlobUnknown, msg),
            R::UploadUnknown => OciError::new(Code::BlobUploadUnknown, msg),
            R::UploadInvalid(_) => OciError::new(Code::BlobUploadInvalid, msg),
            R::RangeInvalid { size } => OciError::new(Code::RangeInvalid, msg)
                .with_header(header::RANGE, super::range_header(size)),
            R::DigestInvalid(_) => OciError::new(Code::DigestInvalid, msg),
            R::ManifestInvalid(_) => OciError::new(Code::ManifestInvalid, msg),
            R::ManifestBlobUnknown(_) => OciError::new(Code::ManifestBlobUnknown, msg),
            R::ManifestUnknown => OciError::new(Code::ManifestUnknown, msg),
            R::NameUnknown => OciError::new(Code::NameUnknown, msg),
            R::SizeInvalid(_) => OciError::new(Code::SizeInvalid, msg),
            R::TagInvalid(_) => OciError::new(Code::TagInvalid, msg),
            R::Conflict(_) => OciError::new(Code::Denied, msg).with_status(StatusCode::CONFLICT),
            R::Unavailable(m) => {
                tracing::warn!(error = %m, "backend unavailable");
                OciError::new(Code::Unavailable, "service temporarily unavailable; retry")
                    .with_header(header::RETRY_AFTER, "1".into())
            }
            R::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                OciError::new(Code::Unknown, "internal server error")
            }
        }
    }
}

impl IntoResponse for OciError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "errors": [{ "code": self.code.table().0, "message": self.message, "detail": null }]
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        resp.headers_mut().extend(self.headers);
        resp
    }
}
