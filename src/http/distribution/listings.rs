//! Listings: the catalog (only what the caller may see), tags and referrers, paged with `n`/`last` and `Link`.

use super::*;

/// The catalog lists only repositories the caller may see (describe or pull). Pages are
/// filled from the database in batches until `n` visible names are found.
pub(super) async fn catalog(reg: &Registry, who: &Who<'_>, q: &Query) -> Result<Response> {
    let (last, n) = page(q)?;
    if who.auth.enabled() {
        if !who.presented {
            return Err(who.challenge(Some("registry:catalog:*"), None, "authentication required"));
        }
        if let Some(access) = &who.caller.token_access {
            if !crate::auth::scope::grants_catalog(access) {
                return Err(who.challenge(
                    Some("registry:catalog:*"),
                    Some("insufficient_scope"),
                    "the token does not grant registry:catalog:*",
                ));
            }
        }
    }
    // Visibility is the principal's own, whatever repositories its token names.
    let direct = crate::auth::Caller {
        token_access: None,
        ..who.caller.clone()
    };
    let visible = |name: &str| -> bool {
        let Ok(name) = name.parse::<RepositoryName>() else {
            return false;
        };
        let r = Resource::Repository(&name);
        who.auth
            .authorize(&direct, Action::DescribeRepositories, r)
            .allowed()
            || who
                .auth
                .authorize(&direct, Action::BatchGetImage, r)
                .allowed()
    };
    let mut repos: Vec<String> = Vec::new();
    let mut cursor = last;
    let mut more = false;
    while n > 0 && !more {
        let batch = reg.catalog(cursor.as_deref(), n + 1).await?;
        let exhausted = batch.len() <= n as usize;
        cursor = batch.last().cloned();
        for name in batch {
            if visible(&name) {
                if repos.len() == n as usize {
                    more = true;
                    break;
                }
                repos.push(name);
            }
        }
        if exhausted {
            break;
        }
    }
    let body = serde_json::to_vec(&serde_json::json!({ "repositories": repos }))
        .map_err(|e| OciError::new(Code::Unknown, e.to_string()))?;
    let mut r = json_response(StatusCode::OK, "application/json", body);
    if let (true, Some(l)) = (more, repos.last()) {
        set(&mut r, header::LINK, &link_next("/v2/_catalog", n, l));
    }
    Ok(r)
}

pub(super) async fn tags(reg: &Registry, name: &RepositoryName, q: &Query) -> Result<Response> {
    let (last, n) = page(q)?;
    let all = reg.list_tags(name, last.as_deref(), n + 1).await?;
    let more = all.len() > n as usize;
    let tags = &all[..all.len().min(n as usize)];
    #[derive(serde::Serialize)]
    struct TagList<'a> {
        name: &'a str,
        tags: &'a [String],
    }
    let body = serde_json::to_vec(&TagList {
        name: name.as_str(),
        tags,
    })
    .map_err(|e| OciError::new(Code::Unknown, e.to_string()))?;
    let mut r = json_response(StatusCode::OK, "application/json", body);
    if let (true, Some(l)) = (more, tags.last()) {
        set(
            &mut r,
            header::LINK,
            &link_next(&format!("/v2/{name}/tags/list"), n, l),
        );
    }
    Ok(r)
}

pub(super) async fn referrers(
    reg: &Registry,
    name: &RepositoryName,
    d: &Digest,
    q: &Query,
) -> Result<Response> {
    let filter = q.get("artifactType");
    let refs = reg.referrers(name, d, filter).await?;
    let manifests: Vec<serde_json::Value> = refs
        .into_iter()
        .map(|r| {
            let mut v = serde_json::json!({
                "mediaType": r.media_type,
                "digest": r.digest,
                "size": r.size,
            });
            if let Some(a) = r.artifact_type {
                v["artifactType"] = a.into();
            }
            if let Some(a) = r
                .annotations
                .and_then(|a| serde_json::from_str::<serde_json::Value>(&a).ok())
            {
                v["annotations"] = a;
            }
            v
        })
        .collect();
    let body = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest::OCI_INDEX,
        "manifests": manifests,
    }))
    .map_err(|e| OciError::new(Code::Unknown, e.to_string()))?;
    let mut r = json_response(StatusCode::OK, manifest::OCI_INDEX, body);
    if filter.is_some() {
        set(&mut r, FILTERS_APPLIED, "artifactType");
    }
    Ok(r)
}
