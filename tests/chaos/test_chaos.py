"""Chaos at random moments of real rollouts, on a control plane of the suite's own: the
operator killed with SIGKILL (placement, rolling waves, a canary awaiting promotion, a
rollback), kube-apiserver and etcd restarted, the link to the API server cut for 30 s and
slowed by 500 ms, watch streams expired (410 Gone, after the API server restart). After each,
the rollout ends as it should, with exactly one execution and at most one pod per node and
version, no execution lost, no Job stuck, no traceback in the operator's log."""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Any

from nodewave.localcluster.controlplane import ControlPlane
from tests.chaos.conftest import FAST_LEASE, NODES, SCALE, Operators, record
from tests.chaos.proxy import ChaosProxy
from tests.conftest import kubectl_json, wait_for
from tests.integration.jobs import apply_job, listed_executions, template

HC = {"deadlineSeconds": 60, "intervalSeconds": 1, "successThreshold": 2, "failureThreshold": 2}
SELECT = {"matchLabels": {"chaos": "yes"}}


def spec(tag: str, rollout: dict[str, Any], **annotations: str) -> dict[str, Any]:
    t = template(annotations)
    t["spec"]["containers"][0]["image"] = f"registry.example/agent:{tag}"
    return {"type": "Pipeline", "selector": SELECT, "template": t,
            "rollout": {"healthCheck": HC, **rollout}}  # fmt: skip


def rollout_of(cp: ControlPlane, ns: str, job: str) -> dict[str, Any]:
    status = kubectl_json(cp, "get", "nwj", "-n", ns, job).get("status") or {}
    return dict(status.get("rollout") or {}) | {"stable": status.get("stableVersion")}


def check_invariants(cp: ControlPlane, ns: str, job: str, version: int) -> None:
    """One execution per (node, version), at most one pod each, every node on `version`."""
    label = f"nodewave.io/job={job}"
    execs = listed_executions(cp, ns, job)
    per = Counter((e["spec"]["nodeName"], e["spec"]["jobVersion"]) for e in execs)
    assert max(per.values()) == 1, [k for k, n in per.items() if n > 1]
    pods = kubectl_json(cp, "get", "pods", "-n", ns, "-l", label)["items"]
    live = Counter(
        p["metadata"]["name"] for p in pods if not p["metadata"].get("deletionTimestamp")
    )
    assert not live or max(live.values()) == 1
    running = {
        e["spec"]["nodeName"]
        for e in execs
        if e["spec"]["jobVersion"] == version
        and (e.get("status") or {}).get("observedState") == "Running"
    }
    assert running == set(NODES), f"{len(set(NODES) - running)} nodes not on version {version}"


def kill_at_random(ops: Operators, rng: random.Random, kills: int, done: Any) -> int:
    """SIGKILL the operator `kills` times at random moments (the first within 0.8 s, then
    0.2-1.5 s apart), starting a new one after each. Returns how many landed before `done`
    held: mid-phase; the others hit an operator with nothing left to do, which must not
    disturb anything either."""
    landed = 0
    for i in range(kills):
        time.sleep(rng.uniform(0.1, 0.8) if i == 0 else rng.uniform(0.2, 1.5))
        landed += 0 if done() else 1
        ops.kill()
        ops.start()
    return landed


def test_sigkill_at_random_moments(
    chaos_cluster: ControlPlane, operators: Operators, chaos_ns: str, rng: random.Random
) -> None:
    cp, ns, job = chaos_cluster, chaos_ns, "fleet"
    figures: dict[str, Any] = {"test": "sigkill"}
    operators.lease = FAST_LEASE

    def phase(version: int) -> str | None:
        r = rollout_of(cp, ns, job)
        return r.get("phase") if r.get("version") == version else None

    # Placement of a first version.
    started = time.monotonic()
    apply_job(cp, ns, job, spec("1", {"strategy": "Immediate"}))
    landed = kill_at_random(
        operators, rng, 6 * SCALE, lambda: rollout_of(cp, ns, job).get("stable") == 1
    )
    wait_for(lambda: rollout_of(cp, ns, job).get("stable") == 1, 120, "version 1 placed")
    check_invariants(cp, ns, job, 1)
    figures["placement"] = {
        "kills": 6 * SCALE,
        "mid_phase": landed,
        "seconds": round(time.monotonic() - started, 1),
    }

    # Rolling waves.
    started = time.monotonic()
    apply_job(cp, ns, job, spec("2", {"strategy": "Rolling", "maxParallel": 25}))
    landed = kill_at_random(operators, rng, 6 * SCALE, lambda: phase(2) == "Completed")
    wait_for(lambda: phase(2) == "Completed", 180, "version 2 rolled out")
    check_invariants(cp, ns, job, 2)
    figures["rolling"] = {
        "kills": 6 * SCALE,
        "mid_phase": landed,
        "seconds": round(time.monotonic() - started, 1),
    }

    # A canary awaiting promotion: kills never promote it; then promoted, it goes on.
    started = time.monotonic()
    canary = {"strategy": "Canary", "canaryCount": 2, "maxParallel": 50, "autoPromote": False}
    apply_job(cp, ns, job, spec("3", canary))
    wait_for(lambda: phase(3) == "AwaitingPromotion", 120, "canary awaiting promotion")
    landed = kill_at_random(operators, rng, 3 * SCALE, lambda: phase(3) != "AwaitingPromotion")
    time.sleep(2)
    assert phase(3) == "AwaitingPromotion", "a restarted operator promoted the canary by itself"
    cp.kubectl("annotate", "nwj", "-n", ns, job, "nodewave.io/promote=3", "--overwrite")
    landed += kill_at_random(operators, rng, 1, lambda: phase(3) == "Completed")
    wait_for(lambda: phase(3) == "Completed", 180, "version 3 rolled out after its promote")
    check_invariants(cp, ns, job, 3)
    figures["canary"] = {
        "kills": 3 * SCALE + 1,
        "mid_phase": landed,
        "seconds": round(time.monotonic() - started, 1),
    }

    # A bad version, killed while its first wave fails, the rollback is decided and carried
    # out (on kwok the way back takes about a second: most kills land in the decision).
    started = time.monotonic()
    bad = spec(
        "4",
        {"strategy": "Rolling", "maxParallel": 25, "maxFailedNodes": 0},
        **{"fake.nodewave.io/ready": "false"},
    )
    apply_job(cp, ns, job, bad)
    landed = kill_at_random(operators, rng, 4 * SCALE, lambda: phase(4) == "RolledBack")
    wait_for(lambda: phase(4) == "RolledBack", 180, "version 4 rolled back")
    check_invariants(cp, ns, job, 3)
    figures["rollback"] = {"kills": 4 * SCALE, "mid_phase": landed,
                           "seconds": round(time.monotonic() - started, 1)}  # fmt: skip

    phases = ("placement", "rolling", "canary", "rollback")
    kills = sum(figures[p]["kills"] for p in phases)
    assert kills >= 20
    assert all(figures[p]["mid_phase"] >= 1 for p in phases), figures
    assert operators.tracebacks() == 0
    figures |= {"kills": kills, "outcome": "every rollout ended as it should"}
    record(figures)


def _rolled_out(cp: ControlPlane, ns: str, job: str, version: int) -> bool:
    return rollout_of(cp, ns, job).get("stable") == version


def _at_wave_2(cp: ControlPlane, ns: str, job: str, version: int) -> bool:
    r = rollout_of(cp, ns, job)
    return bool(r.get("version") == version and r.get("wave", 0) >= 2)


def test_control_plane_restarts_and_expired_watches(
    chaos_cluster: ControlPlane, operators: Operators, chaos_ns: str
) -> None:
    cp, ns, job = chaos_cluster, chaos_ns, "steady"
    figures: dict[str, Any] = {"test": "restarts"}
    rolling = {"strategy": "Rolling", "maxParallel": 34}  # 3 waves: the restart lands in one
    apply_job(cp, ns, job, spec("1", {"strategy": "Immediate"}))
    wait_for(lambda: rollout_of(cp, ns, job).get("stable") == 1, 120, "version 1 placed")
    watch_restarts = operators.watch_restarts()
    for version, component in ((2, "kube-apiserver"), (3, "etcd")):
        apply_job(cp, ns, job, spec(str(version), rolling))
        wait_for(lambda v=version: _at_wave_2(cp, ns, job, v), 60, "wave 2")
        cp.restart(component, down_for=3)
        back = time.monotonic()
        wait_for(lambda v=version: _rolled_out(cp, ns, job, v), 180,
                 f"version {version} rolled out after the {component} restart")  # fmt: skip
        check_invariants(cp, ns, job, version)
        figures[f"{component}_recovered_seconds"] = round(time.monotonic() - back, 1)
    figures["watch_restarts_410"] = operators.watch_restarts() - watch_restarts
    assert operators.current is not None
    assert operators.current.alive(), "the operator survived both restarts without a restart"
    figures["outcome"] = "both rollouts completed; the operator never restarted"
    record(figures)


def test_link_cut_for_30_seconds_and_slowed(
    chaos_cluster: ControlPlane, operators: Operators, chaos_ns: str, proxy: ChaosProxy
) -> None:
    cp, ns, job = chaos_cluster, chaos_ns, "linked"
    figures: dict[str, Any] = {"test": "link"}
    rolling = {"strategy": "Rolling", "maxParallel": 25}
    apply_job(cp, ns, job, spec("1", {"strategy": "Immediate"}))
    wait_for(lambda: rollout_of(cp, ns, job).get("stable") == 1, 120, "version 1 placed")

    apply_job(cp, ns, job, spec("2", rolling))
    wait_for(lambda: rollout_of(cp, ns, job).get("wave", 0) >= 2, 60, "wave 2")
    proxy.cut()
    time.sleep(30)
    proxy.heal()
    healed = time.monotonic()
    wait_for(lambda: rollout_of(cp, ns, job).get("stable") == 2, 180, "rolled out after the cut")
    check_invariants(cp, ns, job, 2)
    figures["cut_seconds"] = 30
    figures["recovered_after_cut_seconds"] = round(time.monotonic() - healed, 1)

    proxy.slow(0.5)
    try:
        started = time.monotonic()
        apply_job(cp, ns, job, spec("3", {"strategy": "Rolling", "maxParallel": 50}))
        wait_for(lambda: rollout_of(cp, ns, job).get("stable") == 3, 300, "rolled out, slowly")
        figures["slow_rollout_seconds"] = round(time.monotonic() - started, 1)
    finally:
        proxy.heal()
    check_invariants(cp, ns, job, 3)
    assert operators.current is not None
    assert operators.current.alive()
    figures["outcome"] = "both rollouts completed"
    record(figures)
