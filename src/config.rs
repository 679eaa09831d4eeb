//! Configuration: defaults, then an optional TOML file, then `BERTH_*` environment variables
//! (`BERTH_SECTION__KEY` for nested keys), then command-line flags.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP listener binds (`BERTH_LISTEN`).
    pub listen: SocketAddr,
    /// Directory holding the SQLite database and the blob files (`BERTH_DATA_DIR`).
    pub data_dir: PathBuf,
    pub registry: RegistrySection,
    pub log: LogSection,
    pub metadata: MetadataSection,
    pub storage: StorageSection,
    pub auth: AuthSection,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    /// Require credentials (`BERTH_AUTH__ENABLED`). Turning it off lets anyone who reaches the
    /// port push and delete; it exists for benchmarks and throwaway setups.
    pub enabled: bool,
    /// 32 random bytes, base64 (`berth generate-key`), that seal stored secrets. Required with
    /// PostgreSQL (every replica needs the same one); the embedded deployment creates
    /// `data_dir/server.key` when unset (`BERTH_AUTH__SERVER_KEY`).
    pub server_key: Option<Secret>,
    /// The `service` of the token challenge and the audience of tokens.
    pub service: String,
    /// The token endpoint advertised in challenges; default `http://<Host>/token` (`https`
    /// when `trust_forwarded_proto` and `X-Forwarded-Proto: https`).
    pub realm: Option<String>,
    /// Believe `X-Forwarded-Proto: https` (set only behind a TLS proxy that overwrites the
    /// header): it then makes challenges advertise `https` and satisfies `aws:SecureTransport`.
    pub trust_forwarded_proto: bool,
    /// Lifetime of registry (bearer) tokens, in seconds.
    pub token_ttl_secs: u64,
    /// Lifetime of refresh tokens (`offline_token=true`), in seconds.
    pub refresh_token_ttl_secs: u64,
    /// Lifetime of ECR-style login passwords (user `AWS`), in seconds.
    pub login_token_ttl_secs: u64,
    /// A new token signing key is made this often (seconds); old keys verify until their
    /// tokens have expired.
    pub key_rotation_secs: u64,
    /// Failed authentications allowed per source address and per principal in a window.
    pub max_failures: u32,
    /// That window, in seconds.
    pub failure_window_secs: u64,
}

impl Default for AuthSection {
    fn default() -> Self {
        AuthSection {
            enabled: true,
            server_key: None,
            service: "berth".into(),
            realm: None,
            trust_forwarded_proto: false,
            token_ttl_secs: 300,
            refresh_token_ttl_secs: 90 * 24 * 3600,
            login_token_ttl_secs: 12 * 3600,
            key_rotation_secs: 24 * 3600,
            max_failures: 10,
            failure_window_secs: 300,
        }
    }
}

/// A value that must never appear in logs or error messages (`Debug` prints `***`).
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "***" })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetadataBackend {
    /// `metadata.db` in the data directory (one process).
    Sqlite,
    /// A PostgreSQL database shared by any number of replicas.
    Postgres,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataSection {
    /// `sqlite` (default) or `postgres` (`BERTH_METADATA__BACKEND`).
    pub backend: MetadataBackend,
    /// PostgreSQL URL, `postgres://user:password@host:5432/db` (`BERTH_METADATA__URL`).
    pub url: Option<Secret>,
    /// Connections per replica (`BERTH_METADATA__MAX_CONNECTIONS`).
    pub max_connections: u32,
}

impl Default for MetadataSection {
    fn default() -> Self {
        MetadataSection {
            backend: MetadataBackend::Sqlite,
            url: None,
            max_connections: 32,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// Files under `data_dir/storage`.
    Fs,
    /// An S3-compatible bucket.
    S3,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSection {
    /// `fs` (default) or `s3` (`BERTH_STORAGE__BACKEND`).
    pub backend: StorageBackend,
    /// S3 endpoint URL; unset means AWS S3 (`BERTH_STORAGE__ENDPOINT`).
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: Option<String>,
    /// Key prefix inside the bucket, e.g. `berth/`.
    pub prefix: String,
    /// Credentials; unset means `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret>,
    /// Path-style requests (`endpoint/bucket/key`), needed by most self-hosted stores.
    pub path_style: bool,
    /// Bytes per multipart part (at least 5 MiB).
    pub part_size: usize,
    /// Redirect blob downloads to presigned URLs instead of streaming them through Berth.
    pub redirect: bool,
    /// Lifetime of those URLs, in seconds.
    pub redirect_ttl_secs: u64,
    /// A local directory where each replica keeps copies of S3 blobs it received or served
    /// (off if unset).
    pub cache_dir: Option<PathBuf>,
    /// Bound of that cache, in bytes.
    pub cache_max_bytes: u64,
}

impl Default for StorageSection {
    fn default() -> Self {
        StorageSection {
            backend: StorageBackend::Fs,
            endpoint: None,
            region: "us-east-1".into(),
            bucket: None,
            prefix: String::new(),
            access_key_id: None,
            secret_access_key: None,
            path_style: true,
            part_size: 8 * 1024 * 1024,
            redirect: false,
            redirect_ttl_secs: 300,
            cache_dir: None,
            cache_max_bytes: 10 * 1024 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySection {
    /// Largest accepted manifest in bytes (`BERTH_REGISTRY__MAX_MANIFEST_BYTES`).
    pub max_manifest_bytes: usize,
    /// Seconds after which an idle upload is discarded (`BERTH_REGISTRY__UPLOAD_EXPIRY_SECS`).
    pub upload_expiry_secs: u64,
    /// The 12-digit account id in ARNs (`BERTH_REGISTRY__ACCOUNT_ID`).
    pub account_id: String,
    /// The region in ARNs (`BERTH_REGISTRY__REGION`).
    pub region: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// A tracing filter such as `info` or `berth=debug` (`BERTH_LOG__FILTER`, or `RUST_LOG`).
    pub filter: String,
    /// `text` or `json` (one JSON object per line) (`BERTH_LOG__FORMAT`).
    pub format: LogFormat,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 5000)),
            data_dir: PathBuf::from("./data"),
            registry: RegistrySection {
                max_manifest_bytes: 4 * 1024 * 1024,
                upload_expiry_secs: 24 * 3600,
                account_id: "000000000000".into(),
                region: "us-east-1".into(),
            },
            log: LogSection {
                filter: "info".into(),
                format: LogFormat::Text,
            },
            metadata: MetadataSection::default(),
            storage: StorageSection::default(),
            auth: AuthSection::default(),
        }
    }
}

impl Config {
    /// Load defaults ← file ← environment.
    pub fn load(file: Option<&Path>) -> Result<Config, Box<figment::Error>> {
        let mut f = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            f = f.merge(Toml::file_exact(path));
        }
        // Only variables naming a config section are configuration: BERTH_CONFIG, BERTH_BIN
        // and the like belong to the command line and the tooling.
        let env = Env::prefixed("BERTH_").split("__").filter(|k| {
            let k = k.as_str().to_ascii_lowercase();
            matches!(
                k.split('.').next(),
                Some("listen" | "data_dir" | "registry" | "log" | "metadata" | "storage" | "auth")
            )
        });
        f.merge(env).extract().map_err(Box::new)
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail closure type
mod tests {
    use super::*;

    #[test]
    fn file_and_environment_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "berth.toml",
                "listen = \"127.0.0.1:6000\"\n[registry]\nupload_expiry_secs = 60\n",
            )?;
            jail.set_env("BERTH_DATA_DIR", "/tmp/x");
            jail.set_env("BERTH_BIN", "/not/config");
            let c = Config::load(Some(Path::new("berth.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(c.listen.port(), 6000);
            assert_eq!(c.registry.upload_expiry_secs, 60);
            assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
            assert_eq!(c.registry.max_manifest_bytes, 4 * 1024 * 1024);
            Ok(())
        });
    }

    #[test]
    fn production_backends_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("BERTH_METADATA__BACKEND", "postgres");
            jail.set_env("BERTH_METADATA__URL", "postgres://u:hunter2@db/berth");
            jail.set_env("BERTH_STORAGE__BACKEND", "s3");
            jail.set_env("BERTH_STORAGE__BUCKET", "b");
            jail.set_env("BERTH_STORAGE__SECRET_ACCESS_KEY", "sekrit");
            jail.set_env("BERTH_STORAGE__REDIRECT", "true");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.metadata.backend, MetadataBackend::Postgres);
            assert_eq!(c.storage.backend, StorageBackend::S3);
            assert_eq!(c.storage.bucket.as_deref(), Some("b"));
            assert!(c.storage.redirect);
            assert_eq!(c.storage.part_size, 8 * 1024 * 1024);
            // Secrets never show in debug output (which is what gets logged).
            let shown = format!("{c:?}");
            assert!(
                !shown.contains("hunter2") && !shown.contains("sekrit"),
                "{shown}"
            );
            jail.set_env("BERTH_LOG__FORMAT", "json");
            assert_eq!(Config::load(None).unwrap().log.format, LogFormat::Json);
            jail.set_env("BERTH_LOG__FORMAT", "xml");
            assert!(Config::load(None).is_err());
            jail.set_env("BERTH_LOG__FORMAT", "text");
            jail.set_env("BERTH_METADATA__BACKEND", "mysql");
            assert!(Config::load(None).is_err());
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_named() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("berth.toml", "lisen = \"x\"\n")?;
            let e = Config::load(Some(Path::new("berth.toml"))).unwrap_err();
            assert!(e.to_string().contains("lisen"), "{e}");
            Ok(())
        });
    }
}
