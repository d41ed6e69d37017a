"""The parts of `make release` (hack/release.sh) that are easier said in Python: the chart's
version in SemVer, the chart staged with the release's version and image digest, the plugin's
archives for krew, the krew manifest, and the checksums.

    python hack/release.py semver VERSION
    python hack/release.py tag VERSION
    python hack/release.py chart SRC DEST VERSION DIGEST
    python hack/release.py normalize TAG                 (v0.2.0-rc1 → 0.2.0rc1)
    python hack/release.py plugin WHEEL LOCKED DIST VERSION  (the archives, the krew manifest)
    python hack/release.py digest OCI_ARCHIVE
    python hack/release.py sbom SBOM VERSION
    python hack/release.py sums DIST
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import yaml

HOMEPAGE = "https://github.com/nodewave/nodewave"
PLATFORMS = {
    # krew's os/arch → uv's --python-platform (the wheels pip would pick there)
    ("linux", "amd64"): "x86_64-manylinux_2_28",
    ("linux", "arm64"): "aarch64-manylinux_2_28",
    ("darwin", "amd64"): "x86_64-apple-darwin",
    ("darwin", "arm64"): "aarch64-apple-darwin",
}
PYTHON = "3.11"
"""The plugin's archives carry compiled wheels (pydantic-core) for this Python."""

LAUNCHER = """#!/bin/sh
# kubectl-nodewave {version}: the plugin with its libraries beside it (lib/, wheels for
# Python {python} on {os}/{arch}). Runs with python{python}, or $NODEWAVE_PYTHON.
self="$0"
while [ -L "$self" ]; do
  target="$(readlink "$self")"
  case "$target" in /*) self="$target" ;; *) self="$(dirname "$self")/$target" ;; esac
done
here="$(cd "$(dirname "$self")" && pwd)"
python="${{NODEWAVE_PYTHON:-python{python}}}"
command -v "$python" >/dev/null 2>&1 || {{
  echo "kubectl-nodewave needs Python {python} ($python not found; set NODEWAVE_PYTHON)" >&2
  exit 1
}}
# -P -s: nothing from the current directory or the user's site-packages is imported.
PYTHONPATH="$here/lib" exec "$python" -P -s -c 'import sys; from nodewave.cli.plugin import {entry}; sys.exit({entry}())' "$@"
"""


def build_semver(version: str) -> str:
    """A Python version as SemVer 2 (Helm and krew need it): 0.2.0 → 0.2.0, 0.2.1.dev3+gabc →
    0.2.1-dev.3+gabc, 0.2.0rc1 → 0.2.0-rc.1, 0.1.dev218+gabc (no tag yet) → 0.1.0-dev.218+gabc."""
    match = re.fullmatch(
        r"(\d+)\.(\d+)(?:\.(\d+))?(?:(a|b|rc)(\d+))?(?:\.post(\d+))?(?:\.dev(\d+))?(?:\+([\w.]+))?",
        version,
    )
    if match is None:
        raise ValueError(f"not a release version: {version!r}")
    major, minor, patch, pre, pre_n, post, dev, local = match.groups()
    parts = []
    if pre:
        label = {"a": "alpha", "b": "beta"}.get(pre, pre)
        parts.append(f"{label}.{pre_n}")
    if post:
        parts.append(f"post.{post}")
    if dev:
        parts.append(f"dev.{dev}")
    semver = f"{major}.{minor}.{patch or 0}" + ("-" + ".".join(parts) if parts else "")
    return semver + (f"+{local}" if local else "")


def build_image_tag(version: str) -> str:
    """The image's tag: the SemVer with "+" (not allowed in a tag) as "_", as Kubernetes' own
    images do."""
    return build_semver(version).replace("+", "_")


def stage_chart(source: Path, dest: Path, version: str, digest: str) -> Path:
    """The chart as released: links resolved (files/crds), version and appVersion the
    release's, the image's tag and digest. Returns the staged chart's directory."""
    staged = dest / "nodewave"
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(source, staged, symlinks=False)
    chart = yaml.safe_load((staged / "Chart.yaml").read_text())
    chart["version"] = chart["appVersion"] = build_semver(version)
    (staged / "Chart.yaml").write_text(yaml.safe_dump(chart, sort_keys=False))
    values = (staged / "values.yaml").read_text()
    pinned = re.sub(r'(?m)^(  digest: )""', rf'\g<1>"{digest}"', values, count=1)
    pinned = re.sub(r'(?m)^(  tag: )""', rf'\g<1>"{build_image_tag(version)}"', pinned, count=1)
    if pinned.count(digest) != 1 or pinned.count(build_image_tag(version)) != 1:
        raise SystemExit("values.yaml has no image.tag and image.digest to set")
    (staged / "values.yaml").write_text(pinned)
    return staged


def oci_digest(archive: Path) -> str:
    """The image manifest's digest in an OCI archive (what a registry keeps, pushed as is)."""
    with tarfile.open(archive) as tar:
        member = tar.extractfile("index.json")
        assert member is not None
        index = json.load(member)
    manifests = index.get("manifests") or []
    if len(manifests) != 1:
        raise SystemExit(f"{archive}: {len(manifests)} manifests, one expected")
    return str(manifests[0]["digest"])


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def build_plugin_archive(
    wheel: Path, locked: Path, dist: Path, version: str, os_: str, arch: str
) -> Path:
    """kubectl-nodewave-VERSION-OS-ARCH.tar.gz: the launchers and lib/ (the wheel and the
    locked versions of its dependencies, with their hashes, for that platform and Python)."""
    name = f"kubectl-nodewave-{version}-{os_}-{arch}"
    uv = os.environ.get("UV", "uv")
    target = ["--quiet", "--python-platform", PLATFORMS[(os_, arch)], "--python-version", PYTHON,
              "--only-binary", ":all:"]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / name
        lib = root / "lib"
        subprocess.run([uv, "pip", "install", *target, "--target", str(lib), "-r", str(locked)],
                       check=True)  # fmt: skip
        subprocess.run([uv, "pip", "install", *target, "--target", str(lib), "--no-deps",
                        str(wheel)], check=True)  # fmt: skip
        # Not the build machine's: where the wheel was installed from, the installer's lock.
        for leftover in [*lib.glob("*.dist-info/direct_url.json"), lib / ".lock"]:
            leftover.unlink(missing_ok=True)
        shutil.rmtree(lib / "bin", ignore_errors=True)
        for binary, entry in (("kubectl-nodewave", "main"),
                              ("kubectl_complete-nodewave", "complete_main")):  # fmt: skip
            script = root / binary
            script.write_text(LAUNCHER.format(version=version, python=PYTHON, os=os_,
                                              arch=arch, entry=entry))  # fmt: skip
            script.chmod(0o755)
        shutil.copy(Path(__file__).resolve().parents[1] / "LICENSE", root / "LICENSE")
        archive = dist / f"{name}.tar.gz"
        with archive.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, \
                tarfile.open(fileobj=gz, mode="w") as tar:  # fmt: skip
            tar.add(root, arcname=".", filter=_reproducible)
    return archive


def _reproducible(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    return info


def build_krew_manifest(version: str, archives: dict[tuple[str, str], Path]) -> dict[str, object]:
    semver = build_semver(version)
    return {
        "apiVersion": "krew.googlecontainertools.github.com/v1alpha2",
        "kind": "Plugin",
        "metadata": {"name": "nodewave"},
        "spec": {
            "version": f"v{semver}",
            "homepage": HOMEPAGE,
            "shortDescription": "Watch and steer nodewave rollouts",
            "description": (
                "Status, promote, pause, abort, rollback and the node map of nodewave Jobs: a "
                "workload on every node a selector picks, rolled out in waves with health gates. "
                f"Needs Python {PYTHON} (python{PYTHON}, or $NODEWAVE_PYTHON)."
            ),
            "platforms": [
                {
                    "selector": {"matchLabels": {"os": os_, "arch": arch}},
                    "uri": f"{HOMEPAGE}/releases/download/v{semver}/{path.name}",
                    "sha256": sha256(path),
                    "bin": "kubectl-nodewave",
                }
                for (os_, arch), path in sorted(archives.items())
            ],
        },
    }


def stamp_sbom(path: Path, version: str) -> None:
    """The SBOM's subject carries the release's version (cyclonedx-py reads none from a
    pyproject whose version is dynamic)."""
    bom = json.loads(path.read_text())
    bom["metadata"]["component"]["version"] = version
    path.write_text(json.dumps(bom, indent=2) + "\n")


def write_sums(dist: Path) -> None:
    lines = [f"{sha256(p)}  {p.name}" for p in sorted(dist.iterdir())
             if p.is_file() and p.name != "SHA256SUMS"]  # fmt: skip
    (dist / "SHA256SUMS").write_text("\n".join(lines) + "\n")


def main(argv: list[str]) -> int:
    command, *rest = argv
    if command == "normalize":
        from packaging.version import Version

        print(Version(rest[0]))
    elif command == "semver":
        print(build_semver(rest[0]))
    elif command == "tag":
        print(build_image_tag(rest[0]))
    elif command == "chart":
        print(stage_chart(Path(rest[0]), Path(rest[1]), rest[2], rest[3]))
    elif command == "digest":
        print(oci_digest(Path(rest[0])))
    elif command == "plugin":
        wheel, locked, dist, version = Path(rest[0]), Path(rest[1]), Path(rest[2]), rest[3]
        archives = {p: build_plugin_archive(wheel, locked, dist, version, *p) for p in PLATFORMS}
        manifest = build_krew_manifest(version, archives)
        (dist / "nodewave.krew.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    elif command == "sbom":
        stamp_sbom(Path(rest[0]), rest[1])
    elif command == "sums":
        write_sums(Path(rest[0]))
    else:
        raise SystemExit(f"unknown command {command!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
