"""`nodewave demo`: the embedded default.

Starts a local control plane with fake nodes in three regions, installs the CRDs, applies the
example Jobs and shows them with `kubectl get nodewave`; then tears everything down (unless
--keep). Later work turns this into a live rollout with the operator.
"""

from __future__ import annotations

import argparse
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


def run(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="nodewave-demo-"))
    cp = ControlPlane(workdir=workdir, bin_dir=find_binaries())
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
        say("applying the example Jobs")
        print(cp.kubectl("apply", "-f", str(REPO_ROOT / "examples")).stdout, end="")
        say("kubectl get nodewave")
        print(cp.kubectl("get", "nodewave").stdout, end="")
        say("kubectl explain jobs.spec.rollout (field docs from the models)")
        print("\n".join(cp.kubectl("explain", "jobs.spec.rollout").stdout.splitlines()[:16]))
        if args.keep:
            say(
                f"cluster kept running: export KUBECONFIG={cp.kubeconfig}; stop it with: kill the pids in {workdir}/state.json"
            )
            return 0
    except ControlPlaneError as e:
        print(f"demo failed: {e}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            cp.destroy()
    say(f"done in {time.monotonic() - started:.0f}s; the control plane is stopped and removed")
    return 0
