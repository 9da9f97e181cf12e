"""The rollout simulator: deploy a new release under traffic and watch the fleet change over.

A learner picks a strategy (rolling update, recreate, blue-green, canary)
and, for a rolling update, maxSurge and maxUnavailable. Further controls set
the quality of the new release, the rollback policy, the progress deadline,
and whether pods drain and have a readiness probe. Simulate runs the
rollout. The app shows the rollout's summary and three charts: pods by
version over time, the new version's share of traffic, and failed requests
per interval with the rollout and rollback events marked.

The logic that turns settings into a result, :func:`run_rollout`, is plain
Python and needs no widgets. The widget class only reads controls, calls it,
and writes the outputs. Invalid settings (maxSurge and maxUnavailable both 0,
a percentage above 100%, text that is not a pod count) show the simulator's
own error message, never a traceback.
"""

from __future__ import annotations

import html
import logging
import time
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets

from devsim import charts
from devsim.apps._common import placeholder_chart, run_reporting_errors
from devsim.rollouts import (
    DEFAULT_RUN_S,
    RELEASE_DESCRIPTIONS,
    STRATEGY_NAMES,
    analysis_policy,
    failed_until_end,
    make_strategy,
)
from devsim.sim.deployment import RELEASES, Readiness, RolloutResult, simulate_rollout

__all__ = [
    "MAX_REPLICAS",
    "RATE_PER_REPLICA_RPS",
    "RUN_LENGTHS_S",
    "ROLLBACK_CHOICES",
    "STRATEGY_LABELS",
    "RolloutApp",
    "RolloutSettings",
    "build_rollout_app",
    "rollback_policy",
    "run_rollout",
    "summary_html",
]

logger = logging.getLogger(__name__)

STRATEGY_LABELS = {
    "rolling": "Rolling update",
    "recreate": "Recreate",
    "blue-green": "Blue-green",
    "canary": "Canary (10%, 25%, 50%, 60 s each)",
}

ROLLBACK_CHOICES = {
    "none": "none: Kubernetes alone reports ProgressDeadlineExceeded",
    "failure": "on failure: progress deadline, or 3 restarts of a new pod",
    "analysis": "on analysis: error ratio above 5% or p95 above 0.5 s, and on failure",
}

# Requests per second per desired replica. A production replica serves up to
# 80 requests/s (4 workers, 0.05 s each), so the fleet runs at about 19%
# utilisation and keeps up while a quarter of it is being replaced.
RATE_PER_REPLICA_RPS = 15.0

# Largest fleet the app accepts. A run of 20 replicas at 300 requests/s with
# 900 s of traffic after the start took 1.3 s on one AMD EPYC core.
MAX_REPLICAS = 20

# Choices of traffic after the rollout start, in seconds. Failure and analysis
# policies watch the new version for 600 s after the start, so only the longer
# runs show a memory leak rolled back by its restarts.
RUN_LENGTHS_S = (200, 400, 700, 900)

CHART_WIDTH = 620
CHART_HEIGHT = 150


@dataclass(frozen=True)
class RolloutSettings:
    """Everything one rollout simulator run depends on.

    ``max_surge`` and ``max_unavailable`` are a whole number of pods or a
    percentage such as ``"25%"``, as in a Deployment's spec. They apply to
    the rolling update only. ``rollback`` is a key of :data:`ROLLBACK_CHOICES`.
    ``run_s`` is the traffic after the rollout start, in seconds.
    """

    strategy: str = "rolling"
    max_surge: str = "25%"
    max_unavailable: str = "25%"
    release: str = "good"
    rollback: str = "failure"
    progress_deadline_s: float = 120.0
    drain: bool = True
    readiness_probe: bool = True
    replicas: int = 8
    run_s: float = DEFAULT_RUN_S
    seed: int = 0


def rollback_policy(name: str):
    """Return the rollback policy of a :data:`ROLLBACK_CHOICES` key."""
    if name not in ROLLBACK_CHOICES:
        raise ValueError(f"rollback {name!r} not found; choose one of {', '.join(ROLLBACK_CHOICES)}")
    return analysis_policy() if name == "analysis" else name


def run_rollout(settings: RolloutSettings) -> RolloutResult:
    """Simulate one rollout of the app. Raises ValueError, with the simulator's message, on invalid settings."""
    if settings.strategy not in STRATEGY_NAMES:
        raise ValueError(f"strategy {settings.strategy!r} not found; choose one of {', '.join(STRATEGY_NAMES)}")
    if settings.release not in RELEASES:
        raise ValueError(f"release {settings.release!r} not found; choose one of {', '.join(RELEASES)}")
    if not 1 <= settings.replicas <= MAX_REPLICAS:
        raise ValueError(f"replicas must be between 1 and {MAX_REPLICAS}, got {settings.replicas}")
    if not 0 < settings.run_s <= max(RUN_LENGTHS_S):
        raise ValueError(f"run_s must be above 0 and at most {max(RUN_LENGTHS_S)} s, got {settings.run_s:g}")
    strategy = make_strategy(
        settings.strategy,
        max_surge=settings.max_surge,
        max_unavailable=settings.max_unavailable,
        progress_deadline_s=settings.progress_deadline_s,
    )
    return simulate_rollout(
        strategy=strategy,
        release=settings.release,
        rollback=rollback_policy(settings.rollback),
        readiness=Readiness(enabled=settings.readiness_probe),
        drain=settings.drain,
        replicas=settings.replicas,
        rate=RATE_PER_REPLICA_RPS * settings.replicas,
        max_duration_s=settings.run_s,
        seed=settings.seed,
    )


def _yes_no(value: Any) -> str:
    return "yes" if value else "no"


def _summary_cells(rollout: RolloutResult, run_s: float) -> list[tuple[str, str, str]]:
    """Return (key, label, text) for each figure of the summary table."""
    summary = rollout.summary()
    requests = summary["requests_during"]
    failed = summary["failed_requests"]
    if summary["completed"]:
        duration = f"{summary['duration_s']:.0f} s"
    else:
        duration = f"not complete after {run_s:.0f} s"
    if summary["rolled_back"]:
        rolled_back = f"yes, {summary['rollback_after_s']:.0f} s after the start"
    else:
        rolled_back = "no"
    return [
        ("failed_requests", "failed requests during the rollout", f"{failed:,} of {requests:,} ({summary['failed_ratio']:.2%})"),
        ("failed_until_end", "failed until traffic ended", f"{failed_until_end(rollout):,}"),
        ("duration_s", "duration", duration),
        ("peak_replicas", "peak replicas", f"{summary['peak_replicas']:d}"),
        ("extra_replica_seconds", "extra replica-seconds", f"{summary['extra_replica_seconds']:,.0f}"),
        ("final_version", "serving at the end", summary["final_version"] or "both versions (rollout stuck)"),
        ("rolled_back", "rolled back", rolled_back),
        ("rollback_reason", "rollback reason", summary["rollback_reason"] or "–"),
        ("progress_deadline_exceeded", "progress deadline exceeded", _yes_no(summary["progress_deadline_exceeded"])),
    ]


def summary_html(rollout: RolloutResult, settings: RolloutSettings, elapsed_s: float) -> str:
    """Return the summary of a rollout as an HTML table with a caption of its settings.

    Each value cell carries a ``data-key`` attribute (a key of the rollout's
    summary, or ``failed_until_end``), so tests can find a value without
    parsing the text.
    """
    rows = "".join(
        f'<tr><th>{html.escape(label)}</th><td data-key="{key}">{html.escape(text)}</td></tr>'
        for key, label, text in _summary_cells(rollout, settings.run_s)
    )
    if settings.strategy == "rolling":
        strategy = f"rolling update (maxSurge {settings.max_surge}, maxUnavailable {settings.max_unavailable})"
    else:
        strategy = STRATEGY_LABELS[settings.strategy].lower()
    caption = (
        f"{strategy} of the {settings.release} release ({RELEASE_DESCRIPTIONS[settings.release]}) on "
        f"{settings.replicas} replicas at {RATE_PER_REPLICA_RPS * settings.replicas:g} requests/s; "
        f"rollback {settings.rollback}, progress deadline {settings.progress_deadline_s:g} s, "
        f"readiness probe {'on' if settings.readiness_probe else 'off'}, "
        f"draining {'on' if settings.drain else 'off'}, seed {settings.seed}. "
        f"Simulated {settings.run_s:g} s of traffic after the start in {elapsed_s:.2f} s."
    )
    return (
        "<style>.devsim-rollout-summary th { text-align: left; padding: 1px 10px 1px 0; font-weight: normal; "
        "color: #555; } .devsim-rollout-summary td { padding: 1px 6px; font-weight: bold; "
        "font-variant-numeric: tabular-nums; }</style>"
        f'<p class="devsim-rollout-caption" style="margin: 0 0 4px 0; max-width: 900px">{html.escape(caption)}</p>'
        f'<table class="devsim-rollout-summary">{rows}</table>'
    )


class RolloutApp(widgets.VBox):
    """The rollout simulator widget. Build it with :func:`build_rollout_app`.

    Controls are attributes (``strategy``, ``max_surge``, ``max_unavailable``,
    ``release``, ``rollback``, ``progress_deadline``, ``drain``,
    ``readiness_probe``, ``replicas``, ``run_length``, ``seed``,
    ``simulate_button``), and so are the outputs (``summary``, ``message``,
    ``progress``, ``status`` and the chart widgets ``timeline_chart``,
    ``traffic_chart``, ``errors_chart``). ``rollout`` is the last successful
    run. Every part carries a CSS class starting ``devsim-``.
    """

    def __init__(self, settings: RolloutSettings | None = None):
        settings = settings or RolloutSettings()
        if settings.strategy not in STRATEGY_NAMES:
            raise ValueError(f"strategy {settings.strategy!r} not found; choose one of {', '.join(STRATEGY_NAMES)}")
        if settings.release not in RELEASES:
            raise ValueError(f"release {settings.release!r} not found; choose one of {', '.join(RELEASES)}")
        if settings.rollback not in ROLLBACK_CHOICES:
            raise ValueError(f"rollback {settings.rollback!r} not found; choose one of {', '.join(ROLLBACK_CHOICES)}")
        self.rollout: RolloutResult | None = None
        wide = {"description_width": "initial"}

        self.strategy = widgets.Dropdown(
            options=[(label, name) for name, label in STRATEGY_LABELS.items()],
            value=settings.strategy,
            description="Strategy",
            style=wide,
            layout=widgets.Layout(width="330px"),
        )
        self.max_surge = widgets.Text(
            value=str(settings.max_surge),
            description="maxSurge",
            placeholder="pods or %, e.g. 25%",
            tooltip="pods above the desired count during a rolling update: a number or a percentage (rounded up)",
            style=wide,
            layout=widgets.Layout(width="190px"),
        )
        self.max_unavailable = widgets.Text(
            value=str(settings.max_unavailable),
            description="maxUnavailable",
            placeholder="pods or %, e.g. 25%",
            tooltip="pods that may be unavailable during a rolling update: a number or a percentage (rounded down)",
            style=wide,
            layout=widgets.Layout(width="220px"),
        )
        self.release = widgets.Dropdown(
            options=[(f"{name}: {RELEASE_DESCRIPTIONS[name]}", name) for name in RELEASES],
            value=settings.release,
            description="New release",
            style=wide,
            layout=widgets.Layout(width="560px"),
        )
        self.rollback = widgets.Dropdown(
            options=[(label, name) for name, label in ROLLBACK_CHOICES.items()],
            value=settings.rollback,
            description="Rollback",
            style=wide,
            layout=widgets.Layout(width="560px"),
        )
        self.progress_deadline = widgets.BoundedIntText(
            value=int(settings.progress_deadline_s),
            min=1,
            max=3600,
            description="Progress deadline (s)",
            tooltip="progressDeadlineSeconds: a rollout without progress for this long exceeds its deadline",
            style=wide,
            layout=widgets.Layout(width="220px"),
        )
        self.drain = widgets.Checkbox(
            value=settings.drain,
            description="Drain removed pods",
            tooltip="a removed pod gets no new requests and finishes the ones it holds; off: they are dropped",
            indent=False,
            layout=widgets.Layout(width="170px"),
        )
        self.readiness_probe = widgets.Checkbox(
            value=settings.readiness_probe,
            description="Readiness probe",
            tooltip="a new pod gets traffic only once the probe passes; off: as soon as its container starts",
            indent=False,
            layout=widgets.Layout(width="150px"),
        )
        self.replicas = widgets.BoundedIntText(
            value=settings.replicas,
            min=1,
            max=MAX_REPLICAS,
            description="Replicas",
            tooltip=f"desired replicas; traffic is {RATE_PER_REPLICA_RPS:g} requests/s per replica",
            style=wide,
            layout=widgets.Layout(width="140px"),
        )
        run_lengths = sorted({*RUN_LENGTHS_S, int(settings.run_s)})
        self.run_length = widgets.Dropdown(
            options=[(f"{length} s", length) for length in run_lengths],
            value=int(settings.run_s),
            description="Traffic after the start",
            tooltip="how long requests keep arriving after the rollout starts",
            style=wide,
            layout=widgets.Layout(width="240px"),
        )
        self.seed = widgets.BoundedIntText(
            value=settings.seed, min=0, max=2**31 - 1, description="Seed", style=wide, layout=widgets.Layout(width="140px")
        )
        self.simulate_button = widgets.Button(description="Simulate", button_style="primary", icon="play")
        self.progress = widgets.IntProgress(value=0, min=0, max=3, layout=widgets.Layout(width="160px"))
        self.status = widgets.Label(value="")
        self.message = widgets.HTML(value="")
        self.summary = widgets.HTML(value="")

        self.timeline_chart = charts.show(placeholder_chart("Pods by version", CHART_WIDTH, CHART_HEIGHT))
        self.traffic_chart = charts.show(placeholder_chart("Traffic to the new version", CHART_WIDTH, CHART_HEIGHT))
        self.errors_chart = charts.show(placeholder_chart("Failed requests", CHART_WIDTH, CHART_HEIGHT))

        for widget, name in [
            (self.strategy, "strategy"),
            (self.max_surge, "max-surge"),
            (self.max_unavailable, "max-unavailable"),
            (self.release, "release"),
            (self.rollback, "rollback"),
            (self.progress_deadline, "progress-deadline"),
            (self.drain, "drain"),
            (self.readiness_probe, "readiness-probe"),
            (self.replicas, "replicas"),
            (self.run_length, "run-length"),
            (self.seed, "seed"),
            (self.simulate_button, "simulate"),
            (self.progress, "progress"),
            (self.status, "status"),
            (self.message, "message"),
            (self.summary, "summary"),
            (self.timeline_chart, "chart-timeline"),
            (self.traffic_chart, "chart-traffic"),
            (self.errors_chart, "chart-errors"),
        ]:
            widget.add_class(f"devsim-{name}")

        self.strategy.observe(self._on_strategy, names="value")
        self.simulate_button.on_click(lambda _button: self.simulate())
        self.progress.layout.visibility = "hidden"
        self._apply_strategy(settings.strategy)

        header = widgets.HTML(
            "<h3 style='margin: 0'>Rollout simulator</h3>"
            "<p style='margin: 0.2em 0 0.6em 0'>Replace the running version of the app with a new release while "
            "it serves traffic. Choose how, how good the release is and what rolls it back, then press "
            "Simulate.</p>"
        )
        controls = widgets.VBox(
            [
                widgets.HBox([self.strategy, self.max_surge, self.max_unavailable]),
                widgets.HBox([self.release]),
                widgets.HBox([self.rollback, self.progress_deadline]),
                widgets.HBox([self.readiness_probe, self.drain, self.replicas, self.run_length, self.seed]),
                widgets.HBox([self.simulate_button, self.progress, self.status]),
            ]
        )
        outputs = widgets.VBox([self.timeline_chart, self.traffic_chart, self.errors_chart])
        super().__init__([header, controls, self.message, self.summary, outputs])
        self.add_class("devsim-rollout")

    # -- controls -----------------------------------------------------------

    def settings(self) -> RolloutSettings:
        """Return the settings the controls show now."""
        return RolloutSettings(
            strategy=self.strategy.value,
            max_surge=self.max_surge.value.strip(),
            max_unavailable=self.max_unavailable.value.strip(),
            release=self.release.value,
            rollback=self.rollback.value,
            progress_deadline_s=float(self.progress_deadline.value),
            drain=bool(self.drain.value),
            readiness_probe=bool(self.readiness_probe.value),
            replicas=int(self.replicas.value),
            run_s=float(self.run_length.value),
            seed=int(self.seed.value),
        )

    def _apply_strategy(self, strategy: str) -> None:
        rolling = strategy == "rolling"
        self.max_surge.disabled = not rolling
        self.max_unavailable.disabled = not rolling

    def _on_strategy(self, change: dict[str, Any]) -> None:
        self._apply_strategy(change["new"])

    # -- running --------------------------------------------------------------

    def simulate(self) -> RolloutResult | None:
        """Run the current settings and update the outputs; return the rollout, or None on an error.

        An invalid setting shows its message above the summary and leaves the
        previous summary and charts in place.
        """
        settings = self.settings()
        self._set_busy(True)
        started = time.perf_counter()

        def work() -> tuple[RolloutResult, float]:
            self.progress.value = 1
            rollout = run_rollout(settings)
            elapsed = time.perf_counter() - started
            self.progress.value = 2
            self._show(rollout, settings, elapsed)
            self.progress.value = 3
            return rollout, elapsed

        outcome = run_reporting_errors(self, work, settings)
        if outcome is None:
            return None
        rollout, elapsed = outcome

        self.rollout = rollout
        self.message.value = ""
        self.status.value = f"Done: {len(rollout.result.requests):,} requests in {elapsed:.2f} s"
        return rollout

    def _set_busy(self, busy: bool) -> None:
        self.simulate_button.disabled = busy
        self.progress.layout.visibility = "visible" if busy else "hidden"
        if busy:
            self.progress.value = 0
            self.status.value = "Simulating…"

    def _show(self, rollout: RolloutResult, settings: RolloutSettings, elapsed_s: float) -> None:
        size = {"width": CHART_WIDTH, "height": CHART_HEIGHT}
        summary = rollout.summary()
        # simulate_rollout always names the running version v1.
        new_label = str(summary.get("new_version") or "new")
        self.timeline_chart.chart = charts.rollout_timeline_chart(
            rollout.timeline, title="Pods by version", old_label="v1 (old)", new_label=f"{new_label} (new)", **size
        )
        self.traffic_chart.chart = charts.traffic_share_chart(
            rollout.timeline, title="Share of traffic sent to the new version", **size
        )
        self.errors_chart.chart = charts.rollout_errors_chart(rollout, title="Failed requests per 5 s", **size)
        self.summary.value = summary_html(rollout, settings, elapsed_s)


def build_rollout_app(settings: RolloutSettings | None = None, run_on_load: bool = True) -> RolloutApp:
    """Build the rollout simulator: controls, a summary and three charts.

    With ``run_on_load``, the settings (by default a rolling update of a good
    release on 8 replicas, rolled back on failure) are simulated once before
    the widget is returned, so the first view already shows results. Raises
    ValueError on an unknown strategy, release or rollback in ``settings``.
    """
    app = RolloutApp(settings)
    if run_on_load:
        app.simulate()
    return app
