#!/usr/bin/env bash
# The cost of authentication on the hot path: manifest GET by tag at concurrency 32 (wrk),
# Berth with authentication on vs off, in one run, on the embedded deployment.
#   auth on, Bearer  : a token from /token (scope repository:bench/app:pull), as docker sends it
#   auth on, Basic   : access key id + secret on every request (ECR-style clients, curl)
#   auth off         : auth.enabled = false
# Passes alternate between the servers (off, on) so drift affects both alike.
#   LOAD_S=10 CONC=32 PASSES=3 bench/auth.sh
# Needs: curl jq wrk python3; BERTH_BIN (default target/release/berth).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BERTH_BIN=${BERTH_BIN:-$REPO/target/release/berth}
LOAD_S=${LOAD_S:-10}; CONC=${CONC:-32}; PASSES=${PASSES:-3}
[ -x "$BERTH_BIN" ] || { echo "no berth binary at $BERTH_BIN (cargo build --release)" >&2; exit 1; }
for t in curl jq wrk python3; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 1; }; done
WORK=$(mktemp -d /tmp/berth-bench-auth.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
# shellcheck source=lib-manifest-load.sh
source "$REPO/bench/lib-manifest-load.sh"

start() { # start NAME ENABLED -> prints URL
  local name=$1 enabled=$2 port; port=$(free_port)
  BERTH_AUTH__ENABLED=$enabled BERTH_LOG__FILTER=warn "$BERTH_BIN" serve --listen "127.0.0.1:$port" \
    --data-dir "$WORK/$name" > "$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  echo "http://127.0.0.1:$port"
}
creds() { # creds NAME -> "id:secret"
  awk -F' = ' '/^access_key_id/{i=$2} /^secret_access_key/{s=$2} END{print i":"s}' "$WORK/$1/admin-credentials"
}
OFF=$(start off false); ON=$(start on true)
push "$OFF"
C=$(creds on); push "$ON" -u "$C"
TOKEN=$(curl -sf -u "$C" "$ON/token?service=berth&scope=repository:bench/app:pull" | jq -r .token)
BASIC=$(printf '%s' "$C" | base64 -w0)
ACC="application/vnd.oci.image.manifest.v1+json"
for url in "$OFF" "$ON"; do :; done
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Accept: $ACC" "$ON/v2/bench/app/manifests/latest")" = 401 ] \
  || { echo "auth-on server answered an anonymous request" >&2; exit 1; }

declare -A SUM=([off]=0 [bearer]=0 [basic]=0)
printf '%-6s %12s %12s %12s\n' pass off_rps bearer_rps basic_rps
for p in $(seq "$PASSES"); do
  off=$(load "$OFF" ""); bearer=$(load "$ON" "Bearer $TOKEN"); basic=$(load "$ON" "Basic $BASIC")
  printf '%-6s %12s %12s %12s\n' "$p" "$off" "$bearer" "$basic"
  SUM[off]=$(python3 -c "print(${SUM[off]}+$off)"); SUM[bearer]=$(python3 -c "print(${SUM[bearer]}+$bearer)")
  SUM[basic]=$(python3 -c "print(${SUM[basic]}+$basic)")
done
python3 - "${SUM[off]}" "${SUM[bearer]}" "${SUM[basic]}" "$PASSES" <<'PY'
import sys
off, bearer, basic, n = map(float, sys.argv[1:])
print(f"mean req/s: off {off/n:.0f}, bearer {bearer/n:.0f}, basic {basic/n:.0f}")
print(f"auth on / auth off: bearer {bearer/off:.3f}, basic {basic/off:.3f}  (target >= 0.90)")
PY
