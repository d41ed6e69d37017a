"""What one write costs the API server, by kind of write (issue 29, item 1): the numbers the
choice of a new Execution API rests on.

    python -m bench.writes [--count 2000] [--entries 100 500]     (part of make bench)

The operator makes three writes per node where the DaemonSet controller makes one: the
Execution, its pod, the Execution's first status. Which of the ways to fewer writes (design
§4.2) pays depends on what each write costs, so this measures, on the local control plane with
the operator's real objects (an Execution and its pod captured from a live placement, renamed
per write), the CPU of kube-apiserver and etcd per write:

- `pod create`: the operator's pod (held by a scheduling gate, so no scheduler or kubelet
  write follows; a DaemonSet's pod is the same write), and an annotation added to it (a
  node's fact, such as when it was validated, kept on its pod);
- `execution create` and `execution status`: the two custom-resource writes of today;
- `execution create with status`: the same object created with its status in one write, as a
  version of the CRD without the status subresource would allow (a copy of the CRD under a
  group of its own);
- `wave object, N entries`: one object holding N nodes' states (the "one object per wave"
  way), rewritten whole as one node changes: the cost of each such write, and per node.

Writes go 16 at a time over kept-alive connections (as the operator's client does), with a
watch open on what is written (as the operator's informers are), and the CPU the control plane
spends idle over the same time is subtracted. Figures are appended to bench/results.md.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import datetime as dt
import json
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bench.common import NS, add_table_rows, cluster_cpu, spread, start_cluster, wait
from bench.fleet import apply, job
from nodewave.localcluster.controlplane import REPO_ROOT, ControlPlane
from nodewave.localcluster.operator import OperatorProcess

EXECUTIONS = f"/apis/nodewave.io/v1alpha1/namespaces/{NS}/executions"
PODS = f"/api/v1/namespaces/{NS}/pods"
PROBE_GROUP = "probe.nodewave.io"
INLINE = f"/apis/{PROBE_GROUP}/v1alpha1/namespaces/{NS}/executions"
WAVES = f"/apis/{PROBE_GROUP}/v1alpha1/namespaces/{NS}/waves"
CONCURRENCY = 16
Body = Callable[[int], tuple[str, str, dict[str, Any]]]
"""The i-th write of a case: (method, path, body)."""
CREATED: dict[str, str] = {}
"""Each object's resourceVersion as its create returned it (what an update must send)."""


def capture(cp: ControlPlane) -> tuple[dict[str, Any], dict[str, Any]]:
    """A running Execution and its pod, as the operator made them on a kwok node."""
    op = OperatorProcess(cp, cp.workdir / "operator.log")
    op.start()
    try:
        op.wait_started()
        apply(cp, job("probe", "v1"))

        def running() -> bool:
            items = cp.get(EXECUTIONS)["items"]
            return bool(items) and all(
                (x.get("status") or {}).get("observedState") == "Running" for x in items
            )

        wait(running, 120, "the probe Job's executions running")
    finally:
        op.stop()
    execution = cp.get(EXECUTIONS)["items"][0]
    pod = cp.get(f"{PODS}/{execution['status']['podName']}")
    return execution, pod


def bare(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as a client sends it: no server-set metadata (each write names its own)."""
    body = copy.deepcopy(obj)
    meta = body["metadata"]
    for key in ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"):
        meta.pop(key, None)
    return body


def build_pod(pod: dict[str, Any]) -> Body:
    template = bare(pod)
    template.pop("status", None)
    template["spec"].pop("nodeName", None)
    template["spec"]["schedulingGates"] = [{"name": "bench.nodewave.io/hold"}]

    def body(i: int) -> tuple[str, str, dict[str, Any]]:
        out = copy.deepcopy(template)
        out["metadata"]["name"] = f"w-pod-{i:05d}"
        return "POST", PODS, out

    return body


def build_execution(execution: dict[str, Any], path: str, with_status: bool) -> Body:
    template = bare(execution)
    if not with_status:
        template.pop("status", None)
    if path == INLINE:
        template["apiVersion"] = f"{PROBE_GROUP}/v1alpha1"

    def body(i: int) -> tuple[str, str, dict[str, Any]]:
        out = copy.deepcopy(template)
        out["metadata"]["name"] = f"w-ex-{i:05d}"
        return "POST", path, out

    return body


def build_pod_mark(execution: dict[str, Any]) -> Body:
    """An annotation on the i-th pod (a node's fact kept on its pod, such as the time it was
    validated, instead of on its Execution): a merge patch of the pod's metadata."""
    stable = {
        "metadata": {"annotations": {"nodewave.io/stable-at": execution["status"]["startedAt"]}}
    }

    def body(i: int) -> tuple[str, str, dict[str, Any]]:
        return "PATCH", f"{PODS}/w-pod-{i:05d}", stable

    return body


def build_status(execution: dict[str, Any], update: bool) -> Body:
    """The first status of the i-th execution: a merge patch of the status (what the operator
    sends), or an update of the whole object at the version its create returned."""
    template = bare(execution)
    status = {"status": execution["status"]}

    def body(i: int) -> tuple[str, str, dict[str, Any]]:
        name = f"w-ex-{i:05d}"
        path = f"{EXECUTIONS}/{name}/status"
        if not update:
            return "PATCH", path, status
        whole = copy.deepcopy(template)
        whole["metadata"] |= {"name": name, "resourceVersion": CREATED[name]}
        return "PUT", path, whole

    return body


def build_wave(execution: dict[str, Any], entries: int) -> Body:
    """One wave object of `entries` nodes, each entry the fields a node's state needs; the
    i-th write changes entry i % entries and sends the whole status (a merge patch of a list
    replaces it: what a writer of one entry sends)."""
    status = execution["status"]
    entry = {
        "node": execution["spec"]["nodeName"],
        "state": status["observedState"],
        "pod": status.get("podName", ""),
        "startedAt": status.get("startedAt", ""),
        "restarts": 0,
        "message": status.get("message", ""),
    }
    nodes = [dict(entry, node=f"bench-{n:04d}") for n in range(entries)]

    def body(i: int) -> tuple[str, str, dict[str, Any]]:
        nodes[i % entries] = dict(nodes[i % entries], restarts=i)
        return "PATCH", f"{WAVES}/wave-{entries}", {"status": {"nodes": list(nodes)}}

    return body


def install_probe_crds(cp: ControlPlane) -> None:
    """The Execution CRD under a group of its own without the status subresource, and a wave
    kind whose status holds a list of node entries."""
    crd = yaml.safe_load((REPO_ROOT / "crds" / "nodewave.io_executions.yaml").read_text())
    crd["metadata"] = {"name": f"executions.{PROBE_GROUP}"}
    crd["spec"]["group"] = PROBE_GROUP
    for version in crd["spec"]["versions"]:
        version.pop("subresources", None)
    entry = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    wave_schema = {
        "type": "object",
        "properties": {
            "status": {
                "type": "object",
                "properties": {"nodes": {"type": "array", "items": entry}},
            }
        },
    }
    waves = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"waves.{PROBE_GROUP}"},
        "spec": {
            "group": PROBE_GROUP,
            "scope": "Namespaced",
            "names": {"plural": "waves", "singular": "wave", "kind": "Wave"},
            "versions": [
                {
                    "name": "v1alpha1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": wave_schema},
                }
            ],
        },
    }
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([crd, waves]))
    cp.kubectl("wait", "--for=condition=Established", "crd", f"executions.{PROBE_GROUP}",
               f"waves.{PROBE_GROUP}", "--timeout=60s")  # fmt: skip
    time.sleep(2)  # discovery


class Writer:
    """Kept-alive connections to the API server as the local control plane's admin."""

    def __init__(self, cp: ControlPlane) -> None:
        self.cp = cp
        self.ssl = ssl.create_default_context(cafile=str(cp.pki / "ca.crt"))
        self.ssl.load_cert_chain(str(cp.pki / "admin.crt"), str(cp.pki / "admin.key"))

    async def run(self, body: Body, count: int, watch: str) -> None:
        """`count` writes, CONCURRENCY at a time, with a watch open on `watch` throughout."""
        connector = aiohttp.TCPConnector(ssl=self.ssl, limit=CONCURRENCY + 1)
        async with aiohttp.ClientSession(self.cp.server, connector=connector) as session:
            watcher = asyncio.create_task(self._watch(session, watch))
            queue = iter(range(count))

            async def worker() -> None:
                for i in queue:
                    method, path, payload = body(i)
                    kind = (
                        "application/merge-patch+json" if method == "PATCH" else "application/json"
                    )
                    async with session.request(method, path, data=json.dumps(payload),
                                               headers={"Content-Type": kind}) as r:  # fmt: skip
                        if r.status >= 300:
                            raise RuntimeError(f"{method} {path}: {r.status} {await r.text()}")
                        if method == "POST":
                            meta = (await r.json())["metadata"]
                            CREATED[meta["name"]] = meta["resourceVersion"]

            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
            await asyncio.sleep(1)  # the watch's last events
            watcher.cancel()

    @staticmethod
    async def _watch(session: aiohttp.ClientSession, path: str) -> None:
        # From now: the objects of earlier cases are not this case's events.
        async with session.get(path, params={"limit": "1"}) as r:
            version = (await r.json())["metadata"]["resourceVersion"]
        params = {"watch": "1", "resourceVersion": version, "allowWatchBookmarks": "true"}
        async with session.get(path, params=params, timeout=aiohttp.ClientTimeout()) as r:
            async for _ in r.content.iter_chunked(1 << 16):
                pass


def control_plane_cpu(cp: ControlPlane) -> dict[str, float]:
    """CPU seconds so far of the two processes a write costs (`cluster_cpu`'s names)."""
    every = cluster_cpu(cp)
    return {name: every[name] for name in ("apiserver", "etcd")}


def idle_rate(cp: ControlPlane, seconds: float = 20) -> dict[str, float]:
    """CPU seconds per second the API server and etcd spend with nothing written."""
    before = control_plane_cpu(cp)
    time.sleep(seconds)
    after = control_plane_cpu(cp)
    return {name: (after[name] - before[name]) / seconds for name in before}


def measure(
    cp: ControlPlane,
    idle: dict[str, float],
    case: tuple[Body, int, str],
) -> dict[str, float]:
    """CPU ms per write of kube-apiserver and etcd, less what they spend idle meanwhile."""
    body, count, watch = case
    writer = Writer(cp)
    before, start = control_plane_cpu(cp), time.monotonic()
    asyncio.run(writer.run(body, count, watch))
    after, took = control_plane_cpu(cp), time.monotonic() - start
    return {name: 1000 * (after[name] - before[name] - idle[name] * took) / count for name in idle}


def size(body: Body) -> int:
    """Bytes of JSON one write of the case sends."""
    return len(json.dumps(body(0)[2]))


def cases(
    execution: dict[str, Any], pod: dict[str, Any], count: int, entries: list[int], offset: int
) -> dict[str, tuple[Body, int, str]]:
    """Each case's writes, named for the table; names numbered from `offset` (a round's)."""

    def shifted(body: Body, by: int = 0) -> Body:
        return lambda i: body(i + offset + by)

    # Twice `count` executions: the first half's status is patched, the second half's updated.
    out = {
        "pod create": (shifted(build_pod(pod)), count, PODS),
        "pod annotation (merge patch)": (shifted(build_pod_mark(execution)), count, PODS),
        "execution create": (
            shifted(build_execution(execution, EXECUTIONS, False)),
            2 * count,
            EXECUTIONS,
        ),
        "execution status (merge patch)": (
            shifted(build_status(execution, False)),
            count,
            EXECUTIONS,
        ),
        "execution status (update)": (
            shifted(build_status(execution, True), count),
            count,
            EXECUTIONS,
        ),
        "execution create with status": (
            shifted(build_execution(execution, INLINE, True)),
            count,
            INLINE,
        ),
    }
    for n in entries:
        # A few hundred ms each: a twentieth as many.
        out[f"wave object, {n} entries"] = (build_wave(execution, n), max(count // 20, 10), WAVES)
    return out


def create_waves(cp: ControlPlane, entries: list[int]) -> None:
    for n in entries:
        body = {"apiVersion": f"{PROBE_GROUP}/v1alpha1", "kind": "Wave",
                "metadata": {"name": f"wave-{n}", "namespace": NS}}  # fmt: skip
        cp.kubectl("apply", "-f", "-", input=json.dumps(body))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=2000, help="writes per case and round")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--entries", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--results", type=Path, default=REPO_ROOT / "bench" / "results.md")
    args = parser.parse_args()
    cp = start_cluster(1, 1000, "nodewave-writes-")
    try:
        execution, pod = capture(cp)
        install_probe_crds(cp)
        create_waves(cp, args.entries)
        idle = idle_rate(cp)
        print(f"idle: {idle}", flush=True)
        rounds: dict[str, list[dict[str, float]]] = {}
        sizes: dict[str, int] = {}
        for r in range(args.runs):
            for name, case in cases(
                execution, pod, args.count, args.entries, 2 * r * args.count
            ).items():
                got = measure(cp, idle, case)
                rounds.setdefault(name, []).append(got)
                sizes[name] = size(case[0])
                print(f"round {r + 1} {name}: " + ", ".join(f"{k} {v:.2f} ms" for k, v in got.items()),
                      flush=True)  # fmt: skip
    finally:
        cp.destroy()
    record(args.results, args.count, rounds, sizes)
    return 0


def record(
    results: Path, count: int, rounds: dict[str, list[dict[str, float]]], sizes: dict[str, int]
) -> None:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = ""
    for name, got in rounds.items():
        api = [g["apiserver"] for g in got]
        etcd = [g["etcd"] for g in got]
        both = [a + e for a, e in zip(api, etcd, strict=True)]
        rows += (
            f"| {stamp} | {name} | {sizes[name]} | {len(got)} | {spread(api, '.2f')} "
            f"| {spread(etcd, '.2f')} | {spread(both, '.2f')} |\n"
        )
    add_table_rows(
        results,
        f"`python -m bench.writes` (issue 29, item 1): CPU of kube-apiserver and etcd per write, "
        f"by kind of write, {count} writes a case and round, 16 at a time with a watch open on "
        "what is written, the idle rate subtracted; median [min, max] over the rounds.",
        "| date | write | bytes | runs | kube-apiserver ms | etcd ms | both ms |\n"
        "|---|---|---|---|---|---|---|\n",
        rows,
    )


if __name__ == "__main__":
    raise SystemExit(main())
