"""Node selection: `matchLabels`, `matchNames` and `matchExpressions` strings, ANDed.

The expression strings follow the seed API and mean exactly what Kubernetes label selectors
mean where the two overlap: `k!=v` and `k notin (a,b)` also match a node without `k`; `k=v`,
`k in (...)` need the label. The grammar is shared with the CRD's CEL rule
(`nodewave.models.selector_syntax`), so anything the API server admitted parses here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from nodewave.models.job import Selector
from nodewave.models.selector_syntax import EQUALITY, EXISTS, SET


class Operator(StrEnum):
    EQUALS = "="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: Operator
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        match self.operator:
            case Operator.EXISTS:
                return self.key in labels
            case Operator.DOES_NOT_EXIST:
                return self.key not in labels
            case Operator.EQUALS | Operator.IN:
                return self.key in labels and labels[self.key] in self.values
            case Operator.NOT_EQUALS | Operator.NOT_IN:
                return self.key not in labels or labels[self.key] not in self.values


class SelectorError(ValueError):
    """An expression string that is not well-formed."""


_EQUALITY_SPLIT = re.compile(r"\s*(==|!=|=)\s*")
_SET_SPLIT = re.compile(r"^\s*(\S+)\s+(in|notin)\s*\((.*)\)\s*$")


def parse_expression(expr: str) -> Requirement:
    """One expression string → a Requirement; SelectorError when malformed."""
    if re.fullmatch(SET, expr):
        m = _SET_SPLIT.match(expr)
        assert m is not None  # the grammar guarantees the shape
        key, op, body = m.groups()
        values = frozenset(v.strip() for v in body.split(","))
        return Requirement(key, Operator.IN if op == "in" else Operator.NOT_IN, values)
    if re.fullmatch(EQUALITY, expr):
        key, op, value = _EQUALITY_SPLIT.split(expr.strip(), maxsplit=1)
        return Requirement(
            key, Operator.NOT_EQUALS if op == "!=" else Operator.EQUALS, frozenset({value})
        )
    if re.fullmatch(EXISTS, expr):
        stripped = expr.strip()
        if stripped.startswith("!"):
            return Requirement(stripped[1:].strip(), Operator.DOES_NOT_EXIST)
        return Requirement(stripped, Operator.EXISTS)
    raise SelectorError(
        f"malformed selector expression {expr!r}: expected key=value, key==value, key!=value, "
        "key in (v1,v2), key notin (v1,v2), key or !key"
    )


@dataclass(frozen=True, slots=True)
class NodeSelector:
    """A parsed selector; an empty one selects every node (as a DaemonSet without one does)."""

    requirements: tuple[Requirement, ...] = ()
    names: frozenset[str] | None = None

    def matches(self, name: str, labels: Mapping[str, str]) -> bool:
        if self.names is not None and name not in self.names:
            return False
        return all(r.matches(labels) for r in self.requirements)


def build_selector(selector: Selector) -> NodeSelector:
    """The model's three kinds of terms as one ANDed NodeSelector."""
    reqs = [
        Requirement(k, Operator.EQUALS, frozenset({v}))
        for k, v in sorted(selector.match_labels.items())
    ]
    reqs.extend(parse_expression(e) for e in selector.match_expressions)
    names = frozenset(selector.match_names) if selector.match_names else None
    return NodeSelector(tuple(reqs), names)
