#!/bin/bash
# berth-vs-ref.sh -- one command: Berth (release build) vs the reference registry (CNCF distribution,
# Debian `docker-registry`), same machine, same filesystem, alternating A/B runs via compare.sh.
#
#   bench/berth-vs-ref.sh                                   # full: PASSES=3, run.sh defaults (~25 min)
#   PASSES=1 ROUNDS=1 LOAD_S=5 bench/berth-vs-ref.sh        # quick (~6 min)
#   ONLY="manifest tags" PASSES=1 LOAD_S=5 bench/berth-vs-ref.sh
#
# Knobs (env): PASSES ROUNDS LOAD_S ONLY (and any other run.sh/compare.sh knob: CONC TAGS BIGCONC NOISE ...)
#   BERTH_BIN=path     binary to test (default <repo>/target/release/berth; built with `cargo build --release`
#                      if missing; set REBUILD=1 to always run `cargo build --release` first)
#   BERTH_LOG=warn     Berth log filter (BERTH_LOG__FILTER); default warn = like the reference (level warn, no access log)
#   DATA_ROOT=/tmp/bench/run   parent of the per-run temp dir holding BOTH registries' storage (must not be tmpfs)
#   REF_PORT / BERTH_PORT      default: free ports picked by the kernel
#   RESULT=file        where the table is saved (default /tmp/bench/results/berth-vs-ref-<stamp>.txt)
#   KEEP_DATA=1        keep the registries' storage after the run
# Output: the compare.sh table (figure ratio=cand/ref ref= cand= better= verdict) followed by the target check.
set -u -o pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BERTH_BIN=${BERTH_BIN:-$REPO/target/release/berth}
STAMP=$(date +%Y%m%d-%H%M%S)
RESULT=${RESULT:-/tmp/bench/results/berth-vs-ref-$STAMP.txt}
DATA_ROOT=${DATA_ROOT:-/tmp/bench/run}
log() { echo "[berth-vs-ref $(date +%T)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for t in skopeo curl jq python3 docker-registry ss; do command -v "$t" >/dev/null || die "missing tool: $t"; done
command -v oha >/dev/null || command -v wrk >/dev/null || die "need oha or wrk (apt-get install -y wrk)"

# ---- (a) build ---------------------------------------------------------------
if [ ! -x "$BERTH_BIN" ] || [ "${REBUILD:-0}" = 1 ]; then
  log "building berth (cargo build --release)"
  (cd "$REPO" && cargo build --release) >&2 || die "cargo build --release failed"
fi
[ -x "$BERTH_BIN" ] || die "no berth binary at $BERTH_BIN"
# identify the binary now: a rebuild during the run replaces the file but not the running server's image
BERTH_ID="$BERTH_BIN (built $(date -r "$BERTH_BIN" '+%F %T'), sha256 $(sha256sum "$BERTH_BIN" | cut -c1-12), repo HEAD $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet HEAD -- src 2>/dev/null || echo ' +uncommitted src changes'))"

# ---- (b) start both registries ------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
REF_PORT=${REF_PORT:-$(free_port)}
BERTH_PORT=${BERTH_PORT:-$(free_port)}
while [ "$BERTH_PORT" = "$REF_PORT" ]; do BERTH_PORT=$(free_port); done
mkdir -p "$DATA_ROOT" "$(dirname "$RESULT")"
DATA=$(mktemp -d "$DATA_ROOT/bvr-$STAMP-XXXX")
REF_ROOT=$DATA/ref; BERTH_DATA=$DATA/berth; mkdir -p "$REF_ROOT" "$BERTH_DATA"
fstype=$(stat -f -c %T "$DATA")
case $fstype in tmpfs|ramfs) die "$DATA is on $fstype; set DATA_ROOT to a disk-backed directory";; esac
[ "$(stat -c %d "$REF_ROOT")" = "$(stat -c %d "$BERTH_DATA")" ] || die "reference and berth storage on different filesystems"

REF_PID=; BERTH_PID=
cleanup() {
  # stop only the two servers this script started, by pid
  if [ -n "$BERTH_PID" ] && kill -0 "$BERTH_PID" 2>/dev/null; then kill "$BERTH_PID"; wait "$BERTH_PID" 2>/dev/null; fi
  if [ -n "$REF_PID" ] && kill -0 "$REF_PID" 2>/dev/null; then
    kill "$REF_PID"; for i in $(seq 50); do kill -0 "$REF_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "/tmp/bench/ref-$REF_PORT.pid"
  if [ "${KEEP_DATA:-0}" = 1 ]; then log "kept storage in $DATA"; else rm -rf "$DATA"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

REF_PID=$("$HERE/start-ref.sh" "$REF_PORT" "$REF_ROOT" | tail -1)
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$REF_PORT/v2/")" = 200 ] \
  || die "reference did not come up on $REF_PORT (see /tmp/bench/logs/ref-$REF_PORT.log)"

# The reference runs without authentication; so does Berth here (bench/auth.sh measures its cost).
BERTH_AUTH__ENABLED=false BERTH_LOG__FILTER=${BERTH_LOG:-warn} "$BERTH_BIN" serve --listen "127.0.0.1:$BERTH_PORT" --data-dir "$BERTH_DATA" \
  >"$DATA/berth.log" 2>&1 &
BERTH_PID=$!
for i in $(seq 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$BERTH_PORT/v2/")" = 200 ] && break
  kill -0 "$BERTH_PID" 2>/dev/null || { cat "$DATA/berth.log" >&2; die "berth exited"; }
  sleep 0.1
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$BERTH_PORT/v2/")" = 200 ] || die "berth did not answer 200 on /v2/"
log "reference pid=$REF_PID port=$REF_PORT root=$REF_ROOT"
log "berth     pid=$BERTH_PID port=$BERTH_PORT data=$BERTH_DATA ($fstype) bin=$BERTH_ID"

# ---- (c) compare ---------------------------------------------------------------
TABLE=$DATA/table.txt
REF_PID=$REF_PID CAND_PID=$BERTH_PID "$HERE/compare.sh" "http://127.0.0.1:$REF_PORT" "http://127.0.0.1:$BERTH_PORT" \
  >"$TABLE" 2>"$DATA/compare.err"
rc=$?
cat "$DATA/compare.err" >&2
RAW=$(sed -n 's/^# raw: //p' "$DATA/compare.err" | tail -1)
kill -0 "$BERTH_PID" 2>/dev/null || log "WARNING: berth is no longer running (crashed?) -- tail of its log:"
kill -0 "$BERTH_PID" 2>/dev/null || tail -20 "$DATA/berth.log" >&2
[ -s "$DATA/berth.log" ] && cp "$DATA/berth.log" "${RAW:-$DATA}/berth.log" 2>/dev/null

# ---- (d) result ------------------------------------------------------------------
{
  echo "# berth-vs-ref $STAMP  host=$(hostname) cores=$(nproc) fs=$fstype"
  echo "# berth: $BERTH_ID log=${BERTH_LOG:-warn}"
  echo "# reference: $(docker-registry --version 2>/dev/null | head -1)"
  echo "# knobs: PASSES=${PASSES:-3} ROUNDS=${ROUNDS:-3} LOAD_S=${LOAD_S:-10} CONC=${CONC:-32} BIGCONC=${BIGCONC:-4} ONLY=${ONLY:-<all>}  load tool: ${LOADER:-$(command -v oha >/dev/null && echo oha || echo 'wrk (GET) + ab (HEAD)')}"
  echo "# raw per-pass output: ${RAW:-?}"
  echo "# figure                           ratio(berth/ref) ref=  cand(berth)=  better=  verdict"
  cat "$TABLE"
  echo
  echo "# targets (berth vs reference)"
  python3 - "$TABLE" <<'EOF'
import sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) < 4 or line.startswith("#"): continue
    try:
        rows[f[0]] = (float(f[1]), float(f[2].split("=", 1)[1]), float(f[3].split("=", 1)[1]))
    except (ValueError, IndexError):
        pass
def chk(desc, ok, detail):
    print("%-4s %-58s %s" % ("n/a" if ok is None else ("PASS" if ok else "FAIL"), desc, detail))
def ratio(fig, want, desc):
    if fig not in rows: return chk(desc, None, fig + " missing")
    r, a, b = rows[fig]
    chk(desc, r == r and r >= want, "%s ratio %.2f (ref %g, berth %g), want >= %g" % (fig, r, a, b, want))
def absolute(fig, op, want, desc, unit):
    if fig not in rows: return chk(desc, None, fig + " missing")
    r, a, b = rows[fig]
    ok = b == b and (b >= want if op == ">=" else b < want if op == "<" else b <= want)
    chk(desc, ok, "%s berth %g %s (ref %g), want %s %g" % (fig, b, unit, a, op, want))
ratio("blob_put_MBps", 2.5, "monolithic blob PUT (curl) MB/s >= 2.5x")
absolute("blob_get_MBps", ">=", 1500, "blob GET >= 1.5 GB/s absolute", "MB/s")
ratio("push_big_MBps", 1.5, "skopeo push of large layers >= 1.5x")
ratio("pull_big_MBps", 1.5, "skopeo pull of large layers >= 1.5x")
for n in ("manifest_get", "manifest_head", "tags_list"):
    ratio(n + "_rps", 10, "%s req/s at CONC >= 10x" % n)
    absolute(n + "_p99_ms", "<", 5, "%s p99 < 5 ms" % n, "ms")
absolute("push_big_conc_rss_max_KiB", "<=", 102400, "server RSS under concurrent large pushes <= 100 MiB", "KiB")
EOF
} > "$RESULT"
cat "$RESULT"
log "table saved to $RESULT"
exit $rc
