"""The availability budget (`rollout.maxUnavailable`, docs/design.md §3.3): which target nodes
are unavailable now, and whether the next wave fits beside them.

A node is unavailable when it is gone or NotReady, cordoned, or (a long-running type) an
execution it should run has no ready pod: what the DaemonSet controller counts as unavailable,
plus the node-level states a platform team's budget is about (Karpenter's disruption budgets,
system-upgrade-controller's asked-for cluster-health gate). A run-to-completion Job's pods are
not meant to stay ready, so only its nodes count.

Worked example: 10 targets, maxUnavailable 3; n1 NotReady and n2 cordoned are unavailable, and
the next wave takes n5, n6: 2 + 2 = 4 > 3, it waits ("2 of 10 target nodes are unavailable
(n1, n2); wave 3 of 2 nodes would make 4, over maxUnavailable 3"). Once n1 is back, 1 + 2 = 3
fits. With maxUnavailablePerDomain only the wave's domain is counted, and a percent is of the
domain's nodes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nodewave.core.rollout.waves import Domains, domain_of, evaluate_unavailable_budget
from nodewave.core.vocabulary.snapshot import ExecutionInfo, NodeInfo, PodInfo
from nodewave.models.execution import DesiredState
from nodewave.models.job import Rollout


def evaluate_unavailable(
    targets: Sequence[str],
    nodes: Mapping[str, NodeInfo],
    on_node: Mapping[str, Mapping[int, ExecutionInfo]],
    pods: Mapping[str, PodInfo],
    *,
    completes: bool,
) -> frozenset[str]:
    """The targets unavailable now (the module's rules); `completes`: a run-to-completion type,
    whose pods are not counted."""
    out = set()
    for n in targets:
        node = nodes.get(n)
        if (
            node is None
            or not node.ready
            or node.unschedulable
            or (
                not completes
                and any(
                    ex.spec.desired_state is DesiredState.RUNNING
                    and not (
                        (pod := pods.get(ex.name)) is not None and pod.ready and not pod.deleting
                    )
                    for ex in on_node.get(n, {}).values()
                )
            )
        ):
            out.add(n)
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class Fit:
    """Whether a wave fits the budget, and what the count was."""

    fits: bool
    message: str
    """Why it waits ("" when it fits)."""


def evaluate_wave_fit(
    spec: Rollout,
    targets: Sequence[str],
    domains: Domains,
    unavailable: frozenset[str],
    wave: Sequence[str],
    number: int,
) -> Fit:
    """Whether wave `number` (its nodes `wave`) may start: the unavailable targets outside it
    (in its domain, with maxUnavailablePerDomain) and its own nodes together within the
    budget. A wave never exceeds the budget alone (`planned_wave_size` caps it)."""
    if spec.max_unavailable is None or not wave:
        return Fit(True, "")
    scope: Sequence[str] = targets
    where = f"{len(targets)} target nodes"
    if spec.max_unavailable_per_domain and domains:
        own = domain_of(domains, wave[0])
        scope = [n for n in targets if domain_of(domains, n) == own]
        where = f"{len(scope)} nodes in {own or '(no label)'}"
    budget = evaluate_unavailable_budget(spec, len(scope))
    assert budget is not None
    moving = set(wave)
    others = sorted(n for n in scope if n in unavailable and n not in moving)
    if len(others) + len(wave) <= budget:
        return Fit(True, "")
    shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
    return Fit(
        False,
        f"{len(others)} of {where} are unavailable ({shown}); wave {number} of {len(wave)} "
        f"nodes would make {len(others) + len(wave)}, over maxUnavailable "
        f"{spec.max_unavailable} ({budget})",
    )
