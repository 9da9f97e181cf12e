"""Manual, HPA and predictive scaling compared on real traces.

Measured on NYC taxi (x30, max 60 replicas, second half replayed with the flow
engine, both autoscalers starting at the replicas the first interval needs,
headroom 0, reactive floor on):

- 2-minute startup: HPA 7 intervals violating the SLO, predictive 0; the
  predictive policy uses about 5% more replica-hours. So prediction does not
  win at equal or lower cost here: it buys fewer violations with a little more
  capacity, and the tests assert that.
- 15-minute startup: HPA 31 violations, predictive 0.
- Fixed replicas for the peak: no violations at about 2.5 times the HPA's cost.
"""

import pytest

from devsim.autoscale import compare_policies, walk_forward_forecast, trace_series

SETTINGS = dict(rate_multiplier=30, headroom=0.0, scaling__max_replicas=60)


@pytest.fixture(scope="module")
def taxi_fast_start():
    return compare_policies("nab-nyc-taxi", startup_delay_s=120, **SETTINGS).table


@pytest.fixture(scope="module")
def taxi_slow_start():
    return compare_policies("nab-nyc-taxi", policies=("hpa", "predictive"), startup_delay_s=900, **SETTINGS).table


def test_fast_start_predictive_fewer_violations(taxi_fast_start):
    table = taxi_fast_start
    assert table.loc["predictive", "slo_violations"] <= table.loc["hpa", "slo_violations"]


def test_fast_start_predictive_costs_a_little_more(taxi_fast_start):
    table = taxi_fast_start
    ratio = table.loc["predictive", "replica_hours"] / table.loc["hpa", "replica_hours"]
    assert 1.0 < ratio < 1.10


def test_slow_start_prediction_pays_off(taxi_slow_start):
    table = taxi_slow_start
    assert table.loc["predictive", "slo_violations"] * 2 <= table.loc["hpa", "slo_violations"]


def test_fixed_peak_fleet_no_violations_high_cost(taxi_fast_start):
    table = taxi_fast_start
    assert table.loc["manual", "slo_violations"] == 0
    assert table.loc["manual", "replica_hours"] > 2 * table.loc["hpa", "replica_hours"]


def test_forecast_only_misses_without_floor():
    table = compare_policies(
        "nab-nyc-taxi", policies=("hpa", "predictive"), startup_delay_s=120, combine="forecast", test_window="0:21D", **SETTINGS
    ).table
    # Without the reactive floor, forecast errors go uncorrected.
    assert table.loc["predictive", "slo_violations"] > table.loc["hpa", "slo_violations"]


def test_forecasts_issued_before_their_interval():
    series = trace_series("nab-nyc-taxi")
    test_start = series.index[len(series) // 2]
    rates, issued, horizon = walk_forward_forecast(series, test_start, lead_s=135.0)
    offsets = (rates.index - test_start).total_seconds().to_numpy()
    # Each forecast is issued at least the lead before its interval starts.
    assert ((offsets - issued) >= 135.0).all()
    assert horizon == 2


def test_unknown_policy_rejected():
    with pytest.raises(ValueError, match="unknown policy 'magic'"):
        compare_policies("nab-nyc-taxi", policies=("magic",))


def test_bad_train_fraction_rejected():
    with pytest.raises(ValueError, match="train_fraction"):
        compare_policies("nab-nyc-taxi", train_fraction=1.5)


def test_online_policy_refits_during_run():
    table = compare_policies(
        "nab-nyc-taxi", policies=("hpa", "predictive-online"), startup_delay_s=900, test_window="0:21D", **SETTINGS
    ).table
    # A daily refit on the arrivals observed during the 21 replayed days, plus the first fit.
    assert table.loc["predictive-online", "refits"] >= 21
    assert table.loc["predictive-online", "slo_violations"] <= table.loc["hpa", "slo_violations"]
