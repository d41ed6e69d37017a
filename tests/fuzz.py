"""Hypothesis strategies for Job specs, valid and not: every field of the model, drawn from its
valid range, its boundaries and just past them, and garbage (wrong types, unicode, extreme
sizes: 1,000 matchExpressions, a config near 1 MiB, 253-character names). Shared by the unit
fuzz (the pure planner) and the cluster fuzz (the API server and the operator)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

LABEL = st.from_regex(r"[a-z0-9]([-a-z0-9_.]{0,61}[a-z0-9])?", fullmatch=True)
PREFIXED = st.builds(
    lambda p, k: f"{p}/{k}", st.from_regex(r"[a-z]{1,20}\.io", fullmatch=True), LABEL
)
UNICODE = st.text(min_size=1, max_size=70)
NAME_253 = st.from_regex(r"[a-z0-9]([-a-z0-9.]{251}[a-z0-9])", fullmatch=True)


def _expressions() -> st.SearchStrategy[str]:
    key = st.one_of(LABEL, PREFIXED)
    values = st.lists(LABEL, min_size=1, max_size=4).map(",".join)
    return st.one_of(
        st.builds(lambda k, v: f"{k}={v}", key, LABEL),
        st.builds(lambda k, v: f"{k} != {v}", key, LABEL),
        st.builds(lambda k, v: f"{k} in ({v})", key, values),
        st.builds(lambda k, v: f"{k} notin ({v})", key, values),
        key,
        key.map(lambda k: f"!{k}"),
        UNICODE,  # garbage
        st.just("region in (eu"),
    )


def selectors() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "matchLabels": st.dictionaries(st.one_of(LABEL, PREFIXED, UNICODE),
                                           st.one_of(LABEL, UNICODE), max_size=5),
            "matchExpressions": st.one_of(
                st.lists(_expressions(), max_size=6),
                st.lists(_expressions(), min_size=1000, max_size=1000),
            ),
            "matchNames": st.lists(st.one_of(LABEL, NAME_253, UNICODE), max_size=5),
        },
    )  # fmt: skip


def _json(max_leaves: int = 10) -> st.SearchStrategy[Any]:
    return st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=20)),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def configs() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.dictionaries(st.text(max_size=10), _json(), max_size=5),
        st.integers(1, 3).map(lambda n: {"blob": "x" * (300_000 * n)}),  # up to ~900 KiB
        st.just([1, 2]),  # not a map
    )


def _int_around(lo: int, hi: int) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(lo, hi), st.sampled_from([lo - 1, hi + 1, 2**63]), st.text(max_size=3)
    )


def rollouts() -> st.SearchStrategy[dict[str, Any]]:
    health = st.fixed_dictionaries(
        {},
        optional={
            "deadlineSeconds": _int_around(1, 7 * 24 * 3600),
            "intervalSeconds": _int_around(1, 3600),
            "successThreshold": _int_around(1, 100),
            "failureThreshold": _int_around(1, 100),
            "maxErrorRate": st.one_of(st.floats(0, 1), st.sampled_from([-0.1, 1.5])),
        },
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "strategy": st.sampled_from(["Immediate", "Rolling", "Canary", "rolling", "BlueGreen"]),
            "maxParallel": _int_around(1, 100),
            "canaryCount": _int_around(1, 100_000),
            "canaryPercent": _int_around(1, 100),
            "autoPromote": st.booleans(),
            "autoRollback": st.one_of(st.booleans(), st.just("yes")),
            "maxFailedNodes": _int_around(0, 100_000),
            "maxFailedNodesPercent": st.one_of(st.floats(0, 100), st.just(101.0)),
            "paused": st.booleans(),
            "healthCheck": health,
            "topologyKey": st.one_of(LABEL, PREFIXED, UNICODE),
            "domainOrder": st.lists(st.one_of(LABEL, UNICODE), max_size=4),
        },
    )  # fmt: skip


def templates() -> st.SearchStrategy[Any]:
    container = st.fixed_dictionaries(
        {"name": st.one_of(LABEL, UNICODE), "image": st.one_of(st.just("registry.example/a:1"), UNICODE)},
        optional={"args": st.lists(st.text(max_size=30), max_size=3)},
    )  # fmt: skip
    return st.one_of(
        st.fixed_dictionaries(
            {"spec": st.fixed_dictionaries({"containers": st.lists(container, min_size=1, max_size=3)})},
            optional={"metadata": st.fixed_dictionaries(
                {}, optional={"labels": st.dictionaries(LABEL, LABEL, max_size=3),
                              "annotations": st.dictionaries(LABEL, UNICODE, max_size=3)})},
        ),
        st.just({"spec": {"containers": []}}),
        st.just({"spec": {"nodeName": "x", "containers": [{"name": "a", "image": "b"}]}}),
        st.just({"spec": {"hostNetwork": True, "containers": [{"name": "a", "image": "b"}]}}),
    )  # fmt: skip


def job_specs() -> st.SearchStrategy[dict[str, Any]]:
    """A `spec` of a Job manifest, possibly invalid."""
    return st.fixed_dictionaries(
        {
            "type": st.sampled_from(["Pipeline", "Query", "Update", "Config", "pipeline", "Batch"]),
            "template": templates(),
        },
        optional={
            "description": st.one_of(st.text(max_size=40), st.just("d" * 1025)),
            "meta": st.dictionaries(st.one_of(LABEL, PREFIXED, st.just("nodewave.io/x")),
                                    st.text(max_size=20), max_size=4),
            "priority": _int_around(-1_000_000_000, 1_000_000_000),
            "restartPolicy": st.sampled_from(["Always", "OnFailure", "Never", "Sometimes"]),
            "maxRestarts": _int_around(0, 1_000_000),
            "config": configs(),
            "selector": selectors(),
            "rollout": rollouts(),
            "timeouts": st.fixed_dictionaries({}, optional={
                "executionTimeoutSeconds": _int_around(0, 365 * 24 * 3600),
                "queueTimeoutSeconds": _int_around(0, 365 * 24 * 3600),
                "totalTimeoutSeconds": _int_around(0, 365 * 24 * 3600)}),
            "revisionHistoryLimit": _int_around(0, 100),
        },
    )  # fmt: skip


def job_names() -> st.SearchStrategy[str]:
    return st.one_of(LABEL.filter(lambda n: n[0].isalpha() and "." not in n and "_" not in n),
                     NAME_253.filter(lambda n: n[0].isalpha()))  # fmt: skip


def valid_job_specs() -> st.SearchStrategy[dict[str, Any]]:
    """Specs the API server should admit: in-range values, consistent rollouts, small
    configs; what varies is their combination (strategies, sizes, timeouts, selectors)."""
    strategy = st.sampled_from(["Immediate", "Rolling", "Canary"])

    def rollout(
        kind: str, parallel: int, canary: int, deadline: int, paused: bool, zoned: list[str] | None
    ) -> dict[str, Any]:
        r: dict[str, Any] = {
            "strategy": kind,
            "maxParallel": parallel,
            "paused": paused,
            "healthCheck": {"deadlineSeconds": deadline, "intervalSeconds": 1},
        }
        if kind == "Canary":
            r["canaryCount"] = canary
        if zoned is not None:  # waves by region, these first
            r |= {"topologyKey": "region", "domainOrder": zoned}
        return r

    return st.fixed_dictionaries(
        {
            "type": st.sampled_from(["Pipeline", "Query", "Update", "Config"]),
            "template": st.just({"spec": {"containers": [{"name": "a", "image": "registry.example/a:1"}]}}),
            "rollout": st.builds(rollout, strategy, st.integers(1, 100), st.integers(1, 5),
                                 st.integers(2, 600), st.booleans(),
                                 st.none() | st.lists(st.sampled_from(["us", "eu", "mars"]),
                                                      unique=True)),
        },
        optional={
            "config": st.dictionaries(st.text(max_size=10), _json(), max_size=5),
            "priority": st.integers(-1_000_000_000, 1_000_000_000),
            "maxRestarts": st.integers(0, 10),
            "selector": st.fixed_dictionaries({}, optional={
                "matchExpressions": st.lists(st.sampled_from(["region in (eu,us)", "!maintenance", "fuzz"]), max_size=3)}),
            "timeouts": st.fixed_dictionaries({}, optional={"executionTimeoutSeconds": st.integers(0, 100)}),
        },
    )  # fmt: skip
