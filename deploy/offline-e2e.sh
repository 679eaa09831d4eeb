#!/usr/bin/env bash
# End-to-end run of docker-compose.yml (Berth + PostgreSQL + Garage) on a machine without registry
# access, with the real Docker client:
#
#   1. images, each reused when present (and rebuilt from the Docker layer cache otherwise):
#      - debian:bookworm-slim     when absent: debootstrap --variant=minbase bookworm + `docker import`
#                                 (needs root and a Debian mirror; debootstrap is installed if missing)
#      - berth-offline/postgres:15   deploy/offline/postgres.Dockerfile (Debian's PostgreSQL 15 behind
#                                 an entrypoint compatible with the official postgres image)
#      - berth-offline/garage:v2.1.0 deploy/offline/garage.Dockerfile around scripts/garage.sh's binary
#      - berth:latest             the runtime stage of ./Dockerfile, taken verbatim, with the builder's
#                                 binary replaced by a prebuilt one ($BERTH_BIN, default
#                                 target/release/berth): the legacy builder (Debian's docker.io, and
#                                 docker-compose v1) builds every stage, so the rust: builder stage
#                                 cannot simply be skipped with --target
#      - berth-garage-init:v2.1.0 `compose build garage-init` (GARAGE_IMAGE build argument)
#   2. the steps README.md documents, as typed, in a copy of the deployment files (docker-compose.yml,
#      Dockerfile, deploy/) in $BERTH_E2E_WORK/berth-e2e, so the compose project is `berth-e2e` (its
#      own containers, network and volumes: a developer's `docker compose up` is untouched):
#        deploy/gen-env.sh > .env && chmod 600 .env
#      plus, as deploy/README.md says for a machine without registry access, POSTGRES_IMAGE and
#      GARAGE_IMAGE in .env (and BERTH_PORT: a free port), then
#        docker-compose up -d        (or `docker compose up -d` where Docker's plugin exists)
#   3. every service healthy, garage-init exited 0;
#   4. docker push of a two-layer test image (one layer > 8 MiB: S3 multipart) to
#      127.0.0.1:<port>/e2e/app:v1; the tag and blobs are checked in PostgreSQL and Garage; the local
#      copy is deleted, pulled back, digest and file contents compared;
#   5. `compose restart berth`, pull again; `compose down` + `up` (volumes kept, garage-init runs
#      again), pull again;
#   6. `compose down -v`.
#
# Prints one PASS/FAIL line per check, TIME lines per phase, and a final RESULT line; exits 0 only
# when everything passed. Logs (image builds, compose logs) go to $BERTH_E2E_WORK/logs.
#
#   deploy/offline-e2e.sh             all of the above
#   deploy/offline-e2e.sh berth-image only the images debian:bookworm-slim (when absent) and
#                                     berth:latest (tests/packaging/test_image.py inspects it)
#
# Environment:
#   BERTH_BIN             prebuilt berth binary (default target/release/berth; build it with
#                         `cargo build --release --locked`; must run on Debian bookworm's glibc)
#   BERTH_E2E_BERTH_BUILD prebuilt (default) | source: `docker build .` (needs rust:1-bookworm locally)
#   POSTGRES_IMAGE        use this image instead of building berth-offline/postgres:15 (e.g. postgres:16)
#   GARAGE_IMAGE          use this image instead of building berth-offline/garage:v2.1.0
#   DEBIAN_MIRROR         debootstrap mirror (default http://deb.debian.org/debian)
#   DEBIAN_SECURITY_MIRROR  (default http://deb.debian.org/debian-security)
#   BERTH_E2E_PORT        published port (default: a free one)
#   BERTH_E2E_PROJECT     compose project name (default berth-e2e)
#   BERTH_E2E_WORK        work directory (default ~/.cache/berth/offline-e2e)
#   BERTH_E2E_KEEP=1      leave the deployment running at the end (no `down -v`)
set -euo pipefail

MODE=${1:-all}
case $MODE in
  all | berth-image) ;;
  *) echo "usage: $0 [berth-image]" >&2; exit 2 ;;
esac
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${BERTH_E2E_WORK:-${XDG_CACHE_HOME:-$HOME/.cache}/berth/offline-e2e}
LOGS=$WORK/logs
PROJECT=${BERTH_E2E_PROJECT:-berth-e2e}
DEBIAN_IMAGE=debian:bookworm-slim
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
BERTH_IMAGE=berth:latest          # docker-compose.yml's image name for the berth service
INIT_IMAGE=berth-garage-init:v2.1.0
BUILD_POSTGRES=0 BUILD_GARAGE=0
if [ -z "${POSTGRES_IMAGE:-}" ]; then POSTGRES_IMAGE=berth-offline/postgres:15 BUILD_POSTGRES=1; fi
if [ -z "${GARAGE_IMAGE:-}" ]; then GARAGE_IMAGE=berth-offline/garage:v2.1.0 BUILD_GARAGE=1; fi
BERTH_BUILD=${BERTH_E2E_BERTH_BUILD:-prebuilt}
BERTH_BINARY=${BERTH_BIN:-$ROOT/target/release/berth}
KEEP=${BERTH_E2E_KEEP:-0}
REPO=e2e/app

T0=$(date +%s)
PHASE_T=$T0
CHECKS=0
COMPOSE_STARTED=0
RESULT=FAIL
TAGS_TO_REMOVE=()

log() { echo "offline-e2e: $*" >&2; }
pass() { CHECKS=$((CHECKS + 1)); echo "PASS $*"; }
fail() {
  echo "FAIL $*"
  exit 1
}
phase() {  # phase NAME: TIME line for the phase that just ended
  local now; now=$(date +%s)
  echo "TIME $1 $((now - PHASE_T))s"
  PHASE_T=$now
}
# run_logged LOGNAME CMD...: output to $LOGS/LOGNAME.log; on failure its tail goes to stderr.
run_logged() {
  local name=$1; shift
  if ! "$@" >"$LOGS/$name.log" 2>&1; then
    tail -n 40 "$LOGS/$name.log" >&2
    return 1
  fi
}

mkdir -p "$WORK" "$LOGS"
# One run at a time on a machine (shared image names, project name, work directory).
exec 9>"$WORK/lock"
if ! flock -n 9; then
  log "another offline-e2e run holds $WORK/lock: waiting"
  flock 9
fi

# ---------------------------------------------------------------------------------------------
# Prerequisites
# ---------------------------------------------------------------------------------------------

command -v docker >/dev/null 2>&1 || fail "prerequisites: no docker client on PATH"
docker info >/dev/null 2>&1 || fail "prerequisites: docker daemon not reachable (docker info failed)"
# The two spellings README.md documents: Docker's plugin, or Compose v1 (Debian's docker-compose).
if docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  COMPOSE=(docker-compose)
elif [ "$MODE" = all ]; then
  fail "prerequisites: neither 'docker compose' nor docker-compose"
else
  COMPOSE=(none)
fi
for tool in curl flock objcopy; do
  command -v "$tool" >/dev/null 2>&1 || fail "prerequisites: $tool not installed"
done
pass "prerequisites: docker $(docker version -f '{{.Server.Version}}' 2>/dev/null), ${COMPOSE[*]} ($("${COMPOSE[@]}" version --short 2>/dev/null || echo '?'))"

# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

debian_base() {
  if have_image "$DEBIAN_IMAGE"; then
    pass "image $DEBIAN_IMAGE present ($(docker image inspect -f '{{.Id}}' "$DEBIAN_IMAGE" | cut -c1-19))"
    return
  fi
  [ "$(id -u)" = 0 ] || fail "image $DEBIAN_IMAGE: absent, and creating it with debootstrap needs root"
  if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    run_logged apt-debootstrap env DEBIAN_FRONTEND=noninteractive apt-get install -y debootstrap ||
      fail "image $DEBIAN_IMAGE: apt-get install debootstrap failed ($LOGS/apt-debootstrap.log)"
  fi
  local rootfs=$WORK/rootfs
  rm -rf "$rootfs"
  log "debootstrap --variant=minbase bookworm from $DEBIAN_MIRROR (about 30 s)"
  run_logged debootstrap debootstrap --variant=minbase bookworm "$rootfs" "$DEBIAN_MIRROR" ||
    fail "image $DEBIAN_IMAGE: debootstrap failed ($LOGS/debootstrap.log)"
  # Configured like the official slim image: updates and security sources, no docs/man pages/locales,
  # no apt caches.
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $DEBIAN_MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $DEBIAN_SECURITY_MIRROR
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
  rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* \
         "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
         "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* \
         "$rootfs"/tmp/* "$rootfs"/etc/hostname "$rootfs"/etc/resolv.conf
  : >"$rootfs/etc/machine-id"
  tar -C "$rootfs" --numeric-owner -c . |
    docker import \
      --change 'CMD ["bash"]' \
      --change 'LABEL org.berth.offline-e2e="debootstrap --variant=minbase bookworm (deploy/offline-e2e.sh)"' \
      - "$DEBIAN_IMAGE" >/dev/null || fail "image $DEBIAN_IMAGE: docker import failed"
  rm -rf "$rootfs"
  pass "image $DEBIAN_IMAGE created (debootstrap + docker import)"
}

# stage_file SRC DIR NAME: DIR/NAME becomes a copy of SRC (not copied again when identical).
stage_file() {
  mkdir -p "$2"
  if ! cmp -s "$1" "$2/$3"; then
    cp -f "$1" "$2/$3.tmp" && chmod 0755 "$2/$3.tmp" && mv -f "$2/$3.tmp" "$2/$3"
  fi
}

postgres_image() {
  if [ "$BUILD_POSTGRES" = 0 ]; then
    have_image "$POSTGRES_IMAGE" || log "$POSTGRES_IMAGE not present: compose will try to pull it"
    pass "image $POSTGRES_IMAGE (POSTGRES_IMAGE, not built here)"
    return
  fi
  run_logged build-postgres docker build --pull=false -t "$POSTGRES_IMAGE" \
    -f "$ROOT/deploy/offline/postgres.Dockerfile" "$ROOT/deploy/offline" ||
    fail "image $POSTGRES_IMAGE: build failed ($LOGS/build-postgres.log)"
  pass "image $POSTGRES_IMAGE built ($(docker run --rm --entrypoint postgres "$POSTGRES_IMAGE" --version))"
}

garage_image() {
  if [ "$BUILD_GARAGE" = 0 ]; then
    have_image "$GARAGE_IMAGE" || log "$GARAGE_IMAGE not present: compose will try to pull it"
    pass "image $GARAGE_IMAGE (GARAGE_IMAGE, not built here)"
    return
  fi
  local bin ctx=$WORK/ctx-garage
  # scripts/garage.sh builds the pinned binary when it is missing (cargo install, ~25 min).
  bin=$("$ROOT/scripts/garage.sh" bin) || fail "image $GARAGE_IMAGE: no Garage binary (scripts/garage.sh bin)"
  stage_file "$bin" "$ctx" garage
  run_logged build-garage docker build --pull=false -t "$GARAGE_IMAGE" \
    -f "$ROOT/deploy/offline/garage.Dockerfile" "$ctx" ||
    fail "image $GARAGE_IMAGE: build failed ($LOGS/build-garage.log)"
  pass "image $GARAGE_IMAGE built ($(docker run --rm "$GARAGE_IMAGE" /garage --version | head -n1))"
}

berth_image() {
  if [ "$BERTH_BUILD" = source ]; then
    run_logged build-berth docker build --pull=false -t "$BERTH_IMAGE" "$ROOT" ||
      fail "image $BERTH_IMAGE: docker build . failed ($LOGS/build-berth.log)"
    pass "image $BERTH_IMAGE built from source (Dockerfile)"
    return
  fi
  [ "$BERTH_BUILD" = prebuilt ] || fail "BERTH_E2E_BERTH_BUILD must be prebuilt or source, not $BERTH_BUILD"
  [ -x "$BERTH_BINARY" ] ||
    fail "image $BERTH_IMAGE: no binary $BERTH_BINARY (run: cargo build --release --locked, or set BERTH_BIN)"
  local newer
  newer=$(find "$ROOT/src" "$ROOT/migrations" "$ROOT/Cargo.toml" "$ROOT/Cargo.lock" -newer "$BERTH_BINARY" \
            -type f 2>/dev/null | head -n 3 || true)
  if [ -n "$newer" ]; then
    log "WARNING: $BERTH_BINARY is older than $(echo "$newer" | tr '\n' ' ')(rebuild it to test the current source)"
  fi
  local ctx=$WORK/ctx-berth
  # Stripped as Dockerfile's builder stage strips it: the image ships what a source build ships.
  mkdir -p "$ctx" "$WORK/debug"
  "$ROOT/deploy/strip-binary.sh" "$BERTH_BINARY" "$WORK/berth.stripped" "$WORK/debug/berth.debug" ||
    fail "image $BERTH_IMAGE: deploy/strip-binary.sh $BERTH_BINARY failed"
  stage_file "$WORK/berth.stripped" "$ctx" berth
  # The runtime stage of ./Dockerfile (from its last FROM to the end), with the one COPY from the
  # builder stage replaced by a COPY of the staged binary.
  local from='COPY --from=builder /usr/local/bin/berth /usr/local/bin/berth'
  {
    echo "# Generated by deploy/offline-e2e.sh from the runtime stage of $ROOT/Dockerfile."
    awk 'toupper($1) == "FROM" { n++; buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }' "$ROOT/Dockerfile" |
      sed "s|^$from\$|COPY berth /usr/local/bin/berth|"
  } >"$ctx/Dockerfile"
  if ! grep -qx 'COPY berth /usr/local/bin/berth' "$ctx/Dockerfile" || grep -q -- '--from=' "$ctx/Dockerfile"; then
    fail "image $BERTH_IMAGE: Dockerfile's runtime stage no longer has the line '$from'"
  fi
  run_logged build-berth docker build --pull=false -t "$BERTH_IMAGE" "$ctx" ||
    fail "image $BERTH_IMAGE: build of the runtime stage failed ($LOGS/build-berth.log)"
  pass "image $BERTH_IMAGE built: Dockerfile's runtime stage + $BERTH_BINARY ($(docker run --rm "$BERTH_IMAGE" --version))"
}

debian_base
phase image-debian
if [ "$MODE" = berth-image ]; then
  berth_image
  phase image-berth
  pass "image $BERTH_IMAGE: $(docker image inspect -f '{{.Size}}' "$BERTH_IMAGE") bytes"
  echo "RESULT PASS ($CHECKS checks) in $(($(date +%s) - T0))s"
  exit 0
fi
postgres_image
phase image-postgres
garage_image
phase image-garage
berth_image
phase image-berth

# ---------------------------------------------------------------------------------------------
# Deployment
# ---------------------------------------------------------------------------------------------

# The documented steps (README.md, deploy/README.md) run as a newcomer types them, in a checkout of
# the deployment files whose directory name is the compose project's name: no -p, -f or --env-file.
# tests/packaging/test_compose.py checks that both documents show exactly these commands.
CHECKOUT=$WORK/$PROJECT
STEP_ENV='deploy/gen-env.sh > .env && chmod 600 .env'
STEP_UP="${COMPOSE[*]} up -d"
rm -rf "$CHECKOUT"
mkdir -p "$CHECKOUT"
cp -a "$ROOT/docker-compose.yml" "$ROOT/Dockerfile" "$ROOT/.dockerignore" "$ROOT/deploy" "$CHECKOUT/"
(cd "$CHECKOUT" && bash -c "$STEP_ENV") || fail "$STEP_ENV"
ENVFILE=$CHECKOUT/.env
if [ -n "${BERTH_E2E_PORT:-}" ]; then
  PORT=$BERTH_E2E_PORT
else
  PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
# What deploy/README.md tells a machine without registry access to add: the local images (and here
# a free port instead of 5000).
printf 'POSTGRES_IMAGE=%s\nGARAGE_IMAGE=%s\nBERTH_PORT=%s\n' "$POSTGRES_IMAGE" "$GARAGE_IMAGE" "$PORT" >>"$ENVFILE"
[ "$(stat -c %a "$ENVFILE")" = 600 ] || fail "$STEP_ENV: .env is mode 600"
pass "$STEP_ENV (+ POSTGRES_IMAGE, GARAGE_IMAGE, BERTH_PORT for this offline machine)"
REG=127.0.0.1:$PORT
URL=http://$REG

# Compose as typed in the checkout: only .env supplies settings (nothing inherited from this
# script's environment).
compose() {
  (
    cd "$CHECKOUT"
    unset POSTGRES_PASSWORD GARAGE_RPC_SECRET GARAGE_ADMIN_TOKEN BERTH_S3_ACCESS_KEY_ID \
      BERTH_S3_SECRET_ACCESS_KEY BERTH_SERVER_KEY POSTGRES_IMAGE GARAGE_IMAGE BERTH_PORT \
      COMPOSE_FILE COMPOSE_PROJECT_NAME COMPOSE_PROFILES
    "${COMPOSE[@]}" "$@"
  )
}

cleanup() {
  local rc=$?
  set +e
  if [ "$COMPOSE_STARTED" = 1 ]; then
    compose logs --no-color >"$LOGS/compose.log" 2>&1
    compose ps >"$LOGS/compose-ps.txt" 2>&1
    if [ "$RESULT" != PASS ]; then
      echo "---- compose ps ----" >&2
      cat "$LOGS/compose-ps.txt" >&2
      echo "---- last lines of compose logs ($LOGS/compose.log) ----" >&2
      tail -n 60 "$LOGS/compose.log" >&2
    fi
    if [ "$KEEP" = 1 ]; then
      log "BERTH_E2E_KEEP=1: deployment left running (project $PROJECT, $URL, env $ENVFILE)"
    else
      compose down -v --remove-orphans >>"$LOGS/compose-down.log" 2>&1
    fi
  fi
  for t in "${TAGS_TO_REMOVE[@]}"; do docker rmi -f "$t" >/dev/null 2>&1; done
  if [ "$RESULT" = PASS ]; then
    echo "RESULT PASS ($CHECKS checks) in $(($(date +%s) - T0))s"
  else
    echo "RESULT FAIL after $CHECKS passed checks, $(($(date +%s) - T0))s (logs: $LOGS)"
    [ "$rc" != 0 ] || rc=1
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Leftovers of an interrupted run of this project (its own containers and volumes only).
compose down -v --remove-orphans >"$LOGS/compose-down.log" 2>&1 || true
COMPOSE_STARTED=1

run_logged build-garage-init compose build garage-init ||
  fail "compose build garage-init failed ($LOGS/build-garage-init.log)"
pass "compose build garage-init ($INIT_IMAGE FROM $GARAGE_IMAGE)"

health() {  # health SERVICE: healthy/starting/unhealthy, "none" without a health check, "" if absent
  local id; id=$(compose ps -q "$1" 2>/dev/null | head -n1)
  [ -n "$id" ] || return 0
  docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id"
}
# wait_healthy SERVICE SECONDS
wait_healthy() {
  local s=$1 limit=$2 waited=0 h
  while :; do
    h=$(health "$s")
    [ "$h" = healthy ] && return 0
    [ "$h" = unhealthy ] && { log "$s is unhealthy"; return 1; }
    [ "$waited" -lt "$limit" ] || { log "$s not healthy after ${limit}s (state: ${h:-no container})"; return 1; }
    sleep 1
    waited=$((waited + 1))
  done
}
check_up() {  # every long-running service healthy, garage-init exited 0
  local s id state code
  for s in postgres garage berth; do
    wait_healthy "$s" 120 || fail "$1: service $s healthy"
  done
  id=$(compose ps -a -q garage-init 2>/dev/null | head -n1)
  [ -n "$id" ] || id=$(compose ps -q garage-init | head -n1)
  [ -n "$id" ] || fail "$1: garage-init container exists"
  state=$(docker inspect -f '{{.State.Status}}' "$id")
  code=$(docker inspect -f '{{.State.ExitCode}}' "$id")
  if [ "$state" != exited ] || [ "$code" != 0 ]; then
    fail "$1: garage-init exited 0 (state $state, exit code $code)"
  fi
  pass "$1: postgres, garage, berth healthy; garage-init exited 0"
  compose ps
  curl -fsS -o /dev/null "$URL/readyz" || fail "$1: GET $URL/readyz answers 200"
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v2/")" = 401 ] ||
    fail "$1: GET $URL/v2/ without credentials answers 401 (authentication is on)"
  # The first start wrote the administrator's credentials into the data volume (mode 0600).
  local creds
  creds=$(compose exec -T berth cat /var/lib/berth/admin-credentials | tr -d '\r') ||
    fail "$1: read the administrator credentials from the berth container"
  ADMIN_USER=$(echo "$creds" | awk -F' = ' '/^access_key_id/{print $2}')
  ADMIN_PASS=$(echo "$creds" | awk -F' = ' '/^secret_access_key/{print $2}')
  [ -n "$ADMIN_USER" ] && [ -n "$ADMIN_PASS" ] || fail "$1: administrator credentials present"
  [ "$(curl -s -o /dev/null -w '%{http_code}' -u "$ADMIN_USER:$ADMIN_PASS" "$URL/v2/")" = 200 ] ||
    fail "$1: GET $URL/v2/ with the administrator's credentials answers 200"
  pass "$1: $URL/readyz 200, /v2/ 401 anonymous and 200 as the administrator"
}

log "$STEP_UP (project $PROJECT, Berth on $REG)"
# As typed: the documented command itself, in the checkout (compose() only adds `cd` and unsets).
run_logged compose-up compose ${STEP_UP#"${COMPOSE[*]} "} || fail "$STEP_UP failed ($LOGS/compose-up.log)"
[ -n "$(docker ps -q --filter "label=com.docker.compose.project=$PROJECT")" ] ||
  fail "$STEP_UP: containers of project $PROJECT (the checkout directory's name) are running"
pass "compose up -d: $STEP_UP in $CHECKOUT (project $PROJECT)"
check_up "first start"
phase up

# ---------------------------------------------------------------------------------------------
# Push and pull with the Docker client
# ---------------------------------------------------------------------------------------------

CTX=$WORK/ctx-app
rm -rf "$CTX"
mkdir -p "$CTX"
echo "berth offline e2e $(date -u +%FT%TZ) $RANDOM" >"$CTX/hello.txt"
# 12 MiB of random bytes: an incompressible layer larger than one 8 MiB S3 part.
head -c $((12 * 1024 * 1024)) /dev/urandom >"$CTX/big.bin"
printf 'FROM scratch\nCOPY hello.txt /hello.txt\nCOPY big.bin /big.bin\n' >"$CTX/Dockerfile"
BIG_SHA=$(sha256sum "$CTX/big.bin" | cut -d' ' -f1)
REF=$REG/$REPO:v1
TAGS_TO_REMOVE+=("$REF")
run_logged build-app docker build --pull=false -t "$REF" "$CTX" || fail "build the test image"
rm -f "$CTX/big.bin"

# A private client configuration: the login below does not touch the user's ~/.docker.
export DOCKER_CONFIG=$WORK/docker-config
mkdir -p "$DOCKER_CONFIG"
echo "$ADMIN_PASS" | run_logged login docker login "$REG" -u "$ADMIN_USER" --password-stdin ||
  fail "docker login $REG ($LOGS/login.log)"
pass "docker login $REG (token flow)"
run_logged push docker push "$REF" || fail "docker push $REF ($LOGS/push.log)"
DIGEST=$(grep -o 'digest: sha256:[0-9a-f]\{64\}' "$LOGS/push.log" | head -n1 | cut -d' ' -f2)
[ -n "$DIGEST" ] || fail "docker push $REF printed a digest"
pass "docker push $REF: $DIGEST"

tags=$(curl -fsS -u "$ADMIN_USER:$ADMIN_PASS" "$URL/v2/$REPO/tags/list") || fail "GET /v2/$REPO/tags/list"
echo "$tags" | grep -q '"v1"' || fail "tags/list lists v1: $tags"
got=$(curl -fsS -I -u "$ADMIN_USER:$ADMIN_PASS" -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
        -H 'Accept: application/vnd.oci.image.manifest.v1+json' "$URL/v2/$REPO/manifests/v1" |
      tr -d '\r' | awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }')
[ "$got" = "$DIGEST" ] || fail "HEAD /v2/$REPO/manifests/v1 gives the pushed digest (got '$got')"
pass "registry API: tags/list has v1, manifest HEAD digest matches"

# The metadata is in PostgreSQL and the blobs are in Garage (not Berth's local defaults).
psql_berth() { compose exec -T postgres psql -X -U berth -d berth -tA -c "$1"; }
row=$(psql_berth "SELECT t.manifest_digest FROM tags t JOIN repositories r ON r.id = t.repository_id
                  WHERE r.name = '$REPO' AND t.name = 'v1'" | tr -d '\r') ||
  fail "psql in the postgres container"
[ "$row" = "$DIGEST" ] || fail "PostgreSQL tags row e2e/app:v1 -> pushed digest (got '$row')"
nblobs=$(psql_berth "SELECT count(*) FROM blobs WHERE location IS NOT NULL" | tr -d '\r')
[ "${nblobs:-0}" -ge 3 ] || fail "PostgreSQL: at least 3 blobs stored under S3 keys (got '$nblobs')"
pass "PostgreSQL: tag v1 -> $DIGEST, $nblobs blobs with S3 object keys"
binfo=$(compose exec -T garage /garage bucket info berth 2>&1 | tr -d '\r') || fail "garage bucket info berth: $binfo"
nobj=$(echo "$binfo" | grep -io 'objects:[[:space:]]*[0-9]*' | head -n1 | grep -o '[0-9]*$' || true)
[ "${nobj:-0}" -ge 3 ] || fail "Garage bucket berth holds the blobs (objects: '${nobj}'): $binfo"
pass "Garage: bucket berth holds $nobj objects"

# pull_check LABEL: delete the local image, pull it, compare digest and the big layer's contents.
pull_check() {
  docker rmi -f "$REF" >/dev/null 2>&1 || true
  have_image "$REF" && fail "$1: local copy of $REF deleted"
  run_logged "pull-$2" docker pull "$REF" || fail "$1: docker pull $REF ($LOGS/pull-$2.log)"
  local rd cid sha
  rd=$(docker image inspect -f '{{range .RepoDigests}}{{println .}}{{end}}' "$REF" | grep -F "$REG/$REPO@" | head -n1)
  [ "$rd" = "$REG/$REPO@$DIGEST" ] || fail "$1: pulled digest is the pushed one (got '$rd')"
  cid=$(docker create "$REF" /none) || fail "$1: docker create"
  sha=$(docker cp "$cid:/big.bin" - | tar -xO | sha256sum | cut -d' ' -f1)
  docker rm "$cid" >/dev/null
  [ "$sha" = "$BIG_SHA" ] || fail "$1: pulled /big.bin has the pushed contents"
  pass "$1: docker pull $REF: digest $DIGEST, 12 MiB layer byte-identical"
}
pull_check "after push" 1
phase push-pull

log "compose restart berth"
run_logged restart compose restart berth || fail "compose restart berth"
check_up "berth restarted"
pull_check "after berth restart" 2
phase restart-berth

log "compose down (volumes kept), compose up"
run_logged down-keep compose down || fail "compose down"
run_logged compose-up-2 compose up -d || fail "second compose up -d ($LOGS/compose-up-2.log)"
check_up "stack recreated"
pull_check "after stack recreated" 3
phase recreate

compose logs --no-color >"$LOGS/compose.log" 2>&1 || true
run_logged down compose down -v --remove-orphans || fail "compose down -v"
COMPOSE_STARTED=0
left=$(docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT")
[ -z "$left" ] || fail "compose down -v removed the project's volumes (left: $left)"
pass "compose down -v: containers and volumes removed"
phase down

RESULT=PASS
