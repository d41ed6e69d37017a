"""What applying a Job spec would do, before it is applied (`kubectl nodewave plan`), as
`nomad job plan` shows for its jobs: the version it makes and its diff, the target nodes, the
nodes that would stop, the waves in order, the failure budget and the least time the health
windows allow.

The plan printed is the plan executed: the order comes from the planner's own
`select_targets`, the waves from `waves.plan_waves` (the engine's `plan_next_wave` applied until
no node is left), and the nodes that would stop from a pass of the real planner over the same
snapshot. What it cannot foresee: nodes that join or fail meanwhile, and how long a
run-to-completion execution runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nodewave.core.execution.maintenance import prepares_node
from nodewave.core.job.planner import (
    PlannerSettings,
    evaluate_job_refusal,
    evaluate_version_refusal,
    plan_job,
    select_targets,
)
from nodewave.core.job.selector import SelectorError, build_selector
from nodewave.core.rollout.engine import evaluate_failure_budget
from nodewave.core.rollout.progress import build_recorded_progress, group_by_node
from nodewave.core.rollout.waves import Domains, plan_pause_after
from nodewave.core.rollout.windows import WindowError, describe_opening, evaluate_windows
from nodewave.core.vocabulary import reasons as R
from nodewave.core.vocabulary.actions import SetDesiredState
from nodewave.core.vocabulary.snapshot import Snapshot, VersionSpec
from nodewave.models.job import AlertAction, JobSpec, PrePullStart, StepPause


@dataclass(frozen=True)
class Preview:
    version: int
    new_version: bool
    """The spec's content (type, template, config) is not among the stored versions."""
    stable: int | None
    diff: list[str]
    """The content's changes against the stable version (or the current one), one per line."""
    targets: list[str]
    """The selected nodes, in wave order."""
    stops: list[str]
    """Nodes whose execution would stop: no longer selected."""
    waves: list[list[str]]
    """The nodes that would start the version, wave by wave (one wave: placed at once)."""
    domains: Domains
    in_flight: bool
    """A rollout of this version is under way: the waves are what is left of it."""
    budget: int
    """Failed nodes the rollout tolerates (one more fails it)."""
    minimum_seconds: int
    """The least time the health windows allow: waves x successThreshold x intervalSeconds."""
    completes: bool
    """A run-to-completion type: each wave also waits for its executions to finish."""
    refused: str
    """Why the operator would refuse the spec ("" when it would not)."""
    spec_changed: bool
    notes: list[str] = field(default_factory=list)
    """What else governs the waves: maintenance windows, cordon and drain, the bake."""
    wait_seconds: int = 0
    """What the timed pauses of rollout.steps and the bake add to it."""
    pauses: list[StepPause | None] = field(default_factory=list)
    """After each wave but the last, the pause rollout.steps puts before the next (None: it
    starts as soon as this one settled)."""

    @property
    def changes(self) -> bool:
        return bool(
            self.new_version or self.stops or self.waves or self.spec_changed or self.refused
        )


def build_diff(old: Any, new: Any, path: str = "") -> list[str]:
    """Lines `~ path: old → new`, `+ path: new`, `- path: old`, in key order."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out = []
        for key in sorted({*old, *new}, key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in old and not isinstance(new[key], Mapping):
                out.append(f"+ {sub}: {_short(new[key])}")
            elif key not in new and not isinstance(old[key], Mapping):
                out.append(f"- {sub}: {_short(old[key])}")
            else:  # maps added or removed whole are shown leaf by leaf
                out.extend(build_diff(old.get(key, {}), new.get(key, {}), sub))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [line for i, (o, n) in enumerate(zip(old, new, strict=True))
                for line in build_diff(o, n, f"{path}[{i}]")]  # fmt: skip
    return [] if old == new else [f"~ {path}: {_short(old)} → {_short(new)}"]


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def build_preview(
    snap: Snapshot,
    previous: VersionSpec | None,
    new_version: bool,
    spec_changed: bool,
    now: datetime,
) -> Preview:
    """`snap` as a pass would see it with the new spec; `previous`: the version to compare with
    (the stable one, else the current one; None for a new Job)."""
    job, current = snap.job, snap.current
    spec = job.spec
    before = _content(previous) if previous is not None else {}
    diff = build_diff(before, _content(current))
    try:
        targets, domains = select_targets(snap, build_selector(spec.selector))
    except SelectorError as e:
        return _refused(snap, new_version, spec_changed, diff, str(e))
    # The version's own refusal first: with a stable version to fall back on, the plan is the
    # stable one's and its Stalled condition may tell of an older rollout.
    refusal = evaluate_job_refusal(snap) or evaluate_version_refusal(
        snap, current, PlannerSettings()
    )
    if refusal is not None:
        return _refused(snap, new_version, spec_changed, diff, refusal.message)
    plan = plan_job(snap, now)
    stalled = next((c for c in plan.status.conditions if c.type == R.STALLED), None)
    if stalled is not None and stalled.status == "True" and not plan.status.rollout:
        return _refused(snap, new_version, spec_changed, diff, stalled.message)
    by_name = {ex.name: ex.spec.node_name for ex in snap.executions}
    stops = sorted(
        by_name[a.name]
        for a in plan.actions
        if isinstance(a, SetDesiredState) and a.reason == R.NODE_NOT_SELECTED
    )
    waves, in_flight, first = _waves_to_come(snap, targets, domains)
    pauses = _pauses_between(snap, waves, first)
    minimum, wait = _least_durations(snap, len(waves), pauses)
    return Preview(
        version=current.number,
        new_version=new_version,
        stable=job.status.stable_version,
        diff=diff,
        targets=targets,
        stops=stops,
        waves=waves,
        domains=domains,
        in_flight=in_flight,
        budget=evaluate_failure_budget(spec.rollout, len(targets)),
        minimum_seconds=minimum,
        completes=current.type.runs_to_completion,
        refused="",
        spec_changed=spec_changed,
        notes=build_notes(spec, now),
        wait_seconds=wait,
        pauses=pauses,
    )


def _waves_to_come(
    snap: Snapshot, targets: list[str], domains: Domains
) -> tuple[list[list[str]], bool, int]:
    """The waves the nodes the rollout has not reached yet will take, whether the rollout is
    under way (its canary behind it), and the number of the first of those waves."""
    current, status = snap.current, snap.job.status
    rollout = status.rollout
    in_flight = rollout is not None and rollout.version == current.number and rollout.wave > 0
    progress = build_recorded_progress(
        current.number, status.stable_version, targets, group_by_node(snap.executions)
    )
    next_wave = rollout.wave + 1 if in_flight and rollout is not None else 1
    waves = progress.plan_waves_to_come(snap.job.spec.rollout, domains, next_wave=next_wave)
    return waves, in_flight, next_wave


def _least_durations(snap: Snapshot, waves: int, pauses: list[StepPause | None]) -> tuple[int, int]:
    """The least time the health windows allow over `waves` waves (none for a
    run-to-completion type: its executions' run time decides), and what the timed pauses and
    the bake add; nothing when the version is stable already (its new nodes start at once)."""
    spec, current = snap.job.spec, snap.current
    if snap.job.status.stable_version == current.number:
        return 0, 0
    hc = spec.rollout.health_check
    per_wave = hc.success_threshold * hc.interval_seconds if hc.deadline_seconds else 0
    windows = 0 if current.type.runs_to_completion else per_wave * waves
    paused = sum(p.duration_seconds or 0 for p in pauses if p is not None)
    return windows, paused + spec.rollout.bake_seconds


def _pauses_between(snap: Snapshot, waves: list[list[str]], first: int) -> list[StepPause | None]:
    """The pause rollout.steps puts after each of `waves` but the last (the waves to come,
    numbered from `first`)."""
    return [plan_pause_after(snap.job.spec.rollout, first + i) for i in range(len(waves) - 1)]


def build_notes(spec: JobSpec, now: datetime) -> list[str]:
    """The maintenance windows (open now, or when the next opens), the node maintenance and
    the bake."""
    notes = []
    if (budget := spec.rollout.max_unavailable) is not None:
        where = " in its topology domain" if spec.rollout.max_unavailable_per_domain else ""
        notes.append(
            f"a wave starts only while it and the target nodes unavailable already{where} "
            f"(NotReady, cordoned, the Job's pod not ready) are at most maxUnavailable {budget}"
        )
    if (alerts := spec.rollout.health_check.alerts) is not None:
        what = "no wave starts" if alerts.action is AlertAction.PAUSE else "the rollout rolls back"
        notes.append(
            f"while an alert matching {', '.join(alerts.matchers)} fires ({alerts.api.value}), "
            f"{what}"
        )
    if (pre := spec.rollout.pre_pull) is not None:
        when = (
            "from the start, the first wave's before it starts"
            if pre.start is PrePullStart.IMMEDIATELY
            else "once the first wave is validated"
        )
        wait = f"up to {pre.wait_seconds} s" if pre.wait_seconds else "never"
        notes.append(
            f"each wave's images are pulled on its nodes while the wave before it runs ({when}); "
            f"a wave waits for its pulls {wait}, and failed pulls count against the failure "
            "budget before it starts"
        )
    if spec.rollout.bake_seconds:
        notes.append(
            f"after the last wave the rollout bakes {spec.rollout.bake_seconds} s: every node "
            "judged again, a failure still rolls it back; stable only after it"
        )
    if spec.rollout.maintenance_windows:
        try:
            open_now, opens_at = evaluate_windows(spec.rollout.maintenance_windows, now)
            when = "open now" if open_now else describe_opening(opens_at)
            notes.append(f"waves start only in a maintenance window: {when}")
        except WindowError as e:
            notes.append(f"the operator refuses it: {e}")
    maintenance = spec.node_maintenance
    if prepares_node(maintenance, completes=spec.type.runs_to_completion):
        drain = maintenance.drain
        notes.append(
            f"each node is cordoned and drained (up to {drain.timeout_seconds} s) before its "
            "execution, uncordoned after it completed, kept cordoned if it failed"
            if drain.enabled
            else "each node is cordoned before its execution, uncordoned after it completed"
        )
    return notes


def _content(version: VersionSpec) -> dict[str, Any]:
    return {"type": version.type.value, "template": version.template, "config": version.config}


def _refused(
    snap: Snapshot, new_version: bool, spec_changed: bool, diff: list[str], why: str
) -> Preview:
    return Preview(
        version=snap.current.number, new_version=new_version,
        stable=snap.job.status.stable_version, diff=diff, targets=[], stops=[], waves=[],
        domains={}, in_flight=False, budget=0, minimum_seconds=0,
        completes=snap.current.type.runs_to_completion, refused=why, spec_changed=spec_changed,
    )  # fmt: skip
