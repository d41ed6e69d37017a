"""One pass over one Job: gather a snapshot, plan (pure core), apply, write status once.

The apply step is where idempotence is earned: every create has a deterministic name
(AlreadyExists is success), every delete a uid precondition (NotFound is success), and each
write's response goes into the view's overlay so the next pass does not redo it. The Job's
status is patched only when the plan says it changed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from nodewave.core.execution.health import window_closes
from nodewave.core.execution.podspec import (
    build_configmap,
    build_execution,
    build_pod,
    build_pull_pod,
    evaluate_configmap_conflict,
)
from nodewave.core.execution.record import (
    build_pod_action,
    build_record_action,
    evaluate_needs_record,
    select_owned_pods,
    select_stale_pods,
)
from nodewave.core.job.planner import (
    Plan,
    PlannerSettings,
    evaluate_bake_start,
    evaluate_validated_before,
    plan_job,
)
from nodewave.core.job.versions import VersionPlan, build_revision, plan_versions, select_owned
from nodewave.core.operator.egress import EgressPolicy, build_egress_policy
from nodewave.core.vocabulary.actions import (
    PREPARES,
    STARTS,
    Action,
    CallWebhook,
    CreateExecution,
    CreatePod,
    CreatePullPod,
    CreateRevision,
    DeleteExecution,
    DeletePod,
    DeleteRevision,
    EnsureConfigMap,
    EventIntent,
    PatchExecutionStatus,
    PrepareNode,
    QuarantineNode,
    ReleaseNode,
    SendNotification,
    SetDesiredState,
    build_dispatch,
)
from nodewave.core.vocabulary.naming import (
    ANNOTATION_STOPPED_BY,
    STOPPED_BY_OPERATOR,
    build_configmap_name,
)
from nodewave.core.vocabulary.patch import build_merge_patch
from nodewave.core.vocabulary.snapshot import (
    AlertAnswer,
    ExecutionInfo,
    JobInfo,
    PodInfo,
    Snapshot,
)
from nodewave.kube.client import Kube, KubeError, path_of
from nodewave.kube.events import EventRecorder, Involved
from nodewave.kube.nodes import (
    prepare_node,
    quarantine_node,
    release_deleted_job_nodes,
    release_node,
)
from nodewave.kube.notifications import Notifier
from nodewave.kube.outbound import Outbound
from nodewave.kube.parse import (
    TakenPod,
    evaluate_taken_pod,
    parse_execution,
    parse_job,
    parse_pod,
)
from nodewave.kube.podcheck import PodChecker, build_refusal_words
from nodewave.kube.prometheus import Prometheus, build_query
from nodewave.kube.records import PodRecords
from nodewave.kube.secrets import SecretReader
from nodewave.kube.slots import (
    MAX_PRIORITY,
    REQUEST_FLOW,
    REQUEST_PRIORITY,
    effective_priority,
)
from nodewave.kube.view import ClusterView, JobKey
from nodewave.kube.webhooks import WebhookRunner
from nodewave.models.execution import DesiredState, ExecutionStatus, HealthWindow

log = logging.getLogger("nodewave.reconcile")
INSTANCE = os.environ.get("POD_NAME") or socket.gethostname()
STATUS_BATCH = timedelta(seconds=2)
"""Job status changes that only move counts are written at most this often."""
FAILED_RETRY_SECONDS = 5.0
"""A pass with failed writes looks again no sooner than this."""


@dataclass
class Reconciler:
    kube: Kube
    view: ClusterView
    settings: PlannerSettings = field(default_factory=PlannerSettings)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    observers: list[Callable[[JobInfo, Plan], None]] = field(default_factory=list)
    """Called after each pass (metrics)."""
    forgetters: list[Callable[[str, str], None]] = field(default_factory=list)
    """Called once a Job is gone (metrics)."""
    events_dropped: Callable[[str], None] = lambda reason: None
    """Told the reason of each per-execution Event dropped under load (metrics)."""
    notifications: tuple[str, str] = ("", "")
    """The namespace and name of the notifications ConfigMap (and Secret); name "": none."""
    notifications_refresh: float = 15.0
    """How often that configuration is read again, in seconds."""
    max_priority: int = MAX_PRIORITY
    """The highest `spec.priority` honoured (kube/slots.py)."""
    egress: EgressPolicy = field(default_factory=build_egress_policy)
    """Where Jobs' webhook calls and Prometheus queries may go (core/operator/egress.py)."""
    pod_records: bool = False
    """On the normal path a node's execution is its pod, with no Execution (kube/records.py;
    `nodewave run --pod-records`, experimental)."""
    records: PodRecords = field(default_factory=PodRecords)
    _configmaps: set[tuple[str, str, str, int]] = field(default_factory=set)
    _status_written: dict[JobKey, datetime] = field(default_factory=dict)
    _health: dict[JobKey, dict[str, HealthWindow]] = field(default_factory=dict)
    _baselines: dict[JobKey, dict[str, float | str]] = field(default_factory=dict)
    """Baselines measured and not yet in their execution's status."""
    _baseline_sources: dict[JobKey, dict[str, ExecutionInfo]] = field(default_factory=dict)
    """With healthCheck.prometheus.baseline: the Job's executions as the last pass saw them,
    by name. Under pod records the execution a new one replaced is gone with its pod as soon
    as it is stopped, in the pass that makes the new one; its name, version and node, which
    the baseline's query asks, are found here in the next."""
    _alerts: dict[JobKey, AlertAnswer] = field(default_factory=dict)
    """The last reading of each Job's healthCheck.alerts."""
    _cordoning: set[JobKey] = field(default_factory=set)
    """Jobs seen with nodeMaintenance.cordon: once deleted, the nodes they cordoned go back."""
    _create_errors: dict[JobKey, dict[str, str]] = field(default_factory=dict)
    """Execution → the API server's words refusing its pod's last create, per Job."""
    _pull_errors: dict[JobKey, dict[tuple[int, str], str]] = field(default_factory=dict)
    """(version, node) → the API server's words refusing its pull-only pod's last create."""

    def __post_init__(self) -> None:
        self.events = EventRecorder(
            self.kube, INSTANCE, lambda: self.clock(), lambda r: self.events_dropped(r)
        )
        # One bounded pool of calls to the endpoints Jobs name (kube/outbound.py).
        self.outbound = Outbound(policy=self.egress)
        self.secrets = SecretReader(self.kube)
        self.prometheus = Prometheus(self.outbound, self.secrets)
        self.webhooks = WebhookRunner(self.secrets, self.outbound, lambda: self.clock())
        self.notifier = Notifier(
            self.kube, *self.notifications, self.notifications_refresh, lambda: self.clock()
        )
        self.pod_checker = PodChecker(self.kube, lambda: self.clock())

    async def reconcile(self, key: JobKey) -> timedelta | None:
        """One pass. None when the Job is gone (stop watching it), else when to look again."""
        job = self.view.job(key)
        if job is None:
            await self._forget(key)
            return None
        namespace = self.view.namespace(job.namespace)
        if job.deleting or (namespace is not None and namespace.terminating):
            # Garbage collection removes executions and pods through owner references; in a
            # namespace being deleted the API server would refuse every create anyway.
            return None
        if job.spec.node_maintenance.cordon:
            self._cordoning.add(key)
        # This pass's requests, and its tasks' (slots.py).
        REQUEST_PRIORITY.set(effective_priority(job.spec.priority, self.max_priority))
        REQUEST_FLOW.set(key)
        revisions = select_owned(self.view.revisions_of(key), job.uid)
        versions = plan_versions(job.spec, revisions, job.status.stable_version, job.name)
        now = self.clock()
        snap = await self._gather(job, versions, namespace.labels if namespace else {}, now)
        plan = plan_job(snap, now, self.settings)
        self._health[key] = plan.health
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s/%s pass: %d executions, pods %s, overlay %s, actions %s",
                job.namespace,
                job.name,
                len(snap.executions),
                {p.name: (p.resource_version, p.deleting) for p in snap.pods.values()},
                {
                    n: (v.resource_version, v.deleting)
                    for n, (_, v) in self.view.overlay_pods.entries.get(key, {}).items()
                },
                [_describe(a) for a in plan.actions],
            )
        failures = await self._apply(snap, plan.actions)
        written = self.clock()
        last = self._status_written.get(key)
        batched = not plan.status_significant and last is not None and written - last < STATUS_BATCH

        requeue = self._requeue(key, plan, batched, bool(failures), now)
        if plan.status_changed and not batched:
            self._status_written[key] = written
            await self._write_status(job, plan)
        involved = Involved("Job", job.namespace, job.name, job.uid)
        for e in plan.events:
            self.events.record_decision(involved, e)
        for e in failures:  # the same failure pass after pass: one Event with a count
            self.events.record_summary(involved, versions.current.number, e)
        for observe in self.observers:
            observe(job, plan)
        return requeue

    def _requeue(
        self, key: JobKey, plan: Plan, batched: bool, failed: bool, now: datetime
    ) -> timedelta:
        """When to look at the Job again: as the plan says, sooner for a status held back by
        batching or a refused version's recheck, later after refused creates (the rest of a
        placement must not retry them in a tight loop)."""
        requeue = plan.requeue_after
        if plan.status_changed and batched:
            requeue = min(requeue, STATUS_BATCH)
        if failed:
            requeue = max(requeue, timedelta(seconds=FAILED_RETRY_SECONDS))
        recheck = self.pod_checker.recheck_at(*key)
        if recheck is not None:  # asked again then: a quota raised lets the version start
            requeue = min(requeue, max(recheck - now, timedelta(seconds=1)))
        return requeue

    async def _forget(self, key: JobKey) -> None:
        """The Job is gone: everything kept for it goes, and the nodes it cordoned come back."""
        self.view.overlay_executions.forget(key)
        self.view.overlay_pods.forget(key)
        self.records.forget(key)
        self._health.pop(key, None)
        self._baselines.pop(key, None)
        self._baseline_sources.pop(key, None)
        self._alerts.pop(key, None)
        self.webhooks.calls.forget(key)
        self.outbound.forget(key)
        self.notifier.calls.forget(key)
        self._configmaps = {m for m in self._configmaps if m[:2] != key}
        self._create_errors.pop(key, None)
        self._pull_errors.pop(key, None)
        self.pod_checker.forget(*key)
        self.events.forget_job(*key)
        for forget in self.forgetters:
            forget(*key)
        if key in self._cordoning:
            self._cordoning.discard(key)
            await self._release_nodes(key)

    async def _gather(
        self, job: JobInfo, versions: VersionPlan, labels: Mapping[str, str], now: datetime
    ) -> Snapshot:
        """Everything the pure plan reads about the Job, as this pass sees it."""
        key = (job.namespace, job.name)
        executions = self.view.executions_of(key, job.uid)
        seen = self.view.pods_of(key)
        if self.pod_records:
            executions += self.records.executions(key, seen, executions, job.uid)
        pods = select_owned_pods(seen, executions, job.uid)
        snap = Snapshot(
            job=job,
            current=versions.current,
            nodes=self.view.node_map(),
            executions=executions,
            pods=pods,
            stale_pods=select_stale_pods(seen, executions, job.uid),
            versions=versions.known,
            namespace_labels=labels,
            health=self._health.get(key, {}),
            external_error_rates=await self._external_error_rates(job, executions, now),
            baselines=await self._measure_baselines(job, executions),
            webhook_answers=self.webhooks.calls.answers(key),
            alerts=await self._read_alerts(job, now),
            notification_answers=self.notifier.calls.answers(key),
            subscriptions=await self.notifier.subscriptions(job),
            pod_create_errors=self._pod_create_errors(key, executions, pods),
            pull_refusals={
                n: words
                for (v, n), words in self._pull_errors.get(key, {}).items()
                if v == versions.current.number
            },
            new_revision=versions.create,
            excess_revisions=versions.delete,
        )
        return replace(snap, pod_refusals=await self.pod_checker.refusals_for(snap))

    async def _write_status(self, job: JobInfo, plan: Plan) -> None:
        patch = build_merge_patch(job.status.to_api(), plan.status.to_api())
        updated = await self.kube.merge_patch(
            path_of("jobs", job.namespace, job.name, "status"), {"status": patch}
        )
        if updated is not None:
            self.view.overlay_jobs.put((job.namespace, job.name), job.name, parse_job(updated))

    def _pod_create_errors(
        self, key: JobKey, executions: tuple[ExecutionInfo, ...], pods: Mapping[str, PodInfo]
    ) -> dict[str, str]:
        """The refused creates of executions that still exist and still have no pod of their
        own (`pods`: a pod made under the name by someone else does not count)."""
        known = self._create_errors.get(key)
        if not known:
            return {}
        live = {ex.name for ex in executions}
        for name in [n for n in known if n not in live or n in pods]:
            del known[name]
        return dict(known)

    async def _release_nodes(self, key: JobKey) -> None:
        try:
            released = await release_deleted_job_nodes(self.kube, *key)
        except KubeError as e:  # no node RBAC (nodeMaintenance.enabled off): nothing was cordoned
            log.warning("%s/%s deleted; its cordoned nodes could not be released: %s", *key, e)
            return
        if released:
            log.info("%s/%s deleted; uncordoned %s", *key, ", ".join(released))

    async def _read_alerts(self, job: JobInfo, now: datetime) -> AlertAnswer | None:
        """healthCheck.alerts as last read, read again when intervalSeconds have passed since
        (so a pass never decides on a reading older than that, however long the Job was
        steady). Kept here between passes."""
        key = (job.namespace, job.name)
        check = job.spec.rollout.health_check.alerts
        if check is None:
            self._alerts.pop(key, None)
            return None
        last = self._alerts.get(key)
        if last is None or now - last.at >= timedelta(seconds=check.interval_seconds):
            last = self._alerts[key] = await self.prometheus.read_alerts(key, check, now)
        return last

    async def _external_error_rates(
        self, job: JobInfo, executions: tuple[ExecutionInfo, ...], now: datetime
    ) -> dict[str, float | str]:
        """Prometheus error rates for the executions whose health window closes now: those
        not validated yet, and every one of a version whose rollout bakes."""
        hc = job.spec.rollout.health_check
        check = hc.prometheus
        if check is None:
            return {}
        key = (job.namespace, job.name)
        memory = self._health.get(key, {})
        due = [
            ex
            for ex in executions
            if (not self._validated(job, ex) or evaluate_bake_start(job, ex) is not None)
            and window_closes(memory.get(ex.name) or ex.status.health, hc, now)
        ]
        rates = await asyncio.gather(
            *(
                self.prometheus.error_rate(key, check, build_query(check, job, ex), now)
                for ex in due
            )
        )
        return {ex.name: rate for ex, rate in zip(due, rates, strict=True)}

    def _validated(self, job: JobInfo, ex: ExecutionInfo) -> bool:
        """Whether `ex` was validated before this pass, as the planner asks it."""
        record = self.settings.validation_record
        return evaluate_validated_before(ex, ex.status.observed_state, job.status, record)

    async def _measure_baselines(
        self, job: JobInfo, executions: tuple[ExecutionInfo, ...]
    ) -> dict[str, float | str]:
        """Each new execution's baseline (healthCheck.prometheus.baseline), measured once: the
        node's rate on the version it ran before (its previous execution's query) averaged
        over the lookback, evaluated at the moment the new execution was created, so a late
        pass measures the same thing. Kept here until its status records it."""
        check = job.spec.rollout.health_check.prometheus
        if check is None or check.baseline is None:
            return {}
        key = (job.namespace, job.name)
        known = self._baselines.setdefault(key, {})
        by_name = {e.name: e for e in executions}
        seen, self._baseline_sources[key] = self._baseline_sources.get(key, {}), by_name
        for name in [n for n in known if n not in by_name or by_name[n].status.baseline_message]:
            del known[name]
        lookback = check.baseline.lookback_seconds
        step = max(1, lookback // 60)

        async def measure(ex: ExecutionInfo) -> float | str:
            previous = ex.spec.previous_execution or ""
            before = by_name.get(previous) or seen.get(previous)
            if before is None:
                return "the node ran no earlier version of this Job"
            query = build_query(check, job, before)
            return await self.prometheus.error_rate(
                key, check, f"avg_over_time(({query})[{lookback}s:{step}s])", ex.created_at
            )

        todo = [
            e
            for e in executions
            if not e.status.baseline_message
            and e.name not in known
            and not self._validated(job, e)
            and e.spec.desired_state is DesiredState.RUNNING
        ]
        for ex, rate in zip(todo, await asyncio.gather(*map(measure, todo)), strict=True):
            known[ex.name] = rate
        return dict(known)

    # ---- applying ----------------------------------------------------------------------

    async def _apply(self, snap: Snapshot, actions: list[Action]) -> list[EventIntent]:
        """What starts workloads goes first and alone: a new version's revision and the
        ConfigMaps of the versions whose pods are made (together), then the executions and
        pods to create, then everything else (stops, deletes, status patches). A wave's pods
        that shared the API server with the previous wave's bookkeeping took 0.35 s to be
        created instead of 0.15 (100 nodes, 20 per wave)."""
        job = snap.job
        prepares = [a for a in actions if isinstance(a, PREPARES)]
        snap = await self._read_configs(
            snap, [a.version for a in prepares if isinstance(a, EnsureConfigMap)]
        )
        made = await asyncio.gather(*(self._do(snap, a) for a in prepares), return_exceptions=True)
        # A version whose ConfigMap could not be made (its name is someone else's: the dry-run
        # saw it free, it was taken since) starts nothing: its pods would mount a stranger's data.
        blocked = {
            a.version
            for a, ok in zip(prepares, made, strict=True)
            if isinstance(a, EnsureConfigMap) and ok is not True
        }
        starting = [a for a in actions if isinstance(a, STARTS) and a.version not in blocked]
        rest = [a for a in actions if not isinstance(a, PREPARES + STARTS)]
        results = await asyncio.gather(
            *(self._do(snap, a) for a in starting), return_exceptions=True
        )
        results += await asyncio.gather(*(self._do(snap, a) for a in rest), return_exceptions=True)
        actions = prepares + starting + rest
        results = [*made, *results]
        failures = []
        for action, result in zip(actions, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, KubeError | OSError | asyncio.TimeoutError):
                    raise result
                log.warning(
                    "%s/%s: %s failed: %s", job.namespace, job.name, type(action).__name__, result
                )
                failures.append(
                    EventIntent(
                        "Warning",
                        f"Failed{type(action).__name__}",
                        f"{_describe(action)}: {result}"[:1024],
                    )
                )
        # One Event per failing action kind per pass: enough to see the cause, not a flood.
        unique: dict[str, EventIntent] = {}
        for f in failures:
            unique.setdefault(f.reason, f)
        return list(unique.values())

    async def _do(self, snap: Snapshot, action: Action) -> bool | None:
        """Apply one action: the entry of APPLY for its type (built from the one dispatch
        table, `actions.VERBS`)."""
        return await APPLY[type(action)](self, snap, action)

    async def _create_execution(self, snap: Snapshot, action: CreateExecution) -> None:
        """The execution and, side by side, its pod: the pod needs only the incarnation
        both carry. If either fails, the next pass mends it: an execution without its pod
        gets one, a pod without its execution is stale and goes (`select_stale_pods`)."""
        job = snap.job
        body = build_execution(job, action)
        if self.pod_records and action.start:
            await self._create_pod_record(snap, body)
            return
        writes = [self._create_execution_only(job, body)]
        if action.start:
            writes.append(self._create_pod(snap, build_pod_action(parse_execution(body))))
        for outcome in await asyncio.gather(*writes, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome

    async def _create_pod_record(self, snap: Snapshot, body: dict[str, Any]) -> None:
        """Only the pod (kube/records.py); when it is refused, or its name is someone else's
        pod's, the execution too, to say why (a pod record that could not be made has
        nothing else to say it, and the placement would ask for it again every pass)."""
        action = build_pod_action(parse_execution(body))
        try:
            await self._create_pod(snap, action)
        except KubeError:
            await self._create_execution_only(snap.job, body)
            raise
        if action.execution in self._create_errors.get((snap.job.namespace, snap.job.name), {}):
            await self._create_execution_only(snap.job, body)

    async def _create_execution_only(self, job: JobInfo, body: dict[str, Any]) -> None:
        created = await self.kube.create(path_of("executions", job.namespace), body)
        if created is not None:  # else it exists: the next pass sees it
            info = parse_execution(created)
            self.view.overlay_executions.put((job.namespace, job.name), info.name, info)

    async def _call_webhook(self, snap: Snapshot, action: CallWebhook) -> None:
        self.webhooks.start(action)

    async def _send_notification(self, snap: Snapshot, action: SendNotification) -> None:
        self.notifier.start(action)

    async def _delete_pod(self, snap: Snapshot, action: DeletePod) -> None:
        job = snap.job
        gone = await self.kube.delete(path_of("pods", job.namespace, action.name), uid=action.uid)
        if gone is not None:
            self.view.overlay_pods.put((job.namespace, job.name), action.name, parse_pod(gone))

    async def _set_desired_state(self, snap: Snapshot, action: SetDesiredState) -> None:
        job = snap.job
        key = (job.namespace, job.name)
        if self.records.holds(key, action.name):
            self.records.put_desired(key, action.name, action.desired, action.by_operator)
            if not action.by_operator:  # a person's cancel: an Execution says it
                await self._create_record(snap, action.name)
            return
        stopped_by = STOPPED_BY_OPERATOR if action.by_operator else None
        patch = {
            "metadata": {"annotations": {ANNOTATION_STOPPED_BY: stopped_by}},
            "spec": {"desiredState": action.desired.value},
        }
        path = path_of("executions", job.namespace, action.name)
        self._put_execution(snap, action.name, await self.kube.merge_patch(path, patch))

    def _put_execution(self, snap: Snapshot, name: str, body: dict[str, Any] | None) -> None:
        """What a write returned, seen by the next pass before the watch brings it (None: the
        execution was deleted meanwhile)."""
        key = (snap.job.namespace, snap.job.name)
        if body is None:
            self.view.overlay_executions.forget(key, name)
        else:
            self.view.overlay_executions.put(key, name, parse_execution(body))

    async def _patch_execution_status(self, snap: Snapshot, action: PatchExecutionStatus) -> None:
        job = snap.job
        ns = job.namespace
        if self.records.holds((ns, job.name), action.name):
            await self._patch_pod_record(snap, action)
            return
        patch = build_merge_patch(action.previous.to_api(), action.status.to_api())
        updated = await self.kube.merge_patch(
            path_of("executions", ns, action.name, "status"), {"status": patch}
        )
        self._put_execution(snap, action.name, updated)
        event = action.event
        if updated is None or event is None:
            return
        info = parse_execution(updated)
        if event.type == "Warning":  # trouble: on the execution
            self.events.record_trouble(Involved("Execution", ns, info.name, info.uid), event)
        else:  # the normal path: counted on the Job (kube/events.py)
            job_ref = Involved("Job", ns, job.name, job.uid)
            self.events.record_summary(job_ref, info.spec.job_version, event)

    async def _patch_pod_record(self, snap: Snapshot, action: PatchExecutionStatus) -> None:
        """A pod record's status stays in memory; an exceptional one becomes an Execution,
        created and given that status (two writes, on the exception's path only)."""
        job = snap.job
        key = (job.namespace, job.name)
        if not evaluate_needs_record(action.status):
            info = self.records.put_status(key, action.name, action.status)
            if action.event is not None and action.event.type != "Warning":
                job_ref = Involved("Job", job.namespace, job.name, job.uid)
                self.events.record_summary(job_ref, info.spec.job_version, action.event)
            return
        if await self._create_record(snap, action.name):
            await self._patch_execution_status(snap, replace(action, previous=ExecutionStatus()))

    async def _create_record(self, snap: Snapshot, name: str) -> bool:
        """The Execution of a pod record, as last planned (its status is written apart); False
        when it was made meanwhile (the next pass sees it and plans it again)."""
        job = snap.job
        key = (job.namespace, job.name)
        body = build_execution(job, build_record_action(self.records.get(key, name)))
        created = await self.kube.create(path_of("executions", job.namespace), body)
        self.records.made_execution(key, name)
        if created is None:
            return False
        self._put_execution(snap, name, created)
        return True

    async def _prepare_node(self, snap: Snapshot, action: PrepareNode) -> None:
        await prepare_node(self.kube, snap.job, action, self.clock())

    async def _release_node(self, snap: Snapshot, action: ReleaseNode) -> None:
        await release_node(self.kube, snap.job, action, self.clock())

    async def _quarantine_node(self, snap: Snapshot, action: QuarantineNode) -> None:
        await quarantine_node(self.kube, snap.job, action)

    async def _delete_execution(self, snap: Snapshot, action: DeleteExecution) -> None:
        job = snap.job
        if self.records.holds((job.namespace, job.name), action.name):  # its pod is all of it
            self.records.forget((job.namespace, job.name), action.name)
            await self._delete_pod(snap, DeletePod(action.name, ""))
            return
        gone = await self.kube.delete(
            path_of("executions", job.namespace, action.name),
            uid=action.uid or None,
            foreground=action.foreground,
        )
        # A foreground deletion leaves it terminating until its pod is gone: the next pass must
        # see that, not the execution as it was (one deleted at once is not put back: the
        # overlay would show it until the watch catches up).
        if gone is not None and (info := parse_execution(gone)).deleting:
            self.view.overlay_executions.put((job.namespace, job.name), action.name, info)

    async def _create_pod(self, snap: Snapshot, action: CreatePod) -> None:
        job = snap.job
        version = snap.versions.get(action.version)
        if version is None:
            raise KubeError(
                0,
                "VersionGone",
                f"version {action.version} is no longer kept; cannot start {action.execution}",
            )
        body = build_pod(job, version, action, job.spec.effective_restart_policy)
        key = (job.namespace, job.name)
        try:
            created = await self.kube.create(path_of("pods", job.namespace), body)
        except KubeError as e:
            if (words := build_refusal_words(e)) is not None:  # the next pass says so
                self._create_errors.setdefault(key, {})[action.execution] = words
            raise
        if created is None:  # the name is taken: ours, made before the watch said so?
            created = await self.kube.get(path_of("pods", job.namespace, action.execution))
            if created is None:
                return  # gone meanwhile: the next pass makes it
            taken = evaluate_taken_pod(created, job, action)
            if taken is TakenPod.PREDECESSOR:
                return  # an earlier execution's of this name: it goes (the GC, or stale)
            if taken is TakenPod.STRANGER:
                # Names are deterministic: anyone who may create pods here could take one
                # first. Such a pod is never adopted; the execution says so until it is gone.
                self._create_errors.setdefault(key, {})[action.execution] = (
                    f'a pod named "{action.execution}" exists and is not this execution\'s; '
                    "nodewave never adopts a pod it did not make: delete it to let this one start"
                )
                return
        self._create_errors.get(key, {}).pop(action.execution, None)
        self.view.overlay_pods.put(key, action.execution, parse_pod(created))

    async def _create_pull_pod(self, snap: Snapshot, action: CreatePullPod) -> None:
        job, key = snap.job, (snap.job.namespace, snap.job.name)
        version = snap.versions.get(action.version, snap.current)
        refused = self._pull_errors.setdefault(key, {})
        try:
            created = await self.kube.create(
                path_of("pods", job.namespace), build_pull_pod(job, version, action.node)
            )
        except KubeError as e:
            if (words := build_refusal_words(e)) is not None:  # the next pass counts it
                refused[(action.version, action.node)] = words
            raise
        refused.pop((action.version, action.node), None)
        if created is not None:
            info = parse_pod(created)
            self.view.overlay_pods.put(key, info.name, info)

    async def _read_configs(self, snap: Snapshot, numbers: list[int]) -> Snapshot:
        """The versions about to get pods, with their configs: an older version's is left in
        its ControllerRevision (kube/parse.parse_revision) and read now, once per pass that
        makes its pods. A version whose revision is gone stays as it is (its pods report
        VersionGone)."""
        versions = dict(snap.versions)
        for number in numbers:
            version = versions.get(number)
            if version is None or version.config is not None:
                continue
            path = path_of("controllerrevisions", snap.job.namespace, version.revision)
            body = await self.kube.get(path)
            if body is None:
                del versions[number]
                continue
            versions[number] = replace(version, config=(body.get("data") or {}).get("config") or {})
        return replace(snap, versions=versions)

    async def _ensure_configmap(self, snap: Snapshot, action: EnsureConfigMap) -> bool:
        """The version's ConfigMap, owned by this incarnation of the Job; whether it is there.
        Remembered by the Job's uid, not its name: a Job deleted and re-created under the same
        name is a new owner, and the garbage collector may not have removed the old one's
        ConfigMap yet. That one goes now (it would go anyway, and with it the mount of every
        new pod), ours is made. Seen on a real node, where a missing ConfigMap keeps a pod
        ContainerCreating; kwok reported such pods Running. Anyone else's ConfigMap of that name
        is left alone (False; the next dry-run check refuses the version, saying why). A version
        whose revision is gone has nothing to mount (its pods report VersionGone)."""
        job, version = snap.job, snap.versions.get(action.version)
        if version is None:
            return True
        marker = (job.namespace, job.name, job.uid, version.number)
        if marker in self._configmaps:
            return True
        body = build_configmap(job, version)
        path = path_of("configmaps", job.namespace, build_configmap_name(job.name, version.number))
        for _ in range(2):  # the common case is one request: the create
            if await self.kube.create(path_of("configmaps", job.namespace), body) is not None:
                break
            existing = await self.kube.get(path)
            if existing is None:
                continue  # deleted meanwhile
            owners = {o.get("uid") for o in existing["metadata"].get("ownerReferences", [])}
            if job.uid in owners:
                break
            conflict = evaluate_configmap_conflict(existing, job)
            if conflict is not None:
                log.warning("%s/%s: %s", job.namespace, job.name, conflict)
                self.pod_checker.forget(job.namespace, job.name)  # asked again next pass
                return False
            await self.kube.delete(path, uid=existing["metadata"]["uid"])
        else:
            return False  # looked at again next pass
        self._configmaps.add(marker)
        return True

    async def _create_revision(self, snap: Snapshot, action: CreateRevision) -> None:
        job = snap.job
        await self.kube.create(
            path_of("controllerrevisions", job.namespace), build_revision(job, action.revision)
        )

    async def _delete_revision(self, snap: Snapshot, action: DeleteRevision) -> None:
        await self.kube.delete(path_of("controllerrevisions", snap.job.namespace, action.name))


def _describe(action: Action) -> str:
    """The action and what it is about, for a log line or a failure's Event."""
    about = str(getattr(action, "name", None) or getattr(action, "execution", ""))
    if isinstance(action, CreateRevision):
        about = action.revision.name
    elif isinstance(action, EnsureConfigMap):
        about = f"of version {action.version}"
    return f"{type(action).__name__} {about}"


APPLY: dict[type, Callable[[Reconciler, Snapshot, Any], Awaitable[bool | None]]] = build_dispatch(
    Reconciler, prefix="_"
)
"""How each action type is applied: the Reconciler's method for the verb of the one table."""
