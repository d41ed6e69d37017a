"""Model defaults and the selector grammar the CRD's CEL rules use."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodewave.models import Job, JobSpec, JobType, RestartPolicy
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
