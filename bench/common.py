"""What the benchmarks share: a local control plane with N ready kwok nodes and the CRDs, and
the readings of the operator's process (its memory, its /metrics)."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from nodewave.localcluster.controlplane import REPO_ROOT, ControlPlane, find_binaries
from nodewave.localcluster.demo import install_crds
from nodewave.localcluster.operator import OperatorProcess

NS = "bench"
LARGE = 2000
"""From this many nodes the node heartbeats are slowed down (see start_cluster)."""


def spread(values: list[float], fmt: str = ".1f") -> str:
    """median [min, max]"""
    return f"{statistics.median(values):{fmt}} [{min(values):{fmt}}, {max(values):{fmt}}]"


def start_cluster(
    n: int,
    client_qps: int,
    prefix: str,
    apiserver_args: list[str] | None = None,
    slow_heartbeats: bool | None = None,
) -> ControlPlane:
    """Nodes bench-0000… labelled bench=yes, namespace `bench`; the caller destroys it.

    Large clusters get a node lease of 300 s (renewed every 75 s) and a node monitor grace
    period of 360 s: at kwok's and the kubelet's default of 40 s, 5,000 nodes renew 500 leases
    a second, which on this 2-core machine starved the API server, nodes missed the 50 s grace
    period and went NotReady mid-benchmark (both the operator and the DaemonSet controller then
    rightly stop treating them as healthy). A real 5,000-node cluster spreads that load over
    control-plane machines of its own; here it would measure the heartbeats, not the
    controllers. `slow_heartbeats` (default: from LARGE nodes) for a smaller cluster under as
    much load: 20 Jobs on 1,000 nodes (20,000 pods) starved the 40 s heartbeats too, nodes
    went NotReady for a moment, and the node lifecycle controller marked their pods not Ready
    for good (kwok never sets them Ready again)."""
    large = n >= LARGE if slow_heartbeats is None else slow_heartbeats
    cp = ControlPlane(
        workdir=Path(tempfile.mkdtemp(prefix=prefix)),
        bin_dir=find_binaries(),
        client_qps=client_qps,
        node_lease_seconds=300 if large else 40,
        controller_manager_args=["--node-monitor-grace-period=360s"] if large else [],
        apiserver_args=apiserver_args or [],
    )
    try:
        cp.start()
        install_crds(cp, REPO_ROOT / "crds")
        cp.kubectl("create", "namespace", NS)
        names = {f"bench-{i:04d}": {"bench": "yes"} for i in range(n)}
        cp.add_nodes(names)
        cp.wait_nodes_ready(names, timeout=900)
    except BaseException:
        cp.destroy()
        raise
    return cp


def add_table_rows(results: Path, intro: str, header: str, rows: str) -> None:
    """Rows added at the end of their own table in the results file (the table, after
    `intro`, at the end of the file when it is not there yet): each benchmark has a table,
    and rows appended to the end of the file landed under the other one's header."""
    text = results.read_text() if results.exists() else "# Benchmark results\n"
    if header not in text:
        text = text.rstrip("\n") + "\n\n" + intro + "\n\n" + header
    start = text.index(header) + len(header)
    end = start
    while end < len(text) and text.startswith("|", end):
        end = text.index("\n", end) + 1 if "\n" in text[end:] else len(text)
    results.write_text(text[:end] + rows + text[end:])


def wait(pred: Any, timeout: float, what: str) -> float:
    """Polled every 50 ms straight from the API: the completion time is not the poller's."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return time.monotonic()
        time.sleep(0.05)
    raise TimeoutError(what)


def memory_mib(pid: int, field: str) -> float:
    """A /proc/PID/status memory figure in MiB (VmRSS now, VmHWM the peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cluster_cpu(cp: ControlPlane) -> dict[str, float]:
    """CPU seconds so far of each control-plane process (where a run's time goes)."""
    out = {}
    for name, pid in cp.pids.items():
        try:
            out[name.removeprefix("kube-")] = cpu_seconds(pid)
        except OSError:
            continue
    return out


def settled_rss(op: OperatorProcess) -> float:
    """The operator's RSS once garbage has had a moment to go (read after three seconds)."""
    assert op.proc is not None
    time.sleep(3)
    return memory_mib(op.proc.pid, "VmRSS")


def operator_metrics(op: OperatorProcess) -> str:
    """The operator's /metrics, as Prometheus would scrape it."""
    with urllib.request.urlopen(f"http://127.0.0.1:{op.metrics_port}/metrics") as r:
        return str(r.read().decode())
