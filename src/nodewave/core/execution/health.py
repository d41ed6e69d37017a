"""Health-check windows (docs/design.md §3.2), a pure function of the window so far, one sample and `now`.

- Time is cut into windows of `intervalSeconds`, starting when the execution first ran; each
  window starts where the previous one ended (unless the pass closing it came more than a
  sample period late: then where that pass was), so late passes do not add up.
  Within a window the planner samples the execution up to SAMPLES_PER_WINDOW times (evenly,
  whatever the rate of events): a sample is healthy when the pod is ready and no container
  restarted since the previous sample.
- When a window ends, its error rate is its unhealthy share of samples. At most
  `maxErrorRate` makes it a healthy window, more an unhealthy one; a window nobody sampled
  counts its single closing sample.
- `successThreshold` healthy windows in a row validate the execution; `failureThreshold`
  unhealthy windows in a row fail it (HealthCheckFailed); not validated `deadlineSeconds`
  after it was created fails it too (HealthCheckDeadline).

Example, interval 10 s, maxErrorRate 0.1, successThreshold 2, failureThreshold 3: samples at
0, 2, 4, 6, 8 s all ready → window 1 healthy (0.0); 10-20 s ready but one restart → 1 of 5
unhealthy = 0.2 → unhealthy, the healthy run resets; two clean windows after that validate it
at 40 s. A pod never ready fails at 30 s (3 unhealthy windows), or at the deadline if sooner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from nodewave.models.execution import HealthWindow
from nodewave.models.job import HealthCheck

SAMPLES_PER_WINDOW = 5
VALIDATING = "Validating"
VALIDATED = "Validated"
HEALTH_CHECK_FAILED = "HealthCheckFailed"
HEALTH_CHECK_DEADLINE = "HealthCheckDeadline"
PROMETHEUS_QUERY_FAILED = "PrometheusQueryFailed"


class Verdict(Enum):
    PENDING = "pending"
    VALIDATED = "validated"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class HealthResult:
    window: HealthWindow
    verdict: Verdict
    reason: str
    message: str
    window_closed: bool
    next_sample: datetime
    """When to look again: the next sample, or the window's end if that comes first."""


def sample_period(hc: HealthCheck) -> timedelta:
    return timedelta(seconds=hc.interval_seconds / SAMPLES_PER_WINDOW)


def evaluate_health_deadline(
    created_at: datetime, hc: HealthCheck, leading_since: datetime | None
) -> datetime | None:
    """When an execution not validated yet fails (HealthCheckDeadline): deadlineSeconds after
    it was created, but never before the leader judging it has had the windows to do so: the
    one that was open when it took over (it closes with what little it saw) and
    successThreshold more. A leader that took over mid-validation saw nothing before; counted
    from creation alone, a healthy node would fail for the leader change, and at once if its
    validation was no longer remembered (docs/design.md §4.2).

    Example: deadline 60 s, interval 10 s, successThreshold 3; created at 0, a leader from 55
    s: 95 s (55 + 4 x 10); a leader from 5 s: 60 s (5 + 40 = 45 is earlier)."""
    if hc.deadline_seconds is None:
        return None
    deadline = created_at + timedelta(seconds=hc.deadline_seconds)
    if leading_since is None or leading_since <= created_at:
        return deadline
    judged = timedelta(seconds=hc.interval_seconds * (hc.success_threshold + 1))
    return max(deadline, leading_since + judged)


def window_closes(window: HealthWindow | None, hc: HealthCheck, now: datetime) -> bool:
    """Whether `evaluate_health` will close this window at `now` (so an external error rate,
    e.g. from Prometheus, is needed for it)."""
    return (
        window is not None
        and window.window_start is not None
        and now - window.window_start >= timedelta(seconds=hc.interval_seconds)
    )


def evaluate_health(
    window: HealthWindow | None,
    *,
    ready: bool,
    restarts: int,
    hc: HealthCheck,
    created_at: datetime,
    now: datetime,
    external: float | str | None = None,
    external_limit: float | None = None,
    leading_since: datetime | None = None,
) -> HealthResult:
    """`external`: the error rate another source measured for the closing window (a float
    in [0, 1]: `kube.prometheus` clamps it), or why it could not (a string: the window is
    unhealthy and the reason reported). `external_limit`: the highest healthy external rate
    (a node's baseline plus maxIncrease); None: maxErrorRate, as for the readiness share.
    `leading_since`: when this leader took over (`evaluate_health_deadline`)."""
    # Restarts before the first sample (while the pod was starting) are not held against it.
    w = window.model_copy() if window is not None else HealthWindow(last_restart_count=restarts)
    if w.window_start is None:
        w.window_start = now
    if w.last_sample is None or now - w.last_sample >= sample_period(hc) * 0.95:
        _sample(w, ready, restarts, now)
    closed = now >= _window_end(w, hc, now)
    limit = hc.max_error_rate if external_limit is None else external_limit
    problem = _close_window(w, ready, hc, external, limit, now) if closed else None
    # Woken for the next sample, or at the window's end if sooner: samples drift later with
    # every late pass, and the pass closing a window came up to a sample period after its end.
    next_sample = min((w.last_sample or now) + sample_period(hc), _window_end(w, hc, now))

    def result(verdict: Verdict, reason: str, msg: str) -> HealthResult:
        return HealthResult(w, verdict, reason, msg, closed, next_sample)

    if w.consecutive_healthy >= hc.success_threshold:
        msg = f"validated: {w.consecutive_healthy} healthy windows of {hc.interval_seconds}s"
        return result(Verdict.VALIDATED, VALIDATED, msg)
    if w.consecutive_unhealthy >= hc.failure_threshold:
        msg = f"{w.consecutive_unhealthy} unhealthy windows in a row (error rate {w.error_rate:.2f} > {limit:g})"
        if problem:
            return result(Verdict.FAILED, PROMETHEUS_QUERY_FAILED, f"{msg}; Prometheus: {problem}")
        return result(Verdict.FAILED, HEALTH_CHECK_FAILED, msg)
    deadline = evaluate_health_deadline(created_at, hc, leading_since)
    if deadline is not None and now >= deadline:
        msg = f"not validated within deadlineSeconds={hc.deadline_seconds}"
        return result(Verdict.FAILED, HEALTH_CHECK_DEADLINE, msg)
    msg = f"validating: {w.consecutive_healthy}/{hc.success_threshold} healthy windows, last error rate {w.error_rate:.2f}"
    if problem:
        msg += f"; Prometheus: {problem}"
    return result(Verdict.PENDING, VALIDATING, msg)


def _window_end(w: HealthWindow, hc: HealthCheck, now: datetime) -> datetime:
    """When the current window ends (one that has not started yet starts `now`)."""
    return (w.window_start or now) + timedelta(seconds=hc.interval_seconds)


def _sample(w: HealthWindow, ready: bool, restarts: int, now: datetime) -> None:
    """One sample: healthy when ready and no container restarted since the last one."""
    healthy = ready and restarts <= w.last_restart_count
    w.samples += 1
    w.unhealthy_samples += 0 if healthy else 1
    w.last_restart_count = restarts
    w.last_sample = now


def _close_window(
    w: HealthWindow,
    ready: bool,
    hc: HealthCheck,
    external: float | str | None,
    external_limit: float,
    now: datetime,
) -> str | None:
    """Close the window: healthy when the readiness share is within maxErrorRate and
    Prometheus's rate within its limit; its error rate is the worse of the two. A new window
    starts. Returns why Prometheus gave no rate, if it did not."""
    rate = w.unhealthy_samples / w.samples if w.samples else (0.0 if ready else 1.0)
    healthy = rate <= hc.max_error_rate
    problem = None
    if hc.prometheus is not None:
        if isinstance(external, float):
            healthy = healthy and external <= external_limit
            rate = max(rate, external)
        else:
            rate, healthy = 1.0, False
            problem = external or "no Prometheus result for this window"
    w.error_rate = round(rate, 4)
    if healthy:
        w.consecutive_healthy += 1
        w.consecutive_unhealthy = 0
    else:
        w.consecutive_unhealthy += 1
        w.consecutive_healthy = 0
    # The next window starts where this one ended, not at this pass: passes come a little
    # late (the queue's debounce, a busy loop), and a start at `now` pushed every later window
    # by as much, so successThreshold windows took that much longer each (measured: 0.1-0.3 s
    # per window at 100 nodes). A pass later than a sample period starts it now instead, so no
    # window is ever shorter than its interval.
    end = _window_end(w, hc, now)
    w.window_start = end if now - end < sample_period(hc) else now
    w.samples = 0
    w.unhealthy_samples = 0
    return problem
