"""Shared pieces of the CRD models.

The pydantic models are the single source of truth for the API: the CRD YAML under `crds/`
is generated from them (`nodewave crds`), so field docs, defaults, bounds and CEL rules are
written once, here. Python attribute names are snake_case; the wire names are camelCase
(Kubernetes API conventions), produced by the alias generator.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

RESERVED_PREFIX = "nodewave.io/"

# Bounds keep CEL rules inside the API server's cost budget and objects far below etcd's limit.
MAX_NAME = 253
MAX_LABEL_VALUE = 63
MAX_SELECTOR_TERMS = 32
MAX_MESSAGE = 4096


def cel(
    rule: str, message: str, field_path: str | None = None, reason: str | None = None
) -> JsonDict:
    """One `x-kubernetes-validations` entry; `field_path` makes the error name the field."""
    out: JsonDict = {"rule": rule, "message": message}
    if field_path:
        out["fieldPath"] = field_path
    if reason:
        out["reason"] = reason
    return out


def validations(*rules: JsonDict) -> JsonDict:
    return {"x-kubernetes-validations": list(rules)}


def string_schema(max_length: int, pattern: str | None = None) -> JsonDict:
    """The schema of a bounded string, for list items and map values."""
    out: JsonDict = {"type": "string", "maxLength": max_length}
    if pattern:
        out["pattern"] = pattern
    return out


PRESERVE_UNKNOWN: JsonDict = {"x-kubernetes-preserve-unknown-fields": True}


class ApiModel(BaseModel):
    """Base of every CRD shape: camelCase on the wire, unknown fields ignored when reading."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        use_attribute_docstrings=True,
        frozen=False,
    )

    def to_api(self) -> dict[str, Any]:
        """The wire form: camelCase, unset optionals left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class _SharedFieldsSet(set[str]):
    """One `__pydantic_fields_set__` for every cached model with the same set fields.

    pydantic keeps a set of the field names set per instance: a set of five names or more is
    728 bytes, two fifths of a parsed Execution (spec, status, health window, transitions),
    ~2.6 KiB each of 150,000 in the informers. We never read it (no `exclude_unset`). Shared,
    it must not change: in-place changes raise (a cached model assigned to in place would be a
    bug of its own: the cache is every pass's), and a copy (`model_copy`) is a plain set again.
    """

    def __copy__(self) -> set[str]:
        return set(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> set[str]:
        return set(self)

    def _refuse(self, *_: object) -> None:
        raise TypeError("a cached model is shared and read-only")

    add = discard = remove = pop = clear = update = _refuse  # type: ignore[assignment]
    intersection_update = difference_update = symmetric_difference_update = _refuse
    __ior__ = __iand__ = __isub__ = __ixor__ = _refuse  # type: ignore[assignment]


_SHARED_SETS: dict[frozenset[str], _SharedFieldsSet] = {}
MAX_SHARED_SETS = 4096
"""Distinct sets of set fields kept (a handful in practice; past this, instances keep theirs)."""


def share_fields_sets(model: BaseModel) -> None:
    """Give `model` and the models inside it the shared set of their set fields (a model held
    for long in a cache: informers). Saves ~2.6 KiB per Execution."""
    names = frozenset(model.__pydantic_fields_set__)
    shared = _SHARED_SETS.get(names)
    if shared is None and len(_SHARED_SETS) < MAX_SHARED_SETS:
        shared = _SHARED_SETS[names] = _SharedFieldsSet(names)
    if shared is not None:
        object.__setattr__(model, "__pydantic_fields_set__", shared)
    for value in model.__dict__.values():
        for item in value if isinstance(value, list) else (value,):
            if isinstance(item, BaseModel):
                share_fields_sets(item)


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(ApiModel):
    """A metav1.Condition: the latest observation of one aspect of the object's state."""

    type: str = Field(max_length=316)
    """Type of condition in CamelCase, e.g. Ready, Progressing, Degraded."""
    status: ConditionStatus
    """True, False or Unknown."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The .metadata.generation the condition was set from."""
    last_transition_time: datetime
    """When the condition last changed status."""
    reason: str = Field(max_length=1024)
    """A CamelCase, machine-readable reason for the last transition."""
    message: str = Field(default="", max_length=32768)
    """A human-readable message with details about the transition."""


class ErrorInfo(ApiModel):
    """A structured error: a stable machine-readable code and a message for people."""

    code: str = Field(max_length=128)
    """CamelCase error code, e.g. ImagePullBackOff, ExecutionTimeout, QueueTimeout, NodeLost."""
    message: str = Field(default="", max_length=MAX_MESSAGE)
    """What went wrong, for people."""
