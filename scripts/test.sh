#!/usr/bin/env bash
# Runs every test: installs what the tests need, builds the binary, then runs the Rust unit and
# integration tests, the OCI conformance suite, the real-client tests and the crash tests
# against the built binary. Usage: scripts/test.sh   (CI runs exactly this.)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "installing test dependencies"
scripts/install-deps.sh

step "building (release)"
cargo build --release --locked

step "Rust unit and integration tests"
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --release --locked --no-fail-fast
else
  cargo test --release --locked --no-fail-fast
fi

export BERTH_BIN="$PWD/target/release/berth"
unset REGISTRY_URL

step "OCI conformance suite (conformance/)"
python3 -m pytest conformance -q -p no:cacheprovider

step "real clients (tests/clients)"
python3 -m pytest tests/clients -q -p no:cacheprovider

step "crash tests (tests/crash)"
python3 -m pytest tests/crash -q -p no:cacheprovider
