"""The SimPy model: request outcomes, lifecycle, autoscaling in a run, result frames."""

import numpy as np
import pandas as pd
import pytest

from devsim.profiles import load_profile
from devsim.sim import SUMMARY_KEYS, HorizontalPodAutoscaler, Manual, Scenario, simulate
from devsim.validation import mmc_profile
from devsim.workload import Piecewise, Poisson, RequestTrace


def test_same_seed_identical_frames():
    scenario = Scenario("production", Poisson(rate=60, duration_s=600))
    first, second = simulate(scenario, seed=7), simulate(scenario, seed=7)
    pd.testing.assert_frame_equal(first.requests, second.requests)
    pd.testing.assert_frame_equal(first.metrics, second.metrics)
    pd.testing.assert_frame_equal(first.events, second.events)
    assert first.summary() == second.summary()


def test_different_seed_differs():
    scenario = Scenario("development", Poisson(rate=20, duration_s=120))
    assert not simulate(scenario, seed=1).requests.equals(simulate(scenario, seed=2).requests)


def test_every_request_has_one_outcome():
    result = simulate(Scenario("development", Poisson(rate=100, duration_s=120)), seed=3)
    requests = result.requests
    assert requests["request_id"].is_unique
    assert set(requests["status"].unique()) <= {"ok", "rejected", "timed_out"}
    assert requests["end_s"].notna().all()
    ok = requests[requests["status"] == "ok"]
    assert np.allclose(ok["latency_s"], ok["wait_s"] + ok["work_s"])


def test_littles_law_on_result_frames():
    profile = mmc_profile(4)
    result = simulate(Scenario(profile, Poisson(rate=3.2, duration_s=20_000)), seed=11)
    requests = result.requests
    # Time-average number in system over [0, T] from the frame, against lambda * W.
    horizon = requests["end_s"].max()
    in_system_area = (requests["end_s"] - requests["arrival_s"]).sum()
    average_in_system = in_system_area / horizon
    arrival_rate = len(requests) / horizon
    mean_response = requests["latency_s"].mean()
    # Over the whole run every request enters and leaves, so L = lambda W is exact.
    assert average_in_system == pytest.approx(arrival_rate * mean_response, rel=1e-9)


def test_littles_law_on_a_window():
    profile = mmc_profile(4)
    result = simulate(Scenario(profile, Poisson(rate=3.2, duration_s=20_000)), seed=12)
    r = result.requests
    start, end = 5_000.0, 15_000.0
    # Time-average number in system over the window, clipping each stay to it.
    overlap = (np.minimum(r["end_s"], end) - np.maximum(r["arrival_s"], start)).clip(lower=0)
    average_in_system = overlap.sum() / (end - start)
    inside = r[(r["arrival_s"] >= start) & (r["arrival_s"] < end)]
    predicted = len(inside) / (end - start) * inside["latency_s"].mean()
    # Edge effects at the window bounds are small over 10,000 s (about 32,000 requests).
    assert average_in_system == pytest.approx(predicted, rel=0.02)


def test_overload_rejects_and_finishes():
    # One instance of 4 workers at 0.05 s serves 80 requests/s; offer 200.
    result = simulate(Scenario("development", Poisson(rate=200, duration_s=120)), seed=5)
    summary = result.summary()
    assert summary["rejected"] > 0.4 * summary["requests"]
    assert summary["ok"] == pytest.approx(80 * 120, rel=0.05)


def test_overload_unbounded_queue_grows():
    profile = mmc_profile(2)
    # rho = 1.5: the queue grows at about lam - c mu = 1 per second.
    result = simulate(Scenario(profile, Poisson(rate=3.0, duration_s=2_000)), seed=6)
    waits = result.requests.set_index("arrival_s")["wait_s"]
    early = waits[waits.index < 500].mean()
    late = waits[waits.index > 1_500].mean()
    assert late > 2.5 * early
    assert result.summary()["ok"] == len(result.requests)


def test_timeouts_end_at_deadline():
    profile = load_profile("development", instances__request_timeout_s=1.0, instances__queue_capacity=None)
    result = simulate(Scenario(profile, Poisson(rate=120, duration_s=60)), seed=8)
    timed_out = result.requests[result.requests["status"] == "timed_out"]
    assert len(timed_out) > 0
    assert np.allclose(timed_out["latency_s"], 1.0)
    ok = result.requests[result.requests["status"] == "ok"]
    assert ok["latency_s"].max() <= 1.0 + 1e-9


def test_queue_capacity_zero_rejects_when_busy():
    profile = load_profile("development", instances__workers=1, instances__queue_capacity=0)
    trace = RequestTrace([0.0, 0.1, 2.0], work_s=[1.0, 1.0, 1.0])
    result = simulate(Scenario(profile, trace), seed=0)
    assert result.requests["status"].tolist() == ["ok", "rejected", "ok"]


@pytest.mark.parametrize("algorithm", ["round_robin", "least_connections"])
def test_load_balancers_spread_load(algorithm):
    profile = load_profile("production", load_balancer__algorithm=algorithm)
    result = simulate(Scenario(profile, Poisson(rate=100, duration_s=300), autoscaler=Manual(4)), seed=9)
    shares = result.requests["instance"].value_counts(normalize=True)
    assert len(shares) == 4
    assert shares.max() < 0.30


def test_least_connections_avoids_slow_instance():
    # A 1 s request pins worker capacity on one instance; least-connections
    # sends the next requests elsewhere, round-robin does not.
    profile = load_profile("production", instances__workers=1, instances__queue_capacity=None)
    times = [0.0] + [0.01 * k for k in range(1, 11)]
    work = [5.0] + [0.001] * 10
    waits = {}
    for algorithm in ("round_robin", "least_connections"):
        p = profile.with_overrides(load_balancer__algorithm=algorithm)
        result = simulate(Scenario(p, RequestTrace(times, work_s=work), autoscaler=Manual(2)), seed=0)
        waits[algorithm] = result.requests["wait_s"].max()
    assert waits["least_connections"] < 0.01
    assert waits["round_robin"] > 4.0


def test_startup_delay_and_lifecycle():
    profile = load_profile("production", instances__startup_delay_s=40.0)
    # A step from 20 to 300 requests/s makes the HPA add instances after t = 300.
    workload = Piecewise([0, 300], [20, 300], duration_s=900)
    result = simulate(Scenario(profile, workload), seed=10)
    instances = result.instances
    started_later = instances[instances["created_s"] > 0]
    assert len(started_later) > 0
    delays = (started_later["ready_s"] - started_later["created_s"]).dropna()
    assert np.allclose(delays, 40.0)
    scale_ups = result.events[(result.events["kind"] == "scale") & (result.events["to_replicas"] > result.events["from_replicas"])]
    assert scale_ups["time_s"].min() >= 300


def test_draining_finishes_held_requests():
    profile = load_profile("production", instances__workers=1, instances__queue_capacity=None, instances__request_timeout_s=None)
    # Scale from 2 to 1 while both instances are busy: the drained one finishes its work.
    hpa = HorizontalPodAutoscaler(min_replicas=1, max_replicas=2, initial=2, scale_down_window_s=0, target_utilization=0.9)
    trace = RequestTrace([0.0, 0.0] + [100.0], work_s=[50.0, 50.0, 0.1])
    result = simulate(Scenario(profile, trace, autoscaler=hpa), seed=0)
    assert (result.requests["status"] == "ok").all()
    kinds = result.events["kind"].tolist()
    assert "instance_draining" in kinds
    assert "instance_terminated" in kinds


def test_hpa_scales_up_under_load_step():
    profile = load_profile("production", instances__startup_delay_s=10.0)
    workload = Piecewise([0, 300], [20, 400], duration_s=1200)
    result = simulate(Scenario(profile, workload), seed=13)
    metrics = result.metrics
    before = metrics[metrics["time_s"] <= 300]["ready_replicas"].max()
    after = metrics[metrics["time_s"] >= 900]["ready_replicas"].min()
    # 400 req/s * 0.05 s = 20 busy workers; at 60% of 4 workers per pod that is about 9 pods.
    assert before <= 3
    assert 7 <= after <= 11
    assert result.events[result.events["kind"] == "scale"]["reason"].str.contains("usage ratio").all()


def test_metrics_frame_columns_and_sums():
    result = simulate(Scenario("production", Poisson(rate=50, duration_s=300)), seed=14)
    metrics = result.metrics
    assert list(metrics.columns[:4]) == ["time_s", "arrivals", "completed", "throughput_rps"]
    assert metrics["arrivals"].sum() == len(result.requests)
    assert metrics["completed"].sum() == (result.requests["status"] == "ok").sum()
    assert np.allclose(np.diff(metrics["time_s"].to_numpy()[:-1]), 15.0)
    assert metrics["cost_usd"].sum() == pytest.approx(result.summary()["cost_usd"], rel=1e-9)
    assert ((metrics["utilization"].dropna() >= 0) & (metrics["utilization"].dropna() <= 1 + 1e-9)).all()


def test_summary_keys_are_stable():
    result = simulate(Scenario("development", Poisson(rate=5, duration_s=60)), seed=0)
    assert list(result.summary()) == SUMMARY_KEYS


def test_summary_cost_from_replica_hours():
    result = simulate(Scenario("development", Poisson(rate=5, duration_s=3600)), seed=0)
    summary = result.summary()
    assert summary["replica_hours"] == pytest.approx(1.0, rel=1e-3)
    assert summary["cost_usd"] == pytest.approx(0.096, rel=1e-3)


def test_empty_workload_runs():
    result = simulate(Scenario("development", RequestTrace([0.0], work_s=[0.01], window=(0.0, 0.5))), seed=0)
    assert len(result.requests) == 1


def test_predictive_profile_needs_policy():
    with pytest.raises(ValueError, match="predictive"):
        simulate(Scenario("experimental", Poisson(rate=5, duration_s=10)))
