"""Pod records (`nodewave run --pod-records`, experimental; docs/design.md §4.2 step 5): on
the normal path a node's execution is its pod, with no Execution object and no status write
of its own, as the DaemonSet controller keeps its pods.

The planner still plans executions. For one that only a pod stands for, what it plans is
held here, in memory: its status and desired state until the next pass. A status that is
exceptional (`record.evaluate_needs_record`: failed, lost, degraded, completed, an error)
becomes an Execution, created with that status: the record a person reads and a new leader
starts from. What a new leader cannot read back from memory it reads from the pod and the
Job's record of validation (§4.1), so pod records imply `--validation-record`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from nodewave.core.execution.record import build_pod_execution, select_pod_records
from nodewave.core.vocabulary.snapshot import ExecutionInfo, PodInfo
from nodewave.kube.view import JobKey
from nodewave.models.execution import DesiredState, ExecutionStatus


@dataclass
class PodRecords:
    """The executions pod records stand for, per Job, as last planned."""

    kept: dict[JobKey, dict[str, ExecutionInfo]] = field(default_factory=dict)
    recorded: dict[JobKey, dict[str, str]] = field(default_factory=dict)
    """Name → incarnation of the pods whose execution was made an Execution, while they
    exist: once that Execution is gone (a retry, a person's delete) the pod is what is left of
    it, not a record again (a failed run-to-completion pod is kept, for its logs: read as a
    record it would make the same failed Execution again, and a retry would never run)."""

    def executions(
        self,
        key: JobKey,
        pods: Mapping[str, PodInfo],
        real: tuple[ExecutionInfo, ...],
        job_uid: str,
    ) -> tuple[ExecutionInfo, ...]:
        """The Job's executions that only a pod stands for, this pass (those whose pod is
        gone are forgotten: nothing of them is left to say). A pod left by an Execution that
        is gone is none of them, so stale (`record.select_stale_pods`): deleted, and its
        execution made again."""
        mine = self.kept.get(key, {})
        recorded = {
            name: incarnation
            for name, incarnation in self.recorded.get(key, {}).items()
            if name in pods and pods[name].incarnation == incarnation
        }
        self.recorded[key] = recorded
        found = {
            name: build_pod_execution(pod, mine.get(name))
            for name, pod in select_pod_records(pods, real, job_uid).items()
            if name not in recorded
        }
        self.kept[key] = found
        return tuple(found.values())

    def holds(self, key: JobKey, name: str) -> bool:
        return name in self.kept.get(key, {})

    def get(self, key: JobKey, name: str) -> ExecutionInfo:
        return self.kept[key][name]

    def put_status(self, key: JobKey, name: str, status: ExecutionStatus) -> ExecutionInfo:
        info = replace(self.kept[key][name], status=status)
        self.kept[key][name] = info
        return info

    def put_desired(self, key: JobKey, name: str, desired: DesiredState, by_operator: bool) -> None:
        info = self.kept[key][name]
        spec = info.spec.model_copy(update={"desired_state": desired})
        self.kept[key][name] = replace(info, spec=spec, stopped_by_operator=by_operator)

    def made_execution(self, key: JobKey, name: str) -> None:
        """Its Execution is made: the record from now on, its pod that execution's."""
        info = self.kept.get(key, {}).pop(name, None)
        if info is not None and info.spec.incarnation:
            self.recorded.setdefault(key, {})[name] = info.spec.incarnation

    def forget(self, key: JobKey, name: str | None = None) -> None:
        if name is None:
            self.kept.pop(key, None)
            self.recorded.pop(key, None)
        else:
            self.kept.get(key, {}).pop(name, None)
