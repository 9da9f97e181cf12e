"""Load forecasting: rate series, features, forecasters, metrics and online refits.

The experimental profile scales ahead of load with a predictor of the request
rate. This module provides that predictor and the tools to score it against
simple baselines:

* :func:`make_rate_series` and :func:`requests_to_rate` turn a data set into a
  regular series, one value per fixed interval.
* :func:`make_features` builds the features that every feature-based model uses:
  lagged values, rolling statistics and calendar fields.
* :class:`LoadForecaster` (XGBoost) and the baselines :class:`LastValue`,
  :class:`SeasonalNaive` and :class:`LinearForecaster` (ridge regression) share
  one interface: ``fit(series)``, ``predict(series)`` and ``predict_one(values,
  target_time)``.
* :func:`mae`, :func:`smape`, :func:`mase`, :func:`evaluate` and
  :func:`backtest` score forecasts on a time-ordered split.
* :class:`OnlineForecaster` and :func:`run_online` refit a model on a sliding
  window while a series arrives one value at a time.

Every model forecasts the value ``horizon`` steps after the forecast origin
``t`` from values at or before ``t``. Calendar features describe the target
time ``t + horizon``, which is known in advance.

Examples
--------
>>> from devsim.datasets import load_dataset
>>> from devsim.ml.forecast import LastValue, LoadForecaster, evaluate, make_rate_series
>>> series = make_rate_series(load_dataset("nab-nyc-taxi"))
>>> scores = evaluate({"last value": LastValue(horizon=2),
...                    "xgboost": LoadForecaster(horizon=2)}, series)
>>> bool(scores.loc["xgboost", "mae"] < scores.loc["last value", "mae"])
True
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import TimeSeriesSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "CALENDAR_FEATURES",
    "LastValue",
    "LinearForecaster",
    "LoadForecaster",
    "OnlineForecaster",
    "SeasonalNaive",
    "backtest",
    "evaluate",
    "mae",
    "make_features",
    "make_rate_series",
    "mase",
    "requests_to_rate",
    "run_online",
    "smape",
    "splice_series",
]

logger = logging.getLogger(__name__)

CALENDAR_FEATURES = ("minute", "hour", "day_of_week")
"""Calendar fields that :func:`make_features` can add, all of the target time."""

_NS_PER_MINUTE = 60 * 10**9
_NS_PER_HOUR = 60 * _NS_PER_MINUTE
_NS_PER_DAY = 24 * _NS_PER_HOUR
# 1970-01-01, day 0 of the epoch, was a Thursday, which is day 3 when Monday is 0.
_EPOCH_DAYOFWEEK = 3

# Default lags as steps before the forecast origin. Each is added to the horizon,
# because lags count back from the target time.
_DEFAULT_RECENT_LAGS = (0, 1, 2, 5, 11)
# Default seasonal lag, counted back from the target time. A week lag is left
# out because it needs a week of values before the first training row.
_DEFAULT_SEASONAL_LAGS = ("1D",)
_DEFAULT_ROLLING_WINDOWS = (3, 12)
_TARGETS = ("level", "difference")

_SAVE_FORMAT = "devsim.ml.forecast.LoadForecaster"
_SAVE_FORMAT_VERSION = 1


# --------------------------------------------------------------------------
# Regular series
# --------------------------------------------------------------------------

def _to_step(freq: Any, what: str = "freq") -> pd.Timedelta:
    """Convert a frequency string, offset or duration to a positive ``Timedelta``."""
    try:
        if isinstance(freq, (str, pd.offsets.BaseOffset)):
            freq = pd.tseries.frequencies.to_offset(freq)
        step = pd.Timedelta(freq)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{what}={freq!r} is not a fixed duration such as '5min', '30min' or '1h': {error}"
        ) from None
    if step <= pd.Timedelta(0):
        raise ValueError(f"{what} must be a positive duration, got {freq!r}")
    return step


def make_rate_series(
    frame: pd.DataFrame | pd.Series,
    timestamp: str = "timestamp",
    value: str = "value",
    freq: Any = None,
    fill_gaps: str = "error",
    duplicates: str = "sum",
) -> pd.Series:
    """Build a regular series, one value per fixed interval, from a table of samples.

    The rules follow :class:`devsim.workload.RateTrace`: unsorted rows are sorted
    and repeated timestamps merged, each with a logged warning, because the repair
    is unambiguous. Missing intervals are errors unless ``fill_gaps`` chooses a
    fill, and timestamps off the interval grid are always errors. Unlike
    ``RateTrace``, ``fill_gaps`` also fills missing (NaN) values.

    Parameters
    ----------
    frame : pandas.DataFrame or pandas.Series
        Samples with a timestamp column and a value column. A Series indexed by
        timestamps is used as it is, and ``timestamp`` and ``value`` are ignored.
    timestamp, value : str
        Column names.
    freq : str, pandas.Timedelta or pandas offset, optional
        The interval, for example ``"5min"``. It must be a fixed duration. By default
        it is the most common step between timestamps (on a tie, the shortest).
    fill_gaps : {"error", "interpolate", "zero"}, default "error"
        How to fill missing intervals and missing (NaN) values: raise
        ``ValueError``, interpolate linearly between the neighbours, or use 0.
    duplicates : {"sum", "mean"}, default "sum"
        How to merge rows that share a timestamp: ``"sum"`` for counts per interval,
        ``"mean"`` for rates or utilisation.

    Returns
    -------
    pandas.Series
        float64 values on a ``DatetimeIndex`` named ``"timestamp"`` whose ``freq``
        is the interval. The Series is named after the value column.

    Raises
    ------
    ValueError
        If a column is missing, a timestamp or value is unreadable or negative, a
        value is missing (with ``fill_gaps="error"``), a timestamp is off the grid of
        the interval, or an interval is missing (with ``fill_gaps="error"``). The
        message names the first bad row, counted from 0 in the input.
    """
    if fill_gaps not in ("error", "interpolate", "zero"):
        raise ValueError(f"fill_gaps must be 'error', 'interpolate' or 'zero', got {fill_gaps!r}")
    if duplicates not in ("sum", "mean"):
        raise ValueError(f"duplicates must be 'sum' or 'mean', got {duplicates!r}")

    if isinstance(frame, pd.Series):
        name = frame.name if frame.name is not None else "value"
        frame = pd.DataFrame({"timestamp": frame.index, "value": frame.to_numpy()})
        timestamp, value = "timestamp", "value"
    else:
        for column in (timestamp, value):
            if column not in frame.columns:
                raise ValueError(f"column {column!r} not found; the frame has columns {list(frame.columns)}")
        name = value

    times = pd.to_datetime(frame[timestamp], errors="coerce").reset_index(drop=True)
    values = pd.to_numeric(frame[value], errors="coerce").reset_index(drop=True)
    _check_rows(frame, timestamp, value, times, values, fill_gaps)

    series = pd.Series(values.to_numpy(dtype=float), index=pd.DatetimeIndex(times).as_unit("ns"))
    rows = pd.Series(np.arange(len(series)), index=series.index)
    if not series.index.is_monotonic_increasing:
        logger.warning("rate series is not sorted by timestamp; sorting it")
        order = np.argsort(series.index.asi8, kind="stable")
        series, rows = series.iloc[order], rows.iloc[order]
    if series.index.has_duplicates:
        repeated = series.index[series.index.duplicated()].unique()
        logger.warning(
            "rate series repeats %d timestamp(s), first %s; merging each with %s",
            len(repeated), repeated[0], "the sum" if duplicates == "sum" else "the mean",
        )
        # min_count=1 keeps a timestamp whose values are all NaN as NaN, for fill_gaps.
        grouped = series.groupby(level=0)
        series = grouped.sum(min_count=1) if duplicates == "sum" else grouped.mean()
        rows = rows.groupby(level=0).first()

    step = _to_step(freq) if freq is not None else _infer_step(series.index)
    series = _regularise(series, rows.to_numpy(), step, fill_gaps)
    series.index.name = "timestamp"
    series.name = name
    return series


def _check_rows(frame, timestamp, value, times, values, fill_gaps) -> None:
    bad_time = times.isna().to_numpy()
    if bad_time.any():
        row = int(np.flatnonzero(bad_time)[0])
        raise ValueError(
            f"row {row}: missing or unreadable timestamp {frame[timestamp].iloc[row]!r}; "
            "drop or fix the row first"
        )
    raw_missing = frame[value].isna().to_numpy()
    unreadable = values.isna().to_numpy() & ~raw_missing
    if unreadable.any():
        row = int(np.flatnonzero(unreadable)[0])
        raise ValueError(f"row {row} (timestamp {times.iloc[row]}): unreadable value {frame[value].iloc[row]!r}")
    if raw_missing.any() and fill_gaps == "error":
        row = int(np.flatnonzero(raw_missing)[0])
        raise ValueError(
            f"row {row} (timestamp {times.iloc[row]}): missing value (NaN), {int(raw_missing.sum())} in all; "
            "pass fill_gaps='interpolate' or fill_gaps='zero' to fill missing values"
        )
    negative = values.to_numpy() < 0
    if negative.any():
        row = int(np.flatnonzero(negative)[0])
        raise ValueError(
            f"row {row} (timestamp {times.iloc[row]}): negative value {float(values.iloc[row]):g}; "
            "a rate or count must be >= 0"
        )


def _infer_step(index: pd.DatetimeIndex) -> pd.Timedelta:
    if len(index) < 2:
        raise ValueError(
            f"a rate series needs at least 2 distinct timestamps to infer its interval, got {len(index)}; "
            "pass freq= to give the interval"
        )
    steps, counts = np.unique(np.diff(index.asi8), return_counts=True)
    return pd.Timedelta(int(steps[np.argmax(counts)]), unit="ns")


def _regularise(series: pd.Series, rows: np.ndarray, step: pd.Timedelta, fill_gaps: str) -> pd.Series:
    """Put ``series`` on the grid ``first timestamp + k * step`` and fill its gaps by ``fill_gaps``."""
    offsets = series.index.asi8 - series.index.asi8[0]
    off_grid = np.flatnonzero(offsets % step.value != 0)
    if len(off_grid):
        position = int(off_grid[0])
        raise ValueError(
            f"row {int(rows[position])} (timestamp {series.index[position]}) is irregular: it is "
            f"{pd.Timedelta(int(offsets[position] % step.value), unit='ns')} off the {step} grid that starts at "
            f"{series.index[0]}. Resample the data to a fixed interval first, for example "
            f"series.resample('{_freq_alias(step)}').sum()"
        )

    full_index = pd.date_range(series.index[0], series.index[-1], freq=step)
    missing_rows = len(full_index) - len(series)
    if missing_rows and fill_gaps == "error":
        gaps = np.flatnonzero(np.diff(offsets) > step.value)
        position = int(gaps[0]) + 1
        raise ValueError(
            f"row {int(rows[position])} (timestamp {series.index[position]}) follows a gap: the previous "
            f"timestamp is {series.index[position - 1]}, {missing_rows} interval(s) of {step} are missing in "
            "all. Pass fill_gaps='interpolate' or fill_gaps='zero' to fill them, or resample the data first"
        )

    series = series.reindex(full_index)
    missing = int(series.isna().sum())
    if missing:
        series = series.interpolate("linear") if fill_gaps == "interpolate" else series.fillna(0.0)
        logger.warning("rate series: filled %d missing value(s) with fill_gaps=%r", missing, fill_gaps)
    return series


def _freq_alias(step: pd.Timedelta) -> str:
    return pd.tseries.frequencies.to_offset(step).freqstr


def requests_to_rate(
    timestamps: Any,
    freq: Any = "1min",
    start: Any = None,
    end: Any = None,
) -> pd.Series:
    """Count requests per fixed interval, from one timestamp per request.

    Intervals start on multiples of ``freq`` from midnight of the first day, the
    default of :meth:`pandas.Series.resample`, so one-minute intervals start on
    whole minutes. An interval that is not entirely inside ``[start, end]`` is
    dropped, because its count would cover only part of it and so be too low.

    Parameters
    ----------
    timestamps : array-like of datetime-like
        Arrival time of each request, in any order.
    freq : str or pandas.Timedelta, default "1min"
        Interval length. It must be a fixed duration.
    start, end : datetime-like, optional
        The span the trace covers. By default, the first and the last timestamp.

    Returns
    -------
    pandas.Series
        int64 request counts named ``"requests"``, indexed by the start of each
        interval, with ``index.freq`` set. Intervals without requests count 0.

    Raises
    ------
    ValueError
        If a timestamp is missing, no timestamp lies in ``[start, end]``, or the span
        contains no whole interval.
    """
    step = _to_step(freq)
    times = pd.DatetimeIndex(pd.to_datetime(pd.Series(timestamps), errors="coerce"))
    if times.hasnans:
        row = int(np.flatnonzero(times.isna())[0])
        raise ValueError(f"timestamps[{row}] is missing or unreadable; drop it before counting")
    start = times.min() if start is None else pd.Timestamp(start)
    end = times.max() if end is None else pd.Timestamp(end)
    times = times[(times >= start) & (times <= end)]
    if len(times) == 0:
        raise ValueError(f"no timestamp lies between start={start} and end={end}")

    counts = pd.Series(1, index=times.sort_values()).resample(step).sum()
    inside = (counts.index >= start) & (counts.index + step <= end)
    counts = counts[inside]
    if len(counts) == 0:
        raise ValueError(
            f"the span from {start} to {end} contains no whole interval of {step}; pass a shorter freq"
        )
    full_index = pd.date_range(counts.index[0], counts.index[-1], freq=step, name="timestamp")
    return counts.reindex(full_index, fill_value=0).astype("int64").rename("requests")


def splice_series(before: pd.Series, after: pd.Series, scale: float = 1.0) -> pd.Series:
    """Join two regular series with the same step, ``after`` re-stamped to follow ``before``.

    It builds a trace whose pattern changes part-way, to test how a forecaster
    copes with drift. The values of ``after`` are multiplied by ``scale`` and
    their timestamps move so that the first one is one step after the last of
    ``before``. Calendar fields of ``after`` change with the move unless the
    shift is a whole number of weeks.

    Returns
    -------
    pandas.Series
        The joined series, with ``index.freq`` set and the name of ``before``.
    """
    first_step = _check_series(before, "before")[2]
    second_step = _check_series(after, "after")[2]
    if first_step != second_step:
        raise ValueError(f"the series have different steps: {first_step} and {second_step}; resample one first")
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be a finite number greater than zero, got {scale!r}")
    index = pd.date_range(before.index[0], periods=len(before) + len(after), freq=first_step,
                          name=before.index.name)
    values = np.concatenate([before.to_numpy(dtype=float), after.to_numpy(dtype=float) * scale])
    return pd.Series(values, index=index, name=before.name)


def _check_series(series: Any, what: str = "series") -> tuple[np.ndarray, pd.DatetimeIndex, pd.Timedelta]:
    """Check that ``series`` is regular and complete; return its values, index and step."""
    if not isinstance(series, pd.Series):
        raise TypeError(
            f"{what} must be a pandas Series indexed by timestamps, got {type(series).__name__}; "
            "make_rate_series builds one from a DataFrame"
        )
    index = series.index
    if not isinstance(index, pd.DatetimeIndex):
        raise TypeError(f"{what} must have a DatetimeIndex, got {type(index).__name__}; make_rate_series builds one")
    try:
        values = series.to_numpy(dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{what} must hold numbers: {error}") from None

    missing = np.flatnonzero(~np.isfinite(values))
    if len(missing):
        raise ValueError(
            f"{what} has a missing or infinite value at {index[missing[0]]} ({len(missing)} in all); "
            "fill it first, for example with make_rate_series(..., fill_gaps='interpolate')"
        )

    if isinstance(index.freq, pd.offsets.Tick) and pd.Timedelta(index.freq) > pd.Timedelta(0):
        # pandas checks a freq when it is set, so the index is regular.
        return values, index, pd.Timedelta(index.freq)
    if len(index) < 2:
        raise ValueError(f"{what} needs at least 2 values to infer its step, got {len(index)}")
    steps = np.diff(index.as_unit("ns").asi8)
    step = int(steps[0])
    irregular = np.flatnonzero(steps != step)
    if step <= 0 or len(irregular):
        position = int(irregular[0]) + 1 if len(irregular) else 1
        raise ValueError(
            f"{what} has irregular timestamps: {index[position]} follows {index[position - 1]}, but the first "
            f"step is {pd.Timedelta(step, unit='ns')}. Build the series with make_rate_series, which resamples "
            "onto a fixed interval or fills gaps with fill_gaps='interpolate'"
        )
    return values, index, pd.Timedelta(step, unit="ns")


def _wall_time_ns(index: pd.DatetimeIndex) -> np.ndarray:
    """Nanoseconds since the epoch of the local wall-clock time, so calendar fields read as on a clock."""
    if index.tz is not None:
        index = index.tz_localize(None)
    return index.as_unit("ns").asi8


# --------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class _FeatureSpec:
    """Resolved feature layout in steps.

    ``lags`` count back from the target time, so lag ``k`` reads the value at
    ``t + horizon - k`` and needs ``k >= horizon``. Rolling windows end at the
    forecast origin ``t``.
    """

    horizon: int
    lags: tuple[int, ...]
    windows: tuple[int, ...]
    calendar: tuple[str, ...]

    @property
    def window_size(self) -> int:
        """Number of values, ending at the origin, that one row of features reads."""
        by_lag = max((lag - self.horizon + 1 for lag in self.lags), default=1)
        return max([by_lag, *self.windows, 1])

    @property
    def names(self) -> list[str]:
        names = [f"lag_{lag}" for lag in self.lags]
        for window in self.windows:
            names += [f"rolling_mean_{window}", f"rolling_std_{window}", f"rolling_max_{window}"]
        return names + list(self.calendar)


def _check_horizon(horizon: Any) -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ValueError(f"horizon must be a whole number of steps >= 1, got {horizon!r}")
    return int(horizon)


def _to_steps(value: Any, step: pd.Timedelta, what: str) -> int:
    """Convert a count of steps or a duration (``"1D"``, ``pd.Timedelta``) to steps."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    duration = _to_step(value, what)
    steps, remainder = divmod(duration.value, step.value)
    if remainder:
        raise ValueError(f"{what} {value!r} is not a whole number of steps of the series' {step}")
    return int(steps)


def _resolve_spec(step: pd.Timedelta, horizon: Any, lags: Any, rolling_windows: Any,
                  calendar: Any) -> _FeatureSpec:
    horizon = _check_horizon(horizon)

    if lags is None:
        resolved_lags = [horizon + offset for offset in _DEFAULT_RECENT_LAGS]
        for season in _DEFAULT_SEASONAL_LAGS:
            duration = pd.Timedelta(season)
            # A seasonal lag needs whole steps and must not reach past the origin.
            if duration.value % step.value == 0 and duration.value // step.value >= horizon:
                resolved_lags.append(duration.value // step.value)
    else:
        resolved_lags = [_to_steps(lag, step, "lag") for lag in _as_tuple(lags)]
        for lag in resolved_lags:
            if lag < horizon:
                raise ValueError(
                    f"lag {lag} is shorter than horizon {horizon}: lags count back from the target time, so "
                    f"lag {lag} would read a value after the forecast origin. Use lags >= {horizon}"
                )

    if rolling_windows is None:
        resolved_windows = list(_DEFAULT_ROLLING_WINDOWS)
    else:
        resolved_windows = [_to_steps(window, step, "rolling window") for window in _as_tuple(rolling_windows)]
    for window in resolved_windows:
        if window < 2:
            raise ValueError(f"a rolling window must span at least 2 steps, got {window}")

    calendar = _as_tuple(calendar) if calendar is not None else ()
    unknown = [name for name in calendar if name not in CALENDAR_FEATURES]
    if unknown:
        raise ValueError(f"unknown calendar feature(s) {unknown}; choose from {list(CALENDAR_FEATURES)}")
    if not (resolved_lags or resolved_windows or calendar):
        raise ValueError("no features: give at least one lag, rolling window or calendar field")

    return _FeatureSpec(horizon, tuple(sorted(set(resolved_lags))), tuple(sorted(set(resolved_windows))),
                        tuple(dict.fromkeys(calendar)))


def _as_tuple(value: Any) -> tuple:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return (value,)
    return tuple(value)


def _feature_matrix(values: np.ndarray, origins: np.ndarray, target_ns: np.ndarray,
                    spec: _FeatureSpec) -> np.ndarray:
    """Compute one row of features per origin position, reading ``values`` at or before it.

    This is the single implementation behind :func:`make_features`, ``fit``,
    ``predict`` and ``predict_one``, so all of them see the same numbers.
    """
    columns = [values[origins + spec.horizon - lag] for lag in spec.lags]
    for window in spec.windows:
        # Row j of the view is values[j : j + window], so the window ending at the
        # origin o is row o - window + 1.
        windowed = sliding_window_view(values, window)[origins - window + 1]
        columns += [windowed.mean(axis=1), windowed.std(axis=1), windowed.max(axis=1)]
    for name in spec.calendar:
        if name == "minute":
            columns.append((target_ns // _NS_PER_MINUTE) % 60)
        elif name == "hour":
            columns.append((target_ns // _NS_PER_HOUR) % 24)
        else:
            columns.append((target_ns // _NS_PER_DAY + _EPOCH_DAYOFWEEK) % 7)
    if not columns:
        return np.empty((len(origins), 0))
    return np.column_stack(columns).astype(float, copy=False)


def make_features(
    series: pd.Series,
    horizon: int = 1,
    lags: Any = None,
    rolling_windows: Any = None,
    calendar: Any = ("hour", "day_of_week"),
) -> pd.DataFrame:
    """Build the feature table for forecasting ``horizon`` steps ahead.

    Row ``t`` contains what is known at the forecast origin ``t`` about the target
    time ``t + horizon``: only values at or before ``t``, and the calendar of the
    target time. Rows without enough history are left out.

    Parameters
    ----------
    series : pandas.Series
        A regular series, as :func:`make_rate_series` returns.
    horizon : int, default 1
        Steps from the origin to the target time, at least 1.
    lags : sequence of int or duration, optional
        Lags counted back from the target time, in steps or as durations such as
        ``"1D"``. Lag ``k`` is the value at ``t + horizon - k``, so every lag must be
        at least ``horizon``. By default: the latest value and those 1, 2, 5 and 11
        steps before it (lags ``horizon + 0, 1, 2, 5, 11``), and the value one day
        before the target time if one day is a whole number of steps. Add ``"7D"``
        for a weekly pattern when the training series spans several weeks, because
        a week lag leaves out the first week of training rows.
    rolling_windows : sequence of int or duration, optional
        Windows, of at least 2 steps, ending at the origin, for the mean, the
        population standard deviation and the maximum. By default 3 and 12 steps.
    calendar : sequence of str, default ("hour", "day_of_week")
        Calendar fields of the target time, from :data:`CALENDAR_FEATURES`:
        ``"minute"`` (0-59), ``"hour"`` (0-23) and ``"day_of_week"`` (Monday is 0).
        Time-zone-aware series use their local wall-clock time.

    Returns
    -------
    pandas.DataFrame
        float64 columns ``lag_<k>``, ``rolling_mean_<w>``, ``rolling_std_<w>``,
        ``rolling_max_<w>`` (``k`` and ``w`` in steps) and the calendar fields,
        indexed by the origin.

    Raises
    ------
    ValueError
        For an invalid option, or a series with irregular timestamps or missing values.
    """
    values, index, step = _check_series(series)
    spec = _resolve_spec(step, horizon, lags, rolling_windows, calendar)
    origins = np.arange(spec.window_size - 1, len(values))
    target_ns = _wall_time_ns(index)[origins] + spec.horizon * step.value
    matrix = _feature_matrix(values, origins, target_ns, spec)
    return pd.DataFrame(matrix, index=index[origins], columns=spec.names)


# --------------------------------------------------------------------------
# Forecasters
# --------------------------------------------------------------------------

class _SeriesForecaster(RegressorMixin, BaseEstimator):
    """Shared ``fit``/``predict``/``predict_one`` on a regular series.

    Subclasses implement ``_fit_values`` and ``_predict_rows``. ``fit`` sets
    ``freq_``, ``window_size_`` and ``last_train_time_``.
    """

    def fit(self, series: pd.Series, y: None = None) -> _SeriesForecaster:
        """Fit on a regular series, with targets up to its last value.

        Parameters
        ----------
        series : pandas.Series
            A regular series, as :func:`make_rate_series` returns.
        y : None
            Ignored. It exists for scikit-learn's ``fit(X, y)`` signature.

        Returns
        -------
        self
        """
        values, index, step = _check_series(series)
        self._fit_values(values, index, step)
        self.freq_ = step
        self.last_train_time_ = index[-1]
        return self

    def predict(self, series: pd.Series) -> pd.Series:
        """Forecast from every origin in ``series`` that has enough history.

        Parameters
        ----------
        series : pandas.Series
            A regular series with the step of the training series. It need not
            continue the training series.

        Returns
        -------
        pandas.Series
            The forecast named ``"forecast"`` and indexed by the target time
            (origin + ``horizon`` steps). The last ``horizon`` forecasts lie after
            the end of ``series``.
        """
        check_is_fitted(self)
        values, index, step = self._check_predict_series(series)
        origins = np.arange(self.window_size_ - 1, len(values))
        target_ns = _wall_time_ns(index)[origins] + self.horizon * step.value
        forecast = self._predict_rows(values, origins, target_ns)
        target_index = pd.DatetimeIndex(index[origins] + self.horizon * step, freq=step, name=index.name)
        return pd.Series(forecast, index=target_index, name="forecast")

    def predict_one(self, recent_values: Sequence[float] | np.ndarray, target_time: Any = None) -> float:
        """Forecast one value from the latest values, with little overhead.

        Parameters
        ----------
        recent_values : array-like of float
            At least ``window_size_`` consecutive values, oldest first, ending at
            the forecast origin. Only the last ``window_size_`` are read.
        target_time : datetime-like, optional
            Time of the forecast value, the origin plus ``horizon`` steps. It is
            needed only for calendar features.

        Returns
        -------
        float
            The forecast for ``target_time``.
        """
        check_is_fitted(self)
        values = np.asarray(recent_values, dtype=float)
        size = self.window_size_
        if values.ndim != 1 or len(values) < size:
            raise ValueError(
                f"recent_values must be a 1-D sequence of at least {size} values (window_size_), "
                f"got shape {values.shape}"
            )
        values = values[-size:]
        if not np.isfinite(values).all():
            raise ValueError("recent_values contains a missing or infinite value")
        target_ns = self._target_ns(target_time)
        return float(self._predict_rows(values, np.array([size - 1]), target_ns)[0])

    def score(self, series: pd.Series, y: None = None, sample_weight: None = None) -> float:
        """Return the coefficient of determination R² of the forecasts within ``series``."""
        forecast = self.predict(series)
        actual = series.reindex(forecast.index)
        known = actual.notna().to_numpy()
        return float(r2_score(actual.to_numpy()[known], forecast.to_numpy()[known]))

    def _uses_calendar(self) -> bool:
        return False

    def _target_ns(self, target_time: Any) -> np.ndarray:
        if target_time is None:
            if self._uses_calendar():
                raise ValueError("target_time is required because the model uses calendar features")
            return np.zeros(1, dtype=np.int64)
        stamp = pd.Timestamp(target_time)
        if stamp.tzinfo is not None:
            stamp = stamp.tz_localize(None)
        return np.array([stamp.value], dtype=np.int64)

    def _check_predict_series(self, series: pd.Series) -> tuple[np.ndarray, pd.DatetimeIndex, pd.Timedelta]:
        values, index, step = _check_series(series)
        if step != self.freq_:
            raise ValueError(f"series has step {step}, but the model was fitted on step {self.freq_}")
        if len(values) < self.window_size_:
            raise ValueError(
                f"series has {len(values)} values, but one forecast needs the last {self.window_size_} "
                "(window_size_); pass a longer series"
            )
        return values, index, step

    def _fit_values(self, values: np.ndarray, index: pd.DatetimeIndex, step: pd.Timedelta) -> None:
        raise NotImplementedError

    def _predict_rows(self, values: np.ndarray, origins: np.ndarray, target_ns: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class LastValue(_SeriesForecaster):
    """Naive forecast: the value at the origin, ``horizon`` steps ahead.

    Parameters
    ----------
    horizon : int, default 1
        Steps from the origin to the target time.
    """

    def __init__(self, horizon: int = 1):
        self.horizon = horizon

    def _fit_values(self, values, index, step) -> None:
        _check_horizon(self.horizon)
        self.window_size_ = 1

    def _predict_rows(self, values, origins, target_ns) -> np.ndarray:
        return values[origins]


class SeasonalNaive(_SeriesForecaster):
    """Seasonal naive forecast: the value one season before the target time.

    For a horizon longer than the season, it goes back as many whole seasons as
    needed to reach the origin: the forecast of ``t + h`` is the value at
    ``t + h - m * ceil(h / m)`` for season ``m``.

    Parameters
    ----------
    season : int or duration, default "1D"
        Season length in steps or as a duration, for example ``"1D"`` for the same
        time yesterday or ``"7D"`` for the same time last week.
    horizon : int, default 1
        Steps from the origin to the target time.
    """

    def __init__(self, season: Any = "1D", horizon: int = 1):
        self.season = season
        self.horizon = horizon

    def _fit_values(self, values, index, step) -> None:
        horizon = _check_horizon(self.horizon)
        season = _to_steps(self.season, step, "season")
        if season < 1:
            raise ValueError(f"season must be at least 1 step, got {self.season!r}")
        self.season_ = season
        self.lag_ = season * math.ceil(horizon / season)
        self.window_size_ = self.lag_ - horizon + 1

    def _predict_rows(self, values, origins, target_ns) -> np.ndarray:
        return values[origins + self.horizon - self.lag_]


class _FeatureForecaster(_SeriesForecaster):
    """A regression model on :func:`make_features`.

    Subclasses build ``model_`` in ``_make_model`` and run it in ``_regress``.
    With ``target="difference"`` the model learns the change from the value at
    the origin, ``y[t + horizon] - y[t]``, and the forecast adds that value back.
    """

    def _fit_values(self, values, index, step) -> None:
        if self.target not in _TARGETS:
            raise ValueError(f"target must be 'level' or 'difference', got {self.target!r}")
        spec = _resolve_spec(step, self.horizon, self.lags, self.rolling_windows, self.calendar)
        needed = spec.window_size + spec.horizon
        if len(values) < needed:
            reach = [f"largest lag {max(spec.lags)}"] if spec.lags else []
            reach += [f"largest rolling window {max(spec.windows)}"] if spec.windows else []
            raise ValueError(
                f"series has {len(values)} values, but one training row needs at least {needed}: "
                f"{spec.window_size} values up to the forecast origin ({', '.join(reach) or 'no lags'}, in "
                f"steps) and {spec.horizon} more up to the target. Pass a longer series or smaller lags and windows"
            )
        origins = np.arange(spec.window_size - 1, len(values) - spec.horizon)
        target_ns = _wall_time_ns(index)[origins] + spec.horizon * step.value
        features = _feature_matrix(values, origins, target_ns, spec)
        targets = values[origins + spec.horizon]
        if self.target == "difference":
            targets = targets - values[origins]

        self._feature_spec = spec
        self.lags_ = spec.lags
        self.rolling_windows_ = spec.windows
        self.feature_names_ = spec.names
        self.n_features_in_ = len(spec.names)
        self.window_size_ = spec.window_size
        started = time.perf_counter()
        self.model_ = self._make_model()
        self.model_.fit(features, targets)
        logger.debug("%s fitted on %d rows x %d features in %.3f s", type(self).__name__,
                     len(targets), len(spec.names), time.perf_counter() - started)

    def _predict_rows(self, values, origins, target_ns) -> np.ndarray:
        forecast = self._regress(_feature_matrix(values, origins, target_ns, self._feature_spec))
        if self.target == "difference":
            forecast = forecast + values[origins]
        return forecast

    def _uses_calendar(self) -> bool:
        return bool(self._feature_spec.calendar)

    def _make_model(self):
        raise NotImplementedError

    def _regress(self, features: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class LinearForecaster(_FeatureForecaster):
    """Ridge regression on the features of :func:`make_features`.

    Calendar fields are one-hot encoded, because an hour of 23 is not 23 times
    an hour of 1, and the other features are standardised.

    Parameters
    ----------
    horizon, lags, rolling_windows, calendar
        As in :func:`make_features`.
    target : {"level", "difference"}, default "level"
        What the regression learns: the value at the target time, or its change
        from the value at the origin.
    alpha : float, default 1.0
        L2 penalty of :class:`sklearn.linear_model.Ridge`.
    """

    def __init__(self, horizon: int = 1, lags: Any = None, rolling_windows: Any = None,
                 calendar: Any = ("hour", "day_of_week"), target: str = "level", alpha: float = 1.0):
        self.horizon = horizon
        self.lags = lags
        self.rolling_windows = rolling_windows
        self.calendar = calendar
        self.target = target
        self.alpha = alpha

    def _make_model(self):
        spec = self._feature_spec
        first_calendar = len(spec.names) - len(spec.calendar)
        numeric = list(range(first_calendar))
        calendar = list(range(first_calendar, len(spec.names)))
        encode = ColumnTransformer([
            ("numeric", StandardScaler(), numeric),
            ("calendar", OneHotEncoder(handle_unknown="ignore"), calendar),
        ])
        return make_pipeline(encode, Ridge(alpha=self.alpha))

    def _regress(self, features: np.ndarray) -> np.ndarray:
        return self.model_.predict(features)


class LoadForecaster(_FeatureForecaster):
    """Gradient-boosted trees (XGBoost) on the features of :func:`make_features`.

    Parameters
    ----------
    horizon, lags, rolling_windows, calendar
        As in :func:`make_features`.
    target : {"level", "difference"}, default "difference"
        What the trees learn: the value at the target time, or its change from the
        value at the origin. A tree predicts only values inside the range of its
        training targets, so with ``"level"`` the forecast cannot follow load above
        the training maximum. ``"difference"`` lets it follow a shift in level.
    n_estimators, max_depth, learning_rate, subsample, min_child_weight
        Passed to :class:`xgboost.XGBRegressor`.
    n_jobs : int, default 1
        Threads for training and prediction. One thread gives the lowest latency
        for a single forecast and leaves cores to the simulation.
    random_state : int, default 0
        Seed of XGBoost's sampling.
    xgb_params : dict, optional
        Further keyword arguments for :class:`xgboost.XGBRegressor`. They may not
        repeat the arguments above, ``tree_method`` (always ``"hist"``) or
        ``device`` (always ``"cpu"``).

    Attributes
    ----------
    model_ : xgboost.XGBRegressor
        The fitted regressor.
    freq_ : pandas.Timedelta
        Step of the training series.
    feature_names_ : list of str
        Feature columns, in the order of :func:`make_features`.
    lags_, rolling_windows_ : tuple of int
        The lags and windows in steps.
    window_size_ : int
        Number of latest values that one forecast reads.
    last_train_time_ : pandas.Timestamp
        Timestamp of the last value of the training series.
    """

    def __init__(
        self,
        horizon: int = 1,
        lags: Any = None,
        rolling_windows: Any = None,
        calendar: Any = ("hour", "day_of_week"),
        target: str = "difference",
        n_estimators: int = 100,
        max_depth: int = 6,
        learning_rate: float = 0.1,
        subsample: float = 1.0,
        min_child_weight: float = 1.0,
        n_jobs: int = 1,
        random_state: int = 0,
        xgb_params: dict | None = None,
    ):
        self.horizon = horizon
        self.lags = lags
        self.rolling_windows = rolling_windows
        self.calendar = calendar
        self.target = target
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.min_child_weight = min_child_weight
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.xgb_params = xgb_params

    def _xgb_kwargs(self) -> dict:
        explicit = {
            "n_estimators": self.n_estimators,
            "max_depth": self.max_depth,
            "learning_rate": self.learning_rate,
            "subsample": self.subsample,
            "min_child_weight": self.min_child_weight,
            "n_jobs": self.n_jobs,
            "random_state": self.random_state,
            "tree_method": "hist",
            "device": "cpu",
        }
        extra = dict(self.xgb_params or {})
        repeated = sorted(set(extra) & set(explicit))
        if repeated:
            raise ValueError(f"xgb_params repeats {repeated}; set them as LoadForecaster parameters instead")
        return {**explicit, **extra}

    def _make_model(self) -> xgboost.XGBRegressor:
        return xgboost.XGBRegressor(**self._xgb_kwargs())

    def _regress(self, features: np.ndarray) -> np.ndarray:
        # inplace_predict skips building a DMatrix, which matters for one row.
        return self.model_.get_booster().inplace_predict(features).astype(float)

    def save(self, path: str | Path) -> None:
        """Write the fitted model to one JSON file.

        The file contains this estimator's parameters, the fitted attributes, and the
        booster in XGBoost's own JSON model format. It is not a pickle, so loading
        it runs no code from the file.
        """
        check_is_fitted(self)
        booster_json = json.loads(self.model_.get_booster().save_raw(raw_format="json"))
        document = {
            "format": _SAVE_FORMAT,
            "format_version": _SAVE_FORMAT_VERSION,
            "xgboost_version": xgboost.__version__,
            "params": _params_to_json(self.get_params()),
            "fitted": {
                "freq_ns": int(self.freq_.value),
                "last_train_time": self.last_train_time_.isoformat(),
                "lags": list(self._feature_spec.lags),
                "rolling_windows": list(self._feature_spec.windows),
                "calendar": list(self._feature_spec.calendar),
                "feature_names": self.feature_names_,
            },
            "booster": booster_json,
        }
        Path(path).write_text(json.dumps(document), encoding="utf-8")
        logger.debug("Saved %s to %s", type(self).__name__, path)

    @classmethod
    def load(cls, path: str | Path) -> LoadForecaster:
        """Read a model written by :meth:`save`.

        ``last_train_time_`` comes back with its UTC offset, so a named time zone
        becomes a fixed offset. Forecasts are identical to those of the saved model.

        Raises
        ------
        ValueError
            If the file is not a saved ``LoadForecaster`` of a known format version.
        """
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(document, dict) or document.get("format") != _SAVE_FORMAT:
            raise ValueError(f"{path} is not a saved LoadForecaster (its 'format' is not {_SAVE_FORMAT!r})")
        if document.get("format_version") != _SAVE_FORMAT_VERSION:
            raise ValueError(
                f"{path} has format_version {document.get('format_version')!r}; this devsim reads version "
                f"{_SAVE_FORMAT_VERSION}"
            )
        fitted = document["fitted"]
        model = cls(**document["params"])
        spec = _FeatureSpec(_check_horizon(model.horizon), tuple(fitted["lags"]),
                            tuple(fitted["rolling_windows"]), tuple(fitted["calendar"]))
        if spec.names != fitted["feature_names"]:
            raise ValueError(f"{path} is inconsistent: its feature names do not match its lags and windows")

        model.freq_ = pd.Timedelta(fitted["freq_ns"], unit="ns")
        model.last_train_time_ = pd.Timestamp(fitted["last_train_time"])
        model._feature_spec = spec
        model.lags_ = spec.lags
        model.rolling_windows_ = spec.windows
        model.feature_names_ = spec.names
        model.n_features_in_ = len(spec.names)
        model.window_size_ = spec.window_size
        model.model_ = xgboost.XGBRegressor(**model._xgb_kwargs())
        model.model_.load_model(bytearray(json.dumps(document["booster"]).encode("utf-8")))
        return model


def _params_to_json(params: dict) -> dict:
    """Make ``get_params()`` JSON-safe: durations become strings that ``pd.Timedelta`` reads back."""
    def convert(value):
        if isinstance(value, (pd.Timedelta, np.timedelta64)):
            return str(pd.Timedelta(value))
        if isinstance(value, pd.offsets.BaseOffset):
            return value.freqstr
        if isinstance(value, np.integer):
            return int(value)
        if isinstance(value, np.floating):
            return float(value)
        if isinstance(value, (list, tuple)):
            return [convert(item) for item in value]
        if isinstance(value, dict):
            return {key: convert(item) for key, item in value.items()}
        return value
    return {name: convert(value) for name, value in params.items()}


# --------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------

def _paired(actual: Any, forecast: Any) -> tuple[np.ndarray, np.ndarray]:
    """Align two Series on their index, or pair two arrays by position."""
    if isinstance(actual, pd.Series) and isinstance(forecast, pd.Series):
        actual, forecast = actual.align(forecast, join="inner")
        if len(actual) == 0:
            raise ValueError("actual and forecast share no index label; nothing to score")
    actual_values = np.asarray(actual, dtype=float)
    forecast_values = np.asarray(forecast, dtype=float)
    if actual_values.shape != forecast_values.shape or actual_values.ndim != 1:
        raise ValueError(
            f"actual and forecast must be 1-D and of equal length, got shapes {actual_values.shape} and "
            f"{forecast_values.shape}"
        )
    if len(actual_values) == 0:
        raise ValueError("actual and forecast are empty; nothing to score")
    if not (np.isfinite(actual_values).all() and np.isfinite(forecast_values).all()):
        raise ValueError("actual or forecast contains a missing or infinite value")
    return actual_values, forecast_values


def mae(actual: Any, forecast: Any) -> float:
    """Mean absolute error ``mean(|F - A|)``, in the unit of the series.

    Two Series are aligned on their index first; arrays are paired by position.
    """
    actual_values, forecast_values = _paired(actual, forecast)
    return float(np.mean(np.abs(forecast_values - actual_values)))


def smape(actual: Any, forecast: Any) -> float:
    """Symmetric mean absolute percentage error, in percent from 0 to 200.

    ``sMAPE = 200 / n * sum(|F - A| / (|A| + |F|))``, where a term with
    ``A = F = 0`` counts as 0 (a perfect forecast of no load). Two Series are
    aligned on their index first.
    """
    actual_values, forecast_values = _paired(actual, forecast)
    error = np.abs(forecast_values - actual_values)
    scale = np.abs(actual_values) + np.abs(forecast_values)
    terms = np.divide(error, scale, out=np.zeros_like(error), where=scale > 0)
    return float(200.0 * terms.mean())


def mase(actual: Any, forecast: Any, train: Any, season: int = 1) -> float:
    """Mean absolute scaled error (MASE).

    The MAE of the forecast divided by the in-sample MAE of the seasonal naive
    forecast on the training series: ``mean(|train[i] - train[i - season]|)``.
    Below 1, the forecast beats that naive forecast's one-season-ahead error
    within the training data.

    Parameters
    ----------
    actual, forecast : array-like or pandas.Series
        Values and forecasts of the test period.
    train : array-like or pandas.Series
        The training series, in time order.
    season : int, default 1
        Season of the scaling forecast in steps; 1 scales by the last-value forecast.

    Raises
    ------
    ValueError
        If ``train`` has no more than ``season`` values, or is constant at that
        season so the scale is 0.
    """
    if isinstance(season, bool) or not isinstance(season, (int, np.integer)) or season < 1:
        raise ValueError(f"season must be a whole number of steps >= 1, got {season!r}")
    history = np.asarray(train, dtype=float)
    if history.ndim != 1 or len(history) <= season:
        raise ValueError(f"train needs more than season={season} values, got {len(history)}")
    scale = float(np.mean(np.abs(history[season:] - history[:-season])))
    if not np.isfinite(scale) or scale == 0:
        raise ValueError(f"the seasonal naive error of train at season {season} is {scale}; MASE is undefined")
    return mae(actual, forecast) / scale


def _default_mase_season(train: pd.Series, step: pd.Timedelta) -> int:
    """Return one day in steps if the training part spans at least two days, else 1 step."""
    day = pd.Timedelta("1D")
    if day.value % step.value == 0 and len(train) >= 2 * (day.value // step.value):
        return int(day.value // step.value)
    return 1


# --------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------

def _split_position(series: pd.Series, train_fraction: float, split: Any) -> int:
    if split is not None:
        position = int(series.index.searchsorted(pd.Timestamp(split)))
    else:
        if not 0 < train_fraction < 1:
            raise ValueError(f"train_fraction must be between 0 and 1, got {train_fraction!r}")
        position = int(len(series) * train_fraction)
    if not 0 < position < len(series):
        raise ValueError(f"the split leaves an empty training or test part (split at position {position} "
                         f"of {len(series)})")
    return position


def evaluate(
    models: Mapping[str, BaseEstimator],
    series: pd.Series,
    train_fraction: float = 0.7,
    split: Any = None,
    mase_season: int | None = None,
) -> pd.DataFrame:
    """Fit each model on the past and score its forecasts of the future.

    The series is split in time, never shuffled: models are fitted on the values
    before the split and forecast every target time from the split to the end.
    Forecasts may read values before the split as history, as they would in
    production. All models are scored on the target times that every model can
    forecast. The models passed in are cloned, so they stay unfitted.

    Parameters
    ----------
    models : mapping of str to forecaster
        Unfitted forecasters of this module, by display name.
    series : pandas.Series
        A regular series, as :func:`make_rate_series` returns.
    train_fraction : float, default 0.7
        Share of the values used for training, if ``split`` is not given.
    split : datetime-like, optional
        First target time of the test part.
    mase_season : int, optional
        Season in steps of the naive forecast that scales MASE. By default one day
        when the training part spans at least two days, else 1 step.

    Returns
    -------
    pandas.DataFrame
        One row per model with columns ``mae``, ``smape`` (percent), ``mase``,
        ``fit_s`` and ``predict_s`` (wall-clock seconds of ``fit`` and of one
        ``predict`` over the whole series), ``n_train``, ``n_test`` and
        ``mase_season`` (steps).
    """
    values, index, step = _check_series(series)
    position = _split_position(series, train_fraction, split)
    train = series.iloc[:position]
    season = mase_season if mase_season is not None else _default_mase_season(train, step)

    forecasts, timings = {}, {}
    for name, model in models.items():
        fitted = clone(model)
        started = time.perf_counter()
        fitted.fit(train)
        fit_s = time.perf_counter() - started
        started = time.perf_counter()
        forecast = fitted.predict(series)
        predict_s = time.perf_counter() - started
        forecasts[name] = forecast[(forecast.index >= index[position]) & (forecast.index <= index[-1])]
        timings[name] = (fit_s, predict_s)
        logger.debug("evaluate: %s fitted in %.3f s, predicted in %.3f s", name, fit_s, predict_s)

    common = index[position:]
    for forecast in forecasts.values():
        common = common.intersection(forecast.index)
    if len(common) == 0:
        raise ValueError("no target time in the test part can be forecast by every model; use a longer series")

    actual = series.loc[common]
    rows = {}
    for name, forecast in forecasts.items():
        predicted = forecast.loc[common]
        rows[name] = {
            "mae": mae(actual, predicted),
            "smape": smape(actual, predicted),
            "mase": mase(actual, predicted, train, season),
            "fit_s": timings[name][0],
            "predict_s": timings[name][1],
            "n_train": len(train),
            "n_test": len(common),
            "mase_season": season,
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def backtest(
    model: BaseEstimator,
    series: pd.Series,
    n_splits: int = 5,
    test_size: int | None = None,
    max_train_size: int | None = None,
    mase_season: int | None = None,
) -> pd.DataFrame:
    """Score a model on successive time-ordered folds (expanding window).

    Uses :class:`sklearn.model_selection.TimeSeriesSplit` on the positions of the
    series: fold ``i`` fits on the values before its test block and forecasts the
    targets inside it. ``max_train_size`` turns the expanding window into a
    sliding one.

    Returns
    -------
    pandas.DataFrame
        One row per fold with ``train_end`` and ``test_start``/``test_end`` (target
        times), ``mae``, ``smape``, ``mase``, ``fit_s`` and ``n_test``.
    """
    _, index, step = _check_series(series)
    splitter = TimeSeriesSplit(n_splits=n_splits, test_size=test_size, max_train_size=max_train_size)
    rows = []
    for fold, (train_positions, test_positions) in enumerate(splitter.split(np.arange(len(series)))):
        train = series.iloc[train_positions]
        fitted = clone(model)
        started = time.perf_counter()
        fitted.fit(train)
        fit_s = time.perf_counter() - started
        forecast = fitted.predict(series.iloc[: test_positions[-1] + 1])
        targets = index[test_positions].intersection(forecast.index)
        if len(targets) == 0:
            raise ValueError(f"fold {fold}: no test target can be forecast; use fewer splits or a longer series")
        actual = series.loc[targets]
        predicted = forecast.loc[targets]
        season = mase_season if mase_season is not None else _default_mase_season(train, step)
        rows.append({
            "fold": fold,
            "train_end": index[train_positions[-1]],
            "test_start": targets[0],
            "test_end": targets[-1],
            "mae": mae(actual, predicted),
            "smape": smape(actual, predicted),
            "mase": mase(actual, predicted, train, season),
            "fit_s": fit_s,
            "n_test": len(targets),
        })
    return pd.DataFrame(rows).set_index("fold")


# --------------------------------------------------------------------------
# Online learning
# --------------------------------------------------------------------------

class OnlineForecaster:
    """Consume a series one value at a time and refit on a sliding window.

    After ``window`` values have arrived, a clone of ``estimator`` is fitted on
    the last ``window`` values, and again every ``retrain_every`` values after
    that. Each new value gives a forecast from the current model's fast path,
    ``predict_one``.

    Parameters
    ----------
    estimator : forecaster
        An unfitted forecaster of this module, such as :class:`LoadForecaster`.
    window : int or duration
        Values per refit, in steps or as a duration such as ``"28D"``.
    retrain_every : int or duration
        Values between refits, in steps or as a duration such as ``"1D"``.
    freq : str or pandas.Timedelta, optional
        Step of the series. By default it is the step between the first two values.

    Attributes
    ----------
    model_ : forecaster or None
        The current fitted model, None before the first refit.
    freq_ : pandas.Timedelta or None
        Step of the series, None until known.
    n_refits_ : int
        Number of refits so far.
    """

    def __init__(self, estimator: BaseEstimator, window: Any, retrain_every: Any, freq: Any = None):
        self.estimator = estimator
        self.window = window
        self.retrain_every = retrain_every
        self.freq = freq
        self.model_ = None
        self.freq_ = _to_step(freq) if freq is not None else None
        self.n_refits_ = 0
        self._values: list[float] = []
        self._last_time: pd.Timestamp | None = None
        self._since_refit = 0

    @property
    def horizon(self) -> int:
        """Steps from the origin to the target time, as the estimator sets it."""
        return self.estimator.get_params()["horizon"]

    def update(self, timestamp: Any, value: float) -> float:
        """Add the next value, refit if it is due, and forecast ``horizon`` steps ahead.

        Parameters
        ----------
        timestamp : datetime-like
            Time of ``value``: one step after the previous timestamp.
        value : float
            The new value, finite.

        Returns
        -------
        float
            Forecast for ``timestamp + horizon * freq_``, or NaN before the first refit.

        Raises
        ------
        ValueError
            If ``value`` is missing, ``timestamp`` is not one step after the last
            one, or ``window`` or ``retrain_every`` is invalid for the step.
        """
        timestamp = pd.Timestamp(timestamp)
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"value at {timestamp} is missing or infinite: {value!r}")
        self._check_next_time(timestamp)
        self._last_time = timestamp
        self._values.append(value)
        if self.freq_ is None:
            return math.nan

        window = _to_steps(self.window, self.freq_, "window")
        retrain_every = _to_steps(self.retrain_every, self.freq_, "retrain_every")
        if window < 2 or retrain_every < 1:
            raise ValueError(f"window must be at least 2 steps and retrain_every at least 1, got "
                             f"{self.window!r} and {self.retrain_every!r}")
        if len(self._values) > 2 * window:
            # Drop old values in blocks, so that appending stays amortised O(1).
            del self._values[:-window]

        self._since_refit += 1
        due = self.model_ is None or self._since_refit >= retrain_every
        if due and len(self._values) >= window:
            self._refit(window)
        if self.model_ is None:
            return math.nan
        recent = np.asarray(self._values[-self.model_.window_size_:])
        return self.model_.predict_one(recent, timestamp + self.horizon * self.freq_)

    def _check_next_time(self, timestamp: pd.Timestamp) -> None:
        previous = self._last_time
        if previous is None:
            return
        if self.freq_ is None:
            if timestamp <= previous:
                raise ValueError(f"timestamp {timestamp} does not follow the previous one, {previous}")
            self.freq_ = timestamp - previous
        if timestamp - previous != self.freq_:
            raise ValueError(
                f"timestamp {timestamp} is not one step ({self.freq_}) after the previous one, {previous}; "
                "feed a regular series, for example from make_rate_series"
            )

    def _refit(self, window: int) -> None:
        start = self._last_time - (window - 1) * self.freq_
        series = pd.Series(self._values[-window:], index=pd.date_range(start, periods=window, freq=self.freq_))
        started = time.perf_counter()
        self.model_ = clone(self.estimator).fit(series)
        self.n_refits_ += 1
        self._since_refit = 0
        logger.debug("online refit %d on %s .. %s took %.3f s", self.n_refits_, series.index[0],
                     series.index[-1], time.perf_counter() - started)


def run_online(online: OnlineForecaster, series: pd.Series) -> pd.DataFrame:
    """Feed a series to an :class:`OnlineForecaster` and collect its forecasts.

    Returns
    -------
    pandas.DataFrame
        Indexed by target time, with ``forecast``, ``actual`` (NaN past the end of
        the series) and ``trained_until`` (the last training timestamp of the model
        that made the forecast). Origins before the first refit are left out.
    """
    values, index, step = _check_series(series)
    horizon_step = online.horizon * step
    rows = []
    for timestamp, value in zip(index, values):
        forecast = online.update(timestamp, value)
        if not math.isnan(forecast):
            rows.append((timestamp + horizon_step, forecast, online.model_.last_train_time_))
    frame = pd.DataFrame(rows, columns=["target_time", "forecast", "trained_until"]).set_index("target_time")
    frame.insert(1, "actual", series.reindex(frame.index).to_numpy())
    logger.info("online run over %d values: %d refits, %d forecasts", len(values), online.n_refits_, len(frame))
    return frame
