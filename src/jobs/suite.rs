//! The lease and runner behaviour suite: run against SQLite by the unit tests and against
//! PostgreSQL (two pools, as two replicas have) by tests/backends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::{Job, JobError, Runner, Schedule};
use crate::metadata::leases::Leases;
use async_trait::async_trait;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// A name no other run of the suite uses (PostgreSQL databases are shared between tests).
fn unique(what: &str) -> &'static str {
    Box::leak(format!("{what}-{}", uuid::Uuid::new_v4()).into_boxed_str())
}

/// The lease's rules, with explicit times (no waiting).
pub async fn leases(store: &dyn Leases) {
    let name = unique("suite-lease");
    assert_eq!(store.lease(name).await.unwrap(), None);

    // Free: the first taker gets it; another cannot take it while it lasts.
    assert!(store.acquire_lease(name, "a", 1_000, 100).await.unwrap());
    assert!(!store.acquire_lease(name, "b", 1_050, 100).await.unwrap());
    // The holder renews it; the renewal keeps when it was taken.
    assert!(store.acquire_lease(name, "a", 1_050, 100).await.unwrap());
    let l = store.lease(name).await.unwrap().unwrap();
    assert_eq!(
        (l.holder.as_str(), l.expires_at, l.acquired_at),
        ("a", 1_150, 1_000)
    );
    assert!(!store.acquire_lease(name, "b", 1_149, 100).await.unwrap());

    // A holder that stops renewing loses it after its TTL.
    assert!(store.acquire_lease(name, "b", 1_150, 100).await.unwrap());
    assert!(!store.acquire_lease(name, "a", 1_160, 100).await.unwrap());
    let l = store.lease(name).await.unwrap().unwrap();
    assert_eq!(
        (l.holder.as_str(), l.expires_at, l.acquired_at),
        ("b", 1_250, 1_150)
    );

    // Only the holder releases it; released, it is free at once.
    store.release_lease(name, "a").await.unwrap();
    assert!(!store.acquire_lease(name, "a", 1_170, 100).await.unwrap());
    store.release_lease(name, "b").await.unwrap();
    assert_eq!(store.lease(name).await.unwrap(), None);
    assert!(store.acquire_lease(name, "a", 1_171, 100).await.unwrap());

    // Leases are independent of each other.
    let other = unique("suite-lease");
    assert!(store.acquire_lease(other, "b", 1_171, 100).await.unwrap());
    assert_eq!(store.lease(name).await.unwrap().unwrap().holder, "a");

    // Many takers at the same instant: exactly one wins.
    let race = unique("suite-lease-race");
    let wins = futures_util::future::join_all((0..16).map(|i| {
        let holder = format!("racer-{i}");
        async move {
            store
                .acquire_lease(race, &holder, 5_000, 1_000)
                .await
                .unwrap()
        }
    }))
    .await;
    assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{wins:?}");
}

/// What the test jobs saw.
#[derive(Default)]
struct Probe {
    running: AtomicUsize,
    most_at_once: AtomicUsize,
    /// (holder, started, finished) of each run that finished.
    runs: Mutex<Vec<(String, Instant, Instant)>>,
    cancelled: AtomicUsize,
}

impl Probe {
    fn runs(&self) -> Vec<(String, Instant, Instant)> {
        self.runs.lock().unwrap().clone()
    }
}

/// A singleton job that takes `work` per run and records it.
struct Sleeper {
    name: &'static str,
    holder: String,
    work: Duration,
    probe: Arc<Probe>,
}

/// Counts a run as in progress until dropped; a drop before `finish` is a cancelled run.
struct InProgress<'a> {
    probe: &'a Probe,
    finished: bool,
}

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        self.probe.running.fetch_sub(1, Ordering::SeqCst);
        if !self.finished {
            self.probe.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[async_trait]
impl Job for Sleeper {
    fn name(&self) -> &'static str {
        self.name
    }

    fn schedule(&self) -> Schedule {
        Schedule::singleton(Duration::from_millis(10))
    }

    async fn run_once(&self) -> Result<u64, JobError> {
        let started = Instant::now();
        let now = self.probe.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.probe.most_at_once.fetch_max(now, Ordering::SeqCst);
        let mut guard = InProgress {
            probe: &self.probe,
            finished: false,
        };
        tokio::time::sleep(self.work).await;
        guard.finished = true;
        drop(guard);
        self.probe
            .runs
            .lock()
            .unwrap()
            .push((self.holder.clone(), started, Instant::now()));
        Ok(1)
    }
}

fn runner(leases: &Arc<dyn Leases>, ttl: Duration) -> Runner {
    Runner::new(leases.clone(), ttl)
}

fn spawn(r: &mut Runner, name: &'static str, work: Duration, probe: &Arc<Probe>) {
    let job = Sleeper {
        name,
        holder: r.holder().to_owned(),
        work,
        probe: probe.clone(),
    };
    r.spawn(Arc::new(job));
}

/// Wait (polling, at most 20 s) until `done` holds.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Two runners (each on its own store handle, as two replicas) sharing singleton jobs.
pub async fn runners(a: Arc<dyn Leases>, b: Arc<dyn Leases>) {
    let ttl = Duration::from_millis(600);

    // Two runners, one holder: only one of them ever runs the job while both are alive.
    let name = unique("suite-job");
    let probe = Arc::new(Probe::default());
    let mut first = runner(&a, ttl);
    let mut second = runner(&b, ttl);
    spawn(&mut first, name, Duration::from_millis(20), &probe);
    spawn(&mut second, name, Duration::from_millis(20), &probe);
    until("20 runs", || probe.runs().len() >= 20).await;
    let runs = probe.runs();
    let holder = runs[0].0.clone();
    assert!(
        runs.iter().all(|r| r.0 == holder),
        "both runners ran the singleton job"
    );
    assert_eq!(probe.most_at_once.load(Ordering::SeqCst), 1);
    let (dead, survivor) = if holder == first.holder() {
        (first, second)
    } else {
        (second, first)
    };

    // A holder that stops renewing (a crash) loses the lease after its TTL; the other runner
    // takes over, and not before the lease expired.
    let lease = a.lease(name).await.unwrap().unwrap();
    assert_eq!(lease.holder, holder);
    let crashed = Instant::now();
    let crashed_ms = crate::registry::now_ms();
    dead.abort();
    let survivor_id = survivor.holder().to_owned();
    until("the survivor runs the job", || {
        probe.runs().iter().any(|r| r.0 == survivor_id)
    })
    .await;
    let takeover = probe
        .runs()
        .iter()
        .find(|r| r.0 == survivor_id)
        .map(|r| r.1)
        .unwrap();
    let lease_left =
        Duration::from_millis(u64::try_from(lease.expires_at - crashed_ms).unwrap_or(0));
    assert!(
        takeover >= crashed + lease_left.saturating_sub(Duration::from_millis(50)),
        "taken over {:?} after the crash, while the lease had {lease_left:?} left",
        takeover - crashed
    );
    assert_eq!(probe.most_at_once.load(Ordering::SeqCst), 1);
    assert_eq!(b.lease(name).await.unwrap().unwrap().holder, survivor_id);

    // A graceful shutdown drains the run in progress and releases the lease at once.
    let name = unique("suite-drain");
    let probe = Arc::new(Probe::default());
    let mut draining = runner(&a, ttl);
    spawn(&mut draining, name, Duration::from_millis(300), &probe);
    until("a run in progress", || {
        probe.running.load(Ordering::SeqCst) == 1
    })
    .await;
    draining.shutdown().await;
    assert_eq!(probe.running.load(Ordering::SeqCst), 0);
    assert_eq!(probe.runs().len(), 1, "the run in progress finished");
    assert_eq!(probe.cancelled.load(Ordering::SeqCst), 0);
    assert_eq!(a.lease(name).await.unwrap(), None, "released at shutdown");

    // A holder whose lease is taken over during a run stops that run.
    let name = unique("suite-lost");
    let probe = Arc::new(Probe::default());
    let mut losing = runner(&a, ttl);
    spawn(&mut losing, name, Duration::from_secs(30), &probe);
    until("a run in progress", || {
        probe.running.load(Ordering::SeqCst) == 1
    })
    .await;
    let holder = losing.holder().to_owned();
    b.release_lease(name, &holder).await.unwrap();
    assert!(b
        .acquire_lease(name, "intruder", crate::registry::now_ms(), 60_000)
        .await
        .unwrap());
    until("the run is cancelled", || {
        probe.cancelled.load(Ordering::SeqCst) == 1
    })
    .await;
    assert!(probe.runs().is_empty());
    losing.shutdown().await;
    assert_eq!(
        b.lease(name).await.unwrap().unwrap().holder,
        "intruder",
        "a runner never releases a lease it lost"
    );
    survivor.shutdown().await;
}
