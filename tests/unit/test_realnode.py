"""Addressing and configuration of real nodes (pure parts of localcluster/realnode.py)."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodewave.localcluster import realnode
from nodewave.localcluster.realnode import (
    MAX_CLUSTERS,
    MAX_NODES,
    SERVICE_IP,
    NodeNetwork,
    RealNode,
)

networks = st.tuples(st.integers(0, MAX_CLUSTERS - 1), st.integers(0, MAX_NODES - 1)).map(
    lambda ck: NodeNetwork(*ck)
)

# What else lives in this address space: the Service range and kwok's pod and node addresses.
OTHERS = [ipaddress.ip_network(n) for n in ("10.0.0.0/24", "10.244.0.0/16", "10.96.0.1/32")]


def _link(n: NodeNetwork) -> ipaddress.IPv4Network:
    return ipaddress.ip_network(f"{n.node_ip}/30", strict=False)


@given(networks, networks)
def test_two_nodes_never_share_a_link_or_a_pod_range(a: NodeNetwork, b: NodeNetwork) -> None:
    if a == b:
        return
    assert not _link(a).overlaps(_link(b))
    assert not ipaddress.ip_network(a.pod_cidr).overlaps(ipaddress.ip_network(b.pod_cidr))
    assert a.netns != b.netns
    assert a.host_link != b.host_link


@given(networks)
def test_a_node_stays_clear_of_the_cluster_and_kwok_ranges(n: NodeNetwork) -> None:
    link, pods = _link(n), ipaddress.ip_network(n.pod_cidr)
    assert ipaddress.ip_address(n.host_ip) in link
    assert ipaddress.ip_address(n.node_ip) in link
    assert n.host_ip != n.node_ip
    assert not link.overlaps(pods)
    for other in OTHERS:
        assert not link.overlaps(other)
        assert not pods.overlaps(other)
    assert len(n.host_link) <= 15  # Linux interface names
    assert all(ipaddress.ip_address(a).is_private for a in (n.host_ip, n.node_ip))


def test_configuration_points_inside_the_nodes_directory(tmp_path: Path) -> None:
    node = RealNode("real-0", NodeNetwork(3, 2), tmp_path / "real-0")
    kubelet = node.build_kubelet_config()
    assert kubelet["address"] == node.network.node_ip == "10.217.3.10"
    assert kubelet["containerRuntimeEndpoint"] == f"unix://{node.containerd_socket}"
    assert kubelet["authentication"]["anonymous"] == {"enabled": False}
    for key in ("podLogsDir", "volumePluginDir", "tlsCertFile"):
        assert kubelet[key].startswith(str(node.directory)), key
    cni = node.build_cni_config()["plugins"][0]
    assert cni["ipMasq"] is False
    assert cni["ipam"]["ranges"] == [[{"subnet": "10.219.26.0/24", "gateway": "10.219.26.1"}]]
    assert (
        node.build_kubeconfig()["clusters"][0]["cluster"]["server"] == f"https://{SERVICE_IP}:443"
    )
    toml = node.build_containerd_config()
    assert "restrict_oom_score_adj = true" in toml
    assert f'Root = "{node.runc_root}"' in toml
    assert RealNode.from_state(node.to_state()) == node


def _cluster_dir(tmp_path: Path, name: str, pid: int) -> Path:
    workdir = tmp_path / name
    workdir.mkdir()
    (workdir / "state.json").write_text(json.dumps({"pids": {"etcd": pid}, "realNodes": []}))
    return workdir


def test_a_subnet_is_claimed_once_and_reclaimed_when_its_cluster_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(realnode, "CLAIMS", tmp_path / "claims")
    dead = subprocess.Popen(["true"])
    dead.wait()
    alive = _cluster_dir(tmp_path, "alive", os.getpid())
    first = realnode.allocate_cluster_subnet(alive)
    # A live cluster keeps its claim: the next one gets another subnet.
    second = realnode.allocate_cluster_subnet(_cluster_dir(tmp_path, "next", os.getpid()))
    assert second != first
    # Killed without `cluster down` (no process left): its subnet is reclaimed.
    (alive / "state.json").write_text(json.dumps({"pids": {"etcd": dead.pid}}))
    newcomer = _cluster_dir(tmp_path, "newcomer", os.getpid())
    assert realnode.allocate_cluster_subnet(newcomer) == first
    assert (tmp_path / "claims" / str(first)).read_text() == str(newcomer)
    realnode.release_cluster_subnet(first)
    assert not (tmp_path / "claims" / str(first)).exists()
