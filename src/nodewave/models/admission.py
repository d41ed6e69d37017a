"""The part of the chart's admission policy that follows the models: which changes to a Job
rewrite what it runs.

A rollout operator (the chart's rollout-operator role) may pause and resume a rollout and write
the nodewave.io operation annotations (promote, abort, restart, retry, uncordon); anything else
in the spec changes what runs on the fleet, and the policy asks the authorizer for a grant the
role lacks (update on jobs/spec). CEL cannot drop one key from an object before comparing, so
the expression compares every spec field but `rollout.paused`, one by one, and is generated
from the models: a field added to the spec is covered the day it is added (a golden test fails
until `nodewave crds` wrote it again).
"""

from __future__ import annotations

from nodewave.models.job import JobSpec, Rollout

EXEMPT_ROLLOUT_FIELDS = frozenset({"paused"})
"""What a rollout operator may change in the spec."""


def _aliases(model: type[JobSpec] | type[Rollout]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def build_spec_changed_expression() -> str:
    """CEL, true when an UPDATE changes the spec beyond `rollout.paused`. Optional field
    selection (`.?`) makes an absent field equal to an absent one and unequal to any value."""
    paths = [f".?{name}" for name in _aliases(JobSpec) if name != "rollout"]
    paths += [
        f".?rollout.?{name}" for name in _aliases(Rollout) if name not in EXEMPT_ROLLOUT_FIELDS
    ]
    return "\n|| ".join(f"object.spec{p} != oldObject.spec{p}" for p in paths) + "\n"
