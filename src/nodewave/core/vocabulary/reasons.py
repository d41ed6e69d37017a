"""Condition types, reasons and error codes: constants, so tests, alerts and tools can rely on them."""

from __future__ import annotations

# Job condition types.
READY = "Ready"
COMPLETE = "Complete"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"
RECONCILING = "Reconciling"
STALLED = "Stalled"
ROLLED_BACK = "RolledBack"
AWAITING_PROMOTION = "AwaitingPromotion"
AWAITING_CONFIRMATION = "AwaitingConfirmation"
QUARANTINED = "NodesQuarantined"
PODS_REFUSED = "PodsRefused"

# Job condition reasons.
ALL_NODES_READY = "AllNodesReady"
NO_NODES_SELECTED = "NoNodesSelected"
EXECUTIONS_PENDING = "ExecutionsPending"
EXECUTIONS_FAILED = "ExecutionsFailed"
EXECUTIONS_RUNNING = "ExecutionsRunning"
ALL_SUCCEEDED = "AllSucceeded"
SOME_FAILED = "SomeFailed"
NODES_LOST = "NodesLost"
AS_EXPECTED = "AsExpected"
INVALID_SPEC = "InvalidSpec"
POD_SECURITY_VIOLATION = "PodSecurityViolation"
"""The template breaks its namespace's Pod Security level (core/job/podsecurity.py)."""
SERVICE_ACCOUNT_NOT_ALLOWED = "ServiceAccountNotAllowed"
NODE_MAINTENANCE_NOT_ALLOWED = "NodeMaintenanceNotAllowed"
POD_REFUSED = "PodRefused"
CONFIG_MAP_CONFLICT = "ConfigMapConflict"
"""The API server refuses the version's pod: its server-side dry-run create (a version not
placed yet), or a real create (the condition PodsRefused, the execution's reason)."""

# Rollout Event reasons (the Job's Events; metrics.py counts some of them).
ROLLOUT_STARTED = "RolloutStarted"
WAVE_STARTED = "WaveStarted"
WAVE_COMPLETE = "WaveComplete"
PROMOTED = "Promoted"
ROLLOUT_COMPLETE = "RolloutComplete"
ROLLOUT_FAILED = "RolloutFailed"
ROLLING_BACK = "RollingBack"
FIRST_VERSION_STOPPED = "FirstVersionStopped"
NODE_REVERTED = "NodeReverted"
ROLLOUT_ABORTED = "RolloutAborted"
ABORT_COMPLETE = "AbortComplete"
ROLLOUT_RETRIED = "RolloutRetried"
RESTART_REQUESTED = "RestartRequested"
RESTART_STARTED = "RestartStarted"
RESTART_PAUSED = "RestartPaused"
RESTART_COMPLETE = "RestartComplete"
WAITING_FOR_WINDOW = "WaitingForWindow"
WAITING_FOR_ALERTS = "WaitingForAlerts"
"""healthCheck.alerts hold the next wave (an alert firing, or the alerts unreadable)."""
WAITING_FOR_AVAILABILITY = "WaitingForAvailability"
"""The next wave would pass rollout.maxUnavailable."""
STEP_PAUSED = "StepPaused"
"""A timed pause of rollout.steps began after a wave."""
BAKING = "Baking"
"""The last wave settled; the rollout bakes for rollout.bakeSeconds before it completes."""
PRE_PULLING = "PrePulling"
"""The next wave waits for its nodes' image pulls (rollout.prePull)."""
PRE_PULL_FAILED = "PrePullFailed"
"""The version's images failed to pull on nodes of the next wave, before it took them."""
NODE_QUARANTINED = "NodeQuarantined"
# ROLLED_BACK and AWAITING_PROMOTION: the condition types above, also Event reasons.

# Execution reasons / error codes.
NODE_DELETED = "NodeDeleted"
NODE_NOT_READY = "NodeNotReady"
QUEUE_TIMEOUT = "QueueTimeout"
EXECUTION_TIMEOUT = "ExecutionTimeout"
TOTAL_TIMEOUT = "TotalTimeout"
STOP_REQUESTED = "StopRequested"
NODE_NOT_SELECTED = "NodeNotSelected"
SUPERSEDED = "Superseded"
WAITING_FOR_WAVE = "WaitingForWave"
POD_CREATING = "PodCreating"
POD_REPLACING = "PodReplacing"
UNSCHEDULED = "Unscheduled"
CONTAINERS_STARTING = "ContainersStarting"
CONTAINERS_NOT_READY = "ContainersNotReady"
CONTAINERS_READY = "ContainersReady"
CONTAINERS_FINISHED = "ContainersFinished"
POD_SUCCEEDED = "PodSucceeded"
POD_FAILED = "PodFailed"
POD_RESTARTED = "PodRestarted"
STOPPED = "Stopped"
RESTART_BUDGET_SPENT = "RestartBudgetSpent"
PREPARING_NODE = "PreparingNode"
DRAIN_TIMEOUT = "DrainTimeout"

# Container waiting reasons that mean the start itself is failing, not just slow (the kubelet's
# images and kuberuntime packages). ErrImageNeverPull was missing until a real node showed it:
# an image absent under imagePullPolicy Never, which no retry can fix.
FAILING_WAIT_REASONS = frozenset(
    {
        "ErrImagePull",
        "ErrImageNeverPull",
        "ImagePullBackOff",
        "ImageInspectError",
        "RegistryUnavailable",
        "InvalidImageName",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
