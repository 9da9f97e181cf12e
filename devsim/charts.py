"""Altair chart builders for simulation results, one function per figure kind.

Every builder takes the frames of a :class:`~devsim.sim.SimulationResult`
(``metrics`` or ``requests``; the result itself is accepted too) and returns an
``alt.Chart`` or a compound chart. Builders do no display: a notebook shows a
chart as a cell result, an app wraps it in :func:`show`, and a report embeds
it through :func:`to_svg`.

Charts stay light because their data is embedded in the spec: a metrics frame
longer than ``max_points`` rows is aggregated into at most that many time bins
before plotting.

Offline use. altair's default renderer loads Vega from a CDN, so charts stay
blank without network access. :func:`enable_offline` switches both display
paths that work offline: ``alt.JupyterChart`` widgets with their JavaScript
bundled by vl-convert (for JupyterLab and Voila), and the ``svg`` renderer for
charts shown as cell results, which renders them to static SVG in the kernel.

>>> from devsim.sim import Scenario, simulate
>>> from devsim.workload import Poisson
>>> from devsim import charts
>>> result = simulate(Scenario("development", Poisson(rate=20, duration_s=60)), seed=1)
>>> charts.latency_chart(result.metrics).to_dict()["mark"]["type"]
'line'
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

__all__ = [
    "DEFAULT_MAX_POINTS",
    "arrivals_chart",
    "compare_chart",
    "cost_chart",
    "dashboard",
    "downsample_metrics",
    "enable_offline",
    "erlang_chart",
    "error_chart",
    "forecast_chart",
    "latency_chart",
    "latency_histogram",
    "policy_bar_chart",
    "policy_timeline_chart",
    "replicas_chart",
    "save_report",
    "show",
    "summary_table_html",
    "to_svg",
]

# Rows of a metrics frame kept per chart before time bins are merged. A
# 20-minute run at the default 15 s scrape interval has 80 rows; one day has 5760.
DEFAULT_MAX_POINTS = 1000

DEFAULT_WIDTH = 560
DEFAULT_HEIGHT = 160

TIME_FIELD = "time_min"
TIME_AXIS_TITLE = "time (min)"

LATENCY_COLUMNS = {"p50_latency_s": "p50", "p95_latency_s": "p95", "p99_latency_s": "p99"}
REPLICA_COLUMNS = {"ready_replicas": "ready", "desired_replicas": "desired", "provisioned_replicas": "provisioned"}

# Columns summed and columns maximised when time bins are merged. Counts and
# costs add up, and latency quantiles keep the bin's maximum so that a short
# spike stays visible. Every other numeric column takes the mean.
_SUM_COLUMNS = ("arrivals", "completed", "cost_usd")
_MAX_COLUMNS = tuple(LATENCY_COLUMNS)


# ---------------------------------------------------------------------------
# Display helpers


def enable_offline(svg_renderer: bool = True) -> None:
    """Make charts display without network access in JupyterLab, Voila and papermill.

    Bundles the JavaScript of ``alt.JupyterChart`` with vl-convert, which takes
    a second or two on the first call in a kernel and nothing afterwards. With ``svg_renderer``, it
    also enables altair's ``svg`` renderer, so that a chart returned as a cell
    result is stored in the notebook as static SVG, which the HTML book shows.
    """
    alt.JupyterChart.enable_offline()
    if svg_renderer:
        alt.renderers.enable("svg")


def show(chart: alt.TopLevelMixin) -> alt.JupyterChart:
    """Wrap ``chart`` in an offline ``alt.JupyterChart`` widget that renders as SVG.

    Update the widget in place with ``widget.chart = new_chart``. Calls
    ``alt.JupyterChart.enable_offline()`` first, because a widget created before
    that call would load its JavaScript from a CDN.
    """
    alt.JupyterChart.enable_offline()
    return alt.JupyterChart(chart, embed_options={"renderer": "svg", "actions": False})


def to_svg(chart: alt.TopLevelMixin) -> str:
    """Render ``chart`` to an SVG document string with vl-convert, without a browser or network."""
    buffer = io.StringIO()
    chart.save(buffer, format="svg")
    return buffer.getvalue()


# ---------------------------------------------------------------------------
# Input frames


def _metrics_frame(metrics: Any) -> pd.DataFrame:
    """Return the metrics frame of ``metrics``: a DataFrame, or a result with a ``metrics`` attribute."""
    frame = getattr(metrics, "metrics", metrics)
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(
            f"expected a metrics DataFrame or a SimulationResult, got {type(metrics).__name__}"
        )
    if "time_s" not in frame.columns:
        raise ValueError(
            "metrics frame has no 'time_s' column; pass SimulationResult.metrics, "
            f"not a frame with columns {list(frame.columns)}"
        )
    return frame


def _requests_frame(requests: Any) -> pd.DataFrame:
    frame = getattr(requests, "requests", requests)
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(
            f"expected a requests DataFrame or a SimulationResult, got {type(requests).__name__}"
        )
    missing = {"latency_s", "status"} - set(frame.columns)
    if missing:
        raise ValueError(
            f"requests frame lacks the column(s) {sorted(missing)}; pass SimulationResult.requests"
        )
    return frame


def _require_columns(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(
            f"metrics frame lacks the column(s) {missing}; available: {list(frame.columns)}"
        )


def downsample_metrics(metrics: pd.DataFrame, max_points: int = DEFAULT_MAX_POINTS) -> pd.DataFrame:
    """Merge consecutive rows of ``metrics`` so that at most ``max_points`` rows remain.

    Each merged row ends at the last interval of its bin. Counts and costs are
    summed, latency quantiles take the maximum and other columns the mean, so a
    merged row is no longer an exact quantile of its requests. Adds a
    ``time_min`` column, the interval end in minutes.
    """
    if max_points < 1:
        raise ValueError(f"max_points must be >= 1, got {max_points!r}")
    frame = metrics.reset_index(drop=True)
    if len(frame) > max_points:
        rows_per_bin = math.ceil(len(frame) / max_points)
        groups = frame.groupby(frame.index // rows_per_bin)
        aggregations = {}
        for column in frame.columns:
            if column == "time_s":
                aggregations[column] = "last"
            elif column in _SUM_COLUMNS:
                aggregations[column] = "sum"
            elif column in _MAX_COLUMNS:
                aggregations[column] = "max"
            elif pd.api.types.is_numeric_dtype(frame[column]):
                aggregations[column] = "mean"
            else:
                aggregations[column] = "last"
        frame = groups.agg(aggregations).reset_index(drop=True)
    frame = frame.copy()
    frame[TIME_FIELD] = frame["time_s"] / 60.0
    return frame


def _long_frame(frame: pd.DataFrame, columns: Mapping[str, str], series: str, value: str) -> pd.DataFrame:
    """Melt ``columns`` of ``frame`` into rows of (time, series label, value)."""
    long = frame[[TIME_FIELD, *columns]].melt(id_vars=TIME_FIELD, var_name=series, value_name=value)
    long[series] = long[series].map(columns)
    return long


def _time_axis() -> alt.X:
    # nice=False ends the axis at the last interval instead of the next round number.
    return alt.X(f"{TIME_FIELD}:Q", title=TIME_AXIS_TITLE, scale=alt.Scale(nice=False, domainMin=0))


def _lines_over_time(
    data: pd.DataFrame,
    series: str,
    value: str,
    *,
    title: str | None,
    width: int,
    height: int,
    y_title: str,
    series_title: str,
    sort: list[str],
    value_format: str,
    tooltip_title: str | None = None,
    interpolate: str = "linear",
) -> alt.Chart:
    """Draw one line per ``series`` label of a long frame against simulated time in minutes."""
    return (
        alt.Chart(data, title=title, width=width, height=height)
        .mark_line(interpolate=interpolate)
        .encode(
            x=_time_axis(),
            y=alt.Y(f"{value}:Q", title=y_title),
            color=alt.Color(f"{series}:N", title=series_title, sort=sort),
            tooltip=[
                alt.Tooltip(f"{TIME_FIELD}:Q", title="time (min)", format=".2f"),
                f"{series}:N",
                alt.Tooltip(f"{value}:Q", title=tooltip_title or y_title, format=value_format),
            ],
        )
    )


# ---------------------------------------------------------------------------
# Time-series charts of one run


def latency_chart(
    metrics: Any,
    title: str = "Latency quantiles per interval",
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
    max_points: int = DEFAULT_MAX_POINTS,
) -> alt.Chart:
    """Plot the p50, p95 and p99 latency of successful requests over time, in seconds."""
    frame = _metrics_frame(metrics)
    _require_columns(frame, list(LATENCY_COLUMNS))
    data = _long_frame(downsample_metrics(frame, max_points), LATENCY_COLUMNS, "quantile", "latency_s")
    return _lines_over_time(
        data, "quantile", "latency_s", title=title, width=width, height=height, y_title="latency (s)",
        series_title="quantile", sort=list(LATENCY_COLUMNS.values()), value_format=".3f",
    )


def replicas_chart(
    metrics: Any,
    title: str = "Replicas",
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
    max_points: int = DEFAULT_MAX_POINTS,
) -> alt.Chart:
    """Plot ready, desired and provisioned replicas over time as step lines.

    Desired replicas are what the autoscaler requests, provisioned ones are paid
    for (starting, ready or draining) and ready ones serve traffic.
    """
    frame = _metrics_frame(metrics)
    _require_columns(frame, list(REPLICA_COLUMNS))
    data = _long_frame(downsample_metrics(frame, max_points), REPLICA_COLUMNS, "replicas", "count")
    return (
        alt.Chart(data, title=title, width=width, height=height)
        .mark_line(interpolate="step-before")
        .encode(
            x=_time_axis(),
            y=alt.Y("count:Q", title="replicas", axis=_whole_number_axis(data["count"].max())),
            color=alt.Color("replicas:N", title="replicas", sort=list(REPLICA_COLUMNS.values())),
            strokeDash=alt.StrokeDash("replicas:N", sort=list(REPLICA_COLUMNS.values()), legend=None),
            tooltip=[alt.Tooltip(f"{TIME_FIELD}:Q", title="time (min)", format=".2f"), "replicas:N", "count:Q"],
        )
    )


def _whole_number_axis(max_value: float) -> alt.Axis:
    # Vega's automatic ticks put 0.5 between 0 and 1 even with tickMinStep=1,
    # so small ranges get one explicit tick per whole number.
    if pd.notna(max_value) and max_value <= 10:
        return alt.Axis(values=list(range(0, int(max_value) + 1)), format="d")
    return alt.Axis(tickMinStep=1, format="d")


def error_chart(
    metrics: Any,
    title: str = "Error ratio (rejected and timed-out requests)",
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
    max_points: int = DEFAULT_MAX_POINTS,
) -> alt.Chart:
    """Plot the share of requests that ended rejected or timed out, per interval."""
    frame = _metrics_frame(metrics)
    _require_columns(frame, ["error_ratio"])
    data = downsample_metrics(frame, max_points)[[TIME_FIELD, "error_ratio"]]
    return (
        alt.Chart(data, title=title, width=width, height=height)
        .mark_area(line={"color": "#d62728"}, opacity=0.4, color="#d62728", interpolate="step-before")
        .encode(
            x=_time_axis(),
            y=alt.Y("error_ratio:Q", title="error ratio", axis=alt.Axis(format="%"), scale=alt.Scale(domainMin=0)),
            tooltip=[
                alt.Tooltip(f"{TIME_FIELD}:Q", title="time (min)", format=".2f"),
                alt.Tooltip("error_ratio:Q", title="error ratio", format=".1%"),
            ],
        )
    )


def cost_chart(
    metrics: Any,
    title: str = "Cumulative instance cost",
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
    max_points: int = DEFAULT_MAX_POINTS,
) -> alt.Chart:
    """Plot the running total of instance cost in US dollars.

    The total is summed over all intervals before any time bins are merged, so
    the last point is the run's whole cost.
    """
    frame = _metrics_frame(metrics)
    _require_columns(frame, ["cost_usd"])
    cumulative = frame[["time_s"]].assign(cumulative_cost_usd=frame["cost_usd"].cumsum())
    data = downsample_metrics(cumulative, max_points)
    # Merging bins takes the mean of a running total; the last row of each bin is the right value.
    data["cumulative_cost_usd"] = _last_per_bin(cumulative["cumulative_cost_usd"], max_points)
    return (
        alt.Chart(data[[TIME_FIELD, "cumulative_cost_usd"]], title=title, width=width, height=height)
        .mark_line(color="#2ca02c")
        .encode(
            x=_time_axis(),
            y=alt.Y("cumulative_cost_usd:Q", title="cost (USD)"),
            tooltip=[
                alt.Tooltip(f"{TIME_FIELD}:Q", title="time (min)", format=".2f"),
                alt.Tooltip("cumulative_cost_usd:Q", title="cost (USD)", format=".4f"),
            ],
        )
    )


def _last_per_bin(values: pd.Series, max_points: int) -> np.ndarray:
    values = values.reset_index(drop=True)
    if len(values) <= max_points:
        return values.to_numpy()
    rows_per_bin = math.ceil(len(values) / max_points)
    return values.groupby(values.index // rows_per_bin).last().to_numpy()


def arrivals_chart(
    metrics: Any,
    title: str = "Arrival rate and throughput",
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
    max_points: int = DEFAULT_MAX_POINTS,
) -> alt.Chart:
    """Plot the arrival rate and the rate of successful completions, in requests per second."""
    frame = _metrics_frame(metrics)
    _require_columns(frame, ["arrivals", "throughput_rps"])
    frame = frame.reset_index(drop=True)
    lengths = np.diff(np.concatenate([[0.0], frame["time_s"].to_numpy(dtype=float)]))
    with np.errstate(divide="ignore", invalid="ignore"):
        arrival_rate = np.where(lengths > 0, frame["arrivals"].to_numpy(dtype=float) / lengths, np.nan)
    rates = frame[["time_s"]].assign(arrival_rps=arrival_rate, throughput_rps=frame["throughput_rps"])
    columns = {"arrival_rps": "arrivals", "throughput_rps": "completed ok"}
    data = _long_frame(downsample_metrics(rates, max_points), columns, "rate", "requests_per_s")
    return _lines_over_time(
        data, "rate", "requests_per_s", title=title, width=width, height=height, y_title="requests per second",
        series_title="rate", sort=list(columns.values()), value_format=".2f", tooltip_title="requests/s",
    )


def dashboard(
    metrics: Any,
    title: str | None = None,
    width: int = DEFAULT_WIDTH,
    height: int = 120,
    max_points: int = DEFAULT_MAX_POINTS,
) -> alt.VConcatChart:
    """Stack the arrivals, latency, error, replicas and cost charts of one run."""
    frame = _metrics_frame(metrics)
    options = {"width": width, "height": height, "max_points": max_points}
    chart = alt.vconcat(
        arrivals_chart(frame, **options),
        latency_chart(frame, **options),
        error_chart(frame, **options),
        replicas_chart(frame, **options),
        cost_chart(frame, **options),
    ).resolve_scale(color="independent", strokeDash="independent")
    if title:
        chart = chart.properties(title=title)
    return chart


# ---------------------------------------------------------------------------
# Comparisons and distributions


def compare_chart(
    runs: Mapping[str, Any],
    column: str,
    cumulative: bool | None = None,
    title: str | None = None,
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
    max_points: int = DEFAULT_MAX_POINTS,
) -> alt.Chart:
    """Plot one metrics column of several runs over time, one line per run.

    Parameters
    ----------
    runs
        Label -> metrics frame (or a SimulationResult), for example
        ``{"production": prod.metrics, "development": dev.metrics}``.
    column
        A column of the metrics frames, such as ``"p95_latency_s"``.
    cumulative
        Plot the running total; ``None`` means True for ``cost_usd`` only.
    """
    if not runs:
        raise ValueError("runs is empty; pass at least one {label: metrics} entry")
    if cumulative is None:
        cumulative = column == "cost_usd"
    value_title = f"cumulative {column}" if cumulative else column

    parts = []
    for label, metrics in runs.items():
        frame = _metrics_frame(metrics)
        _require_columns(frame, [column])
        values = frame[column].cumsum() if cumulative else frame[column]
        series = frame[["time_s"]].assign(value=values.to_numpy())
        sampled = downsample_metrics(series, max_points)
        if cumulative:
            sampled["value"] = _last_per_bin(series["value"], max_points)
        parts.append(sampled[[TIME_FIELD, "value"]].assign(run=str(label)))
    data = pd.concat(parts, ignore_index=True)

    interpolate = "step-before" if column.endswith("replicas") else "linear"
    return _lines_over_time(
        data, "run", "value", title=title or f"{value_title} by run", width=width, height=height,
        y_title=value_title, series_title="run", sort=[str(label) for label in runs], value_format=".4g",
        interpolate=interpolate,
    )


def latency_histogram(
    requests: Any,
    bins: int = 40,
    max_quantile: float = 0.995,
    title: str | None = None,
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
) -> alt.Chart:
    """Plot the latency distribution of successful requests as a histogram.

    Counts are binned in NumPy, so the chart contains ``bins`` rows whatever the
    number of requests. Latencies above the ``max_quantile`` quantile are
    counted in the last bin, which keeps one slow outlier from flattening the
    rest. The default title then gives the number of such requests.
    """
    frame = _requests_frame(requests)
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins!r}")
    if not 0 < max_quantile <= 1:
        raise ValueError(f"max_quantile must be in (0, 1], got {max_quantile!r}")
    latency = frame.loc[frame["status"] == "ok", "latency_s"].to_numpy(dtype=float)
    latency = latency[np.isfinite(latency)]

    clipped = 0
    if len(latency):
        upper = float(np.quantile(latency, max_quantile))
        if upper <= 0:
            upper = float(latency.max()) or 1.0
        clipped = int((latency > upper).sum())
        counts, edges = np.histogram(np.minimum(latency, upper), bins=bins, range=(0.0, upper))
    else:
        counts, edges = np.zeros(bins, dtype=int), np.linspace(0.0, 1.0, bins + 1)
    data = pd.DataFrame({"start_s": edges[:-1], "end_s": edges[1:], "requests": counts})

    if title is None:
        title = f"Latency of {len(latency)} successful requests"
        if clipped:
            title += f" ({clipped} above p{max_quantile * 100:g} counted in the last bin)"
    return (
        alt.Chart(data, title=title, width=width, height=height)
        .mark_bar(color="#4c78a8")
        .encode(
            x=alt.X("start_s:Q", title="latency (s)", bin="binned"),
            x2="end_s:Q",
            y=alt.Y("requests:Q", title="requests"),
            tooltip=[
                alt.Tooltip("start_s:Q", title="from (s)", format=".3f"),
                alt.Tooltip("end_s:Q", title="to (s)", format=".3f"),
                "requests:Q",
            ],
        )
    )


def erlang_chart(
    validation: pd.DataFrame,
    mean_service_s: float = 1.0,
    measure: str = "wait",
    title: str | None = None,
    width: int = DEFAULT_WIDTH,
    height: int = 240,
    curve_points: int = 80,
) -> alt.LayerChart:
    """Plot simulated mean wait or latency against the M/M/c theory, over utilisation.

    Parameters
    ----------
    validation
        Rows of ``servers, utilization, simulated_wait_s`` and optionally
        ``ci_low_s, ci_high_s``, as :func:`devsim.validation.validate_mmc` returns.
    mean_service_s
        Mean service time ``1 / mu`` that the simulation used (``validate_mmc``
        uses 1 s, so times read in units of the mean service time).
    measure
        ``"wait"`` for the mean time in queue (Erlang C over ``c mu - lambda``)
        or ``"latency"`` for the mean response time, wait plus ``mean_service_s``.

    The theory curve of each server count is computed with
    :func:`devsim.theory.mmc_mean_wait` on a fine grid of utilisations from 0
    to a little past the largest simulated one, so the blow-up towards
    utilisation 1 is visible between the simulated points.
    """
    from devsim.theory import mmc_mean_wait

    if measure not in ("wait", "latency"):
        raise ValueError(f"measure must be 'wait' or 'latency', got {measure!r}")
    if mean_service_s <= 0:
        raise ValueError(f"mean_service_s must be > 0, got {mean_service_s!r}")
    missing = {"servers", "utilization", "simulated_wait_s"} - set(validation.columns)
    if missing:
        raise ValueError(
            f"validation frame lacks the column(s) {sorted(missing)}; pass the frame of devsim.validation.validate_mmc"
        )
    if validation.empty:
        raise ValueError("validation frame is empty")

    offset = mean_service_s if measure == "latency" else 0.0
    mu = 1.0 / mean_service_s
    top = min(0.98, max(0.95, float(validation["utilization"].max()) + 0.04))
    grid = np.linspace(0.0, top, curve_points)

    curve_rows = []
    for servers in sorted(validation["servers"].unique()):
        c = int(servers)
        for rho in grid:
            curve_rows.append(
                {"servers": f"c = {c}", "utilization": rho, "time_s": mmc_mean_wait(rho * c * mu, mu, c) + offset}
            )
    curve = pd.DataFrame(curve_rows)

    points = pd.DataFrame(
        {
            "servers": [f"c = {int(c)}" for c in validation["servers"]],
            "utilization": validation["utilization"].astype(float),
            "time_s": validation["simulated_wait_s"].astype(float) + offset,
        }
    )
    has_interval = {"ci_low_s", "ci_high_s"} <= set(validation.columns)
    if has_interval:
        # A mean wait cannot be negative, so the interval is cut at zero.
        points["low_s"] = validation["ci_low_s"].astype(float).clip(lower=0).to_numpy() + offset
        points["high_s"] = validation["ci_high_s"].astype(float).to_numpy() + offset

    label = "mean wait in queue (s)" if measure == "wait" else "mean latency (s)"
    if title is None:
        title = f"M/M/c {'wait' if measure == 'wait' else 'latency'}: simulation (points) vs Erlang C (lines)"
    color = alt.Color("servers:N", title="servers")
    x = alt.X("utilization:Q", title="utilisation ρ", scale=alt.Scale(domain=[0, 1]))

    theory = alt.Chart(curve).mark_line().encode(x=x, y=alt.Y("time_s:Q", title=label), color=color)
    simulated = (
        alt.Chart(points)
        .mark_point(filled=True, size=60)
        .encode(
            x=x,
            y="time_s:Q",
            color=color,
            tooltip=[
                "servers:N",
                alt.Tooltip("utilization:Q", format=".2f"),
                alt.Tooltip("time_s:Q", title=label, format=".4f"),
            ],
        )
    )
    layers = [theory, simulated]
    if has_interval:
        layers.append(alt.Chart(points).mark_rule().encode(x=x, y="low_s:Q", y2="high_s:Q", color=color))
    return alt.layer(*layers).properties(title=title, width=width, height=height)


# ---------------------------------------------------------------------------
# Forecasts and autoscaling policies


def _coarsen(series: pd.Series, max_points: int) -> pd.Series:
    """Average consecutive values of a time-indexed series so that at most ``max_points`` remain."""
    if len(series) <= max_points:
        return series
    rows_per_bin = math.ceil(len(series) / max_points)
    positions = np.arange(len(series)) // rows_per_bin
    # Each bin is labelled with the time of its first value.
    values = series.groupby(positions).mean().to_numpy()
    times = series.index[::rows_per_bin][: len(values)]
    return pd.Series(values, index=times, name=series.name)


def forecast_chart(
    actual: pd.Series,
    forecasts: Mapping[str, pd.Series] | None = None,
    start: Any = None,
    end: Any = None,
    split: Any = None,
    title: str = "Forecast and actual values",
    value_title: str = "value per interval",
    width: int = DEFAULT_WIDTH,
    height: int = 200,
    max_points: int = DEFAULT_MAX_POINTS,
) -> alt.Chart | alt.LayerChart:
    """Plot a time series and forecasts of it over calendar time, one line each.

    Parameters
    ----------
    actual
        The observed values, indexed by timestamp.
    forecasts
        Label -> forecast, each indexed by target time, as the ``predict``
        methods of :mod:`devsim.ml.forecast` return them.
    start, end
        Timestamps that bound the plotted stretch, both included; ``None``
        plots from the first or to the last value.
    split
        Timestamp of a train/test split, drawn as a vertical rule.

    A line longer than ``max_points`` values is averaged over consecutive
    values, which smooths peaks.
    """
    if not isinstance(actual, pd.Series) or not isinstance(actual.index, pd.DatetimeIndex):
        raise TypeError("actual must be a pandas Series indexed by timestamps")
    lines = {"actual": actual, **dict(forecasts or {})}
    parts = []
    for label, series in lines.items():
        if not isinstance(series, pd.Series) or not isinstance(series.index, pd.DatetimeIndex):
            raise TypeError(f"forecast {label!r} must be a pandas Series indexed by timestamps")
        part = series.loc[start:end].astype(float)
        if part.empty:
            raise ValueError(f"{label!r} has no value between {start} and {end}")
        part = _coarsen(part, max_points)
        parts.append(pd.DataFrame({"time": part.index, "series": str(label), "value": part.to_numpy()}))
    data = pd.concat(parts, ignore_index=True)

    order = list(map(str, lines))
    line = (
        alt.Chart(data, title=title, width=width, height=height)
        .mark_line()
        .encode(
            x=alt.X("time:T", title=None),
            y=alt.Y("value:Q", title=value_title),
            color=alt.Color("series:N", title=None, sort=order),
            strokeDash=alt.condition(alt.datum.series == "actual", alt.value([1, 0]), alt.value([5, 3])),
            tooltip=[alt.Tooltip("time:T", format="%Y-%m-%d %H:%M"), "series:N", alt.Tooltip("value:Q", format=",.1f")],
        )
    )
    if split is None:
        return line
    rule = (
        alt.Chart(pd.DataFrame({"time": [pd.Timestamp(split)], "label": ["train | test"]}))
        .mark_rule(color="#555", strokeDash=[2, 2])
        .encode(x="time:T", tooltip=[alt.Tooltip("time:T", title="split", format="%Y-%m-%d %H:%M")])
    )
    return alt.layer(line, rule)


def policy_timeline_chart(
    results: Mapping[str, Any],
    column: str = "ready_replicas",
    start: Any = None,
    between: tuple[Any, Any] | None = None,
    title: str = "Ready replicas by policy",
    value_title: str | None = None,
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
    max_points: int = DEFAULT_MAX_POINTS,
) -> alt.Chart:
    """Plot one metrics column of several runs, one line per run, over hours or calendar time.

    Parameters
    ----------
    results
        Label -> SimulationResult (or metrics frame), such as the ``results`` of
        :func:`devsim.autoscale.compare_policies`.
    column
        A metrics column. Replica columns are drawn as steps.
    start
        Timestamp of the run's time 0. With it the x axis shows calendar time,
        without it hours from the start.
    between
        ``(first, last)``: plot only the intervals that end in this range, both
        included, given as timestamps when ``start`` is given and as hours otherwise.

    Runs longer than ``max_points`` intervals are averaged over time bins (see
    :func:`downsample_metrics`), so a week of 15 s intervals shows the mean
    replicas of each 10-minute bin.
    """
    if not results:
        raise ValueError("results is empty; pass at least one {label: result} entry")
    bounds_s = None
    if between is not None:
        first, last = between
        if start is None:
            bounds_s = (float(first) * 3600.0, float(last) * 3600.0)
        else:
            origin = pd.Timestamp(start)
            bounds_s = ((pd.Timestamp(first) - origin).total_seconds(), (pd.Timestamp(last) - origin).total_seconds())
    parts = []
    for label, result in results.items():
        frame = _metrics_frame(result)
        _require_columns(frame, [column])
        frame = frame[["time_s", column]]
        if bounds_s is not None:
            frame = frame[(frame["time_s"] >= bounds_s[0]) & (frame["time_s"] <= bounds_s[1])]
            if frame.empty:
                raise ValueError(f"run {label!r} has no interval between {between[0]} and {between[1]}")
        sampled = downsample_metrics(frame, max_points)
        part = pd.DataFrame({"value": sampled[column].to_numpy(), "run": str(label)})
        if start is None:
            part["time"] = sampled["time_s"].to_numpy() / 3600.0
        else:
            part["time"] = pd.Timestamp(start) + pd.to_timedelta(sampled["time_s"].to_numpy(), unit="s")
        parts.append(part)
    data = pd.concat(parts, ignore_index=True)

    if start is None:
        x = alt.X("time:Q", title="time (h)", scale=alt.Scale(nice=False, domainMin=0))
        time_tooltip = alt.Tooltip("time:Q", title="time (h)", format=".2f")
    else:
        x = alt.X("time:T", title=None)
        time_tooltip = alt.Tooltip("time:T", title="time", format="%Y-%m-%d %H:%M")
    interpolate = "step-before" if column.endswith("replicas") else "linear"
    top = float(data["value"].max()) if len(data) else math.nan
    # A tenth of room above the largest value keeps a flat line at the maximum off the frame.
    y_scale = alt.Scale(domainMin=0, domainMax=top * 1.1) if math.isfinite(top) and top > 0 else alt.Scale(domainMin=0)
    return (
        alt.Chart(data, title=title, width=width, height=height)
        .mark_line(interpolate=interpolate)
        .encode(
            x=x,
            y=alt.Y("value:Q", title=value_title or column, scale=y_scale),
            color=alt.Color("run:N", title="policy", sort=[str(label) for label in results]),
            tooltip=[time_tooltip, "run:N", alt.Tooltip("value:Q", title=value_title or column, format=".4g")],
        )
    )


def policy_bar_chart(
    table: pd.DataFrame,
    column: str,
    title: str | None = None,
    value_title: str | None = None,
    value_format: str = ",.0f",
    width: int = 300,
    height: int | None = None,
) -> alt.LayerChart:
    """Draw one horizontal bar per row of ``table`` for ``column``, labelled with its value.

    ``table`` has one row per policy, indexed by the policy name, like the
    ``table`` of :func:`devsim.autoscale.compare_policies`. ``value_format`` is
    a d3 format string for the labels and the tooltip.
    """
    if column not in table.columns:
        raise ValueError(f"table has no column {column!r}; available: {list(table.columns)}")
    if table.empty:
        raise ValueError("table is empty; it needs one row per policy")
    data = pd.DataFrame({"policy": [str(name) for name in table.index], "value": table[column].astype(float).to_numpy()})
    order = list(data["policy"])
    value_title = value_title or column
    bars = alt.Chart(data, title=title or value_title, width=width, height=height or 28 * len(data)).encode(
        y=alt.Y("policy:N", title=None, sort=order),
        x=alt.X("value:Q", title=value_title, scale=alt.Scale(domainMin=0)),
        tooltip=["policy:N", alt.Tooltip("value:Q", title=value_title, format=value_format)],
    )
    labels = bars.mark_text(align="left", dx=3).encode(text=alt.Text("value:Q", format=value_format))
    return alt.layer(bars.mark_bar(color="#4c78a8"), labels)


# ---------------------------------------------------------------------------
# Static HTML report


def _format_value(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not math.isfinite(value):
            return str(value)
        if value == 0:
            return "0"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.4g}"
    return str(value)


def summary_table_html(summary: Mapping[str, Any], css_class: str = "devsim-summary-table") -> str:
    """Return ``summary`` as an HTML table of name and value rows, with values escaped.

    Floats show four significant digits and ``None`` shows as a dash.
    """
    rows = "\n".join(
        f"<tr><th>{html.escape(str(name))}</th><td>{html.escape(_format_value(value))}</td></tr>"
        for name, value in summary.items()
    )
    return f'<table class="{html.escape(css_class)}">\n{rows}\n</table>'


_REPORT_CSS = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }
table { border-collapse: collapse; margin-bottom: 2em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 1em; text-align: left; }
td { font-variant-numeric: tabular-nums; }
figure { margin: 0 0 2em 0; }
figcaption { font-weight: bold; margin-bottom: 0.5em; }
footer { color: #777; font-size: 0.85em; }
"""


def _named_charts(charts: Any) -> list[tuple[str | None, Any]]:
    if isinstance(charts, Mapping):
        return [(str(name), chart) for name, chart in charts.items()]
    named = []
    for item in charts:
        if isinstance(item, tuple) and len(item) == 2:
            named.append((str(item[0]), item[1]))
        else:
            named.append((None, item))
    return named


def save_report(
    path: str | Path,
    title: str,
    summary: Mapping[str, Any],
    charts: Mapping[str, Any] | Sequence[Any] = (),
) -> Path:
    """Write a self-contained HTML report and return its path.

    Parameters
    ----------
    path
        File to write; missing parent folders are created.
    title
        Page title and heading.
    summary
        Name -> value pairs shown as a table, such as ``SimulationResult.summary()``.
    charts
        Charts as ``{caption: chart}``, a list of ``(caption, chart)`` pairs, or
        a list of charts without captions.

    The file has its charts inline as SVG and its style in the page: no script,
    no stylesheet link and no other request, so it opens offline and in mail
    clients that block scripts.
    """
    path = Path(path)
    figures = []
    for caption, chart in _named_charts(charts):
        svg = to_svg(chart)
        heading = f"<figcaption>{html.escape(caption)}</figcaption>\n" if caption else ""
        figures.append(f"<figure>\n{heading}{svg}\n</figure>")

    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    document = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f"<title>{html.escape(title)}</title>",
            f"<style>{_REPORT_CSS}</style>",
            "</head>",
            "<body>",
            f"<h1>{html.escape(title)}</h1>",
            "<h2>Summary</h2>",
            summary_table_html(summary),
            *(["<h2>Charts</h2>"] if figures else []),
            *figures,
            f"<footer>Written by devsim on {created}.</footer>",
            "</body>",
            "</html>",
            "",
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------
# Rollouts
#
# Builders for the record of devsim.sim.deployment.simulate_rollout. Their
# x axis is seconds since the rollout started, so that a figure such as
# ``rollback_after_s`` in the rollout's summary reads straight off the axis.
# Every builder shades the stretch in which a rollback ran.

__all__ += ["rollout_errors_chart", "rollout_timeline_chart", "traffic_share_chart"]

ROLLOUT_TIME_FIELD = "since_start_s"
ROLLOUT_TIME_TITLE = "time since the rollout started (s)"

_TIMELINE_COLUMNS = ("time_s", "stage", "new_total", "new_ready", "old_total", "old_ready", "terminating", "new_traffic_share")

# Request statuses that count as failed, with their colours in the errors chart.
FAILED_STATUS_COLORS = {"rejected": "#ff7f0e", "timed_out": "#9467bd", "error": "#d62728", "dropped": "#8c564b"}

# Events marked on the errors chart, with their colours.
ROLLOUT_EVENT_COLORS = {
    "rollout_started": "#2ca02c",
    "rollout_completed": "#1f77b4",
    "rollback_started": "#d62728",
    "rollback_completed": "#ff9896",
    "progress_deadline_exceeded": "#7f7f7f",
}

_ROLLBACK_BAND_COLOR = "#ffbb78"


def _timeline_frame(timeline: Any) -> pd.DataFrame:
    """Return the timeline frame of ``timeline``: a DataFrame, or a RolloutResult with a ``timeline`` attribute."""
    frame = getattr(timeline, "timeline", timeline)
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a rollout timeline DataFrame or a RolloutResult, got {type(timeline).__name__}")
    missing = [column for column in _TIMELINE_COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(
            f"rollout timeline lacks the column(s) {missing}; pass RolloutResult.timeline, "
            f"not a frame with columns {list(frame.columns)}"
        )
    if frame.empty:
        raise ValueError("rollout timeline is empty; the run ended before the rollout started")
    # The rollout's last sample and the first sample after it can share a time, so the later one is kept.
    return frame.drop_duplicates("time_s", keep="last").reset_index(drop=True)


def _crop_timeline(frame: pd.DataFrame, max_time_s: float | None) -> tuple[pd.DataFrame, float]:
    """Return the rows of ``frame`` up to ``max_time_s`` after its first row, and the first row's time."""
    origin_s = float(frame["time_s"].iloc[0])
    if max_time_s is None:
        return frame, origin_s
    if not max_time_s > 0:
        raise ValueError(f"max_time_s must be > 0 or None, got {max_time_s!r}")
    return frame[frame["time_s"] - origin_s <= max_time_s], origin_s


def _rollout_time_axis(domain_max: float | None = None) -> alt.X:
    scale = alt.Scale(nice=False, domainMin=0) if domain_max is None else alt.Scale(nice=False, domain=[0, domain_max])
    return alt.X(f"{ROLLOUT_TIME_FIELD}:Q", title=ROLLOUT_TIME_TITLE, scale=scale)


def _rollback_band(frame: pd.DataFrame, origin_s: float) -> alt.Chart | None:
    """Return a shaded rectangle over the timeline rows whose stage is ``rollback``, or None without a rollback."""
    stages = frame["stage"].astype(str).to_numpy()
    times = frame["time_s"].to_numpy(dtype=float)
    rows = np.flatnonzero(stages == "rollback")
    if not len(rows):
        return None
    # A row is sampled before the controller decides, so the rollback began at the row before its first one.
    first = rows[0] - 1 if rows[0] > 0 else rows[0]
    last = min(rows[-1] + 1, len(times) - 1)
    band = pd.DataFrame(
        {"start": [times[first] - origin_s], "end": [times[last] - origin_s], "label": ["rollback running"]}
    )
    return (
        alt.Chart(band)
        .mark_rect(color=_ROLLBACK_BAND_COLOR, opacity=0.35, clip=True)
        .encode(
            x=alt.X("start:Q", title=ROLLOUT_TIME_TITLE),
            x2="end:Q",
            tooltip=[
                alt.Tooltip("label:N", title="stage"),
                alt.Tooltip("start:Q", title="from (s)", format=".0f"),
                alt.Tooltip("end:Q", title="to (s)", format=".0f"),
            ],
        )
    )


def rollout_timeline_chart(
    timeline: Any,
    title: str = "Pods by version during the rollout",
    old_label: str = "old",
    new_label: str = "new",
    max_time_s: float | None = None,
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
) -> alt.Chart | alt.LayerChart:
    """Plot the pods of the old and the new version over time: all of them (dashed) and the ready ones (solid).

    ``timeline`` is ``RolloutResult.timeline`` (or the result itself). A grey
    line counts the pods that are draining. The stretch in which a rollback
    ran is shaded, so a rollback shows as a second rollout towards the old
    version. ``old_label`` and ``new_label`` name the versions in the legend.
    ``max_time_s`` ends the plot that many seconds after the rollout started
    (default: at the end of traffic).
    """
    frame, origin_s = _crop_timeline(_timeline_frame(timeline), max_time_s)
    columns = {
        "new_total": (new_label, "all pods"),
        "new_ready": (new_label, "ready"),
        "old_total": (old_label, "all pods"),
        "old_ready": (old_label, "ready"),
        "terminating": ("draining", "all pods"),
    }
    parts = []
    for column, (version, kind) in columns.items():
        parts.append(
            pd.DataFrame(
                {
                    ROLLOUT_TIME_FIELD: frame["time_s"].to_numpy(dtype=float) - origin_s,
                    "version": version,
                    "pods": frame[column].to_numpy(dtype=int),
                    "kind": kind,
                }
            )
        )
    data = pd.concat(parts, ignore_index=True)
    versions = [new_label, old_label, "draining"]
    lines = (
        alt.Chart(data)
        .mark_line(interpolate="step-after")
        .encode(
            x=_rollout_time_axis(),
            y=alt.Y("pods:Q", title="pods", axis=_whole_number_axis(data["pods"].max())),
            color=alt.Color(
                "version:N",
                title="version",
                sort=versions,
                scale=alt.Scale(domain=versions, range=["#1f77b4", "#ff7f0e", "#999999"]),
            ),
            strokeDash=alt.StrokeDash(
                "kind:N",
                title="pods",
                sort=["ready", "all pods"],
                scale=alt.Scale(domain=["ready", "all pods"], range=[[1, 0], [5, 3]]),
            ),
            detail="kind:N",
            tooltip=[
                alt.Tooltip(f"{ROLLOUT_TIME_FIELD}:Q", title="time (s)", format=".0f"),
                "version:N",
                alt.Tooltip("kind:N", title="pods"),
                alt.Tooltip("pods:Q", title="count"),
            ],
        )
    )
    band = _rollback_band(frame, origin_s)
    layers = [lines] if band is None else [band, lines]
    return alt.layer(*layers).properties(title=title, width=width, height=height)


def traffic_share_chart(
    timeline: Any,
    title: str = "Share of traffic sent to the new version",
    max_time_s: float | None = None,
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
) -> alt.LayerChart:
    """Plot the new version's share of requests over time, from 0 to 100%.

    With a traffic router (canary, blue-green) the share is the router's
    weight. Otherwise it is the new version's share of the ready pods, which
    is how a Service spreads requests. A rollback's stretch is shaded.
    ``max_time_s`` ends the plot that many seconds after the rollout started.
    """
    frame, origin_s = _crop_timeline(_timeline_frame(timeline), max_time_s)
    data = pd.DataFrame(
        {
            ROLLOUT_TIME_FIELD: frame["time_s"].to_numpy(dtype=float) - origin_s,
            "share": frame["new_traffic_share"].to_numpy(dtype=float),
            "stage": frame["stage"].astype(str).to_numpy(),
        }
    )
    area = (
        alt.Chart(data)
        .mark_area(interpolate="step-after", color="#1f77b4", opacity=0.35, line={"color": "#1f77b4"})
        .encode(
            x=_rollout_time_axis(),
            y=alt.Y("share:Q", title="new version's share", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
            tooltip=[
                alt.Tooltip(f"{ROLLOUT_TIME_FIELD}:Q", title="time (s)", format=".0f"),
                alt.Tooltip("share:Q", title="share", format=".0%"),
                "stage:N",
            ],
        )
    )
    band = _rollback_band(frame, origin_s)
    layers = [area] if band is None else [band, area]
    return alt.layer(*layers).properties(title=title, width=width, height=height)


def _rollout_parts(result: Any) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """Return (requests, events, timeline or None) of a RolloutResult or a SimulationResult."""
    timeline = getattr(result, "timeline", None)
    simulation = getattr(result, "result", result)
    requests = getattr(simulation, "requests", None)
    events = getattr(simulation, "events", None)
    if not isinstance(requests, pd.DataFrame) or not isinstance(events, pd.DataFrame):
        raise TypeError(f"expected a RolloutResult or a SimulationResult, got {type(result).__name__}")
    if not {"arrival_s", "status"} <= set(requests.columns):
        raise ValueError("the result's requests frame lacks 'arrival_s' or 'status'")
    return requests, events, timeline if isinstance(timeline, pd.DataFrame) else None


def rollout_errors_chart(
    result: Any,
    interval_s: float = 5.0,
    title: str = "Failed requests per interval",
    max_time_s: float | None = None,
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
) -> alt.LayerChart:
    """Draw failed requests per ``interval_s`` by status as stacked bars, with rollout events as rules.

    ``result`` is a RolloutResult (or its SimulationResult). Requests count in
    the interval of their arrival, from the rollout start to the end of
    traffic. Vertical rules mark the rollout's start and completion, a
    rollback's start and completion and a progress deadline exceeded.
    A RolloutResult also gets its rollback stretch shaded. ``max_time_s``
    ends the plot that many seconds after the rollout started.
    """
    if not interval_s > 0:
        raise ValueError(f"interval_s must be > 0, got {interval_s!r}")
    if max_time_s is not None and not max_time_s > 0:
        raise ValueError(f"max_time_s must be > 0 or None, got {max_time_s!r}")
    requests, events, timeline = _rollout_parts(result)
    kinds = events["kind"] if "kind" in events.columns else pd.Series([], dtype=object)
    started = events.loc[kinds == "rollout_started", "time_s"]
    origin_s = float(started.iloc[0]) if len(started) else 0.0

    arrivals = requests["arrival_s"].to_numpy(dtype=float)
    end_s = float(arrivals.max()) if len(arrivals) else origin_s
    if max_time_s is not None:
        end_s = min(end_s, origin_s + max_time_s)
    bins = max(1, math.ceil((end_s - origin_s) / interval_s - 1e-9))
    after = (arrivals >= origin_s) & (arrivals < origin_s + bins * interval_s)
    statuses = requests["status"].astype(str).to_numpy()[after]
    index = np.minimum(((arrivals[after] - origin_s) // interval_s).astype(int), bins - 1)
    counts = {}
    for status in FAILED_STATUS_COLORS:
        counts[status] = np.bincount(index[statuses == status], minlength=bins)
    starts = np.arange(bins) * interval_s
    data = pd.concat(
        [
            pd.DataFrame({"start": starts, "end": starts + interval_s, "status": status, "failed": count})
            for status, count in counts.items()
        ],
        ignore_index=True,
    )
    total = int(data["failed"].sum())
    # Empty intervals draw nothing, so they are left out to keep the embedded data and the SVG small.
    data = data[data["failed"] > 0]
    domain_max = float(bins * interval_s)
    y_scale = alt.Scale(domainMin=0) if total else alt.Scale(domain=[0, 1])
    bars = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("start:Q", title=ROLLOUT_TIME_TITLE, scale=alt.Scale(nice=False, domain=[0, domain_max])),
            x2="end:Q",
            y=alt.Y("sum(failed):Q", title=f"failed requests per {interval_s:g} s", stack="zero", scale=y_scale),
            color=alt.Color(
                "status:N",
                title="status",
                sort=list(FAILED_STATUS_COLORS),
                scale=alt.Scale(domain=list(FAILED_STATUS_COLORS), range=list(FAILED_STATUS_COLORS.values())),
            ),
            tooltip=[
                alt.Tooltip("start:Q", title="from (s)", format=".0f"),
                alt.Tooltip("end:Q", title="to (s)", format=".0f"),
                "status:N",
                alt.Tooltip("sum(failed):Q", title="failed"),
            ],
        )
    )
    layers: list[Any] = [bars]
    if timeline is not None and not timeline.empty and "stage" in timeline.columns:
        band = _rollback_band(timeline[timeline["time_s"] - origin_s <= domain_max], origin_s)
        if band is not None:
            layers.insert(0, band)

    marked = events[kinds.isin(list(ROLLOUT_EVENT_COLORS))] if len(events) else events
    if len(marked):
        marked = marked[marked["time_s"] - origin_s <= domain_max]
    if len(marked):
        reasons = marked["reason"] if "reason" in marked.columns else pd.Series([""] * len(marked))
        markers = pd.DataFrame(
            {
                "at": marked["time_s"].to_numpy(dtype=float) - origin_s,
                "event": marked["kind"].astype(str).to_numpy(),
                "reason": reasons.fillna("").astype(str).to_numpy(),
            }
        )
        present = [kind for kind in ROLLOUT_EVENT_COLORS if kind in set(markers["event"])]
        rules = (
            alt.Chart(markers)
            .mark_rule(strokeWidth=2, strokeDash=[4, 2])
            .encode(
                x=alt.X("at:Q", title=ROLLOUT_TIME_TITLE),
                color=alt.Color(
                    "event:N",
                    title="event",
                    sort=present,
                    scale=alt.Scale(domain=present, range=[ROLLOUT_EVENT_COLORS[kind] for kind in present]),
                ),
                tooltip=["event:N", alt.Tooltip("at:Q", title="time (s)", format=".0f"), "reason:N"],
            )
        )
        layers.append(rules)
    if not total:
        title = f"{title} (none failed)"
    return alt.layer(*layers).resolve_scale(color="independent").properties(title=title, width=width, height=height)
