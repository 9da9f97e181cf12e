"""Rollouts: strategy invariants, downtime, rollback and bad parameters."""

import pytest

from devsim.sim.deployment import (
    RELEASES,
    BlueGreen,
    Canary,
    Readiness,
    Recreate,
    Release,
    RollbackPolicy,
    RollingUpdate,
    resolve_surge,
    simulate_rollout,
)

REPLICAS = 8


def rollout(**kwargs):
    settings = dict(replicas=REPLICAS, seed=3, max_duration_s=400.0, rate=120.0)
    settings.update(kwargs)
    return simulate_rollout(**settings)


@pytest.mark.parametrize("surge, unavailable", [("25%", "25%"), (1, 0), (0, 1), ("50%", "0%"), (3, 2)])
def test_rolling_invariants_hold(surge, unavailable):
    strategy = RollingUpdate(max_surge=surge, max_unavailable=unavailable)
    result = rollout(strategy=strategy)
    max_surge = resolve_surge(surge, REPLICAS, round_up=True, name="maxSurge")
    max_unavailable = resolve_surge(unavailable, REPLICAS, round_up=False, name="maxUnavailable")
    timeline = result.timeline
    during = timeline[timeline["stage"] == "rollout"]
    ready = during["new_ready"] + during["old_ready"]
    total = during["new_total"] + during["old_total"]
    assert len(during) > 0
    assert (ready >= REPLICAS - max_unavailable).all(), during[ready < REPLICAS - max_unavailable]
    assert (total <= REPLICAS + max_surge).all(), during[total > REPLICAS + max_surge]
    assert result.summary()["final_version"] == "v2"


def test_rolling_good_release_zero_failed():
    summary = rollout(strategy=RollingUpdate()).summary()
    assert summary["completed"]
    assert summary["failed_requests"] == 0
    assert summary["requests_during"] > 1000


def test_recreate_has_downtime():
    summary = rollout(strategy=Recreate()).summary()
    assert summary["completed"]
    # Every old pod is gone before a new one is ready: requests in between are rejected.
    assert summary["rejected_during"] > 0.2 * summary["requests_during"]


def test_no_draining_drops_requests():
    drained = rollout(strategy=RollingUpdate(), drain=True).summary()
    killed = rollout(strategy=RollingUpdate(), drain=False).summary()
    assert drained["dropped_during"] == 0
    assert killed["dropped_during"] > 0


def test_no_readiness_probe_fails_requests():
    # Without a probe, pods get traffic as soon as their container starts,
    # before the app listens, so a slow-starting app loses requests.
    slow_start = Release("v2", work_scale=1.0)
    with_probe = rollout(strategy=RollingUpdate(), release=slow_start).summary()
    without = rollout(strategy=RollingUpdate(), release=slow_start, readiness=Readiness(enabled=False)).summary()
    assert with_probe["failed_requests"] == 0
    assert without["failed_requests"] > 0


def test_blue_green_switches_at_once():
    result = rollout(strategy=BlueGreen())
    summary = result.summary()
    assert summary["failed_requests"] == 0
    assert summary["peak_replicas"] == 2 * REPLICAS
    shares = result.timeline["new_traffic_share"]
    # Traffic goes from 0 to 1 in one step.
    assert set(shares.round(6).unique()) <= {0.0, 1.0}


def test_analysis_rolls_back_bad_release():
    policy = RollbackPolicy("analysis", interval_s=30, window_s=60, failure_limit=2)
    summary = rollout(strategy=RollingUpdate(), release="error-rate", rollback=policy).summary()
    assert summary["rolled_back"]
    assert summary["final_version"] == "v1"
    # Two failed measurements 30 s apart, once the new pods serve traffic.
    assert summary["rollback_after_s"] <= 150


def test_analysis_catches_slow_release():
    # A good release has a p95 of about 0.15 s; one request in ten of this one takes 20 times longer.
    policy = RollbackPolicy("analysis", max_p95_s=0.5)
    summary = rollout(strategy=RollingUpdate(), release="slow", rollback=policy).summary()
    assert summary["rolled_back"]


def test_analysis_passes_good_release():
    summary = rollout(strategy=RollingUpdate(), rollback=RollbackPolicy("analysis", max_p95_s=0.5)).summary()
    assert not summary["rolled_back"]
    assert summary["final_version"] == "v2"


def test_canary_failed_near_weight():
    policy = RollbackPolicy("analysis", interval_s=30, window_s=60, failure_limit=2)
    summary = rollout(strategy=Canary(steps=((0.1, 120.0), (0.5, 120.0))), release="error-rate", rollback=policy).summary()
    assert summary["rolled_back"]
    # 10% of traffic on a release failing 20% of requests: about 2% failed.
    # Tolerance: between 1% and 3.5% of the requests during the rollout.
    assert 0.01 <= summary["failed_ratio"] <= 0.035


def test_progress_deadline_rolls_back_not_ready():
    strategy = RollingUpdate(progress_deadline_s=120)
    summary = rollout(strategy=strategy, release="not-ready", rollback="failure").summary()
    assert summary["progress_deadline_exceeded"]
    assert summary["rolled_back"]
    assert 120 <= summary["rollback_after_s"] <= 130
    assert summary["failed_requests"] == 0


def test_deadline_without_rollback_only_reports():
    # Kubernetes itself marks the condition and rolls nothing back.
    summary = rollout(strategy=RollingUpdate(progress_deadline_s=120), release="not-ready", rollback="none",
                      max_duration_s=200).summary()
    assert summary["progress_deadline_exceeded"]
    assert not summary["rolled_back"]
    assert not summary["completed"]


def test_crash_loop_rolls_back_on_failure():
    summary = rollout(strategy=RollingUpdate(), release="crash-loop", rollback="failure").summary()
    assert summary["rolled_back"]
    assert "crash loop" in summary["rollback_reason"]


def test_rollback_shows_in_events():
    result = rollout(strategy=RollingUpdate(), release="crash-loop", rollback="failure")
    kinds = result.result.events["kind"].tolist()
    assert "rollout_started" in kinds
    assert "rollback_started" in kinds
    assert "rollback_completed" in kinds


def test_manual_rollback_at_time():
    summary = rollout(strategy=Canary(), rollback=RollbackPolicy("manual", manual_at_s=30)).summary()
    assert summary["rolled_back"]
    assert summary["rollback_after_s"] == pytest.approx(30, abs=1)


def test_memory_leak_kills_instances():
    result = rollout(strategy=RollingUpdate(), release="memory-leak", max_duration_s=600)
    kinds = result.result.events["kind"]
    assert (kinds == "instance_killed").sum() >= REPLICAS


@pytest.mark.parametrize(
    "strategy, message",
    [
        (RollingUpdate(max_surge=0, max_unavailable=0), "both 0"),
        (RollingUpdate(max_surge=-1), "whole number"),
        (RollingUpdate(max_unavailable="150%"), "between 0% and 100%"),
        (RollingUpdate(max_surge="ten"), "percentage"),
        (RollingUpdate(min_ready_s=700, progress_deadline_s=600), "greater than min_ready_s"),
        (Canary(steps=((0.5, 10.0), (0.2, 10.0))), "increasing weights"),
    ],
)
def test_bad_parameters_clear_errors(strategy, message):
    with pytest.raises(ValueError, match=message):
        simulate_rollout(strategy=strategy, replicas=4)


def test_unknown_release_lists_choices():
    with pytest.raises(ValueError, match="choose one of good"):
        simulate_rollout(release="broken")


def test_invalid_release_values():
    with pytest.raises(ValueError, match="error_ratio"):
        Release("v2", error_ratio=1.5)


def test_named_releases_exist():
    assert set(RELEASES) == {"good", "crash-loop", "not-ready", "error-rate", "slow", "memory-leak"}


def test_memory_leak_rolled_back_on_restarts():
    summary = rollout(strategy=RollingUpdate(), release="memory-leak", rollback="failure", max_duration_s=700).summary()
    # Pods are killed 120 s after becoming ready and restart; the third restart triggers the rollback.
    assert summary["rolled_back"]
    assert "restarts" in summary["rollback_reason"]
    assert summary["outcome"] == "rolled_back"


def test_report_complete_when_traffic_ends_early():
    # Analysis still runs when traffic stops; the report keeps every key.
    result = simulate_rollout(release="good", rollback=RollbackPolicy("analysis", max_p95_s=0.5), replicas=4,
                              rate=40, max_duration_s=300, seed=7)
    summary = result.summary()
    assert summary["outcome"] == "rolled_out"
    assert "failed_ratio_after_start" in summary


def test_failed_after_start_counts_bad_release_that_stayed():
    summary = rollout(strategy=RollingUpdate(), release="error-rate", rollback="none").summary()
    assert summary["failed_ratio_after_start"] > summary["failed_ratio"]
    assert summary["failed_ratio_after_start"] == pytest.approx(0.2, abs=0.03)
