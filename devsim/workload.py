"""Workloads: when requests arrive, and how much work each one brings.

A workload turns a random generator into :class:`Arrivals`: sorted arrival
times in seconds from the start of the run, and optionally the service time of
each request. Synthetic processes (constant-rate Poisson, a rate that varies
with time, flash crowds) and replays of real traces share one interface, so the
simulation does not care where its traffic comes from.

Time-varying rates are sampled by thinning (Lewis and Shedler, 1979): draw a
Poisson process at the maximum rate and keep each arrival at time ``t`` with
probability ``rate(t) / max_rate``.

Traces are checked before replay. An unsorted trace is sorted and duplicate
timestamps of a rate series are merged, each with a logged warning, because the
repair is unambiguous. Negative or missing counts and gaps are errors that name
the row, because any repair would be a guess.
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "Arrivals",
    "StepCounts",
    "TraceError",
    "Workload",
    "Poisson",
    "TimeVarying",
    "DailyCycle",
    "Piecewise",
    "Burst",
    "RateTrace",
    "RequestTrace",
    "parse_window",
    "trace_workload",
    "AZURE_SECONDS_PER_CONTEXT_TOKEN",
    "AZURE_SECONDS_PER_GENERATED_TOKEN",
]

logger = logging.getLogger(__name__)

# Service-time model for the Azure LLM inference traces: a request costs its
# prompt at 10,000 tokens/s plus its output at 100 tokens/s. These are modelling
# assumptions of devsim, not measurements from the trace, which records tokens only.
AZURE_SECONDS_PER_CONTEXT_TOKEN = 1e-4
AZURE_SECONDS_PER_GENERATED_TOKEN = 1e-2


class TraceError(ValueError):
    """A trace that cannot be replayed as given; the message names the row and the fix."""


@dataclass(frozen=True)
class Arrivals:
    """Arrival times and per-request work of one run.

    Attributes
    ----------
    times
        Arrival times in seconds from the start of the run, sorted ascending.
    work
        Service time of each request in seconds, or NaN where the instance's
        service-time distribution decides. ``None`` means NaN everywhere.
    duration_s
        Length of the arrival window in seconds.
    """

    times: np.ndarray
    work: np.ndarray | None
    duration_s: float

    def __len__(self) -> int:
        return len(self.times)


class Workload(ABC):
    """An arrival process. Subclasses implement :meth:`generate`."""

    duration_s: float

    @abstractmethod
    def generate(self, rng: np.random.Generator) -> Arrivals:
        """Draw the arrivals of one run from ``rng``."""

    def mean_rate(self) -> float:
        """Return the expected arrival rate in requests per second."""
        raise NotImplementedError

    def step_counts(self, rng: np.random.Generator, step_s: float) -> "StepCounts":
        """Draw arrivals per time step of ``step_s`` seconds, for the flow engine.

        The default draws every arrival and counts them, so the counts have
        the same distribution as the request-level replay. Long rate traces
        override it to avoid drawing each request.
        """
        arrivals = self.generate(rng)
        steps = max(1, int(np.ceil(arrivals.duration_s / step_s - 1e-9)))
        index = np.minimum((arrivals.times // step_s).astype(np.int64), steps - 1)
        counts = np.bincount(index, minlength=steps).astype(float)
        work = None
        if arrivals.work is not None and not np.isnan(arrivals.work).any():
            work = np.bincount(index, weights=arrivals.work, minlength=steps)
        return StepCounts(counts, work, step_s)


@dataclass(frozen=True)
class StepCounts:
    """Arrivals per fixed time step.

    Attributes
    ----------
    counts
        Requests arriving in each step.
    work
        Total service time in seconds of each step's requests, or ``None``
        where the instance's service-time distribution decides.
    step_s
        Step length in seconds; step ``k`` covers ``[k * step_s, (k + 1) * step_s)``.
    """

    counts: np.ndarray
    work: np.ndarray | None
    step_s: float


def _check_positive(name: str, value: float, allow_zero: bool = False) -> float:
    value = float(value)
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = "zero or more" if allow_zero else "greater than zero"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return value


class Poisson(Workload):
    """Poisson arrivals at a constant ``rate`` (requests per second) for ``duration_s`` seconds."""

    def __init__(self, rate: float, duration_s: float):
        self.rate = _check_positive("rate", rate)
        self.duration_s = _check_positive("duration_s", duration_s)

    def generate(self, rng: np.random.Generator) -> Arrivals:
        times = _poisson_times(rng, self.rate, self.duration_s)
        return Arrivals(times, None, self.duration_s)

    def mean_rate(self) -> float:
        return self.rate

    def __repr__(self) -> str:
        return f"Poisson(rate={self.rate:g}, duration_s={self.duration_s:g})"


def _poisson_times(rng: np.random.Generator, rate: float, duration_s: float) -> np.ndarray:
    # Given the count, Poisson arrival times are independent and uniform on the window.
    count = rng.poisson(rate * duration_s)
    return np.sort(rng.uniform(0.0, duration_s, size=count))


class TimeVarying(Workload):
    """Poisson arrivals whose rate follows ``rate_fn(t)``, sampled by thinning.

    Parameters
    ----------
    rate_fn
        Vectorised function from times in seconds (a NumPy array) to rates in
        requests per second.
    duration_s
        Length of the run in seconds.
    max_rate
        An upper bound of ``rate_fn`` on the window. Thinning is exact only if
        the bound holds, so a rate found above it raises ``ValueError``.
    """

    def __init__(self, rate_fn: Callable[[np.ndarray], np.ndarray], duration_s: float, max_rate: float):
        self.rate_fn = rate_fn
        self.duration_s = _check_positive("duration_s", duration_s)
        self.max_rate = _check_positive("max_rate", max_rate)

    def generate(self, rng: np.random.Generator) -> Arrivals:
        candidates = _poisson_times(rng, self.max_rate, self.duration_s)
        rates = np.asarray(self.rate_fn(candidates), dtype=float)
        if rates.shape != candidates.shape:
            raise ValueError("rate_fn must return one rate per time it is given")
        if len(rates) and (np.nanmin(rates) < 0 or np.nanmax(rates) > self.max_rate * (1 + 1e-9)):
            raise ValueError(
                f"rate_fn returned rates in [{np.nanmin(rates):g}, {np.nanmax(rates):g}], outside "
                f"[0, max_rate={self.max_rate:g}]; raise max_rate to the true maximum"
            )
        keep = rng.uniform(0.0, self.max_rate, size=len(candidates)) < rates
        return Arrivals(candidates[keep], None, self.duration_s)

    def mean_rate(self) -> float:
        grid = np.linspace(0.0, self.duration_s, 10_001)
        return float(np.mean(self.rate_fn(grid)))


class DailyCycle(TimeVarying):
    """A sinusoidal daily cycle: ``mean_rate * (1 + amplitude * cos(2 pi (t - peak_s) / period_s))``.

    ``amplitude`` is between 0 (flat) and 1 (the rate touches zero at the trough).
    """

    def __init__(
        self,
        mean_rate: float,
        amplitude: float,
        duration_s: float,
        period_s: float = 86_400.0,
        peak_s: float = 14 * 3600.0,
    ):
        if not 0 <= amplitude <= 1:
            raise ValueError(f"amplitude must be between 0 and 1, got {amplitude!r}")
        self.mean = _check_positive("mean_rate", mean_rate)
        self.amplitude = float(amplitude)
        self.period_s = _check_positive("period_s", period_s)
        self.peak_s = float(peak_s)
        super().__init__(self._rate, duration_s, max_rate=self.mean * (1 + self.amplitude))

    def _rate(self, t: np.ndarray) -> np.ndarray:
        return self.mean * (1 + self.amplitude * np.cos(2 * np.pi * (np.asarray(t) - self.peak_s) / self.period_s))


class Piecewise(TimeVarying):
    """A piecewise-constant rate from a table of step start times and rates.

    ``starts_s[i]`` is when rate ``rates[i]`` begins; it holds until the next
    start or ``duration_s``. The first start must be 0.
    """

    def __init__(self, starts_s, rates, duration_s: float):
        starts = np.asarray(starts_s, dtype=float)
        values = np.asarray(rates, dtype=float)
        if starts.ndim != 1 or starts.shape != values.shape or len(starts) == 0:
            raise ValueError("starts_s and rates must be non-empty sequences of equal length")
        if starts[0] != 0 or np.any(np.diff(starts) <= 0):
            raise ValueError(f"starts_s must begin at 0 and increase strictly, got {starts.tolist()}")
        bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
        if len(bad):
            raise ValueError(f"rates[{bad[0]}] = {values[bad[0]]!r} is invalid; rates must be finite and >= 0")
        if values.max() == 0:
            raise ValueError("all rates are zero; give at least one positive rate")
        self.starts = starts
        self.rates = values
        super().__init__(self._rate, duration_s, max_rate=float(values.max()))

    def _rate(self, t: np.ndarray) -> np.ndarray:
        index = np.searchsorted(self.starts, np.asarray(t), side="right") - 1
        return self.rates[np.clip(index, 0, len(self.rates) - 1)]

    def mean_rate(self) -> float:
        ends = np.append(self.starts[1:], self.duration_s).clip(max=self.duration_s)
        widths = np.clip(ends - self.starts, 0, None)
        return float(np.sum(widths * self.rates) / self.duration_s)


class Burst(Workload):
    """A flash crowd: ``base`` traffic plus extra Poisson arrivals at ``extra_rate`` for a while.

    The extra rate ramps linearly from 0 to ``extra_rate`` over ``ramp_s``
    seconds from ``start_s``, holds, and stops at ``start_s + duration_s``.
    """

    def __init__(self, base: Workload, start_s: float, duration_s: float, extra_rate: float, ramp_s: float = 0.0):
        self.base = base
        self.start_s = _check_positive("start_s", start_s, allow_zero=True)
        self.burst_s = _check_positive("duration_s", duration_s)
        self.extra_rate = _check_positive("extra_rate", extra_rate)
        self.ramp_s = _check_positive("ramp_s", ramp_s, allow_zero=True)
        if self.ramp_s > self.burst_s:
            raise ValueError(f"ramp_s ({ramp_s}) must not exceed the burst duration ({duration_s})")
        self.duration_s = base.duration_s

    def _extra(self, t: np.ndarray) -> np.ndarray:
        elapsed = np.asarray(t) - self.start_s
        ramp = np.ones_like(elapsed) if self.ramp_s == 0 else np.clip(elapsed / self.ramp_s, 0, 1)
        inside = (elapsed >= 0) & (elapsed < self.burst_s)
        return np.where(inside, self.extra_rate * ramp, 0.0)

    def generate(self, rng: np.random.Generator) -> Arrivals:
        base = self.base.generate(rng)
        extra = TimeVarying(self._extra, self.duration_s, self.extra_rate).generate(rng).times
        times = np.concatenate([base.times, extra])
        order = np.argsort(times, kind="stable")
        work = None
        if base.work is not None:
            work = np.concatenate([base.work, np.full(len(extra), np.nan)])[order]
        return Arrivals(times[order], work, self.duration_s)

    def _extra_integral(self, t: np.ndarray) -> np.ndarray:
        # Integral of the extra rate from 0 to t: a linear ramp of ramp_s seconds, then a constant rate.
        elapsed = np.clip(np.asarray(t, dtype=float) - self.start_s, 0.0, self.burst_s)
        if self.ramp_s == 0:
            return self.extra_rate * elapsed
        in_ramp = np.minimum(elapsed, self.ramp_s)
        return self.extra_rate * (in_ramp**2 / (2 * self.ramp_s) + (elapsed - in_ramp))

    def step_counts(self, rng: np.random.Generator, step_s: float) -> "StepCounts":
        """Count the base per step and add a Poisson count of extra arrivals per step.

        The extra count's mean is the integral of the extra rate over the step,
        which is the distribution of drawing the burst's arrivals and counting
        them, without drawing each one. A base that carries per-request work
        falls back to drawing every request.
        """
        base = self.base.step_counts(rng, step_s)
        if base.work is not None:
            return super().step_counts(rng, step_s)
        edges = np.arange(len(base.counts) + 1) * step_s
        expected = np.diff(self._extra_integral(edges))
        return StepCounts(base.counts + rng.poisson(expected), None, step_s)

    def mean_rate(self) -> float:
        burst_end = min(self.start_s + self.burst_s, self.duration_s)
        full = max(0.0, burst_end - self.start_s - self.ramp_s / 2)
        return self.base.mean_rate() + self.extra_rate * full / self.duration_s


def parse_window(window) -> tuple[float, float] | None:
    """Parse a replay window ``"START:END"`` into seconds from the start of the trace.

    Each bound is a number of seconds or a pandas timedelta string
    (``"10min"``, ``"1h30min"``); an empty bound means the trace's start or
    end. A tuple ``(start_s, end_s)`` passes through. ``None`` means the whole trace.
    """
    if window is None:
        return None
    if isinstance(window, tuple):
        start, end = window
    else:
        text = str(window)
        if text.count(":") != 1:
            raise ValueError(f"window {text!r} is invalid; write START:END, for example 600:1200 or 10min:20min")
        start, end = text.split(":")
    start_s = _parse_offset(start, 0.0)
    end_s = _parse_offset(end, np.inf)
    if end_s <= start_s:
        raise ValueError(f"window {window!r} is empty: END ({end_s:g} s) must be after START ({start_s:g} s)")
    return start_s, end_s


def _parse_offset(value, default: float) -> float:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return default
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        try:
            seconds = float(value)
        except ValueError:
            try:
                # pandas deprecates the lower-case day unit ("1d"); accept it as "1D".
                seconds = pd.Timedelta(re.sub(r"(?<=\d)\s*d\b", "D", str(value).strip())).total_seconds()
            except ValueError:
                raise ValueError(
                    f"window bound {value!r} is neither seconds nor a duration such as '10min'"
                ) from None
    if seconds < 0:
        raise ValueError(f"window bound {value!r} is negative; bounds are offsets from the trace start")
    return seconds


def _check_replay_options(rate_multiplier: float, speedup: float) -> None:
    _check_positive("rate_multiplier", rate_multiplier)
    _check_positive("speedup", speedup)


class RateTrace(Workload):
    """Replay of a rate series: a count of requests per fixed interval.

    Each interval's count, times ``rate_multiplier``, becomes that many
    arrivals spread uniformly over the interval. Given its count, a Poisson
    process places arrivals uniformly, so this replays the trace's counts
    exactly and its shape within an interval by the Poisson assumption. A
    fractional count is rounded up with probability equal to its fraction.

    Parameters
    ----------
    frame
        A DataFrame with a timestamp column and a count column.
    timestamp, count
        Column names.
    rate_multiplier
        Scales every count (2.0 doubles the traffic).
    window
        ``(start_s, end_s)`` or ``"START:END"`` in seconds from the trace start
        (see :func:`parse_window`).
    speedup
        Divides all times: 60 replays an hour of trace in a minute at 60 times the rate.
    fill_gaps
        What to do where intervals are missing: ``"error"`` (default),
        ``"interpolate"`` (linear between the neighbours) or ``"zero"``.
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        timestamp: str = "timestamp",
        count: str = "value",
        rate_multiplier: float = 1.0,
        window=None,
        speedup: float = 1.0,
        fill_gaps: str = "error",
        name: str | None = None,
    ):
        _check_replay_options(rate_multiplier, speedup)
        self.name = name
        if fill_gaps not in ("error", "interpolate", "zero"):
            raise ValueError(f"fill_gaps must be 'error', 'interpolate' or 'zero', got {fill_gaps!r}")
        series, self.interval_s = _clean_rate_series(frame, timestamp, count, fill_gaps)
        self.start_timestamp = series.index[0]
        offsets = (series.index - series.index[0]).total_seconds().to_numpy()
        counts = series.to_numpy(dtype=float) * rate_multiplier

        bounds = parse_window(window)
        if bounds is not None:
            start_s, end_s = bounds
            keep = (offsets >= start_s) & (offsets + self.interval_s <= end_s + 1e-9)
            if not keep.any():
                raise TraceError(
                    f"window {window!r} contains no whole interval of the trace, which spans "
                    f"{offsets[-1] + self.interval_s:g} s in steps of {self.interval_s:g} s"
                )
            trace_end = offsets[-1] + self.interval_s
            if end_s != np.inf and end_s > trace_end + 1e-9:
                logger.warning("window end %g s is past the end of the trace (%g s); replaying to the trace end", end_s, trace_end)
            offsets, counts = offsets[keep] - offsets[keep][0], counts[keep]

        self.offsets_s = offsets / speedup
        self.counts = counts
        self.step_s = self.interval_s / speedup
        self.duration_s = float(self.offsets_s[-1] + self.step_s)

    def generate(self, rng: np.random.Generator) -> Arrivals:
        whole = np.floor(self.counts)
        numbers = (whole + (rng.uniform(size=len(self.counts)) < self.counts - whole)).astype(np.int64)
        starts = np.repeat(self.offsets_s, numbers)
        times = np.sort(starts + rng.uniform(0.0, self.step_s, size=len(starts)))
        return Arrivals(times, None, self.duration_s)

    def mean_rate(self) -> float:
        return float(self.counts.sum() / self.duration_s)

    def step_counts(self, rng: np.random.Generator, step_s: float) -> StepCounts:
        """Split each trace interval's count over the flow engine's steps without drawing requests.

        A request of an interval lands in each step with probability equal to
        the step's share of the interval, so the counts have the same
        distribution as :meth:`generate` followed by counting, for any step length.
        """
        whole = np.floor(self.counts)
        numbers = (whole + (rng.uniform(size=len(self.counts)) < self.counts - whole)).astype(np.int64)
        steps = max(1, int(np.ceil(self.duration_s / step_s - 1e-9)))
        edges = np.arange(steps + 1) * step_s
        counts = np.zeros(steps)
        for offset, number in zip(self.offsets_s, numbers):
            if number == 0:
                continue
            first = int(offset // step_s)
            last = min(int(np.ceil((offset + self.step_s) / step_s - 1e-9)), steps)
            overlap = np.minimum(edges[first + 1 : last + 1], offset + self.step_s) - np.maximum(edges[first:last], offset)
            shares = np.clip(overlap, 0, None) / self.step_s
            counts[first:last] += rng.multinomial(number, shares / shares.sum())
        return StepCounts(counts, None, step_s)

    def __repr__(self) -> str:
        name = f"{self.name!r}, " if self.name else ""
        return f"RateTrace({name}intervals={len(self.counts)}, step_s={self.step_s:g}, mean_rate={self.mean_rate():g})"

    def rate_series(self) -> pd.Series:
        """Return the replayed rate in requests per second, indexed by seconds from the start."""
        return pd.Series(self.counts / self.step_s, index=self.offsets_s, name="rate_rps")


def _clean_rate_series(frame: pd.DataFrame, timestamp: str, count: str, fill_gaps: str) -> tuple[pd.Series, float]:
    for column in (timestamp, count):
        if column not in frame.columns:
            raise TraceError(f"column {column!r} not found; the trace has columns {list(frame.columns)}")
    if len(frame) < 2:
        raise TraceError(f"a rate series needs at least 2 rows to infer its interval, got {len(frame)}")

    times = pd.to_datetime(frame[timestamp], errors="coerce")
    counts = pd.to_numeric(frame[count], errors="coerce")
    rows = np.arange(len(frame))
    for name, mask in (("timestamp", times.isna().to_numpy()), ("count", counts.isna().to_numpy())):
        if mask.any():
            row = int(rows[mask][0])
            raise TraceError(
                f"row {row}: missing or unreadable {name} ({frame.iloc[row][timestamp if name == 'timestamp' else count]!r}); "
                "drop or fill the row before replay"
            )
    negative = counts.to_numpy() < 0
    if negative.any():
        row = int(rows[negative][0])
        raise TraceError(f"row {row} (timestamp {times.iloc[row]}): negative count {float(counts.iloc[row]):g}; counts must be >= 0")

    series = pd.Series(counts.to_numpy(dtype=float), index=pd.DatetimeIndex(times.to_numpy()).as_unit("ns"))
    if not series.index.is_monotonic_increasing:
        logger.warning("rate trace is not sorted by timestamp; sorting it")
        series = series.sort_index(kind="stable")
    if series.index.has_duplicates:
        duplicated = series.index[series.index.duplicated()].unique()
        logger.warning(
            "rate trace repeats %d timestamp(s), first %s; summing the counts of each repeated timestamp",
            len(duplicated), duplicated[0],
        )
        series = series.groupby(level=0).sum()
    if len(series) < 2:
        raise TraceError("a rate series needs at least 2 distinct timestamps to infer its interval")

    steps = np.diff(series.index.asi8) / 1e9
    # The interval is the most common step; on a tie, the shortest.
    values, counts = np.unique(steps, return_counts=True)
    interval_s = float(values[np.argmax(counts)])
    irregular = np.flatnonzero(np.abs(steps - interval_s) > 1e-6 * interval_s)
    if len(irregular) == 0:
        return series, interval_s

    first = int(irregular[0])
    multiples = steps[irregular] / interval_s
    if not np.allclose(multiples, np.round(multiples)) or np.any(multiples < 1):
        raise TraceError(
            f"row {first + 1} (timestamp {series.index[first + 1]}): step of {steps[first]:g} s is not a "
            f"multiple of the series interval {interval_s:g} s; resample the trace to a fixed interval"
        )
    if fill_gaps == "error":
        raise TraceError(
            f"row {first + 1} (timestamp {series.index[first + 1]}): {len(irregular)} gap(s) in the series "
            f"(first {steps[first]:g} s where the interval is {interval_s:g} s); pass fill_gaps='interpolate' "
            "or fill_gaps='zero' to choose how missing intervals are filled"
        )
    full_index = pd.date_range(series.index[0], series.index[-1], freq=pd.Timedelta(seconds=interval_s))
    series = series.reindex(full_index)
    missing = int(series.isna().sum())
    series = series.interpolate("linear") if fill_gaps == "interpolate" else series.fillna(0.0)
    logger.warning("rate trace: filled %d missing interval(s) with fill_gaps=%r", missing, fill_gaps)
    return series, interval_s


class RequestTrace(Workload):
    """Replay of a per-request trace: one timestamp per request, optionally its work.

    Parameters
    ----------
    timestamps
        Arrival timestamps (datetime-like) or seconds (numbers).
    work_s
        Service time of each request in seconds, or ``None`` to use the
        instance's service-time distribution.
    rate_multiplier
        Below 1, each request is kept with that probability. Above 1, each
        request is replayed ``floor(m)`` times plus once more with probability
        ``m - floor(m)``; copies arrive at a uniform random offset within the
        trace's mean gap between requests, so the shape of the trace holds at
        any time scale above that gap.
    window, speedup
        As for :class:`RateTrace`.
    """

    def __init__(
        self, timestamps, work_s=None, rate_multiplier: float = 1.0, window=None, speedup: float = 1.0, name: str | None = None
    ):
        _check_replay_options(rate_multiplier, speedup)
        self.name = name
        offsets, work = _clean_request_trace(timestamps, work_s)

        bounds = parse_window(window)
        if bounds is not None:
            start_s, end_s = bounds
            keep = (offsets >= start_s) & (offsets < end_s)
            if not keep.any():
                raise TraceError(f"window {window!r} contains no request; the trace spans {offsets[-1]:g} s")
            span = _trace_span(offsets)
            if end_s != np.inf and end_s > span:
                logger.warning("window end %g s is past the end of the trace (%g s); replaying to the trace end", end_s, span)
            offsets = offsets[keep] - start_s
            work = None if work is None else work[keep]
            window_s = min(end_s, span) - start_s
        else:
            window_s = _trace_span(offsets)

        self.offsets_s = offsets / speedup
        self.work = work
        self.rate_multiplier = float(rate_multiplier)
        self.duration_s = max(window_s / speedup, float(self.offsets_s[-1]) if len(self.offsets_s) else 0.0)
        self.mean_gap_s = self.duration_s / max(len(self.offsets_s), 1)

    def generate(self, rng: np.random.Generator) -> Arrivals:
        m = self.rate_multiplier
        if m == 1.0:
            return Arrivals(self.offsets_s.copy(), None if self.work is None else self.work.copy(), self.duration_s)
        whole = np.floor(m)
        copies = (whole + (rng.uniform(size=len(self.offsets_s)) < m - whole)).astype(np.int64)
        source = np.repeat(np.arange(len(self.offsets_s)), copies)
        # The first copy of each request keeps its timestamp; extra copies get a jitter.
        first = np.ones(len(source), dtype=bool)
        first[1:] = source[1:] != source[:-1]
        jitter = np.where(first, 0.0, rng.uniform(0.0, self.mean_gap_s, size=len(source)))
        times = self.offsets_s[source] + jitter
        order = np.argsort(times, kind="stable")
        work = None if self.work is None else self.work[source][order]
        return Arrivals(times[order], work, self.duration_s)

    def mean_rate(self) -> float:
        return len(self.offsets_s) * self.rate_multiplier / self.duration_s

    def __repr__(self) -> str:
        name = f"{self.name!r}, " if self.name else ""
        return f"RequestTrace({name}requests={len(self.offsets_s)}, rate_multiplier={self.rate_multiplier:g}, duration_s={self.duration_s:g})"


def _trace_span(offsets: np.ndarray) -> float:
    # A trace of n requests spans its first-to-last time plus one mean gap, so
    # that the mean rate of a replay equals n divided by the span.
    if len(offsets) < 2:
        return 1.0
    span = float(offsets[-1] - offsets[0])
    return span + span / (len(offsets) - 1)


def _clean_request_trace(timestamps, work_s) -> tuple[np.ndarray, np.ndarray | None]:
    values = pd.Series(timestamps).reset_index(drop=True)
    if len(values) == 0:
        raise TraceError("the request trace is empty")
    if pd.api.types.is_numeric_dtype(values):
        seconds = values.astype(float)
    else:
        parsed = pd.to_datetime(values, errors="coerce")
        missing = parsed.isna().to_numpy()
        if missing.any():
            row = int(np.flatnonzero(missing)[0])
            raise TraceError(f"row {row}: missing or unreadable timestamp {values.iloc[row]!r}")
        seconds = (parsed - parsed.min()).dt.total_seconds()
    bad = ~np.isfinite(seconds.to_numpy())
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise TraceError(f"row {row}: missing or non-finite timestamp {values.iloc[row]!r}")

    work = None
    if work_s is not None:
        work = np.asarray(work_s, dtype=float)
        if work.shape != (len(seconds),):
            raise TraceError(f"work_s has {work.size} values for {len(seconds)} timestamps; give one per request")
        bad_work = np.isnan(work) | (work < 0) | np.isinf(work)
        if bad_work.any():
            row = int(np.flatnonzero(bad_work)[0])
            raise TraceError(f"row {row}: work {float(work[row]):g} is invalid; work must be a finite number of seconds >= 0")

    order = np.argsort(seconds.to_numpy(), kind="stable")
    if np.any(order != np.arange(len(order))):
        logger.warning("request trace is not sorted by timestamp; sorting it")
    offsets = seconds.to_numpy()[order]
    offsets = offsets - offsets[0]
    return offsets, None if work is None else work[order]


def trace_workload(
    name: str,
    rate_multiplier: float = 1.0,
    window=None,
    speedup: float = 1.0,
    seconds_per_context_token: float = AZURE_SECONDS_PER_CONTEXT_TOKEN,
    seconds_per_generated_token: float = AZURE_SECONDS_PER_GENERATED_TOKEN,
) -> Workload:
    """Build a replay workload from a shipped dataset (see :func:`devsim.datasets.list_datasets`).

    Azure LLM traces replay request by request, with each request's work from
    its token counts (see ``AZURE_SECONDS_PER_*``). NAB series replay as rate
    series, counting each sample as requests per sample interval; their few
    missing samples are filled by linear interpolation, with a logged warning.
    """
    from devsim.datasets import dataset_info, load_dataset

    info = dataset_info(name)
    frame = load_dataset(name)
    if info.kind == "requests":
        work = (
            frame["context_tokens"].to_numpy() * seconds_per_context_token
            + frame["generated_tokens"].to_numpy() * seconds_per_generated_token
        )
        return RequestTrace(
            frame["timestamp"], work, rate_multiplier=rate_multiplier, window=window, speedup=speedup, name=info.name
        )
    return RateTrace(
        frame, "timestamp", "value", rate_multiplier=rate_multiplier, window=window, speedup=speedup,
        fill_gaps="interpolate", name=info.name,
    )
