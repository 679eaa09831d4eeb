//! HTTP surfaces. All share one listener: `/v2` (OCI distribution) and the operational
//! endpoints (`/healthz`, `/readyz`).

pub mod distribution;

use crate::registry::Registry;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{any, get};
use axum::Router;
use std::sync::Arc;

pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/v2", any(distribution::base_any))
        .route("/v2/", any(distribution::base_any))
        .route("/v2/{*rest}", any(distribution::dispatch))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(registry)
}

async fn ready(State(reg): State<Arc<Registry>>) -> impl IntoResponse {
    match reg.ready().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "metadata store unavailable",
            )
        }
    }
}
