"""kube/podcheck.py's memory of dry-run verdicts, against a stand-in for the API client: one
dry-run per version, a refusal asked again after a backoff, an admission kept until the
namespace's labels change, no verdict from a status that is none, the pod as it would be made."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from nodewave.core.vocabulary import reasons as R
from nodewave.core.vocabulary.naming import build_configmap_name, build_execution_name
from nodewave.kube.client import KubeError
from nodewave.kube.podcheck import (
    MAX_RECHECK_SECONDS,
    RECHECK_SECONDS,
    PodChecker,
    evaluate_recheck_seconds,
)
from tests.unit import builders
from tests.unit.builders import T0, snapshot


class FakeKube:
    """Answers each dry-run with the next of `answers` (None: admitted, else a KubeError)."""

    def __init__(self, *answers: KubeError | None) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, str, Any, dict[str, str]]] = []
        self.configmaps: dict[str, dict[str, Any]] = {}
        """Path → the ConfigMap found there (the name check asked before each dry-run)."""

    async def get(self, path: str) -> Any:
        return self.configmaps.get(path)

    async def request(
        self, method: str, path: str, body: Any = None, *, query: dict[str, str] | None = None
    ) -> Any:
        self.sent.append((method, path, body, query or {}))
        answer = self.answers.pop(0)
        if answer is not None:
            raise answer
        return body


FORBIDDEN = KubeError(403, "Forbidden", 'pods "x" is forbidden: exceeded quota: q')


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def check(kube: FakeKube, clock: Clock) -> PodChecker:
    return PodChecker(kube, clock)  # type: ignore[arg-type]


def ask(
    checker: PodChecker,
    labels: dict[str, str] | None = None,
    node: str | None = "n1",
    current: int = 1,
) -> dict[int, str]:
    """What a pass asks: the current version's verdict, on the Job's first node (the
    API server's refusals; the reason is checked apart)."""
    snap = snapshot([builders.node(node)] if node else [], current=current)
    found = asyncio.run(checker.refusals_for(replace(snap, namespace_labels=labels or {})))
    assert {r.reason for r in found.values()} <= {R.POD_REFUSED}
    return {n: r.message for n, r in found.items()}


SAID = "the API server refuses its pod: "


def test_the_dry_run_sends_the_pod_the_operator_would_create() -> None:
    kube = FakeKube(None)
    assert ask(check(kube, Clock())) == {}
    [(method, path, body, query)] = kube.sent
    assert (method, path, query) == ("POST", "/api/v1/namespaces/ns/pods", {"dryRun": "All"})
    assert body["metadata"]["name"] == build_execution_name("j", 1, "n1")
    terms = body["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert terms["nodeSelectorTerms"][0]["matchFields"][0]["values"] == ["n1"]


def test_only_the_latest_verdict_of_a_job_is_kept() -> None:
    kube, clock = FakeKube(None, None, None), Clock()
    checker = check(kube, clock)
    ask(checker)
    ask(checker, current=2)
    assert len(checker._verdicts) == 1
    ask(checker)  # version 1 again (a revert in Git): asked anew
    assert len(kube.sent) == 3


def test_an_admission_is_asked_once_while_the_namespace_labels_stay() -> None:
    kube, clock = FakeKube(None, None), Clock()
    checker = check(kube, clock)
    assert ask(checker) == {}
    clock.now += timedelta(hours=1)
    assert ask(checker) == {}
    assert len(kube.sent) == 1
    assert ask(checker, {"pod-security.kubernetes.io/enforce": "restricted"}) == {}
    assert len(kube.sent) == 2


def test_a_refusal_is_kept_then_asked_again_after_the_recheck_period() -> None:
    kube, clock = FakeKube(FORBIDDEN, FORBIDDEN, None), Clock()
    checker = check(kube, clock)
    first = timedelta(seconds=evaluate_recheck_seconds("j", 1))
    assert ask(checker) == {1: SAID + FORBIDDEN.message}
    assert checker.recheck_at("ns", "j") == T0 + first
    clock.now += first - timedelta(seconds=1)
    assert ask(checker) == {1: SAID + FORBIDDEN.message}
    assert len(kube.sent) == 1
    clock.now += timedelta(seconds=1)
    assert ask(checker) == {1: SAID + FORBIDDEN.message}  # asked again, still refused: waits longer
    assert len(kube.sent) == 2
    second = timedelta(seconds=evaluate_recheck_seconds("j", 2))
    assert checker.recheck_at("ns", "j") == clock.now + second
    clock.now += second
    assert ask(checker) == {}  # the quota was raised meanwhile
    assert checker.recheck_at("ns", "j") is None


def test_rechecks_back_off_and_jobs_refused_together_come_back_apart() -> None:
    waits = [evaluate_recheck_seconds("agent", n) for n in range(1, 9)]
    assert RECHECK_SECONDS <= waits[0] < 1.5 * RECHECK_SECONDS
    assert all(b == min(2 * a, MAX_RECHECK_SECONDS) for a, b in itertools.pairwise(waits))
    assert waits[-1] == MAX_RECHECK_SECONDS
    firsts = [evaluate_recheck_seconds(f"fz-{i}", 1) for i in range(50)]
    assert RECHECK_SECONDS <= min(firsts) < max(firsts) < 1.5 * RECHECK_SECONDS
    assert max(firsts) - min(firsts) > RECHECK_SECONDS / 3  # spread, not one instant


@pytest.mark.parametrize(
    ("error", "refused"),
    [
        (KubeError(422, "Invalid", "spec.containers[0]: Invalid value"), True),
        (KubeError(400, "BadRequest", "bad"), True),
        (KubeError(404, "NotFound", 'namespaces "ns" not found'), True),
        (KubeError(409, "AlreadyExists", "exists"), False),  # admitted to get there
        (KubeError(500, "InternalError", "etcd"), None),
        (KubeError(429, "TooManyRequests", "slow down"), None),
        (KubeError(0, "ClientConnectorError", "refused"), None),
    ],
)
def test_which_answers_are_the_api_servers_verdict(error: KubeError, refused: bool | None) -> None:
    kube = FakeKube(error, None)
    checker = check(kube, Clock())
    expected = {1: SAID + error.message} if refused else {}
    assert ask(checker) == expected
    ask(checker)
    assert len(kube.sent) == (2 if refused is None else 1)  # no verdict: asked next pass


def test_the_words_are_capped() -> None:
    kube = FakeKube(KubeError(403, "Forbidden", "x" * 5000))
    assert len(ask(check(kube, Clock()))[1]) == len(SAID) + 1024


def test_no_node_asks_nothing_and_a_forgotten_job_is_asked_again() -> None:
    kube, clock = FakeKube(None, None), Clock()
    checker = check(kube, clock)
    assert ask(checker, node=None) == {}
    assert kube.sent == []
    ask(checker)
    checker.forget("ns", "other")  # another Job's: nothing of this one goes
    ask(checker)
    assert len(kube.sent) == 1
    checker.forget("ns", "j")
    ask(checker)
    assert len(kube.sent) == 2


def test_a_refusal_stands_while_asking_again_gets_no_verdict() -> None:
    """A due re-ask answered 500 is no verdict: the version stays refused, asked next pass."""
    kube, clock = FakeKube(FORBIDDEN, KubeError(500, "InternalError", "etcd"), None), Clock()
    checker = check(kube, clock)
    assert ask(checker) == {1: SAID + FORBIDDEN.message}
    clock.now += timedelta(seconds=evaluate_recheck_seconds("j", 1))
    assert ask(checker) == {1: SAID + FORBIDDEN.message}
    assert ask(checker) == {}
    assert len(kube.sent) == 3


def configmap(controller: dict[str, Any] | None) -> dict[str, Any]:
    refs = [{"controller": True, **controller}] if controller else []
    return {"metadata": {"name": build_configmap_name("j", 1), "ownerReferences": refs}}


@pytest.mark.parametrize(
    ("controller", "conflict"),
    [
        (None, "controlled by no nodewave Job"),  # a tenant's own ConfigMap
        (
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "j"},
            "controlled by Deployment j",
        ),
        ({"apiVersion": "nodewave.io/v1alpha1", "kind": "Job", "name": "other"}, "Job other"),
        ({"apiVersion": "batch/v1", "kind": "Job", "name": "j"}, "controlled by Job j"),
        ({"apiVersion": "nodewave.io/v1alpha1", "kind": "Job", "name": "j", "uid": "old"}, None),
    ],
)
def test_a_configmap_of_the_versions_name_must_be_the_jobs(
    controller: dict[str, Any] | None, conflict: str | None
) -> None:
    """Someone else's ConfigMap under the version's name refuses the version before any pod
    (it would be mounted into every one): never replaced. A former same-named Job's goes."""
    kube, clock = FakeKube(None, None), Clock()
    kube.configmaps[f"/api/v1/namespaces/ns/configmaps/{build_configmap_name('j', 1)}"] = configmap(
        controller
    )
    checker = check(kube, clock)
    snap = snapshot([builders.node("n1")])
    found = asyncio.run(checker.refusals_for(snap))
    if conflict is None:
        assert found == {}
        assert len(kube.sent) == 1  # and the pod was dry-run
        return
    [(number, refusal)] = found.items()
    assert (number, refusal.reason) == (1, R.CONFIG_MAP_CONFLICT)
    assert conflict in refusal.message
    assert "nodewave neither replaces nor mounts it; delete or rename it" in refusal.message
    assert kube.sent == []  # refused before the dry-run
    kube.configmaps.clear()  # deleted: the version is admitted at the next recheck
    clock.now += timedelta(seconds=evaluate_recheck_seconds("j", 1))
    assert asyncio.run(checker.refusals_for(snap)) == {}
