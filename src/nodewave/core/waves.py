"""Wave planning: which nodes move to a new version together (docs/design.md §3.1).

Rules, with worked examples (N target nodes):
- Node order is deterministic and spread: nodes sorted by sha256("<job>/<node>"), so the same
  Job always picks the same canaries, different Jobs pick different ones, and waves do not
  follow name order (which often follows rack or zone).
- Wave size = ceil(maxParallel% x N), at least 1. N=100, 20% → 20 (5 waves); N=7, 10% → 1
  (7 waves); N=3, 50% → 2 (waves of 2 and 1); 100% → one wave.
- Canary: the first wave is canaryCount (at most N) or ceil(canaryPercent% x N) (at least 1);
  the rest follows in waves of the rolling size. N=20, canaryCount 2, maxParallel 25% → 2,
  then 5, 5, 5, 3.
- Immediate: one wave with every node. N=0: no waves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from nodewave.models.job import Rollout, Strategy


def ceil_percent(percent: float, total: int) -> int:
    """ceil(percent% x total), exact for integer percents (no float rounding surprises)."""
    scaled = round(percent * 1000)
    return -(-(scaled * total) // 100_000)


def order_nodes(job: str, nodes: Iterable[str]) -> list[str]:
    return sorted(nodes, key=lambda n: (hashlib.sha256(f"{job}/{n}".encode()).hexdigest(), n))


def wave_size(rollout: Rollout, total: int) -> int:
    if rollout.strategy is Strategy.IMMEDIATE:
        return max(total, 1)
    return max(1, ceil_percent(rollout.max_parallel, total))


def canary_size(rollout: Rollout, total: int) -> int:
    if rollout.canary_count is not None:
        return max(1, min(rollout.canary_count, total))
    return max(1, ceil_percent(rollout.canary_percent or 0, total))


def first_wave_size(rollout: Rollout, total: int) -> int:
    if rollout.strategy is Strategy.CANARY:
        return canary_size(rollout, total)
    return wave_size(rollout, total)


def planned_wave_size(rollout: Rollout, total: int, first: bool) -> int:
    """How many nodes a wave of a rollout over `total` nodes takes: the first (the canary) or
    a rolling one."""
    return first_wave_size(rollout, total) if first else wave_size(rollout, total)


def plan_next_wave(rollout: Rollout, total: int, remaining: list[str], first: bool) -> list[str]:
    """The nodes of the next wave: the first of `remaining` (in wave order), as many as the
    wave takes. The rollout engine starts each wave with it; `plan_waves` is it applied until
    no node is left."""
    return remaining[: planned_wave_size(rollout, total, first)]


def count_waves(rollout: Rollout, total: int, left: int) -> int:
    """How many rolling waves `left` nodes still take (after the first wave)."""
    return -(-left // wave_size(rollout, total))


def plan_waves(rollout: Rollout, ordered: list[str]) -> list[list[str]]:
    """Every node in exactly one wave, in order; the canary wave first."""
    waves: list[list[str]] = []
    remaining = list(ordered)
    while remaining:
        wave = plan_next_wave(rollout, len(ordered), remaining, first=not waves)
        waves.append(wave)
        remaining = remaining[len(wave) :]
    return waves
