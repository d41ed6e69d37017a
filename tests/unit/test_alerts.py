"""The alert rules: valid, unit-tested with promtool, and only about metrics the operator exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from nodewave import metrics

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "charts" / "nodewave" / "files" / "prometheus-rules.yaml"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, (
        "promtool is not installed: run the tests through `make test` (hack/test.sh installs it)"
    )
    return subprocess.run([binary, *args], capture_output=True, text=True, cwd=REPO, check=False)


def test_rules_are_valid() -> None:
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr


def test_rules_fire_when_they_should_and_not_otherwise() -> None:
    done = promtool("test", "rules", "tests/alerts/nodewave_test.yaml")
    assert done.returncode == 0, done.stdout + done.stderr


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


def test_alerts_use_only_exported_metrics() -> None:
    used = set()
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            used |= metric_names(rule["expr"])
    assert used, "no metric found in the rules"
    unknown = used - exported_metric_names()
    assert not unknown, f"alerts use metrics the operator does not export: {unknown}"
