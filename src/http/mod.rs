//! HTTP surfaces. All share one listener: `/v2` (OCI distribution), `/token` (the Docker
//! token service), `POST /` (the Amazon ECR API, `ecr`) and the operational endpoints
//! (`ops`: `/healthz`, `/readyz`). Every request on any of them gets one access log line
//! (`access_log`) unless `log.access` is off.

pub mod access_log;
pub mod auth;
pub mod distribution;
pub mod ecr;
pub mod ops;
pub mod token;

use crate::auth::Auth;
use crate::registry::Registry;
use axum::extract::FromRef;
use axum::routing::{any, get, post};
use axum::Router;
use std::sync::Arc;

/// What every handler may reach.
#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub auth: Arc<Auth>,
    /// Whether to write the access log (`log.access`).
    pub access_log: bool,
}

impl FromRef<AppState> for Arc<Registry> {
    fn from_ref(s: &AppState) -> Self {
        s.registry.clone()
    }
}

pub fn router(state: AppState) -> Router {
    let access_log = state.access_log;
    let app = Router::new()
        .route("/v2", any(distribution::base_any))
        .route("/v2/", any(distribution::base_any))
        .route("/v2/{*rest}", any(distribution::dispatch))
        .route("/token", get(token::get_token).post(token::post_token))
        // GetDownloadUrlForLayer URLs.
        .route("/download/{token}", any(ecr::download::download))
        // The Amazon ECR API (AWS JSON 1.1, every operation a POST to /).
        .route(
            "/",
            post(ecr::handle).layer(axum::extract::DefaultBodyLimit::max(ecr::MAX_BODY)),
        )
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .with_state(state);
    if access_log {
        // Around the whole router, so that unmatched paths and refused methods are logged too.
        app.layer(axum::middleware::from_fn(access_log::layer))
    } else {
        app
    }
}
