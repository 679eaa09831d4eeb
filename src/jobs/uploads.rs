//! Upload expiry: discard uploads idle for longer than `registry.upload_expiry_secs` (their
//! rows and the bytes the blob store holds for them). A singleton: one replica sweeps at a time.

use super::{Job, JobError, Schedule};
use crate::registry::Registry;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// How often idle uploads are looked for.
pub const EVERY: Duration = Duration::from_secs(600);

pub struct UploadExpiry {
    pub registry: Arc<Registry>,
}

#[async_trait]
impl Job for UploadExpiry {
    fn name(&self) -> &'static str {
        "upload-expiry"
    }

    fn schedule(&self) -> Schedule {
        Schedule::singleton(EVERY)
    }

    async fn run_once(&self) -> Result<u64, JobError> {
        Ok(self.registry.expire_uploads().await? as u64)
    }
}
