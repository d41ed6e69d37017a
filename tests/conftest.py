"""Shared fixtures. `cluster` starts the real local control plane once per session.

It never skips: when the binaries cannot be built or the control plane cannot start, every
test that needs it errors, so CI cannot pass while hiding a broken environment.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nodewave.localcluster.controlplane import REPO_ROOT, ControlPlane, find_binaries
from nodewave.localcluster.demo import install_crds

TEST_NODES = {
    "worker-a": {"region": "eu-west", "tier": "premium"},
    "worker-b": {"region": "eu-west", "tier": "standard"},
    "worker-c": {"region": "us-east", "tier": "standard", "gpu": "true"},
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "integration" in parts or "e2e" in parts:
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = ControlPlane(workdir=tmp_path_factory.mktemp("cluster"), bin_dir=find_binaries())
    cp.start()
    try:
        install_crds(cp, REPO_ROOT / "crds")
        cp.add_nodes(TEST_NODES)
        cp.wait_nodes_ready(TEST_NODES)
        yield cp
    finally:
        cp.destroy()


def kubectl_json(cp: ControlPlane, *args: str) -> Any:
    return json.loads(cp.kubectl(*args, "-o", "json").stdout)
