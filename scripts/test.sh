#!/usr/bin/env bash
# Runs every test: installs what the tests need, builds the binary, starts PostgreSQL and a
# Garage S3 server, then runs the Rust unit and integration tests (including the behaviour
# suites against PostgreSQL and S3), the OCI conformance suite, the real-client tests,
# the authentication suite, the ECR API suite (boto3, aws CLI) and the crash tests against both
# deployments (embedded: SQLite + files; production: PostgreSQL + Garage), and the availability
# tests (replicas, a three-node Garage cluster, database and object-store faults).
# Usage: scripts/test.sh   (CI runs exactly this.)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "installing test dependencies"
scripts/install-deps.sh

step "building (release)"
cargo build --release --locked

step "starting PostgreSQL and Garage"
BERTH_TEST_DATABASE_URL=$(scripts/postgres.sh start | tail -n 1)
export BERTH_TEST_DATABASE_URL
GARAGE_DIR=$(mktemp -d /tmp/berth-garage.XXXXXX)
cleanup() { scripts/garage.sh stop "$GARAGE_DIR" >/dev/null 2>&1 || true; rm -rf "$GARAGE_DIR"; }
trap cleanup EXIT
scripts/garage.sh single "$GARAGE_DIR" >/dev/null
# shellcheck disable=SC1091
source "$GARAGE_DIR/env"
echo "PostgreSQL: fresh database; Garage: $BERTH_STORAGE__ENDPOINT bucket $BERTH_STORAGE__BUCKET"

step "Rust unit and integration tests (SQLite, filesystem, PostgreSQL, S3)"
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --release --locked --no-fail-fast
else
  cargo test --release --locked --no-fail-fast
fi

export BERTH_BIN="$PWD/target/release/berth"
unset REGISTRY_URL
PYTEST=(python3 -m pytest -q -p no:cacheprovider)

for deployment in embedded production; do
  export BERTH_TEST_DEPLOYMENT=$deployment
  step "OCI conformance suite (conformance/), $deployment deployment"
  "${PYTEST[@]}" conformance
  step "real clients (tests/clients), $deployment deployment"
  "${PYTEST[@]}" tests/clients
  step "authentication and authorization (tests/auth), $deployment deployment"
  "${PYTEST[@]}" tests/auth
  step "Amazon ECR API with boto3 and the aws CLI (tests/ecr), $deployment deployment"
  "${PYTEST[@]}" tests/ecr
  step "crash tests (tests/crash), $deployment deployment"
  "${PYTEST[@]}" tests/crash
done
unset BERTH_TEST_DEPLOYMENT

step "availability and fault tests (tests/availability)"
"${PYTEST[@]}" tests/availability

step "service scripts and packaging (tests/services, tests/packaging)"
"${PYTEST[@]}" tests/services tests/packaging
