//! The `berth` command line: its commands and arguments (clap), how each command loads the
//! configuration, and the commands themselves, one module per group. The binary parses the
//! arguments, provides logging and calls `run`.

mod auth;
mod healthcheck;
mod key;
mod policy;
mod principal;
mod serve;

use crate::config::{Config, Overrides};
use clap::{Args, Parser, Subcommand};
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
pub struct Cli {
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
        command: principal::PrincipalCmd,
    },
    /// Access keys (access key id + secret access key) of principals.
    Key {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        command: key::KeyCmd,
    },
    /// Identity policies attached to principals (IAM JSON).
    Policy {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        command: policy::PolicyCmd,
    },
    /// Repository policies (IAM JSON resource policies).
    RepositoryPolicy {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        command: policy::RepositoryPolicyCmd,
    },
    /// The registry policy (a resource policy that applies to every repository).
    RegistryPolicy {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        command: policy::RegistryPolicyCmd,
    },
    /// Refresh tokens.
    Token {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        command: auth::TokenCmd,
    },
    /// Failed-login lockouts.
    Auth {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        command: auth::AuthCmd,
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

/// How the commands that log (`serve`, `migrate`) start logging once their configuration is
/// loaded; the binary provides it, as the process's global subscriber is the binary's to set.
/// An error is a configuration error (a bad log filter). Logging lasts as long as the guard.
pub type StartLogging = fn(&Config) -> Result<tracing_appender::non_blocking::WorkerGuard, String>;

/// Run the command line's command (`serve` when there is none) and return the exit status.
pub async fn run(cli: Cli, start_logging: StartLogging) -> ExitCode {
    let command = match cli.command {
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
        } => healthcheck::run(config, listen, url).await,
        Command::Migrate { store } => serve::migrate(&store, start_logging).await,
        Command::Serve { store, listen } => serve::serve(&store, listen, start_logging).await,
        Command::Admin(command) => run_admin(command).await,
    };
    result.unwrap_or_else(|code| code)
}

fn generate_key() -> Result<ExitCode, ExitCode> {
    let k = crate::auth::crypto::ServerKey::generate_encoded().map_err(failed)?;
    println!("{k}");
    Ok(ExitCode::SUCCESS)
}

/// Exit status of a configuration that cannot be used.
const CONFIG_ERROR: u8 = 2;

/// Report a configuration that cannot be used (exit status 2).
fn config_error(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("berth: configuration error: {e}");
    ExitCode::from(CONFIG_ERROR)
}

/// Load the configuration; a bad one is reported here (exit status 2).
fn load_config(
    file: Option<&std::path::Path>,
    overrides: &Overrides,
) -> Result<(Config, Vec<String>), ExitCode> {
    let config = Config::load(file, overrides).map_err(config_error)?;
    let names = std::env::vars_os().filter_map(|(k, _)| k.into_string().ok());
    Ok((config, crate::config::unknown_variables(names)))
}

/// Load the configuration and start logging (for the commands that log); logging lasts as
/// long as the returned guard.
fn load_config_and_log(
    file: Option<&std::path::Path>,
    overrides: &Overrides,
    start_logging: StartLogging,
) -> Result<(Config, tracing_appender::non_blocking::WorkerGuard), ExitCode> {
    let (config, warnings) = load_config(file, overrides)?;
    let guard = start_logging(&config).map_err(config_error)?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    Ok((config, guard))
}

fn failed(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("berth: {e}");
    ExitCode::FAILURE
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

/// Run an administration command on the configured database.
async fn admin(config: &Config, command: AdminCommand) -> Result<(), String> {
    let auth = crate::open_auth(config).await.map_err(|e| e.to_string())?;
    match command {
        AdminCommand::Principal { command, .. } => principal::run(&auth, command).await,
        AdminCommand::Key { command, .. } => key::run(&auth, command).await,
        AdminCommand::Policy { command, .. } => policy::identity(&auth, command).await,
        AdminCommand::RepositoryPolicy { command, .. } => policy::repository(&auth, command).await,
        AdminCommand::RegistryPolicy { command, .. } => policy::registry(&auth, command).await,
        AdminCommand::Token { command, .. } => auth::token(&auth, command).await,
        AdminCommand::Auth { command, .. } => auth::run(&auth, command).await,
    }
}

/// A policy document from a file, or from standard input for `-`.
fn read_input(path: &std::path::Path) -> Result<String, String> {
    if path == std::path::Path::new("-") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| e.to_string())?;
        Ok(s)
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
    }
}

fn print_key(k: &crate::auth::NewKey) {
    println!("access_key_id = {}", k.access_key_id);
    println!("secret_access_key = {}", k.secret_access_key);
}

/// `no WHAT` when the command's target does not exist.
fn found(ok: bool, what: String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("no {what}"))
    }
}
