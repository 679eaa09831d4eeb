//! The Amazon ECR control-plane API: AWS JSON 1.1 on `POST /`, routed by `X-Amz-Target`,
//! authenticated by SigV4 and authorized by the same `authorize` as `/v2`. Operations call the
//! registry and identity layers; nothing here is a second implementation of registry semantics.

pub mod download;
mod images;
mod input;
mod layers;
mod lifecycle;
mod registry;
mod repositories;
mod sigv4;

use crate::auth::{Action, Auth, Caller, Decision, Resource};
use crate::http::auth::ClientAddr;
use crate::http::AppState;
use crate::oci::RepositoryName;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{json, Map, Value};

pub const TARGET_PREFIX: &str = "AmazonEC2ContainerRegistry_V20150921.";
/// The largest request body (an `UploadLayerPart` of 20 MiB, base64-encoded, fits).
pub const MAX_BODY: usize = 32 * 1024 * 1024;
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
const REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");
const ERROR_TYPE: HeaderName = HeaderName::from_static("x-amzn-errortype");

/// An error as AWS JSON services answer it: `__type`, `message`, and the same type in
/// `X-Amzn-ErrorType`; 400 for client errors, 500 only for faults.
#[derive(Debug)]
pub struct EcrError {
    pub kind: &'static str,
    pub message: String,
    pub status: StatusCode,
    /// Members some exceptions carry beside `message` (`InvalidLayerPartException`).
    pub extra: Map<String, Value>,
}

impl EcrError {
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        EcrError {
            kind,
            message: message.into(),
            status: StatusCode::BAD_REQUEST,
            extra: Map::new(),
        }
    }
    pub fn with(mut self, member: &str, value: Value) -> Self {
        self.extra.insert(member.to_owned(), value);
        self
    }
    fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
    pub fn invalid(member: &str, reason: impl std::fmt::Display) -> Self {
        EcrError::new(
            "InvalidParameterException",
            format!("Invalid parameter at '{member}' failed to satisfy constraint: '{reason}'"),
        )
    }
    fn server(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "ECR API failure");
        EcrError::new("ServerException", "internal server error")
            .with_status(StatusCode::INTERNAL_SERVER_ERROR)
    }
    fn unavailable() -> Self {
        EcrError::new(
            "ServiceUnavailableException",
            "service temporarily unavailable; retry",
        )
        .with_status(StatusCode::SERVICE_UNAVAILABLE)
    }
}

impl From<crate::metadata::MetaError> for EcrError {
    fn from(e: crate::metadata::MetaError) -> Self {
        match e {
            crate::metadata::MetaError::Unavailable(m) => {
                tracing::warn!(error = %m, "metadata store unavailable");
                EcrError::unavailable()
            }
            other => EcrError::server(other),
        }
    }
}

impl From<crate::registry::RegistryError> for EcrError {
    fn from(e: crate::registry::RegistryError) -> Self {
        match e {
            crate::registry::RegistryError::Unavailable(_) => EcrError::unavailable(),
            other => EcrError::server(other),
        }
    }
}

impl From<crate::auth::AuthError> for EcrError {
    fn from(e: crate::auth::AuthError) -> Self {
        use crate::auth::AuthError as A;
        match e {
            A::Meta(m) => m.into(),
            A::Policy(p) => EcrError::invalid("policyText", p),
            A::Invalid(m) => EcrError::new("InvalidParameterException", m),
            other => EcrError::server(other),
        }
    }
}

type Result<T> = std::result::Result<T, EcrError>;

fn respond(request_id: &str, result: Result<Value>) -> Response {
    let (status, body, kind) = match result {
        Ok(v) => (StatusCode::OK, v, None),
        Err(e) => {
            let mut body = e.extra;
            body.insert("__type".into(), json!(e.kind));
            body.insert("message".into(), json!(e.message));
            (e.status, Value::Object(body), Some(e.kind))
        }
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
    let mut r = (status, bytes).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert(REQUEST_ID, v);
    }
    if let Some(k) = kind {
        h.insert(ERROR_TYPE, HeaderValue::from_static(k));
    }
    r
}

/// `POST /`: one ECR API call.
pub async fn handle(
    State(st): State<AppState>,
    ClientAddr(ip): ClientAddr,
    OriginalUri(uri): OriginalUri,
    method: Method,
    headers: HeaderMap,
    body: std::result::Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let result = match body {
        Ok(body) => call(&st, ip, &uri, &method, &headers, &body).await,
        Err(e) => Err(EcrError::new(
            "SerializationException",
            format!("the request body cannot be read: {e} (at most {MAX_BODY} bytes)"),
        )
        .with_status(e.status())),
    };
    if let Err(e) = &result {
        tracing::debug!(kind = e.kind, message = %e.message, "ECR API error");
    }
    respond(&request_id, result)
}

async fn call(
    st: &AppState,
    ip: Option<std::net::IpAddr>,
    uri: &axum::http::Uri,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value> {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let op = target.strip_prefix(TARGET_PREFIX).ok_or_else(|| {
        EcrError::new(
            "UnknownOperationException",
            format!(
                "X-Amz-Target must be {TARGET_PREFIX}<Operation>; got {:?}",
                target.chars().take(100).collect::<String>()
            ),
        )
    })?;
    let caller = authenticate(st, ip, uri, method, headers, body)?;
    let input: Map<String, Value> =
        match serde_json::from_slice::<Value>(if body.is_empty() { b"{}" } else { body }) {
            Ok(Value::Object(m)) => m,
            Ok(_) => {
                return Err(EcrError::new(
                    "SerializationException",
                    "the request body must be a JSON object",
                ))
            }
            Err(e) => {
                return Err(EcrError::new(
                    "SerializationException",
                    format!("the request body is not valid JSON: {e}"),
                ))
            }
        };
    let ctx = Ctx {
        st,
        caller: &caller,
        headers,
        input: &input,
    };
    match op {
        "GetAuthorizationToken" => get_authorization_token(&ctx).await,
        "SetRepositoryPolicy" => set_repository_policy(&ctx).await,
        "GetRepositoryPolicy" => get_repository_policy(&ctx).await,
        "DeleteRepositoryPolicy" => delete_repository_policy(&ctx).await,
        "PutRegistryPolicy" => put_registry_policy(&ctx).await,
        "GetRegistryPolicy" => get_registry_policy(&ctx).await,
        "DeleteRegistryPolicy" => delete_registry_policy(&ctx).await,
        "CreateRepository" => repositories::create_repository(&ctx).await,
        "DescribeRepositories" => repositories::describe_repositories(&ctx).await,
        "DeleteRepository" => repositories::delete_repository(&ctx).await,
        "TagResource" => repositories::tag_resource(&ctx).await,
        "UntagResource" => repositories::untag_resource(&ctx).await,
        "ListTagsForResource" => repositories::list_tags_for_resource(&ctx).await,
        "PutImageTagMutability" => repositories::put_image_tag_mutability(&ctx).await,
        "ListImages" => images::list_images(&ctx).await,
        "DescribeImages" => images::describe_images(&ctx).await,
        "BatchGetImage" => images::batch_get_image(&ctx).await,
        "BatchDeleteImage" => images::batch_delete_image(&ctx).await,
        "PutImage" => images::put_image(&ctx).await,
        "BatchCheckLayerAvailability" => images::batch_check_layer_availability(&ctx).await,
        "InitiateLayerUpload" => layers::initiate_layer_upload(&ctx).await,
        "UploadLayerPart" => layers::upload_layer_part(&ctx).await,
        "CompleteLayerUpload" => layers::complete_layer_upload(&ctx).await,
        "PutImageScanningConfiguration" => {
            repositories::put_image_scanning_configuration(&ctx).await
        }
        "GetDownloadUrlForLayer" => layers::get_download_url_for_layer(&ctx).await,
        "ListImageReferrers" => images::list_image_referrers(&ctx).await,
        "PutLifecyclePolicy" => lifecycle::put_lifecycle_policy(&ctx).await,
        "GetLifecyclePolicy" => lifecycle::get_lifecycle_policy(&ctx).await,
        "DeleteLifecyclePolicy" => lifecycle::delete_lifecycle_policy(&ctx).await,
        "StartLifecyclePolicyPreview" => lifecycle::start_lifecycle_policy_preview(&ctx).await,
        "GetLifecyclePolicyPreview" => lifecycle::get_lifecycle_policy_preview(&ctx).await,
        "DescribeRegistry" => registry::describe_registry(&ctx).await,
        "PutReplicationConfiguration" => registry::put_replication_configuration(&ctx).await,
        "GetRegistryScanningConfiguration" => {
            registry::get_registry_scanning_configuration(&ctx).await
        }
        "PutRegistryScanningConfiguration" => {
            registry::put_registry_scanning_configuration(&ctx).await
        }
        "BatchGetRepositoryScanningConfiguration" => {
            registry::batch_get_repository_scanning_configuration(&ctx).await
        }
        "GetAccountSetting" => registry::get_account_setting(&ctx).await,
        "PutAccountSetting" => registry::put_account_setting(&ctx).await,
        "StartImageScan" => registry::image_scanning(&ctx, Action::StartImageScan).await,
        "DescribeImageScanFindings" => {
            registry::image_scanning(&ctx, Action::DescribeImageScanFindings).await
        }
        "DescribeImageReplicationStatus" => registry::image_replication_status(&ctx).await,
        "CreatePullThroughCacheRule"
        | "DeletePullThroughCacheRule"
        | "DescribePullThroughCacheRules"
        | "UpdatePullThroughCacheRule"
        | "ValidatePullThroughCacheRule" => registry::pull_through_cache(),
        other => Err(EcrError::new(
            "UnknownOperationException",
            format!(
                "this registry does not support the operation {:?}",
                other.chars().take(100).collect::<String>()
            ),
        )),
    }
}

/// SigV4, as AWS answers its failures.
fn authenticate(
    st: &AppState,
    ip: Option<std::net::IpAddr>,
    uri: &axum::http::Uri,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Caller> {
    use crate::auth::sigv4::{Authorization, Failure, SigError};
    use crate::auth::AuthFailure;
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(EcrError::new(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        )
        .with_status(StatusCode::FORBIDDEN));
    };
    let value = value.to_str().map_err(|_| {
        EcrError::new(
            "IncompleteSignatureException",
            "the Authorization header is not ASCII",
        )
    })?;
    let auth = Authorization::parse(value)
        .map_err(|e| EcrError::new("IncompleteSignatureException", e.to_string()))?;
    if auth.service != "ecr" {
        return Err(EcrError::new(
            "InvalidSignatureException",
            format!(
                "Credential should be scoped to correct service: 'ecr', not {:?}",
                auth.service.chars().take(40).collect::<String>()
            ),
        ));
    }
    check_region(&auth, &st.auth.settings().region)?;
    if headers.contains_key("x-amz-security-token") {
        // This registry issues no temporary credentials.
        return Err(EcrError::new(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    }
    let request = sigv4::signed_request(&auth, method, uri, headers, body);
    let mut caller = st
        .auth
        .authenticate_sigv4(&auth, &request, ip, std::time::SystemTime::now())
        .map_err(|f| match f {
            Failure::Credential(AuthFailure::RateLimited(_)) => EcrError::new(
                "ThrottlingException",
                "Rate exceeded: too many failed authentications",
            ),
            Failure::Credential(AuthFailure::Unavailable) => EcrError::unavailable(),
            Failure::Credential(_) => EcrError::new(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ),
            Failure::Signature(SigError::Incomplete(m)) => {
                EcrError::new("IncompleteSignatureException", m)
            }
            Failure::Signature(e) => EcrError::new("InvalidSignatureException", e.to_string()),
        })?;
    caller.secure = crate::http::auth::forwarded_https(&st.auth, headers);
    crate::http::access_log::record(&caller);
    Ok(caller)
}

/// A request signed for another region than the registry's (`--region`, `region_name`) is
/// refused as AWS refuses one sent to the wrong regional endpoint, saying how to fix it:
/// accepting it would hand back ARNs of a region the caller did not ask for.
fn check_region(auth: &crate::auth::sigv4::Authorization, region: &str) -> Result<()> {
    if auth.region == region {
        return Ok(());
    }
    Err(EcrError::new(
        "InvalidSignatureException",
        format!(
            "Credential should be scoped to a valid region, not '{}'. This registry's region \
             is '{region}': sign requests for it (aws --region {region}, or the SDK's region), \
             or serve another region with BERTH_REGISTRY__REGION.",
            auth.region
        ),
    ))
}

/// A repository name as ECR constrains it, or `InvalidParameterException` naming `member`.
fn parse_repository_name(member: &str, name: &str) -> Result<RepositoryName> {
    if name.len() < 2 {
        return Err(EcrError::invalid(
            member,
            "must have length greater than or equal to 2",
        ));
    }
    if name.len() > 256 {
        return Err(EcrError::invalid(
            member,
            "must have length less than or equal to 256",
        ));
    }
    name.parse().map_err(|_| {
        EcrError::invalid(
            member,
            "must satisfy regular expression '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*'",
        )
    })
}

/// An opaque `nextToken`: `prefix` (which operation's cursor it is) and the cursor, base64url.
fn next_token(prefix: &str, cursor: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{prefix}{cursor}"))
}

/// The cursor inside a `nextToken` of `op` (made by `next_token` with `prefix`); anything
/// else is `InvalidParameterException`. Callers parse the cursor and refuse it with `bad_token`.
fn token_cursor(prefix: &str, op: &str, token: &str) -> Result<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix(prefix).map(str::to_owned))
        .ok_or_else(|| bad_token(op))
}

fn bad_token(op: &str) -> EcrError {
    EcrError::invalid(
        "nextToken",
        format!("must be a nextToken returned by a previous {op} call"),
    )
}

/// One call's context.
struct Ctx<'a> {
    st: &'a AppState,
    caller: &'a Caller,
    headers: &'a HeaderMap,
    input: &'a Map<String, Value>,
}

impl Ctx<'_> {
    fn auth(&self) -> &Auth {
        &self.st.auth
    }

    fn account(&self) -> &str {
        &self.auth().settings().account_id
    }

    /// Refuse unknown members: clients send only modelled ones, so anything else is a mistake.
    fn allow_only(&self, members: &[&str]) -> Result<()> {
        if let Some(k) = self.input.keys().find(|k| !members.contains(&k.as_str())) {
            return Err(EcrError::new(
                "SerializationException",
                format!(
                    "unknown member {:?}",
                    k.chars().take(100).collect::<String>()
                ),
            ));
        }
        Ok(())
    }

    fn string(&self, member: &str) -> Result<Option<&str>> {
        input::field(self.input, member, "")
    }

    fn required(&self, member: &str) -> Result<&str> {
        self.string(member)?
            .ok_or_else(|| EcrError::invalid(member, "must not be null"))
    }

    fn boolean(&self, member: &str) -> Result<Option<bool>> {
        match self.input.get(member) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(EcrError::new(
                "SerializationException",
                format!("{member} must be a boolean"),
            )),
        }
    }

    /// `registryId`, when given, must be this registry's account.
    fn registry_id(&self) -> Result<()> {
        if let Some(id) = self.string("registryId")? {
            if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(EcrError::invalid(
                    "registryId",
                    "must satisfy regular expression '[0-9]{12}'",
                ));
            }
            if id != self.account() {
                return Err(EcrError::new(
                    "RepositoryNotFoundException",
                    format!("The registry with id '{id}' is not served here"),
                ));
            }
        }
        Ok(())
    }

    fn repository_name(&self) -> Result<RepositoryName> {
        parse_repository_name("repositoryName", self.required("repositoryName")?)
    }

    fn authorize(&self, action: Action, resource: Resource<'_>) -> Result<()> {
        match self.auth().authorize(self.caller, action, resource) {
            Decision::Allow => Ok(()),
            Decision::Deny(d) => Err(EcrError::new(
                "AccessDeniedException",
                crate::http::auth::denied_message(self.auth(), self.caller, action, resource, d),
            )),
        }
    }

    /// The request's repository, once the caller is known to be allowed `action` on it and it
    /// exists (in that order: a caller without permission learns nothing about existence).
    async fn existing_repository(&self, action: Action) -> Result<RepositoryName> {
        self.registry_id()?;
        let name = self.repository_name()?;
        self.authorize(action, Resource::Repository(&name))?;
        if !self.st.registry.repository_exists(&name).await? {
            return Err(self.repository_not_found(name.as_str()));
        }
        Ok(name)
    }

    /// `RepositoryNotFoundException`, in ECR's wording.
    pub(crate) fn repository_not_found(&self, name: &str) -> EcrError {
        EcrError::new(
            "RepositoryNotFoundException",
            format!(
                "The repository with name '{name}' does not exist in the registry with id '{}'",
                self.account()
            ),
        )
    }

    /// `https://<host>` clients reach this registry at, as `proxyEndpoint` reports it.
    fn proxy_endpoint(&self) -> String {
        let realm = crate::http::auth::realm(self.auth(), self.headers);
        realm.trim_end_matches("/token").to_owned()
    }
}

// ---- authentication ------------------------------------------------------------------------

async fn get_authorization_token(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&["registryIds"])?;
    c.authorize(Action::GetAuthorizationToken, Resource::Registry)?;
    let ids: Vec<String> = match c.input.get("registryIds") {
        None | Some(Value::Null) => vec![c.account().to_owned()],
        Some(Value::Array(a)) => {
            if a.is_empty() || a.len() > 10 {
                return Err(EcrError::invalid(
                    "registryIds",
                    "must have between 1 and 10 items",
                ));
            }
            a.iter()
                .map(|v| match v.as_str() {
                    Some(s) if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) => {
                        Ok(s.to_owned())
                    }
                    _ => Err(EcrError::invalid(
                        "registryIds",
                        "must satisfy regular expression '[0-9]{12}'",
                    )),
                })
                .collect::<Result<_>>()?
        }
        Some(_) => {
            return Err(EcrError::new(
                "SerializationException",
                "registryIds must be a list",
            ))
        }
    };
    let (password, expires) = c.auth().issue_login_password(c.caller)?;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{password}"));
    let endpoint = c.proxy_endpoint();
    let data: Vec<Value> = ids
        .iter()
        .map(|_| {
            json!({
                "authorizationToken": token,
                "expiresAt": expires,
                "proxyEndpoint": endpoint,
            })
        })
        .collect();
    Ok(json!({ "authorizationData": data }))
}

// ---- policies ------------------------------------------------------------------------------

/// Validate and store a repository policy (`Some`) or the registry policy (`None`); ECR's
/// wording for an invalid one.
async fn put_policy(c: &Ctx<'_>, repository: Option<&RepositoryName>, text: &str) -> Result<()> {
    if text.is_empty() || text.len() > 10_240 {
        return Err(EcrError::invalid(
            "policyText",
            "must have length between 1 and 10240",
        ));
    }
    let what = if repository.is_some() {
        "repository"
    } else {
        "registry"
    };
    match c.auth().put_resource_policy(repository, text).await {
        Err(crate::auth::AuthError::Policy(e)) => Err(EcrError::invalid(
            "PolicyText",
            format!("Invalid {what} policy provided: {e}"),
        )),
        other => Ok(other?),
    }
}

fn no_repository_policy(c: &Ctx<'_>, name: &RepositoryName) -> EcrError {
    EcrError::new(
        "RepositoryPolicyNotFoundException",
        format!(
            "Repository policy does not exist for the repository with name '{name}' in the registry with id '{}'",
            c.account()
        ),
    )
}

fn no_registry_policy(c: &Ctx<'_>) -> EcrError {
    EcrError::new(
        "RegistryPolicyNotFoundException",
        format!(
            "Registry policy does not exist in the registry with id '{}'",
            c.account()
        ),
    )
}

async fn set_repository_policy(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&["registryId", "repositoryName", "policyText", "force"])?;
    let name = c.existing_repository(Action::SetRepositoryPolicy).await?;
    let text = c.required("policyText")?;
    let _force = c.boolean("force")?;
    put_policy(c, Some(&name), text).await?;
    Ok(json!({"registryId": c.account(), "repositoryName": name.as_str(), "policyText": text}))
}

async fn get_repository_policy(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&["registryId", "repositoryName"])?;
    let name = c.existing_repository(Action::GetRepositoryPolicy).await?;
    let text = c
        .auth()
        .resource_policy(Some(&name))
        .await?
        .ok_or_else(|| no_repository_policy(c, &name))?;
    Ok(json!({"registryId": c.account(), "repositoryName": name.as_str(), "policyText": text}))
}

async fn delete_repository_policy(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&["registryId", "repositoryName"])?;
    let name = c
        .existing_repository(Action::DeleteRepositoryPolicy)
        .await?;
    let text = c
        .auth()
        .delete_resource_policy(Some(&name))
        .await?
        .ok_or_else(|| no_repository_policy(c, &name))?;
    Ok(json!({"registryId": c.account(), "repositoryName": name.as_str(), "policyText": text}))
}

async fn put_registry_policy(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&["policyText"])?;
    c.authorize(Action::PutRegistryPolicy, Resource::Registry)?;
    let text = c.required("policyText")?;
    put_policy(c, None, text).await?;
    Ok(json!({"registryId": c.account(), "policyText": text}))
}

async fn get_registry_policy(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&[])?;
    c.authorize(Action::GetRegistryPolicy, Resource::Registry)?;
    let text = c
        .auth()
        .resource_policy(None)
        .await?
        .ok_or_else(|| no_registry_policy(c))?;
    Ok(json!({"registryId": c.account(), "policyText": text}))
}

async fn delete_registry_policy(c: &Ctx<'_>) -> Result<Value> {
    c.allow_only(&[])?;
    c.authorize(Action::DeleteRegistryPolicy, Resource::Registry)?;
    let text = c
        .auth()
        .delete_resource_policy(None)
        .await?
        .ok_or_else(|| no_registry_policy(c))?;
    Ok(json!({"registryId": c.account(), "policyText": text}))
}
