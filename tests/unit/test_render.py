"""What the plugin prints (cli/render.py): the tree of a Job, the tables, and the documents
-o json|yaml gives."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from nodewave.cli.render import (
    build_history,
    build_operator,
    build_stats,
    build_tree,
    emit,
    render_executions,
    render_stats,
    render_tree,
)


def execution(
    node: str, version: int, wave: int, state: str | None, restarts: int = 0
) -> dict[str, Any]:
    return {
        "metadata": {"name": f"web-{node}-v{version}", "namespace": "team-a"},
        "spec": {"jobName": "web", "nodeName": node, "jobVersion": version, "rolloutWave": wave,
                 "desiredState": "Running"},
        "status": {"observedState": state, "restarts": restarts} if state else {},
    }  # fmt: skip


JOB = {
    "metadata": {"name": "web", "namespace": "team-a"},
    "status": {"currentVersion": 2, "stableVersion": 1, "readyNodes": 3, "targetNodes": 4,
               "rollout": {"phase": "Progressing", "message": "wave 1 of 2"}},
}  # fmt: skip
EXECS = [
    execution("b", 2, 1, None),
    execution("a", 2, 0, "Running", restarts=2),
    execution("c", 2, 1, "Running"),
    execution("b", 1, 0, "Running"),
    execution("d", 1, 0, "Stopped"),
]


def test_the_tree_goes_job_versions_waves_executions() -> None:
    assert render_tree(build_tree(JOB, EXECS)) == "\n".join([
        "job.nodewave.io/team-a/web  Progressing  3/4 nodes ready  wave 1 of 2",
        "├── version 2 (current)",
        "│   ├── wave 0 [##########] 1/1",
        "│   │   └── web-a-v2  a  Running, 2 restarts",
        "│   └── wave 1 [#####.....] 1/2",
        "│       ├── web-b-v2  b  Pending",
        "│       └── web-c-v2  c  Running",
        "└── version 1 (stable)",
        "    └── wave 0 [#####.....] 1/2",
        "        ├── web-b-v1  b  Running",
        "        └── web-d-v1  d  Stopped",
    ])  # fmt: skip


def test_the_trees_document_keeps_the_same_facts() -> None:
    tree = build_tree(JOB, EXECS)
    assert [(v["version"], v["current"], v["stable"]) for v in tree["versions"]] == [
        (2, True, False), (1, False, True)
    ]  # fmt: skip
    assert tree["versions"][0]["waves"][1]["executions"] == [
        {"name": "web-b-v2", "node": "b", "desiredState": "Running", "observedState": "Pending",
         "restarts": 0},
        {"name": "web-c-v2", "node": "c", "desiredState": "Running", "observedState": "Running",
         "restarts": 0},
    ]  # fmt: skip


def test_tables_are_as_wide_as_their_widest_cell() -> None:
    assert render_executions(EXECS[:2], every=False).splitlines() == [
        "NAME       JOB   NODE   VERSION   WAVE   DESIRED   OBSERVED   RESTARTS",
        "web-a-v2   web   a      2         0      Running   Running    2",
        "web-b-v2   web   b      2         1      Running              0",
    ]
    assert (
        render_executions(EXECS[:1], every=True).splitlines()[1].startswith("team-a      web-b-v2")
    )


def test_stats_count_every_state_and_an_unobserved_execution_as_pending() -> None:
    stats = build_stats(EXECS, ["Pending", "Running", "Stopped", "Failed"])
    assert stats == {"states": {"Pending": 1, "Running": 3, "Stopped": 1, "Failed": 0}, "total": 5}
    assert render_stats(stats).splitlines()[-1] == "Total       5"


def test_history_marks_the_current_and_stable_versions() -> None:
    revision = {"revision": 2, "metadata": {"creationTimestamp": "2026-12-07T00:00:00Z"},
                "data": {"template": {"spec": {"containers": [{"image": "a:2"}, {"image": "b:1"}]}}}}  # fmt: skip
    assert build_history(JOB, [revision]) == [{"version": 2, "created": "2026-12-07T00:00:00Z",
        "current": True, "stable": False, "images": ["a:2", "b:1"]}]  # fmt: skip


@pytest.mark.parametrize(
    ("annotation", "holder", "version"),
    [
        ("0.3.0 pod-a", "pod-a", "0.3.0"),
        ("0.3.0 pod-a", "pod-b", "unknown"),  # written by a former leader
        (None, "pod-a", "unknown"),
    ],
)
def test_an_operators_version_counts_only_while_its_writer_leads(
    annotation: str | None, holder: str, version: str
) -> None:
    lease = {"metadata": {"name": "nodewave-operator", "namespace": "ops",
                          "annotations": {"v": annotation} if annotation else {}},
             "spec": {"holderIdentity": holder}}  # fmt: skip
    assert build_operator(lease, "v") == {"version": version, "leader": holder,
                                          "lease": "ops/nodewave-operator", "renewTime": None}  # fmt: skip


def test_emit_prints_json_yaml_or_the_text(capsys: pytest.CaptureFixture[str]) -> None:
    document = {"b": 1, "a": [1, 2]}
    emit("json", document, lambda: "text")
    assert json.loads(capsys.readouterr().out) == document
    emit("yaml", document, lambda: "text")
    assert yaml.safe_load(capsys.readouterr().out) == document
    emit(None, document, lambda: "text")
    assert capsys.readouterr().out == "text\n"
