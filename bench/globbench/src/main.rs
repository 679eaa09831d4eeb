//! How `berth::policy::glob::wildcard_match` (tag-mutability exclusions, repository filters,
//! lifecycle tag patterns) scales on the pathological inputs of the unit test
//! `policy::glob::tests::glob_pathological_inputs`, which checks only the answers: each
//! case runs on a text of N and of 2N characters. Linear matching takes about twice as long on
//! the doubled text (`_ratio` ~2); backtracking would take 4 times as long or far more.
//!
//! Prints `figure value` lines, like bench/run.sh: `glob_<case>_us` (best of `ROUNDS`, text of
//! N = 200,000 characters) and `glob_<case>_ratio` (2N over N), then `glob_max_ratio`.
use berth::policy::glob::wildcard_match;
use std::time::{Duration, Instant};

/// The unit test's cases on a text of about `n` characters: (name, pattern, text, answer).
fn cases(n: usize) -> Vec<(&'static str, String, String, bool)> {
    let a = "a".repeat(n);
    let mut almost = "ab".repeat(n / 4);
    almost.push('c');
    vec![
        ("stars_miss", "*a*a*a*a*b".into(), a.clone(), false),
        ("stars_hit", "*a*a*a*a*".into(), a.clone(), true),
        (
            "many_stars_miss",
            format!("{}b", "a*".repeat(n / 20)),
            a.clone(),
            false,
        ),
        (
            "many_stars_hit",
            format!("{}*", "a*".repeat(n / 20)),
            a,
            true,
        ),
        ("segments_hit", "*ab*ab*ab*c".into(), almost.clone(), true),
        ("segments_miss", "*ab*ab*ab*ac".into(), almost, false),
    ]
}

/// The best time of `rounds` runs of one match (checking its answer every time).
fn best(pattern: &str, text: &str, want: bool, rounds: usize) -> Duration {
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            let got = wildcard_match(std::hint::black_box(pattern), std::hint::black_box(text));
            let took = start.elapsed();
            assert_eq!(
                got,
                want,
                "wrong answer for pattern of {} chars",
                pattern.len()
            );
            took
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    let n = 200_000;
    let mut max_ratio: f64 = 0.0;
    for ((name, p1, t1, w1), (_, p2, t2, w2)) in cases(n).into_iter().zip(cases(2 * n)) {
        let one = best(&p1, &t1, w1, rounds);
        let two = best(&p2, &t2, w2, rounds);
        let ratio = two.as_secs_f64() / one.as_secs_f64().max(1e-9);
        max_ratio = max_ratio.max(ratio);
        println!("glob_{name}_us {:.1}", one.as_secs_f64() * 1e6);
        println!("glob_{name}_ratio {ratio:.2}");
    }
    println!("glob_max_ratio {max_ratio:.2}");
}
