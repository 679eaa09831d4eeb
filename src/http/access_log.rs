//! The access log: one `info` event per HTTP request, on every surface, with target
//! `berth::access` (so `RUST_LOG=info,berth::access=off` filters it; `log.access = false`
//! leaves the layer out altogether).
//!
//! Fields: `method`, `path` (never the query string, and `/download/<token>` with the token
//! replaced: both may carry credentials), `status`, `bytes_sent` and `bytes_received` (body
//! bytes, counted as they pass), `duration_ms`, `principal` (the authenticated caller's ARN, or
//! `anonymous`), `access_key` (the access key id the caller used, if any), `client` (the peer
//! address), `operation` (the ECR API operation of `X-Amz-Target`, on `POST /`) and
//! `complete` (false when the client went away before the response body was fully sent; a
//! request dropped before it had a response is logged with status 499, as nginx does).
//!
//! The event is written when the response body has been sent to the end (or dropped), so that
//! `bytes_sent` and `duration_ms` cover a whole blob download, not just its headers.
//!
//! Who the caller is becomes known only inside the handler: the layer opens a per-request slot
//! (a task-local) that the authentication paths of every surface fill through [`record`].

use crate::auth::{Caller, PrincipalEntry};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use hyper::body::{Body as _, Frame, SizeHint};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

/// The `tracing` target of access log events.
pub const TARGET: &str = "berth::access";

/// Who a request authenticated as, as far as the handler got.
#[derive(Default)]
struct Principal {
    entry: Option<Arc<PrincipalEntry>>,
    access_key: Option<String>,
}

type Slot = Arc<Mutex<Principal>>;

tokio::task_local! {
    static PRINCIPAL: Slot;
}

/// Note the authenticated caller of the current request for its access log line. A no-op
/// outside a logged request (access log off, unit tests).
pub fn record(caller: &Caller) {
    let _ = PRINCIPAL.try_with(|slot| {
        if let Ok(mut p) = slot.lock() {
            p.entry = caller.principal.clone();
            p.access_key = caller.access_key.clone();
        }
    });
}

/// The middleware (`axum::middleware::from_fn(access_log::layer)`).
pub async fn layer(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let received = Arc::new(AtomicU64::new(0));
    let line = Line {
        method: req.method().clone(),
        path: loggable_path(req.uri().path()),
        client: req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0),
        operation: ecr_operation(&req),
        start,
        received: received.clone(),
        status: StatusCode::OK,
        length: None,
        principal: Slot::default(),
    };
    let slot = line.principal.clone();
    // A request without a body (most GETs and HEADs) needs no counting.
    let req = if req.body().size_hint().exact() == Some(0) {
        req
    } else {
        req.map(|b| {
            Body::new(Counted {
                inner: b,
                bytes: 0,
                on_end: OnEnd::Count(received),
            })
        })
    };
    // Until there is a response, a dropped request (its client went away) is logged here.
    let mut pending = Pending(Some(line));
    let response = PRINCIPAL.scope(slot, next.run(req)).await;
    let Some(line) = pending.0.take() else {
        unreachable!("the request's line is taken only here")
    };
    let (parts, body) = response.into_parts();
    let length = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .or_else(|| body.size_hint().exact());
    let line = Line {
        status: parts.status,
        length,
        ..line
    };
    Response::from_parts(
        parts,
        Body::new(Counted {
            inner: body,
            bytes: 0,
            on_end: OnEnd::Log(Some(line)),
        }),
    )
}

/// The path as logged: download URLs carry a bearer token in their last segment.
fn loggable_path(path: &str) -> String {
    match path.strip_prefix("/download/") {
        Some(_) => "/download/<token>".to_owned(),
        None => path.to_owned(),
    }
}

/// `X-Amz-Target`'s operation on an ECR API call (`POST /`), when it is a plausible name.
fn ecr_operation(req: &Request) -> Option<String> {
    if req.method() != Method::POST || req.uri().path() != "/" {
        return None;
    }
    let target = req.headers().get("x-amz-target")?.to_str().ok()?;
    let op = target
        .strip_prefix(crate::http::ecr::TARGET_PREFIX)
        .unwrap_or("?");
    let plausible =
        !op.is_empty() && op.len() <= 64 && op.bytes().all(|b| b.is_ascii_alphanumeric());
    Some(if plausible { op } else { "?" }.to_owned())
}

/// One request's line, waiting for its response body to end.
struct Line {
    method: Method,
    path: String,
    client: Option<SocketAddr>,
    operation: Option<String>,
    start: Instant,
    received: Arc<AtomicU64>,
    status: StatusCode,
    /// The response body's length, when known before it is sent.
    length: Option<u64>,
    principal: Slot,
}

impl Line {
    fn emit(self, sent: u64, complete: bool) {
        let (principal, access_key) = match self.principal.lock() {
            Ok(p) => (
                p.entry
                    .as_ref()
                    .map_or_else(|| "anonymous".to_owned(), |e| e.info.arn.clone()),
                p.access_key.clone(),
            ),
            Err(_) => ("anonymous".to_owned(), None),
        };
        let duration_ms = self.start.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(
            target: TARGET,
            method = %self.method,
            path = %self.path,
            status = self.status.as_u16(),
            bytes_sent = sent,
            bytes_received = self.received.load(Ordering::Relaxed),
            duration_ms = (duration_ms * 1000.0).round() / 1000.0,
            principal = %principal,
            access_key = access_key.as_deref().map(tracing::field::display),
            client = self.client.map(tracing::field::display),
            operation = self.operation.as_deref(),
            complete,
            "request"
        );
    }
}

/// A request's line while its handler runs.
struct Pending(Option<Line>);

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(mut line) = self.0.take() {
            // nginx's "client closed request": no response was sent.
            line.status = CLIENT_CLOSED_REQUEST;
            line.emit(0, false);
        }
    }
}

/// The status logged for a request whose client went away before its response.
const CLIENT_CLOSED_REQUEST: StatusCode = match StatusCode::from_u16(499) {
    Ok(s) => s,
    Err(_) => StatusCode::BAD_REQUEST,
};

/// What a counted body does at its end.
enum OnEnd {
    /// A request body: add its bytes to the line's count as they pass.
    Count(Arc<AtomicU64>),
    /// A response body: write the line (once).
    Log(Option<Line>),
}

/// A body that counts the data bytes passing through it.
struct Counted {
    inner: Body,
    bytes: u64,
    on_end: OnEnd,
}

impl Counted {
    fn finish(&mut self, complete: bool) {
        if let OnEnd::Log(line) = &mut self.on_end {
            if let Some(line) = line.take() {
                // A HEAD response's body is never sent, whatever its length says; a body of known
                // length is not polled again once that many bytes are out.
                let complete =
                    complete || line.method == Method::HEAD || line.length == Some(self.bytes);
                line.emit(self.bytes, complete);
            }
        }
    }
}

impl hyper::body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                let n = frame.data_ref().map_or(0, |d| d.len() as u64);
                self.bytes += n;
                if let OnEnd::Count(total) = &self.on_end {
                    total.fetch_add(n, Ordering::Relaxed);
                }
            }
            Poll::Ready(None) => self.finish(true),
            Poll::Ready(Some(Err(_))) => self.finish(false),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        // A body the server did not need to poll to its end (empty, a HEAD response, all of its
        // Content-Length sent) ended here; one with bytes left was abandoned by its client.
        let complete = self.inner.is_end_stream();
        self.finish(complete);
    }
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn download_tokens_are_not_logged() {
        assert_eq!(
            loggable_path("/download/eyJhbGciOi.x.y"),
            "/download/<token>"
        );
        assert_eq!(
            loggable_path("/v2/a/b/manifests/v1"),
            "/v2/a/b/manifests/v1"
        );
    }
}
