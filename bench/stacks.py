"""Summarise a py-spy profile (collapsed stacks, `bench.reconcile --profile DIR`): the functions
with the largest inclusive and self share of the samples in which the operator was running
Python code (idle samples, the event loop waiting in select, are left out).

    python -m bench.stacks DIR/operator-1000-1.txt [--top 25]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

IDLE = ("select (selectors.py", "_run_once (asyncio/base_events.py", "epoll")


def summarise(lines: list[str]) -> tuple[int, Counter[str], Counter[str]]:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack:
            continue
        frames = [f.split(":")[0] for f in stack.split(";")]
        if any(frames[-1].startswith(i) for i in IDLE):
            continue
        n = int(count)
        total += n
        own[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n
    return total, inclusive, own


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    total, inclusive, own = summarise(args.profile.read_text().splitlines())
    print(f"{total} busy samples")
    for title, table in (("inclusive", inclusive), ("self", own)):
        print(f"\n{title}:")
        for frame, n in table.most_common(args.top):
            print(f"{100 * n / total:6.1f}%  {frame}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
