"""Fuzzed Job specs through the pure planner: whatever the model admits, a pass plans it
without an exception, says so in a status of the spec's generation, and a second pass over the
same cluster and that status changes nothing (no hot loop). Specs the model refuses are the
API server's to refuse with a message (tests/integration/test_fuzz_specs.py).

`NODEWAVE_FUZZ_EXAMPLES` sets the number of specs (default 500; 1,000 or more for a long run)."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from nodewave.core.job.planner import plan_job
from nodewave.core.vocabulary.snapshot import VersionSpec
from nodewave.models.job import JobSpec
from tests.fuzz import job_names, job_specs, valid_job_specs
from tests.unit.builders import at, node, snapshot

EXAMPLES = int(os.environ.get("NODEWAVE_FUZZ_EXAMPLES", "500"))
NODES = [node(f"n{i}", region=("eu", "us")[i % 2], fuzz="yes") for i in range(6)]


@pytest.mark.filterwarnings("ignore:Generating overly large repr")  # the ~900 KiB configs
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    spec=st.one_of(job_specs(), valid_job_specs()),
    name=job_names(),
    nodes=st.integers(0, len(NODES)),
)
def test_any_admitted_spec_is_planned_and_settles(
    spec: dict[str, Any], name: str, nodes: int
) -> None:
    try:
        model = JobSpec.model_validate(spec)
    except ValidationError:
        return
    snap = snapshot(NODES[:nodes], spec=model)
    version = VersionSpec(1, model.type, model.template, model.config)
    snap = replace(snap, job=replace(snap.job, name=name), current=version, versions={1: version})
    plan = plan_job(snap, at(0))
    assert plan.status.observed_generation == 1
    assert plan.status.target_nodes <= nodes
    again = plan_job(replace(snap, job=replace(snap.job, status=plan.status)), at(0))
    assert not again.status_changed, "the status is not a fixed point: a hot loop"
    assert again.actions == plan.actions, "the same cluster, the same plan"
