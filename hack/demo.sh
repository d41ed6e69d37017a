#!/usr/bin/env bash
# The embedded default: a local control plane with fake nodes, the CRDs, the operator and a demo.
# `make demo ARGS="--real 2"` adds two real kubelet nodes and rolls out real containers on them;
# `make demo ARGS="--screenshot docs/images/dashboard.png"` takes the documentation's picture.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_python_env
ensure_binaries all
case " $* " in *" --real"*) ensure_container_runtime ;; esac
case " $* " in *" --screenshot"*) ensure_browser ;; esac
exec nodewave demo "$@"
