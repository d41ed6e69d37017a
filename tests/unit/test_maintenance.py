"""Cordon and drain around run-to-completion executions (core/execution/maintenance.py) and which pods a
drain evicts (kube/nodes.py `evaluate_pod`): one row per rule."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pytest

from nodewave.core.execution.maintenance import (
    DRAIN_RETRY,
    build_quarantine_value,
    plan_node_maintenance,
)
from nodewave.core.execution.observe import Observation, PodAction
from nodewave.core.job.planner import plan_job
from nodewave.core.job.policy import NODE_MAINTENANCE_ALLOWED, NODE_MAINTENANCE_LABEL
from nodewave.core.views.preview import build_preview
from nodewave.core.vocabulary import reasons as R
from nodewave.core.vocabulary.actions import (
    CreateExecution,
    CreatePod,
    PrepareNode,
    QuarantineNode,
    ReleaseNode,
)
from nodewave.core.vocabulary.naming import label_value
from nodewave.core.vocabulary.snapshot import ExecutionInfo
from nodewave.kube.nodes import build_pod_selector, evaluate_pod
from nodewave.models.base import ErrorInfo
from nodewave.models.execution import DesiredState, MaintenanceStatus, ObservedState
from nodewave.models.job import Drain, NodeMaintenance
from tests.unit.builders import at, execution, job_spec, node, snapshot

S = ObservedState
CORDON = NodeMaintenance(cordon=True)
DRAIN = NodeMaintenance.model_validate(
    {"cordon": True, "drain": {"enabled": True, "timeoutSeconds": 60}}
)
CREATING = Observation(S.PENDING, "PodCreating", "creating the pod", PodAction.CREATE)
NOW = at(100)


def ex(maintenance: MaintenanceStatus | None = None, *, desired: DesiredState = DesiredState.RUNNING,
       release: bool = False) -> ExecutionInfo:  # fmt: skip
    e = execution("n1", 2, desired)
    status = e.status.model_copy(update={"maintenance": maintenance})
    return dataclasses.replace(e, status=status, release_requested=release)


@dataclass(frozen=True)
class Row:
    execution: ExecutionInfo
    observed: Observation
    spec: NodeMaintenance
    state: ObservedState
    reason: str
    pod_action: PodAction
    action: type | None
    event: str | None = None


def obs(state: ObservedState, message: str = "") -> Observation:
    return Observation(state, state.value, message)


ROWS = [
    pytest.param(Row(ex(), CREATING, DRAIN, S.PENDING, "PreparingNode", PodAction.NONE, PrepareNode),
                 id="no-pod-before-the-node-is-cordoned-and-drained"),
    pytest.param(Row(ex(MaintenanceStatus(drain_started_at=at(50), message="1 pods to go: refused")),
                     CREATING, DRAIN, S.PENDING, "PreparingNode", PodAction.NONE, PrepareNode),
                 id="a-refused-eviction-is-asked-again"),
    pytest.param(Row(ex(MaintenanceStatus(drain_started_at=at(40), message="1 pods to go: refused")),
                     CREATING, DRAIN, S.FAILED, "DrainTimeout", PodAction.NONE, QuarantineNode,
                     "NodeQuarantined"),
                 id="past-the-timeout-it-fails-and-its-node-is-quarantined-in-the-same-pass"),
    pytest.param(Row(ex(MaintenanceStatus(cordoned=True, drained_at=at(90))), CREATING, DRAIN,
                     S.PENDING, "PodCreating", PodAction.CREATE, None),
                 id="drained-the-pod-is-created"),
    pytest.param(Row(ex(MaintenanceStatus(cordoned=True, drained_at=at(90))), obs(S.RUNNING), DRAIN,
                     S.RUNNING, "Running", PodAction.NONE, None),
                 id="running-nothing-to-do"),
    pytest.param(Row(ex(MaintenanceStatus(cordoned=True, drained_at=at(90))), obs(S.COMPLETED), DRAIN,
                     S.COMPLETED, "Completed", PodAction.NONE, ReleaseNode),
                 id="completed-the-node-is-uncordoned"),
    pytest.param(Row(ex(MaintenanceStatus(cordoned=True, drained_at=at(90), released_at=at(95))),
                     obs(S.COMPLETED), DRAIN, S.COMPLETED, "Completed", PodAction.NONE, None),
                 id="released-once"),
    pytest.param(Row(ex(MaintenanceStatus(cordoned=True, drained_at=at(90))), obs(S.FAILED, "exit 1"),
                     DRAIN, S.FAILED, "Failed", PodAction.NONE, QuarantineNode, "NodeQuarantined"),
                 id="failed-the-node-stays-cordoned-and-is-quarantined"),
    pytest.param(Row(ex(MaintenanceStatus(cordoned=True, quarantined=True)), obs(S.FAILED), DRAIN,
                     S.FAILED, "Failed", PodAction.NONE, None),
                 id="quarantined-until-someone-releases-it"),
    pytest.param(Row(ex(MaintenanceStatus(cordoned=True, quarantined=True), release=True),
                     obs(S.FAILED), DRAIN, S.FAILED, "Failed", PodAction.NONE, ReleaseNode),
                 id="uncordon-releases-a-quarantined-node"),
    pytest.param(Row(ex(MaintenanceStatus(cordoned=True, drain_started_at=at(90)),
                        desired=DesiredState.STOPPED), obs(S.STOPPED), DRAIN,
                     S.STOPPED, "Stopped", PodAction.NONE, ReleaseNode),
                 id="stopped-before-it-ran-gives-the-node-back"),
    pytest.param(Row(ex(), obs(S.FAILED), DRAIN, S.FAILED, "Failed", PodAction.NONE, None),
                 id="a-node-never-prepared-is-not-quarantined"),
]  # fmt: skip


@pytest.mark.parametrize("row", ROWS)
def test_maintenance_rules(row: Row) -> None:
    step = plan_node_maintenance(row.execution, row.observed, row.spec, NOW, completes=True)
    got = step.observation
    assert (got.state, got.reason, got.pod_action) == (row.state, row.reason, row.pod_action)
    name = row.execution.name
    expected = {
        PrepareNode: PrepareNode(name, "n1", DRAIN.drain),
        ReleaseNode: ReleaseNode(name, "n1"),
        QuarantineNode: QuarantineNode(name, "n1"),
    }
    assert step.action == (expected[row.action] if row.action else None)
    event = (step.event.type, step.event.reason, step.event.message) if step.event else None
    assert event == (
        ("Warning", row.event, f"node n1 stays cordoned after {name} failed "
         f"({got.message}); `kubectl nodewave uncordon j n1` releases it")
        if row.event else None
    )  # fmt: skip


def test_preparing_says_what_the_drain_waits_for_and_looks_again_soon() -> None:
    waiting = MaintenanceStatus(drain_started_at=at(50), message="1 pods to go: eviction refused")
    step = plan_node_maintenance(ex(waiting), CREATING, DRAIN, NOW, completes=True)
    assert (
        step.observation.message == "cordoning and draining node n1: 1 pods to go: eviction refused"
    )
    assert step.observation.deadline == NOW + DRAIN_RETRY
    assert step.action == PrepareNode(
        "j-v2-n1-" + step.action.execution.split("-")[-1], "n1", DRAIN.drain
    )  # type: ignore[union-attr]
    cordon_only = plan_node_maintenance(ex(), CREATING, CORDON, NOW, completes=True)
    assert cordon_only.action == PrepareNode(ex().name, "n1", None)
    assert cordon_only.observation.message == "cordoning node n1: cordoning"


def test_the_timeout_names_what_blocked() -> None:
    stuck = MaintenanceStatus(
        drain_started_at=at(40), message="1 pods to go: eviction of pod a/b refused"
    )
    step = plan_node_maintenance(ex(stuck), CREATING, DRAIN, NOW, completes=True)
    assert step.observation.message == (
        "node n1 not ready within drain.timeoutSeconds=60: 1 pods to go: eviction of pod a/b refused"
    )
    assert step.observation.error == ErrorInfo(
        code="DrainTimeout", message=step.observation.message
    )


def test_only_run_to_completion_executions_are_held() -> None:
    step = plan_node_maintenance(ex(), CREATING, DRAIN, NOW, completes=False)
    assert (step.observation, step.action) == (CREATING, None)


MAINTAINED = {NODE_MAINTENANCE_LABEL: NODE_MAINTENANCE_ALLOWED}


def test_executions_are_created_without_a_pod_and_their_nodes_prepared_next() -> None:
    spec = job_spec(type="Update", nodeMaintenance={"cordon": True, "drain": {"enabled": True}})
    nodes = [node("n1"), node("n2")]
    first = plan_job(snapshot(nodes, spec=spec, namespace_labels=MAINTAINED), at(0))
    created = [a for a in first.actions if isinstance(a, CreateExecution)]
    assert sorted((a.node, a.start) for a in created) == [("n1", False), ("n2", False)]
    execs = [execution(n, 1, created=0) for n in ("n1", "n2")]
    second = plan_job(snapshot(nodes, execs, spec=spec, namespace_labels=MAINTAINED), at(1))
    assert sorted(a.node for a in second.actions if isinstance(a, PrepareNode)) == ["n1", "n2"]
    assert not [a for a in second.actions if isinstance(a, CreatePod)]


@pytest.mark.parametrize(
    ("namespace", "job", "value"),
    [
        ("shop", "os-update", "shop.os-update"),
        ("other", "os-update", "other.os-update"),
        ("a" * 40, "b" * 40, label_value(f"{'a' * 40}.{'b' * 40}")),
    ],
)
def test_the_quarantine_label_names_the_job_with_its_namespace(
    namespace: str, job: str, value: str
) -> None:
    assert build_quarantine_value(namespace, job) == value
    assert len(value) <= 63
    # A same-named Job elsewhere has another value, so it never lifts this quarantine.
    assert build_quarantine_value(namespace + "x", job) != value


@pytest.mark.parametrize(
    ("maintenance", "labels", "refused"),
    [
        ({"cordon": True}, {}, True),
        ({"cordon": True, "drain": {"enabled": True}}, {NODE_MAINTENANCE_LABEL: "yes"}, True),
        ({"cordon": True}, {"nodewave.io/allow-privileged": "true"}, True),
        ({"cordon": True}, MAINTAINED, False),
        ({"cordon": False}, {}, False),
    ],
)
def test_cordon_and_drain_need_the_namespace_to_opt_in(
    maintenance: dict[str, Any], labels: dict[str, str], refused: bool
) -> None:
    """A tenant's Job never takes nodes out of service unless a cluster admin labelled its
    namespace: nothing is created (so nothing is cordoned), the Job says why."""
    spec = job_spec(type="Update", nodeMaintenance=maintenance)
    snap = snapshot([node("n1"), node("n2")], spec=spec, namespace_labels=labels)
    plan = plan_job(snap, at(0))
    created = sorted(a.node for a in plan.actions if isinstance(a, CreateExecution))
    assert created == ([] if refused else ["n1", "n2"])
    stalled = next((c for c in plan.status.conditions if c.type == R.STALLED), None)
    if refused:
        assert plan.actions == []
        assert stalled is not None
        assert stalled.reason == R.NODE_MAINTENANCE_NOT_ALLOWED
        assert f"a cluster admin labels it {NODE_MAINTENANCE_LABEL}=allowed" in stalled.message
        assert [e.reason for e in plan.events] == [R.NODE_MAINTENANCE_NOT_ALLOWED]
        preview = build_preview(snap, None, True, True, at(0))
        assert preview.refused == stalled.message
    else:
        assert stalled is None or stalled.status != "True"


# ---- which pods a drain evicts (kube/nodes.py) ----------------------------------------------


def pod(name: str = "web-1", *, owner: str | None = "ReplicaSet", **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "shop", **extra.pop("meta", {})}
    if owner:
        meta["ownerReferences"] = [{"kind": owner, "name": "o", "controller": True}]
    return {"metadata": meta, "spec": extra.pop("spec", {}), "status": extra.pop("status", {})}


EVICT = Drain(enabled=True)

PODS = [
    pytest.param(pod(), EVICT, "", id="a-replicaset-pod-is-evicted"),
    pytest.param(pod(owner="DaemonSet"), EVICT, None, id="daemonset-pods-are-left"),
    pytest.param(pod(owner="DaemonSet"), Drain(enabled=True, ignore_daemon_sets=False),
                 "pod shop/web-1 belongs to DaemonSet o (drain.ignoreDaemonSets is false)",
                 id="or-block-when-not-ignored"),
    pytest.param(pod(meta={"annotations": {"kubernetes.io/config.mirror": "x"}}, owner="Node"),
                 EVICT, None, id="static-pods-are-left"),
    pytest.param(pod(meta={"labels": {"nodewave.io/job": "os-update"}}), EVICT, None,
                 id="nodewaves-own-executions-are-left"),
    pytest.param(pod(status={"phase": "Succeeded"}), EVICT, None, id="finished-pods-are-left"),
    pytest.param(pod(owner=None), EVICT,
                 "pod shop/web-1 has no controller and would be gone for good (drain.force is false)",
                 id="a-bare-pod-blocks"),
    pytest.param(pod(owner=None), Drain(enabled=True, force=True), "", id="unless-forced"),
    pytest.param(pod(spec={"volumes": [{"name": "tmp", "emptyDir": {}}]}), EVICT,
                 "pod shop/web-1 has emptyDir data (drain.deleteEmptyDirData is false)",
                 id="emptydir-data-blocks"),
    pytest.param(pod(spec={"volumes": [{"name": "tmp", "emptyDir": {}}]}),
                 Drain(enabled=True, delete_empty_dir_data=True), "", id="unless-allowed"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "drain", "verdict"), PODS)
def test_evaluate_pod(body: dict[str, Any], drain: Drain, verdict: str | None) -> None:
    assert evaluate_pod(body, drain) == verdict


def test_the_pod_selector_goes_to_the_api_server_as_written() -> None:
    drain = Drain.model_validate({"podSelector": {"matchLabels": {"tier": "web"},
                                                  "matchExpressions": ["env in (prod, staging)", "!canary"]}})  # fmt: skip
    assert build_pod_selector(drain) == "tier=web,env in (prod, staging),!canary"
    assert build_pod_selector(Drain()) == ""
