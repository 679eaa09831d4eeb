//! Administration: principals, access keys, identity and resource policies, the first start's
//! administrator, and unblocks of failed authentications, as `berth` commands and the ECR API
//! change them. Every change goes through the store and reaches every server's snapshot
//! within a second (this server's at once where a caller waits for it).

use super::crypto;
use super::store::{
    self, AccessKeyRow, IdentityPolicyRow, PrincipalKind, PrincipalRow, UnblockKind,
};
use super::time::now_secs;
use super::{Auth, AuthError};
use crate::oci::RepositoryName;
use crate::policy::iam::{Policy, PolicyKind};
use std::fmt;
use std::net::IpAddr;

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

/// The administrator policy attached to the first principal.
const ADMIN_POLICY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"}]}"#;

const ADMIN_POLICY_NAME: &str = "AdministratorAccess";

/// Policy names, principal names: what IAM allows for user names.
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

/// Where the store keeps a repository's policy (`Some(name)`) or the registry policy (`None`).
fn policy_scope(repository: Option<&RepositoryName>) -> &str {
    repository
        .map(|r| r.as_str())
        .unwrap_or(store::REGISTRY_SCOPE)
}

/// Credentials created for a principal: the secret is shown once.
pub struct NewKey {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// Unblock requests are kept at least this long (milliseconds): past any lockout they could
/// lift, and past any reload a server can have missed.
const UNBLOCK_KEEP_MS: i64 = 24 * 3600 * 1000;

impl Auth {
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
        self.store
            .put_resource_policy(policy_scope(repository), document, now_secs() * 1000)
            .await?;
        self.reload().await?;
        Ok(())
    }

    /// The text of a repository's policy (`Some(name)`) or of the registry policy (`None`), as
    /// stored, if there is one.
    pub async fn resource_policy(
        &self,
        repository: Option<&RepositoryName>,
    ) -> Result<Option<String>, AuthError> {
        Ok(self
            .store
            .get_resource_policy(policy_scope(repository))
            .await?)
    }

    /// Delete a repository's policy (`Some(name)`) or the registry policy (`None`); the text
    /// it had, if there was one.
    pub async fn delete_resource_policy(
        &self,
        repository: Option<&RepositoryName>,
    ) -> Result<Option<String>, AuthError> {
        let deleted = self
            .store
            .delete_resource_policy(policy_scope(repository))
            .await?;
        if deleted.is_some() {
            self.reload().await?;
        }
        Ok(deleted)
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
