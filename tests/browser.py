"""A real headless Chromium for page tests: Debian's `chromium` driven through its
`chromium-driver` by Selenium (never a downloaded browser or driver)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")
CHROMEDRIVER = Path(shutil.which("chromedriver") or "/usr/bin/chromedriver")
# the tests write their screenshots here when set (the README links those in docs/)
SCREENSHOTS = os.environ.get("FISHGATE_SCREENSHOTS")


def chromium(window: str = "1280,900") -> Iterator[object]:
    """A headless Chromium session, or a clean skip where Debian's chromium is not installed."""
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.skip(
            "Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={window}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: object, name: str, fallback: Path) -> Path:
    """Save a screenshot as NAME.png in $FISHGATE_SCREENSHOTS (or `fallback`); returns its path."""
    folder = Path(SCREENSHOTS) if SCREENSHOTS else fallback
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))  # type: ignore[attr-defined]
    return path


def canvas_has_pixels(driver: object, element_id: str) -> bool:
    """Whether the canvas has anything drawn on it (a non-transparent pixel)."""
    script = (
        "const c = document.getElementById(arguments[0]); if (!c) return false;"
        "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "for (let i = 3; i < d.length; i += 4) { if (d[i] !== 0) return true; } return false;"
    )
    return bool(driver.execute_script(script, element_id))  # type: ignore[attr-defined]


def severe_console_errors(driver: object) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]  # type: ignore[attr-defined]
