"""Helm against the local control plane, with the chart of this checkout."""

from __future__ import annotations

import subprocess

from nodewave.localcluster.controlplane import REPO_ROOT, ControlPlane

CHART = REPO_ROOT / "charts" / "nodewave"


def helm(cp: ControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    """Installs and upgrades adopt the CRDs (--take-ownership): every test cluster has them
    from `kubectl apply` before any release, as a user's cluster has after an install by the
    README's earlier `kubectl apply -f crds/`; the chart then keeps them current."""
    adopt = ["--take-ownership"] if args[:1] in (("install",), ("upgrade",)) else []
    return subprocess.run(
        [str(cp.bin_dir / "helm"), *args, *adopt],
        capture_output=True,
        text=True,
        env=cp.env(),
        timeout=120,
        check=False,
    )
