#!/bin/sh
# One-shot initialisation of the compose Garage node (service garage-init in docker-compose.yml):
# single-node layout, bucket, and Berth's access key. Idempotent: every step checks first, so it runs
# on every `docker compose up` and only does something the first time.
#
# This is what Garage's documentation has you type by hand after starting the container
# (`docker exec -ti <garage container> /garage ...`): layout assign + layout apply, bucket create,
# key, bucket allow. Here the key is imported with the id/secret from the environment so that Berth
# can be given the same values without copying them out of Garage.
#
# Environment:
#   GARAGE_RPC_SECRET            the cluster's rpc_secret (required)
#   BERTH_S3_ACCESS_KEY_ID       GK followed by 24 hex digits (required)
#   BERTH_S3_SECRET_ACCESS_KEY   64 hex digits (required)
#   GARAGE_HOST / GARAGE_RPC_PORT  where the node's RPC listens (default garage:3901)
#   GARAGE_CONFIG_FILE           garage.toml, for metadata_dir (node key) (default /etc/garage.toml)
#   GARAGE_BUCKET                bucket name (default berth)
#   GARAGE_ZONE / GARAGE_CAPACITY  layout role of the node (default dc1 / 100G)
set -eu

: "${GARAGE_RPC_SECRET:?GARAGE_RPC_SECRET must be set}"
: "${BERTH_S3_ACCESS_KEY_ID:?BERTH_S3_ACCESS_KEY_ID must be set}"
: "${BERTH_S3_SECRET_ACCESS_KEY:?BERTH_S3_SECRET_ACCESS_KEY must be set}"
HOST=${GARAGE_HOST:-garage}
PORT=${GARAGE_RPC_PORT:-3901}
BUCKET=${GARAGE_BUCKET:-berth}
ZONE=${GARAGE_ZONE:-dc1}
CAPACITY=${GARAGE_CAPACITY:-100G}

log() { echo "garage-init: $*" >&2; }

# The node's id is its public key, stored in metadata_dir (this container mounts that volume
# read-only); `node id` reads it locally.
i=0
until NODE=$(garage node id -q 2>/dev/null); do
  i=$((i + 1)); [ "$i" -lt 60 ] || { log "no node key in metadata_dir after 60s"; exit 1; }
  sleep 1
done
NODE=${NODE%%@*}
export GARAGE_RPC_HOST="$NODE@$HOST:$PORT"

i=0
until garage status >/dev/null 2>&1; do
  i=$((i + 1)); [ "$i" -lt 60 ] || { log "garage at $HOST:$PORT not answering after 60s"; exit 1; }
  sleep 1
done

version=$(garage json-api GetClusterLayout | grep -m1 -o '"version": *[0-9]*' | grep -o '[0-9]*$')
if [ "$version" = 0 ]; then
  log "layout assign -z $ZONE -c $CAPACITY $NODE; layout apply --version 1"
  garage layout assign -z "$ZONE" -c "$CAPACITY" "$NODE" >/dev/null
  garage layout apply --version 1 >/dev/null
fi

# Wait until every partition has a write quorum under the (new) layout.
num() { grep -m1 -o "\"$1\": *[0-9]*" | grep -o '[0-9]*$'; }
i=0
while :; do
  health=$(garage json-api GetClusterHealth 2>/dev/null || true)
  parts=$(echo "$health" | num partitions)
  [ -n "$parts" ] && [ "$(echo "$health" | num partitionsQuorum)" = "$parts" ] && break
  i=$((i + 1)); [ "$i" -lt 60 ] || { log "cluster not healthy after 60s: $health"; exit 1; }
  sleep 1
done

if ! garage bucket info "$BUCKET" >/dev/null 2>&1; then
  log "bucket create $BUCKET"
  garage bucket create "$BUCKET" >/dev/null
fi

if ! garage key info "$BERTH_S3_ACCESS_KEY_ID" >/dev/null 2>&1; then
  log "key import $BERTH_S3_ACCESS_KEY_ID (name berth)"
  garage key import --yes -n berth "$BERTH_S3_ACCESS_KEY_ID" "$BERTH_S3_SECRET_ACCESS_KEY" >/dev/null
fi

garage bucket allow --read --write --owner "$BUCKET" --key "$BERTH_S3_ACCESS_KEY_ID" >/dev/null
log "ready: bucket $BUCKET, key $BERTH_S3_ACCESS_KEY_ID"
