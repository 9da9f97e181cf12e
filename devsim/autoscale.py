"""Manual, reactive and predictive autoscaling compared on one trace.

:func:`compare_policies` splits a shipped trace in time: the first part trains
the load forecaster, the rest is replayed once per policy with the same seed,
so every policy gets the same requests. It reports SLO violations, cost and
scaling actions side by side.

The forecasts that drive :class:`~devsim.sim.autoscaling.Predictive` are made
walk-forward: the forecast for an interval uses only values of intervals that
had ended when the forecast was issued. A count at timestamp ``T`` covers
``[T, T + step)`` and is known at ``T + step``; a forecast with a horizon of
``h`` steps from that origin targets ``T + h * step`` and is issued at
``T + step``. The horizon is chosen so that every forecast is issued at least
the instance startup delay plus one sync period before its interval starts.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from devsim.datasets import dataset_info, load_dataset
from devsim.profiles import Profile, load_profile
from devsim.sim.autoscaling import HorizontalPodAutoscaler, Manual, OnlinePredictive, Predictive, hpa_settings
from devsim.sim.flow import run_scenario
from devsim.sim.model import Scenario, SimulationResult
from devsim.workload import RateTrace, RequestTrace, parse_window, trace_workload

__all__ = ["PolicyComparison", "compare_policies", "trace_series", "walk_forward_forecast", "POLICY_NAMES"]

logger = logging.getLogger(__name__)

POLICY_NAMES = ("manual", "hpa", "predictive", "predictive-online")


@dataclass
class PolicyComparison:
    """Result of :func:`compare_policies`.

    Attributes
    ----------
    table
        One row per policy: ``slo_violations`` (metric intervals with p95
        latency above the SLO or an error ratio above ``max_error_ratio``),
        ``violation_share``, ``error_ratio``, ``p95_latency_s``,
        ``replica_hours``, ``cost_usd``, ``scaling_actions``, ``fallbacks``
        (syncs where the predictive policy had no usable forecast), ``refits``
        (forecaster fits during the run, for ``predictive-online``).
    results
        The simulation result of each policy.
    forecast
        The forecast request rate (requests per second) by target time.
    """

    table: pd.DataFrame
    results: dict[str, SimulationResult]
    forecast: pd.Series | None = None
    settings: dict = field(default_factory=dict)


def trace_series(name: str, freq: str = "1min") -> pd.Series:
    """Return a shipped trace as counts per interval, indexed by timestamp.

    NAB series keep their own interval (their few missing samples are filled
    by linear interpolation); per-request traces are counted per ``freq``.
    """
    from devsim.ml.forecast import make_rate_series, requests_to_rate

    info = dataset_info(name)
    frame = load_dataset(name)
    if info.kind == "requests":
        return requests_to_rate(frame["timestamp"], freq=freq).astype(float)
    return make_rate_series(frame, fill_gaps="interpolate").astype(float)


def _default_model(horizon: int, train_span: pd.Timedelta, step: pd.Timedelta):
    from devsim.ml.forecast import LoadForecaster

    if train_span >= pd.Timedelta(days=3):
        return LoadForecaster(horizon=horizon, n_estimators=100)
    # Short series: no daily lag or calendar beyond the minute, or nothing is left to train on.
    lags = tuple(range(horizon, horizon + 6))
    return LoadForecaster(horizon=horizon, lags=lags, rolling_windows=(3, 6), calendar=("minute",), n_estimators=50)


def walk_forward_forecast(
    series: pd.Series, test_start: pd.Timestamp, lead_s: float, model=None, online: bool = False,
    online_window: str | int = "21D", online_every: str | int = "1D",
) -> tuple[pd.Series, np.ndarray, int]:
    """Forecast every interval from ``test_start`` on, each from the values known when it was issued.

    Parameters
    ----------
    series
        Counts per interval, regular, indexed by timestamp.
    test_start
        First target interval to forecast; the model trains on values before it.
    lead_s
        How long before its interval a forecast must be issued.
    model
        An unfitted forecaster with a ``horizon``; ``None`` builds an XGBoost
        :class:`~devsim.ml.forecast.LoadForecaster` with a suitable horizon.
    online
        Refit on a sliding window of ``online_window`` every ``online_every``
        while the test part is replayed, instead of fitting once.

    Returns
    -------
    rates, issued_s, horizon
        Forecast request rate per second indexed by target time, the issue
        time of each in seconds from ``test_start``, and the horizon in steps.
    """
    from devsim.ml.forecast import OnlineForecaster, run_online

    step = series.index[1] - series.index[0]
    step_s = step.total_seconds()
    horizon = 1 + math.ceil(lead_s / step_s)
    train = series[series.index < test_start]
    if model is None:
        model = _default_model(horizon, train.index[-1] - train.index[0], step)
    elif getattr(model, "horizon", horizon) < horizon:
        raise ValueError(f"model horizon {model.horizon} is too short: forecasts must be issued {lead_s:g} s ahead, which needs {horizon} steps")
    else:
        horizon = model.horizon

    if online:
        runner = OnlineForecaster(model, window=online_window, retrain_every=online_every, freq=step)
        forecast = run_online(runner, series)["forecast"]
    else:
        model.fit(train)
        forecast = model.predict(series)
    forecast = forecast[forecast.index >= test_start].clip(lower=0.0)
    rates = forecast / step_s
    offsets = (rates.index - test_start).total_seconds().to_numpy()
    issued = offsets - (horizon - 1) * step_s
    return rates, issued, horizon


def compare_policies(
    trace: str,
    policies=("manual", "hpa", "predictive"),
    profile: Profile | str = "production",
    rate_multiplier: float = 1.0,
    train_fraction: float = 0.5,
    test_window: str | None = None,
    startup_delay_s: float | None = None,
    slo_p95_s: float = 0.5,
    max_error_ratio: float = 0.01,
    headroom: float = 0.2,
    combine: str = "max",
    engine: str = "auto",
    seed: int = 0,
    model=None,
    **profile_overrides,
) -> PolicyComparison:
    """Replay the later part of a trace under each policy and compare SLO violations and cost.

    Parameters
    ----------
    trace
        A shipped dataset name (see :func:`devsim.datasets.list_datasets`).
    policies
        Any of ``manual`` (fixed replicas sized for the peak of the replayed
        part at the target utilisation), ``hpa``, ``predictive`` (forecaster
        fitted once) and ``predictive-online`` (a policy that counts the arrivals it
        observes during the run and refits its forecaster daily on the last 21 days).
    train_fraction
        Share of the trace, by time, that trains the forecaster; the rest is replayed.
    test_window
        Optional ``START:END`` within the replayed part, relative to its start.
    startup_delay_s
        Instance startup delay; ``None`` keeps the profile's.
    slo_p95_s, max_error_ratio
        An interval violates the SLO when its p95 latency or error ratio is above these.
    headroom, combine
        Settings of :class:`~devsim.sim.autoscaling.Predictive`.
    """
    unknown = [name for name in policies if name not in POLICY_NAMES]
    if unknown:
        raise ValueError(f"unknown policy {unknown[0]!r}; choose from {', '.join(POLICY_NAMES)}")
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be between 0 and 1, got {train_fraction!r}")
    overrides = dict(profile_overrides)
    if startup_delay_s is not None:
        overrides["instances__startup_delay_s"] = float(startup_delay_s)
    base = load_profile(profile) if isinstance(profile, str) else profile
    prof = base.with_overrides(**overrides) if overrides else base

    series = trace_series(trace)
    split = series.index[0] + (series.index[-1] - series.index[0]) * train_fraction
    test_start = series.index[series.index >= split][0]
    first_offset = (test_start - series.index[0]).total_seconds()
    start_s, end_s = (0.0, math.inf) if test_window is None else parse_window(test_window)
    workload = trace_workload(trace, rate_multiplier=rate_multiplier, window=(first_offset + start_s, first_offset + end_s))
    replay_start = test_start + pd.Timedelta(seconds=start_s)

    # Autoscaled runs start in steady state, with the replicas the first
    # interval's load needs at the target utilisation, so that a cold start
    # does not count against them.
    start_replicas = min(max(_replicas_for_rate(_first_rate(workload), workload, prof), prof.scaling.min_replicas),
                         prof.scaling.max_replicas)
    prof = prof.with_overrides(scaling__replicas=start_replicas)

    results: dict[str, SimulationResult] = {}
    fallbacks: dict[str, int] = {}
    refits: dict[str, int] = {}
    forecast_rates = None
    lead_s = prof.instances.startup_delay_s + prof.scaling.sync_period_s
    for name in policies:
        if name == "manual":
            autoscaler = Manual(_peak_replicas(workload, prof))
        elif name == "hpa":
            autoscaler = HorizontalPodAutoscaler.from_profile(prof)
        elif name == "predictive-online":
            autoscaler = _online_policy(series, test_start, replay_start, prof, lead_s, rate_multiplier, headroom, combine, model)
        else:
            rates, issued, horizon = walk_forward_forecast(
                series, test_start, lead_s, model=None if model is None else _clone(model),
            )
            rates = rates * rate_multiplier
            offsets = (rates.index - replay_start).total_seconds()
            forecast = pd.Series(rates.to_numpy(), index=offsets)
            issued = issued - (replay_start - test_start).total_seconds()
            step_s = (series.index[1] - series.index[0]).total_seconds()
            autoscaler = Predictive.from_profile_forecast(
                prof, forecast, step_s, issued_s=issued, headroom=headroom, combine=combine,
            )
            if name == "predictive":
                forecast_rates = rates
        result = run_scenario(Scenario(prof, workload, autoscaler=autoscaler), seed=seed, engine=engine)
        results[name] = result
        fallbacks[name] = getattr(autoscaler, "fallbacks", 0)
        refits[name] = getattr(autoscaler, "refits", 0)

    table = pd.DataFrame([_row(name, result, slo_p95_s, max_error_ratio, fallbacks[name]) for name, result in results.items()])
    table["refits"] = [refits[name] for name in results]
    settings = dict(trace=trace, profile=prof.name, rate_multiplier=rate_multiplier, train_fraction=train_fraction,
                    startup_delay_s=prof.instances.startup_delay_s, slo_p95_s=slo_p95_s, max_error_ratio=max_error_ratio,
                    headroom=headroom, combine=combine, seed=seed, test_start=str(test_start))
    return PolicyComparison(table.set_index("policy"), results, forecast_rates, settings)


def _online_policy(series, test_start, replay_start, profile, lead_s, rate_multiplier, headroom, combine, model,
                   window: str = "21D", every: str = "1D"):
    """Build an :class:`OnlinePredictive` that starts from the trace before the replay and refits daily."""
    step = series.index[1] - series.index[0]
    history = series[series.index < replay_start] * rate_multiplier
    window_steps = int(pd.Timedelta(window) / step)
    every_steps = max(1, int(pd.Timedelta(every) / step))
    horizon = 1 + math.ceil(lead_s / step.total_seconds())
    estimator = _default_model(horizon, min(pd.Timedelta(window), history.index[-1] - history.index[0]), step) if model is None else _clone(model)
    settings = hpa_settings(profile)
    return OnlinePredictive(
        estimator, history, window=min(window_steps, len(history)), retrain_every=every_steps,
        mean_service_s=profile.instances.service_time.mean_s, workers=profile.instances.workers,
        headroom=headroom, startup_delay_s=profile.instances.startup_delay_s, combine=combine, **settings,
    )


def _clone(model):
    from sklearn.base import clone

    return clone(model)


def _rates(workload) -> np.ndarray:
    """Return the workload's request rate per interval (per minute for request traces)."""
    if isinstance(workload, RateTrace):
        return workload.rate_series().to_numpy()
    if isinstance(workload, RequestTrace):
        return np.bincount((workload.offsets_s // 60).astype(int)) / 60.0 * workload.rate_multiplier
    return np.array([workload.mean_rate()])


def _first_rate(workload) -> float:
    return float(_rates(workload)[0])


def _replicas_for_rate(rate: float, workload, profile: Profile) -> int:
    mean_work = profile.instances.service_time.mean_s
    if isinstance(workload, RequestTrace) and workload.work is not None:
        mean_work = float(workload.work.mean())
    needed = math.ceil(rate * mean_work / (profile.instances.workers * profile.scaling.target_utilization))
    return max(1, needed)


def _peak_replicas(workload, profile: Profile) -> int:
    return _replicas_for_rate(float(_rates(workload).max()), workload, profile)


def _row(name: str, result: SimulationResult, slo_p95_s: float, max_error_ratio: float, fallbacks: int) -> dict:
    metrics = result.metrics
    active = metrics["arrivals"] > 0
    violated = active & ((metrics["p95_latency_s"] > slo_p95_s) | (metrics["error_ratio"] > max_error_ratio))
    summary = result.summary()
    return {
        "policy": name,
        "autoscaler": summary["autoscaler"],
        "engine": summary["engine"],
        "slo_violations": int(violated.sum()),
        "violation_share": float(violated.sum() / max(int(active.sum()), 1)),
        "error_ratio": summary["error_ratio"],
        "p95_latency_s": summary["p95_latency_s"],
        "replica_hours": summary["replica_hours"],
        "cost_usd": summary["cost_usd"],
        "scaling_actions": summary["scale_events"],
        "fallbacks": fallbacks,
    }
