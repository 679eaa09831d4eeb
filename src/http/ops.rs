//! Operational endpoints: `GET /healthz` (the process is up) and `GET /readyz` (the metadata
//! and blob stores answer; otherwise `503` naming the one that does not). Metrics come here too.

use crate::registry::Registry;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use std::sync::Arc;

/// `GET /healthz`.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`.
pub async fn readyz(State(reg): State<Arc<Registry>>) -> impl IntoResponse {
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
