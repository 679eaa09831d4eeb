//! HTTP surfaces. All share one listener: `/v2` (OCI distribution), `/token` (the Docker
//! token service), `POST /` (the Amazon ECR API, `crate::http::ecr`) and the operational endpoints
//! (`/healthz`, `/readyz`). Every request on any of them gets one access log line
//! (`access_log`) unless `log.access` is off.

pub mod access_log;
pub mod auth;
pub mod distribution;
pub mod ecr;
pub mod token;

use crate::auth::Auth;
use crate::registry::Registry;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
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
        .route("/download/{token}", any(distribution::download))
        // The Amazon ECR API (AWS JSON 1.1, every operation a POST to /).
        .route(
            "/",
            post(crate::http::ecr::handle).layer(axum::extract::DefaultBodyLimit::max(
                crate::http::ecr::MAX_BODY,
            )),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(state);
    if access_log {
        // Around the whole router, so that unmatched paths and refused methods are logged too.
        app.layer(axum::middleware::from_fn(access_log::layer))
    } else {
        app
    }
}

async fn ready(State(reg): State<Arc<Registry>>) -> impl IntoResponse {
    match reg.ready().await {
        Ok(()) => (StatusCode::OK, "ready".to_owned()),
        Err((store, e)) => {
            tracing::warn!(store, error = %e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{store} unavailable"),
            )
        }
    }
}
