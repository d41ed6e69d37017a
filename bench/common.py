"""What both benchmarks need: a local control plane with N ready kwok nodes and the CRDs."""

from __future__ import annotations

import tempfile
from pathlib import Path

from nodewave.localcluster.controlplane import REPO_ROOT, ControlPlane, find_binaries
from nodewave.localcluster.demo import install_crds

NS = "bench"


def start_cluster(n: int, client_qps: int, prefix: str) -> ControlPlane:
    """Nodes bench-0000… labelled bench=yes, namespace `bench`; the caller destroys it."""
    cp = ControlPlane(
        workdir=Path(tempfile.mkdtemp(prefix=prefix)),
        bin_dir=find_binaries(),
        client_qps=client_qps,
    )
    try:
        cp.start()
        install_crds(cp, REPO_ROOT / "crds")
        cp.kubectl("create", "namespace", NS)
        names = {f"bench-{i:04d}": {"bench": "yes"} for i in range(n)}
        cp.add_nodes(names)
        cp.wait_nodes_ready(names, timeout=600)
    except BaseException:
        cp.destroy()
        raise
    return cp
