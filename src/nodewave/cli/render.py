"""What the plugin prints: the text a person reads, and the documents `-o json|yaml` gives a
script (the same facts, for every read command).

The documents are plain data: the API objects as the API server returned them where there is
one (a Job, its executions, as `kubectl get -o json` prints them), and small summaries with
camelCase keys where the plugin computes something (an outcome, counts per state, versions)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

import yaml

from nodewave.core.views.gate import Gate
from nodewave.models.job import RolloutPhase

FORMATS = ("json", "yaml")


def emit(output: str | None, document: Any, text: Callable[[], str]) -> None:
    """Print `document` as JSON or YAML when asked (`-o`), else the text for people."""
    if output == "json":
        print(json.dumps(document, indent=2, sort_keys=False))
    elif output == "yaml":
        print(yaml.safe_dump(document, sort_keys=False, width=1000), end="")
    else:
        print(text())
    sys.stdout.flush()


def build_list(items: list[dict[str, Any]]) -> dict[str, Any]:
    """A kubectl List, as `kubectl get -o json` prints several objects."""
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}


def _bar(done: int, total: int, width: int = 20) -> str:
    filled = round(width * done / total) if total else width
    return "#" * filled + "." * (width - filled)


def _webhook_lines(hooks: list[dict[str, Any]]) -> list[str]:
    """One line per webhook of the rollout: what it is asked, its phase and last answer."""
    lines = []
    for w in hooks:
        about = f" wave {w['wave']}" if w.get("wave") else ""
        answer = f", attempt {w['attempts']}: {w.get('message', '')}" if w.get("attempts") else ""
        lines.append(f"{w['name']} ({w['type']}{about}): {w.get('phase', 'Waiting')}{answer}")
    return [("Webhooks:   " if i == 0 else "            ") + line for i, line in enumerate(lines)]


def _pre_pull_lines(pre_pull: dict[str, Any] | None) -> list[str]:
    """rollout.prePull: how the next wave's nodes pull, and the first nodes whose pull failed."""
    if not pre_pull:
        return []
    p = pre_pull
    line = (
        f"Pre-pull:   wave {p.get('wave', 0)}: {p.get('pulled', 0)}/{p.get('nodes', 0)} nodes "
        f"pulled, {p.get('failedCount', 0)} failed"
    )
    failed = [
        f"            {f['node']}: {f.get('reason', '')}: {f.get('message', '')[:120]}"
        for f in p.get("failed") or []
    ]
    return [line, *failed]


def render_status(job: dict[str, Any], execs: list[dict[str, Any]]) -> str:
    status = job.get("status") or {}
    rollout = status.get("rollout") or {}
    conds = {c["type"]: c for c in status.get("conditions", [])}
    lines = [
        f"Job:        {job['metadata']['namespace']}/{job['metadata']['name']} ({job['spec']['type']}, {job['spec']['rollout']['strategy']})",
        f"Versions:   current {status.get('currentVersion', '-')}, stable {status.get('stableVersion', '-')}",
        f"Rollout:    {rollout.get('phase', '-')} version {rollout.get('version', '-')} wave {rollout.get('wave', 0)}/{rollout.get('totalWaves', 0)}, failed nodes {rollout.get('failedNodes', 0)}",
        f"Message:    {rollout.get('message', '')}",
        *(
            [f"Until:      {rollout['waitUntil']} (the step's pause or the bake ends)"]
            if rollout.get("waitUntil")
            and rollout.get("phase") in (RolloutPhase.STEP_PAUSED, RolloutPhase.BAKING)
            else []
        ),
        *_pre_pull_lines(rollout.get("prePull")),
        *(
            [f"Restart:    {r['phase']} (requested for {r['requestedAt']}): {r.get('message', '')}"]
            if (r := status.get("restart"))
            else []
        ),
        *_webhook_lines(rollout.get("webhooks") or []),
        f"Nodes:      {status.get('readyNodes', 0)}/{status.get('targetNodes', 0)} ready",
        "Conditions: "
        + (
            ", ".join(f"{t}={c['status']}" for t, c in conds.items() if c["status"] == "True")
            or "-"
        ),
    ]
    version = rollout.get("version") or status.get("currentVersion")
    waves: dict[int, Counter[str]] = {}
    for e in execs:
        if e["spec"]["jobVersion"] == version:
            waves.setdefault(e["spec"].get("rolloutWave", 0), Counter())[
                (e.get("status") or {}).get("observedState", "Pending")
            ] += 1
    if waves:
        lines.append(f"Waves of version {version}:")
        for wave, counts in sorted(waves.items()):
            total = sum(counts.values())
            good = counts["Running"] + counts["Completed"]
            detail = " ".join(f"{s}={n}" for s, n in sorted(counts.items()))
            lines.append(f"  wave {wave:>3} [{_bar(good, total)}] {good}/{total}  {detail}")
    return "\n".join(lines)


def progress_line(job: dict[str, Any], gate: Gate) -> str:
    status = job.get("status") or {}
    ready = f"{status.get('readyNodes', 0)}/{status.get('targetNodes', 0)} nodes ready"
    return f"{gate.message} ({ready})" if gate.message else ready


def build_status_document(
    job: dict[str, Any], execs: list[dict[str, Any]], gate: Gate
) -> dict[str, Any]:
    """`status -o`: the Job and its executions as stored, and the outcome a CI gate reads."""
    return {
        "outcome": gate.outcome.value,
        "message": gate.message,
        "job": job,
        "executions": build_list(sorted(execs, key=lambda e: e["metadata"]["name"])),
    }


EXECUTION_COLUMNS = ("NAME", "JOB", "NODE", "VERSION", "WAVE", "DESIRED", "OBSERVED", "RESTARTS")


def render_executions(execs: list[dict[str, Any]], every: bool) -> str:
    """A table of executions, by namespace and name; `every` adds the namespace column."""
    rows = [(["NAMESPACE"] if every else []) + list(EXECUTION_COLUMNS)]
    for e in sorted(execs, key=lambda e: (e["metadata"]["namespace"], e["metadata"]["name"])):
        s, st = e["spec"], e.get("status") or {}
        rows.append(
            ([e["metadata"]["namespace"]] if every else [])
            + [
                e["metadata"]["name"],
                s["jobName"],
                s["nodeName"],
                str(s["jobVersion"]),
                str(s.get("rolloutWave", 0)),
                s.get("desiredState", ""),
                st.get("observedState", ""),
                str(st.get("restarts", 0)),
            ]
        )
    return render_table(rows)


def render_table(rows: list[list[str]]) -> str:
    """Columns as wide as their widest cell, kubectl's way."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "   ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def build_stats(execs: list[dict[str, Any]], states: list[str]) -> dict[str, Any]:
    counts = Counter((e.get("status") or {}).get("observedState") or "Pending" for e in execs)
    return {"states": {s: counts.get(s, 0) for s in states}, "total": len(execs)}


def render_stats(stats: dict[str, Any]) -> str:
    lines = [f"{state:<11} {n}" for state, n in stats["states"].items()]
    return "\n".join([*lines, f"{'Total':<11} {stats['total']}"])


def build_history(job: dict[str, Any], revisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each kept version: when, whether current or stable, its images."""
    status = job.get("status") or {}
    return [
        {
            "version": r["revision"],
            "created": r["metadata"]["creationTimestamp"],
            "current": r["revision"] == status.get("currentVersion"),
            "stable": r["revision"] == status.get("stableVersion"),
            "images": [
                c.get("image", "?")
                for c in r["data"].get("template", {}).get("spec", {}).get("containers", [])
            ],
        }
        for r in revisions
    ]


def render_history(versions: list[dict[str, Any]]) -> str:
    rows = [["VERSION", "CREATED", "", "IMAGES"]]
    for v in versions:
        marks = " ".join(m for m in ("current", "stable") if v[m])
        rows.append([str(v["version"]), v["created"], marks, ",".join(v["images"])])
    return render_table(rows)


def build_operator(lease: dict[str, Any], annotation: str) -> dict[str, Any]:
    """The operator a leader Lease names: its version counts only while its writer holds the
    Lease (an older leader writes none and keeps a newer one's)."""
    meta, spec = lease["metadata"], lease.get("spec") or {}
    holder = spec.get("holderIdentity") or "none"
    written = (meta.get("annotations") or {}).get(annotation, "")
    version, _, writer = written.partition(" ")
    return {
        "version": version if writer == holder and version else "unknown",
        "leader": holder,
        "lease": f"{meta['namespace']}/{meta['name']}",
        "renewTime": spec.get("renewTime"),
    }


def render_operator(operator: dict[str, Any]) -> str:
    return (
        f"operator {operator['version']}: leader {operator['leader']} (Lease "
        f"{operator['lease']}, renewed {operator['renewTime'] or 'never'})"
    )


def build_tree(job: dict[str, Any], execs: list[dict[str, Any]]) -> dict[str, Any]:
    """`get`: the Job → its versions (newest first) → their waves → the executions in each."""
    status = job.get("status") or {}
    versions: dict[int, dict[int, list[dict[str, Any]]]] = {}
    for e in sorted(execs, key=lambda e: e["spec"]["nodeName"]):
        s, st = e["spec"], e.get("status") or {}
        versions.setdefault(s["jobVersion"], {}).setdefault(s.get("rolloutWave", 0), []).append(
            {
                "name": e["metadata"]["name"],
                "node": s["nodeName"],
                "desiredState": s.get("desiredState", ""),
                "observedState": st.get("observedState") or "Pending",
                "restarts": st.get("restarts", 0),
            }
        )
    rollout = status.get("rollout") or {}
    return {
        "job": f"{job['metadata']['namespace']}/{job['metadata']['name']}",
        "phase": rollout.get("phase"),
        "message": rollout.get("message", ""),
        "readyNodes": status.get("readyNodes", 0),
        "targetNodes": status.get("targetNodes", 0),
        "versions": [
            {
                "version": version,
                "current": version == status.get("currentVersion"),
                "stable": version == status.get("stableVersion"),
                "waves": [{"wave": w, "executions": waves[w]} for w in sorted(waves)],
            }
            for version, waves in sorted(versions.items(), reverse=True)
        ],
    }


def render_tree(tree: dict[str, Any]) -> str:
    lines = [
        f"job.nodewave.io/{tree['job']}  {tree['phase'] or '-'}  "
        f"{tree['readyNodes']}/{tree['targetNodes']} nodes ready"
        + (f"  {tree['message']}" if tree["message"] else "")
    ]
    for i, version in enumerate(tree["versions"]):
        last_v = i == len(tree["versions"]) - 1
        marks = ", ".join(m for m in ("current", "stable") if version[m])
        lines.append(_branch("", last_v) + f"version {version['version']}"
                     + (f" ({marks})" if marks else ""))  # fmt: skip
        v_pad = _pad("", last_v)
        for j, wave in enumerate(version["waves"]):
            last_w = j == len(version["waves"]) - 1
            execs = wave["executions"]
            good = sum(e["observedState"] in ("Running", "Completed") for e in execs)
            lines.append(_branch(v_pad, last_w) + f"wave {wave['wave']} "
                         f"[{_bar(good, len(execs), 10)}] {good}/{len(execs)}")  # fmt: skip
            w_pad = _pad(v_pad, last_w)
            for k, e in enumerate(execs):
                restarts = f", {e['restarts']} restarts" if e["restarts"] else ""
                lines.append(_branch(w_pad, k == len(execs) - 1) + f"{e['name']}  {e['node']}  "
                             f"{e['observedState']}{restarts}")  # fmt: skip
    return "\n".join(lines)


def _branch(pad: str, last: bool) -> str:
    return pad + ("└── " if last else "├── ")


def _pad(pad: str, last: bool) -> str:
    return pad + ("    " if last else "│   ")
