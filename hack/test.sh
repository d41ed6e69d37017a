#!/usr/bin/env bash
# The whole test suite, as CI runs it: install what is missing (idempotent, cached outside the
# repo), lint, type-check, check the layer contract and the generated CRDs, then every test
# (unit, integration and e2e against the real local control plane). Non-zero on any failure.
# Extra arguments go to pytest, e.g. `make test ARGS="-k selector"`.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

step() { printf '\n==> %s\n' "$*"; }

step "Python environment (uv, locked)"
ensure_python_env
step "Kubernetes binaries (built once from the Go module proxy, cached in $CACHE)"
ensure_binaries all
step "Prometheus (Debian package)"
ensure_prometheus
step "Container runtime for real nodes (Debian packages: containerd, runc, CNI plugins, podman)"
ensure_container_runtime
step "Headless Chromium and chromedriver (Debian packages), for the dashboard's browser test"
ensure_browser
step "zsh and fish (Debian packages), for the plugin's completion scripts"
ensure_shells
step "ruff"
ruff check src tests bench
ruff format --check src tests bench
step "mypy --strict (models, core)"
mypy --strict src/nodewave/models src/nodewave/core
step "import-linter (handlers -> kube -> core -> models; core imports no kopf/kubernetes)"
lint-imports
step "generated CRDs match the models"
nodewave crds --check
step "pytest"
# Four workers (pytest-xdist) on the two cores: most tests wait on timers, health windows and
# containers, not CPU (two workers kept the cores half busy, three about 65 %). What runs whole on one worker,
# and in what order (the kind cluster, the demo and the other long scopes first):
# tests/conftest.py, split_scope and scope_rank.
exec python -m pytest -p no:cacheprovider --durations=15 -n 4 "$@"
