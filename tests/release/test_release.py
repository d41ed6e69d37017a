"""`make release` from a tagged clone, and what it built used as a user would: the wheel
installed into a fresh virtual environment outside any checkout runs `nodewave cluster up`,
`nodewave run` and `kubectl-nodewave` (issue 30, items 2 and 3)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from nodewave.localcluster.controlplane import REPO_ROOT
from tests.conftest import wait_for

VERSION = "9.9.0"


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 900,
        check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False, input=stdin)  # fmt: skip
    if check:
        assert done.returncode == 0, f"{argv}: {done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A clone of this commit tagged v9.9.0 with its CHANGELOG section, released; yields the
    clone and its dist/9.9.0."""
    clone = tmp_path_factory.mktemp("release") / "nodewave"
    run(["git", "clone", "--quiet", str(REPO_ROOT), str(clone)], REPO_ROOT)
    git = ["git", "-c", "user.name=release", "-c", "user.email=release@nodewave.test"]
    untagged = run(["make", "release"], clone, check=False)
    assert untagged.returncode != 0
    assert "HEAD has no version tag" in untagged.stderr
    changelog = clone / "CHANGELOG.md"
    changelog.write_text(changelog.read_text().replace(
        "## [Unreleased]", f"## [Unreleased]\n\n## [{VERSION}] - 2026-12-07", 1))  # fmt: skip
    run([*git, "commit", "--quiet", "-am", f"nodewave {VERSION}"], clone)
    run([*git, "tag", "-a", f"v{VERSION}", "-m", f"nodewave {VERSION}"], clone)
    done = run(["make", "release"], clone)
    assert "[release] done" in done.stderr
    return clone, clone / "dist" / VERSION


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def oci_labels(archive: Path) -> dict[str, str]:
    with tarfile.open(archive) as tar:

        def blob(digest: str) -> Any:
            member = tar.extractfile("blobs/sha256/" + digest.split(":")[1])
            assert member is not None
            return json.load(member)

        member = tar.extractfile("index.json")
        assert member is not None
        manifest = blob(json.load(member)["manifests"][0]["digest"])
        return dict(blob(manifest["config"]["digest"])["config"]["Labels"])


def test_every_artefact_of_a_tagged_release(released: tuple[Path, Path]) -> None:
    clone, dist = released
    revision = run(["git", "rev-parse", "HEAD"], clone).stdout.strip()
    names = sorted(p.name for p in dist.iterdir())
    assert names == sorted([
        "SHA256SUMS", f"nodewave-{VERSION}-py3-none-any.whl", f"nodewave-{VERSION}.tar.gz",
        f"nodewave-{VERSION}-linux-amd64.oci.tar", f"nodewave-{VERSION}-linux-amd64.digest",
        f"nodewave-{VERSION}.tgz", f"nodewave-{VERSION}.cdx.json", "nodewave.krew.yaml",
        *(f"kubectl-nodewave-{VERSION}-{p}.tar.gz"
          for p in ("linux-amd64", "linux-arm64", "darwin-amd64", "darwin-arm64")),
    ])  # fmt: skip
    # The image: labelled with the tag's version and the commit; the chart pins its digest.
    labels = oci_labels(dist / f"nodewave-{VERSION}-linux-amd64.oci.tar")
    assert labels["org.opencontainers.image.version"] == VERSION
    assert labels["org.opencontainers.image.revision"] == revision
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert labels["org.opencontainers.image.source"].startswith("https://")
    digest = (dist / f"nodewave-{VERSION}-linux-amd64.digest").read_text().strip()
    with tarfile.open(dist / f"nodewave-{VERSION}.tgz") as chart:
        meta = yaml.safe_load(chart.extractfile("nodewave/Chart.yaml").read())  # type: ignore[union-attr]
        values = yaml.safe_load(chart.extractfile("nodewave/values.yaml").read())  # type: ignore[union-attr]
        crds = [n for n in chart.getnames() if n.startswith("nodewave/files/crds/")]
    assert (meta["version"], meta["appVersion"]) == (VERSION, VERSION)
    assert (values["image"]["tag"], values["image"]["digest"]) == (VERSION, digest)
    assert len(crds) == 2, "the CRDs as files, not a link"
    # The krew manifest names each archive by its digest; the sums are right.
    manifest = yaml.safe_load((dist / "nodewave.krew.yaml").read_text())
    assert manifest["spec"]["version"] == f"v{VERSION}"
    for platform in manifest["spec"]["platforms"]:
        archive = dist / platform["uri"].rsplit("/", 1)[1]
        assert platform["sha256"] == sha256(archive)
    for line in (dist / "SHA256SUMS").read_text().splitlines():
        digest_of, name = line.split("  ")
        assert sha256(dist / name) == digest_of, name
    # The SBOM: CycloneDX, the release as its subject, every runtime dependency a component.
    bom = json.loads((dist / f"nodewave-{VERSION}.cdx.json").read_text())
    assert bom["bomFormat"] == "CycloneDX"
    assert bom["metadata"]["component"]["version"] == VERSION
    components = {c["name"].lower().replace("_", "-") for c in bom["components"]}
    assert {"kopf", "aiohttp", "pydantic", "pydantic-core", "cryptography"} <= components
    assert not {"pytest", "ruff", "mypy"} & components, "development tools are not shipped"


@pytest.fixture
def fresh_venv(released: tuple[Path, Path], tmp_path: Path) -> Path:
    """The wheel installed into a new virtual environment, far from any checkout."""
    _, dist = released
    venv = tmp_path / "venv"
    run(["python3.11", "-m", "venv", str(venv)], tmp_path)
    run([str(venv / "bin" / "pip"), "install", "--quiet",
         str(dist / f"nodewave-{VERSION}-py3-none-any.whl")], tmp_path)  # fmt: skip
    return venv


def user_env(venv: Path) -> dict[str, str]:
    """A user's shell: the venv first on PATH, nothing of the checkout (no PYTHONPATH, no
    NODEWAVE_BIN_DIR: the installed package finds or builds the binaries itself)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "NODEWAVE_BIN_DIR", "KUBECONFIG")}  # fmt: skip
    env["PATH"] = f"{venv / 'bin'}:{env['PATH']}"
    return env


def test_the_wheel_runs_the_local_cluster_the_operator_and_the_plugin(
    fresh_venv: Path, tmp_path: Path
) -> None:
    env = user_env(fresh_venv)
    here = tmp_path / "user"
    here.mkdir()
    version = run(["kubectl-nodewave", "version"], here, env, check=False)
    assert version.stdout.splitlines()[0] == f"kubectl-nodewave {VERSION}"
    cluster = here / "cluster"
    up = run(["nodewave", "cluster", "up", "--dir", str(cluster), "--nodes", "2"], here, env)
    exports = dict(line.removeprefix("export ").split("=", 1) for line in up.stdout.splitlines())
    env = {**env, "KUBECONFIG": exports["KUBECONFIG"],
           "PATH": exports["PATH"].replace("$PATH", env["PATH"])}  # fmt: skip
    operator: subprocess.Popen[bytes] | None = None
    try:
        run(["nodewave", "crds", "--output", str(here / "crds")], here, env)
        run(["kubectl", "apply", "--server-side", "-f", str(here / "crds")], here, env)
        wait_for(lambda: run(["kubectl", "get", "nwj,nwx"], here, env, check=False).returncode
                 == 0, 60, "the CRDs served")  # fmt: skip
        with open(here / "operator.log", "wb") as log:
            operator = subprocess.Popen(["nodewave", "run", "--metrics-port", "0"], cwd=here,
                                        env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        job = {
            "apiVersion": "nodewave.io/v1alpha1", "kind": "Job",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"type": "Pipeline", "selector": {"matchLabels": {"region": "eu-west"}},
                     "template": {"spec": {"containers": [{"name": "a", "image": "x/a:1"}]}},
                     "rollout": {"strategy": "Immediate"}},
        }  # fmt: skip
        run(["kubectl", "apply", "-f", "-"], here, env, stdin=yaml.safe_dump(job))
        gate = run(["kubectl", "nodewave", "status", "web", "--watch", "--timeout", "3m"],
                   here, env, check=False)  # fmt: skip
        log_tail = (here / "operator.log").read_text()[-3000:]
        assert gate.returncode == 0, gate.stdout + gate.stderr + log_tail
        assert "version 1" in gate.stdout
        listing = ["kubectl", "nodewave", "executions", "-o", "json"]
        listed = wait_for(lambda: json.loads(run(listing, here, env).stdout)["items"], 30,
                          "executions")  # fmt: skip
        assert {e["spec"]["nodeName"] for e in listed} == {"node-000"}  # node i gets region i mod 3
    finally:
        if operator is not None:
            operator.send_signal(signal.SIGTERM)
            operator.wait(30)
        run(["nodewave", "cluster", "down", "--dir", str(cluster)], here, env, check=False)
