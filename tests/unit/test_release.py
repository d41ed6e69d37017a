"""make release's pure parts (hack/release.py): versions as SemVer for Helm and krew, the krew
manifest naming each archive by its sha256, the chart staged with the release's version."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def load_release() -> ModuleType:
    spec = importlib.util.spec_from_file_location("release", REPO / "hack" / "release.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["release"] = module
    spec.loader.exec_module(module)
    return module


release = load_release()


@pytest.mark.parametrize(
    ("version", "semver"),
    [
        ("0.2.0", "0.2.0"),
        ("1.10.3", "1.10.3"),
        ("0.2.1.dev3+g1a2b3c4", "0.2.1-dev.3+g1a2b3c4"),
        ("0.2.1.dev3+g1a2b3c4.d20261207", "0.2.1-dev.3+g1a2b3c4.d20261207"),
        ("0.2.0rc1", "0.2.0-rc.1"),
        ("0.1.dev218+g9fcab5396.d20261207", "0.1.0-dev.218+g9fcab5396.d20261207"),
        ("0.2.0a2", "0.2.0-alpha.2"),
        ("0.2.0b1.dev4", "0.2.0-beta.1.dev.4"),
        ("0.2.0.post1", "0.2.0-post.1"),
    ],
)
def test_a_python_version_as_semver(version: str, semver: str) -> None:
    assert release.build_semver(version) == semver


@pytest.mark.parametrize("version", ["0", "v0.2.0", "0.0.0+unknown extra", ""])
def test_what_is_no_release_version_is_refused(version: str) -> None:
    with pytest.raises(ValueError, match="not a release version"):
        release.build_semver(version)


def test_the_krew_manifest_names_each_archive_by_its_digest(tmp_path: Path) -> None:
    archives = {}
    for os_, arch in (("linux", "amd64"), ("darwin", "arm64")):
        path = tmp_path / f"kubectl-nodewave-0.2.0-{os_}-{arch}.tar.gz"
        path.write_bytes(f"{os_}/{arch}".encode())
        archives[(os_, arch)] = path
    manifest = release.build_krew_manifest("0.2.0", archives)
    spec = manifest["spec"]
    assert spec["version"] == "v0.2.0"
    assert [(p["selector"]["matchLabels"], p["sha256"], p["uri"].rsplit("/", 2)[-2:])
            for p in spec["platforms"]] == [
        ({"os": "darwin", "arch": "arm64"}, release.sha256(archives[("darwin", "arm64")]),
         ["v0.2.0", "kubectl-nodewave-0.2.0-darwin-arm64.tar.gz"]),
        ({"os": "linux", "arch": "amd64"}, release.sha256(archives[("linux", "amd64")]),
         ["v0.2.0", "kubectl-nodewave-0.2.0-linux-amd64.tar.gz"]),
    ]  # fmt: skip


def test_the_chart_is_staged_with_the_releases_version_and_digest(tmp_path: Path) -> None:
    digest = "sha256:" + "ab" * 32
    staged = release.stage_chart(REPO / "charts" / "nodewave", tmp_path, "0.2.1.dev3+gabc", digest)
    chart = yaml.safe_load((staged / "Chart.yaml").read_text())
    assert (chart["version"], chart["appVersion"]) == ("0.2.1-dev.3+gabc", "0.2.1-dev.3+gabc")
    image = yaml.safe_load((staged / "values.yaml").read_text())["image"]
    assert (image["tag"], image["digest"]) == ("0.2.1-dev.3_gabc", digest)
    crds = staged / "files" / "crds"
    assert not crds.is_symlink(), "the link to crds/ is resolved: a packaged chart has files"
    assert sorted(p.name for p in crds.iterdir()) == sorted(
        p.name for p in (REPO / "crds").iterdir()
    )
