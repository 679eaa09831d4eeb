//! Berth: a self-hosted OCI container registry.

pub mod auth;
pub mod cli;
pub mod config;
pub mod http;
pub mod jobs;
pub mod metadata;
pub mod oci;
pub mod policy;
pub mod registry;
pub mod storage;

use auth::store::IdentityStore;
use auth::Auth;
use axum::serve::ListenerExt;
use config::{Config, MetadataBackend, StorageBackend};
use metadata::leases::Leases;
use metadata::MetadataStore;
use registry::{Registry, RegistryOptions};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use storage::BlobStore;

/// A task that lives as long as the server and holds no work to drain.
type Listener = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// A bound, ready-to-serve registry. `build` binds the socket so `port = 0` works in tests.
pub struct Application {
    listener: tokio::net::TcpListener,
    registry: Arc<Registry>,
    auth: Arc<Auth>,
    /// The first administrator's credentials, when this start created them.
    bootstrap: Option<auth::NewKey>,
    /// Where singleton background jobs take their leases.
    leases: Arc<dyn Leases>,
    /// Listeners that live as long as the server (cache invalidation from other replicas).
    listeners: Vec<Listener>,
    /// `log.access`: one log line per request.
    access_log: bool,
    _lock: Option<std::fs::File>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot use data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error("data directory {0} is in use by another berth process")]
    Locked(String),
    #[error("cannot open the metadata database: {0}")]
    Metadata(#[from] metadata::MetaError),
    /// Opening the database failed: `what` names it (a file, or a URL without its password).
    #[error("cannot open the metadata database {what}: {error}{hint}")]
    OpenDatabase {
        what: String,
        error: metadata::MetaError,
        hint: String,
    },
    /// `listen` names a host that does not resolve.
    #[error("configuration error: {0}")]
    ListenAddress(config::ConfigError),
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    #[error("configuration: {0}")]
    Config(String),
    #[error("cannot use the object store: {0}")]
    Storage(#[from] storage::StorageError),
    #[error("authentication: {0}")]
    Auth(#[from] auth::AuthError),
}

/// Take the data directory for this process (SQLite and upload files assume one owner).
fn lock_data_dir(dir: &std::path::Path) -> Result<std::fs::File, StartError> {
    let shown = dir.display().to_string();
    std::fs::create_dir_all(dir).map_err(|e| StartError::DataDir(shown.clone(), e))?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".lock"))
        .map_err(|e| StartError::DataDir(shown.clone(), e))?;
    if lock.try_lock().is_err() {
        return Err(StartError::Locked(shown));
    }
    Ok(lock)
}

/// The file in the data directory where the first start writes the administrator's key.
pub const ADMIN_CREDENTIALS: &str = "admin-credentials";

/// A path as given, with its absolute form when it is relative (commands run from anywhere).
fn shown_path(path: &std::path::Path) -> String {
    match std::path::absolute(path) {
        Ok(abs) if abs != path => format!("{} ({})", path.display(), abs.display()),
        _ => path.display().to_string(),
    }
}

/// A database URL fit for messages: the password (in the user info or a `password=`
/// parameter) replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    // The last `@` ends the user info, even when the password holds `/` or `@`.
    let mut out = match rest.rfind('@') {
        Some(at) => match rest[..at].split_once(':') {
            Some((user, _)) => format!("{scheme}{user}:***{}", &rest[at..]),
            None => format!("{scheme}{rest}"),
        },
        None => format!("{scheme}{rest}"),
    };
    let mut from = 0;
    while let Some(i) = out[from..].find("password=") {
        let start = from + i + "password=".len();
        let end = out[start..].find('&').map_or(out.len(), |j| start + j);
        out.replace_range(start..end, "***");
        from = start + 3;
    }
    out
}

/// Open the configured metadata store and bring its schema up to date.
pub async fn open_metadata(config: &Config) -> Result<Arc<dyn MetadataStore>, StartError> {
    Ok(open_stores(config).await?.meta)
}

/// The stores over one database: registry metadata, identities, job leases.
pub struct Stores {
    pub meta: Arc<dyn MetadataStore>,
    pub identities: Arc<dyn IdentityStore>,
    pub leases: Arc<dyn Leases>,
}

/// The metadata store and the identity store over the same database.
pub async fn open_stores(config: &Config) -> Result<Stores, StartError> {
    Ok(match config.metadata.backend {
        MetadataBackend::Sqlite => {
            let path = config.data_dir.join("metadata.db");
            let store = metadata::sqlite::SqliteStore::open(&path)
                .await
                .map_err(|error| StartError::OpenDatabase {
                    what: shown_path(&path),
                    error,
                    hint: format!(
                        " (the SQLite database of the data directory {}; choose the directory \
                         with --data-dir or BERTH_DATA_DIR)",
                        config.data_dir.display()
                    ),
                })?;
            Stores {
                // The data directory is locked: every write goes through this process's cache.
                meta: Arc::new(metadata::cache::CachedStore::exclusive(store.clone())),
                identities: Arc::new(store.clone()),
                leases: Arc::new(store),
            }
        }
        MetadataBackend::Postgres => {
            let pg = open_postgres(config).await?.0;
            Stores {
                meta: Arc::new(pg.clone()),
                identities: Arc::new(pg.clone()),
                leases: Arc::new(pg),
            }
        }
    })
}

/// Open the identity store and the authenticator (for `berth` administration commands).
pub async fn open_auth(config: &Config) -> Result<Auth, StartError> {
    let identities = open_stores(config).await?.identities;
    Ok(Auth::open(config, identities).await?)
}

/// Connect to PostgreSQL and migrate; returns the store and its URL.
async fn open_postgres(
    config: &Config,
) -> Result<(metadata::postgres::PostgresStore, String), StartError> {
    let url = config.metadata.url.as_ref().ok_or_else(|| {
        StartError::Config("metadata.backend = \"postgres\" needs metadata.url".into())
    })?;
    let store = metadata::postgres::PostgresStore::connect(&url.0, config.metadata.max_connections)
        .await
        .map_err(|error| StartError::OpenDatabase {
            what: format!("at {} (metadata.url)", redact_url(&url.0)),
            error,
            hint: String::new(),
        })?;
    store.migrate().await?;
    Ok((store, url.0.clone()))
}

fn open_storage(config: &Config) -> Result<Arc<dyn BlobStore>, StartError> {
    let s = &config.storage;
    Ok(match s.backend {
        StorageBackend::Fs => {
            let dir = config.data_dir.join("storage");
            Arc::new(
                storage::fs::FsBlobStore::open(&dir)
                    .map_err(|e| StartError::DataDir(dir.display().to_string(), e))?,
            )
        }
        StorageBackend::S3 => {
            let need = |what: &str| {
                StartError::Config(format!("storage.backend = \"s3\" needs storage.{what}"))
            };
            let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
            let access_key_id = s
                .access_key_id
                .clone()
                .or_else(|| env("AWS_ACCESS_KEY_ID"))
                .ok_or_else(|| need("access_key_id"))?;
            let secret_access_key = s
                .secret_access_key
                .as_ref()
                .map(|x| x.0.clone())
                .or_else(|| env("AWS_SECRET_ACCESS_KEY"))
                .ok_or_else(|| need("secret_access_key"))?;
            if !s.prefix.is_empty() && !s.prefix.ends_with('/') {
                return Err(StartError::Config(
                    "storage.prefix must be empty or end with '/'".into(),
                ));
            }
            if s.part_size < storage::s3::MIN_PART {
                return Err(StartError::Config(format!(
                    "storage.part_size must be at least {} bytes",
                    storage::s3::MIN_PART
                )));
            }
            let cache = match &s.cache_dir {
                Some(dir) => Some(
                    storage::cache::DiskCache::open(dir.clone(), s.cache_max_bytes)
                        .map_err(|e| StartError::DataDir(dir.display().to_string(), e))?,
                ),
                None => None,
            };
            Arc::new(storage::s3::S3BlobStore::new(storage::s3::S3Settings {
                endpoint: s.endpoint.clone(),
                region: s.region.clone(),
                bucket: s.bucket.clone().ok_or_else(|| need("bucket"))?,
                prefix: s.prefix.clone(),
                access_key_id,
                secret_access_key,
                path_style: s.path_style,
                part_size: s.part_size,
                redirect_ttl: s
                    .redirect
                    .then(|| Duration::from_secs(s.redirect_ttl_secs.max(1))),
                cache,
            }))
        }
    })
}

impl Application {
    pub async fn build(config: &Config) -> Result<Application, StartError> {
        // Bind before anything is written: a start that cannot listen (port in use) must not
        // create the administrator whose key only a serving start shows.
        let listen = config.listen.resolve().map_err(StartError::ListenAddress)?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| StartError::Listen(listen, e))?;
        // The embedded database belongs to one process; PostgreSQL replicas share nothing
        // local (a filesystem blob store on a shared volume is theirs to coordinate).
        let lock = match config.metadata.backend {
            MetadataBackend::Sqlite => Some(lock_data_dir(&config.data_dir)?),
            MetadataBackend::Postgres => None,
        };
        let mut listeners: Vec<Listener> = Vec::new();
        let stores = match config.metadata.backend {
            MetadataBackend::Sqlite => open_stores(config).await?,
            MetadataBackend::Postgres => {
                // Replicas cache manifests and tags; PostgreSQL notifications keep them exact.
                let (pg, url) = open_postgres(config).await?;
                let cached = metadata::cache::CachedStore::new(pg.clone());
                listeners.push(Box::pin(metadata::cache::follow_postgres_notifications(
                    url,
                    cached.cache(),
                )));
                Stores {
                    meta: Arc::new(cached),
                    identities: Arc::new(pg.clone()),
                    leases: Arc::new(pg),
                }
            }
        };
        let Stores {
            meta,
            identities,
            leases,
        } = stores;
        // Settings errors of the blob store, too, come before the administrator is created.
        let blobs = open_storage(config)?;
        if let Err(e) = blobs.ping().await {
            // Not fatal: the store may come up after us; /readyz reports it meanwhile.
            tracing::warn!(error = %e, "the blob store is not reachable yet");
        }
        let auth = Arc::new(Auth::open(config, identities).await?);
        auth.rotate_keys().await?;
        let bootstrap = auth.bootstrap().await?;
        let credentials = config.data_dir.join(ADMIN_CREDENTIALS);
        if let Some(k) = &bootstrap {
            let text = format!(
                "# The first administrator of this registry (principal \"admin\").\n\
                 # Log in with: docker login -u {id} --password-stdin <registry>\n\
                 access_key_id = {id}\nsecret_access_key = {secret}\n",
                id = k.access_key_id,
                secret = k.secret_access_key
            );
            auth::crypto::write_private(&credentials, text.as_bytes())
                .map_err(|e| StartError::DataDir(credentials.display().to_string(), e))?;
        } else if credentials.exists() {
            // The start that created them printed them; this one only says where they are.
            tracing::info!(
                "the first administrator's credentials are in {}; delete the file once you have stored them",
                shown_path(&credentials)
            );
        }
        if !auth.enabled() {
            tracing::warn!(
                "authentication is OFF (auth.enabled = false): anyone who can reach this port can push, pull and delete"
            );
        }
        let registry = Arc::new(Registry::new(
            meta,
            blobs,
            RegistryOptions {
                max_manifest_bytes: config.registry.max_manifest_bytes,
                upload_expiry_secs: config.registry.upload_expiry_secs,
                create_on_push: config.registry.create_on_push,
            },
        ));
        Ok(Application {
            listener,
            registry,
            auth,
            bootstrap,
            leases,
            listeners,
            access_log: config.log.access,
            _lock: lock,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The administrator credentials this start created (first start only), to show once.
    pub fn take_bootstrap_credentials(&mut self) -> Option<auth::NewKey> {
        self.bootstrap.take()
    }

    /// Serve until `shutdown` resolves, then finish in-flight requests.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let mut jobs = jobs::Runner::new(self.leases, jobs::DEFAULT_LEASE_TTL);
        for listener in self.listeners {
            jobs.spawn_listener(listener);
        }
        jobs.spawn(Arc::new(jobs::uploads::UploadExpiry {
            registry: self.registry.clone(),
        }));
        jobs.spawn(Arc::new(jobs::pulls::PullRecording {
            registry: self.registry.clone(),
        }));
        jobs.spawn(Arc::new(jobs::identities::IdentityReload {
            auth: self.auth.clone(),
        }));
        jobs.spawn(Arc::new(jobs::identities::KeyRotation {
            auth: self.auth.clone(),
        }));
        jobs.spawn(Arc::new(jobs::identities::RefreshTokenExpiry {
            auth: self.auth.clone(),
        }));
        let app = http::router(http::AppState {
            registry: self.registry.clone(),
            auth: self.auth.clone(),
            access_log: self.access_log,
        });
        // Small responses (202s, manifests) must not wait on Nagle's algorithm.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY");
            }
        });
        let r = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        // In-flight requests are done: drain the jobs (the last pulls are recorded).
        jobs.shutdown().await;
        r
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_urls_are_shown_without_passwords() {
        for (url, shown) in [
            (
                "postgres://berth:hunter2@db:5432/berth",
                "postgres://berth:***@db:5432/berth",
            ),
            (
                "postgres://berth:hu/n@ter2@db/berth",
                "postgres://berth:***@db/berth",
            ),
            ("postgres://berth@db/berth", "postgres://berth@db/berth"),
            (
                "postgres://db/berth?user=b&password=hunter2&x=1",
                "postgres://db/berth?user=b&password=***&x=1",
            ),
            ("postgres://db/berth", "postgres://db/berth"),
        ] {
            assert_eq!(super::redact_url(url), shown);
        }
    }
}
