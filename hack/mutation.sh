#!/usr/bin/env bash
# Mutation testing of the pure core (src/nodewave/core) against the unit tests, with mutmut:
# every mutant is run against the tests that cover it; a mutant the tests do not fail on
# "survived" and shows a rule no test pins. Prints the score per module and the survivors.
# Not part of `make test` (several minutes on 2 cores). Extra arguments go to the report.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_python_env
ensure_prometheus  # the alert and dashboard unit tests run promtool
# mutmut keeps each mutant's result until the function it mutates changes, even when the tests
# changed: start over, so the score is of these tests.
rm -rf mutants
mutmut run --max-children "$(nproc)" >/dev/null || true
python hack/mutation-report.py "$@"
