"""The `Execution` resource: one per (job, version, node), created by the operator.

An Execution is the unit the rollout engine moves: it carries where and what (`jobName`,
`jobVersion`, `nodeName`, `rolloutWave`), what the operator wants (`desiredState`) and what
the pod and node show (`status.observedState`), in the desired/observed model of the seeds.
Its pod, controlled by the Job, carries the execution's `incarnation`; the pod's and node's
status are the authority once the pod exists.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field
from pydantic.config import JsonDict

from nodewave.models.base import (
    MAX_MESSAGE,
    MAX_NAME,
    ApiModel,
    ErrorInfo,
    cel,
    string_schema,
    validations,
)


class DesiredState(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    STOPPED = "Stopped"


class ObservedState(StrEnum):
    PENDING = "Pending"
    STARTING = "Starting"
    VALIDATING = "Validating"
    RUNNING = "Running"
    DEGRADED = "Degraded"
    COMPLETED = "Completed"
    FAILED = "Failed"
    LOST = "Lost"
    STOPPING = "Stopping"
    STOPPED = "Stopped"


TERMINAL_STATES = frozenset({ObservedState.COMPLETED, ObservedState.FAILED, ObservedState.STOPPED})

MAX_HISTORY = 20
MAX_INCARNATION = 32
INCARNATION_PATTERN = rf"^[a-z0-9]{{1,{MAX_INCARNATION}}}$"


def _immutable(field: str) -> JsonDict:
    return validations(
        cel("self == oldSelf", f"{field} is immutable", reason="FieldValueForbidden")
    )


class ExecutionSpec(ApiModel):
    """Where and what this execution runs, and what the operator (or a user) wants of it."""

    job_name: str = Field(
        min_length=1, max_length=MAX_NAME, json_schema_extra=_immutable("jobName")
    )
    """The Job this execution belongs to."""
    job_version: int = Field(ge=1, json_schema_extra=_immutable("jobVersion"))
    """The Job version this execution runs."""
    node_name: str = Field(
        min_length=1, max_length=MAX_NAME, json_schema_extra=_immutable("nodeName")
    )
    """The node it runs on."""
    rollout_wave: int = Field(default=0, ge=0)
    """The rollout wave that placed it, 1-based; 0 when placed outside a wave."""
    desired_state: DesiredState = DesiredState.RUNNING
    """Pending, Running or Stopped. The operator sets it; set Stopped to cancel this execution."""
    previous_execution: str | None = Field(default=None, max_length=MAX_NAME)
    """The execution this one replaces on the same node."""
    incarnation: str | None = Field(
        default=None,
        max_length=MAX_INCARNATION,
        pattern=INCARNATION_PATTERN,
        json_schema_extra=_immutable("incarnation"),
    )
    """Which pod is this execution's: the operator sets it at creation and gives its pod the
    same value (annotation nodewave.io/incarnation), so a pod left by an earlier execution of
    the same name is never read as this one's. Unset on an execution made by an earlier release,
    whose pod the execution itself controls."""


class HealthWindow(ApiModel):
    """The health window in progress and the run of verdicts before it."""

    window_start: datetime | None = None
    """When the current window began."""
    samples: int = Field(default=0, ge=0)
    """Samples taken in the current window."""
    unhealthy_samples: int = Field(default=0, ge=0)
    """Unhealthy samples in the current window."""
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    """Unhealthy share of the last completed window."""
    consecutive_healthy: int = Field(default=0, ge=0)
    """Healthy windows in a row."""
    consecutive_unhealthy: int = Field(default=0, ge=0)
    """Unhealthy windows in a row."""
    last_restart_count: int = Field(default=0, ge=0)
    """Container restarts seen at the last sample."""
    last_sample: datetime | None = None
    """When the last sample was taken."""


class Transition(ApiModel):
    """One observed-state change."""

    state: ObservedState
    time: datetime
    reason: str = Field(default="", max_length=128)
    message: str = Field(default="", max_length=1024)


class MaintenanceStatus(ApiModel):
    """The node's cordon and drain around this execution (Job spec.nodeMaintenance)."""

    cordoned: bool = False
    """This Job cordoned the node (one already cordoned by someone else is left as it is)."""
    drain_started_at: datetime | None = None
    """When the node was first prepared (cordoned, evictions asked)."""
    drained_at: datetime | None = None
    """When the node was ready for the execution: cordoned, its pods gone."""
    message: str = Field(default="", max_length=MAX_MESSAGE)
    """What the drain waits for (a pod a PodDisruptionBudget protects), or what it did."""
    quarantined: bool = False
    """The execution failed: the node stays cordoned, labelled nodewave.io/quarantined."""
    released_at: datetime | None = None
    """When the node was given back (uncordoned, its quarantine lifted)."""


class ExecutionStatus(ApiModel):
    """What the pod and node show, as the operator last observed it."""

    observed_generation: int | None = Field(default=None, ge=0)
    """The .metadata.generation this status reflects."""
    observed_state: ObservedState = ObservedState.PENDING
    """Pending, Starting, Validating, Running, Degraded, Completed, Failed, Lost, Stopping, Stopped."""
    message: str = Field(default="", max_length=MAX_MESSAGE)
    """Why it is in this state, for people."""
    details: dict[str, str] = Field(
        default_factory=dict,
        max_length=32,
        json_schema_extra={"additionalProperties": string_schema(1024)},
    )
    """Structured facts about the state (e.g. exitCode, containerName)."""
    error: ErrorInfo | None = None
    """The last error, with a machine-readable code."""
    revision: int = Field(default=0, ge=0)
    """Incremented on every change of this status."""
    pod_name: str | None = Field(default=None, max_length=MAX_NAME)
    """The pod that runs this execution."""
    started_at: datetime | None = None
    """When the pod first ran."""
    finished_at: datetime | None = None
    """When it reached Completed, Failed or Stopped."""
    stable_at: datetime | None = None
    """When it passed its validation window. A stable execution that fails later does not
    start a rollback."""
    next_execution: str | None = Field(default=None, max_length=MAX_NAME)
    """The execution that replaced this one."""
    health: HealthWindow | None = None
    """The health window in progress."""
    history: list[Transition] = Field(default_factory=list, max_length=MAX_HISTORY)
    """The latest observed-state transitions, oldest first."""
    restarts: int = Field(default=0, ge=0)
    """Restarts so far: container restarts in this execution's pods, plus one for each pod
    replaced after it failed (what the Job's maxRestarts budget counts)."""
    replaced_pod_restarts: int = Field(default=0, ge=0)
    """The part of `restarts` spent by pods already replaced; the current pod adds its own."""
    baseline_error_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    """The node's own error rate on the version it ran before, averaged over the baseline's
    lookback up to when this execution was created (healthCheck.prometheus.baseline)."""
    baseline_message: str = Field(default="", max_length=1024)
    """How the baseline was measured, or why there is none (maxErrorRate applies then); empty
    until it was measured."""
    maintenance: MaintenanceStatus | None = None
    """Cordon and drain of the node around this execution (written by the operator's node
    actions, not by the status pass)."""


class Execution(ApiModel):
    """One run of one Job version on one node."""

    spec: ExecutionSpec
    status: ExecutionStatus | None = None
