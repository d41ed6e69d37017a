"""`kubectl nodewave dashboard` in a real browser (Debian's headless Chromium, driven by
Selenium with Debian's chromedriver), during a live canary on the real control plane: the
canary's cells change state as the operator moves them, Promote is clicked, and the rollout
is seen to the end. The node map's screenshot is saved to artifacts/dashboard.png (the README
shows a copy, docs/images/dashboard.png)."""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from nodewave.localcluster.browser import start_chromium
from nodewave.localcluster.controlplane import REPO_ROOT, ControlPlane, free_port
from nodewave.localcluster.operator import OperatorProcess
from tests.conftest import wait_for
from tests.integration.jobs import apply_job, phase, rolling_job, settle_v1

ARTIFACTS = REPO_ROOT / "artifacts"
ZONES = {f"dash-{z}{i}": {"suite": "dash", "topology.kubernetes.io/zone": f"zone-{z}"}
         for z in "abc" for i in range(4)}  # fmt: skip


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    driver = start_chromium(1100, 420)
    yield driver
    driver.quit()


@pytest.fixture
def dashboard(cluster: ControlPlane, namespace: str) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        ["kubectl", "nodewave", "dashboard", "-n", namespace, "--port", str(port)],
        env=cluster.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    with proc, proc.stdout:
        try:
            line = proc.stdout.readline()
            assert line.startswith(f"nodewave dashboard: http://127.0.0.1:{port}/?token="), line
            yield line.split()[2]
        finally:
            proc.terminate()
            proc.wait(10)


def cells(browser: webdriver.Chrome) -> dict[str, Any]:
    return dict(browser.execute_script("return window.nodewave.cells"))


def text_of(browser: webdriver.Chrome, element: str) -> str:
    return str(browser.find_element(By.ID, element).text)


def test_the_dashboard_follows_a_live_canary_and_promotes_it(
    cluster: ControlPlane,
    operator: OperatorProcess,
    namespace: str,
    dashboard: str,
    browser: webdriver.Chrome,
) -> None:
    cluster.add_nodes(ZONES)
    cluster.wait_nodes_ready(ZONES)
    canary = {"strategy": "Canary", "canaryCount": 2, "maxParallel": 50,
              "topologyKey": "topology.kubernetes.io/zone"}  # fmt: skip
    spec = rolling_job("dash", "1", canary)
    spec["rollout"]["healthCheck"].update({"intervalSeconds": 2, "successThreshold": 2})
    settle_v1(cluster, namespace, "agent", spec, sorted(ZONES))

    # The Jobs list, then the Job's node map: two domains, version 1 everywhere.
    browser.get(dashboard)
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "tr.job"), 15, "the Jobs list")
    browser.find_element(By.CSS_SELECTOR, "tr.job a").click()
    wait_for(lambda: len(cells(browser)) == 12, 15, "the node map drawn")
    domains = [h.text for h in browser.find_elements(By.CSS_SELECTOR, ".domain h2")]
    assert domains == ["zone-a · 4 nodes", "zone-b · 4 nodes", "zone-c · 4 nodes"]
    assert {c["version"] for c in cells(browser).values()} == {1}

    # Version 2: the canary's two cells go through their states live, in zone-a.
    spec2 = rolling_job("dash", "2", canary)
    spec2["rollout"]["healthCheck"].update({"intervalSeconds": 2, "successThreshold": 2})
    apply_job(cluster, namespace, "agent", spec2)
    seen: dict[str, list[str]] = {}

    def canary_settled() -> bool:
        for node, cell in cells(browser).items():
            if cell["version"] == 2 and seen.get(node, [None])[-1] != cell["state"]:
                seen.setdefault(node, []).append(cell["state"])
        done = [states[-1] for states in seen.values()] == ["Running", "Running"]
        return done and text_of(browser, "phase") == "AwaitingPromotion"

    wait_for(canary_settled, 60, "the canary Running and awaiting its promotion", interval=0.1)
    assert len(seen) == 2, seen
    assert all(node.startswith("dash-a") for node in seen), "the canary lies in the first zone"
    for states in seen.values():
        assert states[-1] == "Running", seen
        assert "Validating" in states, f"the health windows were not shown: {seen}"
    canary_cells = browser.find_elements(By.CSS_SELECTOR, ".cell.s-Running:not(.old)")
    assert len(canary_cells) == 2
    assert all(c.text == "1" for c in canary_cells)  # wave 1
    planned = sorted(c["plannedWave"] for c in cells(browser).values() if "plannedWave" in c)
    assert planned == [2, 2, 3, 3, 3, 3, 4, 4, 4, 4]  # the rest of zone-a, then a zone a wave
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))

    # Promote, from the page: the rollout goes on and finishes.
    browser.find_element(By.CSS_SELECTOR, 'button[data-action="promote"]').click()
    wait_for(lambda: "promoted" in text_of(browser, "action-result"), 15, "the promote answer")
    wait_for(lambda: text_of(browser, "phase") == "Completed", 90, "the page to show Completed")
    assert phase(cluster, namespace, "agent") == "Completed"
    assert {(c["version"], c["state"]) for c in cells(browser).values()} == {(2, "Running")}
    waves = sorted(c["wave"] for c in cells(browser).values())
    assert waves == [1, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4], waves

    # Live from the event stream: the only request the page made besides its own files and
    # streams is the promote.
    requests = browser.execute_script(
        "return performance.getEntriesByType('resource')"
        ".filter(e => ['fetch', 'xmlhttprequest'].includes(e.initiatorType)).map(e => e.name)"
    )
    assert [r.rsplit("/", 1)[-1] for r in requests] == ["promote"]
    assert browser.execute_script("return window.nodewave.firstPaintMs") is not None


def test_the_page_streams_and_writes_need_the_token_and_only_local_hosts_are_answered(
    cluster: ControlPlane, namespace: str, dashboard: str
) -> None:
    def status(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> int:
        request = urllib.request.Request(url, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return int(r.status)  # a stream's headers are enough: closed unread
        except urllib.error.HTTPError as e:
            return e.code

    base, token = dashboard.split("?token=")
    # Reads: another user of the machine, or a page guessing, gets nothing without the token.
    for path in ("", "events/jobs", f"events/jobs/{namespace}/agent"):
        assert status(f"{base}{path}") == 403, path
        assert status(f"{base}{path}?token=guess") == 403, path
        assert status(f"{base}{path}?token={token}") == 200, path
    assert status(f"{base}app.js") == 200  # the page's code holds nothing of the user's
    url = f"{base}api/jobs/{namespace}/agent/abort"
    assert status(url, "POST") == 403  # a cross-site form cannot send the token
    assert status(url, "POST", {"X-Nodewave-Token": "guess"}) == 403
    assert status(dashboard, "POST", {"Host": "evil.example:3100"}) == 403  # DNS rebinding
