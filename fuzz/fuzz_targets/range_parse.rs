//! libFuzzer entry point of `range_parse`. The target itself (input layout, checks) is
//! `fuzz/targets/range_parse.rs`, shared with `tests/fuzz_seeds.rs`, which replays the committed
//! seeds through it under `cargo test`.
#![no_main]

#[path = "../targets/range_parse.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
