"""The kopf registrations of the operator, and the informers it starts.

Caches hold what the planner needs, parsed once per watch event: our own informers
(kube/informer.py) for the kinds that grow with the cluster — nodes, pods, executions — and
kopf indexes for Jobs, revisions and namespaces. The startup handler returns only when every
informer has listed, and kopf starts handlers only after its indexes have, so the first pass
already sees the whole cluster. Watch events only enqueue the affected Job. No handler here
patches anything, so kopf writes no annotations or finalizers of its own onto our objects or
the pods.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf

from nodewave import GROUP, VERSION, __version__, metrics
from nodewave.config import OperatorConfig
from nodewave.core.job.planner import PlannerSettings
from nodewave.core.vocabulary.naming import ANNOTATION_JOB, LABEL_JOB
from nodewave.core.vocabulary.snapshot import ExecutionInfo, NodeInfo, PodInfo, RevisionInfo
from nodewave.handlers.queue import WorkQueue
from nodewave.kube.auth import load_credentials
from nodewave.kube.client import Kube, NotLeaderError, path_of
from nodewave.kube.informer import Informer, OnChange
from nodewave.kube.leader import LeaderElector
from nodewave.kube.outbound import build_operator_egress
from nodewave.kube.parse import (
    NamespaceInfo,
    parse_execution,
    parse_job,
    parse_namespace,
    parse_node,
    parse_pod,
    parse_revision,
)
from nodewave.kube.reconcile import Reconciler
from nodewave.kube.view import ALL_NODES, ClusterView, JobKey, Overlay

log = logging.getLogger("nodewave.operator")


class NoDiffBase(kopf.DiffBaseStorage):
    """kopf builds a deep-copied "essence" of every object on every watch event to detect
    changes for on.update/on.field handlers. We have none (every handler here is on.event or
    an index), so the copies are pure cost: a third of the CPU at 1,000 nodes. An empty
    essence keeps kopf's machinery working without them."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


@kopf.index(GROUP, VERSION, "jobs")
async def nodewave_jobs(body: kopf.Body, namespace: str, name: str, **_: Any) -> dict[Any, Any]:
    return {(namespace, name): parse_job(body)}


@kopf.index("", "v1", "namespaces")
async def nodewave_namespaces(body: kopf.Body, name: str, **_: Any) -> dict[Any, Any]:
    return {name: parse_namespace(body)}


@kopf.on.login()
async def login(**_: Any) -> kopf.ConnectionInfo:
    """kopf's watches authenticate as our own client does (kube/auth.py): one reading of the
    ServiceAccount or kubeconfig, exec plugins included."""
    creds = load_credentials()
    authorization = await creds.authorization()
    scheme, _, token = (authorization or "").partition(" ")
    return kopf.ConnectionInfo(
        server=creds.server,
        ca_data=creds.ca_pem,
        insecure=creds.insecure,
        scheme=scheme if scheme == "Bearer" else None,
        token=token if scheme == "Bearer" else None,
        username=creds.username,
        password=creds.password,
        certificate_data=creds.cert_pem,
        private_key_data=creds.key_pem,
        default_namespace=creds.namespace,
        proxy_url=creds.proxy,
        expiration=creds.expiration,
    )


@kopf.on.startup()
async def startup(
    settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **kwargs: Any
) -> None:
    settings.posting.level = logging.WARNING  # our own Events say what happened
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.persistence.diffbase_storage = NoDiffBase()
    # kopf keeps a worker task per object for this long after its last event; in a placement
    # every pod and execution has events within seconds, so at 5,000 nodes 10,000 workers
    # lived at once for the default 5 s, the largest part of the peak memory.
    settings.queueing.idle_timeout = 1.0
    config: OperatorConfig = memo.get("config", OperatorConfig())
    kube = await Kube.connect(max_inflight=config.max_inflight)
    informers = build_informers(kube, config.namespaces)
    view = ClusterView(
        jobs=kwargs["nodewave_jobs"],
        executions=informers.executions[0].store,
        pods=informers.pods[0].store,
        nodes=informers.nodes.store,
        revisions=informers.revisions_store,
        namespaces=kwargs["nodewave_namespaces"],
    )
    reconciler = await build_reconciler(config, kube, view)
    memo.kube = kube
    memo.reconciler = reconciler
    reconciler.observers.append(metrics.observe_pass)
    reconciler.events_dropped = lambda reason: metrics.EVENTS_DROPPED.labels(reason).inc()
    reconciler.forgetters.append(metrics.forget_job)

    async def timed(key: Any) -> Any:
        try:
            with metrics.RECONCILE.time():
                return await reconciler.reconcile(key)
        except NotLeaderError:
            return None  # leadership lost mid-pass: the queue is being paused

    memo.queue = WorkQueue(timed)
    reconciler.webhooks.calls.on_answer = memo.queue.enqueue
    reconciler.notifier.calls.on_answer = memo.queue.enqueue
    start_informers(memo, informers, view)
    if config.metrics_port:
        metrics.serve(config.metrics_port, config.metrics_address, kube, __version__)
    memo.namespaces_seen = {}
    memo.elector = None
    if config.leader_elect:
        await start_leader_election(memo, config, kube)
    else:
        metrics.LEADER.set(1)
    for informer in informers.all():  # no pass before the caches hold the whole cluster
        await informer.synced.wait()
    logger.info("nodewave operator started")


async def build_reconciler(config: OperatorConfig, kube: Kube, view: ClusterView) -> Reconciler:
    """The Reconciler as the configuration asks (its planner settings, egress, notifications)."""
    planner = PlannerSettings(
        leading_since=datetime.now(UTC),  # without leader election; else when it leads
        node_lost_grace=timedelta(seconds=config.node_lost_grace_seconds),
        validation_record=config.validation_record,
        operator_account=config.service_account,
        pod_security_default=config.pod_security_default,
    )
    notifications = (config.leader_namespace, config.notifications_configmap)
    egress = await build_operator_egress(
        config.egress_allowed, config.egress_denied, kube.credentials.server, config.pod_ip
    )
    reconciler = Reconciler(
        kube,
        view,
        planner,
        egress=egress,
        notifications=notifications,
        notifications_refresh=config.notifications_refresh_seconds,
        max_priority=config.max_priority,
        pod_records=config.pod_records,
    )
    return reconciler


def start_informers(memo: kopf.Memo, informers: Informers, view: ClusterView) -> None:
    """Each informer wakes the passes of the Jobs its changes concern, and runs."""
    for i in informers.executions:
        i.on_change = watched(view.overlay_executions, memo.queue)
    for i in informers.pods:
        i.on_change = watched(view.overlay_pods, memo.queue)
    informers.nodes.on_change = lambda *_: enqueue_all(view, memo.queue)
    memo.informers = informers
    memo.informer_tasks = [
        asyncio.get_running_loop().create_task(i.run(), name=f"informer {i.path}")
        for i in informers.all()
    ]


async def start_leader_election(memo: kopf.Memo, config: OperatorConfig, kube: Kube) -> None:
    """Stand by until this replica holds the Lease (docs/design.md §4.1): the indexes stay warm,
    so a standby that takes over plans at once; the queue runs only while leading, and every
    write asks the elector first (a leader past its renew deadline writes nothing)."""
    queue: WorkQueue = memo.queue
    queue.pause()

    def changed(leading: bool) -> None:
        metrics.LEADER.set(1 if leading else 0)
        if leading:
            # What the last leader judged in memory (health windows) is gone: deadlines and
            # bakes leave this one the windows to judge it again (docs/design.md §4.2).
            settings = memo.reconciler.settings
            memo.reconciler.settings = replace(settings, leading_since=datetime.now(UTC))
            queue.resume()
            enqueue_all(memo.reconciler.view, queue)
        else:
            queue.pause()
            metrics.forget_jobs()

    own = await Kube.connect(max_inflight=2)  # renewals never queue behind a placement
    elector = LeaderElector(own, config.leader_namespace, config.identity,
                            config.leader_timing, changed)  # fmt: skip
    kube.fence = elector.leading
    memo.elector = elector
    memo.elector_kube = own
    memo.elector_task = asyncio.get_running_loop().create_task(elector.run(), name="leader")


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    for task in memo.informer_tasks:
        task.cancel()
    await asyncio.gather(*memo.informer_tasks, return_exceptions=True)
    await memo.queue.close()
    await memo.reconciler.events.drain()
    if memo.elector is not None:
        memo.elector_task.cancel()
        await asyncio.gather(memo.elector_task, return_exceptions=True)
        await memo.elector.release()  # the standby takes over at its next try, not in 15 s
        await memo.elector_kube.close()
    await memo.reconciler.outbound.close()
    await memo.reconciler.webhooks.close()
    await memo.reconciler.notifier.close()
    await memo.kube.close()
    release_leaked_watch_tasks()


def release_leaked_watch_tasks() -> None:
    """Cancel the pause-waiter tasks of kopf's watch streams (kopf 1.45). A stream cancelled
    mid-iteration closes its async generator only when it is collected, so its waiter lingers,
    and kopf gives lingering tasks 5 s before it cancels them: every SIGTERM took 5-6 s (a
    rolling upgrade waits that long for the old pod). By now the streams are stopped, so
    cancelling their waiters is what kopf would do 5 s later."""
    for task in asyncio.all_tasks():
        if task.get_name().startswith("pause-waiter for ") and not task.done():
            task.cancel()


# The echo of our own write wakes no pass, a deletion always does (see `watched`).
ECHOES = ("ADDED", "MODIFIED")


@kopf.on.event(GROUP, VERSION, "jobs")
async def job_changed(
    type: str | None, namespace: str, name: str, meta: kopf.Meta, memo: kopf.Memo, **_: Any
) -> None:
    key = (namespace, name)
    if type in ECHOES and memo.reconciler.view.overlay_jobs.wrote(
        key, name, meta.get("resourceVersion", "")
    ):
        return
    memo.queue.enqueue(key)


@kopf.on.event("", "v1", "namespaces")
async def namespace_changed(
    type: str | None, name: str, body: kopf.Body, memo: kopf.Memo, **_: Any
) -> None:
    # A namespace opting in to (or out of) host access changes what its Jobs may run; one
    # being deleted stops them.
    seen: dict[str, NamespaceInfo] = memo.namespaces_seen
    if type == "DELETED":
        seen.pop(name, None)
        return
    now = parse_namespace(body)
    if seen.get(name) == now:
        return
    seen[name] = now
    for key in memo.reconciler.view.job_keys():
        if key[0] == name:
            memo.queue.enqueue(key)


REVISION_PAGE = 10
"""ControllerRevisions per list page (at most ~10 MiB of bodies at once)."""


@dataclass
class Informers:
    executions: list[Informer[JobKey, ExecutionInfo]]
    pods: list[Informer[JobKey, PodInfo]]
    nodes: Informer[str, NodeInfo]
    revisions: list[Informer[JobKey, RevisionInfo]]
    revisions_store: dict[JobKey, dict[str, RevisionInfo]]

    def all(self) -> list[Informer[Any, Any]]:
        return [self.nodes, *self.executions, *self.pods, *self.revisions]


def build_informers(kube: Kube, namespaces: tuple[str, ...]) -> Informers:
    """The caches of the kinds that grow with the cluster; callbacks are set once the queue
    exists. Watching some namespaces only (`--namespace`, the chart's watchNamespaces, RBAC by
    Role), pods and executions get an informer per namespace, all filling one store (their
    keys, (namespace, job), never collide)."""

    def job_of_execution(body: Mapping[str, Any]) -> JobKey | None:
        job = (body.get("spec") or {}).get("jobName")
        return (body["metadata"].get("namespace", ""), job) if job else None

    def job_of_pod(body: Mapping[str, Any]) -> JobKey | None:  # a revision's too
        job = (body["metadata"].get("annotations") or {}).get(ANNOTATION_JOB)
        return (body["metadata"].get("namespace", ""), job) if job else None

    scopes: tuple[str | None, ...] = namespaces or (None,)
    executions: dict[JobKey, dict[str, ExecutionInfo]] = {}
    pods: dict[JobKey, dict[str, PodInfo]] = {}
    revisions: dict[JobKey, dict[str, RevisionInfo]] = {}
    return Informers(
        executions=[
            Informer(
                kube,
                path_of("executions", ns),
                parse_execution,
                job_of_execution,
                ignore,
                store=executions,
            )
            for ns in scopes
        ],
        pods=[
            Informer(
                kube,
                path_of("pods", ns),
                parse_pod,
                job_of_pod,
                ignore,
                label_selector=LABEL_JOB,
                store=pods,
            )
            for ns in scopes
        ],
        nodes=Informer(kube, path_of("nodes", None), parse_node, lambda _: ALL_NODES, ignore),
        # A revision may hold a config of ~1 MiB: listed a few at a time, each kept without it
        # (kube/parse.parse_revision), so a long history never sits in memory parsed at once.
        revisions=[
            Informer(
                kube,
                path_of("controllerrevisions", ns),
                parse_revision,
                job_of_pod,
                ignore,
                label_selector=LABEL_JOB,
                page_size=REVISION_PAGE,
                store=revisions,
            )
            for ns in scopes
        ],
        revisions_store=revisions,
    )


def ignore(*_: Any) -> None:
    return None


def enqueue_all(view: ClusterView, queue: WorkQueue) -> None:
    for key in view.job_keys():
        queue.enqueue(key)


def watched(overlay: Overlay, queue: WorkQueue) -> OnChange[JobKey, Any]:
    """An execution or pod changed: its Job needs a pass, unless the change is the echo of our
    own write (the watch event carrying the very version a write of ours returned): the pass
    that wrote it planned with it. At 1,000 nodes the echoes were 2 of every 5 events, and each
    woke a pass over all 1,000 executions that found nothing to do. A deletion is never an
    echo, and it ends our memory of the object: an execution deleted by `kubectl nodewave
    retry` carried the version we last wrote, and the overlay kept showing it (no pass had
    merged the watch's copy since) until its TTL, so it was not re-created."""

    def changed(type_: str, key: JobKey, name: str, old: Any, new: Any) -> None:
        if type_ == "DELETED":
            overlay.forget(key, name)
        elif overlay.wrote(key, name, new.resource_version):
            return
        queue.enqueue(key)

    return changed
