"""Command-line entry points: `nodewave` (operator, CRDs, local cluster, demo)."""
