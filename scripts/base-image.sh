#!/usr/bin/env bash
# Makes the local Python base image of Docker spaces, localhost/hangar-python:3.11,
# without any container registry: debootstrap (Debian 12 minbase with python3, pip
# and venv), trimmed, packed with numeric owners and imported with `podman import`.
#
# Idempotent: nothing happens when the image exists. The root filesystem tarball is
# cached in ~/.cache/hangar, so a second store (or a wiped one) imports in seconds.
#
# The image goes into podman's default store (root: /var/lib/containers/storage),
# which `hangar serve` reads as a read-only additional image store (--image-store).
#
# Environment: HANGAR_BASE_IMAGE (name), HANGAR_CACHE (tarball directory),
# DEBIAN_MIRROR (default http://deb.debian.org/debian), PODMAN (binary), HANGAR_HOST_CA
# (CA bundle copied into the image, default the host's /etc/ssl/certs/ca-certificates.crt).
set -euo pipefail

IMAGE="${HANGAR_BASE_IMAGE:-localhost/hangar-python:3.11}"
CACHE="${HANGAR_CACHE:-$HOME/.cache/hangar}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PODMAN="${PODMAN:-podman}"
HOST_CA="${HANGAR_HOST_CA:-/etc/ssl/certs/ca-certificates.crt}"
TARBALL="$CACHE/hangar-python-3.11-bookworm.tar"

if ! command -v "$PODMAN" >/dev/null 2>&1; then
    echo "base-image: podman is not installed (make deps)" >&2
    exit 1
fi
if "$PODMAN" image exists "$IMAGE"; then
    exit 0
fi

# The root filesystem, made once and cached.
if [ ! -s "$TARBALL" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "base-image: debootstrap needs root" >&2
        exit 1
    fi
    mkdir -p "$CACHE"
    work="$(mktemp -d "${TMPDIR:-/tmp}/hangar-rootfs.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    rootfs="$work/rootfs"
    echo "base-image: debootstrap bookworm (minbase + python3) from $MIRROR"
    debootstrap --variant=minbase --include=python3,python3-pip,python3-venv \
        bookworm "$rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
        tail -20 "$work/debootstrap.log" >&2
        exit 1
    }
    # Trim what an image never needs: docs, man pages, locales, apt's caches.
    # apt still works: Dockerfiles run `apt-get update` first, as with any image.
    rm -rf "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
        "$rootfs"/usr/share/locale/* "$rootfs"/var/cache/apt/*.bin \
        "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/var/log/*.log "$rootfs"/var/cache/debconf/*-old "$rootfs"/tmp/*
    find "$rootfs" -name __pycache__ -type d -prune -exec rm -rf {} +
    # Behave like the official python images that HF's Dockerfiles expect:
    # `python` and `pip` exist, and pip may install outside a venv (PEP 668's
    # marker is Debian's policy for hosts, not for images).
    rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
    ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python"
    ln -sf /usr/bin/pip3 "$rootfs/usr/local/bin/pip"
    # Trust what the host trusts: behind a TLS-inspecting proxy its CA is in
    # the host's bundle only, and builds (pip, apt over https) need it too.
    # Kept in /usr/local/share/ca-certificates so update-ca-certificates in a
    # Dockerfile keeps it.
    if [ -s "$HOST_CA" ] && ! cmp -s "$HOST_CA" "$rootfs/etc/ssl/certs/ca-certificates.crt"; then
        mkdir -p "$rootfs/usr/local/share/ca-certificates"
        cp "$HOST_CA" "$rootfs/usr/local/share/ca-certificates/hangar-host.crt"
        cp "$HOST_CA" "$rootfs/etc/ssl/certs/ca-certificates.crt"
    fi
    : >"$rootfs/etc/resolv.conf" # the engine writes its own
    tar --numeric-owner --xattrs -C "$rootfs" -cf "$TARBALL.tmp" .
    mv "$TARBALL.tmp" "$TARBALL"
fi

echo "base-image: importing $TARBALL as $IMAGE"
"$PODMAN" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PYTHONDONTWRITEBYTECODE=1' \
    --change 'CMD ["python3"]' \
    --quiet "$TARBALL" "$IMAGE" >/dev/null
"$PODMAN" image exists "$IMAGE"
echo "base-image: $IMAGE ready ($(du -h "$TARBALL" | cut -f1) rootfs)"
