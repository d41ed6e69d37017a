"""One dispatch table (`actions.VERBS`) says how each action type is applied: the Reconciler
(kube/reconcile.py) and the unit tests' simulated cluster build theirs from it, so a new action
type without a way to be applied fails here (and at import), not in a cluster."""

from __future__ import annotations

from typing import get_args

import pytest

from nodewave.core.vocabulary.actions import PREPARES, STARTS, VERBS, Action, build_dispatch
from nodewave.kube.reconcile import APPLY, Reconciler
from tests.unit.simulation import SIMULATED, Simulated


def test_every_action_type_has_exactly_one_verb() -> None:
    assert set(VERBS) == set(get_args(Action))
    assert len(set(VERBS.values())) == len(VERBS)


def test_the_reconciler_and_the_simulation_apply_every_verb_of_the_one_table() -> None:
    assert set(APPLY) == set(SIMULATED) == set(VERBS)
    assert all(APPLY[t] is getattr(Reconciler, "_" + v) for t, v in VERBS.items())
    assert all(SIMULATED[t] is getattr(Simulated, v) for t, v in VERBS.items())


def test_a_table_is_built_from_the_verbs_with_the_appliers_prefix() -> None:
    assert build_dispatch(Simulated) == SIMULATED
    assert build_dispatch(Reconciler, prefix="_") == APPLY


def test_an_applier_missing_a_verb_is_refused() -> None:
    class Partial:
        create_pod = staticmethod(lambda store, a: None)

    with pytest.raises(AttributeError, match=r"create_revision|create_execution"):
        build_dispatch(Partial)


def test_what_a_version_needs_goes_before_what_starts_it_and_neither_twice() -> None:
    assert not set(PREPARES) & set(STARTS)
    assert set(PREPARES) | set(STARTS) <= set(VERBS)
