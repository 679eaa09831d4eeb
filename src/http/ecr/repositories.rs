//! Repository operations: CreateRepository, DescribeRepositories, DeleteRepository, resource
//! tags (TagResource, UntagResource, ListTagsForResource), PutImageTagMutability and
//! PutImageScanningConfiguration. Every constraint of the model is checked here: clients check
//! only `required`, types and minimums.

use super::input::{field, list, max_results, object, serialization, structure, MAX_PAGE};
use super::{bad_token, next_token, parse_repository_name, token_cursor, Ctx, EcrError, Result};
use crate::auth::{Action, Resource};
use crate::metadata::{
    DeleteRepositoryOutcome, RepositoryRecord, RepositorySettings, ResourceTagsOutcome,
    TagMutability,
};
use crate::oci::RepositoryName;
use serde_json::{json, Value};

const MAX_TAGS: usize = 50;
const DEFAULT_PAGE: u32 = 100;
const TOKEN_PREFIX: &str = "berth-repositories:";

fn invalid_tag(message: impl Into<String>) -> EcrError {
    EcrError::new("InvalidTagParameterException", message)
}

/// `tags` / `TagResource.tags`: `[{"Key": .., "Value": ..}]`, merged by key (last wins).
fn resource_tags(c: &Ctx<'_>, required: bool) -> Result<Vec<(String, String)>> {
    let Some(items) = list(c, "tags")? else {
        if required {
            return Err(EcrError::invalid("tags", "must not be null"));
        }
        return Ok(Vec::new());
    };
    let mut tags: Vec<(String, String)> = Vec::new();
    for item in items {
        let t = object(item, "Tag", &["Key", "Value"])?;
        let key =
            field(t, "Key", "Tag")?.ok_or_else(|| invalid_tag("A tag's Key must not be null"))?;
        let value = field(t, "Value", "Tag")?
            .ok_or_else(|| invalid_tag("A tag's Value must not be null"))?;
        check_tag_key(key)?;
        if value.chars().count() > 256 {
            return Err(invalid_tag(format!(
                "The value of tag '{key}' is longer than 256 characters"
            )));
        }
        tags.retain(|(k, _)| k != key);
        tags.push((key.to_owned(), value.to_owned()));
    }
    if tags.len() > MAX_TAGS {
        return Err(too_many_tags());
    }
    Ok(tags)
}

fn check_tag_key(key: &str) -> Result<()> {
    let n = key.chars().count();
    if n == 0 || n > 128 {
        return Err(invalid_tag(format!(
            "Tag keys must be between 1 and 128 characters long; got {n}"
        )));
    }
    if key.len() >= 4 && key[..4].eq_ignore_ascii_case("aws:") {
        return Err(invalid_tag(
            "Tag keys beginning with 'aws:' are reserved for AWS use",
        ));
    }
    Ok(())
}

fn too_many_tags() -> EcrError {
    EcrError::new(
        "TooManyTagsException",
        format!("A repository can have at most {MAX_TAGS} tags"),
    )
}

/// `imageTagMutability` and `imageTagMutabilityExclusionFilters`, checked together: filters
/// are required with the `*_WITH_EXCLUSION` modes and refused with the others.
fn mutability(c: &Ctx<'_>, required: bool) -> Result<(TagMutability, Vec<String>)> {
    let mode = match c.string("imageTagMutability")? {
        Some(s) => TagMutability::parse(s).ok_or_else(|| {
            EcrError::invalid(
                "imageTagMutability",
                "Member must satisfy enum value set: [MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION]",
            )
        })?,
        None if required => {
            return Err(EcrError::invalid("imageTagMutability", "must not be null"))
        }
        None => TagMutability::Mutable,
    };
    let member = "imageTagMutabilityExclusionFilters";
    let filters = match list(c, member)? {
        None => None,
        Some(items) => {
            if items.is_empty() || items.len() > 5 {
                return Err(EcrError::invalid(member, "must have between 1 and 5 items"));
            }
            let mut out = Vec::new();
            for item in items {
                let shape = "ImageTagMutabilityExclusionFilter";
                let f = object(item, shape, &["filterType", "filter"])?;
                match field(f, "filterType", shape)? {
                    Some("WILDCARD") => {}
                    Some(_) => {
                        return Err(EcrError::invalid(
                            "filterType",
                            "Member must satisfy enum value set: [WILDCARD]",
                        ))
                    }
                    None => return Err(EcrError::invalid("filterType", "must not be null")),
                }
                let filter = field(f, "filter", shape)?
                    .ok_or_else(|| EcrError::invalid("filter", "must not be null"))?;
                if filter.is_empty()
                    || filter.len() > 128
                    || !filter
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._*-".contains(&b))
                {
                    return Err(EcrError::invalid(
                        "filter",
                        "must satisfy regular expression '^[0-9a-zA-Z._*-]{1,128}'",
                    ));
                }
                if !out.iter().any(|x| x == filter) {
                    out.push(filter.to_owned());
                }
            }
            Some(out)
        }
    };
    match (mode.has_exclusions(), filters) {
        (true, Some(f)) => Ok((mode, f)),
        (false, None) => Ok((mode, Vec::new())),
        (true, None) => Err(EcrError::new(
            "InvalidParameterException",
            format!(
                "ImageTagMutabilityExclusionFilters can't be null when imageTagMutability is set as {}",
                mode.as_str()
            ),
        )),
        (false, Some(_)) => Err(EcrError::new(
            "InvalidParameterException",
            format!(
                "ImageTagMutabilityExclusionFilters must be null when imageTagMutability is set as {}",
                mode.as_str()
            ),
        )),
    }
}

fn filters_json(filters: &[String]) -> Value {
    Value::Array(
        filters
            .iter()
            .map(|f| json!({"filterType": "WILDCARD", "filter": f}))
            .collect(),
    )
}

/// `imageScanningConfiguration`: `{"scanOnPush": bool}`.
fn scanning(c: &Ctx<'_>) -> Result<Option<bool>> {
    let Some(m) = structure(c, "imageScanningConfiguration", &["scanOnPush"])? else {
        return Ok(None);
    };
    match m.get("scanOnPush") {
        None | Some(Value::Null) => Ok(Some(false)),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(serialization("scanOnPush must be a boolean")),
    }
}

/// `encryptionConfiguration`: stored and echoed (the registry encrypts nothing itself).
fn encryption(c: &Ctx<'_>) -> Result<(String, Option<String>)> {
    let Some(m) = structure(c, "encryptionConfiguration", &["encryptionType", "kmsKey"])? else {
        return Ok(("AES256".into(), None));
    };
    let kind = field(m, "encryptionType", "encryptionConfiguration")?
        .ok_or_else(|| EcrError::invalid("encryptionType", "must not be null"))?;
    if !["AES256", "KMS", "KMS_DSSE"].contains(&kind) {
        return Err(EcrError::invalid(
            "encryptionType",
            "Member must satisfy enum value set: [AES256, KMS, KMS_DSSE]",
        ));
    }
    let key = field(m, "kmsKey", "encryptionConfiguration")?;
    if let Some(k) = key {
        if k.is_empty() || k.len() > 2048 {
            return Err(EcrError::invalid(
                "kmsKey",
                "must have length between 1 and 2048",
            ));
        }
        if kind == "AES256" {
            return Err(EcrError::new(
                "InvalidParameterException",
                "Invalid parameter at 'encryptionConfiguration' failed to satisfy constraint: 'kmsKey can only be specified when encryptionType is KMS or KMS_DSSE'",
            ));
        }
    }
    Ok((kind.to_owned(), key.map(str::to_owned)))
}

/// `<host[:port]>` clients reach the registry at (the host of `proxyEndpoint`).
fn registry_host(c: &Ctx<'_>) -> String {
    let e = c.proxy_endpoint();
    match e.split_once("://") {
        Some((_, host)) => host.trim_end_matches('/').to_owned(),
        None => e,
    }
}

fn repository_json(c: &Ctx<'_>, host: &str, r: &RepositoryRecord) -> Value {
    let s = &r.settings;
    let mut v = json!({
        "repositoryArn": c.auth().settings().repository_arn(&r.name),
        "registryId": c.account(),
        "repositoryName": r.name,
        "repositoryUri": format!("{host}/{}", r.name),
        "createdAt": r.created_at as f64 / 1000.0,
        "imageTagMutability": s.tag_mutability.as_str(),
        "imageScanningConfiguration": {"scanOnPush": s.scan_on_push},
        "encryptionConfiguration": {"encryptionType": s.encryption_type},
    });
    if s.tag_mutability.has_exclusions() {
        v["imageTagMutabilityExclusionFilters"] = filters_json(&s.exclusions);
    }
    if let Some(k) = &s.kms_key {
        v["encryptionConfiguration"]["kmsKey"] = json!(k);
    }
    v
}

/// `registryId`, `repositoryName`, then the caller's right to `action` on it.
fn authorized_repository(c: &Ctx<'_>, action: Action) -> Result<RepositoryName> {
    c.registry_id()?;
    let name = c.repository_name()?;
    c.authorize(action, Resource::Repository(&name))?;
    Ok(name)
}

async fn record(c: &Ctx<'_>, name: &RepositoryName) -> Result<RepositoryRecord> {
    c.st.registry
        .repository(name)
        .await?
        .ok_or_else(|| c.repository_not_found(name.as_str()))
}

// ---- operations ------------------------------------------------------------------------------

pub(super) async fn create_repository(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&[
        "registryId",
        "repositoryName",
        "tags",
        "imageTagMutability",
        "imageTagMutabilityExclusionFilters",
        "imageScanningConfiguration",
        "encryptionConfiguration",
    ])?;
    let name = authorized_repository(c, Action::CreateRepository)?;
    let tags = resource_tags(c, false)?;
    let (tag_mutability, exclusions) = mutability(c, false)?;
    let scan_on_push = scanning(c)?.unwrap_or(false);
    let (encryption_type, kms_key) = encryption(c)?;
    let settings = RepositorySettings {
        tag_mutability,
        exclusions,
        scan_on_push,
        encryption_type,
        kms_key,
    };
    if !c
        .st
        .registry
        .create_repository(&name, &settings, &tags)
        .await?
    {
        return Err(EcrError::new(
            "RepositoryAlreadyExistsException",
            format!(
                "The repository with name '{name}' already exists in the registry with id '{}'",
                c.account()
            ),
        ));
    }
    let r = record(c, &name).await?;
    Ok(json!({ "repository": repository_json(c, &registry_host(c), &r) }))
}

const OP: &str = "DescribeRepositories";

fn encode_token(last: &str) -> String {
    next_token(TOKEN_PREFIX, last)
}

fn decode_token(token: &str) -> Result<String> {
    let name = token_cursor(TOKEN_PREFIX, OP, token)?;
    name.parse::<RepositoryName>().map_err(|_| bad_token(OP))?;
    Ok(name)
}

pub(super) async fn describe_repositories(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&["registryId", "repositoryNames", "nextToken", "maxResults"])?;
    c.registry_id()?;
    let token = c.string("nextToken")?;
    let limit = max_results(c, MAX_PAGE)?;
    let host = registry_host(c);
    if let Some(names) = list(c, "repositoryNames")? {
        if token.is_some() || limit.is_some() {
            return Err(EcrError::new(
                "InvalidParameterException",
                "nextToken and maxResults cannot be used together with repositoryNames",
            ));
        }
        if names.is_empty() || names.len() > 100 {
            return Err(EcrError::invalid(
                "repositoryNames",
                "must have between 1 and 100 items",
            ));
        }
        let mut parsed: Vec<RepositoryName> = Vec::new();
        for n in names {
            let s = n
                .as_str()
                .ok_or_else(|| serialization("repositoryNames must be a list of strings"))?;
            let name = parse_repository_name("repositoryNames", s)?;
            if !parsed.contains(&name) {
                parsed.push(name);
            }
        }
        for name in &parsed {
            c.authorize(Action::DescribeRepositories, Resource::Repository(name))?;
        }
        let mut out = Vec::new();
        for name in &parsed {
            out.push(repository_json(c, &host, &record(c, name).await?));
        }
        return Ok(json!({ "repositories": out }));
    }
    if token.is_some_and(|t| t.is_empty() || t.len() > 2048) {
        return Err(EcrError::invalid(
            "nextToken",
            "must have length between 1 and 2048",
        ));
    }
    let mut cursor = token.map(decode_token).transpose()?;
    let n = limit.unwrap_or(DEFAULT_PAGE);
    // Only repositories the caller may describe; pages are filled in batches, and one more
    // visible repository than the page holds tells whether there is a next page.
    let visible = |name: &str| -> bool {
        name.parse::<RepositoryName>().is_ok_and(|name| {
            c.auth()
                .authorize(
                    c.caller,
                    Action::DescribeRepositories,
                    Resource::Repository(&name),
                )
                .allowed()
        })
    };
    let mut repos: Vec<RepositoryRecord> = Vec::new();
    let mut more = false;
    while !more {
        let batch =
            c.st.registry
                .describe_repositories(cursor.as_deref(), n + 1)
                .await?;
        let exhausted = batch.len() <= n as usize;
        cursor = batch.last().map(|r| r.name.clone());
        for r in batch {
            if visible(&r.name) {
                if repos.len() == n as usize {
                    more = true;
                    break;
                }
                repos.push(r);
            }
        }
        if exhausted {
            break;
        }
    }
    let mut out = json!({
        "repositories": repos.iter().map(|r| repository_json(c, &host, r)).collect::<Vec<_>>()
    });
    if let (true, Some(last)) = (more, repos.last()) {
        out["nextToken"] = json!(encode_token(&last.name));
    }
    Ok(out)
}

pub(super) async fn delete_repository(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&["registryId", "repositoryName", "force"])?;
    let name = authorized_repository(c, Action::DeleteRepository)?;
    let force = c.boolean("force")?.unwrap_or(false);
    let r = record(c, &name).await?;
    match c.st.registry.delete_repository(&name, force).await? {
        DeleteRepositoryOutcome::Deleted => {}
        DeleteRepositoryOutcome::NotFound => return Err(c.repository_not_found(name.as_str())),
        DeleteRepositoryOutcome::NotEmpty => {
            return Err(EcrError::new(
                "RepositoryNotEmptyException",
                format!(
                    "The repository with name '{name}' in registry with id '{}' cannot be deleted because it still contains images",
                    c.account()
                ),
            ))
        }
    }
    // The repository's policy goes with it: a repository created later under the same name
    // must not inherit it.
    c.auth().delete_resource_policy(Some(&name)).await?;
    Ok(json!({ "repository": repository_json(c, &registry_host(c), &r) }))
}

/// `resourceArn`: a repository of this registry.
fn resource_repository(c: &Ctx<'_>, action: Action) -> Result<RepositoryName> {
    let arn = c.required("resourceArn")?;
    let prefix = c.auth().settings().repository_arn("");
    let name = arn
        .strip_prefix(prefix.as_str())
        .and_then(|n| parse_repository_name("resourceArn", n).ok())
        .ok_or_else(|| {
            EcrError::invalid(
                "resourceArn",
                format!("must be the ARN of a repository in this registry ({prefix}<name>)"),
            )
        })?;
    c.authorize(action, Resource::Repository(&name))?;
    Ok(name)
}

pub(super) async fn tag_resource(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&["resourceArn", "tags"])?;
    let name = resource_repository(c, Action::TagResource)?;
    let tags = resource_tags(c, true)?;
    match c.st.registry.put_resource_tags(&name, &tags).await? {
        ResourceTagsOutcome::Done => Ok(json!({})),
        ResourceTagsOutcome::NotFound => Err(c.repository_not_found(name.as_str())),
        ResourceTagsOutcome::TooMany => Err(too_many_tags()),
    }
}

pub(super) async fn untag_resource(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&["resourceArn", "tagKeys"])?;
    let name = resource_repository(c, Action::UntagResource)?;
    let items =
        list(c, "tagKeys")?.ok_or_else(|| EcrError::invalid("tagKeys", "must not be null"))?;
    if items.len() > 200 {
        return Err(EcrError::invalid(
            "tagKeys",
            "must have length less than or equal to 200",
        ));
    }
    let mut keys = Vec::new();
    for k in items {
        let k = k
            .as_str()
            .ok_or_else(|| serialization("tagKeys must be a list of strings"))?;
        check_tag_key(k)?;
        keys.push(k.to_owned());
    }
    if !c.st.registry.delete_resource_tags(&name, &keys).await? {
        return Err(c.repository_not_found(name.as_str()));
    }
    Ok(json!({}))
}

pub(super) async fn list_tags_for_resource(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&["resourceArn"])?;
    let name = resource_repository(c, Action::ListTagsForResource)?;
    let tags =
        c.st.registry
            .resource_tags(&name)
            .await?
            .ok_or_else(|| c.repository_not_found(name.as_str()))?;
    let tags: Vec<Value> = tags
        .into_iter()
        .map(|(k, v)| json!({"Key": k, "Value": v}))
        .collect();
    Ok(json!({ "tags": tags }))
}

pub(super) async fn put_image_tag_mutability(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&[
        "registryId",
        "repositoryName",
        "imageTagMutability",
        "imageTagMutabilityExclusionFilters",
    ])?;
    let name = authorized_repository(c, Action::PutImageTagMutability)?;
    let (mode, filters) = mutability(c, true)?;
    if !c
        .st
        .registry
        .set_tag_mutability(&name, mode, &filters)
        .await?
    {
        return Err(c.repository_not_found(name.as_str()));
    }
    let mut out = json!({
        "registryId": c.account(),
        "repositoryName": name.as_str(),
        "imageTagMutability": mode.as_str(),
    });
    if mode.has_exclusions() {
        out["imageTagMutabilityExclusionFilters"] = filters_json(&filters);
    }
    Ok(out)
}

pub(super) async fn put_image_scanning_configuration(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&["registryId", "repositoryName", "imageScanningConfiguration"])?;
    let name = authorized_repository(c, Action::PutImageScanningConfiguration)?;
    let scan_on_push = scanning(c)?
        .ok_or_else(|| EcrError::invalid("imageScanningConfiguration", "must not be null"))?;
    if !c.st.registry.set_scan_on_push(&name, scan_on_push).await? {
        return Err(c.repository_not_found(name.as_str()));
    }
    Ok(json!({
        "registryId": c.account(),
        "repositoryName": name.as_str(),
        "imageScanningConfiguration": {"scanOnPush": scan_on_push},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_tokens_round_trip_and_garbage_is_refused() {
        let t = encode_token("team/app");
        assert_eq!(decode_token(&t).unwrap(), "team/app");
        for bad in ["", "!!!", "abc", "dGVhbS9hcHA", &encode_token("Not A Name")] {
            assert!(decode_token(bad).is_err(), "{bad}");
        }
    }
}
