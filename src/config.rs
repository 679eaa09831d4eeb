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
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySection {
    /// Largest accepted manifest in bytes (`BERTH_REGISTRY__MAX_MANIFEST_BYTES`).
    pub max_manifest_bytes: usize,
    /// Seconds after which an idle upload is discarded (`BERTH_REGISTRY__UPLOAD_EXPIRY_SECS`).
    pub upload_expiry_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// A tracing filter such as `info` or `berth=debug` (`BERTH_LOG__FILTER`, or `RUST_LOG`).
    pub filter: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 5000)),
            data_dir: PathBuf::from("./data"),
            registry: RegistrySection {
                max_manifest_bytes: 4 * 1024 * 1024,
                upload_expiry_secs: 24 * 3600,
            },
            log: LogSection {
                filter: "info".into(),
                format: "text".into(),
            },
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
                Some("listen" | "data_dir" | "registry" | "log")
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
    fn unknown_keys_are_named() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("berth.toml", "lisen = \"x\"\n")?;
            let e = Config::load(Some(Path::new("berth.toml"))).unwrap_err();
            assert!(e.to_string().contains("lisen"), "{e}");
            Ok(())
        });
    }
}
