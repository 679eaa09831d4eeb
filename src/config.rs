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
    /// Address the HTTP listener binds, `host:port` (`BERTH_LISTEN`). A host name is resolved
    /// when the server binds (and by `healthcheck`), not by commands that never listen; its
    /// first IPv4 address is used (`localhost:5000` is `127.0.0.1:5000`).
    pub listen: ListenAddr,
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
    #[serde(deserialize_with = "de::boolean")]
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
    #[serde(deserialize_with = "de::boolean")]
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
    #[serde(deserialize_with = "de::boolean")]
    pub path_style: bool,
    /// Bytes per multipart part (at least 5 MiB).
    pub part_size: usize,
    /// Redirect blob downloads to presigned URLs instead of streaming them through Berth.
    #[serde(deserialize_with = "de::boolean")]
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
    /// A push to a repository that does not exist creates it, when the pusher may
    /// `ecr:CreateRepository` on it (`BERTH_REGISTRY__CREATE_ON_PUSH`; off: pushes to missing
    /// repositories are refused, as in ECR).
    #[serde(deserialize_with = "de::boolean")]
    pub create_on_push: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// A tracing filter such as `info` or `berth=debug` (`BERTH_LOG__FILTER`, or `RUST_LOG`).
    #[serde(deserialize_with = "de::log_filter")]
    pub filter: String,
    /// `text` or `json` (one JSON object per line) (`BERTH_LOG__FORMAT`).
    pub format: LogFormat,
    /// One `info` line per HTTP request (`BERTH_LOG__ACCESS`).
    #[serde(deserialize_with = "de::boolean")]
    pub access: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: ListenAddr::ip(SocketAddr::from(([127, 0, 0, 1], 5000))),
            data_dir: PathBuf::from("./data"),
            registry: RegistrySection {
                max_manifest_bytes: 4 * 1024 * 1024,
                upload_expiry_secs: 24 * 3600,
                account_id: "000000000000".into(),
                region: "us-east-1".into(),
                create_on_push: true,
            },
            log: LogSection {
                filter: "info".into(),
                format: LogFormat::Text,
                access: true,
            },
            metadata: MetadataSection::default(),
            storage: StorageSection::default(),
            auth: AuthSection::default(),
        }
    }
}

/// Settings given on the command line; they win over the file and the environment.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`, checked and resolved like `BERTH_LISTEN`.
    pub listen: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
}

/// A configuration that cannot be used: each message names the setting where it was given
/// (`BERTH_LISTEN`, `--listen`, or a key of the file) and what is wrong with its value.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct ConfigError(Vec<String>);

/// The prefix of every environment variable that is a setting.
const ENV_PREFIX: &str = "BERTH_";

/// `BERTH_*` variables that are not settings and are never reported as unknown: the command
/// line's `BERTH_CONFIG`, and variables of the test suites and of the deployment files
/// (`docker-compose.yml` and `deploy/` read them; they do not reach Berth's own settings).
const NOT_SETTINGS: &[&str] = &[
    "BERTH_CONFIG",
    "BERTH_BIN",
    "BERTH_PORT",
    "BERTH_SERVER_KEY",
];

/// Prefixes of further such variables (`BERTH_TEST_DEPLOYMENT`, `BERTH_PG_PORT`,
/// `BERTH_E2E_KEEP`, `BERTH_S3_ACCESS_KEY_ID`, ...).
const NOT_SETTINGS_PREFIXES: &[&str] = &["BERTH_TEST_", "BERTH_PG_", "BERTH_E2E_", "BERTH_S3_"];

impl Config {
    /// Load defaults ← file ← environment ← command line.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut f = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            f = f.merge(Toml::file_exact(path));
        }
        // Only variables naming a setting or a section are configuration: the others are
        // reported by `unknown_variables` (or belong to the tooling).
        let sections = setting_names();
        let env = Env::prefixed(ENV_PREFIX).split("__").filter(move |k| {
            let key = k.as_str().to_ascii_lowercase();
            let top = key.split('.').next().unwrap_or("");
            sections.iter().any(|s| s.split('.').next() == Some(top))
        });
        f = f.merge(env);
        if let Some(listen) = &overrides.listen {
            f = f.merge(Flag {
                flag: "--listen",
                key: "listen",
                value: listen.as_str().into(),
            });
        }
        let mut config: Config = f.extract().map_err(ConfigError::from)?;
        config.listen.setting = setting_name(f.find_metadata("listen"), "listen");
        if let Some(dir) = &overrides.data_dir {
            config.data_dir = dir.clone();
        }
        Ok(config)
    }
}

/// Warnings for the `BERTH_*` variables among `names` that are not settings, each with the
/// setting it most likely meant (`BERTH_STORAGE_BACKEND`: did you mean
/// `BERTH_STORAGE__BACKEND`?). Variables of sections are checked by `Config::load`, which
/// refuses unknown keys.
pub fn unknown_variables<I, S>(names: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let known: Vec<String> = setting_names().iter().map(|k| env_name(k)).collect();
    let sections: Vec<String> = setting_names()
        .iter()
        .filter_map(|k| k.split_once('.').map(|(s, _)| env_name(s)))
        .collect();
    let mut out = Vec::new();
    for name in names {
        let name = name.as_ref();
        let upper = name.to_ascii_uppercase();
        if !upper.starts_with(ENV_PREFIX)
            || known.contains(&upper)
            || NOT_SETTINGS.contains(&upper.as_str())
            || NOT_SETTINGS_PREFIXES.iter().any(|p| upper.starts_with(p))
            || sections
                .iter()
                .any(|s| upper == *s || upper.starts_with(&format!("{s}__")))
        {
            continue;
        }
        out.push(match suggest(&upper, &known) {
            Some(s) => format!("{name} is not a setting and is ignored; did you mean {s}?"),
            None => format!("{name} is not a setting and is ignored"),
        });
    }
    out
}

/// The environment variable of a setting (`storage.backend` → `BERTH_STORAGE__BACKEND`).
fn env_name(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        key.replace('.', "__").to_ascii_uppercase()
    )
}

/// Every setting, as a dotted key (`listen`, `storage.backend`, ...).
fn setting_names() -> Vec<String> {
    fn walk(prefix: &str, v: &figment::value::Value, out: &mut Vec<String>) {
        match v.as_dict() {
            Some(dict) => {
                for (k, v) in dict {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            None => out.push(prefix.to_string()),
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = figment::value::Value::serialize(Config::default()) {
        walk("", &v, &mut out);
    }
    out
}

/// The known name closest to `name`: the same letters without the underscores (a single `_`
/// where `__` separates a section), a section's key given without its section, or a
/// misspelling of at most two letters.
fn suggest(name: &str, known: &[String]) -> Option<String> {
    let letters = |s: &str| s.replace('_', "");
    if let Some(k) = known.iter().find(|k| letters(k) == letters(name)) {
        return Some(k.clone());
    }
    let bare = name.strip_prefix(ENV_PREFIX)?;
    let by_key: Vec<&String> = known
        .iter()
        .filter(|k| k.ends_with(&format!("__{bare}")))
        .collect();
    if !by_key.is_empty() {
        let names: Vec<&str> = by_key.iter().map(|k| k.as_str()).collect();
        return Some(names.join(" or "));
    }
    known
        .iter()
        .map(|k| (edit_distance(k, name), k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k.clone())
}

/// Levenshtein distance (names are short ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// A setting given by a command-line flag, so that its errors name the flag.
struct Flag {
    flag: &'static str,
    key: &'static str,
    value: figment::value::Value,
}

impl figment::Provider for Flag {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named(self.flag)
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        let mut dict = figment::value::Dict::new();
        dict.insert(self.key.into(), self.value.clone());
        Ok(figment::Profile::Default.collect(dict))
    }
}

impl From<figment::Error> for ConfigError {
    fn from(e: figment::Error) -> Self {
        ConfigError(e.into_iter().map(|e| describe(&e)).collect())
    }
}

/// `SETTING: what is wrong`, with the setting named as the user gave it.
fn describe(e: &figment::Error) -> String {
    use figment::error::Kind;
    let md = e.metadata.as_ref();
    let from_env = md.is_some_and(|m| m.name.contains("environment variable"));
    let mut path = e.path.clone();
    if let Kind::UnknownField(field, _) = &e.kind {
        if path.last() != Some(field) {
            path.push(field.clone());
        }
    }
    let key = path.join(".");
    let setting = setting_name(md, &key);
    let problem = match &e.kind {
        Kind::Message(m) => m.trim_end().to_string(),
        Kind::InvalidType(found, expected) | Kind::InvalidValue(found, expected) => {
            format!("expected {}, found {found}", plain_type(expected))
        }
        Kind::UnknownVariant(found, expected) => {
            format!("{found:?} is not one of {}", expected.join(", "))
        }
        Kind::UnknownField(_, _) if from_env => {
            let known: Vec<String> = setting_names().iter().map(|k| env_name(k)).collect();
            match suggest(&setting, &known) {
                Some(s) => format!("no such setting; did you mean {s}?"),
                None => "no such setting".into(),
            }
        }
        Kind::UnknownField(_, expected) => {
            format!("no such setting (known here: {})", expected.join(", "))
        }
        other => other.to_string().replace('`', ""),
    };
    if setting.is_empty() {
        problem
    } else {
        format!("{setting}: {problem}")
    }
}

/// The setting `key` as the user gave it, from where its value came: `BERTH_STORAGE__BACKEND`,
/// `--listen`, `berth.toml: storage.backend` (the file alone when `key` is empty).
fn setting_name(md: Option<&figment::Metadata>, key: &str) -> String {
    match md {
        Some(m) if m.name.contains("environment variable") => env_name(key),
        Some(m) if m.name.starts_with("--") => m.name.to_string(),
        Some(m) => match &m.source {
            Some(figment::Source::File(file)) if key.is_empty() => file.display().to_string(),
            Some(figment::Source::File(file)) => format!("{}: {key}", file.display()),
            _ => key.to_string(),
        },
        None => key.to_string(),
    }
}

/// Rust type names in serde's messages, as a reader of the configuration would say them.
fn plain_type(expected: &str) -> String {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "isize" => {
            format!("a whole number ({expected})")
        }
        "a string" | "a boolean" => expected.to_string(),
        other => other.replace('`', ""),
    }
}

/// The log filter directives accepted, for messages that refuse one.
const FILTER_HINT: &str =
    "use a level such as info or debug, or directives like berth=debug,tower_http=warn";

/// Check a tracing filter (`log.filter`, `RUST_LOG`). Beyond what `EnvFilter` parses, a bare
/// word must be a level (or `berth`): `EnvFilter` reads any other word as a target to trace,
/// which silences every other log (`verbose` would show nothing).
pub fn check_log_filter(filter: &str) -> Result<(), String> {
    if filter.trim().is_empty() {
        return Err(format!("the log filter is empty; {FILTER_HINT}"));
    }
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(filter) {
        return Err(format!(
            "{filter:?} is not a log filter ({e}); {FILTER_HINT}"
        ));
    }
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let bare = !directive.contains(['=', '[']);
        let level = directive
            .parse::<tracing_subscriber::filter::LevelFilter>()
            .is_ok();
        let ours = directive == "berth" || directive.starts_with("berth::");
        if bare && !level && !ours {
            return Err(format!(
                "{directive:?} is not a log level (trace, debug, info, warn, error, off); \
                 {FILTER_HINT}"
            ));
        }
    }
    Ok(())
}

/// Deserializers that accept what people write in files and in environment variables.
mod de {
    use serde::de::{Deserializer, Error, Visitor};
    use std::fmt;

    /// `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`, in any case.
    pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = bool;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("true or false")
            }
            fn visit_bool<E: Error>(self, v: bool) -> Result<bool, E> {
                Ok(v)
            }
            fn visit_u64<E: Error>(self, v: u64) -> Result<bool, E> {
                match v {
                    0 => Ok(false),
                    1 => Ok(true),
                    _ => Err(E::custom(format!(
                        "{v} is not a boolean (use true or false)"
                    ))),
                }
            }
            fn visit_i64<E: Error>(self, v: i64) -> Result<bool, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("{v} is not a boolean (use true or false)")))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<bool, E> {
                match v.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" | "on" => Ok(true),
                    "false" | "0" | "no" | "off" => Ok(false),
                    _ => Err(E::custom(format!(
                        "{v:?} is not a boolean (use true or false; also 1/0, yes/no, on/off)"
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }

    /// A tracing filter that `super::check_log_filter` accepts.
    pub fn log_filter<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let s: String = serde::Deserialize::deserialize(d)?;
        super::check_log_filter(&s).map_err(D::Error::custom)?;
        Ok(s)
    }
}

/// The `listen` setting, `host:port`: its form is checked when the configuration loads, and a
/// host name is resolved only by what binds or connects to it (`serve`, `healthcheck`), so a
/// command that never listens does not depend on the name resolving.
#[derive(Debug, Clone)]
pub struct ListenAddr {
    /// The value as given, for messages (`localhost:5000`).
    given: String,
    host: ListenHost,
    /// The setting that gave the value, as its errors name it (`BERTH_LISTEN`, `--listen`,
    /// `berth.toml: listen`).
    setting: String,
}

#[derive(Debug, Clone)]
enum ListenHost {
    Ip(SocketAddr),
    Name(String, u16),
}

impl ListenAddr {
    fn ip(addr: SocketAddr) -> ListenAddr {
        ListenAddr {
            given: addr.to_string(),
            host: ListenHost::Ip(addr),
            setting: "listen".into(),
        }
    }

    /// The socket address: an IP address as it is, a host name resolved now (its first IPv4
    /// address, else its first address). The error names the setting, like those of `load`.
    pub fn resolve(&self) -> Result<SocketAddr, ConfigError> {
        let (host, port) = match &self.host {
            ListenHost::Ip(addr) => return Ok(*addr),
            ListenHost::Name(host, port) => (host, *port),
        };
        let v = &self.given;
        let fail =
            |problem: String| ConfigError(vec![format!("{}: {v:?}: {problem}", self.setting)]);
        let addrs: Vec<SocketAddr> =
            std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
                .map_err(|e| fail(format!("cannot resolve {host}: {e}")))?
                .collect();
        addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or(addrs.first())
            .copied()
            .ok_or_else(|| fail(format!("{host} has no address")))
    }
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&self.given)
    }
}

/// An IP socket address, or `name:port` (checked, not resolved).
impl std::str::FromStr for ListenAddr {
    type Err = String;

    fn from_str(v: &str) -> Result<ListenAddr, String> {
        if let Ok(a) = v.parse::<SocketAddr>() {
            return Ok(ListenAddr::ip(a));
        }
        let example = "for example 127.0.0.1:5000, 0.0.0.0:5000, [::]:5000 or localhost:5000";
        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "{v:?} is not a host:port address (a port alone: 127.0.0.1:{v} for this machine, \
                 0.0.0.0:{v} for every address)"
            ));
        }
        let Some((host, port)) = v.rsplit_once(':') else {
            return Err(format!("{v:?} is not a host:port address ({example})"));
        };
        if host.is_empty()
            || host.contains([':', '[', ']', '/'])
            || host.contains(char::is_whitespace)
        {
            return Err(format!("{v:?} is not a host:port address ({example})"));
        }
        let port: u16 = port
            .parse()
            .map_err(|_| format!("{v:?}: {port:?} is not a port number (0 to 65535)"))?;
        Ok(ListenAddr {
            given: v.to_string(),
            host: ListenHost::Name(host.to_string(), port),
            setting: "listen".into(),
        })
    }
}

impl Serialize for ListenAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.given)
    }
}

/// `host:port`, where host is an IP address (IPv6 in brackets) or a name.
impl<'de> Deserialize<'de> for ListenAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ListenAddr, D::Error> {
        use serde::de::{Error, Unexpected, Visitor};
        struct V;
        impl Visitor<'_> for V {
            type Value = ListenAddr;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a host:port address")
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<ListenAddr, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: Error>(self, v: u64) -> Result<ListenAddr, E> {
                v.to_string().parse().map_err(E::custom)
            }
            fn visit_i64<E: Error>(self, v: i64) -> Result<ListenAddr, E> {
                Err(E::invalid_type(Unexpected::Signed(v), &self))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail closure type
mod tests {
    use super::*;

    fn none() -> Overrides {
        Overrides::default()
    }

    #[test]
    fn file_and_environment_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "berth.toml",
                "listen = \"127.0.0.1:6000\"\n[registry]\nupload_expiry_secs = 60\n",
            )?;
            jail.set_env("BERTH_DATA_DIR", "/tmp/x");
            jail.set_env("BERTH_BIN", "/not/config");
            let c =
                Config::load(Some(Path::new("berth.toml")), &none()).map_err(|e| e.to_string())?;
            assert_eq!(c.listen.resolve().map_err(|e| e.to_string())?.port(), 6000);
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
            let c = Config::load(None, &none()).map_err(|e| e.to_string())?;
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
            assert_eq!(
                Config::load(None, &none()).unwrap().log.format,
                LogFormat::Json
            );
            jail.set_env("BERTH_LOG__FORMAT", "xml");
            assert!(Config::load(None, &none()).is_err());
            jail.set_env("BERTH_LOG__FORMAT", "text");
            jail.set_env("BERTH_METADATA__BACKEND", "mysql");
            assert!(Config::load(None, &none()).is_err());
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_named() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("berth.toml", "lisen = \"x\"\n")?;
            let e = Config::load(Some(Path::new("berth.toml")), &none()).unwrap_err();
            assert!(e.to_string().contains("lisen"), "{e}");
            Ok(())
        });
    }

    fn load_err() -> String {
        Config::load(None, &none()).unwrap_err().to_string()
    }

    #[test]
    fn booleans_in_the_usual_spellings() {
        figment::Jail::expect_with(|jail| {
            for (text, value) in [
                ("true", true),
                ("True", true),
                ("1", true),
                ("yes", true),
                ("ON", true),
                ("false", false),
                ("False", false),
                ("0", false),
                ("no", false),
                ("Off", false),
            ] {
                for var in [
                    "BERTH_AUTH__ENABLED",
                    "BERTH_AUTH__TRUST_FORWARDED_PROTO",
                    "BERTH_STORAGE__PATH_STYLE",
                    "BERTH_STORAGE__REDIRECT",
                    "BERTH_REGISTRY__CREATE_ON_PUSH",
                    "BERTH_LOG__ACCESS",
                ] {
                    jail.set_env(var, text);
                }
                let c = Config::load(None, &none()).map_err(|e| e.to_string())?;
                let all = [
                    c.auth.enabled,
                    c.auth.trust_forwarded_proto,
                    c.storage.path_style,
                    c.storage.redirect,
                    c.registry.create_on_push,
                    c.log.access,
                ];
                assert_eq!(all, [value; 6], "{text}");
            }
            jail.set_env("BERTH_AUTH__ENABLED", "maybe");
            let e = load_err();
            assert!(
                e.starts_with("BERTH_AUTH__ENABLED: \"maybe\" is not a boolean"),
                "{e}"
            );
            jail.set_env("BERTH_AUTH__ENABLED", "2");
            assert!(load_err().starts_with("BERTH_AUTH__ENABLED: 2 is not a boolean"));
            // The file keeps TOML's booleans.
            jail.clear_env();
            jail.create_file("b.toml", "[auth]\nenabled = false\n")?;
            let c = Config::load(Some(Path::new("b.toml")), &none()).map_err(|e| e.to_string())?;
            assert!(!c.auth.enabled);
            Ok(())
        });
    }

    #[test]
    fn listen_takes_host_names_and_names_bad_values() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("BERTH_LISTEN", "localhost:5093");
            let resolved = |c: Config| c.listen.resolve().map_err(|e| e.to_string());
            let c = Config::load(None, &none()).map_err(|e| e.to_string())?;
            assert_eq!(resolved(c)?, SocketAddr::from(([127, 0, 0, 1], 5093)));
            jail.set_env("BERTH_LISTEN", "[::1]:5000");
            let c = Config::load(None, &none()).map_err(|e| e.to_string())?;
            assert_eq!(resolved(c)?, "[::1]:5000".parse::<SocketAddr>().unwrap());
            for (value, message) in [
                ("x", "BERTH_LISTEN: \"x\" is not a host:port address"),
                (
                    "localhost",
                    "BERTH_LISTEN: \"localhost\" is not a host:port address",
                ),
                (
                    "5000",
                    "BERTH_LISTEN: \"5000\" is not a host:port address (a port alone",
                ),
                (
                    "h:99999",
                    "BERTH_LISTEN: \"h:99999\": \"99999\" is not a port number",
                ),
                (
                    "::1:5000",
                    "BERTH_LISTEN: \"::1:5000\" is not a host:port address",
                ),
            ] {
                jail.set_env("BERTH_LISTEN", value);
                let e = load_err();
                assert!(e.starts_with(message), "{value}: {e}");
            }
            // A name that does not resolve loads (commands that never listen work); resolving
            // it, as serving does, names the setting that gave it.
            jail.set_env("BERTH_LISTEN", "nosuch.invalid:5000");
            let c = Config::load(None, &none()).map_err(|e| e.to_string())?;
            let e = c.listen.resolve().unwrap_err().to_string();
            assert!(
                e.starts_with(
                    "BERTH_LISTEN: \"nosuch.invalid:5000\": cannot resolve nosuch.invalid"
                ),
                "{e}"
            );
            // The flag wins over the environment, and its errors name it.
            jail.set_env("BERTH_LISTEN", "127.0.0.1:1");
            let flag = |v: &str| Overrides {
                listen: Some(v.into()),
                data_dir: Some("/srv/berth".into()),
            };
            let c = Config::load(None, &flag("localhost:7000")).map_err(|e| e.to_string())?;
            assert_eq!(c.data_dir, PathBuf::from("/srv/berth"));
            assert_eq!(resolved(c)?, SocketAddr::from(([127, 0, 0, 1], 7000)));
            let e = Config::load(None, &flag("nope")).unwrap_err().to_string();
            assert!(
                e.starts_with("--listen: \"nope\" is not a host:port address"),
                "{e}"
            );
            // A file's errors name the file and the key.
            jail.clear_env();
            jail.create_file("berth.toml", "listen = \"x\"\n")?;
            let e = Config::load(Some(Path::new("berth.toml")), &none())
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("berth.toml: listen: \"x\" is not"), "{e}");
            let unresolved = |from: Option<&Path>, overrides: &Overrides| {
                let c = Config::load(from, overrides).map_err(|e| e.to_string())?;
                Ok::<_, figment::Error>(c.listen.resolve().unwrap_err().to_string())
            };
            let e = unresolved(None, &flag("nosuch.invalid:1"))?;
            assert!(
                e.starts_with("--listen: \"nosuch.invalid:1\": cannot resolve"),
                "{e}"
            );
            jail.create_file("berth.toml", "listen = \"nosuch.invalid:1\"\n")?;
            let e = unresolved(Some(Path::new("berth.toml")), &none())?;
            assert!(
                e.starts_with("berth.toml: listen: \"nosuch.invalid:1\": cannot resolve"),
                "{e}"
            );
            Ok(())
        });
    }

    #[test]
    fn messages_read_as_settings_not_internals() {
        figment::Jail::expect_with(|jail| {
            let cases = [
                ("BERTH_METADATA__BACKEND", "mysql", "BERTH_METADATA__BACKEND: \"mysql\" is not one of sqlite, postgres"),
                ("BERTH_AUTH__MAX_FAILURES", "many", "BERTH_AUTH__MAX_FAILURES: expected a whole number (u32), found string \"many\""),
                ("BERTH_STORAGE__BAKEND", "s3", "BERTH_STORAGE__BAKEND: no such setting; did you mean BERTH_STORAGE__BACKEND?"),
            ];
            for (var, value, message) in cases {
                jail.clear_env();
                jail.set_env(var, value);
                let e = load_err();
                assert_eq!(e, message);
                assert!(!e.contains("default.") && !e.contains('`'), "{e}");
            }
            Ok(())
        });
    }

    #[test]
    fn log_filters_that_would_silence_everything_are_refused() {
        for ok in [
            "info",
            "DEBUG",
            "berth=debug",
            "info,berth::auth=trace",
            "berth",
            "warn,tower_http=off",
        ] {
            assert_eq!(check_log_filter(ok), Ok(()), "{ok}");
        }
        for bad in ["verbose", "", " ", "info,loud", "berth=loud"] {
            let e = check_log_filter(bad).unwrap_err();
            assert!(
                e.contains("use a level such as info or debug"),
                "{bad}: {e}"
            );
        }
        figment::Jail::expect_with(|jail| {
            jail.set_env("BERTH_LOG__FILTER", "verbose");
            assert!(load_err().starts_with("BERTH_LOG__FILTER: \"verbose\" is not a log level"));
            Ok(())
        });
    }

    #[test]
    fn unknown_variables_are_reported_with_what_they_likely_meant() {
        let warnings = unknown_variables([
            "BERTH_STORAGE_BACKEND",
            "BERTH_LISTN",
            "BERTH_BACKEND",
            "BERTH_FROBNICATE",
            "BERTH_LISTEN",
            "BERTH_METADATA__URL",
            "BERTH_STORAGE__BAKEND",
            "BERTH_CONFIG",
            "BERTH_BIN",
            "BERTH_TEST_DEPLOYMENT",
            "BERTH_PG_PORT",
            "BERTH_S3_ACCESS_KEY_ID",
            "PATH",
        ]);
        assert_eq!(
            warnings,
            [
                "BERTH_STORAGE_BACKEND is not a setting and is ignored; did you mean BERTH_STORAGE__BACKEND?",
                "BERTH_LISTN is not a setting and is ignored; did you mean BERTH_LISTEN?",
                "BERTH_BACKEND is not a setting and is ignored; did you mean BERTH_METADATA__BACKEND or BERTH_STORAGE__BACKEND?",
                "BERTH_FROBNICATE is not a setting and is ignored",
            ]
        );
    }
}
