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
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

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
push() { # push URL CURL_AUTH_ARGS... : one small image, tag bench/app:latest
  local url=$1; shift
  python3 - "$url" "$@" <<'PY'
import hashlib, json, subprocess, sys
url, auth = sys.argv[1], sys.argv[2:]
def post(data):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    subprocess.run(["curl", "-sf", *auth, "-X", "POST", "--data-binary", "@-",
                    f"{url}/v2/bench/app/blobs/uploads/?digest={d}"], input=data, check=True)
    return {"digest": d, "size": len(data)}
cfg = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
     "config": dict(post(cfg), mediaType="application/vnd.oci.image.config.v1+json"),
     "layers": [dict(post(b"layer" * 1000), mediaType="application/vnd.oci.image.layer.v1.tar")]}
subprocess.run(["curl", "-sf", *auth, "-X", "PUT", "-H", "Content-Type: application/vnd.oci.image.manifest.v1+json",
                "--data-binary", "@-", f"{url}/v2/bench/app/manifests/latest"], input=json.dumps(m).encode(), check=True)
PY
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

load() { # load URL HEADER -> requests/s
  local lua=$WORK/wrk.lua
  { echo 'wrk.method = "GET"'; echo "wrk.headers[\"Accept\"] = \"$ACC\"";
    [ -n "$2" ] && echo "wrk.headers[\"Authorization\"] = \"$2\"";
    echo 'response = function(status) if status ~= 200 then wrk.thread:stop() end end'; } > "$lua"
  local out; out=$(wrk -t2 -c"$CONC" -d"${LOAD_S}s" -s "$lua" "$1/v2/bench/app/manifests/latest")
  if echo "$out" | grep -q "Non-2xx"; then echo "non-200 answers: $out" >&2; exit 1; fi
  echo "$out" | awk '/Requests\/sec/{print $2}'
}
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
