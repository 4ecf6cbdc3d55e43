"""Browser tests: Debian's Chromium driven by Playwright against a real server (static/dist built
by `./run test`). One browser per session; each test opens its own contexts (one per person)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from server.settings import PROJECT_ROOT
from tests.support import Clients, User

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    report: pytest.TestReport = yield
    if report.failed:
        item.stash[FAILED] = True
    return report


@pytest.fixture(scope="package")
def playwright(base_url: str) -> Iterator[Playwright]:
    # Playwright's sync API keeps an event loop running on this thread while it is open, so it
    # starts after the session's services (whose set-up uses asyncio.run) and stops with this
    # package, before other tests need the thread again.
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium (.ci/run does this)")
    if not (PROJECT_ROOT / "static" / "dist" / "index.html").exists():
        pytest.fail("The editor is not built: run `./run test` (or `npm run build` in static/)")
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    )
    yield browser
    browser.close()


class Pages:
    """Opens a signed-in page per person; on failure saves a screenshot of each page."""

    def __init__(self, browser: Browser, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.pages: list[tuple[str, Page]] = []
        self.errors: list[str] = []

    def open(self, user: User | None, path: str = "/", *, base_url: str = "") -> Page:
        """A page of a new browser context, signed in as `user` (on another server if given)."""
        base_url = base_url or self.base_url
        context = self.browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 800})
        context.set_default_timeout(8000)
        if user is not None:
            context.add_cookies(
                [{"name": name, "value": value, "url": base_url} for name, value in user.http.cookies.items()]
            )
        page = context.new_page()
        label = user.name if user else "anonymous"
        page.on("pageerror", lambda error: self.errors.append(f"{label}: {error}"))
        self.pages.append((label, page))
        page.goto(path)
        return page

    def close(self, failed: bool, test_name: str) -> None:
        if failed:
            ARTIFACTS.mkdir(exist_ok=True)
            for index, (label, page) in enumerate(self.pages):
                safe = re.sub(r"[^\w.-]+", "-", f"{test_name}-{index}-{label}")
                try:
                    page.screenshot(path=str(ARTIFACTS / f"{safe}.png"))
                except Exception as err:  # a crashed page cannot be photographed; say so and go on
                    print(f"no screenshot of {label}: {err}")
        for _, page in self.pages:
            page.context.close()


@pytest.fixture
def pages(browser: Browser, base_url: str, request: pytest.FixtureRequest) -> Iterator[Pages]:
    tracker = Pages(browser, base_url)
    yield tracker
    failed = request.node.stash.get(FAILED, False)
    tracker.close(failed, request.node.name)
    assert not tracker.errors, f"errors in the page: {tracker.errors}"


@pytest.fixture
def person(clients: Clients, base_url: str) -> Callable[[str], User]:
    """`person(name)`: a new account, signed in over HTTP (its cookie goes to its browser)."""
    return lambda name: clients.user(base_url, name)
