"""What the planner asks the kube layer to do. Every action is idempotent by construction:
names are deterministic, creates tolerate AlreadyExists and deletes tolerate NotFound."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nodewave.core.vocabulary.snapshot import RevisionInfo
from nodewave.models.execution import DesiredState, ExecutionStatus
from nodewave.models.job import Drain, NotificationStatus, Webhook


@dataclass(frozen=True, slots=True)
class EventIntent:
    type: str  # Normal | Warning
    reason: str
    message: str
    wave: int = 0
    """The wave the Event is about (WaveComplete), for the notification it may make."""


@dataclass(frozen=True, slots=True)
class CreateRevision:
    """Store a new version as a ControllerRevision owned by the Job (`versions.build_revision`)."""

    revision: RevisionInfo


@dataclass(frozen=True, slots=True)
class DeleteRevision:
    """A revision past the history limit goes (never the current or the stable version's)."""

    name: str


@dataclass(frozen=True, slots=True)
class EnsureConfigMap:
    """The version's ConfigMap, owned by this incarnation of the Job, before any of its pods is
    made; if the name is someone else's ConfigMap, the version's pods are not made (they would
    mount a stranger's data) and the next pass's check says why."""

    version: int


@dataclass(frozen=True, slots=True)
class CreateExecution:
    """Create the execution and, side by side, its pod when `start`: the pod is the Job's
    and carries the execution's `incarnation`, so it needs nothing the execution's create
    returns (one API round trip, not two, before a wave's pods exist)."""

    name: str
    node: str
    version: int
    wave: int
    desired: DesiredState
    previous: str | None
    start: bool
    incarnation: str


@dataclass(frozen=True, slots=True)
class SetDesiredState:
    name: str
    desired: DesiredState
    by_operator: bool
    """Mark (or clear) the operator as the one that stopped it."""
    reason: str


@dataclass(frozen=True, slots=True)
class CreatePod:
    """The execution's pod. It says, in the same create, everything known of its execution
    when it is made (`podspec.build_pod`): a record of the placement that needs no write of
    its own (`record.build_record_spec` reads it back)."""

    execution: str
    execution_uid: str
    """Only for an execution without an `incarnation` (made by an earlier release): its pod
    is controlled by the execution, as then."""
    node: str
    version: int
    wave: int
    previous: str | None
    incarnation: str | None
    """The execution's: the pod is controlled by the Job and carries it."""


@dataclass(frozen=True, slots=True)
class CreatePullPod:
    """A pull-only pod of `version`'s images on `node` (rollout.prePull), named `name`."""

    name: str
    node: str
    version: int


@dataclass(frozen=True, slots=True)
class DeletePod:
    name: str
    uid: str


@dataclass(frozen=True, slots=True)
class PatchExecutionStatus:
    name: str
    status: ExecutionStatus
    event: EventIntent | None
    previous: ExecutionStatus
    """The status the patch replaces, so only the difference is sent."""


@dataclass(frozen=True, slots=True)
class DeleteExecution:
    name: str
    uid: str = ""
    """With a uid: only that incarnation (a restart must never delete the execution that
    replaced it)."""
    foreground: bool = False
    """Gone only once its pod is (a restart: the execution is created again under the same
    name and must not adopt the old pod)."""


@dataclass(frozen=True, slots=True)
class PrepareNode:
    """Cordon the execution's node (unless someone else did) and, with `drain`, evict its other
    pods; record the outcome in the execution's status.maintenance."""

    execution: str
    node: str
    drain: Drain | None


@dataclass(frozen=True, slots=True)
class ReleaseNode:
    """Uncordon the node if this Job cordoned it, lift its quarantine label, and record it."""

    execution: str
    node: str


@dataclass(frozen=True, slots=True)
class QuarantineNode:
    """Keep the node cordoned and label it nodewave.io/quarantined=<namespace>.<job>; record it."""

    execution: str
    node: str


@dataclass(frozen=True, slots=True)
class CallWebhook:
    """POST the payload to the webhook, in the background: the answer comes back to a later
    pass under `key` (core/rollout/webhooks.py). Asked again while unanswered, it is still one call."""

    key: str
    namespace: str
    job: str
    webhook: Webhook
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SendNotification:
    """Send the entry to its service, in the background; the outcome comes back to a later
    pass under `key` (core/job/notifications.py)."""

    key: str
    namespace: str
    job: str
    entry: NotificationStatus


Action = (
    CreateRevision
    | DeleteRevision
    | EnsureConfigMap
    | CreateExecution
    | SetDesiredState
    | CreatePod
    | CreatePullPod
    | DeletePod
    | PatchExecutionStatus
    | DeleteExecution
    | PrepareNode
    | ReleaseNode
    | QuarantineNode
    | CallWebhook
    | SendNotification
)


VERBS: dict[type, str] = {
    CreateRevision: "create_revision",
    DeleteRevision: "delete_revision",
    EnsureConfigMap: "ensure_configmap",
    CreateExecution: "create_execution",
    CreatePod: "create_pod",
    CreatePullPod: "create_pull_pod",
    CallWebhook: "call_webhook",
    SendNotification: "send_notification",
    DeletePod: "delete_pod",
    SetDesiredState: "set_desired_state",
    PatchExecutionStatus: "patch_execution_status",
    PrepareNode: "prepare_node",
    ReleaseNode: "release_node",
    QuarantineNode: "quarantine_node",
    DeleteExecution: "delete_execution",
}
"""The one dispatch table: each action type of the union and the verb that applies it. The
operator's applier (`kube.reconcile.APPLY`) and the unit tests' simulated cluster build their
tables from it with `build_dispatch`, so a type missing a way to be applied fails at import."""

PREPARES = (CreateRevision, EnsureConfigMap)
"""Applied first and together: what a version's pods need before any is made."""
STARTS = (CreateExecution, CreatePod)
"""Applied next and alone: what starts workloads (a wave's pods do not queue behind the
previous wave's bookkeeping)."""


def build_dispatch(applier: Any, prefix: str = "") -> dict[type, Any]:
    """Action type → `applier`'s attribute `<prefix><verb>` (AttributeError if it has none)."""
    return {kind: getattr(applier, prefix + verb) for kind, verb in VERBS.items()}
