"""Selector semantics: the seed's expression strings, equal to Kubernetes label selectors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodewave.core.job.selector import SelectorError, build_selector, parse_expression
from nodewave.models.job import Selector

LABELS = {"region": "us-east", "tier": "premium", "gpu": "true"}


@pytest.mark.parametrize(
    ("expr", "matches"),
    [
        ("region=us-east", True),
        ("region==us-east", True),
        ("region=eu-west", False),
        ("region!=eu-west", True),
        ("region!=us-east", False),
        ("missing!=x", True),  # Kubernetes: != matches a node without the key
        ("missing=x", False),
        ("tier in (premium,standard)", True),
        ("tier in (standard)", False),
        ("missing in (a)", False),
        ("tier notin (standard, basic)", True),
        ("tier notin (premium)", False),
        ("missing notin (a)", True),
        ("gpu", True),
        ("missing", False),
        ("!debug", True),
        ("!gpu", False),
        ("  region = us-east  ", True),
    ],
)
def test_expression_table(expr: str, matches: bool) -> None:
    assert parse_expression(expr).matches(LABELS) is matches


@pytest.mark.parametrize("expr", ["region=>x", "tier in ()", "a b", "", "=v", "k in (a,,b)"])
def test_malformed_expression(expr: str) -> None:
    with pytest.raises(SelectorError, match=r"key in \(v1,v2\), key notin \(v1,v2\), key or !key$"):
        parse_expression("region ~ eu")
    with pytest.raises(SelectorError, match="malformed selector expression"):
        parse_expression(expr)


def test_terms_are_anded_and_names_restrict() -> None:
    sel = build_selector(
        Selector(
            match_labels={"region": "us-east"}, match_expressions=["gpu"], match_names=["n1", "n2"]
        )
    )
    assert sel.matches("n1", LABELS)
    assert not sel.matches("n3", LABELS)
    assert not sel.matches("n1", {**LABELS, "region": "eu"})
    assert build_selector(Selector()).matches("anything", {})


# ---- property: equal to a straightforward reference of Kubernetes semantics -------------------

keys = st.sampled_from(["a", "b", "c", "example.com/d"])
values = st.sampled_from(["x", "y", "z", ""])
label_maps = st.dictionaries(keys, values, max_size=4)


@st.composite
def requirement(draw: st.DrawFn) -> tuple[str, str, str, list[str]]:
    key = draw(keys)
    op = draw(st.sampled_from(["=", "==", "!=", "in", "notin", "exists", "!"]))
    vals = draw(st.lists(st.sampled_from(["x", "y", "z"]), min_size=1, max_size=3))
    if op in ("in", "notin"):
        text = f"{key} {op} ({','.join(vals)})"
    elif op == "exists":
        text = key
    elif op == "!":
        text = f"!{key}"
    else:
        text = f"{key}{op}{vals[0]}"
    return text, key, op, vals


def reference(key: str, op: str, vals: list[str], labels: dict[str, str]) -> bool:
    # Written from the Kubernetes label-selector documentation, operator by operator.
    has = key in labels
    if op == "exists":
        return has
    if op == "!":
        return not has
    if op in ("=", "=="):
        return has and labels[key] == vals[0]
    if op == "!=":
        return not has or labels[key] != vals[0]
    if op == "in":
        return has and labels[key] in vals
    return not has or labels[key] not in vals  # notin


@given(
    reqs=st.lists(requirement(), max_size=4),
    labels=label_maps,
    match_labels=st.dictionaries(keys, values, max_size=2),
)
def test_selector_equals_reference(
    reqs: list[tuple[str, str, str, list[str]]],
    labels: dict[str, str],
    match_labels: dict[str, str],
) -> None:
    sel = build_selector(
        Selector(match_labels=match_labels, match_expressions=[r[0] for r in reqs])
    )
    expected = all(labels.get(k) == v for k, v in match_labels.items()) and all(
        reference(k, op, vals, labels) for _, k, op, vals in reqs
    )
    assert sel.matches("node", labels) is expected
