"""Deterministic names and label values.

An execution's name is a function of (job, version, node) alone, so a crashed or restarted
operator that plans the same execution again gets `AlreadyExists`, never a duplicate. Its
pod has the same name. Node and job names may be 253 characters but label values only 63,
so long ones are shortened with a hash that keeps them unique.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

LABEL_JOB = "nodewave.io/job"
LABEL_NODE = "nodewave.io/node"
LABEL_VERSION = "nodewave.io/version"
LABEL_VERSION_HASH = "nodewave.io/version-hash"
"""On a ControllerRevision: the hash of the version's content (`versions.hash_version`)."""
LABEL_EXECUTION = "nodewave.io/execution"
LABEL_PRE_PULL = "nodewave.io/pre-pull"
"""On a pull-only pod (rollout.prePull): the version whose images it pulls."""
ANNOTATION_STOPPED_BY = "nodewave.io/stopped-by"
ANNOTATION_JOB = "nodewave.io/job"
"""The Job's full name on pods and revisions (the label may be shortened to fit 63 characters)."""
LABEL_WAVE = "nodewave.io/wave"
"""On an execution's pod: the rollout wave that placed it (0: outside a wave)."""
ANNOTATION_NODE = "nodewave.io/node"
"""On an execution's pod: its node's full name (the label may be shortened)."""
ANNOTATION_PREVIOUS = "nodewave.io/previous-execution"
"""On an execution's pod: the execution it replaces on its node, when there is one."""
ANNOTATION_INCARNATION = "nodewave.io/incarnation"
"""On an execution's pod: its execution's `spec.incarnation` (which pod is whose, when an
execution of the same name was deleted and made again before its pod was gone)."""
STOPPED_BY_OPERATOR = "operator"
MANAGED_BY = "nodewave"

_LABEL_VALUE_OK = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def label_value(text: str) -> str:
    """`text` when it is a valid label value, else a 63-character prefix-and-hash of it."""
    if len(text) <= 63 and _LABEL_VALUE_OK.fullmatch(text):
        return text
    prefix = re.sub(r"[^A-Za-z0-9_.-]", "-", text[:52]).strip("-_.")
    digest = _digest(text, 10)
    return f"{prefix}-{digest}" if prefix else digest


def build_execution_name(job: str, version: int, node: str) -> str:
    """`<job>-v<version>-<node>-<hash>`, or `<job>-v<version>-<hash>` when that is too long.

    The hash of the whole (job, version, node) keeps names of different jobs apart even when
    their readable parts run together ("a-v1" + "b" vs "a" + "v1-b"). The name stays within 63
    characters, a DNS label, so the pod's hostname is the execution's name.
    """
    digest = _digest(f"{job}\x00{version}\x00{node}", 10)
    readable = f"{job}-v{version}-{node}-{digest[:6]}"
    if len(readable) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", readable):
        return readable
    suffix = f"-v{version}-{digest}"
    return f"{job[: 63 - len(suffix)].rstrip('-.')}{suffix}"


def build_pull_pod_name(job: str, version: int, node: str) -> str:
    """`<job>-pull-v<version>-<hash>`: the pull-only pod of (job, version, node) for
    rollout.prePull, one per node as an execution's (its hash is of a different text, so it
    is never an execution's name)."""
    digest = _digest(f"pull\x00{job}\x00{version}\x00{node}", 10)
    suffix = f"-pull-v{version}-{digest}"
    return f"{job[: 63 - len(suffix)].rstrip('-.')}{suffix}"


def build_configmap_name(job: str, version: int) -> str:
    suffix = f"-config-v{version}"
    return f"{job[: 253 - len(suffix)]}{suffix}"


def build_revision_name(job: str, spec_hash: str) -> str:
    return f"{job[: 253 - 11]}-{spec_hash[:10]}"


def build_incarnation(job_uid: str, execution: str, now: datetime) -> str:
    """The `incarnation` of an execution created at `now`: another for each time an execution
    of the same name is created (a retry, a restart), the same whenever the same pass is
    planned again (pure code: no randomness)."""
    return _digest(f"{job_uid}\x00{execution}\x00{now.isoformat()}", 16)
