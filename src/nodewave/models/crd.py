"""Build the CustomResourceDefinitions from the pydantic models.

`build_crds()` is pure: models in, CRD dicts out. `nodewave crds` writes them to `crds/`, and a
golden test fails when the committed YAML and the models differ, so the two never drift.

Kubernetes wants a *structural* schema: every node typed, no `$ref`, no `anyOf` with null,
no `additionalProperties: true`. Pydantic's JSON Schema is close; `_structural` closes the
gap: it inlines `$defs`, turns `Optional[X]` into an optional `X`, drops titles and `None`
defaults, and folds multi-line docstrings into one line for `kubectl explain`.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from nodewave import GROUP, VERSION
from nodewave.models.execution import Execution
from nodewave.models.job import Job

CATEGORY = "nodewave"


def _clean_description(text: str) -> str:
    paragraphs = re.split(r"\n\s*\n", text.strip())
    return "\n\n".join(" ".join(p.split()) for p in paragraphs)


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_structural(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "$ref" in node:
        target = copy.deepcopy(defs[node.pop("$ref").rsplit("/", 1)[-1]])
        # The field's own keys (its docstring, default) win over the referenced model's.
        node = {**target, **node}
    if "anyOf" in node:
        branches = [b for b in node.pop("anyOf") if b.get("type") != "null"]
        if len(branches) != 1:
            raise ValueError(f"non-structural union in schema: {branches}")
        branch = branches[0]
        if "$ref" in branch:
            branch = {**defs[branch["$ref"].rsplit("/", 1)[-1]]}
        node = {**branch, **node}
        if node.get("default", 0) is None:
            del node["default"]
    node.pop("title", None)
    if node.get("additionalProperties") is True:
        del node["additionalProperties"]
    if "description" in node:
        node["description"] = _clean_description(node["description"])
    if "properties" in node:
        node["properties"] = {k: _structural(v, defs) for k, v in node["properties"].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            node[key] = _structural(node[key], defs)
    return node


def build_schema(model: type[Job] | type[Execution]) -> dict[str, Any]:
    """The openAPIV3Schema of one kind."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    body: dict[str, Any] = _structural(raw, defs)
    body.setdefault("required", [])
    body["properties"] = {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        **body["properties"],
    }
    return body


def _column(
    name: str, json_path: str, type_: str = "string", description: str = "", priority: int = 0
) -> dict[str, Any]:
    col: dict[str, Any] = {"name": name, "type": type_, "jsonPath": json_path}
    if description:
        col["description"] = description
    if priority:
        col["priority"] = priority
    return col


def _condition(type_: str) -> str:
    return f'.status.conditions[?(@.type=="{type_}")].status'


def _crd(
    kind: str,
    plural: str,
    short: list[str],
    schema: dict[str, Any],
    columns: list[dict[str, Any]],
    extra: dict[str, Any],
) -> dict[str, Any]:
    version: dict[str, Any] = {
        "name": VERSION,
        "served": True,
        "storage": True,
        "subresources": {"status": {}},
        "additionalPrinterColumns": columns,
        "schema": {"openAPIV3Schema": schema},
        **extra,
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short,
                "categories": [CATEGORY],
            },
            "versions": [version],
        },
    }


def build_job_crd() -> dict[str, Any]:
    schema = build_schema(Job)
    schema["description"] = _clean_description(Job.__doc__ or "")
    columns = [
        _column("Type", ".spec.type"),
        _column("Strategy", ".spec.rollout.strategy"),
        _column("Current", ".status.currentVersion", "integer", "Newest version of the spec"),
        _column(
            "Stable", ".status.stableVersion", "integer", "Last version that completed a rollout"
        ),
        _column("Wave", ".status.rollout.wave", "integer", "Current rollout wave"),
        _column("Waves", ".status.rollout.totalWaves", "integer", "Waves in this rollout", 1),
        _column(
            "Nodes-Ready", ".status.readyNodes", "integer", "Nodes running the current version"
        ),
        _column("Target", ".status.targetNodes", "integer", "Nodes the selector picks"),
        _column("Ready", _condition("Ready")),
        _column("Phase", ".status.rollout.phase", description="Rollout phase", priority=1),
        _column("Age", ".metadata.creationTimestamp", "date"),
    ]
    return _crd("Job", "jobs", ["nwj", "nwjob"], schema, columns, {})


def build_execution_crd() -> dict[str, Any]:
    schema = build_schema(Execution)
    schema["description"] = _clean_description(Execution.__doc__ or "")
    columns = [
        _column("Job", ".spec.jobName"),
        _column("Node", ".spec.nodeName"),
        _column("Version", ".spec.jobVersion", "integer"),
        _column("Desired", ".spec.desiredState"),
        _column("Observed", ".status.observedState"),
        _column("Wave", ".spec.rolloutWave", "integer"),
        _column("Restarts", ".status.restarts", "integer", priority=1),
        _column("Message", ".status.message", priority=1),
        _column("Age", ".metadata.creationTimestamp", "date"),
    ]
    selectable = [
        {"jsonPath": p}
        for p in (
            ".spec.jobName",
            ".spec.nodeName",
            ".spec.jobVersion",
            ".spec.rolloutWave",
            ".spec.desiredState",
            ".status.observedState",
        )
    ]
    return _crd(
        "Execution",
        "executions",
        ["nwx", "nwexec"],
        schema,
        columns,
        {"selectableFields": selectable},
    )


def build_crds() -> dict[str, dict[str, Any]]:
    """File name → CRD, for every kind. Each a tree of its own (no part shared between two
    places, as a base model's rules are between its subclasses), so that YAML writes no
    anchors, which kubectl reads but people and some tools do not."""
    crds = {
        f"{GROUP}_jobs.yaml": build_job_crd(),
        f"{GROUP}_executions.yaml": build_execution_crd(),
    }
    return {name: json.loads(json.dumps(crd)) for name, crd in crds.items()}
