"""The node map of one Job, as `kubectl nodewave dashboard` draws it: every selected node, in
wave order, grouped by topology domain, with what runs there (docs/design.md §7.1).

Pure, from the same snapshot objects the planner reads, and ordered by the planner's own
functions (`select_targets` → `waves.order_nodes`), so the map shows the waves as the engine
will run them. The result is JSON-ready; `build_map_changes` gives what changed between two
maps, which is what the dashboard streams (a 5,000-node map is sent whole once, then cell by
cell).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from nodewave.core.job.planner import build_placed, select_nodes
from nodewave.core.job.selector import SelectorError, build_selector
from nodewave.core.rollout.engine import IN_FLIGHT, evaluate_failure_budget
from nodewave.core.rollout.progress import build_recorded_progress, group_by_node
from nodewave.core.rollout.waves import build_domains, domain_of, order_nodes
from nodewave.core.vocabulary.snapshot import ExecutionInfo, JobInfo, NodeInfo
from nodewave.models.execution import DesiredState, ObservedState
from nodewave.models.job import RolloutStatus

ZONE = "topology.kubernetes.io/zone"
"""The grouping when the rollout has no topologyKey: the map is still by zone, if nodes have
one."""


def evaluate_budget_left(job: JobInfo, targets: int) -> int:
    """Failed nodes the current rollout may still have before it fails: its failure budget,
    less the failed ones."""
    allowed = evaluate_failure_budget(job.spec.rollout, targets)
    rs = job.status.rollout
    failed = rs.failed_nodes if rs is not None else 0
    return max(0, allowed - failed)


def _shown(execs: Iterable[ExecutionInfo], version: int | None) -> ExecutionInfo | None:
    """The execution a cell shows: the current version's, else the one wanted Running, else
    the newest."""
    execs = list(execs)
    for ex in execs:
        if ex.spec.job_version == version:
            return ex
    running = [ex for ex in execs if ex.spec.desired_state is DesiredState.RUNNING]
    pool = running or execs
    return max(pool, key=lambda ex: ex.spec.job_version) if pool else None


def build_cell(
    ex: ExecutionInfo | None, success_threshold: int, stable: int | None
) -> dict[str, Any]:
    if ex is None:
        return {"state": "None", "version": None, "wave": 0, "health": None, "message": ""}
    status = ex.status
    health = None
    if status.observed_state is ObservedState.VALIDATING and status.health is not None:
        health = [min(status.health.consecutive_healthy, success_threshold), success_threshold]
    return {
        "state": status.observed_state.value,
        "version": ex.spec.job_version,
        "stable": ex.spec.job_version == stable,
        "wave": ex.spec.rollout_wave,
        "health": health,
        "message": status.message[:200],
    }


def build_node_map(
    job: JobInfo, executions: Iterable[ExecutionInfo], nodes: Mapping[str, NodeInfo]
) -> dict[str, Any]:
    """The Job's node map: a header (the rollout, its budget, its webhooks), the domains in
    wave order with their nodes, and a cell per node; while a rollout is in flight, the nodes
    it has not reached carry the wave they are planned in (`plannedWave`), and those whose
    pre-pull of its images failed say so (`pullFailed`: the kubelet's reason and words)."""
    rollout = job.spec.rollout
    key = rollout.topology_key or ZONE
    executions = tuple(executions)
    try:
        selector = build_selector(job.spec.selector)
        targets, plan_domains = select_nodes(job, nodes, selector, build_placed(executions))
    except SelectorError:
        targets, plan_domains = [], {}
    selected = {n: nodes[n].labels for n in targets}
    on_node = group_by_node(executions)
    shown = dict(selected)
    for node in on_node:  # a node the selector dropped but still running something
        shown.setdefault(node, nodes[node].labels if node in nodes else {})
    domains = build_domains(shown, key)
    ordered = order_nodes(job.name, shown, domains, rollout.domain_order)
    groups: dict[str, list[str]] = {}
    for node in ordered:
        groups.setdefault(domain_of(domains, node), []).append(node)
    status = job.status
    rs = status.rollout or RolloutStatus()
    threshold = rollout.health_check.success_threshold
    cells = {
        n: build_cell(_shown(on_node.get(n, {}).values(), status.current_version), threshold,
                      status.stable_version)
        for n in ordered
    }  # fmt: skip
    version = rs.version
    if rs.phase in IN_FLIGHT and version is not None and version == status.current_version:
        progress = build_recorded_progress(version, status.stable_version, targets, on_node)
        waves = progress.plan_waves_to_come(rollout, plan_domains, next_wave=rs.wave + 1)
        for i, wave in enumerate(waves):
            for n in wave:
                cells[n]["plannedWave"] = rs.wave + i + 1
        for f in rs.pre_pull.failed if rs.pre_pull is not None else []:
            if f.node in cells:
                cells[f.node]["pullFailed"] = f"{f.reason}: {f.message[:150]}"
    return {
        "job": build_map_header(job, key),
        "domains": [{"name": d, "nodes": ns} for d, ns in groups.items()],
        "cells": cells,
    }


def build_map_header(job: JobInfo, key: str) -> dict[str, Any]:
    """Over the map: the rollout, its budget left and its webhooks."""
    rollout, status = job.spec.rollout, job.status
    rs = status.rollout or RolloutStatus()
    return {
        "namespace": job.namespace,
        "name": job.name,
        "type": job.spec.type.value,
        "strategy": rollout.strategy.value,
        "paused": rollout.paused,
        "currentVersion": status.current_version,
        "stableVersion": status.stable_version,
        "phase": rs.phase.value if rs.phase else None,
        "rolloutVersion": rs.version,
        "wave": rs.wave,
        "totalWaves": rs.total_waves,
        "message": rs.message,
        "waitUntil": rs.wait_until.isoformat() if rs.wait_until else None,
        "failedNodes": rs.failed_nodes,
        "budgetLeft": evaluate_budget_left(job, status.target_nodes),
        "targetNodes": status.target_nodes,
        "readyNodes": status.ready_nodes,
        "topologyKey": key,
        "webhooks": [w.to_api() for w in rs.webhooks],
    }


def build_map_changes(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """What to send a page that shows `old` so it shows `new`: the whole map when the layout
    (domains, node order) changed, else the header and the cells that changed. {} when equal."""
    if old is None or old["domains"] != new["domains"]:
        return {"full": dict(new)}
    changes: dict[str, Any] = {}
    if old["job"] != new["job"]:
        changes["job"] = new["job"]
    cells = {n: c for n, c in new["cells"].items() if old["cells"].get(n) != c}
    if cells:
        changes["cells"] = cells
    return changes
