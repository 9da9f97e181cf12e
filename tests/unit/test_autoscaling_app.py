"""Tests for devsim.apps.autoscaling and its charts: settings, violation counts, the flash crowd and the widget, without a browser.

The comparisons replay the 7-day test part of the AWS ELB series, which the
flow engine runs in about a second per policy, or one day of NYC taxi.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from devsim import charts
from devsim.apps import autoscaling
from devsim.apps.autoscaling import (
    APP_POLICIES,
    APP_TRACES,
    ComparisonSettings,
    build_autoscaling_app,
    comparison_table,
    count_test_weeks,
    count_violations,
    flash_crowd_comparison,
    results_html,
    run_comparison,
    split_test_part,
    validate_settings,
    week_window,
)
from devsim.autoscale import compare_policies
from devsim.workload import Burst, Workload, trace_workload

ELB = "nab-elb-request-count-8c0756"
ELB_SETTINGS = ComparisonSettings(trace=ELB, rate_multiplier=200.0, week=1, policies=("hpa", "predictive"))


@pytest.fixture(scope="module")
def elb_outcome():
    return run_comparison(ELB_SETTINGS)


@pytest.fixture(scope="module")
def taxi_day():
    return compare_policies(
        "nab-nyc-taxi", policies=("hpa", "predictive"), rate_multiplier=30, test_window="0:1D",
        startup_delay_s=120, headroom=0.0, scaling__max_replicas=60,
    )


# -- test part and weeks --------------------------------------------------------


def test_test_part_of_taxi_starts_at_half():
    start, end = split_test_part("nab-nyc-taxi")
    assert start == pd.Timestamp("2014-10-16 12:00")
    assert end == pd.Timestamp("2015-02-01 00:00")


def test_test_weeks_per_trace():
    assert count_test_weeks("nab-nyc-taxi") == 16
    # The ELB test part is 7 days and a few minutes: one week, not two.
    assert count_test_weeks(ELB) == 1


@pytest.mark.parametrize(("week", "window"), [(1, "0D:7D"), (4, "21D:28D"), (16, "105D:112D")])
def test_week_window(week, window):
    assert week_window(week) == window


@pytest.mark.parametrize("trace", list(APP_TRACES))
def test_trace_defaults_are_valid(trace):
    choice = APP_TRACES[trace]
    validate_settings(ComparisonSettings(trace=trace, rate_multiplier=choice.multiplier, week=choice.week))


# -- validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"trace": "nope"}, "trace 'nope' not found"),
        ({"rate_multiplier": 0.0}, "rate multiplier must be greater than zero, got 0"),
        ({"rate_multiplier": -2.0}, "rate multiplier must be greater than zero"),
        ({"rate_multiplier": math.nan}, "rate multiplier must be greater than zero"),
        ({"rate_multiplier": 5000.0}, "rate multiplier must be at most 1000"),
        ({"startup_delay_s": -1.0}, "startup delay must be zero or more seconds"),
        ({"headroom": -0.1}, "headroom must be between 0 and 2"),
        ({"headroom": 3.0}, "headroom must be between 0 and 2"),
        ({"policies": ()}, "no policy chosen"),
        ({"policies": ("hpa", "magic")}, "policy 'magic' not found"),
        ({"combine": "min"}, "combine must be one of max, forecast"),
        ({"week": 0}, "choose a week from 1 to 16"),
        ({"week": 17}, "week 17 is outside the test part of nab-nyc-taxi"),
        ({"trace": ELB, "week": 2}, "choose a week from 1 to 1"),
    ],
)
def test_validate_settings_rejects(changes, fragment):
    settings = ComparisonSettings(**changes)
    with pytest.raises(ValueError) as raised:
        validate_settings(settings)
    assert fragment in str(raised.value)


def test_run_comparison_validates_first():
    with pytest.raises(ValueError, match="rate multiplier must be greater than zero"):
        run_comparison(ComparisonSettings(rate_multiplier=0.0))


# -- violations -------------------------------------------------------------------


def metrics_frame(rows):
    return pd.DataFrame(rows, columns=["time_s", "arrivals", "p95_latency_s", "error_ratio"])


def test_count_violations_rules():
    metrics = metrics_frame([
        (15.0, 10, 0.2, 0.0),    # within the SLO
        (30.0, 10, 0.6, 0.0),    # p95 above 0.5 s
        (45.0, 10, 0.2, 0.02),   # errors above 1%
        (60.0, 0, 9.9, 1.0),     # no arrivals: not counted
        (75.0, 10, 0.5, 0.01),   # exactly at both limits: not a violation
    ])
    assert count_violations(metrics) == 2
    assert count_violations(metrics, slo_p95_s=0.1) == 4
    assert count_violations(metrics, max_error_ratio=0.05) == 1


def test_count_violations_after_warmup():
    metrics = metrics_frame([(15.0, 10, 0.9, 0.0), (30.0, 10, 0.9, 0.0), (45.0, 10, 0.9, 0.0)])
    assert count_violations(metrics, after_s=30.0) == 1
    assert count_violations(metrics, after_s=45.0) == 0


def test_count_violations_matches_compare_policies(taxi_day):
    for policy, result in taxi_day.results.items():
        assert count_violations(result.metrics) == taxi_day.table.loc[policy, "slo_violations"], policy


def test_comparison_table_adds_columns(taxi_day):
    table = comparison_table(taxi_day)
    columns = list(table.columns)
    assert columns[columns.index("slo_violations") + 1] == "violations_after_warmup"
    assert (table["interval_s"] == 15.0).all()
    assert (table["violations_after_warmup"] <= table["slo_violations"]).all()
    # The original table is left as it was.
    assert "violations_after_warmup" not in taxi_day.table.columns


def test_comparison_starts_in_steady_state(taxi_day):
    # Both policies start with the replicas the first interval needs, so the
    # first hour has no cold-start violations to remove.
    table = comparison_table(taxi_day, warmup_s=3600)
    assert (table["violations_after_warmup"] == table["slo_violations"]).all()
    assert table.loc["predictive", "violations_after_warmup"] == 0


# -- run_comparison ---------------------------------------------------------------------


def test_run_comparison_matches_one_call(elb_outcome):
    single = compare_policies(
        ELB, policies=("hpa", "predictive"), rate_multiplier=200.0, test_window="0D:7D", startup_delay_s=120.0,
        headroom=0.0, seed=0, scaling__max_replicas=autoscaling.MAX_REPLICAS,
    ).table
    for column in ("slo_violations", "replica_hours", "cost_usd", "scaling_actions"):
        assert list(elb_outcome.table[column]) == pytest.approx(list(single[column])), column


def test_run_comparison_outcome(elb_outcome):
    assert list(elb_outcome.table.index) == ["hpa", "predictive"]
    assert set(elb_outcome.results) == {"hpa", "predictive"}
    assert elb_outcome.forecast is not None
    assert elb_outcome.window_start == elb_outcome.test_start
    assert elb_outcome.window_end <= elb_outcome.window_start + pd.Timedelta(days=7)
    assert elb_outcome.elapsed_s > 0


def test_run_comparison_reports_progress():
    calls = []
    settings = ComparisonSettings(trace=ELB, rate_multiplier=200.0, week=1, policies=("manual", "hpa"))
    run_comparison(settings, on_policy_done=lambda name, done: calls.append((name, done)))
    assert calls == [("manual", 1), ("hpa", 2)]


def test_results_html_rows_and_caption(elb_outcome):
    text = results_html(elb_outcome)
    assert text.count("<tr data-policy=") == 2
    assert 'data-policy="hpa" data-key="violations_after_warmup"' in text
    assert "week 1 of the test part" in text
    assert "startup delay 120 s" in text
    assert "forecast, with the HPA as a floor" in text
    assert "15 s interval" in text


def test_results_html_omits_predictive_settings():
    outcome = run_comparison(ComparisonSettings(trace=ELB, rate_multiplier=200.0, week=1, policies=("manual",)))
    assert "headroom" not in results_html(outcome)


# -- flash crowd ------------------------------------------------------------------------------


def test_burst_integral_with_ramp():
    base = trace_workload("nab-nyc-taxi", rate_multiplier=1, window="0:6h")
    burst = Burst(base, start_s=3600, duration_s=1800, extra_rate=10.0, ramp_s=60)
    integral = burst._extra_integral(np.array([0.0, 3600.0, 3660.0, 5400.0, 9000.0]))
    assert integral == pytest.approx([0.0, 0.0, 300.0, 300.0 + 10.0 * 1740, 300.0 + 10.0 * 1740])


def test_burst_integral_without_ramp():
    base = trace_workload("nab-nyc-taxi", rate_multiplier=1, window="0:6h")
    burst = Burst(base, start_s=3600, duration_s=1800, extra_rate=10.0)
    assert burst._extra_integral(np.array([3600.0, 4500.0, 7200.0])) == pytest.approx([0.0, 9000.0, 18000.0])


def test_step_counted_burst_matches_burst():
    base = trace_workload("nab-nyc-taxi", rate_multiplier=30, window="0:6h")
    fast = Burst(base, start_s=3 * 3600, duration_s=1800, extra_rate=200.0, ramp_s=60)
    fast_counts = fast.step_counts(np.random.default_rng(1), 15.0).counts
    # The generic path draws every request and counts them.
    slow_counts = Workload.step_counts(fast, np.random.default_rng(1), 15.0).counts
    assert len(fast_counts) == len(slow_counts) == 6 * 3600 // 15
    expected_total = fast.mean_rate() * fast.duration_s
    # Totals are Poisson-like: a standard deviation of about the square root of the total.
    assert fast_counts.sum() == pytest.approx(expected_total, abs=5 * math.sqrt(expected_total))
    burst_steps = slice(3 * 3600 // 15 + 4, (3 * 3600 + 1800) // 15)
    assert fast_counts[burst_steps].mean() == pytest.approx(slow_counts[burst_steps].mean(), rel=0.02)


@pytest.fixture(scope="module")
def crowd():
    return flash_crowd_comparison(duration="4h", burst_start="2h", burst_duration="20min", burst_extra=2.0)


def test_flash_crowd_forecast_only_misses(crowd):
    table = crowd.table
    assert list(table.index) == ["hpa", "predictive", "predictive, forecast only"]
    assert table.loc["predictive, forecast only", "slo_violations"] > 3 * table.loc["hpa", "slo_violations"]
    assert table.loc["predictive, forecast only", "error_ratio"] > table.loc["hpa", "error_ratio"]


def test_flash_crowd_floor_keeps_up_with_hpa(crowd):
    table = crowd.table
    assert table.loc["predictive", "slo_violations"] <= table.loc["hpa", "slo_violations"]
    assert table.loc["hpa", "max_ready_replicas"] > table.loc["predictive, forecast only", "max_ready_replicas"]


def test_flash_crowd_settings(crowd):
    assert crowd.settings["start"] == "2014-11-05 06:00:00"
    assert crowd.settings["burst_extra_rate"] > 0
    assert isinstance(crowd.forecast.index, pd.DatetimeIndex)


def test_flash_crowd_rejects_start_off_grid():
    with pytest.raises(ValueError, match="is not a timestamp of nab-nyc-taxi"):
        flash_crowd_comparison(start="2014-11-05 06:10")


def test_flash_crowd_rejects_burst_outside():
    with pytest.raises(ValueError, match="outside the replayed"):
        flash_crowd_comparison(duration="2h", burst_start="3h")


def test_flash_crowd_rejects_bad_extra():
    with pytest.raises(ValueError, match="burst_extra must be greater than zero"):
        flash_crowd_comparison(burst_extra=0.0)


# -- the widget -----------------------------------------------------------------------------


@pytest.fixture()
def app():
    return build_autoscaling_app(ELB_SETTINGS, run_on_load=False)


def test_app_not_run_without_load(app):
    assert app.outcome is None
    assert app.results.value == ""
    assert app.settings() == ELB_SETTINGS


def test_app_has_css_classes(app):
    assert "devsim-autoscaling" in app._dom_classes
    for widget, name in [
        (app.trace, "trace"),
        (app.rate_multiplier, "rate-multiplier"),
        (app.startup_delay, "startup-delay"),
        (app.headroom, "headroom"),
        (app.week, "week"),
        (app.combine, "combine"),
        (app.compare_button, "compare"),
        (app.progress, "progress"),
        (app.results, "results"),
        (app.message, "message"),
        (app.replicas_chart, "chart-replicas"),
        (app.cost_chart, "chart-cost"),
        (app.violations_chart, "chart-violations"),
    ]:
        assert f"devsim-{name}" in widget._dom_classes, name
    for policy in APP_POLICIES:
        assert f"devsim-policy-{policy}" in app.policy_checkboxes[policy]._dom_classes


def test_app_compare_fills_table_and_charts(app):
    outcome = app.compare()
    assert outcome is app.outcome
    assert 'data-policy="predictive"' in app.results.value
    assert app.message.value == ""
    assert app.status.value.startswith("Done: 2 policies")
    assert not app.compare_button.disabled
    assert app.progress.value == app.progress.max == 3
    assert app.replicas_chart.chart.to_dict()["mark"]["type"] == "line"


def test_app_startup_delay_changes_table(app):
    app.compare()
    before = app.results.value
    app.startup_delay.value = 900
    app.compare()
    assert app.results.value != before
    assert "startup delay 900 s" in app.results.value


def test_app_invalid_multiplier_shows_message(app):
    app.compare()
    table = app.results.value
    app.rate_multiplier.value = 0
    assert app.compare() is None
    assert "Cannot compare" in app.message.value
    assert "rate multiplier must be greater than zero" in app.message.value
    assert app.status.value == "Invalid settings"
    assert app.results.value == table


def test_app_no_policy_shows_message(app):
    for checkbox in app.policy_checkboxes.values():
        checkbox.value = False
    assert app.compare() is None
    assert "no policy chosen" in app.message.value


def test_app_unexpected_error_shows_message(app, monkeypatch):
    def fail(settings, on_policy_done=None):
        raise RuntimeError("disk full")

    monkeypatch.setattr(autoscaling, "run_comparison", fail)
    assert app.compare() is None
    assert "the comparison failed: RuntimeError: disk full" in app.message.value
    assert "Traceback" not in app.message.value
    assert app.status.value == "Failed"
    assert not app.compare_button.disabled


def test_app_message_clears_after_valid_run(app):
    app.rate_multiplier.value = 0
    app.compare()
    app.rate_multiplier.value = 200
    assert app.compare() is not None
    assert app.message.value == ""


def test_app_trace_sets_defaults(app):
    app.trace.value = "nab-nyc-taxi"
    assert app.rate_multiplier.value == APP_TRACES["nab-nyc-taxi"].multiplier
    assert app.week.value == APP_TRACES["nab-nyc-taxi"].week


def test_app_rejects_unknown_trace():
    with pytest.raises(ValueError, match="trace 'nope' not found"):
        build_autoscaling_app(ComparisonSettings(trace="nope"), run_on_load=False)


# -- the charts the app and chapter 4 draw --------------------------------------------------


def test_policy_timeline_chart_calendar_axis(taxi_day):
    start = pd.Timestamp("2014-10-16 12:00")
    chart = charts.policy_timeline_chart(taxi_day.results, start=start, max_points=200)
    spec = chart.to_dict()
    assert spec["encoding"]["x"]["type"] == "temporal"
    rows = next(iter(spec["datasets"].values()))
    assert {row["run"] for row in rows} == {"hpa", "predictive"}
    assert len(rows) <= 2 * 200


def test_policy_timeline_chart_between(taxi_day):
    start = pd.Timestamp("2014-10-16 12:00")
    between = (start + pd.Timedelta("6h"), start + pd.Timedelta("7h"))
    rows = next(iter(charts.policy_timeline_chart(taxi_day.results, start=start, between=between).to_dict()["datasets"].values()))
    # One hour of 15 s intervals, both ends included, per policy.
    assert len(rows) == 2 * 241
    hours = charts.policy_timeline_chart(taxi_day.results, between=(6, 7)).to_dict()
    assert hours["encoding"]["x"]["type"] == "quantitative"


def test_policy_timeline_chart_empty_range(taxi_day):
    with pytest.raises(ValueError, match="has no interval between"):
        charts.policy_timeline_chart(taxi_day.results, between=(100, 101))


def test_policy_bar_chart_one_bar_per_row(taxi_day):
    table = comparison_table(taxi_day)
    spec = charts.policy_bar_chart(table, "replica_hours").to_dict()
    rows = next(iter(spec["datasets"].values()))
    assert [row["policy"] for row in rows] == ["hpa", "predictive"]
    assert charts.to_svg(charts.policy_bar_chart(table, "cost_usd")).startswith("<svg")


def test_policy_bar_chart_unknown_column(taxi_day):
    with pytest.raises(ValueError, match="no column 'nope'"):
        charts.policy_bar_chart(taxi_day.table, "nope")


def test_forecast_chart_lines_and_split():
    index = pd.date_range("2024-01-01", periods=96, freq="30min")
    actual = pd.Series(np.arange(96.0), index=index)
    forecast = actual.shift(2).dropna()
    chart = charts.forecast_chart(actual, {"last value": forecast}, start=index[10], end=index[40], split=index[20])
    spec = chart.to_dict()
    assert len(spec["layer"]) == 2
    lines = [rows for rows in spec["datasets"].values() if rows and "series" in rows[0]][0]
    assert {row["series"] for row in lines} == {"actual", "last value"}
    assert len([row for row in lines if row["series"] == "actual"]) == 31


def test_forecast_chart_averages_long_series():
    index = pd.date_range("2024-01-01", periods=5000, freq="5min")
    actual = pd.Series(np.ones(5000), index=index)
    spec = charts.forecast_chart(actual, max_points=500).to_dict()
    rows = next(iter(spec["datasets"].values()))
    assert len(rows) == 500
    assert all(row["value"] == 1.0 for row in rows)


def test_forecast_chart_rejects_plain_values():
    with pytest.raises(TypeError, match="indexed by timestamps"):
        charts.forecast_chart(pd.Series([1.0, 2.0]))
    index = pd.date_range("2024-01-01", periods=4, freq="1h")
    with pytest.raises(ValueError, match="has no value between"):
        charts.forecast_chart(pd.Series(1.0, index=index), start="2025-01-01")
