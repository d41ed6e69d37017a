"""The chart's PromQL: promtool, the metric names the operator exports, and the Grafana
dashboard's queries. Shared by the alert, dashboard and metrics tests."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from nodewave import metrics

REPO = Path(__file__).resolve().parents[2]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, (
        "promtool is not installed: run the tests through `make test` (hack/test.sh installs it)"
    )
    return subprocess.run([binary, *args], capture_output=True, text=True, cwd=REPO, check=False)


def exported_metric_names() -> set[str]:
    """Every series name the operator's registry exposes (the API request counter included)."""
    suffixes = {
        "counter": ("_total",),
        "info": ("_info",),
        "histogram": ("_bucket", "_count", "_sum"),
        "gauge": ("",),
    }
    return {
        f.name + suffix
        for f in metrics.REGISTRY.collect()
        for suffix in suffixes.get(f.type, ("",))
    } | {"nodewave_api_requests_total"}


def metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\bnodewave_\w+", expr))


DASHBOARD = REPO / "charts" / "nodewave" / "files" / "grafana-dashboard.json"

VARIABLES = {"$__rate_interval": "1m", "$namespace": ".*", "$job": ".*"}


def load() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())  # type: ignore[no-any-return]


def panels() -> list[dict[str, Any]]:
    return [p for p in load()["panels"] if p["type"] != "row"]


def dashboard_queries() -> dict[str, str]:
    """Every PromQL expression (panel targets and annotations), keyed by where it is, with the
    dashboard's variables replaced by what "All" means."""

    def concrete(expr: str) -> str:
        for name, value in VARIABLES.items():
            expr = expr.replace(name, value)
        return expr

    out = {
        f"{p['title']}/{t['refId']}": concrete(t["expr"]) for p in panels() for t in p["targets"]
    }
    for a in load()["annotations"]["list"]:
        out[f"annotation {a['name']}"] = concrete(a["expr"])
    return out
