"""Every execution a reader shows (`kubectl nodewave executions|stats|get|status`): the
Execution objects, and the executions only a pod stands for under `nodewave run
--pod-records` (docs/design.md §4.2 step 6), as documents of the Execution's shape, so the
plugin's tables, `-o json` and its watches read one kind of thing either way.

A pod record's status is what `core/views/records.py` says from the pod and its Job; its
document carries the annotation `nodewave.io/pod-record: "true"`: there is no such object to
get, patch or delete (`kubectl nodewave cancel` and `retry` say what to do instead).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from nodewave.cli.operations import get_object
from nodewave.core.views.records import build_record_views
from nodewave.core.vocabulary.naming import LABEL_JOB, LABEL_NODE, LABEL_VERSION, label_value
from nodewave.core.vocabulary.snapshot import ExecutionInfo
from nodewave.kube.client import Kube, KubeError, path_of
from nodewave.kube.parse import parse_execution, parse_job, parse_pod

API_VERSION = "nodewave.io/v1alpha1"
ANNOTATION_POD_RECORD = "nodewave.io/pod-record"
"""On a document the plugin made from a pod record: not an object in the API."""


def build_record_documents(
    jobs: Iterable[Mapping[str, Any]],
    pods: Iterable[Mapping[str, Any]],
    executions: Iterable[Mapping[str, Any]],
    now: datetime,
) -> list[dict[str, Any]]:
    """The pod records' executions of `jobs`, as Execution documents: for each Job, its pods
    that stand for an execution with no Execution among `executions`."""
    by_job: dict[tuple[str, str], tuple[list[Any], list[Any]]] = {}
    for body in pods:
        meta = body["metadata"]
        key = (meta.get("namespace", ""), (meta.get("labels") or {}).get(LABEL_JOB, ""))
        by_job.setdefault(key, ([], []))[0].append(parse_pod(body))
    for body in executions:
        meta = body["metadata"]
        key = (meta.get("namespace", ""), (meta.get("labels") or {}).get(LABEL_JOB, ""))
        if key in by_job:
            by_job[key][1].append(parse_execution(body))
    found = []
    for body in jobs:
        meta = body["metadata"]
        key = (meta["namespace"], label_value(meta["name"]))
        if key not in by_job or not body.get("spec"):
            continue
        job = parse_job(body)
        pods_of, execs_of = by_job[key]
        views = build_record_views({p.name: p for p in pods_of}, execs_of, job, now)
        found += [_document(ex, job.namespace) for ex in views]
    return found


def _document(ex: ExecutionInfo, namespace: str) -> dict[str, Any]:
    spec = ex.spec
    return {
        "apiVersion": API_VERSION,
        "kind": "Execution",
        "metadata": {
            "name": ex.name,
            "namespace": namespace,
            "creationTimestamp": ex.created_at.isoformat().replace("+00:00", "Z"),
            "labels": {
                LABEL_JOB: label_value(spec.job_name),
                LABEL_VERSION: str(spec.job_version),
                LABEL_NODE: label_value(spec.node_name),
            },
            "annotations": {ANNOTATION_POD_RECORD: "true"},
        },
        "spec": spec.to_api(),
        "status": ex.status.to_api(),
    }


def is_pod_record(document: Mapping[str, Any]) -> bool:
    return (document["metadata"].get("annotations") or {}).get(ANNOTATION_POD_RECORD) == "true"


async def list_executions(
    kube: Kube, ns: str | None, labels: Mapping[str, str], fields: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The executions `labels` and `fields` select (an Execution's labels and selectable
    fields), the pod records' among them. Pods are selected by the same labels; fields are
    compared here, for both (a pod has no such fields to select by). The same labels select
    every Execution that could share a pod's name: the name says the Job, version and node."""
    selector = {"labelSelector": ",".join(f"{k}={v}" for k, v in labels.items()) or LABEL_JOB}
    executions = await _items(kube, path_of("executions", ns), selector)
    try:
        pods = await _items(kube, path_of("pods", ns), selector)
    except KubeError as e:
        if e.status != 403:
            raise
        pods = []  # a role without pods (the chart's have them) sees the Executions alone
    if pods:
        named = {(p["metadata"]["namespace"], p["metadata"]["labels"][LABEL_JOB]) for p in pods}
        jobs = [
            j for j in await _items(kube, path_of("jobs", ns), {})
            if (j["metadata"]["namespace"], label_value(j["metadata"]["name"])) in named
        ]  # fmt: skip
        executions += build_record_documents(jobs, pods, executions, datetime.now(UTC))
    return [d for d in executions if _selected(d, fields)]


async def _items(kube: Kube, path: str, query: dict[str, str]) -> list[dict[str, Any]]:
    return list((await get_object(kube, path, path, query)).get("items", []))


FIELDS = {
    "spec.nodeName": lambda d: d["spec"]["nodeName"],
    "spec.rolloutWave": lambda d: str(d["spec"].get("rolloutWave", 0)),
    "status.observedState": lambda d: (d.get("status") or {}).get("observedState", ""),
}
"""The Execution's selectable fields, as a pod record's document says them."""


def _selected(document: Mapping[str, Any], fields: Mapping[str, str]) -> bool:
    return all(FIELDS[k](document) == v for k, v in fields.items())
