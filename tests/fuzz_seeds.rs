//! Replays the committed fuzz corpora (`fuzz/seeds/<target>/*`, including the `crash-*`
//! reproducers of bugs fuzzing found) through the fuzz targets' own code (`fuzz/targets/*.rs`,
//! which the libFuzzer entry points in `fuzz/fuzz_targets/` call too), so that `cargo test`
//! keeps every fixed crash fixed and every seed passing the targets' checks, with neither a
//! nightly toolchain nor cargo-fuzz.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

#[path = "../fuzz/targets/auth_parse.rs"]
mod auth_parse;
#[path = "../fuzz/targets/digest_name_parse.rs"]
mod digest_name_parse;
#[path = "../fuzz/targets/endpoint_parse.rs"]
mod endpoint_parse;
#[path = "../fuzz/targets/manifest_parse.rs"]
mod manifest_parse;
#[path = "../fuzz/targets/policy_parse.rs"]
mod policy_parse;
#[path = "../fuzz/targets/range_parse.rs"]
mod range_parse;

/// A target's name (of its entry point in `fuzz/fuzz_targets/`) and its `run`.
type Target = (&'static str, fn(&[u8]));

/// Every target.
const TARGETS: &[Target] = &[
    ("auth_parse", auth_parse::run),
    ("digest_name_parse", digest_name_parse::run),
    ("endpoint_parse", endpoint_parse::run),
    ("manifest_parse", manifest_parse::run),
    ("policy_parse", policy_parse::run),
    ("range_parse", range_parse::run),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files directly in `dir`, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Run every seed of `target` through `run`; fail naming each seed that panicked.
fn replay(target: &str) {
    let run = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, run)| *run)
        .expect("a known target");
    let seeds = files(&fuzz_dir().join("seeds").join(target));
    assert!(!seeds.is_empty(), "no seeds for {target}");
    let failed: Vec<String> = seeds
        .iter()
        .filter(|seed| {
            let data = std::fs::read(seed).unwrap();
            // The panic message (the violated invariant) is printed by the panic hook.
            std::panic::catch_unwind(|| run(&data)).is_err()
        })
        .map(|seed| seed.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{target}: {} of {} seeds fail the target: {failed:?}",
        failed.len(),
        seeds.len()
    );
}

#[test]
fn auth_parse_seeds() {
    replay("auth_parse");
}

#[test]
fn digest_name_parse_seeds() {
    replay("digest_name_parse");
}

#[test]
fn endpoint_parse_seeds() {
    replay("endpoint_parse");
}

#[test]
fn manifest_parse_seeds() {
    replay("manifest_parse");
}

#[test]
fn policy_parse_seeds() {
    replay("policy_parse");
}

#[test]
fn range_parse_seeds() {
    replay("range_parse");
}

/// A target added to the fuzz crate, or a seed directory without its target, is noticed here
/// rather than silently never replayed.
#[test]
fn every_target_and_seed_directory_is_replayed() {
    let mut replayed: Vec<&str> = TARGETS.iter().map(|(name, _)| *name).collect();
    replayed.sort_unstable();
    let stems = |dir: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(fuzz_dir().join(dir))
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                p.file_stem().unwrap().to_string_lossy().into_owned()
            })
            .collect();
        v.sort_unstable();
        v
    };
    assert_eq!(stems("fuzz_targets"), replayed, "fuzz/fuzz_targets");
    assert_eq!(stems("targets"), replayed, "fuzz/targets");
    assert_eq!(stems("seeds"), replayed, "fuzz/seeds");
}
