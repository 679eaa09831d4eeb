//! Layer uploads through the API: InitiateLayerUpload, UploadLayerPart and CompleteLayerUpload,
//! on the registry's own uploads (the ones `/v2` uses), so a blob uploaded either way is one blob;
//! and downloads: GetDownloadUrlForLayer.
//!
//! Not enforced: the 5 MiB minimum for non-final parts (`LayerPartTooSmallException`).

use super::images::registry_error;
use super::input::{list, serialization};
use super::{Ctx, EcrError, Result};
use crate::auth::Action;
use crate::oci::{Algorithm, Digest, RepositoryName};
use crate::registry::{ChunkRange, MissingRepository, RegistryError};
use base64::Engine as _;
use serde_json::{json, Value};

/// What InitiateLayerUpload advertises; parts of any size are accepted.
const PART_SIZE: u64 = 10 * 1024 * 1024;
/// The model's limit for `layerPartBlob`.
const MAX_PART: usize = 20 * 1024 * 1024;
/// How long a `GetDownloadUrlForLayer` URL signed by this registry works, in seconds (a URL
/// presigned by the object store has the expiry `storage.redirect_ttl_secs` gives it).
const DOWNLOAD_TTL: i64 = 3600;

fn upload_not_found(c: &Ctx<'_>, name: &RepositoryName, id: &str) -> EcrError {
    EcrError::new(
        "UploadNotFoundException",
        format!(
            "Upload with id '{id}' is not found in repository '{name}' in registry with id '{}'",
            c.account()
        ),
    )
}

/// `uploadId`, which this registry issues as a UUID.
fn upload_id<'a>(c: &'a Ctx<'_>) -> Result<&'a str> {
    let id = c.required("uploadId")?;
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(EcrError::invalid(
            "uploadId",
            "must satisfy regular expression '[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}'",
        ));
    }
    Ok(id)
}

fn byte_position(c: &Ctx<'_>, member: &str) -> Result<u64> {
    match c.input.get(member) {
        None | Some(Value::Null) => Err(EcrError::invalid(member, "must not be null")),
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| EcrError::invalid(member, "must be greater than or equal to 0")),
        Some(_) => Err(serialization(format!("{member} must be an integer"))),
    }
}

pub(super) async fn initiate_layer_upload(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&["registryId", "repositoryName"])?;
    let name = c.existing_repository(Action::InitiateLayerUpload).await?;
    let up =
        c.st.registry
            .start_upload(&name, Algorithm::Sha256)
            .await
            .map_err(|e| registry_error(c, &name, e))?;
    Ok(json!({ "uploadId": up.id, "partSize": PART_SIZE }))
}

pub(super) async fn upload_layer_part(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&[
        "registryId",
        "repositoryName",
        "uploadId",
        "partFirstByte",
        "partLastByte",
        "layerPartBlob",
    ])?;
    let name = c.existing_repository(Action::UploadLayerPart).await?;
    let id = upload_id(c)?;
    let first = byte_position(c, "partFirstByte")?;
    let last = byte_position(c, "partLastByte")?;
    let blob = base64::engine::general_purpose::STANDARD
        .decode(c.required("layerPartBlob")?)
        .map_err(|_| serialization("layerPartBlob must be base64-encoded"))?;
    if blob.is_empty() || blob.len() > MAX_PART {
        return Err(EcrError::invalid(
            "layerPartBlob",
            "must have length between 1 and 20971520",
        ));
    }
    let status =
        c.st.registry
            .upload_status(&name, id)
            .await
            .map_err(|e| match e {
                RegistryError::UploadUnknown => upload_not_found(c, &name, id),
                other => registry_error(c, &name, other),
            })?;
    let invalid_part = |size: u64, why: String| {
        EcrError::new("InvalidLayerPartException", why)
            .with("registryId", json!(c.account()))
            .with("repositoryName", json!(name.as_str()))
            .with("uploadId", json!(id))
            .with("lastValidByteReceived", json!(size as i64 - 1))
    };
    if last < first || last - first + 1 != blob.len() as u64 {
        return Err(invalid_part(
            status.size,
            format!(
                "The part spans bytes {first} to {last} but carries {} bytes",
                blob.len()
            ),
        ));
    }
    let body: crate::storage::ByteStream = Box::pin(futures_util::stream::once(async move {
        Ok::<_, std::io::Error>(bytes::Bytes::from(blob))
    }));
    let range = ChunkRange {
        start: first,
        end: last,
    };
    match c
        .st
        .registry
        .append_upload(&name, id, Some(range), body)
        .await
    {
        Ok(up) => Ok(json!({
            "registryId": c.account(),
            "repositoryName": name.as_str(),
            "uploadId": id,
            "lastByteReceived": up.size as i64 - 1,
        })),
        Err(RegistryError::RangeInvalid { size }) => Err(invalid_part(
            size,
            format!("The part must start at byte {size}, where the upload ends"),
        )),
        Err(RegistryError::UploadInvalid(m)) => Err(invalid_part(status.size, m)),
        Err(RegistryError::UploadUnknown) => Err(upload_not_found(c, &name, id)),
        Err(e) => Err(registry_error(c, &name, e)),
    }
}

pub(super) async fn complete_layer_upload(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&["registryId", "repositoryName", "uploadId", "layerDigests"])?;
    let name = c.existing_repository(Action::CompleteLayerUpload).await?;
    let id = upload_id(c)?;
    let digests = list(c, "layerDigests")?
        .ok_or_else(|| EcrError::invalid("layerDigests", "must not be null"))?;
    let [given] = digests.as_slice() else {
        return Err(EcrError::invalid(
            "layerDigests",
            "must hold exactly one digest: one upload is one layer",
        ));
    };
    let given = given
        .as_str()
        .ok_or_else(|| serialization("layerDigests must hold strings"))?;
    let digest: Digest = given.parse().map_err(|_| {
        EcrError::invalid(
            "layerDigests",
            "must satisfy regular expression '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'",
        )
    })?;
    let status =
        c.st.registry
            .upload_status(&name, id)
            .await
            .map_err(|e| match e {
                RegistryError::UploadUnknown => upload_not_found(c, &name, id),
                other => registry_error(c, &name, other),
            })?;
    if status.size == 0 {
        return Err(EcrError::new(
            "EmptyUploadException",
            format!("The upload with id '{id}' has no layer parts"),
        ));
    }
    match c.st.registry.stat_blob(&name, &digest).await {
        Ok(_) => {
            // ECR refuses a second copy; the upload is no longer needed.
            let _ = c.st.registry.cancel_upload(&name, id).await;
            return Err(EcrError::new(
                "LayerAlreadyExistsException",
                format!(
                    "The layer '{digest}' already exists in the repository with name '{name}' in registry with id '{}'",
                    c.account()
                ),
            ));
        }
        Err(RegistryError::BlobUnknown) => {}
        Err(e) => return Err(registry_error(c, &name, e)),
    }
    // The repository exists (checked above); one deleted meanwhile is not brought back.
    match c
        .st
        .registry
        .finish_upload(&name, id, &digest, None, None, MissingRepository::Refuse)
        .await
    {
        Ok(_) => Ok(json!({
            "registryId": c.account(),
            "repositoryName": name.as_str(),
            "uploadId": id,
            "layerDigest": digest.to_string(),
        })),
        Err(RegistryError::DigestInvalid(m)) | Err(RegistryError::UploadInvalid(m)) => {
            Err(EcrError::new("InvalidLayerException", m))
        }
        Err(RegistryError::UploadUnknown) => Err(upload_not_found(c, &name, id)),
        Err(e) => Err(registry_error(c, &name, e)),
    }
}

/// A URL that a bare GET (no credentials) can fetch the blob from, `Range` honoured: the
/// object store's presigned URL when blob downloads are redirected there, else
/// `<endpoint>/download/<token>` with a token this registry signs for this one blob, the
/// caller and `DOWNLOAD_TTL`.
pub(super) async fn get_download_url_for_layer(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&["registryId", "repositoryName", "layerDigest"])?;
    let name = c
        .existing_repository(Action::GetDownloadUrlForLayer)
        .await?;
    let text = c.required("layerDigest")?;
    let digest: Digest = text.parse().map_err(|_| {
        EcrError::invalid(
            "layerDigest",
            "must satisfy regular expression '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'",
        )
    })?;
    let blob = match c.st.registry.stat_blob(&name, &digest).await {
        Ok(b) => b,
        Err(RegistryError::BlobUnknown) => {
            return Err(EcrError::new(
                "LayersNotFoundException",
                format!(
                    "The layer with digest '{digest}' does not exist in the repository with name '{name}' in the registry with id '{}'",
                    c.account()
                ),
            ))
        }
        Err(e) => return Err(registry_error(c, &name, e)),
    };
    let url = match c.st.registry.blob_redirect(&blob).await? {
        Some(url) => url,
        None => {
            let (token, _) = c.auth().issue_download_token(
                c.caller,
                &name,
                &digest.to_string(),
                DOWNLOAD_TTL,
            )?;
            format!("{}/download/{token}", c.proxy_endpoint())
        }
    };
    Ok(json!({"downloadUrl": url, "layerDigest": digest.to_string()}))
}
