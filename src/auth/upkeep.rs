//! Upkeep, run by the server's jobs (`crate::jobs::identities`): rotate the token signing
//! keys, and forget what has expired (refresh tokens, verified tokens, failure counts).

use super::store;
use super::time::now_secs;
use super::{crypto, Auth, AuthError};
use std::time::{Duration, Instant};

impl Auth {
    /// How often `rotate_keys` should run: at least every `key_rotation_secs` (a short
    /// rotation is honoured while the server runs), at most every minute.
    pub fn rotation_check_interval(&self) -> Duration {
        Duration::from_secs(
            u64::try_from(self.settings.rotation)
                .unwrap_or(60)
                .clamp(1, 60),
        )
    }

    /// Forget, in this process's memory, verified tokens that have expired and failure counts
    /// that no longer matter.
    pub fn prune_memory(&self) {
        self.prune_token_cache();
        self.limiter.prune(Instant::now());
    }

    /// Delete the refresh tokens that have expired; returns how many.
    pub async fn delete_expired_refresh_tokens(&self) -> Result<u64, AuthError> {
        Ok(self.store.delete_expired_refresh_tokens(now_secs()).await?)
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
}
