"""The demo's success criterion (localcluster/expectations.py): every example has one, a
maintenance window decides by the clock what kernel-update must reach, and each kind of
unmet expectation is reported as what the Job shows instead. Fixed clocks: the demo itself
runs at whatever hour it is (tests/e2e/test_demo.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from nodewave.core.views.gate import Outcome
from nodewave.localcluster.expectations import (
    EXPECTED,
    DemoError,
    Expected,
    evaluate_expected,
    plan_expected,
)
from nodewave.localcluster.receiver import HOOKS_PATH, build_local_examples
from nodewave.models.job import RolloutPhase

EXAMPLES = Path(__file__).parents[2] / "examples"


def example_jobs() -> dict[str, dict[str, Any]]:
    jobs = {}
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Job":
                jobs[doc["metadata"]["name"]] = doc
    return jobs


def test_every_example_job_has_an_expectation_and_every_expectation_an_example() -> None:
    assert set(example_jobs()) == set(EXPECTED)


def test_a_job_without_an_expectation_is_an_error_naming_it() -> None:
    with pytest.raises(DemoError, match="'new-example' has no entry"):
        plan_expected("new-example", {"type": "Query", "template": {}}, datetime.now(UTC))


KERNEL = example_jobs()["kernel-update"]["spec"]


@pytest.mark.parametrize(
    ("now", "opens"),
    [
        # Sunday morning in Berlin: waits for Monday 22:00 CET.
        (datetime(2026, 12, 6, 8, 10, tzinfo=UTC), "2026-12-07T22:00:00+01:00"),
        # Tuesday noon: the window of the same evening.
        (datetime(2026, 12, 8, 11, 0, tzinfo=UTC), "2026-12-08T22:00:00+01:00"),
        # Saturday 05:00 Berlin: Friday night's window has ended, none starts on a weekend.
        (datetime(2026, 12, 12, 4, 0, tzinfo=UTC), "2026-12-14T22:00:00+01:00"),
        # Friday 05:00 Berlin exactly: the end is exclusive.
        (datetime(2026, 12, 11, 4, 0, tzinfo=UTC), "2026-12-11T22:00:00+01:00"),
    ],
)
def test_kernel_update_waits_for_its_window_while_every_window_is_closed(
    now: datetime, opens: str
) -> None:
    expected = plan_expected("kernel-update", KERNEL, now)
    assert expected.outcomes == {Outcome.PAUSED}
    assert expected.phase is RolloutPhase.WAITING_FOR_WINDOW
    assert expected.message == f"opens at {opens} (Europe/Berlin)"
    assert expected.says == (
        f"WaitingForWindow: no maintenance window is open now, the next {expected.message}; "
        f"then {EXPECTED['kernel-update'].says}"
    )


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 12, 7, 21, 0, tzinfo=UTC),  # Monday 22:00 Berlin, the opening itself
        datetime(2026, 12, 9, 2, 0, tzinfo=UTC),  # Wednesday 03:00 Berlin, Tuesday's window
        datetime(2026, 12, 12, 3, 59, tzinfo=UTC),  # Saturday 04:59 Berlin, Friday's window
    ],
)
def test_kernel_update_must_complete_while_a_window_is_open(now: datetime) -> None:
    assert plan_expected("kernel-update", KERNEL, now) == EXPECTED["kernel-update"]
    assert EXPECTED["kernel-update"].outcomes == {Outcome.SUCCEEDED}


def test_a_job_without_windows_expects_the_same_at_any_hour() -> None:
    spec = example_jobs()["node-agent"]["spec"]
    for hour in (0, 8, 13, 22):
        now = datetime(2026, 12, 6, hour, tzinfo=UTC)
        assert plan_expected("node-agent", spec, now) is EXPECTED["node-agent"]


def job(
    phase: str | None = None,
    *,
    current: int = 1,
    stable: int | None = None,
    wave: int = 0,
    message: str = "",
    conditions: dict[str, tuple[str, str]] | None = None,
    webhooks: dict[str, str] | None = None,
    type_: str = "Pipeline",
) -> dict[str, Any]:
    rollout: dict[str, Any] = {"version": current, "wave": wave, "message": message}
    if phase:
        rollout["phase"] = phase
    rollout["webhooks"] = [
        {"name": name, "type": "ConfirmRollout", "phase": p} for name, p in (webhooks or {}).items()
    ]
    return {
        "metadata": {"name": "j", "generation": 1},
        "spec": {"type": type_},
        "status": {
            "observedGeneration": 1,
            "currentVersion": current,
            "stableVersion": stable,
            "targetNodes": 3,
            "rollout": rollout,
            "conditions": [
                {
                    "type": t,
                    "status": s,
                    "reason": r,
                    "message": "",
                    "lastTransitionTime": "2026-12-06T08:00:00Z",
                }
                for t, (s, r) in (conditions or {}).items()
            ],
        },
    }


WINDOW = plan_expected("kernel-update", KERNEL, datetime(2026, 12, 6, 8, 10, tzinfo=UTC))
GATED = EXPECTED["node-agent"]
READY = EXPECTED["log-pipeline"]
OPENS = "opens at 2026-12-07T22:00:00+01:00 (Europe/Berlin)"
BOTH = {"change-board": "Passed", "approve-in-chat": "Passed"}


@pytest.mark.parametrize(
    ("expected", "shown", "unmet"),
    [
        (READY, job("Completed", stable=1, conditions={"Ready": ("True", "Ready")}), None),
        (READY, job("Progressing", wave=2, message="wave 2/5"),
         "waiting (Progressing: wave 2/5)"),
        (READY, job("RolledBack", stable=1, conditions={"Stalled": ("True", "RolledBack")}),
         "failed (RolledBack: )"),
        (WINDOW, job("WaitingForWindow", message=f"waiting before wave 1, {OPENS}"), None),
        (WINDOW, job("WaitingForWindow", message="waiting before wave 1, opens at 2026-12-14"),
         f"its message 'waiting before wave 1, opens at 2026-12-14' does not say {OPENS!r}"),
        (WINDOW, job("Paused", message=OPENS), "phase Paused, expected WaitingForWindow"),
        (WINDOW, job("Progressing", wave=1), "waiting (Progressing: )"),
        (GATED, job("Progressing", wave=2, webhooks=BOTH), None),
        (GATED, job("Completed", stable=1, wave=6, webhooks=BOTH), None),
        # On two nodes (a kind cluster's workers) the canary is every node: done at wave 1.
        (GATED, job("Completed", stable=1, wave=1, webhooks={"change-board": "Passed"}), None),
        (GATED, job("Failed", wave=2, webhooks=BOTH, conditions={"Stalled": ("True", "RolloutFailed")}),
         "failed (RolloutFailed: )"),
        (GATED, job("Progressing", wave=1, message="wave 1/6", webhooks=BOTH), "at wave 1: wave 1/6"),
        (GATED, job("Progressing", wave=2, webhooks={"change-board": "Passed"}),
         "webhooks not passed yet: approve-in-chat"),
        (GATED, job("Progressing", wave=2, webhooks={**BOTH, "change-board": "Waiting"}),
         "webhooks not passed yet: change-board"),
        (GATED, job("AwaitingConfirmation", message="webhook change-board (attempt 1: unreachable)"),
         "paused (AwaitingConfirmation: webhook change-board (attempt 1: unreachable))"),
    ],
)  # fmt: skip
def test_what_a_job_shows_instead_of_what_it_must_reach(
    expected: Expected, shown: dict[str, Any], unmet: str | None
) -> None:
    assert evaluate_expected(expected, shown) == unmet


def test_a_job_the_operator_has_not_reported_on_is_waiting() -> None:
    assert evaluate_expected(READY, {"metadata": {"name": "j"}, "spec": {"type": "Query"}}) == (
        "waiting (the operator has not reported on this Job yet)"
    )


def example_docs() -> list[dict[str, Any]]:
    return [
        d for p in sorted(EXAMPLES.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d
    ]


def test_the_gated_example_is_pointed_at_the_receiver_and_nothing_else_changes() -> None:
    docs = example_docs()
    local, changed = build_local_examples(docs, "http://127.0.0.1:9")
    hooks = {h["name"]: h for d in local if d["metadata"]["name"] == "node-agent"
             for h in d["spec"]["rollout"]["webhooks"]}  # fmt: skip
    assert {n: h["url"] for n, h in hooks.items()} == {
        n: f"http://127.0.0.1:9{HOOKS_PATH}{n}"
        for n in ("change-board", "load-test", "approve-in-chat", "slo-burn", "changelog")
    }
    echo = "http://nodewave-webhook-echo.default.svc.cluster.local:8080/cgi-bin"
    # The example's own receiver and its Secret are played by the demo's, with its own key.
    assert changed == [
        "Secret/nodewave-webhooks: played on loopback instead",
        "ConfigMap/nodewave-webhook-echo: played on loopback instead",
        "Deployment/nodewave-webhook-echo: played on loopback instead",
        "Service/nodewave-webhook-echo: played on loopback instead",
        f"node-agent/change-board (ConfirmRollout): {echo}/pass/change-board -> "
        f"http://127.0.0.1:9{HOOKS_PATH}change-board",
        *(f"node-agent/{n} ({t}): {echo}/{p} -> http://127.0.0.1:9{HOOKS_PATH}{n}"
          for n, t, p in (("load-test", "PreWave", "pass/load-test"),
                          ("approve-in-chat", "ConfirmPromotion", "pass/approve-in-chat"),
                          ("slo-burn", "Rollback", "slo"),
                          ("changelog", "PostRollout", "pass/changelog"))),
    ]  # fmt: skip
    assert [d["metadata"]["name"] for d in local] == list(example_jobs())
    jobs = example_jobs()
    for after in local:
        if after["metadata"]["name"] != "node-agent":
            assert after == jobs[after["metadata"]["name"]]
    assert jobs["node-agent"]["spec"]["rollout"]["webhooks"][0]["url"].startswith(echo)
