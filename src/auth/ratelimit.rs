//! Failed-authentication limits, per source address and per claimed principal: after `max`
//! failures within `window`, that source (or that name, from anywhere) is refused until the
//! window that started with its first failure ends. Only failures count, so legitimate traffic
//! is never slowed. State is per process.

use std::collections::HashMap;
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
}

/// Bound on tracked keys: an attacker cycling names cannot grow memory without bound.
const MAX_KEYS: usize = 100_000;

impl FailureLimiter {
    pub fn new(max: u32, window: Duration) -> Self {
        FailureLimiter {
            max: max.max(1),
            window,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Window>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// If any of `keys` is locked out now, how long until it is not.
    pub fn blocked(&self, keys: &[&str], now: Instant) -> Option<Duration> {
        let entries = self.lock();
        keys.iter()
            .filter_map(|k| entries.get(*k))
            .filter(|w| w.failures >= self.max)
            .filter_map(|w| (w.started + self.window).checked_duration_since(now))
            .filter(|d| !d.is_zero())
            .max()
    }

    /// Count a failure against every key.
    pub fn fail(&self, keys: &[&str], now: Instant) {
        let mut entries = self.lock();
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
    fn retry_after_counts_down() {
        let l = FailureLimiter::new(1, Duration::from_secs(60));
        let t0 = Instant::now();
        l.fail(&["k"], t0);
        let d = l.blocked(&["k"], t0 + Duration::from_secs(20)).unwrap();
        assert_eq!(d.as_secs(), 40);
    }
}
