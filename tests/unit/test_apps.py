"""Tests for the chapter helpers in devsim.experiments and the explorer app's logic, without a browser."""

from __future__ import annotations

import pytest

from devsim.apps import TRACE_CHOICES, ExplorerSettings, build_explorer, build_workload, run_settings
from devsim.apps.explorer import MAX_EXPECTED_REQUESTS, POISSON_BASE_RATE_RPS, SYNTHETIC_POISSON
from devsim.experiments import (
    SUMMARY_ROWS,
    autoscaling_comparison,
    check_answer,
    compare_environments,
    environment_scenario,
    profile_table,
    servers_for_mean_wait,
    summary_table,
)
from devsim.profiles import ProfileError
from devsim.sim import HorizontalPodAutoscaler, Manual
from devsim.theory import mmc_mean_wait
from devsim.workload import Poisson

SHORT = Poisson(rate=40, duration_s=60)


# -- devsim.experiments -------------------------------------------------------


def test_environment_scenario_experimental_runs_hpa():
    scenario = environment_scenario("experimental", SHORT)
    assert isinstance(scenario.autoscaler, HorizontalPodAutoscaler)
    assert scenario.autoscaler.max_replicas == 30


def test_environment_scenario_fixed_replicas():
    scenario = environment_scenario("production", SHORT, replicas=5)
    assert isinstance(scenario.autoscaler, Manual)
    assert scenario.autoscaler.replicas == 5


def test_environment_scenario_target_override():
    scenario = environment_scenario("production", SHORT, target_utilization=0.4)
    assert scenario.resolved_profile().scaling.target_utilization == 0.4


def test_environment_scenario_invalid_target():
    with pytest.raises(ProfileError, match="target_utilization"):
        environment_scenario("production", SHORT, target_utilization=1.5)


def test_compare_environments_same_arrivals():
    runs = compare_environments(SHORT, ["production", "development", "experimental"], seed=3)
    assert list(runs) == ["production", "development", "experimental"]
    counts = {name: len(result.requests) for name, result in runs.items()}
    assert len(set(counts.values())) == 1, counts


def test_autoscaling_comparison_sizes_fixed_fleets():
    runs = autoscaling_comparison(SHORT, seed=1)
    assert list(runs) == ["HPA", "fixed at HPA mean", "fixed at HPA peak"]
    hpa = runs["HPA"]
    assert runs["fixed at HPA peak"].max_ready_replicas == hpa.max_ready_replicas
    assert runs["fixed at HPA mean"].summary()["scale_events"] == 0


def test_autoscaling_comparison_rejects_manual_environment():
    with pytest.raises(ValueError, match="scales manually"):
        autoscaling_comparison(SHORT, environment="development")


def test_summary_table_shape():
    table = summary_table(compare_environments(SHORT, seed=1))
    assert list(table.columns) == ["production", "development"]
    assert list(table.index) == SUMMARY_ROWS
    assert isinstance(table.loc["requests", "production"], int)


def test_summary_table_unknown_row():
    with pytest.raises(KeyError, match="no_such_key"):
        summary_table(compare_environments(SHORT, seed=1), rows=["no_such_key"])


def test_profile_table_reads_profiles():
    table = profile_table()
    assert list(table.columns) == ["production", "development", "experimental"]
    assert table.loc["app port", "production"] == "8080"
    assert table.loc["app port", "development"] == "3000"
    assert table.loc["scaling mode", "experimental"] == "predictive"


def test_servers_for_mean_wait_is_smallest():
    servers = servers_for_mean_wait(150, 0.05, 0.010)
    assert mmc_mean_wait(150, 20, servers) <= 0.010
    assert mmc_mean_wait(150, 20, servers - 1) > 0.010


def test_servers_for_mean_wait_unreachable():
    with pytest.raises(ValueError, match="no server count"):
        servers_for_mean_wait(150, 0.05, 0.0, max_servers=20)


@pytest.mark.parametrize(
    ("answer", "ok", "fragment"),
    [
        (None, None, "not answered yet"),
        (0.597, True, "correct"),
        (0.9, False, "too high"),
        (0.1, False, "too low"),
        ("abc", False, "not a finite number"),
        (float("nan"), False, "not a finite number"),
        (10**400, False, "not a finite number"),
    ],
)
def test_check_answer(answer, ok, fragment):
    result = check_answer("Erlang C", answer, 0.5964, rel_tol=0.01)
    assert result.ok is ok
    assert fragment in result.message
    assert fragment in result._repr_html_()


# -- devsim.apps.explorer -----------------------------------------------------


def test_build_workload_rejects_zero_multiplier():
    with pytest.raises(ValueError, match="load multiplier must be greater than zero"):
        build_workload("azure-llm-code", 0.0, "0:20min")


def test_build_workload_rejects_unknown_trace():
    with pytest.raises(ValueError, match="trace 'nope' not found"):
        build_workload("nope", 1.0, "0:20min")


def test_build_workload_rejects_invalid_window():
    with pytest.raises(ValueError, match="window 'abc' is invalid"):
        build_workload("azure-llm-code", 1.0, "abc")


def test_build_workload_rejects_long_run():
    # Six hours of Poisson traffic at 100 times the base rate stays on the request-level engine.
    with pytest.raises(ValueError, match=f"limit of {MAX_EXPECTED_REQUESTS:,}"):
        build_workload(SYNTHETIC_POISSON, 100.0, "0:6h")


def test_long_trace_runs_on_flow_engine():
    from devsim.sim.flow import choose_engine

    # 30 days of NYC taxi replayed 72 times faster still spans 10 hours.
    workload = build_workload("nab-nyc-taxi", 1.0, "0:720h")
    assert choose_engine(workload) == "flow"


def test_build_workload_poisson_needs_end():
    with pytest.raises(ValueError, match="has no end"):
        build_workload(SYNTHETIC_POISSON, 1.0, "10min:")


def test_build_workload_poisson_rate_and_duration():
    workload = build_workload(SYNTHETIC_POISSON, 2.0, "5min:15min")
    assert workload.mean_rate() == 2 * POISSON_BASE_RATE_RPS
    assert workload.duration_s == 600


@pytest.mark.parametrize("trace", list(TRACE_CHOICES))
def test_trace_defaults_stay_small(trace):
    choice = TRACE_CHOICES[trace]
    workload = build_workload(trace, choice.multiplier, choice.window)
    assert workload.mean_rate() * workload.duration_s < MAX_EXPECTED_REQUESTS


def test_run_settings_development_uses_fixed_replicas():
    settings = ExplorerSettings(environment="development", trace=SYNTHETIC_POISSON, multiplier=1, window="0:60", replicas=3)
    result = run_settings(settings)
    assert result.max_ready_replicas == 3
    assert result.autoscaler == "Manual(replicas=3)"


def test_run_settings_production_uses_target():
    settings = ExplorerSettings(trace=SYNTHETIC_POISSON, multiplier=1, window="0:60", target_utilization=0.35)
    result = run_settings(settings)
    assert "target_utilization=0.35" in result.autoscaler


def test_run_settings_unknown_environment():
    with pytest.raises(ValueError, match="environment 'staging' not found"):
        run_settings(ExplorerSettings(environment="staging"))


@pytest.fixture(scope="module")
def explorer():
    return build_explorer(default_trace=SYNTHETIC_POISSON, run_on_load=False)


def test_explorer_not_run_without_load(explorer):
    assert explorer.result is None
    assert explorer.summary.value == ""


def test_explorer_simulate_fills_summary(explorer):
    explorer.window.value = "0:60"
    result = explorer.simulate()
    assert result is explorer.result
    assert "p95 latency" in explorer.summary.value
    assert explorer.message.value == ""
    assert explorer.status.value.startswith("Done")
    assert not explorer.simulate_button.disabled


def test_explorer_invalid_multiplier_shows_message(explorer):
    explorer.window.value = "0:60"
    explorer.simulate()
    summary = explorer.summary.value
    explorer.multiplier.value = 0
    assert explorer.simulate() is None
    assert "Cannot simulate" in explorer.message.value
    assert "load multiplier must be greater than zero" in explorer.message.value
    assert explorer.summary.value == summary
    assert explorer.status.value == "Invalid settings"
    explorer.multiplier.value = 1.0


def test_explorer_environment_toggles_controls(explorer):
    explorer.environment.value = "development"
    assert explorer.target_utilization.disabled
    assert not explorer.replicas.disabled
    assert explorer.replicas.value == 1
    explorer.environment.value = "production"
    assert explorer.replicas.disabled
    assert not explorer.target_utilization.disabled


def test_explorer_trace_sets_defaults(explorer):
    explorer.trace.value = "nab-elb-request-count-8c0756"
    assert explorer.window.value == "0:2h"
    assert explorer.multiplier.value == 40.0
    explorer.trace.value = SYNTHETIC_POISSON


def test_build_explorer_rejects_unknown_trace():
    with pytest.raises(ValueError, match="default_trace"):
        build_explorer(default_trace="nope", run_on_load=False)
