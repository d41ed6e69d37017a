# Sourced by the hack/ scripts: one place for the cache location and the Python environment.
# Everything lives outside the repository, under $NODEWAVE_CACHE (default ~/.cache/nodewave).
CACHE="${NODEWAVE_CACHE:-$HOME/.cache/nodewave}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UV_VERSION="0.13.9"
# One virtualenv per checkout (keyed by its path): the project is installed editable, so a venv
# shared by two clones would run whichever clone synced last.
VENVS="$CACHE/venvs"
export UV_PROJECT_ENVIRONMENT="$VENVS/$(printf %s "$ROOT" | sha256sum | cut -c1-16)"
export UV_CACHE_DIR="$CACHE/uv-cache"
export UV_PYTHON_DOWNLOADS=never
export UV_PYTHON="${UV_PYTHON:-python3.11}"

# ensure_python_env: install uv (pinned) once, then the locked dependencies (a no-op when current).
ensure_python_env() {
  local uv="$CACHE/uv-$UV_VERSION/bin/uv"
  if [ ! -x "$uv" ]; then
    echo "[env] installing uv $UV_VERSION into $CACHE" >&2
    python3 -m venv "$CACHE/uv-$UV_VERSION"
    "$CACHE/uv-$UV_VERSION/bin/pip" install --quiet "uv==$UV_VERSION"
  fi
  UV="$uv"
  (cd "$ROOT" && "$UV" sync --locked --quiet)
  # Stamped on every use, whole (renamed into place): another checkout's sweep below may read
  # it at any moment, and an empty stamp would name no checkout.
  printf '%s\n' "$ROOT" >"$UV_PROJECT_ENVIRONMENT/.checkout.$$"
  mv -f "$UV_PROJECT_ENVIRONMENT/.checkout.$$" "$UV_PROJECT_ENVIRONMENT/.checkout"
  # The venvs of checkouts that are gone (CI's clones, removed worktrees) go, but only once
  # unused for two days: the cache may be shared with another mount namespace (a CI sandbox, a
  # container) whose checkout this shell cannot see, and a sweep from here once deleted such a
  # venv under its running tests.
  local stamp
  find "$VENVS" -mindepth 2 -maxdepth 2 -name .checkout -mmin +2880 2>/dev/null |
    while read -r stamp; do
      [ -d "$(cat "$stamp")" ] || rm -rf "$(dirname "$stamp")"
    done
  rm -rf "$CACHE/venv"  # the shared venv of earlier versions
  export PATH="$UV_PROJECT_ENVIRONMENT/bin:$PATH"
}

# ensure_binaries: build (once) the Kubernetes binaries and export NODEWAVE_BIN_DIR.
ensure_binaries() {
  NODEWAVE_BIN_DIR="$("$ROOT/hack/build-binaries.sh" "${1:-all}" | tail -n 1)"
  export NODEWAVE_BIN_DIR
  export PATH="$NODEWAVE_BIN_DIR:$PATH"
}

# ensure_debian_packages PACKAGE...: install, in one apt run, those not installed yet (CI and
# developers are root here).
ensure_debian_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then echo "[env] missing Debian packages: ${missing[*]} (install them as root)" >&2; return 1; fi
  echo "[env] installing Debian packages: ${missing[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_prometheus: Debian's prometheus package (prometheus and promtool), for the health-query
# tests and the alert-rule tests.
ensure_prometheus() {
  ensure_debian_packages prometheus
  # The package may start a system-wide instance; the tests run their own, on loopback.
  if command -v service >/dev/null; then service prometheus stop >/dev/null 2>&1 || true; fi
}

# ensure_browser: headless Chromium and its driver (Debian's, of the same version), for the
# dashboard's browser test (tests/integration/test_dashboard.py, Selenium).
ensure_browser() {
  ensure_debian_packages chromium chromium-driver
}

# ensure_shells: zsh and fish, whose completion scripts the plugin prints (`kubectl nodewave
# completion zsh|fish`) and tests/unit/test_completion.py runs, beside bash.
ensure_shells() {
  ensure_debian_packages zsh fish
}

# ensure_podman: podman's storage and settings of our own under $CACHE/containers (nothing
# written to /etc), with what this machine needs (shared/REALNODES.md): runtime runc (crun
# refuses the cgroup layout), cgroupfs, no default ulimits (raising them is refused); its CNI
# networks (hack/kind/cluster.sh) are kept there too.
ensure_podman() {
  local c="$CACHE/containers"
  mkdir -p "$c/cni"
  # Written whole and renamed into place: `make test` runs podman from several workers at
  # once (kind, the e2e image, the release), and a file truncated for rewriting read as empty
  # ("the storage 'driver' option must be set").
  # The run root (mount state, locks) belongs to one graph root: one per cache directory.
  write_if_changed "$c/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$c/storage"
runroot = "/run/nodewave-containers-$(printf %s "$c" | sha256sum | cut -c1-12)"
EOF
  write_if_changed "$c/containers.conf" <<EOF
[containers]
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
events_logger = "file"
[network]
network_config_dir = "$c/cni"
EOF
  export CONTAINERS_STORAGE_CONF="$c/storage.conf" CONTAINERS_CONF="$c/containers.conf"
}

# write_if_changed FILE: stdin to FILE, atomically (a temporary file renamed over it), and only
# when it differs, so a reader never sees it half written.
write_if_changed() {
  local tmp
  tmp="$(mktemp "$1.XXXXXX")"
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv -f "$tmp" "$1"; fi
}

# ensure_container_runtime: what real kubelet nodes run on (containerd, runc, the CNI plugins)
# and what their images are built from (busybox-static; podman, buildah and debootstrap for the
# operator's image), and the registry they pull from (docker-registry). See
# src/nodewave/localcluster/realnode.py and registry.py.
ensure_container_runtime() {
  ensure_debian_packages containerd runc containernetworking-plugins iproute2 util-linux \
    busybox-static podman buildah debootstrap docker-registry
}
