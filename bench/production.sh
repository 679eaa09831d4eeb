#!/bin/bash
# production.sh -- Berth's production deployment (PostgreSQL metadata + S3 on Garage) measured in one run:
#   1+2. large-blob push / pull through Garage: Berth (PostgreSQL + S3) vs the reference registry
#        (CNCF distribution 2.8, Debian `docker-registry`, S3 driver on the SAME Garage bucket, root /ref),
#        with curl (POST, one streamed PATCH, PUT / plain GET) and with skopeo (oci: layout -> docker://,
#        docker:// -> dir:), one client and CONC_N concurrent clients;
#   3.   manifest GET by tag at concurrency 32 (wrk): Berth on PostgreSQL vs Berth on embedded SQLite;
#   4.   tags/list?n=100&last=<middle> on a repository with 100,000 tags: PostgreSQL vs SQLite;
#   and the S3 ceiling: the same PUTs / GETs with curl straight to Garage (no registry), per pass.
#
#   bench/production.sh                       # PASSES=2 (A/B order alternates per pass), ~10-12 min on 2 cores
#   PASSES=1 bench/production.sh              # quicker (~7 min), no pass-to-pass spread
#   ONLY="manifest tags" bench/production.sh  # a subset of: blobs manifest tags
#
# Knobs (env):
#   PASSES=2          passes; in each, every figure is measured once per side, pairs run back to back and the
#                     order (ref/berth, sqlite/pg) alternates between passes. Median over passes is reported.
#   SIZES="256M 1G"   single-client blob / layer sizes;  CONC_N=4 CONC_SIZE=256M  concurrent clients and
#                     their blob size (each client its own blob / image; e.g. CONC_SIZE=1G is heavier: 4 GiB)
#   CHUNKED=1         curl PATCH without Content-Length (Transfer-Encoding: chunked, as docker/skopeo send it);
#                     CHUNKED=0 sends Content-Length
#   CACHE=1           Berth (PostgreSQL + S3) runs with its local blob cache (storage.cache_dir under the run's
#                     data dir, default bound): pushes written in one request are kept (write-through) and pulls
#                     of them are served from local disk, as a production replica would be configured.
#                     CACHE=0 streams every pull from Garage (the figure to compare with the S3 ceiling).
#   LOAD_S=10 CONC=32 manifest GET load (wrk) seconds / connections
#   TAGS=100000 TAGS_HTTP=2000 TAG_THREADS=16   tags in the listed repository; the first TAGS_HTTP are PUT over
#                     HTTP (16 keep-alive clients; gives tag_put_per_s), the rest inserted with SQL (psql /
#                     sqlite3) -- creating 100k tags over HTTP takes minutes on this disk (fsync ~5-30 ms)
#   LAT_N=200         tags/list requests per latency sample (one curl, keep-alive, -w %{time_total})
#   BERTH_BIN=path    binary to test (default: a copy of <repo>/target/release/berth made at start,
#                     /tmp/bench/berth-bin-<stamp>; the run never builds)
#   DATA_ROOT=/tmp/bench/run  (disk) Garage data + registry data dirs;  SHM=/dev/shm  generated blobs/images
#   RESULT=file       default /tmp/bench/results/production-<stamp>.txt;  KEEP_DATA=1 keeps storage/DB
#   NOISE=0.10        verdict threshold (same/BETTER/worse);  META_NOISE=0.25  band for the "postgres no slower than
#                     sqlite" checks (ref-vs-ref noise on metadata figures): outside it in every pass = FAIL,
#                     in some passes only = NOISY
# Needs: curl jq python3 openssl skopeo wrk docker-registry psql sqlite3 ss (pidstat optional), scripts/postgres.sh
# (starts/reuses the cluster on 127.0.0.1:54329, left running) and scripts/garage.sh (Garage 2.1 single node,
# started in the run's temp dir and stopped at the end).
set -u -o pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
STAMP=$(date +%Y%m%d-%H%M%S)
PASSES=${PASSES:-2}
SIZES=${SIZES:-"256M 1G"}
CONC_N=${CONC_N:-4}; CONC_SIZE=${CONC_SIZE:-256M}
CHUNKED=${CHUNKED:-1}
CACHE=${CACHE:-1}
LOAD_S=${LOAD_S:-10}; CONC=${CONC:-32}
TAGS=${TAGS:-100000}; TAGS_HTTP=${TAGS_HTTP:-2000}; TAG_THREADS=${TAG_THREADS:-16}; LAT_N=${LAT_N:-200}
ONLY=${ONLY:-"blobs manifest tags"}
DATA_ROOT=${DATA_ROOT:-/tmp/bench/run}
SHM_ROOT=${SHM:-/dev/shm}
RESULT=${RESULT:-/tmp/bench/results/production-$STAMP.txt}
RAW=/tmp/bench/production/$STAMP
NOISE=${NOISE:-0.10}
TCK=$(getconf CLK_TCK)
BIC=/var/lib/containers/cache/blob-info-cache-v1.boltdb   # skopeo's cache would turn pushes into mounts
export PATH="$PATH:$HOME/.cargo/bin"

log() { echo "[production $(date +%T)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
FAILS=0
fail() { log "FAIL: $*"; FAILS=$((FAILS+1)); }
now() { date +%s.%N; }
calc() { awk "BEGIN{printf \"%.${2:-2}f\", $1}"; }

for t in curl jq python3 openssl skopeo wrk docker-registry psql sqlite3 ss; do
  command -v "$t" >/dev/null || die "missing tool: $t"
done
mkdir -p "$RAW" "$(dirname "$RESULT")" "$DATA_ROOT"

# ---- the binary: a private copy, so a rebuild during the run changes nothing --------------------------------
if [ -z "${BERTH_BIN:-}" ]; then
  [ -x "$REPO/target/release/berth" ] || die "no $REPO/target/release/berth (build it first; this script never builds)"
  BERTH_BIN=/tmp/bench/berth-bin-$STAMP
  cp "$REPO/target/release/berth" "$BERTH_BIN" || die "cannot copy the berth binary"
  SRC_DESC="copy of $REPO/target/release/berth built $(date -r "$REPO/target/release/berth" '+%F %T')"
else
  SRC_DESC="BERTH_BIN built $(date -r "$BERTH_BIN" '+%F %T')"
fi
[ -x "$BERTH_BIN" ] || die "no berth binary at $BERTH_BIN"
BERTH_ID="$BERTH_BIN ($SRC_DESC, sha256 $(sha256sum "$BERTH_BIN" | cut -c1-12), repo HEAD $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet HEAD -- src 2>/dev/null || echo ' +uncommitted src changes'))"

WORK=$(mktemp -d "$DATA_ROOT/prod-$STAMP-XXXX")
case $(stat -f -c %T "$WORK") in tmpfs|ramfs) die "$WORK is on tmpfs; set DATA_ROOT to a disk-backed directory";; esac
SHM=$(mktemp -d "$SHM_ROOT/bench-prod-$STAMP-XXXX")
FIGS=$RAW/figures.txt; : > "$FIGS"

# ---- cleanup: only what this script started, by pid ---------------------------------------------------------
REF_PID=; PG_PID=; SQ_PID=; PG_URL=; PG_DB=; SAMPLERS=()
stop_pid() {
  local p=$1 i
  [ -n "$p" ] && kill -0 "$p" 2>/dev/null || return 0
  kill "$p" 2>/dev/null
  for i in $(seq 100); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$p" 2>/dev/null
}
cleanup() {
  for p in "${SAMPLERS[@]}"; do kill "$p" 2>/dev/null; done
  stop_pid "$PG_PID"; stop_pid "$SQ_PID"; stop_pid "$REF_PID"
  [ -d "$WORK/garage" ] && "$REPO/scripts/garage.sh" stop "$WORK/garage" >/dev/null 2>&1
  for f in berth-pg.log berth-sqlite.log ref.log garage/garage.log; do [ -f "$WORK/$f" ] && cp "$WORK/$f" "$RAW/" 2>/dev/null; done
  rm -rf "$SHM"
  if [ "${KEEP_DATA:-0}" = 1 ]; then
    log "kept storage in $WORK and database $PG_DB"
  else
    rm -rf "$WORK"
    if [ -n "$PG_DB" ]; then
      PGPASSWORD=$(cat "${XDG_CACHE_HOME:-$HOME/.cache}/berth/postgres-password" 2>/dev/null) \
        psql -X -q -h 127.0.0.1 -p "${BERTH_PG_PORT:-54329}" -U berth -d postgres \
        -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 || log "could not drop database $PG_DB"
    fi
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_v2() { # wait_v2 URL PID LOG
  local i
  for i in $(seq 150); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/v2/")" = 200 ] && return 0
    kill -0 "$2" 2>/dev/null || { tail -20 "$3" >&2; return 1; }
    sleep 0.1
  done
  return 1
}

# ---- services --------------------------------------------------------------------------------------------------
log "PostgreSQL: scripts/postgres.sh start"
PG_URL=$("$REPO/scripts/postgres.sh" start) || die "scripts/postgres.sh start failed"
PG_DB=${PG_URL##*/}
log "Garage: scripts/garage.sh single $WORK/garage"
GENV=$("$REPO/scripts/garage.sh" single "$WORK/garage") || die "scripts/garage.sh single failed"
GARAGE_PID=$(cat "$WORK/garage/garage.pid")
# read the garage env in a subshell: nothing BERTH_* leaks into this shell (the SQLite Berth must not see it)
read -r S3_ENDPOINT S3_KEY S3_SECRET < <(. "$GENV"; echo "$BERTH_STORAGE__ENDPOINT $BERTH_STORAGE__ACCESS_KEY_ID $BERTH_STORAGE__SECRET_ACCESS_KEY")
[ -n "$S3_SECRET" ] || die "no credentials in $GENV"

REF_PORT=$(free_port); PG_PORT=$(free_port); SQ_PORT=$(free_port)
REF=http://127.0.0.1:$REF_PORT; PGB=http://127.0.0.1:$PG_PORT; SQB=http://127.0.0.1:$SQ_PORT

# reference: distribution 2.8 S3 driver. 2.8 has no `forcepathstyle` (added in v3): with `regionendpoint` set it
# always uses path-style requests; `secure: false` + http:// endpoint = plain HTTP; v4auth is the default.
(umask 077; cat > "$WORK/ref.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  s3:
    accesskey: $S3_KEY
    secretkey: $S3_SECRET
    region: garage
    regionendpoint: $S3_ENDPOINT
    bucket: berth
    rootdirectory: /ref
    secure: false
    v4auth: true
  redirect:
    disable: true
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$REF_PORT
  secret: bench-$STAMP
EOF
)
# AWS_CA_BUNDLE (set in this sandbox's environment) makes aws-sdk-go v1 in distribution 2.8 panic at start:
# "LoadCustomCABundleError: unable to load custom CA bundle, HTTPClient's transport unsupported type".
env -u AWS_CA_BUNDLE docker-registry serve "$WORK/ref.yml" > "$WORK/ref.log" 2>&1 &
REF_PID=$!
wait_v2 "$REF" "$REF_PID" "$WORK/ref.log" || die "reference did not come up (see $WORK/ref.log)"

mkdir -p "$WORK/berth-pg" "$WORK/berth-sqlite"
( . "$GENV"
  export BERTH_METADATA__BACKEND=postgres BERTH_METADATA__URL="$PG_URL" BERTH_STORAGE__BACKEND=s3 \
         BERTH_STORAGE__PREFIX=berth/ BERTH_LOG__FILTER=warn BERTH_AUTH__ENABLED=false \
         BERTH_AUTH__SERVER_KEY="$(openssl rand -base64 32)"
  if [ "$CACHE" = 1 ]; then export BERTH_STORAGE__CACHE_DIR="$WORK/berth-pg/blob-cache"; fi
  # Like the reference, without authentication (bench/auth.sh measures its cost).
  exec "$BERTH_BIN" serve --listen "127.0.0.1:$PG_PORT" --data-dir "$WORK/berth-pg" ) > "$WORK/berth-pg.log" 2>&1 &
PG_PID=$!
env $(env | awk -F= '/^BERTH_/{printf "-u %s ", $1}') BERTH_LOG__FILTER=warn BERTH_AUTH__ENABLED=false \
  "$BERTH_BIN" serve --listen "127.0.0.1:$SQ_PORT" --data-dir "$WORK/berth-sqlite" > "$WORK/berth-sqlite.log" 2>&1 &
SQ_PID=$!
wait_v2 "$PGB" "$PG_PID" "$WORK/berth-pg.log" || die "berth (postgres+s3) did not come up"
wait_v2 "$SQB" "$SQ_PID" "$WORK/berth-sqlite.log" || die "berth (sqlite) did not come up"
declare -A BASE=([ref]=$REF [pg]=$PGB [sqlite]=$SQB) PIDOF=([ref]=$REF_PID [pg]=$PG_PID [sqlite]=$SQ_PID [garage]=$GARAGE_PID)
declare -A LABEL=([ref]="reference (distribution 2.8, S3 on Garage)" [pg]="berth (PostgreSQL + S3 on Garage, blob cache $([ "$CACHE" = 1 ] && echo on || echo off))" [sqlite]="berth (SQLite + filesystem)")
log "ref    pid=$REF_PID $REF   root s3://berth/ref"
log "pg     pid=$PG_PID $PGB   db $PG_DB, s3://berth/berth/, blob cache $([ "$CACHE" = 1 ] && echo "on ($WORK/berth-pg/blob-cache)" || echo off)"
log "sqlite pid=$SQ_PID $SQB   data $WORK/berth-sqlite"
log "garage pid=$GARAGE_PID $S3_ENDPOINT data $WORK/garage"
log "berth binary: $BERTH_ID"

if command -v pidstat >/dev/null; then   # where the CPU goes, 1 s samples, for the whole run
  pidstat -u -h -p "$REF_PID,$PG_PID,$SQ_PID,$GARAGE_PID" 1 > "$RAW/pidstat-servers.txt" 2>&1 & SAMPLERS+=($!)
  pidstat -u -h -U postgres 1 > "$RAW/pidstat-postgres.txt" 2>&1 & SAMPLERS+=($!)
fi

# ---- measurement helpers ------------------------------------------------------------------------------------------
cpu_of() { awk -v t="$TCK" '{print ($14+$15)/t}' "/proc/$1/stat" 2>/dev/null || echo 0; }
cpu_ns_of() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s+=$1} END{printf "%.0f", s}'; }   # all threads, ns
cli_cpu() { awk -v t="$TCK" '{print ($16+$17)/t}' /proc/$$/stat; }   # reaped children (curl, skopeo)
pg_cpu() {   # CPU ns of all processes of the PostgreSQL cluster (shared with other users of the cluster!)
  local p; p=$(head -1 "/var/lib/postgresql/"*/berth/postmaster.pid 2>/dev/null | head -1)
  [ -n "$p" ] || { echo 0; return; }
  { echo "$p"; pgrep -P "$p"; } | while read -r q; do cat "/proc/$q/schedstat" 2>/dev/null; done |
    awk '{s+=$1} END{printf "%.0f", s}'
}
PASS=0
rec() { echo "$PASS $1 $2 $3" >> "$FIGS"; }   # rec SIDE FIGURE VALUE
# timed SIDE NAME BYTES CMD... : one timed run; MB/s, and CPU seconds per GB of the server, Garage, the client
timed() {
  local side=$1 name=$2 bytes=$3; shift 3
  local pid=${PIDOF[$side]} t0 t1 s0 s1 g0 g1 c0 c1 dt gb
  timeout 120 sync   # dirty pages of the previous step must not be written back during this one
  local hwm=0; [ -w "/proc/$pid/clear_refs" ] && echo 5 2>/dev/null > "/proc/$pid/clear_refs" && hwm=1   # reset VmHWM
  s0=$(cpu_of "$pid"); g0=$(cpu_of "$GARAGE_PID"); c0=$(cli_cpu); t0=$(now)
  if ! "$@"; then
    fail "$side $name"; rec "$side" "${name}_MBps" nan; return 1
  fi
  t1=$(now); s1=$(cpu_of "$pid"); g1=$(cpu_of "$GARAGE_PID"); c1=$(cli_cpu)
  dt=$(calc "$t1-$t0" 3); gb=$(calc "$bytes/1e9" 6)
  rec "$side" "${name}_MBps" "$(calc "$bytes/$dt/1e6" 1)"
  rec "$side" "${name}_srv_cpu_s_per_GB" "$(calc "($s1-$s0)/$gb" 2)"
  rec "$side" "${name}_garage_cpu_s_per_GB" "$(calc "($g1-$g0)/$gb" 2)"
  rec "$side" "${name}_cli_cpu_s_per_GB" "$(calc "($c1-$c0)/$gb" 2)"
  [ "$hwm" = 1 ] && [ "$side" != garage ] && rec "$side" "${name}_rss_max_KiB" "$(awk '/^VmHWM/{print $2}' "/proc/$pid/status")"
  log "  $side $name: $(calc "$bytes/1048576" 0) MiB in ${dt}s = $(calc "$bytes/$dt/1e6" 1) MB/s (server $(calc "$s1-$s0" 2) CPU-s, garage $(calc "$g1-$g0" 2), client $(calc "$c1-$c0" 2))"
}

# curl_push BASE REPO FILE DIGEST: POST, one streamed PATCH with the whole file, PUT ?digest=
CH=(); [ "$CHUNKED" = 1 ] && CH=(-H 'Transfer-Encoding: chunked')
curl_push() {
  local base=$1 repo=$2 f=$3 d=$4 hd loc code sep
  hd=$(mktemp "$SHM/hd.XXXXXX")
  code=$(curl -s -m 60 -D "$hd" -o /dev/null -w '%{http_code}' -X POST "$base/v2/$repo/blobs/uploads/")
  loc=$(tr -d '\r' < "$hd" | awk 'tolower($1)=="location:"{print $2}')
  [ "$code" = 202 ] && [ -n "$loc" ] || { log "POST $repo -> $code"; rm -f "$hd"; return 1; }
  case $loc in http*) ;; *) loc=$base$loc;; esac
  code=$(curl -s -m 900 -D "$hd" -o /dev/null -w '%{http_code}' -X PATCH -H 'Content-Type: application/octet-stream' \
         "${CH[@]}" -T "$f" "$loc")
  loc=$(tr -d '\r' < "$hd" | awk 'tolower($1)=="location:"{print $2}'); rm -f "$hd"
  [ "$code" = 202 ] && [ -n "$loc" ] || { log "PATCH $repo -> $code"; return 1; }
  case $loc in http*) ;; *) loc=$base$loc;; esac
  sep='?'; case $loc in *\?*) sep='&';; esac
  code=$(curl -s -m 300 -o /dev/null -w '%{http_code}' -X PUT "$loc${sep}digest=$d")
  [ "$code" = 201 ] || { log "PUT $repo -> $code"; return 1; }
}
curl_get() { # BASE REPO DIGEST SIZE
  local out; out=$(curl -s -m 900 -o /dev/null -w '%{http_code} %{size_download}' "$1/v2/$2/blobs/$3")
  [ "$out" = "200 $4" ] || { log "GET $2@$3 -> $out (want 200 $4)"; return 1; }
}
sk_push() { skopeo --command-timeout 15m copy -q --dest-tls-verify=false "oci:$1" "docker://${2#http://}/$3" >/dev/null 2>>"$RAW/skopeo.err"; }
sk_pull() { rm -rf "$3"; skopeo --command-timeout 15m copy -q --src-tls-verify=false "docker://${1#http://}/$2" "dir:$3" >/dev/null 2>>"$RAW/skopeo.err"; }
# par CMD-LINE...: run each argument (a command line) in the background, wait for all, fail if any failed
par() { local p ps=() rc=0; for c in "$@"; do eval "$c" & ps+=($!); done; for p in "${ps[@]}"; do wait "$p" || rc=1; done; return $rc; }

# generated content: fresh random bytes for every upload (Garage stores blocks by content hash and skips
# writing a block it already has: re-pushing the same bytes would not measure a real push)
gen_blobs() { # gen_blobs TAG SIZE N -> files $SHM/TAG-i, digests in GD[i]
  local i ps=()
  for i in $(seq 1 "$3"); do python3 "$HERE/prod_gen.py" blob "$SHM/$1-$i" "$2" > "$SHM/$1-$i.d" & ps+=($!); done
  wait "${ps[@]}" || return 1
  GD=(); GB=0
  for i in $(seq 1 "$3"); do read -r GD[$i] s < "$SHM/$1-$i.d"; GB=$((GB + s)); done
}
gen_images() { # gen_images TAG SIZE N -> dirs $SHM/TAG-i, total bytes GB
  local i ps=() s
  for i in $(seq 1 "$3"); do python3 "$HERE/prod_gen.py" image "$SHM/$1-$i" "$2" > "$SHM/$1-$i.d" & ps+=($!); done
  wait "${ps[@]}" || return 1
  GB=0; for i in $(seq 1 "$3"); do read -r _ s < "$SHM/$1-$i.d"; GB=$((GB + s)); done
}

# S3 ceiling: curl straight to Garage (SigV4, UNSIGNED-PAYLOAD), one PUT / GET per object, no registry
s3curl() { curl -s --aws-sigv4 "aws:amz:garage:s3" --user "$S3_KEY:$S3_SECRET" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"; }
s3_put() { local c; c=$(s3curl -m 900 -o /dev/null -w '%{http_code}' -T "$1" "$S3_ENDPOINT/berth/direct/$2"); [ "$c" = 200 ] || { log "S3 PUT $2 -> $c"; return 1; }; }
s3_get() { local c; c=$(s3curl -m 900 -o /dev/null -w '%{http_code} %{size_download}' "$S3_ENDPOINT/berth/direct/$1"); [ "$c" = "200 $2" ] || { log "S3 GET $1 -> $c"; return 1; }; }
s3_ceiling() {
  local c sz n name i cmds
  for c in "${SIZES##* }:1" "$CONC_SIZE:$CONC_N"; do   # the largest single size, and the concurrent case
    sz=${c%:*}; n=${c#*:}; name=$sz; [ "$n" -gt 1 ] && name=${n}x$sz
    gen_blobs "s3-$name" "$sz" "$n" || { fail "generate s3 $name"; continue; }
    cmds=(); for i in $(seq 1 "$n"); do cmds+=("s3_put $SHM/s3-$name-$i p$PASS-$name-$i"); done
    timed garage "s3_put_$name" "$GB" par "${cmds[@]}"
    cmds=(); for i in $(seq 1 "$n"); do cmds+=("s3_get p$PASS-$name-$i $(stat -c %s "$SHM/s3-$name-$i")"); done
    timed garage "s3_get_$name" "$GB" par "${cmds[@]}"
    rm -f "$SHM/s3-$name-"*
  done
}

# ---- 1+2: blobs through Garage -------------------------------------------------------------------------------------
blobs_pass() {
  local order=("$@") side n sz name i cases=() c
  for sz in $SIZES; do cases+=("$sz:1"); done
  cases+=("$CONC_SIZE:$CONC_N")
  declare -A DIG SZ
  # push with curl, then with skopeo: for each case, fresh content per side, sides back to back
  for c in "${cases[@]}"; do
    sz=${c%:*}; n=${c#*:}; name=$sz; [ "$n" -gt 1 ] && name=${n}x$sz
    for side in "${order[@]}"; do
      gen_blobs "b-$side-$name" "$sz" "$n" || { fail "generate $name"; continue; }
      local cmds=()
      for i in $(seq 1 "$n"); do
        DIG[$side-$name-$i]=${GD[$i]}; SZ[$side-$name-$i]=$(stat -c %s "$SHM/b-$side-$name-$i")
        cmds+=("curl_push ${BASE[$side]} bench/p$PASS/curl-${name,,}-$i $SHM/b-$side-$name-$i ${GD[$i]}")
      done
      timed "$side" "push_curl_$name" "$GB" par "${cmds[@]}"
      rm -f "$SHM/b-$side-$name-"*
    done
    for side in "${order[@]}"; do
      gen_images "i-$side-$name" "$sz" "$n" || { fail "generate image $name"; continue; }
      local cmds=()
      for i in $(seq 1 "$n"); do cmds+=("sk_push $SHM/i-$side-$name-$i ${BASE[$side]} bench/p$PASS/sk-${name,,}-$i:1"); done
      rm -f "$BIC"
      timed "$side" "push_skopeo_$name" "$GB" par "${cmds[@]}"
      SZ[$side-img-$name]=$GB
      rm -rf "$SHM/i-$side-$name-"*
    done
  done
  # pull what was pushed
  for c in "${cases[@]}"; do
    sz=${c%:*}; n=${c#*:}; name=$sz; [ "$n" -gt 1 ] && name=${n}x$sz
    for side in "${order[@]}"; do
      local cmds=() tot=0
      for i in $(seq 1 "$n"); do
        [ -n "${DIG[$side-$name-$i]:-}" ] || continue
        cmds+=("curl_get ${BASE[$side]} bench/p$PASS/curl-${name,,}-$i ${DIG[$side-$name-$i]} ${SZ[$side-$name-$i]}")
        tot=$((tot + SZ[$side-$name-$i]))
      done
      [ ${#cmds[@]} = "$n" ] && timed "$side" "pull_curl_$name" "$tot" par "${cmds[@]}"
    done
    for side in "${order[@]}"; do
      local cmds=()
      for i in $(seq 1 "$n"); do cmds+=("sk_pull ${BASE[$side]} bench/p$PASS/sk-${name,,}-$i:1 $SHM/pull-$side-$name-$i"); done
      timed "$side" "pull_skopeo_$name" "${SZ[$side-img-$name]:-1}" par "${cmds[@]}"
      rm -rf "$SHM/pull-$side-$name-"*
    done
  done
}

# ---- 3: manifest GET by tag, wrk -----------------------------------------------------------------------------------
ACC="application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
wrk_load() { # wrk_load SIDE NAME URL
  local side=$1 name=$2 url=$3 pid=${PIDOF[$1]} lua=$RAW/wrk.lua out=$RAW/wrk-$2-$1-p$PASS.txt c0 c1 q0 q1 n kv
  cat > "$lua" <<LUA
wrk.method = "GET"
wrk.headers["Accept"] = "$ACC"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("LUA p50_us=%d p99_us=%d requests=%d status_err=%d sock_err=%d\n",
    latency:percentile(50), latency:percentile(99), summary.requests, e.status, e.connect + e.read + e.write + e.timeout))
end
LUA
  c0=$(cpu_ns_of "$pid"); q0=$(pg_cpu)
  wrk -t2 -c"$CONC" -d"${LOAD_S}s" --latency -s "$lua" "$url" > "$out" 2>&1
  c1=$(cpu_ns_of "$pid"); q1=$(pg_cpu)
  kv() { grep '^LUA ' "$out" | tr ' ' '\n' | awk -F= -v k="$1" '$1==k{print $2}'; }
  n=$(kv requests)
  if [ -z "$n" ] || [ "$n" = 0 ] || [ "$(kv status_err)" != 0 ] || [ "$(kv sock_err)" != 0 ]; then
    fail "$side $name: wrk errors, see $out"; rec "$side" "${name}_rps" nan; return 1
  fi
  rec "$side" "${name}_rps" "$(awk '/^Requests\/sec/{print $2}' "$out")"
  rec "$side" "${name}_p50_ms" "$(calc "$(kv p50_us)/1000" 3)"
  rec "$side" "${name}_p99_ms" "$(calc "$(kv p99_us)/1000" 3)"
  rec "$side" "${name}_srv_cpu_us_per_req" "$(calc "($c1-$c0)/1e3/$n" 1)"
  rec "$side" "${name}_pgcluster_cpu_us_per_req" "$(calc "($q1-$q0)/1e3/$n" 1)"
  log "  $side $name: $(awk '/^Requests\/sec/{print $2}' "$out") req/s p99 $(calc "$(kv p99_us)/1000" 3) ms"
}

# ---- 4: tags list latency, curl -w %{time_total} -------------------------------------------------------------------
tags_latency() { # tags_latency SIDE NAME LAST...   (one curl process, keep-alive, one request per LAST)
  local side=$1 name=$2 cfg=$RAW/curl-$2-$1-p$PASS.cfg out=$RAW/lat-$2-$1-p$PASS.txt l bad pid=${PIDOF[$1]} c0 c1 q0 q1; shift 2
  : > "$cfg"
  for l in "$@"; do printf 'url = "%s/v2/bench/tags/tags/list?n=100&last=%s"\noutput = "/dev/null"\n' "${BASE[$side]}" "$l" >> "$cfg"; done
  c0=$(cpu_ns_of "$pid"); q0=$(pg_cpu)
  curl -s -K "$cfg" -w '%{http_code} %{time_total}\n' > "$out.raw"
  c1=$(cpu_ns_of "$pid"); q1=$(pg_cpu)
  bad=$(awk '$1!=200' "$out.raw" | wc -l)
  [ "$bad" = 0 ] && [ "$(wc -l < "$out.raw")" = $# ] || { fail "$side $name: $bad non-200 of $(wc -l < "$out.raw")"; rec "$side" "${name}_p99_ms" nan; return 1; }
  awk '{print $2}' "$out.raw" > "$out"
  read -r p50 p99 mean n < <(python3 "$HERE/prod_gen.py" pct "$out")
  rec "$side" "${name}_p50_ms" "$p50"; rec "$side" "${name}_p99_ms" "$p99"; rec "$side" "${name}_mean_ms" "$mean"
  rec "$side" "${name}_srv_cpu_us_per_req" "$(calc "($c1-$c0)/1e3/$n" 1)"
  rec "$side" "${name}_pgcluster_cpu_us_per_req" "$(calc "($q1-$q0)/1e3/$n" 1)"
  log "  $side $name: p50 ${p50} ms p99 ${p99} ms (n=$n)"
}
tags_setup() {
  local side n secs first last_rows
  python3 "$HERE/prod_gen.py" image "$SHM/small" 512K,512K > /dev/null || { fail "small image"; return 1; }
  for side in pg sqlite; do
    sk_push "$SHM/small" "${BASE[$side]}" bench/tags:src || { fail "push bench/tags:src to $side"; return 1; }
  done
  for side in pg sqlite; do
    read -r n secs < <(python3 "$HERE/prod_gen.py" tag "${BASE[$side]}" bench/tags src "$TAGS_HTTP" "$TAG_THREADS" t)
    [ "${n:-0}" = "$TAGS_HTTP" ] || fail "$side: only ${n:-0}/$TAGS_HTTP tag PUTs succeeded"
    rec "$side" tag_put_per_s "$(calc "${n:-0}/${secs:-1}" 1)"
    log "  $side: $n tag PUTs over HTTP ($TAG_THREADS clients) in ${secs}s"
  done
  # the rest with SQL, same names t<6 digits>, same manifest
  if [ "$TAGS" -gt "$TAGS_HTTP" ]; then
    local t0=$(now)
    psql "$PG_URL" -X -q -v ON_ERROR_STOP=1 <<SQL || fail "psql tag insert"
INSERT INTO tags (repository_id, name, manifest_digest, updated_at)
SELECT t.repository_id, 't' || lpad(g::text, 6, '0'), t.manifest_digest, t.updated_at
FROM (SELECT tg.repository_id, tg.manifest_digest, tg.updated_at FROM tags tg JOIN repositories r ON r.id = tg.repository_id
      WHERE r.name = 'bench/tags' AND tg.name = 'src') t, generate_series($TAGS_HTTP, $((TAGS-1))) g
ON CONFLICT DO NOTHING;
VACUUM (ANALYZE) tags;
SQL
    log "  pg: $((TAGS-TAGS_HTTP)) tags inserted with psql in $(calc "$(now)-$t0" 1)s (+ VACUUM ANALYZE tags, as autovacuum would)"
    t0=$(now)
    sqlite3 "$WORK/berth-sqlite/metadata.db" <<SQL || fail "sqlite3 tag insert"
.timeout 30000
BEGIN IMMEDIATE;
WITH RECURSIVE g(i) AS (SELECT $TAGS_HTTP UNION ALL SELECT i+1 FROM g WHERE i < $((TAGS-1)))
INSERT OR IGNORE INTO tags (repository_id, name, manifest_digest, updated_at)
SELECT t.repository_id, printf('t%06d', g.i), t.manifest_digest, t.updated_at
FROM (SELECT tg.repository_id, tg.manifest_digest, tg.updated_at FROM tags tg JOIN repositories r ON r.id = tg.repository_id
      WHERE r.name = 'bench/tags' AND tg.name = 'src') t, g;
COMMIT;
ANALYZE;
SQL
    log "  sqlite: $((TAGS-TAGS_HTTP)) tags inserted with sqlite3 in $(calc "$(now)-$t0" 1)s (+ ANALYZE)"
  fi
  # check: both answer the same page from the middle, and hold TAGS+1 tags
  local mid; mid=$(printf 't%06d' $((TAGS/2)))
  for side in pg sqlite; do
    first=$(curl -s "${BASE[$side]}/v2/bench/tags/tags/list?n=100&last=$mid" | jq -r '"\(.tags|length) \(.tags[0]) \(.tags[-1])"')
    [ "$first" = "100 $(printf 't%06d' $((TAGS/2+1))) $(printf 't%06d' $((TAGS/2+100)))" ] || fail "$side tags/list page after $mid: $first"
  done
  n=$(psql "$PG_URL" -X -At -c "SELECT count(*) FROM tags t JOIN repositories r ON r.id=t.repository_id WHERE r.name='bench/tags'")
  rec pg tags_in_repo_count "$n"
  n=$(sqlite3 "$WORK/berth-sqlite/metadata.db" "SELECT count(*) FROM tags t JOIN repositories r ON r.id=t.repository_id WHERE r.name='bench/tags'")
  rec sqlite tags_in_repo_count "$n"
  log "  tags in bench/tags: pg $(grep ' pg tags_in_repo_count' "$FIGS" | awk '{print $4}'), sqlite $n"
}

# ---- run -----------------------------------------------------------------------------------------------------------
T_START=$(now)
log "warm-up: one 16 MiB blob to each registry"
gen_blobs warm 16M 1 && for side in ref pg; do curl_push "${BASE[$side]}" bench/warm "$SHM/warm-1" "${GD[1]}" || fail "warm-up push $side"; done
rm -f "$SHM/warm-1"
case " $ONLY " in *" tags "*) log "tags: setup ($TAGS tags, first $TAGS_HTTP over HTTP)"; tags_setup ;; esac
case " $ONLY " in *" manifest "*)
  python3 "$HERE/prod_gen.py" image "$SHM/mimg" 512K,512K,512K > /dev/null
  for side in pg sqlite; do sk_push "$SHM/mimg" "${BASE[$side]}" bench/m:1 || fail "push bench/m:1 to $side"; done ;;
esac
for PASS in $(seq 1 "$PASSES"); do
  if [ $((PASS % 2)) = 1 ]; then BO=(ref pg); MO=(sqlite pg); else BO=(pg ref); MO=(pg sqlite); fi
  log "pass $PASS/$PASSES (order: ${BO[*]} / ${MO[*]})"
  case " $ONLY " in *" blobs "*) s3_ceiling; blobs_pass "${BO[@]}" ;; esac
  case " $ONLY " in *" manifest "*)
    for side in "${MO[@]}"; do wrk_load "$side" manifest_get "${BASE[$side]}/v2/bench/m/manifests/1"; done ;;
  esac
  case " $ONLY " in *" tags "*)
    mid=$(printf 't%06d' $((TAGS/2)))
    # same URL LAT_N times (what a client paging from the same point sees, caches included) and LAT_N distinct
    # pages around the middle (each page read for the first time in this run: the database path)
    declare -a same=() distinct=()
    for i in $(seq 1 "$LAT_N"); do same+=("$mid"); distinct+=("$(printf 't%06d' $(( (TAGS/4 + (PASS-1)*TAGS/4/PASSES + i*(TAGS/4/PASSES/LAT_N)) % TAGS )))"); done
    for side in "${MO[@]}"; do tags_latency "$side" tags_list_same "${same[@]}"; done
    for side in "${MO[@]}"; do tags_latency "$side" tags_list_distinct "${distinct[@]}"; done ;;
  esac
done
T_END=$(now)
for p in "${SAMPLERS[@]}"; do kill "$p" 2>/dev/null; done; SAMPLERS=()
for side in ref pg sqlite; do kill -0 "${PIDOF[$side]}" 2>/dev/null || fail "$side server is no longer running"; done
rec pg rss_end_KiB "$(awk '/^VmRSS/{print $2}' /proc/$PG_PID/status 2>/dev/null)"
rec ref rss_end_KiB "$(awk '/^VmRSS/{print $2}' /proc/$REF_PID/status 2>/dev/null)"

# ---- table -----------------------------------------------------------------------------------------------------------
{
  echo "# production $STAMP  host=$(hostname) cores=$(nproc)  wall $(calc "$T_END-$T_START" 0)s  failures=$FAILS"
  echo "# berth: $BERTH_ID"
  echo "# reference: $(docker-registry --version 2>/dev/null | head -1), S3 driver -> same Garage bucket, rootdirectory /ref, redirect disabled"
  echo "# garage: $(. "$GENV"; "$GARAGE_BIN" --version 2>/dev/null | head -1), single node, data on $(stat -f -c %T "$WORK")"
  echo "# postgresql: $(psql "$PG_URL" -X -At -c 'SHOW server_version' 2>/dev/null) (cluster 127.0.0.1:54329, shared with other users of scripts/postgres.sh)"
  echo "# knobs: PASSES=$PASSES SIZES='$SIZES' CONC_N=$CONC_N CONC_SIZE=$CONC_SIZE CHUNKED=$CHUNKED LOAD_S=$LOAD_S CONC=$CONC TAGS=$TAGS TAGS_HTTP=$TAGS_HTTP LAT_N=$LAT_N ONLY='$ONLY'"
  echo "# raw: $RAW (figures.txt, wrk/curl outputs, pidstat-*.txt, server logs)"
  CACHE=$CACHE NOISE=$NOISE META_NOISE=${META_NOISE:-0.25} python3 - "$FIGS" "$PASSES" <<'EOF'
import os, statistics, sys
noise = float(os.environ["NOISE"])
rows = {}   # (side, fig) -> {pass: value}
order = []
for line in open(sys.argv[1]):
    p, side, fig, v = line.split()
    try: x = float(v)
    except ValueError: x = float("nan")
    rows.setdefault((side, fig), {})[int(p)] = x
    if fig not in order: order.append(fig)
def med(side, fig):
    xs = [x for x in rows.get((side, fig), {}).values() if x == x]
    return statistics.median(xs) if xs else float("nan")
def better(f):
    if f.endswith(("_MBps", "_rps", "_per_s")): return "higher"
    if f.endswith("_count"): return "equal"
    return "lower"
def line(f, a, b):
    ma, mb = med(a, f), med(b, f)
    r = mb / ma if ma == ma and mb == mb and ma != 0 else float("nan")
    bt = better(f)
    if r != r: v = "n/a"
    elif abs(r - 1) <= noise: v = "same"
    elif bt == "equal": v = "DIFFERENT"
    else: v = "BETTER" if (r > 1) == (bt == "higher") else "worse"
    pp = []
    for p in sorted(set(rows.get((a, f), {})) | set(rows.get((b, f), {}))):
        x, y = rows.get((a, f), {}).get(p, float("nan")), rows.get((b, f), {}).get(p, float("nan"))
        pp.append("%.2f" % (y / x) if x == x and y == y and x != 0 else "nan")
    print("%-40s %8.3f %s=%-10g %s=%-10g better=%-6s %-7s per-pass: %s" % (f, r, a, ma, b, mb, bt, v, " ".join(pp)))
blob = [f for f in order if f.startswith(("push_", "pull_"))]
meta = [f for f in order if f.startswith(("manifest_", "tag"))]
if blob:
    print("\n# 1+2. blobs through Garage: ratio = berth(pg+s3) / ref   (berth's local blob cache: %s)"
          % ("on: pulls of what it pushed are served from local disk" if os.environ.get("CACHE", "1") == "1"
             else "off: every pull streams from Garage"))
    print("#      (MBps = 10^6 B/s, aggregate over concurrent clients;")
    print("#      *_cpu_s_per_GB = CPU seconds of the registry / Garage / clients per 10^9 bytes moved;")
    print("#      *_rss_max_KiB = the registry's peak RSS during that step)")
    print("# figure                                   ratio    ref=            pg=")
    for f in blob: line(f, "ref", "pg")
if meta:
    print("\n# 3+4. metadata: ratio = berth on PostgreSQL / berth on SQLite   (pgcluster = all PostgreSQL processes of")
    print("#      the cluster; tags_list_* = curl time_total over loopback, keep-alive, n=100 pages)")
    print("# figure                                   ratio    sqlite=         pg=")
    for f in meta: line(f, "sqlite", "pg")
s3 = [f for f in order if f.startswith("s3_") and f.endswith(("_MBps", "_garage_cpu_s_per_GB", "_cli_cpu_s_per_GB"))]
if s3:
    print("\n# S3 ceiling: curl straight to Garage (SigV4, one PUT / GET per object, no registry), same sizes")
    for f in s3: print("%-40s garage=%g   per-pass: %s" % (f, med("garage", f), " ".join("%g" % v for _, v in sorted(rows[("garage", f)].items()))))
other = [f for f in order if f not in blob and f not in meta and not f.startswith("s3_")]
if other:
    print("\n# other")
    for f in other:
        print("%-40s %s" % (f, "  ".join("%s=%g" % (s, med(s, f)) for s in ("ref", "pg", "sqlite") if (s, f) in rows)))
print("\n# targets")
def chk(desc, ok, detail):
    st = ok if isinstance(ok, str) else ("n/a" if ok is None else ("PASS" if ok else "FAIL"))
    print("%-5s %-60s %s" % (st, desc, detail))
for f in blob:
    if f.endswith("_MBps"):
        a, b = med("ref", f), med("pg", f)
        r = b / a if a == a and b == b and a else float("nan")
        chk("%s berth/ref >= 1.5" % f, None if r != r else r >= 1.5, "ratio %.2f (ref %g, berth %g MB/s)" % (r, a, b))
meta_noise = float(os.environ.get("META_NOISE", "0.25"))   # ref-vs-ref noise on metadata figures (bench/README.md)
for f, want in (("manifest_get_rps", "higher"), ("manifest_get_p50_ms", "lower"), ("manifest_get_p99_ms", "lower")):
    if f in meta:
        a, b = med("sqlite", f), med("pg", f)
        r = b / a if a == a and b == b and a else float("nan")
        worse = (lambda x: x < 1 - meta_noise) if want == "higher" else (lambda x: x > 1 + meta_noise)
        passes = [rows[("pg", f)][p] / rows[("sqlite", f)][p] for p in sorted(rows[("pg", f)])
                  if p in rows.get(("sqlite", f), {}) and rows[("sqlite", f)][p]]
        if r != r: ok, note = None, ""
        elif not worse(r): ok, note = True, ""
        elif all(worse(x) for x in passes) and len(passes) > 1: ok, note = False, ""
        else: ok, note = "NOISY", " -- outside +-%g but not in every pass" % meta_noise
        chk("%s postgres no slower than sqlite" % f, ok, "ratio %.2f (sqlite %g, pg %g), per pass %s%s"
            % (r, a, b, " ".join("%.2f" % x for x in passes), note))
for f in meta:
    if f.startswith("tags_list") and f.endswith(("_p50_ms", "_p99_ms")):
        b = med("pg", f)
        chk("%s (postgres) < 10 ms" % f, None if b != b else b < 10, "pg %g ms (sqlite %g ms)" % (b, med("sqlite", f)))
EOF
} > "$RESULT"
cat "$RESULT"
log "table saved to $RESULT (raw: $RAW)"
[ "$FAILS" = 0 ]
