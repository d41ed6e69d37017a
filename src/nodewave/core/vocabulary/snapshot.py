"""What the planner sees: one Job, its versions, the nodes, its executions and their pods.

Plain frozen dataclasses, parsed once when the watch delivers an object (in `nodewave.kube`),
so a reconcile pass over 1,000 nodes does no parsing at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nodewave.models.execution import ExecutionSpec, ExecutionStatus, HealthWindow
from nodewave.models.job import JobSpec, JobStatus, JobType


@dataclass(frozen=True, slots=True)
class CallAnswer:
    """What one call made in the background (a webhook, a notification) came back with."""

    ok: bool
    """A 2xx status."""
    at: datetime
    """When the answer (or the timeout) came."""
    message: str


@dataclass(frozen=True, slots=True)
class NodeInfo:
    name: str
    labels: Mapping[str, str]
    ready: bool
    ready_since: datetime | None
    """lastTransitionTime of the Ready condition: when it last turned True or False."""
    unschedulable: bool = False
    """Cordoned (spec.unschedulable)."""
    taints: tuple[Taint, ...] = ()
    """spec.taints (core/job/taints.py decides what they exclude)."""


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str
    effect: str


MAX_ALERTS_NAMED = 5
"""Alert names a message lists (the count says how many there are)."""


@dataclass(frozen=True, slots=True)
class AlertAnswer:
    """The matching alerts firing when they were read (`at`), or why they could not be
    (healthCheck.alerts, core/rollout/alerts.py)."""

    at: datetime
    count: int = 0
    names: tuple[str, ...] = ()
    """The distinct alertnames, sorted."""
    error: str = ""

    def describe(self) -> str:
        shown = ", ".join(self.names[:MAX_ALERTS_NAMED])
        extra = len(self.names) - MAX_ALERTS_NAMED
        return f"{self.count} matching alerts firing ({shown}{f' and {extra} more' if extra > 0 else ''})"


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    name: str
    ready: bool
    restart_count: int
    waiting_reason: str | None = None
    waiting_message: str | None = None
    terminated_reason: str | None = None
    exit_code: int | None = None
    terminated_message: str | None = None
    last_exit_code: int | None = None
    """How the container's previous run ended (lastState.terminated), before a restart."""
    last_terminated_reason: str | None = None


@dataclass(frozen=True, slots=True)
class PodInfo:
    name: str
    uid: str
    resource_version: str
    node_name: str | None
    phase: str
    ready: bool
    deleting: bool
    created_at: datetime
    started_at: datetime | None = None
    reason: str | None = None
    message: str | None = None
    containers: tuple[ContainerInfo, ...] = ()
    pre_pull_of: int | None = None
    """A pull-only pod (rollout.prePull): the version whose images it pulls."""
    owner_uid: str = ""
    """Its controlling owner's uid: the Job's (a pull-only pod, an execution's pod), or the
    Execution's (an execution's pod made by an earlier release); "" when none controls it."""
    incarnation: str = ""
    """An execution's pod: its execution's incarnation ("" on a pod made by an earlier
    release, which its execution controls)."""
    job_name: str = ""
    """An execution's pod: its Job's full name; "" for a pod that does not say."""
    version: int | None = None
    """An execution's pod: the Job version it runs."""
    target_node: str = ""
    """An execution's pod: the node it is pinned to, by its full name (`node_name` is where
    the scheduler bound it: the same node, once bound)."""
    wave: int = 0
    """An execution's pod: the rollout wave that placed it (0: outside a wave)."""
    previous_execution: str | None = None
    """An execution's pod: the execution it replaces on its node."""
    restarts: int = field(init=False, default=0)
    """Container restarts, summed once: every observation of every pass reads it."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "restarts", sum(c.restart_count for c in self.containers))


@dataclass(frozen=True, slots=True)
class ExecutionInfo:
    name: str
    uid: str
    resource_version: str
    created_at: datetime
    spec: ExecutionSpec
    status: ExecutionStatus
    generation: int = 1
    stopped_by_operator: bool = False
    """desiredState Stopped was set by the operator (node no longer selected, superseded),
    not by a user; only such an execution may be started again by the operator."""
    deleting: bool = False
    owner_uid: str = ""
    """The uid of the Job that owns it ("" when none is recorded)."""
    release_requested: bool = False
    """A person asked for its quarantined node back (`kubectl nodewave uncordon`)."""

    def owned_by(self, job_uid: str) -> bool:
        """Whether it is this Job's, not a former Job's of the same name (deleted and created
        again while the garbage collector still removes the old one's executions)."""
        return self.owner_uid in ("", job_uid)


@dataclass(frozen=True, slots=True)
class VersionSpec:
    """What a version runs: the part of the Job spec that makes a new version when changed."""

    number: int
    type: JobType
    template: Mapping[str, Any]
    config: Mapping[str, Any] | None
    """None: left in the version's ControllerRevision (`revision`), read from the API when a
    pod of it is made. A config may be ~900 KiB, ~10 MiB parsed; a Job's history of 100 of
    them held by every replica would not fit its memory (docs/design.md §4.2)."""
    revision: str = ""
    """The ControllerRevision holding it ("" for a version not stored yet)."""


@dataclass(frozen=True, slots=True)
class RevisionInfo:
    name: str
    number: int
    hash: str
    data: Mapping[str, Any]
    """Its type and template, and its config unless that was left in the API
    (`kube/parse.parse_revision`)."""
    owner_uid: str = ""
    """The uid of the Job that controls it (its controller ownerReference)."""

    def to_version(self) -> VersionSpec:
        return VersionSpec(
            self.number,
            JobType(self.data["type"]),
            self.data.get("template", {}),
            self.data.get("config"),
            self.name,
        )


@dataclass(frozen=True, slots=True)
class JobInfo:
    namespace: str
    name: str
    uid: str
    generation: int
    resource_version: str
    spec: JobSpec
    status: JobStatus
    deleting: bool = False
    promote: str | None = None
    """The value of the nodewave.io/promote annotation: the version allowed past its canary."""
    abort: str | None = None
    """The value of the nodewave.io/abort annotation: the rollout a person stopped."""
    restart_at: str | None = None
    """The value of the nodewave.io/restartAt annotation: restart executions older than it."""
    cancel: frozenset[str] = frozenset()
    """The executions named by the nodewave.io/cancel annotation: stop them, as a person's
    patch of their desiredState would (`record.build_cancels`)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    subscribe: Mapping[str, str] = field(default_factory=dict)
    """Its notifications.nodewave.io/subscribe.<trigger> annotations: trigger → services."""


@dataclass(frozen=True, slots=True)
class JobSubscriptions:
    """Who is told of one Job's transitions."""

    services: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Trigger → the services told of it."""
    refused: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Trigger → services the Job's annotations named that take no subscriptions from its
    namespace (`subscribable.<service>`)."""


@dataclass(frozen=True, slots=True)
class PodRefusal:
    """Why a version's pods may not be created, found before any node is touched
    (`kube/podcheck.py`)."""

    reason: str
    """R.POD_REFUSED (the API server's own words) or R.CONFIG_MAP_CONFLICT."""
    message: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    job: JobInfo
    current: VersionSpec
    nodes: Mapping[str, NodeInfo]
    executions: tuple[ExecutionInfo, ...]
    pods: Mapping[str, PodInfo]
    """Pods by the name of the execution that owns them (`record.select_owned_pods`)."""
    stale_pods: Mapping[str, PodInfo] = field(default_factory=dict)
    """The Job's execution pods that are no live execution's own (`record.select_stale_pods`):
    deleted, and nothing is made under their names until they are gone."""
    versions: Mapping[int, VersionSpec] = field(default_factory=dict)
    health: Mapping[str, HealthWindow] = field(default_factory=dict)
    """Health windows in progress, by execution (kept in memory between status writes)."""
    external_error_rates: Mapping[str, float | str] = field(default_factory=dict)
    """Prometheus error rates (or why the query failed) for the windows closing in this pass."""
    baselines: Mapping[str, float | str] = field(default_factory=dict)
    """Baselines measured for executions that have none recorded yet: each node's own error
    rate before it moved, or why there is none (healthCheck.prometheus.baseline)."""
    webhook_answers: Mapping[str, CallAnswer] = field(default_factory=dict)
    """The answers of the Job's webhook calls, by call key (core/rollout/webhooks.py)."""
    alerts: AlertAnswer | None = None
    """The last reading of healthCheck.alerts (none without them, or not read yet)."""
    notification_answers: Mapping[str, CallAnswer] = field(default_factory=dict)
    """The outcomes of the Job's notifications being sent, by call key."""
    subscriptions: JobSubscriptions = field(default_factory=JobSubscriptions)
    """Who is told of this Job's transitions (core/job/notifications.py)."""
    namespace_labels: Mapping[str, str] = field(default_factory=dict)
    """The labels of the Job's namespace: it may opt in to host access (`core.policy`)."""
    pod_refusals: Mapping[int, PodRefusal] = field(default_factory=dict)
    """Version → why its pods may not be created (the API server refusing its pod in a
    server-side dry-run create, or its ConfigMap's name taken by someone else's), for versions
    not placed yet (`kube/podcheck.py`); absent: admitted or not asked."""
    pod_create_errors: Mapping[str, str] = field(default_factory=dict)
    """Execution → the API server's words refusing its pod's last create."""
    pull_refusals: Mapping[str, str] = field(default_factory=dict)
    """Node → the API server's words refusing the last create of the current version's
    pull-only pod there (rollout.prePull)."""
    new_revision: RevisionInfo | None = None
    """The spec's content is a version not stored yet: its revision (`versions.plan_versions`)."""
    excess_revisions: tuple[str, ...] = ()
    """Revisions past the Job's history limit (`versions.plan_versions`)."""
