"""Chaos fixtures: a control plane of its own (its API server and etcd get restarted), a TCP
proxy the operator talks through (cut and slowed at will), and operators that are killed and
started again. The figures each test measures go to `$NODEWAVE_CHAOS_REPORT` (JSON lines),
from which `make chaos` writes docs/reliability.md.

`NODEWAVE_CHAOS_SCALE` (default 1) multiplies nodes and kills; `NODEWAVE_CHAOS_SEED` fixes
the random moments (default: a new seed each run, printed and recorded)."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nodewave.localcluster.controlplane import ControlPlane
from nodewave.localcluster.operator import OperatorProcess
from tests.chaos.proxy import ChaosProxy
from tests.conftest import OPERATOR_MODE, local_cluster, own_namespace

SCALE = int(os.environ.get("NODEWAVE_CHAOS_SCALE", "1"))
NODES = {f"chaos-{i:03d}": {"chaos": "yes"} for i in range(16 * SCALE)}
# Short leases for the kill test, so that an operator started after a kill -9 takes over in
# seconds: what it tests is what happens around the kill, not the default 15 s wait
# (test_leader_election measures that). Not for a slow link: a renewal there takes 2 s or more.
FAST_LEASE = ("--leader-elect-lease-duration", "2", "--leader-elect-renew-deadline", "1.5",
              "--leader-elect-retry-period", "0.3")  # fmt: skip


@pytest.fixture(scope="package")
def chaos_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    yield from local_cluster(tmp_path_factory.mktemp("chaos"), NODES)


@pytest.fixture(scope="package")
def proxy(chaos_cluster: ControlPlane) -> Iterator[ChaosProxy]:
    p = ChaosProxy(chaos_cluster.ports["apiserver"])
    p.start()
    yield p
    p.stop()


@pytest.fixture(scope="package")
def proxied_kubeconfig(
    chaos_cluster: ControlPlane, proxy: ChaosProxy, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    path = tmp_path_factory.mktemp("proxied") / "kubeconfig"
    text = chaos_cluster.kubeconfig.read_text()
    port = chaos_cluster.ports["apiserver"]
    path.write_text(text.replace(f"127.0.0.1:{port}", f"127.0.0.1:{proxy.port}"))
    return path


class Operators:
    """The operator under chaos: started through the proxy, killed, started again."""

    def __init__(self, cp: ControlPlane, kubeconfig: Path, logs: Path) -> None:
        self.cp, self.kubeconfig, self.logs = cp, kubeconfig, logs
        self.current: OperatorProcess | None = None
        self.started = 0
        self.lease: tuple[str, ...] = ()
        """Leader-election flags of the operators started from now on (default: client-go's)."""

    def start(self) -> OperatorProcess:
        self.started += 1
        op = OperatorProcess(self.cp, self.logs / f"operator-{self.started}.log", "--verbose",
                             *self.lease, *OPERATOR_MODE, kubeconfig=self.kubeconfig)  # fmt: skip
        op.start()
        op.wait_started()
        self.current = op
        return op

    def kill(self) -> None:
        assert self.current is not None
        self.current.kill()

    def stop(self) -> None:
        if self.current is not None:
            self.current.stop()

    def watch_restarts(self) -> int:
        """kopf's "410 Gone" handling: a watch stream restarted from a fresh list."""
        return sum(
            log.read_text(errors="replace").count("Restarting the watch-stream")
            for log in self.logs.glob("operator-*.log")
        )

    def tracebacks(self) -> int:
        return sum(
            log.read_text(errors="replace").count("Traceback")
            for log in self.logs.glob("operator-*.log")
        )


@pytest.fixture
def operators(
    chaos_cluster: ControlPlane, proxied_kubeconfig: Path, tmp_path: Path
) -> Iterator[Operators]:
    ops = Operators(chaos_cluster, proxied_kubeconfig, tmp_path)
    ops.start()
    yield ops
    ops.stop()


@pytest.fixture
def chaos_ns(chaos_cluster: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    yield from own_namespace(chaos_cluster, request, "chaos")


@pytest.fixture(scope="package")
def rng() -> random.Random:
    seed = int(os.environ.get("NODEWAVE_CHAOS_SEED") or random.SystemRandom().randrange(10**9))
    print(f"chaos seed {seed} (NODEWAVE_CHAOS_SEED={seed} repeats these moments)")
    record({"seed": seed, "scale": SCALE, "nodes": len(NODES)})
    return random.Random(seed)


def record(figures: dict[str, Any]) -> None:
    """Append one test's figures to the report, when one is asked for."""
    path = os.environ.get("NODEWAVE_CHAOS_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(figures) + "\n")
