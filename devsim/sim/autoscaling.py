"""Autoscaling policies: one interface, a fixed fleet and the Kubernetes HPA.

Every policy implements :meth:`AutoscalingPolicy.recommend`, which takes an
:class:`Observation` of the fleet and returns a :class:`Decision`. The
simulation calls it every ``sync_period_s`` seconds and applies the decision.
Because ``recommend`` is a plain method, policies can be tested on scripted
metric sequences without a simulation, and a learner can write a new policy in
a notebook cell.

:class:`HorizontalPodAutoscaler` follows the algorithm documented for the
Kubernetes ``autoscaling/v2`` API as of Kubernetes 1.30 ("Horizontal Pod
Autoscaling" on kubernetes.io and ``pkg/controller/podautoscaler`` in the
Kubernetes source):

* desired = ceil(ready pods * current utilisation / target utilisation),
  skipped when the ratio is within the tolerance (0.1) of 1;
* when scaling up while some pods are not ready, those pods count as 0%
  utilisation and the ratio is recomputed. If that reverses the direction or
  falls within the tolerance, the replica count stays;
* the recommendation is stabilised: scale-down uses the maximum recommendation
  of the last ``scale_down.stabilization_window_s`` (300 s by default) and
  scale-up the minimum of its window (0 s by default);
* scaling policies limit the change per period: by default at most +4 pods or
  +100% per 15 s up, and -100% per 15 s down; ``select_policy`` Max picks the
  policy that allows the largest change;
* the result is clamped to [min_replicas, max_replicas].

NOTE: utilisation is the busy fraction of an instance's workers over the last
sync period, standing in for CPU usage over CPU request. Pods with missing
metrics and the CPU initialisation period do not exist in the model.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from devsim.profiles import Profile, ScalingRules

__all__ = [
    "Observation",
    "Decision",
    "AutoscalingPolicy",
    "Manual",
    "HorizontalPodAutoscaler",
    "Predictive",
    "OnlinePredictive",
    "hpa_settings",
    "policy_from_profile",
]


@dataclass(frozen=True)
class Observation:
    """Fleet state that an autoscaler reads at one sync.

    Attributes
    ----------
    time_s
        Simulation time of the sync.
    current_replicas
        Replicas the deployment requests now (starting plus ready).
    ready_utilization
        Utilisation (0..1, may exceed 1 only through rounding) of each ready
        instance over the last sync period.
    unready
        Instances that are starting and not yet ready.
    arrival_rate
        Requests per second that arrived during the last sync period.
    """

    time_s: float
    current_replicas: int
    ready_utilization: tuple[float, ...]
    unready: int = 0
    arrival_rate: float = 0.0


@dataclass(frozen=True)
class Decision:
    """Result of a policy: the replica count to run and the reason."""

    replicas: int
    reason: str


class AutoscalingPolicy:
    """Interface of autoscaling policies.

    ``sync_period_s`` is how often :meth:`recommend` runs; ``None`` means never.
    """

    sync_period_s: float | None = None
    name = "policy"

    def initial_replicas(self) -> int:
        raise NotImplementedError

    def recommend(self, observation: Observation) -> Decision:
        raise NotImplementedError


class Manual(AutoscalingPolicy):
    """A fixed replica count, as in the development environment."""

    name = "Manual"

    def __init__(self, replicas: int):
        if int(replicas) != replicas or replicas < 1:
            raise ValueError(f"replicas must be a whole number >= 1, got {replicas!r}")
        self.replicas = int(replicas)

    def initial_replicas(self) -> int:
        return self.replicas

    def recommend(self, observation: Observation) -> Decision:
        return Decision(self.replicas, "manual: fixed replica count")

    def __repr__(self) -> str:
        return f"Manual(replicas={self.replicas})"


@dataclass
class _Rules:
    window_s: float
    select_policy: str
    policies: list[tuple[str, int, float]]

    @classmethod
    def from_profile(cls, rules: ScalingRules) -> "_Rules":
        return cls(rules.stabilization_window_s, rules.select_policy, [(p.type, p.value, p.period_s) for p in rules.policies])


@dataclass
class HorizontalPodAutoscaler(AutoscalingPolicy):
    """The Kubernetes HPA on CPU utilisation (see the module docstring for the rules).

    Parameters
    ----------
    min_replicas, max_replicas
        Bounds of the replica count.
    target_utilization
        Target average utilisation of ready pods, 0..1.
    initial
        Replicas at the start of the run.
    sync_period_s, tolerance
        Controller sync period (Kubernetes default 15 s) and tolerance (0.1).
    scale_up_window_s, scale_down_window_s
        Stabilisation windows (defaults 0 s and 300 s).
    scale_up_policies, scale_down_policies
        ``(type, value, period_s)`` tuples, type ``"Pods"`` or ``"Percent"``.
    scale_up_select, scale_down_select
        ``"Max"``, ``"Min"`` or ``"Disabled"``.
    """

    min_replicas: int = 1
    max_replicas: int = 10
    target_utilization: float = 0.6
    initial: int | None = None
    sync_period_s: float = 15.0
    tolerance: float = 0.1
    scale_up_window_s: float = 0.0
    scale_down_window_s: float = 300.0
    scale_up_policies: list = field(default_factory=lambda: [("Pods", 4, 15.0), ("Percent", 100, 15.0)])
    scale_down_policies: list = field(default_factory=lambda: [("Percent", 100, 15.0)])
    scale_up_select: str = "Max"
    scale_down_select: str = "Max"
    name = "HorizontalPodAutoscaler"

    def __post_init__(self):
        problems = []
        if self.min_replicas < 1:
            problems.append(f"min_replicas must be >= 1, got {self.min_replicas}")
        if self.max_replicas < self.min_replicas:
            problems.append(f"max_replicas ({self.max_replicas}) must be >= min_replicas ({self.min_replicas})")
        if not 0 < self.target_utilization <= 1:
            problems.append(f"target_utilization must be in (0, 1], got {self.target_utilization}")
        if not 0 <= self.tolerance < 1:
            problems.append(f"tolerance must be in [0, 1), got {self.tolerance}")
        if self.sync_period_s <= 0:
            problems.append(f"sync_period_s must be > 0, got {self.sync_period_s}")
        for direction in ("scale_up", "scale_down"):
            for kind, value, period in getattr(self, f"{direction}_policies"):
                if kind not in ("Pods", "Percent") or value <= 0 or period <= 0:
                    problems.append(f"{direction} policy {(kind, value, period)} is invalid; use ('Pods' or 'Percent', value > 0, period_s > 0)")
            if getattr(self, f"{direction}_select") not in ("Max", "Min", "Disabled"):
                problems.append(f"{direction}_select must be Max, Min or Disabled")
        if problems:
            raise ValueError("invalid HorizontalPodAutoscaler: " + "; ".join(problems))
        if self.initial is None:
            self.initial = self.min_replicas
        self.initial = min(max(self.initial, self.min_replicas), self.max_replicas)
        # The run starts in steady state: the HPA has recommended the initial
        # count at time 0, so the scale-down window keeps it for its length.
        self._window_lows: deque[tuple[float, int]] = deque([(0.0, self.initial)])
        self._window_highs: deque[tuple[float, int]] = deque([(0.0, self.initial)])
        self._scale_events: deque[tuple[float, int]] = deque()
        self._longest_period = max(p for _, _, p in (*self.scale_up_policies, *self.scale_down_policies))

    @classmethod
    def from_profile(cls, profile: Profile) -> "HorizontalPodAutoscaler":
        """Build the HPA from a profile's ``scaling`` section."""
        return cls(**hpa_settings(profile))

    def initial_replicas(self) -> int:
        return self.initial

    def __repr__(self) -> str:
        return (
            f"HorizontalPodAutoscaler(min_replicas={self.min_replicas}, max_replicas={self.max_replicas}, "
            f"target_utilization={self.target_utilization:g})"
        )

    # -- the replica calculator -----------------------------------------

    def metric_recommendation(self, observation: Observation) -> tuple[int, str]:
        """Return the raw desired replicas from utilisation, before stabilisation and limits."""
        current = observation.current_replicas
        ready = observation.ready_utilization
        if not ready:
            return current, "no ready pods with metrics: keeping the replica count"
        target = self.target_utilization
        ratio = (sum(ready) / len(ready)) / target

        if observation.unready == 0 or ratio <= 1.0:
            if abs(1.0 - ratio) <= self.tolerance:
                return current, f"usage ratio {ratio:.3f} within tolerance {self.tolerance}"
            desired = math.ceil(ratio * len(ready))
            return desired, f"usage ratio {ratio:.3f} over {len(ready)} ready pods"

        # Scaling up with unready pods: count them at 0% and recompute.
        count = len(ready) + observation.unready
        new_ratio = (sum(ready) / count) / target
        if abs(1.0 - new_ratio) <= self.tolerance or new_ratio < 1.0:
            return current, (
                f"usage ratio {ratio:.3f}, but {new_ratio:.3f} counting {observation.unready} unready pods at 0%: no change"
            )
        desired = math.ceil(new_ratio * count)
        if desired < current:
            return current, f"usage ratio {new_ratio:.3f} would scale down while scaling up: no change"
        return desired, f"usage ratio {new_ratio:.3f} over {count} pods ({observation.unready} unready at 0%)"

    # -- behaviour: stabilisation and rate limits ------------------------

    def recommend(self, observation: Observation) -> Decision:
        now = observation.time_s
        current = observation.current_replicas
        raw, reason = self.metric_recommendation(observation)

        stabilized = self._stabilize(now, current, raw)
        if stabilized != raw:
            reason += f"; stabilised from {raw} to {stabilized}"

        limited = stabilized
        if stabilized > current:
            limit = max(self._scale_up_limit(now, current), current)
            limited = min(stabilized, limit)
        elif stabilized < current:
            limit = min(self._scale_down_limit(now, current), current)
            limited = max(stabilized, limit)
        if limited != stabilized:
            reason += f"; rate-limited to {limited}"

        bounded = min(max(limited, self.min_replicas), self.max_replicas)
        if bounded != limited:
            reason += f"; clamped to [{self.min_replicas}, {self.max_replicas}]"

        if bounded != current:
            self._scale_events.append((now, bounded - current))
        return Decision(bounded, reason)

    def _stabilize(self, now: float, current: int, raw: int) -> int:
        # Monotonic deques give the window minimum (scale up) and maximum
        # (scale down) of the recommendations in amortised constant time.
        up_cutoff = now - self.scale_up_window_s
        down_cutoff = now - self.scale_down_window_s
        lows, highs = self._window_lows, self._window_highs
        while lows and lows[-1][1] >= raw:
            lows.pop()
        lows.append((now, raw))
        while highs and highs[-1][1] <= raw:
            highs.pop()
        highs.append((now, raw))
        while lows[0][0] <= up_cutoff and len(lows) > 1:
            lows.popleft()
        while highs[0][0] <= down_cutoff and len(highs) > 1:
            highs.popleft()

        # The current recommendation always counts, whatever the window length.
        up = raw if lows[0][0] <= up_cutoff else min(raw, lows[0][1])
        down = raw if highs[0][0] <= down_cutoff else max(raw, highs[0][1])
        recommendation = current
        if recommendation < up:
            recommendation = up
        if recommendation > down:
            recommendation = down
        return recommendation

    def _changes_in_period(self, now: float, period: float) -> tuple[int, int]:
        events = self._scale_events
        longest = self._longest_period
        while events and events[0][0] <= now - longest:
            events.popleft()
        added = 0
        removed = 0
        for t, change in events:
            if t > now - period:
                if change > 0:
                    added += change
                else:
                    removed -= change
        return added, removed

    def _scale_up_limit(self, now: float, current: int) -> int:
        if self.scale_up_select == "Disabled":
            return current
        limits = []
        for kind, value, period in self.scale_up_policies:
            added, removed = self._changes_in_period(now, period)
            start = current - added + removed
            limits.append(start + value if kind == "Pods" else math.ceil(start * (1 + value / 100)))
        return max(limits) if self.scale_up_select == "Max" else min(limits)

    def _scale_down_limit(self, now: float, current: int) -> int:
        if self.scale_down_select == "Disabled":
            return current
        limits = []
        for kind, value, period in self.scale_down_policies:
            added, removed = self._changes_in_period(now, period)
            start = current - added + removed
            # Kubernetes truncates the percent limit when scaling down.
            limits.append(start - value if kind == "Pods" else int(start * (1 - value / 100)))
        return min(limits) if self.scale_down_select == "Max" else max(limits)


def hpa_settings(profile: Profile) -> dict:
    """Return the keyword arguments of :class:`HorizontalPodAutoscaler` that a profile's ``scaling`` section sets.

    Subclasses that scale by other signals (:class:`Predictive`,
    :class:`OnlinePredictive`) take the same settings for their limits.
    """
    s = profile.scaling
    up, down = _Rules.from_profile(s.scale_up), _Rules.from_profile(s.scale_down)
    return dict(
        min_replicas=s.min_replicas, max_replicas=s.max_replicas, target_utilization=s.target_utilization,
        initial=s.replicas, sync_period_s=s.sync_period_s, tolerance=s.tolerance,
        scale_up_window_s=up.window_s, scale_down_window_s=down.window_s,
        scale_up_policies=up.policies, scale_down_policies=down.policies,
        scale_up_select=up.select_policy, scale_down_select=down.select_policy,
    )


def policy_from_profile(profile: Profile) -> AutoscalingPolicy:
    """Return the autoscaling policy that a profile's ``scaling.mode`` names.

    Raises
    ------
    ValueError
        For ``predictive``, which needs a trained load forecaster: pass an
        autoscaler explicitly or override ``scaling__mode``.
    """
    mode = profile.scaling.mode
    if mode == "manual":
        return Manual(profile.scaling.replicas)
    if mode == "horizontal":
        return HorizontalPodAutoscaler.from_profile(profile)
    raise ValueError(
        f"profile {profile.name!r} sets scaling mode {mode!r}, which needs a load forecast as well as the profile; "
        "pass autoscaler=Predictive.from_profile_forecast(profile, forecast, interval_s), run "
        "devsim.autoscale.compare_policies, or load the profile with scaling__mode='horizontal'"
    )


class Predictive(HorizontalPodAutoscaler):
    """Scale on a load forecast plus headroom, ahead of the instance startup delay.

    At each sync the policy looks up the forecast request rate for the time
    ``now + lead_s`` (by default the startup delay plus one sync period, so that
    replicas started now are ready when the load arrives) and requests
    ``ceil(rate * mean_service_s * (1 + headroom) / (workers * target_utilization))``
    replicas. Stabilisation, rate limits and bounds then apply as for the HPA.

    When no forecast covers ``now + lead_s`` (missing, NaN, or issued more than
    ``max_age_s`` before now), the policy falls back to the reactive HPA
    calculation and says so in the decision's reason.

    With ``combine="max"`` the policy requests the larger of the forecast and
    the reactive calculation, so a surprise burst still scales the fleet; this
    is how cloud predictive scaling is usually paired with dynamic scaling.
    ``combine="forecast"`` trusts the forecast alone.

    Parameters
    ----------
    forecast
        Predicted rates in requests per second. A pandas Series indexed by the
        start of each target interval in seconds from the run start; each value
        holds for ``interval_s`` seconds.
    issued_s
        When each forecast was made, in seconds from the run start (same
        index). A forecast is usable only once issued (``issued_s <= now``).
        ``None`` means every forecast was issued ``interval_s`` before its target.
    mean_service_s, workers
        Work per request and workers per instance, to turn a rate into replicas.
    headroom
        Extra capacity share on top of the forecast, e.g. 0.2 for 20%.
    """

    name = "Predictive"

    def __init__(self, forecast, interval_s: float, mean_service_s: float, workers: int, issued_s=None,
                 headroom: float = 0.2, lead_s: float | None = None, max_age_s: float | None = None,
                 startup_delay_s: float = 0.0, combine: str = "max", **hpa_settings):
        super().__init__(**hpa_settings)
        import numpy as np

        problems = []
        if interval_s <= 0:
            problems.append(f"interval_s must be > 0, got {interval_s}")
        if mean_service_s <= 0:
            problems.append(f"mean_service_s must be > 0, got {mean_service_s}")
        if workers < 1:
            problems.append(f"workers must be >= 1, got {workers}")
        if headroom < 0:
            problems.append(f"headroom must be >= 0, got {headroom}")
        if combine not in ("max", "forecast"):
            problems.append(f"combine must be 'max' or 'forecast', got {combine!r}")
        if problems:
            raise ValueError("invalid Predictive policy: " + "; ".join(problems))
        self.starts = np.asarray(forecast.index, dtype=float)
        self.rates = np.asarray(forecast.to_numpy(), dtype=float)
        self.issued = self.starts - interval_s if issued_s is None else np.asarray(issued_s, dtype=float)
        self.interval_s = float(interval_s)
        self.mean_service_s = float(mean_service_s)
        self.workers = int(workers)
        self.headroom = float(headroom)
        self.lead_s = float(startup_delay_s + self.sync_period_s) if lead_s is None else float(lead_s)
        self.max_age_s = max_age_s
        self.combine = combine
        self.fallbacks = 0

    @classmethod
    def from_profile_forecast(cls, profile, forecast, interval_s: float, issued_s=None, headroom: float = 0.2, **settings):
        """Build the policy from a profile's scaling section, service time and startup delay."""
        limits = hpa_settings(profile)
        limits.update(settings)
        return cls(
            forecast, interval_s, profile.instances.service_time.mean_s, profile.instances.workers,
            issued_s=issued_s, headroom=headroom, startup_delay_s=profile.instances.startup_delay_s, **limits,
        )

    def forecast_at(self, now: float) -> float | None:
        """Return the usable forecast rate for ``now + lead_s``, or None."""
        import bisect
        import math as _math

        target = now + self.lead_s
        index = bisect.bisect_right(self.starts, target) - 1
        if index < 0 or target >= self.starts[index] + self.interval_s:
            return None
        rate = self.rates[index]
        issued = self.issued[index]
        if _math.isnan(rate) or issued > now:
            return None
        if self.max_age_s is not None and now - issued > self.max_age_s:
            return None
        return float(rate)

    def metric_recommendation(self, observation: Observation) -> tuple[int, str]:
        rate = self.forecast_at(observation.time_s)
        if rate is None:
            self.fallbacks += 1
            replicas, reason = super().metric_recommendation(observation)
            return replicas, f"no usable forecast, reactive fallback: {reason}"
        busy_workers = rate * self.mean_service_s * (1 + self.headroom)
        replicas = max(1, math.ceil(busy_workers / (self.workers * self.target_utilization)))
        reason = f"forecast {rate:.3g} req/s at t+{self.lead_s:g}s with {self.headroom:.0%} headroom"
        if self.combine == "max":
            reactive, reactive_reason = super().metric_recommendation(observation)
            if reactive > replicas:
                return reactive, f"reactive above {reason}: {reactive_reason}"
        return replicas, reason

    def __repr__(self) -> str:
        return (
            f"Predictive(min_replicas={self.min_replicas}, max_replicas={self.max_replicas}, "
            f"target_utilization={self.target_utilization:g}, headroom={self.headroom:g}, lead_s={self.lead_s:g}, "
            f"combine={self.combine!r})"
        )


class OnlinePredictive(Predictive):
    """A predictive policy that learns from the arrivals it observes while the simulation runs.

    The policy counts the arrivals it observes at each sync into intervals of
    ``step_s`` seconds. When an interval ends it appends the count to its
    history and forecasts the interval ``horizon`` steps after it with
    ``estimator.predict_one``. Every ``retrain_every`` intervals it refits a
    fresh clone of the estimator on the last ``window`` intervals, so the
    model follows a pattern that changes during the run. Forecasts are used as
    in :class:`Predictive`, with the same reactive fallback and floor.

    Parameters
    ----------
    estimator
        An unfitted forecaster with ``fit(series)``, ``predict_one(values,
        target_time)``, ``horizon`` and ``window_size_`` once fitted (the
        forecasters of :mod:`devsim.ml.forecast`).
    history
        Counts per interval before the run, indexed by timestamp with step
        ``step_s``; the first fit uses its last ``window`` values. The run's
        time 0 is one step after its last timestamp.
    window, retrain_every
        Intervals per refit and intervals between refits.

    NOTE: arrivals within a sync period are split evenly over the intervals it
    spans; with the flow engine's long steps for month-long traces, an
    interval's count is an estimate from those steps.
    """

    name = "OnlinePredictive"

    def __init__(self, estimator, history, window: int, retrain_every: int, mean_service_s: float, workers: int,
                 headroom: float = 0.2, lead_s: float | None = None, startup_delay_s: float = 0.0,
                 combine: str = "max", **hpa_settings):
        import pandas as pd

        index = pd.DatetimeIndex(history.index)
        if len(index) < 2:
            raise ValueError("history needs at least 2 intervals to know its step")
        step_s = float((index[1] - index[0]).total_seconds())
        empty = pd.Series([], dtype=float)
        super().__init__(empty, step_s, mean_service_s, workers, headroom=headroom, lead_s=lead_s,
                         startup_delay_s=startup_delay_s, combine=combine, **hpa_settings)
        if window < 2 or retrain_every < 1:
            raise ValueError(f"window must be >= 2 and retrain_every >= 1, got {window} and {retrain_every}")
        if len(history) < window:
            raise ValueError(f"history has {len(history)} intervals, fewer than window={window}; give more history")
        self.estimator = estimator
        self.window = int(window)
        self.retrain_every = int(retrain_every)
        self.step = index[1] - index[0]
        self.origin = index[-1] + self.step
        self.counts = [float(value) for value in history.to_numpy()]
        self.times = list(index)
        self.forecasts: dict[int, float] = {}
        self.refits = 0
        self._since_refit = 0
        self._bucket = 0
        self._bucket_count = 0.0
        self._last_sync = 0.0
        self._refit()
        self._forecast_next()

    def _refit(self) -> None:
        import pandas as pd
        from sklearn.base import clone

        series = pd.Series(self.counts[-self.window:], index=pd.DatetimeIndex(self.times[-self.window:]))
        self.model = clone(self.estimator).fit(series)
        self.refits += 1
        self._since_refit = 0

    def _forecast_next(self) -> None:
        # The latest complete interval has index len(counts) - 1 - len(history); the
        # forecast targets horizon steps after it.
        completed = self._bucket - 1
        target = completed + self.model.horizon
        target_time = self.origin + target * self.step
        size = self.model.window_size_
        if len(self.counts) >= size:
            value = self.model.predict_one(self.counts[-size:], target_time)
            self.forecasts[target] = max(value, 0.0) / self.interval_s

    def _observe(self, now: float, rate: float) -> None:
        start, step = self._last_sync, self.interval_s
        self._last_sync = now
        if now <= start:
            return
        arrivals = rate * (now - start)
        while True:
            bucket_end = (self._bucket + 1) * step
            if now < bucket_end:
                self._bucket_count += arrivals
                return
            share = (bucket_end - start) / (now - start)
            self._bucket_count += arrivals * share
            arrivals -= arrivals * share
            self.counts.append(self._bucket_count)
            self.times.append(self.origin + self._bucket * self.step)
            self._bucket += 1
            self._bucket_count = 0.0
            self._since_refit += 1
            if self._since_refit >= self.retrain_every:
                self._refit()
            self._forecast_next()
            start = bucket_end

    def forecast_at(self, now: float) -> float | None:
        target = int((now + self.lead_s) // self.interval_s)
        return self.forecasts.get(target)

    def metric_recommendation(self, observation: Observation) -> tuple[int, str]:
        self._observe(observation.time_s, observation.arrival_rate)
        return super().metric_recommendation(observation)

    def __repr__(self) -> str:
        return (
            f"OnlinePredictive(min_replicas={self.min_replicas}, max_replicas={self.max_replicas}, "
            f"window={self.window}, retrain_every={self.retrain_every}, headroom={self.headroom:g}, "
            f"combine={self.combine!r})"
        )
