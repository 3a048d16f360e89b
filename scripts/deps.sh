#!/usr/bin/env bash
# Installs every dependency Hangar needs to build, run and test, idempotently.
# Quiet when everything is already present. Debian packages via apt-get, PyPI
# packages into a virtualenv under ~/.cache (shared by every clone), npm
# packages into tests/js with npm's own cache in ~/.npm.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
    build-essential pkg-config git sqlite3 curl ca-certificates
    libuv1-dev libhttp-parser-dev libsqlite3-dev libjansson-dev libsodium-dev
    libgit2-dev libyaml-dev libcurl4-openssl-dev libcmocka-dev zlib1g-dev
    clang clang-format libclang-rt-14-dev
    podman buildah runc uidmap debootstrap catatonit slirp4netns iptables
    python3 python3-venv libnss-myhostname git-lfs
    e2fsprogs mount
    nginx-light wrk
    chromium fonts-noto-color-emoji
)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing Debian packages: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python: the real HF clients and the test runner, in one venv reused by clones.
VENV="${HANGAR_VENV:-$HOME/.cache/hangar/venv}"
REQ=tests/requirements.txt
stamp="$VENV/.hangar-req-$(sha256sum "$REQ" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    echo "deps: preparing Python environment in $VENV"
    PY=python3
    [ -x /usr/bin/python3 ] && PY=/usr/bin/python3
    [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ"
    rm -f "$VENV"/.hangar-req-*
    touch "$stamp"
fi

# uv builds space environments fast; it ships as a PyPI wheel.
if [ ! -x "$VENV/bin/uv" ]; then
    "$VENV/bin/pip" install -q --disable-pip-version-check uv
fi

# JavaScript: @huggingface/hub for the JS client tests, playwright-core for the
# web UI's browser tests (it drives Debian's /usr/bin/chromium: no browser download).
if [ -f tests/js/package.json ] && command -v npm >/dev/null 2>&1; then
    jsstamp="tests/js/node_modules/.hangar-$(sha256sum tests/js/package.json | cut -c1-16)"
    if [ ! -f "$jsstamp" ]; then
        echo "deps: installing npm packages in tests/js"
        (cd tests/js && npm install --silent --no-audit --no-fund >/dev/null)
        rm -f tests/js/node_modules/.hangar-*
        touch "$jsstamp"
    fi
fi
