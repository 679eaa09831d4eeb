//! Background work: a runner that schedules jobs, backs off when they fail, drains them on a
//! graceful shutdown, and holds a lease for each singleton job so that, however many replicas
//! run, exactly one of them runs it at a time.
//!
//! A job is a name, a [`Schedule`] and a `run_once` that does one pass and says how many items
//! it handled. The runner gives each job its own task:
//!
//! * **every replica** jobs (pull-time recording: each replica flushes what it noted; the
//!   identity reload and signing-key check, `identities`) run every `every`;
//! * **singleton** jobs (upload expiry, refresh-token expiry; later garbage collection, lifecycle runs, event
//!   delivery) run only while this runner holds the job's lease (`metadata::leases`). The runner
//!   tries to take or renew it every third of the TTL, between runs and during them; a holder
//!   that stops renewing (a crash, a partition) loses the lease after its TTL and another
//!   replica takes over, and a run whose lease cannot be renewed is cancelled at its next await
//!   point. A graceful shutdown releases the leases, so a standby takes over at once. With
//!   SQLite one process owns the data directory, so its runner always gets the lease.
//! * A failed run is logged and retried after an exponential backoff (1 s, 2 s, 4 s, … capped
//!   at the job's interval), not at full speed.
//! * `shutdown` stops scheduling, waits for the runs in progress, runs the jobs that asked for
//!   a last pass (the pulls noted since the last flush), then releases the leases.
//!
//! Long-lived listeners (the PostgreSQL cache-notification follower) are not jobs: they hold no
//! work to drain, so the runner simply stops them at shutdown.

pub mod identities;
pub mod pulls;
#[doc(hidden)]
pub mod suite; // the lease and runner behaviour suite, shared with tests/backends
pub mod uploads;

use crate::metadata::leases::Leases;
use crate::metadata::MetaError;
use crate::registry::RegistryError;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

/// How long a lease lasts unless renewed: a crashed holder's singleton jobs resume elsewhere
/// after at most this long.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);

/// The longest wait before retrying a failed run.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Which runners run a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One runner at a time across all replicas: the one holding the job's lease.
    Singleton,
    /// Every runner (work local to a replica, such as its in-memory pull notes).
    EveryReplica,
}

/// When and where a job runs.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Time between the end of one run and the start of the next (the first run starts as
    /// soon as the runner may run it).
    pub every: Duration,
    pub scope: Scope,
    /// Run once more at shutdown, after the last requests were served.
    pub run_at_shutdown: bool,
}

impl Schedule {
    /// Run by the lease holder only, every `every`.
    pub fn singleton(every: Duration) -> Schedule {
        Schedule {
            every,
            scope: Scope::Singleton,
            run_at_shutdown: false,
        }
    }

    /// Run by every runner, every `every`.
    pub fn every_replica(every: Duration) -> Schedule {
        Schedule {
            every,
            scope: Scope::EveryReplica,
            run_at_shutdown: false,
        }
    }

    /// Also run once more at shutdown.
    pub fn with_last_run(self) -> Schedule {
        Schedule {
            run_at_shutdown: true,
            ..self
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Metadata(#[from] MetaError),
    /// Boxed: the authentication error is large and rare here.
    #[error(transparent)]
    Auth(Box<crate::auth::AuthError>),
}

#[async_trait]
pub trait Job: Send + Sync + 'static {
    /// A stable name: the lease's name, and the `job` field of its log lines.
    fn name(&self) -> &'static str;
    fn schedule(&self) -> Schedule;
    /// One pass; returns how many items it handled (logged when not zero). It may be cancelled
    /// at an await point when its lease is lost, so each step must leave consistent state.
    async fn run_once(&self) -> Result<u64, JobError>;
}

/// Runs jobs until `shutdown`.
pub struct Runner {
    leases: Arc<dyn Leases>,
    holder: Arc<str>,
    ttl: Duration,
    stop: watch::Sender<bool>,
    jobs: Vec<JoinHandle<()>>,
    listeners: Vec<JoinHandle<()>>,
}

impl Runner {
    /// A runner whose singleton jobs take leases in `leases`, each lasting `ttl` unless renewed.
    /// Its holder id is random: two runners never share one.
    pub fn new(leases: Arc<dyn Leases>, ttl: Duration) -> Runner {
        Runner {
            leases,
            holder: uuid::Uuid::new_v4().to_string().into(),
            ttl: ttl.max(Duration::from_millis(30)),
            stop: watch::channel(false).0,
            jobs: Vec::new(),
            listeners: Vec::new(),
        }
    }

    /// This runner's id, as lease rows show it.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Start running `job` on its schedule.
    pub fn spawn(&mut self, job: Arc<dyn Job>) {
        let span = tracing::info_span!("job", job = job.name());
        let driver = Driver {
            job,
            leases: self.leases.clone(),
            holder: self.holder.clone(),
            ttl: self.ttl,
        };
        let stop = self.stop.subscribe();
        self.jobs
            .push(tokio::spawn(driver.drive(stop).instrument(span)));
    }

    /// Start a long-lived listener, stopped (not drained) at shutdown.
    pub fn spawn_listener(&mut self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        self.listeners.push(tokio::spawn(fut));
    }

    /// Stop scheduling, wait for the runs in progress, make the last passes, release leases.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.jobs {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "a background job panicked");
            }
        }
        for task in self.listeners {
            task.abort();
        }
    }

    /// Stop every job at once, without draining or releasing leases: what a crash does. Its
    /// leases expire after their TTL. For tests.
    pub fn abort(self) {
        for task in self.jobs.iter().chain(&self.listeners) {
            task.abort();
        }
    }
}

/// What one scheduled run came to.
enum RunOutcome {
    Done(u64),
    Failed(JobError),
    /// The lease could not be renewed during the run; the run was cancelled.
    LeaseLost,
}

struct Driver {
    job: Arc<dyn Job>,
    leases: Arc<dyn Leases>,
    holder: Arc<str>,
    ttl: Duration,
}

impl Driver {
    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX)
    }

    /// Take or renew the lease: `Ok(true)` when this runner holds it now.
    async fn renew(&self) -> Result<bool, MetaError> {
        self.leases
            .acquire_lease(
                self.job.name(),
                &self.holder,
                crate::registry::now_ms(),
                self.ttl_ms(),
            )
            .await
    }

    async fn drive(self, mut stop: watch::Receiver<bool>) {
        let schedule = self.job.schedule();
        let singleton = schedule.scope == Scope::Singleton;
        let poll = self.ttl / 3;
        let mut next_run = Instant::now();
        let mut failures: u32 = 0;
        let mut held = false;
        loop {
            let wake = if singleton {
                next_run.min(Instant::now() + poll)
            } else {
                next_run
            };
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                _ = stop.changed() => break,
            }
            if *stop.borrow() {
                break;
            }
            if singleton {
                let now_held = match self.renew().await {
                    Ok(h) => h,
                    Err(e) => {
                        // It may still be ours, but unrenewed it will not be for long: start
                        // nothing until a renewal succeeds.
                        tracing::warn!(error = %e, "cannot renew the job's lease");
                        false
                    }
                };
                if now_held != held {
                    tracing::info!(holder = %self.holder, held = now_held, "job lease {}",
                        if now_held { "taken" } else { "lost" });
                    held = now_held;
                }
                if !held {
                    continue;
                }
            }
            if Instant::now() < next_run {
                continue;
            }
            let outcome = if singleton {
                self.run_holding_lease().await
            } else {
                match self.job.run_once().await {
                    Ok(n) => RunOutcome::Done(n),
                    Err(e) => RunOutcome::Failed(e),
                }
            };
            match outcome {
                RunOutcome::Done(n) => {
                    failures = 0;
                    if n > 0 {
                        tracing::info!(items = n, "job run done");
                    } else {
                        tracing::debug!("job run done");
                    }
                    next_run = Instant::now() + schedule.every;
                }
                RunOutcome::Failed(e) => {
                    failures = failures.saturating_add(1);
                    let backoff = backoff(failures, schedule.every);
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64,
                        "job run failed");
                    next_run = Instant::now() + backoff;
                }
                RunOutcome::LeaseLost => {
                    tracing::warn!(holder = %self.holder,
                        "job lease lost during a run; the run was stopped");
                    held = false;
                }
            }
        }
        // The loop leaves only between runs: nothing is in progress any more.
        if schedule.run_at_shutdown && (!singleton || held) {
            match self.job.run_once().await {
                Ok(n) => tracing::debug!(items = n, "job's last run at shutdown done"),
                Err(e) => tracing::warn!(error = %e, "job's last run at shutdown failed"),
            }
        }
        if singleton && held {
            if let Err(e) = self
                .leases
                .release_lease(self.job.name(), &self.holder)
                .await
            {
                tracing::warn!(error = %e, "cannot release the job's lease; it expires on its own");
            }
        }
    }

    /// Run once while renewing the lease every third of its TTL; cancel the run when the lease
    /// is taken over, or when renewals fail for long enough that it may have expired.
    async fn run_holding_lease(&self) -> RunOutcome {
        let run = self.job.run_once();
        tokio::pin!(run);
        let poll = self.ttl / 3;
        let mut renewed = Instant::now();
        let mut tick = tokio::time::interval_at(Instant::now() + poll, poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                r = &mut run => return match r {
                    Ok(n) => RunOutcome::Done(n),
                    Err(e) => RunOutcome::Failed(e),
                },
                _ = tick.tick() => match self.renew().await {
                    Ok(true) => renewed = Instant::now(),
                    Ok(false) => return RunOutcome::LeaseLost,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot renew the job's lease during a run");
                        if renewed.elapsed() >= self.ttl - poll {
                            return RunOutcome::LeaseLost;
                        }
                    }
                },
            }
        }
    }
}

/// The wait before retry `failures` (1, 2, …): 1 s doubling, at most the job's interval and
/// at most `MAX_BACKOFF`.
fn backoff(failures: u32, every: Duration) -> Duration {
    let exp = Duration::from_secs(1).saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    exp.min(every).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_interval() {
        let every = Duration::from_secs(600);
        let waits: Vec<u64> = (1..=11).map(|f| backoff(f, every).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(backoff(5, Duration::from_secs(3)), Duration::from_secs(3));
        assert_eq!(backoff(u32::MAX, every), MAX_BACKOFF);
    }

    /// An every-replica job that fails its first `fail_first` runs.
    struct Flaky {
        fail_first: usize,
        attempts: std::sync::Mutex<Vec<Instant>>,
    }

    #[async_trait]
    impl Job for Flaky {
        fn name(&self) -> &'static str {
            "flaky"
        }

        fn schedule(&self) -> Schedule {
            Schedule::every_replica(Duration::from_secs(10)).with_last_run()
        }

        async fn run_once(&self) -> Result<u64, JobError> {
            let mut attempts = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
            attempts.push(Instant::now());
            if attempts.len() <= self.fail_first {
                Err(MetaError::Unavailable("down".into()).into())
            } else {
                Ok(1)
            }
        }
    }

    #[tokio::test]
    async fn failed_runs_back_off_and_shutdown_makes_a_last_run() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(crate::metadata::sqlite::SqliteStore::open_temp(dir.path()).await);
        let job = Arc::new(Flaky {
            fail_first: 2,
            attempts: Default::default(),
        });
        let mut runner = Runner::new(store, DEFAULT_LEASE_TTL);
        runner.spawn(job.clone());
        let deadline = Instant::now() + Duration::from_secs(20);
        while job.attempts.lock().unwrap().len() < 3 {
            assert!(Instant::now() < deadline, "no third attempt");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        runner.shutdown().await;
        let at = job.attempts.lock().unwrap().clone();
        // Two failures (retried after 1 s, then 2 s), a success (next run in 10 s), and the
        // last run at shutdown.
        assert_eq!(at.len(), 4, "{at:?}");
        assert!(at[1] - at[0] >= Duration::from_secs(1));
        assert!(at[2] - at[1] >= Duration::from_secs(2));
        assert!(at[3] - at[2] < Duration::from_secs(10));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_leases_pass_the_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::metadata::sqlite::SqliteStore::open_temp(dir.path()).await;
        suite::leases(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_runners_pass_the_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(crate::metadata::sqlite::SqliteStore::open_temp(dir.path()).await);
        suite::runners(store.clone(), store).await;
    }
}
