//! `berth serve` and `berth migrate`: the commands that open the stores and log.

use super::{config_error, failed, load_config_and_log, StartLogging, StoreArgs};
use crate::config::Overrides;
use crate::{Application, StartError, ADMIN_CREDENTIALS};
use std::process::ExitCode;

pub(super) async fn migrate(
    store: &StoreArgs,
    start_logging: StartLogging,
) -> Result<ExitCode, ExitCode> {
    let (config, _log) =
        load_config_and_log(store.config.as_deref(), &store.overrides(), start_logging)?;
    crate::open_metadata(&config).await.map_err(failed)?;
    tracing::info!(backend = ?config.metadata.backend, "metadata schema is up to date");
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn serve(
    store: &StoreArgs,
    listen: Option<String>,
    start_logging: StartLogging,
) -> Result<ExitCode, ExitCode> {
    let overrides = Overrides {
        listen,
        ..store.overrides()
    };
    let (config, _log) = load_config_and_log(store.config.as_deref(), &overrides, start_logging)?;
    let mut app = Application::build(&config).await.map_err(|e| match e {
        // A listen address that does not resolve is the configuration's fault (exit status 2).
        StartError::ListenAddress(e) => config_error(e),
        e => failed(e),
    })?;
    if let Some(k) = app.take_bootstrap_credentials() {
        // Shown once, on standard output and not through the log (logs are shipped elsewhere).
        println!(
            "\nFirst start: created the administrator \"admin\" (also written, mode 0600, to {}):\n  \
             access key id:     {}\n  secret access key: {}\n\
             Log in with: docker login {} -u {}\n",
            config.data_dir.join(ADMIN_CREDENTIALS).display(),
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
