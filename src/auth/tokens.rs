//! What the registry issues: registry tokens holding the granted subset of the requested
//! scopes (the Docker token flow), ECR-style login passwords, `GetDownloadUrlForLayer` tokens,
//! all signed as JWTs ([`super::jwt`]) with the newest signing key, and refresh tokens
//! (stored hashed). Verifying them is authentication (`authenticate.rs`); rotating the
//! signing keys is upkeep (`upkeep.rs`).

use super::action::{Action, Resource};
use super::caller::Caller;
use super::crypto;
use super::jwt::{self, Claims};
use super::scope::{Access, Scope, ScopeAction};
use super::time::now_secs;
use super::{Auth, AuthError};
use crate::oci::RepositoryName;
use sha2::Digest as _;

pub(super) fn sha256_hex(s: &str) -> String {
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

impl Auth {
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
            jwt::LOGIN_AUDIENCE,
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
            jwt::DOWNLOAD_AUDIENCE,
            ttl,
            vec![Access::repository(repository, &[ScopeAction::Pull])],
        )?;
        claims.blob = Some(digest.to_owned());
        Ok((self.sign(&claims)?, claims.exp))
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
}
