#!/usr/bin/env bash
# The chaos suite at a larger scale (NODEWAVE_CHAOS_SCALE, default 2: 32 nodes, 39 kills), then
# docs/reliability.md written from its figures. `make test` runs the same suite at scale 1.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_python_env
ensure_binaries all
report="$(mktemp)"
trap 'rm -f "$report"' EXIT
NODEWAVE_CHAOS_SCALE="${NODEWAVE_CHAOS_SCALE:-2}" NODEWAVE_CHAOS_REPORT="$report" \
  python -m pytest -p no:cacheprovider tests/chaos -s "$@"
python hack/reliability.py "$report"
