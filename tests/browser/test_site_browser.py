"""The course's web site in headless Chromium: pages load cleanly, figures show, search works.

The site is the one the ``built_site`` fixture (tests/conftest.py) builds from notebooks it
executes; it is served from 127.0.0.1, as GitHub Pages would serve it, with every request to
anywhere else refused, so the test proves the site needs no network. Screenshots go to
build/screenshots/site_*.png.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import labdriver
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.timeout(300)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base's name)
        pass


@pytest.fixture(scope="module")
def site_url(built_site: dict) -> Iterator[str]:
    """The built site served on a free local port for this module."""
    handler = functools.partial(_QuietHandler, directory=str(built_site["site"]))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def site_page(browser: Browser, site_url: str) -> Iterator[Page]:
    """A page that records console errors, page errors and any request that leaves 127.0.0.1."""
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}"))

    def only_local(route) -> None:
        if route.request.url.startswith(site_url):
            route.continue_()
        else:
            problems.append(f"request to another site: {route.request.url}")
            route.abort()

    page.route("**/*", only_local)
    page.problems = problems  # type: ignore[attr-defined]
    yield page
    context.close()


def settle(page: Page, url: str) -> None:
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")


def images(page: Page) -> list[dict]:
    """Every image in the page's article: its source and natural size once loaded."""
    return page.evaluate("""() => Promise.all([...document.querySelectorAll('article img')].map(
        img => (img.complete ? Promise.resolve() : new Promise(r => { img.onload = img.onerror = r; }))
            .then(() => ({src: img.getAttribute('src'), w: img.naturalWidth, h: img.naturalHeight}))))""")


def test_landing_page_loads_without_errors(site_page: Page, site_url: str) -> None:
    settle(site_page, f"{site_url}/index.html")
    assert "PyTorch image classification" in site_page.title()
    nav = site_page.locator("nav.bd-links a").all_inner_texts()
    assert any("Alpha lesson" in t for t in nav) and any("Course results" in t for t in nav), nav
    labdriver.screenshot(site_page, "site_landing")
    assert site_page.problems == []  # type: ignore[attr-defined]


def test_lesson_page_shows_its_figures(site_page: Page, site_url: str, built_site: dict) -> None:
    settle(site_page, f"{site_url}/notebooks/01_alpha.html")
    shown = images(site_page)
    assert len(shown) == 2 and all(i["w"] > 0 and i["h"] > 0 for i in shown), shown
    assert site_page.get_by_text("Open in Colab").count() == 1
    next_link = site_page.locator("a.right-next")
    assert "Beta lesson" in next_link.inner_text()  # navigation to the next lesson
    labdriver.screenshot(site_page, "site_lesson")
    site_page.screenshot(path=str(labdriver.SCREENSHOTS / "site_lesson_full.png"), full_page=True)
    settle(site_page, f"{site_url}/notebooks/02_beta.html")
    explorer = images(site_page)
    assert len(explorer) == 1 and explorer[0]["w"] > 300, explorer  # the explorer's still picture
    site_page.get_by_text("Its controls need a running Python kernel").scroll_into_view_if_needed()
    labdriver.screenshot(site_page, "site_explorer")
    assert site_page.problems == []  # type: ignore[attr-defined]


def test_search_finds_a_word_of_the_lesson(site_page: Page, site_url: str, built_site: dict) -> None:
    settle(site_page, f"{site_url}/search.html?q={built_site['word']}")
    results = site_page.locator("#search-results ul.search li")
    results.first.wait_for()
    assert results.count() == 1
    assert "Alpha lesson" in results.first.inner_text()
    labdriver.screenshot(site_page, "site_search")
    assert site_page.problems == []  # type: ignore[attr-defined]
