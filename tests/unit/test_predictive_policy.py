"""The Predictive autoscaling policy on scripted forecasts and observations."""

import pandas as pd
import pytest

from devsim.profiles import load_profile
from devsim.sim import Scenario
from devsim.sim.autoscaling import HorizontalPodAutoscaler, Observation, Predictive
from devsim.sim.flow import simulate_flow
from devsim.workload import Piecewise


def policy(rates, **settings):
    # Intervals of 300 s starting at 0, 300, 600, ...; 4 workers, 0.05 s per request.
    forecast = pd.Series(rates, index=[300.0 * k for k in range(len(rates))])
    options = dict(min_replicas=1, max_replicas=50, target_utilization=0.5, initial=2, scale_down_window_s=0)
    options.update(settings)
    return Predictive(forecast, 300.0, mean_service_s=0.05, workers=4, headroom=0.0, lead_s=60.0, **options)


def idle(t, replicas=2):
    return Observation(time_s=t, current_replicas=replicas, ready_utilization=(0.5,) * replicas)


def test_forecast_sets_replicas():
    # 160 req/s * 0.05 s = 8 busy workers; at 50% of 4 workers that is 4 replicas.
    decision = policy([160.0, 160.0]).recommend(idle(15))
    assert decision.replicas == 4
    assert "forecast 160" in decision.reason


def test_forecast_looks_ahead_by_lead():
    # At t = 250 s the lead of 60 s reaches the second interval (320 req/s -> 8 replicas).
    p = policy([40.0, 320.0], combine="forecast")
    assert p.forecast_at(250.0) == 320.0
    assert p.metric_recommendation(idle(250))[0] == 8


def test_headroom_adds_capacity():
    forecast = pd.Series([160.0], index=[0.0])
    p = Predictive(forecast, 300.0, 0.05, 4, headroom=0.5, lead_s=0.0, min_replicas=1, max_replicas=50,
                   target_utilization=0.5, initial=2)
    assert p.recommend(idle(15)).replicas == 6


def test_missing_forecast_falls_back_to_reactive():
    p = policy([float("nan"), 160.0])
    decision = p.recommend(Observation(time_s=15, current_replicas=2, ready_utilization=(1.0, 1.0)))
    assert "reactive fallback" in decision.reason
    assert decision.replicas == 4
    assert p.fallbacks == 1


def test_unissued_forecast_not_used():
    forecast = pd.Series([160.0], index=[0.0])
    p = Predictive(forecast, 300.0, 0.05, 4, issued_s=[100.0], headroom=0.0, lead_s=0.0, min_replicas=1,
                   max_replicas=50, target_utilization=0.5, initial=2)
    assert p.forecast_at(50.0) is None
    assert p.forecast_at(150.0) == 160.0


def test_stale_forecast_not_used():
    # Every forecast was issued at time 0 and expires 600 s later.
    forecast = pd.Series([160.0] * 10, index=[300.0 * k for k in range(10)])
    p = Predictive(forecast, 300.0, 0.05, 4, issued_s=[0.0] * 10, max_age_s=600.0, lead_s=60.0,
                   min_replicas=1, max_replicas=50, target_utilization=0.5, initial=2)
    assert p.forecast_at(500.0) == 160.0
    assert p.forecast_at(700.0) is None


def test_combine_max_keeps_reactive_floor():
    observation = Observation(time_s=15, current_replicas=2, ready_utilization=(1.0, 1.0))
    assert policy([40.0], combine="max").recommend(observation).replicas == 4
    assert policy([40.0], combine="forecast").recommend(observation).replicas == 1


def test_invalid_settings_listed():
    with pytest.raises(ValueError) as info:
        Predictive(pd.Series([1.0], index=[0.0]), 0, mean_service_s=-1, workers=0, combine="avg")
    message = str(info.value)
    for name in ("interval_s", "mean_service_s", "workers", "combine"):
        assert name in message


def test_perfect_forecast_beats_hpa_on_slow_start():
    # A step from 40 to 400 req/s at 1800 s; instances take 10 minutes to start.
    profile = load_profile("production", instances__startup_delay_s=600.0, scaling__max_replicas=40)
    workload = Piecewise([0, 1800], [40, 400], duration_s=3600)
    forecast = pd.Series([40.0] * 6 + [400.0] * 6, index=[300.0 * k for k in range(12)])
    predictive = Predictive.from_profile_forecast(profile, forecast, 300.0, issued_s=forecast.index - 1200.0)
    hpa = HorizontalPodAutoscaler.from_profile(profile)
    errors = {}
    for name, autoscaler in (("predictive", predictive), ("hpa", hpa)):
        errors[name] = simulate_flow(Scenario(profile, workload, autoscaler=autoscaler), seed=0).summary()["error_ratio"]
    assert errors["predictive"] < 0.01
    assert errors["hpa"] > 0.05
