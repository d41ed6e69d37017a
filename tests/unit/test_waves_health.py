"""Wave planning (table + properties) and health windows (injected clock)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodewave.core.health import Verdict, evaluate_health
from nodewave.core.waves import ceil_percent, order_nodes, plan_waves
from nodewave.models.job import HealthCheck, Rollout
from tests.unit.builders import at


def rollout(**kw: object) -> Rollout:
    base: dict[str, object] = {"healthCheck": {"deadlineSeconds": 600}}
    return Rollout.model_validate({**base, **kw})


@pytest.mark.parametrize(
    ("kw", "n", "sizes"),
    [
        ({"strategy": "Immediate"}, 7, [7]),
        ({"strategy": "Rolling", "maxParallel": 20}, 100, [20] * 5),
        ({"strategy": "Rolling", "maxParallel": 10}, 7, [1] * 7),
        ({"strategy": "Rolling", "maxParallel": 50}, 3, [2, 1]),
        ({"strategy": "Rolling", "maxParallel": 100}, 5, [5]),
        ({"strategy": "Canary", "canaryCount": 2, "maxParallel": 25}, 20, [2, 5, 5, 5, 3]),
        ({"strategy": "Canary", "canaryPercent": 10, "maxParallel": 50}, 15, [2, 8, 5]),
        ({"strategy": "Canary", "canaryCount": 50}, 3, [3]),
        ({"strategy": "Rolling"}, 1, [1]),
        ({"strategy": "Canary", "canaryCount": 1}, 0, []),
    ],
)
def test_wave_table(kw: dict[str, object], n: int, sizes: list[int]) -> None:
    waves = plan_waves(rollout(**kw), [f"n{i}" for i in range(n)])
    assert [len(w) for w in waves] == sizes


def test_ceil_percent_is_exact() -> None:
    assert ceil_percent(20, 100) == 20
    assert ceil_percent(10, 7) == 1
    assert ceil_percent(33, 3) == 1
    assert ceil_percent(1, 1000) == 10


strategies = st.sampled_from(["Immediate", "Rolling", "Canary"])


@given(
    strategy=strategies,
    parallel=st.integers(1, 100),
    canary=st.integers(1, 50),
    n=st.integers(0, 300),
)
def test_wave_properties(strategy: str, parallel: int, canary: int, n: int) -> None:
    kw: dict[str, object] = {"strategy": strategy, "maxParallel": parallel}
    if strategy == "Canary":
        kw["canaryCount"] = canary
    r = rollout(**kw)
    nodes = order_nodes("job", [f"node-{i}" for i in range(n)])
    waves = plan_waves(r, nodes)
    flat = [x for w in waves for x in w]
    assert sorted(flat) == sorted(nodes)  # every node in exactly one wave
    assert flat == nodes  # in order
    bound = n if strategy == "Immediate" else max(1, -(-parallel * n // 100))
    for i, w in enumerate(waves):
        assert w
        if strategy == "Canary" and i == 0:
            assert len(w) == min(canary, n)  # canary first
        else:
            assert len(w) <= bound
    assert plan_waves(r, nodes) == waves  # same input, same plan
    assert order_nodes("job", reversed(nodes)) == nodes  # order does not depend on input order


HC = HealthCheck(
    deadline_seconds=100,
    interval_seconds=10,
    success_threshold=2,
    failure_threshold=3,
    max_error_rate=0.1,
)


def run(samples: list[tuple[float, bool, int]]) -> list[Verdict]:
    window = None
    verdicts = []
    for t, ready, restarts in samples:
        res = evaluate_health(
            window, ready=ready, restarts=restarts, hc=HC, created_at=at(0), now=at(t)
        )
        window = res.window
        verdicts.append(res.verdict)
    return verdicts


def test_two_clean_windows_validate() -> None:
    samples = [(t, True, 0) for t in range(0, 22, 2)]
    verdicts = run(samples)
    assert verdicts[-2] is Verdict.PENDING or verdicts[-1] is Verdict.VALIDATED
    assert verdicts[-1] is Verdict.VALIDATED
    assert Verdict.VALIDATED not in verdicts[:-1]


def test_a_restart_spoils_its_window() -> None:
    samples = (
        [(t, True, 0) for t in range(0, 10, 2)]
        + [(10, True, 1)]
        + [(t, True, 1) for t in range(12, 42, 2)]
    )
    verdicts = run(samples)
    # window 1 healthy, window 2 (with the restart at 10 s counted in window 1's close) ...
    assert verdicts[-1] is Verdict.VALIDATED
    first = verdicts.index(Verdict.VALIDATED)
    assert samples[first][0] >= 30  # the restart cost at least one window


def test_never_ready_fails_after_failure_threshold_windows() -> None:
    verdicts = run([(t, False, 0) for t in range(0, 32, 2)])
    assert verdicts[-1] is Verdict.FAILED
    assert verdicts.index(Verdict.FAILED) == 15  # at 30 s: three unhealthy windows


def test_deadline_fails_a_flapping_execution() -> None:
    hc = HC.model_copy(update={"deadline_seconds": 25, "failure_threshold": 10})
    window = None
    res = None
    for t in range(0, 26, 1):
        res = evaluate_health(
            window, ready=t % 4 < 2, restarts=0, hc=hc, created_at=at(0), now=at(t)
        )
        window = res.window
    assert res is not None
    assert res.verdict is Verdict.FAILED
    assert res.reason == "HealthCheckDeadline"


def test_samples_are_evenly_spaced_whatever_the_pass_rate() -> None:
    window = None
    for i in range(100):  # 100 passes in 1 s: only one sample counts per 2 s period
        res = evaluate_health(
            window, ready=True, restarts=0, hc=HC, created_at=at(0), now=at(i / 100)
        )
        window = res.window
    assert window is not None
    assert window.samples == 1
