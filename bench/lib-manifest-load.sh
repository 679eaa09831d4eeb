# Shared by bench/auth.sh and bench/access-log.sh: a free port, one small image pushed as
# bench/app:latest, and wrk load on its manifest by tag. Callers set WORK, CONC, LOAD_S and ACC.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

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

load() { # load URL HEADER -> requests/s
  local lua=$WORK/wrk.lua
  { echo 'wrk.method = "GET"'; echo "wrk.headers[\"Accept\"] = \"$ACC\"";
    [ -n "$2" ] && echo "wrk.headers[\"Authorization\"] = \"$2\"";
    echo 'response = function(status) if status ~= 200 then wrk.thread:stop() end end'; } > "$lua"
  local out; out=$(wrk -t2 -c"$CONC" -d"${LOAD_S}s" -s "$lua" "$1/v2/bench/app/manifests/latest")
  if echo "$out" | grep -q "Non-2xx"; then echo "non-200 answers: $out" >&2; exit 1; fi
  echo "$out" | awk '/Requests\/sec/{print $2}'
}
