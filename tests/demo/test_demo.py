"""The README's first command, as a newcomer runs it: `make demo ARGS="--real 2"` runs
hack/demo.sh, which is `make demo` with two real kubelet nodes beside the fake ones (the
examples run real containers there) and then rollouts decided by real containers; it also
takes the dashboard's picture the docs show (`--screenshot`).

It runs at whatever hour CI runs: kernel-update's maintenance window is open a few hours of
the week, and the demo judges by the clock what it must reach (WaitingForWindow and the next
opening, or Complete); tests/unit/test_demo_expectations.py pins both sides with fixed clocks.
A package of its own, so the test scheduler (tests/conftest.py) can run it beside the e2e
package rather than after it: its control plane and real nodes are its own.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from nodewave.localcluster.controlplane import REPO_ROOT
from nodewave.localcluster.expectations import EXPECTED

DEMO_TIMEOUT = 900


def test_make_demo_with_real_nodes_reaches_what_every_example_must(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            "bash",
            str(REPO_ROOT / "hack" / "demo.sh"),
            "--real",
            "2",
            "--screenshot",
            str(REPO_ROOT / "artifacts" / "demo-dashboard.png"),
        ],
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT,
        check=False,
    )
    out = done.stdout
    (tmp_path / "demo.log").write_text(out + "\n--- stderr\n" + done.stderr)
    assert done.returncode == 0, f"make demo failed:\n{out[-6000:]}\n{done.stderr[-3000:]}"
    # Every example was judged and reached what it must, each named once in the verdict.
    verdicts = dict(re.findall(r"^  ([a-z-]+) +(reached|NOT REACHED.*)$", out, re.M))
    assert verdicts == dict.fromkeys(EXPECTED, "reached")
    # The window's wait is shown with its opening, or the update ran inside it.
    assert re.search(
        r"^  kernel-update +(WaitingForWindow: .* opens at \S+ \(Europe/Berlin\); then|Complete: )",
        out,
        re.M,
    )
    # The gated example's gates were answered by the receiver, every call signed.
    heard = out.split("what the systems on loopback heard", 1)[1]
    for gate in ("ConfirmRollout (signed)", "ConfirmPromotion (signed)", "PreWave (signed)"):
        assert gate in heard
    assert "BAD SIGNATURE" not in heard
    # The chat was told how log-pipeline's rollouts ended.
    assert re.search(r"^  chat .*log-pipeline: version 2 rolled out", heard, re.M), heard
    assert re.search(r"^  chat .*log-pipeline: .*rolled back", heard, re.M), heard
    # The examples ran as they are on the real nodes too (the public images' stand-ins).
    pods = out.split("the examples' pods on the real nodes", 1)[1]
    for node in ("real-0", "real-1"):
        for job, state in (("log-pipeline", r"1/1\s+Running"),
                           ("disk-inventory", r"0/1\s+Completed"),
                           ("agent-update", r"0/1\s+Completed")):  # fmt: skip
            assert re.search(rf"^{job}-v1-{node}-\S+\s+{state}", pods, re.M), (job, node, pods)
    # The canary waited for its promote, and the dashboard's picture was taken then.
    assert "kubectl nodewave promote log-pipeline" in out
    png = (REPO_ROOT / "artifacts" / "demo-dashboard.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 20_000, "a node map, not a blank page"
    # Both rollouts on the real nodes ended as they must.
    real = out.split("a pipeline of real containers", 1)[1]
    assert "ready after 2 s" in real
    assert "it must roll back" in real
    assert "done in" in out
