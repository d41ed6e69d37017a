"""Node maintenance on the API (core/execution/maintenance.py decides): cordon, drain through the
Eviction API, uncordon, quarantine. Each step records its outcome in the execution's
`status.maintenance`, which the next pass reads; every step is idempotent, so a pass that
repeats one (a stale cache, a restarted operator) changes nothing.

Cordon ownership: the node is annotated `nodewave.io/cordoned-by=<namespace>/<job>` when this
Job cordoned it, and only that Job uncordons it; a node someone else cordoned is used as it is
and left cordoned. Evicting is what `kubectl drain` does: mirror pods, finished pods and
nodewave's own execution pods are skipped, DaemonSet pods skipped (or, with ignoreDaemonSets
false, block), pods with emptyDir data and pods without a controller block unless allowed, a
PodDisruptionBudget's refusal (429) is asked again on the next pass until the drain's timeout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nodewave.core.execution.maintenance import (
    ANNOTATION_CORDONED_BY,
    LABEL_QUARANTINED,
    build_quarantine_value,
)
from nodewave.core.vocabulary.actions import PrepareNode, QuarantineNode, ReleaseNode
from nodewave.core.vocabulary.naming import LABEL_JOB
from nodewave.core.vocabulary.snapshot import JobInfo
from nodewave.kube.client import Kube, KubeError, path_of
from nodewave.models.execution import MaintenanceStatus
from nodewave.models.job import Drain

MIRROR = "kubernetes.io/config.mirror"
NO_RBAC = (
    "{error} (install the chart with nodeMaintenance.enabled=true, which grants patch on "
    "nodes, list on pods and create on pods/eviction)"
)


@dataclass(slots=True)
class DrainOutcome:
    left: list[str] = field(default_factory=list)
    """Pods still on the node that the drain covers: evicted and terminating, or refused."""
    blocked: list[str] = field(default_factory=list)
    """Why the drain cannot finish yet, one line per pod."""


def build_pod_selector(drain: Drain) -> str:
    """The drain's podSelector as an API label selector (the syntax is the API's own)."""
    terms = [f"{k}={v}" for k, v in sorted(drain.pod_selector.match_labels.items())]
    return ",".join(terms + [e.strip() for e in drain.pod_selector.match_expressions])


def evaluate_pod(pod: dict[str, Any], drain: Drain) -> str | None:
    """Why the drain skips this pod ("" to evict it, None to skip it), or the blocker."""
    meta = pod["metadata"]
    if MIRROR in (meta.get("annotations") or {}) or LABEL_JOB in (meta.get("labels") or {}):
        return None  # a static pod, or one of nodewave's own executions
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return None
    owner = next((r for r in meta.get("ownerReferences") or [] if r.get("controller")), None)
    name = f"{meta['namespace']}/{meta['name']}"
    if owner is not None and owner.get("kind") == "DaemonSet":
        if drain.ignore_daemon_sets:
            return None
        return (
            f"pod {name} belongs to DaemonSet {owner.get('name')} (drain.ignoreDaemonSets is false)"
        )
    if owner is None and not drain.force:
        return f"pod {name} has no controller and would be gone for good (drain.force is false)"
    volumes = (pod.get("spec") or {}).get("volumes") or []
    if any("emptyDir" in v for v in volumes) and not drain.delete_empty_dir_data:
        return f"pod {name} has emptyDir data (drain.deleteEmptyDirData is false)"
    return ""


async def drain_node(kube: Kube, node: str, drain: Drain) -> DrainOutcome:
    query = {"fieldSelector": f"spec.nodeName={node}"}
    if selector := build_pod_selector(drain):
        query["labelSelector"] = selector
    pods = (await kube.get(path_of("pods", None), query) or {}).get("items", [])
    out = DrainOutcome()
    for pod in pods:
        verdict = evaluate_pod(pod, drain)
        if verdict is None:
            continue
        meta = pod["metadata"]
        name = f"{meta['namespace']}/{meta['name']}"
        out.left.append(name)
        if verdict:
            out.blocked.append(verdict)
        elif meta.get("deletionTimestamp"):
            out.blocked.append(f"pod {name} is terminating")
        else:
            await _evict(kube, meta["namespace"], meta["name"], out)
    return out


async def _evict(kube: Kube, namespace: str, name: str, out: DrainOutcome) -> None:
    body = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": name, "namespace": namespace},
    }
    try:
        await kube.request("POST", path_of("pods", namespace, name, "eviction"), body)
    except KubeError as e:
        if e.status == 404:
            out.left.remove(f"{namespace}/{name}")
            return
        if e.status != 429:  # 429: a PodDisruptionBudget refused, for now
            raise
        out.blocked.append(f"eviction of pod {namespace}/{name} refused: {e.message}")
        return
    out.blocked.append(f"pod {namespace}/{name} evicted, terminating")


def _cordon_owner(job: JobInfo) -> str:
    return f"{job.namespace}/{job.name}"


async def release_deleted_job_nodes(kube: Kube, namespace: str, job: str) -> list[str]:
    """A deleted Job's cordons go with it: the nodes it cordoned (the annotation names it) are
    uncordoned, except quarantined ones, which a person is to look at and stay cordoned and
    labelled (`kubectl uncordon NODE`; the annotation still says which Job). One list of the
    nodes per deleted Job that had nodeMaintenance: rare enough to read them from the API."""
    owner = f"{namespace}/{job}"
    listing = await kube.get(path_of("nodes", None)) or {}
    released = []
    for node in listing.get("items", []):
        meta = node["metadata"]
        if (meta.get("annotations") or {}).get(ANNOTATION_CORDONED_BY) != owner:
            continue
        if (meta.get("labels") or {}).get(LABEL_QUARANTINED):
            continue
        patch = {"metadata": {"annotations": {ANNOTATION_CORDONED_BY: None}},
                 "spec": {"unschedulable": None}}  # fmt: skip
        await kube.merge_patch(path_of("nodes", None, meta["name"]), patch)
        released.append(meta["name"])
    return released


def _quarantine(job: JobInfo) -> str:
    return build_quarantine_value(job.namespace, job.name)


def _cordoned_by(node: dict[str, Any], job: JobInfo) -> bool:
    """Whether this Job's cordon is the node's (its annotation names the Job)."""
    annotations = node["metadata"].get("annotations") or {}
    return annotations.get(ANNOTATION_CORDONED_BY) == _cordon_owner(job)


async def _cordon(kube: Kube, job: JobInfo, node: str) -> bool:
    """Cordon the node for this Job; whether it is this Job's cordon (to undo later)."""
    found = await kube.get(path_of("nodes", None, node))
    if found is None:
        raise KubeError(404, "NotFound", f"node {node} no longer exists")
    mine = _cordoned_by(found, job)
    unschedulable = bool((found.get("spec") or {}).get("unschedulable"))
    if unschedulable and not mine:
        return False  # someone else's cordon: used as it is, left as it is
    if not unschedulable:
        patch = {"metadata": {"annotations": {ANNOTATION_CORDONED_BY: _cordon_owner(job)}},
                 "spec": {"unschedulable": True}}  # fmt: skip
        await kube.merge_patch(path_of("nodes", None, node), patch)
    return True


async def prepare_node(kube: Kube, job: JobInfo, action: PrepareNode, now: datetime) -> None:
    """Cordon, then drain; record how far it got in the execution's status.maintenance."""
    previous = await _maintenance(kube, job.namespace, action.execution)
    if previous.drained_at is not None:
        return  # a pass that had not seen the last outcome yet
    started = previous.drain_started_at or now
    try:
        cordoned = await _cordon(kube, job, action.node)
        out = await drain_node(kube, action.node, action.drain) if action.drain else DrainOutcome()
    except KubeError as e:
        if e.status != 403:
            raise
        await _record(kube, job.namespace, action.execution, previous.model_copy(
            update={"drain_started_at": started, "message": NO_RBAC.format(error=e.message)}))  # fmt: skip
        return
    if out.left:
        message = "; ".join(out.blocked[:5]) + (
            f"; and {len(out.blocked) - 5} more" if len(out.blocked) > 5 else ""
        )
        update: dict[str, Any] = {"message": f"{len(out.left)} pods to go: {message}"}
    else:
        what = "drained" if action.drain else "cordoned"
        cordon = "cordoned" if cordoned else "was cordoned already (not by this Job)"
        update = {"drained_at": now, "message": f"node {cordon}, {what}"}
    status = previous.model_copy(
        update={"cordoned": cordoned, "drain_started_at": started, **update}
    )
    await _record(kube, job.namespace, action.execution, status)


async def release_node(kube: Kube, job: JobInfo, action: ReleaseNode, now: datetime) -> None:
    """Uncordon the node if this Job cordoned it; lift its quarantine label."""
    previous = await _maintenance(kube, job.namespace, action.execution)
    if previous.released_at is not None:
        return
    found = await kube.get(path_of("nodes", None, action.node))
    if found is not None:
        meta = found["metadata"]
        patch: dict[str, Any] = {}
        if _cordoned_by(found, job):
            patch = {"metadata": {"annotations": {ANNOTATION_CORDONED_BY: None}},
                     "spec": {"unschedulable": None}}  # fmt: skip
        if (meta.get("labels") or {}).get(LABEL_QUARANTINED) == _quarantine(job):
            patch.setdefault("metadata", {})["labels"] = {LABEL_QUARANTINED: None}
        if patch:
            await kube.merge_patch(path_of("nodes", None, action.node), patch)
    released = "uncordoned" if previous.cordoned else "left as it was (not cordoned by this Job)"
    await _record(kube, job.namespace, action.execution, previous.model_copy(update={
        "released_at": now, "quarantined": False, "message": f"node {released}"}))  # fmt: skip


async def quarantine_node(kube: Kube, job: JobInfo, action: QuarantineNode) -> None:
    """Label the node (it stays cordoned) and record it."""
    previous = await _maintenance(kube, job.namespace, action.execution)
    if previous.quarantined or previous.released_at is not None:
        return  # done already, or released by a person since
    patch = {"metadata": {"labels": {LABEL_QUARANTINED: _quarantine(job)}}}
    await kube.merge_patch(path_of("nodes", None, action.node), patch)
    await _record(kube, job.namespace, action.execution, previous.model_copy(update={
        "quarantined": True, "message": "the execution failed: node kept cordoned, quarantined"}))  # fmt: skip


async def _maintenance(kube: Kube, namespace: str, execution: str) -> MaintenanceStatus:
    """The execution's maintenance status as stored (read fresh: the cache may lag a write of
    the last pass)."""
    found = await kube.get(path_of("executions", namespace, execution)) or {}
    stored = (found.get("status") or {}).get("maintenance")
    return MaintenanceStatus.model_validate(stored) if stored else MaintenanceStatus()


async def _record(kube: Kube, namespace: str, execution: str, status: MaintenanceStatus) -> None:
    path = path_of("executions", namespace, execution, "status")
    await kube.merge_patch(path, {"status": {"maintenance": status.to_api()}})
