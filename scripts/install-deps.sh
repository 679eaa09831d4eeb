#!/usr/bin/env bash
# Install what the client and crash tests need (Debian 12, as root, no stdin: works in CI).
# Idempotent and fast when everything is already present: apt-get update runs only when a
# package is missing. Prints what it installs.
#   apt: skopeo podman buildah containerd(ctr) docker-registry jq curl wrk uidmap fuse-overlayfs
#        docker-compose binutils
#   pip: pytest requests oras boto3
# PostgreSQL (scripts/postgres.sh) and Garage (scripts/garage.sh) install themselves on first use.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; fi

# command-or-package -> apt package
need_apt=()
want_cmd() { command -v "$1" >/dev/null 2>&1 || need_apt+=("$2"); }
want_pkg() { dpkg -s "$1" >/dev/null 2>&1 || need_apt+=("$1"); }

want_cmd skopeo skopeo
want_cmd podman podman
want_cmd buildah buildah
want_cmd ctr containerd
want_cmd containerd containerd
want_cmd docker-registry docker-registry
want_cmd jq jq
want_cmd curl curl
want_cmd wrk wrk
want_cmd docker-compose docker-compose
# objcopy/readelf: deploy/strip-binary.sh and tests/packaging/test_image.py
want_cmd objcopy binutils
want_cmd readelf binutils
want_cmd newuidmap uidmap
want_cmd fuse-overlayfs fuse-overlayfs
# The aws CLI v2 (Debian's awscli, /usr/bin/aws) for the ECR API tests
want_pkg awscli
# podman 4.3 on Debian: netavark/aardvark for networking, crun/runc as OCI runtime,
# containers-storage config; normally pulled in as Recommends, make sure they are there
want_pkg golang-github-containers-common
if ! command -v crun >/dev/null 2>&1 && ! command -v runc >/dev/null 2>&1; then need_apt+=(crun); fi

# de-duplicate
if [ ${#need_apt[@]} -gt 0 ]; then
  mapfile -t need_apt < <(printf '%s\n' "${need_apt[@]}" | sort -u)
  echo "install-deps: apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq -o=Dpkg::Use-Pty=0 --no-install-recommends "${need_apt[@]}" </dev/null \
    | { grep -E '^(Setting up|E:)' || true; }
  # podman needs these at runtime; install them only if the packages above did not bring them
  extra=()
  for p in netavark aardvark-dns conmon catatonit; do dpkg -s "$p" >/dev/null 2>&1 || extra+=("$p"); done
  if [ ${#extra[@]} -gt 0 ]; then
    echo "install-deps: apt-get install ${extra[*]}"
    $SUDO apt-get install -y -qq -o=Dpkg::Use-Pty=0 --no-install-recommends "${extra[@]}" </dev/null \
      | { grep -E '^(Setting up|E:)' || true; } || true
  fi
else
  echo "install-deps: apt packages already present"
fi

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if command -v python3 >/dev/null 2>&1; then PY=python3; else PY=python; fi
fi
if ! command -v "$PY" >/dev/null 2>&1; then
  echo "install-deps: apt-get install python3 python3-pip"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq python3 python3-pip </dev/null
  PY=python3
fi

need_pip=()
"$PY" -c 'import pytest' 2>/dev/null || need_pip+=(pytest)
"$PY" -c 'import requests' 2>/dev/null || need_pip+=(requests)
"$PY" -c 'import oras.provider' 2>/dev/null || need_pip+=(oras)
"$PY" -c 'import boto3' 2>/dev/null || need_pip+=(boto3)
"$PY" -c 'import yaml' 2>/dev/null || need_pip+=(pyyaml)
if [ ${#need_pip[@]} -gt 0 ]; then
  echo "install-deps: pip install ${need_pip[*]}"
  if ! "$PY" -m pip --version >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq python3-pip </dev/null
  fi
  # Debian's system python is "externally managed" (PEP 668); pyenv/venv pythons are not
  "$PY" -m pip install -q --disable-pip-version-check "${need_pip[@]}" </dev/null \
    || "$PY" -m pip install -q --disable-pip-version-check --break-system-packages "${need_pip[@]}" </dev/null
else
  echo "install-deps: python packages already present (pytest requests oras boto3)"
fi

# The Docker engine itself comes with the machine (rust-docker kind: docker.io + its daemon);
# only report on it, the docker client tests need it running.
if ! command -v docker >/dev/null 2>&1; then
  echo "install-deps: WARNING: no docker client (tests/clients/test_docker.py needs the Docker engine)"
elif ! docker info >/dev/null 2>&1; then
  echo "install-deps: WARNING: docker daemon not reachable (tests/clients/test_docker.py needs it)"
fi
echo "install-deps: done"
