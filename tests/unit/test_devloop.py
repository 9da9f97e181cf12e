"""The inner development loop against its closed form, and the four key delivery metrics."""

import math

import numpy as np
import pandas as pd
import pytest

from devsim.devloop import (
    DAY_S,
    HOUR_S,
    DeliveryPipeline,
    InnerLoop,
    compare_delivery,
    compare_inner_loops,
    delivery_table,
    inner_loop_scenarios,
    rollout_outcomes,
    simulate_delivery,
    simulate_inner_loop,
)
from devsim.sim.deployment import RollbackPolicy

# Fixed step times and no test failures: every change takes the same time.
FIXED = InnerLoop(test_failure_probability=0.0, human_cv=0.0, tool_cv=0.0)

# Rollouts on a small service, so that each takes a fraction of a second.
# Rollouts are shared between tests through CACHE.
SERVICE = dict(replicas=4, request_rate=40.0, observe_s=300.0)
CACHE: dict = {}


def pipeline(**kwargs) -> DeliveryPipeline:
    settings = dict(SERVICE)
    settings.update(kwargs)
    return DeliveryPipeline(**settings)


# -- inner loop: closed form ---------------------------------------------------


def test_fixed_cycle_is_sum_of_steps():
    result = simulate_inner_loop(FIXED, changes=5, seed=1)
    per_edit = FIXED.edit_s + FIXED.reload_s + FIXED.test_suite_s + FIXED.log_check_s
    expected = FIXED.edits_per_change * per_edit + FIXED.commit_s
    assert result.changes["cycle_s"].tolist() == pytest.approx([expected] * 5)
    assert FIXED.expected_cycle_s() == pytest.approx(expected)


def test_steps_add_up_to_cycle():
    result = simulate_inner_loop(InnerLoop(), changes=50, seed=2)
    per_change = result.steps.groupby(["developer", "change"])["duration_s"].sum()
    cycles = result.changes.set_index(["developer", "change"])["cycle_s"]
    assert per_change.sort_index().to_numpy() == pytest.approx(cycles.sort_index().to_numpy())


def test_fixed_wait_is_rebuild_and_tests():
    result = simulate_inner_loop(FIXED, changes=3, seed=1)
    expected_wait = FIXED.edits_per_change * (FIXED.reload_s + FIXED.test_suite_s)
    assert result.changes["wait_s"].tolist() == pytest.approx([expected_wait] * 3)
    assert result.summary()["wait_share"] == pytest.approx(expected_wait / FIXED.expected_cycle_s())


def test_retries_follow_geometric_mean():
    # Only the test outcomes are random. Test runs per change are a sum of 3
    # geometric counts with p = 0.25 (standard deviation 1.15), so over 2,000
    # changes the standard error of the mean is 0.6% and the 3% tolerance is
    # five standard errors.
    loop = InnerLoop(test_failure_probability=0.25, human_cv=0.0)
    summary = simulate_inner_loop(loop, changes=2000, seed=3).summary()
    expected_runs = loop.edits_per_change / (1 - 0.25)
    assert loop.expected_test_runs_per_edit() == pytest.approx(4 / 3)
    assert summary["mean_test_runs"] == pytest.approx(expected_runs, rel=0.03)


def test_mean_cycle_matches_closed_form():
    # Each failure adds 363 s, so the cycle's standard deviation is about
    # 420 s and the standard error over 2,000 changes is 0.4%. The 2%
    # tolerance is five standard errors.
    loop = InnerLoop(test_failure_probability=0.25, human_cv=0.0)
    summary = simulate_inner_loop(loop, changes=2000, seed=4).summary()
    assert summary["mean_cycle_s"] == pytest.approx(loop.expected_cycle_s(), rel=0.02)


def test_random_human_steps_match_closed_form():
    # Exponential human steps: the cycle's standard deviation is about 1,300 s,
    # so the standard error over 2,000 changes is 1.2% of the 2,412 s mean and
    # the 5% tolerance is four standard errors.
    loop = InnerLoop()
    summary = simulate_inner_loop(loop, changes=2000, seed=5).summary()
    assert summary["mean_cycle_s"] == pytest.approx(loop.expected_cycle_s(), rel=0.05)
    assert summary["wait_share"] == pytest.approx(loop.expected_wait_share(), rel=0.05)
    assert summary["changes_per_hour"] == pytest.approx(loop.expected_changes_per_hour(), rel=0.05)


# -- inner loop: comparisons ---------------------------------------------------


def test_hot_reload_saves_rebuilds_per_change():
    # Common random numbers: both loops see the same edits, debugging and test
    # outcomes, so each change differs by exactly its rebuilds times the saving.
    base = InnerLoop()
    hot = simulate_inner_loop(base, changes=100, seed=6).changes
    restart = simulate_inner_loop(InnerLoop(hot_reload=False), changes=100, seed=6).changes
    rebuilds = hot["edits"] + hot["test_failures"]
    saving = base.restart_s - base.reload_s
    assert (hot["test_failures"] == restart["test_failures"]).all()
    assert (restart["cycle_s"] - hot["cycle_s"]).to_numpy() == pytest.approx((rebuilds * saving).to_numpy())


def test_comparison_orders_scenarios():
    table = compare_inner_loops(changes=300, seed=7)
    assert list(table.index) == ["hot reload", "full restart", "slow tests", "no debugger"]
    hot = table.loc["hot reload"]
    assert hot["mean_cycle_s"] < table.loc["full restart", "mean_cycle_s"]
    assert hot["wait_share"] < table.loc["full restart", "wait_share"]
    assert table.loc["slow tests", "changes_per_hour"] < hot["changes_per_hour"]
    assert table.loc["slow tests", "wait_share"] > hot["wait_share"]
    assert table.loc["no debugger", "mean_cycle_s"] > hot["mean_cycle_s"]


def test_scenarios_change_one_setting():
    base = InnerLoop(edit_s=120.0)
    scenarios = inner_loop_scenarios(base, slow_test_suite_s=240.0)
    assert scenarios["full restart"].hot_reload is False
    assert scenarios["slow tests"].test_suite_s == 240.0
    assert scenarios["no debugger"].debugger is False
    assert all(loop.edit_s == 120.0 for loop in scenarios.values())


def test_same_seed_same_changes():
    first = simulate_inner_loop(InnerLoop(), changes=30, developers=2, seed=8).changes
    second = simulate_inner_loop(InnerLoop(), changes=30, developers=2, seed=8).changes
    other = simulate_inner_loop(InnerLoop(), changes=30, developers=2, seed=9).changes
    assert first.equals(second)
    assert not first["cycle_s"].equals(other["cycle_s"])


def test_duration_and_workday_limit_changes():
    workday_s = 8 * HOUR_S
    result = simulate_inner_loop(InnerLoop(), developers=3, duration_s=3 * DAY_S, workday_s=workday_s, seed=10)
    changes = result.changes
    assert len(changes) > 0
    assert (changes["end_s"] <= 3 * DAY_S).all()
    assert ((changes["start_s"] % DAY_S) < workday_s).all()
    assert sorted(changes["developer"].unique()) == [0, 1, 2]


def test_from_profile_reads_app_settings():
    development = InnerLoop.from_profile("development")
    production = InnerLoop.from_profile("production", edit_s=60.0)
    assert (development.hot_reload, development.debugger) == (True, True)
    assert (production.hot_reload, production.debugger) == (False, False)
    assert production.edit_s == 60.0


@pytest.mark.parametrize(
    "field, value",
    [
        ("test_failure_probability", 1.0),
        ("test_failure_probability", -0.1),
        ("edits_per_change", 0),
        ("edits_per_change", 2.5),
        ("edit_s", 0.0),
        ("reload_s", -1.0),
        ("debug_s", math.inf),
        ("human_cv", math.nan),
        ("hot_reload", "yes"),
    ],
)
def test_inner_loop_rejects_invalid_value(field, value):
    with pytest.raises(ValueError, match=field):
        InnerLoop(**{field: value})


def test_inner_loop_error_suggests_fix():
    with pytest.raises(ValueError, match="no change is ever committed"):
        InnerLoop(test_failure_probability=1.0)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"changes": 0}, "changes"),
        ({"duration_s": -1.0}, "duration_s"),
        ({"developers": 0}, "developers"),
        ({"workday_s": 0.0}, "workday_s"),
        ({"workday_s": 2 * DAY_S}, "workday_s"),
    ],
)
def test_simulate_inner_loop_rejects_invalid_run(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        simulate_inner_loop(InnerLoop(), **kwargs)


# -- delivery metrics ----------------------------------------------------------


def test_good_releases_never_fail():
    result = simulate_delivery(pipeline(release_mix={"good": 1.0}), commits_per_hour=2.0,
                               duration_s=2 * DAY_S, seed=1, cache=CACHE)
    metrics = result.metrics
    assert metrics["deployments"] > 50
    assert metrics["change_failure_rate"] == 0.0
    assert math.isnan(metrics["time_to_restore_s"])
    assert not result.deployments["failed"].any()


def test_lead_time_is_ci_plus_rollout():
    # Commits an hour apart never wait for one another.
    good = pipeline(release_mix={"good": 1.0}, ci_s=600.0)
    result = simulate_delivery(good, commits=[0.0, HOUR_S, 2 * HOUR_S], duration_s=DAY_S, seed=1, cache=CACHE)
    rollout_s = result.outcomes.loc["good", "duration_s"]
    assert result.metrics["deployments"] == 3
    assert result.changes["lead_time_s"].tolist() == pytest.approx([600.0 + rollout_s] * 3)


def test_frequency_follows_batch_interval():
    # Batches every 6 hours over 2 days: slots at 6, 12, ..., 42 hours.
    batched = pipeline(release_mix={"good": 1.0}, batch_interval_s=6 * HOUR_S)
    result = simulate_delivery(batched, commits_per_hour=4.0, duration_s=2 * DAY_S, seed=2, cache=CACHE)
    starts = result.deployments["start_s"]
    assert result.metrics["deployments"] == 7
    assert result.metrics["deployments_per_day"] == pytest.approx(3.5)
    assert (starts % (6 * HOUR_S) == 0).all()


def test_every_change_deploys_when_spaced():
    result = simulate_delivery(pipeline(release_mix={"good": 1.0}), commits=[0.0, 7200.0, 14400.0, 21600.0],
                               duration_s=DAY_S, seed=3, cache=CACHE)
    assert result.metrics["deployments"] == 4
    assert result.metrics["changes_per_deployment"] == 1.0


def test_batching_lengthens_lead_time():
    scenarios = {
        "per change": pipeline(release_mix={"good": 1.0}),
        "daily": pipeline(release_mix={"good": 1.0}, batch_interval_s=DAY_S),
    }
    results = compare_delivery(scenarios, commits_per_hour=3.0, duration_s=4 * DAY_S, seed=4)
    table = delivery_table(results)
    assert table.loc["per change", "lead_time_h"] < table.loc["daily", "lead_time_h"]
    assert table.loc["per change", "deployments_per_day"] > table.loc["daily", "deployments_per_day"]
    assert table.loc["daily", "deployments"] == 3


def test_automatic_rollback_restores_faster():
    mix = {"good": 0.5, "error-rate": 0.5}
    scenarios = {"analysis": pipeline(release_mix=mix), "none": pipeline(release_mix=mix, rollback="none")}
    results = compare_delivery(scenarios, commits_per_hour=1.0, duration_s=3 * DAY_S, seed=5)
    automatic = results["analysis"]
    manual = results["none"]
    assert automatic.metrics["failed_deployments"] > 5
    assert manual.metrics["failed_deployments"] > 5
    assert automatic.metrics["time_to_restore_s"] < manual.metrics["time_to_restore_s"]
    assert automatic.deployments.loc[automatic.deployments["failed"], "automatic"].all()
    assert not manual.deployments["automatic"].any()


def test_automatic_restore_time_comes_from_rollout():
    mix = {"good": 0.5, "error-rate": 0.5}
    result = simulate_delivery(pipeline(release_mix=mix), commits_per_hour=1.0, duration_s=DAY_S, seed=6,
                               cache=CACHE)
    outcome = result.outcomes.loc["error-rate"]
    expected = outcome["restored_after_s"] - outcome["detected_after_s"]
    assert outcome["rolled_back"]
    assert result.metrics["time_to_restore_s"] == pytest.approx(expected)


def test_failure_rate_matches_mix():
    # 2,000 changes half an hour apart, 30% of deployments bad. The changes of a
    # failed deployment are deployed again, so there are about 2,900
    # deployments and the standard error of the rate is under 1%.
    mix = {"good": 0.7, "error-rate": 0.3}
    result = simulate_delivery(pipeline(release_mix=mix), commits=np.arange(2000) * 1800.0,
                               duration_s=2000 * 1800.0, seed=7, cache=CACHE)
    assert result.metrics["deployments"] > 2000
    assert result.metrics["change_failure_rate"] == pytest.approx(0.3, abs=0.04)


def test_change_risk_makes_batches_fail_more():
    mix = {"good": 0.95, "error-rate": 0.05}
    scenarios = {
        "per change": pipeline(release_mix=mix, mix_applies_to="change"),
        "daily": pipeline(release_mix=mix, mix_applies_to="change", batch_interval_s=DAY_S),
    }
    results = compare_delivery(scenarios, commits_per_hour=1.0, duration_s=20 * DAY_S, seed=8)
    per_change = results["per change"].metrics["change_failure_rate"]
    daily = results["daily"].metrics["change_failure_rate"]
    # A day's batch of about 24 changes is clean with probability 0.95 ** 24 = 0.29.
    assert per_change < 0.15
    assert daily > 0.5


def test_failed_changes_deploy_later():
    mix = {"good": 0.5, "error-rate": 0.5}
    result = simulate_delivery(pipeline(release_mix=mix, rollback="none"), commits_per_hour=1.0,
                               duration_s=2 * DAY_S, seed=9, cache=CACHE)
    retried = result.changes[result.changes["attempts"] > 1]
    assert len(retried) > 0
    # A retried change waits at least for the manual restore, the fix and CI again.
    assert (retried["lead_time_s"] > result.pipeline.fix_s + 2 * result.pipeline.ci_s).all()


def test_outcomes_classify_releases():
    outcomes = rollout_outcomes(pipeline(rollback="none"), ["good", "error-rate"], seed=0, cache=CACHE)
    assert not outcomes.loc["good", "failed"]
    assert outcomes.loc["error-rate", "failed"]
    assert "requests failed" in outcomes.loc["error-rate", "failure_reason"]
    assert not outcomes.loc["error-rate", "automatic"]


def test_delivery_same_seed_same_metrics():
    mix = {"good": 0.8, "error-rate": 0.2}
    first = simulate_delivery(pipeline(release_mix=mix, rollback="none"), commits_per_hour=2.0,
                              duration_s=DAY_S, seed=10, cache=CACHE)
    second = simulate_delivery(pipeline(release_mix=mix, rollback="none"), commits_per_hour=2.0,
                               duration_s=DAY_S, seed=10, cache=CACHE)
    # Series.equals counts NaN (an undefined metric) as equal to NaN.
    assert pd.Series(first.metrics).equals(pd.Series(second.metrics))
    assert first.deployments.equals(second.deployments)


def test_inner_loop_feeds_delivery():
    team = simulate_inner_loop(InnerLoop(), developers=2, duration_s=DAY_S, workday_s=8 * HOUR_S, seed=11)
    result = simulate_delivery(pipeline(release_mix={"good": 1.0}), commits=team, seed=11, cache=CACHE)
    assert result.duration_s == DAY_S
    assert result.metrics["changes"] == len(team.changes)
    assert result.metrics["undeployed_changes"] == 0


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"release_mix": {"good": 0.5, "error-rate": 0.4}}, "sum to 1"),
        ({"release_mix": {"good": 0.5, "broken": 0.5}}, "unknown release kinds"),
        ({"release_mix": {"good": 1.5, "error-rate": -0.5}}, ">= 0"),
        ({"batch_interval_s": 0.0}, "batch_interval_s"),
        ({"mix_applies_to": "team"}, "mix_applies_to"),
        ({"max_failed_ratio": 1.0}, "max_failed_ratio"),
        ({"manual_restore_s": 0.0}, "manual_restore_s"),
        ({"ci_s": -1.0}, "ci_s"),
        ({"replicas": 0}, "replicas"),
        ({"rollback": "sometimes"}, "rollback mode"),
        ({"rollback": RollbackPolicy("manual", manual_at_s=60.0)}, "every release"),
    ],
)
def test_pipeline_rejects_invalid_value(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        DeliveryPipeline(**kwargs)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({}, "no commits"),
        ({"commits": [0.0], "commits_per_hour": 1.0, "duration_s": DAY_S}, "not both"),
        ({"commits": [0.0, 10.0]}, "duration_s is missing"),
        ({"commits_per_hour": -1.0, "duration_s": DAY_S}, "commits_per_hour"),
        ({"commits": [-5.0], "duration_s": DAY_S}, "commit times"),
    ],
)
def test_delivery_rejects_invalid_commits(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        simulate_delivery(pipeline(release_mix={"good": 1.0}), cache=CACHE, **kwargs)


def test_delivery_rejects_missing_outcome():
    outcomes = rollout_outcomes(pipeline(release_mix={"good": 1.0}), seed=0, cache=CACHE)
    with pytest.raises(ValueError, match="error-rate"):
        simulate_delivery(pipeline(release_mix={"good": 0.5, "error-rate": 0.5}), commits=[0.0],
                          duration_s=DAY_S, outcomes=outcomes)


def test_docstring_examples_run():
    import doctest

    import devsim.devloop

    failures, tried = doctest.testmod(devsim.devloop)
    assert tried > 0
    assert failures == 0
