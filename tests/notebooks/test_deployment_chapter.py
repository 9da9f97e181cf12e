"""Execute chapter 2 (deployments) and the rollout simulator page with papermill, and check their figures.

Each notebook runs once per test session (see ``conftest.py``) in the ``devsim`` Jupyter kernel,
with its folder as the working directory and the executed copy in a
temporary folder. The chapter runs with its own small defaults (8 replicas,
120 requests/s, 400 s of traffic, seed 0). The tests read the values it
stored with ``devsim.book.record``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


ROOT = Path(__file__).resolve().parents[2]
KERNEL_NAME = "devsim"
CHAPTER = "notebooks/02-deployments.ipynb"
APP_PAGE = "voila/rollout-simulator.ipynb"
# While a canary step sends 10% of traffic to a release that fails 20% of its
# requests, about 7,000 requests arrive, so the failed ratio has a standard
# error of about 0.0017 around 2%. Three standard errors:
CANARY_RATIO_TOLERANCE = 0.005

pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="module")
def recorded(records) -> dict[str, Any]:
    return records(CHAPTER)


def test_chapter_executes(executed_notebooks):
    assert executed_notebooks(ROOT / CHAPTER).is_file()


def test_app_page_executes(executed_notebooks):
    assert executed_notebooks(ROOT / APP_PAGE).is_file()


def test_app_page_has_one_thin_cell():
    import nbformat

    notebook = nbformat.read(ROOT / APP_PAGE, as_version=4)
    assert notebook.metadata["kernelspec"]["name"] == KERNEL_NAME
    assert len(notebook.cells) == 1
    assert "build_rollout_app()" in notebook.cells[0].source
    assert notebook.cells[0].outputs == [], "commit the Voila page with its outputs stripped"


def test_chapter_committed_without_outputs():
    import nbformat

    notebook = nbformat.read(ROOT / CHAPTER, as_version=4)
    assert notebook.metadata["kernelspec"]["name"] == KERNEL_NAME
    with_outputs = [cell.id for cell in notebook.cells if cell.cell_type == "code" and cell.outputs]
    assert with_outputs == [], f"commit the chapter with its outputs stripped; cells with outputs: {with_outputs}"


# -- 2.1 rolling update rules ---------------------------------------------------


def test_rolling_limits_hold(recorded):
    replicas = recorded["replicas"]
    assert recorded["rolling_max_surge_pods"] == 2
    assert recorded["rolling_max_unavailable_pods"] == 2
    assert recorded["rolling_min_ready"] >= replicas - recorded["rolling_max_unavailable_pods"]
    assert recorded["rolling_max_pods"] <= replicas + recorded["rolling_max_surge_pods"]
    assert recorded["rolling_good_peak_replicas"] == replicas + recorded["rolling_max_surge_pods"]


# -- 2.2 zero downtime --------------------------------------------------------


def test_rolling_probe_drain_zero_failed(recorded):
    assert recorded["rolling_probe_drain_failed"] == 0
    assert "rolling, probe on, draining on" in recorded["zero_downtime_settings"]


def test_recreate_fails_requests(recorded):
    assert recorded["recreate_failed"] > 0
    assert recorded["recreate_rejected"] == recorded["recreate_failed"]


def test_no_draining_fails_requests(recorded):
    assert recorded["rolling_no_drain_failed"] > 0
    assert recorded["rolling_no_drain_dropped"] > 0


def test_no_probe_fails_after_completion(recorded):
    assert recorded["rolling_no_probe_failed"] > 0
    # The rollout reports completion long before the app is up, so most failures come after it.
    assert recorded["rolling_no_probe_failed"] > 2 * recorded["rolling_no_probe_failed_during_rollout"]
    assert recorded["rolling_no_probe_duration_s"] < 30


def test_zero_downtime_needs_probe(recorded):
    for setting in recorded["zero_downtime_settings"]:
        assert "probe on" in setting, setting
        assert not setting.startswith("recreate"), setting


def test_blue_green_doubles_pods(recorded):
    assert recorded["blue_green_failed"] == 0
    assert recorded["blue_green_peak_replicas"] == 2 * recorded["replicas"]


# -- 2.3 bad releases ---------------------------------------------------------


def test_stuck_releases_never_complete(recorded):
    completed = recorded["bad_release_completed"]
    assert completed["crash-loop"] is False
    assert completed["not-ready"] is False
    assert completed["error-rate"] is True


def test_deadline_alone_rolls_nothing_back(recorded):
    assert recorded["deadline_none_exceeded"] is True
    assert recorded["deadline_none_rolled_back"] is False


def test_error_rate_fails_after_completion(recorded):
    failed = recorded["bad_release_failed_until_end"]
    assert failed["error-rate"] > recorded["error_rate_failed_during_rollout"] > 0
    assert failed["crash-loop"] == 0
    assert failed["not-ready"] == 0


def test_slow_release_raises_p95(recorded):
    assert recorded["slow_p95_latency_s"] > 0.5
    assert recorded["good_p95_latency_s"] < 0.3


# -- 2.4 rollback ---------------------------------------------------------------


def test_failure_rollback_catches_unready(recorded):
    after = recorded["rollback_after_s_failure"]
    assert after["crash-loop"] is not None
    assert after["not-ready"] is not None
    assert after["error-rate"] is None
    assert after["slow"] is None


def test_analysis_rolls_back_error_rate(recorded):
    after = recorded["rollback_after_s_analysis"]
    # Two failed measurements, 30 s apart, once the new pods serve traffic.
    assert after["error-rate"] is not None
    assert after["error-rate"] <= 150
    assert after["slow"] is not None
    assert recorded["analysis_final_version"]["error-rate"] == "v1"
    assert recorded["analysis_final_version"]["good"] == "v2"


def test_memory_leak_escapes_short_run(recorded):
    # Within 400 s of traffic no new pod is killed 3 times.
    assert recorded["rollback_after_s_failure"]["memory-leak"] is None
    assert recorded["rollback_after_s_analysis"]["memory-leak"] is None
    assert recorded["analysis_final_version"]["memory-leak"] == "v2"


def test_memory_leak_caught_by_restarts(recorded):
    completed_after = recorded["memory_leak_long_rollout_completed_after_s"]
    rollback_after = recorded["memory_leak_long_rollback_after_s"]
    assert completed_after < 120
    assert rollback_after is not None
    assert rollback_after > completed_after + 300
    assert "restarts" in recorded["memory_leak_long_rollback_reason"]


def test_rollback_is_a_rollout(recorded):
    assert recorded["error_rate_rollback_events"] == [
        "rollout_started",
        "rollout_completed",
        "rollback_started",
        "rollback_completed",
    ]


# -- 2.5 strategies -------------------------------------------------------------


def test_canary_failed_ratio_near_weight(recorded):
    assert recorded["canary_expected_failed_ratio"] == pytest.approx(0.02)
    assert recorded["canary_split_new_share"] == pytest.approx(0.1)
    assert recorded["canary_split_failed_ratio"] == pytest.approx(
        recorded["canary_expected_failed_ratio"], abs=CANARY_RATIO_TOLERANCE
    )
    # Over the whole rollout the ratio is lower: the first 30 s the canary is not ready yet.
    assert recorded["canary_failed_ratio"] < recorded["canary_split_failed_ratio"]


def test_canary_fails_fewest(recorded):
    failed = recorded["strategy_failed_until_end"]
    assert failed["canary"] * 10 < failed["rolling"]
    assert failed["canary"] * 10 < failed["blue-green"]


def test_blue_green_needs_most_capacity(recorded):
    peak = recorded["strategy_peak_replicas"]
    extra = recorded["strategy_extra_replica_seconds"]
    assert peak["blue-green"] == 2 * recorded["replicas"]
    assert extra["blue-green"] > extra["rolling"] > extra["canary"]


# -- 2.6 app --------------------------------------------------------------------


def test_chapter_app_ran(recorded):
    assert recorded["app_failed_requests"] == 0
