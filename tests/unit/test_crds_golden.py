"""The committed CRDs are exactly what the models generate."""

from __future__ import annotations

from pathlib import Path

import yaml

from nodewave.cli.main import main
from nodewave.models.crd import build_crds

REPO = Path(__file__).resolve().parents[2]


CHART = REPO / "charts" / "nodewave"


REFERENCE = REPO / "docs" / "reference" / "api.md"


def test_committed_crds_match_models() -> None:
    args = ["--output", str(REPO / "crds"), "--chart", str(CHART), "--reference", str(REFERENCE)]
    assert main(["crds", "--check", *args]) == 0, (
        "run `nodewave crds` and commit crds/, the chart's files/spec-changed.cel and "
        "docs/reference/api.md"
    )


def test_the_crd_files_have_no_yaml_anchors() -> None:
    """A base model's rules are one object in two places of the schema (PrometheusCheck and
    AlertCheck share HttpEndpoint's): written as is, YAML would alias them (&id001), which
    kubectl reads but people and some tools do not."""
    for path in (REPO / "crds").glob("*.yaml"):
        text = path.read_text()
        assert "&id" not in text, path
        assert "*id" not in text, path


def test_check_detects_drift(tmp_path: Path) -> None:
    args = ["--output", str(tmp_path / "crds"), "--chart", str(tmp_path / "chart"),
            "--reference", str(tmp_path / "api.md")]  # fmt: skip
    assert main(["crds", *args]) == 0
    target = next((tmp_path / "crds").glob("*jobs.yaml"))
    target.write_text(target.read_text().replace("Immediate", "Immediately"))
    assert main(["crds", "--check", *args]) == 1
    target.write_text(target.read_text().replace("Immediately", "Immediate"))
    assert main(["crds", "--check", *args]) == 0
    cel = tmp_path / "chart" / "files" / "spec-changed.cel"
    cel.write_text(
        cel.read_text().replace("|| object.spec.?template != oldObject.spec.?template\n", "")
    )
    assert main(["crds", "--check", *args]) == 1
    main(["crds", *args])
    reference = tmp_path / "api.md"
    reference.write_text(reference.read_text().replace("default `10`", "default `11`"))
    assert main(["crds", "--check", *args]) == 1


def _walk(node: object, path: str = "") -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    out = []
    if isinstance(node, dict):
        out.append((path, node))
        for key in ("properties",):
            for name, child in node.get(key, {}).items():
                out.extend(_walk(child, f"{path}.{name}"))
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                out.extend(_walk(node[key], f"{path}[]"))
    return out


def test_schemas_are_structural_and_bounded() -> None:
    for name, crd in build_crds().items():
        version = crd["spec"]["versions"][0]
        assert version["subresources"] == {"status": {}}
        assert "nodewave" in crd["spec"]["names"]["categories"]
        assert crd["spec"]["names"]["shortNames"]
        for path, node in _walk(version["schema"]["openAPIV3Schema"]):
            for forbidden in ("$ref", "anyOf", "title"):
                assert forbidden not in node, (name, path)
            assert (
                "type" in node
                or node.get("x-kubernetes-preserve-unknown-fields")
                or (node.get("x-kubernetes-int-or-string") and "maxLength" in node)
            ), (name, path)
            if path in (".apiVersion", ".kind"):
                continue
            if node.get("type") == "string" and "enum" not in node and "format" not in node:
                assert "maxLength" in node, f"{name}{path}: unbounded string"
            if node.get("type") == "array":
                assert "maxItems" in node, f"{name}{path}: unbounded list"
        yaml.safe_dump(crd)


def test_execution_selectable_fields() -> None:
    crd = build_crds()["nodewave.io_executions.yaml"]
    paths = {f["jsonPath"] for f in crd["spec"]["versions"][0]["selectableFields"]}
    assert {".spec.jobName", ".spec.nodeName"} <= paths


def test_chart_ships_the_generated_crds_not_a_copy() -> None:
    """The chart's templates/crds.yaml renders these files (tests/integration/test_chart.py
    checks the result): a link, so they cannot drift; not Helm's crds/, never upgraded."""
    assert not (REPO / "charts" / "nodewave" / "crds").exists()
    link = REPO / "charts" / "nodewave" / "files" / "crds"
    assert link.is_symlink()
    assert link.resolve() == (REPO / "crds").resolve()
