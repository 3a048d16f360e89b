#!/usr/bin/env bash
# `make run`: starts Hangar on ./data with an admin token kept in
# data/admin.token (made at first run, mode 0600), makes sure the example
# spaces exist (through Hangar's own API, with the hangar client: a second run
# reuses them and uploads only what changed), and prints how to reach it all.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA="${HANGAR_DATA:-$PWD/data}"
LISTEN="${HANGAR_LISTEN:-127.0.0.1:8080}"
PORT="${LISTEN##*:}"
DOMAIN="${HANGAR_DOMAIN:-localhost}"
mkdir -p "$DATA"
chmod 700 "$DATA"
TOKEN_FILE="$DATA/admin.token"
if [ ! -s "$TOKEN_FILE" ]; then
    (umask 077; printf 'hf_%s\n' "$(head -c 512 /dev/urandom | tr -dc 'A-Za-z' | head -c 34)" \
        > "$TOKEN_FILE")
fi
TOKEN="$(cat "$TOKEN_FILE")"
URL="http://$LISTEN"
BIN=./build/hangar

# Docker examples build FROM a local base image (no registry is needed).
if [ -z "${HANGAR_SKIP_BASE_IMAGE:-}" ] && grep -q '^base-image:' Makefile \
        && command -v podman >/dev/null 2>&1; then
    make --no-print-directory base-image || echo "run: the base image could not be made;" \
        "Docker examples will fail to build" >&2
fi

export HANGAR_ADMIN_TOKEN="$TOKEN"
export HANGAR_UV_CACHE="${HANGAR_UV_CACHE:-$HOME/.cache/hangar/uv}"
[ -x "$HOME/.cache/hangar/venv/bin/uv" ] && export HANGAR_UV="${HANGAR_UV:-$HOME/.cache/hangar/venv/bin/uv}"
"$BIN" serve --listen "$LISTEN" --data "$DATA" --domain "$DOMAIN" "$@" &
DAEMON=$!
# Ctrl-C or SIGTERM stop the daemon gracefully; run.sh exits with its status.
trap 'kill -TERM $DAEMON 2>/dev/null; wait $DAEMON; exit $?' INT TERM
for _ in $(seq 1 100); do
    curl -fsS "$URL/api/health" >/dev/null 2>&1 && break
    kill -0 $DAEMON 2>/dev/null || { echo "run: hangar exited; see above" >&2; exit 1; }
    sleep 0.1
done

# Seeding: create what is missing, then upload (unchanged files are skipped).
# HANGAR_EXAMPLES="a b" limits it to some of examples/.
export HANGAR_ENDPOINT="$URL" HANGAR_TOKEN="$TOKEN"
SPACES=()
for name in ${HANGAR_EXAMPLES:-$(ls examples)}; do
    dir="examples/$name"
    sdk="$(sed -n 's/^sdk: *//p' "$dir/README.md" | head -1)"
    if ! "$BIN" spaces info "admin/$name" >/dev/null 2>&1; then
        "$BIN" spaces create "admin/$name" --sdk "$sdk" >/dev/null
    fi
    "$BIN" upload "admin/$name" "$dir" --message "Example $name" >/dev/null
    SPACES+=("$name")
done

cat <<MSG

  Hangar is running.
    UI and API:   $URL
    admin token:  $TOKEN
    data:         $DATA

  Example spaces (they build in the background; watch them in the UI):
MSG
for name in "${SPACES[@]}"; do
    sub="$(printf 'admin-%s' "$name" | tr 'A-Z_.' 'a-z--')"
    printf '    %-18s http://%s.%s:%s/\n' "$name" "$sub" "$DOMAIN" "$PORT"
done
cat <<MSG

  Try:  curl $URL/api/whoami-v2 -H "Authorization: Bearer $TOKEN"
        HANGAR_ENDPOINT=$URL HANGAR_TOKEN=$TOKEN build/hangar spaces list
  Stop with Ctrl-C.

MSG
wait $DAEMON
