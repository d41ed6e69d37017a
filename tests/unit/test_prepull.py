"""Image pre-pull (rollout.prePull, core/rollout/prepull.py): how a pull-only pod is read, what
it is, when pulls begin, when failed pulls fail the rollout, and a rollout run pass by pass
with pull-only pods made for the next wave and removed as their nodes move (the engine's
rows are in test_rollout_transitions.py)."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from nodewave.cli.plugin import render_status
from nodewave.core.execution.podspec import (
    DAEMON_TOLERATIONS,
    PULL_COMMAND,
    build_pull_pod,
    plan_pull_images,
)
from nodewave.core.job.planner import evaluate_pulls, plan_job, plan_pull_pods
from nodewave.core.rollout.engine import EVERY_PAUSE, build_promote_value, plan_rollout
from nodewave.core.rollout.prepull import (
    PULLED,
    PULLING,
    Pull,
    PullState,
    build_pre_pull_status,
    evaluate_pre_pull_begun,
    evaluate_pull,
    evaluate_pull_failure,
    evaluate_pull_wait,
)
from nodewave.core.vocabulary.actions import CreatePullPod, DeletePod
from nodewave.core.vocabulary.naming import LABEL_PRE_PULL, build_pull_pod_name
from nodewave.core.vocabulary.snapshot import ContainerInfo, PodInfo, Snapshot, VersionSpec
from nodewave.models.job import (
    JobType,
    PrePull,
    PrePullStatus,
    PullFailure,
    RolloutPhase,
    RolloutStatus,
)
from tests.unit.builders import T0, at, job, pod
from tests.unit.rollouts import context, ok
from tests.unit.simulation import HC, NODES, simulate, stable_on, step

NOT_FOUND = "rpc error: code = NotFound desc = failed to pull and unpack image: not found"


def pull_pod(
    *containers: ContainerInfo, phase: str = "Pending", reason: str | None = None
) -> PodInfo:
    return PodInfo("p", "uid", "1", "n0", phase, False, False, T0, None, reason, None, containers)


def waiting(reason: str, message: str = "") -> ContainerInfo:
    return ContainerInfo("pull-0", False, 0, waiting_reason=reason, waiting_message=message)


START_ERROR = ContainerInfo("pull-1", False, 0, terminated_reason="StartError", exit_code=128)
RUNNING = ContainerInfo("pull-0", False, 0)


@pytest.mark.parametrize(
    ("pod", "images", "expected"),
    [
        pytest.param(pull_pod(), 1, PULLING, id="not-reported-yet"),
        pytest.param(pull_pod(waiting("ContainerCreating")), 1, PULLING, id="creating"),
        pytest.param(pull_pod(START_ERROR), 1, PULLED, id="start-error-means-pulled"),
        pytest.param(pull_pod(RUNNING), 1, PULLED, id="running-is-past-the-pull"),
        pytest.param(
            pull_pod(waiting("ContainerCreating"), START_ERROR), 2, PULLING, id="one-of-two-pulled"
        ),
        pytest.param(
            pull_pod(waiting("CreateContainerError"), START_ERROR),
            2,
            PULLED,
            id="an-error-after-the-pull-is-past-it",
        ),
        pytest.param(
            pull_pod(waiting("ErrImagePull", NOT_FOUND), START_ERROR),
            2,
            Pull(PullState.FAILED, "ErrImagePull", NOT_FOUND),
            id="err-image-pull",
        ),
        pytest.param(
            pull_pod(waiting("ImagePullBackOff", "Back-off pulling image")),
            1,
            Pull(PullState.FAILED, "ImagePullBackOff", "Back-off pulling image"),
            id="back-off",
        ),
        pytest.param(
            pull_pod(waiting("InvalidImageName")),
            1,
            Pull(PullState.FAILED, "InvalidImageName"),
            id="invalid-name",
        ),
        pytest.param(
            pull_pod(phase="Failed", reason="OutOfpods"),
            1,
            Pull(PullState.FAILED, "OutOfpods"),
            id="refused-by-the-kubelet",
        ),
    ],
)
def test_evaluate_pull(pod: PodInfo, images: int, expected: Pull) -> None:
    assert evaluate_pull(pod, images) == expected


@pytest.mark.parametrize(
    ("start", "next_wave", "first_validated", "begun"),
    [
        ("Immediately", 1, False, True),
        ("Immediately", 2, False, True),
        ("AfterFirstWave", 1, False, False),
        ("AfterFirstWave", 2, False, False),
        ("AfterFirstWave", 2, True, True),
        ("AfterFirstWave", 3, False, True),
    ],
)
def test_when_pulls_begin(start: str, next_wave: int, first_validated: bool, begun: bool) -> None:
    spec = PrePull.model_validate({"start": start})
    assert evaluate_pre_pull_begun(spec, next_wave, first_validated) is begun


FAILED = Pull(PullState.FAILED, "ErrImagePull", NOT_FOUND)


@pytest.mark.parametrize(
    ("pulls", "failed_before", "budget", "canary", "fails"),
    [
        ({"a": PULLED, "b": FAILED, "c": PULLED}, 0, 1, False, ""),
        ({"a": PULLED, "b": FAILED, "c": PULLED}, 1, 1, False, "past the budget of 1"),
        ({"a": PULLED, "b": FAILED, "c": PULLED}, 0, 0, False, "past the budget of 0"),
        ({"a": PULLED, "b": FAILED, "c": PULLED}, 0, 5, True, "the canary"),
        ({"a": FAILED, "b": FAILED, "c": FAILED}, 0, 5, False, "every node of the wave"),
        ({"a": PULLED, "c": PULLED}, 0, 0, False, ""),  # b has no pod yet: pulling
    ],
)
def test_failed_pulls_fail_the_rollout_by_the_budgets_rules(
    pulls: dict[str, Pull], failed_before: int, budget: int, canary: bool, fails: str
) -> None:
    why = evaluate_pull_failure(
        3, ["a", "b", "c"], pulls, failed_before=failed_before, budget=budget, canary=canary
    )
    assert why.endswith(fails) if fails else why == ""
    if fails:
        assert why.startswith("the images failed to pull on ")
        assert "of the 3 nodes of wave 3 before it started (" in why


def test_a_failure_is_said_once_and_the_wait_is_kept_for_its_wave() -> None:
    pulls = {"a": FAILED, "b": PULLING}
    status, events = build_pre_pull_status(2, ["a", "b"], pulls, None, 7)
    assert (status.wave, status.nodes, status.pulled, status.failed_count) == (2, 2, 0, 1)
    assert [(e.type, e.reason, e.wave) for e in events] == [("Warning", "PrePullFailed", 2)]
    assert events[0].message.startswith("version 7, wave 2: the images failed to pull on a (")
    held = status.model_copy(update={"wait_until": at(300)})
    again, events = build_pre_pull_status(2, ["a", "b"], {**pulls, "b": PULLED}, held, 7)
    assert (again.pulled, again.wait_until, events) == (1, at(300), [])
    next_wave, _ = build_pre_pull_status(3, ["c"], {}, held, 7)
    assert next_wave.wait_until is None


def version_of(template: dict[str, Any]) -> VersionSpec:
    return VersionSpec(4, JobType.PIPELINE, template, {})


TEMPLATE = {
    "spec": {
        "serviceAccountName": "agent",
        "imagePullSecrets": [{"name": "regcred"}],
        "tolerations": [{"key": "dedicated", "operator": "Exists"}],
        "runtimeClassName": "kata",
        "hostNetwork": True,
        "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
        "initContainers": [{"name": "init", "image": "tools:1"}],
        "containers": [
            {"name": "main", "image": "agent:4", "imagePullPolicy": "Always",
             "securityContext": {"privileged": True}, "command": ["/agent"]},
            {"name": "side", "image": "tools:1", "imagePullPolicy": "Always"},
            {"name": "local", "image": "local:1", "imagePullPolicy": "Never"},
        ],
    }
}  # fmt: skip


def test_the_pull_only_pod_pulls_each_image_once_and_runs_nothing_with_no_privilege() -> None:
    body = build_pull_pod(job(name="agent"), version_of(TEMPLATE), "node-7")
    meta, spec = body["metadata"], body["spec"]
    assert meta["name"] == build_pull_pod_name("agent", 4, "node-7")
    assert meta["labels"][LABEL_PRE_PULL] == "4"
    assert meta["ownerReferences"][0]["kind"] == "Job"
    images = [(c["image"], c.get("imagePullPolicy")) for c in spec["containers"]]
    # Each image once ("Never" is never pulled), Always if any container pulls it always.
    assert images == [("tools:1", "Always"), ("agent:4", "Always")]
    for c in spec["containers"]:
        assert c["command"] == [PULL_COMMAND] == ["/"]  # a directory in every image: never runs
        assert c["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }
        assert (
            c["resources"]["limits"]
            == c["resources"]["requests"]
            == {"cpu": "10m", "memory": "16Mi"}
        )
    # Nothing of the template's power comes along: no host network, volumes or init containers.
    assert not {"hostNetwork", "volumes", "initContainers"} & set(spec)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["automountServiceAccountToken"] is False
    assert spec["restartPolicy"] == "Never"
    # What the pull needs does: pull secrets, the service account's, tolerations, runtime.
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert spec["serviceAccountName"] == "agent"
    assert {"key": "dedicated", "operator": "Exists"} in spec["tolerations"]
    assert spec["runtimeClassName"] == "kata"
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"][0]["matchFields"][0]["values"] == ["node-7"]


def test_a_template_of_local_images_only_has_nothing_to_pull() -> None:
    local = {"spec": {"containers": [{"name": "m", "image": "x:1", "imagePullPolicy": "Never"}]}}
    assert plan_pull_images(local) == []


# ---- pass by pass (the simulated cluster) ----------------------------------------------

ROLLING = {"strategy": "Rolling", "maxParallel": 20, "healthCheck": HC}


def pull_pods(snap: Snapshot) -> dict[str, int]:
    """Node → version of the pull-only pods there."""
    return {
        p.node_name or "": p.pre_pull_of for p in snap.pods.values() if p.pre_pull_of is not None
    }


def wave_of(snap: Snapshot, wave: int) -> set[str]:
    return {
        e.spec.node_name
        for e in snap.executions
        if e.spec.job_version == 2 and e.spec.rollout_wave == wave
    }


def test_a_rollout_pulls_each_wave_ahead_and_leaves_no_pull_pod_behind() -> None:
    snap = stable_on(NODES, {**ROLLING, "prePull": {}})
    plan = plan_job(snap, at(10))
    first = {a.node for a in plan.actions if isinstance(a, CreatePullPod)}
    assert plan.status.rollout is not None
    assert plan.status.rollout.phase is RolloutPhase.PRE_PULLING  # wave 1 waits for its pulls
    assert [e.reason for e in plan.events if e.reason == "PrePulling"] == ["PrePulling"]
    pulled_at: dict[str, int] = {}
    moved_at: dict[str, int] = {}
    for i in range(200):
        snap = step(snap, 10 + i / 4)
        for n in pull_pods(snap):
            pulled_at.setdefault(n, i)
        for e in snap.executions:
            if e.spec.job_version == 2:
                moved_at.setdefault(e.spec.node_name, i)
        # A node never pulls once it moved: its pull pod goes as its wave starts.
        assert not set(moved_at) & set(pull_pods(snap))
        assert set(pull_pods(snap).values()) <= {2}
        if snap.job.status.stable_version == 2:
            break
    assert first == wave_of(snap, 1)
    assert len(first) == 2
    # Every node pulled before its wave took it, the waves after the first while one ran.
    assert set(moved_at) == set(NODES)
    assert all(pulled_at[n] < moved_at[n] for n in NODES)
    assert pull_pods(snap) == {}


def test_after_first_wave_pulls_nothing_until_the_first_wave_settled() -> None:
    snap = stable_on(NODES, {**ROLLING, "prePull": {"start": "AfterFirstWave"}})
    snap = step(snap, 10)
    rs = snap.job.status.rollout
    assert rs is not None
    assert (rs.wave, pull_pods(snap), rs.pre_pull) == (1, {}, None)
    for i in range(40):
        snap = step(snap, 10.25 + i / 4)
        if pull_pods(snap):
            break
    validated = [e.status.stable_at is not None for e in snap.executions if e.spec.job_version == 2]
    assert validated == [True, True]
    pulling = set(pull_pods(snap))
    for i in range(200):
        snap = step(snap, 30 + i / 4)
    assert snap.job.status.stable_version == 2
    assert pulling == wave_of(snap, 2)


def test_a_pull_that_never_ends_holds_the_wave_waitSeconds_only() -> None:
    snap = stable_on(NODES, {**ROLLING, "prePull": {"waitSeconds": 30}})
    plan = plan_job(snap, at(10))
    snap = simulate(snap, plan.actions)
    stuck = {
        k: dataclasses.replace(p, phase="Pending", containers=(waiting("ContainerCreating"),))
        for k, p in snap.pods.items()
        if p.pre_pull_of is not None
    }
    snap = dataclasses.replace(
        snap, pods={**snap.pods, **stuck}, job=dataclasses.replace(snap.job, status=plan.status)
    )
    held = plan_job(snap, at(39))
    assert held.status.rollout is not None
    assert held.status.rollout.phase is RolloutPhase.PRE_PULLING
    assert held.status.rollout.pre_pull == PrePullStatus(wave=1, nodes=2, wait_until=at(40))
    assert held.requeue_after <= at(40) - at(39)
    going = plan_job(
        dataclasses.replace(snap, job=dataclasses.replace(snap.job, status=held.status)), at(40)
    )
    assert going.status.rollout is not None
    assert (going.status.rollout.phase, going.status.rollout.wave) == (RolloutPhase.PROGRESSING, 1)


def test_pull_pods_of_another_version_or_of_nodes_that_moved_go_and_others_pods_stay() -> None:
    snap = stable_on(NODES, ROLLING)
    mine = {"owner_uid": "job-uid"}
    old = replace(pod(build_pull_pod_name("j", 1, "n5"), node_name="n5", pre_pull_of=1), **mine)
    kept = replace(pod(build_pull_pod_name("j", 2, "n6"), node_name="n6", pre_pull_of=2), **mine)
    # Labelled as a pull-only pod by someone else: neither read nor deleted.
    foreign = pod("someone-elses", node_name="n8", pre_pull_of=1)
    pods = {p.name: p for p in (old, kept, foreign)}
    snap = replace(snap, pods={**snap.pods, **pods})
    actions = plan_pull_pods(snap, frozenset({"n6", "n7", "n9"}), max_creates=1)
    assert actions == [
        DeletePod(old.name, old.uid),
        CreatePullPod(build_pull_pod_name("j", 2, "n7"), "n7", 2),  # n9 next pass
    ]


def test_a_refused_pull_pod_is_a_failing_pull_of_its_node() -> None:
    snap = replace(
        stable_on(NODES, {**ROLLING, "prePull": {}}), pull_refusals={"n3": "exceeded quota"}
    )
    pulls, images = evaluate_pulls(snap)
    assert images
    assert pulls == {"n3": Pull(PullState.FAILED, "PodRefused", "exceeded quota")}


@pytest.mark.parametrize(
    ("pulls", "pulling", "failing", "for_good"),
    [
        ({"a": PULLED, "b": PULLED}, [], [], []),
        ({"a": PULLED}, ["b"], [], []),  # no pod yet
        ({"a": FAILED, "b": PULLED}, [], ["a"], []),
        ({"a": Pull(PullState.FAILED, "InvalidImageName"), "b": PULLING}, ["b"], [], ["a"]),
        ({"a": Pull(PullState.FAILED, "ErrImageNeverPull"), "b": PULLED}, [], [], ["a"]),
    ],
)
def test_a_wave_waits_for_pulling_and_failing_nodes_not_for_failures_for_good(
    pulls: dict[str, Pull], pulling: list[str], failing: list[str], for_good: list[str]
) -> None:
    stand = evaluate_pull_wait(["a", "b"], pulls)
    assert (stand.pulling, stand.failing, stand.for_good) == (pulling, failing, for_good)
    assert stand.waits is bool(pulling or failing)


def test_status_shows_the_next_waves_pulls_and_the_nodes_that_failed() -> None:
    failure = {"node": "n3", "reason": "ErrImagePull", "message": "app:2: not found"}
    pre_pull = {"wave": 2, "nodes": 2, "pulled": 1, "failedCount": 1, "failed": [failure]}
    job_object = {
        "metadata": {"namespace": "ns", "name": "agent"},
        "spec": {"type": "Pipeline", "rollout": {"strategy": "Rolling"}},
        "status": {"rollout": {"phase": "PrePulling", "version": 2, "prePull": pre_pull}},
    }
    lines = render_status(job_object, []).splitlines()
    at_ = lines.index("Pre-pull:   wave 2: 1/2 nodes pulled, 1 failed")
    assert lines[at_ + 1] == "            n3: ErrImagePull: app:2: not found"
    del job_object["status"]["rollout"]["prePull"]
    assert "Pre-pull:" not in render_status(job_object, [])


def test_the_pull_only_pod_whole() -> None:
    """Every field, so none drifts unseen (the tests above say why each is there)."""
    template = {"spec": {"containers": [{"name": "main", "image": "agent:4"}]}}
    assert build_pull_pod(job(name="agent"), version_of(template), "node-7") == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": build_pull_pod_name("agent", 4, "node-7"),
            "namespace": "ns",
            "labels": {
                "nodewave.io/job": "agent",
                "nodewave.io/node": "node-7",
                "nodewave.io/pre-pull": "4",
                "app.kubernetes.io/managed-by": "nodewave",
            },
            "annotations": {"nodewave.io/job": "agent"},
            "ownerReferences": [
                {
                    "apiVersion": "nodewave.io/v1alpha1",
                    "kind": "Job",
                    "name": "agent",
                    "uid": "job-uid",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "dnsPolicy": "Default",
            "terminationGracePeriodSeconds": 0,
            "serviceAccountName": "default",
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65534,
                "runAsGroup": 65534,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "pull-0",
                    "image": "agent:4",
                    "command": ["/"],
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "16Mi"},
                        "limits": {"cpu": "10m", "memory": "16Mi"},
                    },
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchFields": [
                                    {"key": "metadata.name", "operator": "In", "values": ["node-7"]}
                                ]
                            }
                        ]
                    }
                }
            },
            "tolerations": [dict(t) for t in DAEMON_TOLERATIONS],
        },
    }


def test_a_kubelet_refusal_without_words_is_named_failed_and_no_image_is_never_pulled() -> None:
    refused = pull_pod(phase="Failed")
    refused = replace(refused, message="Pod was rejected: node(s) had too many pods")
    assert evaluate_pull(refused, 1) == Pull(
        PullState.FAILED, "Failed", "Pod was rejected: node(s) had too many pods"
    )
    assert evaluate_pull(pull_pod(waiting("ErrImagePull")), 1) == Pull(
        PullState.FAILED, "ErrImagePull", ""
    )
    assert evaluate_pull(pull_pod(), 0) == PULLING  # nothing to pull is not "pulled"


def test_the_status_cuts_what_the_kubelet_says_to_the_fields_bounds() -> None:
    long = Pull(PullState.FAILED, "R" * 100, "m" * 1000)
    status, events = build_pre_pull_status(2, ["a"], {"a": long}, None, 3)
    assert status.failed == [PullFailure(node="a", reason="R" * 63, message="m" * 512)]
    assert events[0].message.endswith(": " + "m" * 300)
    assert evaluate_pull_failure(
        2, ["a"], {"a": long}, failed_before=0, budget=0, canary=False
    ) == (
        f"the images failed to pull on 1 of the 1 nodes of wave 2 before it started (a: {'R' * 100}: "
        f"{'m' * 200}): every node of the wave"
    )


def test_many_failures_are_named_up_to_ten_and_the_unlisted_counted() -> None:
    nodes = [f"n{i:02d}" for i in range(30)]
    pulls = {n: Pull(PullState.FAILED, "ErrImagePull", f"{n}: not found") for n in nodes[:25]}
    status, events = build_pre_pull_status(4, nodes, pulls, None, 2)
    assert (status.failed_count, len(status.failed)) == (25, 20)
    (event,) = events
    shown = ", ".join(f"{n} (ErrImagePull)" for n in nodes[:10])
    assert event.message == (
        f"version 2, wave 4: the images failed to pull on {shown} and 10 more, 5 nodes not "
        "listed (25 of 30 in all): n00: not found"
    )
    # Two more past the 20 listed: announced by their count alone, once.
    more = {**pulls, "n25": pulls["n00"], "n26": pulls["n00"]}
    again, events = build_pre_pull_status(4, nodes, more, status, 2)
    assert [e.message for e in events] == [
        "version 2, wave 4: the images failed to pull on 2 nodes not listed (27 of 30 in all): "
        "n00: not found"
    ]
    assert build_pre_pull_status(4, nodes, more, again, 2)[1] == []
    # One node's failure alone: no "more", no count.
    one, events = build_pre_pull_status(5, ["x"], {"x": pulls["n00"]}, again, 2)
    assert events[0].message == (
        "version 2, wave 5: the images failed to pull on x (ErrImagePull) (1 of 1 in all): "
        "n00: not found"
    )
    assert one.wait_until is None


@pytest.mark.parametrize(
    ("strategy", "wave", "fails"),
    [("Canary", 1, True), ("Canary", 2, False), ("Rolling", 1, False)],
)
def test_a_canary_fails_on_one_failed_pull_whatever_the_budget(
    strategy: str, wave: int, fails: bool
) -> None:
    canary = {"canaryCount": 2} if strategy == "Canary" else {}
    moved = {"n0": ok(1), "n1": ok(1)} if wave == 2 else {}
    ctx = context(
        moved,
        strategy=strategy,
        maxFailedNodes=5,
        maxParallel=20,
        autoPromote=True,
        prePull={"waitSeconds": 0},
        **canary,
    )
    rs = rollout_status(wave - 1)
    nodes = [n for n in ctx.targets if n not in moved][:2]
    ctx = replace(ctx, pulls={nodes[0]: PULLED, nodes[1]: FAILED})
    decision = plan_rollout(replace(ctx, previous=rs))
    assert decision.rollout is not None
    assert (decision.rollout.phase is RolloutPhase.ROLLING_BACK) is fails
    if fails:
        assert decision.rollout.failure.endswith(": the canary")


def rollout_status(wave: int) -> RolloutStatus:
    return RolloutStatus(
        phase=RolloutPhase.PROGRESSING,
        version=2,
        from_version=1,
        wave=wave,
        total_waves=5,
        started_at=T0,
    )


def test_the_wait_of_another_wave_is_never_reused() -> None:
    ctx = context({"n0": ok(1), "n1": ok(1)}, strategy="Rolling", maxParallel=20, prePull={})
    stale = PrePullStatus(wave=7, nodes=2, wait_until=T0)  # a deadline long past, of wave 7
    rs = rollout_status(1).model_copy(update={"pre_pull": stale})
    decision = plan_rollout(replace(ctx, previous=rs))
    assert decision.rollout is not None
    assert decision.rollout.phase is RolloutPhase.PRE_PULLING  # wave 2 waits for its own pulls
    assert decision.rollout.pre_pull is not None
    assert decision.rollout.pre_pull.wait_until == ctx.now + timedelta(seconds=300)


def test_rollback_promotes_past_every_pause() -> None:
    assert build_promote_value(2, EVERY_PAUSE) == "2:all"
    assert build_promote_value(2, EVERY_PAUSE - 1) == f"2:{EVERY_PAUSE - 1}"


def test_always_wins_whichever_container_says_it_first() -> None:
    template = {
        "spec": {
            "containers": [
                {"name": "a", "image": "x:1", "imagePullPolicy": "Always"},
                {"name": "b", "image": "x:1", "imagePullPolicy": "IfNotPresent"},
                {"name": "c", "image": "y:1", "imagePullPolicy": "IfNotPresent"},
            ]
        }
    }
    assert plan_pull_images(template) == [("x:1", "Always"), ("y:1", "IfNotPresent")]


def test_only_the_current_versions_live_pull_pods_count_and_local_images_pull_nothing() -> None:
    snap = stable_on(NODES, {**ROLLING, "prePull": {}})
    mine = {"owner_uid": "job-uid"}
    pods = [
        replace(pull_pod(START_ERROR), name="a", node_name="n1", pre_pull_of=2, **mine),
        replace(pull_pod(START_ERROR), name="b", node_name="n2", pre_pull_of=1, **mine),
        replace(
            pull_pod(START_ERROR), name="c", node_name="n3", pre_pull_of=2, deleting=True, **mine
        ),
        replace(pull_pod(START_ERROR), name="d", node_name=None, pre_pull_of=2, **mine),
    ]
    snap = replace(snap, pods={p.name: p for p in pods})
    assert evaluate_pulls(snap) == ({"n1": PULLED}, True)
    local = {"spec": {"containers": [{"name": "m", "image": "x:1", "imagePullPolicy": "Never"}]}}
    snap = replace(snap, current=replace(snap.current, template=local))
    assert evaluate_pulls(snap)[1] is False


@pytest.mark.parametrize(("new", "more"), [(10, ""), (11, " and 1 more")])
def test_past_ten_new_failures_the_rest_are_counted(new: int, more: str) -> None:
    nodes = [f"n{i:02d}" for i in range(new)]
    _, events = build_pre_pull_status(2, nodes, dict.fromkeys(nodes, FAILED), None, 2)
    shown = ", ".join(f"{n} (ErrImagePull)" for n in nodes[:10])
    assert events[0].message.startswith(
        f"version 2, wave 2: the images failed to pull on {shown}{more} ("
    )


def test_one_more_failure_past_the_twenty_listed_is_announced() -> None:
    nodes = [f"n{i:02d}" for i in range(22)]
    twenty = {n: FAILED for n in nodes[:20]}
    status, _ = build_pre_pull_status(2, nodes, twenty, None, 2)
    _, events = build_pre_pull_status(2, nodes, {**twenty, "n20": FAILED}, status, 2)
    assert [e.message[:70] for e in events] == [
        "version 2, wave 2: the images failed to pull on 1 nodes not listed (21"
    ]
    # The same failures in the next wave's status are new again: another wave, other nodes.
    _, events = build_pre_pull_status(3, nodes[:1], {"n00": FAILED}, status, 2)
    assert [e.reason for e in events] == ["PrePullFailed"]
