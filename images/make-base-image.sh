#!/usr/bin/env bash
# Build a minimal local Debian base image for podman, for machines with no image
# registry (see PLATFORM.md): debootstrap a minbase bookworm with Python 3 and import it.
# Idempotent: does nothing when the image already exists.
# Usage: images/make-base-image.sh [IMAGE]   (default localhost/mcs-base:bookworm)
set -euo pipefail

image="${1:-localhost/mcs-base:bookworm}"
podman_cmd=(podman --runtime runc --cgroup-manager cgroupfs)

if "${podman_cmd[@]}" image exists "$image"; then
    echo "base image $image already exists"
    exit 0
fi

# Use the Debian mirror apt already uses, so this works wherever apt does.
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
if [ -z "$mirror" ]; then
    mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
fi
mirror="${mirror:-http://deb.debian.org/debian}"

rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
echo "debootstrap bookworm from $mirror (about a minute)"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" "$mirror" >/dev/null
tar -C "$rootfs" -c . | "${podman_cmd[@]}" import --quiet - "$image" >/dev/null
echo "built base image $image"
