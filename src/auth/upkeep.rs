//! Upkeep, for the server's life: reload the identity tables when they change, rotate the
//! token signing keys, and forget what has expired (refresh tokens, verified tokens, failure
//! counts).

use super::store;
use super::time::now_secs;
use super::{crypto, Auth, AuthError};
use std::sync::Arc;
use std::time::{Duration, Instant};

impl Auth {
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
