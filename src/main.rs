//! The `berth` binary: parses the command line, sets up logging, and calls the library.

use berth::config::{Config, Overrides};
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "A self-hosted OCI container registry",
    long_about = "A self-hosted OCI container registry.\n\n\
        Without a command, `berth` runs `serve`. Settings come from built-in defaults, a TOML file \
        (--config or BERTH_CONFIG), BERTH_* environment variables (BERTH_SECTION__KEY for nested \
        keys, such as BERTH_STORAGE__BACKEND) and the command's flags, in increasing priority.",
    after_help = "Examples:\n  \
        berth serve --listen 0.0.0.0:5000 --data-dir /var/lib/berth\n  \
        berth principal create ci --robot --with-key --data-dir /var/lib/berth\n  \
        berth healthcheck"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

/// Where a command finds the registry's configuration and data: `serve`, `migrate` and every
/// administration command take these (also after a subcommand group: `berth principal list
/// --data-dir DIR`).
#[derive(Args, Clone, Debug)]
struct StoreArgs {
    /// Configuration file (TOML); BERTH_* environment variables and flags override it.
    #[arg(long, value_name = "FILE", env = "BERTH_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Data directory: the SQLite database, the blob files, server.key and admin-credentials
    /// (setting data_dir, BERTH_DATA_DIR; default ./data).
    #[arg(long, value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,
}

impl StoreArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            listen: None,
            data_dir: self.data_dir.clone(),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the registry (the default command).
    #[command(after_help = "Examples:\n  \
        berth serve\n  \
        berth serve --listen 0.0.0.0:5000 --data-dir /var/lib/berth\n  \
        BERTH_LISTEN=localhost:5093 berth serve")]
    Serve {
        #[command(flatten)]
        store: StoreArgs,
        /// Address to listen on, HOST:PORT; a host name is resolved to its first IPv4 address
        /// (setting listen, BERTH_LISTEN; default 127.0.0.1:5000).
        #[arg(long, value_name = "HOST:PORT")]
        listen: Option<String>,
    },
    /// Bring the metadata schema up to date, then exit (serving does it too at start-up).
    Migrate {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Exit 0 if the registry answers 200 on /readyz (for container health checks).
    #[command(after_help = "Examples:\n  \
        berth healthcheck                      # the address of BERTH_LISTEN or the file\n  \
        berth healthcheck --url http://127.0.0.1:5000/readyz")]
    Healthcheck {
        /// Configuration file (TOML) giving the address the registry listens on.
        #[arg(long, value_name = "FILE", env = "BERTH_CONFIG")]
        config: Option<PathBuf>,
        /// The address the registry listens on, as given to `serve --listen` (default: the
        /// configured listen address; 0.0.0.0 and [::] are checked on loopback).
        #[arg(long, value_name = "HOST:PORT", conflicts_with = "url")]
        listen: Option<String>,
        /// The URL to check instead (http:// only), e.g. http://127.0.0.1:5000/readyz.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
    /// Print a new random server key (for auth.server_key / BERTH_AUTH__SERVER_KEY).
    GenerateKey,
    #[command(flatten)]
    Admin(AdminCommand),
}

/// The administration commands: they work on the database directly (no server needed, and
/// safe while servers run: servers pick changes up within a second).
#[derive(Subcommand)]
enum AdminCommand {
    /// Users and robot identities (principals).
    Principal {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        command: PrincipalCmd,
    },
    /// Access keys (access key id + secret access key) of principals.
    Key {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        command: KeyCmd,
    },
    /// Identity policies attached to principals (IAM JSON).
    Policy {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        command: PolicyCmd,
    },
    /// Repository policies (IAM JSON resource policies).
    RepositoryPolicy {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        command: RepositoryPolicyCmd,
    },
    /// The registry policy (a resource policy that applies to every repository).
    RegistryPolicy {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        command: RegistryPolicyCmd,
    },
    /// Refresh tokens.
    Token {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        command: TokenCmd,
    },
    /// Failed-login lockouts.
    Auth {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        command: AuthCmd,
    },
}

impl AdminCommand {
    fn store(&self) -> &StoreArgs {
        match self {
            AdminCommand::Principal { store, .. }
            | AdminCommand::Key { store, .. }
            | AdminCommand::Policy { store, .. }
            | AdminCommand::RepositoryPolicy { store, .. }
            | AdminCommand::RegistryPolicy { store, .. }
            | AdminCommand::Token { store, .. }
            | AdminCommand::Auth { store, .. } => store,
        }
    }
}

#[derive(Subcommand)]
enum PrincipalCmd {
    /// Create a principal: a user, or with --robot a robot identity.
    #[command(after_help = "Examples:\n  \
        berth principal create alice\n  \
        berth principal create ci --robot --with-key")]
    Create {
        /// Name of the new principal (letters, digits and +=,.@_-).
        name: String,
        /// Create a robot identity (for CI and automation) instead of a user.
        #[arg(long)]
        robot: bool,
        /// Also create an access key and print it (the secret is shown once).
        #[arg(long)]
        with_key: bool,
    },
    /// List principals: name, kind, enabled or disabled, ARN (tab-separated).
    List,
    /// Refuse every credential and token of the principal until enabled again.
    Disable {
        /// Name of the principal.
        name: String,
    },
    /// Accept the principal's credentials and tokens again.
    Enable {
        /// Name of the principal.
        name: String,
    },
    /// Delete the principal, its keys, policies and refresh tokens.
    Delete {
        /// Name of the principal.
        name: String,
    },
}

#[derive(Subcommand)]
enum KeyCmd {
    /// Create an access key for a principal; the secret is printed once.
    Create {
        /// Name of the principal the key belongs to.
        principal: String,
    },
    /// List access keys: id, principal, enabled or disabled (tab-separated).
    List {
        /// Only the keys of this principal.
        #[arg(long, value_name = "NAME")]
        principal: Option<String>,
    },
    /// Refuse the key until enabled again.
    Disable {
        /// Access key id (BKIA...).
        id: String,
    },
    /// Accept the key again.
    Enable {
        /// Access key id (BKIA...).
        id: String,
    },
    /// Delete the key for good.
    Delete {
        /// Access key id (BKIA...).
        id: String,
    },
    /// Print an ECR-style login password (user `AWS`) for the key, valid 12 hours by default.
    #[command(after_help = "Example:\n  \
        berth key login-password BKIA... | docker login -u AWS --password-stdin 127.0.0.1:5000")]
    LoginPassword {
        /// Access key id (BKIA...).
        id: String,
    },
}

#[derive(Subcommand)]
enum PolicyCmd {
    /// Attach (or replace) policy NAME on PRINCIPAL from FILE (`-` for standard input).
    #[command(after_help = "Example:\n  \
        berth policy attach ci push-team - <<'JSON'\n  \
        {\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\n   \
        \"Resource\":\"arn:aws:ecr:us-east-1:000000000000:repository/team/*\"}]}\n  \
        JSON")]
    Attach {
        /// Name of the principal.
        principal: String,
        /// Name of the policy (unique per principal).
        name: String,
        /// File holding the policy (IAM JSON), or `-` for standard input.
        file: PathBuf,
    },
    /// Remove policy NAME from PRINCIPAL.
    Detach {
        /// Name of the principal.
        principal: String,
        /// Name of the policy.
        name: String,
    },
    /// Print the principal's policies: name and document (tab-separated).
    List {
        /// Name of the principal.
        principal: String,
    },
}

#[derive(Subcommand)]
enum RepositoryPolicyCmd {
    /// Set REPOSITORY's policy from FILE (`-` for standard input).
    #[command(after_help = "Example (anyone may pull public/tools):\n  \
        berth repository-policy set public/tools - <<'JSON'\n  \
        {\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\n   \
        \"Action\":[\"ecr:BatchGetImage\",\"ecr:GetDownloadUrlForLayer\",\n   \
        \"ecr:BatchCheckLayerAvailability\"]}]}\n  \
        JSON")]
    Set {
        /// Repository name, e.g. team/app.
        repository: String,
        /// File holding the policy (IAM JSON), or `-` for standard input.
        file: PathBuf,
    },
    /// Print REPOSITORY's policy.
    Get {
        /// Repository name, e.g. team/app.
        repository: String,
    },
    /// Delete REPOSITORY's policy.
    Delete {
        /// Repository name, e.g. team/app.
        repository: String,
    },
}

#[derive(Subcommand)]
enum RegistryPolicyCmd {
    /// Set the registry policy from FILE (`-` for standard input).
    Set {
        /// File holding the policy (IAM JSON), or `-` for standard input.
        file: PathBuf,
    },
    /// Print the registry policy.
    Get,
    /// Delete the registry policy.
    Delete,
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Revoke every refresh token of a principal.
    Revoke {
        /// Name of the principal.
        principal: String,
    },
}

#[derive(Subcommand)]
enum AuthCmd {
    /// Lift the failed-login lockouts of a source address or of a user name, on every running
    /// server (they apply it within a second).
    ///
    /// Example: berth auth unblock --address 203.0.113.7
    #[command(group(clap::ArgGroup::new("target").required(true).args(["address", "user"])))]
    Unblock {
        /// The client address whose lockouts end (under every user name).
        #[arg(long, value_name = "IP")]
        address: Option<std::net::IpAddr>,
        /// The user name (an access key id or a principal name) whose lockouts end, from every
        /// address; a principal's name also covers its access keys.
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
    },
}

fn read_input(path: &std::path::Path) -> Result<String, String> {
    if path == std::path::Path::new("-") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| e.to_string())?;
        Ok(s)
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
    }
}

fn print_key(k: &berth::auth::NewKey) {
    println!("access_key_id = {}", k.access_key_id);
    println!("secret_access_key = {}", k.secret_access_key);
}

fn found(ok: bool, what: String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("no {what}"))
    }
}

/// Run an administration command on the configured database.
async fn admin(config: &Config, command: AdminCommand) -> Result<(), String> {
    use berth::auth::store::PrincipalKind;
    let auth = berth::open_auth(config).await.map_err(|e| e.to_string())?;
    let store = auth.store().clone();
    let e = |e: berth::metadata::MetaError| e.to_string();
    let repo = |r: &str| -> Result<berth::oci::RepositoryName, String> {
        r.parse()
            .map_err(|_| format!("{r:?} is not a valid repository name"))
    };
    match command {
        AdminCommand::Principal { command: c, .. } => match c {
            PrincipalCmd::Create {
                name,
                robot,
                with_key,
            } => {
                let kind = if robot {
                    PrincipalKind::Robot
                } else {
                    PrincipalKind::User
                };
                auth.create_principal(&name, kind)
                    .await
                    .map_err(|e| e.to_string())?;
                println!(
                    "created {} {name} ({})",
                    kind.as_str(),
                    auth.settings().principal_arn(kind, &name)
                );
                if with_key {
                    print_key(
                        &auth
                            .create_access_key(&name)
                            .await
                            .map_err(|e| e.to_string())?,
                    );
                }
            }
            PrincipalCmd::List => {
                for p in store.list_principals().await.map_err(e)? {
                    println!(
                        "{}\t{}\t{}\t{}",
                        p.name,
                        p.kind.as_str(),
                        if p.disabled { "disabled" } else { "enabled" },
                        auth.settings().principal_arn(p.kind, &p.name)
                    );
                }
            }
            PrincipalCmd::Disable { name } => found(
                store.set_principal_disabled(&name, true).await.map_err(e)?,
                format!("principal {name}"),
            )?,
            PrincipalCmd::Enable { name } => found(
                store
                    .set_principal_disabled(&name, false)
                    .await
                    .map_err(e)?,
                format!("principal {name}"),
            )?,
            PrincipalCmd::Delete { name } => found(
                store.delete_principal(&name).await.map_err(e)?,
                format!("principal {name}"),
            )?,
        },
        AdminCommand::Key { command: c, .. } => match c {
            KeyCmd::Create { principal } => print_key(
                &auth
                    .create_access_key(&principal)
                    .await
                    .map_err(|e| e.to_string())?,
            ),
            KeyCmd::List { principal } => {
                for k in store
                    .list_access_keys(principal.as_deref())
                    .await
                    .map_err(e)?
                {
                    println!(
                        "{}\t{}\t{}",
                        k.id,
                        k.principal,
                        if k.disabled { "disabled" } else { "enabled" }
                    );
                }
            }
            KeyCmd::Disable { id } => found(
                store.set_access_key_disabled(&id, true).await.map_err(e)?,
                format!("access key {id}"),
            )?,
            KeyCmd::Enable { id } => found(
                store.set_access_key_disabled(&id, false).await.map_err(e)?,
                format!("access key {id}"),
            )?,
            KeyCmd::Delete { id } => found(
                store.delete_access_key(&id).await.map_err(e)?,
                format!("access key {id}"),
            )?,
            KeyCmd::LoginPassword { id } => {
                auth.rotate_keys().await.map_err(|e| e.to_string())?;
                let (password, _) = auth
                    .login_password_for_key(&id)
                    .map_err(|e| e.to_string())?;
                println!("{password}");
            }
        },
        AdminCommand::Policy { command: c, .. } => match c {
            PolicyCmd::Attach {
                principal,
                name,
                file,
            } => {
                let doc = read_input(&file)?;
                auth.put_identity_policy(&principal, &name, &doc)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            PolicyCmd::Detach { principal, name } => found(
                store
                    .delete_identity_policy(&principal, &name)
                    .await
                    .map_err(e)?,
                format!("policy {name} on {principal}"),
            )?,
            PolicyCmd::List { principal } => {
                for p in store.list_identity_policies(&principal).await.map_err(e)? {
                    println!("{}\t{}", p.name, p.document);
                }
            }
        },
        AdminCommand::RepositoryPolicy { command: c, .. } => match c {
            RepositoryPolicyCmd::Set { repository, file } => {
                let name = repo(&repository)?;
                auth.put_resource_policy(Some(&name), &read_input(&file)?)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            RepositoryPolicyCmd::Get { repository } => {
                let doc = store
                    .get_resource_policy(repo(&repository)?.as_str())
                    .await
                    .map_err(e)?;
                println!(
                    "{}",
                    doc.ok_or_else(|| format!("repository {repository} has no policy"))?
                );
            }
            RepositoryPolicyCmd::Delete { repository } => found(
                store
                    .delete_resource_policy(repo(&repository)?.as_str())
                    .await
                    .map_err(e)?
                    .is_some(),
                format!("policy on repository {repository}"),
            )?,
        },
        AdminCommand::RegistryPolicy { command: c, .. } => match c {
            RegistryPolicyCmd::Set { file } => auth
                .put_resource_policy(None, &read_input(&file)?)
                .await
                .map_err(|e| e.to_string())?,
            RegistryPolicyCmd::Get => {
                let doc = store
                    .get_resource_policy(berth::auth::store::REGISTRY_SCOPE)
                    .await
                    .map_err(e)?;
                println!("{}", doc.ok_or("the registry has no policy")?);
            }
            RegistryPolicyCmd::Delete => found(
                store
                    .delete_resource_policy(berth::auth::store::REGISTRY_SCOPE)
                    .await
                    .map_err(e)?
                    .is_some(),
                "registry policy".into(),
            )?,
        },
        AdminCommand::Token {
            command: TokenCmd::Revoke { principal },
            ..
        } => {
            let n = store.revoke_refresh_tokens(&principal).await.map_err(e)?;
            println!("revoked {n} refresh token(s) of {principal}");
        }
        AdminCommand::Auth {
            command: AuthCmd::Unblock { address, user },
            ..
        } => {
            let target = match (address, user) {
                (Some(ip), None) => berth::auth::Unblock::Address(ip),
                (None, Some(name)) => berth::auth::Unblock::User(name),
                _ => return Err("give exactly one of --address and --user".into()),
            };
            let shown = target.to_string();
            auth.unblock(target).await.map_err(|e| e.to_string())?;
            println!("unblocked {shown}; running servers apply it within a second");
        }
    }
    Ok(())
}

/// The URL `berth healthcheck` checks by default: /readyz on the listen address, through
/// loopback when the server listens on every address.
fn readyz_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("http://{}/readyz", SocketAddr::new(ip, listen.port()))
}

/// A plain HTTP/1.1 GET (no TLS: the check runs inside the container, against loopback).
fn healthcheck(url: &str) -> Result<(), String> {
    use std::io::{Read, Write};
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// URLs are supported")?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    // No port: HTTP's.
    let target = match hostport.rsplit_once(':') {
        Some((_, port)) if !port.contains(']') => hostport.to_string(),
        _ => format!("{hostport}:80"),
    };
    let addr = std::net::ToSocketAddrs::to_socket_addrs(target.as_str())
        .map_err(|e| format!("cannot resolve {hostport}: {e}"))?
        .next()
        .ok_or_else(|| format!("{hostport} has no address"))?;
    let timeout = std::time::Duration::from_secs(5);
    let mut s = std::net::TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut head = [0u8; 64];
    let n = s.read(&mut head).map_err(|e| e.to_string())?;
    let line = String::from_utf8_lossy(&head[..n]);
    if line.starts_with("HTTP/1.1 200") || line.starts_with("HTTP/1.0 200") {
        Ok(())
    } else {
        Err(format!("not ready: {}", line.lines().next().unwrap_or("")))
    }
}

/// The log filter in effect: `RUST_LOG` when set, else `log.filter` (checked with the rest of
/// the configuration).
fn log_filter(config: &Config) -> Result<tracing_subscriber::EnvFilter, String> {
    let filter = match std::env::var_os("RUST_LOG") {
        Some(v) if !v.is_empty() => {
            let v = v
                .into_string()
                .map_err(|_| "RUST_LOG: the value is not UTF-8".to_string())?;
            berth::config::check_log_filter(&v).map_err(|e| format!("RUST_LOG: {e}"))?;
            v
        }
        _ => config.log.filter.clone(),
    };
    tracing_subscriber::EnvFilter::try_new(&filter).map_err(|e| format!("{filter:?}: {e}"))
}

/// Start logging. Lines are written to standard output by a thread of their own (one request's
/// access line must not cost the request a `write` system call); the returned guard flushes what
/// is queued when dropped, so it lives as long as the command. The queue blocks when full
/// rather than lose lines.
fn init_logging(
    config: &Config,
    filter: tracing_subscriber::EnvFilter,
) -> tracing_appender::non_blocking::WorkerGuard {
    // Colours only on a terminal: container logs and files get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("berth-log")
        .finish(std::io::stdout());
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match config.log.format {
        berth::config::LogFormat::Text => fmt.with_ansi(ansi).init(),
        berth::config::LogFormat::Json => fmt.json().init(),
    }
    guard
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

/// Exit status of a configuration that cannot be used.
const CONFIG_ERROR: u8 = 2;

/// Load the configuration; a bad one is reported here (exit status 2).
fn load_config(
    file: Option<&std::path::Path>,
    overrides: &Overrides,
) -> Result<(Config, Vec<String>), ExitCode> {
    match Config::load(file, overrides) {
        Ok(c) => {
            let names = std::env::vars_os().filter_map(|(k, _)| k.into_string().ok());
            Ok((c, berth::config::unknown_variables(names)))
        }
        Err(e) => {
            eprintln!("berth: configuration error: {e}");
            Err(ExitCode::from(CONFIG_ERROR))
        }
    }
}

/// Load the configuration and start logging (for the commands that log); logging lasts as
/// long as the returned guard.
fn load_config_and_log(
    file: Option<&std::path::Path>,
    overrides: &Overrides,
) -> Result<(Config, tracing_appender::non_blocking::WorkerGuard), ExitCode> {
    let (config, warnings) = load_config(file, overrides)?;
    let filter = log_filter(&config).map_err(|e| {
        eprintln!("berth: configuration error: {e}");
        ExitCode::from(CONFIG_ERROR)
    })?;
    let guard = init_logging(&config, filter);
    for w in warnings {
        tracing::warn!("{w}");
    }
    Ok((config, guard))
}

fn failed(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("berth: {e}");
    ExitCode::FAILURE
}

#[tokio::main]
async fn main() -> ExitCode {
    let command = match Cli::parse().command {
        Some(c) => c,
        // `berth` alone is `berth serve`, with its defaults and BERTH_CONFIG.
        None => match Cli::parse_from(["berth", "serve"]).command {
            Some(c) => c,
            None => unreachable!("`serve` parses as a command"),
        },
    };
    let result = match command {
        Command::GenerateKey => generate_key(),
        Command::Healthcheck {
            config,
            listen,
            url,
        } => check_health(config, listen, url),
        Command::Migrate { store } => migrate(&store).await,
        Command::Serve { store, listen } => serve(&store, listen).await,
        Command::Admin(command) => run_admin(command).await,
    };
    result.unwrap_or_else(|code| code)
}

fn generate_key() -> Result<ExitCode, ExitCode> {
    let k = berth::auth::crypto::ServerKey::generate_encoded().map_err(failed)?;
    println!("{k}");
    Ok(ExitCode::SUCCESS)
}

fn check_health(
    config: Option<PathBuf>,
    listen: Option<String>,
    url: Option<String>,
) -> Result<ExitCode, ExitCode> {
    let url = match url {
        Some(url) => url,
        None => {
            let overrides = Overrides {
                listen,
                data_dir: None,
            };
            let (config, warnings) = load_config(config.as_deref(), &overrides)?;
            for w in warnings {
                eprintln!("berth: warning: {w}");
            }
            readyz_url(config.listen)
        }
    };
    healthcheck(&url).map_err(|e| failed(format!("healthcheck of {url} failed: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

async fn migrate(store: &StoreArgs) -> Result<ExitCode, ExitCode> {
    let (config, _log) = load_config_and_log(store.config.as_deref(), &store.overrides())?;
    berth::open_metadata(&config).await.map_err(failed)?;
    tracing::info!(backend = ?config.metadata.backend, "metadata schema is up to date");
    Ok(ExitCode::SUCCESS)
}

async fn run_admin(command: AdminCommand) -> Result<ExitCode, ExitCode> {
    let store = command.store();
    let (config, warnings) = load_config(store.config.as_deref(), &store.overrides())?;
    for w in warnings {
        eprintln!("berth: warning: {w}");
    }
    admin(&config, command).await.map_err(failed)?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(store: &StoreArgs, listen: Option<String>) -> Result<ExitCode, ExitCode> {
    let overrides = Overrides {
        listen,
        ..store.overrides()
    };
    let (config, _log) = load_config_and_log(store.config.as_deref(), &overrides)?;
    let mut app = berth::Application::build(&config).await.map_err(failed)?;
    if let Some(k) = app.take_bootstrap_credentials() {
        // Shown once, on standard output and not through the log (logs are shipped elsewhere).
        println!(
            "\nFirst start: created the administrator \"admin\" (also written, mode 0600, to {}):\n  \
             access key id:     {}\n  secret access key: {}\n\
             Log in with: docker login {} -u {}\n",
            config.data_dir.join(berth::ADMIN_CREDENTIALS).display(),
            k.access_key_id,
            k.secret_access_key,
            app.local_addr(),
            k.access_key_id
        );
    }
    tracing::info!(
        listen = %app.local_addr(),
        metadata = ?config.metadata.backend,
        storage = ?config.storage.backend,
        "berth is serving"
    );
    app.run(shutdown_signal()).await.map_err(failed)?;
    Ok(ExitCode::SUCCESS)
}
