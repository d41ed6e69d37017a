#!/usr/bin/env bash
# make release: every artefact of a release, built here from the tagged commit, into
# dist/<version>/; nothing is pushed anywhere (publishing is a separate, deliberate step).
#
#   wheel and sdist         nodewave-<version>-py3-none-any.whl, nodewave-<version>.tar.gz
#                           (the version is the git tag, through hatch-vcs: one source)
#   the operator's image    nodewave-<version>-linux-amd64.oci.tar, from the Dockerfile, with
#                           OCI labels (source, revision, version, licenses), and its digest
#   the chart               nodewave-<semver>.tgz: version and appVersion the release's, the
#                           image pinned by that digest
#   the plugin for krew     kubectl-nodewave-<version>-<os>-<arch>.tar.gz (linux and darwin,
#                           amd64 and arm64) and nodewave.krew.yaml with their sha256
#   the SBOM                nodewave-<version>.cdx.json (CycloneDX, by cyclonedx-py, of the
#                           runtime environment the wheel installs)
#   SHA256SUMS
#
# A release needs HEAD tagged v<version>, a clean tree and a CHANGELOG.md section for it.
# ARGS=--snapshot builds the same from an untagged tree, with the development version.
#
# The image is built for this machine's architecture only: arm64 needs emulation (qemu-user
# binfmt), which this machine does not offer, and no base image can be pulled here (the
# debootstrap base of hack/build-image.sh; a published release builds FROM python:3.11-slim).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
log() { printf '[release] %s\n' "$*" >&2; }

snapshot=false
[ "${1:-}" = "--snapshot" ] && snapshot=true

ensure_python_env
tag="$(git describe --tags --exact-match --match 'v[0-9]*' HEAD 2>/dev/null || true)"
if $snapshot; then
  VERSION="$(python -c 'import nodewave; print(nodewave.__version__)')"
elif [ -n "$tag" ]; then
  VERSION="$(python hack/release.py normalize "$tag")"  # as the package's: v0.2.0-rc1 → 0.2.0rc1
  if [ -n "$(git status --porcelain)" ]; then  # untracked files too: hatch and COPY take them
    log "the tree has changes or untracked files: a release is the tagged commit as it is"; exit 1
  fi
  if ! grep -Eq "^## \[(${VERSION//./\\.}|${tag#v})\]" CHANGELOG.md; then
    log "CHANGELOG.md has no section '## [$VERSION] - <date>': move Unreleased there first"; exit 1
  fi
else
  log "HEAD has no version tag: git tag -a v0.2.0 -m 'nodewave 0.2.0', or make release ARGS=--snapshot"
  exit 1
fi
export SETUPTOOLS_SCM_PRETEND_VERSION="$VERSION"
SEMVER="$(python hack/release.py semver "$VERSION")"
TAG="$(python hack/release.py tag "$VERSION")"
DIST="$ROOT/dist/$VERSION"
rm -rf "$DIST" && mkdir -p "$DIST"
log "nodewave $VERSION (chart $SEMVER) into $DIST"

log "wheel and sdist"
"$UV" build --quiet --out-dir "$DIST" >/dev/null
rm -f "$DIST/.gitignore"  # uv's own, for a dist/ inside a checkout: not an artefact
wheel="$(ls "$DIST"/nodewave-*.whl)"

arch="$(uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/')"
log "the operator's image (linux/$arch)"
image="$DIST/nodewave-$VERSION-linux-$arch.oci.tar"
ensure_container_runtime
VERSION="$VERSION" OCI_ARCHIVE="$image" bash hack/build-image.sh "ghcr.io/nodewave/nodewave:$TAG" >/dev/null
digest="$(python hack/release.py digest "$image")"
echo "$digest" >"$DIST/nodewave-$VERSION-linux-$arch.digest"

log "the chart (image $digest)"
ensure_binaries helm
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
chart="$(python hack/release.py chart charts/nodewave "$stage" "$VERSION" "$digest")"
helm package --destination "$DIST" "$chart" >/dev/null

log "the plugin's archives and the krew manifest"
# The locked versions (with hashes) of the runtime dependencies, as the image installs them.
locked="$stage/requirements.txt"
"$UV" export --quiet --locked --no-dev --no-emit-project --format requirements-txt -o "$locked"
# The plugin never runs the local cluster: without its certificates' library (cryptography
# has no wheel for Intel Macs any more), one archive per platform stays installable.
plugin_locked="$stage/plugin-requirements.txt"
"$UV" export --quiet --locked --no-dev --no-emit-project --format requirements-txt \
  --no-emit-package cryptography --no-emit-package cffi --no-emit-package pycparser \
  -o "$plugin_locked"
UV="$UV" python hack/release.py plugin "$wheel" "$plugin_locked" "$DIST" "$VERSION"

log "the SBOM (CycloneDX)"
"$UV" venv --quiet "$stage/runtime"
"$UV" pip install --quiet --python "$stage/runtime/bin/python" -r "$locked"
"$UV" pip install --quiet --python "$stage/runtime/bin/python" --no-deps "$wheel"
cyclonedx-py environment --pyproject pyproject.toml --output-reproducible \
  --output-format JSON --output-file "$DIST/nodewave-$VERSION.cdx.json" "$stage/runtime/bin/python"
python hack/release.py sbom "$DIST/nodewave-$VERSION.cdx.json" "$VERSION"

python hack/release.py sums "$DIST"
log "done:"
ls -1 "$DIST" >&2
