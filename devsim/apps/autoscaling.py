"""Fixed, reactive (HPA) and predictive autoscaling compared on one week of a trace.

The experimental build promises predictive auto-scaling on an XGBoost load
forecast. This module runs the comparisons behind chapter 4 and the Voila app
``voila/autoscaling-comparison.ipynb``:

* :func:`run_comparison` replays one week of the test part of a trace (the
  part after the forecaster's training data) under each chosen policy with
  :func:`devsim.autoscale.compare_policies`;
* :func:`count_violations` and :func:`comparison_table` count SLO violations
  after a warm-up, because every autoscaled run starts cold;
* :func:`flash_crowd_comparison` adds a burst that no forecast can know;
* :func:`build_autoscaling_app` builds the app's widget.

The logic needs no widgets: :class:`AutoscalingApp` only reads its controls,
calls :func:`run_comparison` and writes the outputs.

Warm-up. Every autoscaled run starts with the profile's initial replicas (3 in
production), well below what the traces need at the multipliers used here, so
the first minutes of every run violate the SLO whatever the policy. The fixed
fleet is sized for the peak from the start. Counting violations only after
:data:`WARMUP_S` compares the policies on the load they were built for.
"""

from __future__ import annotations

import html
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as widgets
import pandas as pd

from devsim import charts
from devsim.apps._common import placeholder_chart, run_reporting_errors
from devsim.autoscale import PolicyComparison, compare_policies, trace_series, walk_forward_forecast
from devsim.profiles import Profile, load_profile
from devsim.sim.autoscaling import HorizontalPodAutoscaler, Predictive
from devsim.sim.flow import run_scenario
from devsim.sim.model import Scenario, SimulationResult
from devsim.workload import Burst, trace_workload

__all__ = [
    "APP_POLICIES",
    "APP_TRACES",
    "COMBINE_CHOICES",
    "MAX_RATE_MULTIPLIER",
    "MAX_REPLICAS",
    "POLICY_LABELS",
    "STARTUP_DELAYS_S",
    "WARMUP_S",
    "AutoscalingApp",
    "ComparisonOutcome",
    "ComparisonSettings",
    "ScalingTrace",
    "build_autoscaling_app",
    "comparison_table",
    "count_test_weeks",
    "count_violations",
    "flash_crowd_comparison",
    "results_html",
    "run_comparison",
    "split_test_part",
    "validate_settings",
    "week_window",
]

logger = logging.getLogger(__name__)

# Violations in the first hour of a run are not counted in ``violations_after_warmup``.
# A cold start violates the SLO for about one startup delay: on week 4 of NYC
# taxi at 30 times its rate, until 15.5 min with a 900 s delay and 30.5 min with
# 1800 s. One hour covers every startup delay the app offers.
WARMUP_S = 3600.0

# Upper bound on replicas in every comparison here. The production profile's
# maximum of 20 would cap the fleet below the peak at higher multipliers.
MAX_REPLICAS = 60

MAX_RATE_MULTIPLIER = 1000.0
MAX_HEADROOM = 2.0

# compare_policies trains the forecaster on the first half of the trace, by time.
TRAIN_FRACTION = 0.5

SLO_P95_S = 0.5
MAX_ERROR_RATIO = 0.01

APP_POLICIES = ("manual", "hpa", "predictive")
POLICY_LABELS = {
    "manual": "fixed for the peak",
    "hpa": "HPA (reactive)",
    "predictive": "predictive (XGBoost)",
    "predictive-online": "predictive, refitted daily",
}
COMBINE_CHOICES = {
    "max": "forecast, with the HPA as a floor",
    "forecast": "forecast only",
}
STARTUP_DELAYS_S = (30, 60, 120, 300, 600, 900, 1800)

CHART_WIDTH = 760
BAR_WIDTH = 300


@dataclass(frozen=True)
class ScalingTrace:
    """A trace the app offers, with the settings it starts from."""

    label: str
    multiplier: float
    week: int


APP_TRACES = {
    "nab-nyc-taxi": ScalingTrace("NYC taxi passengers (NAB), counts per 30 min, Jul 2014 – Jan 2015", 30.0, 4),
    "nab-elb-request-count-8c0756": ScalingTrace("AWS ELB requests (NAB), counts per 5 min, 14 days", 200.0, 1),
}


@dataclass(frozen=True)
class ComparisonSettings:
    """Everything one comparison depends on.

    ``week`` counts from 1, the first week of the test part. ``combine`` is
    the :class:`~devsim.sim.autoscaling.Predictive` setting: ``"max"`` keeps
    the HPA's result as a floor, ``"forecast"`` trusts the forecast alone.
    """

    trace: str = "nab-nyc-taxi"
    rate_multiplier: float = 30.0
    startup_delay_s: float = 120.0
    headroom: float = 0.0
    policies: tuple[str, ...] = APP_POLICIES
    week: int = 4
    combine: str = "max"
    seed: int = 0


@dataclass
class ComparisonOutcome:
    """Result of :func:`run_comparison`.

    ``table`` is :func:`comparison_table` of the runs, one row per policy.
    ``window_start`` is the timestamp of the replayed week's first interval.
    """

    settings: ComparisonSettings
    table: pd.DataFrame
    results: dict[str, SimulationResult]
    forecast: pd.Series | None
    test_start: pd.Timestamp
    window_start: pd.Timestamp
    window_end: pd.Timestamp
    elapsed_s: float
    comparison_settings: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------
# Settings


def split_test_part(trace: str, train_fraction: float = TRAIN_FRACTION) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Return the start and end timestamps of the part of ``trace`` that compare_policies replays.

    The split follows :func:`devsim.autoscale.compare_policies`: the first
    interval at or after ``train_fraction`` of the trace's time span. The end
    is the end of the last interval.
    """
    series = trace_series(trace)
    index = series.index
    split = index[0] + (index[-1] - index[0]) * train_fraction
    start = index[index >= split][0]
    return start, index[-1] + (index[1] - index[0])


def count_test_weeks(trace: str) -> int:
    """Return how many weeks of the test part of ``trace`` the app offers.

    A last, partial week counts when it has at least one day of trace, so the
    14-day ELB series, whose test part is 7 days and a few minutes, offers one week.
    """
    start, end = split_test_part(trace)
    days = (end - start) / pd.Timedelta(days=1)
    return max(1, math.ceil((days - 1) / 7))


def week_window(week: int) -> str:
    """Return the ``test_window`` of compare_policies for week ``week`` (from 1) of the test part."""
    return f"{7 * (week - 1)}D:{7 * week}D"


def validate_settings(settings: ComparisonSettings) -> None:
    """Raise ValueError with a message naming the value and the fix unless ``settings`` can run."""
    if settings.trace not in APP_TRACES:
        raise ValueError(f"trace {settings.trace!r} not found; choose one of {', '.join(APP_TRACES)}")
    multiplier = settings.rate_multiplier
    if not math.isfinite(multiplier) or multiplier <= 0:
        raise ValueError(f"rate multiplier must be greater than zero, got {multiplier:g}")
    if multiplier > MAX_RATE_MULTIPLIER:
        raise ValueError(f"rate multiplier must be at most {MAX_RATE_MULTIPLIER:g}, got {multiplier:g}")
    if not math.isfinite(settings.startup_delay_s) or settings.startup_delay_s < 0:
        raise ValueError(f"startup delay must be zero or more seconds, got {settings.startup_delay_s:g}")
    if not math.isfinite(settings.headroom) or not 0 <= settings.headroom <= MAX_HEADROOM:
        raise ValueError(
            f"headroom must be between 0 and {MAX_HEADROOM:g} ({MAX_HEADROOM:.0%}), got {settings.headroom:g}"
        )
    if not settings.policies:
        raise ValueError("no policy chosen; tick at least one of manual, hpa and predictive")
    unknown = [name for name in settings.policies if name not in POLICY_LABELS]
    if unknown:
        raise ValueError(f"policy {unknown[0]!r} not found; choose from {', '.join(POLICY_LABELS)}")
    if settings.combine not in COMBINE_CHOICES:
        raise ValueError(f"combine must be one of {', '.join(COMBINE_CHOICES)}, got {settings.combine!r}")

    start, end = split_test_part(settings.trace)
    days = (end - start) / pd.Timedelta(days=1)
    weeks = count_test_weeks(settings.trace)
    if not 1 <= settings.week <= weeks:
        raise ValueError(
            f"week {settings.week} is outside the test part of {settings.trace}, which spans {days:.1f} days "
            f"from {start:%Y-%m-%d %H:%M}; choose a week from 1 to {weeks}"
        )


# ---------------------------------------------------------------------------
# Violations and tables


def count_violations(
    metrics: pd.DataFrame,
    slo_p95_s: float = SLO_P95_S,
    max_error_ratio: float = MAX_ERROR_RATIO,
    after_s: float = 0.0,
) -> int:
    """Count metric intervals that violate the SLO and end after ``after_s`` seconds.

    An interval with arrivals violates the SLO when its p95 latency is above
    ``slo_p95_s`` or its error ratio above ``max_error_ratio``, the rule of
    :func:`devsim.autoscale.compare_policies`. With ``after_s=0`` the count
    equals compare_policies' ``slo_violations``.
    """
    active = metrics["arrivals"] > 0
    violated = (metrics["p95_latency_s"] > slo_p95_s) | (metrics["error_ratio"] > max_error_ratio)
    return int((active & violated & (metrics["time_s"] > after_s)).sum())


def comparison_table(
    comparison: PolicyComparison,
    warmup_s: float = WARMUP_S,
) -> pd.DataFrame:
    """Return the comparison's table with ``violations_after_warmup`` and ``interval_s`` added.

    ``violations_after_warmup`` counts violating intervals that end after
    ``warmup_s``, under the SLO of the comparison's settings. ``interval_s`` is
    the length of one metrics interval, which the flow engine lengthens for
    replays longer than about 17 days.
    """
    table = comparison.table.copy()
    slo = comparison.settings.get("slo_p95_s", SLO_P95_S)
    max_errors = comparison.settings.get("max_error_ratio", MAX_ERROR_RATIO)
    after, interval = [], []
    for name in table.index:
        metrics = comparison.results[name].metrics
        after.append(count_violations(metrics, slo, max_errors, after_s=warmup_s))
        interval.append(float(metrics["time_s"].iloc[0]) if len(metrics) else math.nan)
    position = table.columns.get_loc("slo_violations") + 1
    table.insert(position, "violations_after_warmup", after)
    table["interval_s"] = interval
    return table


# ---------------------------------------------------------------------------
# Running


def run_comparison(
    settings: ComparisonSettings,
    on_policy_done: Callable[[str, int], None] | None = None,
) -> ComparisonOutcome:
    """Replay week ``settings.week`` of the test part under each policy and compare them.

    Each policy runs through its own :func:`~devsim.autoscale.compare_policies`
    call with the same trace, window and seed, so every policy gets the same
    arrivals and ``on_policy_done(policy, done_count)`` can report progress.
    Raises ValueError (including ProfileError and TraceError) on invalid settings.
    """
    validate_settings(settings)
    started = time.perf_counter()
    test_start, test_end = split_test_part(settings.trace)
    window = week_window(settings.week)

    comparisons = []
    for done, name in enumerate(settings.policies, start=1):
        comparison = compare_policies(
            settings.trace,
            policies=(name,),
            rate_multiplier=settings.rate_multiplier,
            train_fraction=TRAIN_FRACTION,
            test_window=window,
            startup_delay_s=settings.startup_delay_s,
            slo_p95_s=SLO_P95_S,
            max_error_ratio=MAX_ERROR_RATIO,
            headroom=settings.headroom,
            combine=settings.combine,
            seed=settings.seed,
            scaling__max_replicas=MAX_REPLICAS,
        )
        comparisons.append(comparison)
        if on_policy_done is not None:
            on_policy_done(name, done)

    merged = PolicyComparison(
        table=pd.concat([comparison.table for comparison in comparisons]),
        results={name: result for comparison in comparisons for name, result in comparison.results.items()},
        forecast=next((c.forecast for c in comparisons if c.forecast is not None), None),
        settings=comparisons[0].settings,
    )
    window_start = test_start + pd.Timedelta(days=7 * (settings.week - 1))
    window_end = min(window_start + pd.Timedelta(days=7), test_end)
    return ComparisonOutcome(
        settings=settings,
        table=comparison_table(merged),
        results=merged.results,
        forecast=merged.forecast,
        test_start=test_start,
        window_start=window_start,
        window_end=window_end,
        elapsed_s=time.perf_counter() - started,
        comparison_settings=merged.settings,
    )


def flash_crowd_comparison(
    trace: str = "nab-nyc-taxi",
    start: Any = "2014-11-05 06:00",
    duration: Any = "6h",
    burst_start: Any = "3h",
    burst_duration: Any = "30min",
    burst_extra: float = 2.0,
    burst_ramp: Any = "1min",
    rate_multiplier: float = 30.0,
    startup_delay_s: float = 120.0,
    headroom: float = 0.0,
    slo_p95_s: float = SLO_P95_S,
    max_error_ratio: float = MAX_ERROR_RATIO,
    warmup_s: float = WARMUP_S,
    seed: int = 0,
    profile: Profile | str = "production",
    **profile_overrides: Any,
) -> PolicyComparison:
    """Replay a stretch of a rate trace with a flash crowd added, under the HPA and the predictive policy.

    The forecaster (:func:`devsim.autoscale.walk_forward_forecast`) trains on
    the trace before ``start`` and forecasts the trace without the burst, as a
    real forecaster would: nothing in the history announces a flash crowd.
    Three policies run on the same arrivals: ``hpa``, ``predictive`` (forecast
    with the HPA as a floor, ``combine="max"``) and ``predictive, forecast
    only`` (``combine="forecast"``).

    Parameters
    ----------
    trace
        A shipped rate trace (a NAB series), such as ``nab-nyc-taxi``.
    start, duration
        The replayed stretch: a timestamp on the trace's interval grid, and a
        duration such as ``"6h"``.
    burst_start, burst_duration, burst_ramp
        When the burst starts (from ``start``), how long it lasts, and how long
        its extra rate takes to ramp up from zero.
    burst_extra
        Extra arrival rate as a multiple of the replayed rate at the burst
        start: 2.0 triples the traffic.
    profile, profile_overrides
        The environment, as in compare_policies. ``scaling__max_replicas``
        defaults to :data:`MAX_REPLICAS`.

    Returns
    -------
    PolicyComparison
        ``table`` has the columns of compare_policies' table, plus
        ``violations_after_warmup``. ``forecast`` is the forecast rate in
        requests per second, indexed by timestamp.
    """
    if not math.isfinite(burst_extra) or burst_extra <= 0:
        raise ValueError(f"burst_extra must be greater than zero, got {burst_extra!r}")
    overrides = {"scaling__max_replicas": MAX_REPLICAS, **profile_overrides}
    overrides["instances__startup_delay_s"] = float(startup_delay_s)
    base_profile = load_profile(profile) if isinstance(profile, str) else profile
    prof = base_profile.with_overrides(**overrides)

    series = trace_series(trace)
    start = pd.Timestamp(start)
    if start not in series.index:
        raise ValueError(
            f"start {start} is not a timestamp of {trace}, whose intervals of {series.index[1] - series.index[0]} "
            f"run from {series.index[0]} to {series.index[-1]}"
        )
    offset_s = (start - series.index[0]).total_seconds()
    duration_s = pd.Timedelta(duration).total_seconds()
    burst_start_s = pd.Timedelta(burst_start).total_seconds()
    base = trace_workload(trace, rate_multiplier=rate_multiplier, window=(offset_s, offset_s + duration_s))
    if not 0 <= burst_start_s < base.duration_s:
        raise ValueError(f"burst_start {burst_start!r} is outside the replayed {duration!r}")
    rates = base.rate_series()
    rate_at_burst = float(rates[rates.index <= burst_start_s].iloc[-1])
    workload = Burst(
        base,
        start_s=burst_start_s,
        duration_s=pd.Timedelta(burst_duration).total_seconds(),
        extra_rate=burst_extra * rate_at_burst,
        ramp_s=pd.Timedelta(burst_ramp).total_seconds(),
    )

    lead_s = prof.instances.startup_delay_s + prof.scaling.sync_period_s
    forecast_rates, issued_s, _horizon = walk_forward_forecast(series, start, lead_s)
    forecast_rates = forecast_rates * rate_multiplier
    forecast = pd.Series(forecast_rates.to_numpy(), index=(forecast_rates.index - start).total_seconds())
    step_s = (series.index[1] - series.index[0]).total_seconds()

    policies = {
        "hpa": lambda: HorizontalPodAutoscaler.from_profile(prof),
        "predictive": lambda: Predictive.from_profile_forecast(
            prof, forecast, step_s, issued_s=issued_s, headroom=headroom, combine="max"
        ),
        "predictive, forecast only": lambda: Predictive.from_profile_forecast(
            prof, forecast, step_s, issued_s=issued_s, headroom=headroom, combine="forecast"
        ),
    }
    results, rows = {}, []
    for name, make_policy in policies.items():
        policy = make_policy()
        # A flash crowd over hours of trace is millions of requests: the
        # request-level engine would take minutes, so the flow engine runs it.
        result = run_scenario(Scenario(prof, workload, autoscaler=policy), seed=seed, engine="flow")
        results[name] = result
        summary = result.summary()
        metrics = result.metrics
        active = int((metrics["arrivals"] > 0).sum())
        violations = count_violations(metrics, slo_p95_s, max_error_ratio)
        rows.append({
            "policy": name,
            "slo_violations": violations,
            "violations_after_warmup": count_violations(metrics, slo_p95_s, max_error_ratio, after_s=warmup_s),
            "violation_share": violations / max(active, 1),
            "error_ratio": summary["error_ratio"],
            "p95_latency_s": summary["p95_latency_s"],
            "replica_hours": summary["replica_hours"],
            "cost_usd": summary["cost_usd"],
            "scaling_actions": summary["scale_events"],
            "fallbacks": getattr(policy, "fallbacks", 0),
            "max_ready_replicas": summary["max_ready_replicas"],
        })
    settings = dict(
        trace=trace, profile=prof.name, rate_multiplier=rate_multiplier, start=str(start), duration=str(duration),
        burst_start=str(burst_start), burst_duration=str(burst_duration), burst_extra=burst_extra,
        burst_extra_rate=burst_extra * rate_at_burst, startup_delay_s=prof.instances.startup_delay_s,
        slo_p95_s=slo_p95_s, max_error_ratio=max_error_ratio, headroom=headroom, seed=seed,
    )
    return PolicyComparison(pd.DataFrame(rows).set_index("policy"), results, forecast_rates, settings)


# ---------------------------------------------------------------------------
# HTML


# Table columns shown by the app, with the label and format of each.
_TABLE_FIELDS = [
    ("violations_after_warmup", "SLO violations after the first hour", "{:,d}"),
    ("slo_violations", "SLO violations in all", "{:,d}"),
    ("error_ratio", "error ratio", "{:.3%}"),
    ("p95_latency_s", "p95 latency", "{:.3f} s"),
    ("replica_hours", "replica-hours", "{:,.0f}"),
    ("cost_usd", "cost", "${:,.2f}"),
    ("scaling_actions", "scaling actions", "{:,d}"),
]


def results_html(outcome: ComparisonOutcome) -> str:
    """Return the comparison table as HTML, one row per policy, with a caption of the settings.

    Each cell carries ``data-policy`` and ``data-key`` attributes, so tests
    can find a value without parsing the text.
    """
    settings = outcome.settings
    header = "".join(f"<th>{html.escape(label)}</th>" for _, label, _ in _TABLE_FIELDS)
    rows = []
    for name, row in outcome.table.iterrows():
        cells = []
        for key, _label, template in _TABLE_FIELDS:
            value = row[key]
            text = "–" if value is None or (isinstance(value, float) and math.isnan(value)) else template.format(value)
            cells.append(f'<td data-policy="{html.escape(str(name))}" data-key="{key}">{html.escape(text)}</td>')
        label = POLICY_LABELS.get(str(name), str(name))
        rows.append(f'<tr data-policy="{html.escape(str(name))}"><th>{html.escape(label)}</th>{"".join(cells)}</tr>')

    interval = outcome.table["interval_s"].iloc[0]
    predictive = ""
    if any(name.startswith("predictive") for name in settings.policies):
        predictive = f", predictive: {COMBINE_CHOICES[settings.combine]}, headroom {settings.headroom:.0%}"
    caption = (
        f"{APP_TRACES[settings.trace].label} × {settings.rate_multiplier:g}, week {settings.week} of the test part "
        f"({outcome.window_start:%Y-%m-%d %H:%M} to {outcome.window_end:%Y-%m-%d %H:%M}), "
        f"startup delay {settings.startup_delay_s:g} s{predictive}, seed {settings.seed}. "
        f"An SLO violation is a {interval:g} s interval with p95 latency above {SLO_P95_S:g} s "
        f"or more than {MAX_ERROR_RATIO:.0%} errors. Compared in {outcome.elapsed_s:.1f} s."
    )
    return (
        "<style>.devsim-results-table { border-collapse: collapse; }"
        ".devsim-results-table th, .devsim-results-table td { padding: 3px 10px; text-align: right; "
        "border-bottom: 1px solid #ddd; font-variant-numeric: tabular-nums; }"
        ".devsim-results-table tr th:first-child { text-align: left; }"
        ".devsim-results-table caption { text-align: left; caption-side: top; padding-bottom: 4px; }</style>"
        f'<table class="devsim-results-table"><caption>{html.escape(caption)}</caption>'
        f"<thead><tr><th>policy</th>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


# ---------------------------------------------------------------------------
# The widget


class AutoscalingApp(widgets.VBox):
    """The autoscaling comparison widget. Build it with :func:`build_autoscaling_app`.

    Controls are attributes (``trace``, ``rate_multiplier``, ``startup_delay``,
    ``headroom``, ``week``, ``combine``, ``policy_checkboxes``, ``seed``,
    ``compare_button``), and so are the outputs (``results``, ``message``,
    ``progress``, ``status`` and the chart widgets ``replicas_chart``,
    ``cost_chart``, ``violations_chart``). ``outcome`` is the last successful
    comparison. Every part carries a CSS class starting ``devsim-``.
    """

    def __init__(self, settings: ComparisonSettings | None = None):
        settings = settings or ComparisonSettings()
        if settings.trace not in APP_TRACES:
            raise ValueError(f"trace {settings.trace!r} not found; choose one of {', '.join(APP_TRACES)}")
        self.outcome: ComparisonOutcome | None = None
        wide = {"description_width": "initial"}

        self.trace = widgets.Dropdown(
            options=[(choice.label, key) for key, choice in APP_TRACES.items()],
            value=settings.trace,
            description="Trace",
            style=wide,
            layout=widgets.Layout(width="520px"),
        )
        self.rate_multiplier = widgets.BoundedFloatText(
            value=settings.rate_multiplier,
            min=0.0,
            max=MAX_RATE_MULTIPLIER,
            step=1.0,
            description="Rate multiplier",
            tooltip="scales the trace's request counts; 30 replays 30 times the traffic",
            style=wide,
            layout=widgets.Layout(width="200px"),
        )
        self.week = widgets.BoundedIntText(
            value=settings.week,
            min=1,
            max=52,
            description="Week of the test part",
            tooltip="which week after the forecaster's training data to replay, from 1",
            style=wide,
            layout=widgets.Layout(width="210px"),
        )
        self.seed = widgets.BoundedIntText(
            value=settings.seed, min=0, max=2**31 - 1, description="Seed", style=wide, layout=widgets.Layout(width="140px")
        )
        delays = sorted({*STARTUP_DELAYS_S, int(settings.startup_delay_s)})
        self.startup_delay = widgets.Dropdown(
            options=[(f"{delay:g} s", delay) for delay in delays],
            value=int(settings.startup_delay_s),
            description="Startup delay",
            tooltip="time from starting an instance until it serves traffic",
            style=wide,
            layout=widgets.Layout(width="200px"),
        )
        self.headroom = widgets.FloatSlider(
            value=settings.headroom,
            min=0.0,
            max=1.0,
            step=0.05,
            description="Headroom",
            readout_format=".0%",
            tooltip="extra capacity the predictive policy adds on top of its forecast",
            style=wide,
            continuous_update=False,
        )
        self.combine = widgets.Dropdown(
            options=[(label, key) for key, label in COMBINE_CHOICES.items()],
            value=settings.combine,
            description="Predictive policy uses",
            style=wide,
            layout=widgets.Layout(width="380px"),
        )
        self.policy_checkboxes = {
            name: widgets.Checkbox(
                value=name in settings.policies, description=POLICY_LABELS[name], indent=False,
                layout=widgets.Layout(width="200px"),
            )
            for name in APP_POLICIES
        }
        self.compare_button = widgets.Button(description="Compare", button_style="primary", icon="play")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, layout=widgets.Layout(width="160px"))
        self.status = widgets.Label(value="")
        self.message = widgets.HTML(value="")
        self.results = widgets.HTML(value="")

        self.replicas_chart = charts.show(placeholder_chart("Ready replicas", CHART_WIDTH, 120, "Compare"))
        self.cost_chart = charts.show(placeholder_chart("Cost", BAR_WIDTH, 120, "Compare"))
        self.violations_chart = charts.show(placeholder_chart("SLO violations", BAR_WIDTH, 120, "Compare"))

        named = [
            (self.trace, "trace"),
            (self.rate_multiplier, "rate-multiplier"),
            (self.week, "week"),
            (self.seed, "seed"),
            (self.startup_delay, "startup-delay"),
            (self.headroom, "headroom"),
            (self.combine, "combine"),
            (self.compare_button, "compare"),
            (self.progress, "progress"),
            (self.status, "status"),
            (self.message, "message"),
            (self.results, "results"),
            (self.replicas_chart, "chart-replicas"),
            (self.cost_chart, "chart-cost"),
            (self.violations_chart, "chart-violations"),
        ]
        named += [(checkbox, f"policy-{name}") for name, checkbox in self.policy_checkboxes.items()]
        for widget, name in named:
            widget.add_class(f"devsim-{name}")

        self.trace.observe(self._on_trace, names="value")
        self.compare_button.on_click(lambda _button: self.compare())
        self.progress.layout.visibility = "hidden"

        header = widgets.HTML(
            "<h3 style='margin: 0'>Autoscaling comparison</h3>"
            "<p style='margin: 0.2em 0 0.6em 0'>Replay one week of a trace, after the part that trained the "
            "XGBoost forecaster, under a fixed fleet sized for the peak, the reactive HPA and the predictive "
            "policy. Change a control, then press Compare.</p>"
        )
        controls = widgets.VBox(
            [
                widgets.HBox([self.trace]),
                widgets.HBox([self.rate_multiplier, self.week, self.seed]),
                widgets.HBox([self.startup_delay, self.headroom]),
                widgets.HBox([self.combine]),
                widgets.HBox(list(self.policy_checkboxes.values())),
                widgets.HBox([self.compare_button, self.progress, self.status]),
            ]
        )
        bars = widgets.HBox([self.violations_chart, self.cost_chart], layout=widgets.Layout(grid_gap="24px"))
        super().__init__([header, controls, self.message, self.results, self.replicas_chart, bars])
        self.add_class("devsim-autoscaling")

    # -- controls -----------------------------------------------------------

    def settings(self) -> ComparisonSettings:
        """Return the settings the controls show now."""
        return ComparisonSettings(
            trace=self.trace.value,
            rate_multiplier=float(self.rate_multiplier.value),
            startup_delay_s=float(self.startup_delay.value),
            headroom=float(self.headroom.value),
            policies=tuple(name for name, checkbox in self.policy_checkboxes.items() if checkbox.value),
            week=int(self.week.value),
            combine=self.combine.value,
            seed=int(self.seed.value),
        )

    def _on_trace(self, change: dict[str, Any]) -> None:
        choice = APP_TRACES[change["new"]]
        self.rate_multiplier.value = choice.multiplier
        self.week.value = choice.week

    # -- running --------------------------------------------------------------

    def compare(self) -> ComparisonOutcome | None:
        """Run the current settings, update the outputs and return the outcome, or None on an error.

        An invalid setting shows its message above the table and leaves the
        previous table and charts in place.
        """
        settings = self.settings()
        self._set_busy(True, steps=len(settings.policies) + 1)

        def work() -> ComparisonOutcome:
            outcome = run_comparison(settings, on_policy_done=self._on_policy_done)
            self._show(outcome)
            self.progress.value = self.progress.max
            return outcome

        outcome = run_reporting_errors(self, work, settings, action="compare", noun="comparison")
        if outcome is None:
            return None

        self.outcome = outcome
        self.message.value = ""
        self.status.value = f"Done: {len(outcome.results)} policies in {outcome.elapsed_s:.1f} s"
        return outcome

    def _on_policy_done(self, name: str, done: int) -> None:
        self.progress.value = done
        self.status.value = f"Ran {POLICY_LABELS[name]} ({done} of {self.progress.max - 1})…"

    def _set_busy(self, busy: bool, steps: int = 1) -> None:
        self.compare_button.disabled = busy
        self.progress.layout.visibility = "visible" if busy else "hidden"
        if busy:
            self.progress.max = max(steps, 1)
            self.progress.value = 0
            self.status.value = "Comparing…"

    def _show(self, outcome: ComparisonOutcome) -> None:
        labelled = {POLICY_LABELS.get(name, name): result for name, result in outcome.results.items()}
        table = outcome.table.rename(index=lambda name: POLICY_LABELS.get(name, name))
        self.replicas_chart.chart = charts.policy_timeline_chart(
            labelled,
            "ready_replicas",
            start=outcome.window_start,
            title="Ready replicas (mean of each 10-minute bin)",
            value_title="ready replicas",
            width=CHART_WIDTH,
            height=180,
            max_points=7 * 24 * 6,
        )
        self.violations_chart.chart = charts.policy_bar_chart(
            table,
            "violations_after_warmup",
            title="SLO violations after the first hour",
            value_title="violating intervals",
            width=BAR_WIDTH,
        )
        self.cost_chart.chart = charts.policy_bar_chart(
            table, "cost_usd", title="Instance cost (USD)", value_title="USD", value_format="$,.0f", width=BAR_WIDTH
        )
        self.results.value = results_html(outcome)


def build_autoscaling_app(settings: ComparisonSettings | None = None, run_on_load: bool = True) -> AutoscalingApp:
    """Build the autoscaling comparison app: controls, a results table and three charts.

    With ``run_on_load``, the settings (by default NYC taxi at 30 times its
    rate, week 4 of the test part, a 120 s startup delay) are compared once
    before the widget is returned, so the first view already shows results.
    Raises ValueError on an unknown trace in ``settings``.
    """
    app = AutoscalingApp(settings)
    if run_on_load:
        app.compare()
    return app

