"""Shared fixtures. `cluster` starts the real local control plane once per session.

It never skips: when the binaries cannot be built or the control plane cannot start, every
test that needs it errors, so CI cannot pass while hiding a broken environment.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from nodewave.localcluster.controlplane import REPO_ROOT, ControlPlane, find_binaries
from nodewave.localcluster.demo import install_crds
from nodewave.localcluster.operator import OperatorProcess

TEST_NODES = {
    "worker-a": {"region": "eu-west", "tier": "premium"},
    "worker-b": {"region": "eu-west", "tier": "standard"},
    "worker-c": {"region": "us-east", "tier": "standard", "gpu": "true"},
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        if {"integration", "e2e", "chaos", "demo", "release", "kind"} & set(parts):
            item.add_marker(pytest.mark.cluster)
    # Longest first (the test scheduler below hands scopes out in this order), stable within
    # a rank.
    items.sort(key=lambda item: scope_rank(item.nodeid))


# Scopes of a few minutes each, in the order they start: the kind cluster (~5 minutes), the
# demo and the chaos package (~3.5 each), the e2e package (~4); then the integration files
# (10 s to 3 minutes), and the unit tests last, to fill the workers' gaps.
LONG_SCOPES = ("tests/kind/", "tests/demo/", "tests/chaos/", "tests/e2e/", "tests/release/")


def scope_rank(nodeid: str) -> int:
    """Where a test's scope goes in the queue: by pytest-xdist's default the scopes with the
    most tests go first, which put the demo and chaos scopes (one to three tests each, three
    and a half minutes) last and left the other workers idle while they ran."""
    for rank, package in enumerate(LONG_SCOPES):
        if nodeid.startswith(package):
            return rank
    return len(LONG_SCOPES) + (not nodeid.startswith("tests/integration/"))


def split_scope(nodeid: str) -> str:
    """What runs whole on one worker of `make test`'s three (pytest-xdist): the e2e and chaos
    packages (each starts control planes of its own for the package, and two of them side by
    side would double the load for nothing), every other test file by itself. The integration
    files go to whichever worker is free, so each worker starts the session's control plane
    once, and they run side by side."""
    path = nodeid.split("::", 1)[0]
    for package in ("tests/e2e/", "tests/chaos/"):
        if path.startswith(package):
            return package
    return path


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    # Not `--dist loadgroup`: from pytest 9.2 its xdist_group marks no longer group anything
    # (pytest-dev/pytest-xdist#1386); a scheduler of our own splits by path instead, and
    # keeps the collection's order (`scope_rank`) rather than sorting scopes by test count.
    from xdist.scheduler import LoadScopeScheduling

    config.option.loadscopereorder = False

    class ByPackage(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return split_scope(nodeid)

    return ByPackage(config, log)


def local_cluster(
    workdir: Path,
    fake: Mapping[str, Mapping[str, str]],
    real: Mapping[str, Mapping[str, str]] | None = None,
    registry_rate: int = 0,
) -> Iterator[ControlPlane]:
    """A control plane with the CRDs, kwok nodes and (optionally) real kubelet nodes, all
    Ready, the real ones pulling from the local registry at `registry_rate` bytes a second (0:
    unlimited); destroyed afterwards, containers and network namespaces included."""
    cp = ControlPlane(workdir=workdir, bin_dir=find_binaries(), registry_rate=registry_rate)
    cp.start()
    try:
        install_crds(cp, REPO_ROOT / "crds")
        cp.add_nodes(fake)
        if real:
            cp.add_real_nodes(real)
        cp.wait_nodes_ready(fake)
        yield cp
    finally:
        cp.destroy()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    yield from local_cluster(tmp_path_factory.mktemp("cluster"), TEST_NODES)


def kubectl_json(cp: ControlPlane, *args: str) -> Any:
    return json.loads(cp.kubectl(*args, "-o", "json").stdout)


NODE_LOST_GRACE = 5
OPERATOR_MODE = ("--pod-records",) if os.environ.get("NODEWAVE_TEST_POD_RECORDS") == "1" else ()
"""Flags of every operator the suite starts: `NODEWAVE_TEST_POD_RECORDS=1 make test` runs them
with `--pod-records` (docs/design.md §4.2), how far the flag is from being the default."""


def running_operator(cp: ControlPlane, log_dir: Path) -> Iterator[OperatorProcess]:
    """The operator, a real process, with a short node-lost grace for the tests, and its
    notifications configuration read every second."""
    op = OperatorProcess(cp, log_dir / "operator.log", "--node-lost-grace", str(NODE_LOST_GRACE),
                         "--notifications-refresh", "1",
                         *OPERATOR_MODE)  # fmt: skip
    op.start()
    op.wait_started()
    yield op
    op.stop()


def own_namespace(cp: ControlPlane, request: pytest.FixtureRequest, prefix: str) -> Iterator[str]:
    """A namespace of the test's own, so tests never see each other's Jobs."""
    test = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-")
    name = f"{prefix}-{test}-{uuid.uuid4().hex[:5]}"
    cp.kubectl("create", "namespace", name)
    yield name
    cp.kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture(scope="session")
def operator(
    cluster: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    yield from running_operator(cluster, tmp_path_factory.mktemp("operator"))


@pytest.fixture
def namespace(cluster: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    yield from own_namespace(cluster, request, "t")


def wait_for(
    predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.25
) -> Any:
    """Poll until the predicate returns something truthy; return it, or fail naming what."""
    end = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < end:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
