"""Durable validation from the Job's status (core/execution/record.py,
`evaluate_recorded_validation`; docs/design.md §4.2, step 2), in shadow beside each
execution's stableAt: the record may say less than stableAt (a node then judged again after a
leader change), never more (a node taken as validated that was not). Every simulated rollout
below is checked after each pass, and once a rollout completes the record must say all that
stableAt says of its version, so a leader change after it judges nothing again."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from nodewave.core.execution.record import evaluate_recorded_validation
from nodewave.core.job.planner import evaluate_returned, evaluate_validated_before
from nodewave.core.rollout.engine import build_abort_value, evaluate_record_time
from nodewave.core.vocabulary.naming import build_execution_name
from nodewave.core.vocabulary.snapshot import ExecutionInfo, Snapshot
from nodewave.models.execution import ObservedState, Transition
from nodewave.models.job import JobStatus, RolloutPhase, RolloutStatus, SettledWave
from tests.unit.builders import at, execution, node
from tests.unit.simulation import NODES, stable_on, step

S = ObservedState
P = RolloutPhase


def recorded(snap: Snapshot, ex: ExecutionInfo) -> bool:
    return evaluate_recorded_validation(ex, ex.status.observed_state, snap.job.status)


def check_pass(snap: Snapshot) -> None:
    """Never more than stableAt: the one direction that would let a node through unjudged."""
    for ex in snap.executions:
        if recorded(snap, ex):
            assert ex.status.stable_at is not None, (ex.name, ex.status, snap.job.status.rollout)


def check_completed(snap: Snapshot) -> None:
    """After completion the record says all stableAt says of the stable version."""
    version = snap.job.status.stable_version
    mine = [ex for ex in snap.executions if ex.spec.job_version == version]
    assert mine
    said = {ex.name for ex in mine if ex.status.stable_at is not None}
    assert {ex.name for ex in mine if recorded(snap, ex)} == said


def roll(
    rollout: dict[str, object],
    seconds: float,
    unready: set[str] = frozenset(),  # type: ignore[assignment]
    each: object = None,
) -> Snapshot:
    """Version 2 rolled out over NODES from version 1 stable, a pass every 0.25 s from t=10,
    executions stamped with their creation second; `each(snap, t)` may change the world."""
    snap = stable_on(NODES, rollout)
    check_pass(snap)
    for i in range(int(seconds * 4)):
        t = 10 + i / 4
        if callable(each):
            snap = each(snap, t)
        snap = step(snap, t, unready, stamp=True)
        check_pass(snap)
    return snap


def phase(snap: Snapshot) -> P | None:
    rs = snap.job.status.rollout
    return rs.phase if rs is not None else None


# ---- the rule, worked -----------------------------------------------------------------------


def _status(stable: int | None = 1, waves: tuple[tuple[int, float], ...] = ((1, 5),)) -> JobStatus:
    return JobStatus(
        stable_version=stable,
        stable_created_until=at(2) if stable else None,
        rollout=RolloutStatus(
            phase=P.PROGRESSING,
            version=2,
            wave=2,
            settled_waves=[SettledWave(wave=w, created_until=at(t)) for w, t in waves],
            other_versions_created_until=at(6) if stable else None,
        ),
    )


def _ex(version: int, wave: int, created: float, state: S = S.RUNNING) -> ExecutionInfo:
    return execution("n1", version, state=state, created=created, wave=wave)


def test_the_worked_example() -> None:
    status = _status()
    rows = [
        # (version, wave, created, state) → validated by the record alone
        ((2, 1, 4, S.RUNNING), True),  # its wave settled after it was made
        ((2, 1, 5, S.RUNNING), True),  # the wave's newest itself
        ((2, 1, 120, S.RUNNING), False),  # retried after its wave settled
        ((2, 2, 4, S.RUNNING), False),  # its wave has not settled
        ((2, 1, 4, S.FAILED), False),
        ((2, 1, 4, S.LOST), False),
        ((1, 1, 2, S.RUNNING), True),  # the stable version, made before it became stable
        ((1, 0, 30, S.RUNNING), False),  # the stable version on a node that joined later
        ((1, 0, 6, S.RUNNING), True),  # another version's, made before each of them settled
        ((3, 1, 6, S.RUNNING), True),  # (a version superseded: the same)
        ((1, 0, 7, S.RUNNING), False),  # made since (reverted, or its node joined)
        ((1, 0, 6, S.FAILED), False),
    ]
    for (version, wave, created, state), expected in rows:
        ex = _ex(version, wave, created, state)
        assert evaluate_recorded_validation(ex, state, status) is expected, (version, wave)


def test_one_ever_lost_is_not_taken_for_validated() -> None:
    """Its node gone when the wave settled and back since: it was never validated."""
    ex = _ex(2, 1, 4)
    lost = Transition(state=S.LOST, time=at(4), reason="NodeLost", message="")
    ex = dataclasses.replace(ex, status=ex.status.model_copy(update={"history": [lost]}))
    assert evaluate_recorded_validation(ex, S.RUNNING, _status()) is False


def test_no_stable_version_no_rollout_nothing_is_recorded() -> None:
    assert evaluate_recorded_validation(_ex(2, 1, 4), S.RUNNING, JobStatus()) is False
    assert evaluate_recorded_validation(_ex(1, 1, 2), S.RUNNING, _status(stable=None)) is False


def test_a_return_to_the_version_a_rollout_started_from_is_not_judged_again() -> None:
    """`planner.evaluate_returned`: a rollback's, an abort's or a reverted node's execution of
    the version the rollout started from, in place of the node's execution of the rollout's
    version, was that node's, validated; under pod records it is a new pod, and judging it
    again held the rollback of test_prometheus_health.py for ever (the node's error rate
    failed either version)."""
    v2 = build_execution_name("j", 2, "n1")
    rows = [
        # (phase, version, what it replaced, reverted nodes, the spec's version) → returned
        ((P.ROLLING_BACK, 1, v2, [], 2), True),
        ((P.ROLLED_BACK, 1, v2, [], 2), True),
        ((P.ABORTED, 1, v2, [], 2), True),
        ((P.ROLLING_BACK, 2, None, [], 2), False),  # the version that failed
        ((P.ROLLED_BACK, 1, None, [], 2), False),  # a node that joined: it replaced nothing
        ((P.ROLLED_BACK, 1, build_execution_name("j", 1, "n1"), [], 2), False),  # a retry
        ((P.ROLLING_BACK, 1, v2, [], 1), False),  # the spec set back: 1 is judged as ever
        ((P.PROGRESSING, 1, v2, [], 2), False),  # not returning
        ((P.PROGRESSING, 1, v2, ["n1"], 2), True),  # reverted
        ((P.COMPLETED, 1, v2, ["n1"], 2), True),
        ((P.COMPLETED, 1, v2, ["n2"], 2), False),
    ]
    for (rollout_phase, version, replaced, reverted, current), expected in rows:
        status = JobStatus(stable_version=1, current_version=current, rollout=RolloutStatus(
            phase=rollout_phase, version=2, from_version=1, reverted_nodes=reverted))  # fmt: skip
        ex = execution("n1", version)
        ex = dataclasses.replace(
            ex, spec=ex.spec.model_copy(update={"previous_execution": replaced})
        )
        row = (rollout_phase, version, replaced, reverted, current)
        assert evaluate_returned(ex, status) is expected, row
        assert evaluate_validated_before(ex, S.RUNNING, status, record=True) is expected, row
        assert evaluate_validated_before(ex, S.RUNNING, status, record=False) is False
    assert not evaluate_returned(execution("n1", 1), JobStatus(stable_version=1))


def test_the_record_never_says_the_current_second() -> None:
    """Creation times are whole seconds: one made later in the same second as the newest
    recorded would be taken for it (`engine.evaluate_record_time`)."""
    assert evaluate_record_time([at(3), at(5)], at(9.5)) == at(5)
    assert evaluate_record_time([at(3), at(9)], at(9.5)) == at(8)
    assert evaluate_record_time([at(3), at(9)], at(10)) == at(9)
    assert evaluate_record_time([], at(10)) is None


# ---- every simulated rollout ----------------------------------------------------------------


def test_a_rolling_rollout_records_each_wave_once_as_it_settles() -> None:
    snap = roll({"strategy": "Rolling", "maxParallel": 30}, 25)
    assert phase(snap) is P.COMPLETED
    rs = snap.job.status.rollout
    assert rs is not None
    assert [w.wave for w in rs.settled_waves] == list(range(1, rs.total_waves + 1))
    created = [w.created_until for w in rs.settled_waves]
    assert created == sorted(created)
    assert snap.job.status.stable_version == 2
    assert snap.job.status.stable_created_until == max(created)
    check_completed(snap)


def test_a_canary_with_steps_and_a_bake() -> None:
    rollout = {
        "strategy": "Canary",
        "canaryCount": 1,
        "autoPromote": True,
        "steps": [{"nodes": 1}, {"percent": 50}],
        "bakeSeconds": 3,
    }
    snap = roll(rollout, 30)
    assert phase(snap) is P.COMPLETED
    check_completed(snap)


def test_failed_nodes_within_the_budget_are_never_recorded_validated() -> None:
    bad = {"n2", "n8"}
    snap = roll({"strategy": "Rolling", "maxParallel": 30, "maxFailedNodesPercent": 30}, 30, bad)
    assert phase(snap) is P.COMPLETED
    failed = {ex.spec.node_name for ex in snap.executions
              if ex.spec.job_version == 2 and ex.status.observed_state is S.FAILED}  # fmt: skip
    assert failed == bad
    assert not any(recorded(snap, ex) for ex in snap.executions if ex.spec.node_name in bad
                   and ex.spec.job_version == 2)  # fmt: skip
    check_completed(snap)


def test_a_failed_canary_rolls_back_and_the_record_covers_the_stable_version_made_again() -> None:
    """Rolled back once version 1 is settled on every target: the record covers its
    executions as they are then. Under pod records a canary node's version 1 is made again
    by the rollback (its pod, the record, is new): before, a new leader judged those again,
    and a reader said Validating of them for ever."""
    rollout = {"strategy": "Canary", "canaryCount": 2, "autoPromote": True,
               "maxFailedNodes": 1, "autoRollback": True}  # fmt: skip
    snap = roll(rollout, 20, set(NODES))
    assert phase(snap) is P.ROLLED_BACK
    status = snap.job.status
    assert status.stable_version == 1
    v1 = [ex for ex in snap.executions if ex.spec.job_version == 1]
    assert {ex.spec.node_name for ex in v1} == set(NODES)
    assert status.stable_created_until == max(ex.created_at for ex in v1)
    for ex in v1:
        assert ex.status.stable_at is not None, ex.name
        assert evaluate_recorded_validation(ex, ex.status.observed_state, status), ex.name


def forget_stopped(snap: Snapshot, t: float) -> Snapshot:
    """What pod records leave of an execution once stopped: nothing (its pod is gone), so a
    node returning to a version has it made again, newer than every record of it."""
    live = tuple(ex for ex in snap.executions if ex.status.observed_state is not S.STOPPED)
    return dataclasses.replace(snap, executions=live)


def test_a_reverted_node_is_covered_once_its_stable_version_is_validated_again() -> None:
    """onNodeFailure Revert: n2's version 2 fails and it goes back to version 1, made again
    as under pod records: newer than stableCreatedUntil and of no wave of version 2. Once it
    is validated again the record covers it, so a new leader does not judge it again (and a
    reader does not say Validating of it for ever). Before, nothing did."""
    rollout = {"strategy": "Rolling", "maxParallel": 30, "maxFailedNodes": 1,
               "onNodeFailure": "Revert"}  # fmt: skip
    snap = roll(rollout, 40, {"n2"}, each=forget_stopped)
    assert phase(snap) is P.COMPLETED
    rs = snap.job.status.rollout
    assert rs is not None
    assert rs.reverted_nodes == ["n2"]
    [back] = [
        ex for ex in snap.executions if ex.spec.node_name == "n2" and ex.spec.job_version == 1
    ]
    assert back.created_at > at(1)  # made again: version 1's were all made at T0
    assert back.status.stable_at is not None
    assert rs.other_versions_created_until == back.created_at
    assert recorded(snap, back)


def test_an_execution_made_again_once_the_version_is_stable_is_covered_once_validated() -> None:
    """Version 2 completed; then n3's execution is deleted (a retry, a restart) and made
    again, newer than the record of its rollout. Once it is validated (every execution of
    the stable version settled) the record covers it: under pod records a new leader judged
    it again before, and a reader said Validating of it for ever."""

    def retry(snap: Snapshot, t: float) -> Snapshot:
        if t != 30:
            return snap
        gone = build_execution_name("j", 2, "n3")
        pods = {k: p for k, p in snap.pods.items() if k != gone}
        live = tuple(ex for ex in snap.executions if ex.name != gone)
        return dataclasses.replace(snap, executions=live, pods=pods)

    snap = roll({"strategy": "Rolling", "maxParallel": 30}, 40, each=retry)
    assert phase(snap) is P.COMPLETED
    [again] = [ex for ex in snap.executions if ex.name == build_execution_name("j", 2, "n3")]
    status = snap.job.status
    assert again.created_at == at(30)
    assert again.status.stable_at is not None
    assert status.stable_created_until == at(30)
    assert recorded(snap, again)
    check_completed(snap)


def test_an_aborted_rollout() -> None:
    def abort(snap: Snapshot, t: float) -> Snapshot:
        rs = snap.job.status.rollout
        if t == 12 and rs is not None and rs.started_at is not None:
            value = build_abort_value(2, rs.started_at)
            return dataclasses.replace(snap, job=dataclasses.replace(snap.job, abort=value))
        return snap

    snap = roll({"strategy": "Rolling", "maxParallel": 30}, 20, each=abort)
    assert phase(snap) is P.ABORTED


def test_a_node_lost_while_its_wave_settles_and_back_is_judged_again() -> None:
    """n0 (wave 2) goes NotReady before it is validated; its wave settles with it Lost; it
    comes back, and is judged again: until then the record must not take it for validated."""

    def weather(snap: Snapshot, t: float) -> Snapshot:
        nodes = dict(snap.nodes)
        if t == 10.25:
            nodes["n0"] = node("n0", ready=False, since=10)
        if t == 80:
            nodes["n0"] = node("n0", ready=True, since=80)
        return dataclasses.replace(snap, nodes=nodes)

    snap = roll({"strategy": "Rolling", "maxParallel": 30}, 90, each=weather)
    [n0] = [ex for ex in snap.executions if ex.name.startswith("j-v2-n0-")]
    assert S.LOST in {t.state for t in n0.status.history}
    assert n0.status.stable_at is not None  # validated once back
    assert not recorded(snap, n0)  # and judged again after a leader change: the safe side


@settings(max_examples=25, deadline=timedelta(seconds=20))
@given(
    strategy=st.sampled_from(["Rolling", "Canary"]),
    parallel=st.integers(10, 60),
    bad=st.sets(st.sampled_from(NODES), max_size=4),
    budget=st.integers(0, 3),
    bake=st.sampled_from([0, 2]),
    failure=st.sampled_from(["Keep", "Revert"]),
    forget=st.booleans(),
)
def test_any_rollout_records_no_more_than_stable_at(
    strategy: str, parallel: int, bad: set[str], budget: int, bake: int, failure: str,
    forget: bool,
) -> None:  # fmt: skip
    """`forget`: stopped executions leave nothing, as under pod records."""
    rollout: dict[str, object] = {"strategy": strategy, "maxParallel": parallel,
                                  "maxFailedNodes": budget, "autoRollback": True,
                                  "onNodeFailure": failure}  # fmt: skip
    if strategy == "Canary":
        rollout |= {"canaryCount": 1, "autoPromote": True}
    if bake:
        rollout["bakeSeconds"] = bake
    snap = roll(rollout, 25, bad, each=forget_stopped if forget else None)
    if phase(snap) is P.COMPLETED:
        check_completed(snap)
