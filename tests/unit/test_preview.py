"""`kubectl nodewave plan` (core/views/preview.py, cli/plan.py): the plan printed is the plan
executed (the waves it shows are the waves the engine then runs, pass by pass), what would
stop, the budget, the least duration, and the exit code's 'changes'."""

from __future__ import annotations

import dataclasses

import pytest

from nodewave.cli.plan import render_preview
from nodewave.core.views.preview import build_diff, build_notes, build_preview
from nodewave.core.vocabulary.snapshot import Snapshot
from nodewave.models.job import JobSpec, JobStatus, JobType, RolloutPhase, RolloutStatus, Strategy
from tests.unit.builders import at, node
from tests.unit.simulation import NODES, run, stable_on, step, waves_run, with_zones


@pytest.mark.parametrize(
    "rollout",
    [
        {"strategy": "Rolling", "maxParallel": 20},
        {"strategy": "Canary", "canaryCount": 3, "maxParallel": 30, "autoPromote": True},
        {"strategy": "Rolling", "maxParallel": 30, "topologyKey": "zone",
         "domainOrder": ["zone-b"]},
        {"strategy": "Immediate"},
        {"strategy": "Rolling", "steps": [{"nodes": 1}, {"pause": {"durationSeconds": 2}},
                                          {"percent": 30}, {"percent": 50}], "bakeSeconds": 3},
        {"strategy": "Rolling", "maxParallel": 40, "growth": {"type": "Exponential"},
         "topologyKey": "zone"},
    ],
    ids=["rolling", "canary", "topology", "immediate", "steps-and-bake", "growth"],
)  # fmt: skip
def test_the_plan_printed_is_the_plan_executed(rollout: dict[str, object]) -> None:
    snap = stable_on(NODES, rollout)
    snap = with_zones(snap)
    preview = build_preview(snap, snap.versions[1], True, True, at(10))
    done = run(snap, 40)
    assert done.job.status.stable_version == 2, "the rollout completed"
    assert [sorted(w) for w in preview.waves] == list(waves_run(done).values())
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


def test_the_plan_shows_each_steps_pause_and_the_bake() -> None:
    """Steps [1, pause 60 s, 30 %, pause until promoted, 50 %] over 10 nodes, a bake of an hour:
    waves 1, 3, 5 and 1 (the last step repeating), a pause after each of the first three, the
    timed ones and the bake counted in the duration."""
    steps = [{"nodes": 1}, {"pause": {"durationSeconds": 60}}, {"percent": 30}, {"pause": {}},
             {"percent": 50}, {"pause": {"durationSeconds": 5}}]  # fmt: skip
    snap = stable_on(NODES, {"strategy": "Rolling", "steps": steps, "bakeSeconds": 3600})
    preview = build_preview(snap, snap.versions[1], True, True, at(10))
    assert [len(w) for w in preview.waves] == [1, 3, 5, 1]
    assert preview.wait_seconds == 60 + 5 + 3600
    text = render_preview("ns/j", Strategy.ROLLING, preview, new_job=False)
    assert "    wave 1: 1 nodes: n" in text
    lines = text.splitlines()
    shown = [line.strip() for line in lines if line.startswith("      then")]
    assert shown == [
        "then pause 60 s",
        "then wait for a promote (kubectl nodewave promote)",
        "then pause 5 s",
    ]
    assert "at least 4 s of health windows, and 3665 s of timed pauses and bake" in text
    assert any("bakes 3600 s" in line for line in lines)


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


def test_a_refused_plan_is_all_empty_but_what_the_spec_says() -> None:
    snap = with_spec(stable_on(NODES, {"strategy": "Rolling"}),
                     selector={"matchExpressions": ["zone=>a"]})  # fmt: skip
    preview = build_preview(snap, snap.versions[1], False, True, at(10))
    assert dataclasses.asdict(preview) == {
        "version": 2, "new_version": False, "stable": 1, "diff": [], "targets": [], "stops": [],
        "waves": [], "domains": {}, "in_flight": False, "budget": 0, "minimum_seconds": 0,
        "completes": False, "refused": preview.refused, "spec_changed": True, "notes": [],
        "wait_seconds": 0, "pauses": [],
    }  # fmt: skip


def test_a_new_job_with_host_access_in_a_namespace_not_opted_in_is_refused() -> None:
    snap = stable_on(NODES, {"strategy": "Rolling"})
    host = {"spec": {"hostPID": True, "containers": [{"name": "m", "image": "a:1"}]}}
    new = dataclasses.replace(
        snap,
        job=dataclasses.replace(snap.job, status=JobStatus()),
        current=dataclasses.replace(snap.current, template=host),
        executions=(),
        pods={},
    )
    preview = build_preview(new, None, True, True, at(10))
    assert "spec.hostPID" in preview.refused
    assert preview.waves == []
    assert preview.diff == [
        "+ template.spec.containers: [{'name': 'm', 'image': 'a:1'}]",
        "+ template.spec.hostPID: True",
        "+ type: 'Pipeline'",
    ]


def test_the_diff_is_of_type_template_and_config() -> None:
    snap = stable_on(NODES, {"strategy": "Rolling"})
    changed = {"spec": {"containers": [{"name": "main", "image": "app:2"}]}}
    snap = dataclasses.replace(snap, current=dataclasses.replace(
        snap.current, template=changed, config={"level": "debug"}, type=JobType.QUERY))  # fmt: skip
    preview = build_preview(snap, snap.versions[1], True, True, at(10))
    assert preview.diff == [
        "+ config.level: 'debug'",
        "~ template.spec.containers[0].image: 'app:1' → 'app:2'",
        "~ type: 'Pipeline' → 'Query'",
    ]


def test_the_waves_of_a_rollout_keep_its_domains_and_count_its_first_wave_as_begun() -> None:
    rollout = {"strategy": "Canary", "canaryCount": 1, "maxParallel": 30, "topologyKey": "zone",
               "autoPromote": True}  # fmt: skip
    snap = stable_on(NODES, rollout)
    snap = with_zones(snap)
    fresh = build_preview(snap, snap.versions[1], True, True, at(10))
    assert [len(w) for w in fresh.waves] == [1, 3, 3, 3]  # zone-a: 1 + 3, zone-b: 3 + 3
    assert fresh.in_flight is False
    done = run(snap, 40)
    assert [sorted(w) for w in fresh.waves] == list(waves_run(done).values())
    in_wave_1 = dataclasses.replace(snap, job=dataclasses.replace(snap.job, status=snap.job.status.model_copy(
        update={"rollout": RolloutStatus(phase=RolloutPhase.PROGRESSING, version=2, wave=1)})))  # fmt: skip
    begun = build_preview(in_wave_1, snap.versions[1], False, False, at(10))
    assert begun.in_flight is True
    assert [len(w) for w in begun.waves] == [3, 1, 3, 3]  # no canary again: 30 % of 10


def test_without_a_deadline_there_is_no_least_duration_and_a_window_open_now_says_so() -> None:
    immediate = with_spec(stable_on(NODES, {"strategy": "Immediate"}),
                          rollout={"strategy": "Immediate"})  # fmt: skip
    assert build_preview(immediate, immediate.versions[1], True, True, at(10)).minimum_seconds == 0
    always = {"start": "00:00", "end": "23:59"}
    spec = JobSpec.model_validate({**immediate.job.spec.to_api(),
                                   "rollout": {"maintenanceWindows": [always]}})  # fmt: skip
    assert build_notes(spec, at(10)) == ["waves start only in a maintenance window: open now"]
    update = JobSpec.model_validate({**spec.to_api(), "type": "Update",
                                     "rollout": {}, "nodeMaintenance": {"cordon": True}})  # fmt: skip
    assert build_notes(update, at(10)) == [
        "each node is cordoned before its execution, uncordoned after it completed"
    ]


def test_diff_edges() -> None:
    exactly = "y" * 78  # its repr is 80 characters: shown whole
    assert build_diff({}, {"v": exactly}) == [f"+ v: {exactly!r}"]
    assert build_diff({"a": 1}, 5) == ["~ : {'a': 1} → 5"]
    assert build_diff({1: "x", "a": "y"}, {1: "z", "a": "y"}) == ["~ 1: 'x' → 'z'"]
    assert build_diff({}, {"b": {"c": 1}}) == ["+ b.c: 1"]
    assert build_diff({"b": {"c": 1}}, {}) == ["- b.c: 1"]


def test_a_spec_the_planner_stalls_on_is_refused_with_its_words_and_keeps_the_diff() -> None:
    """A window in a time zone the operator does not know passes the schema but stalls every
    pass (InvalidSpec): the plan says so, as the Stalled condition would, and still shows what
    changed."""
    snap = stable_on(NODES, {"strategy": "Rolling"})
    bad = {"start": "01:00", "end": "02:00", "timeZone": "Mars/Olympus"}
    snap = with_spec(snap, rollout={"maintenanceWindows": [bad]})
    snap = dataclasses.replace(snap, current=dataclasses.replace(snap.current, template={"x": 1}))
    preview = build_preview(snap, snap.versions[1], True, False, at(10))
    assert preview.refused.startswith("maintenanceWindows[0].timeZone: unknown time zone")
    assert (preview.new_version, preview.spec_changed) == (True, False)
    assert "+ template.x: 1" in preview.diff
    assert (preview.targets, preview.waves, preview.budget) == ([], [], 0)


def test_a_rollout_waiting_before_its_first_wave_still_shows_its_canary() -> None:
    """Wave 0 (awaiting a confirmation): nothing moved yet, the canary is still to come."""
    snap = stable_on(NODES, {"strategy": "Canary", "canaryCount": 1, "maxParallel": 50})
    status = snap.job.status.model_copy(update={"rollout": RolloutStatus(
        phase=RolloutPhase.AWAITING_CONFIRMATION, version=2, wave=0)})  # fmt: skip
    snap = dataclasses.replace(snap, job=dataclasses.replace(snap.job, status=status))
    preview = build_preview(snap, snap.versions[1], False, False, at(10))
    assert preview.in_flight is False
    assert [len(w) for w in preview.waves] == [1, 5, 4]
    assert (preview.refused, preview.spec_changed, preview.domains) == ("", False, {})


def test_the_plan_names_the_availability_budget_and_the_alerts() -> None:
    snap = stable_on(NODES, {
        "strategy": "Rolling", "maxUnavailable": "20%", "maxUnavailablePerDomain": True,
        "topologyKey": "zone",
        "healthCheck": {"deadlineSeconds": 60, "alerts": {
            "address": "http://am:9093", "api": "Alertmanager", "action": "Rollback",
            "matchers": ['severity="critical"']}},
    })  # fmt: skip
    assert build_notes(snap.job.spec, at(10)) == [
        "a wave starts only while it and the target nodes unavailable already in its topology "
        "domain (NotReady, cordoned, the Job's pod not ready) are at most maxUnavailable 20%",
        'while an alert matching severity="critical" fires (Alertmanager), the rollout rolls back',
    ]
    fleet = stable_on(NODES, {
        "strategy": "Rolling", "maxUnavailable": 2,
        "healthCheck": {"deadlineSeconds": 60, "alerts": {
            "address": "http://p:9090", "matchers": ['severity="critical"', 'team="a"']}},
    })  # fmt: skip
    assert build_notes(fleet.job.spec, at(10)) == [
        "a wave starts only while it and the target nodes unavailable already (NotReady, "
        "cordoned, the Job's pod not ready) are at most maxUnavailable 2",
        'while an alert matching severity="critical", team="a" fires (Prometheus), no wave starts',
    ]
