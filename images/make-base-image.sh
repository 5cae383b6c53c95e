#!/usr/bin/env bash
# Build a minimal local Debian base image for machines with no image registry (see
# docs/platform.md): debootstrap a minbase bookworm with Python 3 and import it into ENGINE.
# Idempotent per engine: does nothing when ENGINE already holds the image, and copies it
# from the other engine when that one holds it (seconds; debootstrap takes a minute).
# buildah (the unprivileged build user's) only checks that its storage holds the image.
# Usage: images/make-base-image.sh [IMAGE] [ENGINE]   (defaults: localhost/mcs-base:bookworm podman)
set -euo pipefail

image="${1:-localhost/mcs-base:bookworm}"
engine="${2:-podman}"
podman_cmd=(podman --runtime runc --cgroup-manager cgroupfs)
case "$engine" in
    podman) engine_cmd=("${podman_cmd[@]}") other_cmd=(docker) ;;
    docker) engine_cmd=(docker) other_cmd=("${podman_cmd[@]}") ;;
    buildah)
        # the unprivileged build user's own storage: debootstrap needs root, which that user has not
        if buildah --storage-driver vfs inspect --type image "$image" >/dev/null 2>&1; then
            echo "base image $image already exists in buildah"
            exit 0
        fi
        echo "make-base-image.sh: buildah's storage for user $(id -un) lacks $image; as root:" \
            "podman save $image -o /tmp/base.tar, then as $(id -un):" \
            "buildah --storage-driver vfs pull docker-archive:/tmp/base.tar" >&2
        exit 1
        ;;
    *)
        echo "make-base-image.sh: ENGINE must be podman, docker or buildah, got '$engine'" >&2
        exit 2
        ;;
esac

# holds IMAGE? (an engine that is not installed, or a docker CLI without an engine, does not)
holds_image() { command -v "$1" >/dev/null && "$@" image inspect "$image" >/dev/null 2>&1; }

if holds_image "${engine_cmd[@]}"; then
    echo "base image $image already exists in $engine"
    exit 0
fi
# Fail before the minute of debootstrap, not after it.
if [ "$engine" = docker ] && ! docker info >/dev/null 2>&1; then
    echo "make-base-image.sh: no docker engine answers; start dockerd (.ci/run does) or use podman" >&2
    exit 1
fi
if holds_image "${other_cmd[@]}"; then
    "${other_cmd[@]}" save "$image" | "${engine_cmd[@]}" load --quiet >/dev/null
    echo "copied base image $image into $engine from ${other_cmd[0]}"
    exit 0
fi
if ! command -v debootstrap >/dev/null; then
    echo "make-base-image.sh: debootstrap is missing; install it with apt-get install debootstrap" >&2
    exit 1
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
tar -C "$rootfs" -c . | "${engine_cmd[@]}" import - "$image" >/dev/null
echo "built base image $image in $engine"
