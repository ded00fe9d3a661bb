"""Test-wide fixtures."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(autouse=True)
def _empty_cache():
    """Every test starts with empty caches: cached option lists and graphs hold row ids of
    other tests (ids are reused after a rolled-back test on SQLite)."""
    from workflow.services import forget_case_graphs

    cache.clear()
    forget_case_graphs()
    yield


@pytest.fixture(autouse=True)
def _no_running_event_loop(request: pytest.FixtureRequest) -> Iterator[None]:
    """Once a worker has run a browser test, Playwright's sync API leaves its event loop marked
    as running in the main thread (the browser lives for the session), and asyncio.run() — the
    gateway's and simulator's tests, the `gateway` and `gb26875 simulate` commands — refuses to
    start. Other tests run with the mark cleared; it is put back for the next browser test."""
    if request.node.get_closest_marker("browser"):
        yield
        return
    loop = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(None)
    try:
        yield
    finally:
        asyncio.events._set_running_loop(loop)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (its own browser download is not used)."""
    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is missing: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls here are test setup.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        instance = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--lang=zh-CN",  # date inputs and other browser chrome as our users see them
            ],
        )
        yield instance
        instance.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


def _close_and_drain(tab: Any) -> None:
    """Close a tab and wait until the live server has finished every request. With SQLite in
    memory the server shares the test's connection, and a request still finishing (a late
    static file, a keep-alive socket) would collide with the flush that ends the test."""
    try:
        tab.wait_for_load_state("networkidle", timeout=5_000)
    finally:
        tab.context.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(
        "process_request_thread" in t.name for t in threading.enumerate()
    ):
        time.sleep(0.02)


@pytest.fixture
def page(browser, live_server) -> Iterator[Any]:
    """A fresh browser tab in its own context, drained before the database is flushed."""
    tab = browser.new_page()
    yield tab
    _close_and_drain(tab)


@pytest.fixture
def phone_page(browser, live_server) -> Iterator[Any]:
    """Like `page`, with a phone-sized viewport."""
    tab = browser.new_page(viewport={"width": 390, "height": 844})
    yield tab
    _close_and_drain(tab)
