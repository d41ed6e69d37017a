"""Wave planning (table + properties) and health windows (injected clock)."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from nodewave.core.execution.health import HealthResult, Verdict, evaluate_health, window_closes
from nodewave.core.rollout.waves import (
    ceil_percent,
    domain_of,
    order_nodes,
    plan_waves,
    same_domain,
)
from nodewave.models.execution import HealthWindow
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
        ({"strategy": "Canary", "canaryPercent": 10, "maxParallel": 50}, 5, [1, 3, 1]),
        ({"strategy": "Rolling"}, 1, [1]),
        ({"strategy": "Canary", "canaryCount": 1}, 0, []),
    ],
)
def test_wave_table(kw: dict[str, object], n: int, sizes: list[int]) -> None:
    waves = plan_waves(rollout(**kw), [f"n{i}" for i in range(n)], {})
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
    waves = plan_waves(r, nodes, {})
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
    assert plan_waves(r, nodes, {}) == waves  # same input, same plan
    assert order_nodes("job", reversed(nodes)) == nodes  # order does not depend on input order


def test_topology_waves_worked_example() -> None:
    """The module's example: zones a (4 nodes) and b (2), Rolling 50 % of 6 = 3 per wave."""
    domains = {**{f"a{i}": "a" for i in range(4)}, "b0": "b", "b1": "b"}
    r = rollout(strategy="Rolling", maxParallel=50, topologyKey="zone")
    nodes = order_nodes("job", domains, domains)
    waves = plan_waves(r, nodes, domains)
    assert [(len(w), {domains[n] for n in w}) for w in waves] == [
        (3, {"a"}),
        (1, {"a"}),
        (2, {"b"}),
    ]
    # domainOrder first, then the rest by name, unlabelled nodes last; Immediate: one per domain.
    domains |= {"c0": "c", "x0": ""}
    ordered = order_nodes("job", domains, domains, ["c", "b"])
    assert [domains[n] for n in ordered] == ["c", "b", "b", "a", "a", "a", "a", ""]
    immediate = plan_waves(rollout(strategy="Immediate"), ordered, domains)
    assert [sorted({domains[n] for n in w}) for w in immediate] == [["c"], ["b"], ["a"], [""]]
    canary = rollout(strategy="Canary", canaryCount=3, maxParallel=50, topologyKey="zone")
    assert [len(w) for w in plan_waves(canary, ordered, domains)] == [1, 2, 4, 1], (
        "the canary stays inside the first domain, even when it is smaller than canaryCount"
    )


@given(
    strategy=strategies,
    parallel=st.integers(1, 100),
    canary=st.integers(1, 50),
    zones=st.lists(st.sampled_from(["a", "b", "c", ""]), max_size=120),
    order=st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True, max_size=3),
)
def test_topology_wave_properties(
    strategy: str, parallel: int, canary: int, zones: list[str], order: list[str]
) -> None:
    kw: dict[str, object] = {"strategy": strategy, "maxParallel": parallel, "topologyKey": "z"}
    if strategy == "Canary":
        kw["canaryCount"] = canary
    r = rollout(**kw)
    domains = {f"node-{i}": z for i, z in enumerate(zones)}
    nodes = order_nodes("job", domains, domains, order)
    waves = plan_waves(r, nodes, domains)
    flat = [x for w in waves for x in w]
    assert flat == nodes, "every node in exactly one wave, in wave order"
    assert all(len({domains[n] for n in w}) == 1 for w in waves), "no wave spans two domains"
    visited = [domains[w[0]] for w in waves]
    runs = [d for i, d in enumerate(visited) if i == 0 or visited[i - 1] != d]
    assert len(runs) == len(set(runs)), "domains one after another, never back"
    listed = [d for d in order if d in runs]
    assert runs[: len(listed)] == listed, "domainOrder first, in its order"
    rest = runs[len(listed) :]
    assert rest == sorted(rest, key=lambda d: (d == "", d)), "then by name, unlabelled last"
    bound = len(nodes) if strategy == "Immediate" else max(1, -(-parallel * len(nodes) // 100))
    assert all(len(w) <= (min(canary, len(nodes)) if strategy == "Canary" and i == 0 else bound)
               for i, w in enumerate(waves))  # fmt: skip
    shuffled = dict(reversed(list(domains.items())))
    assert order_nodes("job", shuffled, shuffled, order) == nodes, "deterministic"


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


def _window(**kw: object) -> HealthWindow:
    return HealthWindow.model_validate(
        {"windowStart": at(0), "lastSample": at(0), "lastRestartCount": 0, **kw}
    )


def _close(window: HealthWindow, ready: bool = True, **hc: object) -> HealthResult:
    """The window as it closes at 10 s (one interval), with one more sample."""
    check = HC.model_copy(update=hc)
    return evaluate_health(window, ready=ready, restarts=0, hc=check, created_at=at(0), now=at(10))


def test_the_error_rate_at_the_limit_is_healthy_and_just_above_is_not() -> None:
    # The closing pass samples once more (healthy): 2 of 10 unhealthy, then 3 of 10.
    at_limit = _close(_window(samples=9, unhealthySamples=2), max_error_rate=0.2)
    assert (at_limit.window.error_rate, at_limit.window.consecutive_healthy) == (0.2, 1)
    assert at_limit.window_closed
    above = _close(_window(samples=9, unhealthySamples=3), max_error_rate=0.2)
    assert (above.window.consecutive_unhealthy, above.window.consecutive_healthy) == (1, 0)
    assert above.window.error_rate == 0.3


def test_a_closed_window_starts_the_next_one_empty() -> None:
    res = _close(_window(samples=4, unhealthySamples=1, consecutiveHealthy=1))
    w = res.window
    assert (w.window_start, w.samples, w.unhealthy_samples) == (at(10), 0, 0)
    assert (w.consecutive_healthy, w.consecutive_unhealthy) == (0, 1), "a bad window resets"
    assert res.next_sample == at(12)


def test_the_next_window_starts_where_the_last_ended_unless_the_pass_was_a_period_late() -> None:
    # Interval 10 s, sample period 2 s; the window began at 0.
    def next_start(closed_at: float) -> object:
        res = evaluate_health(
            _window(samples=4), ready=True, restarts=0, hc=HC, created_at=at(0), now=at(closed_at)
        )
        assert res.window_closed
        return res.window.window_start

    assert next_start(10.3) == at(10), "a late pass does not push the next window"
    assert next_start(11.99) == at(10)
    assert next_start(12) == at(12), "a period late: the next window starts at the pass"
    assert next_start(15) == at(15)


def test_a_window_closes_at_its_interval_not_before() -> None:
    before = evaluate_health(
        _window(samples=4), ready=True, restarts=0, hc=HC, created_at=at(0), now=at(9.99)
    )
    assert not before.window_closed
    assert before.window.samples == 5


def test_a_window_nobody_sampled_counts_its_closing_sample() -> None:
    fresh = _window(samples=0, lastSample=at(9.9))  # the closing pass is too soon to sample
    assert _close(fresh, ready=True).window.error_rate == 0.0
    assert _close(fresh, ready=False).window.error_rate == 1.0


def test_a_sample_is_due_after_95_percent_of_its_period() -> None:
    # Period 2 s (10 s / 5 samples): due from 1.9 s after the last one, not at 1.89 s.
    due = evaluate_health(
        _window(samples=1), ready=True, restarts=0, hc=HC, created_at=at(0), now=at(1.9)
    )
    assert due.window.samples == 2
    early = evaluate_health(
        _window(samples=1), ready=True, restarts=0, hc=HC, created_at=at(0), now=at(1.89)
    )
    assert early.window.samples == 1


def test_a_restart_since_the_last_sample_makes_it_unhealthy_once() -> None:
    first = evaluate_health(
        _window(samples=1), ready=True, restarts=1, hc=HC, created_at=at(0), now=at(2)
    )
    assert (first.window.unhealthy_samples, first.window.last_restart_count) == (1, 1)
    second = evaluate_health(
        first.window, ready=True, restarts=1, hc=HC, created_at=at(0), now=at(4)
    )
    assert second.window.unhealthy_samples == 1


def test_prometheus_rate_is_the_worse_of_the_two_and_a_missing_one_fails_the_window() -> None:
    prom = {"prometheus": {"address": "http://127.0.0.1:9090", "query": "q"}}
    check = HC.model_copy(
        update={"prometheus": HealthCheck.model_validate({"deadlineSeconds": 1, **prom}).prometheus}
    )
    res = evaluate_health(
        _window(samples=4), ready=True, restarts=0, hc=check, created_at=at(0), now=at(10),
        external=0.5,
    )  # fmt: skip
    assert res.window.error_rate == 0.5
    missing = evaluate_health(
        _window(samples=4, consecutiveUnhealthy=2), ready=True, restarts=0, hc=check,
        created_at=at(0), now=at(10), external=None,
    )  # fmt: skip
    assert (missing.verdict, missing.reason) == (Verdict.FAILED, "PrometheusQueryFailed")
    assert missing.message.endswith("; Prometheus: no Prometheus result for this window")
    broken = evaluate_health(
        _window(samples=4), ready=True, restarts=0, hc=check, created_at=at(0), now=at(10),
        external="query failed: 400",
    )  # fmt: skip
    assert (broken.verdict, broken.window.error_rate) == (Verdict.PENDING, 1.0)
    assert broken.message == (
        "validating: 0/2 healthy windows, last error rate 1.00; Prometheus: query failed: 400"
    )


def test_the_deadline_fails_at_its_second_not_before() -> None:
    check = HC.model_copy(update={"deadline_seconds": 5})
    before = evaluate_health(
        _window(samples=1), ready=True, restarts=0, hc=check, created_at=at(0), now=at(4.99)
    )
    assert before.verdict is Verdict.PENDING
    assert before.message == "validating: 0/2 healthy windows, last error rate 0.00"
    due = evaluate_health(
        _window(samples=1), ready=True, restarts=0, hc=check, created_at=at(0), now=at(5)
    )
    assert (due.verdict, due.reason) == (Verdict.FAILED, "HealthCheckDeadline")
    assert due.message == "not validated within deadlineSeconds=5"


def test_validated_and_failed_say_so() -> None:
    ok = _close(_window(samples=5, consecutiveHealthy=1))
    assert (ok.verdict, ok.reason) == (Verdict.VALIDATED, "Validated")
    assert ok.message == "validated: 2 healthy windows of 10s"
    bad = _close(_window(samples=5, unhealthySamples=5, consecutiveUnhealthy=2), ready=False)
    assert (bad.verdict, bad.reason) == (Verdict.FAILED, "HealthCheckFailed")
    assert bad.message == "3 unhealthy windows in a row (error rate 1.00 > 0.1)"


def test_restarts_before_the_first_sample_are_not_held_against_it() -> None:
    # The pod restarted twice while starting; health checking begins now, with no window yet.
    first = evaluate_health(None, ready=True, restarts=2, hc=HC, created_at=at(0), now=at(3))
    w = first.window
    assert (w.window_start, w.last_sample, w.samples, w.unhealthy_samples) == (at(3), at(3), 1, 0)
    assert w.last_restart_count == 2
    assert first.next_sample == at(5)


def test_a_stored_window_without_a_start_starts_now() -> None:
    res = evaluate_health(
        HealthWindow(), ready=True, restarts=0, hc=HC, created_at=at(0), now=at(7)
    )
    assert res.window.window_start == at(7)
    assert not res.window_closed


def test_the_pass_after_a_late_sample_comes_at_the_window_end() -> None:
    # Samples drifted: the last one at 9.5 s; the next is due at 11.5 s, but the window (0-10 s)
    # ends at 10: that is when to look again, not 1.5 s after it.
    res = evaluate_health(
        _window(samples=4, lastSample=at(7.5)),
        ready=True, restarts=0, hc=HC, created_at=at(0), now=at(9.5),
    )  # fmt: skip
    assert (res.window.samples, res.window_closed, res.next_sample) == (5, False, at(10))


def test_the_next_sample_is_a_period_after_the_last_one_taken() -> None:
    # Too soon to sample at 1 s: the next one is still due at 2 s, not a period from now.
    res = evaluate_health(
        _window(samples=1), ready=True, restarts=0, hc=HC, created_at=at(0), now=at(1)
    )
    assert (res.window.samples, res.next_sample) == (1, at(2))
    assert (res.verdict, res.reason) == (Verdict.PENDING, "Validating")


def test_the_error_rate_is_kept_to_four_places() -> None:
    # 1 unhealthy of 3 samples (2 stored, the closing one healthy).
    res = _close(_window(samples=2, unhealthySamples=1), max_error_rate=0.5)
    assert res.window.error_rate == 0.3333


def test_an_unsampled_window_of_an_unready_pod_is_wholly_unhealthy() -> None:
    fresh = _window(samples=0, lastSample=at(9.9))
    res = _close(fresh, ready=False, max_error_rate=1.0)
    assert res.window.error_rate == 1.0
    assert res.window.consecutive_healthy == 1, "1.0 is within a maxErrorRate of 1.0"


def test_a_healthy_window_ends_an_unhealthy_run() -> None:
    res = _close(_window(samples=4, consecutiveUnhealthy=2))
    w = res.window
    assert (w.consecutive_healthy, w.consecutive_unhealthy, w.error_rate) == (1, 0, 0.0)
    assert res.message == "validating: 1/2 healthy windows, last error rate 0.00"


@example(start=0.0, last=0.0, now=10.0, interval=10)  # closes at its interval exactly
@given(
    start=st.one_of(st.none(), st.floats(0, 50)),
    last=st.floats(0, 50),
    now=st.floats(0, 100),
    interval=st.integers(1, 30),
)
def test_window_closes_predicts_what_evaluate_health_does(
    start: float | None, last: float, now: float, interval: int
) -> None:
    """The kube layer asks Prometheus for a rate only when a window will close: the same rule."""
    hc = HC.model_copy(update={"interval_seconds": interval})
    window = HealthWindow.model_validate(
        {"windowStart": None if start is None else at(start), "lastSample": at(last)}
    )
    res = evaluate_health(window, ready=True, restarts=0, hc=hc, created_at=at(0), now=at(now))
    assert window_closes(window, hc, at(now)) is res.window_closed
    assert window_closes(None, hc, at(now)) is False


def test_a_canary_without_a_size_takes_one_node() -> None:
    """The CRD refuses it at apply; a Job admitted by an older CRD still gets a canary of one."""
    r = Rollout.model_validate({"strategy": "Canary", "healthCheck": {"deadlineSeconds": 60}})
    assert len(plan_waves(r, [f"n{i}" for i in range(300)], {})[0]) == 1


def test_a_baseline_limit_judges_prometheus_rate_and_readiness_keeps_max_error_rate() -> None:
    """maxErrorRate 0.1 (HC); a node's limit from its baseline: 0.05. Prometheus 0.08 is
    healthy by maxErrorRate but not by the node's own limit; 0.04 is within it; readiness
    failing is judged by maxErrorRate still."""
    prom = {"prometheus": {"address": "http://127.0.0.1:9090", "query": "q"}}
    check = HC.model_copy(
        update={"prometheus": HealthCheck.model_validate({"deadlineSeconds": 1, **prom}).prometheus}
    )

    def close(external: float, limit: float | None, unhealthy: int = 0) -> HealthResult:
        return evaluate_health(
            _window(samples=4, unhealthySamples=unhealthy, consecutiveUnhealthy=2),
            ready=True, restarts=0, hc=check, created_at=at(0), now=at(10),
            external=external, external_limit=limit,
        )  # fmt: skip

    assert close(0.08, None).window.consecutive_healthy == 1
    over = close(0.08, 0.05)
    assert (over.verdict, over.window.consecutive_unhealthy) == (Verdict.FAILED, 3)
    assert "error rate 0.08 > 0.05" in over.message
    assert close(0.04, 0.05).window.consecutive_healthy == 1
    assert close(0.04, 0.5, unhealthy=2).window.consecutive_unhealthy == 3, "2/4 not ready > 0.1"


def test_waves_left_are_counted_each_domain_run_on_its_own() -> None:
    """Zones a (4 nodes) and b (2), 50 % of 6 = 3: waves a:3, a:1, b:2, never across."""
    rollout = Rollout.model_validate({"strategy": "Rolling", "maxParallel": 50,
                                      "healthCheck": {"deadlineSeconds": 60}})  # fmt: skip
    left = ["a1", "a2", "a3", "a4", "b1", "b2"]
    domains = {n: n[0] for n in left}
    waves = plan_waves(rollout, left, domains, total=6, first_wave=2)
    assert waves == [["a1", "a2", "a3"], ["a4"], ["b1", "b2"]]
    assert len(plan_waves(rollout, left, {}, total=6, first_wave=2)) == 2


def test_domains_go_in_the_order_given_then_by_name_then_unlabelled_last() -> None:
    """domainOrder [c, a]: c, a, then b (by name), then the nodes without the label; the
    hash order inside each."""
    labels = {"c1": "c", "a1": "a", "b1": "b", "x1": "", "c2": "c", "x2": ""}
    order = order_nodes("j", labels, labels, ["c", "a"])
    assert [labels[n] for n in order] == ["c", "c", "a", "b", "", ""]
    # Without a domainOrder: by name, unlabelled last; "" listed puts them where it says.
    assert [labels[n] for n in order_nodes("j", labels, labels)] == ["a", "b", "c", "c", "", ""]
    listed = order_nodes("j", labels, labels, ["", "b"])
    assert [labels[n] for n in listed] == ["", "", "b", "a", "c", "c"]


def test_the_run_of_no_nodes_is_empty_and_a_domain_absent_gives_none() -> None:
    assert same_domain([], {"n0": "a"}) == []
    assert same_domain(["n0", "n1"], {"n0": "a", "n1": "a"}, "b") == []
    assert same_domain(["n0", "n1"], {}, "b") == ["n0", "n1"]  # no topologyKey: one domain
    assert domain_of({"n0": "a"}, "n1") == ""
