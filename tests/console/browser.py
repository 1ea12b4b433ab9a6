"""Headless Chromium (Debian's, never a downloaded one) driven by Playwright, kept on loopback, with
axe-core's accessibility check and the screenshots docs/console/ shows."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        # Names resolve to nothing: the pages under test reach loopback only.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]
AXE = Path(__file__).parent / "oidc" / "node_modules" / "axe-core" / "axe.min.js"
# The tests take every page's screenshot; they replace docs/console/'s only when asked, so `make test`
# leaves the checkout clean: UPDATE_CONSOLE_SCREENSHOTS=1 pytest tests/console/test_e2e.py
DOCS_SHOTS = Path(__file__).parents[2] / "docs" / "console"
SHOTS = DOCS_SHOTS if os.environ.get("UPDATE_CONSOLE_SCREENSHOTS") == "1" else \
    Path(tempfile.gettempdir()) / "llmaas-console-screenshots"
VIEWPORT = {"width": 1440, "height": 900}


@contextmanager
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail("Chromium is not installed (Debian: apt-get install chromium; make test does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def _loopback_only(route: Route) -> None:
    # The provider's development pages link a web font: nothing leaves the machine.
    if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
        route.continue_()
    else:
        route.abort()


def person(browser: Browser) -> BrowserContext:
    """One person's browser: their own cookies, a laptop-sized window, loopback only."""
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.route("**/*", _loopback_only)
    return context


def accessible(page: Page) -> None:
    """axe-core on the page as it stands: no serious or critical violation."""
    page.evaluate(AXE.read_text() + "\n;0")  # evaluated by the browser's debugger, which CSP allows
    result: dict[str, Any] = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    bad = [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
           for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"{page.url}: {bad}"


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def sign_in(page: Page, site_url: str, *, email: str, login: str) -> None:
    """Through the console's login page and the provider's own sign-in and consent pages."""
    page.goto(f"{site_url}/console/")
    assert page.url.endswith("/console/login")
    page.get_by_label("Work e-mail address").fill(email)
    page.get_by_role("button", name="Continue").click()
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password")
    page.locator("button[type=submit]").click()
    page.get_by_role("button", name="Continue").click()  # the provider's consent page
    page.wait_for_url(f"{site_url}/console/")
