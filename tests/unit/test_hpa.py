"""The HorizontalPodAutoscaler on scripted metric sequences, without a simulation."""

import pytest

from devsim.profiles import load_profile
from devsim.sim.autoscaling import HorizontalPodAutoscaler, Manual, Observation, policy_from_profile


def observe(t, replicas, utilization, unready=0):
    ready = replicas - unready
    return Observation(time_s=t, current_replicas=replicas, ready_utilization=(utilization,) * ready, unready=unready)


def make_hpa(**kwargs):
    settings = dict(min_replicas=2, max_replicas=20, target_utilization=0.5, initial=4)
    settings.update(kwargs)
    return HorizontalPodAutoscaler(**settings)


def test_load_step_scales_by_formula():
    hpa = make_hpa()
    # 4 pods at 90% against a 50% target: ceil(4 * 0.9 / 0.5) = ceil(7.2) = 8.
    assert hpa.recommend(observe(15, 4, 0.9)).replicas == 8


def test_scale_up_limited_by_policies():
    hpa = make_hpa(max_replicas=100, target_utilization=0.1)
    # 4 pods at 100% against 10%: the formula gives 40, but the default policies
    # allow max(4 + 4 pods, 4 * 200%) = 8 per 15 s.
    decision = hpa.recommend(observe(15, 4, 1.0))
    assert decision.replicas == 8
    assert "rate-limited" in decision.reason


def test_scale_up_percent_policy_wins_when_larger():
    hpa = make_hpa(max_replicas=100, target_utilization=0.1, initial=10)
    # From 10 pods: max(10 + 4, 10 * 200%) = 20.
    assert hpa.recommend(observe(15, 10, 1.0)).replicas == 20


def test_scale_up_limit_counts_recent_additions():
    hpa = make_hpa(max_replicas=100, target_utilization=0.1)
    assert hpa.recommend(observe(15, 4, 1.0)).replicas == 8
    # Within the same 15 s period the period started at 4 replicas, so no more growth.
    assert hpa.recommend(observe(20, 8, 1.0)).replicas == 8
    # A new period allows doubling again from 8.
    assert hpa.recommend(observe(31, 8, 1.0)).replicas == 16


def test_within_tolerance_no_change():
    hpa = make_hpa()
    # Ratio 0.54 / 0.5 = 1.08 is within the 0.1 tolerance.
    decision = hpa.recommend(observe(15, 4, 0.54))
    assert decision.replicas == 4
    assert "tolerance" in decision.reason


def test_just_outside_tolerance_scales():
    hpa = make_hpa()
    # Ratio 0.56 / 0.5 = 1.12: ceil(4 * 1.12) = 5.
    assert hpa.recommend(observe(15, 4, 0.56)).replicas == 5


def test_scale_down_waits_for_window():
    hpa = make_hpa(initial=8)
    replicas = 8
    history = []
    for t in range(15, 600, 15):
        replicas = hpa.recommend(observe(t, replicas, 0.1)).replicas
        history.append((t, replicas))
    # The recommendation at time 0 was 8; the 300 s window keeps it until it expires.
    assert all(r == 8 for t, r in history if t < 300)
    first_down = next(t for t, r in history if r < 8)
    assert 300 <= first_down <= 315
    # 8 pods at 10% against 50% recommend ceil(8 * 0.2) = 2, the minimum.
    assert history[-1][1] == 2


def test_scale_down_window_keeps_peak():
    hpa = make_hpa(initial=4, scale_down_window_s=60)
    assert hpa.recommend(observe(15, 4, 1.0)).replicas == 8
    # Load drops: the 60 s window still contains the recommendation of 8.
    assert hpa.recommend(observe(30, 8, 0.1)).replicas == 8
    assert hpa.recommend(observe(60, 8, 0.1)).replicas == 8
    assert hpa.recommend(observe(90, 8, 0.1)).replicas == 2


def test_min_and_max_hold():
    hpa = make_hpa(min_replicas=3, max_replicas=6, initial=4, scale_down_window_s=0)
    assert hpa.recommend(observe(15, 4, 1.0)).replicas == 6
    assert hpa.recommend(observe(30, 6, 0.0)).replicas == 3


def test_unready_pods_count_as_zero_when_scaling_up():
    hpa = make_hpa()
    # 4 ready at 60% plus 4 unready against 50%: ready-only ratio 1.2, but with the
    # unready at 0% the ratio is 0.6, a reversal, so the count stays at 8.
    decision = hpa.recommend(observe(15, 8, 0.6, unready=4))
    assert decision.replicas == 8
    assert "unready" in decision.reason


def test_unready_pods_still_allow_big_step():
    hpa = make_hpa(max_replicas=50)
    # 4 ready at 100% plus 2 unready: (4 * 1.0 / 6) / 0.5 = 1.333, ceil(6 * 1.333) = 8.
    assert hpa.recommend(observe(15, 6, 1.0, unready=2)).replicas == 8


def test_no_ready_pods_keeps_count():
    hpa = make_hpa()
    assert hpa.recommend(Observation(15, 4, (), unready=4)).replicas == 4


def test_invalid_settings_listed():
    with pytest.raises(ValueError) as info:
        HorizontalPodAutoscaler(min_replicas=0, max_replicas=-1, target_utilization=2)
    message = str(info.value)
    assert "min_replicas" in message
    assert "target_utilization" in message


def test_manual_never_changes():
    policy = Manual(3)
    assert policy.recommend(observe(15, 3, 1.0)).replicas == 3
    with pytest.raises(ValueError):
        Manual(0)


def test_policy_from_profiles():
    assert isinstance(policy_from_profile(load_profile("development")), Manual)
    hpa = policy_from_profile(load_profile("production"))
    assert isinstance(hpa, HorizontalPodAutoscaler)
    assert hpa.scale_down_window_s == 300
    assert hpa.tolerance == 0.1
    with pytest.raises(ValueError, match="predictive"):
        policy_from_profile(load_profile("experimental"))
