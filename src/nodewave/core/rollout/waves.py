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
- Steps (Rolling): wave k is the k-th `nodes`/`percent` step, the last one repeating. N=20,
  steps [nodes 1, percent 10, percent 25] → 1, 2, 5, 5, 5, 2. Growth: Linear firstNodes 2 →
  2, 4, 6...; Exponential firstNodes 1 factor 2 → 1, 2, 4, 8..., each capped at maxParallel
  percent: N=100, maxParallel 20 → 1, 2, 4, 8, 16, 20, 20, 20, 9.
- Immediate: one wave with every node. N=0: no waves.
- Topology (`topologyKey`): a wave never spans two domains (values of the node label). Domains
  go one after another: those in `domainOrder` first, in that order, then the others by name,
  nodes without the label last; inside a domain nodes keep the hash order. A wave is the wave
  size or what is left of its domain, whichever is smaller, so the canary is inside the first
  domain. Zones a (4 nodes), b (2), Rolling 50 % of 6 → 3: waves a:3, a:1, b:2.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence

from nodewave.models.job import GrowthType, Rollout, RolloutStep, StepPause, Strategy

Domains = Mapping[str, str]
"""Node → its topology domain (the value of the rollout's topologyKey label; "" without it).
Empty when the rollout has no topologyKey: every node in one domain."""


def ceil_percent(percent: float, total: int) -> int:
    """ceil(percent% x total), exact for integer percents (no float rounding surprises)."""
    scaled = round(percent * 1000)
    return -(-(scaled * total) // 100_000)


def domain_of(domains: Domains, node: str) -> str:
    """A node's topology domain: "" without the label, or without a topologyKey."""
    return domains.get(node, "")


def order_nodes(
    job: str, nodes: Iterable[str], domains: Domains | None = None, domain_order: Sequence[str] = ()
) -> list[str]:
    """The wave order: by domain (see the module rules), then by hash of job and node."""
    first = {d: i for i, d in enumerate(domain_order)}
    domains = domains or {}
    unlabelled = len(first) + 1  # after the ordered domains (0..) and the others (len(first))

    def key(n: str) -> tuple[int, str, str, str]:
        d = domain_of(domains, n)
        rank = first.get(d, len(first) if d else unlabelled)
        return (rank, d, hashlib.sha256(f"{job}/{n}".encode()).hexdigest(), n)

    return sorted(nodes, key=key)


def build_domains(nodes: Mapping[str, Mapping[str, str]], topology_key: str | None) -> Domains:
    """Each node's domain from its labels (`nodes`: name → labels); empty without a key."""
    if not topology_key:
        return {}
    return {name: labels.get(topology_key, "") for name, labels in nodes.items()}


def wave_size(rollout: Rollout, total: int) -> int:
    if rollout.strategy is Strategy.IMMEDIATE:
        return max(total, 1)
    return max(1, ceil_percent(rollout.max_parallel, total))


def canary_size(rollout: Rollout, total: int) -> int:
    if rollout.canary_count is not None:
        return max(1, min(rollout.canary_count, total))
    return max(1, ceil_percent(rollout.canary_percent or 0, total))


def wave_steps(rollout: Rollout) -> list[RolloutStep]:
    """The steps that are waves (nodes or percent), in order."""
    return [s for s in rollout.steps if s.pause is None]


def step_wave_size(step: RolloutStep, total: int) -> int:
    if step.nodes is not None:
        return max(1, min(step.nodes, total))
    return max(1, ceil_percent(step.percent or 0, total))


def growth_wave_size(rollout: Rollout, total: int, wave: int) -> int:
    """Wave `wave` of a growth: Linear firstNodes x wave, Exponential firstNodes x
    factor^(wave-1) rounded up; never more than maxParallel percent (nor less than 1)."""
    growth = rollout.growth
    assert growth is not None
    if growth.type is GrowthType.LINEAR:
        size = growth.first_nodes * wave
    else:  # capped before the power can grow past any fleet
        size = math.ceil(growth.first_nodes * growth.factor ** min(wave - 1, 64) - 1e-9)
    return max(1, min(size, wave_size(rollout, total)))


def planned_wave_size(rollout: Rollout, total: int, wave: int, scope: int | None = None) -> int:
    """How many nodes wave `wave` (1-based) of a rollout over `total` nodes takes: the canary,
    the step's (the last wave step repeating), the growth's, or maxParallel percent; never
    more than maxUnavailable allows over `scope` nodes (the wave's domain with
    maxUnavailablePerDomain, `domain_scope`; default all), nor than maxSurge. The one answer for the engine,
    `plan`, the node map and a restart."""
    if rollout.strategy is Strategy.CANARY and wave == 1:
        size = canary_size(rollout, total)
    elif steps := wave_steps(rollout):
        size = step_wave_size(steps[min(wave, len(steps)) - 1], total)
    elif rollout.growth is not None:
        size = growth_wave_size(rollout, total, wave)
    else:
        size = wave_size(rollout, total)
    budget = evaluate_unavailable_budget(rollout, total if scope is None else scope)
    if budget is not None:
        size = min(size, budget)
    if rollout.max_surge is not None:  # the nodes running two versions at once
        size = min(size, evaluate_budget(rollout.max_surge, total))
    return max(1, size)


def evaluate_unavailable_budget(rollout: Rollout, size: int) -> int | None:
    """How many of `size` nodes may be unavailable at once: maxUnavailable, a count or its
    percent of `size` rounded up (at least 1, as the DaemonSet's); None without a budget."""
    value = rollout.max_unavailable
    return None if value is None else evaluate_budget(value, size)


def evaluate_budget(value: int | str, size: int) -> int:
    """A count, or a percent ("10%") of `size` rounded up, at least 1 (as the DaemonSet's
    maxUnavailable and maxSurge)."""
    if isinstance(value, int):
        return value
    return max(1, ceil_percent(int(value.removesuffix("%")), size))


def domain_scope(rollout: Rollout, domains: Domains, node: str) -> int | None:
    """With maxUnavailablePerDomain, how many target nodes share `node`'s domain (what its
    wave's budget is counted over); None: the budget is counted over every target."""
    if not rollout.max_unavailable_per_domain or not domains:
        return None
    own = domain_of(domains, node)
    return sum(1 for d in domains.values() if d == own)


def plan_pause_after(rollout: Rollout, wave: int) -> StepPause | None:
    """The pause `rollout.steps` puts after wave `wave` (1-based): the pause steps between its
    wave step and the next (the pauses after the last wave step follow each of its repeated
    waves). Several in a row are one: until promoted if any is, else their durations added.
    None: the next wave starts as soon as this one settled."""
    if not rollout.steps:
        return None
    runs: list[list[StepPause]] = []  # the pauses after each wave step
    for step in rollout.steps:
        if step.pause is None:
            runs.append([])
        elif runs:
            runs[-1].append(step.pause)
        # a pause before the first wave holds nothing: there is no wave before it
    pauses = runs[min(wave, len(runs)) - 1] if runs else []
    if not pauses:
        return None
    if any(p.duration_seconds is None for p in pauses):
        return StepPause()
    return StepPause(duration_seconds=sum(p.duration_seconds or 0 for p in pauses))


def same_domain(nodes: Sequence[str], domains: Domains, domain: str | None = None) -> list[str]:
    """The first run of `nodes` (in wave order) in `domain` (default: the first node's
    domain): what one wave may take, since a wave never spans two domains. Zones a a b a:
    the run in a is the first two nodes, the run in b the third."""
    if not nodes or not domains:
        return list(nodes)
    if domain is None:
        domain = domain_of(domains, nodes[0])
    start = next((i for i, n in enumerate(nodes) if domain_of(domains, n) == domain), len(nodes))
    end = next(
        (i for i in range(start, len(nodes)) if domain_of(domains, nodes[i]) != domain), len(nodes)
    )
    return list(nodes[start:end])


def plan_next_wave(
    rollout: Rollout, total: int, remaining: Sequence[str], wave: int, domains: Domains
) -> list[str]:
    """The nodes of wave `wave` (1-based): the first of `remaining` (in wave order), as many
    as the wave takes and never past the end of their domain. The rollout engine starts each
    wave with it; `plan_waves` is it applied until no node is left."""
    if not remaining:
        return []
    scope = domain_scope(rollout, domains, remaining[0])
    return same_domain(remaining[: planned_wave_size(rollout, total, wave, scope)], domains)


def plan_waves(
    rollout: Rollout,
    ordered: list[str],
    domains: Domains,
    *,
    total: int | None = None,
    first_wave: int = 1,
) -> list[list[str]]:
    """Every node of `ordered` in exactly one wave, in order, numbered from `first_wave`
    (1: the canary, or the first step, first). Waves are sized over `total` targets (default:
    the nodes ordered)."""
    waves: list[list[str]] = []
    remaining = list(ordered)
    total = len(ordered) if total is None else total
    while remaining:
        wave = plan_next_wave(rollout, total, remaining, first_wave + len(waves), domains)
        if not wave:  # a wave takes at least one node; without one this would never end
            raise AssertionError(f"an empty wave planned over {remaining[:3]}…")
        waves.append(wave)
        remaining = remaining[len(wave) :]
    return waves
