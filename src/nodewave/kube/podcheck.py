"""Whether the API server would admit a version's pod, asked before any node is touched: a
server-side dry-run create (`dryRun=All`) of the very pod the operator would create, in the
Job's namespace, so it passes through validation and every admission plugin and policy there
(Pod Security, ResourceQuota, LimitRange, the ServiceAccount, ValidatingAdmissionPolicies,
webhooks) and nothing is stored (docs/design.md §3.8).

One dry-run per version, not per node: the pods of a version differ only in their name, the
node they are pinned to and the labels naming it, which no admission rule of a namespace tells
apart in practice. It is asked for a version that has no execution yet (`needs_pod_check`);
once one exists the version was admitted, and a refused create is reported for that
execution instead. A refusal is asked again (the pass is woken) after `RECHECK_SECONDS`, then
twice as long each time up to `MAX_RECHECK_SECONDS`, each Job's times stretched by up to half
by its name so that Jobs refused together do not come back together: a quota raised or a
ServiceAccount created lets the rollout start without a new version, and a thousand refused
Jobs cost the API server a few dry-runs a second, not a hundred. An admission is remembered for
the version while the namespace's labels (its Pod Security level) stay the same; a change of
those labels asks again at once.

Asked first, at the same moment and with the same rechecks: whether the name of the version's
ConfigMap is free (or this Job's). A ConfigMap of that name that no nodewave Job of this name
controls is someone else's: it is never replaced, nor mounted into the fleet's pods, and the
version is refused (`ConfigMapConflict`) until it is gone.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from nodewave.core.execution.podspec import (
    build_pod,
    build_unmarked_pod,
    evaluate_configmap_conflict,
)
from nodewave.core.job.planner import needs_pod_check, select_targets
from nodewave.core.job.selector import SelectorError, build_selector
from nodewave.core.vocabulary import reasons as R
from nodewave.core.vocabulary.actions import CreatePod
from nodewave.core.vocabulary.naming import build_configmap_name, build_execution_name
from nodewave.core.vocabulary.snapshot import JobInfo, PodRefusal, Snapshot, VersionSpec
from nodewave.kube.client import Kube, KubeError, path_of

log = logging.getLogger("nodewave.podcheck")

RECHECK_SECONDS = 15.0
"""A refused version's pod is dry-run again after this long, then twice as long each time."""
MAX_RECHECK_SECONDS = 300.0
MAX_WORDS = 1024
"""Characters of the API server's message kept (conditions, Events, status)."""
REFUSALS = frozenset({400, 403, 404, 422})
"""Statuses that are the API server's verdict on the pod (invalid, forbidden by an admission
plugin or policy, its namespace gone); anything else (unreachable, 5xx, 429) is no verdict and
is asked again next pass."""
DRY_RUN_INCARNATION = "dryrun"
"""The incarnation the dry-run pod carries: the execution does not exist yet, and nothing the
dry-run makes is stored."""


def build_dry_run_pod(
    job: JobInfo, version: VersionSpec, node: str, marked: bool = True
) -> dict[str, object]:
    """The pod the operator would create for `version` on `node`, as it would create it;
    without the operator's marks unless `marked` (a user's dry-run, which the chart's policy
    would refuse for them alone)."""
    name = build_execution_name(job.name, version.number, node)
    action = CreatePod(name, "", node, version.number, 0, None, DRY_RUN_INCARNATION)
    pod = build_pod(job, version, action, job.spec.effective_restart_policy)
    return pod if marked else build_unmarked_pod(pod)


def build_refusal_words(e: KubeError) -> str | None:
    """The API server's words when `e` is its verdict on a pod (capped), else None: what the
    dry-run and a real create both report."""
    return (e.message or str(e))[:MAX_WORDS] if e.status in REFUSALS else None


async def find_configmap_conflict(kube: Kube, job: JobInfo, version: VersionSpec) -> str | None:
    """Why the version's ConfigMap name is someone else's, or None (free, or the Job's)."""
    path = path_of("configmaps", job.namespace, build_configmap_name(job.name, version.number))
    found = await kube.get(path)
    return None if found is None else evaluate_configmap_conflict(found, job)


async def check_version(
    kube: Kube, job: JobInfo, version: VersionSpec, node: str, marked: bool = True
) -> PodRefusal | None:
    """Why the version's pods may not be created, or None; KubeError when the API server gave
    no verdict."""
    conflict = await find_configmap_conflict(kube, job, version)
    if conflict is not None:
        return PodRefusal(R.CONFIG_MAP_CONFLICT, conflict)
    words = await dry_run_pod(kube, job, version, node, marked)
    if words is None:
        return None
    return PodRefusal(R.POD_REFUSED, f"the API server refuses its pod: {words}")


async def dry_run_pod(
    kube: Kube, job: JobInfo, version: VersionSpec, node: str, marked: bool = True
) -> str | None:
    """None when the API server admits the pod, else its words (capped); KubeError when it
    gave no verdict."""
    try:
        await kube.request(
            "POST",
            path_of("pods", job.namespace),
            build_dry_run_pod(job, version, node, marked),
            query={"dryRun": "All"},
        )
    except KubeError as e:
        if e.status == 409:  # a pod of that name exists: it passed admission to get there
            return None
        words = build_refusal_words(e)
        if words is None:
            raise
        return words
    return None


@dataclass(frozen=True, slots=True)
class _Verdict:
    refusal: PodRefusal | None
    due: datetime | None
    """When a refusal is asked again (None: an admission, kept)."""
    refusals: int = 0
    """Refusals in a row so far."""


def evaluate_recheck_seconds(job: str, refusals: int) -> float:
    """How long after its `refusals`-th refusal in a row a Job's version is asked again: 15 s
    doubling to 5 min, stretched by a factor in [1, 1.5) from the Job's name."""
    spread = 1 + int(hashlib.sha256(job.encode()).hexdigest()[:8], 16) / 2**33
    return min(RECHECK_SECONDS * 2 ** max(refusals - 1, 0) * spread, MAX_RECHECK_SECONDS)


@dataclass
class PodChecker:
    """The dry-run verdicts of the versions of every Job, kept between passes."""

    kube: Kube
    clock: Callable[[], datetime]
    marked: bool = True
    """Dry-run the pods with the operator's marks; False for a user's (`plan`)."""
    _verdicts: dict[tuple[str, str, str, int, str], _Verdict] = field(default_factory=dict)
    """(namespace, Job, its uid, version, the namespace's labels) → the verdict."""

    async def refusal(
        self,
        job: JobInfo,
        version: VersionSpec,
        node: str,
        namespace_labels: Mapping[str, str],
    ) -> PodRefusal | None:
        """Why `version`'s pods (asked on `node`) may not be created, or None (admitted, or no
        verdict yet); only this verdict of the Job is kept."""
        labels = ",".join(f"{k}={v}" for k, v in sorted(namespace_labels.items()))
        key = (job.namespace, job.name, job.uid, version.number, labels)
        # The Job's other versions, or its namespace's former labels, are of no more use.
        self.forget(job.namespace, job.name, keep=key)
        verdict = self._verdicts.get(key)
        now = self.clock()
        if verdict is None or (verdict.due is not None and now >= verdict.due):
            try:
                refusal = await check_version(self.kube, job, version, node, self.marked)
            except KubeError as e:
                log.warning("%s/%s: dry-run of version %d's pod: %s", job.namespace,
                            job.name, version.number, e)  # fmt: skip
                return verdict.refusal if verdict is not None else None
            verdict = self._verdicts[key] = self._record(job.name, verdict, refusal, now)
        return verdict.refusal

    @staticmethod
    def _record(
        job: str, before: _Verdict | None, refusal: PodRefusal | None, now: datetime
    ) -> _Verdict:
        if refusal is None:
            return _Verdict(None, None)
        refusals = (before.refusals if before is not None else 0) + 1
        wait = timedelta(seconds=evaluate_recheck_seconds(job, refusals))
        return _Verdict(refusal, now + wait, refusals)

    def recheck_at(self, namespace: str, name: str) -> datetime | None:
        """When the Job's refused version is asked again (None: nothing refused)."""
        due = [v.due for k, v in self._verdicts.items() if k[:2] == (namespace, name) and v.due]
        return min(due) if due else None

    async def refusals_for(self, snap: Snapshot) -> dict[int, PodRefusal]:
        """The API server's verdict on the current version's pod while it has no execution,
        asked on the first node the Job selects: what a pass and `kubectl nodewave plan` use."""
        if not needs_pod_check(snap.current.number, snap.executions):
            return {}
        try:
            targets, _ = select_targets(snap, build_selector(snap.job.spec.selector))
        except SelectorError:
            return {}  # the pass refuses the spec itself
        if not targets:
            return {}  # no node selected: nothing to create, nothing asked
        refusal = await self.refusal(snap.job, snap.current, targets[0], snap.namespace_labels)
        return {snap.current.number: refusal} if refusal is not None else {}

    def forget(self, namespace: str, name: str, keep: object = None) -> None:
        """The Job's verdicts go (all of them when it is gone; all but `keep` otherwise)."""
        self._verdicts = {k: v for k, v in self._verdicts.items()
                          if k[:2] != (namespace, name) or k == keep}  # fmt: skip
