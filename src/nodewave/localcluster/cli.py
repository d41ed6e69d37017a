"""`nodewave cluster up|down|status`: a local control plane that outlives the command."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from nodewave.localcluster.controlplane import ControlPlane, ControlPlaneError, find_binaries
from nodewave.localcluster.realnode import RealNodeError

DEFAULT_DIR = (
    Path(os.environ.get("NODEWAVE_CACHE", Path.home() / ".cache" / "nodewave")) / "cluster"
)
DEFAULT_REGIONS = ("eu-west", "us-east", "ap-south")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument(
        "--dir", type=Path, default=DEFAULT_DIR, help=f"state directory (default {DEFAULT_DIR})"
    )
    parser.add_argument("--nodes", type=int, default=3, help="fake (kwok) nodes to add (up)")
    parser.add_argument(
        "--real-nodes",
        type=int,
        default=0,
        help="real kubelet nodes to add (up; containerd and runc, needs root): real-0, real-1, …",
    )
    parser.add_argument(
        "--regions",
        default=",".join(DEFAULT_REGIONS),
        help="comma-separated regions; node i gets region i mod len (labels region and topology.kubernetes.io/region)",
    )
    parser.add_argument(
        "--label", action="append", default=[], metavar="KEY=VALUE", help="a label for every node"
    )


def build_node_labels(
    count: int, regions: list[str], extra: dict[str, str]
) -> dict[str, dict[str, str]]:
    """node-000 … node-N with regions assigned round-robin, two zones in each."""
    width = max(3, len(str(count - 1)))
    nodes = {}
    for i in range(count):
        labels = dict(extra)
        if regions:
            region = regions[i % len(regions)]
            zone = f"{region}-{'ab'[i // len(regions) % 2]}"
            labels.update({"region": region, "topology.kubernetes.io/region": region,
                           "topology.kubernetes.io/zone": zone})  # fmt: skip
        nodes[f"node-{i:0{width}d}"] = labels
    return nodes


def up(
    workdir: Path, nodes: int, regions: list[str], labels: dict[str, str], real_nodes: int = 0
) -> ControlPlane:
    if (workdir / "state.json").exists():
        existing = ControlPlane.attach(workdir)
        if existing.alive():
            raise ControlPlaneError(
                f"a cluster is already running in {workdir}; `nodewave cluster down` first"
            )
        existing.destroy()
    cp = ControlPlane(workdir=workdir, bin_dir=find_binaries())
    cp.start()
    if nodes:
        node_labels = build_node_labels(nodes, regions, labels)
        cp.add_nodes(node_labels)
        cp.wait_nodes_ready(node_labels)
    if real_nodes:
        try:
            cp.add_real_nodes({f"real-{i}": dict(labels) for i in range(real_nodes)})
        except BaseException:
            cp.destroy()
            raise
    return cp


def run(args: argparse.Namespace) -> int:
    workdir: Path = args.dir
    try:
        if args.action == "up":
            labels = dict(item.split("=", 1) for item in args.label)
            regions = [r for r in args.regions.split(",") if r]
            cp = up(workdir, args.nodes, regions, labels, args.real_nodes)
            print(
                f"control plane up: {cp.server} ({args.nodes} fake nodes, {args.real_nodes} real)",
                file=sys.stderr,
            )
            print(f"export KUBECONFIG={cp.kubeconfig}")
            print(f"export PATH={cp.bin_dir}:$PATH")
        elif args.action == "down":
            if (workdir / "state.json").exists():
                ControlPlane.attach(workdir).destroy()
                print(f"control plane in {workdir} stopped", file=sys.stderr)
            else:
                print(f"no control plane in {workdir}", file=sys.stderr)
        else:
            if not (workdir / "state.json").exists():
                print(f"no control plane in {workdir}")
                return 1
            cp = ControlPlane.attach(workdir)
            print(f"{'running' if cp.alive() else 'dead'}: {cp.server} kubeconfig={cp.kubeconfig}")
            return 0 if cp.alive() else 1
    except (ControlPlaneError, RealNodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
