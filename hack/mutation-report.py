"""Summarise mutmut's results (mutants/**/*.meta): the kill score of each core module and its
surviving mutants. Exit status 1 when a module is below --min (percent)."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

KILLED = {1, 3, 37}  # tests failed, pytest internal error, caught by the type check
TIMEOUT = {24, -24, 36, 152, 255}


def classify(code: int | None) -> str:
    if code in KILLED:
        return "killed"
    if code in TIMEOUT:
        return "timeout"
    if code == 0:
        return "survived"
    return "untested" if code in (None, 5, 33) else "other"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--min", type=float, default=0.0, help="fail below this score (percent)")
    parser.add_argument("--no-survivors", action="store_true", help="scores only")
    args = parser.parse_args()
    rows = []
    survivors: list[str] = []
    core = Path("mutants/src/nodewave/core")
    for meta in sorted(core.rglob("*.py.meta")):  # each room's modules: rollout/engine, ...
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        tally = Counter(classify(c) for c in codes.values())
        killed = tally["killed"] + tally["timeout"]  # a mutant that hangs the tests is caught
        total = sum(tally.values())
        rows.append((str(meta.relative_to(core)).removesuffix(".py.meta"), killed, total, tally))
        survivors += [k for k, c in codes.items() if c not in KILLED | TIMEOUT]
    if not rows:
        print("no results: run `mutmut run` first", file=sys.stderr)
        return 2
    print(f"{'module':24} {'killed':>7} {'total':>6} {'score':>7}  not killed")
    worst = 100.0
    for name, killed, total, tally in rows:
        score = 100.0 * killed / total if total else 100.0
        worst = min(worst, score)
        rest = {k: v for k, v in tally.items() if k not in ("killed", "timeout")}
        print(f"{name:24} {killed:7d} {total:6d} {score:6.1f}%  {dict(rest) or ''}")
    all_killed = sum(r[1] for r in rows)
    all_total = sum(r[2] for r in rows)
    print(f"{'all':14} {all_killed:7d} {all_total:6d} {100.0 * all_killed / all_total:6.1f}%")
    if survivors and not args.no_survivors:
        print(f"\n{len(survivors)} mutants not killed (see one: mutmut show NAME):")
        for name in survivors:
            print(" ", name)
    return 0 if worst >= args.min else 1


if __name__ == "__main__":
    sys.exit(main())
