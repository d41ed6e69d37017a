"""Waves that follow the topology (rollout.topologyKey, domainOrder) on the real control plane:
no wave spans two zones, zones go in the order asked, and the API server refuses a domainOrder
without a topologyKey at apply."""

from __future__ import annotations

import json

from nodewave.localcluster.controlplane import ControlPlane
from nodewave.localcluster.operator import OperatorProcess
from tests.conftest import wait_for
from tests.integration.jobs import (
    add_nodes,
    apply_job,
    job_status,
    listed_executions,
    phase,
    rolling_job,
)


def test_waves_go_zone_by_zone_in_the_order_asked(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    small = add_nodes(cluster, "topo-small", 2, suite="topo", zone="zone-a")
    large = add_nodes(cluster, "topo-large", 4, suite="topo", zone="zone-b")
    zone = {**dict.fromkeys(small, "zone-a"), **dict.fromkeys(large, "zone-b")}
    rollout = {"strategy": "Rolling", "maxParallel": 50, "topologyKey": "zone",
               "domainOrder": ["zone-b"]}  # fmt: skip
    apply_job(cluster, namespace, "zoned", rolling_job("topo", "1", rollout))
    wait_for(lambda: phase(cluster, namespace, "zoned", 1) == "Completed", 90, "rolled out")
    items = listed_executions(cluster, namespace, "zoned")
    waves: dict[int, set[str]] = {}
    for e in items:
        waves.setdefault(e["spec"]["rolloutWave"], set()).add(zone[e["spec"]["nodeName"]])
    # 6 nodes, 50 %: waves of 3; zone-b (4 nodes) first: 3 then 1, then zone-a's 2.
    assert waves == {1: {"zone-b"}, 2: {"zone-b"}, 3: {"zone-a"}}
    sizes = sorted((w, sum(1 for e in items if e["spec"]["rolloutWave"] == w)) for w in waves)
    assert sizes == [(1, 3), (2, 1), (3, 2)]
    assert job_status(cluster, namespace, "zoned")["rollout"]["totalWaves"] == 3


def test_a_domain_order_without_a_topology_key_is_refused_at_apply(
    cluster: ControlPlane, namespace: str
) -> None:
    spec = rolling_job("topo", "1", {"strategy": "Rolling", "domainOrder": ["zone-b"]})
    manifest = {"apiVersion": "nodewave.io/v1alpha1", "kind": "Job",
                "metadata": {"name": "bad", "namespace": namespace}, "spec": spec}  # fmt: skip
    done = cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest), check=False)
    assert done.returncode != 0
    assert "spec.rollout.domainOrder: Invalid value" in done.stderr
    assert "domainOrder needs topologyKey" in done.stderr
