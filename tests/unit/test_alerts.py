"""The alert rules: valid, unit-tested with promtool, and only about metrics the operator exports."""

from __future__ import annotations

import yaml

from tests.unit.promql import REPO, exported_metric_names, metric_names, promtool

RULES = REPO / "charts" / "nodewave" / "files" / "prometheus-rules.yaml"


def test_rules_are_valid() -> None:
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr


def test_rules_fire_when_they_should_and_not_otherwise() -> None:
    done = promtool("test", "rules", "tests/alerts/nodewave_test.yaml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_alerts_use_only_exported_metrics() -> None:
    used = set()
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            used |= metric_names(rule["expr"])
    assert used, "no metric found in the rules"
    unknown = used - exported_metric_names()
    assert not unknown, f"alerts use metrics the operator does not export: {unknown}"
