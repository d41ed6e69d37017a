"""Versions of a Job: a change to `type`, `template` or `config` makes a new one.

Each version is kept as an apps/v1 ControllerRevision, as the DaemonSet controller keeps its
history: the revision's `data` holds what the version runs, its `revision` is the version
number and a label holds the content hash. Re-applying an old spec (a GitOps revert) finds the
old version by its hash and reuses its number, so "version 3" always means the same thing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from nodewave import API_VERSION
from nodewave.core.execution.podspec import build_owner_reference
from nodewave.core.vocabulary.naming import (
    ANNOTATION_JOB,
    LABEL_JOB,
    LABEL_VERSION,
    LABEL_VERSION_HASH,
    build_revision_name,
    label_value,
)
from nodewave.core.vocabulary.snapshot import JobInfo, RevisionInfo, VersionSpec
from nodewave.models.job import JobSpec


def build_version_content(spec: JobSpec) -> dict[str, Any]:
    return {"type": spec.type.value, "template": spec.template, "config": spec.config}


def hash_version(content: Mapping[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))  # JSON from the API
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class VersionPlan:
    current: VersionSpec
    create: RevisionInfo | None
    """A revision to store, when the spec's content is new."""
    delete: tuple[str, ...]
    """Revisions beyond the history limit (never the current or the stable one)."""
    known: Mapping[int, VersionSpec]
    """Every version by number, the current one included (a pass reads executions of any)."""


def select_owned(revisions: Iterable[RevisionInfo], job_uid: str) -> list[RevisionInfo]:
    """The revisions this Job controls: its history, which it may prune. One that only carries
    the Job's annotation (a tenant's own object, or a former Job's of the same name the garbage
    collector has not removed yet) is neither its history nor the operator's to delete. A Job
    not created yet (`kubectl nodewave plan` of a new one, uid "") owns none."""
    return [r for r in revisions if job_uid and r.owner_uid == job_uid]


def plan_versions(
    spec: JobSpec, revisions: Iterable[RevisionInfo], stable: int | None, job_name: str
) -> VersionPlan:
    revs = sorted(revisions, key=lambda r: r.number)
    content = build_version_content(spec)
    digest = hash_version(content)
    match = next((r for r in reversed(revs) if r.hash == digest), None)
    create = None
    if match is None:
        number = (revs[-1].number + 1) if revs else 1
        match = create = RevisionInfo(
            build_revision_name(job_name, digest), number, digest, content
        )
        revs.append(create)
    keep = {match.number, stable}
    old = [r for r in revs if r.number not in keep]
    excess = len(old) - spec.revision_history_limit
    delete = tuple(r.name for r in old[: max(0, excess)])
    known = {r.number: r.to_version() for r in revs}
    # The current version's content is the spec's (the hashes match): its config is at hand
    # even when its revision's was not kept in memory.
    current = VersionSpec(match.number, spec.type, spec.template, spec.config, match.name)
    known[current.number] = current
    return VersionPlan(current, create, delete, known)


def build_revision(job: JobInfo, rev: RevisionInfo) -> dict[str, Any]:
    """The ControllerRevision that stores a new version, owned by the Job."""
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": rev.name,
            "namespace": job.namespace,
            "labels": {
                LABEL_JOB: label_value(job.name),
                LABEL_VERSION: str(rev.number),
                LABEL_VERSION_HASH: rev.hash,
            },
            "annotations": {ANNOTATION_JOB: job.name},
            "ownerReferences": [build_owner_reference(API_VERSION, "Job", job.name, job.uid)],
        },
        "revision": rev.number,
        "data": dict(rev.data),
    }
