"""The API reference (docs/reference/api.md) says what the models say: every field of every
model in its type's section, with its bounds, default and allowed values, and every CEL rule's
message under the type that holds it."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel

from nodewave.models.execution import Execution
from nodewave.models.job import Job, PrometheusCheck, Rollout, SecretKeyRef
from nodewave.models.reference import build_api_reference

REFERENCE = build_api_reference()


def section(title: str) -> str:
    match = re.search(rf"^### {re.escape(title)}\n(.*?)(?=^##)", REFERENCE + "\n##", re.M | re.S)
    assert match, f"no section {title}"
    return match.group(1)


def row(title: str, field: str) -> str:
    match = re.search(rf"^\| `{field}`.*$", section(title), re.M)
    assert match, f"{title} has no row {field}"
    return match.group(0)


def models(root: type[BaseModel]) -> set[type[BaseModel]]:
    """The models reachable from a kind's root, by their fields' annotations."""
    seen: set[type[BaseModel]] = set()
    todo = [root]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for info in model.model_fields.values():
            for arg in _flatten(info.annotation):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    todo.append(arg)
    return seen


def _flatten(annotation: object) -> list[object]:
    args = getattr(annotation, "__args__", ())
    return [annotation, *(a for arg in args for a in _flatten(arg))]


@pytest.mark.parametrize("root", [Job, Execution])
def test_every_field_of_every_model_has_a_row(root: type[BaseModel]) -> None:
    for model in models(root):
        for name, info in model.model_fields.items():
            assert row(model.__name__, info.alias or name)


@pytest.mark.parametrize(
    ("title", "field", "expected"),
    [
        ("Rollout", "maxParallel", "| integer | Percent of the target nodes per wave"),
        ("Rollout", "maxParallel", "*default `10`; ≥ 1; ≤ 100*"),
        ("Rollout", "strategy", '*one of `Immediate`, `Rolling`, `Canary`; default `"Immediate"`*'),
        ("Rollout", "healthCheck", "| [HealthCheck](#healthcheck) |"),
        ("Rollout", "maxUnavailable", "| integer or string |"),
        ("Rollout", "steps", "| [][RolloutStep](#rolloutstep) |"),
        ("JobSpec", "type", "`type` (required) | string |"),
        ("JobSpec", "meta", "| map[string]string |"),
        ("JobSpec", "template", "| [object](#jobspectemplate) |"),
        ("PrometheusCheck", "query", "length ≥ 1; length ≤ 4096"),
        ("PrometheusCheck", "headers", "≤ 16 items"),
        ("SecretKeyRef", "name", "`name` (required)"),
        ("Selector", "matchLabels", "rule: matchLabels keys must be label keys"),
    ],
)
def test_rows(title: str, field: str, expected: str) -> None:
    assert expected in row(title, field)


@pytest.mark.parametrize("model", [Rollout, PrometheusCheck, Job])
def test_every_rule_of_a_model_is_under_its_type(model: type[BaseModel]) -> None:
    schema = model.model_json_schema(by_alias=True)
    messages = [v["message"] for v in schema.get("x-kubernetes-validations", ())]
    assert messages or model is Job
    for message in messages:
        assert f"- {' '.join(message.split())}" in section(model.__name__)


def test_a_type_used_in_many_places_has_one_section() -> None:
    assert REFERENCE.count(f"### {SecretKeyRef.__name__}\n") == 1
    assert "The object's ObjectMeta." in row("Execution", "metadata")
