"""Steps, growth and the bake (docs/design.md §3.1, §3.3): wave sizes and pauses by wave number,
the promote that names a wave, and a validated execution judged again while its rollout bakes."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodewave.cli.plugin import render_status
from nodewave.core.execution.observe import Observation
from nodewave.core.job.planner import apply_bake_health, evaluate_bake_start, plan_job
from nodewave.core.rollout.engine import (
    EVERY_PAUSE,
    EVERY_WAVE,
    build_promote_value,
    parse_promote,
    plan_rollout,
)
from nodewave.core.rollout.waves import plan_pause_after, plan_waves, planned_wave_size
from nodewave.core.views.preview import build_preview
from nodewave.models.execution import ObservedState
from nodewave.models.job import JobStatus, JobType, Rollout, RolloutPhase, RolloutStatus, StepPause
from tests.unit.builders import at, execution, job, job_spec, node, pod, snapshot
from tests.unit.rollouts import NODES, P, context, ok, rollout
from tests.unit.simulation import stable_on, step

S = ObservedState
HEALTH = {"deadlineSeconds": 60, "intervalSeconds": 10, "failureThreshold": 3}


def rolling(**kw: Any) -> Rollout:
    return Rollout.model_validate({"strategy": "Rolling", "healthCheck": HEALTH, **kw})


def nodes(n: int) -> list[str]:
    return [f"n{i:03}" for i in range(n)]


@pytest.mark.parametrize(
    ("spec", "total", "sizes"),
    [
        pytest.param({"steps": [{"nodes": 1}, {"percent": 10}, {"percent": 25}]}, 20,
                     [1, 2, 5, 5, 5, 2], id="steps-the-last-repeating"),
        pytest.param({"steps": [{"nodes": 1}, {"pause": {}}, {"nodes": 100}]}, 5, [1, 4],
                     id="a-step-of-more-nodes-than-are-left-takes-what-is-left"),
        pytest.param({"steps": [{"percent": 50}]}, 3, [2, 1], id="percent-rounded-up"),
        pytest.param({"steps": [{"percent": 1}]}, 3, [1, 1, 1], id="a-tiny-percent-is-one-node"),
        pytest.param({"steps": [{"pause": {"durationSeconds": 5}}, {"nodes": 2}]}, 5, [2, 2, 1],
                     id="a-pause-before-the-first-wave-sizes-nothing"),
        pytest.param({"growth": {"type": "Linear", "firstNodes": 2}, "maxParallel": 100}, 20,
                     [2, 4, 6, 8], id="linear"),
        pytest.param({"growth": {"type": "Exponential"}, "maxParallel": 20}, 100,
                     [1, 2, 4, 8, 16, 20, 20, 20, 9], id="exponential-capped-at-maxParallel"),
        pytest.param({"growth": {"type": "Exponential", "factor": 1.5}, "maxParallel": 100}, 10,
                     [1, 2, 3, 4], id="exponential-rounded-up"),
        pytest.param({"maxParallel": 30}, 10, [3, 3, 3, 1], id="without-steps-maxParallel"),
    ],
)  # fmt: skip
def test_wave_sizes_by_wave_number(spec: dict[str, Any], total: int, sizes: list[int]) -> None:
    assert [len(w) for w in plan_waves(rolling(**spec), nodes(total), {})] == sizes


def test_steps_keep_a_wave_inside_its_topology_domain() -> None:
    """Zones a (3 nodes) and b (3), steps [2, 4]: waves a:2, a:1 (the rest of a), b:3."""
    ordered = ["a1", "a2", "a3", "b1", "b2", "b3"]
    spec = rolling(steps=[{"nodes": 2}, {"nodes": 4}])
    waves = plan_waves(spec, ordered, {n: n[0] for n in ordered})
    assert waves == [["a1", "a2"], ["a3"], ["b1", "b2", "b3"]]


WAVE_STEP = st.one_of(
    st.builds(lambda n: {"nodes": n}, st.integers(1, 40)),
    st.builds(lambda p: {"percent": p}, st.integers(1, 100)),
)
PAUSE_STEP = st.one_of(
    st.just({"pause": {}}),
    st.builds(lambda d: {"pause": {"durationSeconds": d}}, st.integers(1, 3600)),
)


@given(
    steps=st.lists(st.one_of(WAVE_STEP, PAUSE_STEP), max_size=8).filter(
        lambda s: any("pause" not in x for x in s)
    ),
    total=st.integers(0, 60),
)
def test_steps_put_every_node_in_exactly_one_wave_of_at_most_its_size(
    steps: list[dict[str, Any]], total: int
) -> None:
    spec = rolling(steps=steps)
    waves = plan_waves(spec, nodes(total), {})
    assert [n for w in waves for n in w] == nodes(total)
    for number, wave in enumerate(waves, 1):
        assert 1 <= len(wave) <= planned_wave_size(spec, total, number)


@given(
    first=st.integers(1, 50),
    factor=st.floats(1.1, 10),
    kind=st.sampled_from(["Linear", "Exponential"]),
    percent=st.integers(1, 100),
    total=st.integers(1, 300),
)
def test_growth_never_shrinks_and_never_passes_maxParallel(
    first: int, factor: float, kind: str, percent: int, total: int
) -> None:
    spec = rolling(
        growth={"type": kind, "firstNodes": first, "factor": factor}, maxParallel=percent
    )
    sizes = [planned_wave_size(spec, total, w) for w in range(1, 80)]
    assert sizes == sorted(sizes)
    assert max(sizes) <= max(1, -(-percent * total // 100))


PAUSES = [
    {"nodes": 1},
    {"pause": {}},
    {"percent": 10},
    {"pause": {"durationSeconds": 60}},
    {"pause": {"durationSeconds": 30}},
    {"percent": 25},
    {"pause": {"durationSeconds": 600}},
]


@pytest.mark.parametrize(
    ("steps", "wave", "pause"),
    [
        (PAUSES, 1, StepPause()),
        (PAUSES, 2, StepPause(duration_seconds=90)),  # two in a row add up
        (PAUSES, 3, StepPause(duration_seconds=600)),
        (PAUSES, 7, StepPause(duration_seconds=600)),  # after each repeat of the last step
        ([{"nodes": 1}, {"pause": {"durationSeconds": 60}}, {"pause": {}}], 1, StepPause()),
        ([{"pause": {"durationSeconds": 60}}, {"nodes": 1}, {"percent": 50}], 1, None),
        ([{"nodes": 1}, {"percent": 50}], 1, None),
        ([], 1, None),
    ],
)
def test_the_pause_after_each_wave(
    steps: list[dict[str, Any]], wave: int, pause: StepPause | None
) -> None:
    spec = rolling(steps=steps) if steps else rolling()
    assert plan_pause_after(spec, wave) == pause


@pytest.mark.parametrize(
    ("value", "past"),
    [
        ("2", 1),  # the canary's, or the first wave's pause
        ("2:3", 3),
        ("2/full", EVERY_WAVE),
        ("2:all", EVERY_PAUSE),  # `kubectl nodewave rollback`: every pause, waves as planned
        ("2:99999999999", EVERY_PAUSE),  # a number past every wave is every pause, never /full
        ("3", 0),  # another version's
        ("3:5", 0),
        ("2:", 0),
        ("2:x", 0),
        ("2:٣", 0),  # a digit, but not an ASCII one
        (None, 0),
        ("", 0),
    ],
)
def test_a_promote_names_the_last_wave_it_takes_the_version_past(
    value: str | None, past: int
) -> None:
    assert parse_promote(value, 2) == past


@given(version=st.integers(1, 10**6), wave=st.integers(0, 10**4), full=st.booleans())
def test_the_promote_the_plugin_writes_is_read_as_it_meant(
    version: int, wave: int, full: bool
) -> None:
    value = build_promote_value(version, wave, full)
    assert parse_promote(value, version) == (EVERY_WAVE if full else max(wave, 1))
    assert parse_promote(build_promote_value(version, EVERY_PAUSE), version) == EVERY_PAUSE
    assert parse_promote(value, version + 1) == 0


# ---- the bake: a validated execution judged again ---------------------------------------------

BAKING = RolloutStatus(phase=RolloutPhase.BAKING, version=2, phase_since=at(100))
UP = Observation(S.RUNNING, "ContainersReady", "running")
DOWN = Observation(S.DEGRADED, "ContainersNotReady", "containers are not ready")


def test_the_bake_starts_when_the_rollout_of_the_executions_version_bakes() -> None:
    ex = execution("n1", 2, state=S.RUNNING, stable=True)
    assert evaluate_bake_start(job(status=JobStatus(rollout=BAKING)), ex) == at(100)
    other = BAKING.model_copy(update={"version": 3})
    assert evaluate_bake_start(job(status=JobStatus(rollout=other)), ex) is None
    done = BAKING.model_copy(update={"phase": RolloutPhase.COMPLETED})
    assert evaluate_bake_start(job(status=JobStatus(rollout=done)), ex) is None


def bake(
    obs: Observation, ready: bool, until: float, spec: Any = None
) -> tuple[Observation, float]:
    """Judge a validated execution (created long before: no deadline applies) every 2 s from
    the bake's start until it fails or `until`; the last observation and when."""
    ex = execution("n1", 2, state=S.RUNNING, stable=True, created=-10_000)
    spec = spec or job_spec(rollout={"healthCheck": HEALTH})
    window = ex.status.health
    t = 100.0
    while True:
        result = apply_bake_health(ex, obs, pod(ex.name, ready=ready), spec, window, at(100), at(t))
        window = result.health or window
        if result.state is S.FAILED or t >= until:
            return result, t
        t += 2


def test_a_healthy_execution_keeps_running_through_the_bake_with_fresh_windows() -> None:
    result, _ = bake(UP, ready=True, until=200)
    assert (result.state, result.reason) == (S.RUNNING, "ContainersReady")
    assert result.health is not None
    assert result.health.window_start is not None
    assert result.health.window_start >= at(100), "counted from the bake's start"
    assert result.health.consecutive_unhealthy == 0


def test_an_execution_unready_while_baking_fails_after_failureThreshold_windows() -> None:
    result, t = bake(DOWN, ready=False, until=400)
    assert result.state is S.FAILED
    assert 130 <= t <= 132, "three windows of 10 s from the bake's start"
    assert result.reason == "HealthCheckFailed"
    assert result.message.startswith("failed while the rollout baked: 3 unhealthy windows")
    assert result.error is not None
    assert result.error.code == "HealthCheckFailed"


def test_the_bake_judges_no_run_to_completion_execution() -> None:
    spec = job_spec(type=JobType.UPDATE, rollout={"healthCheck": HEALTH})
    result, _ = bake(DOWN, ready=False, until=200, spec=spec)
    assert result == DOWN


def test_status_says_until_when_a_step_pause_or_the_bake_ends() -> None:
    job_object = {
        "metadata": {"namespace": "ns", "name": "agent"},
        "spec": {"type": "Pipeline", "rollout": {"strategy": "Rolling"}},
        "status": {"rollout": {"phase": "Baking", "version": 2, "wave": 3, "totalWaves": 3,
                               "waitUntil": "2026-12-06T20:00:00Z", "message": "baking until"}},
    }  # fmt: skip
    text = render_status(job_object, [])
    assert "Until:      2026-12-06T20:00:00Z (the step's pause or the bake ends)" in text
    job_object["status"]["rollout"]["phase"] = "Progressing"  # a stale waitUntil is not shown
    assert "Until:" not in render_status(job_object, [])


def test_the_promote_of_wave_two_names_it() -> None:
    assert build_promote_value(2, 1) == "2"
    assert build_promote_value(2, 2) == "2:2"
    assert parse_promote(build_promote_value(2, 2), 2) == 2


def test_a_steps_pause_event_names_its_wave() -> None:
    """The Events a step's pause says carry the wave (the notifications' $wave)."""
    steps = [{"nodes": 1}, {"pause": {"durationSeconds": 60}}, {"nodes": 1}, {"pause": {}},
             {"nodes": 1}]  # fmt: skip
    timed = context({"n0": ok(1)}, targets=NODES[:3], strategy="Rolling", steps=steps,
                    previous=rollout(P.PROGRESSING, 1, 3))  # fmt: skip
    assert [(e.reason, e.wave) for e in plan_rollout(timed).events][-1] == ("StepPaused", 1)
    promote = context({"n0": ok(1), "n1": ok(2)}, targets=NODES[:3], strategy="Rolling",
                      steps=steps, previous=rollout(P.PROGRESSING, 2, 3))  # fmt: skip
    assert [(e.reason, e.wave) for e in plan_rollout(promote).events][-1] == (
        "AwaitingPromotion", 2,
    )  # fmt: skip


def test_a_plan_in_flight_numbers_the_pauses_from_the_next_wave() -> None:
    """At wave 1 of steps [1, pause 60, 1, pause 5, 1...] over 3 nodes the two waves to come are
    waves 2 and 3: the pause between them is the one after wave 2 (5 s), not after wave 1."""
    steps = [{"nodes": 1}, {"pause": {"durationSeconds": 60}}, {"nodes": 1},
             {"pause": {"durationSeconds": 5}}, {"nodes": 1}]  # fmt: skip
    snap = stable_on(NODES[:3], {"strategy": "Rolling", "steps": steps})
    snap = step(snap, 10)  # wave 1 starts
    assert snap.job.status.rollout is not None
    assert snap.job.status.rollout.wave == 1
    preview = build_preview(snap, snap.versions[1], False, False, at(11))
    assert (preview.in_flight, [len(w) for w in preview.waves]) == (True, [1, 1])
    assert preview.pauses == [StepPause(duration_seconds=5)]


def test_baking_reads_prometheus_wakes_for_the_next_sample_and_says_when_a_window_closed() -> None:
    """Prometheus' rate counts while baking (a ready pod at rate 0.5 fails), the observation
    asks to be woken at the next sample, a closed window is marked for the status, and a pod
    being deleted is not judged."""
    hc = {**HEALTH, "prometheus": {"address": "http://p:9090", "query": "x"}}
    spec = job_spec(rollout={"healthCheck": hc})
    ex = execution("n1", 2, state=S.RUNNING, stable=True, created=-10_000)
    window, t, result = None, 100.0, UP
    while t < 200 and result.state is not S.FAILED:
        result = apply_bake_health(ex, UP, pod(ex.name), spec, window, at(100), at(t), 0.5)
        window = result.health or window
        t += 2
    assert result.state is S.FAILED
    assert "error rate 0.50" in result.message
    first = apply_bake_health(ex, UP, pod(ex.name), spec, None, at(100), at(100), 0.0)
    assert first.deadline == at(102), "the next sample: intervalSeconds 10 / 5"
    assert first.health_closed is False
    closing = apply_bake_health(ex, UP, pod(ex.name), spec, first.health, at(100), at(110), 0.0)
    assert closing.health_closed is True
    gone = pod(ex.name, deleting=True)
    assert apply_bake_health(ex, UP, gone, spec, None, at(100), at(100), 0.5) == UP


def test_a_bake_window_keeps_its_samples_between_passes() -> None:
    """A pass mid-window samples the pod unready; the pass closing the window 10 s later sees
    it ready: the window holds both samples (error rate 0.5, unhealthy), because the planner
    keeps a baking execution's window in memory, as a validating one's."""
    spec = job_spec(rollout={"strategy": "Rolling", "healthCheck": HEALTH, "bakeSeconds": 600})
    ex = execution("n1", 2, state=S.RUNNING, stable=True, created=-10_000)
    baking = BAKING.model_copy(update={"wait_until": at(700), "wave": 1, "total_waves": 1})
    status = JobStatus(stable_version=1, current_version=2, rollout=baking)
    snap = snapshot([node("n1")], [ex], [pod(ex.name, ready=False)], spec=spec, current=2,
                    status=status)  # fmt: skip
    first = plan_job(snap, at(100))
    assert first.status.rollout is not None
    assert first.status.rollout.phase is RolloutPhase.BAKING
    assert ex.name in first.health, "the window in progress is kept"
    later = dataclasses.replace(snap, pods={ex.name: pod(ex.name)}, health=first.health)
    closing = plan_job(later, at(110.5))
    window = closing.health[ex.name]
    assert (window.error_rate, window.consecutive_unhealthy) == (0.5, 1)
