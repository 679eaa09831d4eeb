#!/usr/bin/env bash
# Garage (S3-compatible object store) for Berth's tests: a single node or a three-node cluster on
# 127.0.0.1, everything (config, data, logs, pids) under one directory. Debian 12, no stdin: works in CI.
# Idempotent: `single DIR` / `cluster DIR` on a directory that is already set up (running or stopped)
# restarts what is stopped and re-checks layout, bucket and key.
#
#   scripts/garage.sh single DIR          one node (replication_factor 1); prints DIR/env
#   scripts/garage.sh cluster DIR         three nodes DIR/node{1,2,3} (replication_factor 3,
#                                         consistency_mode consistent, zones dc1 dc2 dc3); prints DIR/env
#   scripts/garage.sh stop-node DIR N [--kill]
#                                         stop node N (1..3) of the cluster in DIR: SIGTERM (Garage then
#                                         waits up to 10 s for open S3 connections), SIGKILL after 20 s;
#                                         --kill: SIGKILL at once (a crash)
#   scripts/garage.sh start-node DIR N    start node N again and wait until it is back in the cluster
#   scripts/garage.sh stop DIR [--kill]   stop every Garage process started in DIR (data is kept);
#                                         --kill: SIGKILL at once (a crash; no 10 s wait for clients)
#   scripts/garage.sh env DIR             print DIR/env (fails if DIR was never set up)
#   scripts/garage.sh bin                 make sure the pinned binary exists; print its path
#
# DIR/env holds shell `export` lines (values single-quoted):
#   BERTH_STORAGE__BACKEND=s3 BERTH_STORAGE__ENDPOINT=http://127.0.0.1:<s3 port of node 1>
#   BERTH_STORAGE__REGION=garage BERTH_STORAGE__BUCKET=berth BERTH_STORAGE__PATH_STYLE=true
#   BERTH_STORAGE__ACCESS_KEY_ID=GK... BERTH_STORAGE__SECRET_ACCESS_KEY=...
#   GARAGE_BIN  GARAGE_CONFIG (node 1's garage.toml)  GARAGE_CONFIGS (all, space-separated)
#   GARAGE_S3_ENDPOINTS (all S3 endpoints, space-separated)  GARAGE_ADMIN_ENDPOINT  GARAGE_ADMIN_TOKEN
#   GARAGE_NODES (1 or 3)
#
# The Garage binary is pinned to $GARAGE_VERSION and cached in ~/.cache/berth/garage/bin/garage
# (GARAGE_BIN overrides). When it is missing it is built with
#   cargo install garage --version 2.1.0 --locked --root ~/.cache/berth/garage
# (about 25 minutes on two cores; needs cargo and a C compiler). If such a build is already running
# on the machine the script waits for it instead of starting a second one (GARAGE_BUILD_TIMEOUT
# seconds, default 3600).
set -euo pipefail

GARAGE_VERSION=2.1.0
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/berth
GARAGE_ROOT=$CACHE/garage
BIN=${GARAGE_BIN:-$GARAGE_ROOT/bin/garage}
BUCKET=berth
REGION=garage

log() { echo "garage.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
# Quote a value for a shell `export` line (single quotes, embedded ' escaped).
shq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# ---------------------------------------------------------------------------------------------
# The binary
# ---------------------------------------------------------------------------------------------

binary_ok() {
  local v
  [ -x "$BIN" ] && v=$("$BIN" --version 2>/dev/null) && [[ $v == *"$GARAGE_VERSION"* ]]
}

# True while a `cargo install garage` (ours or anyone's) runs on this machine.
build_running() { pgrep -f "cargo install garage" >/dev/null 2>&1; }

ensure_binary() {
  binary_ok && return 0
  mkdir -p "$GARAGE_ROOT"
  # Serialise builds started by this script (parallel test processes).
  exec 8>"$CACHE/garage-build.lock"
  flock 8
  if ! binary_ok && build_running; then
    local timeout=${GARAGE_BUILD_TIMEOUT:-3600} waited=0
    log "a 'cargo install garage' is already running: waiting for $BIN (up to ${timeout}s)"
    # cargo copies the binary into place at the very end: wait for the build process to finish too.
    while build_running || ! [ -x "$BIN" ]; do
      [ "$waited" -lt "$timeout" ] || die "timed out waiting for the running garage build"
      if ! build_running && ! [ -x "$BIN" ]; then break; fi
      sleep 10
      waited=$((waited + 10))
    done
  fi
  if ! binary_ok; then
    command -v cargo >/dev/null 2>&1 || die "no $BIN and no cargo to build it"
    log "building garage $GARAGE_VERSION (cargo install, ~25 min on 2 cores) into $GARAGE_ROOT"
    cargo install garage --version "$GARAGE_VERSION" --locked --root "$GARAGE_ROOT" </dev/null >&2
  fi
  flock -u 8
  binary_ok || die "$BIN is not garage $GARAGE_VERSION"
}

# lmdb when the binary was built with it (Garage's recommended engine), else sqlite.
db_engine() {
  local v
  v=$("$BIN" --version 2>/dev/null || true)
  if [[ $v == *lmdb* ]]; then echo lmdb; else echo sqlite; fi
}

# ---------------------------------------------------------------------------------------------
# Ports, config, processes
# ---------------------------------------------------------------------------------------------

USED_PORTS=" "
# A TCP port on 127.0.0.1 that nothing listens on (and that this run has not handed out yet).
free_port() {
  local p i
  for i in $(seq 1 200); do
    # Below Linux's ephemeral range (32768+), where outgoing connections and `bind(0)` take theirs.
    p=$((10000 + RANDOM % 22000))
    case "$USED_PORTS" in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      USED_PORTS="$USED_PORTS$p "
      echo "$p"
      return
    fi
  done
  die "no free port found"
}

# write_config NODEDIR REPLICATION RPC_SECRET ADMIN_TOKEN: garage.toml with fresh ports, unless it exists.
write_config() {
  local dir=$1 rf=$2 secret=$3 token=$4 rpc s3 admin
  [ -f "$dir/garage.toml" ] && return 0
  mkdir -p "$dir/meta" "$dir/data"
  rpc=$(free_port); s3=$(free_port); admin=$(free_port)
  (umask 077; cat >"$dir/garage.toml.tmp" <<TOML
# Written by scripts/garage.sh ($(date -u +%FT%TZ)); test deployment on 127.0.0.1.
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "$(db_engine)"

replication_factor = $rf
consistency_mode = "consistent"

rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"
rpc_secret = "$secret"

[s3_api]
s3_region = "$REGION"
api_bind_addr = "127.0.0.1:$s3"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$admin"
admin_token = "$token"
TOML
  mv "$dir/garage.toml.tmp" "$dir/garage.toml")
}

# start_new_node NODEDIR REPLICATION RPC_SECRET ADMIN_TOKEN: write_config + start_node; a node
# that has never run gets new ports when one of its ports was taken between choosing and binding.
start_new_node() {
  local dir=$1 attempt
  if [ -f "$dir/garage.toml" ]; then start_node "$dir"; return; fi
  for attempt in 1 2 3 4 5; do
    write_config "$@"
    if start_node "$dir" 1; then return 0; fi
    log "a port of $dir was taken; choosing new ports (attempt $attempt)"
    rm -f "$dir/garage.toml" "$dir/garage.pid"
    mv "$dir/garage.log" "$dir/garage.log.addr-in-use.$attempt" 2>/dev/null || true
  done
  die "garage ($dir) could not bind its ports after 5 attempts"
}

# toml_port NODEDIR SECTION-KEY: the port of `rpc_bind_addr` or `api_bind_addr` in [s3_api]/[admin].
s3_port() { awk -F'[:"]' '/^\[s3_api\]/{s=1} /^\[admin\]/{s=0} s && /^api_bind_addr/{print $(NF-1)}' "$1/garage.toml"; }
admin_port() { awk -F'[:"]' '/^\[admin\]/{s=1} s && /^api_bind_addr/{print $(NF-1)}' "$1/garage.toml"; }
rpc_port() { awk -F'[:"]' '/^rpc_bind_addr/{print $(NF-1)}' "$1/garage.toml"; }
admin_token() { sed -n 's/^admin_token = "\(.*\)"$/\1/p' "$1/garage.toml"; }

g() { local dir=$1; shift; "$BIN" -c "$dir/garage.toml" "$@"; }

node_pid() { cat "$1/garage.pid" 2>/dev/null || true; }
node_running() {
  local pid
  pid=$(node_pid "$1")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q garage "/proc/$pid/cmdline" 2>/dev/null
}

# start_node NODEDIR: `garage server` in the background (own session, survives this script),
# log NODEDIR/garage.log, pid NODEDIR/garage.pid; waits until the node answers CLI requests.
start_node() {
  local dir=$1 fresh=${2:-0} i
  if ! node_running "$dir"; then
    rm -f "$dir/garage.pid"
    log "starting garage server ($dir)"
    # shellcheck disable=SC2016  # $$/$1/$2 are for the inner sh
    RUST_LOG=${GARAGE_RUST_LOG:-garage=info,netapp=info} setsid sh -c \
      'echo $$ >"$1/garage.pid"; exec "$2" -c "$1/garage.toml" server' sh "$dir" "$BIN" \
      </dev/null >>"$dir/garage.log" 2>&1 8>&- &
    for i in $(seq 1 100); do [ -s "$dir/garage.pid" ] && break; sleep 0.05; done
  fi
  for i in $(seq 1 120); do
    if ! node_running "$dir" && [ "$fresh" = 1 ] && grep -q "Address already in use" "$dir/garage.log"; then
      return 2  # another process took one of the fresh ports first: the caller picks new ones
    fi
    node_running "$dir" || die "garage ($dir) exited; last log lines:
$(tail -n 20 "$dir/garage.log" 2>/dev/null)"
    if g "$dir" status >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  die "garage ($dir) not answering after 60s; see $dir/garage.log"
}

# signal_node NODEDIR SIGNAL: send SIGNAL to the node's server if it runs.
signal_node() {
  local dir=$1 sig=$2 pid
  pid=$(node_pid "$dir")
  if node_running "$dir"; then
    log "SIG$sig garage ($dir, pid $pid)"
    kill "-$sig" "$pid" 2>/dev/null || true
  fi
}

# wait_stopped NODEDIR: wait for the node's server to exit; SIGKILL after 20 s. (On SIGTERM Garage
# lets open S3 connections finish for up to 10 s before exiting.)
wait_stopped() {
  local dir=$1 pid i
  pid=$(node_pid "$dir")
  if [ -n "$pid" ]; then
    for i in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null && grep -q garage "/proc/$pid/cmdline" 2>/dev/null; then
      log "garage ($dir) still running after 20s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  fi
  rm -f "$dir/garage.pid"
}

# stop_node NODEDIR [KILL|TERM]: graceful stop (default), or SIGKILL (crash).
stop_node() {
  signal_node "$1" "${2:-TERM}"
  wait_stopped "$1"
}

node_id() { local id; id=$(g "$1" node id -q 2>/dev/null); echo "${id%%@*}"; }

# JSON field helpers for `garage json-api` output: json_num FIELD JSON prints the first number value
# of FIELD (nothing if absent); json_str likewise for a string value. (Bash regexes on captured
# output: no early-closing pipes under pipefail.)
json_num() { local re="\"$1\": *([0-9]+)"; if [[ $2 =~ $re ]]; then echo "${BASH_REMATCH[1]}"; fi; }
json_str() { local re="\"$1\": *\"([^\"]*)\""; if [[ $2 =~ $re ]]; then echo "${BASH_REMATCH[1]}"; fi; }

# The cluster layout version (0: no layout applied yet); nothing if the node does not answer.
layout_version() {
  local out
  out=$(g "$1" json-api GetClusterLayout 2>/dev/null) || return 0
  json_num version "$out"
}

# wait_healthy NODEDIR NODES: until the node sees NODES storage nodes up and a quorum for all partitions.
wait_healthy() {
  local dir=$1 n=$2 i h
  for i in $(seq 1 120); do
    h=$(g "$dir" json-api GetClusterHealth 2>/dev/null || true)
    # all running storage nodes connected, and a write quorum for every partition
    if [ "$(json_num storageNodesUp "$h")" = "$n" ] \
       && [ "$(json_num partitionsQuorum "$h")" = "$(json_num partitions "$h")" ] \
       && [ -n "$(json_num partitions "$h")" ]; then
      return 0
    fi
    sleep 0.5
  done
  die "cluster not healthy after 60s (as seen from $dir): $h"
}

# retry N CMD...: run CMD until it succeeds (cluster operations right after a layout change can
# fail transiently while the new layout propagates).
retry() {
  local n=$1 i; shift
  for i in $(seq 1 "$n"); do
    if "$@"; then return 0; fi
    sleep 1
  done
  "$@"
}

# setup_bucket_key TOPDIR NODEDIR: bucket `berth`, key `berth` (saved in TOPDIR/s3-key), permissions.
setup_bucket_key() {
  local top=$1 dir=$2 out id secret
  if ! g "$dir" bucket info "$BUCKET" >/dev/null 2>&1; then
    log "bucket create $BUCKET"
    retry 30 g "$dir" bucket create "$BUCKET" >/dev/null
  fi
  if [ -s "$top/s3-key" ] && g "$dir" key info "$(sed -n 1p "$top/s3-key")" >/dev/null 2>&1; then
    :
  else
    log "key create berth"
    out=$(retry 30 g "$dir" json-api CreateKey '{"name":"berth"}')
    id=$(json_str accessKeyId "$out")
    secret=$(json_str secretAccessKey "$out")
    [ -n "$id" ] && [ -n "$secret" ] || die "unexpected CreateKey answer: $out"
    (umask 077; printf '%s\n%s\n' "$id" "$secret" >"$top/s3-key")
  fi
  id=$(sed -n 1p "$top/s3-key")
  retry 30 g "$dir" bucket allow --read --write --owner "$BUCKET" --key "$id" >/dev/null
}

# write_env TOPDIR NODEDIR...: TOPDIR/env (see the header), printed on stdout.
write_env() {
  local top=$1; shift
  local first=$1 d endpoints="" configs="" id secret
  for d in "$@"; do
    endpoints="$endpoints${endpoints:+ }http://127.0.0.1:$(s3_port "$d")"
    configs="$configs${configs:+ }$d/garage.toml"
  done
  id=$(sed -n 1p "$top/s3-key")
  secret=$(sed -n 2p "$top/s3-key")
  (umask 077; {
    echo "# Written by scripts/garage.sh: source it to point Berth at this Garage deployment."
    echo "export BERTH_STORAGE__BACKEND=s3"
    echo "export BERTH_STORAGE__ENDPOINT=$(shq "http://127.0.0.1:$(s3_port "$first")")"
    echo "export BERTH_STORAGE__REGION=$(shq "$REGION")"
    echo "export BERTH_STORAGE__BUCKET=$(shq "$BUCKET")"
    echo "export BERTH_STORAGE__PATH_STYLE=true"
    echo "export BERTH_STORAGE__ACCESS_KEY_ID=$(shq "$id")"
    echo "export BERTH_STORAGE__SECRET_ACCESS_KEY=$(shq "$secret")"
    echo "export GARAGE_BIN=$(shq "$BIN")"
    echo "export GARAGE_CONFIG=$(shq "$first/garage.toml")"
    echo "export GARAGE_CONFIGS=$(shq "$configs")"
    echo "export GARAGE_S3_ENDPOINTS=$(shq "$endpoints")"
    echo "export GARAGE_ADMIN_ENDPOINT=$(shq "http://127.0.0.1:$(admin_port "$first")")"
    echo "export GARAGE_ADMIN_TOKEN=$(shq "$(admin_token "$first")")"
    echo "export GARAGE_NODES=$#"
  } >"$top/env.tmp" && mv "$top/env.tmp" "$top/env")
  echo "$top/env"
}

abs_dir() { mkdir -p "$1" && (cd "$1" && pwd -P); }

# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------

cmd_single() {
  local top id
  top=$(abs_dir "$1")
  [ -d "$top/node1" ] && die "$top holds a cluster; use: $0 cluster $top"
  ensure_binary
  start_new_node "$top" 1 "$(random_hex 32)" "$(random_hex 32)"
  if [ "$(layout_version "$top")" = 0 ]; then
    id=$(node_id "$top")
    log "layout assign -z dc1 -c 1G $id; layout apply --version 1"
    g "$top" layout assign -z dc1 -c 1G "$id" >/dev/null
    g "$top" layout apply --version 1 >/dev/null
  fi
  wait_healthy "$top" 1
  setup_bucket_key "$top" "$top"
  write_env "$top" "$top"
}

cmd_cluster() {
  local top secret token i n1 id v
  top=$(abs_dir "$1")
  [ -f "$top/garage.toml" ] && die "$top holds a single node; use: $0 single $top"
  ensure_binary
  # One rpc_secret for the cluster; each node its own admin token (kept in its config).
  if [ ! -s "$top/rpc-secret" ]; then (umask 077; random_hex 32 >"$top/rpc-secret"); fi
  secret=$(cat "$top/rpc-secret")
  for i in 1 2 3; do start_new_node "$top/node$i" 3 "$secret" "$(random_hex 32)"; done
  n1=$top/node1
  # Bootstrap: every node connects to the two others right away (peers are also remembered in each
  # metadata dir, but reconnection after a restart would otherwise wait for a retry timer).
  local j
  for i in 1 2 3; do
    for j in 1 2 3; do
      [ "$i" = "$j" ] && continue
      retry 10 g "$top/node$i" node connect \
        "$(node_id "$top/node$j")@127.0.0.1:$(rpc_port "$top/node$j")" >/dev/null
    done
  done
  v=$(layout_version "$n1")
  if [ "$v" = 0 ]; then
    for i in 1 2 3; do
      id=$(node_id "$top/node$i")
      log "layout assign -z dc$i -c 1G $id"
      g "$n1" layout assign -z "dc$i" -c 1G "$id" >/dev/null
    done
    log "layout apply --version 1"
    g "$n1" layout apply --version 1 >/dev/null
  fi
  for i in 1 2 3; do wait_healthy "$top/node$i" 3; done
  setup_bucket_key "$top" "$n1"
  write_env "$top" "$top/node1" "$top/node2" "$top/node3"
}

node_dir() {
  local top=$1 n=$2
  case "$n" in 1|2|3) ;; *) die "node number must be 1, 2 or 3 (got '$n')" ;; esac
  [ -f "$top/node$n/garage.toml" ] || die "no cluster node $n in $top"
  echo "$top/node$n"
}

cmd_stop_node() {
  local dir sig=TERM
  dir=$(node_dir "$1" "$2")
  case "${3:-}" in
    "") ;;
    --kill) sig=KILL ;;
    *) usage ;;
  esac
  stop_node "$dir" "$sig"
}

cmd_start_node() {
  local dir
  dir=$(node_dir "$1" "$2")
  ensure_binary
  start_node "$dir"
  # The other nodes would reconnect to the restarted node only at their next retry (up to 30 s
  # later): have each running node connect to it now.
  local up=0 d addr
  addr="$(node_id "$dir")@127.0.0.1:$(rpc_port "$dir")"
  for d in "$1"/node*; do
    node_running "$d" || continue
    up=$((up + 1))
    [ "$d" = "$dir" ] || retry 10 g "$d" node connect "$addr" >/dev/null
  done
  # Back in the cluster: every running node sees every running node.
  for d in "$1"/node*; do if node_running "$d"; then wait_healthy "$d" "$up"; fi; done
}

cmd_stop() {
  local top=$1 d sig=TERM
  case "${2:-}" in
    "") ;;
    --kill) sig=KILL ;;
    *) usage ;;
  esac
  [ -d "$top" ] || { log "no directory $top: nothing to stop"; return 0; }
  # signal every node first, then wait: the nodes shut down in parallel
  for d in "$top" "$top"/node*; do
    if [ -f "$d/garage.toml" ]; then signal_node "$d" "$sig"; fi
  done
  for d in "$top" "$top"/node*; do
    if [ -f "$d/garage.toml" ]; then wait_stopped "$d"; fi
  done
  return 0
}

usage() {
  echo "usage: $0 single DIR | cluster DIR | stop DIR [--kill] | stop-node DIR N [--kill] | start-node DIR N | env DIR | bin" >&2
  exit 2
}

[ $# -ge 1 ] || usage
cmd=$1; shift
case "$cmd" in
  single)     [ $# -eq 1 ] || usage; cmd_single "$1" ;;
  cluster)    [ $# -eq 1 ] || usage; cmd_cluster "$1" ;;
  stop)       [ $# -ge 1 ] && [ $# -le 2 ] || usage; cmd_stop "$@" ;;
  stop-node)  [ $# -ge 2 ] && [ $# -le 3 ] || usage; cmd_stop_node "$@" ;;
  start-node) [ $# -eq 2 ] || usage; cmd_start_node "$1" "$2" ;;
  env)        [ $# -eq 1 ] || usage; [ -f "$1/env" ] || die "no $1/env"; echo "$(abs_dir "$1")/env" ;;
  bin)        ensure_binary; echo "$BIN" ;;
  *)          usage ;;
esac
