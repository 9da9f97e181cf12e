"""Fixtures for browser tests: a Voila server on loopback and Debian's headless Chromium.

The Voila server serves ``voila/`` from this checkout on 127.0.0.1 and a free
port, with the kernel that each notebook's metadata names (``devsim``). Its log
goes to a file that failure messages quote. Chromium is driven by Playwright's
sync API through ``/usr/bin/chromium``; Playwright never downloads a browser here.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VOILA_START_TIMEOUT_S = 60
VOILA_STOP_TIMEOUT_S = 15
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _log_tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} not found: the browser tests need Debian's Chromium. Install it with "
            "`apt-get update && apt-get install -y chromium` (.ci/run installs it)."
        )
    return CHROMIUM


@pytest.fixture(scope="session")
def voila_url(tmp_path_factory) -> Iterator[str]:
    """Start Voila on 127.0.0.1 serving voila/, yield its base URL, and stop it with SIGTERM."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("voila") / "voila.log"
    command = [
        sys.executable,
        "-m",
        "voila",
        str(ROOT / "voila"),
        "--no-browser",
        "--Voila.ip=127.0.0.1",
        f"--port={port}",
    ]
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(process, base_url, log_path)
        yield base_url
    finally:
        _stop(process)


def _wait_until_serving(process: subprocess.Popen, base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + VOILA_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Voila exited with code {process.returncode} before serving; its log:\n{_log_tail(log_path)}")
        try:
            with urllib.request.urlopen(base_url + "/", timeout=2) as response:
                if response.status < 500:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    pytest.fail(f"Voila did not answer at {base_url} within {VOILA_START_TIMEOUT_S} s; its log:\n{_log_tail(log_path)}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=VOILA_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=VOILA_STOP_TIMEOUT_S)


@pytest.fixture(scope="session")
def chromium(chromium_path) -> Iterator:
    """Yield a headless Chromium browser launched through Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


class PageLog:
    """Requests blocked for leaving loopback, and console or page errors, of one page."""

    def __init__(self) -> None:
        self.blocked: list[str] = []
        self.errors: list[str] = []


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in LOOPBACK_HOSTS


@pytest.fixture(scope="module")
def open_offline_page(chromium) -> Iterator:
    """Yield a function that opens a page whose requests to hosts other than loopback are aborted.

    The function returns ``(page, log)``. Aborted URLs go to ``log.blocked`` and
    console errors and uncaught page errors to ``log.errors``. Pages close when
    the test module ends.
    """
    contexts = []

    def open_page(width: int = 1280, height: int = 1000):
        context = chromium.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        log = PageLog()

        def route(route, request):
            if request.url.startswith(("http://", "https://")) and not _is_loopback(request.url):
                log.blocked.append(request.url)
                route.abort()
            else:
                route.continue_()

        def on_console(message):
            if message.type == "error":
                location = (message.location or {}).get("url", "")
                log.errors.append(f"console error: {message.text} ({location})")

        page.route("**/*", route)
        page.on("console", on_console)
        page.on("pageerror", lambda error: log.errors.append(f"page error: {error}"))
        return page, log

    try:
        yield open_page
    finally:
        for context in contexts:
            context.close()
