//! Lifecycle policies: PutLifecyclePolicy, GetLifecyclePolicy, DeleteLifecyclePolicy,
//! StartLifecyclePolicyPreview, GetLifecyclePolicyPreview.
//!
//! A preview is evaluated when it is started (`crate::policy::lifecycle::evaluate` over every
//! image of the repository, through the registry layer) and stored with its results, so every
//! replica answers `GetLifecyclePolicyPreview` the same way and it is `COMPLETE` at once.

use super::images::{image_ids, tag_status, ImageId, TagStatus};
use super::input::{max_results, structure};
use super::{bad_token, next_token, token_cursor, Ctx, EcrError, Result};
use crate::auth::Action;
use crate::metadata::{LifecyclePolicyRecord, LifecyclePreviewRecord};
use crate::oci::RepositoryName;
use crate::policy::lifecycle::{self, RuleAction};
use crate::registry::now_ms;
use serde_json::{json, Value};

const MIN_TEXT: usize = 100;
const MAX_TEXT: usize = 30_720;
const MAX_PAGE: u32 = 100;
const TOKEN_PREFIX: &str = "berth-lifecycle-preview:";

/// `lifecyclePolicyText`, validated; ECR's wording for what is wrong with it.
fn policy_text<'a>(c: &'a Ctx<'_>, required: bool) -> Result<Option<&'a str>> {
    let Some(text) = c.string("lifecyclePolicyText")? else {
        return if required {
            Err(EcrError::invalid("lifecyclePolicyText", "must not be null"))
        } else {
            Ok(None)
        };
    };
    let len = text.chars().count();
    if !(MIN_TEXT..=MAX_TEXT).contains(&len) {
        return Err(EcrError::invalid(
            "lifecyclePolicyText",
            format!("must have length between {MIN_TEXT} and {MAX_TEXT}"),
        ));
    }
    lifecycle::parse(text).map_err(|detail| {
        EcrError::invalid(
            "LifecyclePolicyText",
            format!("Lifecycle policy validation failure: {detail}"),
        )
    })?;
    Ok(Some(text))
}

fn no_policy(c: &Ctx<'_>, name: &RepositoryName) -> EcrError {
    EcrError::new(
        "LifecyclePolicyNotFoundException",
        format!(
            "Lifecycle policy does not exist for the repository with name '{name}' in the registry with id '{}'",
            c.account()
        ),
    )
}

fn policy_json(c: &Ctx<'_>, name: &RepositoryName, p: &LifecyclePolicyRecord) -> Value {
    let mut out = json!({
        "registryId": c.account(),
        "repositoryName": name.as_str(),
        "lifecyclePolicyText": p.text,
    });
    if let Some(t) = p.evaluated_at {
        out["lastEvaluatedAt"] = json!(t as f64 / 1000.0);
    }
    out
}

pub(super) async fn put_lifecycle_policy(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&["registryId", "repositoryName", "lifecyclePolicyText"])?;
    let name = c.existing_repository(Action::PutLifecyclePolicy).await?;
    let text = policy_text(c, true)?.unwrap_or_default();
    if c.st
        .registry
        .set_lifecycle_policy(&name, Some(text))
        .await?
        .is_none()
    {
        return Err(c.repository_not_found(name.as_str()));
    }
    Ok(json!({
        "registryId": c.account(),
        "repositoryName": name.as_str(),
        "lifecyclePolicyText": text,
    }))
}

pub(super) async fn get_lifecycle_policy(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&["registryId", "repositoryName"])?;
    let name = c.existing_repository(Action::GetLifecyclePolicy).await?;
    match c.st.registry.lifecycle_policy(&name).await? {
        None => Err(c.repository_not_found(name.as_str())),
        Some(None) => Err(no_policy(c, &name)),
        Some(Some(p)) => Ok(policy_json(c, &name, &p)),
    }
}

pub(super) async fn delete_lifecycle_policy(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&["registryId", "repositoryName"])?;
    let name = c.existing_repository(Action::DeleteLifecyclePolicy).await?;
    match c.st.registry.set_lifecycle_policy(&name, None).await? {
        None => Err(c.repository_not_found(name.as_str())),
        Some(None) => Err(no_policy(c, &name)),
        Some(Some(p)) => Ok(policy_json(c, &name, &p)),
    }
}

// ---- previews ---------------------------------------------------------------------------

pub(super) async fn start_lifecycle_policy_preview(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&["registryId", "repositoryName", "lifecyclePolicyText"])?;
    let name = c
        .existing_repository(Action::StartLifecyclePolicyPreview)
        .await?;
    let text = match policy_text(c, false)? {
        Some(t) => t.to_owned(),
        None => match c.st.registry.lifecycle_policy(&name).await? {
            None => return Err(c.repository_not_found(name.as_str())),
            Some(None) => return Err(no_policy(c, &name)),
            Some(Some(p)) => p.text,
        },
    };
    // Stored policies were validated when they were put.
    let policy = lifecycle::parse(&text).map_err(|detail| {
        EcrError::invalid(
            "LifecyclePolicyText",
            format!("Lifecycle policy validation failure: {detail}"),
        )
    })?;
    let now = now_ms();
    let Some(mut matches) =
        c.st.registry
            .evaluate_lifecycle(&name, &policy, now)
            .await?
    else {
        return Err(c.repository_not_found(name.as_str()));
    };
    matches.sort_by(|a, b| {
        (a.rule_priority, a.image.pushed_at, &a.image.digest).cmp(&(
            b.rule_priority,
            b.image.pushed_at,
            &b.image.digest,
        ))
    });
    let results: Vec<Value> = matches
        .iter()
        .map(|m| {
            let mut action = json!({ "type": m.action.api_name() });
            if m.action == RuleAction::Transition {
                action["targetStorageClass"] = json!("ARCHIVE");
            }
            let mut r = json!({
                "imageDigest": m.image.digest,
                "imagePushedAt": m.image.pushed_at as f64 / 1000.0,
                "action": action,
                "appliedRulePriority": m.rule_priority,
                "storageClass": "STANDARD",
            });
            if !m.image.tags.is_empty() {
                r["imageTags"] = json!(m.image.tags);
            }
            r
        })
        .collect();
    let record = LifecyclePreviewRecord {
        policy_text: text.clone(),
        status: "COMPLETE".into(),
        started_at: now,
        results: Value::Array(results).to_string(),
    };
    if !c.st.registry.put_lifecycle_preview(&name, &record).await? {
        return Err(c.repository_not_found(name.as_str()));
    }
    Ok(json!({
        "registryId": c.account(),
        "repositoryName": name.as_str(),
        "lifecyclePolicyText": text,
        "status": record.status,
    }))
}

const PREVIEW_OP: &str = "GetLifecyclePolicyPreview";

fn encode_token(started_at: i64, offset: usize) -> String {
    next_token(TOKEN_PREFIX, &format!("{started_at}:{offset}"))
}

/// The offset a page starts at, from a token of the same preview (a newer preview makes the
/// old tokens invalid).
fn decode_token(token: &str, started_at: i64) -> Result<usize> {
    let cursor = token_cursor(TOKEN_PREFIX, PREVIEW_OP, token)?;
    match cursor.split_once(':') {
        Some((at, offset)) if at.parse::<i64>().ok() == Some(started_at) => {
            offset.parse().map_err(|_| bad_token(PREVIEW_OP))
        }
        _ => Err(bad_token(PREVIEW_OP)),
    }
}

fn result_matches(r: &Value, ids: &[ImageId]) -> bool {
    let digest = r["imageDigest"].as_str().unwrap_or_default();
    let tags = r["imageTags"].as_array();
    ids.iter().any(|id| match &id.parsed {
        Ok((d, t)) => {
            d.as_ref().is_none_or(|d| d.to_string() == digest)
                && t.as_ref().is_none_or(|t| {
                    tags.is_some_and(|ts| ts.iter().any(|x| x.as_str() == Some(t.as_str())))
                })
        }
        Err(_) => false,
    })
}

pub(super) async fn get_lifecycle_policy_preview(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&[
        "registryId",
        "repositoryName",
        "imageIds",
        "nextToken",
        "maxResults",
        "filter",
    ])?;
    let name = c
        .existing_repository(Action::GetLifecyclePolicyPreview)
        .await?;
    let ids = image_ids(c)?;
    let token = c.string("nextToken")?;
    let limit = max_results(c, MAX_PAGE)?;
    if ids.is_some() && (token.is_some() || limit.is_some()) {
        return Err(EcrError::invalid(
            "imageIds",
            "cannot be combined with nextToken or maxResults",
        ));
    }
    if limit.is_some_and(|l| l > MAX_PAGE) {
        return Err(EcrError::invalid("maxResults", "must be between 1 and 100"));
    }
    let status = match structure(c, "filter", &["tagStatus"])? {
        Some(f) => tag_status(f)?,
        None => TagStatus::Any,
    };
    let Some(preview) = c.st.registry.lifecycle_preview(&name).await? else {
        return Err(EcrError::new(
            "LifecyclePolicyPreviewNotFoundException",
            format!(
                "There is no lifecycle policy preview for the repository with name '{name}' in the registry with id '{}'",
                c.account()
            ),
        ));
    };
    let all: Vec<Value> = serde_json::from_str(&preview.results)
        .map_err(|e| EcrError::server(format!("stored lifecycle preview: {e}")))?;
    let count = |kind: &str| {
        all.iter()
            .filter(|r| r["action"]["type"].as_str() == Some(kind))
            .count()
    };
    let mut summary = json!({ "expiringImageTotalCount": count("EXPIRE") });
    let transitioning = count("TRANSITION");
    if transitioning > 0 {
        summary["transitioningImageTotalCounts"] =
            json!([{"targetStorageClass": "ARCHIVE", "imageTotalCount": transitioning}]);
    }
    let shown: Vec<&Value> = all
        .iter()
        .filter(|r| status.selects(r["imageTags"].as_array().map_or(&[][..], Vec::as_slice)))
        .filter(|r| ids.as_deref().is_none_or(|ids| result_matches(r, ids)))
        .collect();
    let start = match token {
        Some(t) => decode_token(t, preview.started_at)?,
        None => 0,
    };
    let limit = limit.unwrap_or(MAX_PAGE) as usize;
    let page: Vec<&Value> = shown.iter().skip(start).take(limit).copied().collect();
    let mut out = json!({
        "registryId": c.account(),
        "repositoryName": name.as_str(),
        "lifecyclePolicyText": preview.policy_text,
        "status": preview.status,
        "previewResults": page,
        "summary": summary,
    });
    if start + limit < shown.len() {
        out["nextToken"] = json!(encode_token(preview.started_at, start + limit));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_tokens_belong_to_one_preview() {
        let t = encode_token(1_700_000_000_000, 200);
        assert_eq!(decode_token(&t, 1_700_000_000_000).unwrap(), 200);
        assert!(decode_token(&t, 1_700_000_000_001).is_err());
        for bad in ["", "!!!", "abc", &encode_token(1, 0)[1..]] {
            assert!(decode_token(bad, 1).is_err(), "{bad}");
        }
    }
}
