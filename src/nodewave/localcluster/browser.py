"""Headless Chromium for the dashboard's browser test and benchmark: Debian's `chromium`, driven
by Selenium through Debian's `chromedriver` (the same version by construction; installed by
hack/lib.sh `ensure_browser`). Selenium is a development dependency, imported here only."""

from __future__ import annotations

from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


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
