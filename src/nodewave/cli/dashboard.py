"""`kubectl nodewave dashboard`: a local web view of the Jobs and, for one Job, its node map,
live, with the plugin's promote, pause, resume and abort as buttons (docs/design.md §7.1).

It runs on the user's machine, as the user: the user's kubeconfig, so what it shows and what
its buttons may do is the user's RBAC, as with `kubectl argo rollouts dashboard`. It serves on
127.0.0.1 only, with aiohttp (already the operator's HTTP stack, kopf's; no web framework is
needed for four routes). What it shows comes from watches (the operator's own informers:
list once, then watch), pushed to the page as server-sent events: the page never polls. For a
Job the stream sends the node map whole once, then only what changed (`build_map_changes`),
at most `UPDATES_PER_SECOND` times a second, so a 5,000-node rollout is a few cells per update.

A page served on localhost can be reached by any web site the user visits, and by every other
user of the machine: the page and its event streams are served only with the token printed in
the URL (`?token=`, as Jupyter does; a cross-site page cannot read it, another user does not
see it), every write also needs it in a header (which no cross-site form can set), and a
request whose Host is not this server's own (DNS rebinding) is refused.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from nodewave.cli.errors import PluginError
from nodewave.cli.operations import abort_job, pause_job, promote_job
from nodewave.core.views.nodemap import build_map_changes, build_node_map
from nodewave.core.views.records import build_record_views
from nodewave.core.vocabulary.naming import ANNOTATION_JOB, LABEL_JOB
from nodewave.core.vocabulary.snapshot import ExecutionInfo, JobInfo, NodeInfo, PodInfo
from nodewave.kube.client import Kube, KubeError, path_of
from nodewave.kube.informer import Informer
from nodewave.kube.parse import parse_execution, parse_job, parse_node, parse_pod
from nodewave.kube.view import JobKey

STATIC = Path(__file__).with_name("web")
"""The page: index.html, app.js, style.css (no build step, no framework)."""
UPDATES_PER_SECOND = 4
KEEPALIVE_SECONDS = 15.0
TOKEN_HEADER = "X-Nodewave-Token"
PUBLIC = frozenset({"/app.js", "/style.css"})
"""What is served without the token: the page's code, which holds nothing of the user's."""


def _job_key(body: Mapping[str, Any]) -> JobKey:
    meta = body["metadata"]
    return meta["namespace"], meta["name"]


def _execution_key(body: Mapping[str, Any]) -> JobKey | None:
    job = (body.get("spec") or {}).get("jobName")
    return (body["metadata"]["namespace"], job) if job else None


def _pod_key(body: Mapping[str, Any]) -> JobKey | None:
    job = (body["metadata"].get("annotations") or {}).get(ANNOTATION_JOB)
    return (body["metadata"]["namespace"], job) if job else None


class Dashboard:
    def __init__(self, kube: Kube, namespace: str | None, port: int) -> None:
        self.kube = kube
        self.namespace = namespace
        """Only this namespace's Jobs; None: every namespace."""
        self.port = port
        self.token = secrets.token_urlsafe(24)
        self._clients: set[asyncio.Event] = set()
        self.jobs: Informer[JobKey, JobInfo] = Informer(
            kube, path_of("jobs", namespace), parse_job, _job_key, self.changed
        )
        self.executions: Informer[JobKey, ExecutionInfo] = Informer(
            kube, path_of("executions", namespace), parse_execution, _execution_key, self.changed
        )
        self.pods: Informer[JobKey, PodInfo] = Informer(
            kube, path_of("pods", namespace), parse_pod, _pod_key, self.changed,
            label_selector=LABEL_JOB, give_up_on=(403,),
        )  # fmt: skip
        """The Jobs' pods: under --pod-records, most executions are only these (a role
        without pods sees the Executions alone)."""
        self.nodes: Informer[str, NodeInfo] = Informer(
            kube, path_of("nodes", None), parse_node, lambda _: "", self.changed
        )
        self.actions: dict[str, Callable[[str, str], Awaitable[str]]] = {}
        """Button → what it does (the plugin's own functions, set by the command)."""

    @property
    def url(self) -> str:
        """The page's address, token included: whoever has it may act as the user."""
        return f"http://127.0.0.1:{self.port}/?token={self.token}"

    def changed(self, *_: Any) -> None:
        for wake in self._clients:
            wake.set()

    # ---- what the page reads --------------------------------------------------------------

    def job_list(self) -> list[dict[str, Any]]:
        out = []
        for (ns, name), bucket in sorted(self.jobs.store.items()):
            job = bucket.get(name)
            if job is None:
                continue
            rs = job.status.rollout
            out.append({
                "namespace": ns, "name": name, "type": job.spec.type.value,
                "strategy": job.spec.rollout.strategy.value,
                "phase": rs.phase.value if rs is not None and rs.phase else None,
                "currentVersion": job.status.current_version,
                "stableVersion": job.status.stable_version,
                "wave": rs.wave if rs else 0, "totalWaves": rs.total_waves if rs else 0,
                "readyNodes": job.status.ready_nodes, "targetNodes": job.status.target_nodes,
            })  # fmt: skip
        return out

    def node_map(self, ns: str, name: str) -> dict[str, Any] | None:
        job = self.jobs.store.get((ns, name), {}).get(name)
        if job is None:
            return None
        executions = tuple(self.executions.store.get((ns, name), {}).values())
        nodes = self.nodes.store.get("", {})
        pods = self.pods.store.get((ns, name), {})
        records = build_record_views(pods, executions, job, datetime.now(UTC), nodes)
        return build_node_map(job, executions + records, nodes)

    # ---- the server -----------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._only_local])
        app.router.add_get("/", self._index)
        app.router.add_get("/app.js", self._static("app.js", "text/javascript"))
        app.router.add_get("/style.css", self._static("style.css", "text/css"))
        app.router.add_get("/events/jobs", self._job_events)
        app.router.add_get("/events/jobs/{ns}/{name}", self._map_events)
        app.router.add_post("/api/jobs/{ns}/{name}/{action}", self._act)
        return app

    @web.middleware
    async def _only_local(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.host not in (f"127.0.0.1:{self.port}", f"localhost:{self.port}"):
            raise web.HTTPForbidden(text="this dashboard answers on 127.0.0.1 only")
        # Reads (the page, its streams) carry the token in the URL; writes in a header (_act).
        readable = request.method != "GET" or request.path in PUBLIC
        if not readable and not secrets.compare_digest(request.query.get("token", ""), self.token):
            raise web.HTTPForbidden(
                text="open the URL `kubectl nodewave dashboard` printed: it carries the token"
            )
        return await handler(request)

    async def _index(self, request: web.Request) -> web.Response:
        html = (STATIC / "index.html").read_text().replace("{{TOKEN}}", self.token)
        return web.Response(text=html, content_type="text/html")

    def _static(self, name: str, kind: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def serve(request: web.Request) -> web.Response:
            return web.Response(text=(STATIC / name).read_text(), content_type=kind)

        return serve

    async def _stream(
        self, request: web.Request, next_message: Callable[[], dict[str, Any] | None]
    ) -> web.StreamResponse:
        """Server-sent events: a message whenever the watches saw a change that makes one."""
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})  # fmt: skip
        await resp.prepare(request)
        wake = asyncio.Event()
        self._clients.add(wake)
        try:
            while True:
                message = next_message()
                if message is not None:
                    await resp.write(f"data: {json.dumps(message)}\n\n".encode())
                wake.clear()
                try:
                    await asyncio.wait_for(wake.wait(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    await resp.write(b": keepalive\n\n")
                await asyncio.sleep(1 / UPDATES_PER_SECOND)  # a burst of events: one update
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._clients.discard(wake)
        return resp

    async def _job_events(self, request: web.Request) -> web.StreamResponse:
        last: list[Any] = [None]

        def next_message() -> dict[str, Any] | None:
            jobs = self.job_list()
            if jobs == last[0]:
                return None
            last[0] = jobs
            return {"jobs": jobs}

        return await self._stream(request, next_message)

    async def _map_events(self, request: web.Request) -> web.StreamResponse:
        ns, name = request.match_info["ns"], request.match_info["name"]
        shown: dict[str, Any] = {"map": None, "gone": False}

        def next_message() -> dict[str, Any] | None:
            current = self.node_map(ns, name)
            if current is None:
                if shown["gone"]:
                    return None
                shown.update(map=None, gone=True)
                return {"gone": f"Job {ns}/{name} not found"}
            changes = build_map_changes(shown["map"], current)
            shown.update(map=current, gone=False)
            return changes or None

        return await self._stream(request, next_message)

    async def _act(self, request: web.Request) -> web.Response:
        if not secrets.compare_digest(request.headers.get(TOKEN_HEADER, ""), self.token):
            raise web.HTTPForbidden(text="missing or wrong token")
        ns, name = request.match_info["ns"], request.match_info["name"]
        action = self.actions.get(request.match_info["action"])
        if action is None:
            raise web.HTTPNotFound(text="unknown action")
        try:
            message = await action(ns, name)
        except (PluginError, KubeError) as e:
            return web.json_response({"error": str(e)}, status=400)
        return web.json_response({"message": message})

    async def run(self, ready: Callable[[str], None]) -> None:
        tasks = [
            asyncio.create_task(i.run_optional() if i is self.pods else i.run())
            for i in (self.jobs, self.executions, self.pods, self.nodes)
        ]
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", self.port)
            await site.start()
            for i in (self.jobs, self.executions, self.pods, self.nodes):
                await i.synced.wait()
            ready(self.url)
            await asyncio.Event().wait()  # until interrupted
        finally:
            for task in tasks:
                task.cancel()
            with suppress(asyncio.CancelledError):
                await asyncio.gather(*tasks, return_exceptions=True)
            await runner.cleanup()


async def cmd_dashboard(kube: Kube, args: argparse.Namespace) -> int:
    dashboard = Dashboard(kube, None if args.all_namespaces else args.namespace, args.port)
    dashboard.actions = {
        "promote": lambda ns, name: promote_job(kube, ns, name),
        "promote-full": lambda ns, name: promote_job(kube, ns, name, full=True),
        "pause": lambda ns, name: pause_job(kube, ns, name, True),
        "resume": lambda ns, name: pause_job(kube, ns, name, False),
        "abort": lambda ns, name: abort_job(kube, ns, name),
    }
    try:
        await dashboard.run(lambda url: print(f"nodewave dashboard: {url} (Ctrl-C stops it)",
                                              flush=True))  # fmt: skip
    except OSError as e:
        raise PluginError(f"cannot serve on 127.0.0.1:{args.port}: {e.strerror or e}") from e
    return 0
