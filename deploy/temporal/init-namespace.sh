#!/bin/sh
# Waits for the Temporal frontend, then makes sure the namespace the workers use exists and has
# the custom search attributes the app queries (e.g. RunStatus="pending_review"). Run once per
# `docker compose up` by the `temporal-init` service; every step is idempotent.
set -eu

NAMESPACE="${NAMESPACE:-default}"
RETENTION="${NAMESPACE_RETENTION:-168h}"
# name=Type pairs, space-separated; keep in sync with SEARCH_ATTRIBUTES in worker/devServer.ts.
SEARCH_ATTRIBUTES="${SEARCH_ATTRIBUTES:-RunStatus=Keyword}"
ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"

# Talk to the frontend by IPv4 address: the CLI's resolver can otherwise pick an address the
# server does not listen on inside the compose network.
host="${ADDRESS%:*}"
port="${ADDRESS##*:}"
ip="$(getent ahostsv4 "$host" | awk 'NR == 1 { print $1 }')"
[ -n "$ip" ] && ADDRESS="$ip:$port"
export TEMPORAL_ADDRESS="$ADDRESS"

tries=0
until temporal operator cluster health >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "init: Temporal at $ADDRESS did not report SERVING within 2 minutes" >&2
    exit 1
  fi
  sleep 2
done
echo "init: Temporal at $ADDRESS is serving"

if temporal operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1; then
  echo "init: namespace $NAMESPACE exists"
else
  temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION"
  echo "init: namespace $NAMESPACE created (retention $RETENTION)"
fi

existing="$(temporal operator search-attribute list --namespace "$NAMESPACE")"
for pair in $SEARCH_ATTRIBUTES; do
  name="${pair%%=*}"
  type="${pair#*=}"
  if printf '%s\n' "$existing" | grep -qw "$name"; then
    echo "init: search attribute $name exists"
  else
    temporal operator search-attribute create --namespace "$NAMESPACE" --name "$name" --type "$type"
    echo "init: search attribute $name ($type) created"
  fi
done
