//! Identity upkeep: each replica reloads the identity tables when they change (every second)
//! and checks its token signing key; expired refresh tokens are deleted by one replica.

use super::{Job, JobError, Schedule};
use crate::auth::{Auth, AuthError};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

impl From<AuthError> for JobError {
    fn from(e: AuthError) -> Self {
        JobError::Auth(Box::new(e))
    }
}

/// Reload the identity tables when they changed (principals, keys, policies, unblocks).
pub struct IdentityReload {
    pub auth: Arc<Auth>,
}

#[async_trait]
impl Job for IdentityReload {
    fn name(&self) -> &'static str {
        "identity-reload"
    }

    fn schedule(&self) -> Schedule {
        Schedule::every_replica(Duration::from_secs(1))
    }

    async fn run_once(&self) -> Result<u64, JobError> {
        // A replica that cannot reload serves the identities it loaded last.
        Ok(u64::from(self.auth.refresh().await?))
    }
}

/// Keep a signing key young enough to sign with (at worst two replicas both make one), and
/// forget in memory what has expired.
pub struct KeyRotation {
    pub auth: Arc<Auth>,
}

#[async_trait]
impl Job for KeyRotation {
    fn name(&self) -> &'static str {
        "key-rotation"
    }

    fn schedule(&self) -> Schedule {
        Schedule::every_replica(self.auth.rotation_check_interval())
    }

    async fn run_once(&self) -> Result<u64, JobError> {
        self.auth.prune_memory();
        self.auth.rotate_keys().await?;
        Ok(0)
    }
}

/// Delete expired refresh tokens.
pub struct RefreshTokenExpiry {
    pub auth: Arc<Auth>,
}

#[async_trait]
impl Job for RefreshTokenExpiry {
    fn name(&self) -> &'static str {
        "refresh-token-expiry"
    }

    fn schedule(&self) -> Schedule {
        Schedule::singleton(Duration::from_secs(60))
    }

    async fn run_once(&self) -> Result<u64, JobError> {
        Ok(self.auth.delete_expired_refresh_tokens().await?)
    }
}
