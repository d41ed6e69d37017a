"""Headless Chromium for the dashboard's browser test and benchmark: Debian's `chromium`, driven
by Selenium through Debian's `chromedriver` (the same version by construction; installed by
hack/lib.sh `ensure_browser`). Selenium is a development dependency, imported here only."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from nodewave.localcluster.controlplane import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


class BrowserError(RuntimeError):
    """The dashboard could not be shown or captured."""


def start_chromium(width: int, height: int) -> Any:
    """A headless Chromium window of that size (a `selenium.webdriver.Chrome`; quit() it)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    # --no-sandbox: the tests run as root, where Chromium's sandbox cannot start.
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}"):  # fmt: skip
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def capture_dashboard(
    env: dict[str, str], namespace: str, job: str, png: Path, timeout: float = 30
) -> None:
    """Open `kubectl nodewave dashboard` on a Job's node map and save it as a PNG, once the
    map is drawn and the page shows what the cluster says (the demo's picture for the docs)."""
    from selenium.webdriver.common.by import By

    server = subprocess.Popen(
        [sys.executable, "-m", "nodewave.cli.plugin", "dashboard", "-n", namespace,
         "--port", str(free_port())],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    browser = None
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line.startswith("nodewave dashboard: http://127.0.0.1:"):
            raise BrowserError(f"kubectl nodewave dashboard did not start: {line.strip()}")
        url = line.split()[2]
        browser = start_chromium(1100, 900)
        browser.get(f"{url}#/{quote(namespace)}/{quote(job)}")  # the page's route to a Job's map
        phase = json.loads(
            subprocess.run(["kubectl", "get", "nwj", job, "-n", namespace, "-o", "json"],
                           env=env, capture_output=True, text=True, check=True).stdout
        )["status"]["rollout"]["phase"]  # fmt: skip
        _wait(lambda: browser.execute_script("return Object.keys(window.nodewave.cells).length")
              and browser.find_element(By.ID, "phase").text == phase, timeout, "the node map")  # fmt: skip
        png.parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(png))
    finally:
        if browser is not None:
            browser.quit()
        server.terminate()
        server.wait(10)


def _wait(ready: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise BrowserError(f"the dashboard: {what} not shown within {timeout:.0f}s")
        time.sleep(0.2)
