//! The `berth` binary: parses the command line, sets up logging, and calls the library.

use berth::config::Config;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "A self-hosted OCI container registry"
)]
struct Cli {
    /// Configuration file (TOML). `BERTH_*` environment variables override it.
    #[arg(long, global = true, env = "BERTH_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the registry (the default).
    Serve {
        /// Address to listen on (default 127.0.0.1:5000).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Data directory (default ./data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Bring the metadata schema up to date, then exit (serving does it too at start-up).
    Migrate,
    /// Exit 0 if the registry at URL reports ready (for container health checks).
    Healthcheck {
        #[arg(long, default_value = "http://127.0.0.1:5000/readyz")]
        url: String,
    },
    /// Print a new random server key (for auth.server_key / BERTH_AUTH__SERVER_KEY).
    GenerateKey,
    /// Users and robot identities.
    #[command(subcommand)]
    Principal(PrincipalCmd),
    /// Access keys (access key id + secret access key) of principals.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Identity policies attached to principals (IAM JSON).
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Repository policies (IAM JSON resource policies).
    #[command(subcommand)]
    RepositoryPolicy(RepositoryPolicyCmd),
    /// The registry policy (applies to every repository).
    #[command(subcommand)]
    RegistryPolicy(RegistryPolicyCmd),
    /// Refresh tokens.
    #[command(subcommand)]
    Token(TokenCmd),
}

#[derive(Subcommand)]
enum PrincipalCmd {
    /// Create a principal (a user, or with --robot a robot identity).
    Create {
        name: String,
        #[arg(long)]
        robot: bool,
        /// Also create an access key and print it.
        #[arg(long)]
        with_key: bool,
    },
    List,
    /// Refuse every credential and token of the principal until enabled again.
    Disable {
        name: String,
    },
    Enable {
        name: String,
    },
    /// Delete the principal, its keys, policies and refresh tokens.
    Delete {
        name: String,
    },
}

#[derive(Subcommand)]
enum KeyCmd {
    /// Create an access key for a principal; the secret is printed once.
    Create {
        principal: String,
    },
    List {
        #[arg(long)]
        principal: Option<String>,
    },
    Disable {
        id: String,
    },
    Enable {
        id: String,
    },
    Delete {
        id: String,
    },
    /// Print an ECR-style login password (user `AWS`) for the key, valid 12 hours by default.
    LoginPassword {
        id: String,
    },
}

#[derive(Subcommand)]
enum PolicyCmd {
    /// Attach (or replace) policy NAME on PRINCIPAL from FILE (`-` for standard input).
    Attach {
        principal: String,
        name: String,
        file: PathBuf,
    },
    Detach {
        principal: String,
        name: String,
    },
    /// Print the principal's policies.
    List {
        principal: String,
    },
}

#[derive(Subcommand)]
enum RepositoryPolicyCmd {
    /// Set REPOSITORY's policy from FILE (`-` for standard input).
    Set {
        repository: String,
        file: PathBuf,
    },
    Get {
        repository: String,
    },
    Delete {
        repository: String,
    },
}

#[derive(Subcommand)]
enum RegistryPolicyCmd {
    /// Set the registry policy from FILE (`-` for standard input).
    Set {
        file: PathBuf,
    },
    Get,
    Delete,
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Revoke every refresh token of a principal.
    Revoke { principal: String },
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

/// The administration commands: they work on the database directly (no server needed, and
/// safe while servers run: servers pick changes up within a second).
async fn admin(config: &Config, command: Command) -> Result<(), String> {
    use berth::auth::store::PrincipalKind;
    let auth = berth::open_auth(config).await.map_err(|e| e.to_string())?;
    let store = auth.store().clone();
    let e = |e: berth::metadata::MetaError| e.to_string();
    let repo = |r: &str| -> Result<berth::oci::RepositoryName, String> {
        r.parse()
            .map_err(|_| format!("{r:?} is not a valid repository name"))
    };
    match command {
        Command::Principal(c) => match c {
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
        Command::Key(c) => match c {
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
        Command::Policy(c) => match c {
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
        Command::RepositoryPolicy(c) => match c {
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
        Command::RegistryPolicy(c) => match c {
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
        Command::Token(TokenCmd::Revoke { principal }) => {
            let n = store.revoke_refresh_tokens(&principal).await.map_err(e)?;
            println!("revoked {n} refresh token(s) of {principal}");
        }
        _ => unreachable!("not an administration command"),
    }
    Ok(())
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
    let addr = std::net::ToSocketAddrs::to_socket_addrs(hostport)
        .map_err(|e| format!("{hostport}: {e}"))?
        .next()
        .ok_or("no address")?;
    let timeout = std::time::Duration::from_secs(5);
    let mut s = std::net::TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
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

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&config.log.filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: container logs and files get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let fmt = tracing_subscriber::fmt().with_env_filter(filter);
    match config.log.format {
        berth::config::LogFormat::Text => fmt.with_ansi(ansi).init(),
        berth::config::LogFormat::Json => fmt.json().init(),
    }
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

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berth: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let command = cli.command.unwrap_or(Command::Serve {
        listen: None,
        data_dir: None,
    });
    let (listen, data_dir) = match command {
        Command::Serve { listen, data_dir } => (listen, data_dir),
        Command::Healthcheck { url } => {
            return match healthcheck(&url) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("berth: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::GenerateKey => {
            return match berth::auth::crypto::ServerKey::generate_encoded() {
                Ok(k) => {
                    println!("{k}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("berth: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        c @ (Command::Principal(_)
        | Command::Key(_)
        | Command::Policy(_)
        | Command::RepositoryPolicy(_)
        | Command::RegistryPolicy(_)
        | Command::Token(_)) => {
            return match admin(&config, c).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("berth: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Migrate => {
            init_logging(&config);
            return match berth::open_metadata(&config).await {
                Ok(_) => {
                    tracing::info!(backend = ?config.metadata.backend, "metadata schema is up to date");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("berth: {e}");
                    ExitCode::FAILURE
                }
            };
        }
    };
    if let Some(l) = listen {
        config.listen = l;
    }
    if let Some(d) = data_dir {
        config.data_dir = d;
    }
    init_logging(&config);
    let mut app = match berth::Application::build(&config).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("berth: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(k) = app.take_bootstrap_credentials() {
        // Shown once, on standard output and not through the log (logs are shipped elsewhere).
        println!(
            "\nFirst start: created the administrator \"admin\" (also written, mode 0600, to {}):\n  \
             access key id:     {}\n  secret access key: {}\n\
             Log in with: docker login {} -u {}\n",
            config.data_dir.join("admin-credentials").display(),
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
    match app.run(shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth: {e}");
            ExitCode::FAILURE
        }
    }
}
