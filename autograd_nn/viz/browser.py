"""Headless Chromium for the graph page: how its tests, its load benchmark and the docs' screenshot
(docs/make_drawings.py) open it. Needs the ``browser`` extra (selenium) and Debian's ``chromium`` and
``chromium-driver``.

The flags keep Chromium offline and quiet: on a machine without a network its background connections
(component updates, sync, first-run pages) would only be refused.
"""

from __future__ import annotations

import shutil
from pathlib import Path

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"  # where Debian installs them
OFFLINE_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def chromium_paths() -> tuple[str, str] | None:
    """(Chromium, its driver) from PATH or Debian's places, or None when either is missing."""
    chromium = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    driver = shutil.which("chromedriver") or (CHROMEDRIVER if Path(CHROMEDRIVER).exists() else None)
    return (chromium, driver) if chromium and driver else None


def headless_chromium(
    profile: str | Path, *, window: tuple[int, int] = (1400, 900), hide_scrollbars: bool = False
):
    """A selenium driver for headless Chromium with a fresh ``profile`` folder; its console log is readable
    (``get_log("browser")``). ImportError without selenium, FileNotFoundError without Chromium."""
    from selenium import webdriver  # the browser extra: imported only here
    from selenium.webdriver.chrome.service import Service

    paths = chromium_paths()
    if paths is None:
        raise FileNotFoundError(
            "Chromium and its driver are not installed (apt-get install chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for argument in (*OFFLINE_FLAGS, f"--user-data-dir={profile}", f"--window-size={window[0]},{window[1]}"):
        options.add_argument(argument)
    if hide_scrollbars:
        options.add_argument("--hide-scrollbars")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(paths[1]), options=options)
