#!/usr/bin/env bash
# Builds the operator's image from the project's Dockerfile with podman, and saves it as an
# archive real nodes import (no registry is reachable here). Prints the archive's path last.
#
# The Dockerfile's base comes from a build argument: users build FROM python:3.11-slim; here
# no image can be pulled, so the base is made once with debootstrap (Debian bookworm minbase,
# whose python3 is 3.11) and imported into podman. Everything podman keeps lives under
# $CACHE/containers (storage, configuration); nothing is written to /etc.
#
# Settings this machine needs (shared/REALNODES.md): runtime runc (crun refuses the cgroup
# layout), cgroupfs, no default ulimits (raising them is refused), and the machine's trust store
# mounted read-only into the build so pip reaches the package index (never copied into a layer).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

TAG="${1:-localhost/nodewave:dev}"
# The version and commit the image is labelled with (org.opencontainers.image.*): the
# package's version from git (hatch-vcs), unless make release names it.
ensure_python_env
VERSION="${VERSION:-$(python -c 'import nodewave; print(nodewave.__version__)')}"
REVISION="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
# Given as --label too: buildah reuses a cached LABEL step whose ARG changed (a new commit with
# the same version kept the old revision), while --label applies to the image as committed.
BASE_TAG="localhost/nodewave-base:bookworm-py311-1"
ensure_podman
C="$CACHE/containers"
mkdir -p "$CACHE/images"
log() { printf '[build-image] %s\n' "$*" >&2; }
# One build at a time: `make test`'s workers build side by side (kind, the e2e test, the
# release); the later finds every layer cached, and no archive is pruned under another's feet.
exec 9>"$CACHE/images/.build.lock"
flock 9

if ! podman image exists "$BASE_TAG"; then
  log "making the base image $BASE_TAG with debootstrap (about a minute, once)"
  rootfs="$C/rootfs.tmp"
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include=python3,python3-venv bookworm "$rootfs" \
    http://deb.debian.org/debian >"$C/debootstrap.log" 2>&1 || {
    tail -20 "$C/debootstrap.log" >&2
    exit 1
  }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | podman import --quiet - "$BASE_TAG" >/dev/null
  rm -rf "$rootfs"
fi

log "building $TAG from $ROOT/Dockerfile"
previous="$(podman image inspect --format '{{.Id}}' "$TAG" 2>/dev/null || true)"
trust=/etc/ssl/certs/ca-certificates.crt
printf '[global]\ncert = %s\n' "$trust" >"$C/pip.conf"
podman build --quiet --pull=never --network host --build-arg "BASE=$BASE_TAG" \
  --build-arg "VERSION=$VERSION" --build-arg "REVISION=$REVISION" \
  --label "org.opencontainers.image.version=$VERSION" \
  --label "org.opencontainers.image.revision=$REVISION" \
  --volume "$trust:$trust:ro" --volume "$C/pip.conf:/etc/pip.conf:ro" \
  -t "$TAG" "$ROOT" >/dev/null

id="$(podman image inspect --format '{{.Id}}' "$TAG")"
archive="$CACHE/images/nodewave-${id:0:16}.tar"
if [ ! -f "$archive" ]; then
  podman save --quiet --format docker-archive -o "$archive.tmp" "$TAG"
  mv "$archive.tmp" "$archive"
fi
# Only the newest builds are kept (each is ~280 MB; the dependency layers stay cached): four,
# not one, as builds run side by side (`make test`'s workers: the e2e test, the release, kind)
# and each would delete the archive another is about to load.
touch "$archive"
ls -1t "$CACHE"/images/nodewave-*.tar | tail -n +5 | { grep -vxF "$archive" || true; } | xargs -r rm -f
if [ -n "$previous" ] && [ "$previous" != "$id" ]; then podman rmi --force "$previous" >/dev/null 2>&1 || true; fi
# make release asks for the OCI form too (what a registry push keeps as is).
if [ -n "${OCI_ARCHIVE:-}" ]; then
  rm -f "$OCI_ARCHIVE"
  podman save --quiet --format oci-archive -o "$OCI_ARCHIVE" "$TAG"
fi
log "image $TAG ($VERSION) saved in $archive"
echo "$archive"
