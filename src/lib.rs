//! Berth: a self-hosted OCI container registry.

pub mod auth;
pub mod config;
pub mod http;
pub mod metadata;
pub mod oci;
pub mod registry;
pub mod storage;

use axum::serve::ListenerExt;
use config::Config;
use registry::{Registry, RegistryOptions};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// A bound, ready-to-serve registry. `build` binds the socket so `port = 0` works in tests.
pub struct Application {
    listener: tokio::net::TcpListener,
    registry: Arc<Registry>,
    _lock: std::fs::File,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot use data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error("data directory {0} is in use by another berth process")]
    Locked(String),
    #[error("cannot open the metadata database: {0}")]
    Metadata(#[from] metadata::MetaError),
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
}

impl Application {
    pub async fn build(config: &Config) -> Result<Application, StartError> {
        let dir = &config.data_dir;
        let shown = dir.display().to_string();
        std::fs::create_dir_all(dir).map_err(|e| StartError::DataDir(shown.clone(), e))?;
        // One process per data directory: SQLite and the upload files assume it.
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(".lock"))
            .map_err(|e| StartError::DataDir(shown.clone(), e))?;
        if lock.try_lock().is_err() {
            return Err(StartError::Locked(shown));
        }
        let meta = metadata::sqlite::SqliteStore::open(&dir.join("metadata.db")).await?;
        let blobs = storage::fs::FsBlobStore::open(dir.join("storage"))
            .map_err(|e| StartError::DataDir(shown, e))?;
        let registry = Arc::new(Registry::new(
            Arc::new(meta),
            Arc::new(blobs),
            RegistryOptions {
                max_manifest_bytes: config.registry.max_manifest_bytes,
                upload_expiry_secs: config.registry.upload_expiry_secs,
            },
        ));
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| StartError::Listen(config.listen, e))?;
        Ok(Application {
            listener,
            registry,
            _lock: lock,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serve until `shutdown` resolves, then finish in-flight requests.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let janitor = tokio::spawn(janitor(self.registry.clone()));
        let app = http::router(self.registry.clone());
        // Small responses (202s, manifests) must not wait on Nagle's algorithm.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY");
            }
        });
        let r = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        janitor.abort();
        r
    }
}

/// Background upkeep: expire abandoned uploads.
async fn janitor(registry: Arc<Registry>) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        match registry.expire_uploads().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "expired idle uploads"),
            Err(e) => tracing::warn!(error = %e, "upload expiry failed"),
        }
    }
}
