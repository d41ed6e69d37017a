"""`nodewave demo`: the embedded default.

Starts a local control plane with fake nodes in three regions, installs the CRDs, plays the
systems the examples' webhooks and notifications talk to on loopback (`receiver.py`), runs
the operator and applies every example Job; waits until each reached what it must
(`expectations.py`: Ready, Complete, waiting for its maintenance window, or past its gated
canary) and fails naming the ones that did not; then rolls a healthy canary version of the
pipeline through to the end and a bad one that rolls back on its own, showing each step with
`kubectl nodewave status`; with `--real N`, does the same on N real kubelet nodes running real
containers; then tears everything down (unless --keep). `tests/e2e/test_demo.py` runs it as
`make demo ARGS="--real 2"` does.
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from nodewave.core.job.policy import NODE_MAINTENANCE_ALLOWED, NODE_MAINTENANCE_LABEL
from nodewave.localcluster.browser import BrowserError, capture_dashboard
from nodewave.localcluster.cli import DEFAULT_REGIONS, build_node_labels
from nodewave.localcluster.controlplane import (
    REPO_ROOT,
    ControlPlane,
    ControlPlaneError,
    find_binaries,
)
from nodewave.localcluster.expectations import DemoError, evaluate_expected, plan_expected
from nodewave.localcluster.images import build_workload_template
from nodewave.localcluster.operator import OperatorProcess
from nodewave.localcluster.realnode import RealNodeError
from nodewave.localcluster.receiver import CHAT_PATH, Call, DemoReceiver, build_local_examples

EXAMPLES_TIMEOUT = 300.0
"""Seconds the example Jobs have to reach what they must (about 2 minutes warm)."""
FAST = {"intervalSeconds": 2, "successThreshold": 2, "failureThreshold": 2, "deadlineSeconds": 60}
REAL = {**FAST, "failureThreshold": 4}
"""On real kubelets a container's start (runc, the probe's period) adds 1-2 s to the
workload's own readiness delay, more on a loaded machine: two bad windows of 2 s left the
"ready after 2 s" version about a second of slack, and it failed its canary once under CI load
(issue 28's session). Four windows keep the bad version's rollback quick (8 s)."""
"""Health windows of the demo's own rollouts: seconds, not the examples' minutes."""


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def install_crds(cp: ControlPlane, crd_dir: Path) -> None:
    cp.kubectl("apply", "--server-side", "-f", str(crd_dir))

    # `kubectl wait` fails outright while a just-created CRD has no status yet, and so does a
    # jsonpath filter over its missing conditions (seen in CI): read the JSON instead.
    def established() -> bool:
        crds = json.loads(cp.kubectl("get", "crd", "-o", "json").stdout)["items"]
        ours = [c for c in crds if c["spec"]["group"] == "nodewave.io"]
        return len(ours) == 2 and all(
            any(
                c["type"] == "Established" and c["status"] == "True"
                for c in (crd.get("status") or {}).get("conditions") or []
            )
            for crd in ours
        )

    deadline = time.monotonic() + 60
    while not established():
        if time.monotonic() > deadline:
            raise ControlPlaneError("the nodewave CRDs did not become Established in 60s")
        time.sleep(0.2)


def _jobs(cp: ControlPlane) -> list[dict[str, object]]:
    return list(json.loads(cp.kubectl("get", "nwj", "-o", "json").stdout)["items"])


def _settled(job: dict[str, object]) -> bool:
    status = job.get("status") or {}
    assert isinstance(status, dict)
    conds = {c["type"]: c["status"] for c in status.get("conditions", [])}
    return conds.get("Ready") == "True" or conds.get("Complete") == "True"


def _plugin(cp: ControlPlane, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "nodewave.cli.plugin", *args],
        capture_output=True,
        text=True,
        env=cp.env(),
        check=False,
    )
    if done.returncode != 0:
        raise ControlPlaneError(f"kubectl nodewave {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _roll(
    cp: ControlPlane, job: str, spec_patch: dict[str, object], until: str, timeout: float = 300
) -> None:
    """Patch the Job and show `kubectl nodewave status` each time the rollout moves."""
    before = json.loads(cp.kubectl("get", "nwj", job, "-o", "json").stdout)["status"].get(
        "currentVersion"
    )
    cp.kubectl("patch", "nwj", job, "--type=merge", "-p", json.dumps({"spec": spec_patch}))
    _follow(cp, job, lambda rollout: rollout.get("version") != before, until, timeout)


def _follow(
    cp: ControlPlane, job: str, ours: Callable[[dict[str, Any]], bool], until: str, timeout: float
) -> None:
    """Show `kubectl nodewave status` each time the rollout `ours` accepts moves, until its
    phase is `until`."""
    deadline = time.monotonic() + timeout
    shown = None
    while time.monotonic() < deadline:
        status = json.loads(cp.kubectl("get", "nwj", job, "-o", "json").stdout)["status"]
        rollout = status.get("rollout") or {}
        if not ours(rollout):
            time.sleep(0.5)
            continue
        moment = (rollout.get("phase"), rollout.get("wave"), status.get("readyNodes"))
        if moment != shown:
            shown = moment
            print(f"--- {time.strftime('%H:%M:%S')}")
            print(_plugin(cp, "status", job), flush=True)
        if rollout.get("phase") == until:
            return
        if rollout.get("phase") in ("Completed", "RolledBack", "Failed"):
            raise ControlPlaneError(
                f"rollout of {job} ended {rollout.get('phase')}, expected {until}"
            )
        time.sleep(0.5)
    raise ControlPlaneError(f"rollout of {job} did not reach {until} in {timeout:.0f}s")


def _start_real_nodes(cp: ControlPlane, count: int) -> None:
    """`--real N`: real kubelet nodes beside the fake ones, before the examples, so the
    examples run real containers there too (the public images they name are stand-ins built
    here, `images.PUBLIC_STAND_INS`)."""
    say(f"starting {count} real kubelet nodes (containerd, runc, a CNI bridge) in region lab")
    cp.add_real_nodes({f"real-{i}": {"region": "lab"} for i in range(count)})
    print(cp.kubectl("get", "nodes", "-l", "type=real", "-o", "wide").stdout, end="")


def _show_real_pods(cp: ControlPlane, count: int) -> None:
    say("the examples' pods on the real nodes (real containers: busybox and pause)")
    for i in range(count):
        print(cp.kubectl("get", "pods", "-o", "wide", "--field-selector",
                         f"spec.nodeName=real-{i}").stdout, end="")  # fmt: skip


def _real_nodes_part(cp: ControlPlane, health: dict[str, int]) -> None:
    """`--real N`: rollouts decided by real containers (kubelet, containerd, runc): a
    readiness probe that really runs decides each wave."""
    say(
        "a pipeline of real containers on the real nodes (region lab, localhost/nodewave/workload:1)"
    )
    spec = {
        "type": "Pipeline",
        "selector": {"matchLabels": {"region": "lab"}},
        "template": build_workload_template("run"),
        "rollout": {
            "strategy": "Canary",
            "canaryCount": 1,
            "autoPromote": True,
            "maxParallel": 50,
            "maxFailedNodes": 0,
            "healthCheck": health,
        },
    }
    job = {"apiVersion": "nodewave.io/v1alpha1", "kind": "Job", "metadata": {"name": "lab-agent"}}
    cp.kubectl("apply", "-f", "-", input=json.dumps({**job, "spec": spec}))
    deadline = time.monotonic() + 120
    while not _settled(json.loads(cp.kubectl("get", "nwj", "lab-agent", "-o", "json").stdout)):
        if time.monotonic() > deadline:
            raise ControlPlaneError("lab-agent did not become Ready on the real nodes in 120s")
        time.sleep(1)
    say("rolling out a version that is ready after 2 s: the canary's probe passes, the rest follow")
    _roll(cp, "lab-agent", {"template": build_workload_template("ready-after", "2")}, "Completed")
    say("rolling out a version whose readiness probe never passes: it must roll back")
    _roll(cp, "lab-agent", {"template": build_workload_template("never-ready")}, "RolledBack")
    print(cp.kubectl("get", "pods", "-l", "nodewave.io/job=lab-agent", "-o", "wide").stdout, end="")


def _start_receiver(cp: ControlPlane) -> DemoReceiver:
    """The change board, load test, chat, SLO watcher and changelog of examples/agent-gated.yaml
    on loopback; the webhook Secret the example asks for, and the operator's notifications
    ConfigMap with a `chat` service (the example subscribes to it) told of every Job's
    outcome. Before the operator starts, so its first read of the configuration finds them."""
    key = secrets.token_hex(32)
    receiver = DemoReceiver(key.encode())
    receiver.start()
    cp.kubectl("create", "secret", "generic", "nodewave-webhooks", f"--from-literal=hmac={key}")
    config = {
        "service.chat": receiver.url.replace("http://", "json://", 1) + CHAT_PATH,
        # agent-gated subscribes itself to the chat: the chat takes that from any namespace.
        "subscribable.chat": "*",
        "subscriptions": yaml.safe_dump([{
            "triggers": ["on-rollout-completed", "on-rollout-rolled-back",
                         "on-awaiting-promotion", "on-rollout-failed"],
            "services": ["chat"],
        }]),
    }  # fmt: skip
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "data": config,
          "metadata": {"name": "nodewave-notifications"}}  # fmt: skip
    cp.kubectl("apply", "-f", "-", input=json.dumps(cm))
    return receiver


def _apply_examples(cp: ControlPlane, workdir: Path, receiver: DemoReceiver) -> dict[str, Any]:
    """Every file of examples/, as they are but for the webhook URLs (no change board exists
    here: they go to the local receiver); the Jobs applied, by name."""
    applied = workdir / "examples"
    applied.mkdir()
    jobs: dict[str, Any] = {}
    for path in sorted((REPO_ROOT / "examples").glob("*.yaml")):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        docs, changed = build_local_examples(docs, receiver.url)
        for line in changed:
            print(f"  {path.name}: {line}")
        (applied / path.name).write_text(yaml.safe_dump_all(docs, sort_keys=False))
        jobs.update({d["metadata"]["name"]: d["spec"] for d in docs if d.get("kind") == "Job"})
    # kernel-update cordons and drains nodes, which a namespace may ask for only once a cluster
    # admin (here, you) said so.
    label = f"{NODE_MAINTENANCE_LABEL}={NODE_MAINTENANCE_ALLOWED}"
    print(f"  namespace default labelled {label} (kernel-update cordons and drains nodes)")
    cp.kubectl("label", "namespace", "default", label, "--overwrite")
    print(cp.kubectl("apply", "-f", str(applied)).stdout, end="")
    return jobs


def _unmet(cp: ControlPlane, examples: dict[str, Any]) -> dict[str, str]:
    """The example Jobs that have not reached what they must (expectations.py), and what
    each shows instead, judged now."""
    now = datetime.now(UTC)
    found = {j["metadata"]["name"]: j for j in _jobs(cp)}
    unmet = {}
    for name, spec in examples.items():
        shows = (
            evaluate_expected(plan_expected(name, spec, now), found[name])
            if name in found
            else "not found"
        )
        if shows is not None:
            unmet[name] = shows
    return unmet


def _wait_for_examples(cp: ControlPlane, examples: dict[str, Any], timeout: float) -> bool:
    """Wait until every example Job reached what it must; say what each reached or shows."""
    now = datetime.now(UTC)
    for name, spec in examples.items():
        print(f"  {name:15s} {plan_expected(name, spec, now).says}")
    deadline = time.monotonic() + timeout
    shown = 0.0
    while (unmet := _unmet(cp, examples)) and time.monotonic() < deadline:
        if time.monotonic() - shown >= 15:
            shown = time.monotonic()
            print(f"--- {time.strftime('%H:%M:%S')}")
            print(cp.kubectl("get", "nwj", "-o", "wide").stdout, end="", flush=True)
        time.sleep(1)
    print(cp.kubectl("get", "nwj", "-o", "wide").stdout, end="")
    for name in examples:
        mark = f"NOT REACHED, shows {unmet[name]}" if name in unmet else "reached"
        print(f"  {name:15s} {mark}")
    return not unmet


def _show_receiver(receiver: DemoReceiver) -> None:
    """What the other systems heard: each webhook call (its signature checked) and chat
    message, the same ones folded (the SLO watcher is asked every 30 s)."""
    heard: dict[Call, int] = {}
    for call in receiver.received():
        heard[call] = heard.get(call, 0) + 1
    for call, count in heard.items():
        signed = {True: "signed", False: "BAD SIGNATURE", None: "no secretRef"}[call.signed]
        who = f"{call.kind} ({signed})" if call.kind != "chat" else "chat"
        times = f" (x{count})" if count > 1 else ""
        print(f"  {who:32s} {call.job:11s} {call.text}{times}")
    if not heard:
        print("  nothing")


def _log_pipeline_template(version: str, *, ready: bool = True) -> dict[str, Any]:
    """examples/pipeline-canary.yaml's pod template with the shipper's version set; one that
    is never ready (a readiness probe that fails on real nodes, the fake kubelet told so)."""
    docs = yaml.safe_load_all((REPO_ROOT / "examples" / "pipeline-canary.yaml").read_text())
    template: dict[str, Any] = next(d for d in docs if d and d["kind"] == "Job")["spec"]["template"]
    container = template["spec"]["containers"][0]
    container["env"] = [{"name": "SHIPPER_VERSION", "value": version}]
    if not ready:
        template["metadata"].setdefault("annotations", {})["fake.nodewave.io/ready"] = "false"
        container["readinessProbe"] = {"exec": {"command": ["false"]}, "periodSeconds": 1}
    return template


def _rollouts_of_log_pipeline(cp: ControlPlane, screenshot: Path | None) -> None:
    say("rolling out log-shipper 1.5.0 to log-pipeline: a canary of 2 nodes that waits for a "
        "promote, then waves of 25 %")  # fmt: skip
    rollout = {"healthCheck": FAST, "autoPromote": False}
    template = _log_pipeline_template("1.5.0")
    _roll(cp, "log-pipeline", {"rollout": rollout, "template": template}, "AwaitingPromotion")
    if screenshot:
        say(f"the dashboard's node map during the canary, saved to {screenshot}")
        capture_dashboard(cp.env(), "default", "log-pipeline", screenshot)
    say("kubectl nodewave promote log-pipeline")
    print(_plugin(cp, "promote", "log-pipeline"), end="")
    _follow(cp, "log-pipeline", lambda r: r.get("phase") != "AwaitingPromotion", "Completed", 300)
    say("rolling out log-shipper 1.6.0, whose pods never get ready: it must roll back on its own")
    bad = _log_pipeline_template("1.6.0", ready=False)
    _roll(cp, "log-pipeline", {"template": bad}, "RolledBack")


def _show_history(cp: ControlPlane) -> None:
    say("history and events of log-pipeline")
    print(_plugin(cp, "history", "log-pipeline"), end="")
    events = cp.kubectl(
        "get", "events",
        "--field-selector", "involvedObject.kind=Job,involvedObject.name=log-pipeline",
        "--sort-by=.lastTimestamp", "-o", "custom-columns=REASON:.reason,MESSAGE:.message",
        "--no-headers",
    ).stdout  # fmt: skip
    print("\n".join(events.splitlines()[-10:]))


def _start_cluster(cp: ControlPlane, nodes: dict[str, dict[str, str]], real: int) -> None:
    say("starting a local control plane (etcd, kube-apiserver, kube-controller-manager, "
        "kube-scheduler, kwok)")  # fmt: skip
    cp.start()
    say(f"adding {len(nodes)} fake nodes in {len(DEFAULT_REGIONS)} regions")
    cp.add_nodes(nodes)
    cp.wait_nodes_ready(nodes)
    ready = cp.kubectl("get", "nodes", "-L", "region", "--no-headers").stdout.count("\n")
    print(ready, "nodes Ready")
    if real:
        _start_real_nodes(cp, real)
    say("installing the CRDs")
    install_crds(cp, REPO_ROOT / "crds")


def _demo(args: argparse.Namespace, cp: ControlPlane, operator: OperatorProcess) -> bool:
    _start_cluster(cp, build_node_labels(args.nodes, list(DEFAULT_REGIONS), {}), args.real)
    say("playing the systems examples/agent-gated.yaml talks to (a change board, a load test, "
        "a chat, an SLO watcher, a changelog) on loopback")  # fmt: skip
    receiver = _start_receiver(cp)
    try:
        say("starting the operator (nodewave run)")
        operator.start()
        operator.wait_started()
        say("applying the example Jobs (examples/)")
        examples = _apply_examples(cp, cp.workdir, receiver)
        say("waiting for each example Job to reach what it must:")
        if not _wait_for_examples(cp, examples, EXAMPLES_TIMEOUT):
            return False
        if args.real:
            _show_real_pods(cp, args.real)
        say("node-agent, gated by webhooks: what its gates answered")
        print(_plugin(cp, "status", "node-agent"), end="")
        _rollouts_of_log_pipeline(cp, args.screenshot)
        say("what the systems on loopback heard (webhook calls, chat notifications)")
        _show_receiver(receiver)
        if args.real:
            _real_nodes_part(cp, REAL)
        _show_history(cp)
        return True
    finally:
        receiver.stop()


def run(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="nodewave-demo-"))
    cp = ControlPlane(workdir=workdir, bin_dir=find_binaries())
    operator = OperatorProcess(cp, workdir / "operator.log")
    started = time.monotonic()
    try:
        if not _demo(args, cp, operator):
            print("demo failed: an example Job did not reach what it must (above)", file=sys.stderr)
            return 1
        if args.keep:
            say(f"cluster kept running: export KUBECONFIG={cp.kubeconfig}; "
                f"the operator logs to {operator.log}; node-agent's webhooks were answered by "
                "this process, which is gone: its next load test is refused")  # fmt: skip
            return 0
    except (ControlPlaneError, RealNodeError, DemoError, BrowserError) as e:
        print(f"demo failed: {e}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            operator.stop()
            cp.destroy()
    say(f"done in {time.monotonic() - started:.0f}s; the control plane is stopped and removed")
    return 0
