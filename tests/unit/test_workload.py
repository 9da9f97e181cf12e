"""Arrival processes and trace replay, including bad traces."""

import logging

import numpy as np
import pandas as pd
import pytest

from devsim.workload import (
    Burst,
    DailyCycle,
    Piecewise,
    Poisson,
    RateTrace,
    RequestTrace,
    TraceError,
    parse_window,
    trace_workload,
)


def rng(seed=0):
    return np.random.default_rng(seed)


def test_poisson_count_and_order():
    arrivals = Poisson(rate=50, duration_s=1000).generate(rng())
    # Count is Poisson(50,000): within 5 standard deviations (5 * 224).
    assert abs(len(arrivals) - 50_000) < 1_120
    assert np.all(np.diff(arrivals.times) >= 0)
    assert arrivals.times.max() < 1000


def test_poisson_gaps_are_exponential():
    times = Poisson(rate=10, duration_s=10_000).generate(rng(1)).times
    gaps = np.diff(times)
    assert gaps.mean() == pytest.approx(0.1, rel=0.02)
    # The coefficient of variation of exponential gaps is 1.
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.03)


def test_daily_cycle_follows_rate():
    workload = DailyCycle(mean_rate=2.0, amplitude=0.8, duration_s=86_400 * 4, peak_s=12 * 3600)
    times = workload.generate(rng(2)).times
    hours = (times % 86_400) // 3600
    counts = np.bincount(hours.astype(int), minlength=24) / 4
    # Expected per hour at the peak (12:00-13:00) and trough (00:00-01:00).
    assert counts[12] == pytest.approx(3600 * 2.0 * 1.8, rel=0.08)
    assert counts[0] == pytest.approx(3600 * 2.0 * 0.2, rel=0.15)
    assert workload.mean_rate() == pytest.approx(2.0, rel=1e-3)


def test_piecewise_table_rates():
    workload = Piecewise([0, 100, 200], [1.0, 10.0, 0.0], duration_s=300)
    times = workload.generate(rng(3)).times
    assert np.sum(times < 100) == pytest.approx(100, abs=40)
    assert np.sum((times >= 100) & (times < 200)) == pytest.approx(1000, abs=130)
    assert np.sum(times >= 200) == 0
    assert workload.mean_rate() == pytest.approx(11 / 3)


def test_piecewise_rejects_bad_table():
    with pytest.raises(ValueError, match="begin at 0"):
        Piecewise([5, 10], [1, 2], duration_s=20)
    with pytest.raises(ValueError, match="rates\\[1\\]"):
        Piecewise([0, 10], [1, -2], duration_s=20)


def test_burst_adds_flash_crowd():
    base = Poisson(rate=5, duration_s=600)
    workload = Burst(base, start_s=200, duration_s=100, extra_rate=45)
    times = workload.generate(rng(4)).times
    inside = np.sum((times >= 200) & (times < 300))
    before = np.sum(times < 100)
    assert inside == pytest.approx(5000, rel=0.1)
    assert before == pytest.approx(500, rel=0.2)


def test_parse_window_forms():
    assert parse_window("600:1200") == (600.0, 1200.0)
    assert parse_window("10min:1h") == (600.0, 3600.0)
    assert parse_window(":30min") == (0.0, 1800.0)
    assert parse_window("5min:")[1] == np.inf
    assert parse_window("0:1d") == (0.0, 86400.0)
    assert parse_window("0:1D") == (0.0, 86400.0)
    with pytest.raises(ValueError, match="START:END"):
        parse_window("600")
    with pytest.raises(ValueError, match="empty"):
        parse_window("20:10")
    with pytest.raises(ValueError, match="neither seconds"):
        parse_window("soon:later")


def series(counts, step="5min", start="2024-01-01"):
    index = pd.date_range(start, periods=len(counts), freq=step)
    return pd.DataFrame({"timestamp": index, "value": counts})


def test_rate_trace_replays_counts_exactly():
    frame = series([10, 0, 30, 5])
    arrivals = RateTrace(frame).generate(rng())
    counts = np.bincount((arrivals.times // 300).astype(int), minlength=4)
    assert counts.tolist() == [10, 0, 30, 5]
    assert arrivals.duration_s == 1200


def test_rate_trace_multiplier_window_speedup():
    frame = series([100] * 12)
    workload = RateTrace(frame, rate_multiplier=2.0, window="10min:30min", speedup=10)
    arrivals = workload.generate(rng())
    assert len(arrivals) == 4 * 200
    assert workload.duration_s == pytest.approx(120)
    assert arrivals.times.max() < 120


def test_rate_trace_sorts_with_warning(caplog):
    frame = series([1, 2, 3]).iloc[[2, 0, 1]]
    with caplog.at_level(logging.WARNING, logger="devsim.workload"):
        workload = RateTrace(frame)
    assert "not sorted" in caplog.text
    assert workload.counts.tolist() == [1, 2, 3]


def test_rate_trace_merges_duplicates_with_warning(caplog):
    frame = series([1, 2, 3])
    frame = pd.concat([frame, frame.iloc[[1]].assign(value=5)])
    with caplog.at_level(logging.WARNING, logger="devsim.workload"):
        workload = RateTrace(frame)
    assert "repeats 1 timestamp" in caplog.text
    assert workload.counts.tolist() == [1, 7, 3]


def test_rate_trace_negative_count_names_row():
    frame = series([1, -4, 3])
    with pytest.raises(TraceError, match="row 1 .*negative count -4"):
        RateTrace(frame)


def test_rate_trace_missing_count_names_row():
    frame = series([1.0, 2.0, np.nan])
    with pytest.raises(TraceError, match="row 2: missing"):
        RateTrace(frame)


def test_rate_trace_gap_is_error_with_fix():
    frame = series([1, 2, 3, 4]).drop(index=2)
    with pytest.raises(TraceError, match="fill_gaps='interpolate'"):
        RateTrace(frame)


def test_rate_trace_gap_filled_when_asked():
    frame = series([2, 4, 6, 8]).drop(index=2)
    assert RateTrace(frame, fill_gaps="interpolate").counts.tolist() == [2, 4, 6, 8]
    assert RateTrace(frame, fill_gaps="zero").counts.tolist() == [2, 4, 0, 8]


def test_rate_trace_irregular_step_is_error():
    frame = series([1, 2, 3])
    frame.loc[2, "timestamp"] = frame.loc[1, "timestamp"] + pd.Timedelta("7min")
    with pytest.raises(TraceError, match="not a multiple"):
        RateTrace(frame)


def test_request_trace_keeps_timestamps_and_work():
    stamps = pd.to_datetime(["2024-01-01 00:00:00.5", "2024-01-01 00:00:01.0", "2024-01-01 00:00:03.0"])
    workload = RequestTrace(stamps, work_s=[0.1, 0.2, 0.3])
    arrivals = workload.generate(rng())
    assert arrivals.times.tolist() == [0.0, 0.5, 2.5]
    assert arrivals.work.tolist() == [0.1, 0.2, 0.3]


def test_request_trace_multiplier_counts():
    stamps = np.arange(10_000) * 0.1
    arrivals = RequestTrace(stamps, rate_multiplier=2.5).generate(rng())
    assert len(arrivals) == pytest.approx(25_000, rel=0.01)
    thinned = RequestTrace(stamps, rate_multiplier=0.3).generate(rng())
    assert len(thinned) == pytest.approx(3_000, rel=0.05)


def test_request_trace_rejects_bad_work():
    with pytest.raises(TraceError, match="row 1: work -1"):
        RequestTrace([0.0, 1.0], work_s=[0.1, -1])
    with pytest.raises(TraceError, match="one per request"):
        RequestTrace([0.0, 1.0], work_s=[0.1])


def test_request_trace_missing_timestamp_names_row():
    with pytest.raises(TraceError, match="row 1"):
        RequestTrace(pd.Series(["2024-01-01", None, "2024-01-02"]))


def test_request_trace_sorts_with_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="devsim.workload"):
        workload = RequestTrace([3.0, 1.0, 2.0], work_s=[0.3, 0.1, 0.2])
    assert "not sorted" in caplog.text
    assert workload.work.tolist() == [0.1, 0.2, 0.3]


def test_azure_trace_replays_every_request():
    workload = trace_workload("azure-llm-code")
    arrivals = workload.generate(rng())
    assert len(arrivals) == 8819
    assert np.all(arrivals.work > 0)


def test_azure_trace_window_and_speedup():
    workload = trace_workload("azure-llm-code", window="0:10min", speedup=2)
    arrivals = workload.generate(rng())
    assert arrivals.times.max() < 300
    assert 0 < len(arrivals) < 8819


def test_nab_trace_fills_known_gaps(caplog):
    with caplog.at_level(logging.WARNING, logger="devsim.workload"):
        workload = trace_workload("nab-elb-request-count-8c0756")
    assert "filled 8 missing" in caplog.text
    assert workload.interval_s == 300
