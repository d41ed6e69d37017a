"""kube/reconcile.py applies each action through one table: a new action type without an
entry fails here, not in a cluster."""

from __future__ import annotations

from typing import get_args

from nodewave.core.vocabulary.actions import Action
from nodewave.kube.reconcile import APPLY, Reconciler
from tests.unit.simulation import SIMULATED


def test_every_action_type_has_exactly_one_way_to_be_applied() -> None:
    assert set(APPLY) == set(get_args(Action))
    assert all(callable(getattr(Reconciler, f.__name__)) for f in APPLY.values())


def test_the_simulation_applies_every_action_type_as_the_reconciler_does() -> None:
    """The unit tests' simulated cluster has its own table: a new action type the Reconciler
    applies but the simulation skips (or the reverse) fails here."""
    assert set(SIMULATED) == set(APPLY)
