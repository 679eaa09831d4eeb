//! The `[auth]` settings as the identity layer uses them, checked once at start, and the ARNs
//! principals and repositories are named by.

use super::store::PrincipalKind;
use super::AuthError;
use crate::config::Config;
use std::time::Duration;

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
    pub(super) fn issuer(&self) -> &str {
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
