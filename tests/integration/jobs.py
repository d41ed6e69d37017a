"""Jobs on the local control plane, as the cluster tests drive them: apply, read back, wait.
Shared by the integration and e2e tests."""

from __future__ import annotations

import subprocess
import urllib.request
from datetime import UTC, datetime
from typing import Any

import yaml

from nodewave.cli.records import build_record_documents, is_pod_record
from nodewave.core.execution.record import build_record_spec, evaluate_recorded_validation
from nodewave.core.job.policy import NODE_MAINTENANCE_ALLOWED, NODE_MAINTENANCE_LABEL
from nodewave.kube.parse import parse_execution, parse_job, parse_pod
from nodewave.localcluster.controlplane import ControlPlane
from nodewave.localcluster.operator import OperatorProcess
from nodewave.models.execution import ObservedState
from nodewave.models.job import RolloutPhase
from tests.conftest import OPERATOR_MODE, kubectl_json, wait_for

IMAGE = "registry.example/agent:1"


def apply_job(cp: ControlPlane, ns: str, name: str, spec: dict[str, Any]) -> None:
    body = {
        "apiVersion": "nodewave.io/v1alpha1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(body))


def allow_maintenance(cp: ControlPlane, ns: str) -> None:
    """What a cluster admin does before a namespace's Jobs may cordon and drain nodes."""
    cp.kubectl("label", "namespace", ns, f"{NODE_MAINTENANCE_LABEL}={NODE_MAINTENANCE_ALLOWED}")


def template(annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"annotations": annotations or {}},
        "spec": {"containers": [{"name": "main", "image": IMAGE}], **spec},
    }


def listed_executions(
    cp: ControlPlane, ns: str, job: str, version: int | None = None
) -> list[dict[str, Any]]:
    """Every execution of the Job (of `version`) as the plugin lists it: its Execution
    objects, and under `--pod-records` (NODEWAVE_TEST_POD_RECORDS=1) the documents of the
    executions only a pod stands for (cli/records.py). One read of both kinds, and of the Job
    only when a pod has no Execution of its name."""
    labels = f"nodewave.io/job={job}" + (f",nodewave.io/version={version}" if version else "")
    items = kubectl_json(cp, "get", "nwx,pods", "-n", ns, "-l", labels)["items"]
    held = [i for i in items if i["kind"] == "Execution"]
    names = {e["metadata"]["name"] for e in held}
    alone = [i for i in items if i["kind"] == "Pod" and i["metadata"]["name"] not in names]
    if not alone:
        return held
    body = kubectl_json(cp, "get", "jobs.nodewave.io", job, "-n", ns)
    return held + build_record_documents([body], alone, held, datetime.now(UTC))


def executions(cp: ControlPlane, ns: str, job: str) -> dict[str, dict[str, Any]]:
    """node → its execution, as the plugin lists it (either kind: `listed_executions`)."""
    return {e["spec"]["nodeName"]: e for e in listed_executions(cp, ns, job)}


def execution_objects(cp: ControlPlane, ns: str, job: str) -> dict[str, dict[str, Any]]:
    """node → its Execution object, as the API server holds them (none for a pod record)."""
    items = kubectl_json(cp, "get", "nwx", "-n", ns, "-l", f"nodewave.io/job={job}")["items"]
    return {e["spec"]["nodeName"]: e for e in items}


def pods(cp: ControlPlane, ns: str, job: str) -> dict[str, dict[str, Any]]:
    items = kubectl_json(cp, "get", "pods", "-n", ns, "-l", f"nodewave.io/job={job}")["items"]
    return {p["metadata"]["name"]: p for p in items}


def pods_say_their_executions(cp: ControlPlane, ns: str, job: str) -> int:
    """Every pod of the Job says its execution's spec as the API server holds it (its wave,
    node, version and the execution it replaced: core/execution/record.py); how many pods."""
    held = listed_executions(cp, ns, job)
    specs = {e["metadata"]["name"]: parse_execution(e).spec for e in held}
    said = {name: build_record_spec(parse_pod(p)) for name, p in pods(cp, ns, job).items()}
    assert said == {name: specs[name] for name in said}
    return len(said)


POD_RECORDS = "--pod-records" in OPERATOR_MODE
"""The suite's operators run with `--pod-records` (NODEWAVE_TEST_POD_RECORDS=1)."""
LEFT_STOPPED: str | None = None if POD_RECORDS else "Stopped"
"""The state the plugin lists of an execution the operator stopped: Stopped, or under
`--pod-records` none, nothing is left (its pod was its record, docs/design.md §4.2)."""


def states(cp: ControlPlane, ns: str, job: str) -> dict[str, str | None]:
    return {n: e.get("status", {}).get("observedState") for n, e in executions(cp, ns, job).items()}


def validation_recorded(cp: ControlPlane, ns: str, job: str) -> int:
    """The Job's status alone says of no execution more than its stableAt does (the record a
    new leader will read: record.evaluate_recorded_validation, docs/design.md §4.2); once its
    rollout completed, all stableAt says of the stable version's executions never lost.
    Read in that order, so the executions are no older than the status. How many of the
    rollout's version it covers."""
    status = parse_job(kubectl_json(cp, "get", "nwj", "-n", ns, job)).status
    held = listed_executions(cp, ns, job)
    executions = [parse_execution(e) for e in held]
    said = {ex.name for ex in executions
            if evaluate_recorded_validation(ex, ex.status.observed_state, status)}  # fmt: skip
    stable = {ex.name for ex in executions if ex.status.stable_at is not None}
    # A pod record's stableAt is the operator's, in memory: what a reader says is all there is.
    records = {e["metadata"]["name"] for e in held if is_pod_record(e)}
    assert said - records <= stable, (said - stable, status.rollout)
    stable |= {ex.name for ex in executions
               if ex.name in records and ex.status.observed_state is ObservedState.RUNNING}  # fmt: skip
    rs = status.rollout
    if (
        rs is not None
        and rs.phase is RolloutPhase.COMPLETED
        and rs.version == status.stable_version
    ):
        lost = ObservedState.LOST
        whole = {ex.name for ex in executions if ex.spec.job_version == rs.version
                 and ex.name in stable and lost not in {t.state for t in ex.status.history}}  # fmt: skip
        assert said >= whole, (whole - said, status)
    version = rs.version if rs is not None else status.stable_version
    return len([ex for ex in executions if ex.name in said and ex.spec.job_version == version])


def job_status(cp: ControlPlane, ns: str, job: str) -> dict[str, Any]:
    return kubectl_json(cp, "get", "nwj", "-n", ns, job).get("status", {})


def condition(status: dict[str, Any], type_: str) -> tuple[str, str] | None:
    c = next((c for c in status.get("conditions", []) if c["type"] == type_), None)
    return (c["status"], c["reason"]) if c else None


def wait_condition(
    cp: ControlPlane,
    ns: str,
    job: str,
    type_: str,
    expected: tuple[str, str],
    timeout: float,
    what: str,
) -> dict[str, Any]:
    """Wait until the Job's condition `type_` is (status, reason); return the Job's status."""
    return wait_for(
        lambda: s if condition(s := job_status(cp, ns, job), type_) == expected else None,
        timeout,
        what,
    )


def suite_nodes(cp: ControlPlane, suite: str, count: int) -> list[str]:
    """The nodes an earlier test of this suite added, or `count` new ones."""
    existing = kubectl_json(cp, "get", "nodes", "-l", f"suite={suite}")["items"]
    return sorted(n["metadata"]["name"] for n in existing) or add_nodes(cp, suite, count)


def add_nodes(cp: ControlPlane, prefix: str, count: int, **labels: str) -> list[str]:
    names = {f"{prefix}-{i}": {"suite": prefix, **labels} for i in range(count)}
    cp.add_nodes(names)
    cp.wait_nodes_ready(names)
    return sorted(names)


def rolling_job(
    suite: str, image_tag: str, rollout: dict[str, Any], annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    hc = {
        "deadlineSeconds": 30,
        "intervalSeconds": 1,
        "successThreshold": 2,
        "failureThreshold": 2,
        "maxErrorRate": 0.1,
    }
    t = template(annotations)
    t["spec"]["containers"][0]["image"] = f"registry.example/agent:{image_tag}"
    return {
        "type": "Pipeline",
        "selector": {"matchLabels": {"suite": suite}},
        "template": t,
        "rollout": {"healthCheck": hc, **rollout},
    }


def running_versions(cp: ControlPlane, ns: str, job: str) -> dict[str, list[int]]:
    """node → versions of its executions that are Running (exactly one each, when settled)."""
    out: dict[str, list[int]] = {}
    for e in listed_executions(cp, ns, job):
        if e.get("status", {}).get("observedState") == "Running":
            out.setdefault(e["spec"]["nodeName"], []).append(e["spec"]["jobVersion"])
    return out


def phase(cp: ControlPlane, ns: str, job: str, version: int = 2) -> str | None:
    """The phase of the rollout of `version` (None while another version's rollout shows)."""
    rollout = job_status(cp, ns, job).get("rollout") or {}
    return rollout.get("phase") if rollout.get("version") == version else None


CANARY_FIELDS = ("canaryCount", "canaryPercent", "steps", "growth")
"""Fields that size the waves of one strategy only: left out of the Immediate settling."""


def settle_v1(cp: ControlPlane, ns: str, job: str, spec: dict[str, Any], nodes: list[str]) -> None:
    """Version 1 stable on every node, fast: applied with the Immediate strategy (a first
    version follows its strategy, so a canary would wait for a promote and waves for their
    windows), then with the test's own rollout, which changes no version."""
    rollout = {k: v for k, v in spec.get("rollout", {}).items() if k not in CANARY_FIELDS}
    apply_job(cp, ns, job, {**spec, "rollout": {**rollout, "strategy": "Immediate"}})
    wait_for(
        lambda: (
            job_status(cp, ns, job).get("stableVersion") == 1
            and running_versions(cp, ns, job) == {n: [1] for n in nodes}
        ),
        60,
        "version 1 stable everywhere",
    )
    apply_job(cp, ns, job, spec)


def job_events(cp: ControlPlane, ns: str) -> list[str]:
    return [
        e["reason"]
        for e in kubectl_json(
            cp, "get", "events", "-n", ns, "--field-selector", "involvedObject.kind=Job"
        )["items"]
    ]


def scrape(op: OperatorProcess) -> str:
    """The operator's /metrics text."""
    with urllib.request.urlopen(f"http://127.0.0.1:{op.metrics_port}/metrics", timeout=5) as r:
        return str(r.read().decode())


def plugin(
    cp: ControlPlane, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`kubectl nodewave ARGS`, found by kubectl on PATH."""
    return subprocess.run(
        ["kubectl", "nodewave", *args],
        capture_output=True,
        text=True,
        env=env or cp.env(),
        timeout=60,
        check=False,
    )


def ok(cp: ControlPlane, *args: str) -> str:
    done = plugin(cp, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout
