"""Taints decide targets as they decide a DaemonSet's nodes (core/job/taints.py): Kubernetes'
toleration rules, table-tested, and what the planner does with them: a tainted control plane
is no target, a toleration makes it one, a NoSchedule taint added later leaves a running
execution alone and a NoExecute one stops it."""

from __future__ import annotations

import dataclasses

import pytest

from nodewave.core.job.planner import plan_job
from nodewave.core.job.taints import build_tolerations, evaluate_taints, tolerates
from nodewave.core.vocabulary.actions import CreateExecution, SetDesiredState
from nodewave.core.vocabulary.snapshot import NodeInfo, Taint
from nodewave.kube.parse import parse_node
from nodewave.models.execution import DesiredState
from nodewave.models.execution import ObservedState as S
from tests.unit.builders import TEMPLATE, at, execution, job_spec, node, pod, snapshot

CONTROL_PLANE = Taint("node-role.kubernetes.io/control-plane", "", "NoSchedule")
GPU = Taint("dedicated", "gpu", "NoSchedule")
EVICT = Taint("dedicated", "gpu", "NoExecute")


@pytest.mark.parametrize(
    ("toleration", "taint", "expected"),
    [
        ({"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}, GPU, True),
        ({"key": "dedicated", "value": "gpu"}, GPU, True),  # Equal by default, every effect
        ({"key": "dedicated", "value": "gpu"}, EVICT, True),
        ({"key": "dedicated", "value": "cpu"}, GPU, False),
        ({"key": "dedicated", "operator": "Exists"}, GPU, True),
        ({"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}, GPU, False),
        ({"key": "other", "operator": "Exists"}, GPU, False),
        ({"operator": "Exists"}, GPU, True),  # no key: every taint
        ({"operator": "Exists", "effect": "NoSchedule"}, EVICT, False),
        ({"value": "gpu"}, GPU, False),  # Equal needs a key
        ({"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
          "effect": "NoSchedule"}, CONTROL_PLANE, True),
    ],
)  # fmt: skip
def test_tolerates(toleration: dict[str, str], taint: Taint, expected: bool) -> None:
    assert tolerates(toleration, taint) is expected


@pytest.mark.parametrize(
    ("taints", "placed", "expected"),
    [
        ((), False, True),
        ((CONTROL_PLANE,), False, False),
        ((CONTROL_PLANE,), True, True),  # NoSchedule keeps what runs there
        ((EVICT,), True, False),  # NoExecute does not
        ((Taint("dedicated", "gpu", "PreferNoSchedule"),), False, True),
        # The DaemonSet's own tolerations: a cordoned or pressured node keeps its pods.
        ((Taint("node.kubernetes.io/unschedulable", "", "NoSchedule"),), False, True),
        ((Taint("node.kubernetes.io/not-ready", "", "NoExecute"),), True, True),
        ((Taint("node.kubernetes.io/memory-pressure", "", "NoSchedule"),), False, True),
    ],
)
def test_evaluate_taints(taints: tuple[Taint, ...], placed: bool, expected: bool) -> None:
    assert evaluate_taints(taints, build_tolerations(TEMPLATE), placed=placed) is expected


def tainted(name: str, *taints: Taint) -> NodeInfo:
    return dataclasses.replace(node(name), taints=taints)


def test_a_tainted_control_plane_is_no_target_unless_the_template_tolerates_it() -> None:
    nodes = [tainted("cp", CONTROL_PLANE), node("w1"), node("w2")]
    plan = plan_job(snapshot(nodes), at(0))
    assert sorted(c.node for c in plan.actions if isinstance(c, CreateExecution)) == ["w1", "w2"]
    assert plan.status.target_nodes == 2
    tolerant = {**TEMPLATE, "spec": {**TEMPLATE["spec"], "tolerations": [
        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}]}}  # fmt: skip
    plan = plan_job(snapshot(nodes, spec=job_spec(template=tolerant)), at(0))
    assert sorted(c.node for c in plan.actions if isinstance(c, CreateExecution)) == [
        "cp",
        "w1",
        "w2",
    ]


@pytest.mark.parametrize(("taint", "stopped"), [(GPU, False), (EVICT, True)])
def test_a_taint_added_under_a_running_execution(taint: Taint, stopped: bool) -> None:
    ex = execution("n1", state=S.RUNNING)
    plan = plan_job(snapshot([tainted("n1", taint)], [ex], [pod(ex.name)]), at(5))
    stops = [(s.name, s.desired) for s in plan.actions if isinstance(s, SetDesiredState)]
    assert stops == ([(ex.name, DesiredState.STOPPED)] if stopped else [])
    assert plan.status.target_nodes == (0 if stopped else 1)


def test_parse_node_reads_the_taints() -> None:
    body = {"metadata": {"name": "cp"}, "spec": {"taints": [
        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
        {"key": "dedicated", "value": "gpu", "effect": "NoExecute", "timeAdded": "2026-12-07T00:00:00Z"},
    ]}}  # fmt: skip
    assert parse_node(body).taints == (CONTROL_PLANE, EVICT)
    assert parse_node({"metadata": {"name": "n"}}).taints == ()
