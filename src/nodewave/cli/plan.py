"""`kubectl nodewave plan -f job.yaml`: what applying a Job manifest would do, before it is
applied (core/views/preview.py says how the plan printed is the plan executed).

The manifest goes through the API server first (server-side apply with dryRun=All), so defaults,
the schema and the CEL rules apply exactly as at `kubectl apply`, and an invalid manifest is
refused with the API server's own message. The preview then runs against the live nodes,
executions, pods and versions. Exit codes as `nomad job plan`: 0 nothing would change, 1
something would, 255 an error (the manifest refused, no cluster).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from nodewave.cli.errors import PluginError
from nodewave.core.execution.record import (
    build_pod_execution,
    select_owned_pods,
    select_pod_records,
)
from nodewave.core.job.versions import plan_versions, select_owned
from nodewave.core.views.preview import Preview, build_preview
from nodewave.core.vocabulary.naming import LABEL_JOB, label_value
from nodewave.core.vocabulary.snapshot import Snapshot
from nodewave.kube.client import Kube, KubeError, path_of
from nodewave.kube.parse import (
    parse_execution,
    parse_job,
    parse_namespace,
    parse_node,
    parse_pod,
    parse_revision,
)
from nodewave.kube.podcheck import PodChecker
from nodewave.models.job import Strategy

EXIT_CHANGES, EXIT_ERROR = 1, 255
RBAC_DENIED = 'cannot create resource "pods"'
"""In the API server's message when RBAC, not admission, refuses a pod's create."""
APPLY_PATCH = "application/apply-patch+yaml"
NAMES_PER_WAVE = 12
"""More nodes than this in a wave are shown as counts per domain."""


def read_manifest(source: str, namespace: str) -> dict[str, Any]:
    """The one nodewave Job in the file (`-` for stdin), its namespace filled in."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
        docs = [d for d in yaml.safe_load_all(text) if d]
    except (OSError, yaml.YAMLError) as e:
        raise PluginError(f"cannot read {source}: {e}") from e
    jobs = [d for d in docs if isinstance(d, dict) and d.get("kind") == "Job"
            and str(d.get("apiVersion", "")).startswith("nodewave.io/")]  # fmt: skip
    if len(jobs) != 1:
        raise PluginError(f"{source}: expected one nodewave.io Job, found {len(jobs)}")
    job = jobs[0]
    meta = job.setdefault("metadata", {})
    if not meta.get("name"):
        raise PluginError(f"{source}: the Job has no metadata.name")
    meta.setdefault("namespace", namespace)
    return job


async def _list(kube: Kube, path: str, query: dict[str, str] | None = None) -> list[Any]:
    found = await kube.get(path, query)
    return list((found or {}).get("items") or [])


async def cmd_plan(kube: Kube, args: argparse.Namespace) -> int:
    manifest = read_manifest(args.filename, args.namespace)
    ns, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
    try:
        live = await kube.get(path_of("jobs", ns, name))
        dry = await kube.request(
            "PATCH",
            path_of("jobs", ns, name),
            yaml.safe_dump(manifest),
            query={"dryRun": "All", "fieldManager": "kubectl-nodewave-plan", "force": "true"},
            content_type=APPLY_PATCH,
        )
    except KubeError as e:
        raise PluginError(f"the API server refuses the manifest: {e.message or e}") from e
    job = parse_job(dry)
    selector = {"labelSelector": f"{LABEL_JOB}={label_value(name)}"}
    revisions = [parse_revision(r, with_config=True) for r in await _list(
        kube, path_of("controllerrevisions", ns), selector)]  # fmt: skip
    versions = plan_versions(
        job.spec, select_owned(revisions, job.uid), job.status.stable_version, name
    )
    namespace = await kube.get(f"/api/v1/namespaces/{ns}")
    executions = [parse_execution(e) for e in await _list(
        kube, path_of("executions", ns), selector)]  # fmt: skip
    pods = [parse_pod(p) for p in await _list(kube, path_of("pods", ns), selector)]
    nodes = [parse_node(n) for n in await _list(kube, path_of("nodes", None))]
    owned = tuple(e for e in executions if e.owned_by(job.uid))
    # Under --pod-records most executions are only their pods: planned as a new leader would.
    seen = {p.name: p for p in pods}
    owned += tuple(
        build_pod_execution(p, None) for p in select_pod_records(seen, owned, job.uid).values()
    )
    snap = Snapshot(
        job=job,
        current=versions.current,
        nodes={n.name: n for n in nodes},
        executions=owned,
        pods=select_owned_pods(seen, owned, job.uid),  # as a pass does
        versions=versions.known,
        namespace_labels=parse_namespace(namespace).labels if namespace else {},
    )
    # The operator's own dry-run of the version's pod, as the user: what it would refuse. A
    # user who may not create pods learns nothing from it (the operator creates them). Without
    # the operator's marks, which the chart's admission policy keeps for the operator alone.
    checker = PodChecker(kube, lambda: datetime.now(UTC), marked=False)
    refusals = await checker.refusals_for(snap)
    for number, refusal in list(refusals.items()):
        if RBAC_DENIED in refusal.message:
            print(f"note: the pod of version {number} was not checked: {refusal.message}",
                  file=sys.stderr)  # fmt: skip
            del refusals[number]
    snap = replace(snap, pod_refusals=refusals)
    compare = job.status.stable_version or job.status.current_version
    previous = versions.known.get(compare) if compare else None
    spec_changed = live is None or (live.get("spec") != dry.get("spec"))
    preview = build_preview(
        snap, previous, versions.create is not None, spec_changed, datetime.now(UTC)
    )
    print(render_preview(f"{ns}/{name}", job.spec.rollout.strategy, preview, live is None))
    return EXIT_CHANGES if preview.changes else 0


def render_preview(job: str, strategy: Strategy, p: Preview, new_job: bool) -> str:
    lines = [f"Job {job}" + (" (new)" if new_job else "")]
    if p.new_version:
        origin = f"from stable version {p.stable}" if p.stable else "the Job's first"
        lines.append(f"+ version {p.version} (new, {origin})")
    else:
        lines.append(f"  version {p.version} (stored" + (", stable)" if p.stable == p.version
                                                          else ")"))  # fmt: skip
    lines += [f"    {d}" for d in p.diff]
    if p.refused:
        lines.append(f"! refused by the operator: {p.refused}")
        return "\n".join(lines)
    lines.append(f"  target nodes: {len(p.targets)}")
    if p.stops:
        lines.append(f"- stop on {len(p.stops)} nodes no longer selected: {_names(p.stops)}")
    moving = sum(len(w) for w in p.waves)
    if not p.waves:
        lines.append("  no node would start anything")
    elif p.stable == p.version:
        lines.append(f"+ place version {p.version} on {moving} nodes at once (not a rollout)")
    else:
        what = "rest of the rollout in flight" if p.in_flight else f"{strategy.value} rollout"
        lines.append(f"+ {what}: {moving} nodes in {len(p.waves)} waves")
        for i, wave in enumerate(p.waves):
            label = (
                " (canary)" if strategy is Strategy.CANARY and i == 0 and not p.in_flight else ""
            )
            lines.append(f"    wave {i + 1}{label}: {len(wave)} nodes: {_wave(wave, p)}")
            if i < len(p.pauses) and (pause := p.pauses[i]) is not None:
                lines.append(
                    f"      then pause {pause.duration_seconds} s"
                    if pause.duration_seconds
                    else "      then wait for a promote (kubectl nodewave promote)"
                )
        lines.append(f"  failure budget: {p.budget} nodes may fail; one more stops the rollout"
                     + (", and any failure in the canary" if strategy is Strategy.CANARY else ""))  # fmt: skip
        lines.append(
            "  duration: each wave ends when its executions completed"
            if p.completes
            else f"  duration: at least {p.minimum_seconds} s of health windows"
        )
        if p.wait_seconds:
            lines[-1] += f", and {p.wait_seconds} s of timed pauses and bake"
        lines.extend(f"  {note}" for note in p.notes)
    if p.spec_changed and not (p.new_version or p.waves or p.stops):
        lines.append("~ the spec changes; no node is affected")
    if not p.changes:
        lines.append("  no changes")
    return "\n".join(lines)


def _names(nodes: list[str]) -> str:
    shown = ", ".join(nodes[:NAMES_PER_WAVE])
    return shown + (
        f" and {len(nodes) - NAMES_PER_WAVE} more" if len(nodes) > NAMES_PER_WAVE else ""
    )


def _wave(wave: list[str], p: Preview) -> str:
    if len(wave) <= NAMES_PER_WAVE or not p.domains:
        return _names(wave)
    counts = Counter(p.domains.get(n, "") or "(no label)" for n in wave)
    return ", ".join(f"{d}: {n}" for d, n in counts.items())
