"""GitOps health: cli-utils' own kstatus (built from the Go module proxy, localcluster/binaries/kstatus) reads a
finished Job as Current, a rollout in progress as InProgress, a failed one as Failed."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from nodewave.localcluster.controlplane import find_binaries
from tests.unit.simulation import NODES, PHASES, as_object, run, stable_on


def kstatus(objects: list[dict[str, Any]]) -> list[str]:
    binary = find_binaries() / "kstatus"
    assert binary.exists(), "kstatus is built by hack/build-binaries.sh"
    done = subprocess.run(
        [str(binary)], input=json.dumps(objects), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return [line.split("\t")[0] for line in done.stdout.splitlines()]


KSTATUS = {
    "finished": "Current",
    "wave-in-progress": "InProgress",
    "awaiting-promotion": "InProgress",
    "paused": "InProgress",
    "waiting-for-window": "InProgress",
    "awaiting-confirmation": "InProgress",
    "step-paused": "InProgress",
    "baking": "InProgress",
    "aborted": "Failed",
    "rolled-back": "Failed",
    "failed-no-rollback": "Failed",
}


@pytest.mark.parametrize(("case", "expected"), KSTATUS.items())
def test_kstatus_reads_our_status(case: str, expected: str) -> None:
    assert kstatus([as_object(PHASES[case]())]) == [expected], case


def test_a_spec_change_not_yet_observed_is_in_progress() -> None:
    done = run(stable_on(NODES, {"strategy": "Rolling", "maxParallel": 50}), 20)
    assert kstatus([as_object(done, generation=2)]) == ["InProgress"]
