"""Fixtures for the browser tests: one JupyterLab server and one Chromium per session.

Without Debian's Chromium at /usr/bin/chromium (``COURSE_CHROMIUM`` overrides the path) or
without playwright, the browser tests skip with a reason that ``pytest -ra`` prints; the
server start-up tests still run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import labdriver
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

SKIP_REASON = (
    f"Chromium not found at {labdriver.CHROMIUM}: browser tests skipped (apt-get install -y chromium)"
)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium; skips the test when it is not installed."""
    if not labdriver.CHROMIUM.is_file():
        pytest.skip(SKIP_REASON)
    pytest.importorskip(
        "playwright.sync_api",
        reason="playwright is not installed: browser tests skipped (pip install -e '.[test]')",
    )
    return labdriver.CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium: Path) -> Iterator[Browser]:
    """Headless Chromium driven by playwright, for the whole session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = labdriver.launch_browser(playwright, executable=chromium)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[labdriver.LabServer]:
    """JupyterLab serving a temporary copy of notebooks/ in the smoke profile."""
    server = labdriver.start_lab(tmp_path_factory.mktemp("lab"))
    yield server
    labdriver.stop_process(server.process)


@pytest.fixture
def page(browser: Browser, lab_server: labdriver.LabServer) -> Iterator[Page]:
    """A fresh browser page; its kernels are shut down afterwards."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()
    labdriver.shutdown_kernels(lab_server)
