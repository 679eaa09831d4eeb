#![allow(clippy::unwrap_used, clippy::expect_used)]
//! In-process integration tests: the real application on port 0 with a fresh data directory,
//! driven over HTTP.

mod auth;
mod distribution;
mod ecr;
mod helpers;
mod lifecycle;
mod races;
