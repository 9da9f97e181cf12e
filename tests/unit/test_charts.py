"""Tests for devsim.charts: valid Vega-Lite, downsampling, SVG rendering and the offline report."""

from __future__ import annotations

import re

import altair as alt
import numpy as np
import pandas as pd
import pytest

from devsim import charts
from devsim.sim import Scenario, simulate
from devsim.workload import Poisson


@pytest.fixture(scope="module")
def runs():
    workload = Poisson(rate=60, duration_s=120)
    return {
        "production": simulate(Scenario("production", workload), seed=1),
        "development": simulate(Scenario("development", workload), seed=1),
    }


@pytest.fixture(scope="module")
def result(runs):
    return runs["development"]


@pytest.fixture(scope="module")
def validation():
    # The shape of devsim.validation.validate_mmc's frame, with made-up simulated values.
    return pd.DataFrame(
        {
            "servers": [4, 4, 4],
            "utilization": [0.5, 0.8, 0.9],
            "theory_wait_s": [0.087, 0.746, 1.969],
            "simulated_wait_s": [0.09, 0.73, 2.05],
            "ci_low_s": [-0.01, 0.65, 1.8],
            "ci_high_s": [0.19, 0.81, 2.3],
        }
    )


def vega_lite_spec(chart) -> dict:
    spec = chart.to_dict()
    assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/")
    return spec


def inline_rows(spec: dict) -> int:
    return sum(len(rows) for rows in spec.get("datasets", {}).values())


METRIC_BUILDERS = [
    charts.latency_chart,
    charts.replicas_chart,
    charts.error_chart,
    charts.cost_chart,
    charts.arrivals_chart,
]


@pytest.mark.parametrize("builder", METRIC_BUILDERS, ids=lambda builder: builder.__name__)
def test_metric_builder_returns_vega_lite(builder, result):
    chart = builder(result.metrics)
    assert isinstance(chart, alt.Chart)
    spec = vega_lite_spec(chart)
    assert spec["encoding"]["x"]["field"] == "time_min"
    assert inline_rows(spec) > 0


@pytest.mark.parametrize("builder", METRIC_BUILDERS, ids=lambda builder: builder.__name__)
def test_metric_builder_accepts_result(builder, result):
    assert builder(result).to_dict()["datasets"] == builder(result.metrics).to_dict()["datasets"]


def test_latency_chart_has_three_quantiles(result):
    spec = vega_lite_spec(charts.latency_chart(result.metrics))
    rows = next(iter(spec["datasets"].values()))
    assert {row["quantile"] for row in rows} == {"p50", "p95", "p99"}


def test_cost_chart_ends_at_total_cost(result):
    spec = vega_lite_spec(charts.cost_chart(result.metrics))
    rows = next(iter(spec["datasets"].values()))
    assert rows[-1]["cumulative_cost_usd"] == pytest.approx(result.metrics["cost_usd"].sum())


def test_dashboard_stacks_five_charts(result):
    chart = charts.dashboard(result.metrics, title="development")
    assert isinstance(chart, alt.VConcatChart)
    spec = vega_lite_spec(chart)
    assert len(spec["vconcat"]) == 5


def test_compare_chart_one_line_per_run(runs):
    spec = vega_lite_spec(charts.compare_chart(runs, "p95_latency_s"))
    rows = next(iter(spec["datasets"].values()))
    assert {row["run"] for row in rows} == {"production", "development"}


def test_compare_chart_cost_is_cumulative(runs):
    spec = vega_lite_spec(charts.compare_chart(runs, "cost_usd"))
    rows = [row for row in next(iter(spec["datasets"].values())) if row["run"] == "production"]
    assert rows[-1]["value"] == pytest.approx(runs["production"].metrics["cost_usd"].sum())


def test_compare_chart_unknown_column(runs):
    with pytest.raises(ValueError, match="no_such_column"):
        charts.compare_chart(runs, "no_such_column")


def test_compare_chart_empty_runs():
    with pytest.raises(ValueError, match="runs is empty"):
        charts.compare_chart({}, "p95_latency_s")


def test_metric_builder_rejects_requests_frame(result):
    with pytest.raises(ValueError, match="time_s"):
        charts.latency_chart(result.requests)


def test_latency_histogram_bins(result):
    spec = vega_lite_spec(charts.latency_histogram(result.requests, bins=25))
    assert inline_rows(spec) == 25


def test_latency_histogram_counts_every_ok_request(result):
    spec = vega_lite_spec(charts.latency_histogram(result.requests))
    rows = next(iter(spec["datasets"].values()))
    assert sum(row["requests"] for row in rows) == int((result.requests["status"] == "ok").sum())


def test_latency_histogram_without_requests(result):
    empty = result.requests.iloc[0:0]
    spec = vega_lite_spec(charts.latency_histogram(empty, bins=10))
    assert inline_rows(spec) == 10


def test_erlang_chart_layers(validation):
    chart = charts.erlang_chart(validation)
    assert isinstance(chart, alt.LayerChart)
    spec = vega_lite_spec(chart)
    assert len(spec["layer"]) == 3


def simulated_points(spec: dict) -> list[dict]:
    """Return the rows of the simulated-points layer: the dataset that has confidence bounds."""
    return next(rows for rows in spec["datasets"].values() if rows and "low_s" in rows[0])


def test_erlang_chart_latency_adds_service_time(validation):
    wait = simulated_points(vega_lite_spec(charts.erlang_chart(validation, mean_service_s=0.05, measure="wait")))
    latency = simulated_points(vega_lite_spec(charts.erlang_chart(validation, mean_service_s=0.05, measure="latency")))
    differences = [after["time_s"] - before["time_s"] for before, after in zip(wait, latency)]
    assert differences == pytest.approx([0.05] * len(validation))


def test_erlang_chart_clips_interval_at_zero(validation):
    points = simulated_points(vega_lite_spec(charts.erlang_chart(validation)))
    assert min(row["low_s"] for row in points) >= 0


def test_erlang_chart_invalid_measure(validation):
    with pytest.raises(ValueError, match="measure"):
        charts.erlang_chart(validation, measure="throughput")


def test_downsample_limits_rows():
    metrics = pd.DataFrame(
        {
            "time_s": np.arange(1, 10_001) * 15.0,
            "arrivals": np.ones(10_000, dtype=int),
            "p95_latency_s": np.r_[np.zeros(9_999), 5.0],
            "utilization": np.full(10_000, 0.5),
        }
    )
    sampled = charts.downsample_metrics(metrics, max_points=500)
    assert len(sampled) <= 500
    assert sampled["arrivals"].sum() == 10_000
    assert sampled["p95_latency_s"].max() == 5.0
    assert sampled["utilization"].tolist() == pytest.approx([0.5] * len(sampled))
    assert sampled["time_s"].iloc[-1] == metrics["time_s"].iloc[-1]


def test_long_run_chart_stays_small():
    workload = Poisson(rate=1, duration_s=2 * 86_400)
    result = simulate(Scenario("development", workload), seed=1)
    assert len(result.metrics) > 10_000
    spec = vega_lite_spec(charts.latency_chart(result.metrics))
    assert inline_rows(spec) <= 3 * charts.DEFAULT_MAX_POINTS


def test_to_svg_renders(result):
    svg = charts.to_svg(charts.latency_chart(result.metrics))
    assert svg.lstrip().startswith("<svg")
    assert "</svg>" in svg


def test_show_returns_offline_jupyter_chart(result):
    widget = charts.show(charts.latency_chart(result.metrics))
    assert isinstance(widget, alt.JupyterChart)
    assert alt.JupyterChart._is_offline


def test_summary_table_html_escapes():
    table = charts.summary_table_html({"<name>": "a & b", "ratio": 0.123456, "count": 12345, "missing": None})
    assert "&lt;name&gt;" in table
    assert "a &amp; b" in table
    assert "0.1235" in table
    assert "12,345" in table
    assert "–" in table


def test_save_report_is_self_contained(tmp_path, result):
    path = charts.save_report(
        tmp_path / "reports" / "run.html",
        "Development <run>",
        result.summary(),
        [("Latency", charts.latency_chart(result.metrics)), charts.cost_chart(result.metrics)],
    )
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert text.count("<svg") == 2
    assert "Development &lt;run&gt;" in text
    assert "p95_latency_s" in text
    assert "<script" not in text.lower()
    assert "<link" not in text.lower()
    assert re.search(r"""(src|href)\s*=\s*["']?https?:""", text, re.IGNORECASE) is None
    assert "@import" not in text


def test_save_report_accepts_mapping(tmp_path, result):
    path = charts.save_report(tmp_path / "run.html", "run", {"requests": 1}, {"Errors": charts.error_chart(result)})
    assert "<figcaption>Errors</figcaption>" in path.read_text(encoding="utf-8")
