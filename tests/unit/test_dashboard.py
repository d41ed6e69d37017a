"""The Grafana dashboard shipped with the chart: well-formed, laid out on Grafana's 24-column
grid without overlaps, every query valid PromQL (promtool) over metrics the operator exports.
tests/integration/test_metrics.py runs the same queries against the live operator."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.unit.promql import (
    dashboard_queries,
    exported_metric_names,
    load,
    metric_names,
    panels,
    promtool,
)


def test_layout_and_wiring() -> None:
    dash = load()
    assert dash["uid"] == "nodewave"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for p in dash["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not mine & cells, f"{p['title']} overlaps another panel"
        cells |= mine
    variables = {v["name"] for v in dash["templating"]["list"]}
    assert variables == {"datasource", "namespace", "job"}
    for p in panels():
        assert p["description"], p["title"]
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${datasource}"
            used = set(re.findall(r"\$(\w+)", t["expr"])) - {"__rate_interval"}
            assert used <= variables, (p["title"], used)


def test_queries_are_valid_promql(tmp_path: Path) -> None:
    # promtool has no "check this expression"; recording rules are parsed as PromQL.
    queries = dashboard_queries()
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"q{i}", "expr": e} for i, e in enumerate(queries.values())],
            }
        ]
    }
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    done = promtool("check", "rules", str(tmp_path / "rules.yaml"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_queries_use_only_exported_metrics() -> None:
    exported = exported_metric_names()
    for where, expr in dashboard_queries().items():
        used = metric_names(expr)
        assert used, f"{where} queries no nodewave metric"
        assert used <= exported, f"{where} uses metrics the operator does not export"
    # The variables' label_values() queries too.
    for v in load()["templating"]["list"][1:]:
        assert metric_names(v["definition"]) <= exported


def test_every_exported_metric_is_on_the_dashboard() -> None:
    shown = set().union(*(metric_names(e) for e in dashboard_queries().values()))
    families = {re.sub(r"_(bucket|count|sum)$", "", n) for n in shown}
    missing = {
        n
        for n in exported_metric_names()
        if re.sub(r"_(bucket|count|sum)$", "", n) not in families
        and n != "nodewave_build_info"  # identifies the operator; nothing to chart
    }
    assert not missing, f"exported but not on the dashboard: {missing}"
