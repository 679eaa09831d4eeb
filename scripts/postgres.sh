#!/usr/bin/env bash
# A dedicated PostgreSQL cluster for Berth's tests (Debian/Ubuntu, as root or with passwordless sudo,
# no stdin: works in CI). Idempotent: every command can be run any number of times.
#
#   scripts/postgres.sh start     install PostgreSQL if missing, create/start the cluster, create a
#                                 fresh database and print its URL (the only line on stdout):
#                                   postgres://berth:<password>@127.0.0.1:<port>/berth_<time>_<random>
#   scripts/postgres.sh newdb     same as start (start is a no-op when already running): another fresh
#                                 database, its URL on stdout
#   scripts/postgres.sh up        install/create/start the cluster only (no database, nothing on stdout)
#   scripts/postgres.sh stop      stop the cluster (fast shutdown: open connections are cut)
#   scripts/postgres.sh restart   restart the cluster (fault tests: "restart PostgreSQL under traffic")
#   scripts/postgres.sh status    exit 0 when the cluster accepts connections (non-zero otherwise)
#   scripts/postgres.sh dropall   drop every berth_* test database
#   scripts/postgres.sh url       print the URL of the maintenance database `postgres` (no new database)
#
# The cluster: `<major>/$BERTH_PG_CLUSTER` (pg_createcluster; default `berth`), listening only on
# 127.0.0.1. Its port: BERTH_PG_PORT when set; else the port an existing cluster was created with;
# else 54329 for `berth` and a port free at creation time for any other cluster (fault tests run
# their own cluster, e.g. BERTH_PG_CLUSTER=berth-faults, so that stopping it hurts no other test).
# Clients take the port from the printed URL. max_connections $BERTH_PG_MAX_CONNECTIONS (default
# 300; checked after every start: a cluster that does not run with it is restarted, or the script
# fails), fsync on, ssl off, password (scram-sha-256) authentication over TCP. The role `berth` is
# LOGIN SUPERUSER; its password is generated once and kept in ~/.cache/berth/postgres-password
# (mode 600, shared by all clusters) and re-applied on every start, so deleting that file simply
# rotates it. Logs: /var/log/postgresql/postgresql-<major>-<cluster>.log.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

CLUSTER=${BERTH_PG_CLUSTER:-berth}
MAX_CONNECTIONS=${BERTH_PG_MAX_CONNECTIONS:-300}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/berth
PWFILE=$CACHE/postgres-password
if [ "$CLUSTER" = berth ]; then LOCK=$CACHE/postgres.lock; else LOCK=$CACHE/postgres-$CLUSTER.lock; fi
[[ $CLUSTER =~ ^[a-z0-9][a-z0-9_-]*$ ]] || { echo "postgres.sh: bad BERTH_PG_CLUSTER '$CLUSTER'" >&2; exit 2; }
[[ $MAX_CONNECTIONS =~ ^[1-9][0-9]*$ ]] || { echo "postgres.sh: bad BERTH_PG_MAX_CONNECTIONS" >&2; exit 2; }

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; fi

log() { echo "postgres.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# The port of an existing cluster (any installed version), from its configuration; else empty.
configured_port() {
  { pg_lsclusters -h 2>/dev/null || true; } | awk -v c="$CLUSTER" '$2==c {print $3; exit}'
}

# A TCP port nothing on 127.0.0.1 listens on right now (for a new cluster other than `berth`).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

PORT=${BERTH_PG_PORT:-$(configured_port)}
if [ -z "$PORT" ]; then
  if [ "$CLUSTER" = berth ]; then PORT=54329; else PORT=$(free_port); fi
fi
[[ $PORT =~ ^[0-9]+$ ]] || die "bad port '$PORT'"

# pg_ctlcluster, without the lock's descriptor: a server it starts would inherit it and hold the
# lock for as long as it runs whenever this script exits without unlocking (an error).
ctl() { $SUDO pg_ctlcluster "$@" >&2 9>&-; }

# Run a command as the postgres OS user (peer authentication on the Unix socket).
as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"; else $SUDO runuser -u postgres -- "$@"; fi
}

# apt-get install PostgreSQL server + client when pg_createcluster or a server binary is missing;
# apt-get update only when the package lists cannot satisfy the install.
ensure_installed() {
  if command -v pg_createcluster >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 \
     && command -v psql >/dev/null 2>&1; then
    return
  fi
  log "apt-get install postgresql"
  if ! $SUDO apt-get install -y -qq -o=Dpkg::Use-Pty=0 --no-install-recommends postgresql postgresql-client \
        </dev/null >&2; then
    $SUDO apt-get update -qq </dev/null >&2
    $SUDO apt-get install -y -qq -o=Dpkg::Use-Pty=0 --no-install-recommends postgresql postgresql-client \
      </dev/null >&2
  fi
}

# Highest installed server major version (e.g. 15 on Debian 12).
major_version() {
  local d best=""
  for d in /usr/lib/postgresql/*/bin/postgres; do
    [ -x "$d" ] || continue
    d=${d#/usr/lib/postgresql/}; d=${d%%/*}
    if [ -z "$best" ] || [ "$(printf '%s\n%s\n' "$best" "$d" | sort -V | tail -n 1)" = "$d" ]; then best=$d; fi
  done
  [ -n "$best" ] || die "no PostgreSQL server under /usr/lib/postgresql"
  echo "$best"
}

# The cluster's major version if it exists (any installed version), else empty.
existing_version() {
  local d
  for d in /etc/postgresql/*/"$CLUSTER"/postgresql.conf; do
    [ -f "$d" ] && { d=${d#/etc/postgresql/}; echo "${d%%/*}"; return; }
  done
  true
}

password() {
  mkdir -p "$CACHE"
  if [ ! -s "$PWFILE" ]; then
    (umask 077; od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$PWFILE.tmp" && mv "$PWFILE.tmp" "$PWFILE")
  fi
  cat "$PWFILE"
}

# Settings for the test cluster, in conf.d (postgresql.conf includes it last, so it wins).
settings() {
  cat <<CONF
# Written by scripts/postgres.sh: Berth test cluster settings.
listen_addresses = '127.0.0.1'
port = $PORT
max_connections = $MAX_CONNECTIONS
fsync = on
ssl = off
password_encryption = 'scram-sha-256'
CONF
}

# Create the cluster if missing; (re)write its settings. Prints the major version on stdout.
ensure_cluster() {
  local ver conf
  ver=$(existing_version)
  if [ -z "$ver" ]; then
    ver=$(major_version)
    log "pg_createcluster $ver $CLUSTER (127.0.0.1:$PORT)"
    # --start-conf manual: not started at boot by the postgresql service, only by this script.
    # Local (Unix socket) connections: peer; TCP: scram-sha-256 passwords.
    $SUDO pg_createcluster "$ver" "$CLUSTER" --port "$PORT" --start-conf manual \
      -- --auth-local=peer --auth-host=scram-sha-256 >&2
  fi
  conf=/etc/postgresql/$ver/$CLUSTER/conf.d/berth-tests.conf
  if [ "$(cat "$conf" 2>/dev/null)" != "$(settings)" ]; then
    settings | $SUDO tee "$conf" >/dev/null
    if cluster_online "$ver"; then
      log "settings changed: pg_ctlcluster $ver $CLUSTER restart"
      ctl "$ver" "$CLUSTER" restart -m fast
    fi
  fi
  echo "$ver"
}

is_ready() { pg_isready -q -h 127.0.0.1 -p "$PORT" -t 2 >/dev/null 2>&1; }

cluster_online() {
  local ver=$1 status
  status=$(pg_lsclusters -h 2>/dev/null | awk -v v="$ver" -v c="$CLUSTER" '$1==v && $2==c {print $4}')
  [[ $status == online* ]]
}

wait_ready() {
  local _
  for _ in $(seq 1 120); do
    is_ready && return 0
    sleep 0.5
  done
  die "cluster $CLUSTER not ready on 127.0.0.1:$PORT after 60s (see /var/log/postgresql/)"
}

# The running cluster must use the settings written for it (a setting changed behind this
# script's back, e.g. with ALTER SYSTEM, or one that needs a restart, would otherwise go unnoticed).
check_settings() {
  local ver=$1 got
  got=$(as_postgres psql -X -At -p "$PORT" -d postgres -c \
        "SELECT setting || '|' || pending_restart FROM pg_settings WHERE name = 'max_connections'")
  if [ "$got" != "$MAX_CONNECTIONS|false" ]; then
    log "max_connections is '$got', want $MAX_CONNECTIONS: pg_ctlcluster $ver $CLUSTER restart"
    ctl "$ver" "$CLUSTER" restart -m fast
    wait_ready
    got=$(as_postgres psql -X -At -p "$PORT" -d postgres -c "SHOW max_connections")
    [ "$got" = "$MAX_CONNECTIONS" ] ||
      die "cluster $CLUSTER runs with max_connections $got, not $MAX_CONNECTIONS (ALTER SYSTEM? see postgresql.auto.conf)"
  fi
}

# Install, create, start, make sure the role has the current password. Serialised with a lock so that
# parallel test processes do not race pg_createcluster.
ensure_running() {
  mkdir -p "$CACHE"
  exec 9>"$LOCK"
  flock 9
  ensure_installed
  local ver pw
  ver=$(ensure_cluster)
  if ! cluster_online "$ver"; then
    log "pg_ctlcluster $ver $CLUSTER start"
    ctl "$ver" "$CLUSTER" start
  fi
  wait_ready
  check_settings "$ver"
  pw=$(password)
  # Peer auth on the cluster's Unix socket as the postgres superuser; idempotent.
  as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PORT" -d postgres >/dev/null <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'berth') THEN
    CREATE ROLE berth LOGIN SUPERUSER;
  END IF;
END
\$\$;
ALTER ROLE berth LOGIN SUPERUSER PASSWORD '$pw';
SQL
  flock -u 9
}

base_url() { echo "postgres://berth:$(password)@127.0.0.1:$PORT"; }

# psql as berth over TCP (exercises the same authentication path as the tests).
berth_psql() {
  PGPASSWORD=$(password) psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U berth "$@"
}

new_database() {
  local db
  db="berth_$(date -u +%Y%m%d%H%M%S)_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
  berth_psql -d postgres -c "CREATE DATABASE \"$db\"" >/dev/null
  echo "$(base_url)/$db"
}

stop_cluster() {
  local ver
  ver=$(existing_version)
  [ -n "$ver" ] || { log "no cluster $CLUSTER: nothing to stop"; return 0; }
  if cluster_online "$ver"; then
    log "pg_ctlcluster $ver $CLUSTER stop"
    ctl "$ver" "$CLUSTER" stop -m fast
  fi
}

cmd=${1:-start}
case "$cmd" in
  start|newdb)
    ensure_running
    new_database
    ;;
  up)
    ensure_running
    ;;
  stop)
    stop_cluster
    ;;
  restart)
    ver=$(existing_version)
    if [ -n "$ver" ] && cluster_online "$ver"; then
      log "pg_ctlcluster $ver $CLUSTER restart"
      ctl "$ver" "$CLUSTER" restart -m fast
    fi
    ensure_running
    ;;
  status)
    is_ready
    ;;
  dropall)
    ensure_running
    berth_psql -d postgres -At -c "SELECT datname FROM pg_database WHERE datname LIKE 'berth\\_%'" |
      while read -r db; do
        [ -n "$db" ] || continue
        berth_psql -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null
        log "dropped $db"
      done
    ;;
  url)
    ensure_running
    echo "$(base_url)/postgres"
    ;;
  *)
    echo "usage: $0 start|newdb|up|stop|restart|status|dropall|url" >&2
    exit 2
    ;;
esac
