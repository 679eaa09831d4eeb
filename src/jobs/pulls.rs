//! Pull-time recording: every replica writes the pulls it noted in memory
//! (`registry::pulls`) in one batch every `FLUSH_INTERVAL`, and once more at shutdown, after
//! the last requests were served.

use super::{Job, JobError, Schedule};
use crate::registry::pulls::FLUSH_INTERVAL;
use crate::registry::Registry;
use async_trait::async_trait;
use std::sync::Arc;

pub struct PullRecording {
    pub registry: Arc<Registry>,
}

#[async_trait]
impl Job for PullRecording {
    fn name(&self) -> &'static str {
        "pull-recording"
    }

    fn schedule(&self) -> Schedule {
        Schedule::every_replica(FLUSH_INTERVAL).with_last_run()
    }

    async fn run_once(&self) -> Result<u64, JobError> {
        Ok(self.registry.flush_pulls().await? as u64)
    }
}
