//! The behaviour suites against the production backends, PostgreSQL and S3 (Garage). These
//! need the real servers: `scripts/test.sh` starts them and sets the variables below.
//!   BERTH_TEST_DATABASE_URL       a fresh PostgreSQL database
//!   BERTH_STORAGE__ENDPOINT, BERTH_STORAGE__REGION, BERTH_STORAGE__BUCKET,
//!   BERTH_STORAGE__ACCESS_KEY_ID, BERTH_STORAGE__SECRET_ACCESS_KEY   a Garage bucket
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod jobs;
mod metadata;
mod storage;

/// A required variable; the tests never skip silently.
pub fn require_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run scripts/test.sh, which starts PostgreSQL and Garage")
    })
}
