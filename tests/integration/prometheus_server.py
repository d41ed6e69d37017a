"""A real Prometheus (Debian's package, installed by hack/test.sh) on loopback, scraping the
targets a test names every second."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from nodewave.localcluster.controlplane import free_port
from tests.conftest import wait_for


def query(address: str, expr: str) -> dict[str, Any]:
    """The API's answer to an instant query (status, data or error)."""
    url = f"{address}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]
    except urllib.error.HTTPError as e:  # 400 for a bad expression: its body says why
        body = e.read()
        try:
            return json.loads(body)  # type: ignore[no-any-return]
        except ValueError:  # 503 in plain text while it starts (seen under CI load)
            return {"status": "error", "error": f"{e.code}: {body[:200]!r}"}


@contextmanager
def run_prometheus(
    workdir: Path, targets: dict[str, str], rules: list[dict[str, Any]] | None = None
) -> Iterator[str]:
    """Prometheus scraping `targets` (scrape job name → host:port) and evaluating alerting
    `rules` (one group, every second); yields its address once every target has been scraped."""
    binary = shutil.which("prometheus")
    assert binary, (
        "prometheus is not installed: run the tests through `make test` (hack/test.sh installs it)"
    )
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            # honor_labels, as the chart's ServiceMonitor sets it: a series' own namespace wins.
            {"job_name": name, "honor_labels": True, "static_configs": [{"targets": [target]}]}
            for name, target in targets.items()
        ],
    }
    if rules:
        (workdir / "rules.yml").write_text(
            yaml.safe_dump({"groups": [{"name": "test", "interval": "1s", "rules": rules}]})
        )
        config["rule_files"] = [str(workdir / "rules.yml")]
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    address = f"http://127.0.0.1:{free_port()}"
    with open(workdir / "prometheus.log", "wb") as log:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address={address.removeprefix('http://')}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

        def scraped() -> bool:
            try:
                up = query(address, "up == 1")
            except OSError:
                return False
            return len(up.get("data", {}).get("result", [])) == len(targets)

        try:
            wait_for(scraped, 60, f"Prometheus scraping {sorted(targets)}")
            yield address
        finally:
            proc.terminate()
            proc.wait(10)
