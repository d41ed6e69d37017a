"""Prometheus metrics of the operator, on /metrics (`nodewave run --metrics-port`).

Label sets are bounded: namespace, job_name, state/phase/result/verdict, and the API verb,
resource and status code. Never a node or an execution: 1,000 nodes must not mean 1,000 series
per Job. A deleted Job's series are removed.

A Job is `job_name`, as in kube-state-metrics' kube_job_* series: Prometheus owns `job` (the
scrape job) and would rename ours to `exported_job`. `namespace` is the Job's namespace, which
the chart's ServiceMonitor keeps with `honorLabels: true` (again as kube-state-metrics does),
rather than the operator pod's.
"""

from __future__ import annotations

from collections import Counter as Counter_
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, start_http_server
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from nodewave import __name__ as _pkg
from nodewave.core.job.planner import WINDOW_VERDICTS, Plan
from nodewave.core.rollout.engine import IN_FLIGHT
from nodewave.core.vocabulary import reasons as R
from nodewave.core.vocabulary.snapshot import JobInfo
from nodewave.kube.client import Kube
from nodewave.models.execution import ObservedState
from nodewave.models.job import NotificationPhase, RolloutPhase

REGISTRY = CollectorRegistry(auto_describe=True)
LABELS = ("namespace", "job_name")

BUILD_INFO = Info(
    "nodewave_build", "The running operator (present while it runs).", registry=REGISTRY
)
EXECUTIONS = Gauge(
    "nodewave_executions", "Executions by observed state.", [*LABELS, "state"], registry=REGISTRY
)
TARGET_NODES = Gauge(
    "nodewave_job_target_nodes", "Nodes the Job's selector picks.", LABELS, registry=REGISTRY
)
UPDATED_NODES = Gauge(
    "nodewave_job_ready_nodes",
    "Nodes running the version they should, healthy.",
    LABELS,
    registry=REGISTRY,
)
PHASE = Gauge(
    "nodewave_rollout_phase",
    "1 for the rollout's current phase.",
    [*LABELS, "phase"],
    registry=REGISTRY,
)
WAVE = Gauge("nodewave_rollout_wave", "Current rollout wave (1-based).", LABELS, registry=REGISTRY)
TOTAL_WAVES = Gauge(
    "nodewave_rollout_total_waves", "Waves of the current rollout.", LABELS, registry=REGISTRY
)
REVERTED_NODES = Gauge(
    "nodewave_rollout_reverted_nodes",
    "Nodes back on the previous version after the current one failed there (onNodeFailure Revert).",
    LABELS,
    registry=REGISTRY,
)
UNAVAILABLE_NODES = Gauge(
    "nodewave_rollout_unavailable_nodes",
    "Target nodes unavailable (NotReady, cordoned, or the Job's pod not ready), counted for "
    "rollout.maxUnavailable; 0 without it.",
    LABELS,
    registry=REGISTRY,
)
PRE_PULL_NODES = Gauge(
    "nodewave_rollout_pre_pull_nodes",
    "Nodes of the next wave by how their pull of the version's images fares (rollout.prePull):"
    " pulled, pulling or failed; 0 without it.",
    [*LABELS, "state"],
    registry=REGISTRY,
)
QUARANTINED_NODES = Gauge(
    "nodewave_quarantined_nodes",
    "Nodes kept cordoned after their execution failed (spec.nodeMaintenance), until uncordoned.",
    LABELS,
    registry=REGISTRY,
)
NOTIFICATIONS = Gauge(
    "nodewave_notifications",
    "The Job's latest notifications (status.notifications, the newest 32), by phase: Pending "
    "(not delivered yet, retried), Sent, Failed (given up).",
    [*LABELS, "phase"],
    registry=REGISTRY,
)
ROLLOUTS = Counter(
    "nodewave_rollouts", "Rollouts finished, by result.", [*LABELS, "result"], registry=REGISTRY
)
ROLLBACKS = Counter("nodewave_rollbacks", "Automatic rollbacks started.", LABELS, registry=REGISTRY)
WINDOWS = Counter(
    "nodewave_health_windows",
    "Health-check windows closed, by verdict.",
    [*LABELS, "verdict"],
    registry=REGISTRY,
)
PASSES = Counter(
    "nodewave_reconcile_passes",
    "Passes over the Job: which Jobs keep the operator busy (a steady Job passes rarely).",
    LABELS,
    registry=REGISTRY,
)
RECONCILE = Histogram(
    "nodewave_reconcile_duration_seconds",
    "Time of one pass over one Job.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)

_RESULT_EVENTS = {
    R.ROLLOUT_COMPLETE: "completed",
    R.ROLLOUT_FAILED: "failed",
    R.ROLLED_BACK: "rolled_back",
    R.ROLLOUT_ABORTED: "aborted",
}


class ApiRequests(Collector):
    """nodewave_api_requests_total{verb,resource,code} from the client's own counts."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(
            "nodewave_api_requests",
            "Kubernetes API requests by verb, resource and status code.",
            labels=["verb", "resource", "code"],
        )
        for (verb, resource, code), n in sorted(self.kube.requests.items()):
            family.add_metric([verb, resource, str(code)], n)
        yield family


def observe_pass(job: JobInfo, plan: Plan) -> None:
    """Update the Job's series after a pass (a Reconciler observer)."""
    labels = (job.namespace, job.name)
    PASSES.labels(*labels).inc()
    counts = plan.status.execution_counts
    for state in ObservedState:
        EXECUTIONS.labels(*labels, state.value).set(counts.get(state.value, 0))
    TARGET_NODES.labels(*labels).set(plan.status.target_nodes)
    UPDATED_NODES.labels(*labels).set(plan.status.ready_nodes)
    rollout = plan.status.rollout
    for phase in RolloutPhase:
        PHASE.labels(*labels, phase.value).set(
            1 if rollout is not None and rollout.phase is phase else 0
        )
    WAVE.labels(*labels).set(rollout.wave if rollout else 0)
    TOTAL_WAVES.labels(*labels).set(rollout.total_waves if rollout else 0)
    REVERTED_NODES.labels(*labels).set(rollout.reverted_count if rollout else 0)
    UNAVAILABLE_NODES.labels(*labels).set(rollout.unavailable_nodes if rollout else 0)
    pulls = rollout.pre_pull if rollout is not None and rollout.phase in IN_FLIGHT else None
    pulled, failed = (pulls.pulled, pulls.failed_count) if pulls else (0, 0)
    PRE_PULL_NODES.labels(*labels, "pulled").set(pulled)
    PRE_PULL_NODES.labels(*labels, "failed").set(failed)
    PRE_PULL_NODES.labels(*labels, "pulling").set(pulls.nodes - pulled - failed if pulls else 0)
    QUARANTINED_NODES.labels(*labels).set(plan.status.quarantined_nodes)
    notified = Counter_(e.phase for e in plan.status.notifications)
    for notification in NotificationPhase:
        NOTIFICATIONS.labels(*labels, notification.value).set(notified.get(notification, 0))
    # Counters start at 0 as soon as the Job is seen: a series that first appears at 1 has no
    # increase() or changes(), so the first rollback of a Job would never alert.
    ROLLBACKS.labels(*labels)
    for result in _RESULT_EVENTS.values():
        ROLLOUTS.labels(*labels, result)
    for verdict in WINDOW_VERDICTS:
        WINDOWS.labels(*labels, verdict)
    for event in plan.events:
        if event.reason in _RESULT_EVENTS:
            ROLLOUTS.labels(*labels, _RESULT_EVENTS[event.reason]).inc()
        if event.reason == R.ROLLING_BACK:
            ROLLBACKS.labels(*labels).inc()
    for verdict, n in plan.window_verdicts.items():
        WINDOWS.labels(*labels, verdict).inc(n)


EVENTS_DROPPED = Counter(
    "nodewave_events_dropped",
    "Per-execution warning Events not recorded because too many were waiting (kube/events.py);"
    " the Job's own Events are never dropped.",
    ["reason"],
    registry=REGISTRY,
)

LEADER = Gauge(
    "nodewave_leader",
    "1 while this replica holds the leader Lease and acts; 0 while it stands by.",
    registry=REGISTRY,
)


def forget_jobs() -> None:
    """Remove every Job's series: a replica that stops leading no longer knows them (the new
    leader exports them)."""
    for namespace, job in {labels[:2] for labels in EXECUTIONS._metrics}:
        forget_job(namespace, job)


def forget_job(namespace: str, job: str) -> None:
    """Remove a deleted Job's series."""
    for metric in (
        PASSES,
        EXECUTIONS,
        TARGET_NODES,
        UPDATED_NODES,
        PHASE,
        WAVE,
        TOTAL_WAVES,
        REVERTED_NODES,
        UNAVAILABLE_NODES,
        QUARANTINED_NODES,
        NOTIFICATIONS,
        ROLLOUTS,
        ROLLBACKS,
        WINDOWS,
    ):
        for labels in list(metric._metrics):
            if labels[:2] == (namespace, job):
                metric.remove(*labels)


def serve(port: int, address: str, kube: Kube, version: str) -> None:
    BUILD_INFO.info({"version": version, "package": _pkg})
    REGISTRY.register(ApiRequests(kube))
    start_http_server(port, addr=address, registry=REGISTRY)
