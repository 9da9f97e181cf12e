"""Tests for the rollout experiments, the rollout charts and the rollout simulator app, without a browser."""

from __future__ import annotations

import math

import altair as alt
import pandas as pd
import pytest

from devsim import charts
from devsim.apps.rollout import (
    MAX_REPLICAS,
    RolloutApp,
    RolloutSettings,
    build_rollout_app,
    rollback_policy,
    run_rollout,
    summary_html,
)
from devsim.rollouts import (
    analysis_policy,
    check_rollout_answer,
    failed_until_end,
    make_strategy,
    parse_pod_count,
    release_table,
    rollout_row,
    split_traffic_failures,
    strategy_table,
    zero_downtime_table,
)
from devsim.sim.deployment import BlueGreen, Canary, Readiness, Recreate, RollbackPolicy, RollingUpdate, simulate_rollout

# Small runs: 4 replicas at 60 requests/s for 200 s after the rollout start.
SMALL = dict(replicas=4, rate=60.0, max_duration_s=200.0, seed=1)


def layer_data(chart: alt.LayerChart, index: int) -> pd.DataFrame:
    """Return the data of one layer; altair moves the data of a single layer up to the chart."""
    data = chart.layer[index].data
    return chart.data if data is alt.Undefined else data


@pytest.fixture(scope="module")
def good_rollout():
    return simulate_rollout(strategy=RollingUpdate(), **SMALL)


@pytest.fixture(scope="module")
def rolled_back():
    return simulate_rollout(strategy=RollingUpdate(), release="error-rate", rollback=analysis_policy(), **SMALL)


@pytest.fixture(scope="module")
def canary_rollout():
    policy = analysis_policy()
    return simulate_rollout(strategy=Canary(), release="error-rate", rollback=policy, replicas=8, rate=120.0,
                            max_duration_s=300.0, seed=0)


# -- devsim.rollouts: building blocks --------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [("25%", "25%"), (" 50% ", "50%"), ("2", 2), (3, 3), (" 0 ", 0), ("ten", "ten"), ("-1", -1)],
)
def test_parse_pod_count(value, expected):
    assert parse_pod_count(value) == expected


def test_make_strategy_types():
    assert isinstance(make_strategy("rolling"), RollingUpdate)
    assert isinstance(make_strategy("recreate"), Recreate)
    assert isinstance(make_strategy("blue-green"), BlueGreen)
    assert isinstance(make_strategy("canary"), Canary)


def test_make_strategy_passes_settings():
    strategy = make_strategy("rolling", max_surge="1", max_unavailable="0%", progress_deadline_s=90)
    assert strategy.max_surge == 1
    assert strategy.max_unavailable == "0%"
    assert strategy.progress_deadline_s == 90
    assert make_strategy("canary", progress_deadline_s=90).progress_deadline_s == 90


def test_make_strategy_unknown():
    with pytest.raises(ValueError, match="choose one of rolling, recreate, blue-green, canary"):
        make_strategy("ramped")


def test_analysis_policy_defaults():
    policy = analysis_policy()
    assert isinstance(policy, RollbackPolicy)
    assert policy.mode == "analysis"
    assert policy.max_error_ratio == 0.05
    assert policy.max_p95_s == 0.5
    assert analysis_policy(failure_limit=3).failure_limit == 3


def test_failed_until_end_counts_after_completion():
    # Without a probe the rollout reports completion within seconds, before the pods serve.
    rollout = simulate_rollout(strategy=RollingUpdate(), readiness=Readiness(enabled=False), **SMALL)
    summary = rollout.summary()
    assert summary["duration_s"] < 30
    assert failed_until_end(rollout) > summary["failed_requests"] > 0


def test_failed_until_end_matches_summary(rolled_back):
    assert failed_until_end(rolled_back) == rolled_back.summary()["failed_requests_after_start"]


def test_rollout_row_fields(good_rollout):
    row = rollout_row(good_rollout)
    assert row["strategy"] == "rolling"
    assert row["failed_during_rollout"] == 0
    assert row["failed_until_end"] == 0
    assert row["peak_replicas"] == 5
    assert 0.05 < row["p95_latency_until_end_s"] < 0.3
    for status in ("rejected", "timed_out", "error", "dropped"):
        assert row[f"{status}_until_end"] == 0


def test_split_traffic_failures_canary(canary_rollout):
    split = split_traffic_failures(canary_rollout)
    assert split["mean_new_share"] == pytest.approx(0.1)
    assert split["requests"] > 3000
    # 10% of traffic on a release that fails 20%: about 2%, within 0.6 percentage points.
    assert split["failed_ratio"] == pytest.approx(0.02, abs=0.006)


def test_split_traffic_failures_blue_green():
    rollout = simulate_rollout(strategy=BlueGreen(), **SMALL)
    split = split_traffic_failures(rollout)
    assert split["requests"] == 0
    assert math.isnan(split["failed_ratio"])


# -- devsim.rollouts: tables -------------------------------------------------------


def test_zero_downtime_table_rows():
    table = zero_downtime_table(strategies=("rolling", "recreate"), readiness=(True,), drain=(True, False), **SMALL)
    assert list(table.columns[:3]) == ["strategy", "readiness_probe", "draining"]
    assert len(table) == 4
    rows = table.set_index(["strategy", "draining"])
    assert rows.loc[("rolling", True), "failed_until_end"] == 0
    assert bool(rows.loc[("rolling", True), "zero_downtime"]) is True
    assert rows.loc[("recreate", True), "rejected_until_end"] > 0
    assert bool(rows.loc[("recreate", True), "zero_downtime"]) is False


def test_zero_downtime_table_same_arrivals():
    table = zero_downtime_table(strategies=("rolling", "blue-green"), readiness=(True,), drain=(True,), **SMALL)
    # Same seed and rate, so both runs see the same requests; the rollouts differ in length only.
    assert (table["failed_until_end"] == 0).all()


def test_release_table_policies():
    table = release_table(releases=("crash-loop", "error-rate"), progress_deadline_s=60, **SMALL)
    assert len(table) == 6
    rows = table.set_index(["release", "rollback"])
    assert bool(rows.loc[("crash-loop", "none"), "rolled_back"]) is False
    assert bool(rows.loc[("crash-loop", "failure"), "rolled_back"]) is True
    assert bool(rows.loc[("error-rate", "failure"), "rolled_back"]) is False
    assert bool(rows.loc[("error-rate", "analysis"), "rolled_back"]) is True
    assert rows.loc[("error-rate", "analysis"), "final_version"] == "v1"


def test_release_table_unknown_release():
    with pytest.raises(ValueError, match="release 'broken' not found"):
        release_table(releases=("broken",), **SMALL)


def test_strategy_table_shares():
    table = strategy_table(strategies=("rolling", "canary"), **SMALL).set_index("strategy")
    assert table.loc["canary", "max_new_share"] == pytest.approx(0.1)
    assert table.loc["rolling", "max_new_share"] == pytest.approx(1.0)
    assert table.loc["canary", "failed_until_end"] < table.loc["rolling", "failed_until_end"]


# -- devsim.rollouts: exercise checks ----------------------------------------------


def test_check_rollout_answer_cases():
    assert check_rollout_answer("pods", None, 3, "hint").ok is None
    assert check_rollout_answer("pods", 3, 3, "hint").ok is True
    wrong = check_rollout_answer("pods", 2, 3, "maxSurge rounds up.")
    assert wrong.ok is False
    assert "too low" in wrong.message
    assert "maxSurge rounds up." in wrong.message
    assert "devsim.theory" not in wrong.message
    assert check_rollout_answer("pods", "three", 3, "hint").ok is False


# -- devsim.charts: rollout builders -------------------------------------------------


def test_timeline_chart_shades_rollback(rolled_back, good_rollout):
    with_rollback = charts.rollout_timeline_chart(rolled_back).to_dict()
    without = charts.rollout_timeline_chart(good_rollout).to_dict()
    assert len(with_rollback["layer"]) == 2
    assert with_rollback["layer"][0]["mark"]["type"] == "rect"
    assert len(without["layer"]) == 1


def test_timeline_chart_labels_versions(good_rollout):
    spec = charts.rollout_timeline_chart(good_rollout.timeline, old_label="v1", new_label="v2").to_dict()
    color = spec["layer"][0]["encoding"]["color"]
    assert color["scale"]["domain"] == ["v2", "v1", "draining"]


def test_timeline_chart_crops(good_rollout):
    chart = charts.rollout_timeline_chart(good_rollout, max_time_s=50)
    assert layer_data(chart, -1)["since_start_s"].max() <= 50


def test_timeline_chart_rejects_other_frames(good_rollout):
    with pytest.raises(ValueError, match="lacks the column"):
        charts.rollout_timeline_chart(good_rollout.result.metrics)
    with pytest.raises(TypeError, match="RolloutResult"):
        charts.rollout_timeline_chart([1, 2, 3])
    with pytest.raises(ValueError, match="max_time_s"):
        charts.traffic_share_chart(good_rollout, max_time_s=0)


def test_traffic_share_chart_range(canary_rollout):
    chart = charts.traffic_share_chart(canary_rollout)
    data = layer_data(chart, -1)
    assert data["share"].min() == 0.0
    assert data["share"].max() == pytest.approx(0.1)


def test_errors_chart_counts_failures(rolled_back):
    chart = charts.rollout_errors_chart(rolled_back, interval_s=10)
    bars = next(layer for layer in chart.layer if layer.mark == "bar" or getattr(layer.mark, "type", None) == "bar")
    assert int(bars.data["failed"].sum()) == failed_until_end(rolled_back)
    assert set(bars.data["status"]) == {"error"}
    spec = chart.to_dict()
    assert spec["resolve"]["scale"]["color"] == "independent"


def test_errors_chart_marks_rollback(rolled_back):
    chart = charts.rollout_errors_chart(rolled_back)
    rules = chart.layer[-1]
    events = set(rules.data["event"])
    assert {"rollout_started", "rollback_started", "rollback_completed"} <= events


def test_errors_chart_without_failures(good_rollout):
    chart = charts.rollout_errors_chart(good_rollout)
    assert chart.title.endswith("(none failed)")
    svg = charts.to_svg(chart)
    assert svg.startswith("<svg")


def test_errors_chart_invalid_interval(good_rollout):
    with pytest.raises(ValueError, match="interval_s"):
        charts.rollout_errors_chart(good_rollout, interval_s=0)
    with pytest.raises(TypeError, match="RolloutResult"):
        charts.rollout_errors_chart(pd.DataFrame())


def test_rollout_charts_render_svg(rolled_back):
    for chart in (
        charts.rollout_timeline_chart(rolled_back),
        charts.traffic_share_chart(rolled_back),
        charts.rollout_errors_chart(rolled_back, max_time_s=120),
    ):
        assert isinstance(chart, alt.LayerChart)
        assert "<svg" in charts.to_svg(chart)


# -- devsim.apps.rollout: logic ------------------------------------------------------


def test_run_rollout_default_is_zero_failed():
    summary = run_rollout(RolloutSettings()).summary()
    assert summary["completed"]
    assert summary["failed_requests"] == 0
    assert summary["peak_replicas"] == 10


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"max_surge": "0", "max_unavailable": "0"}, "both 0"),
        ({"max_surge": "0%", "max_unavailable": "10%"}, "both 0"),
        ({"max_surge": "ten"}, "is invalid"),
        ({"max_unavailable": "150%"}, "between 0% and 100%"),
        ({"strategy": "ramped"}, "strategy 'ramped' not found"),
        ({"release": "broken"}, "release 'broken' not found"),
        ({"rollback": "always"}, "rollback 'always' not found"),
        ({"replicas": MAX_REPLICAS + 1}, "replicas must be between"),
        ({"run_s": 0.0}, "run_s must be above 0"),
    ],
)
def test_run_rollout_invalid_settings(changes, message):
    settings = RolloutSettings(**{**RolloutSettings().__dict__, **changes})
    with pytest.raises(ValueError, match=message):
        run_rollout(settings)


def test_surge_settings_ignored_for_canary():
    # maxSurge and maxUnavailable belong to the rolling update only.
    settings = RolloutSettings(strategy="canary", max_surge="0", max_unavailable="0", replicas=4)
    assert run_rollout(settings).summary()["strategy"] == "canary"


def test_rollback_policy_choices():
    assert rollback_policy("none") == "none"
    assert rollback_policy("failure") == "failure"
    assert rollback_policy("analysis").max_p95_s == 0.5


def test_summary_html_rollback_and_keys():
    settings = RolloutSettings(release="crash-loop", replicas=4)
    rollout = run_rollout(settings)
    text = summary_html(rollout, settings, 0.5)
    assert 'data-key="failed_requests"' in text
    assert 'data-key="rolled_back"' in text
    assert "yes, 45 s after the start" in text
    assert "crash loop" in text
    assert "crash-loop release" in text


def test_summary_html_stuck_rollout():
    settings = RolloutSettings(release="not-ready", rollback="none", replicas=4, run_s=200)
    text = summary_html(run_rollout(settings), settings, 0.5)
    assert "not complete after 200 s" in text
    assert "both versions (rollout stuck)" in text


# -- devsim.apps.rollout: widget ---------------------------------------------------------


def test_app_without_run_shows_placeholders():
    app = build_rollout_app(run_on_load=False)
    assert isinstance(app, RolloutApp)
    assert app.rollout is None
    assert app.summary.value == ""
    assert app.timeline_chart.chart.to_dict()["mark"]["type"] == "text"


def test_app_css_classes():
    app = build_rollout_app(run_on_load=False)
    assert "devsim-rollout" in app._dom_classes
    for name in ("strategy", "max_surge", "max_unavailable", "release", "rollback", "drain", "readiness_probe",
                 "simulate_button", "summary", "message", "progress", "status"):
        widget = getattr(app, name)
        assert any(cls.startswith("devsim-") for cls in widget._dom_classes), name
    assert "devsim-chart-errors" in app.errors_chart._dom_classes


def test_app_simulate_updates_outputs():
    app = build_rollout_app()
    first_summary = app.summary.value
    first_chart = app.errors_chart.chart.to_dict()
    assert "0 of" in first_summary
    assert app.status.value.startswith("Done")

    app.release.value = "error-rate"
    app.rollback.value = "analysis"
    rollout = app.simulate()
    assert rollout is not None
    assert app.summary.value != first_summary
    assert "yes, 90 s after the start" in app.summary.value
    assert app.errors_chart.chart.to_dict() != first_chart
    assert app.message.value == ""


def test_app_invalid_settings_show_message():
    app = build_rollout_app()
    summary_before = app.summary.value
    app.max_surge.value = "0"
    app.max_unavailable.value = "0"
    assert app.simulate() is None
    assert "Cannot simulate" in app.message.value
    assert "both 0" in app.message.value
    assert "Traceback" not in app.message.value
    assert app.status.value == "Invalid settings"
    assert app.summary.value == summary_before
    assert app.simulate_button.disabled is False

    app.max_surge.value = "25%"
    app.simulate()
    assert app.message.value == ""


def test_app_disables_surge_for_other_strategies():
    app = build_rollout_app(run_on_load=False)
    assert app.max_surge.disabled is False
    app.strategy.value = "blue-green"
    assert app.max_surge.disabled is True
    assert app.max_unavailable.disabled is True
    app.strategy.value = "rolling"
    assert app.max_surge.disabled is False


def test_app_long_run_rolls_back_leak():
    # Failure policies count restarts of new pods for 600 s after the start.
    app = build_rollout_app(RolloutSettings(release="memory-leak", replicas=4, run_s=700))
    assert app.run_length.value == 700
    summary = app.rollout.summary()
    assert summary["rolled_back"]
    assert "restarts" in summary["rollback_reason"]
    assert "Simulated 700 s of traffic" in app.summary.value


def test_app_rejects_unknown_settings():
    with pytest.raises(ValueError, match="release 'broken' not found"):
        RolloutApp(RolloutSettings(release="broken"))
