"""Model defaults and the selector grammar the CRD's CEL rules use."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodewave.kube import parse
from nodewave.kube.parse import parse_execution, parse_pod
from nodewave.models import Job, JobSpec, JobType, RestartPolicy, base
from nodewave.models.base import share_fields_sets
from nodewave.models.execution import ExecutionStatus
from nodewave.models.selector_syntax import EXPRESSION_FORMS

TEMPLATE = {"spec": {"containers": [{"name": "a", "image": "b"}]}}


def well_formed(expr: str) -> bool:
    return any(re.fullmatch(p, expr) for p in EXPRESSION_FORMS)


@pytest.mark.parametrize(
    ("expr", "ok"),
    [
        ("region=us-east", True),
        ("region==us-east", True),
        ("environment!=prod", True),
        ("tier in (premium,standard)", True),
        ("tier notin ( premium , standard )", True),
        ("gpu", True),
        ("!debug", True),
        ("example.com/role=edge", True),
        ("k=", True),  # empty value: Kubernetes allows it
        ("tier in ()", False),
        ("tier in (a,,b)", False),
        ("region=>eu", False),
        ("a b c", False),
        ("=v", False),
        ("-bad=v", False),
        ("Upper.Prefix/k=v", False),
        ("k=" + "v" * 64, False),
        ("", False),
    ],
)
def test_expression_grammar(expr: str, ok: bool) -> None:
    assert well_formed(expr) is ok


names = st.from_regex(r"[a-z0-9]([-a-z0-9_.]{0,10}[a-z0-9])?", fullmatch=True)


@given(
    key=names,
    values=st.lists(names, min_size=1, max_size=4),
    op=st.sampled_from(["=", "==", "!=", "in", "notin", "exists", "!"]),
    space=st.sampled_from(["", " ", "  "]),
)
def test_generated_expressions_are_well_formed(
    key: str, values: list[str], op: str, space: str
) -> None:
    if op in ("in", "notin"):
        expr = f"{key} {op}{space}({space}{(space + ',' + space).join(values)}{space})"
    elif op == "exists":
        expr = f"{space}{key}{space}"
    elif op == "!":
        expr = f"!{space}{key}"
    else:
        expr = f"{key}{space}{op}{space}{values[0]}"
    assert well_formed(expr), expr


def test_defaults_follow_design() -> None:
    spec = JobSpec.model_validate({"type": "Pipeline", "template": TEMPLATE})
    assert spec.rollout.strategy == "Immediate"
    assert spec.rollout.max_parallel == 10
    assert spec.rollout.auto_rollback is True
    assert spec.rollout.max_failed_nodes == 10
    assert spec.rollout.max_failed_nodes_percent == 10.0
    hc = spec.rollout.health_check
    assert (hc.interval_seconds, hc.failure_threshold, hc.success_threshold, hc.max_error_rate) == (
        10,
        3,
        2,
        0.10,
    )
    assert spec.effective_restart_policy is RestartPolicy.ALWAYS


@pytest.mark.parametrize("job_type", [JobType.QUERY, JobType.UPDATE, JobType.CONFIG])
def test_run_to_completion_types_default_to_on_failure(job_type: JobType) -> None:
    spec = JobSpec.model_validate({"type": job_type, "template": TEMPLATE})
    assert spec.effective_restart_policy is RestartPolicy.ON_FAILURE
    assert (
        JobSpec.model_validate(
            {"type": job_type, "template": TEMPLATE, "restartPolicy": "Never"}
        ).effective_restart_policy
        is RestartPolicy.NEVER
    )


def test_wire_form_is_camel_case() -> None:
    job = Job.model_validate(
        {"spec": {"type": "Query", "template": TEMPLATE, "rollout": {"maxParallel": 20}}}
    )
    wire = job.to_api()
    assert wire["spec"]["rollout"]["maxParallel"] == 20
    assert "max_parallel" not in wire["spec"]["rollout"]


def _execution_body(node: str) -> dict[str, Any]:
    """As a watch event decodes it: every string a new object."""
    return json.loads(json.dumps(_execution(node)))


def _execution(node: str) -> dict[str, Any]:
    return {
        "metadata": {"name": f"a-v1-{node}", "uid": node, "resourceVersion": "7"},
        "spec": {"jobName": "a", "jobVersion": 1, "nodeName": node, "rolloutWave": 2},
        "status": {
            "observedState": "Running",
            "message": "running",
            "details": {"pod": f"a-v1-{node}"},
            "health": {"consecutiveHealthy": 1, "windowStart": "2026-12-07T00:16:30Z"},
            "history": [
                {"state": "Validating", "reason": "Validating", "time": "2026-12-07T00:16:27Z"},
                {"state": "Running", "reason": "Validated", "time": "2026-12-07T00:16:30Z"},
            ],
        },
    }


def test_cached_executions_share_their_fields_sets_and_stay_what_they_parsed() -> None:
    """parse_execution (the informers' copy of every execution) shares pydantic's per-instance
    set of set fields: the same object across executions, at every depth; the values are
    those an unshared parse gives, and a copy with changes is an ordinary model."""
    a, b = parse_execution(_execution_body("n1")), parse_execution(_execution_body("n2"))
    for x, y in (
        (a.spec, b.spec),
        (a.status, b.status),
        (a.status.health, b.status.health),
        (a.status.history[0], b.status.history[1]),
    ):
        assert x.__pydantic_fields_set__ is y.__pydantic_fields_set__
    # The strings every execution repeats, held once.
    assert a.spec.job_name is b.spec.job_name
    assert a.status.message is b.status.message
    assert a.status.history[1].reason is b.status.history[1].reason
    one, other = parse_execution(_execution_body("n1")), parse_execution(_execution_body("n1"))
    assert one.spec.node_name is other.spec.node_name
    assert next(iter(one.status.details)) is next(iter(other.status.details))
    assert one.name is not other.name  # unique names are not shared: they would churn the table
    # One object per instant: the window's start, the transition's time, across executions.
    assert a.status.health is not None
    assert a.status.health.window_start is a.status.history[1].time
    assert a.status.history[0].time is b.status.history[0].time
    plain = ExecutionStatus.model_validate(_execution_body("n1")["status"])
    assert a.status == plain
    assert a.status.model_fields_set == plain.model_fields_set
    changed = a.status.model_copy(update={"message": "stopping", "restarts": 2})
    assert changed.restarts == 2
    assert "restarts" in changed.model_fields_set
    assert "restarts" not in a.status.model_fields_set  # the shared set unchanged
    deep = a.status.model_copy(deep=True)
    deep.message = "changed"  # a deep copy is the caller's own
    assert a.status.message == "running"


def test_a_cached_model_assigned_in_place_raises() -> None:
    """Every pass reads the cached execution: changing it in place would change what every
    later pass sees before the API has it. The shared set makes that an error, not a quiet
    corruption."""
    cached = parse_execution(_execution_body("n1"))
    with pytest.raises(TypeError, match="shared and read-only"):
        cached.status.message = "edited"


def test_the_shared_sets_are_bounded() -> None:
    before = len(base._SHARED_SETS)
    try:
        for i in range(base.MAX_SHARED_SETS + 10):
            model = ExecutionStatus.model_validate({"details": {}})
            object.__setattr__(model, "__pydantic_fields_set__", {f"f{i}"})
            share_fields_sets(model)
        assert len(base._SHARED_SETS) == base.MAX_SHARED_SETS
        assert type(model.__pydantic_fields_set__) is set  # past the bound: its own, unshared
    finally:
        for key in list(base._SHARED_SETS)[before:]:
            del base._SHARED_SETS[key]


def test_cached_pods_hold_one_copy_of_their_nodes_name_phase_and_container_names() -> None:
    def body() -> dict[str, Any]:
        pod = {
            "metadata": {"name": "a-v1-n1-x", "uid": "u", "resourceVersion": "3"},
            "spec": {"nodeName": "node-0001"},
            "status": {"phase": "Running", "containerStatuses": [{"name": "main", "ready": True}]},
        }
        loaded: dict[str, Any] = json.loads(json.dumps(pod))
        return loaded

    a, b = parse_pod(body()), parse_pod(body())
    assert a == b
    assert a.node_name is b.node_name
    assert a.phase is b.phase
    assert a.containers[0].name is b.containers[0].name


def test_the_shared_values_are_bounded_and_long_strings_are_not_shared() -> None:
    table = parse._SharedValues(2)
    first = table.share("a", "a")
    assert table.share("a", "a-again") is first
    table.share("b", "b")
    table.share("c", "c")  # past the bound: the table starts again
    assert list(table.values) == ["c"]
    long = "x" * (parse.MAX_SHARED_LENGTH + 1)
    assert parse._shared("".join(long)) is not parse._shared("".join(long))
