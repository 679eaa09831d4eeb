#!/usr/bin/env bash
# Entrypoint of deploy/offline/postgres.Dockerfile: the part of the official postgres image's
# docker-entrypoint.sh that docker-compose.yml relies on.
#   - started as root: fix the ownership of $PGDATA and the socket directory, re-exec as postgres;
#   - $PGDATA without PG_VERSION: initdb with POSTGRES_USER (default postgres) and POSTGRES_PASSWORD
#     (required unless POSTGRES_HOST_AUTH_METHOD=trust), listen_addresses = '*', pg_hba
#     `host all all all $POSTGRES_HOST_AUTH_METHOD` (default scram-sha-256); then a temporary server on
#     the Unix socket only (so a TCP health check fails until the real server is up) creates
#     POSTGRES_DB (default POSTGRES_USER) and runs /docker-entrypoint-initdb.d/*.sh|*.sql;
#   - exec postgres (arguments starting with '-' are passed to postgres).
set -Eeuo pipefail

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

log() { echo "docker-entrypoint: $*" >&2; }

if [ "${1:-}" = "" ] || [ "${1:0:1}" = "-" ]; then
  set -- postgres "$@"
fi

if [ "$1" != "postgres" ]; then
  exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA"
  chown postgres:postgres "$PGDATA"
  chmod 0700 "$PGDATA"
  mkdir -p /var/run/postgresql
  chown postgres:postgres /var/run/postgresql
  chmod 3777 /var/run/postgresql
  export HOME=/var/lib/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups -- "${BASH_SOURCE[0]}" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  POSTGRES_USER=${POSTGRES_USER:-postgres}
  POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
  POSTGRES_PASSWORD=${POSTGRES_PASSWORD:-}
  auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
  if [ -z "$POSTGRES_PASSWORD" ] && [ "$auth" != trust ]; then
    log "error: database is uninitialized and POSTGRES_PASSWORD is not set"
    log "       (set POSTGRES_PASSWORD, or POSTGRES_HOST_AUTH_METHOD=trust to allow every connection)"
    exit 1
  fi

  log "initdb in $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
  initdb_args=(--username="$POSTGRES_USER")
  if [ -n "$POSTGRES_PASSWORD" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    initdb_args+=(--pwfile="$pwfile")
  fi
  # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a word list, as in the official image
  initdb "${initdb_args[@]}" ${POSTGRES_INITDB_ARGS:-} >&2
  [ -z "${pwfile:-}" ] || rm -f "$pwfile"

  printf "\nlisten_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
  printf '\nhost all all all %s\n' "$auth" >> "$PGDATA/pg_hba.conf"

  # Temporary server, Unix socket only.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start >&2
  psql_() { psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password --username "$POSTGRES_USER" "$@"; }
  if [ "$POSTGRES_DB" != postgres ]; then
    psql_ --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";' >&2
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    # shellcheck disable=SC1090  # init scripts are sourced unless executable, as in the official image
    case "$f" in
      *.sh)  log "running $f"; if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
      *.sql) log "running $f"; psql_ --dbname "$POSTGRES_DB" -f "$f" >&2 ;;
      *)     [ ! -e "$f" ] || log "ignoring $f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >&2
  unset pwfile
  log "PostgreSQL init process complete; ready for start up"
fi

exec "$@"
