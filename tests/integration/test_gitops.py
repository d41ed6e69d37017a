"""GitOps health: cli-utils' own kstatus (built from the Go module proxy, hack/kstatus) reads a
finished Job as Current, a rollout in progress as InProgress, a failed one as Failed."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from nodewave.localcluster.controlplane import find_binaries
from tests.unit.test_rollout import BAD, NODES, as_object, run, stable_on, step


def kstatus(objects: list[dict[str, Any]]) -> list[str]:
    binary = find_binaries() / "kstatus"
    assert binary.exists(), "kstatus is built by hack/build-binaries.sh"
    done = subprocess.run(
        [str(binary)], input=json.dumps(objects), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return [line.split("\t")[0] for line in done.stdout.splitlines()]


@pytest.mark.parametrize(
    ("case", "build", "expected"),
    [
        (
            "finished",
            lambda: run(stable_on(NODES, {"strategy": "Rolling", "maxParallel": 50}), 20),
            "Current",
        ),
        (
            "wave-in-progress",
            lambda: step(stable_on(NODES, {"strategy": "Rolling", "maxParallel": 30}), 10),
            "InProgress",
        ),
        (
            "awaiting-promotion",
            lambda: run(stable_on(NODES, {"strategy": "Canary", "canaryCount": 1}), 5),
            "InProgress",
        ),
        (
            "paused",
            lambda: run(stable_on(NODES, {"strategy": "Rolling", "paused": True}), 5),
            "InProgress",
        ),
        (
            "rolled-back",
            lambda: run(
                stable_on(
                    NODES,
                    {
                        "strategy": "Canary",
                        "canaryCount": 2,
                        "autoPromote": True,
                        "maxFailedNodes": 1,
                    },
                ),
                15,
                unready=BAD,
            ),
            "Failed",
        ),
        (
            "failed-no-rollback",
            lambda: run(
                stable_on(
                    NODES,
                    {
                        "strategy": "Canary",
                        "canaryCount": 2,
                        "autoPromote": True,
                        "maxFailedNodes": 1,
                        "autoRollback": False,
                    },
                ),
                15,
                unready=BAD,
            ),
            "Failed",
        ),
    ],
)
def test_kstatus_reads_our_status(case: str, build: Any, expected: str) -> None:
    assert kstatus([as_object(build())]) == [expected], case


def test_a_spec_change_not_yet_observed_is_in_progress() -> None:
    done = run(stable_on(NODES, {"strategy": "Rolling", "maxParallel": 50}), 20)
    assert kstatus([as_object(done, generation=2)]) == ["InProgress"]
