//! Who is asking and whether they may.
//!
//! - [`Auth::authenticate`] turns a request's credentials (none, Basic, Bearer) into a
//!   [`Caller`].
//! - [`Auth::authorize`] is the one decision for every request on every surface:
//!   `authorize(caller, action, resource)`, with actions named as Amazon ECR names them and
//!   identity, repository and registry policies combined as IAM combines them.
//! - Tokens ([`token`]) and scopes ([`scope`]) implement the Docker token flow; [`store`] keeps
//!   identities in the metadata database; [`crypto`] seals secrets under the server key.
//!
//! Nothing here touches the database per request: every server holds the identity tables in
//! memory as one immutable [`Snapshot`], swapped whole when `auth_generation` moves (checked
//! every second), so a disabled key or a changed policy applies everywhere within a second.

pub mod crypto;
pub mod ratelimit;
pub mod scope;
pub mod store;
#[doc(hidden)]
pub mod suite; // the identity store's behaviour suite, shared with tests/backends
pub mod token;

use crate::config::Config;
use crate::metadata::MetaError;
use crate::oci::RepositoryName;
use crate::policy::iam::{self, Policy, PolicyKind, PrincipalInfo};
use base64::Engine as _;
use crypto::ServerKey;
use ratelimit::{FailureLimiter, Key, Limit, Limits, Source};
use scope::{Access, Scope, ScopeAction};
use sha2::Digest as _;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use store::{
    AccessKeyRow, IdentityPolicyRow, IdentityStore, PrincipalKind, PrincipalRow, UnblockKind,
    UnblockRow,
};
use subtle::ConstantTimeEq;
use token::{Claims, SigningKey, TokenError};

/// Actions, named as Amazon ECR names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    BatchGetImage,
    GetDownloadUrlForLayer,
    BatchCheckLayerAvailability,
    InitiateLayerUpload,
    UploadLayerPart,
    CompleteLayerUpload,
    PutImage,
    BatchDeleteImage,
    ListImages,
    DescribeImages,
    DescribeRepositories,
    GetAuthorizationToken,
    SetRepositoryPolicy,
    GetRepositoryPolicy,
    DeleteRepositoryPolicy,
    PutRegistryPolicy,
    GetRegistryPolicy,
    DeleteRegistryPolicy,
    CreateRepository,
    DeleteRepository,
    TagResource,
    UntagResource,
    ListTagsForResource,
    PutImageTagMutability,
    PutImageScanningConfiguration,
    ListImageReferrers,
    PutLifecyclePolicy,
    GetLifecyclePolicy,
    DeleteLifecyclePolicy,
    StartLifecyclePolicyPreview,
    GetLifecyclePolicyPreview,
    DescribeRegistry,
    PutReplicationConfiguration,
    GetRegistryScanningConfiguration,
    PutRegistryScanningConfiguration,
    BatchGetRepositoryScanningConfiguration,
    GetAccountSetting,
    PutAccountSetting,
    StartImageScan,
    DescribeImageScanFindings,
    DescribeImageReplicationStatus,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::BatchGetImage => "ecr:BatchGetImage",
            Action::GetDownloadUrlForLayer => "ecr:GetDownloadUrlForLayer",
            Action::BatchCheckLayerAvailability => "ecr:BatchCheckLayerAvailability",
            Action::InitiateLayerUpload => "ecr:InitiateLayerUpload",
            Action::UploadLayerPart => "ecr:UploadLayerPart",
            Action::CompleteLayerUpload => "ecr:CompleteLayerUpload",
            Action::PutImage => "ecr:PutImage",
            Action::BatchDeleteImage => "ecr:BatchDeleteImage",
            Action::ListImages => "ecr:ListImages",
            Action::DescribeImages => "ecr:DescribeImages",
            Action::DescribeRepositories => "ecr:DescribeRepositories",
            Action::GetAuthorizationToken => "ecr:GetAuthorizationToken",
            Action::SetRepositoryPolicy => "ecr:SetRepositoryPolicy",
            Action::GetRepositoryPolicy => "ecr:GetRepositoryPolicy",
            Action::DeleteRepositoryPolicy => "ecr:DeleteRepositoryPolicy",
            Action::PutRegistryPolicy => "ecr:PutRegistryPolicy",
            Action::GetRegistryPolicy => "ecr:GetRegistryPolicy",
            Action::DeleteRegistryPolicy => "ecr:DeleteRegistryPolicy",
            Action::CreateRepository => "ecr:CreateRepository",
            Action::DeleteRepository => "ecr:DeleteRepository",
            Action::TagResource => "ecr:TagResource",
            Action::UntagResource => "ecr:UntagResource",
            Action::ListTagsForResource => "ecr:ListTagsForResource",
            Action::PutImageTagMutability => "ecr:PutImageTagMutability",
            Action::PutImageScanningConfiguration => "ecr:PutImageScanningConfiguration",
            Action::ListImageReferrers => "ecr:ListImageReferrers",
            Action::PutLifecyclePolicy => "ecr:PutLifecyclePolicy",
            Action::GetLifecyclePolicy => "ecr:GetLifecyclePolicy",
            Action::DeleteLifecyclePolicy => "ecr:DeleteLifecyclePolicy",
            Action::StartLifecyclePolicyPreview => "ecr:StartLifecyclePolicyPreview",
            Action::GetLifecyclePolicyPreview => "ecr:GetLifecyclePolicyPreview",
            Action::DescribeRegistry => "ecr:DescribeRegistry",
            Action::PutReplicationConfiguration => "ecr:PutReplicationConfiguration",
            Action::GetRegistryScanningConfiguration => "ecr:GetRegistryScanningConfiguration",
            Action::PutRegistryScanningConfiguration => "ecr:PutRegistryScanningConfiguration",
            Action::BatchGetRepositoryScanningConfiguration => {
                "ecr:BatchGetRepositoryScanningConfiguration"
            }
            Action::GetAccountSetting => "ecr:GetAccountSetting",
            Action::PutAccountSetting => "ecr:PutAccountSetting",
            Action::StartImageScan => "ecr:StartImageScan",
            Action::DescribeImageScanFindings => "ecr:DescribeImageScanFindings",
            Action::DescribeImageReplicationStatus => "ecr:DescribeImageReplicationStatus",
        }
    }

    /// The token scope actions any one of which covers this action on a repository.
    fn scope_actions(self) -> &'static [ScopeAction] {
        use ScopeAction::*;
        match self {
            Action::BatchGetImage
            | Action::GetDownloadUrlForLayer
            | Action::ListImages
            | Action::DescribeImages
            | Action::DescribeRepositories
            | Action::ListImageReferrers => &[Pull],
            // Clients check layer existence while pushing as well as pulling.
            Action::BatchCheckLayerAvailability => &[Pull, Push],
            Action::InitiateLayerUpload
            | Action::UploadLayerPart
            | Action::CompleteLayerUpload
            | Action::PutImage => &[Push],
            // Creating a repository by pushing to it (create-on-push) rides on the push scope;
            // the principal's policies must still allow ecr:CreateRepository.
            Action::CreateRepository => &[Push],
            Action::BatchDeleteImage => &[Delete],
            // Control-plane actions: no registry token ever carries them.
            Action::GetAuthorizationToken
            | Action::SetRepositoryPolicy
            | Action::GetRepositoryPolicy
            | Action::DeleteRepositoryPolicy
            | Action::PutRegistryPolicy
            | Action::GetRegistryPolicy
            | Action::DeleteRegistryPolicy
            | Action::DeleteRepository
            | Action::TagResource
            | Action::UntagResource
            | Action::ListTagsForResource
            | Action::PutImageTagMutability
            | Action::PutImageScanningConfiguration
            | Action::PutLifecyclePolicy
            | Action::GetLifecyclePolicy
            | Action::DeleteLifecyclePolicy
            | Action::StartLifecyclePolicyPreview
            | Action::GetLifecyclePolicyPreview
            | Action::DescribeRegistry
            | Action::PutReplicationConfiguration
            | Action::GetRegistryScanningConfiguration
            | Action::PutRegistryScanningConfiguration
            | Action::BatchGetRepositoryScanningConfiguration
            | Action::GetAccountSetting
            | Action::PutAccountSetting
            | Action::StartImageScan
            | Action::DescribeImageScanFindings
            | Action::DescribeImageReplicationStatus => &[],
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an action is performed on.
#[derive(Debug, Clone, Copy)]
pub enum Resource<'a> {
    Registry,
    Repository(&'a RepositoryName),
}

/// Why a request was refused; decides between 401 (authenticate, or get a token with more
/// scope) and 403 (you are who you are, and that is not enough).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// An anonymous caller: credentials may help.
    NoCredentials,
    /// A bearer token that does not carry the scope: a new token may help.
    InsufficientScope,
    /// A policy denies it explicitly.
    Explicit,
    /// No policy allows it.
    Implicit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(Denial),
}

impl Decision {
    pub fn allowed(self) -> bool {
        self == Decision::Allow
    }
}

/// A principal as the server holds it in memory.
#[derive(Debug)]
pub struct PrincipalEntry {
    pub name: String,
    pub id: String,
    pub kind: PrincipalKind,
    pub disabled: bool,
    pub info: PrincipalInfo,
    policies: Vec<Arc<Policy>>,
    keys: Vec<String>,
}

/// The caller of a request, once authenticated.
#[derive(Debug, Clone)]
pub struct Caller {
    /// `None`: anonymous.
    pub principal: Option<Arc<PrincipalEntry>>,
    /// The access key the caller used, directly or through a token.
    pub access_key: Option<String>,
    /// A bearer token's `access` claims: the request cannot exceed them.
    pub token_access: Option<Arc<Vec<Access>>>,
    pub source: Option<IpAddr>,
    /// Whether the request came over TLS (`aws:SecureTransport`).
    pub secure: bool,
    /// When the credential presented stops being valid, if it does (a login password): what
    /// it is exchanged for (a refresh token) must not outlive it.
    pub expires_at: Option<i64>,
}

impl Caller {
    pub fn anonymous(source: Option<IpAddr>) -> Caller {
        Caller {
            principal: None,
            access_key: None,
            token_access: None,
            source,
            secure: false,
            expires_at: None,
        }
    }

    pub fn is_anonymous(&self) -> bool {
        self.principal.is_none()
    }

    /// The caller as AWS error messages name it.
    pub fn arn(&self) -> &str {
        self.principal
            .as_ref()
            .map(|p| p.info.arn.as_str())
            .unwrap_or("anonymous")
    }
}

/// Credentials as a request presents them.
pub enum Credentials<'a> {
    None,
    Basic {
        user: String,
        password: String,
    },
    /// Borrowed from the header: the hot path does not copy tokens.
    Bearer(&'a str),
    /// An `Authorization` header we cannot read.
    Malformed,
}

impl<'a> Credentials<'a> {
    pub fn from_header(value: Option<&'a axum::http::HeaderValue>) -> Credentials<'a> {
        let Some(v) = value else {
            return Credentials::None;
        };
        let Ok(v) = v.to_str() else {
            return Credentials::Malformed;
        };
        let (scheme, rest) = v.trim().split_once(' ').unwrap_or((v.trim(), ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(rest) else {
                return Credentials::Malformed;
            };
            let Ok(text) = String::from_utf8(raw) else {
                return Credentials::Malformed;
            };
            match text.split_once(':') {
                Some((u, p)) => Credentials::Basic {
                    user: u.to_owned(),
                    password: p.to_owned(),
                },
                None => Credentials::Malformed,
            }
        } else if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
            Credentials::Bearer(rest)
        } else {
            Credentials::Malformed
        }
    }
}

/// Why authentication failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("{0}")]
    Invalid(&'static str),
    #[error("the bearer token has expired")]
    Expired,
    #[error("too many failed authentication attempts; retry later")]
    RateLimited(Duration),
    #[error("the identity store is unavailable; retry")]
    Unavailable,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Key(#[from] crypto::KeyError),
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("invalid policy: {0}")]
    Policy(#[from] iam::PolicyError),
    #[error("{0}")]
    Invalid(String),
    /// The server key is not the one the stored secrets were sealed with.
    #[error("{0}")]
    ServerKey(String),
}

/// What `berth auth unblock` lifts, on every server within a second.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unblock {
    /// Every failure counted against a source address (an IPv6 address: its /64), under any
    /// user name.
    Address(IpAddr),
    /// Every failure counted against a user name, from any source. A principal's name also
    /// covers its access key ids, and an access key id its principal's name and other keys.
    User(String),
}

impl fmt::Display for Unblock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unblock::Address(a) => write!(f, "address {a}"),
            Unblock::User(u) => write!(f, "user {u}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub enabled: bool,
    pub service: String,
    pub realm: Option<String>,
    pub trust_forwarded_proto: bool,
    pub token_ttl: i64,
    pub refresh_ttl: i64,
    pub login_ttl: i64,
    pub rotation: i64,
    pub account_id: String,
    pub region: String,
    pub max_failures: u32,
    pub failure_window: Duration,
}

impl AuthSettings {
    pub fn from_config(c: &Config) -> Result<AuthSettings, AuthError> {
        let a = &c.auth;
        if c.registry.account_id.len() != 12
            || !c.registry.account_id.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(AuthError::Config(
                "registry.account_id must be 12 digits".into(),
            ));
        }
        if a.service.is_empty() || a.service.contains('"') {
            return Err(AuthError::Config(
                "auth.service must be non-empty and contain no '\"'".into(),
            ));
        }
        let secs = |v: u64, what: &str| {
            if v == 0 || v > 10 * 365 * 24 * 3600 {
                Err(AuthError::Config(format!(
                    "auth.{what} must be between 1 and 315360000"
                )))
            } else {
                Ok(v as i64)
            }
        };
        Ok(AuthSettings {
            enabled: a.enabled,
            service: a.service.clone(),
            realm: a.realm.clone(),
            trust_forwarded_proto: a.trust_forwarded_proto,
            token_ttl: secs(a.token_ttl_secs, "token_ttl_secs")?,
            refresh_ttl: secs(a.refresh_token_ttl_secs, "refresh_token_ttl_secs")?,
            login_ttl: secs(a.login_token_ttl_secs, "login_token_ttl_secs")?,
            rotation: secs(a.key_rotation_secs, "key_rotation_secs")?,
            account_id: c.registry.account_id.clone(),
            region: c.registry.region.clone(),
            max_failures: a.max_failures,
            failure_window: Duration::from_secs(a.failure_window_secs.max(1)),
        })
    }

    /// The issuer of every token this registry signs.
    fn issuer(&self) -> &str {
        &self.service
    }

    pub fn principal_arn(&self, kind: PrincipalKind, name: &str) -> String {
        let kind = match kind {
            PrincipalKind::User => "user",
            PrincipalKind::Robot => "role",
        };
        format!("arn:aws:iam::{}:{kind}/{name}", self.account_id)
    }

    pub fn repository_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:ecr:{}:{}:repository/{name}",
            self.region, self.account_id
        )
    }
}

/// The administrator policy attached to the first principal.
pub const ADMIN_POLICY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"}]}"#;
pub const ADMIN_POLICY_NAME: &str = "AdministratorAccess";

/// Policy names, principal names: what IAM allows for user names.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

struct KeyEntry {
    principal: String,
    secret: String,
    disabled: bool,
}

/// Everything authentication and authorization read, immutable once built.
pub struct Snapshot {
    generation: i64,
    principals: HashMap<String, Arc<PrincipalEntry>>,
    keys: HashMap<String, KeyEntry>,
    registry_policy: Option<Arc<Policy>>,
    repository_policies: HashMap<String, Arc<Policy>>,
    /// Newest first.
    signing: Vec<SigningKey>,
}

/// A stored policy the parser refuses (say, a newer server wrote it) must not silently widen
/// access by being skipped: it is replaced by one that denies everything.
fn deny_all(kind: PolicyKind) -> Arc<Policy> {
    let text = match kind {
        PolicyKind::Identity => r#"{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#,
        PolicyKind::Resource => r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"*"}]}"#,
    };
    Arc::new(Policy::parse(text, kind).unwrap_or_else(|e| panic!("built-in policy: {e}")))
}

fn parse_stored(text: &str, kind: PolicyKind, what: &str) -> Arc<Policy> {
    match Policy::parse(text, kind) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            tracing::error!(policy = what, error = %e, "stored policy is invalid; it denies everything until replaced");
            deny_all(kind)
        }
    }
}

/// Which stored secrets the server key opened while a snapshot was built.
#[derive(Debug, Default)]
struct Sealed {
    access_keys: usize,
    /// The ids of the access keys that did not open.
    access_keys_closed: Vec<String>,
    signing_keys: usize,
    /// The kids of the token signing keys that did not open.
    signing_keys_closed: Vec<String>,
}

impl Sealed {
    /// Whether this is the registry's server key: it opens at least one stored access key or,
    /// with none stored, at least one token signing key (nothing stored: any key is). One
    /// opening is proof (AES-GCM does not open under another key), and one is enough: older
    /// versions started with a wrong key wrote a signing key sealed under it, which must not
    /// keep the right key out. Access keys decide first because they are what the operator
    /// made; signing keys come and go by themselves.
    fn key_fits(&self) -> bool {
        if self.access_keys > 0 {
            self.access_keys_closed.len() < self.access_keys
        } else {
            self.signing_keys == 0 || self.signing_keys_closed.len() < self.signing_keys
        }
    }

    /// Why the server key does not fit (when it does not), and what to do.
    fn wrong_key(&self, origin: &str, file_hint: Option<&std::path::Path>) -> AuthError {
        let (n, kind) = if self.access_keys > 0 {
            (self.access_keys, "access key")
        } else {
            (self.signing_keys, "token signing key")
        };
        let what = if n == 1 {
            format!("the {kind} stored in the database")
        } else {
            format!("any of the {n} {kind}s stored in the database")
        };
        let file = file_hint.map_or(String::new(), |p| {
            format!(
                " (the embedded deployment keeps it in {} when auth.server_key is unset)",
                p.display()
            )
        });
        AuthError::ServerKey(format!(
            "wrong server key: {origin} does not open {what}, so it is not the key this \
             registry's secrets are sealed with. Set auth.server_key \
             (BERTH_AUTH__SERVER_KEY) to the key this registry was set up with{file}. \
             Nothing was changed."
        ))
    }

    /// Secrets that stay unusable under a key that fits otherwise (say, a signing key an
    /// older version wrote under a wrong key): logged, left for rotation to delete.
    fn log_closed(&self) {
        for id in &self.access_keys_closed {
            tracing::error!(access_key = %id, error = %crypto::KeyError::Open, "cannot open an access key's secret; it will not authenticate");
        }
        for kid in &self.signing_keys_closed {
            tracing::error!(kid = %kid, error = %crypto::KeyError::Open, "cannot open a token signing key; tokens it signed are refused");
        }
    }
}

impl Snapshot {
    fn build(
        data: store::AuthData,
        key: &ServerKey,
        settings: &AuthSettings,
    ) -> (Snapshot, Sealed) {
        let mut sealed = Sealed {
            access_keys: data.keys.len(),
            signing_keys: data.signing_keys.len(),
            ..Sealed::default()
        };
        let mut policies: HashMap<String, Vec<Arc<Policy>>> = HashMap::new();
        for p in &data.identity_policies {
            policies
                .entry(p.principal.clone())
                .or_default()
                .push(parse_stored(
                    &p.document,
                    PolicyKind::Identity,
                    &format!("{}/{}", p.principal, p.name),
                ));
        }
        let mut key_ids: HashMap<String, Vec<String>> = HashMap::new();
        let mut keys = HashMap::new();
        for k in data.keys {
            let secret = match key.open("access-key", &k.secret) {
                Ok(s) => String::from_utf8_lossy(&s).into_owned(),
                Err(_) => {
                    sealed.access_keys_closed.push(k.id);
                    continue;
                }
            };
            key_ids
                .entry(k.principal.clone())
                .or_default()
                .push(k.id.clone());
            keys.insert(
                k.id,
                KeyEntry {
                    principal: k.principal,
                    secret,
                    disabled: k.disabled,
                },
            );
        }
        let principals = data
            .principals
            .into_iter()
            .map(|p| {
                let entry = PrincipalEntry {
                    info: PrincipalInfo {
                        arn: settings.principal_arn(p.kind, &p.name),
                        account: settings.account_id.clone(),
                    },
                    policies: policies.remove(&p.name).unwrap_or_default(),
                    keys: key_ids.remove(&p.name).unwrap_or_default(),
                    name: p.name.clone(),
                    id: p.id,
                    kind: p.kind,
                    disabled: p.disabled,
                };
                (p.name, Arc::new(entry))
            })
            .collect();
        let mut registry_policy = None;
        let mut repository_policies = HashMap::new();
        for (scope, doc) in data.resource_policies {
            let p = parse_stored(
                &doc,
                PolicyKind::Resource,
                if scope.is_empty() { "registry" } else { &scope },
            );
            if scope == store::REGISTRY_SCOPE {
                registry_policy = Some(p);
            } else {
                repository_policies.insert(scope, p);
            }
        }
        let mut signing: Vec<SigningKey> = data
            .signing_keys
            .iter()
            .filter_map(|k| match key.open("signing-key", &k.secret) {
                Ok(secret) => Some(SigningKey::new(k.kid.clone(), &secret, k.created_at)),
                Err(_) => {
                    sealed.signing_keys_closed.push(k.kid.clone());
                    None
                }
            })
            .collect();
        signing.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.kid.cmp(&b.kid)));
        let snapshot = Snapshot {
            generation: data.generation,
            principals,
            keys,
            registry_policy,
            repository_policies,
            signing,
        };
        (snapshot, sealed)
    }

    /// The names an unblock of user `name` covers: the name, and its principal's name and
    /// access key ids (whether it names a principal or one of its keys).
    fn names_covered<'a>(&'a self, name: &'a str) -> Vec<&'a str> {
        let principal = self
            .keys
            .get(name)
            .map(|k| k.principal.as_str())
            .unwrap_or(name);
        let mut names = vec![name];
        if let Some(p) = self.principals.get(principal) {
            names.push(p.name.as_str());
            names.extend(p.keys.iter().map(String::as_str));
        }
        names.sort_unstable();
        names.dedup();
        names
    }
}

/// A bearer token that passed signature and claim checks, remembered until it expires.
struct VerifiedToken {
    claims: Claims,
    access: Arc<Vec<Access>>,
}

/// Bound on remembered tokens (each a few hundred bytes).
const TOKEN_CACHE_MAX: usize = 20_000;

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn sha256_hex(s: &str) -> String {
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

/// A token issued by the token endpoint.
pub struct IssuedToken {
    pub token: String,
    /// What it grants (the subset of what was asked that policies allow).
    pub access: Vec<Access>,
    pub expires_in: i64,
    pub issued_at: i64,
}

/// Credentials created for a principal: the secret is shown once.
pub struct NewKey {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// What a credential claimed to be: what its failures count against, and what a refusal logs.
#[derive(Debug, Clone, Copy)]
struct Claim<'a> {
    /// The kind of credential: "secret", "SigV4 signature", "login password", "bearer token"...
    credential: &'static str,
    /// The user name it claims before it is verified (an access key id or a principal name);
    /// `None` for credentials this registry issued (tokens, login passwords).
    user: Option<&'a str>,
}

impl<'a> Claim<'a> {
    fn named(user: &'a str, credential: &'static str) -> Claim<'a> {
        Claim {
            credential,
            user: Some(user),
        }
    }

    fn issued(credential: &'static str) -> Claim<'a> {
        Claim {
            credential,
            user: None,
        }
    }

    /// The per-source-and-name key of this claim from `src`.
    fn source_key(&self, src: Source) -> Key {
        Key::SourceName(src, self.user.map(ratelimit::name_key))
    }
}

pub struct Auth {
    settings: AuthSettings,
    store: Arc<dyn IdentityStore>,
    key: ServerKey,
    snapshot: RwLock<Arc<Snapshot>>,
    limiter: FailureLimiter,
    /// The unblock requests this server has applied (of those still stored).
    unblocks_applied: Mutex<HashSet<i64>>,
    verified: Mutex<HashMap<String, Arc<VerifiedToken>>>,
}

/// Unblock requests are kept at least this long (milliseconds): past any lockout they could
/// lift, and past any reload a server can have missed.
const UNBLOCK_KEEP_MS: i64 = 24 * 3600 * 1000;

impl Auth {
    /// Load the server key and the identity tables, and check that the key opens the stored
    /// secrets: with a wrong key this fails, before anything is written (the embedded
    /// deployment's key file is created only for a database that holds no secret yet).
    pub async fn open(config: &Config, store: Arc<dyn IdentityStore>) -> Result<Auth, AuthError> {
        let settings = AuthSettings::from_config(config)?;
        let data = store.load().await?;
        let (key, origin) = Self::server_key(config, &data)?;
        let applied = data.unblocks.iter().map(|u| u.id).collect();
        let (snapshot, sealed) = Snapshot::build(data, &key, &settings);
        if !sealed.key_fits() {
            let file = (config.metadata.backend == crate::config::MetadataBackend::Sqlite)
                .then(|| config.data_dir.join("server.key"));
            return Err(sealed.wrong_key(&origin, file.as_deref()));
        }
        sealed.log_closed();
        Ok(Auth {
            limiter: FailureLimiter::new(
                Limits::from_max(settings.max_failures),
                settings.failure_window,
            ),
            settings,
            store,
            key,
            snapshot: RwLock::new(Arc::new(snapshot)),
            unblocks_applied: Mutex::new(applied),
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// The server key, and where it came from (for messages). The embedded deployment makes
    /// `data_dir/server.key` on first start, but never for a database that already holds
    /// secrets: those were sealed under a key that is missing, not one to make up.
    fn server_key(
        config: &Config,
        data: &store::AuthData,
    ) -> Result<(ServerKey, String), AuthError> {
        if let Some(k) = &config.auth.server_key {
            return Ok((
                ServerKey::from_base64(&k.0)?,
                "the server key in auth.server_key (BERTH_AUTH__SERVER_KEY)".into(),
            ));
        }
        if config.metadata.backend == crate::config::MetadataBackend::Postgres {
            return Err(AuthError::Config(
                "auth.server_key (BERTH_AUTH__SERVER_KEY) is required with PostgreSQL: \
                 every replica must share it; `berth generate-key` makes one"
                    .into(),
            ));
        }
        let path = config.data_dir.join("server.key");
        let origin = format!("the server key in {}", path.display());
        if let Some(k) = ServerKey::load(&path)? {
            return Ok((k, origin));
        }
        let stored = data.keys.len() + data.signing_keys.len();
        if stored > 0 {
            return Err(AuthError::ServerKey(format!(
                "missing server key: {} does not exist, but the database holds {stored} secrets \
                 sealed under a server key. Restore that file from a backup, or set \
                 auth.server_key (BERTH_AUTH__SERVER_KEY) to the key this registry was set up \
                 with. Nothing was changed.",
                path.display()
            )));
        }
        Ok((ServerKey::create(&path)?, origin))
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    pub fn enabled(&self) -> bool {
        self.settings.enabled
    }

    pub fn store(&self) -> &Arc<dyn IdentityStore> {
        &self.store
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Reload the identity tables if they changed; true if they did.
    pub async fn refresh(&self) -> Result<bool, MetaError> {
        let current = self.snapshot().generation;
        if self.store.generation().await? == current {
            return Ok(false);
        }
        self.reload().await?;
        Ok(true)
    }

    /// Reload the identity tables now, and apply the unblock requests not applied yet.
    pub async fn reload(&self) -> Result<(), MetaError> {
        let mut data = self.store.load().await?;
        let unblocks = std::mem::take(&mut data.unblocks);
        let (snapshot, sealed) = Snapshot::build(data, &self.key, &self.settings);
        sealed.log_closed();
        let snapshot = Arc::new(snapshot);
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = snapshot.clone();
        self.apply_unblocks(&unblocks, &snapshot);
        Ok(())
    }

    /// Forget the failures each new unblock request covers.
    fn apply_unblocks(&self, rows: &[UnblockRow], snap: &Snapshot) {
        let mut applied = self
            .unblocks_applied
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for row in rows.iter().filter(|r| !applied.contains(&r.id)) {
            let cleared = match row.kind {
                UnblockKind::Address => match row.target.parse::<IpAddr>() {
                    Ok(ip) => self.limiter.unblock_source(Source::of(ip)),
                    Err(_) => {
                        tracing::warn!(unblock = %row.target, "an unblock names no IP address; ignored");
                        0
                    }
                },
                UnblockKind::User => self.limiter.unblock_names(&snap.names_covered(&row.target)),
            };
            tracing::info!(kind = row.kind.as_str(), unblock = %row.target, cleared, "applied an unblock of failed authentications");
        }
        // Forget ids below the oldest still stored (deleted: ids are never reused), but not
        // newer ones a concurrent, older load may not have seen.
        applied.extend(rows.iter().map(|r| r.id));
        if let Some(oldest) = rows.iter().map(|r| r.id).min() {
            applied.retain(|id| *id >= oldest);
        }
    }

    /// Lift lockouts of an address or a user name on every server (within a second: each
    /// applies the request on its next reload), and forget the failures that led to them.
    /// For `berth auth unblock`; works on the database, with or without servers running.
    pub async fn unblock(&self, target: Unblock) -> Result<(), AuthError> {
        let (kind, text) = match &target {
            Unblock::Address(ip) => (UnblockKind::Address, ip.to_string()),
            Unblock::User(u) => {
                if u.is_empty() || u.len() > 256 || u.chars().any(char::is_control) {
                    return Err(AuthError::Invalid(format!(
                        "{u:?} is not a user name (an access key id or principal name)"
                    )));
                }
                (UnblockKind::User, u.clone())
            }
        };
        let now_ms = now_secs() * 1000;
        let window_ms = i64::try_from(self.settings.failure_window.as_millis()).unwrap_or(i64::MAX);
        let keep_ms = window_ms.max(UNBLOCK_KEEP_MS);
        self.store
            .add_unblock(kind, &text, now_ms, now_ms.saturating_sub(keep_ms))
            .await?;
        Ok(())
    }

    /// Make sure a signing key young enough to sign with exists, and drop keys no unexpired
    /// token can name. Safe on any number of replicas at once (at worst two new keys).
    pub async fn rotate_keys(&self) -> Result<(), AuthError> {
        let now_ms = now_secs() * 1000;
        let rotation_ms = self.settings.rotation * 1000;
        let snap = self.snapshot();
        let fresh = snap
            .signing
            .first()
            .is_some_and(|k| now_ms - k.created_at < rotation_ms);
        if !fresh {
            let secret = crypto::random_bytes(32)?;
            self.store
                .add_signing_key(&store::SigningKeyRow {
                    kid: crypto::random_token(9)?,
                    secret: self.key.seal("signing-key", &secret)?,
                    created_at: now_ms,
                })
                .await?;
            tracing::info!("made a new token signing key");
        }
        // A key signs for `rotation`, and its longest-lived tokens (login passwords) outlive
        // that by `login_ttl`.
        let keep_ms =
            rotation_ms + self.settings.login_ttl.max(self.settings.token_ttl) * 1000 + 60_000;
        if snap.signing.iter().any(|k| now_ms - k.created_at > keep_ms) {
            self.store
                .delete_signing_keys_before(now_ms - keep_ms)
                .await?;
        }
        if !fresh {
            self.reload().await?;
        }
        Ok(())
    }

    /// Keep the in-memory tables current and the keys rotated; runs for the server's life.
    pub async fn maintain(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut n: u64 = 0;
        // A short `key_rotation_secs` is honoured while the server runs: the signing key is
        // checked at least that often (a check of a fresh key touches no database).
        let rotate_every = u64::try_from(self.settings.rotation)
            .unwrap_or(60)
            .clamp(1, 60);
        loop {
            tick.tick().await;
            if let Err(e) = self.refresh().await {
                tracing::warn!(error = %e, "cannot reload identities; serving the last ones loaded");
            }
            if n.is_multiple_of(rotate_every) {
                if let Err(e) = self.rotate_keys().await {
                    tracing::warn!(error = %e, "token key rotation failed");
                }
            }
            if n.is_multiple_of(60) {
                if let Err(e) = self.store.delete_expired_refresh_tokens(now_secs()).await {
                    tracing::warn!(error = %e, "cannot delete expired refresh tokens");
                }
                self.prune_token_cache();
                self.limiter.prune(Instant::now());
            }
            n += 1;
        }
    }

    fn prune_token_cache(&self) {
        let now = now_secs();
        self.verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, v| v.claims.exp > now);
    }

    // ---- identities --------------------------------------------------------------------

    /// On a registry's first start: create `admin` with full access and an access key.
    /// Returns the credentials to show once, or `None` if this was done before.
    pub async fn bootstrap(&self) -> Result<Option<NewKey>, AuthError> {
        let now_ms = now_secs() * 1000;
        let p = PrincipalRow {
            name: "admin".into(),
            id: uuid::Uuid::new_v4().to_string(),
            kind: PrincipalKind::User,
            disabled: false,
            created_at: now_ms,
        };
        let (row, new) = self.new_key_row("admin", now_ms)?;
        let policy = IdentityPolicyRow {
            principal: "admin".into(),
            name: ADMIN_POLICY_NAME.into(),
            document: ADMIN_POLICY.into(),
        };
        if self.store.bootstrap(&p, &row, &policy).await? {
            self.reload().await?;
            Ok(Some(new))
        } else {
            Ok(None)
        }
    }

    fn new_key_row(
        &self,
        principal: &str,
        now_ms: i64,
    ) -> Result<(AccessKeyRow, NewKey), AuthError> {
        let id = crypto::new_access_key_id()?;
        let secret = crypto::new_secret_access_key()?;
        Ok((
            AccessKeyRow {
                id: id.clone(),
                principal: principal.into(),
                secret: self.key.seal("access-key", secret.as_bytes())?,
                disabled: false,
                created_at: now_ms,
            },
            NewKey {
                access_key_id: id,
                secret_access_key: secret,
            },
        ))
    }

    pub async fn create_principal(&self, name: &str, kind: PrincipalKind) -> Result<(), AuthError> {
        if !valid_name(name) {
            return Err(AuthError::Invalid(format!(
                "principal name {name:?} must be 1-64 characters of letters, digits and +=,.@_-"
            )));
        }
        let row = PrincipalRow {
            name: name.into(),
            id: uuid::Uuid::new_v4().to_string(),
            kind,
            disabled: false,
            created_at: now_secs() * 1000,
        };
        if !self.store.create_principal(&row).await? {
            return Err(AuthError::Conflict(format!(
                "principal {name} already exists"
            )));
        }
        Ok(())
    }

    pub async fn create_access_key(&self, principal: &str) -> Result<NewKey, AuthError> {
        let (row, new) = self.new_key_row(principal, now_secs() * 1000)?;
        if !self.store.create_access_key(&row).await? {
            return Err(AuthError::NotFound(format!(
                "no principal named {principal}"
            )));
        }
        Ok(new)
    }

    /// Attach (or replace) an identity policy after validating it.
    pub async fn put_identity_policy(
        &self,
        principal: &str,
        name: &str,
        document: &str,
    ) -> Result<(), AuthError> {
        if !valid_name(name) {
            return Err(AuthError::Invalid(format!(
                "policy name {name:?} must be 1-64 characters of letters, digits and +=,.@_-"
            )));
        }
        Policy::parse(document, PolicyKind::Identity)?;
        let row = IdentityPolicyRow {
            principal: principal.into(),
            name: name.into(),
            document: document.into(),
        };
        if !self
            .store
            .put_identity_policy(&row, now_secs() * 1000)
            .await?
        {
            return Err(AuthError::NotFound(format!(
                "no principal named {principal}"
            )));
        }
        Ok(())
    }

    /// Set a repository's policy (`Some(name)`) or the registry policy (`None`), after
    /// validating it. This server applies it at once; others within a second.
    pub async fn put_resource_policy(
        &self,
        repository: Option<&RepositoryName>,
        document: &str,
    ) -> Result<(), AuthError> {
        Policy::parse(document, PolicyKind::Resource)?;
        let scope = repository
            .map(|r| r.as_str())
            .unwrap_or(store::REGISTRY_SCOPE);
        self.store
            .put_resource_policy(scope, document, now_secs() * 1000)
            .await?;
        self.reload().await?;
        Ok(())
    }

    /// Delete a repository's policy (`Some(name)`) or the registry policy (`None`); the text
    /// it had, if there was one.
    pub async fn delete_resource_policy(
        &self,
        repository: Option<&RepositoryName>,
    ) -> Result<Option<String>, AuthError> {
        let scope = repository
            .map(|r| r.as_str())
            .unwrap_or(store::REGISTRY_SCOPE);
        let deleted = self.store.delete_resource_policy(scope).await?;
        if deleted.is_some() {
            self.reload().await?;
        }
        Ok(deleted)
    }

    /// An ECR-style login password for `principal`, bound to the access key it was asked
    /// with: usable as the Basic password of user `AWS` until it expires (12 hours by default).
    pub fn issue_login_password(&self, caller: &Caller) -> Result<(String, i64), AuthError> {
        if caller.principal.is_none() {
            return Err(AuthError::Invalid(
                "anonymous callers get no login password".into(),
            ));
        }
        let claims = self.claims_for(
            caller,
            token::LOGIN_AUDIENCE,
            self.settings.login_ttl,
            Vec::new(),
        )?;
        let token = self.sign(&claims)?;
        Ok((token, claims.exp))
    }

    /// A login password for an access key, as `GetAuthorizationToken` would give its owner.
    pub fn login_password_for_key(&self, access_key_id: &str) -> Result<(String, i64), AuthError> {
        let snap = self.snapshot();
        let k = snap
            .keys
            .get(access_key_id)
            .ok_or_else(|| AuthError::NotFound(format!("no access key {access_key_id}")))?;
        if k.disabled {
            return Err(AuthError::Invalid(format!(
                "access key {access_key_id} is disabled"
            )));
        }
        let p = snap
            .principals
            .get(&k.principal)
            .ok_or_else(|| AuthError::NotFound(format!("no principal {}", k.principal)))?;
        let caller = Caller {
            principal: Some(p.clone()),
            access_key: Some(access_key_id.to_owned()),
            token_access: None,
            source: None,
            secure: false,
            expires_at: None,
        };
        self.issue_login_password(&caller)
    }

    fn sign(&self, claims: &Claims) -> Result<String, AuthError> {
        let snap = self.snapshot();
        let key = snap
            .signing
            .first()
            .ok_or_else(|| AuthError::Config("no token signing key yet".into()))?;
        key.sign(claims)
            .map_err(|e| AuthError::Config(format!("cannot sign a token: {e}")))
    }

    // ---- authentication ----------------------------------------------------------------

    /// Resolve a request's credentials. No credentials is not a failure: it is the anonymous
    /// caller, whom only policies granting `"*"` let in.
    pub fn authenticate(
        &self,
        creds: &Credentials<'_>,
        source: Option<IpAddr>,
    ) -> Result<Caller, AuthFailure> {
        match creds {
            Credentials::None => Ok(Caller::anonymous(source)),
            Credentials::Malformed => Err(self.refuse(
                source,
                Claim::issued("Authorization header"),
                AuthFailure::Invalid(
                    "the Authorization header is not valid Basic or Bearer credentials",
                ),
                None,
            )),
            Credentials::Basic { user, password } => self.basic(user, password, source),
            Credentials::Bearer(token) => self.bearer(token, source),
        }
    }

    /// Refuse a source that is over a limit for this claim, before its credentials are
    /// checked. Never the per-name limit: the right secret must always get in from a source
    /// that is not locked out. While nothing has failed anywhere, this takes no lock and
    /// allocates nothing.
    fn check_limits(&self, source: Option<IpAddr>, claim: Claim<'_>) -> Result<(), AuthFailure> {
        if self.limiter.is_idle() {
            return Ok(());
        }
        let Some(src) = source.map(Source::of) else {
            return Ok(());
        };
        let keys = [Key::Source(src), claim.source_key(src)];
        match self.limiter.blocked(&keys, Instant::now()) {
            Some((limit, left)) => {
                Err(self.refuse(source, claim, AuthFailure::RateLimited(left), Some(limit)))
            }
            None => Ok(()),
        }
    }

    /// Count a wrong credential against its source, its source and name, and its name; if
    /// the name was already over its limit (many sources guessing it), that limit and when
    /// it ends.
    fn count_failure(&self, source: Option<IpAddr>, claim: Claim<'_>) -> Option<(Limit, Duration)> {
        let now = Instant::now();
        let name = claim.user.map(|u| Key::Name(ratelimit::name_key(u)));
        let guessed = name
            .as_ref()
            .and_then(|k| self.limiter.blocked(std::slice::from_ref(k), now));
        let mut keys = Vec::with_capacity(3);
        if let Some(src) = source.map(Source::of) {
            keys.push(Key::Source(src));
            keys.push(claim.source_key(src));
        }
        keys.extend(name);
        self.limiter.fail(&keys, now);
        guessed
    }

    /// A wrong credential: counted, logged, and answered `failure`, or `429` when its name
    /// is over the per-name limit.
    fn fail(&self, source: Option<IpAddr>, claim: Claim<'_>, failure: AuthFailure) -> AuthFailure {
        match self.count_failure(source, claim) {
            Some((limit, left)) => {
                self.log_refusal(source, claim, &failure, Some(limit), Some(left));
                AuthFailure::RateLimited(left)
            }
            None => self.refuse(source, claim, failure, None),
        }
    }

    /// Log a refusal that counts as no failure (a lockout, an expired token, a disabled
    /// principal's token), and return it.
    fn refuse(
        &self,
        source: Option<IpAddr>,
        claim: Claim<'_>,
        failure: AuthFailure,
        limit: Option<Limit>,
    ) -> AuthFailure {
        let left = match failure {
            AuthFailure::RateLimited(d) => Some(d),
            _ => None,
        };
        self.log_refusal(source, claim, &failure, limit, left);
        failure
    }

    /// Every refused authentication is logged here, at `warn`: the name claimed (never a
    /// secret or a token), the source, why, and for a lockout the limit and its end.
    fn log_refusal(
        &self,
        source: Option<IpAddr>,
        claim: Claim<'_>,
        reason: &AuthFailure,
        limit: Option<Limit>,
        left: Option<Duration>,
    ) {
        let user = claim.user.map(ratelimit::name_key);
        let source = source.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        tracing::warn!(
            user = user.as_deref(),
            credential = claim.credential,
            source = %source,
            reason = reason.to_string().as_str(),
            limit = limit.map(Limit::as_str),
            retry_after_secs = left.map(|d| d.as_secs_f64().ceil() as u64),
            "authentication refused"
        );
    }

    /// Username and password: an access key id and its secret, a principal's name and one of
    /// its keys' secrets, or `AWS` and a login password.
    pub fn basic(
        &self,
        user: &str,
        password: &str,
        source: Option<IpAddr>,
    ) -> Result<Caller, AuthFailure> {
        // Login passwords cannot be guessed, and a limit on the shared user name `AWS` would
        // let anyone lock every ECR-style login out: those count against the source only.
        let login_password = user == "AWS";
        let claim = if login_password {
            Claim::issued("login password")
        } else {
            Claim::named(user, "secret")
        };
        self.check_limits(source, claim)?;
        let result = if login_password {
            self.login_password(password, source)
        } else {
            self.access_key_login(user, password, source)
        };
        result.map_err(|f| match f {
            AuthFailure::Invalid(_) | AuthFailure::Expired => self.fail(source, claim, f),
            other => self.refuse(source, claim, other, None),
        })
    }

    fn access_key_login(
        &self,
        user: &str,
        password: &str,
        source: Option<IpAddr>,
    ) -> Result<Caller, AuthFailure> {
        const BAD: AuthFailure = AuthFailure::Invalid("invalid username or password");
        let snap = self.snapshot();
        let candidates: Vec<&String> = if snap.keys.contains_key(user) {
            vec![snap.keys.get_key_value(user).map(|(k, _)| k).ok_or(BAD)?]
        } else if let Some(p) = snap.principals.get(user) {
            p.keys.iter().collect()
        } else {
            // Spend the same time as a real comparison, so names cannot be probed by timing.
            let _ = password.as_bytes().ct_eq(user.as_bytes());
            return Err(BAD);
        };
        for id in candidates {
            let Some(k) = snap.keys.get(id) else { continue };
            if !bool::from(k.secret.as_bytes().ct_eq(password.as_bytes())) {
                continue;
            }
            if k.disabled {
                return Err(AuthFailure::Invalid("the access key is disabled"));
            }
            let p = snap.principals.get(&k.principal).ok_or(BAD)?;
            if p.disabled {
                return Err(AuthFailure::Invalid("the principal is disabled"));
            }
            return Ok(Caller {
                principal: Some(p.clone()),
                access_key: Some(id.clone()),
                token_access: None,
                source,
                secure: false,
                expires_at: None,
            });
        }
        Err(BAD)
    }

    /// For SigV4: the caller an access key stands for and its secret, if the key is active.
    /// Counts against the failure limits like any other credential.
    pub fn signing_key(
        &self,
        access_key_id: &str,
        source: Option<IpAddr>,
    ) -> Result<(Caller, String), AuthFailure> {
        let claim = Claim::named(access_key_id, "SigV4 signature");
        self.check_limits(source, claim)?;
        let snap = self.snapshot();
        let found = snap.keys.get(access_key_id).and_then(|k| {
            let p = snap.principals.get(&k.principal)?;
            (!k.disabled && !p.disabled).then(|| (p.clone(), k.secret.clone()))
        });
        match found {
            Some((p, secret)) => Ok((
                Caller {
                    principal: Some(p),
                    access_key: Some(access_key_id.to_owned()),
                    token_access: None,
                    source,
                    secure: false,
                    expires_at: None,
                },
                secret,
            )),
            None => Err(self.fail(
                source,
                claim,
                AuthFailure::Invalid("no active access key has this id"),
            )),
        }
    }

    /// A SigV4 signature did not verify: count and log it (the ECR API answers it).
    pub fn signature_failed(&self, access_key_id: &str, source: Option<IpAddr>) {
        let claim = Claim::named(access_key_id, "SigV4 signature");
        let guessed = self.count_failure(source, claim);
        self.log_refusal(
            source,
            claim,
            &AuthFailure::Invalid("the signature does not match"),
            guessed.map(|g| g.0),
            guessed.map(|g| g.1),
        );
    }

    fn login_password(
        &self,
        password: &str,
        source: Option<IpAddr>,
    ) -> Result<Caller, AuthFailure> {
        let snap = self.snapshot();
        let claims = token::verify(
            password,
            &snap.signing,
            self.settings.issuer(),
            token::LOGIN_AUDIENCE,
        )
        .map_err(|e| match e {
            TokenError::Expired => AuthFailure::Invalid(
                "your authorization token has expired; reauthenticate and try again",
            ),
            TokenError::Invalid => AuthFailure::Invalid("invalid username or password"),
        })?;
        let principal = self.live_principal(&snap, &claims)?;
        Ok(Caller {
            principal,
            access_key: claims.akid,
            token_access: None,
            source,
            secure: false,
            expires_at: Some(claims.exp),
        })
    }

    /// The principal a token names, if it (and the key it came from) is still in good standing.
    fn live_principal(
        &self,
        snap: &Snapshot,
        claims: &Claims,
    ) -> Result<Option<Arc<PrincipalEntry>>, AuthFailure> {
        if claims.sub.is_empty() {
            return Ok(None);
        }
        let p = snap
            .principals
            .get(&claims.sub)
            .filter(|p| Some(&p.id) == claims.pid.as_ref())
            .ok_or(AuthFailure::Invalid(
                "the token's principal no longer exists",
            ))?;
        if p.disabled {
            return Err(AuthFailure::Invalid("the principal is disabled"));
        }
        if let Some(akid) = &claims.akid {
            match snap.keys.get(akid) {
                Some(k) if !k.disabled && k.principal == p.name => {}
                _ => {
                    return Err(AuthFailure::Invalid(
                        "the access key behind this token is disabled or deleted",
                    ))
                }
            }
        }
        Ok(Some(p.clone()))
    }

    /// Verify a token signed by this registry for `audience` (rate limits first; a forged or
    /// tampered token counts as a failed attempt from `source`).
    fn verify_token(
        &self,
        token: &str,
        audience: &str,
        source: Option<IpAddr>,
        claim: Claim<'_>,
        invalid: &'static str,
    ) -> Result<token::Claims, AuthFailure> {
        self.check_limits(source, claim)?;
        match token::verify(
            token,
            &self.snapshot().signing,
            self.settings.issuer(),
            audience,
        ) {
            Ok(c) => Ok(c),
            Err(TokenError::Expired) => Err(self.refuse(source, claim, AuthFailure::Expired, None)),
            Err(TokenError::Invalid) => {
                Err(self.fail(source, claim, AuthFailure::Invalid(invalid)))
            }
        }
    }

    fn bearer(&self, token: &str, source: Option<IpAddr>) -> Result<Caller, AuthFailure> {
        let claim = Claim::issued("bearer token");
        let now = now_secs();
        let cached = self
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned();
        let verified = match cached {
            Some(v) if v.claims.exp > now => v,
            Some(_) => return Err(self.refuse(source, claim, AuthFailure::Expired, None)),
            None => {
                let claims = self.verify_token(
                    token,
                    &self.settings.service,
                    source,
                    claim,
                    "the bearer token is not valid",
                )?;
                let v = Arc::new(VerifiedToken {
                    access: Arc::new(claims.access.clone()),
                    claims,
                });
                let mut cache = self.verified.lock().unwrap_or_else(|p| p.into_inner());
                if cache.len() >= TOKEN_CACHE_MAX {
                    cache.retain(|_, v| v.claims.exp > now);
                    if cache.len() >= TOKEN_CACHE_MAX {
                        cache.clear();
                    }
                }
                cache.insert(token.to_owned(), v.clone());
                v
            }
        };
        let snap = self.snapshot();
        let principal = self
            .live_principal(&snap, &verified.claims)
            .map_err(|f| self.refuse(source, claim, f, None))?;
        Ok(Caller {
            principal,
            access_key: verified.claims.akid.clone(),
            token_access: Some(verified.access.clone()),
            source,
            secure: false,
            expires_at: None,
        })
    }

    // ---- authorization -------------------------------------------------------------------

    /// THE authorization decision. Every request on every surface comes through here.
    pub fn authorize(&self, caller: &Caller, action: Action, resource: Resource<'_>) -> Decision {
        if !self.settings.enabled {
            return Decision::Allow;
        }
        let snap = self.snapshot();
        let deny = |reason| {
            Decision::Deny(
                if caller.is_anonymous() && reason != Denial::InsufficientScope {
                    Denial::NoCredentials
                } else {
                    reason
                },
            )
        };
        if let Some(p) = &caller.principal {
            // The snapshot may have changed since authentication.
            if snap
                .principals
                .get(&p.name)
                .is_none_or(|cur| cur.disabled || cur.id != p.id)
            {
                return Decision::Deny(Denial::Implicit);
            }
        }
        if let Some(access) = &caller.token_access {
            let covered = match resource {
                Resource::Repository(name) => action
                    .scope_actions()
                    .iter()
                    .any(|a| scope::grants(access, name.as_str(), *a)),
                Resource::Registry => match action {
                    Action::DescribeRepositories => scope::grants_catalog(access),
                    _ => false,
                },
            };
            if !covered {
                return Decision::Deny(Denial::InsufficientScope);
            }
        }
        let arn;
        let (resource_arn, repo_policy) = match resource {
            Resource::Repository(name) => {
                arn = self.settings.repository_arn(name.as_str());
                (arn.as_str(), snap.repository_policies.get(name.as_str()))
            }
            Resource::Registry => ("*", None),
        };
        let current = caller
            .principal
            .as_ref()
            .and_then(|p| snap.principals.get(&p.name));
        let identity: Vec<&Policy> = current
            .map(|p| p.policies.iter().map(|x| &**x).collect())
            .unwrap_or_default();
        let resource_policies: Vec<&Policy> = repo_policy
            .into_iter()
            .chain(snap.registry_policy.as_ref())
            .map(|x| &**x)
            .collect();
        // Building the context allocates; most policies never read it.
        let context = if identity
            .iter()
            .chain(&resource_policies)
            .any(|p| p.needs_context())
        {
            self.context(caller)
        } else {
            iam::Context::new()
        };
        let req = iam::Request {
            principal: current.map(|p| &p.info),
            action: action.as_str(),
            resource: resource_arn,
            context: &context,
        };
        match iam::evaluate(&identity, &resource_policies, &req) {
            iam::Decision::Allow => Decision::Allow,
            iam::Decision::ExplicitDeny => deny(Denial::Explicit),
            iam::Decision::ImplicitDeny => deny(Denial::Implicit),
        }
    }

    /// The condition keys a request supplies.
    fn context(&self, caller: &Caller) -> iam::Context {
        let mut c = iam::Context::new();
        if let Some(ip) = caller.source {
            c.set("aws:SourceIp", ip.to_string());
        }
        c.set(
            "aws:SecureTransport",
            if caller.secure { "true" } else { "false" },
        );
        let now = now_secs();
        c.set("aws:EpochTime", now.to_string());
        if let Some(t) = time_iso8601(now) {
            c.set("aws:CurrentTime", t);
        }
        if let Some(p) = &caller.principal {
            c.set("aws:PrincipalArn", p.info.arn.clone());
            c.set("aws:PrincipalAccount", p.info.account.clone());
            c.set("aws:username", p.name.clone());
            c.set("aws:userid", p.id.clone());
            c.set(
                "aws:PrincipalType",
                match p.kind {
                    PrincipalKind::User => "User",
                    PrincipalKind::Robot => "AssumedRole",
                },
            );
        } else {
            c.set("aws:PrincipalType", "Anonymous");
        }
        c
    }

    // ---- the token service ---------------------------------------------------------------

    /// A registry token for `caller` holding the subset of `scopes` it is allowed.
    pub fn issue_token(&self, caller: &Caller, scopes: &[Scope]) -> Result<IssuedToken, AuthError> {
        // Grants are decided without any token bound: the caller here authenticated directly.
        let direct = Caller {
            token_access: None,
            ..caller.clone()
        };
        let mut access = Vec::new();
        for s in scopes {
            match s {
                Scope::Repository { name, actions } => {
                    let granted: Vec<ScopeAction> = actions
                        .iter()
                        .copied()
                        .filter(|a| self.grantable(&direct, name, *a))
                        .collect();
                    if !granted.is_empty() {
                        access.push(Access::repository(name, &granted));
                    }
                }
                // Listing is filtered per repository; any caller may ask.
                Scope::Catalog => access.push(Access::catalog()),
            }
        }
        let service = self.settings.service.clone();
        let claims = self.claims_for(caller, &service, self.settings.token_ttl, access)?;
        Ok(IssuedToken {
            token: self.sign(&claims)?,
            access: claims.access,
            expires_in: self.settings.token_ttl,
            issued_at: claims.iat,
        })
    }

    /// The claims of a token this registry signs for `caller` (anonymous: no subject), for
    /// `audience`, valid `ttl` seconds from now.
    fn claims_for(
        &self,
        caller: &Caller,
        audience: &str,
        ttl: i64,
        access: Vec<Access>,
    ) -> Result<Claims, AuthError> {
        let now = now_secs();
        Ok(Claims {
            iss: self.settings.issuer().into(),
            sub: caller
                .principal
                .as_ref()
                .map(|p| p.name.clone())
                .unwrap_or_default(),
            aud: audience.into(),
            exp: now + ttl,
            nbf: now,
            iat: now,
            jti: crypto::random_token(12)?,
            access,
            pid: caller.principal.as_ref().map(|p| p.id.clone()),
            akid: caller.access_key.clone(),
            blob: None,
        })
    }

    /// A token for a `GetDownloadUrlForLayer` URL: pull of one blob of one repository, for
    /// `ttl` seconds, on behalf of `caller` (whose permissions are evaluated again when it is
    /// used). Returns the token and its expiry (Unix seconds).
    pub fn issue_download_token(
        &self,
        caller: &Caller,
        repository: &RepositoryName,
        digest: &str,
        ttl: i64,
    ) -> Result<(String, i64), AuthError> {
        let mut claims = self.claims_for(
            caller,
            token::DOWNLOAD_AUDIENCE,
            ttl,
            vec![Access::repository(repository, &[ScopeAction::Pull])],
        )?;
        claims.blob = Some(digest.to_owned());
        Ok((self.sign(&claims)?, claims.exp))
    }

    /// The caller behind a download token, and the repository and blob it is good for.
    pub fn download_caller(
        &self,
        token: &str,
        source: Option<IpAddr>,
    ) -> Result<(Caller, RepositoryName, String), AuthFailure> {
        let claim = Claim::issued("download URL");
        const BAD: AuthFailure = AuthFailure::Invalid("the download URL is not valid");
        let claims = self.verify_token(
            token,
            token::DOWNLOAD_AUDIENCE,
            source,
            claim,
            "the download URL is not valid",
        )?;
        let snap = self.snapshot();
        let (Some(blob), [access]) = (claims.blob.clone(), claims.access.as_slice()) else {
            return Err(self.refuse(source, claim, BAD, None));
        };
        let repository: RepositoryName = access
            .name
            .parse()
            .map_err(|_| self.refuse(source, claim, BAD, None))?;
        let principal = self
            .live_principal(&snap, &claims)
            .map_err(|f| self.refuse(source, claim, f, None))?;
        let caller = Caller {
            principal,
            access_key: claims.akid.clone(),
            token_access: Some(Arc::new(claims.access)),
            source,
            secure: false,
            expires_at: None,
        };
        Ok((caller, repository, blob))
    }

    /// May a token carry `action` on `name`? If the caller may perform any of the operations
    /// the scope action stands for.
    fn grantable(&self, caller: &Caller, name: &RepositoryName, action: ScopeAction) -> bool {
        let ops: &[Action] = match action {
            ScopeAction::Pull => &[Action::BatchGetImage, Action::GetDownloadUrlForLayer],
            ScopeAction::Push => &[
                Action::InitiateLayerUpload,
                Action::UploadLayerPart,
                Action::CompleteLayerUpload,
                Action::PutImage,
            ],
            ScopeAction::Delete => &[Action::BatchDeleteImage],
        };
        ops.iter().any(|a| {
            self.authorize(caller, *a, Resource::Repository(name))
                .allowed()
        })
    }

    /// A refresh token (OAuth2 `offline` access) for an authenticated caller.
    pub async fn create_refresh_token(&self, caller: &Caller) -> Result<String, AuthError> {
        let p = caller
            .principal
            .as_ref()
            .ok_or_else(|| AuthError::Invalid("anonymous callers get no refresh token".into()))?;
        let token = format!("brt_{}", crypto::random_token(32)?);
        let now = now_secs();
        self.store
            .create_refresh_token(
                &sha256_hex(&token),
                &p.name,
                caller.access_key.as_deref(),
                now * 1000,
                // Never longer than the credential it was obtained with.
                caller
                    .expires_at
                    .map_or(now + self.settings.refresh_ttl, |e| {
                        e.min(now + self.settings.refresh_ttl)
                    }),
            )
            .await?;
        Ok(token)
    }

    /// The caller a refresh token stands for, if it is still good.
    pub async fn redeem_refresh_token(
        &self,
        token: &str,
        source: Option<IpAddr>,
    ) -> Result<Caller, AuthFailure> {
        let claim = Claim::issued("refresh token");
        self.check_limits(source, claim)?;
        const BAD: AuthFailure = AuthFailure::Invalid("the refresh token is not valid");
        let row = if token.len() > 512 {
            None
        } else {
            self.store
                .find_refresh_token(&sha256_hex(token))
                .await
                .map_err(|_| self.refuse(source, claim, AuthFailure::Unavailable, None))?
        };
        let Some(row) = row.filter(|r| !r.revoked && r.expires_at > now_secs()) else {
            return Err(self.fail(source, claim, BAD));
        };
        let snap = self.snapshot();
        let refused = |f| self.refuse(source, claim, f, None);
        let p = snap
            .principals
            .get(&row.principal)
            .ok_or_else(|| refused(BAD))?;
        if p.disabled {
            return Err(refused(AuthFailure::Invalid("the principal is disabled")));
        }
        if let Some(akid) = &row.access_key {
            match snap.keys.get(akid) {
                Some(k) if !k.disabled => {}
                _ => {
                    return Err(refused(AuthFailure::Invalid(
                        "the access key behind this token is disabled or deleted",
                    )))
                }
            }
        }
        Ok(Caller {
            principal: Some(p.clone()),
            access_key: row.access_key,
            token_access: None,
            source,
            secure: false,
            expires_at: None,
        })
    }
}

/// `2026-11-24T10:00:00Z` for epoch seconds (aws:CurrentTime).
pub fn time_iso8601(t: i64) -> Option<String> {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    Some(format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_identity_store_passes_the_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::metadata::sqlite::SqliteStore::open_temp(dir.path()).await;
        suite::run(&store).await;
    }

    /// A server's and an administration command's view of one SQLite database.
    async fn two_auths(dir: &std::path::Path, key: &str) -> (Config, Auth, Auth) {
        let store: Arc<dyn IdentityStore> =
            Arc::new(crate::metadata::sqlite::SqliteStore::open_temp(dir).await);
        let mut config = Config {
            data_dir: dir.to_owned(),
            ..Config::default()
        };
        config.auth.max_failures = 2;
        config.auth.server_key = Some(crate::config::Secret(key.to_owned()));
        let server = Auth::open(&config, store.clone()).await.unwrap();
        let cli = Auth::open(&config, store).await.unwrap();
        (config, server, cli)
    }

    #[tokio::test]
    async fn unblocks_reach_a_running_server_through_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let (_, server, cli) = two_auths(dir.path(), &ServerKey::generate_encoded().unwrap()).await;
        cli.create_principal("alice", PrincipalKind::User)
            .await
            .unwrap();
        let key = cli.create_access_key("alice").await.unwrap();
        assert!(server.refresh().await.unwrap());
        let (id, secret) = (key.access_key_id.as_str(), key.secret_access_key.as_str());
        let a: IpAddr = "10.0.0.2".parse().unwrap();
        let b: IpAddr = "10.0.0.3".parse().unwrap();
        let limited =
            |r: Result<Caller, AuthFailure>| matches!(r, Err(AuthFailure::RateLimited(_)));
        for ip in [a, b] {
            for _ in 0..2 {
                assert!(matches!(
                    server.basic(id, "wrong", Some(ip)),
                    Err(AuthFailure::Invalid(_))
                ));
            }
            assert!(limited(server.basic(id, secret, Some(ip))));
        }
        // Another address is not locked out.
        assert!(server
            .basic(id, secret, Some("10.0.0.9".parse().unwrap()))
            .is_ok());

        cli.unblock(Unblock::Address(a)).await.unwrap();
        assert!(server.refresh().await.unwrap());
        assert!(server.basic(id, secret, Some(a)).is_ok());
        assert!(
            limited(server.basic(id, secret, Some(b))),
            "only that address"
        );

        // A principal's name covers its access keys.
        cli.unblock(Unblock::User("alice".into())).await.unwrap();
        assert!(server.refresh().await.unwrap());
        assert!(server.basic(id, secret, Some(b)).is_ok());

        // Each unblock applies once: failures after it count, also across later reloads.
        for _ in 0..2 {
            let _ = server.basic(id, "wrong", Some(a));
        }
        server.reload().await.unwrap();
        assert!(limited(server.basic(id, secret, Some(a))));
        assert!(matches!(
            cli.unblock(Unblock::User(String::new())).await,
            Err(AuthError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn a_wrong_server_key_does_not_open_the_registry() {
        let dir = tempfile::tempdir().unwrap();
        let right = ServerKey::generate_encoded().unwrap();
        let (mut config, server, _) = two_auths(dir.path(), &right).await;
        server.rotate_keys().await.unwrap();
        assert!(server.bootstrap().await.unwrap().is_some());
        let store = server.store().clone();
        let before = store.load().await.unwrap();

        config.auth.server_key = Some(crate::config::Secret(
            ServerKey::generate_encoded().unwrap(),
        ));
        let err = Auth::open(&config, store.clone()).await.err().unwrap();
        assert!(matches!(err, AuthError::ServerKey(_)), "{err}");
        let text = err.to_string();
        assert!(text.contains("BERTH_AUTH__SERVER_KEY") && text.contains("Nothing was changed"));
        assert_eq!(store.load().await.unwrap().generation, before.generation);

        // A signing key sealed under another key (as older versions wrote) keeps nobody out.
        let other = ServerKey::from_base64(&ServerKey::generate_encoded().unwrap()).unwrap();
        store
            .add_signing_key(&store::SigningKeyRow {
                kid: "old-bug".into(),
                secret: other.seal("signing-key", b"0123456789abcdef").unwrap(),
                created_at: now_secs() * 1000 + 1,
            })
            .await
            .unwrap();
        config.auth.server_key = Some(crate::config::Secret(right));
        let auth = Auth::open(&config, store.clone()).await.unwrap();
        let (password, _) = auth.login_password_for_key(&before.keys[0].id).unwrap();
        assert!(auth.basic("AWS", &password, None).is_ok());

        // Nothing stored yet: any key will do.
        let fresh = tempfile::tempdir().unwrap();
        two_auths(fresh.path(), &ServerKey::generate_encoded().unwrap()).await;
    }

    #[test]
    fn iso8601() {
        assert_eq!(time_iso8601(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(time_iso8601(1_795_521_600).unwrap(), "2026-11-24T12:00:00Z");
        assert_eq!(time_iso8601(951_782_400).unwrap(), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn credentials_parse() {
        use axum::http::HeaderValue;
        let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        // What a header value parses to, summarised (the credentials borrow the header).
        let parse = |v: &str| {
            let h = HeaderValue::from_str(v).unwrap();
            match Credentials::from_header(Some(&h)) {
                Credentials::None => "none".to_owned(),
                Credentials::Basic { user, password } => format!("basic {user} {password}"),
                Credentials::Bearer(t) => format!("bearer {t}"),
                Credentials::Malformed => "malformed".to_owned(),
            }
        };
        assert!(matches!(Credentials::from_header(None), Credentials::None));
        assert_eq!(
            parse(&format!("Basic {}", b("AWS:tok:en"))),
            "basic AWS tok:en"
        );
        assert_eq!(parse("bearer abc"), "bearer abc");
        for bad in [
            "Basic",
            "Basic !!!",
            &format!("Basic {}", b("nocolon")),
            "Bearer",
            "Digest x",
            "",
        ] {
            assert_eq!(parse(bad), "malformed", "{bad:?}");
        }
        let bin = HeaderValue::from_bytes(b"Basic \xff\xfe").unwrap();
        assert!(matches!(
            Credentials::from_header(Some(&bin)),
            Credentials::Malformed
        ));
    }

    #[test]
    fn names() {
        for ok in ["admin", "ci-bot", "a.b@c", "x+y=z,w_"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "a b", "a/b", "a:b", &"x".repeat(65), "é"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
