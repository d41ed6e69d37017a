"""Operations on one Job that both the plugin's commands and the dashboard's buttons perform
(promote, pause, resume, abort) and the reads they share: the same checks and the same
messages from either.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from nodewave.cli.errors import PluginError
from nodewave.core.execution.record import (
    ANNOTATION_CANCEL,
    build_cancel_entries,
    build_cancel_entry,
    build_cancel_value,
)
from nodewave.core.rollout.engine import (
    ABORTABLE,
    ANNOTATION_ABORT,
    ANNOTATION_PROMOTE,
    build_abort_value,
    build_promote_value,
)
from nodewave.core.views.gate import Gate, evaluate_gate
from nodewave.kube.client import Kube, KubeError, path_of
from nodewave.models.job import JobStatus, JobType, RolloutPhase

TIMED_OUT = "the API server did not answer within the request timeout (--request-timeout)"


async def get_object(
    kube: Kube, path: str, what: str, query: dict[str, str] | None = None
) -> dict[str, Any]:
    try:
        found = await kube.get(path, query)
    except TimeoutError as e:  # an OSError too: said before the one below
        raise PluginError(TIMED_OUT) from e
    except OSError as e:
        raise PluginError(f"no cluster: cannot reach the API server ({e})") from e
    if found is None:
        raise PluginError(f"{what} not found")
    return found


async def get_job(kube: Kube, ns: str, name: str) -> dict[str, Any]:
    return await get_object(kube, path_of("jobs", ns, name), f'Job "{name}" in namespace "{ns}"')


def read_job_status(job: dict[str, Any]) -> JobStatus:
    try:
        return JobStatus.model_validate(job.get("status") or {})
    except ValidationError as e:
        raise PluginError(f"cannot read the Job's status: {e}") from e


def evaluate_job(job: dict[str, Any]) -> Gate:
    status = read_job_status(job) if job.get("status") else None
    completes = JobType(job["spec"]["type"]).runs_to_completion
    return evaluate_gate(job["metadata"].get("generation", 1), status, completes=completes)


async def patch_job(kube: Kube, ns: str, job: str, patch: dict[str, Any]) -> dict[str, Any]:
    await get_job(kube, ns, job)
    result = await kube.merge_patch(path_of("jobs", ns, job), patch)
    if result is None:
        raise PluginError(f'Job "{job}" disappeared')
    return result


async def promote_job(kube: Kube, ns: str, name: str, full: bool = False) -> str:
    """Promote the current version past the gate its rollout waits at: the canary, or the
    pause of rollout.steps after the current wave (or, `full`, every node left at once)."""
    job = await get_job(kube, ns, name)
    status = job.get("status") or {}
    version = status.get("currentVersion")
    if version is None:
        raise PluginError(f'Job "{name}" has no version yet')
    rollout = status.get("rollout") or {}
    wave = rollout.get("wave", 0) if rollout.get("version") == version else 0
    value = build_promote_value(version, wave, full)
    await patch_job(kube, ns, name, {"metadata": {"annotations": {ANNOTATION_PROMOTE: value}}})
    what = (
        "every remaining node in one wave"
        if full
        else f"past wave {wave}"
        if wave > 1
        else "past its canary (or first wave)"
    )
    return f"job.nodewave.io/{name} version {version} promoted: {what}"


async def pause_job(kube: Kube, ns: str, name: str, paused: bool) -> str:
    await patch_job(kube, ns, name, {"spec": {"rollout": {"paused": paused}}})
    return f"job.nodewave.io/{name} {'paused' if paused else 'resumed'}"


async def abort_job(kube: Kube, ns: str, job: str) -> str:
    """The abort annotation names the rollout in flight (its version and start), so it never
    stops a later one; the spec is not touched, so a Job kept in Git does not drift."""
    status = read_job_status(await get_job(kube, ns, job))
    rs, name = status.rollout, f"job.nodewave.io/{job}"
    if rs is None or rs.version is None or rs.started_at is None or status.current_version is None:
        raise PluginError(f"{name} has no rollout to abort")
    if rs.version != status.current_version or status.stable_version == rs.version:
        raise PluginError(f"{name} has no rollout to abort: version {status.current_version} "
                          "is stable (`kubectl nodewave rollback` returns to an earlier one)")  # fmt: skip
    if rs.phase is RolloutPhase.ABORTED:
        return f"{name} version {rs.version} is aborted already: {rs.message}"
    if rs.phase not in ABORTABLE:
        raise PluginError(f"{name} cannot be aborted: it is {rs.phase}: {rs.message}")
    value = build_abort_value(rs.version, rs.started_at)
    await patch_job(kube, ns, job, {"metadata": {"annotations": {ANNOTATION_ABORT: value}}})
    back = (
        f"every node returns to version {status.stable_version} in waves"
        if status.stable_version is not None
        else "it is the Job's first version: no node starts it any more"
    )
    return (f"{name} version {rs.version} aborted: {back}; the spec is unchanged. "
            f"`kubectl nodewave retry {job}` rolls it out again.")  # fmt: skip


async def set_cancel(
    kube: Kube, ns: str, job: str, execution: str, incarnation: str | None
) -> None:
    """Ask the operator to stop the run `incarnation` of `execution` (its entry added to the
    Job's `record.ANNOTATION_CANCEL`), or, None, take back every request for `execution`.
    Others may change the annotation at the same time: every entry is written back as it was
    (whatever the operator reads of them), with the resourceVersion read, read again on a
    conflict."""
    for _ in range(5):
        body = await kube.get(path_of("jobs", ns, job))
        if body is None:
            return  # gone: nothing of it asks anything
        meta = body["metadata"]
        entries = build_cancel_entries((meta.get("annotations") or {}).get(ANNOTATION_CANCEL))
        kept = [e for e in entries if e.split(":", 1)[0] != execution]
        wanted = (
            kept if incarnation is None else [*kept, build_cancel_entry(execution, incarnation)]
        )
        if sorted(wanted) == sorted(entries):
            return
        patch = {"metadata": {"resourceVersion": meta["resourceVersion"],
                              "annotations": {ANNOTATION_CANCEL: build_cancel_value(wanted)}}}  # fmt: skip
        try:
            await kube.merge_patch(path_of("jobs", ns, job), patch)
            return
        except KubeError as e:
            if e.status != 409:
                raise
    raise PluginError(f"job.nodewave.io/{job} kept changing: cancel not written, try again")
