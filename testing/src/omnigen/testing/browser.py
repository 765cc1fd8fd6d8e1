"""A real browser for the web page's tests: Debian's headless Chromium driven through Debian's
chromedriver (both installed by scripts/install-system-deps.sh; nothing is downloaded at run
time), with the console log kept, and screenshots saved as test artifacts (also copied to
`out/screenshots/` when OMNIGEN_SCREENSHOTS is set)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@contextmanager
def chromium(profile: Path, size: tuple[int, int]) -> Iterator[webdriver.Chrome]:
    for path in (CHROMIUM, CHROMEDRIVER):
        assert os.access(path, os.X_OK), f"{path} missing: run scripts/install-system-deps.sh"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--autoplay-policy=no-user-gesture-required",
        f"--user-data-dir={profile}",
        f"--window-size={size[0]},{size[1]}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: WebDriver, check: Callable[[WebDriver], Any], timeout: float = 60) -> Any:
    """Wait for `check`; the default allows for a loaded host (a step usually takes under 1 s).
    An element the page redrew while `check` read it is read again at the next poll."""
    return WebDriverWait(
        driver, timeout, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,)
    ).until(check)


def text_of(driver: WebDriver, selector: str) -> str:
    """An element's text, read in one step (the page re-renders as a job moves on)."""
    return str(
        driver.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : ''",
            selector,
        )
    )


def console_errors(driver: webdriver.Chrome, expected: list[str]) -> list[str]:
    """SEVERE console entries, less those naming any of `expected` (e.g. the network line of a
    refusal the test provoked)."""
    entries: list[dict[str, Any]] = driver.execute("getLog", {"type": "browser"})["value"]
    return [
        entry["message"]
        for entry in entries
        if entry["level"] == "SEVERE" and not any(e in entry["message"] for e in expected)
    ]


class Shots:
    """Full-page screenshots named in order, under `folder`."""

    def __init__(self, driver: WebDriver, folder: Path) -> None:
        self.driver = driver
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def take(self, name: str) -> None:
        path = self.folder / f"{name}.png"
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        original = self.driver.get_window_size()
        tall = max(original["height"], min(int(height) + 140, 4000))
        self.driver.set_window_size(original["width"], tall)
        self.driver.save_screenshot(str(path))
        self.driver.set_window_size(original["width"], original["height"])
        if os.environ.get("OMNIGEN_SCREENSHOTS"):
            out = Path("out/screenshots")
            out.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, out / path.name)


def unlabelled_controls(driver: WebDriver) -> list[str]:
    """The page's visible form controls that have no label (a <label for>, a wrapping label or
    an aria-label): a screen reader could not name them."""
    found = driver.execute_script(
        "return [...document.querySelectorAll('input, select, textarea, button')]"
        ".filter(e => e.offsetParent !== null)"
        ".filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')"
        " && !(e.tagName === 'BUTTON' && e.textContent.trim()))"
        ".map(e => e.id || e.outerHTML.slice(0, 80))"
    )
    return [str(item) for item in found]
