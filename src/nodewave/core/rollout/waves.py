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
- Topology (`topologyKey`): a wave never spans two domains (values of the node label). Domains
  go one after another: those in `domainOrder` first, in that order, then the others by name,
  nodes without the label last; inside a domain nodes keep the hash order. A wave is the wave
  size or what is left of its domain, whichever is smaller, so the canary is inside the first
  domain. Zones a (4 nodes), b (2), Rolling 50 % of 6 → 3: waves a:3, a:1, b:2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

from nodewave.models.job import Rollout, Strategy

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


def first_wave_size(rollout: Rollout, total: int) -> int:
    if rollout.strategy is Strategy.CANARY:
        return canary_size(rollout, total)
    return wave_size(rollout, total)


def planned_wave_size(rollout: Rollout, total: int, first: bool) -> int:
    """How many nodes a wave of a rollout over `total` nodes takes: the first (the canary) or
    a rolling one."""
    return first_wave_size(rollout, total) if first else wave_size(rollout, total)


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
    rollout: Rollout, total: int, remaining: Sequence[str], first: bool, domains: Domains
) -> list[str]:
    """The nodes of the next wave: the first of `remaining` (in wave order), as many as the
    wave takes and never past the end of their domain. The rollout engine starts each wave
    with it; `plan_waves` is it applied until no node is left."""
    return same_domain(remaining[: planned_wave_size(rollout, total, first)], domains)


def plan_waves(
    rollout: Rollout,
    ordered: list[str],
    domains: Domains,
    *,
    total: int | None = None,
    started: bool = False,
) -> list[list[str]]:
    """Every node of `ordered` in exactly one wave, in order; the canary wave first unless the
    rollout has `started` (its canary is behind it). Waves are sized over `total` targets
    (default: the nodes ordered)."""
    waves: list[list[str]] = []
    remaining = list(ordered)
    total = len(ordered) if total is None else total
    while remaining:
        wave = plan_next_wave(rollout, total, remaining, not waves and not started, domains)
        if not wave:  # a wave takes at least one node; without one this would never end
            raise AssertionError(f"an empty wave planned over {remaining[:3]}…")
        waves.append(wave)
        remaining = remaining[len(wave) :]
    return waves
