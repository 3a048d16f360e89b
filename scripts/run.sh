#!/usr/bin/env bash
# `make run`: starts Hangar on ./data with an admin token kept in
# data/admin.token (made at first run, mode 0600) and prints how to reach it.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA="${HANGAR_DATA:-$PWD/data}"
LISTEN="${HANGAR_LISTEN:-127.0.0.1:8080}"
mkdir -p "$DATA"
chmod 700 "$DATA"
TOKEN_FILE="$DATA/admin.token"
if [ ! -s "$TOKEN_FILE" ]; then
    (umask 077; printf 'hf_%s\n' "$(head -c 512 /dev/urandom | tr -dc 'A-Za-z' | head -c 34)" \
        > "$TOKEN_FILE")
fi
TOKEN="$(cat "$TOKEN_FILE")"
URL="http://$LISTEN"

cat <<MSG

  Hangar is starting.
    URL:          $URL
    admin token:  $TOKEN
    data:         $DATA

  Try:  curl $URL/api/whoami-v2 -H "Authorization: Bearer $TOKEN"
        HF_ENDPOINT=$URL HF_TOKEN=$TOKEN python3 -c 'import huggingface_hub as h; print(h.whoami())'
  Stop with Ctrl-C.

MSG
export HANGAR_ADMIN_TOKEN="$TOKEN"
exec ./build/hangar serve --listen "$LISTEN" --data "$DATA" "$@"
