"""The rollout simulator as a Voila page in headless Chromium, with the network cut off.

The tests run in file order on one page. The page loads with a rolling update
of a good release and shows a summary and three charts. Deploying the
crash-loop release instead changes the summary and the charts. maxSurge and
maxUnavailable both 0 show the simulator's message, not a traceback. At the
end, the page must have logged no errors and requested nothing outside
loopback except Voila's FontAwesome icon stylesheet.
"""

from __future__ import annotations

import re

import pytest

from devsim.rollouts import RELEASE_DESCRIPTIONS

pytestmark = pytest.mark.browser

APP_PATH = "/voila/render/rollout-simulator.ipynb"
# Voila starts a kernel, imports devsim, bundles the chart JavaScript and runs
# the first rollout before the page is complete.
FIRST_RENDER_TIMEOUT_MS = 120_000
UPDATE_TIMEOUT_MS = 30_000

SUMMARY = ".devsim-summary"
MESSAGE = ".devsim-message"
STATUS = ".devsim-status"
SIMULATE = "button.devsim-simulate"
RELEASE_SELECT = ".devsim-release select"
MAX_SURGE_INPUT = ".devsim-max-surge input"
MAX_UNAVAILABLE_INPUT = ".devsim-max-unavailable input"
TIMELINE_SVG = ".devsim-chart-timeline svg.marks"
ERRORS_SVG = ".devsim-chart-errors svg.marks"

# Voila's page template links FontAwesome's CSS from a CDN for its icons.
FONTAWESOME = re.compile(r"font-?awesome", re.IGNORECASE)


@pytest.fixture(scope="module")
def simulator(open_offline_page, voila_url, tmp_path_factory):
    """Return ``(page, log)`` with the simulator loaded and its first rollout shown.

    A full-page screenshot of the first view is saved as rollout-simulator.png
    in a pytest temporary folder, for a person to look at.
    """
    page, log = open_offline_page(width=1280, height=1900)
    page.goto(voila_url + APP_PATH, wait_until="domcontentloaded")
    page.wait_for_selector(f"{SUMMARY} table", timeout=FIRST_RENDER_TIMEOUT_MS)
    for selector in (TIMELINE_SVG, ERRORS_SVG):
        page.wait_for_selector(selector, timeout=FIRST_RENDER_TIMEOUT_MS)
    page.screenshot(path=str(tmp_path_factory.mktemp("screenshots") / "rollout-simulator.png"), full_page=True)
    return page, log


def fill_and_send(page, selector: str, value: str) -> None:
    page.fill(selector, value)
    # The text box sends its value to the kernel on Enter at the latest.
    page.press(selector, "Enter")


def wait_for_change(page, selector: str, old: str, html: bool = False) -> None:
    prop = "innerHTML" if html else "innerText"
    page.wait_for_function(
        f"([selector, old]) => {{ const node = document.querySelector(selector); return node && node.{prop} !== old; }}",
        arg=[selector, old],
        timeout=UPDATE_TIMEOUT_MS,
    )


def test_simulator_shows_summary_and_charts(simulator):
    page, _log = simulator
    summary = page.inner_text(SUMMARY)
    assert "failed requests during the rollout" in summary
    assert "0 of" in summary
    assert "good release" in summary
    for name in ("timeline", "traffic", "errors"):
        assert page.locator(f".devsim-chart-{name} svg.marks").count() == 1, f"{name} chart has no SVG"
    assert page.inner_text(STATUS).startswith("Done")


def test_crash_loop_updates_summary_and_chart(simulator):
    page, _log = simulator
    old_summary = page.inner_text(SUMMARY)
    old_timeline = page.inner_html(TIMELINE_SVG)

    page.select_option(RELEASE_SELECT, label=f"crash-loop: {RELEASE_DESCRIPTIONS['crash-loop']}")
    page.click(SIMULATE)

    wait_for_change(page, SUMMARY, old_summary)
    wait_for_change(page, TIMELINE_SVG, old_timeline, html=True)
    summary = page.inner_text(SUMMARY)
    assert "crash-loop release" in summary
    assert "good release" not in summary
    assert "crash loop" in summary
    assert re.search(r"yes, \d+ s after the start", summary), summary
    assert page.inner_text(STATUS).startswith("Done")


def test_both_limits_zero_shows_message(simulator):
    page, _log = simulator
    summary_before = page.inner_text(SUMMARY)

    fill_and_send(page, MAX_SURGE_INPUT, "0")
    fill_and_send(page, MAX_UNAVAILABLE_INPUT, "0")
    page.click(SIMULATE)

    page.wait_for_selector(f"{MESSAGE} :text('Cannot simulate')", timeout=UPDATE_TIMEOUT_MS)
    message = page.inner_text(MESSAGE)
    assert "maxSurge" in message
    assert "both 0" in message
    assert "raise one of them" in message
    assert page.inner_text(STATUS) == "Invalid settings"
    assert page.inner_text(SUMMARY) == summary_before, "a rejected run must leave the last summary in place"
    assert "Traceback" not in page.inner_text("body")


def test_message_clears_after_valid_run(simulator):
    page, _log = simulator
    old_summary = page.inner_text(SUMMARY)
    fill_and_send(page, MAX_SURGE_INPUT, "1")
    page.click(SIMULATE)

    wait_for_change(page, SUMMARY, old_summary)
    assert "maxSurge 1, maxUnavailable 0" in page.inner_text(SUMMARY)
    assert page.inner_text(MESSAGE).strip() == ""


def test_page_needs_no_network(simulator):
    _page, log = simulator
    unexpected = [url for url in log.blocked if not FONTAWESOME.search(url)]
    assert unexpected == [], f"the page requested hosts outside loopback: {unexpected}"


def test_page_logs_no_errors(simulator):
    _page, log = simulator
    # A blocked FontAwesome request logs "Failed to load resource" with its URL.
    errors = [error for error in log.errors if not FONTAWESOME.search(error)]
    assert errors == [], "errors in the browser console:\n" + "\n".join(errors)
