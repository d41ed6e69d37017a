"""Which nodes a Job's pod may run on by their taints, as the DaemonSet controller decides
(`nodeShouldRunDaemonPod`): a node whose `NoExecute` taint the pod does not tolerate is not a
target; one whose `NoSchedule` taint it does not tolerate gets no new execution, but one
already running there goes on (a taint added later does not stop it, as a DaemonSet's pod is
not evicted by it). `PreferNoSchedule` never excludes. The pod's tolerations are the
template's and the DaemonSet's own (`podspec.DAEMON_TOLERATIONS`), which every pod of ours
carries. Without this, every kubeadm cluster's control plane (`node-role.kubernetes.io/
control-plane:NoSchedule`) was a target whose pod could never be scheduled, and a Job
selecting `kubernetes.io/os=linux` never became Ready.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from nodewave.core.execution.podspec import DAEMON_TOLERATIONS
from nodewave.core.vocabulary.snapshot import Taint

NO_SCHEDULE = "NoSchedule"
NO_EXECUTE = "NoExecute"


def tolerates(toleration: Mapping[str, Any], taint: Taint) -> bool:
    """Kubernetes' `Toleration.ToleratesTaint`: the effect matches (an empty one matches
    every effect), and the key and value do (`Exists` with no key tolerates every taint)."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.effect:
        return False
    key = toleration.get("key") or ""
    if key and key != taint.key:
        return False
    if (toleration.get("operator") or "Equal") == "Exists":
        return True
    return bool(key) and (toleration.get("value") or "") == taint.value


def build_tolerations(template: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
    """The tolerations every pod of a Job carries: its template's and the DaemonSet's."""
    own = (template.get("spec") or {}).get("tolerations") or ()
    return (*(t for t in own if isinstance(t, Mapping)), *DAEMON_TOLERATIONS)


def evaluate_taints(
    taints: Iterable[Taint], tolerations: Iterable[Mapping[str, Any]], *, placed: bool
) -> bool:
    """Whether a node with `taints` is a target; `placed`: the Job runs there already."""
    tolerations = tuple(tolerations)
    for taint in taints:
        if taint.effect not in (NO_SCHEDULE, NO_EXECUTE):
            continue
        if any(tolerates(t, taint) for t in tolerations):
            continue
        if taint.effect == NO_EXECUTE or not placed:
            return False
    return True
