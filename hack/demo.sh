#!/usr/bin/env bash
# The embedded default: a local control plane with fake nodes, the CRDs, the operator and a demo.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_python_env
ensure_binaries all
exec nodewave demo "$@"
