"""The environment explorer as a Voila page in headless Chromium, with the network cut off.

The tests run in file order on one page. The page loads and shows a summary
and charts, and a new load multiplier changes both. An invalid multiplier
shows a readable message. At the end, the page must have logged no errors and
requested nothing outside loopback except Voila's FontAwesome icon stylesheet.
"""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser

APP_PATH = "/voila/render/environment-explorer.ipynb"
# Voila starts a kernel, imports devsim, bundles the chart JavaScript and runs
# the first simulation before the page is complete.
FIRST_RENDER_TIMEOUT_MS = 120_000
UPDATE_TIMEOUT_MS = 30_000

SUMMARY = ".devsim-summary"
LATENCY_SVG = ".devsim-chart-latency svg.marks"
MULTIPLIER_INPUT = ".devsim-multiplier input"
SIMULATE = "button.devsim-simulate"
MESSAGE = ".devsim-message"
STATUS = ".devsim-status"

# Voila's page template links FontAwesome's CSS from a CDN for its icons.
FONTAWESOME = re.compile(r"font-?awesome", re.IGNORECASE)


@pytest.fixture(scope="module")
def explorer(open_offline_page, voila_url, tmp_path_factory):
    """Return ``(page, log)`` with the explorer loaded and its first run shown.

    A full-page screenshot of the first view is saved as explorer.png in a
    pytest temporary folder, for a person to look at.
    """
    page, log = open_offline_page(width=1280, height=1100)
    page.goto(voila_url + APP_PATH, wait_until="domcontentloaded")
    page.wait_for_selector(f"{SUMMARY} table", timeout=FIRST_RENDER_TIMEOUT_MS)
    page.wait_for_selector(LATENCY_SVG, timeout=FIRST_RENDER_TIMEOUT_MS)
    page.screenshot(path=str(tmp_path_factory.mktemp("screenshots") / "explorer.png"), full_page=True)
    return page, log


def run_with_multiplier(page, value: str) -> None:
    page.fill(MULTIPLIER_INPUT, value)
    # The text box sends its value to the kernel on Enter.
    page.press(MULTIPLIER_INPUT, "Enter")
    page.click(SIMULATE)


def test_explorer_shows_summary_and_charts(explorer):
    page, _log = explorer
    summary = page.inner_text(SUMMARY)
    assert "p95 latency" in summary
    assert "production" in summary
    assert "load × 3" in summary
    for name in ("latency", "errors", "replicas", "cost"):
        assert page.locator(f".devsim-chart-{name} svg.marks").count() == 1, f"{name} chart has no SVG"


def test_simulate_updates_summary_and_chart(explorer):
    page, _log = explorer
    old_summary = page.inner_text(SUMMARY)
    old_chart = page.inner_html(LATENCY_SVG)

    run_with_multiplier(page, "1.5")

    page.wait_for_function(
        "([selector, old]) => document.querySelector(selector).innerText !== old",
        arg=[SUMMARY, old_summary],
        timeout=UPDATE_TIMEOUT_MS,
    )
    page.wait_for_function(
        "([selector, old]) => { const svg = document.querySelector(selector); return svg && svg.innerHTML !== old; }",
        arg=[LATENCY_SVG, old_chart],
        timeout=UPDATE_TIMEOUT_MS,
    )
    new_summary = page.inner_text(SUMMARY)
    assert "load × 1.5" in new_summary
    assert "load × 3" not in new_summary
    assert page.inner_text(STATUS).startswith("Done")


def test_invalid_multiplier_shows_message(explorer):
    page, _log = explorer
    summary_before = page.inner_text(SUMMARY)

    run_with_multiplier(page, "0")

    page.wait_for_selector(f"{MESSAGE} :text('Cannot simulate')", timeout=UPDATE_TIMEOUT_MS)
    message = page.inner_text(MESSAGE)
    assert "load multiplier must be greater than zero" in message
    assert page.inner_text(STATUS) == "Invalid settings"
    assert page.inner_text(SUMMARY) == summary_before, "a rejected run must leave the last summary in place"
    assert "Traceback" not in page.inner_text("body")


def test_message_clears_after_valid_run(explorer):
    page, _log = explorer
    run_with_multiplier(page, "2")

    page.wait_for_function(
        "(selector) => document.querySelector(selector).innerText.includes('load × 2,')",
        arg=SUMMARY,
        timeout=UPDATE_TIMEOUT_MS,
    )
    assert page.inner_text(MESSAGE).strip() == ""


def test_page_needs_no_network(explorer):
    _page, log = explorer
    unexpected = [url for url in log.blocked if not FONTAWESOME.search(url)]
    assert unexpected == [], f"the page requested hosts outside loopback: {unexpected}"


def test_page_logs_no_errors(explorer):
    _page, log = explorer
    # A blocked FontAwesome request logs "Failed to load resource" with its URL.
    errors = [error for error in log.errors if not FONTAWESOME.search(error)]
    assert errors == [], "errors in the browser console:\n" + "\n".join(errors)
