"""The dashboard's node map at scale, in headless Chromium: a Job on N nodes (default 1,000
and 5,000, in 10 zones, half of them moved to the new version) served by the dashboard's own
server from filled caches (no cluster: what is measured is the server's map and the page), then
a wave's worth of cells (10 %) changing state at once.

Printed per size: the first message's size, the time from the first message to the map painted
(the page's own `firstPaintMs`: the DOM built and two animation frames later), the time from
opening the page to the map painted, and the time from the caches changing to the page showing
every changed cell (the server's coalescing included, up to 250 ms).

    python -m bench.dashboard [--nodes 1000 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from typing import Any, cast

from aiohttp import web

from nodewave.cli.dashboard import Dashboard
from nodewave.core.vocabulary.snapshot import NodeInfo
from nodewave.kube.client import Kube
from nodewave.kube.parse import parse_execution, parse_job
from nodewave.localcluster.browser import start_chromium
from nodewave.localcluster.controlplane import free_port

ZONE = "topology.kubernetes.io/zone"


def job_body(nodes: int) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "bench", "name": "fleet", "uid": "u", "generation": 1},
        "spec": {
            "type": "Pipeline", "selector": {"matchLabels": {"bench": "yes"}},
            "template": {"spec": {"containers": [{"name": "m", "image": "a:2"}]}},
            "rollout": {"strategy": "Rolling", "maxParallel": 10, "topologyKey": ZONE,
                        "healthCheck": {"deadlineSeconds": 60}},
        },
        "status": {"currentVersion": 2, "stableVersion": 1, "targetNodes": nodes,
                   "readyNodes": nodes, "rollout": {"phase": "Progressing", "version": 2,
                   "fromVersion": 1, "wave": 5, "totalWaves": 10}},
    }  # fmt: skip


def execution_body(node: str, version: int, wave: int, state: str) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "bench", "name": f"fleet-{node}-v{version}", "uid": node},
        "spec": {"jobName": "fleet", "jobVersion": version, "nodeName": node,
                 "desiredState": "Running", "rolloutWave": wave},
        "status": {"observedState": state},
    }  # fmt: skip


def fill(dashboard: Dashboard, nodes: int) -> list[str]:
    names = [f"node-{i:05d}" for i in range(nodes)]
    dashboard.nodes.store[""] = {
        n: NodeInfo(n, {"bench": "yes", ZONE: f"zone-{i % 10}"}, True, None)
        for i, n in enumerate(names)
    }
    dashboard.jobs.store[("bench", "fleet")] = {"fleet": parse_job(job_body(nodes))}
    execs = {}
    for i, n in enumerate(names):
        version, wave = (2, 1 + i % 5) if i % 2 else (1, 1)
        ex = parse_execution(execution_body(n, version, wave, "Running"))
        execs[ex.name] = ex
    dashboard.executions.store[("bench", "fleet")] = execs
    return names


def serve(dashboard: Dashboard) -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    started = threading.Event()

    async def main() -> None:
        runner = web.AppRunner(dashboard.app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", dashboard.port).start()
        started.set()
        await asyncio.Event().wait()

    threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True).start()
    started.wait(10)
    return loop


def measure(nodes: int) -> dict[str, Any]:
    port = free_port()
    dashboard = Dashboard(cast(Kube, None), None, port)
    names = fill(dashboard, nodes)
    loop = serve(dashboard)
    first = json.dumps({"full": dashboard.node_map("bench", "fleet")})
    browser = start_chromium(1400, 1000)
    try:
        opened = time.monotonic()
        browser.get(f"http://127.0.0.1:{port}/?token={dashboard.token}#/bench/fleet")
        while browser.execute_script("return window.nodewave.firstPaintMs") is None:
            time.sleep(0.01)
        to_paint = time.monotonic() - opened
        paint_ms = browser.execute_script("return window.nodewave.firstPaintMs")
        # A wave's worth of cells changes state at once.
        changed = names[1::2][: nodes // 10]
        execs = dashboard.executions.store[("bench", "fleet")]
        for n in changed:
            ex = parse_execution(execution_body(n, 2, 6, "Validating"))
            execs[ex.name] = ex
        start = time.monotonic()
        loop.call_soon_threadsafe(dashboard.changed)
        probe = "return %s.every(n => (window.nodewave.cells[n] || {}).state === 'Validating')"
        while not browser.execute_script(probe % json.dumps(changed)):
            time.sleep(0.01)
        update = time.monotonic() - start
    finally:
        browser.quit()
    return {"nodes": nodes, "first_message_kib": round(len(first) / 1024), "first_paint_ms":
            round(paint_ms), "open_to_paint_ms": round(to_paint * 1000),
            "update_cells": len(changed), "update_ms": round(update * 1000)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[1000, 5000])
    args = parser.parse_args()
    print(
        "| nodes | first message | first paint (page) | open to painted | cells changed | update shown |"
    )
    print("|---|---|---|---|---|---|")
    for n in args.nodes:
        r = measure(n)
        print(f"| {r['nodes']:,} | {r['first_message_kib']} KiB | {r['first_paint_ms']} ms | "
              f"{r['open_to_paint_ms']} ms | {r['update_cells']} | {r['update_ms']} ms |")  # fmt: skip


if __name__ == "__main__":
    main()
