"""End-to-end fixtures: a control plane of its own with two real kubelet nodes (containerd,
runc, real containers, real probes) and two kwok nodes, and the operator against it.

A cluster of its own, not the session's: the integration tests count the session cluster's
nodes, and real nodes must not appear under them. Package-scoped, so it is stopped (and its
containers, mounts and network namespaces removed) as soon as the e2e tests are done. It never
skips: a real node that cannot start errors every test here, with the failing process's log.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from nodewave.localcluster.controlplane import ControlPlane
from nodewave.localcluster.operator import OperatorProcess
from tests.conftest import kubectl_json, local_cluster, own_namespace, running_operator
from tests.integration.jobs import listed_executions

REAL_NODES = {"real-0": {"e2e": "real"}, "real-1": {"e2e": "real"}}
REGISTRY_RATE = 4 << 20
"""Bytes a second each real node pulls from the local registry (registry.py): a 4 MiB layer
takes about a second, a pull the tests can see."""
FAKE_NODES = {"fake-0": {"e2e": "fake"}, "fake-1": {"e2e": "fake"}}


@pytest.fixture(scope="package")
def real_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    yield from local_cluster(
        tmp_path_factory.mktemp("real"), FAKE_NODES, REAL_NODES, registry_rate=REGISTRY_RATE
    )


@pytest.fixture(scope="package")
def real_operator(
    real_cluster: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    yield from running_operator(real_cluster, tmp_path_factory.mktemp("real-operator"))


@pytest.fixture
def ns(real_cluster: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    yield from own_namespace(real_cluster, request, "e2e")


def executions_of(cp: ControlPlane, ns: str, job: str, version: int | None = None) -> list[Any]:
    """The Job's executions (of one version), as a list: as the plugin lists them."""
    return listed_executions(cp, ns, job, version)


def pods_by_node(cp: ControlPlane, ns: str, job: str) -> dict[str, Any]:
    """Node → the Job's execution pod there (not a pull-only pod of rollout.prePull)."""
    selector = f"nodewave.io/job={job},!nodewave.io/pre-pull"
    items = kubectl_json(cp, "get", "pods", "-n", ns, "-l", selector)["items"]
    return {p["spec"]["nodeName"]: p for p in items if p["spec"].get("nodeName")}
