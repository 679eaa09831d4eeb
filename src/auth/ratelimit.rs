//! Failed-authentication limits, per source address and per claimed principal: after `max`
//! failures within `window`, that source (or that name, from anywhere) is refused until the
//! window that started with its first failure ends. Only failures count, so legitimate traffic
//! is never slowed. State is per process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Window {
    started: Instant,
    failures: u32,
}

pub struct FailureLimiter {
    max: u32,
    window: Duration,
    entries: Mutex<HashMap<String, Window>>,
    /// True while `entries` may be non-empty: lets the hot path skip the lock entirely.
    busy: AtomicBool,
}

/// Bound on tracked keys: an attacker cycling names cannot grow memory without bound.
const MAX_KEYS: usize = 100_000;

impl FailureLimiter {
    pub fn new(max: u32, window: Duration) -> Self {
        FailureLimiter {
            max: max.max(1),
            window,
            entries: Mutex::new(HashMap::new()),
            busy: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Window>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// No failure is being tracked anywhere (nothing can be locked out).
    pub fn is_idle(&self) -> bool {
        !self.busy.load(Ordering::Acquire)
    }

    /// If any of `keys` is locked out now, how long until it is not.
    pub fn blocked(&self, keys: &[&str], now: Instant) -> Option<Duration> {
        let mut entries = self.lock();
        // Forget windows that have ended (cheaply, while few are tracked; `prune` does the
        // rest); once nothing is left the hot path is lock-free again.
        if entries.len() <= 64 {
            Self::forget_ended(&mut entries, self.window, now, &self.busy);
        }
        keys.iter()
            .filter_map(|k| entries.get(*k))
            .filter(|w| w.failures >= self.max)
            .filter_map(|w| (w.started + self.window).checked_duration_since(now))
            .filter(|d| !d.is_zero())
            .max()
    }

    /// Forget every window that has ended (called periodically).
    pub fn prune(&self, now: Instant) {
        let mut entries = self.lock();
        Self::forget_ended(&mut entries, self.window, now, &self.busy);
    }

    fn forget_ended(
        entries: &mut HashMap<String, Window>,
        window: Duration,
        now: Instant,
        busy: &AtomicBool,
    ) {
        entries.retain(|_, w| now.duration_since(w.started) < window);
        if entries.is_empty() {
            busy.store(false, Ordering::Release);
        }
    }

    /// Count a failure against every key.
    pub fn fail(&self, keys: &[&str], now: Instant) {
        let mut entries = self.lock();
        self.busy.store(true, Ordering::Release);
        if entries.len() >= MAX_KEYS {
            let window = self.window;
            entries.retain(|_, w| now.duration_since(w.started) < window);
            if entries.len() >= MAX_KEYS {
                entries.clear();
            }
        }
        for k in keys {
            let w = entries.entry((*k).to_owned()).or_insert(Window {
                started: now,
                failures: 0,
            });
            if now.duration_since(w.started) >= self.window {
                *w = Window {
                    started: now,
                    failures: 0,
                };
            }
            w.failures = w.failures.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_out_after_max_failures_until_the_window_ends() {
        let l = FailureLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(l.blocked(&["ip:1", "user:a"], t0), None, "attempt {i}");
            l.fail(&["ip:1", "user:a"], t0);
        }
        assert!(l.blocked(&["ip:1"], t0).is_some());
        // The name is locked from any source, and the source for any name.
        assert!(l.blocked(&["ip:2", "user:a"], t0).is_some());
        assert!(l.blocked(&["ip:1", "user:b"], t0).is_some());
        assert_eq!(l.blocked(&["ip:2", "user:b"], t0), None);
        let later = t0 + Duration::from_secs(61);
        assert_eq!(l.blocked(&["ip:1", "user:a"], later), None);
        l.fail(&["ip:1"], later);
        assert_eq!(l.blocked(&["ip:1"], later), None, "a new window starts");
    }

    #[test]
    fn idle_until_a_failure_and_again_once_windows_end() {
        let l = FailureLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(l.is_idle());
        l.fail(&["ip:1"], t0);
        assert!(!l.is_idle());
        assert_eq!(l.blocked(&["ip:1"], t0 + Duration::from_secs(30)), None);
        assert!(!l.is_idle(), "the window is still open");
        l.prune(t0 + Duration::from_secs(61));
        assert!(l.is_idle());
    }

    #[test]
    fn retry_after_counts_down() {
        let l = FailureLimiter::new(1, Duration::from_secs(60));
        let t0 = Instant::now();
        l.fail(&["k"], t0);
        let d = l.blocked(&["k"], t0 + Duration::from_secs(20)).unwrap();
        assert_eq!(d.as_secs(), 40);
    }
}
