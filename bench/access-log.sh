#!/usr/bin/env bash
# The cost of the access log on the hot path: manifest GET by tag at concurrency 32 (wrk), one
# binary, authentication off, log filter `info`, the log written to a file as a service manager
# would: log.access = true (one line per request) vs false. Passes alternate between the servers.
#   LOAD_S=10 CONC=32 PASSES=3 bench/access-log.sh
# Needs: curl wrk python3; BERTH_BIN (default target/release/berth).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BERTH_BIN=${BERTH_BIN:-$REPO/target/release/berth}
LOAD_S=${LOAD_S:-10}; CONC=${CONC:-32}; PASSES=${PASSES:-3}
[ -x "$BERTH_BIN" ] || { echo "no berth binary at $BERTH_BIN (cargo build --release)" >&2; exit 1; }
for t in curl wrk python3; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 1; }; done
WORK=$(mktemp -d /tmp/berth-bench-access.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
# shellcheck source=lib-manifest-load.sh
source "$REPO/bench/lib-manifest-load.sh"
ACC="application/vnd.oci.image.manifest.v1+json"

start() { # start NAME ACCESS -> prints URL
  local name=$1 access=$2 port; port=$(free_port)
  BERTH_AUTH__ENABLED=false BERTH_LOG__FILTER=info BERTH_LOG__ACCESS=$access "$BERTH_BIN" serve \
    --listen "127.0.0.1:$port" --data-dir "$WORK/$name" > "$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  echo "http://127.0.0.1:$port"
}

OFF=$(start off false); ON=$(start on true)
push "$OFF"; push "$ON"
declare -A SUM=([off]=0 [on]=0)
printf '%-6s %12s %12s\n' pass off_rps on_rps
for p in $(seq "$PASSES"); do
  off=$(load "$OFF" ""); on=$(load "$ON" "")
  printf '%-6s %12s %12s\n' "$p" "$off" "$on"
  SUM[off]=$(python3 -c "print(${SUM[off]}+$off)"); SUM[on]=$(python3 -c "print(${SUM[on]}+$on)")
done
lines=$(grep -c 'berth::access' "$WORK/on.log" || true)
[ "$lines" -gt 0 ] || { echo "the access-log server wrote no access lines" >&2; exit 1; }
[ "$(grep -c 'berth::access' "$WORK/off.log" || true)" = 0 ] || { echo "log.access=false logged" >&2; exit 1; }
python3 - "${SUM[off]}" "${SUM[on]}" "$PASSES" "$lines" <<'PY'
import sys
off, on, n, lines = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
print(f"mean req/s: access log off {off/n:.0f}, on {on/n:.0f} ({lines} access lines written)")
print(f"access log on / off: {on/off:.3f}")
PY
