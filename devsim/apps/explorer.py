"""The environment explorer: replay a trace against one environment and watch it cope.

A learner picks an environment (production, development or experimental), a
traffic trace, a load multiplier and a window of the trace, sets the fixed
replica count (development) or the HPA target utilisation (production and
experimental), and presses Simulate. The app shows the run's summary and four
charts: latency quantiles, error ratio, replicas and cumulative cost.

The logic that turns settings into a result, :func:`build_workload` and
:func:`run_settings`, is plain Python and needs no widgets. The widget class
only reads controls, calls it, and writes the outputs.

Runs are kept short on purpose: a run of more than
:data:`MAX_EXPECTED_REQUESTS` expected arrivals is rejected with a message,
because the page blocks while the kernel simulates.
"""

from __future__ import annotations

import html
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets

from devsim import charts
from devsim.apps._common import placeholder_chart, run_reporting_errors
from devsim.experiments import environment_scenario
from devsim.profiles import load_profile
from devsim.sim import SimulationResult
from devsim.sim.flow import choose_engine, run_scenario
from devsim.workload import Poisson, Workload, parse_window, trace_workload

__all__ = [
    "ENVIRONMENTS",
    "MAX_EXPECTED_REQUESTS",
    "POISSON_BASE_RATE_RPS",
    "SYNTHETIC_POISSON",
    "TRACE_CHOICES",
    "EnvironmentExplorer",
    "ExplorerSettings",
    "TraceChoice",
    "build_explorer",
    "build_workload",
    "run_settings",
]

logger = logging.getLogger(__name__)

ENVIRONMENTS = ("production", "development", "experimental")

# Key of the trace choice that draws Poisson arrivals instead of replaying a dataset.
SYNTHETIC_POISSON = "synthetic Poisson"

# Arrival rate of the synthetic Poisson choice at load multiplier 1. With the
# profiles' 0.05 s mean service time this offers 2 erlangs: half of
# development's 4 workers.
POISSON_BASE_RATE_RPS = 40.0

# Largest run the explorer accepts, in expected requests. The simulator served
# 200k to 400k requests per second on one x86 server core in the explorer's
# runs, so a run at this limit takes about a second. Slower machines take longer.
MAX_EXPECTED_REQUESTS = 250_000

CHART_WIDTH = 400
CHART_HEIGHT = 150


@dataclass(frozen=True)
class TraceChoice:
    """One entry of the trace menu and the defaults it brings.

    ``dataset`` is a name from :func:`devsim.datasets.list_datasets`, or None
    for synthetic Poisson arrivals. ``window`` is in trace time, before
    ``speedup`` divides it.
    """

    label: str
    dataset: str | None
    window: str
    speedup: float
    multiplier: float


TRACE_CHOICES: dict[str, TraceChoice] = {
    "azure-llm-code": TraceChoice(
        "Azure LLM code completion (1 h, bursty)", "azure-llm-code", "0:20min", 1.0, 3.0
    ),
    "azure-llm-conversation": TraceChoice(
        "Azure LLM conversation (1 h, long requests)", "azure-llm-conversation", "0:20min", 1.0, 1.0
    ),
    "nab-elb-request-count-8c0756": TraceChoice(
        "AWS ELB request count (NAB, 14 days, replayed 6× faster)",
        "nab-elb-request-count-8c0756",
        "0:2h",
        6.0,
        40.0,
    ),
    "nab-nyc-taxi": TraceChoice(
        "NYC taxi passengers (NAB, 7 months, replayed 72× faster)", "nab-nyc-taxi", "0:24h", 72.0, 0.1
    ),
    SYNTHETIC_POISSON: TraceChoice(
        f"Synthetic Poisson ({POISSON_BASE_RATE_RPS:g} requests/s × multiplier)", None, "0:20min", 1.0, 1.5
    ),
}


@dataclass(frozen=True)
class ExplorerSettings:
    """Everything one explorer run depends on.

    ``replicas`` applies to environments that scale manually and
    ``target_utilization`` to those that auto-scale; the other one is ignored.
    """

    environment: str = "production"
    trace: str = "azure-llm-code"
    multiplier: float = 3.0
    window: str = "0:20min"
    replicas: int = 1
    target_utilization: float = 0.6
    seed: int = 1


def build_workload(trace: str, multiplier: float, window: str) -> Workload:
    """Build the workload of a trace choice.

    Raises ValueError with a message for the learner on an unknown trace, a
    multiplier that is not above zero, an invalid window, or a run longer than
    :data:`MAX_EXPECTED_REQUESTS` expected requests.
    """
    if trace not in TRACE_CHOICES:
        raise ValueError(f"trace {trace!r} not found; choose one of {', '.join(TRACE_CHOICES)}")
    if not math.isfinite(multiplier) or multiplier <= 0:
        raise ValueError(f"load multiplier must be greater than zero, got {multiplier:g}")
    choice = TRACE_CHOICES[trace]

    if choice.dataset is None:
        start_s, end_s = parse_window(window)
        if not math.isfinite(end_s):
            raise ValueError(
                f"window {window!r} has no end; synthetic Poisson arrivals need one, for example 0:20min"
            )
        workload: Workload = Poisson(rate=POISSON_BASE_RATE_RPS * multiplier, duration_s=end_s - start_s)
    else:
        workload = trace_workload(choice.dataset, rate_multiplier=multiplier, window=window, speedup=choice.speedup)

    expected = workload.mean_rate() * workload.duration_s
    # Long windows run on the flow engine, whose cost does not grow with the request count.
    if choose_engine(workload) == "des" and expected > MAX_EXPECTED_REQUESTS:
        raise ValueError(
            f"this run would simulate about {expected:,.0f} requests, more than the explorer's limit of "
            f"{MAX_EXPECTED_REQUESTS:,}; choose a shorter window or a lower load multiplier"
        )
    return workload


def run_settings(settings: ExplorerSettings) -> SimulationResult:
    """Simulate one explorer run. Raises ValueError (including ProfileError) on invalid settings."""
    if settings.environment not in ENVIRONMENTS:
        raise ValueError(f"environment {settings.environment!r} not found; choose one of {', '.join(ENVIRONMENTS)}")
    workload = build_workload(settings.trace, settings.multiplier, settings.window)
    profile = load_profile(settings.environment)
    if profile.scaling.mode == "manual":
        scenario = environment_scenario(profile, workload, replicas=settings.replicas)
    else:
        scenario = environment_scenario(profile, workload, target_utilization=settings.target_utilization)
    return run_scenario(scenario, seed=settings.seed, engine="auto")


# Summary keys shown by the app, with the label and format of each.
_SUMMARY_FIELDS = [
    ("requests", "requests", "{:,}"),
    ("error_ratio", "error ratio", "{:.2%}"),
    ("p50_latency_s", "p50 latency", "{:.3f} s"),
    ("p95_latency_s", "p95 latency", "{:.3f} s"),
    ("p99_latency_s", "p99 latency", "{:.3f} s"),
    ("utilization", "utilisation", "{:.1%}"),
    ("mean_ready_replicas", "mean ready replicas", "{:.2f}"),
    ("max_ready_replicas", "max ready replicas", "{:d}"),
    ("scale_events", "scale events", "{:d}"),
    ("cost_usd", "cost", "${:.4f}"),
]


def summary_html(result: SimulationResult, settings: ExplorerSettings, elapsed_s: float) -> str:
    """Return the summary of a run as a small HTML table, three figures per row."""
    summary = result.summary()
    cells = []
    for key, label, template in _SUMMARY_FIELDS:
        value = summary[key]
        text = "–" if value is None else template.format(value)
        cells.append(f"<th>{html.escape(label)}</th><td data-key=\"{key}\">{html.escape(text)}</td>")
    rows = "".join(f"<tr>{''.join(cells[i:i + 3])}</tr>" for i in range(0, len(cells), 3))

    if load_profile(settings.environment).scaling.mode == "manual":
        scaling = f"fixed at {settings.replicas} replica(s)"
    else:
        scaling = f"HPA, target utilisation {settings.target_utilization:.0%}"
    caption = (
        f"{settings.environment} ({scaling}) on {TRACE_CHOICES[settings.trace].label}, "
        f"load × {settings.multiplier:g}, window {settings.window}, seed {settings.seed}: "
        f"simulated {result.duration_s / 60:.1f} min in {elapsed_s:.2f} s"
    )
    return (
        "<style>.devsim-summary-grid th { text-align: left; padding: 2px 6px; font-weight: normal; color: #555; }"
        ".devsim-summary-grid td { padding: 2px 18px 2px 6px; font-weight: bold; "
        "font-variant-numeric: tabular-nums; }</style>"
        f'<table class="devsim-summary-grid"><caption style="text-align: left; caption-side: top">'
        f"{html.escape(caption)}</caption>{rows}</table>"
    )


class EnvironmentExplorer(widgets.VBox):
    """The explorer widget. Build it with :func:`build_explorer`.

    Controls are attributes (``environment``, ``trace``, ``multiplier``,
    ``window``, ``replicas``, ``target_utilization``, ``seed``,
    ``simulate_button``), and so are the outputs (``summary``, ``message``,
    ``progress``, ``status`` and the chart widgets ``latency_chart``,
    ``error_chart``, ``replicas_chart``, ``cost_chart``). ``result`` is the
    last successful run. Every part carries a CSS class starting ``devsim-``.
    """

    def __init__(self, default_trace: str = "azure-llm-code", default_environment: str = "production", seed: int = 1):
        if default_trace not in TRACE_CHOICES:
            raise ValueError(f"default_trace {default_trace!r} not found; choose one of {', '.join(TRACE_CHOICES)}")
        if default_environment not in ENVIRONMENTS:
            raise ValueError(
                f"default_environment {default_environment!r} not found; choose one of {', '.join(ENVIRONMENTS)}"
            )
        self.result: SimulationResult | None = None
        wide = {"description_width": "initial"}

        self.environment = widgets.Dropdown(
            options=list(ENVIRONMENTS), value=default_environment, description="Environment", style=wide
        )
        self.trace = widgets.Dropdown(
            options=[(choice.label, key) for key, choice in TRACE_CHOICES.items()],
            value=default_trace,
            description="Trace",
            style=wide,
            layout=widgets.Layout(width="420px"),
        )
        choice = TRACE_CHOICES[default_trace]
        self.multiplier = widgets.BoundedFloatText(
            value=choice.multiplier,
            min=0.0,
            max=1000.0,
            step=0.1,
            description="Load multiplier",
            tooltip="scales the trace's arrival rate; 2 doubles the traffic",
            style=wide,
            layout=widgets.Layout(width="200px"),
        )
        self.window = widgets.Text(
            value=choice.window,
            description="Window",
            placeholder="START:END, e.g. 0:20min",
            tooltip="part of the trace to replay, in trace time: START:END such as 0:20min or 1h:3h",
            style=wide,
            layout=widgets.Layout(width="200px"),
        )
        self.seed = widgets.BoundedIntText(
            value=seed, min=0, max=2**31 - 1, description="Seed", style=wide, layout=widgets.Layout(width="140px")
        )
        self.replicas = widgets.IntSlider(
            value=1, min=1, max=20, description="Fixed replicas", style=wide, continuous_update=False
        )
        self.target_utilization = widgets.FloatSlider(
            value=0.6,
            min=0.1,
            max=1.0,
            step=0.05,
            description="HPA target utilisation",
            readout_format=".0%",
            style=wide,
            continuous_update=False,
        )
        self.simulate_button = widgets.Button(description="Simulate", button_style="primary", icon="play")
        self.progress = widgets.IntProgress(value=0, min=0, max=3, description="", layout=widgets.Layout(width="160px"))
        self.status = widgets.Label(value="")
        self.message = widgets.HTML(value="")
        self.summary = widgets.HTML(value="")

        self.latency_chart = charts.show(placeholder_chart("Latency", CHART_WIDTH, CHART_HEIGHT))
        self.error_chart = charts.show(placeholder_chart("Errors", CHART_WIDTH, CHART_HEIGHT))
        self.replicas_chart = charts.show(placeholder_chart("Replicas", CHART_WIDTH, CHART_HEIGHT))
        self.cost_chart = charts.show(placeholder_chart("Cost", CHART_WIDTH, CHART_HEIGHT))

        for widget, name in [
            (self.environment, "environment"),
            (self.trace, "trace"),
            (self.multiplier, "multiplier"),
            (self.window, "window"),
            (self.seed, "seed"),
            (self.replicas, "replicas"),
            (self.target_utilization, "target-utilization"),
            (self.simulate_button, "simulate"),
            (self.progress, "progress"),
            (self.status, "status"),
            (self.message, "message"),
            (self.summary, "summary"),
            (self.latency_chart, "chart-latency"),
            (self.error_chart, "chart-errors"),
            (self.replicas_chart, "chart-replicas"),
            (self.cost_chart, "chart-cost"),
        ]:
            widget.add_class(f"devsim-{name}")

        self.environment.observe(self._on_environment, names="value")
        self.trace.observe(self._on_trace, names="value")
        self.simulate_button.on_click(lambda _button: self.simulate())
        self._apply_environment_defaults(default_environment)

        header = widgets.HTML(
            "<h3 style='margin: 0'>Environment explorer</h3>"
            "<p style='margin: 0.2em 0 0.6em 0'>Replay traffic against one environment of the architecture "
            "and see latency, errors, replicas and cost. Change a control, then press Simulate.</p>"
        )
        controls = widgets.VBox(
            [
                widgets.HBox([self.environment, self.trace]),
                widgets.HBox([self.multiplier, self.window, self.seed]),
                widgets.HBox([self.replicas, self.target_utilization]),
                widgets.HBox([self.simulate_button, self.progress, self.status]),
            ]
        )
        chart_grid = widgets.GridBox(
            [self.latency_chart, self.error_chart, self.replicas_chart, self.cost_chart],
            layout=widgets.Layout(grid_template_columns="repeat(2, max-content)", grid_gap="8px 24px"),
        )
        super().__init__([header, controls, self.message, self.summary, chart_grid])
        self.add_class("devsim-explorer")

    # -- controls -----------------------------------------------------------

    def settings(self) -> ExplorerSettings:
        """Return the settings the controls show now."""
        return ExplorerSettings(
            environment=self.environment.value,
            trace=self.trace.value,
            multiplier=float(self.multiplier.value),
            window=self.window.value.strip(),
            replicas=int(self.replicas.value),
            target_utilization=float(self.target_utilization.value),
            seed=int(self.seed.value),
        )

    def _apply_environment_defaults(self, environment: str) -> None:
        scaling = load_profile(environment).scaling
        manual = scaling.mode == "manual"
        self.replicas.value = scaling.replicas
        self.target_utilization.value = scaling.target_utilization
        self.replicas.disabled = not manual
        self.target_utilization.disabled = manual

    def _on_environment(self, change: dict[str, Any]) -> None:
        self._apply_environment_defaults(change["new"])

    def _on_trace(self, change: dict[str, Any]) -> None:
        choice = TRACE_CHOICES[change["new"]]
        self.multiplier.value = choice.multiplier
        self.window.value = choice.window

    # -- running --------------------------------------------------------------

    def simulate(self) -> SimulationResult | None:
        """Run the current settings and update the outputs; return the result, or None on an error.

        An invalid setting shows its message above the summary and leaves the
        previous summary and charts in place.
        """
        settings = self.settings()
        self._set_busy(True)
        started = time.perf_counter()

        def work() -> tuple[SimulationResult, float]:
            self.progress.value = 1
            result = run_settings(settings)
            self.progress.value = 2
            elapsed = time.perf_counter() - started
            self._show_result(result, settings, elapsed)
            self.progress.value = 3
            return result, elapsed

        outcome = run_reporting_errors(self, work, settings)
        if outcome is None:
            return None
        result, elapsed = outcome

        self.result = result
        self.message.value = ""
        engine = "flow engine" if result.engine == "flow" else "request-level engine"
        self.status.value = f"Done: {result.summary()['requests']:,} requests in {elapsed:.2f} s ({engine})"
        return result

    def _set_busy(self, busy: bool) -> None:
        self.simulate_button.disabled = busy
        self.progress.layout.visibility = "visible" if busy else "hidden"
        if busy:
            self.progress.value = 0
            self.status.value = "Simulating…"

    def _show_result(self, result: SimulationResult, settings: ExplorerSettings, elapsed_s: float) -> None:
        metrics = result.metrics
        size = {"width": CHART_WIDTH, "height": CHART_HEIGHT}
        self.latency_chart.chart = charts.latency_chart(metrics, title="Latency quantiles (s)", **size)
        self.error_chart.chart = charts.error_chart(metrics, title="Error ratio", **size)
        self.replicas_chart.chart = charts.replicas_chart(metrics, title="Replicas", **size)
        self.cost_chart.chart = charts.cost_chart(metrics, title="Cumulative cost (USD)", **size)
        self.summary.value = summary_html(result, settings, elapsed_s)


def build_explorer(
    default_trace: str = "azure-llm-code",
    default_environment: str = "production",
    seed: int = 1,
    run_on_load: bool = True,
) -> EnvironmentExplorer:
    """Build the environment explorer, a VBox of controls, a summary and four charts.

    With ``run_on_load``, the default settings are simulated once before the
    widget is returned, so the first view already shows results. Raises
    ValueError on an unknown ``default_trace`` or ``default_environment``.
    """
    explorer = EnvironmentExplorer(default_trace=default_trace, default_environment=default_environment, seed=seed)
    if run_on_load:
        explorer.simulate()
    return explorer
