"""The autoscaling comparison app as a Voila page in headless Chromium, with the network cut off.

The tests run in file order on one page. The page loads with a comparison of
NYC taxi week 4 at a 120 s startup delay, a 900 s startup delay changes the
table, and an invalid rate multiplier shows a readable message. At the end,
the page must have logged no errors and requested nothing outside loopback
except Voila's FontAwesome icon stylesheet.
"""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser

APP_PATH = "/voila/render/autoscaling-comparison.ipynb"
# Voila starts a kernel, imports devsim, bundles the chart JavaScript and runs
# the first comparison (three policies on one week of trace) before the page is complete.
FIRST_RENDER_TIMEOUT_MS = 120_000
UPDATE_TIMEOUT_MS = 60_000

RESULTS = ".devsim-results"
RESULTS_TABLE = ".devsim-results table.devsim-results-table"
REPLICAS_SVG = ".devsim-chart-replicas svg.marks"
MULTIPLIER_INPUT = ".devsim-rate-multiplier input"
STARTUP_SELECT = ".devsim-startup-delay select"
COMPARE = "button.devsim-compare"
MESSAGE = ".devsim-message"
STATUS = ".devsim-status"
HPA_AFTER_WARMUP = '.devsim-results td[data-policy="hpa"][data-key="violations_after_warmup"]'

# Voila's page template links FontAwesome's CSS from a CDN for its icons.
FONTAWESOME = re.compile(r"font-?awesome", re.IGNORECASE)


@pytest.fixture(scope="module")
def comparison_page(open_offline_page, voila_url, tmp_path_factory):
    """Return ``(page, log)`` with the app loaded and its first comparison shown.

    A full-page screenshot of the first view is saved as autoscaling.png in a
    pytest temporary folder, for a person to look at.
    """
    page, log = open_offline_page(width=1280, height=1300)
    page.goto(voila_url + APP_PATH, wait_until="domcontentloaded")
    page.wait_for_selector(RESULTS_TABLE, timeout=FIRST_RENDER_TIMEOUT_MS)
    page.wait_for_selector(REPLICAS_SVG, timeout=FIRST_RENDER_TIMEOUT_MS)
    page.screenshot(path=str(tmp_path_factory.mktemp("screenshots") / "autoscaling.png"), full_page=True)
    return page, log


def wait_for_new_results(page, old_text: str) -> None:
    page.wait_for_function(
        "([selector, old]) => { const node = document.querySelector(selector); "
        "return node && node.innerText !== old && node.querySelector('table'); }",
        arg=[RESULTS, old_text],
        timeout=UPDATE_TIMEOUT_MS,
    )


def test_app_shows_table_and_charts(comparison_page):
    page, _log = comparison_page
    results = page.inner_text(RESULTS)
    assert "week 4 of the test part" in results
    assert "startup delay 120 s" in results
    for policy in ("manual", "hpa", "predictive"):
        assert page.locator(f'.devsim-results tr[data-policy="{policy}"]').count() == 1, policy
    for name in ("replicas", "cost", "violations"):
        assert page.locator(f".devsim-chart-{name} svg.marks").count() == 1, f"{name} chart has no SVG"


def test_startup_delay_changes_table(comparison_page):
    page, _log = comparison_page
    old_results = page.inner_text(RESULTS)
    old_hpa = page.inner_text(HPA_AFTER_WARMUP)
    old_chart = page.inner_html(REPLICAS_SVG)

    page.select_option(STARTUP_SELECT, label="900 s")
    page.click(COMPARE)

    wait_for_new_results(page, old_results)
    page.wait_for_function(
        "([selector, old]) => { const svg = document.querySelector(selector); return svg && svg.innerHTML !== old; }",
        arg=[REPLICAS_SVG, old_chart],
        timeout=UPDATE_TIMEOUT_MS,
    )
    new_results = page.inner_text(RESULTS)
    assert "startup delay 900 s" in new_results
    assert "startup delay 120 s" not in new_results
    # A slower start leaves the reactive HPA behind the morning ramps for longer.
    assert int(page.inner_text(HPA_AFTER_WARMUP).replace(",", "")) > int(old_hpa.replace(",", ""))
    assert page.inner_text(STATUS).startswith("Done")


def test_invalid_multiplier_shows_message(comparison_page):
    page, _log = comparison_page
    results_before = page.inner_text(RESULTS)

    page.fill(MULTIPLIER_INPUT, "0")
    # The text box sends its value to the kernel on Enter.
    page.press(MULTIPLIER_INPUT, "Enter")
    page.click(COMPARE)

    page.wait_for_selector(f"{MESSAGE} :text('Cannot compare')", timeout=UPDATE_TIMEOUT_MS)
    assert "rate multiplier must be greater than zero" in page.inner_text(MESSAGE)
    assert page.inner_text(STATUS) == "Invalid settings"
    assert page.inner_text(RESULTS) == results_before, "a rejected comparison must leave the last table in place"
    assert "Traceback" not in page.inner_text("body")


def test_message_clears_after_valid_run(comparison_page):
    page, _log = comparison_page
    results_before = page.inner_text(RESULTS)
    page.fill(MULTIPLIER_INPUT, "20")
    page.press(MULTIPLIER_INPUT, "Enter")
    page.click(COMPARE)

    wait_for_new_results(page, results_before)
    assert "× 20," in page.inner_text(RESULTS)
    assert page.inner_text(MESSAGE).strip() == ""


def test_page_needs_no_network(comparison_page):
    _page, log = comparison_page
    unexpected = [url for url in log.blocked if not FONTAWESOME.search(url)]
    assert unexpected == [], f"the page requested hosts outside loopback: {unexpected}"


def test_page_logs_no_errors(comparison_page):
    _page, log = comparison_page
    # A blocked FontAwesome request logs "Failed to load resource" with its URL.
    errors = [error for error in log.errors if not FONTAWESOME.search(error)]
    assert errors == [], "errors in the browser console:\n" + "\n".join(errors)
