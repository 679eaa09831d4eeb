//! What goes wrong: [`AuthFailure`] when a request's credentials are refused (each surface
//! answers it in its own wire format), [`AuthError`] for everything else `Auth` does.

use super::crypto;
use crate::metadata::MetaError;
use crate::policy::iam as policy;
use std::time::Duration;

/// Why authentication failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("{0}")]
    Invalid(&'static str),
    #[error("the bearer token has expired")]
    Expired,
    #[error("too many failed authentication attempts; retry later")]
    RateLimited(Duration),
    #[error("the identity store is unavailable; retry")]
    Unavailable,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Key(#[from] crypto::KeyError),
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("invalid policy: {0}")]
    Policy(#[from] policy::PolicyError),
    #[error("{0}")]
    Invalid(String),
    /// The server key is not the one the stored secrets were sealed with.
    #[error("{0}")]
    ServerKey(String),
}
