"""Run the operator as a separate process against a local control plane (tests, demo, bench).

A real process, so a test can kill -9 it mid-work and start a new one, as a node failure or an
OOM kill would in a cluster.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from nodewave.localcluster.controlplane import ControlPlane, free_port


class OperatorProcess:
    def __init__(
        self, cp: ControlPlane, log: Path, *args: str, kubeconfig: Path | None = None
    ) -> None:
        self.cp = cp
        self.log = log
        self.args = args
        self.kubeconfig = kubeconfig
        """Credentials other than the admin's (e.g. the chart's ServiceAccount)."""
        self.proc: subprocess.Popen[bytes] | None = None
        self.metrics_port = free_port()

    def start(self) -> None:
        env = self.cp.env()
        if self.kubeconfig is not None:
            env["KUBECONFIG"] = str(self.kubeconfig)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "nodewave",
                    "run",
                    "--liveness",
                    "",
                    "--metrics-address",
                    "127.0.0.1",
                    "--metrics-port",
                    str(self.metrics_port),
                    # The demo's and the tests' receivers listen on 127.0.0.1, which the
                    # egress policy refuses by default (loopback is the operator's own).
                    "--egress-allow",
                    "127.0.0.1/32",
                    *self.args,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL: no cleanup, no flushing — a crash."""
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stop(self, timeout: float = 10) -> None:
        if self.proc is None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self.proc = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_started(self, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.alive():
                raise RuntimeError(f"operator exited; log:\n{self.log.read_text()[-3000:]}")
            if self.log.exists() and "nodewave operator started" in self.log.read_text(
                errors="replace"
            ):
                return
            time.sleep(0.1)
        raise RuntimeError("operator did not start in time")
