//! Image operations: ListImages, DescribeImages, BatchGetImage, BatchDeleteImage, PutImage and
//! BatchCheckLayerAvailability. Each calls the registry layer, so `/v2` and this API see one
//! registry: an image pushed through either reads back, byte for byte, through the other.
//!
//! Deliberate gaps: no manifest conversion (`acceptedMediaTypes` filters, it never converts);
//! an index's `imageSizeInBytes` is the sum of its manifests' sizes, each with its blobs (ECR
//! reports the largest child).

use super::input::{array, field, list, max_results, object, serialization, structure, MAX_PAGE};
use super::{bad_token, next_token, token_cursor, Ctx, EcrError, Result};
use crate::auth::Action;
use crate::metadata::{ImageRecord, StoredManifest};
use crate::oci::{Digest, Reference, RepositoryName, Tag};
use crate::registry::{MissingRepository, RegistryError};
use serde_json::{json, Map, Value};

const DEFAULT_PAGE: u32 = 100;
const MAX_IDS: usize = 100;
const MAX_TAG: usize = 300;
const LIST_TOKEN: &str = "berth-images:";
const DESCRIBE_TOKEN: &str = "berth-image-details:";

/// A registry error where the repository may have been deleted under the request.
pub(super) fn registry_error(c: &Ctx<'_>, name: &RepositoryName, e: RegistryError) -> EcrError {
    match e {
        RegistryError::NameUnknown => c.repository_not_found(name.as_str()),
        other => other.into(),
    }
}

// ---- image identifiers ------------------------------------------------------------------

/// A parsed identifier, or the failure code and reason to report for it.
pub(super) type ParsedId =
    std::result::Result<(Option<Digest>, Option<Tag>), (&'static str, String)>;

/// One `ImageIdentifier` of a request, as given (echoed in results) and as parsed.
pub(super) struct ImageId {
    pub(super) echo: Value,
    pub(super) parsed: ParsedId,
}

fn image_id(v: &Value) -> Result<ImageId> {
    let shape = "ImageIdentifier";
    let m = object(v, shape, &["imageDigest", "imageTag"])?;
    let digest = field(m, "imageDigest", shape)?;
    let tag = field(m, "imageTag", shape)?;
    if let Some(t) = tag {
        check_tag_length("imageIds.member.imageTag", t)?;
    }
    let mut echo = Map::new();
    if let Some(d) = digest {
        echo.insert("imageDigest".into(), json!(d));
    }
    if let Some(t) = tag {
        echo.insert("imageTag".into(), json!(t));
    }
    let parsed = (|| {
        if digest.is_none() && tag.is_none() {
            return Err((
                "MissingDigestAndTag",
                "Invalid request parameters: both tag and digest cannot be null".to_owned(),
            ));
        }
        let digest = match digest {
            Some(d) => Some(d.parse::<Digest>().map_err(|_| {
                (
                    "InvalidImageDigest",
                    "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'"
                        .to_owned(),
                )
            })?),
            None => None,
        };
        let tag = match tag {
            Some(t) => Some(t.parse::<Tag>().map_err(|_| {
                (
                    "InvalidImageTag",
                    "Invalid request parameters: the image tag must match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}"
                        .to_owned(),
                )
            })?),
            None => None,
        };
        Ok((digest, tag))
    })();
    Ok(ImageId {
        echo: Value::Object(echo),
        parsed,
    })
}

fn check_tag_length(member: &str, tag: &str) -> Result<()> {
    if tag.is_empty() {
        return Err(EcrError::invalid(
            member,
            "must have length greater than or equal to 1",
        ));
    }
    if tag.chars().count() > MAX_TAG {
        return Err(EcrError::invalid(
            member,
            "must have length less than or equal to 300",
        ));
    }
    Ok(())
}

/// `imageIds`: 1–100 identifiers.
pub(super) fn image_ids(c: &Ctx<'_>) -> Result<Option<Vec<ImageId>>> {
    let Some(ids) = list(c, "imageIds")? else {
        return Ok(None);
    };
    if ids.is_empty() {
        return Err(EcrError::invalid(
            "imageIds",
            "must have length greater than or equal to 1",
        ));
    }
    if ids.len() > MAX_IDS {
        return Err(EcrError::invalid(
            "imageIds",
            "must have length less than or equal to 100",
        ));
    }
    ids.iter().map(image_id).collect::<Result<_>>().map(Some)
}

fn required_image_ids(c: &Ctx<'_>) -> Result<Vec<ImageId>> {
    image_ids(c)?.ok_or_else(|| EcrError::invalid("imageIds", "must not be null"))
}

fn failure(id: &ImageId, code: &str, reason: impl Into<String>) -> Value {
    json!({"imageId": id.echo, "failureCode": code, "failureReason": reason.into()})
}

fn not_found_failure(id: &ImageId) -> Value {
    failure(id, "ImageNotFound", "Requested image not found")
}

/// The manifest an identifier names, or the failure to report for it.
async fn resolve(
    c: &Ctx<'_>,
    name: &RepositoryName,
    id: &ImageId,
) -> Result<std::result::Result<StoredManifest, Value>> {
    let (digest, tag) = match &id.parsed {
        Ok(p) => p,
        Err((code, reason)) => return Ok(Err(failure(id, code, reason.clone()))),
    };
    let reference = match (tag, digest) {
        (Some(t), _) => Reference::Tag(t.clone()),
        (None, Some(d)) => Reference::Digest(d.clone()),
        (None, None) => return Ok(Err(not_found_failure(id))),
    };
    match c.st.registry.get_manifest(name, &reference).await {
        Ok(m) => match digest {
            Some(d) if tag.is_some() && &m.digest != d => Ok(Err(failure(
                id,
                "ImageTagDoesNotMatchDigest",
                "Invalid request parameters: the image tag does not match the image digest",
            ))),
            _ => Ok(Ok(m)),
        },
        Err(RegistryError::ManifestUnknown) => Ok(Err(not_found_failure(id))),
        Err(e) => Err(registry_error(c, name, e)),
    }
}

/// The listing record of one manifest, if it (still) exists.
async fn record(c: &Ctx<'_>, name: &RepositoryName, digest: &str) -> Result<Option<ImageRecord>> {
    let page =
        c.st.registry
            .list_images(name, Some(digest), 1)
            .await
            .map_err(|e| registry_error(c, name, e))?;
    Ok(page.into_iter().next().filter(|r| r.digest == digest))
}

// ---- filters and tokens -----------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum TagStatus {
    Tagged,
    Untagged,
    Any,
}

impl TagStatus {
    /// Whether an image with these tags is selected.
    pub(super) fn selects(self, tags: &[impl Sized]) -> bool {
        match self {
            TagStatus::Any => true,
            TagStatus::Tagged => !tags.is_empty(),
            TagStatus::Untagged => tags.is_empty(),
        }
    }
}

/// `filter.tagStatus`: TAGGED, UNTAGGED or ANY (the default).
pub(super) fn tag_status(f: &Map<String, Value>) -> Result<TagStatus> {
    match field(f, "tagStatus", "filter")? {
        None | Some("ANY") => Ok(TagStatus::Any),
        Some("TAGGED") => Ok(TagStatus::Tagged),
        Some("UNTAGGED") => Ok(TagStatus::Untagged),
        Some(_) => Err(EcrError::invalid(
            "filter.tagStatus",
            "must satisfy enum value set: [TAGGED, UNTAGGED, ANY]",
        )),
    }
}

/// `filter`: `tagStatus` and `imageStatus` (every image here is ACTIVE). `None` when the
/// filter selects nothing at all.
fn filter(c: &Ctx<'_>) -> Result<Option<TagStatus>> {
    let Some(f) = structure(c, "filter", &["tagStatus", "imageStatus"])? else {
        return Ok(Some(TagStatus::Any));
    };
    let status = tag_status(f)?;
    match field(f, "imageStatus", "filter")? {
        None | Some("ACTIVE") | Some("ANY") => Ok(Some(status)),
        Some("ARCHIVED") | Some("ACTIVATING") => Ok(None),
        Some(_) => Err(EcrError::invalid(
            "filter.imageStatus",
            "must satisfy enum value set: [ACTIVE, ARCHIVED, ACTIVATING, ANY]",
        )),
    }
}

fn encode_token(prefix: &str, digest: &str, tag: &str) -> String {
    next_token(prefix, &format!("{digest}\n{tag}"))
}

/// The (digest, tag) a page starts at, from a token of `op`.
fn decode_token(prefix: &str, op: &str, token: &str) -> Result<(String, String)> {
    let cursor = token_cursor(prefix, op, token)?;
    let (digest, tag) = cursor.split_once('\n').ok_or_else(|| bad_token(op))?;
    digest.parse::<Digest>().map_err(|_| bad_token(op))?;
    if !tag.is_empty() {
        tag.parse::<Tag>().map_err(|_| bad_token(op))?;
    }
    Ok((digest.to_owned(), tag.to_owned()))
}

/// Walk the repository's images from `start` on, in digest order, feeding each to `take`
/// until it says the page is full.
async fn walk(
    c: &Ctx<'_>,
    name: &RepositoryName,
    start: Option<&str>,
    want: u32,
    mut take: impl FnMut(ImageRecord) -> bool,
) -> Result<()> {
    // Each batch after the first starts at the last digest seen, which is skipped.
    let batch = want.clamp(99, 1000) + 1;
    let mut from = start.map(str::to_owned);
    let mut seen: Option<String> = None;
    loop {
        let page =
            c.st.registry
                .list_images(name, from.as_deref(), batch)
                .await
                .map_err(|e| registry_error(c, name, e))?;
        let exhausted = page.len() < batch as usize;
        for img in page {
            if seen.as_deref().is_some_and(|s| img.digest.as_str() <= s) {
                continue;
            }
            seen = Some(img.digest.clone());
            if take(img) {
                return Ok(());
            }
        }
        if exhausted {
            return Ok(());
        }
        from = seen.clone();
    }
}

// ---- ListImages -------------------------------------------------------------------------

pub(super) async fn list_images(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&[
        "registryId",
        "repositoryName",
        "nextToken",
        "maxResults",
        "filter",
    ])?;
    let name = c.existing_repository(Action::ListImages).await?;
    let limit = max_results(c, MAX_PAGE)?.unwrap_or(DEFAULT_PAGE) as usize;
    let start = c
        .string("nextToken")?
        .map(|t| decode_token(LIST_TOKEN, "ListImages", t))
        .transpose()?;
    let Some(status) = filter(c)? else {
        return Ok(json!({ "imageIds": [] }));
    };
    // Entries are (digest, tag) pairs in order; an untagged image has the tag "".
    let mut entries: Vec<(String, String)> = Vec::new();
    let (start_digest, start_tag) = match &start {
        Some((d, t)) => (Some(d.as_str()), t.as_str()),
        None => (None, ""),
    };
    walk(c, &name, start_digest, limit as u32 + 1, |img| {
        let resumed = start_digest == Some(img.digest.as_str());
        if img.tags.is_empty() {
            // Resuming inside an untagged image cannot happen: it has one entry.
            let skip = resumed && !start_tag.is_empty();
            if status != TagStatus::Tagged && !skip {
                entries.push((img.digest, String::new()));
            }
        } else if status != TagStatus::Untagged {
            for t in img.tags {
                if !(resumed && t.as_str() < start_tag) {
                    entries.push((img.digest.clone(), t));
                }
            }
        }
        entries.len() > limit
    })
    .await?;
    let next = (entries.len() > limit).then(|| entries[limit].clone());
    entries.truncate(limit);
    let ids: Vec<Value> = entries
        .into_iter()
        .map(|(d, t)| {
            if t.is_empty() {
                json!({ "imageDigest": d })
            } else {
                json!({ "imageDigest": d, "imageTag": t })
            }
        })
        .collect();
    let mut out = json!({ "imageIds": ids });
    if let Some((d, t)) = next {
        out["nextToken"] = json!(encode_token(LIST_TOKEN, &d, &t));
    }
    Ok(out)
}

// ---- DescribeImages ---------------------------------------------------------------------

fn detail(c: &Ctx<'_>, name: &RepositoryName, img: &ImageRecord) -> Value {
    let mut d = json!({
        "registryId": c.account(),
        "repositoryName": name.as_str(),
        "imageDigest": img.digest,
        "imageSizeInBytes": img.size,
        "imagePushedAt": img.pushed_at as f64 / 1000.0,
        "imageManifestMediaType": img.media_type,
    });
    if !img.tags.is_empty() {
        d["imageTags"] = json!(img.tags);
    }
    if let Some(t) = img.last_pulled_at {
        d["lastRecordedPullTime"] = json!(t as f64 / 1000.0);
    }
    if let Some(a) = &img.artifact_type {
        d["artifactMediaType"] = json!(a);
    }
    d
}

fn image_not_found(c: &Ctx<'_>, name: &RepositoryName, id: &ImageId) -> EcrError {
    let part = |k: &str| {
        id.echo
            .get(k)
            .and_then(Value::as_str)
            .map(|v| format!("{k}:'{v}'"))
    };
    let shown: Vec<String> = ["imageDigest", "imageTag"]
        .iter()
        .filter_map(|k| part(k))
        .collect();
    EcrError::new(
        "ImageNotFoundException",
        format!(
            "The image with imageId {{{}}} does not exist within the repository with name '{name}' in the registry with id '{}'",
            shown.join(", "),
            c.account()
        ),
    )
}

pub(super) async fn describe_images(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&[
        "registryId",
        "repositoryName",
        "imageIds",
        "nextToken",
        "maxResults",
        "filter",
    ])?;
    let name = c.existing_repository(Action::DescribeImages).await?;
    let ids = image_ids(c)?;
    let token = c.string("nextToken")?;
    let limit = max_results(c, MAX_PAGE)?;
    let status = filter(c)?;
    if let Some(ids) = ids {
        if token.is_some() || limit.is_some() {
            return Err(EcrError::invalid(
                "imageIds",
                "nextToken and maxResults cannot be used together with imageIds",
            ));
        }
        let mut details: Vec<Value> = Vec::new();
        let mut shown: Vec<String> = Vec::new();
        for id in &ids {
            let m = match resolve(c, &name, id).await? {
                Ok(m) => m,
                Err(f) => {
                    return Err(match f["failureCode"].as_str() {
                        Some("ImageNotFound") | Some("ImageTagDoesNotMatchDigest") => {
                            image_not_found(c, &name, id)
                        }
                        _ => EcrError::invalid(
                            "imageIds",
                            f["failureReason"].as_str().unwrap_or("invalid image id"),
                        ),
                    })
                }
            };
            let digest = m.digest.to_string();
            if shown.contains(&digest) {
                continue;
            }
            let Some(img) = record(c, &name, &digest).await? else {
                return Err(image_not_found(c, &name, id));
            };
            details.push(detail(c, &name, &img));
            shown.push(digest);
        }
        return Ok(json!({ "imageDetails": details }));
    }
    let limit = limit.unwrap_or(DEFAULT_PAGE) as usize;
    let start = token
        .map(|t| decode_token(DESCRIBE_TOKEN, "DescribeImages", t))
        .transpose()?;
    let Some(status) = status else {
        return Ok(json!({ "imageDetails": [] }));
    };
    let mut images: Vec<ImageRecord> = Vec::new();
    walk(
        c,
        &name,
        start.as_ref().map(|(d, _)| d.as_str()),
        limit as u32 + 1,
        |img| {
            if status.selects(&img.tags) {
                images.push(img);
            }
            images.len() > limit
        },
    )
    .await?;
    let next = (images.len() > limit).then(|| images[limit].digest.clone());
    images.truncate(limit);
    let details: Vec<Value> = images.iter().map(|i| detail(c, &name, i)).collect();
    let mut out = json!({ "imageDetails": details });
    if let Some(d) = next {
        out["nextToken"] = json!(encode_token(DESCRIBE_TOKEN, &d, ""));
    }
    Ok(out)
}

// ---- BatchGetImage ----------------------------------------------------------------------

fn accepted_media_types(c: &Ctx<'_>) -> Result<Option<Vec<String>>> {
    let Some(types) = list(c, "acceptedMediaTypes")? else {
        return Ok(None);
    };
    if types.is_empty() || types.len() > 100 {
        return Err(EcrError::invalid(
            "acceptedMediaTypes",
            "must have length between 1 and 100",
        ));
    }
    types
        .iter()
        .map(|t| match t.as_str() {
            Some(s) if !s.is_empty() && s.len() <= 255 => Ok(s.to_owned()),
            Some(_) => Err(EcrError::invalid(
                "acceptedMediaTypes.member",
                "must have length between 1 and 255",
            )),
            None => Err(serialization("acceptedMediaTypes must hold strings")),
        })
        .collect::<Result<_>>()
        .map(Some)
}

fn image_json(
    c: &Ctx<'_>,
    name: &RepositoryName,
    digest: &Digest,
    tag: Option<&str>,
    media_type: &str,
    content: &[u8],
) -> Value {
    let mut id = json!({ "imageDigest": digest.to_string() });
    if let Some(t) = tag {
        id["imageTag"] = json!(t);
    }
    json!({
        "registryId": c.account(),
        "repositoryName": name.as_str(),
        "imageId": id,
        "imageManifest": String::from_utf8_lossy(content),
        "imageManifestMediaType": media_type,
    })
}

pub(super) async fn batch_get_image(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&[
        "registryId",
        "repositoryName",
        "imageIds",
        "acceptedMediaTypes",
    ])?;
    let name = c.existing_repository(Action::BatchGetImage).await?;
    let ids = required_image_ids(c)?;
    let accepted = accepted_media_types(c)?;
    let mut images = Vec::new();
    let mut failures = Vec::new();
    for id in &ids {
        match resolve(c, &name, id).await? {
            Err(f) => failures.push(f),
            Ok(m) => {
                if let Some(a) = &accepted {
                    if !a.iter().any(|t| t == &m.media_type) {
                        // No conversion between manifest formats (a documented gap).
                        failures.push(failure(
                            id,
                            "ImageNotFound",
                            format!(
                                "The image's manifest media type {} is not among acceptedMediaTypes",
                                m.media_type
                            ),
                        ));
                        continue;
                    }
                }
                // BatchGetImage is how the ECR API pulls (ECR records it as a pull).
                c.st.registry.record_pull(&name, &m.digest);
                let tag = id.echo.get("imageTag").and_then(Value::as_str);
                images.push(image_json(
                    c,
                    &name,
                    &m.digest,
                    tag,
                    &m.media_type,
                    &m.content,
                ));
            }
        }
    }
    Ok(json!({ "images": images, "failures": failures }))
}

// ---- BatchDeleteImage -------------------------------------------------------------------

pub(super) async fn batch_delete_image(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&["registryId", "repositoryName", "imageIds"])?;
    let name = c.existing_repository(Action::BatchDeleteImage).await?;
    let ids = required_image_ids(c)?;
    let mut deleted = Vec::new();
    let mut failures = Vec::new();
    for id in &ids {
        let (digest, tag) = match &id.parsed {
            Ok(p) => p,
            Err((code, reason)) => {
                failures.push(failure(id, code, reason.clone()));
                continue;
            }
        };
        if let Some(t) = tag {
            if digest.is_some() {
                if let Err(f) = resolve(c, &name, id).await? {
                    failures.push(f);
                    continue;
                }
            }
            match c.st.registry.untag_image(&name, t).await {
                Ok(d) => {
                    deleted.push(json!({"imageDigest": d.to_string(), "imageTag": t.as_str()}))
                }
                Err(RegistryError::ManifestUnknown) => failures.push(not_found_failure(id)),
                Err(e) => return Err(registry_error(c, &name, e)),
            }
            continue;
        }
        let Some(d) = digest else {
            failures.push(not_found_failure(id));
            continue;
        };
        let tags = record(c, &name, &d.to_string())
            .await?
            .map(|r| r.tags)
            .unwrap_or_default();
        match c
            .st
            .registry
            .delete_manifest(&name, &Reference::Digest(d.clone()))
            .await
        {
            Ok(()) => {
                if tags.is_empty() {
                    deleted.push(json!({ "imageDigest": d.to_string() }));
                }
                for t in tags {
                    deleted.push(json!({ "imageDigest": d.to_string(), "imageTag": t }));
                }
            }
            Err(RegistryError::ManifestUnknown) => failures.push(not_found_failure(id)),
            Err(RegistryError::Conflict(m)) => {
                failures.push(failure(id, "ImageReferencedByManifestList", m))
            }
            Err(e) => return Err(registry_error(c, &name, e)),
        }
    }
    Ok(json!({ "imageIds": deleted, "failures": failures }))
}

// ---- PutImage ---------------------------------------------------------------------------

pub(super) async fn put_image(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&[
        "registryId",
        "repositoryName",
        "imageManifest",
        "imageManifestMediaType",
        "imageTag",
        "imageDigest",
    ])?;
    let name = c.existing_repository(Action::PutImage).await?;
    let manifest = c.required("imageManifest")?;
    // The registry's limit (`registry.max_manifest_bytes`, as for /v2), in bytes as stored:
    // ECR's model counts characters, which lets a multi-byte manifest exceed it.
    let limit = c.st.registry.options.max_manifest_bytes;
    if manifest.is_empty() || manifest.len() > limit {
        return Err(EcrError::invalid(
            "imageManifest",
            format!("must have length between 1 and {limit} bytes"),
        ));
    }
    let media_type = c.string("imageManifestMediaType")?;
    let tag = match c.string("imageTag")? {
        Some(t) => {
            check_tag_length("imageTag", t)?;
            Some(
                t.parse::<Tag>()
                    .map_err(|e| EcrError::invalid("imageTag", e))?,
            )
        }
        None => None,
    };
    let bytes = manifest.as_bytes();
    let digest = match c.string("imageDigest")? {
        Some(given) => {
            let d: Digest = given.parse().map_err(|_| {
                EcrError::invalid(
                    "imageDigest",
                    "must satisfy regular expression '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'",
                )
            })?;
            let actual = d.algorithm().digest(bytes);
            if actual != d {
                return Err(EcrError::new(
                    "ImageDigestDoesNotMatchException",
                    format!(
                        "Provided image digest '{d}' does not match the actual image digest '{actual}'."
                    ),
                ));
            }
            d
        }
        None => crate::oci::Algorithm::Sha256.digest(bytes),
    };
    if already_there(c, &name, &digest, tag.as_ref()).await? {
        let shown = match &tag {
            Some(t) => format!("Image with digest '{digest}' and tag '{t}'"),
            None => format!("Image with digest '{digest}'"),
        };
        return Err(EcrError::new(
            "ImageAlreadyExistsException",
            format!(
                "{shown} already exists in the repository with name '{name}' in registry with id '{}'",
                c.account()
            ),
        ));
    }
    let reference = match &tag {
        Some(t) => Reference::Tag(t.clone()),
        None => Reference::Digest(digest.clone()),
    };
    // The repository exists (checked above); one deleted meanwhile is not brought back.
    match c
        .st
        .registry
        .put_manifest(
            &name,
            &reference,
            &[],
            media_type,
            bytes,
            MissingRepository::Refuse,
        )
        .await
    {
        Ok(_) => {}
        Err(e) => return Err(put_error(c, &name, media_type, bytes, e)),
    }
    let stored =
        c.st.registry
            .get_manifest(&name, &Reference::Digest(digest.clone()))
            .await
            .map_err(|e| registry_error(c, &name, e))?;
    Ok(json!({
        "image": image_json(
            c,
            &name,
            &digest,
            tag.as_ref().map(Tag::as_str),
            &stored.media_type,
            &stored.content,
        )
    }))
}

/// Whether the manifest is stored and, when a tag is given, the tag already points at it.
async fn already_there(
    c: &Ctx<'_>,
    name: &RepositoryName,
    digest: &Digest,
    tag: Option<&Tag>,
) -> Result<bool> {
    let reference = match tag {
        Some(t) => Reference::Tag(t.clone()),
        None => Reference::Digest(digest.clone()),
    };
    match c.st.registry.get_manifest(name, &reference).await {
        Ok(m) => Ok(&m.digest == digest),
        Err(RegistryError::ManifestUnknown) => Ok(false),
        Err(e) => Err(registry_error(c, name, e)),
    }
}

fn put_error(
    c: &Ctx<'_>,
    name: &RepositoryName,
    media_type: Option<&str>,
    bytes: &[u8],
    e: RegistryError,
) -> EcrError {
    match e {
        RegistryError::ManifestInvalid(m) | RegistryError::SizeInvalid(m) => {
            EcrError::invalid("imageManifest", m)
        }
        RegistryError::DigestInvalid(m) => EcrError::new("ImageDigestDoesNotMatchException", m),
        RegistryError::TagInvalid(m) => EcrError::new("ImageTagAlreadyExistsException", m),
        RegistryError::ManifestBlobUnknown(d) => {
            let is_child = crate::oci::manifest::parse(media_type, bytes)
                .map(|m| m.manifests.iter().any(|x| x.digest == d))
                .unwrap_or(false);
            if is_child {
                EcrError::new(
                    "ReferencedImagesNotFoundException",
                    format!(
                        "Some of the referenced images were not found in the repository with name '{name}': [{d}]"
                    ),
                )
            } else {
                EcrError::new(
                    "LayersNotFoundException",
                    format!(
                        "Layers with digests '[{d}]' required for pushing image into repository with name '{name}' in the registry with id '{}' do not exist",
                        c.account()
                    ),
                )
            }
        }
        other => registry_error(c, name, other),
    }
}

// ---- BatchCheckLayerAvailability --------------------------------------------------------

pub(super) async fn batch_check_layer_availability(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&["registryId", "repositoryName", "layerDigests"])?;
    let name = c
        .existing_repository(Action::BatchCheckLayerAvailability)
        .await?;
    let digests = list(c, "layerDigests")?
        .ok_or_else(|| EcrError::invalid("layerDigests", "must not be null"))?;
    if digests.is_empty() || digests.len() > 100 {
        return Err(EcrError::invalid(
            "layerDigests",
            "must have length between 1 and 100",
        ));
    }
    let mut layers = Vec::new();
    let mut failures = Vec::new();
    for v in digests {
        let Some(s) = v.as_str() else {
            return Err(serialization("layerDigests must hold strings"));
        };
        if s.len() > 1000 {
            return Err(EcrError::invalid(
                "layerDigests.member",
                "must have length less than or equal to 1000",
            ));
        }
        let Ok(d) = s.parse::<Digest>() else {
            failures.push(json!({
                "layerDigest": s,
                "failureCode": "InvalidLayerDigest",
                "failureReason": "Invalid layer digest",
            }));
            continue;
        };
        match c.st.registry.stat_blob(&name, &d).await {
            Ok(b) => layers.push(json!({
                "layerDigest": s,
                "layerAvailability": "AVAILABLE",
                "layerSize": b.size,
            })),
            Err(RegistryError::BlobUnknown) => failures.push(json!({
                "layerDigest": s,
                "failureCode": "MissingLayerDigest",
                "failureReason": "Could not find layer",
            })),
            Err(e) => return Err(registry_error(c, &name, e)),
        }
    }
    Ok(json!({ "layers": layers, "failures": failures }))
}

// ---- ListImageReferrers -----------------------------------------------------------------

const REFERRERS_TOKEN: &str = "berth-referrers:";
const REFERRERS_PAGE: u32 = 20;
const REFERRERS_MAX: u32 = 50;

/// The manifests in the repository whose `subject` is `subjectId.imageDigest` (what
/// `/v2/<name>/referrers/<digest>` lists), by digest, `filter.artifactTypes` (any of up to 5)
/// applied; 20 per page unless `maxResults` (≤ 50) says otherwise.
pub(super) async fn list_image_referrers(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&[
        "registryId",
        "repositoryName",
        "subjectId",
        "filter",
        "nextToken",
        "maxResults",
    ])?;
    let name = c.existing_repository(Action::ListImageReferrers).await?;
    let subject = structure(c, "subjectId", &["imageDigest"])?
        .ok_or_else(|| EcrError::invalid("subjectId", "must not be null"))?;
    let subject: Digest = match subject.get("imageDigest") {
        Some(Value::String(d)) => d.parse().map_err(|_| {
            EcrError::invalid(
                "subjectId.imageDigest",
                "must satisfy regular expression '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'",
            )
        })?,
        None | Some(Value::Null) => {
            return Err(EcrError::invalid(
                "subjectId.imageDigest",
                "must not be null",
            ))
        }
        Some(_) => return Err(serialization("imageDigest must be a string")),
    };
    let mut types: Option<Vec<String>> = None;
    let mut active = true;
    if let Some(f) = structure(c, "filter", &["artifactTypes", "artifactStatus"])? {
        if let Some(a) = array(f, "artifactTypes", "filter")? {
            if a.len() > 5 {
                return Err(EcrError::invalid(
                    "filter.artifactTypes",
                    "must have length less than or equal to 5",
                ));
            }
            let mut v = Vec::new();
            for t in a {
                match t.as_str() {
                    Some(t) if (1..=255).contains(&t.len()) => v.push(t.to_owned()),
                    Some(_) => {
                        return Err(EcrError::invalid(
                            "filter.artifactTypes.member",
                            "must have length between 1 and 255",
                        ))
                    }
                    None => return Err(serialization("artifactTypes must hold strings")),
                }
            }
            types = Some(v);
        }
        match field(f, "artifactStatus", "filter")? {
            None | Some("ACTIVE" | "ANY") => {}
            // Nothing here is ever archived.
            Some("ARCHIVED" | "ACTIVATING") => active = false,
            Some(_) => {
                return Err(EcrError::invalid(
                    "filter.artifactStatus",
                    "must satisfy enum value set: [ACTIVE, ARCHIVED, ACTIVATING, ANY]",
                ))
            }
        }
    }
    let limit = max_results(c, REFERRERS_MAX)?.unwrap_or(REFERRERS_PAGE) as usize;
    let after = match c.string("nextToken")? {
        None => None,
        Some(t) => {
            let op = "ListImageReferrers";
            let (d, rest) = decode_token(REFERRERS_TOKEN, op, t)?;
            if !rest.is_empty() {
                return Err(bad_token(op));
            }
            Some(d)
        }
    };
    let mut referrers = if active {
        c.st.registry
            .referrers(&name, &subject, None)
            .await
            .map_err(|e| registry_error(c, &name, e))?
    } else {
        Vec::new()
    };
    if let Some(t) = &types {
        referrers.retain(|r| r.artifact_type.as_ref().is_some_and(|a| t.contains(a)));
    }
    referrers.sort_by(|a, b| a.digest.cmp(&b.digest));
    if let Some(after) = &after {
        referrers.retain(|r| &r.digest > after);
    }
    let more = referrers.len() > limit;
    referrers.truncate(limit);
    let items: Vec<Value> = referrers
        .iter()
        .map(|r| {
            let mut v = json!({
                "digest": r.digest,
                "mediaType": r.media_type,
                "size": r.size,
                "artifactStatus": "ACTIVE",
            });
            if let Some(a) = &r.artifact_type {
                v["artifactType"] = json!(a);
            }
            if let Some(a) = r
                .annotations
                .as_deref()
                .and_then(|a| serde_json::from_str::<Value>(a).ok())
                .filter(Value::is_object)
            {
                v["annotations"] = a;
            }
            v
        })
        .collect();
    let mut out = json!({ "referrers": items });
    if more {
        if let Some(last) = referrers.last() {
            out["nextToken"] = json!(encode_token(REFERRERS_TOKEN, &last.digest, ""));
        }
    }
    Ok(out)
}
