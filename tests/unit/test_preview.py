"""`kubectl nodewave plan` (core/preview.py, cli/plan.py): the plan printed is the plan
executed (the waves it shows are the waves the engine then runs, pass by pass), what would
stop, the budget, the least duration, and the exit code's 'changes'."""

from __future__ import annotations

import dataclasses

import pytest

from nodewave.cli.plan import render_preview
from nodewave.core.preview import build_diff, build_notes, build_preview
from nodewave.core.snapshot import Snapshot
from nodewave.models.job import JobSpec, JobType, Strategy
from tests.unit.builders import at, node
from tests.unit.simulation import NODES, run, stable_on, step

ZONES = {n: ("zone-a" if i < 4 else "zone-b") for i, n in enumerate(NODES)}


def waves_run(snap: Snapshot) -> list[list[str]]:
    """The engine's waves of version 2, from the executions it created, in wave order."""
    by_wave: dict[int, list[str]] = {}
    for e in snap.executions:
        if e.spec.job_version == 2:
            by_wave.setdefault(e.spec.rollout_wave, []).append(e.spec.node_name)
    return [sorted(by_wave[w]) for w in sorted(by_wave)]


@pytest.mark.parametrize(
    "rollout",
    [
        {"strategy": "Rolling", "maxParallel": 20},
        {"strategy": "Canary", "canaryCount": 3, "maxParallel": 30, "autoPromote": True},
        {"strategy": "Rolling", "maxParallel": 30, "topologyKey": "zone",
         "domainOrder": ["zone-b"]},
        {"strategy": "Immediate"},
    ],
    ids=["rolling", "canary", "topology", "immediate"],
)  # fmt: skip
def test_the_plan_printed_is_the_plan_executed(rollout: dict[str, object]) -> None:
    snap = stable_on(NODES, rollout)
    snap = dataclasses.replace(snap, nodes={n: node(n, zone=ZONES[n]) for n in NODES})
    preview = build_preview(snap, snap.versions[1], True, True, at(10))
    done = run(snap, 40)
    assert done.job.status.stable_version == 2, "the rollout completed"
    assert [sorted(w) for w in preview.waves] == waves_run(done)
    assert preview.changes
    assert preview.stops == []


def test_what_a_rollout_would_take() -> None:
    """10 nodes, Rolling 20 %: 5 waves; budget min(10 nodes, 10 % of 10) = 1; windows of
    successThreshold 1 x 1 s (tests.unit.simulation.HC): 5 s at least."""
    snap = stable_on(NODES, {"strategy": "Rolling", "maxParallel": 20})
    preview = build_preview(snap, snap.versions[1], True, True, at(10))
    assert [len(w) for w in preview.waves] == [2, 2, 2, 2, 2]
    assert (preview.budget, preview.minimum_seconds, preview.in_flight) == (1, 5, False)
    text = render_preview("ns/j", Strategy.ROLLING, preview, new_job=False)
    assert "+ version 2 (new, from stable version 1)" in text
    assert "+ Rolling rollout: 10 nodes in 5 waves" in text
    assert "failure budget: 1 nodes may fail" in text
    assert "at least 5 s of health windows" in text


def test_nodes_no_longer_selected_would_stop_and_nothing_else_changes() -> None:
    snap = stable_on(NODES, {"strategy": "Rolling", "maxParallel": 20})
    steady = run(snap, 40)  # version 2 everywhere and stable
    assert steady.job.status.stable_version == 2
    same = build_preview(steady, steady.versions[2], False, False, at(60))
    assert (same.waves, same.stops, same.changes) == ([], [], False)
    assert "no changes" in render_preview("ns/j", Strategy.ROLLING, same, new_job=False)
    selector = steady.job.spec.selector.model_copy(update={"match_expressions": ["!gone"]})
    spec = steady.job.spec.model_copy(update={"selector": selector})
    fewer = dataclasses.replace(
        steady,
        job=dataclasses.replace(steady.job, spec=spec),
        nodes={**steady.nodes, "n3": node("n3", gone="yes")},
    )
    stopping = build_preview(fewer, fewer.versions[2], False, True, at(60))
    assert (stopping.stops, stopping.waves, stopping.changes) == (["n3"], [], True)


def test_the_diff_names_each_changed_field() -> None:
    old = {"template": {"spec": {"containers": [{"image": "a:1", "name": "m"}]}}, "config": {}}
    new = {"template": {"spec": {"containers": [{"image": "a:2", "name": "m"}]}},
           "config": {"level": "debug"}}  # fmt: skip
    assert build_diff(old, new) == [
        "+ config.level: 'debug'",
        "~ template.spec.containers[0].image: 'a:1' → 'a:2'",
    ]
    assert build_diff(new, new) == []


def test_the_plan_says_when_waves_may_start_and_what_happens_to_each_node() -> None:
    window = {"days": ["Sat"], "start": "01:00", "end": "02:00", "timeZone": "Europe/Berlin"}
    snap = stable_on(NODES, {"strategy": "Rolling", "maxParallel": 20,
                             "maintenanceWindows": [window]})  # fmt: skip
    preview = build_preview(snap, snap.versions[1], True, True, at(10))  # a Thursday
    assert preview.notes == [
        "waves start only in a maintenance window: opens at 2026-01-03T01:00:00+01:00 "
        "(Europe/Berlin)"
    ]
    text = render_preview("ns/j", Strategy.ROLLING, preview, new_job=False)
    assert "  waves start only in a maintenance window: opens at 2026-01-03T01:00" in text
    update = snap.job.spec.model_copy(update={"type": JobType.UPDATE})
    update = JobSpec.model_validate({**update.to_api(), "nodeMaintenance": {
        "cordon": True, "drain": {"enabled": True, "timeoutSeconds": 300}}})  # fmt: skip
    assert build_notes(update, at(10))[1] == (
        "each node is cordoned and drained (up to 300 s) before its execution, uncordoned "
        "after it completed, kept cordoned if it failed"
    )
    open_now = snap.job.spec.rollout.model_copy(update={"maintenance_windows": []})
    assert build_notes(snap.job.spec.model_copy(update={"rollout": open_now}), at(10)) == []


def with_spec(snap: Snapshot, **changes: object) -> Snapshot:
    spec = JobSpec.model_validate({**snap.job.spec.to_api(), **changes})
    return dataclasses.replace(snap, job=dataclasses.replace(snap.job, spec=spec))


def test_a_selector_the_operator_cannot_parse_is_refused_with_nothing_planned() -> None:
    snap = with_spec(stable_on(NODES, {"strategy": "Rolling"}),
                     selector={"matchExpressions": ["zone=>a"]})  # fmt: skip
    preview = build_preview(snap, snap.versions[1], True, True, at(10))
    assert preview.refused.startswith("malformed selector expression 'zone=>a'")
    assert (preview.targets, preview.waves, preview.stops, preview.budget) == ([], [], [], 0)
    assert (preview.version, preview.stable, preview.new_version, preview.spec_changed) == (
        2, 1, True, True,
    )  # fmt: skip
    assert preview.diff == []  # the same template: only the selector changed
    assert preview.changes


def test_a_rollout_under_way_shows_what_is_left_of_it_without_a_new_canary() -> None:
    snap = stable_on(NODES, {"strategy": "Canary", "canaryCount": 3, "maxParallel": 40,
                             "autoPromote": True})  # fmt: skip
    for i in range(12):
        snap = step(snap, 10 + i / 4)
    rs = snap.job.status.rollout
    assert rs is not None
    assert rs.wave >= 1
    moved = {e.spec.node_name for e in snap.executions if e.spec.job_version == 2}
    preview = build_preview(snap, snap.versions[1], False, False, at(13))
    assert preview.in_flight
    assert sorted(n for w in preview.waves for n in w) == sorted(set(NODES) - moved)
    assert all(len(w) == 4 for w in preview.waves[:-1])  # 40 % of 10, never the canary's 3


def test_a_run_to_completion_type_has_no_least_duration_and_new_nodes_of_a_stable_version_go_at_once() -> (
    None
):
    update = with_spec(stable_on(NODES, {"strategy": "Rolling", "maxParallel": 20}), type="Update")
    update = dataclasses.replace(
        update, current=dataclasses.replace(update.current, type=JobType.UPDATE)
    )
    preview = build_preview(update, update.versions[1], True, True, at(10))
    assert (preview.completes, preview.minimum_seconds, len(preview.waves)) == (True, 0, 5)
    steady = run(stable_on(NODES[:6], {"strategy": "Rolling", "maxParallel": 20}), 40)
    grown = dataclasses.replace(steady, nodes={n: node(n) for n in NODES})
    placed = build_preview(grown, grown.versions[2], False, False, at(60))
    assert placed.waves == [[n for n in placed.targets if n not in NODES[:6]]]
    assert placed.minimum_seconds == 0


def test_a_diff_of_lists_of_other_lengths_and_long_values() -> None:
    long = "x" * 100
    assert build_diff({"a": [1, 2]}, {"a": [1]}) == ["~ a: [1, 2] → [1]"]
    assert build_diff({"a": 1, "b": {"c": 2}}, {"b": {}}) == ["- a: 1", "- b.c: 2"]
    assert build_diff({}, {"v": long}) == [f"+ v: {repr(long)[:79]}…"]
