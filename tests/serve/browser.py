"""Headless Chromium for the web page's tests: waiting, and screenshots (the driver is the
``browser`` fixture of this folder's conftest)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("selenium")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REPO = Path(__file__).resolve().parents[2]

needs_chromium = pytest.mark.skipif(
    not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)),
    reason=f"needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER})")


def wait(driver: WebDriver, seconds: float, condition: Any, message: str) -> Any:
    return WebDriverWait(driver, seconds, poll_frequency=0.1).until(condition, message)


def text_of(driver: WebDriver, element_id: str) -> str:
    text: str = driver.find_element(By.ID, element_id).text
    return text


def save_screenshot(driver: WebDriver, tmp_path: Path, name: str, in_repo: bool) -> list[Path]:
    """The whole page, to the artifacts folder (and to test-artifacts/ in the repository)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": 1440, "height": max(900, min(int(height), 4000)), "deviceScaleFactor": 1,
        "mobile": False})
    artifacts = Path(os.environ.get("LORE_TEST_ARTIFACTS") or tmp_path)
    paths = [artifacts / name] + ([REPO / "test-artifacts" / name] if in_repo else [])
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(path)), path
    return paths
