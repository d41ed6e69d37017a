"""Helm against the local control plane, with the chart of this checkout."""

from __future__ import annotations

import subprocess

from nodewave.localcluster.controlplane import REPO_ROOT, ControlPlane

CHART = REPO_ROOT / "charts" / "nodewave"


def helm(cp: ControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(cp.bin_dir / "helm"), *args],
        capture_output=True,
        text=True,
        env=cp.env(),
        timeout=120,
        check=False,
    )
