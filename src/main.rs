//! The `berth` binary: parses the command line, sets up logging, and runs the command
//! (`berth::cli`).

use berth::config::Config;
use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    berth::cli::run(berth::cli::Cli::parse(), start_logging).await
}

/// Start logging with the configuration's filter and format (`berth::cli::StartLogging`).
fn start_logging(config: &Config) -> Result<tracing_appender::non_blocking::WorkerGuard, String> {
    Ok(init_logging(config, log_filter(config)?))
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
