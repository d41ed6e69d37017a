"""Fuzzed Job manifests against the real API server and the running operator: each is either
refused at `kubectl apply` with a message naming the field, or reconciled (a status of its
generation) without crashing the operator or looping it hot.

`NODEWAVE_FUZZ_CLUSTER_EXAMPLES` sets the number of manifests (default 80; 1,000 for a long
run). Every Job selects at most the three `fuzz=yes` nodes, so the run stays small."""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodewave.localcluster.controlplane import ControlPlane
from nodewave.localcluster.operator import OperatorProcess
from tests.conftest import kubectl_json, wait_for
from tests.fuzz import job_specs, valid_job_specs
from tests.integration.jobs import add_nodes

EXAMPLES = int(os.environ.get("NODEWAVE_FUZZ_CLUSTER_EXAMPLES", "80"))
FIELD = re.compile(r"\bspec(\.[A-Za-z]\w*|\[)")


def passes(op: OperatorProcess) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{op.metrics_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    found = re.search(r"^nodewave_reconcile_duration_seconds_count (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


@pytest.mark.filterwarnings("ignore:Generating overly large repr")  # the ~900 KiB configs
def test_fuzzed_manifests_are_refused_by_field_or_reconciled(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    add_nodes(cluster, "fuzz", 3, fuzz="yes")
    log_start = operator.log.stat().st_size
    accepted: list[str] = []
    refused: list[str] = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(spec=st.one_of(job_specs(), valid_job_specs()), long_name=st.booleans())
    def apply_one(spec: dict[str, Any], long_name: bool) -> None:
        n = len(accepted) + len(refused)
        name = f"fz-{n}" + ("-" + "x" * 240 if long_name else "")
        if isinstance(spec.get("selector"), dict):
            labels = spec["selector"].get("matchLabels")
            spec["selector"]["matchLabels"] = {
                **(labels if isinstance(labels, dict) else {}),
                "fuzz": "yes",
            }
        else:
            spec["selector"] = {"matchLabels": {"fuzz": "yes"}}
        manifest = {"apiVersion": "nodewave.io/v1alpha1", "kind": "Job",
                    "metadata": {"name": name, "namespace": namespace}, "spec": spec}  # fmt: skip
        # `create` with JSON: client-side apply would copy the manifest into an annotation of
        # at most 256 KiB (a large config fails there, see the README), and server-side apply
        # sends YAML, which cannot carry a control character that JSON can.
        done = cluster.kubectl("create", "-f", "-", input=json.dumps(manifest), check=False)
        if done.returncode == 0:
            accepted.append(name)
        else:
            assert FIELD.search(done.stderr), f"no field named: {done.stderr[:500]}"
            refused.append(name)

    apply_one()
    assert (bool(accepted), bool(refused)) == (True, True), (len(accepted), len(refused))

    def reconciled() -> list[str]:
        jobs = kubectl_json(cluster, "get", "nwj", "-n", namespace)["items"]
        return [
            j["metadata"]["name"]
            for j in jobs
            if (j.get("status") or {}).get("observedGeneration") != j["metadata"]["generation"]
        ]

    wait_for(lambda: not reconciled(), 120, "every admitted Job reconciled")
    assert operator.alive()
    before, started = passes(operator), time.monotonic()
    time.sleep(5)
    rate = (passes(operator) - before) / (time.monotonic() - started)
    assert rate < 10 + len(accepted) / 5, f"{rate:.0f} passes/s over {len(accepted)} Jobs"
    with open(operator.log, errors="replace") as f:
        f.seek(log_start)
        assert "Traceback" not in f.read()
    print(f"{len(accepted)} manifests reconciled, {len(refused)} refused by field")
