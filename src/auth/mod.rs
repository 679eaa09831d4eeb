//! Who is asking and whether they may.
//!
//! [`Auth`] is the facade every surface calls. Its methods live beside the rule they
//! implement, one file each:
//!
//! - `caller.rs`: who a request is ([`Caller`]) and the [`Credentials`] it presents.
//! - `authenticate.rs`: credentials to a caller (access key secrets, login passwords, bearer
//!   tokens, SigV4 signatures, refresh tokens, download URLs), under the failure limits of
//!   [`ratelimit`], with the one log line of every refusal. [`sigv4`] verifies signatures.
//! - `authorize.rs`: [`Auth::authorize`], the one decision for every request on every surface:
//!   `authorize(caller, action, resource)`, with actions (`action.rs`) named as Amazon ECR
//!   names them and identity, repository and registry policies ([`crate::policy::iam`]) combined as IAM
//!   combines them.
//! - `tokens.rs`: what the registry issues (registry tokens for the Docker token flow, whose
//!   scopes are [`scope`]'s; login passwords; download URLs; refresh tokens), signed as
//!   [`jwt`]s.
//! - `admin.rs`: principals, access keys, policies and unblocks, as `berth` commands and the
//!   ECR API change them.
//! - `snapshot.rs`: the identity tables in memory ([`Auth::refresh`] reloads them when they
//!   changed); `upkeep.rs`: signing-key rotation and expiry, which the server's jobs run
//!   (`crate::jobs::identities`).
//! - [`store`] keeps identities in the metadata database; [`crypto`] seals secrets under the
//!   server key; `settings.rs` checks the `[auth]` settings; `error.rs` holds the errors.
//!
//! Nothing here touches the database per request: every server holds the identity tables in
//! memory as one immutable snapshot, swapped whole when `auth_generation` moves (checked
//! every second), so a disabled key or a changed policy applies everywhere within a second.

mod action;
mod admin;
mod authenticate;
mod authorize;
mod caller;
pub mod crypto;
mod error;
pub mod jwt;
pub mod ratelimit;
pub mod scope;
mod settings;
pub mod sigv4;
mod snapshot;
pub mod store;
#[doc(hidden)]
pub mod suite; // the identity store's behaviour suite, shared with tests/backends
mod time;
mod tokens;
mod upkeep;

pub use action::{Action, Resource};
pub use admin::{NewKey, Unblock};
pub use authorize::{Decision, Denial};
pub use caller::{Caller, Credentials, PrincipalEntry};
pub use error::{AuthError, AuthFailure};
pub use settings::AuthSettings;
pub use time::time_iso8601;
pub use tokens::IssuedToken;

use crate::config::Config;
use authenticate::VerifiedToken;
use crypto::ServerKey;
use ratelimit::{FailureLimiter, Limits};
use snapshot::Snapshot;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use store::IdentityStore;

/// The identity layer, as every surface and `berth` command reaches it: authentication,
/// authorization, the token service and administration, over one in-memory snapshot of the
/// identity tables.
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

    /// The identity store, for the `berth` commands that list and change its rows directly.
    pub fn store(&self) -> &Arc<dyn IdentityStore> {
        &self.store
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;
    use store::PrincipalKind;
    use time::now_secs;

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
}
