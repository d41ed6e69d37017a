"""The local control plane is real and the CRDs guard the API at `kubectl apply`."""

from __future__ import annotations

import copy
import json
import re
import time
from typing import Any

import pytest
import yaml

from nodewave.localcluster.controlplane import REPO_ROOT, ControlPlane
from tests.conftest import TEST_NODES, kubectl_json

VALID_JOB: dict[str, Any] = {
    "apiVersion": "nodewave.io/v1alpha1",
    "kind": "Job",
    "metadata": {"name": "valid", "namespace": "default"},
    "spec": {
        "type": "Pipeline",
        "selector": {
            "matchLabels": {"region": "eu-west"},
            "matchExpressions": ["tier in (premium, standard)", "!maintenance"],
        },
        "template": {"spec": {"containers": [{"name": "main", "image": "example/app:1"}]}},
        "rollout": {"strategy": "Canary", "canaryCount": 1, "healthCheck": {"deadlineSeconds": 60}},
    },
}


ROLLING_ONLY = {"rollout__strategy": "Rolling", "rollout__canaryCount": None}


def job(**changes: Any) -> dict[str, Any]:
    """VALID_JOB with dotted paths under spec set (None deletes)."""
    doc = copy.deepcopy(VALID_JOB)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = doc["spec"]
        for p in parents:
            node = node.setdefault(p, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return doc


def test_crds_established(cluster: ControlPlane) -> None:
    for name in ("jobs.nodewave.io", "executions.nodewave.io"):
        crd = kubectl_json(cluster, "get", "crd", name)
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions["Established"] == "True"
        assert conditions["NamesAccepted"] == "True"


def test_valid_job_applies_with_defaults(cluster: ControlPlane) -> None:
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(VALID_JOB))
    try:
        got = kubectl_json(cluster, "get", "jobs.nodewave.io", "valid")
        rollout = got["spec"]["rollout"]
        assert rollout["maxParallel"] == 10
        assert rollout["autoRollback"] is True
        assert rollout["maxFailedNodes"] == 10
        assert rollout["healthCheck"] == {
            "deadlineSeconds": 60,
            "intervalSeconds": 10,
            "failureThreshold": 3,
            "successThreshold": 2,
            "maxErrorRate": 0.1,
        }
        assert got["spec"]["timeouts"] == {
            "executionTimeoutSeconds": 0,
            "queueTimeoutSeconds": 0,
            "totalTimeoutSeconds": 0,
        }
    finally:
        cluster.kubectl("delete", "jobs.nodewave.io", "valid", "--wait=false")


def test_examples_apply(cluster: ControlPlane) -> None:
    out = cluster.kubectl("apply", "--dry-run=server", "-f", str(REPO_ROOT / "examples")).stdout
    docs = [d for p in (REPO_ROOT / "examples").glob("*.yaml")
            for d in yaml.safe_load_all(p.read_text()) if d]  # fmt: skip
    assert out.count("created (server dry run)") == len(docs), out


INVALID: list[tuple[str, dict[str, Any] | str, str, str]] = [
    # (id, manifest, field named in the error, message fragment)
    ("type-missing", job(type=None), "spec.type", "Required value"),
    ("type-lowercase", job(type="pipeline"), "spec.type", "Unsupported value"),
    ("template-missing", job(template=None), "spec.template", "Required value"),
    (
        "no-containers",
        job(template={"spec": {"containers": []}}),
        "spec.template.spec.containers",
        r"at least 1 items",
    ),
    (
        "container-no-image",
        job(template={"spec": {"containers": [{"name": "a"}]}}),
        "spec.template.spec.containers[0].image",
        "Required value",
    ),
    (
        "template-nodename",
        job(template={"spec": {"nodeName": "x", "containers": [{"name": "a", "image": "b"}]}}),
        "spec.template.spec.nodeName",
        "pins each pod",
    ),
    (
        "template-restartpolicy",
        job(
            template={
                "spec": {"restartPolicy": "Never", "containers": [{"name": "a", "image": "b"}]}
            }
        ),
        "spec.template.spec.restartPolicy",
        "spec.restartPolicy",
    ),
    (
        "run-to-completion-restarting-always",
        job(type="Query", restartPolicy="Always"),
        "spec.restartPolicy",
        "could never complete",
    ),
    *(
        (
            f"prometheus-{case}",
            job(rollout__healthCheck__prometheus={"address": address, "query": "up", **extra}),
            f"spec.rollout.healthCheck.prometheus{at}",
            fragment,
        )
        for case, address, extra, at, fragment in [
            (
                "token-and-basic",
                "https://p",
                {
                    "authorization": {"credentials": {"name": "s", "key": "t"}},
                    "basicAuth": {
                        "username": {"name": "s", "key": "u"},
                        "password": {"name": "s", "key": "p"},
                    },
                },
                ".basicAuth",
                "mutually exclusive",
            ),
            (
                "basic-as-authorization",
                "https://p",
                {"authorization": {"type": "basic", "credentials": {"name": "s", "key": "t"}}},
                ".authorization.type",
                "use basicAuth",
            ),
            (
                "ca-over-http",
                "http://p",
                {"caSecretRef": {"name": "s", "key": "ca.crt"}},
                ".caSecretRef",
                "https://",
            ),
            (
                "header-authorization",
                "https://p",
                {"headers": [{"name": "Authorization", "value": "Bearer x"}]},
                ".headers",
                "may not set authorization",
            ),
            (
                "header-newline",
                "https://p",
                {"headers": [{"name": "X-A", "value": "a\r\nX-B: b"}]},
                ".headers[0].value",
                "should match",
            ),
            (
                "header-name",
                "https://p",
                {"headers": [{"name": "X A", "value": "a"}]},
                ".headers[0].name",
                "should match",
            ),
        ]
    ),
    (
        "rolling-no-deadline",
        job(rollout={"strategy": "Rolling"}),
        "spec.rollout.healthCheck",
        "deadlineSeconds is required",
    ),
    (
        "canary-no-deadline",
        job(rollout={"strategy": "Canary", "canaryCount": 1}),
        "spec.rollout.healthCheck",
        "deadlineSeconds is required",
    ),
    (
        "canary-count-and-percent",
        job(rollout__canaryPercent=10),
        "spec.rollout.canaryPercent",
        "not both",
    ),
    (
        "canary-no-size",
        job(rollout__canaryCount=None),
        "spec.rollout.strategy",
        "needs canaryCount or canaryPercent",
    ),
    (
        "rolling-with-canary",
        job(rollout__strategy="Rolling"),
        "spec.rollout.strategy",
        "only to strategy Canary",
    ),
    (
        "strategy-unknown",
        job(rollout__strategy="BlueGreen"),
        "spec.rollout.strategy",
        "Unsupported value",
    ),
    (
        "max-parallel-zero",
        job(rollout__maxParallel=0),
        "spec.rollout.maxParallel",
        "greater than or equal to 1",
    ),
    (
        "max-parallel-over",
        job(rollout__maxParallel=101),
        "spec.rollout.maxParallel",
        "less than or equal to 100",
    ),
    (
        "canary-percent-over",
        job(rollout__canaryCount=None, rollout__canaryPercent=150),
        "spec.rollout.canaryPercent",
        "less than or equal to 100",
    ),
    (
        "failed-percent-over",
        job(rollout__maxFailedNodesPercent=100.5),
        "spec.rollout.maxFailedNodesPercent",
        "less than or equal to 100",
    ),
    (
        "error-rate-over",
        job(rollout__healthCheck__maxErrorRate=1.5),
        "spec.rollout.healthCheck.maxErrorRate",
        "less than or equal to 1",
    ),
    (
        "window-of-no-time",
        job(rollout__maintenanceWindows=[{"start": "02:00", "end": "02:00"}]),
        "spec.rollout.maintenanceWindows[0].end",
        "start and end must differ",
    ),
    (
        "window-bad-time",
        job(rollout__maintenanceWindows=[{"start": "24:00", "end": "02:00"}]),
        "spec.rollout.maintenanceWindows[0].start",
        "should match",
    ),
    (
        "steps-with-canary",
        job(rollout__steps=[{"nodes": 1}]),
        "spec.rollout.strategy",
        "strategy Rolling only",
    ),
    (
        "steps-and-growth",
        job(**ROLLING_ONLY, rollout__steps=[{"nodes": 1}], rollout__growth={"type": "Linear"}),
        "spec.rollout.growth",
        "set steps or growth, not both",
    ),
    (
        "step-of-two-kinds",
        job(**ROLLING_ONLY, rollout__steps=[{"nodes": 1, "pause": {}}]),
        "spec.rollout.steps[0]",
        "exactly one of nodes, percent or pause",
    ),
    (
        "steps-of-pauses-only",
        job(**ROLLING_ONLY, rollout__steps=[{"pause": {"durationSeconds": 60}}]),
        "spec.rollout.steps",
        "at least one wave",
    ),
    (
        "step-percent-over",
        job(**ROLLING_ONLY, rollout__steps=[{"percent": 101}]),
        "spec.rollout.steps[0].percent",
        "less than or equal to 100",
    ),
    (
        "growth-that-does-not-grow",
        job(**ROLLING_ONLY, rollout__growth={"type": "Exponential", "factor": 1}),
        "spec.rollout.growth.factor",
        "greater than or equal to 1.1",
    ),
    (
        "pre-pull-after-a-first-wave-of-an-immediate-rollout",
        job(
            rollout__strategy="Immediate",
            rollout__canaryCount=None,
            rollout__prePull={"start": "AfterFirstWave"},
        ),
        "spec.rollout.prePull.start",
        "needs waves after the first",
    ),
    (
        "pre-pull-waiting-past-an-hour",
        job(rollout__prePull={"waitSeconds": 3601}),
        "spec.rollout.prePull.waitSeconds",
        "less than or equal to 3600",
    ),
    (
        "surge-for-a-run-once-type",
        job(type="Update", **ROLLING_ONLY, rollout__maxSurge=1),
        "spec.rollout.maxSurge",
        "type Pipeline only",
    ),
    (
        "surge-with-a-host-port",
        job(
            **ROLLING_ONLY,
            rollout__maxSurge="10%",
            template={
                "spec": {
                    "containers": [
                        {
                            "name": "a",
                            "image": "b",
                            "ports": [{"containerPort": 80, "hostPort": 8080}],
                        }
                    ]
                }
            },
        ),
        "spec.rollout.maxSurge",
        "hostPort or hostNetwork",
    ),
    (
        "surge-with-host-network",
        job(
            **ROLLING_ONLY,
            rollout__maxSurge=1,
            template={"spec": {"hostNetwork": True, "containers": [{"name": "a", "image": "b"}]}},
        ),
        "spec.rollout.maxSurge",
        "hostPort or hostNetwork",
    ),
    (
        "surge-of-none",
        job(**ROLLING_ONLY, rollout__maxSurge=0),
        "spec.rollout.maxSurge",
        "count of at least 1",
    ),
    (
        "unavailable-as-a-word",
        job(**ROLLING_ONLY, rollout__maxUnavailable="all"),
        "spec.rollout.maxUnavailable",
        "count of at least 1 or a percent",
    ),
    (
        "unavailable-per-domain-without-a-key",
        job(**ROLLING_ONLY, rollout__maxUnavailable=1, rollout__maxUnavailablePerDomain=True),
        "spec.rollout.maxUnavailablePerDomain",
        "needs maxUnavailable and topologyKey",
    ),
    (
        "alert-matcher-that-escapes-its-quotes",
        job(
            rollout__healthCheck__alerts={
                "address": "http://p:9090",
                "matchers": ['a="x"} or vector(1) or {b="y"'],
            }
        ),
        "spec.rollout.healthCheck.alerts.matchers[0]",
        "should match",
    ),
    (
        "bake-over-a-week",
        job(rollout__bakeSeconds=8 * 24 * 3600),
        "spec.rollout.bakeSeconds",
        "less than or equal to 604800",
    ),
    (
        "window-bad-day",
        job(rollout__maintenanceWindows=[{"days": ["Funday"], "start": "01:00", "end": "02:00"}]),
        "spec.rollout.maintenanceWindows[0].days[0]",
        "Unsupported value",
    ),
    (
        "window-no-days",
        job(rollout__maintenanceWindows=[{"days": [], "start": "01:00", "end": "02:00"}]),
        "spec.rollout.maintenanceWindows[0].days",
        "at least 1 items",
    ),
    (
        "window-day-twice",
        job(
            rollout__maintenanceWindows=[{"days": ["Mon", "Mon"], "start": "01:00", "end": "02:00"}]
        ),
        "spec.rollout.maintenanceWindows[0].days",
        "uplicate",  # "Duplicate value" (apply), "duplicate entries" (server-side apply)
    ),
    (
        "window-zone-offset",
        job(rollout__maintenanceWindows=[{"start": "01:00", "end": "02:00", "timeZone": "+01:00"}]),
        "spec.rollout.maintenanceWindows[0].timeZone",
        "should match",
    ),
    (
        "confirm-promotion-without-canary",
        job(
            rollout__strategy="Rolling",
            rollout__canaryCount=None,
            rollout__webhooks=[{"name": "chat", "type": "ConfirmPromotion", "url": "http://h/x"}],
        ),
        "spec.rollout.webhooks",
        "ConfirmPromotion webhook needs strategy Canary",
    ),
    (
        "webhook-not-http",
        job(rollout__webhooks=[{"name": "x", "type": "PreWave", "url": "file:///etc/passwd"}]),
        "spec.rollout.webhooks[0].url",
        "should match",
    ),
    (
        "webhook-type-unknown",
        job(rollout__webhooks=[{"name": "x", "type": "PreRollout", "url": "http://h/x"}]),
        "spec.rollout.webhooks[0].type",
        "Unsupported value",
    ),
    (
        "webhook-names-repeat",
        job(
            rollout__webhooks=[
                {"name": "x", "type": "PreWave", "url": "http://h/a"},
                {"name": "x", "type": "Rollback", "url": "http://h/b"},
            ]
        ),
        "spec.rollout.webhooks",  # [1] with a plain apply; server-side apply names the key
        "uplicate",
    ),
    (
        "deadline-too-short",
        job(rollout__healthCheck__deadlineSeconds=5),
        "spec.rollout.healthCheck.deadlineSeconds",
        "room for successThreshold",
    ),
    (
        "expr-bad-operator",
        job(selector={"matchExpressions": ["region=>eu"]}),
        "spec.selector.matchExpressions",
        "must be one of",
    ),
    (
        "expr-empty-set",
        job(selector={"matchExpressions": ["tier in ()"]}),
        "spec.selector.matchExpressions",
        "must be one of",
    ),
    (
        "expr-garbage",
        job(selector={"matchExpressions": ["a b c"]}),
        "spec.selector.matchExpressions",
        "must be one of",
    ),
    (
        "expr-too-many",
        job(selector={"matchExpressions": [f"k{i}" for i in range(33)]}),
        "spec.selector.matchExpressions",
        r"must have at most 32 items|Too many",
    ),
    (
        "labels-bad-key",
        job(selector={"matchLabels": {"bad key": "x"}}),
        "spec.selector.matchLabels",
        "label keys",
    ),
    (
        "labels-bad-value",
        job(selector={"matchLabels": {"region": "eu west"}}),
        "spec.selector.matchLabels",
        "label values",
    ),
    (
        "names-not-dns",
        job(selector={"matchNames": ["Not_A_Node"]}),
        "spec.selector.matchNames[0]",
        "should match",
    ),
    (
        "meta-reserved",
        job(meta={"nodewave.io/owner": "me"}),
        "spec.meta",
        "nodewave.io/ is reserved",
    ),
    (
        "total-timeout-short",
        job(timeouts={"executionTimeoutSeconds": 60, "totalTimeoutSeconds": 30}),
        "spec.timeouts.totalTimeoutSeconds",
        "at least queueTimeoutSeconds",
    ),
    (
        "queue-timeout-negative",
        job(timeouts={"queueTimeoutSeconds": -1}),
        "spec.timeouts.queueTimeoutSeconds",
        "greater than or equal to 0",
    ),
    (
        "restart-policy-unknown",
        job(restartPolicy="Sometimes"),
        "spec.restartPolicy",
        "Unsupported value",
    ),
    ("description-too-long", job(description="x" * 1025), "spec.description", "Too long"),
    (
        "priority-not-int",
        job(priority="high"),
        "spec.priority",
        "must be of type integer|expected numeric",
    ),
    (
        "unknown-field-typo",
        job(strategy="Rolling"),
        "spec.strategy",
        "unknown field|field not declared in schema",
    ),
    (
        "yaml-duplicate-key",
        "apiVersion: nodewave.io/v1alpha1\nkind: Job\nmetadata: {name: dup}\nspec:\n  type: Pipeline\n  type: Query\n"
        "  template: {spec: {containers: [{name: a, image: b}]}}\n",
        "line 6: key",
        r'"type\\?" already set in map',
    ),
    (
        "yaml-spec-is-list",
        {**VALID_JOB, "spec": ["type", "Pipeline"]},
        "spec",
        "must be of type object|expected map",
    ),
]


# Every case is sent three ways: kubectl's client-side apply (its default), server-side apply
# (Flux; Argo CD with SSA) and a raw strict POST of the YAML text (what the API server sees
# from a client that does not re-encode). kubectl parses the YAML itself and keeps the last of
# two duplicate keys, so only the raw request can show the server refusing them.
APPLY_MODES = {"client-side": [], "server-side": ["--server-side"]}
CASES = [
    pytest.param(mode, *case, id=f"{mode}-{case[0]}")
    for mode in (*APPLY_MODES, "raw")
    for case in INVALID
    if mode == "raw" or case[0] != "yaml-duplicate-key"
]


def _submit(cluster: ControlPlane, mode: str, text: str) -> tuple[bool, str]:
    if mode == "raw":
        code, body = cluster.request(
            "POST",
            "/apis/nodewave.io/v1alpha1/namespaces/default/jobs?dryRun=All&fieldValidation=Strict",
            text,
        )
        return code < 300, body
    done = cluster.kubectl(
        "apply", *APPLY_MODES[mode], "--dry-run=server", "-f", "-", input=text, check=False
    )
    return done.returncode == 0, done.stderr


@pytest.mark.parametrize(("mode", "case", "manifest", "field", "fragment"), CASES)
def test_invalid_job_rejected_by_api_server(
    cluster: ControlPlane,
    mode: str,
    case: str,
    manifest: dict[str, Any] | str,
    field: str,
    fragment: str,
) -> None:
    text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
    accepted, error = _submit(cluster, mode, text)
    assert not accepted, f"{case}: accepted but should be refused"
    assert field in error, f"{case}: error does not name {field}: {error}"
    assert re.search(fragment, error), f"{case}: {error}"


def execution(name: str, node: str, job_name: str = "parent", version: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "nodewave.io/v1alpha1",
        "kind": "Execution",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"jobName": job_name, "jobVersion": version, "nodeName": node},
    }


def test_execution_identity_is_immutable_and_selectable(cluster: ControlPlane) -> None:
    docs = [execution("exec-a", "worker-a"), execution("exec-b", "worker-b", version=2)]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))
    try:
        for field, value in (("jobName", "other"), ("nodeName", "worker-c"), ("jobVersion", 9)):
            patch = json.dumps({"spec": {field: value}})
            done = cluster.kubectl(
                "patch",
                "executions.nodewave.io",
                "exec-a",
                "--type=merge",
                "-p",
                patch,
                check=False,
            )
            assert done.returncode != 0
            assert f"spec.{field}: Forbidden" in done.stderr, done.stderr
            assert f"{field} is immutable" in done.stderr, done.stderr
        # A user may still cancel: desiredState is mutable.
        cluster.kubectl(
            "patch",
            "executions.nodewave.io",
            "exec-a",
            "--type=merge",
            "-p",
            '{"spec":{"desiredState":"Stopped"}}',
        )
        names = cluster.kubectl(
            "get",
            "executions.nodewave.io",
            "--field-selector",
            "spec.nodeName=worker-a",
            "-o",
            "name",
        ).stdout.split()
        assert names == ["execution.nodewave.io/exec-a"]
        names = cluster.kubectl(
            "get", "nwx", "--field-selector", "spec.jobName=parent,spec.jobVersion=2", "-o", "name"
        ).stdout.split()
        assert names == ["execution.nodewave.io/exec-b"]
        bad = cluster.kubectl(
            "apply",
            "--dry-run=server",
            "-f",
            "-",
            input=yaml.safe_dump(
                {**docs[0], "spec": {**docs[0]["spec"], "desiredState": "Paused"}}
            ),
            check=False,
        )
        assert bad.returncode != 0
        assert "spec.desiredState" in bad.stderr
    finally:
        cluster.kubectl("delete", "executions.nodewave.io", "exec-a", "exec-b", "--wait=false")


def test_get_nodewave_lists_both_kinds_with_columns(cluster: ControlPlane) -> None:
    cluster.kubectl(
        "apply",
        "-f",
        "-",
        input=yaml.safe_dump_all(
            [
                {**VALID_JOB, "metadata": {"name": "listed"}},
                execution("listed-x", "worker-c", "listed"),
            ]
        ),
    )
    try:
        out = cluster.kubectl("get", "nodewave").stdout
        assert "job.nodewave.io/listed" in out
        assert "execution.nodewave.io/listed-x" in out
        header = cluster.kubectl("get", "nwj").stdout.splitlines()[0].split()
        assert header == [
            "NAME",
            "TYPE",
            "STRATEGY",
            "CURRENT",
            "STABLE",
            "WAVE",
            "NODES-READY",
            "TARGET",
            "READY",
            "AGE",
        ]
        header = cluster.kubectl("get", "nwx").stdout.splitlines()[0].split()
        assert header == ["NAME", "JOB", "NODE", "VERSION", "DESIRED", "OBSERVED", "WAVE", "AGE"]
    finally:
        cluster.kubectl("delete", "nwj/listed", "nwx/listed-x", "--wait=false")


def test_explain_shows_model_docs(cluster: ControlPlane) -> None:
    for args in (
        ("nwj.spec.rollout",),
        ("jobs.spec.rollout", "--api-version=nodewave.io/v1alpha1"),
    ):
        out = cluster.kubectl("explain", *args).stdout
        assert "Immediate: every target node at once" in out, out
        assert "canaryPercent" in out
        assert "healthCheck" in out
    out = cluster.kubectl("explain", "nwx.status.stableAt").stdout
    assert "does not start a rollback" in out


def _wait(predicate: Any, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out: {what}")


def test_kwok_nodes_ready_with_labels(cluster: ControlPlane) -> None:
    nodes = {n["metadata"]["name"]: n for n in kubectl_json(cluster, "get", "nodes")["items"]}
    for name, labels in TEST_NODES.items():
        node = nodes[name]
        assert labels.items() <= node["metadata"]["labels"].items()
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready
        assert ready[0]["status"] == "True"


def test_pod_scheduled_on_kwok_node_runs(cluster: ControlPlane) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probe", "namespace": "default"},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": "worker-b"},
            "containers": [{"name": "c", "image": "example/probe:1"}],
        },
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(pod))
    try:

        def running() -> bool:
            got = kubectl_json(cluster, "get", "pod", "probe")
            ready = {c["type"]: c["status"] for c in got["status"].get("conditions", [])}
            return got["status"].get("phase") == "Running" and ready.get("Ready") == "True"

        _wait(running, 60, "pod Running and Ready")
        assert kubectl_json(cluster, "get", "pod", "probe")["spec"]["nodeName"] == "worker-b"
    finally:
        cluster.kubectl("delete", "pod", "probe", "--wait=false")


def test_deleting_owner_garbage_collects_dependent(cluster: ControlPlane) -> None:
    cluster.kubectl(
        "apply", "-f", "-", input=yaml.safe_dump({**VALID_JOB, "metadata": {"name": "owner"}})
    )
    uid = kubectl_json(cluster, "get", "nwj", "owner")["metadata"]["uid"]
    dependent = execution("owned", "worker-a", "owner")
    dependent["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "nodewave.io/v1alpha1",
            "kind": "Job",
            "name": "owner",
            "uid": uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(dependent))
    cluster.kubectl("delete", "nwj", "owner")
    _wait(
        lambda: cluster.kubectl("get", "nwx", "owned", check=False).returncode != 0,
        60,
        "garbage collection of the dependent",
    )
