"""The chart's values.yaml says what the code does: the names it gives are the code's."""

from __future__ import annotations

from nodewave.kube.leader import LEASE_NAME
from nodewave.localcluster.controlplane import REPO_ROOT

VALUES = (REPO_ROOT / "charts" / "nodewave" / "values.yaml").read_text()
NOTES = (REPO_ROOT / "charts" / "nodewave" / "templates" / "NOTES.txt").read_text()


def test_the_lease_named_in_the_values_and_notes_is_the_operators() -> None:
    assert f"the Lease {LEASE_NAME} in the release's namespace" in VALUES
    assert f"get lease {LEASE_NAME}" in NOTES
    assert "<release>-operator" not in VALUES
