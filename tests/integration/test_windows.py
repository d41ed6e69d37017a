"""rollout.maintenanceWindows on the real control plane: a window computed from now, in a time
zone with a half-hour offset, opens during the test; no wave starts before it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from nodewave.localcluster.controlplane import ControlPlane
from nodewave.localcluster.operator import OperatorProcess
from tests.conftest import wait_for
from tests.integration.jobs import (
    apply_job,
    job_events,
    job_status,
    listed_executions,
    phase,
    rolling_job,
    settle_v1,
    suite_nodes,
)

KOLKATA = ZoneInfo("Asia/Kolkata")  # +05:30: a window read as UTC would be off by hours


def test_no_wave_starts_before_the_window_opens(
    cluster: ControlPlane, operator: OperatorProcess, namespace: str
) -> None:
    nodes = suite_nodes(cluster, "window", 4)
    rolling = {"strategy": "Rolling", "maxParallel": 50}
    settle_v1(cluster, namespace, "nightly", rolling_job("window", "1", rolling), nodes)
    # The next whole minute at least 6 s away (time to see the rollout wait), local to
    # Kolkata; open for ten minutes.
    soon = datetime.now(UTC) + timedelta(seconds=66)
    opens = soon.replace(second=0, microsecond=0).astimezone(KOLKATA)  # in 6 to 66 s
    window = {"start": opens.strftime("%H:%M"), "end": (opens + timedelta(minutes=10)).strftime("%H:%M"),
              "timeZone": "Asia/Kolkata"}  # fmt: skip
    apply_job(cluster, namespace, "nightly",
              rolling_job("window", "2", {**rolling, "maintenanceWindows": [window]}))  # fmt: skip
    waiting = wait_for(
        lambda: (
            (s := job_status(cluster, namespace, "nightly")).get("rollout", {}).get("version") == 2
            and s
        ),
        30,
        "the rollout of version 2 seen",
    )
    assert waiting["rollout"]["phase"] == "WaitingForWindow"
    assert waiting["rollout"]["message"] == (
        f"waiting for a maintenance window before wave 1, opens at {opens.isoformat()} "
        "(Asia/Kolkata)"
    )
    assert "WaitingForWindow" in job_events(cluster, namespace)
    assert not listed_executions(cluster, namespace, "nightly", 2)
    wait_for(lambda: phase(cluster, namespace, "nightly") == "Completed", 150, "rolled out")
    created = [
        datetime.fromisoformat(e["metadata"]["creationTimestamp"])
        for e in listed_executions(cluster, namespace, "nightly", 2)
    ]
    assert len(created) == 4
    assert min(created) >= opens, "no execution of version 2 before the window opened"
