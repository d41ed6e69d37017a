"""The rollout's ledger (core/rollout/progress.py): which targets a rollout reached, in which
wave, how they fare, and the waves to come — one answer read by the engine, a restart,
`kubectl nodewave plan` and the node map."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodewave.core.rollout.progress import Progress, build_recorded_progress, group_by_node
from nodewave.core.rollout.waves import plan_waves, same_domain
from nodewave.core.views.nodemap import build_node_map
from nodewave.core.views.preview import build_preview
from nodewave.core.vocabulary.snapshot import ExecutionInfo
from nodewave.models.execution import DesiredState, ObservedState
from nodewave.models.job import Rollout
from tests.unit.builders import at, execution
from tests.unit.simulation import NODES, stable_on, step, waves_run, with_zones

S = ObservedState
TARGETS = ["n0", "n1", "n2", "n3", "n4"]
ROLLING_40 = Rollout.model_validate({"strategy": "Rolling", "maxParallel": 40})


def on(node_name: str, version: int, wave: int, state: S = S.RUNNING, **kw: Any) -> ExecutionInfo:
    ex = execution(node_name, version, state=state, **kw)
    return dataclasses.replace(ex, spec=ex.spec.model_copy(update={"rollout_wave": wave}))


def ledger(
    execs: list[ExecutionInfo], *, steady: bool = False, validated: tuple[str, ...] = ()
) -> Progress:
    on_node = group_by_node(execs)
    states = {ex.name: ex.status.observed_state for ex in execs}
    names = frozenset(ex.name for ex in execs if ex.spec.node_name in validated)
    return Progress(2, TARGETS, on_node, states, names, steady=steady)


def test_the_worked_example_of_the_module() -> None:
    """n0 V wave 1 validated, n1 V wave 1 failed, n2 V wave 2 Validating, n3 and n4 on S."""
    execs = [
        on("n0", 2, 1),
        on("n1", 2, 1, S.FAILED),
        on("n2", 2, 2, S.VALIDATING),
        on("n3", 1, 1),
        on("n4", 1, 1),
    ]
    p = ledger(execs, validated=("n0",))
    assert list(p.moved) == ["n0", "n1", "n2"]
    assert (p.failed_nodes, p.remaining) == (1, ["n3", "n4"])
    assert [ex.spec.node_name for ex in p.wave(1)] == ["n0", "n1"]
    assert [p.settled(ex) for ex in p.wave(1)] == [True, True]
    assert [p.settled(ex) for ex in p.wave(2)] == [False]
    assert p.plan_waves_to_come(ROLLING_40, {}, next_wave=2) == [["n3", "n4"]]
    assert p.plan_waves_to_come(ROLLING_40, {}, next_wave=2, starting=["n3"]) == [["n4"]]


@pytest.mark.parametrize(
    ("ex", "steady", "moved"),
    [
        (on("n0", 2, 1), False, True),
        (on("n0", 2, 0), False, False),  # placed outside a wave (an abort's return): not reached
        (on("n0", 2, 0), True, True),  # ... but once V is stable every node on it counts
        (on("n0", 2, 1, S.STOPPED, desired=DesiredState.STOPPED), False, False),  # abandoned
        (on("n0", 2, 1, S.FAILED, desired=DesiredState.STOPPED), False, True),  # reverted
        (on("n0", 2, 1, S.FAILED, desired=DesiredState.STOPPED, stable=True), False, False),
        (on("n0", 1, 1), False, False),  # another version
        (dataclasses.replace(on("n0", 2, 1), deleting=True), False, False),
    ],
    ids=[
        "in-a-wave",
        "wave-0",
        "wave-0-steady",
        "stopped",
        "failed-then-reverted",
        "failed-after-validation-and-stopped",
        "other-version",
        "deleting",
    ],
)
def test_which_executions_count_as_the_rollout_having_reached_their_node(
    ex: ExecutionInfo, steady: bool, moved: bool
) -> None:
    assert ("n0" in ledger([ex], steady=steady).moved) is moved


def test_a_steady_version_takes_its_new_nodes_in_one_wave() -> None:
    p = ledger([on("n0", 2, 1), on("n3", 2, 0)], steady=True)
    assert p.plan_waves_to_come(ROLLING_40, {}, next_wave=2) == [["n1", "n2", "n4"]]
    assert (
        ledger([on(n, 2, 1) for n in TARGETS], steady=True).plan_waves_to_come(
            ROLLING_40, {}, next_wave=1
        )
        == []
    )


def test_the_recorded_ledger_reads_validation_from_the_status() -> None:
    """A view observes nothing: an execution validated before (stableAt) that failed since
    still counts as reached, but not against the budget."""
    execs = [on("n0", 2, 1, S.FAILED, stable=True), on("n1", 2, 1, S.FAILED)]
    p = build_recorded_progress(2, 1, TARGETS, group_by_node(execs))
    assert (list(p.moved), p.failed_nodes, p.steady) == (["n0", "n1"], 1, False)
    assert p.validated == {execs[0].name}
    assert build_recorded_progress(2, 2, TARGETS, {}).steady


@given(
    zones=st.lists(st.sampled_from("abc"), min_size=1, max_size=12),
    domain=st.sampled_from("abc"),
)
def test_the_run_of_a_domain_is_its_nodes_when_the_order_keeps_domains_together(
    zones: list[str], domain: str
) -> None:
    """In wave order a domain's nodes are together: its run is all of them; the default run is
    the first node's domain's."""
    zones = sorted(zones)
    nodes = [f"n{i}" for i in range(len(zones))]
    domains = dict(zip(nodes, zones, strict=True))
    assert same_domain(nodes, domains, domain) == [n for n in nodes if domains[n] == domain]
    assert same_domain(nodes, domains) == [n for n in nodes if domains[n] == zones[0]]


@given(done=st.sets(st.sampled_from(TARGETS)), percent=st.integers(1, 100))
def test_the_waves_to_come_take_every_node_left_once_in_wave_order(
    done: set[str], percent: int
) -> None:
    spec = Rollout.model_validate({"strategy": "Rolling", "maxParallel": percent})
    p = ledger([on(n, 2, 1) for n in sorted(done)])
    waves = p.plan_waves_to_come(spec, {}, next_wave=2)
    assert [n for w in waves for n in w] == [n for n in TARGETS if n not in done]
    assert waves == plan_waves(spec, p.remaining, {}, total=len(TARGETS), first_wave=2)


@pytest.mark.parametrize(
    "rollout",
    [
        {"strategy": "Rolling", "maxParallel": 20},
        {"strategy": "Canary", "canaryCount": 3, "maxParallel": 30, "autoPromote": True},
        {"strategy": "Rolling", "maxParallel": 30, "topologyKey": "zone"},
    ],
    ids=["rolling", "canary", "topology"],
)
def test_plan_the_node_map_and_the_engine_give_the_same_waves_at_every_pass(
    rollout: dict[str, object],
) -> None:
    """At each pass of a rollout, the waves `kubectl nodewave plan` shows and the node map's
    planned waves are the waves the engine then starts."""
    snap = stable_on(NODES, rollout)
    snap = with_zones(snap)
    seen: list[tuple[int, list[list[str]]]] = []
    for i in range(160):
        snap = step(snap, 10 + i / 4)
        rs = snap.job.status.rollout
        if rs is None or rs.phase is None or rs.phase.value != "Progressing":
            continue
        preview = build_preview(snap, snap.versions[1], False, False, at(10 + i / 4))
        cells = build_node_map(snap.job, snap.executions, snap.nodes)["cells"]
        planned: dict[int, list[str]] = {}
        for n, c in cells.items():
            if "plannedWave" in c:
                planned.setdefault(c["plannedWave"], []).append(n)
        assert [sorted(w) for w in preview.waves] == [sorted(planned[w]) for w in sorted(planned)]
        seen.append((rs.wave, [sorted(w) for w in preview.waves]))
    assert snap.job.status.stable_version == 2, "the rollout completed"
    run = waves_run(snap)
    assert len(seen) > 3
    for wave, to_come in seen:
        assert to_come == [run[w] for w in sorted(run) if w > wave]
