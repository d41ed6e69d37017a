"""The informer (kube/informer.py) against the real API server: the first list fills the store
silently, the watch delivers each change once with the old and new value, an object whose key
changes moves bucket, a watch resumed after a disconnection misses nothing, and one resumed
with nothing to resume from lists again and delivers exactly the differences."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from typing import Any

from nodewave.kube.client import Kube, path_of
from nodewave.kube.informer import Informer
from nodewave.localcluster.controlplane import ControlPlane

Change = tuple[str, str | None, str, Any, Any]


def parse(body: Mapping[str, Any]) -> tuple[str, str]:
    return (body["metadata"]["name"], (body.get("data") or {}).get("value", ""))


def group_of(body: Mapping[str, Any]) -> str | None:
    return (body.get("data") or {}).get("group") or None


async def until(predicate: Any, what: str) -> None:
    end = asyncio.get_running_loop().time() + 15
    while not predicate():
        assert asyncio.get_running_loop().time() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def test_informer_lists_watches_resumes_and_relists(cluster: ControlPlane, namespace: str) -> None:
    def configmap(name: str, group: str, value: str, extra: str = "") -> None:
        data = {"group": group, "value": value} | ({"extra": extra} if extra else {})
        manifest = {"apiVersion": "v1", "kind": "ConfigMap", "data": data,
                    "metadata": {"name": name, "namespace": namespace}}  # fmt: skip
        cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))

    configmap("before", "g1", "v0")
    configmap("stranger", "", "v0")  # no group: not ours, never stored

    async def scenario() -> None:
        changes: list[Change] = []
        kube = await Kube.connect(max_inflight=4, config_file=str(cluster.kubeconfig))
        informer: Informer[str, tuple[str, str]] = Informer(
            kube,
            path_of("configmaps", namespace),
            parse,
            group_of,
            lambda *change: changes.append(change),
            page_size=1,  # every object on its own page: pagination is exercised
        )
        task = asyncio.create_task(informer.run())
        try:
            await asyncio.wait_for(informer.synced.wait(), 15)
            assert informer.store == {"g1": {"before": ("before", "v0")}}
            assert changes == [], "the first list is the starting point, not a change"

            configmap("a", "g1", "v1")
            await until(lambda: len(changes) == 1, "ADDED a")
            assert changes[0] == ("ADDED", "g1", "a", None, ("a", "v1"))
            configmap("a", "g1", "v2", extra="x" * 200_000)  # one watch line of 200 kB
            await until(lambda: len(changes) == 2, "MODIFIED a")
            assert changes[1] == ("MODIFIED", "g1", "a", ("a", "v1"), ("a", "v2"))
            configmap("a", "g2", "v2")
            await until(lambda: len(changes) == 4, "a moving from g1 to g2")
            assert changes[2:] == [
                ("DELETED", "g1", "a", ("a", "v2"), ("a", "v2")),
                ("ADDED", "g2", "a", None, ("a", "v2")),
            ]
            assert informer.store == {
                "g1": {"before": ("before", "v0")},
                "g2": {"a": ("a", "v2")},
            }
            cluster.kubectl("delete", "configmap", "a", "-n", namespace)
            await until(lambda: len(changes) == 5, "DELETED a")
            assert changes[4] == ("DELETED", "g2", "a", ("a", "v2"), ("a", "v2"))
            assert "g2" not in informer.store, "an empty bucket is dropped"

            # Disconnected: what happens meanwhile arrives when the watch resumes.
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            configmap("b", "g1", "v1")
            task = asyncio.create_task(informer.run())
            await until(lambda: len(changes) == 6, "ADDED b after resuming")
            assert changes[5] == ("ADDED", "g1", "b", None, ("b", "v1"))

            # Nothing to resume from (as after a 410 Gone: tests/unit/test_informer.py): a new
            # list, and exactly the differences delivered.
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            configmap("c", "g1", "v1")
            configmap("b", "g1", "v2")
            cluster.kubectl("delete", "configmap", "before", "-n", namespace)
            informer.resource_version = ""
            task = asyncio.create_task(informer.run())
            await until(lambda: len(changes) == 9, "the differences after a relist")
            assert sorted(changes[6:]) == [
                ("ADDED", "g1", "c", None, ("c", "v1")),
                ("DELETED", "g1", "before", ("before", "v0"), ("before", "v0")),
                ("MODIFIED", "g1", "b", ("b", "v1"), ("b", "v2")),
            ]
            assert informer.store == {"g1": {"b": ("b", "v2"), "c": ("c", "v1")}}
            configmap("c", "g1", "v3")  # and the watch goes on from the new list
            await until(lambda: len(changes) == 10, "MODIFIED c after the relist")
            assert changes[9] == ("MODIFIED", "g1", "c", ("c", "v1"), ("c", "v3"))
            assert kube.requests[("WATCH", "configmaps", 200)] >= 3
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await kube.close()
            # TLS transports finish closing on later turns of the loop (aiohttp's advice for a
            # graceful shutdown); asyncio.run would otherwise close the loop first, and the
            # sockets' ResourceWarning would fail whichever test the collector runs in.
            await asyncio.sleep(0.25)

    asyncio.run(scenario())
