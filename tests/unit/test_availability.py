"""The availability budget (core/rollout/availability.py): which targets are unavailable, whether
a wave fits beside them, and maxUnavailable bounding every wave."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodewave.core.rollout.availability import evaluate_unavailable, evaluate_wave_fit
from nodewave.core.rollout.engine import plan_rollout
from nodewave.core.rollout.progress import group_by_node
from nodewave.core.rollout.waves import plan_waves, planned_wave_size
from nodewave.models.execution import DesiredState, ObservedState
from nodewave.models.job import Rollout, RolloutPhase
from tests.unit.builders import execution, node, pod
from tests.unit.rollouts import context, ok, rollout

S = ObservedState
TARGETS = [f"n{i}" for i in range(10)]
ZONES = {n: ("a" if i < 4 else "b") for i, n in enumerate(TARGETS)}


def rolling(**kw: Any) -> Rollout:
    return Rollout.model_validate(
        {"strategy": "Rolling", "healthCheck": {"deadlineSeconds": 60}, **kw}
    )


def test_what_counts_as_unavailable() -> None:
    """n1 NotReady, n2 cordoned, n3 gone, n4's pod not ready, n5's pod being deleted, n6 runs
    nothing of the Job, n7's stopped execution has no pod (its replacement is ready): only the
    first five count, and for a run-to-completion type only the nodes themselves."""
    nodes = {n: node(n) for n in TARGETS if n != "n3"}
    nodes["n1"] = node("n1", ready=False)
    nodes["n2"] = dataclasses.replace(node("n2"), unschedulable=True)
    executions = [execution(n, 1, state=S.RUNNING) for n in TARGETS if n not in ("n6", "n7")]
    executions += [
        execution("n7", 1, DesiredState.STOPPED, state=S.STOPPED),
        execution("n7", 2, state=S.RUNNING),
    ]
    pods = {ex.name: pod(ex.name, node_name=ex.spec.node_name) for ex in executions}
    by_name = {ex.spec.node_name + str(ex.spec.job_version): ex.name for ex in executions}
    pods[by_name["n41"]] = pod(by_name["n41"], ready=False)
    pods[by_name["n51"]] = pod(by_name["n51"], deleting=True)
    del pods[by_name["n71"]]
    on_node = group_by_node(executions)
    got = evaluate_unavailable(TARGETS, nodes, on_node, pods, completes=False)
    assert sorted(got) == ["n1", "n2", "n3", "n4", "n5"]
    assert sorted(evaluate_unavailable(TARGETS, nodes, on_node, pods, completes=True)) == [
        "n1", "n2", "n3",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "down", "wave", "fits"),
    [
        ({"maxUnavailable": 3}, {"n8", "n9"}, ["n2"], True),  # 2 + 1
        ({"maxUnavailable": 3}, {"n8", "n9"}, ["n2", "n3"], False),  # 2 + 2
        ({"maxUnavailable": 3}, {"n2", "n9"}, ["n2", "n3"], True),  # the wave's own counts once
        ({"maxUnavailable": "20%"}, {"n9"}, ["n2"], True),  # 20 % of 10 = 2
        ({"maxUnavailable": "20%"}, {"n8", "n9"}, ["n2"], False),
        ({"maxUnavailable": "25%"}, {"n8", "n9"}, ["n2"], True),  # ceil(2.5) = 3
        ({"maxUnavailable": "1%"}, {"n9"}, ["n2"], False),  # ceil(0.1) = 1
        # Per domain: zone a (4 nodes) holds the wave, the nodes down are in b.
        ({"maxUnavailable": 1, "maxUnavailablePerDomain": True, "topologyKey": "zone"},
         {"n8", "n9"}, ["n2"], True),
        ({"maxUnavailable": 1, "maxUnavailablePerDomain": True, "topologyKey": "zone"},
         {"n0", "n9"}, ["n2"], False),
        ({"maxUnavailable": "50%", "maxUnavailablePerDomain": True, "topologyKey": "zone"},
         {"n0"}, ["n2"], True),  # 50 % of zone a's 4 = 2
        ({}, set(TARGETS), ["n2"], True),  # no budget
    ],
)  # fmt: skip
def test_whether_a_wave_fits(
    spec: dict[str, Any], down: set[str], wave: list[str], fits: bool
) -> None:
    fit = evaluate_wave_fit(rolling(**spec), TARGETS, ZONES, frozenset(down), wave, 2)
    assert fit.fits is fits
    assert (fit.message == "") is fits


def test_the_message_names_the_domain_and_the_nodes() -> None:
    spec = rolling(maxUnavailable=1, maxUnavailablePerDomain=True, topologyKey="zone")
    fit = evaluate_wave_fit(spec, TARGETS, ZONES, frozenset({"n0", "n1", "n9"}), ["n2"], 3)
    assert fit.message == (
        "2 of 4 nodes in a are unavailable (n0, n1); wave 3 of 1 nodes would make 3, over "
        "maxUnavailable 1 (1)"
    )


@given(
    budget=st.one_of(st.integers(1, 30), st.integers(1, 100).map(lambda p: f"{p}%")),
    percent=st.integers(1, 100),
    total=st.integers(1, 80),
)
def test_no_wave_is_larger_than_the_budget(budget: int | str, percent: int, total: int) -> None:
    """maxUnavailable bounds every wave (a wave the budget could never hold would wait
    forever), and every node is still in exactly one wave."""
    spec = rolling(maxParallel=percent, maxUnavailable=budget)
    nodes = [f"n{i:02}" for i in range(total)]
    waves = plan_waves(spec, nodes, {})
    limit = budget if isinstance(budget, int) else max(1, -(-int(budget[:-1]) * total // 100))
    assert all(len(w) <= limit for w in waves)
    assert [n for w in waves for n in w] == nodes
    assert planned_wave_size(spec, total, 1) <= limit


def test_a_per_domain_budget_bounds_each_wave_by_its_domain() -> None:
    """Zones a (4) and b (6), maxParallel 100 %, 50 % per domain: waves of 2 in a, 3 in b."""
    spec = rolling(
        maxParallel=100, maxUnavailable="50%", maxUnavailablePerDomain=True, topologyKey="zone"
    )
    assert [len(w) for w in plan_waves(spec, TARGETS, ZONES)] == [2, 2, 3, 3]


def test_many_unavailable_nodes_are_named_up_to_five_and_an_unlabelled_domain_says_so() -> None:
    domains = {n: "" for n in TARGETS}
    spec = rolling(maxUnavailable=2, maxUnavailablePerDomain=True, topologyKey="zone")
    fit = evaluate_wave_fit(spec, TARGETS, domains, frozenset(TARGETS[3:]), ["n0"], 2)
    assert fit.message == (
        "7 of 10 nodes in (no label) are unavailable (n3, n4, n5, n6, n7 and 2 more); wave 2 of 1 "
        "nodes would make 8, over maxUnavailable 2 (2)"
    )
    six = evaluate_wave_fit(spec, TARGETS, domains, frozenset(TARGETS[4:]), ["n0"], 2)
    assert "(n4, n5, n6, n7, n8 and 1 more)" in six.message
    five = evaluate_wave_fit(spec, TARGETS, domains, frozenset(TARGETS[5:]), ["n0"], 2)
    assert "(n5, n6, n7, n8, n9);" in five.message


def test_the_engine_counts_a_per_domain_budget_in_the_waves_domain() -> None:
    """Zone a (n0-n3) and b (n4-n9), 1 unavailable per domain, n8 down: wave 2 in zone a
    starts; with n1 down instead, it waits."""
    kw = {"strategy": "Rolling", "maxParallel": 10, "topologyKey": "zone",
          "maxUnavailable": 1, "maxUnavailablePerDomain": True}  # fmt: skip
    base = context({"n0": ok(1)}, previous=rollout(RolloutPhase.PROGRESSING, 1, 10), **kw)
    # the wave order puts zone a first: n0 n1 n2 n3, then b
    ordered = dataclasses.replace(base, domains=ZONES)
    going = plan_rollout(dataclasses.replace(ordered, unavailable=frozenset({"n8"})))
    assert going.rollout is not None
    assert going.rollout.phase is RolloutPhase.PROGRESSING
    held = plan_rollout(dataclasses.replace(ordered, unavailable=frozenset({"n2"})))
    assert held.rollout is not None
    assert held.rollout.phase is RolloutPhase.WAITING_FOR_AVAILABILITY
    assert "1 of 4 nodes in a are unavailable (n2)" in held.rollout.message


def test_a_promoted_canary_held_by_the_budget_says_it_was_promoted() -> None:
    canary = {"strategy": "Canary", "canaryCount": 1, "maxParallel": 20, "maxUnavailable": 1}
    ctx = context({"n0": ok(1)}, previous=rollout(RolloutPhase.AWAITING_PROMOTION, 1, 6),
                  promote="2", **canary)  # fmt: skip
    decision = plan_rollout(dataclasses.replace(ctx, unavailable=frozenset({"n9"})))
    assert [e.reason for e in decision.events] == ["Promoted", "WaitingForAvailability"]
    assert decision.rollout is not None
    assert decision.rollout.phase is RolloutPhase.WAITING_FOR_AVAILABILITY
