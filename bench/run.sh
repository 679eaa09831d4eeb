#!/bin/bash
# run.sh BASE_URL [USER:PASS]   -- run all registry benchmark scenarios against one registry.
#
# Prints one machine-readable line per figure on stdout:  "<figure> <value>"
# (progress/diagnostics go to stderr). Units are in the figure name:
#   _MBps = 10^6 bytes/s, _s = seconds, _ms = milliseconds, _rps = requests/s, _KiB = KiB,
#   _per_s = operations/s, _us = microseconds. Higher-is-better: _MBps _rps _per_s; all others lower.
#
# Env knobs:
#   ROUNDS=3        timed repetitions per scenario (median reported; one untimed warm-up before)
#   LOAD_S=10       seconds of HTTP load per manifest scenario;  CONC=32 its concurrency
#   TAGS=1000       tags created for the tags/list scenario
#   IMG_DIR=/tmp/bench/img   generated test images (made on first use by make_image.py)
#   PID=<pid>       server PID for RSS/CPU figures (auto-detected from the port on this host)
#   ONLY="push_big pull_big ..."  run only these scenarios (names: see SCENARIOS below)
#   BIGCONC=4       concurrent skopeo pushes of the big image in push_big_conc (each = 4 x 256 MiB layers,
#                   skopeo uploads the layers of one image in parallel too); BIGCONC_ROUNDS=1 its timed rounds
# Every scenario also emits <scenario>_rss_max_KiB: the server's peak RSS during that scenario (VmHWM, reset
# via /proc/PID/clear_refs at scenario start; falls back to the 0.1 s RSS sampler if the reset is not permitted).
#   RUNID           unique id used in repository names (default: timestamp+pid)
#   PULL_DIR=/dev/shm/bench-pull  where pulls are written (tmpfs, removed afterwards unless KEEP=1)
# Requires: skopeo, curl, jq, python3, oha (or wrk as fallback). Loops are bounded by ROUNDS/LOAD_S.
set -u -o pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BASE=${1:?usage: run.sh BASE_URL [USER:PASS]}; BASE=${BASE%/}
CREDS=${2:-${REG_CREDS:-}}
ROUNDS=${ROUNDS:-3}; LOAD_S=${LOAD_S:-10}; CONC=${CONC:-32}; TAGS=${TAGS:-1000}
IMG_DIR=${IMG_DIR:-/tmp/bench/img}
RUNID=$(echo "${RUNID:-r$(date +%H%M%S)$$}" | tr 'A-Z' 'a-z')   # repository names must be lowercase
HOSTPORT=${BASE#*://}; HOSTPORT=${HOSTPORT%%/*}
PORT=${HOSTPORT##*:}
WORK=/tmp/bench/work/$RUNID; mkdir -p "$WORK"
BIGCONC=${BIGCONC:-4}; BIGCONC_ROUNDS=${BIGCONC_ROUNDS:-1}
SCENARIOS=${ONLY:-"push_big pull_big push_big_conc push_many pull_many push_conc8 push_50x8 manifest blob_get blob_put tags"}
export PATH="$PATH:$HOME/.cargo/bin"
BIC=/var/lib/containers/cache/blob-info-cache-v1.boltdb   # skopeo cache: would turn pushes into cross-repo mounts

log() { echo "[run.sh $(date +%T)] $*" >&2; }
FAILS=0
fail() { log "FAIL: $*"; FAILS=$((FAILS+1)); }
fig() { printf '%s %s\n' "$1" "$2"; }
now() { date +%s.%N; }
med() { sort -g | awk '{a[NR]=$1} END{ if(NR==0){print "nan"} else if(NR%2){print a[(NR+1)/2]} else {print (a[NR/2]+a[NR/2+1])/2} }'; }
calc() { awk "BEGIN{printf \"%.${2:-2}f\", $1}"; }

SK_D=(--dest-tls-verify=false); SK_S=(--src-tls-verify=false); CURL_A=(); OHA_A=()
if [ -n "$CREDS" ]; then
  SK_D+=(--dest-creds "$CREDS"); SK_S+=(--src-creds "$CREDS"); CURL_A=(-u "$CREDS"); OHA_A=(-a "$CREDS")
  export REG_AUTH="$CREDS"
fi

# ---- server pid / rss / cpu ------------------------------------------------
if [ -z "${PID:-}" ]; then
  PID=$(ss -ltnpH "sport = :$PORT" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
fi
TCK=$(getconf CLK_TCK)
cli_cpu_s() { awk -v t=$TCK '{print ($16+$17)/t}' /proc/$$/stat; }   # CPU of reaped children (skopeo, curl, ...)
cpu_s() { [ -n "$PID" ] && [ -r /proc/$PID/stat ] && awk -v t=$TCK '{print ($14+$15)/t}' /proc/$PID/stat || echo 0; }
rss_kib() { [ -n "$PID" ] && awk '/^VmRSS/{print $2}' /proc/$PID/status 2>/dev/null || echo 0; }
# background RSS sampler (bounded: at most 20000 samples * 0.1 s, stops with this script)
SAMPLER=
start_sampler() {
  [ -n "$PID" ] || return
  ( for i in $(seq 20000); do kill -0 $$ 2>/dev/null || break; awk '/^VmRSS/{print $2}' /proc/$PID/status 2>/dev/null || break; sleep 0.1; done ) > "$WORK/rss.samples" &
  SAMPLER=$!
}
# per-scenario peak RSS: reset the kernel's high-water mark, read it back afterwards
hwm_reset() { [ -n "$PID" ] && [ -w /proc/$PID/clear_refs ] && echo 5 2>/dev/null > /proc/$PID/clear_refs; }
hwm_kib() { awk '/^VmHWM/{print $2}' /proc/$PID/status 2>/dev/null; }
cleanup() { [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null; [ "${KEEP:-0}" = 1 ] || rm -rf "${PULL_DIR:-/dev/shm/bench-pull}/$RUNID"; }
trap cleanup EXIT

# ---- preflight -------------------------------------------------------------
code=$(curl -s -o /dev/null -w '%{http_code}' "${CURL_A[@]}" "$BASE/v2/")
[ "$code" = 200 ] || { log "GET $BASE/v2/ -> $code (need 200; pass USER:PASS?)"; exit 1; }
log "base=$BASE pid=${PID:-?} runid=$RUNID rounds=$ROUNDS"

# ---- images ----------------------------------------------------------------
ensure_images() {
  mkdir -p "$IMG_DIR"
  [ -f "$IMG_DIR/big/index.json" ]   || python3 "$HERE/make_image.py" "$IMG_DIR/big" --layers 4 --size 256M
  [ -f "$IMG_DIR/many/index.json" ]  || python3 "$HERE/make_image.py" "$IMG_DIR/many" --layers 100 --size 64K
  [ -f "$IMG_DIR/small-050/index.json" ] || python3 "$HERE/make_image.py" "$IMG_DIR/small" --layers 3 --size 512K --count 50
}
ensure_images
img_bytes() { jq -r '.manifests[0].digest' "$1/index.json" | sed 's/sha256://' | { read d; jq '[.layers[].size, .config.size] | add' "$1/blobs/sha256/$d"; }; }
BIG_BYTES=$(img_bytes "$IMG_DIR/big"); MANY_BYTES=$(img_bytes "$IMG_DIR/many")

push() { # push SRC_OCI_DIR REPO:TAG
  rm -f "$BIC"
  skopeo copy -q "${SK_D[@]}" "oci:$1" "docker://$HOSTPORT/$2" >/dev/null 2>"$WORK/skopeo.err" || { log "push $2 failed: $(tail -2 "$WORK/skopeo.err")"; return 1; }
}
pull() { # pull REPO:TAG DEST_DIR
  rm -rf "$2"; mkdir -p "$(dirname "$2")"
  skopeo copy -q "${SK_S[@]}" "docker://$HOSTPORT/$1" "oci:$2" >/dev/null 2>"$WORK/skopeo.err" || { log "pull $1 failed: $(tail -2 "$WORK/skopeo.err")"; return 1; }
}
# timed NAME BYTES CMD...   runs CMD (with @I@ replaced by round no.) 1 warm-up + ROUNDS times;
# emits NAME_s (median), NAME_MBps (if BYTES>0), NAME_srv_cpu_s (median server CPU)
timed() {
  local name=$1 bytes=$2; shift 2
  local i t0 t1 c0 c1 k0 k1 ts=() cs=() ks=()
  for i in $(seq 0 "$ROUNDS"); do
    local cmd=("${@//@I@/$i}")
    c0=$(cpu_s); k0=$(cli_cpu_s); t0=$(now)
    "${cmd[@]}" || { fail "$name round $i"; fig "${name}_s" nan; return 1; }
    t1=$(now); c1=$(cpu_s); k1=$(cli_cpu_s)
    [ "$i" = 0 ] && continue      # warm-up
    ts+=("$(calc "$t1-$t0" 4)"); cs+=("$(calc "$c1-$c0" 3)"); ks+=("$(calc "$k1-$k0" 3)")
  done
  local m; m=$(printf '%s\n' "${ts[@]}" | med)
  log "$name rounds: ${ts[*]}"
  fig "${name}_s" "$m"
  [ "$bytes" -gt 0 ] && fig "${name}_MBps" "$(calc "$bytes/$m/1e6" 1)"
  [ -n "$PID" ] && fig "${name}_srv_cpu_s" "$(printf '%s\n' "${cs[@]}" | med)"
  fig "${name}_cli_cpu_s" "$(printf '%s\n' "${ks[@]}" | med)"
  return 0
}

# ---- HTTP load: oha (preferred) or wrk (+ ab for HEAD) ----------------------
# load NAME METHOD URL [HEADER]  -> NAME_rps NAME_p50_ms NAME_p99_ms NAME_srv_cpu_us_per_req
# LOADER=oha|wrk|ab forces a tool. wrk 4.1 (Debian) cannot do HEAD (its parser waits for the body that a HEAD
# response announces but never sends -> 0 requests), so without oha HEAD goes to ab (apache2-utils; -k keep-alive,
# -i HEAD, percentiles from its -e CSV at 0.001 ms resolution).
loader_for() {
  if [ -n "${LOADER:-}" ]; then echo "$LOADER"
  elif command -v oha >/dev/null; then echo oha
  elif [ "$1" = HEAD ] || ! command -v wrk >/dev/null; then echo ab
  else echo wrk; fi
}
load() {
  local name=$1 method=$2 url=$3 hdr=${4:-} c0 c1 rps p50 p99 n ok tool
  tool=$(loader_for "$method"); log "load $name: $tool $method c=$CONC ${LOAD_S}s"
  c0=$(cpu_s)
  if [ "$tool" = ab ]; then
    local A=(-q -k -c "$CONC" -t "$LOAD_S" -n $((60000*LOAD_S)) -e "$WORK/$name.csv")   # -n after -t: cap (sizes ab's stats array)
    [ "$method" = HEAD ] && A+=(-i)
    [ -n "$hdr" ] && A+=(-H "$hdr")
    [ -n "$CREDS" ] && A+=(-A "$CREDS")
    ab "${A[@]}" "$url" > "$WORK/$name.ab" 2>&1
    rps=$(awk '/^Requests per second:/{print $4}' "$WORK/$name.ab")
    p50=$(awk -F, '$1=="50"{print $2}' "$WORK/$name.csv"); p99=$(awk -F, '$1=="99"{print $2}' "$WORK/$name.csv")
    n=$(awk '/^Complete requests:/{print $3}' "$WORK/$name.ab"); n=${n:-0}
    ok=$((n - $(awk '/^Non-2xx responses:/{s+=$3} /^Failed requests:/{s+=$3} END{print s+0}' "$WORK/$name.ab")))
  elif [ "$tool" = oha ]; then
    local H=(); [ -n "$hdr" ] && H=(-H "$hdr")
    oha --no-tui --output-format json -z "${LOAD_S}s" -c "$CONC" -m "$method" "${H[@]}" "${OHA_A[@]}" "$url" > "$WORK/$name.json" 2>"$WORK/$name.err"
    rps=$(jq '.summary.requestsPerSec' "$WORK/$name.json")
    p50=$(jq '.latencyPercentiles.p50*1000' "$WORK/$name.json")
    p99=$(jq '.latencyPercentiles.p99*1000' "$WORK/$name.json")
    n=$(jq '[.statusCodeDistribution[]] | add // 0' "$WORK/$name.json")
    ok=$(jq '.statusCodeDistribution["200"] // 0' "$WORK/$name.json")
  else
    local lua="$WORK/$name.lua"
    { echo "wrk.method = \"$method\""; [ -n "$hdr" ] && echo "wrk.headers[\"${hdr%%:*}\"] = \"$(echo "${hdr#*:}" | sed 's/^ *//')\"";
      [ -n "$CREDS" ] && echo "wrk.headers[\"Authorization\"] = \"Basic $(printf %s "$CREDS" | base64 -w0)\""
      cat <<'LUA'
done = function(summary, latency, requests)   -- exact percentiles (microseconds) and error counts
  local e = summary.errors
  io.write(string.format("LUA p50_us=%d p99_us=%d requests=%d status_err=%d sock_err=%d\n",
    latency:percentile(50), latency:percentile(99), summary.requests, e.status, e.connect + e.read + e.write + e.timeout))
end
LUA
    } > "$lua"
    wrk -t2 -c"$CONC" -d"${LOAD_S}s" --latency -s "$lua" "$url" > "$WORK/$name.wrk" 2>&1
    rps=$(awk '/^Requests\/sec/{print $2}' "$WORK/$name.wrk")
    tomss() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) printf "%.3f", v/1000; else if (v ~ /ms$/) printf "%.3f", v+0; else printf "%.3f", v*1000 }'; }
    p50=$(tomss "$(awk '$1=="50%"{print $2}' "$WORK/$name.wrk")"); p99=$(tomss "$(awk '$1=="99%"{print $2}' "$WORK/$name.wrk")")
    n=$(awk '/requests in/{print $1}' "$WORK/$name.wrk"); ok=$n
    grep -q 'Non-2xx' "$WORK/$name.wrk" && ok=0
    if grep -q '^LUA ' "$WORK/$name.wrk"; then   # prefer the done() hook's exact figures
      kv() { grep '^LUA ' "$WORK/$name.wrk" | tr ' ' '\n' | awk -F= -v k="$1" '$1==k{print $2}'; }
      p50=$(calc "$(kv p50_us)/1000" 3); p99=$(calc "$(kv p99_us)/1000" 3); n=$(kv requests); ok=$((n - $(kv status_err)))
      [ "$(kv sock_err)" != 0 ] && log "WARNING $name: $(kv sock_err) socket errors"
    fi
  fi
  c1=$(cpu_s)
  [ "${n:-0}" -gt 0 ] 2>/dev/null || { fail "$name: no responses ($tool), see $WORK/$name.*"; n=0; ok=0; rps=nan; p50=nan; p99=nan; }
  if [ "$ok" != "$n" ]; then
    log "WARNING $name: only $ok/$n responses were 200"
    [ "${n:-0}" -gt 0 ] && [ "$(calc "$ok/$n<0.99" 0)" = 1 ] || [ "${n:-0}" = 0 ] && { fail "$name non-200 responses"; rps=nan; p50=nan; p99=nan; }
  fi
  calcn() { case $1 in nan|'') echo nan;; *) calc "$@";; esac; }   # awk would print nan as 0
  fig "${name}_rps" "$(calcn "$rps" 1)"; fig "${name}_p50_ms" "$(calcn "$p50" 3)"; fig "${name}_p99_ms" "$(calcn "$p99" 3)"
  [ -n "$PID" ] && [ "${n:-0}" -gt 0 ] && fig "${name}_srv_cpu_us_per_req" "$(calc "($c1-$c0)*1e6/$n" 1)"
}

ACC="Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
R=bench/$RUNID
fig rss_idle_KiB "$(rss_kib)"
start_sampler
PULLD=${PULL_DIR:-/dev/shm/bench-pull}/$RUNID   # tmpfs: keeps the client's fsyncs out of the pull figures

for sc in $SCENARIOS; do
  log "scenario $sc"
  HWM_OK=0; hwm_reset && HWM_OK=1
  S0=$(cat "$WORK/rss.samples" 2>/dev/null | wc -l)
  case $sc in
    push_big)   timed push_big "$BIG_BYTES" push "$IMG_DIR/big" "$R/big-@I@:1" ;;
    pull_big)   push "$IMG_DIR/big" "$R/bigsrc:1" 2>/dev/null; timed pull_big "$BIG_BYTES" pull "$R/bigsrc:1" "$PULLD/big-@I@"; rm -rf "$PULLD" ;;
    push_big_conc)  # BIGCONC concurrent pushes of the big image into distinct repositories (RSS under large uploads)
      pbc() { rm -f "$BIC"; seq 1 "$BIGCONC" | xargs -P "$BIGCONC" -I{} skopeo copy -q "${SK_D[@]}" "oci:$IMG_DIR/big" "docker://$HOSTPORT/$R/bc-$1-{}:1" >/dev/null 2>>"$WORK/skopeo.err"; }
      ROUNDS=$BIGCONC_ROUNDS timed push_big_conc $((BIG_BYTES*BIGCONC)) pbc @I@ ;;
    push_many)  timed push_many "$MANY_BYTES" push "$IMG_DIR/many" "$R/many-@I@:1" ;;
    pull_many)  push "$IMG_DIR/many" "$R/manysrc:1"; timed pull_many "$MANY_BYTES" pull "$R/manysrc:1" "$PULLD/many-@I@"; rm -rf "$PULLD" ;;
    push_conc8) # 8 concurrent pushes of 8 different small images
      conc8() { rm -f "$BIC"; seq -f %03g 1 8 | xargs -P 8 -I{} skopeo copy -q "${SK_D[@]}" "oci:$IMG_DIR/small-{}" "docker://$HOSTPORT/$R/c8-$1-{}:1" >/dev/null 2>>"$WORK/skopeo.err"; }
      timed push_conc8 0 conc8 @I@ ;;
    push_50x8)  # all 50 small images, 8 at a time
      p50x8() { rm -f "$BIC"; seq -f %03g 1 50 | xargs -P 8 -I{} skopeo copy -q "${SK_D[@]}" "oci:$IMG_DIR/small-{}" "docker://$HOSTPORT/$R/s50-$1-{}:1" >/dev/null 2>>"$WORK/skopeo.err"; }
      timed push_50x8 0 p50x8 @I@ ;;
    manifest)
      push "$IMG_DIR/small-001" "$R/m:1"
      load manifest_head HEAD "$BASE/v2/$R/m/manifests/1" "$ACC"
      load manifest_get GET "$BASE/v2/$R/m/manifests/1" "$ACC"
      dg=$(python3 "$HERE/regtool.py" digest "$BASE" "$R/m" 1)
      load manifest_get_digest GET "$BASE/v2/$R/m/manifests/$dg" "$ACC" ;;
    blob_get)
      push "$IMG_DIR/big" "$R/blob:1" 2>/dev/null
      read -r bd bs < <(python3 "$HERE/regtool.py" layers "$BASE" "$R/blob" 1 | head -1)
      ss=(); gc0=$(cpu_s); gk0=$(cli_cpu_s); gn=0
      for i in $(seq 0 $((ROUNDS+2))); do gn=$((gn+1))
        out=$(curl -s -L "${CURL_A[@]}" -o /dev/null -w '%{http_code} %{size_download} %{speed_download}' "$BASE/v2/$R/blob/blobs/$bd")
        set -- $out; if [ "$1" = 200 ] && [ "$2" = "${bs:-x}" ]; then [ "$i" -gt 0 ] && ss+=("$3"); else fail "blob GET: $out"; fi
      done
      log "blob_get B/s: ${ss[*]}"
      if [ ${#ss[@]} -gt 0 ]; then fig blob_get_MBps "$(calc "$(printf '%s\n' "${ss[@]}" | med)/1e6" 1)"; else fig blob_get_MBps nan; fi
      # CPU per GB served, over all GETs incl. warm-up (server: /proc/PID/stat; client: curl)
      [ -n "$PID" ] && [ -n "${bs:-}" ] && fig blob_get_srv_cpu_s_per_GB "$(calc "($(cpu_s)-$gc0)*1e9/($gn*$bs)" 3)"
      [ -n "${bs:-}" ] && fig blob_get_cli_cpu_s_per_GB "$(calc "($(cli_cpu_s)-$gk0)*1e9/($gn*$bs)" 3)" ;;
    blob_put)   # monolithic POST+PUT upload of one 256 MiB layer with curl (single stream)
      lay=$(ls -S "$IMG_DIR/big/blobs/sha256/" | head -1); lsz=$(stat -c %s "$IMG_DIR/big/blobs/sha256/$lay")
      bput() {
        local loc; loc=$(curl -s -D - -o /dev/null -X POST "${CURL_A[@]}" "$BASE/v2/$R/up-$1/blobs/uploads/" | tr -d '\r' | awk 'tolower($1)=="location:"{print $2}')
        case $loc in http*) ;; *) loc="$BASE$loc";; esac
        case $loc in *\?*) loc="$loc&digest=sha256:$lay";; *) loc="$loc?digest=sha256:$lay";; esac
        [ "$(curl -s -o /dev/null -w '%{http_code}' "${CURL_A[@]}" -H 'Content-Type: application/octet-stream' -T "$IMG_DIR/big/blobs/sha256/$lay" "$loc")" = 201 ]
      }
      timed blob_put "$lsz" bput @I@ ;;
    tags)
      push "$IMG_DIR/small-050" "$R/tags:src" || fail "push tags:src"
      n=; cnt=
      read -r n secs < <(python3 "$HERE/regtool.py" tag "$BASE" "$R/tags" src "$TAGS")
      if [ -n "$n" ]; then fig tag_put_per_s "$(calc "$n/$secs" 1)"; else fail "tag PUT"; fig tag_put_per_s nan; fi
      read -r cnt secs pages < <(python3 "$HERE/regtool.py" tagslist "$BASE" "$R/tags" 100)
      fig tags_list_paged_count "${cnt:-nan}"; [ "${cnt:-0}" = $((TAGS+1)) ] || fail "tags/list paginated count ${cnt:-none} != $((TAGS+1))"
      load tags_list GET "$BASE/v2/$R/tags/tags/list" ;;
    *) log "unknown scenario $sc"; continue ;;
  esac
  if [ -n "$PID" ]; then
    if [ "$HWM_OK" = 1 ]; then fig "${sc}_rss_max_KiB" "$(hwm_kib)"
    else fig "${sc}_rss_max_KiB" "$(tail -n +$((S0+1)) "$WORK/rss.samples" 2>/dev/null | sort -n | tail -1)"; fi
  fi
done

[ -n "$SAMPLER" ] && { kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null; }
[ -s "$WORK/rss.samples" ] && fig rss_max_KiB "$(sort -n "$WORK/rss.samples" | tail -1)"
[ -n "$PID" ] && fig rss_end_KiB "$(rss_kib)"
fig fail_count "$FAILS"
log "done ($FAILS failures)"
[ "$FAILS" = 0 ]
