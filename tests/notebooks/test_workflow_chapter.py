"""Execute chapter 3, the development workflow, and check the figures it records.

The chapter runs once per session (see ``conftest.py``) with ``SEED=1``.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="module")
def recorded(records) -> dict[str, Any]:
    return records("notebooks/03-development-workflow.ipynb")


# -- 3.2 inner loop -------------------------------------------------------------


def test_hot_reload_shortens_cycle(recorded):
    assert recorded["hot_cycle_s"] < recorded["restart_cycle_s"]
    assert recorded["hot_changes_per_hour"] > recorded["restart_changes_per_hour"]
    assert recorded["hot_wait_share"] < recorded["restart_wait_share"]


def test_slow_tests_cost_throughput(recorded):
    assert recorded["slow_tests_changes_per_hour"] < recorded["hot_changes_per_hour"]
    assert recorded["slow_tests_wait_share"] > recorded["restart_wait_share"]


def test_debugger_shortens_cycle(recorded):
    assert recorded["hot_cycle_s"] < recorded["no_debugger_cycle_s"]


def test_cycle_matches_closed_form(recorded):
    # 400 changes with exponential human steps: the standard error of each
    # mean cycle time is under 3%, so 10% is more than three of them.
    assert recorded["cycle_max_rel_error"] < 0.10


# -- 3.3 delivery metrics --------------------------------------------------------


def test_automatic_rollback_restores_faster(recorded):
    assert recorded["auto_time_to_restore_s"] < recorded["manual_time_to_restore_s"]
    # An automatic rollback is a rollout back to the old version: a minute or two.
    assert recorded["auto_time_to_restore_s"] < 300
    # People take tens of minutes (exponential, 3,600 s mean: median about 2,500 s).
    assert recorded["manual_time_to_restore_s"] > 600


def test_daily_batches_deploy_once_a_day(recorded):
    # Deployments at 24 h, 48 h, ...: 29 of them start within 30 days.
    assert recorded["daily_deployments_per_day"] == pytest.approx(29 / 30)
    assert recorded["per_change_deployments_per_day"] > 10


def test_batching_lengthens_lead_time(recorded):
    # Per change: 600 s of CI plus one rollout of about a minute.
    assert 600 < recorded["per_change_lead_time_s"] < 900
    assert recorded["daily_lead_time_s"] > 10 * 3600


def test_failure_rate_follows_release_mix(recorded):
    # One deployment in ten is bad, but memory leaks (2%) pass the failure rules.
    assert 0.04 < recorded["auto_change_failure_rate"] < 0.12
    assert 0.04 < recorded["manual_change_failure_rate"] < 0.12


def test_delivery_table_has_four_scenarios(recorded):
    table = recorded["delivery"]
    assert sorted(table["deployments_per_day"]) == [
        "no automatic rollback, daily",
        "no automatic rollback, per change",
        "rolling + analysis, daily",
        "rolling + analysis, per change",
    ]


# -- 3.4 risk per change -----------------------------------------------------------


def test_batches_fail_more_with_change_risk(recorded):
    assert recorded["risk_per_change_failure_rate"] < 0.05
    assert recorded["risk_daily_failure_rate"] > 0.2
    assert recorded["risk_daily_lead_time_s"] > recorded["daily_lead_time_s"]
