"""Build the pod of an execution and the ConfigMap of a version (pure: dicts out).

The pod is pinned to its node the way the DaemonSet controller pins its pods: a required node
affinity on `metadata.name` (a field, not a label, so relabelling cannot move it), and the
scheduler binds it, so resources, preemption and scheduling gates apply as usual. Like
DaemonSet pods it tolerates the node conditions that would otherwise evict or exclude it:
nodewave decides itself (Lost, after a grace period) what a NotReady node means.

The Job's `config` reaches the workload twice: as `/etc/nodewave/config.json` from the
version's ConfigMap, and as the `NODEWAVE_CONFIG` environment variable (JSON), next to
NODEWAVE_JOB, NODEWAVE_VERSION, NODEWAVE_NODE and NODEWAVE_EXECUTION.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from nodewave import API_VERSION, GROUP
from nodewave.core.vocabulary.actions import CreateExecution, CreatePod
from nodewave.core.vocabulary.naming import (
    ANNOTATION_INCARNATION,
    ANNOTATION_JOB,
    ANNOTATION_NODE,
    ANNOTATION_PREVIOUS,
    LABEL_EXECUTION,
    LABEL_JOB,
    LABEL_NODE,
    LABEL_PRE_PULL,
    LABEL_VERSION,
    LABEL_WAVE,
    MANAGED_BY,
    build_configmap_name,
    build_pull_pod_name,
    label_value,
)
from nodewave.core.vocabulary.snapshot import JobInfo, VersionSpec
from nodewave.models.base import RESERVED_PREFIX
from nodewave.models.job import RestartPolicy

CONFIG_DIR = "/etc/nodewave"
CONFIG_VOLUME = "nodewave-config"

# The DaemonSet controller's tolerations (pkg/controller/daemon/util), for the same reasons.
DAEMON_TOLERATIONS: tuple[dict[str, str], ...] = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
)


def build_labels(job: str, version: int, node: str) -> dict[str, str]:
    return {
        LABEL_JOB: label_value(job),
        LABEL_VERSION: str(version),
        LABEL_NODE: label_value(node),
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def build_owner_reference(api_version: str, kind: str, name: str, uid: str) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def read_config(version: VersionSpec) -> Mapping[str, Any]:
    """The version's config, which must have been read from its revision (never an empty one
    in its place: every pod of the version would run without it)."""
    if version.config is None:
        raise ValueError(
            f"version {version.number}'s config was not read from its revision {version.revision}"
        )
    return version.config


def build_configmap(job: JobInfo, version: VersionSpec) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": build_configmap_name(job.name, version.number),
            "namespace": job.namespace,
            "labels": {
                LABEL_JOB: label_value(job.name),
                LABEL_VERSION: str(version.number),
                "app.kubernetes.io/managed-by": MANAGED_BY,
            },
            "ownerReferences": [build_owner_reference(API_VERSION, "Job", job.name, job.uid)],
        },
        "data": {"config.json": json.dumps(dict(read_config(version)), sort_keys=True, indent=2)},
    }


def evaluate_configmap_conflict(found: Mapping[str, Any], job: JobInfo) -> str | None:
    """None when the ConfigMap found under a version's name is the Job's to use or replace:
    controlled by this Job, or by a former Job of the same name (deleted and created again,
    its ConfigMap not yet collected). Anything else is someone else's, which the operator
    neither deletes nor mounts into the fleet's pods: why, for the Job's condition."""
    meta = found.get("metadata") or {}
    refs: list[Mapping[str, Any]] = meta.get("ownerReferences") or []
    owner: Mapping[str, Any] = next((r for r in refs if r.get("controller")), {})
    if (
        owner.get("kind") == "Job"
        and str(owner.get("apiVersion", "")).startswith(f"{GROUP}/")
        and owner.get("name") == job.name
    ):
        return None
    held = f"{owner.get('kind')} {owner.get('name')}" if owner else "no nodewave Job"
    return (
        f"ConfigMap {meta.get('name')} exists and is not this Job's (controlled by {held}): "
        "nodewave neither replaces nor mounts it; delete or rename it"
    )


def _pin_to_node(spec: dict[str, Any], node: str) -> None:
    affinity = spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
        "nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
        ]
    }
    tolerations = spec.setdefault("tolerations", [])
    for t in DAEMON_TOLERATIONS:
        if t not in tolerations:
            tolerations.append(dict(t))


def build_execution(job: JobInfo, action: CreateExecution) -> dict[str, Any]:
    """The Execution an action creates, owned by the Job (its deterministic name makes the
    create idempotent)."""
    spec: dict[str, Any] = {
        "jobName": job.name,
        "jobVersion": action.version,
        "nodeName": action.node,
        "rolloutWave": action.wave,
        "desiredState": action.desired.value,
    }
    if action.previous:
        spec["previousExecution"] = action.previous
    spec["incarnation"] = action.incarnation
    return {
        "apiVersion": API_VERSION,
        "kind": "Execution",
        "metadata": {
            "name": action.name,
            "namespace": job.namespace,
            "labels": build_labels(job.name, action.version, action.node),
            "ownerReferences": [build_owner_reference(API_VERSION, "Job", job.name, job.uid)],
        },
        "spec": spec,
    }


def _unreserved(keys: Mapping[str, str] | None) -> dict[str, str]:
    """The template's labels or annotations without the operator's own (nodewave.io/...):
    what the pod says of its execution is the operator's word, never the Job author's."""
    return {k: v for k, v in (keys or {}).items() if not k.startswith(RESERVED_PREFIX)}


def build_unmarked_pod(pod: Mapping[str, Any]) -> dict[str, Any]:
    """`pod` without the operator's marks (its owner references and nodewave.io/ labels and
    annotations), which the chart's admission policy keeps for the operator alone: the pod a
    user's dry-run can ask about (`kubectl nodewave plan`), every other admission the same."""
    meta = {k: v for k, v in pod["metadata"].items() if k != "ownerReferences"}
    for key in ("labels", "annotations"):
        meta[key] = _unreserved(meta.get(key))
    return {**pod, "metadata": meta}


def _pod_metadata(
    job: JobInfo, version: int, action: CreatePod, template: Mapping[str, Any]
) -> dict[str, Any]:
    """The pod's name, labels, annotations and owner. Labels may be shortened to 63
    characters; the full names go as annotations, so the pod alone says where and what its
    execution is (`record.build_record_spec`). The Job controls it (the garbage collector
    removes it with the Job; the operator itself when its execution goes) and it carries its
    execution's incarnation; an execution made by an earlier release, without one, controls
    its pod as it did then."""
    execution, node = action.execution, action.node
    labels = {
        **_unreserved(template.get("labels")),
        **build_labels(job.name, version, node),
        LABEL_EXECUTION: label_value(execution),
        LABEL_WAVE: str(action.wave),
    }
    annotations = {
        **_unreserved(template.get("annotations")),
        ANNOTATION_JOB: job.name,
        ANNOTATION_NODE: node,
        **({ANNOTATION_PREVIOUS: action.previous} if action.previous else {}),
    }
    if action.incarnation:
        annotations[ANNOTATION_INCARNATION] = action.incarnation
        owner = build_owner_reference(API_VERSION, "Job", job.name, job.uid)
    else:
        owner = build_owner_reference(API_VERSION, "Execution", execution, action.execution_uid)
    return {
        "name": execution,
        "namespace": job.namespace,
        "labels": labels,
        "annotations": annotations,
        "ownerReferences": [owner],
    }


def build_pod(
    job: JobInfo, version: VersionSpec, action: CreatePod, restart_policy: RestartPolicy
) -> dict[str, Any]:
    template = copy.deepcopy(dict(version.template))
    spec: dict[str, Any] = template.get("spec") or {}
    _pin_to_node(spec, action.node)
    spec["restartPolicy"] = restart_policy.value
    spec.setdefault("serviceAccountName", "default")
    env = [
        {"name": "NODEWAVE_JOB", "value": job.name},
        {"name": "NODEWAVE_VERSION", "value": str(version.number)},
        {"name": "NODEWAVE_NODE", "value": action.node},
        {"name": "NODEWAVE_EXECUTION", "value": action.execution},
        {
            "name": "NODEWAVE_CONFIG",
            "value": json.dumps(dict(read_config(version)), sort_keys=True),
        },
    ]
    for container in spec.get("containers", []):
        own = [e for e in container.get("env", []) if not e.get("name", "").startswith("NODEWAVE_")]
        container["env"] = [*own, *env]
        mounts = [m for m in container.get("volumeMounts", []) if m.get("name") != CONFIG_VOLUME]
        container["volumeMounts"] = [
            *mounts,
            {"name": CONFIG_VOLUME, "mountPath": CONFIG_DIR, "readOnly": True},
        ]
    volumes = [v for v in spec.get("volumes", []) if v.get("name") != CONFIG_VOLUME]
    spec["volumes"] = [
        *volumes,
        {
            "name": CONFIG_VOLUME,
            "configMap": {"name": build_configmap_name(job.name, version.number)},
        },
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _pod_metadata(job, version.number, action, template.get("metadata") or {}),
        "spec": spec,
    }


PULL_COMMAND = "/"
"""The command a pull-only pod's containers are given: the root, a directory in every image,
so the container is created (its image pulled) and cannot start (`StartError`), whatever files
the image holds: nothing of it runs."""
_PULL_SIZE = {"cpu": "10m", "memory": "16Mi"}
PULL_RESOURCES = {"requests": _PULL_SIZE, "limits": _PULL_SIZE}
"""What a pull-only container asks for: next to nothing, requests equal to limits, so a
quota that demands both and a LimitRange's ratio take it."""


def plan_pull_images(template: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """The images a version's pods pull, once each, with the pull policy the template gives:
    its init containers' and containers' (an image with `imagePullPolicy: Never` is never
    pulled, so it is left out)."""
    spec = template.get("spec") or {}
    seen: dict[str, str | None] = {}
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        image, policy = c.get("image"), c.get("imagePullPolicy")
        if isinstance(image, str) and image and policy != "Never":
            # Always wins: a container that pulls the image anew must find it anew.
            seen[image] = "Always" if "Always" in (policy, seen.get(image)) else policy
    return list(seen.items())


def build_pull_pod(job: JobInfo, version: VersionSpec, node: str) -> dict[str, Any]:
    """The pull-only pod of `version` on `node` (rollout.prePull, core/rollout/prepull.py):
    each image of the template in a container of its own, with a command none has, so the
    kubelet pulls and creates each and starts none. It runs as nobody with no privilege,
    no token and no service links (restricted Pod Security), takes the template's pull
    secrets, service account (its pull secrets), tolerations and runtime class (so the image
    lands where the workload's will look), and is pinned to the node as an execution's pod."""
    tspec = version.template.get("spec") or {}
    containers = [
        {
            "name": f"pull-{i}",
            "image": image,
            **({"imagePullPolicy": policy} if policy else {}),
            "command": [PULL_COMMAND],
            "resources": copy.deepcopy(PULL_RESOURCES),
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            },
        }
        for i, (image, policy) in enumerate(plan_pull_images(version.template))
    ]
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "dnsPolicy": "Default",
        "terminationGracePeriodSeconds": 0,
        "serviceAccountName": tspec.get("serviceAccountName") or "default",
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "runAsGroup": 65534,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": containers,
    }
    for key in ("imagePullSecrets", "tolerations", "runtimeClassName"):
        if tspec.get(key):
            spec[key] = copy.deepcopy(tspec[key])
    _pin_to_node(spec, node)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": build_pull_pod_name(job.name, version.number, node),
            "namespace": job.namespace,
            "labels": {
                LABEL_JOB: label_value(job.name),
                LABEL_NODE: label_value(node),
                LABEL_PRE_PULL: str(version.number),
                "app.kubernetes.io/managed-by": MANAGED_BY,
            },
            "annotations": {ANNOTATION_JOB: job.name},
            "ownerReferences": [build_owner_reference(API_VERSION, "Job", job.name, job.uid)],
        },
        "spec": spec,
    }
