//! S3-compatible blob store (AWS S3, Garage, MinIO, ...).
//!
//! Uploads stream into multipart parts: the writer cuts the incoming bytes into parts of
//! `part_size` (one part in flight while the next fills) and keeps only the tail of a request
//! that is too small to be a part. That tail is stored as an object of its own and folded into
//! the next part by the next request. Everything needed to continue — the multipart upload id,
//! the parts with their ETags, the tail's key — is the upload's *state*, which the registry
//! persists in the database, so any replica continues any upload.
//!
//! Committing completes the multipart upload in place (`CompleteMultipartUpload`): there is no
//! copy afterwards. The blob's location is the object key, `blobs/<upload id>`; a blob small
//! enough to never need a part stays where its tail was written. Metadata, not the key, says
//! which digest an object holds, so the same blob uploaded twice at once is kept once (the
//! second copy is deleted when its upload completes).

use super::{Appended, BlobStore, ByteStream, StorageError, UploadWriter};
use crate::oci::Digest;
use async_trait::async_trait;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

/// S3's smallest part (all but the last part of a multipart upload must be at least this).
pub const MIN_PART: usize = 5 * 1024 * 1024;
/// Room past a part's size for the request chunk that completes it.
const WRITE_SLACK: usize = 1024 * 1024;
/// S3's most parts per multipart upload.
const MAX_PARTS: u32 = 10_000;
/// Parts of one size before the size grows by another `part_size` (see `part_len`).
const PARTS_PER_STEP: usize = 1000;

/// The size of part `n` (1-based) for a configured `part_size`: parts grow with their number
/// (`part_size` for parts 1–1000, twice that for 1001–2000, ..., ten times for 9001–10,000),
/// so that even blobs of hundreds of gigabytes fit in S3's 10,000 parts (about 461 GB with the
/// default 8 MiB).
fn part_len(part_size: usize, n: i32) -> usize {
    part_size * (1 + (n.max(1) as usize - 1) / PARTS_PER_STEP)
}

/// How to reach the bucket. (No `Debug`: it holds the secret key.)
#[derive(Clone)]
pub struct S3Settings {
    /// `None` for AWS itself; otherwise the endpoint URL (`http://127.0.0.1:3900`).
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    /// Key prefix for everything Berth stores (`""` or ending in `/`).
    pub prefix: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Path-style addressing (`endpoint/bucket/key`), which most self-hosted stores need.
    pub path_style: bool,
    /// Bytes per multipart part before they grow (`part_len`). S3 needs at least `MIN_PART`
    /// (the configuration enforces it); tests use smaller parts against stores that accept
    /// them (Garage), to reach many parts with few bytes.
    pub part_size: usize,
    /// Redirect blob downloads to presigned URLs valid this long; `None` streams through Berth.
    pub redirect_ttl: Option<Duration>,
    /// A local disk cache of blobs, filled by downloads and by uploads written in one request.
    pub cache: Option<Arc<super::cache::DiskCache>>,
}

pub struct S3BlobStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    part_size: usize,
    redirect_ttl: Option<Duration>,
    cache: Option<Arc<super::cache::DiskCache>>,
}

/// An upload's state between requests (persisted by the registry as JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    /// The multipart upload, created when the first part is ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    multipart: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    parts: Vec<Part>,
    /// Bytes after the parts, stored as an object of their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tail: Option<Tail>,
    /// The nonce of a local staging copy of the whole upload (`cache::Stage`), set only by a
    /// request that wrote the upload from its first byte with the copy complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stage: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Part {
    n: i32,
    etag: String,
    size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Tail {
    key: String,
    size: u64,
}

impl State {
    fn parse(s: &str) -> Result<State, StorageError> {
        if s.is_empty() {
            return Ok(State::default());
        }
        serde_json::from_str(s)
            .map_err(|e| StorageError::Io(std::io::Error::other(format!("bad upload state: {e}"))))
    }
    fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
    fn parts_len(&self) -> u64 {
        self.parts.iter().map(|p| p.size).sum()
    }
    fn len(&self) -> u64 {
        self.parts_len() + self.tail.as_ref().map_or(0, |t| t.size)
    }
}

/// Map an SDK error: unreachable or overloaded stores are `Unavailable` (retryable), missing
/// objects and uploads `NotFound`.
fn s3_err<E>(e: SdkError<E, HttpResponse>) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if is_not_found(&e) {
        return StorageError::NotFound;
    }
    match &e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            StorageError::Unavailable(format!("{}", aws_sdk_s3::error::DisplayErrorContext(&e)))
        }
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("");
            let status = se.raw().status().as_u16();
            if status >= 500 || status == 429 {
                return StorageError::Unavailable(format!("object store answered {status} {code}"));
            }
            match code {
                "NoSuchKey" | "NoSuchUpload" | "NotFound" => StorageError::NotFound,
                "SlowDown" | "ServiceUnavailable" | "InternalError" | "RequestTimeout" => {
                    StorageError::Unavailable(format!("object store: {code}"))
                }
                _ => StorageError::Io(std::io::Error::other(format!(
                    "object store: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                ))),
            }
        }
        _ => StorageError::Io(std::io::Error::other(format!(
            "object store: {}",
            aws_sdk_s3::error::DisplayErrorContext(&e)
        ))),
    }
}

fn is_not_found<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    match e {
        SdkError::ServiceError(se) => {
            se.raw().status().as_u16() == 404
                || matches!(
                    se.err().code(),
                    Some("NoSuchKey" | "NotFound" | "NoSuchUpload")
                )
        }
        _ => false,
    }
}

impl S3BlobStore {
    pub fn new(s: S3Settings) -> S3BlobStore {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut conf = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(s.region.clone()))
            .credentials_provider(Credentials::new(
                s.access_key_id.clone(),
                s.secret_access_key.clone(),
                None,
                None,
                "berth-config",
            ))
            .force_path_style(s.path_style)
            .http_client(http)
            // Berth verifies every byte with the blob's own digest; no second checksum.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .timeout_config(
                aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .build(),
            );
        if let Some(e) = &s.endpoint {
            conf = conf.endpoint_url(e.clone());
        }
        S3BlobStore {
            inner: Arc::new(Inner {
                client: aws_sdk_s3::Client::from_conf(conf.build()),
                bucket: s.bucket,
                prefix: s.prefix,
                part_size: s.part_size.max(1),
                redirect_ttl: s.redirect_ttl,
                cache: s.cache,
            }),
        }
    }

    /// Check that the bucket is reachable (used at start-up and by readiness checks).
    pub async fn check(&self) -> Result<(), StorageError> {
        self.inner
            .client
            .head_bucket()
            .bucket(&self.inner.bucket)
            .send()
            .await
            .map_err(s3_err)?;
        Ok(())
    }

    /// Complete an upload whose recorded state is `st` (`len` bytes) and return its location.
    async fn complete(&self, id: &str, len: u64, st: &State) -> Result<String, StorageError> {
        let Some(multipart) = &st.multipart else {
            // Never needed a part: the tail object is the blob.
            return match &st.tail {
                Some(t) => match self.inner.size(&t.key).await? {
                    Some(n) if n == len => Ok(t.key.clone()),
                    Some(_) => Err(StorageError::Truncated { want: len }),
                    None => Err(StorageError::NotFound),
                },
                None => {
                    let location = Inner::blob_location(id);
                    self.inner.put(&location, Bytes::new()).await?;
                    Ok(location)
                }
            };
        };
        let location = Inner::blob_location(id);
        let mut parts = st.parts.clone();
        if let Some(t) = &st.tail {
            let data = match self.inner.read(&t.key, None).await {
                Ok(d) => d,
                // Folded in and deleted by a commit that a crash interrupted: done already?
                Err(StorageError::NotFound) if self.inner.size(&location).await? == Some(len) => {
                    return Ok(location);
                }
                Err(e) => return Err(e),
            };
            let n = parts.last().map_or(1, |p| p.n + 1);
            parts.push(self.inner.upload_part(id, multipart, n, data).await?);
        }
        let completed = CompletedMultipartUpload::builder()
            .set_parts(Some(
                parts
                    .iter()
                    .map(|p| {
                        CompletedPart::builder()
                            .part_number(p.n)
                            .e_tag(&p.etag)
                            .build()
                    })
                    .collect(),
            ))
            .build();
        let r = self
            .inner
            .client
            .complete_multipart_upload()
            .bucket(&self.inner.bucket)
            .key(self.inner.key(&location))
            .upload_id(multipart)
            .multipart_upload(completed)
            .send()
            .await;
        match r {
            Ok(_) => {}
            // Completed before a crash: the object is there.
            Err(e) if is_not_found(&e) && self.inner.size(&location).await? == Some(len) => {}
            Err(e) => return Err(s3_err(e)),
        }
        if let Some(t) = &st.tail {
            if let Err(e) = self.inner.delete(&t.key).await {
                tracing::warn!(key = %t.key, error = %e, "cannot delete an upload's tail object");
            }
        }
        match self.inner.size(&location).await? {
            Some(n) if n == len => Ok(location),
            other => Err(StorageError::Io(std::io::Error::other(format!(
                "completed object has {other:?} bytes, {len} expected"
            )))),
        }
    }
}

impl Inner {
    /// The object key of a location (locations are keys relative to the prefix).
    fn key(&self, location: &str) -> String {
        format!("{}{location}", self.prefix)
    }

    /// Where a multipart upload completes.
    fn blob_location(id: &str) -> String {
        format!("blobs/{id}")
    }

    fn tail_location(id: &str) -> String {
        format!("blobs/{id}.{}", uuid::Uuid::new_v4().simple())
    }

    fn part_len(&self, n: i32) -> usize {
        part_len(self.part_size, n)
    }

    async fn read(&self, location: &str, range: Option<Range<u64>>) -> Result<Bytes, StorageError> {
        let (mut s, _) = self.stream(location, range).await?;
        let mut out = BytesMut::new();
        while let Some(c) = s.next().await {
            out.extend_from_slice(&c?);
        }
        Ok(out.freeze())
    }

    /// Stream an object or a range of it; also returns the object's total size when the
    /// store said it.
    async fn stream(
        &self,
        location: &str,
        range: Option<Range<u64>>,
    ) -> Result<(ByteStream, Option<u64>), StorageError> {
        if let Some(r) = &range {
            if r.start >= r.end {
                return Ok((futures_util::stream::empty().boxed(), None));
            }
        }
        let mut req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(location));
        if let Some(r) = &range {
            req = req.range(format!("bytes={}-{}", r.start, r.end - 1));
        }
        let out = req.send().await.map_err(s3_err)?;
        // `Content-Range: bytes a-b/total` for a range, else the length is the total.
        let total = match (&range, out.content_range()) {
            (Some(_), Some(cr)) => cr.rsplit('/').next().and_then(|t| t.parse().ok()),
            (Some(_), None) => None,
            (None, _) => out.content_length().map(|n| n.max(0) as u64),
        };
        let body = out.body;
        let stream = futures_util::stream::unfold(body, |mut body| async move {
            match body.next().await {
                None => None,
                Some(Ok(b)) => Some((Ok(b), body)),
                Some(Err(e)) => Some((Err(std::io::Error::other(e)), body)),
            }
        })
        .boxed();
        Ok((stream, total))
    }

    async fn put(&self, location: &str, data: Bytes) -> Result<(), StorageError> {
        let len = data.len() as i64;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(location))
            .content_length(len)
            .body(data.into())
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .map_err(s3_err)?;
        Ok(())
    }

    async fn delete(&self, location: &str) -> Result<(), StorageError> {
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.key(location))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(s3_err(e)),
        }
    }

    async fn size(&self, location: &str) -> Result<Option<u64>, StorageError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.key(location))
            .send()
            .await
        {
            Ok(h) => Ok(Some(h.content_length().unwrap_or(0).max(0) as u64)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(s3_err(e)),
        }
    }

    async fn create_multipart(&self, id: &str) -> Result<String, StorageError> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(self.key(&Self::blob_location(id)))
            .content_type("application/octet-stream")
            .send()
            .await
            .map_err(s3_err)?;
        out.upload_id
            .ok_or_else(|| StorageError::Io(std::io::Error::other("no multipart upload id")))
    }

    async fn upload_part(
        &self,
        id: &str,
        multipart: &str,
        n: i32,
        data: Bytes,
    ) -> Result<Part, StorageError> {
        let size = data.len() as u64;
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(self.key(&Self::blob_location(id)))
            .upload_id(multipart)
            .part_number(n)
            .content_length(size as i64)
            .body(data.into())
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .map_err(s3_err)?;
        let etag = out
            .e_tag
            .ok_or_else(|| StorageError::Io(std::io::Error::other("part without an ETag")))?;
        Ok(Part { n, etag, size })
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn ping(&self) -> Result<(), StorageError> {
        self.check().await
    }

    async fn stat(&self, location: &str) -> Result<Option<u64>, StorageError> {
        self.inner.size(location).await
    }

    async fn get(
        &self,
        location: &str,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream, StorageError> {
        let Some(cache) = &self.inner.cache else {
            return Ok(self.inner.stream(location, range).await?.0);
        };
        if let Some(hit) = cache.get(location, range.as_ref()).await {
            return hit;
        }
        let whole_from_start = range.as_ref().is_none_or(|r| r.start == 0);
        let (stream, total) = self.inner.stream(location, range.clone()).await?;
        match total {
            // A download of the whole blob fills the cache on its way to the client.
            Some(total) if whole_from_start && range.as_ref().is_none_or(|r| r.end == total) => {
                Ok(cache.fill(location, total, stream))
            }
            _ => Ok(stream),
        }
    }

    async fn redirect_url(&self, location: &str) -> Result<Option<String>, StorageError> {
        let Some(ttl) = self.inner.redirect_ttl else {
            return Ok(None);
        };
        let conf = PresigningConfig::expires_in(ttl)
            .map_err(|e| StorageError::Io(std::io::Error::other(e)))?;
        let req = self
            .inner
            .client
            .get_object()
            .bucket(&self.inner.bucket)
            .key(self.inner.key(location))
            .presigned(conf)
            .await
            .map_err(s3_err)?;
        Ok(Some(req.uri().to_string()))
    }

    async fn delete(&self, location: &str) -> Result<(), StorageError> {
        if let Some(c) = &self.inner.cache {
            c.remove(location);
        }
        self.inner.delete(location).await
    }

    async fn upload_start(&self, _id: &str) -> Result<String, StorageError> {
        // Nothing to create yet: the multipart upload starts with its first part, so a small
        // blob costs a single PUT.
        Ok(State::default().encode())
    }

    async fn upload_writer(
        &self,
        id: &str,
        offset: u64,
        state: &str,
    ) -> Result<Box<dyn UploadWriter>, StorageError> {
        let st = State::parse(state)?;
        if st.len() != offset {
            return Err(StorageError::Truncated { want: offset });
        }
        let mut buf = BytesMut::new();
        if let Some(t) = &st.tail {
            let b = self.inner.read(&t.key, None).await?;
            if b.len() as u64 != t.size {
                return Err(StorageError::Truncated { want: offset });
            }
            buf.extend_from_slice(&b);
        }
        let mut state = st;
        let old_tail = state.tail.take();
        let old_stage = state.stage.take();
        // Only a request that writes the whole upload from its first byte can stage a copy.
        let stage = match &self.inner.cache {
            Some(c) if offset == 0 => Some(c.stage()),
            _ => None,
        };
        Ok(Box::new(S3Writer {
            inner: self.inner.clone(),
            id: id.to_owned(),
            state,
            buf,
            old_tail,
            old_stage,
            stage,
            wrote: false,
            in_flight: None,
        }))
    }

    async fn upload_read(
        &self,
        _id: &str,
        len: u64,
        state: &str,
    ) -> Result<ByteStream, StorageError> {
        let st = State::parse(state)?;
        if st.multipart.is_some() {
            // Parts of an unfinished multipart upload cannot be read back.
            return Err(StorageError::Unsupported);
        }
        match &st.tail {
            Some(t) if t.size >= len => Ok(self.inner.stream(&t.key, Some(0..len)).await?.0),
            None if len == 0 => Ok(futures_util::stream::empty().boxed()),
            _ => Err(StorageError::Truncated { want: len }),
        }
    }

    async fn upload_commit(
        &self,
        id: &str,
        len: u64,
        state: &str,
        _digest: &Digest,
    ) -> Result<String, StorageError> {
        let st = State::parse(state)?;
        if st.len() != len {
            return Err(StorageError::Truncated { want: len });
        }
        let location = self.complete(id, len, &st).await?;
        if let (Some(cache), Some(nonce)) = (&self.inner.cache, &st.stage) {
            cache.adopt(nonce, &location, len);
        }
        Ok(location)
    }

    async fn upload_abort(&self, id: &str, state: &str) -> Result<(), StorageError> {
        let st = State::parse(state)?;
        if let (Some(cache), Some(nonce)) = (&self.inner.cache, &st.stage) {
            cache.discard(nonce);
        }
        // Every tail this upload ever wrote, including those of requests that failed before
        // they were recorded.
        let prefix = self.inner.key(&format!("blobs/{id}."));
        let listed = self
            .inner
            .client
            .list_objects_v2()
            .bucket(&self.inner.bucket)
            .prefix(&prefix)
            .send()
            .await
            .map_err(s3_err)?;
        for o in listed.contents() {
            if let Some(k) = o.key() {
                let location = k.strip_prefix(&self.inner.prefix).unwrap_or(k);
                self.inner.delete(location).await?;
            }
        }
        if let Some(t) = &st.tail {
            self.inner.delete(&t.key).await?;
        }
        if let Some(m) = &st.multipart {
            match self
                .inner
                .client
                .abort_multipart_upload()
                .bucket(&self.inner.bucket)
                .key(self.inner.key(&Inner::blob_location(id)))
                .upload_id(m)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(s3_err(e)),
            }
        }
        Ok(())
    }

    async fn upload_superseded(&self, old: &str, new: &str) -> Result<(), StorageError> {
        let (old, new) = (State::parse(old)?, State::parse(new)?);
        if let (Some(cache), Some(nonce)) = (&self.inner.cache, &old.stage) {
            if new.stage.as_ref() != Some(nonce) {
                cache.discard(nonce);
            }
        }
        if let Some(t) = old.tail {
            if new.tail.as_ref().map(|n| &n.key) != Some(&t.key) {
                self.inner.delete(&t.key).await?;
            }
        }
        Ok(())
    }
}

struct S3Writer {
    inner: Arc<Inner>,
    id: String,
    /// Parts recorded so far (the tail is rebuilt from `buf` at `finish`).
    state: State,
    /// Bytes after the last part: the previous tail, then this request's data.
    buf: BytesMut,
    /// The tail object this upload had when the request began (kept until superseded).
    old_tail: Option<Tail>,
    /// The staging nonce this upload had when the request began.
    old_stage: Option<String>,
    /// This request's staging copy, when it writes from the first byte and a cache is set.
    stage: Option<super::cache::Stage>,
    /// Whether this request brought any bytes.
    wrote: bool,
    in_flight: Option<tokio::task::JoinHandle<Result<Part, StorageError>>>,
}

impl S3Writer {
    async fn wait(&mut self) -> Result<(), StorageError> {
        if let Some(h) = self.in_flight.take() {
            let part = h
                .await
                .map_err(|e| StorageError::Io(std::io::Error::other(e)))??;
            self.state.parts.push(part);
        }
        Ok(())
    }

    fn next_part(&self) -> i32 {
        let after_flight = i32::from(self.in_flight.is_some());
        self.state.parts.last().map_or(0, |p| p.n) + after_flight + 1
    }

    /// Send `data` as the next part, one part in flight at a time.
    async fn send_part(&mut self, data: Bytes) -> Result<(), StorageError> {
        if self.state.multipart.is_none() {
            self.state.multipart = Some(self.inner.create_multipart(&self.id).await?);
        }
        let n = self.next_part();
        self.wait().await?;
        if n as u32 > MAX_PARTS {
            return Err(StorageError::Io(std::io::Error::other(
                "blob too large for one multipart upload",
            )));
        }
        let inner = self.inner.clone();
        let (id, m) = (
            self.id.clone(),
            self.state.multipart.clone().unwrap_or_default(),
        );
        self.in_flight = Some(tokio::spawn(async move {
            inner.upload_part(&id, &m, n, data).await
        }));
        Ok(())
    }
}

#[async_trait]
impl UploadWriter for S3Writer {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        if chunk.is_empty() {
            return Ok(());
        }
        self.wrote = true;
        if let Some(stage) = &mut self.stage {
            stage.write(&chunk).await;
        }
        if self.buf.capacity() == 0 {
            self.buf
                .reserve(self.inner.part_len(self.next_part()) + WRITE_SLACK);
        }
        self.buf.extend_from_slice(&chunk);
        loop {
            let want = self.inner.part_len(self.next_part());
            if self.buf.len() < want {
                return Ok(());
            }
            let part = self.buf.split_to(want).freeze();
            // Start the next part in an allocation of its own (sized for it), so that this
            // part's memory is released as soon as its upload finishes.
            let next = self.inner.part_len(self.next_part() + 1) + WRITE_SLACK;
            let rest = std::mem::replace(&mut self.buf, BytesMut::with_capacity(next));
            self.buf.extend_from_slice(&rest);
            self.send_part(part).await?;
        }
    }

    async fn finish(mut self: Box<Self>) -> Result<Appended, StorageError> {
        if !self.wrote {
            // An empty request changes nothing.
            self.state.tail = self.old_tail.take();
            self.state.stage = self.old_stage.take();
            return Ok(Appended {
                len: self.state.len(),
                state: self.state.encode(),
            });
        }
        self.wait().await?;
        let rest = std::mem::take(&mut self.buf).freeze();
        if self.state.multipart.is_some() && rest.len() >= MIN_PART {
            // Big enough to be a part of its own: no tail object.
            self.send_part(rest).await?;
            self.wait().await?;
        } else if !rest.is_empty() {
            let key = Inner::tail_location(&self.id);
            let size = rest.len() as u64;
            self.inner.put(&key, rest).await?;
            self.state.tail = Some(Tail { key, size });
        }
        // Every byte is stored: the staging copy stands for the upload if it holds them all.
        if let Some(stage) = self.stage.take() {
            self.state.stage = stage.finish(self.state.len()).await;
        }
        Ok(Appended {
            len: self.state.len(),
            state: self.state.encode(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_grow_by_one_part_size_every_thousand_parts() {
        let p = 8 * 1024 * 1024;
        let table = [
            (0, p), // never asked for; treated as the first
            (1, p),
            (2, p),
            (999, p),
            (1000, p),
            (1001, 2 * p),
            (2000, 2 * p),
            (2001, 3 * p),
            (5500, 6 * p),
            (9000, 9 * p),
            (9001, 10 * p),
            (10_000, 10 * p),
        ];
        for (n, want) in table {
            assert_eq!(part_len(p, n), want, "part {n}");
        }
        assert_eq!(part_len(1000, 1001), 2000);
    }

    #[test]
    fn ten_thousand_parts_hold_400_gb_with_the_default_part_size() {
        let default = crate::config::Config::default().storage.part_size;
        let most: u64 = (1..=MAX_PARTS as i32)
            .map(|n| part_len(default, n) as u64)
            .sum();
        // 1000 parts of each size from 1 to 10 part sizes: 55,000 part sizes.
        assert_eq!(most, 55_000 * default as u64);
        assert!(most >= 400_000_000_000, "{most} bytes");
        // Even at S3's smallest part size, well over 250 GB.
        let smallest: u64 = (1..=MAX_PARTS as i32)
            .map(|n| part_len(MIN_PART, n) as u64)
            .sum();
        assert!(smallest >= 250_000_000_000, "{smallest} bytes");
    }
}
