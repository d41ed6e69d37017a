"""Image pre-pull (rollout.prePull, docs/design.md §3.3): the next wave's nodes pull the new
version's images before the wave takes them, so a node's switch costs a container start, not
a download, and a pull that fails is known before anything on that node stopped.

How a pull is done and read (the pod is `podspec.build_pull_pod`): one pod per node, pinned
there, its containers the template's images with `/` as their command, a directory in every
image, so no file of the image can be run by it. The kubelet pulls each image, creates the
container, and the start fails (`StartError`): the image is on the node. Nothing of the
workload runs, and an image with no shell works.

- `evaluate_pull` reads the pod: Pulled once every container got past its pull (terminated,
  running, or waiting for any reason but the pull's own), Failed while one waits with a pull
  failure (ErrImagePull, ImagePullBackOff, InvalidImageName...) or when the kubelet refused
  the pod, else Pulling. Failed means failing now: the kubelet retries, and a registry's
  hiccup clears by itself.
- `evaluate_pre_pull_begun`: Immediately, from the rollout's start (the first wave's nodes
  before it starts, pulling while any gate holds it); AfterFirstWave, once the first wave (a
  canary's) has settled.
- `evaluate_pull_wait`: a wave waits while its nodes pull or fail to (the kubelet retrying),
  until waitSeconds after it was first ready; a failure that cannot clear (an invalid name,
  `imagePullPolicy: Never` without the image) does not wait to count.
- `evaluate_pull_failure`: pulls still failing once the wait is over (or failing for good)
  count against the failure budget as if the version had failed on those nodes (their wave
  would fail them), with the canary's rule and the every-node rule, so the rollout fails
  before the wave takes a node, not after.
- `build_pre_pull_status`: what `status.rollout.prePull` shows, and the Event of a node's
  pull failing (the pass it is seen, while the wave before still runs).

Worked example (waves of 2, prePull Immediately, waitSeconds 300): the rollout starts; wave 1
is n0, n1, so pods pull on n0 and n1 and wave 1 waits (PrePulling, until now + 300 s). Both
pulled: wave 1 starts, and pods pull on n2, n3 (wave 2) while wave 1 is validated. Wave 1
validated, n2 pulled and n3 failing (ErrImagePull, announced at once): wave 2 waits for n3's
retries. Still failing 300 s later: with a budget of 1 failed node wave 2 starts (n3's own
pull retries again); with a budget of 0 the rollout fails before wave 2, and n2, n3 never
stop what they run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from nodewave.core.vocabulary import reasons as R
from nodewave.core.vocabulary.actions import EventIntent
from nodewave.core.vocabulary.snapshot import PodInfo
from nodewave.models.job import (
    MAX_PULL_FAILURES_LISTED,
    PrePull,
    PrePullStart,
    PrePullStatus,
    PullFailure,
)

PULL_FAILURES = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "RegistryUnavailable",
        "SignatureValidationFailed",
    }
)
"""A container's waiting reasons that say its image could not be pulled (the kubelet's
pkg/kubelet/images/types.go)."""
FOR_GOOD = frozenset({"InvalidImageName", "ErrImageNeverPull"})
"""Pull failures no retry clears: they count without waiting."""
BEFORE_PULL = frozenset({"ContainerCreating", "PodInitializing"})
"""Waiting reasons of a container whose image is not there yet."""


class PullState(StrEnum):
    PULLING = "Pulling"
    PULLED = "Pulled"
    FAILED = "Failed"


@dataclass(frozen=True, slots=True)
class Pull:
    """How the pre-pull on one node fares."""

    state: PullState
    reason: str = ""
    message: str = ""


PULLING = Pull(PullState.PULLING)
PULLED = Pull(PullState.PULLED)


def evaluate_pull(pod: PodInfo, images: int) -> Pull:
    """The pull a pull-only pod of `images` containers shows (the module's rules)."""
    failed = next((c for c in pod.containers if c.waiting_reason in PULL_FAILURES), None)
    if failed is not None:
        return Pull(PullState.FAILED, failed.waiting_reason or "", failed.waiting_message or "")
    past = [c for c in pod.containers if c.waiting_reason not in BEFORE_PULL]
    if len(past) >= images and images > 0:
        return PULLED
    if pod.phase == "Failed":  # refused by the kubelet (admission) before any pull
        return Pull(PullState.FAILED, pod.reason or "Failed", pod.message or "")
    return PULLING


def evaluate_pre_pull_begun(spec: PrePull, next_wave: int, first_wave_settled: bool) -> bool:
    """Whether the nodes of wave `next_wave` pull now."""
    if spec.start is PrePullStart.IMMEDIATELY:
        return True
    return next_wave > 2 or (next_wave == 2 and first_wave_settled)


@dataclass(frozen=True, slots=True)
class PullWait:
    """What the wave about to start waits for: nodes still pulling, nodes failing to (the
    kubelet retrying), and nodes failing for good."""

    pulling: list[str]
    failing: list[str]
    for_good: list[str]

    @property
    def waits(self) -> bool:
        return bool(self.pulling or self.failing)


def evaluate_pull_wait(nodes: Sequence[str], pulls: Mapping[str, Pull]) -> PullWait:
    """How the pulls of a wave's `nodes` stand (a node with no pull pod yet is pulling)."""
    pulling: list[str] = []
    failing: list[str] = []
    for_good: list[str] = []
    for n in nodes:
        pull = pulls.get(n, PULLING)
        if pull.state is PullState.PULLING:
            pulling.append(n)
        elif pull.state is PullState.FAILED:
            (for_good if pull.reason in FOR_GOOD else failing).append(n)
    return PullWait(pulling, failing, for_good)


def evaluate_pull_failure(
    wave: int,
    nodes: Sequence[str],
    pulls: Mapping[str, Pull],
    *,
    failed_before: int,
    budget: int,
    canary: bool,
) -> str:
    """Why the rollout fails before wave `wave` (its `nodes`) starts, or "": the failed pulls
    of `pulls` with the `failed_before` nodes that failed already pass the `budget`, the wave
    is a `canary` with any failed pull, or every node of it failed to pull."""
    failed = [n for n in nodes if (p := pulls.get(n)) is not None and p.state is PullState.FAILED]
    if not failed:
        return ""
    first = pulls[failed[0]]
    what = (
        f"the images failed to pull on {len(failed)} of the {len(nodes)} nodes of wave {wave} "
        f"before it started ({failed[0]}: {first.reason}: {first.message[:200]})"
    )
    if canary:
        return f"{what}: the canary"
    if len(failed) == len(nodes):
        return f"{what}: every node of the wave"
    if failed_before + len(failed) > budget:
        return f"{what}: with {failed_before} failed already, past the budget of {budget}"
    return ""


def build_pre_pull_status(
    wave: int,
    nodes: Sequence[str],
    pulls: Mapping[str, Pull],
    before: PrePullStatus | None,
    version: int,
) -> tuple[PrePullStatus, list[EventIntent]]:
    """The status of wave `wave`'s pre-pull on `nodes`, and its Events: a Warning naming the
    nodes whose pull failed since `before`, and one Normal once every node pulled."""
    failed = [
        PullFailure(node=n, reason=p.reason[:63], message=p.message[:512])
        for n in nodes
        if (p := pulls.get(n)) is not None and p.state is PullState.FAILED
    ]
    pulled = sum(1 for n in nodes if pulls.get(n, PULLING).state is PullState.PULLED)
    same = before is not None and before.wave == wave
    status = PrePullStatus(
        wave=wave,
        nodes=len(nodes),
        pulled=pulled,
        failed_count=len(failed),
        failed=failed[:MAX_PULL_FAILURES_LISTED],
        wait_until=before.wait_until if same and before is not None else None,
    )
    events = []
    known = {f.node for f in before.failed} if same and before is not None else set()
    new = [f for f in status.failed if f.node not in known]
    unlisted = len(failed) - len(status.failed)  # past the 20 listed: counted, not named
    if before is not None and same:
        unlisted -= before.failed_count - len(before.failed)
    if new or unlisted > 0:
        shown = ", ".join(f"{f.node} ({f.reason})" for f in new[:10])
        more = f" and {len(new) - 10} more" if len(new) > 10 else ""
        if unlisted > 0:
            more += f"{', ' if new else ''}{unlisted} nodes not listed"
        events.append(EventIntent(
            "Warning", R.PRE_PULL_FAILED,
            f"version {version}, wave {wave}: the images failed to pull on {shown}{more} "
            f"({len(failed)} of {len(nodes)} in all): {(new or failed)[0].message[:300]}",
            wave,
        ))  # fmt: skip
    return status, events
