"""`nodewave demo`: the embedded default.

Starts a local control plane with fake nodes in three regions, installs the CRDs, runs the
operator, applies the example Jobs and shows them being placed and finishing; then tears
everything down (unless --keep).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from nodewave.localcluster.cli import DEFAULT_REGIONS, build_node_labels
from nodewave.localcluster.controlplane import (
    REPO_ROOT,
    ControlPlane,
    ControlPlaneError,
    find_binaries,
)
from nodewave.localcluster.operator import OperatorProcess


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def install_crds(cp: ControlPlane, crd_dir: Path) -> None:
    cp.kubectl("apply", "--server-side", "-f", str(crd_dir))
    cp.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/jobs.nodewave.io",
        "crd/executions.nodewave.io",
    )


def _jobs(cp: ControlPlane) -> list[dict[str, object]]:
    return list(json.loads(cp.kubectl("get", "nwj", "-o", "json").stdout)["items"])


def _settled(job: dict[str, object]) -> bool:
    status = job.get("status") or {}
    assert isinstance(status, dict)
    conds = {c["type"]: c["status"] for c in status.get("conditions", [])}
    return conds.get("Ready") == "True" or conds.get("Complete") == "True"


def run(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="nodewave-demo-"))
    cp = ControlPlane(workdir=workdir, bin_dir=find_binaries())
    operator = OperatorProcess(cp, workdir / "operator.log")
    started = time.monotonic()
    try:
        say(
            "starting a local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok)"
        )
        cp.start()
        nodes = build_node_labels(args.nodes, list(DEFAULT_REGIONS), {})
        say(f"adding {len(nodes)} fake nodes in {len(DEFAULT_REGIONS)} regions")
        cp.add_nodes(nodes)
        cp.wait_nodes_ready(nodes)
        print(
            cp.kubectl("get", "nodes", "-L", "region", "--no-headers").stdout.count("\n"),
            "nodes Ready",
        )
        say("installing the CRDs")
        install_crds(cp, REPO_ROOT / "crds")
        say("starting the operator (nodewave run)")
        operator.start()
        operator.wait_started()
        say("applying the example Jobs (examples/)")
        print(cp.kubectl("apply", "-f", str(REPO_ROOT / "examples")).stdout, end="")
        say("waiting for every Job to be Ready (pipelines) or Complete (run-to-completion)")
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not all(_settled(j) for j in _jobs(cp)):
            time.sleep(1)
        print(cp.kubectl("get", "nwj", "-o", "wide").stdout, end="")
        say("executions per Job and observed state")
        for job in _jobs(cp):
            status = job.get("status") or {}
            assert isinstance(status, dict)
            print(f"  {job['metadata']['name']:16s} {status.get('executionCounts')}")  # type: ignore[index]
        say("kubectl get nodewave (first lines)")
        print("\n".join(cp.kubectl("get", "nodewave").stdout.splitlines()[:12]))
        if not all(_settled(j) for j in _jobs(cp)):
            print("demo failed: not every Job settled in time", file=sys.stderr)
            return 1
        if args.keep:
            say(
                f"cluster kept running: export KUBECONFIG={cp.kubeconfig}; the operator logs to {operator.log}"
            )
            return 0
    except ControlPlaneError as e:
        print(f"demo failed: {e}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            operator.stop()
            cp.destroy()
    say(f"done in {time.monotonic() - started:.0f}s; the control plane is stopped and removed")
    return 0
