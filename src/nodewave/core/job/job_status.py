"""The Job's conditions, derived from the rollout's phase and the executions' counts: one pure
function per condition, applied in a fixed order (docs/design.md §3.3).

Who reads them: `kubectl wait --for=condition=Ready`, kstatus (Flux, kpt) through
`Reconciling` and `Stalled`, Argo CD's health Lua through `Ready`, `Stalled` and
`AwaitingPromotion`, and the alerts. A condition whose input did not change keeps its
lastTransitionTime (`conditions.set_condition`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from nodewave.core.rollout.engine import IN_FLIGHT
from nodewave.core.vocabulary import reasons as R
from nodewave.core.vocabulary.conditions import set_condition
from nodewave.models.base import Condition, ConditionStatus
from nodewave.models.execution import ObservedState
from nodewave.models.job import RolloutPhase

P = RolloutPhase
S = ObservedState

PHASE_REASON = {
    P.PROGRESSING: "RolloutInProgress",
    P.AWAITING_PROMOTION: R.AWAITING_PROMOTION,
    P.PAUSED: "RolloutPaused",
    P.WAITING_FOR_WINDOW: R.WAITING_FOR_WINDOW,
    P.AWAITING_CONFIRMATION: R.AWAITING_CONFIRMATION,
    P.ROLLING_BACK: R.ROLLING_BACK,
    P.ROLLED_BACK: R.ROLLED_BACK,
    P.FAILED: R.ROLLOUT_FAILED,
    P.COMPLETED: R.ROLLOUT_COMPLETE,
    P.ABORTED: R.ROLLOUT_ABORTED,
    P.STEP_PAUSED: R.STEP_PAUSED,
    P.WAITING_FOR_AVAILABILITY: R.WAITING_FOR_AVAILABILITY,
    P.WAITING_FOR_ALERTS: R.WAITING_FOR_ALERTS,
    P.BAKING: R.BAKING,
    P.PRE_PULLING: R.PRE_PULLING,
}
"""The reason a condition gives while a rollout is in each phase."""
STALLED_PHASES = frozenset({P.FAILED, P.ROLLED_BACK, P.ABORTED})
"""An aborted rollout is Stalled from the start, while its nodes still return: for kstatus
and Argo CD the version in Git did not roll out (Failed, Degraded), which is what a person
who stopped it needs to see; `status.rollout.message` tells how far the return is."""
RECONCILING_PHASES = IN_FLIGHT | {P.ROLLING_BACK}
"""A rollout still going or on its way back: Reconciling (kstatus InProgress)."""
FAILING_PHASES = frozenset({P.FAILED, P.ROLLED_BACK, P.ROLLING_BACK, P.ABORTED})


@dataclass(frozen=True, slots=True)
class JobCounts:
    """What the conditions are derived from, counted once per pass."""

    version: int
    target: int
    """Selected nodes."""
    updated: int
    """Nodes whose execution of the current version is Running (Completed for run-to-completion)."""
    ready: int
    """Nodes whose wanted execution (the stable version's, on nodes a rollout has not moved) is
    Running (Completed for run-to-completion): `status.readyNodes`."""
    failed: int
    lost: int
    degraded: int
    """Nodes whose wanted execution is Failed, Lost, Degraded."""
    finished: int
    """Nodes whose execution of the current version is Completed, Failed or Stopped."""
    completes: bool
    """The Job's type runs to completion (Query, Update, Config)."""
    quarantined: tuple[str, ...] | None
    """Nodes left cordoned after their execution failed; None without nodeMaintenance."""
    phase: RolloutPhase | None
    """The phase of a rollout of the current version still under way or ended badly; None
    when there is none (steady, first version, or completed)."""
    rollout_message: str
    pods_refused: tuple[tuple[str, str], ...] | None = None
    """(execution, the API server's words) for each execution whose pod's last create was
    refused; None when none is and none was (the condition is then left out)."""

    @property
    def good(self) -> ObservedState:
        return S.COMPLETED if self.completes else S.RUNNING

    @property
    def summary(self) -> str:
        return (
            f"{self.updated}/{self.target} nodes {self.good.value.lower()} version {self.version}"
        )


Verdict = tuple[ConditionStatus, str, str]
"""A condition's (status, reason, message)."""


def evaluate_ready(c: JobCounts) -> Verdict:
    if c.phase is not None:
        return "False", PHASE_REASON[c.phase], f"{c.summary}; {c.rollout_message}"
    if c.target == 0:
        return "True", R.NO_NODES_SELECTED, "the selector matches no node"
    if c.updated == c.target:
        return "True", R.ALL_SUCCEEDED if c.completes else R.ALL_NODES_READY, c.summary
    if c.failed:
        reason = R.EXECUTIONS_FAILED
    elif c.lost:
        reason = R.NODES_LOST
    else:
        reason = R.EXECUTIONS_RUNNING if c.completes else R.EXECUTIONS_PENDING
    return "False", reason, f"{c.summary}; {c.failed} failed, {c.lost} lost"


def evaluate_complete(c: JobCounts) -> Verdict | None:
    """Only for run-to-completion types: every execution of the current version finished."""
    if not c.completes:
        return None
    if c.finished == c.target:
        succeeded = f"{c.target - c.failed}/{c.target} executions succeeded"
        return "True", R.SOME_FAILED if c.failed else R.ALL_SUCCEEDED, succeeded
    return "False", R.EXECUTIONS_RUNNING, f"{c.finished}/{c.target} executions finished"


def evaluate_progressing(c: JobCounts) -> Verdict:
    if c.phase is not None:
        status: ConditionStatus = "False" if c.phase in STALLED_PHASES else "True"
        return status, PHASE_REASON[c.phase], c.rollout_message
    return "True", R.ROLLOUT_COMPLETE, c.rollout_message or c.summary


def evaluate_reconciling(c: JobCounts) -> Verdict:
    if c.phase in RECONCILING_PHASES:
        assert c.phase is not None
        return "True", PHASE_REASON[c.phase], c.rollout_message or c.summary
    return "False", R.AS_EXPECTED, "nothing to roll out"


def evaluate_stalled(c: JobCounts) -> Verdict:
    if c.phase in STALLED_PHASES:
        assert c.phase is not None
        return "True", PHASE_REASON[c.phase], c.rollout_message
    return "False", R.AS_EXPECTED, "not stalled"


def evaluate_rolled_back(c: JobCounts) -> Verdict:
    if c.phase is P.ROLLED_BACK:
        return "True", R.ROLLED_BACK, c.rollout_message
    return "False", R.AS_EXPECTED, "not rolled back"


def evaluate_awaiting_promotion(c: JobCounts) -> Verdict:
    if c.phase is P.AWAITING_PROMOTION:
        return "True", R.AWAITING_PROMOTION, c.rollout_message
    return "False", R.AS_EXPECTED, "not waiting for a promote"


def evaluate_degraded(c: JobCounts) -> Verdict:
    failing_phase = c.phase in FAILING_PHASES
    if not (c.failed or c.lost or c.degraded or failing_phase):
        return "False", R.AS_EXPECTED, "no execution is failing"
    if failing_phase:
        assert c.phase is not None
        reason = PHASE_REASON[c.phase]
    elif c.failed or c.degraded:
        reason = R.EXECUTIONS_FAILED
    else:
        reason = R.NODES_LOST
    message = f"{c.failed} failed, {c.degraded} degraded, {c.lost} lost"
    if c.phase is not None:
        message += f"; {c.rollout_message}"
    return "True", reason, message


def evaluate_quarantined(c: JobCounts) -> Verdict | None:
    """Only with nodeMaintenance: nodes kept cordoned after their execution failed."""
    if c.quarantined is None:
        return None
    if not c.quarantined:
        return "False", R.AS_EXPECTED, "no node is quarantined"
    shown = ", ".join(c.quarantined[:10]) + (" …" if len(c.quarantined) > 10 else "")
    return (
        "True",
        R.QUARANTINED,
        f"{len(c.quarantined)} nodes stay cordoned after their execution failed: {shown}; "
        "`kubectl nodewave uncordon JOB NODE` releases one",
    )


def evaluate_pods_refused(c: JobCounts) -> Verdict | None:
    """Pods the API server refused to create (a quota used up after the version's dry-run
    passed, a policy added since): said at the Job in the API's words, not a silent wait."""
    if c.pods_refused is None:
        return None
    if not c.pods_refused:
        return "False", R.AS_EXPECTED, "the API server creates every pod"
    execution, words = c.pods_refused[0]
    more = f" (and of {len(c.pods_refused) - 1} more)" if len(c.pods_refused) > 1 else ""
    return "True", R.POD_REFUSED, f"the API server refused the pod of {execution}{more}: {words}"


CONDITIONS: tuple[tuple[str, Callable[[JobCounts], Verdict | None]], ...] = (
    (R.READY, evaluate_ready),
    (R.COMPLETE, evaluate_complete),
    (R.PROGRESSING, evaluate_progressing),
    (R.RECONCILING, evaluate_reconciling),
    (R.STALLED, evaluate_stalled),
    (R.ROLLED_BACK, evaluate_rolled_back),
    (R.AWAITING_PROMOTION, evaluate_awaiting_promotion),
    (R.DEGRADED, evaluate_degraded),
    (R.QUARANTINED, evaluate_quarantined),
    (R.PODS_REFUSED, evaluate_pods_refused),
)


def build_job_conditions(
    conditions: list[Condition], counts: JobCounts, generation: int, now: datetime
) -> list[Condition]:
    """`conditions` with each condition of the table set from `counts`."""
    for type_, evaluate in CONDITIONS:
        verdict = evaluate(counts)
        if verdict is not None:
            conditions = set_condition(conditions, type_, *verdict, generation, now)
    return conditions


def evaluate_steady(conditions: list[Condition]) -> bool:
    """Nothing left to do but what an event or a deadline announces: every target ready (or
    the Job complete), no rollout under way and no pod refused (a quota can be raised without
    an event we watch); a failed or rolled-back rollout is not Ready, so not steady. Such a Job
    is looked at again on its events and deadlines, and otherwise only at the long resync:
    at 30 seconds, 19 steady Jobs of 1,000 nodes made 40 passes during another Job's 62-second
    rollout and slowed it by a fifth (issue 29)."""
    status = {c.type: c.status for c in conditions}
    return (
        "True" in (status.get(R.READY), status.get(R.COMPLETE))
        and status.get(R.RECONCILING) == "False"
        and status.get(R.PODS_REFUSED) != "True"
    )
