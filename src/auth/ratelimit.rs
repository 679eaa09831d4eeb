//! Failed-authentication limits.
//!
//! An access key id is not a secret, so no limit may let someone who knows one lock its owner
//! out. Failures are counted against three kinds of [`Key`] in one window that starts with the
//! first failure and lasts `window`:
//!
//! - **a source and a claimed name** (`max` failures): that source is refused for that name,
//!   even with the right secret. Only the guesser's own address suffers.
//! - **a source** (`AGGREGATE` × `max` failures, any names): that source is refused for
//!   everything, so cycling names does not buy more guesses.
//! - **a name, from every source** (`AGGREGATE` × `max`): wrong secrets for that name are answered
//!   `429` (possible distributed guessing), but [`FailureLimiter::blocked`] is never asked about
//!   this key before a secret is checked: the right secret always gets in.
//!
//! A limit that lets the right secret through cannot stop guessing; that is why the limits
//! that refuse are keyed by the source. Only failures count, so legitimate traffic is never
//! slowed. State is per process; `berth auth unblock` clears it on every server through the
//! database (see [`super::Auth::unblock`]).

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The per-source and per-name limits are this many times `max_failures`.
pub const AGGREGATE: u32 = 5;

/// Longest claimed name tracked (longer ones are cut): bounds memory per key.
const MAX_NAME: usize = 128;

/// Where a request came from, as the limits count it: an IPv4 address, or the /64 network of
/// an IPv6 address (one host commonly holds a whole /64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl Source {
    pub fn of(ip: IpAddr) -> Source {
        match ip {
            IpAddr::V4(_) => Source(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source(IpAddr::V4(v4)),
                None => {
                    let s = v6.segments();
                    Source(IpAddr::V6(Ipv6Addr::new(
                        s[0], s[1], s[2], s[3], 0, 0, 0, 0,
                    )))
                }
            },
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(a) => write!(f, "{a}"),
            IpAddr::V6(a) => write!(f, "{a}/64"),
        }
    }
}

/// A claimed name as the limits track it (cut to a bounded length).
pub fn name_key(name: &str) -> Box<str> {
    match name.char_indices().nth(MAX_NAME) {
        Some((cut, _)) => name[..cut].into(),
        None => name.into(),
    }
}

/// What failures are counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// Every failure from one source.
    Source(Source),
    /// Failures from one source claiming one name (an access key id or a principal name), or
    /// (`None`) presenting credentials this registry issued: login passwords and tokens.
    SourceName(Source, Option<Box<str>>),
    /// Failures claiming one name, from every source.
    Name(Box<str>),
}

impl Key {
    pub fn limit(&self) -> Limit {
        match self {
            Key::Source(_) => Limit::Source,
            Key::SourceName(..) => Limit::SourceName,
            Key::Name(_) => Limit::Name,
        }
    }
}

/// Which limit a key counts towards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Source,
    SourceName,
    Name,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Source => "per source address",
            Limit::SourceName => "per source address and user name",
            Limit::Name => "per user name",
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Failures allowed per window, per kind of key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub source_name: u32,
    pub source: u32,
    pub name: u32,
}

impl Limits {
    /// `max` per source and name; [`AGGREGATE`] times that per source and per name.
    pub fn from_max(max: u32) -> Limits {
        let max = max.max(1);
        Limits {
            source_name: max,
            source: max.saturating_mul(AGGREGATE),
            name: max.saturating_mul(AGGREGATE),
        }
    }

    fn of(&self, limit: Limit) -> u32 {
        match limit {
            Limit::Source => self.source,
            Limit::SourceName => self.source_name,
            Limit::Name => self.name,
        }
    }
}

struct Window {
    started: Instant,
    failures: u32,
}

pub struct FailureLimiter {
    limits: Limits,
    window: Duration,
    entries: Mutex<HashMap<Key, Window>>,
    /// True while `entries` may be non-empty: lets the hot path skip the lock entirely.
    busy: AtomicBool,
}

/// Bound on tracked keys: an attacker cycling names cannot grow memory without bound.
const MAX_KEYS: usize = 100_000;

impl FailureLimiter {
    pub fn new(limits: Limits, window: Duration) -> Self {
        FailureLimiter {
            limits,
            window,
            entries: Mutex::new(HashMap::new()),
            busy: AtomicBool::new(false),
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Window>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// No failure is being tracked anywhere (nothing can be locked out).
    pub fn is_idle(&self) -> bool {
        !self.busy.load(Ordering::Acquire)
    }

    /// If any of `keys` is over its limit now: the limit, and how long until it is not (the
    /// longest of them).
    pub fn blocked(&self, keys: &[Key], now: Instant) -> Option<(Limit, Duration)> {
        let mut entries = self.lock();
        // Forget windows that have ended (cheaply, while few are tracked; `prune` does the
        // rest); once nothing is left the hot path is lock-free again.
        if entries.len() <= 64 {
            Self::forget_ended(&mut entries, self.window, now, &self.busy);
        }
        keys.iter()
            .filter_map(|k| Some((k.limit(), entries.get(k)?)))
            .filter(|(limit, w)| w.failures >= self.limits.of(*limit))
            .filter_map(|(limit, w)| {
                let left = (w.started + self.window).checked_duration_since(now)?;
                (!left.is_zero()).then_some((limit, left))
            })
            .max_by_key(|(_, left)| *left)
    }

    /// Forget every window that has ended (called periodically).
    pub fn prune(&self, now: Instant) {
        let mut entries = self.lock();
        Self::forget_ended(&mut entries, self.window, now, &self.busy);
    }

    fn forget_ended(
        entries: &mut HashMap<Key, Window>,
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
    pub fn fail(&self, keys: &[Key], now: Instant) {
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
            let w = entries.entry(k.clone()).or_insert(Window {
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

    /// Forget every failure from `source` (under any name); the number of keys cleared.
    pub fn unblock_source(&self, source: Source) -> usize {
        self.forget(|k| match k {
            Key::Source(s) | Key::SourceName(s, _) => *s == source,
            Key::Name(_) => false,
        })
    }

    /// Forget every failure claiming any of `names` (from any source); the number of keys
    /// cleared.
    pub fn unblock_names(&self, names: &[&str]) -> usize {
        let names: Vec<Box<str>> = names.iter().map(|n| name_key(n)).collect();
        self.forget(|k| match k {
            Key::Name(n) | Key::SourceName(_, Some(n)) => names.contains(n),
            Key::SourceName(_, None) | Key::Source(_) => false,
        })
    }

    fn forget(&self, matches: impl Fn(&Key) -> bool) -> usize {
        let mut entries = self.lock();
        let before = entries.len();
        entries.retain(|k, _| !matches(k));
        if entries.is_empty() {
            self.busy.store(false, Ordering::Release);
        }
        before - entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(ip: &str) -> Source {
        Source::of(ip.parse().unwrap())
    }

    fn pair(ip: &str, name: &str) -> Key {
        Key::SourceName(src(ip), Some(name.into()))
    }

    fn name(n: &str) -> Key {
        Key::Name(n.into())
    }

    /// The keys a failed login of `user` from `ip` counts against.
    fn login(ip: &str, user: &str) -> [Key; 3] {
        [Key::Source(src(ip)), pair(ip, user), name(user)]
    }

    /// The keys checked before a login's secret is (never the per-name key).
    fn before(ip: &str, user: &str) -> [Key; 2] {
        [Key::Source(src(ip)), pair(ip, user)]
    }

    fn limiter(max: u32) -> FailureLimiter {
        FailureLimiter::new(Limits::from_max(max), Duration::from_secs(60))
    }

    #[test]
    fn a_guesser_locks_out_only_its_own_address_for_that_name() {
        let l = limiter(3);
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(
                l.blocked(&before("10.0.0.2", "alice"), t0),
                None,
                "attempt {i}"
            );
            l.fail(&login("10.0.0.2", "alice"), t0);
        }
        let (limit, _) = l.blocked(&before("10.0.0.2", "alice"), t0).unwrap();
        assert_eq!(limit, Limit::SourceName);
        // The owner elsewhere, and other names from the guessing address, are not refused.
        assert_eq!(l.blocked(&before("10.0.0.3", "alice"), t0), None);
        assert_eq!(l.blocked(&before("10.0.0.2", "bob"), t0), None);
        let later = t0 + Duration::from_secs(61);
        assert_eq!(l.blocked(&before("10.0.0.2", "alice"), later), None);
        l.fail(&login("10.0.0.2", "alice"), later);
        assert_eq!(
            l.blocked(&before("10.0.0.2", "alice"), later),
            None,
            "a new window starts"
        );
    }

    #[test]
    fn cycling_names_trips_the_per_source_limit() {
        let l = limiter(3);
        let t0 = Instant::now();
        for i in 0..15 {
            let user = format!("user{i}");
            assert_eq!(
                l.blocked(&before("10.0.0.4", &user), t0),
                None,
                "attempt {i}"
            );
            l.fail(&login("10.0.0.4", &user), t0);
        }
        let (limit, _) = l.blocked(&before("10.0.0.4", "admin"), t0).unwrap();
        assert_eq!(limit, Limit::Source);
        assert_eq!(l.blocked(&before("10.0.0.5", "admin"), t0), None);
    }

    #[test]
    fn the_per_name_limit_counts_every_source() {
        let l = limiter(3);
        let t0 = Instant::now();
        for i in 0..15 {
            l.fail(&login(&format!("10.0.1.{}", i / 3), "alice"), t0);
        }
        assert_eq!(
            l.blocked(&[name("alice")], t0).map(|b| b.0),
            Some(Limit::Name)
        );
        // What is checked before a secret is never the per-name key.
        assert_eq!(l.blocked(&before("10.0.2.1", "alice"), t0), None);
    }

    #[test]
    fn ipv6_sources_are_counted_per_64() {
        let l = limiter(1);
        let t0 = Instant::now();
        l.fail(&login("2001:db8:1:2::5", "alice"), t0);
        assert!(l
            .blocked(&before("2001:db8:1:2:ffff::9", "alice"), t0)
            .is_some());
        assert_eq!(l.blocked(&before("2001:db8:1:3::5", "alice"), t0), None);
        assert_eq!(src("2001:db8:1:2::5").to_string(), "2001:db8:1:2::/64");
        assert_eq!(src("::ffff:10.1.2.3"), src("10.1.2.3"));
    }

    #[test]
    fn unblock_by_source_or_name() {
        let l = limiter(1);
        let t0 = Instant::now();
        for _ in 0..AGGREGATE {
            l.fail(&login("10.0.0.2", "alice"), t0);
        }
        l.fail(&login("10.0.0.3", "bob"), t0);
        let issued = Key::SourceName(src("10.0.0.3"), None);
        l.fail(&[Key::Source(src("10.0.0.3")), issued.clone()], t0);
        assert_eq!(l.unblock_source(src("10.0.0.2")), 2);
        assert_eq!(l.blocked(&before("10.0.0.2", "alice"), t0), None);
        assert!(l.blocked(&[name("alice")], t0).is_some(), "not the name");
        assert_eq!(l.unblock_names(&["alice", "bob"]), 3);
        assert_eq!(l.blocked(&[name("alice")], t0), None);
        assert_eq!(l.blocked(&before("10.0.0.3", "bob"), t0), None);
        assert!(l.blocked(&[issued], t0).is_some(), "not other claims");
        assert_eq!(l.unblock_source(src("10.0.0.3")), 2);
        assert!(l.is_idle());
    }

    #[test]
    fn idle_until_a_failure_and_again_once_windows_end() {
        let l = limiter(3);
        let t0 = Instant::now();
        assert!(l.is_idle());
        l.fail(&[Key::Source(src("10.0.0.1"))], t0);
        assert!(!l.is_idle());
        let keys = [Key::Source(src("10.0.0.1"))];
        assert_eq!(l.blocked(&keys, t0 + Duration::from_secs(30)), None);
        assert!(!l.is_idle(), "the window is still open");
        l.prune(t0 + Duration::from_secs(61));
        assert!(l.is_idle());
    }

    #[test]
    fn retry_after_counts_down() {
        let l = limiter(1);
        let t0 = Instant::now();
        l.fail(&login("10.0.0.1", "k"), t0);
        let (_, d) = l
            .blocked(&before("10.0.0.1", "k"), t0 + Duration::from_secs(20))
            .unwrap();
        assert_eq!(d.as_secs(), 40);
    }

    #[test]
    fn long_names_are_cut() {
        let long = "x".repeat(1000);
        assert_eq!(name_key(&long).len(), MAX_NAME);
        assert_eq!(&*name_key("é".repeat(200).as_str()), "é".repeat(128));
    }
}
