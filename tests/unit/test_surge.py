"""Surge hand-off (rollout.maxSurge, the planner's placement): on a node the new version starts
beside the running one, which stops only once the new one runs, pass by pass in the simulated
cluster; without it the node has a moment with no serving pod."""

from __future__ import annotations

from typing import Any

from nodewave.core.vocabulary.snapshot import Snapshot
from nodewave.models.execution import DesiredState, ObservedState
from tests.unit.simulation import NODES, stable_on, step

S = ObservedState
ROLLING = {"strategy": "Rolling", "maxParallel": 20}


def serving(snap: Snapshot) -> dict[str, int]:
    """Node → executions whose pod is ready and whose status says Running: what serves."""
    out = dict.fromkeys(NODES, 0)
    for ex in snap.executions:
        pod = snap.pods.get(ex.name)
        if pod is not None and pod.ready and ex.status.observed_state is S.RUNNING:
            out[ex.spec.node_name] += 1
    return out


def roll(rollout: dict[str, Any], unready: set[str] = frozenset()) -> list[Snapshot]:  # type: ignore[assignment]
    snap = stable_on(NODES, rollout)
    passes = []
    for i in range(40 * 4):
        snap = step(snap, 10 + i / 4, unready)
        passes.append(snap)
    return passes


def test_with_surge_every_node_serves_at_every_pass_and_the_old_stops_after() -> None:
    passes = roll({**ROLLING, "maxSurge": 2})
    assert passes[-1].job.status.stable_version == 2, "the rollout completed"
    running = {
        (ex.spec.node_name, ex.spec.job_version)
        for ex in passes[-1].executions
        if ex.spec.desired_state is DesiredState.RUNNING
    }
    assert running == {(n, 2) for n in NODES}, "version 1 handed over everywhere in the end"
    assert all(min(serving(p).values()) >= 1 for p in passes), "no node without a serving pod"
    # Version 2's pod started beside version 1's serving one, on every node, and version 1
    # was stopped only once version 2 ran there.
    beside = {
        ex.spec.node_name
        for p in passes
        for ex in p.executions
        if ex.spec.job_version == 2 and ex.name in p.pods and serving(p)[ex.spec.node_name]
        and ex.status.observed_state is not S.RUNNING
    }  # fmt: skip
    assert beside == set(NODES)
    for p in passes:
        for ex in p.executions:
            if ex.spec.job_version == 1 and ex.spec.desired_state is DesiredState.STOPPED:
                v2 = next(e for e in p.executions if e.spec.node_name == ex.spec.node_name
                          and e.spec.job_version == 2)  # fmt: skip
                assert v2.status.stable_at is not None, "stopped before its successor ran"


def test_without_surge_a_node_has_a_moment_with_no_serving_pod() -> None:
    passes = roll(ROLLING)
    assert passes[-1].job.status.stable_version == 2
    assert any(min(serving(p).values()) == 0 for p in passes)


def test_with_surge_a_node_where_the_new_version_fails_keeps_the_old_one_serving() -> None:
    """maxFailedNodes default 10 % of 10 = 1: one failure is within the budget; the node it
    failed on still serves version 1."""
    bad = {"n3"}
    last = roll({**ROLLING, "maxSurge": 2}, unready=bad)[-1]
    assert last.job.status.stable_version == 2
    assert serving(last)["n3"] == 1
    running = {
        ex.spec.job_version
        for ex in last.executions
        if ex.spec.node_name == "n3" and ex.spec.desired_state is DesiredState.RUNNING
    }
    assert 1 in running


def test_max_surge_bounds_each_wave() -> None:
    """maxParallel 50 % of 10 would be waves of 5; maxSurge 2 makes them 2."""
    last = roll({"strategy": "Rolling", "maxParallel": 50, "maxSurge": 2})[-1]
    sizes: dict[int, int] = {}
    for ex in last.executions:
        if ex.spec.job_version == 2:
            sizes[ex.spec.rollout_wave] = sizes.get(ex.spec.rollout_wave, 0) + 1
    assert sorted(sizes.values()) == [2, 2, 2, 2, 2]
