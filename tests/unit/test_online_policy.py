"""The OnlinePredictive policy: counting observed arrivals, refitting during the run."""

import numpy as np
import pandas as pd
import pytest

from devsim.ml.forecast import LastValue, LinearForecaster
from devsim.sim.autoscaling import Observation, OnlinePredictive

STEP_S = 300.0


def history(level, count=48):
    index = pd.date_range("2024-01-01", periods=count, freq="5min")
    return pd.Series(np.full(count, float(level)), index=index)


def policy(estimator, level=300.0, **settings):
    options = dict(window=24, retrain_every=6, mean_service_s=0.05, workers=4, headroom=0.0, lead_s=60.0,
                   min_replicas=1, max_replicas=100, target_utilization=0.5, initial=2, scale_down_window_s=0)
    options.update(settings)
    return OnlinePredictive(estimator, history(level), **options)


def sync(p, t, rate, replicas=2):
    return p.recommend(Observation(time_s=t, current_replicas=replicas, ready_utilization=(0.5,) * replicas, arrival_rate=rate))


def test_counts_observed_arrivals_per_interval():
    p = policy(LastValue(horizon=1))
    for t in range(15, 601, 15):
        sync(p, float(t), rate=2.0)
    # Two intervals of 300 s at 2 requests/s have ended: 600 requests each.
    assert p.counts[-2:] == pytest.approx([600.0, 600.0])


def test_forecast_follows_observed_level():
    p = policy(LastValue(horizon=1))
    # The history has 300 requests per 5 minutes (1 req/s); the run brings 4 req/s.
    for t in range(15, 901, 15):
        sync(p, float(t), rate=4.0)
    assert p.forecast_at(900.0) == pytest.approx(4.0)


def test_refits_at_configured_period():
    p = policy(LinearForecaster(horizon=1, lags=(1, 2, 3), rolling_windows=(3,), calendar=()), retrain_every=4)
    assert p.refits == 1
    for t in range(15, 12 * 300 + 1, 15):
        sync(p, float(t), rate=1.0)
    # 12 intervals ended, one refit every 4 intervals, plus the initial fit.
    assert p.refits == 1 + 3


def test_missing_forecast_falls_back():
    p = policy(LastValue(horizon=1), lead_s=900.0)
    decision = sync(p, 15.0, rate=1.0)
    assert "reactive fallback" in decision.reason


def test_history_shorter_than_window_rejected():
    with pytest.raises(ValueError, match="fewer than window"):
        policy(LastValue(horizon=1), window=100)
