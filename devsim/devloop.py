"""The development workflow: one developer's inner loop, and a team's delivery metrics.

The development workflow of the architecture is five steps: make code changes,
let auto-reload trigger a rebuild, run the unit tests, check the console logs,
commit when ready. A developer goes round that loop many times a day, so
seconds lost in each round add up to hours.

**The inner loop.** :func:`simulate_inner_loop` runs one SimPy process per
developer. A *change* (one commit) takes :attr:`InnerLoop.edits_per_change`
rounds of: edit the code, rebuild (a hot reload, or a full restart when hot
reload is off), run the unit tests, read the console logs. A failing test run
sends the developer into debugging (faster with a debugger attached), then a
rebuild and another test run, until the tests pass. After the last round the
developer commits. The results are the cycle time of each change, changes per
hour and the share of time spent waiting on tools (rebuilds and test runs).
:meth:`InnerLoop.expected_cycle_s` gives the mean cycle time in closed form,
and :func:`compare_inner_loops` sets hot reload, a slow test suite and the
debugger side by side.

**Delivery.** :func:`simulate_delivery` takes the team's commits (from the inner
loop, or a Poisson rate) through a pipeline: CI, then a deployment of every
change or of a batch every few hours, each deployment a rollout of
:func:`devsim.sim.deployment.simulate_rollout` whose release is drawn from a
mix of release qualities. The rollback policy decides what a bad release costs.
The result carries the four key metrics of the DORA research (deployment
frequency, lead time for changes, change failure rate, time to restore
service) and one row per deployment.

>>> loop = InnerLoop(test_failure_probability=0.0, human_cv=0.0)
>>> simulate_inner_loop(loop, changes=3, seed=1).changes["cycle_s"].tolist() == [loop.expected_cycle_s()] * 3
True
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import simpy

from devsim.profiles import Profile, load_profile
from devsim.sim.deployment import RELEASES, RollbackPolicy, RollingUpdate, simulate_rollout

__all__ = [
    "DAY_S",
    "DEFAULT_RELEASE_MIX",
    "DeliveryPipeline",
    "DeliveryResult",
    "HOUR_S",
    "InnerLoop",
    "InnerLoopResult",
    "RELEASE_SEVERITY",
    "compare_delivery",
    "compare_inner_loops",
    "delivery_table",
    "inner_loop_scenarios",
    "release_mix_with",
    "rollout_outcomes",
    "simulate_delivery",
    "simulate_inner_loop",
]

logger = logging.getLogger(__name__)

HOUR_S = 3600.0
DAY_S = 86400.0

# Step kinds: the developer works during a human step and waits during a tool step.
HUMAN = "human"
TOOL = "tool"

# Per-change columns that hold the time spent in each kind of step, in seconds.
STEP_COLUMNS = {
    "edit": "edit_s",
    "reload": "build_s",
    "restart": "build_s",
    "test": "test_s",
    "log check": "log_check_s",
    "debug": "debug_s",
    "commit": "commit_s",
}


# ---------------------------------------------------------------------------
# The inner loop


@dataclass(frozen=True)
class InnerLoop:
    """Timing of one developer's edit, rebuild, test and commit loop.

    Every default is a modelling assumption for a small Node.js service like
    the architecture's app server, meant to be changed. Times are in seconds.

    Attributes
    ----------
    edit_s
        Mean time to make one code edit (600: ten minutes of coding).
    edits_per_change
        Rounds of edit, rebuild and test before a change is ready to commit (3).
    hot_reload
        Whether saving a file reloads the running app in place, as the
        development profile does through the mounted code directory (True).
    reload_s
        Rebuild time with hot reload: the watcher restarts the Node.js process (3).
    restart_s
        Rebuild time without hot reload: rebuild the container image, restart
        the app and seed the test database again (60).
    test_suite_s
        One run of the unit test suite (30).
    test_failure_probability
        Chance that a test run fails, independently for every run (0.25). It
        must be below 1, or no change is ever committed.
    debugger
        Whether a debugger is attached, like Chrome DevTools on port 9229 in
        the development profile (True).
    debug_s
        Mean time to find and fix the cause of a failing test with the debugger (300).
    debug_without_debugger_s
        The same without a debugger, by adding log statements and rerunning (900).
    log_check_s
        Mean time to read the console logs after each test run (30).
    commit_s
        Mean time to review the diff, write the message and commit (60).
    human_cv
        Coefficient of variation of the human steps (edit, debug, log check,
        commit). Their times are gamma distributed with the means above: 1
        gives an exponential distribution and 0 fixed times (1.0).
    tool_cv
        Coefficient of variation of the tool steps (rebuild, test run), gamma
        distributed like the human steps. The default 0 makes them fixed,
        because a build or a test run takes about the same time every run.
    """

    edit_s: float = 600.0
    edits_per_change: int = 3
    hot_reload: bool = True
    reload_s: float = 3.0
    restart_s: float = 60.0
    test_suite_s: float = 30.0
    test_failure_probability: float = 0.25
    debugger: bool = True
    debug_s: float = 300.0
    debug_without_debugger_s: float = 900.0
    log_check_s: float = 30.0
    commit_s: float = 60.0
    human_cv: float = 1.0
    tool_cv: float = 0.0

    def __post_init__(self):
        problems = []
        for name in ("hot_reload", "debugger"):
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_)):
                problems.append(f"{name} must be True or False, got {value!r}")
        count = self.edits_per_change
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
            problems.append(f"edits_per_change must be a whole number >= 1, got {count!r}")

        if not _is_number(self.edit_s) or not math.isfinite(self.edit_s) or self.edit_s <= 0:
            problems.append(f"edit_s must be a finite number of seconds > 0, got {self.edit_s!r}")
        for name in ("reload_s", "restart_s", "test_suite_s", "debug_s", "debug_without_debugger_s",
                     "log_check_s", "commit_s", "human_cv", "tool_cv"):
            value = getattr(self, name)
            if not _is_number(value) or not math.isfinite(value) or value < 0:
                problems.append(f"{name} must be a finite number >= 0, got {value!r}")

        p = self.test_failure_probability
        if not _is_number(p) or not 0 <= p < 1:
            problems.append(
                f"test_failure_probability must be in [0, 1), got {p!r}; at 1 every test run fails and no "
                "change is ever committed, so use a value such as 0.25"
            )

        if problems:
            raise ValueError("invalid InnerLoop: " + "; ".join(problems))

    @classmethod
    def from_profile(cls, profile: Profile | str, **overrides: Any) -> InnerLoop:
        """Make a loop with hot reload and the debugger as an environment profile sets them.

        ``hot_reload`` comes from the profile's ``app.hot_reload``, and
        ``debugger`` is True when the profile opens a debugger port. Keyword
        arguments override any field.

        >>> InnerLoop.from_profile("production").hot_reload
        False
        """
        prof = load_profile(profile) if isinstance(profile, str) else profile
        settings = {"hot_reload": prof.app.hot_reload, "debugger": prof.app.debugger_port is not None}
        settings.update(overrides)
        return cls(**settings)

    @property
    def rebuild_s(self) -> float:
        """Mean rebuild time: ``reload_s`` with hot reload, else ``restart_s``."""
        return self.reload_s if self.hot_reload else self.restart_s

    @property
    def fix_s(self) -> float:
        """Mean time to debug and fix a failing test, with or without the debugger."""
        return self.debug_s if self.debugger else self.debug_without_debugger_s

    def expected_test_runs_per_edit(self) -> float:
        """Return the mean number of test runs per edit, ``1 / (1 - p)``.

        Test runs repeat until one passes, so their count is geometric with
        success probability ``1 - p``.
        """
        return 1.0 / (1.0 - self.test_failure_probability)

    def expected_cycle_s(self) -> float:
        """Return the mean cycle time of a change in closed form.

        Per edit: the edit, one rebuild, ``1 / (1 - p)`` test runs each followed
        by a log check, and ``p / (1 - p)`` failures each followed by debugging
        and a rebuild. A change is ``edits_per_change`` edits and a commit.
        """
        runs = self.expected_test_runs_per_edit()
        failures = runs - 1.0
        per_edit = (self.edit_s + self.rebuild_s + runs * (self.test_suite_s + self.log_check_s)
                    + failures * (self.fix_s + self.rebuild_s))
        return self.edits_per_change * per_edit + self.commit_s

    def expected_wait_s(self) -> float:
        """Return the mean time per change spent waiting on rebuilds and test runs."""
        runs = self.expected_test_runs_per_edit()
        return self.edits_per_change * (runs * self.rebuild_s + runs * self.test_suite_s)

    def expected_wait_share(self) -> float:
        """Return the long-run share of time spent waiting on tools.

        By the renewal-reward theorem it is the mean wait per change divided by
        the mean cycle time.
        """
        return self.expected_wait_s() / self.expected_cycle_s()

    def expected_changes_per_hour(self) -> float:
        """Return the long-run changes per hour of one developer, ``3600 / expected_cycle_s()``."""
        return HOUR_S / self.expected_cycle_s()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _draw(rng: np.random.Generator, mean: float, cv: float) -> float:
    """Draw a gamma-distributed time with ``mean`` and coefficient of variation ``cv``.

    A zero mean or ``cv`` returns ``mean`` without using the generator.
    """
    if mean == 0 or cv == 0:
        return float(mean)
    shape = 1.0 / (cv * cv)
    return float(rng.gamma(shape, mean / shape))


@dataclass
class InnerLoopResult:
    """The changes that developers committed in one run of the inner loop.

    Attributes
    ----------
    loop
        The :class:`InnerLoop` that was simulated.
    changes
        One row per committed change: ``developer``, ``change`` (its number for
        that developer), ``start_s``, ``end_s`` (the commit), ``cycle_s``,
        ``edits``, ``test_runs`` and ``test_failures``. The time in each kind
        of step follows (``edit_s``, ``build_s``, ``test_s``, ``log_check_s``,
        ``debug_s``, ``commit_s``), then ``wait_s``, the time spent waiting on
        rebuilds and test runs.
    steps
        One row per step of the committed changes: ``developer``, ``change``,
        ``step`` (edit, reload, restart, test, log check, debug, commit),
        ``kind`` (human or tool), ``start_s``, ``end_s``, ``duration_s``.
    developers
        Number of developers.
    duration_s
        Simulated time: the ``duration_s`` of the run, or when the last change was committed.
    seed
        Seed of the random generator.
    """

    loop: InnerLoop
    changes: pd.DataFrame
    steps: pd.DataFrame
    developers: int
    duration_s: float
    seed: int | None

    def summary(self) -> dict[str, Any]:
        """Return the cycle time statistics, changes per hour and the wait share.

        ``changes_per_hour`` is per developer and per hour of work: committed
        changes divided by the time spent on them, so time outside the working
        day does not count. ``wait_share`` is the time waiting on tools divided
        by the time spent on changes. Both are NaN when no change was committed.
        """
        changes = self.changes
        count = len(changes)
        busy_s = float(changes["cycle_s"].sum())
        cycle = changes["cycle_s"]
        nan = math.nan
        return {
            "changes": count,
            "developers": self.developers,
            "mean_cycle_s": float(cycle.mean()) if count else nan,
            "p50_cycle_s": float(cycle.quantile(0.5)) if count else nan,
            "p90_cycle_s": float(cycle.quantile(0.9)) if count else nan,
            "max_cycle_s": float(cycle.max()) if count else nan,
            "changes_per_hour": count * HOUR_S / busy_s if busy_s > 0 else nan,
            "wait_share": float(changes["wait_s"].sum()) / busy_s if busy_s > 0 else nan,
            "mean_test_runs": float(changes["test_runs"].mean()) if count else nan,
            "expected_cycle_s": self.loop.expected_cycle_s(),
            "expected_wait_share": self.loop.expected_wait_share(),
        }


def simulate_inner_loop(
    loop: InnerLoop | None = None,
    *,
    changes: int | None = None,
    duration_s: float | None = None,
    developers: int = 1,
    workday_s: float | None = None,
    seed: int | None = 0,
) -> InnerLoopResult:
    """Simulate developers going round the inner loop, one SimPy process each.

    Parameters
    ----------
    loop
        Step times and probabilities (default: ``InnerLoop()``).
    changes
        Changes each developer commits before stopping. Without ``changes``
        and ``duration_s``, each developer commits 200.
    duration_s
        Simulated time. A change still open at the end is not committed and
        does not appear in the result. With ``changes`` too, each developer
        stops at whichever limit comes first.
    developers
        Developers working at the same time, each on their own changes.
    workday_s
        If set, developers start a change only in the first ``workday_s`` of
        each 24-hour day, beginning at time 0; a change started before the end
        of the day is finished, then they wait for the next day.
    seed
        Seed of the random generator. Each developer gets child generators for
        edits, debugging, test outcomes and tool times, so two loops that
        differ only in step times see the same test outcomes (common random
        numbers).

    Returns
    -------
    InnerLoopResult
        The committed changes and their steps.

    Raises
    ------
    ValueError
        If ``changes``, ``duration_s``, ``developers`` or ``workday_s`` is out of range.
    """
    loop = InnerLoop() if loop is None else loop
    if not isinstance(loop, InnerLoop):
        raise TypeError(f"loop must be an InnerLoop, got {type(loop).__name__}")
    if changes is None and duration_s is None:
        changes = 200
    if changes is not None and (isinstance(changes, bool) or int(changes) != changes or changes < 1):
        raise ValueError(f"changes must be a whole number >= 1 per developer, got {changes!r}")
    if duration_s is not None and not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"duration_s must be a finite number of seconds > 0, got {duration_s!r}")
    if isinstance(developers, bool) or int(developers) != developers or developers < 1:
        raise ValueError(f"developers must be a whole number >= 1, got {developers!r}")
    if workday_s is not None and not 0 < workday_s <= DAY_S:
        raise ValueError(f"workday_s must be in (0, {DAY_S:g}] seconds, got {workday_s!r}; use 8 * 3600 for 8 hours")

    env = simpy.Environment()
    rng = np.random.default_rng(seed)
    change_rows: list[dict] = []
    step_rows: list[tuple] = []
    limit = None if changes is None else int(changes)
    for developer, developer_rng in enumerate(rng.spawn(int(developers))):
        env.process(_developer(env, loop, developer, developer_rng, limit, workday_s, change_rows, step_rows))
    env.run(until=duration_s)

    changes_frame = _changes_frame(change_rows)
    steps_frame = pd.DataFrame(step_rows, columns=["developer", "change", "step", "kind", "start_s", "end_s"])
    steps_frame["duration_s"] = steps_frame["end_s"] - steps_frame["start_s"]
    steps_frame = steps_frame.sort_values(["developer", "change", "start_s"], kind="stable", ignore_index=True)
    simulated = float(duration_s) if duration_s is not None else float(env.now)
    logger.info("inner loop: %d developers committed %d changes in %.0f s", developers, len(changes_frame), simulated)
    return InnerLoopResult(loop, changes_frame, steps_frame, int(developers), simulated, seed)


def _changes_frame(rows: list[dict]) -> pd.DataFrame:
    columns = ["developer", "change", "start_s", "end_s", "cycle_s", "edits", "test_runs", "test_failures",
               *dict.fromkeys(STEP_COLUMNS.values()), "wait_s"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["end_s", "developer"], kind="stable", ignore_index=True)


def _developer(env: simpy.Environment, loop: InnerLoop, developer: int, rng: np.random.Generator,
               limit: int | None, workday_s: float | None, change_rows: list, step_rows: list):
    """Run one developer's changes; a change is recorded only once it is committed."""
    edit_rng, debug_rng, outcome_rng, tool_rng = rng.spawn(4)
    rebuild_step = "reload" if loop.hot_reload else "restart"
    index = 0
    while limit is None or index < limit:
        if workday_s is not None:
            yield env.timeout(_until_workday(env.now, workday_s))

        start = env.now
        steps: list[tuple] = []
        totals = dict.fromkeys(STEP_COLUMNS.values(), 0.0)

        def step(name: str, kind: str, duration: float):
            began = env.now
            yield env.timeout(duration)
            steps.append((developer, index, name, kind, began, env.now))
            totals[STEP_COLUMNS[name]] += env.now - began

        test_runs = failures = 0
        for _ in range(loop.edits_per_change):
            yield from step("edit", HUMAN, _draw(edit_rng, loop.edit_s, loop.human_cv))
            yield from step(rebuild_step, TOOL, _draw(tool_rng, loop.rebuild_s, loop.tool_cv))
            while True:
                yield from step("test", TOOL, _draw(tool_rng, loop.test_suite_s, loop.tool_cv))
                test_runs += 1
                yield from step("log check", HUMAN, _draw(edit_rng, loop.log_check_s, loop.human_cv))
                if outcome_rng.random() >= loop.test_failure_probability:
                    break
                failures += 1
                yield from step("debug", HUMAN, _draw(debug_rng, loop.fix_s, loop.human_cv))
                yield from step(rebuild_step, TOOL, _draw(tool_rng, loop.rebuild_s, loop.tool_cv))
        yield from step("commit", HUMAN, _draw(edit_rng, loop.commit_s, loop.human_cv))

        change_rows.append({
            "developer": developer,
            "change": index,
            "start_s": start,
            "end_s": env.now,
            "cycle_s": env.now - start,
            "edits": loop.edits_per_change,
            "test_runs": test_runs,
            "test_failures": failures,
            **totals,
            "wait_s": totals["build_s"] + totals["test_s"],
        })
        step_rows.extend(steps)
        index += 1


def _until_workday(now: float, workday_s: float) -> float:
    """Return the wait from ``now`` until the working day is open (0 during working hours)."""
    # The small slack keeps a time that float rounding put just before midnight in the next day.
    day = math.floor(now / DAY_S + 1e-9)
    if now - day * DAY_S < workday_s:
        return 0.0
    return max((day + 1) * DAY_S - now, 0.0)


def inner_loop_scenarios(base: InnerLoop | None = None, slow_test_suite_s: float = 300.0) -> dict[str, InnerLoop]:
    """Return the loops that :func:`compare_inner_loops` sets side by side.

    ``hot reload`` is ``base`` with hot reload on, ``full restart`` with it
    off, ``slow tests`` has hot reload and a ``slow_test_suite_s`` test suite,
    and ``no debugger`` has hot reload but no debugger.
    """
    base = InnerLoop() if base is None else base
    return {
        "hot reload": replace(base, hot_reload=True),
        "full restart": replace(base, hot_reload=False),
        "slow tests": replace(base, hot_reload=True, test_suite_s=slow_test_suite_s),
        "no debugger": replace(base, hot_reload=True, debugger=False),
    }


def compare_inner_loops(
    scenarios: Mapping[str, InnerLoop] | None = None,
    *,
    changes: int = 400,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Simulate several inner loops on the same random numbers and tabulate them.

    Parameters
    ----------
    scenarios
        Loops by name (default: :func:`inner_loop_scenarios`).
    changes
        Changes one developer commits in each loop.
    seed
        One seed for every loop, so that they share edit times, debugging
        times and test outcomes, and differences come from the settings.

    Returns
    -------
    pandas.DataFrame
        One row per loop, indexed by name: the simulated cycle time (mean,
        p50, p90), the closed-form mean, changes per hour, the wait share
        simulated and in closed form, and the mean test runs per change.
    """
    scenarios = inner_loop_scenarios() if scenarios is None else scenarios
    if not scenarios:
        raise ValueError("scenarios is empty; give at least one InnerLoop by name")
    rows = {}
    for name, loop in scenarios.items():
        summary = simulate_inner_loop(loop, changes=changes, seed=seed).summary()
        rows[name] = {
            "mean_cycle_s": summary["mean_cycle_s"],
            "expected_cycle_s": summary["expected_cycle_s"],
            "p50_cycle_s": summary["p50_cycle_s"],
            "p90_cycle_s": summary["p90_cycle_s"],
            "changes_per_hour": summary["changes_per_hour"],
            "wait_share": summary["wait_share"],
            "expected_wait_share": summary["expected_wait_share"],
            "mean_test_runs": summary["mean_test_runs"],
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "loop"
    return table


# ---------------------------------------------------------------------------
# Delivery: from commits to production, and the four key metrics

# Probability of each release kind of devsim.sim.deployment.RELEASES, for one
# deployment (or one change). An assumption: nine in ten releases are good,
# and each way of going wrong is rarer.
DEFAULT_RELEASE_MIX = {
    "good": 0.90,
    "error-rate": 0.03,
    "crash-loop": 0.02,
    "not-ready": 0.01,
    "slow": 0.02,
    "memory-leak": 0.02,
}

# When the release mix applies to changes, the worst change of a deployment
# decides its release kind. Pods that crash or never become ready serve no
# requests, so those faults hide the ones that show only in served requests.
RELEASE_SEVERITY = ("crash-loop", "not-ready", "error-rate", "slow", "memory-leak", "good")


def release_mix_with(bad_share: float, base: Mapping[str, float] | None = None) -> dict[str, float]:
    """Return a release mix in which ``bad_share`` of releases are bad.

    The bad kinds keep their proportions from ``base`` (default:
    :data:`DEFAULT_RELEASE_MIX`), and ``good`` gets the rest.

    >>> release_mix_with(0.01)["good"]
    0.99
    """
    base = DEFAULT_RELEASE_MIX if base is None else base
    if not _is_number(bad_share) or not 0 <= bad_share <= 1:
        raise ValueError(f"bad_share must be a probability in [0, 1], got {bad_share!r}")
    problems = _release_mix_problems(base)
    if problems:
        raise ValueError("invalid base mix: " + "; ".join(problems))
    bad = {kind: probability for kind, probability in base.items() if kind != "good"}
    total = sum(bad.values())
    if total == 0 and bad_share > 0:
        raise ValueError("the base mix has no bad release kinds to scale; give one with a kind other than 'good'")
    mix = {"good": 1.0 - bad_share}
    for kind, probability in bad.items():
        mix[kind] = bad_share * probability / total if total else 0.0
    return mix


def _default_rollback() -> RollbackPolicy:
    return RollbackPolicy("analysis", max_p95_s=0.5)


@dataclass(frozen=True)
class DeliveryPipeline:
    """How commits reach production, and what counts as a failed deployment.

    Times are in seconds; every default is a modelling assumption.

    Attributes
    ----------
    ci_s
        CI time of a commit: build, tests and image push (600).
    batch_interval_s
        ``None`` deploys as soon as a change has passed CI and no deployment is
        running, taking every change that is waiting. A number deploys every
        waiting change at each multiple of it, so ``86400`` is a nightly
        deployment at midnight. A deployment still running at that time makes
        the pipeline skip that slot.
    release_mix
        Probability of each release kind (a name in
        :data:`devsim.sim.deployment.RELEASES`); they must sum to 1.
    mix_applies_to
        ``"deployment"`` draws one release kind per deployment. ``"change"``
        draws one per change, and a deployment gets the worst kind of its
        changes (in :data:`RELEASE_SEVERITY` order), so larger batches fail
        more often.
    strategy
        The rollout strategy (default: ``RollingUpdate()``).
    rollback
        The rollback policy of :func:`~devsim.sim.deployment.simulate_rollout`
        (default: analysis with a 0.5 s p95 latency limit, so that a slow
        release is rolled back too). ``"none"`` leaves every failure to people.
    max_failed_ratio
        A deployment that was not rolled back fails when more than this share
        of requests after its start fail (0.01).
    max_p95_latency_s
        ... or when the p95 latency of successful requests after its start is
        above this (0.5, ten times the production profile's mean service
        time); ``None`` leaves latency out.
    manual_detection_s
        Mean time until people notice a failure that no automatic rollback
        caught: an alert, a dashboard or a customer (1800). Exponential.
    manual_restore_s
        Mean time from that detection until people have rolled back by hand (3600). Exponential.
    fix_s
        Time from the restore until the changes of a failed deployment are
        fixed; they then go through CI again and wait for the next deployment (3600).
    profile, replicas, request_rate, observe_s
        The service each rollout runs on: environment profile, desired
        replicas, Poisson request rate (requests per second) and how long
        traffic is watched after the rollout starts.
    """

    ci_s: float = 600.0
    batch_interval_s: float | None = None
    release_mix: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_RELEASE_MIX))
    mix_applies_to: str = "deployment"
    strategy: Any = field(default_factory=RollingUpdate)
    rollback: RollbackPolicy | str = field(default_factory=_default_rollback)
    max_failed_ratio: float = 0.01
    max_p95_latency_s: float | None = 0.5
    manual_detection_s: float = 1800.0
    manual_restore_s: float = 3600.0
    fix_s: float = 3600.0
    profile: str = "production"
    replicas: int = 8
    request_rate: float = 120.0
    observe_s: float = 900.0

    def __post_init__(self):
        problems = []

        for name in ("ci_s", "fix_s"):
            value = getattr(self, name)
            if not _is_number(value) or not math.isfinite(value) or value < 0:
                problems.append(f"{name} must be a finite number of seconds >= 0, got {value!r}")
        for name in ("manual_detection_s", "manual_restore_s", "request_rate", "observe_s"):
            value = getattr(self, name)
            if not _is_number(value) or not math.isfinite(value) or value <= 0:
                problems.append(f"{name} must be a finite number > 0, got {value!r}")

        interval = self.batch_interval_s
        if interval is not None and (not _is_number(interval) or not math.isfinite(interval) or interval <= 0):
            problems.append(
                f"batch_interval_s must be None (deploy every change) or a number of seconds > 0, got {interval!r}"
            )
        if self.mix_applies_to not in ("deployment", "change"):
            problems.append(f"mix_applies_to must be 'deployment' or 'change', got {self.mix_applies_to!r}")
        problems.extend(_release_mix_problems(self.release_mix))

        if not _is_number(self.max_failed_ratio) or not 0 <= self.max_failed_ratio < 1:
            problems.append(f"max_failed_ratio must be in [0, 1), got {self.max_failed_ratio!r}")
        latency = self.max_p95_latency_s
        if latency is not None and (not _is_number(latency) or latency <= 0):
            problems.append(f"max_p95_latency_s must be None or a number of seconds > 0, got {latency!r}")

        if isinstance(self.replicas, bool) or not isinstance(self.replicas, (int, np.integer)) or self.replicas < 1:
            problems.append(f"replicas must be a whole number >= 1, got {self.replicas!r}")
        if isinstance(self.rollback, str):
            try:
                RollbackPolicy(self.rollback)
            except ValueError as exc:
                problems.append(str(exc))
        mode = self.rollback if isinstance(self.rollback, str) else getattr(self.rollback, "mode", None)
        if mode == "manual":
            problems.append(
                "rollback mode 'manual' rolls back every release, good or bad, at a fixed time; use 'none' and "
                "set manual_detection_s and manual_restore_s to model people rolling back a failure"
            )

        if problems:
            raise ValueError("invalid DeliveryPipeline: " + "; ".join(problems))

    def _policy(self) -> RollbackPolicy:
        return RollbackPolicy(self.rollback) if isinstance(self.rollback, str) else self.rollback

    def release_kinds(self) -> list[str]:
        """Return the release kinds with a probability above 0, in :data:`RELEASE_SEVERITY` order."""
        return [kind for kind in RELEASE_SEVERITY if self.release_mix.get(kind, 0.0) > 0]


def _release_mix_problems(mix: Any) -> list[str]:
    if not isinstance(mix, Mapping) or not mix:
        return [f"release_mix must be a non-empty dict of release kind -> probability, got {mix!r}"]
    problems = []
    unknown = [kind for kind in mix if kind not in RELEASES]
    if unknown:
        problems.append(f"release_mix has unknown release kinds {unknown}; choose from {', '.join(RELEASES)}")
    values = list(mix.values())
    if any(not _is_number(value) or not math.isfinite(value) or value < 0 for value in values):
        problems.append(f"release_mix probabilities must be finite numbers >= 0, got {dict(mix)}")
    elif not math.isclose(sum(values), 1.0, abs_tol=1e-6):
        problems.append(f"release_mix probabilities must sum to 1, got {sum(values):.6g}; scale them so they do")
    return problems


# Columns of rollout_outcomes, in order.
OUTCOME_COLUMNS = [
    "completed", "rolled_back", "rollback_reason", "failed", "failure_reason", "automatic",
    "duration_s", "detected_after_s", "restored_after_s", "failed_ratio", "p95_latency_s",
]


def rollout_outcomes(
    pipeline: DeliveryPipeline | None = None,
    kinds: Iterable[str] | None = None,
    *,
    seed: int | None = 0,
    cache: dict | None = None,
) -> pd.DataFrame:
    """Roll out each release kind once on the pipeline's service and classify the outcome.

    Parameters
    ----------
    pipeline
        Service, strategy, rollback policy and failure thresholds (default: ``DeliveryPipeline()``).
    kinds
        Release kinds to run (default: those with a probability above 0 in the pipeline's mix).
    seed
        Seed of every rollout.
    cache
        A dict that keeps rollout results between calls. Pipelines that share
        the service, strategy and rollback policy share their rollouts through it.

    Returns
    -------
    pandas.DataFrame
        One row per release kind, indexed by kind. ``failed`` is True when the
        rollout was rolled back, never completed, or after its start more than
        ``max_failed_ratio`` of requests failed or the p95 latency exceeded
        ``max_p95_latency_s``. ``automatic`` is True when an automatic
        rollback caught it. Times are seconds after the rollout start:
        ``duration_s`` until a rollout that was not rolled back completed,
        ``detected_after_s`` until the rollback started and
        ``restored_after_s`` until it completed. ``failed_ratio`` and
        ``p95_latency_s`` cover every request from the rollout start until
        traffic ends, ``observe_s`` later.
    """
    pipeline = DeliveryPipeline() if pipeline is None else pipeline
    kinds = pipeline.release_kinds() if kinds is None else list(kinds)
    rows = {}
    for kind in kinds:
        if kind not in RELEASES:
            raise ValueError(f"unknown release kind {kind!r}; choose one of {', '.join(RELEASES)}")
        rows[kind] = _classify(_rollout_measures(pipeline, kind, seed, cache), pipeline)
    table = pd.DataFrame.from_dict(rows, orient="index", columns=OUTCOME_COLUMNS)
    table.index.name = "release"
    return table


def _rollout_measures(pipeline: DeliveryPipeline, kind: str, seed: int | None, cache: dict | None) -> dict:
    """Run one rollout and return its summary plus the failed ratio and p95 latency after its start."""
    key = (kind, pipeline.profile, repr(pipeline.strategy), repr(pipeline._policy()), pipeline.replicas,
           pipeline.request_rate, pipeline.observe_s, seed)
    if cache is not None and key in cache:
        return cache[key]
    rollout = simulate_rollout(
        pipeline.profile,
        strategy=pipeline.strategy,
        release=kind,
        rollback=pipeline.rollback,
        replicas=pipeline.replicas,
        rate=pipeline.request_rate,
        max_duration_s=pipeline.observe_s,
        seed=seed,
    )
    measures = _rollout_events(rollout.result.events, kind)
    requests = rollout.result.requests
    # simulate_rollout counts failed requests only until the rollout completes,
    # which misses a bad release that completes and then keeps failing, so the
    # whole window after the start is measured here.
    after = requests[requests["arrival_s"] >= measures["started_s"]]
    ok = after.loc[after["status"] == "ok", "latency_s"]
    measures["window_failed_ratio"] = float((after["status"] != "ok").mean()) if len(after) else 0.0
    measures["window_p95_latency_s"] = float(ok.quantile(0.95)) if len(ok) else math.inf
    logger.info("rollout of %r with %s rollback: completed=%s rolled_back=%s", kind,
                pipeline._policy().mode, measures["completed"], measures["rolled_back"])
    if cache is not None:
        cache[key] = measures
    return measures


def _rollout_events(events: pd.DataFrame, kind: str) -> dict:
    """Read start, rollback and completion times of a rollout from its events."""
    # NOTE: read from the events, not RolloutResult.summary(): when traffic ends
    # while the rollout controller is still running (a stuck rollout, or analysis
    # still going on), the simulation stops before the controller writes its
    # report, and the summary lacks these keys.
    def first_time(event_kind: str) -> float | None:
        rows = events[events["kind"] == event_kind]
        return float(rows["time_s"].iloc[0]) if len(rows) else None

    started = first_time("rollout_started")
    if started is None:
        raise RuntimeError(f"the rollout of {kind!r} has no rollout_started event: traffic ended before it began")
    rollback = events[events["kind"] == "rollback_started"]
    rolled_back = len(rollback) > 0
    completed_s = first_time("rollback_completed" if rolled_back else "rollout_completed")
    return {
        "started_s": started,
        "completed": completed_s is not None,
        "completed_s": completed_s,
        "duration_s": completed_s - started if completed_s is not None else None,
        "rolled_back": rolled_back,
        "rollback_started_s": float(rollback["time_s"].iloc[0]) if rolled_back else None,
        "rollback_reason": str(rollback["reason"].iloc[0]) if rolled_back else None,
    }


def _classify(measures: dict, pipeline: DeliveryPipeline) -> dict:
    started = measures["started_s"]
    rolled_back = bool(measures["rolled_back"])
    completed = bool(measures["completed"])
    failed_ratio = measures["window_failed_ratio"]
    p95 = measures["window_p95_latency_s"]
    reason = None
    if rolled_back:
        reason = f"rolled back: {measures['rollback_reason']}"
    elif not completed:
        reason = "rollout did not complete"
    elif failed_ratio > pipeline.max_failed_ratio:
        reason = f"{failed_ratio:.1%} of requests failed (limit {pipeline.max_failed_ratio:.1%})"
    elif pipeline.max_p95_latency_s is not None and p95 > pipeline.max_p95_latency_s:
        reason = f"p95 latency {p95:.3f} s (limit {pipeline.max_p95_latency_s:g} s)"
    nan = math.nan
    return {
        "completed": completed,
        "rolled_back": rolled_back,
        "rollback_reason": measures["rollback_reason"],
        "failed": reason is not None,
        "failure_reason": reason,
        "automatic": rolled_back,
        "duration_s": measures["duration_s"] if completed and not rolled_back else nan,
        "detected_after_s": measures["rollback_started_s"] - started if rolled_back else nan,
        "restored_after_s": measures["completed_s"] - started if rolled_back and completed else nan,
        "failed_ratio": failed_ratio,
        "p95_latency_s": p95,
    }


@dataclass
class DeliveryResult:
    """A simulated stream of changes through CI and deployments, with the four key metrics.

    Attributes
    ----------
    pipeline
        The :class:`DeliveryPipeline` that was simulated.
    metrics
        The four key metrics and counts (see :func:`simulate_delivery`).
    deployments
        One row per deployment: ``deployment``, ``start_s``, ``end_s`` (when
        the next deployment may start), ``changes``, ``release``, ``failed``,
        ``failure_reason``, ``automatic`` (an automatic rollback caught it),
        ``detected_s``, ``restored_s``, ``time_to_restore_s`` (restored minus
        detected) and ``impact_s`` (restored minus start).
    changes
        One row per change: ``change``, ``commit_s``, ``deployed_s`` (when it
        was running in production after a successful deployment, NaN if
        never), ``lead_time_s``, ``attempts`` (deployments it was part of) and
        ``release`` (its drawn kind when the mix applies to changes).
    outcomes
        The rollout outcome of each release kind (:func:`rollout_outcomes`).
    duration_s
        The window in which commits and deployments count, in seconds.
    seed
        Seed of the random generator.
    """

    pipeline: DeliveryPipeline
    metrics: dict[str, Any]
    deployments: pd.DataFrame
    changes: pd.DataFrame
    outcomes: pd.DataFrame
    duration_s: float
    seed: int | None

    def summary(self) -> dict[str, Any]:
        """Return a copy of :attr:`metrics`."""
        return dict(self.metrics)


def simulate_delivery(
    pipeline: DeliveryPipeline | None = None,
    *,
    commits: InnerLoopResult | pd.DataFrame | Sequence[float] | None = None,
    commits_per_hour: float | None = None,
    duration_s: float | None = None,
    seed: int | None = 0,
    outcomes: pd.DataFrame | None = None,
    cache: dict | None = None,
) -> DeliveryResult:
    """Take a stream of commits through CI and deployments and measure the four key metrics.

    Each commit passes CI (``ci_s``) and waits for a deployment. One
    deployment runs at a time. Its release kind is drawn from the release mix,
    and the rollout outcome of that kind decides what happens:

    * success: the changes run in production once the rollout completes;
    * caught by an automatic rollback: the failure is detected when the
      rollback starts and service is restored when it completes;
    * not caught (the policy is ``none``, or the fault is one it does not
      measure): people detect it after an exponential time with mean
      ``manual_detection_s`` and restore service after another with mean
      ``manual_restore_s``.

    No deployment starts before service is restored. The changes of a failed
    deployment are fixed (``fix_s``), pass CI again and wait for the next
    deployment, so their lead time grows.

    The four key metrics follow the definitions of the DORA research and the
    book *Accelerate* (Forsgren, Humble and Kim, 2018), measured over the
    window ``[0, duration_s)``:

    * ``deployments_per_day``, deployment frequency: how often the team
      deploys to production. Every deployment that starts in the window
      counts, failed or not.
    * ``lead_time_s``, lead time for changes: the time from a change's commit
      until it runs successfully in production, the median over the changes
      committed in the window.
    * ``change_failure_rate``: the share of deployments that degrade service
      and need remediation (a rollback), here failed deployments divided by
      deployments.
    * ``time_to_restore_s``, time to restore service: how long it takes to
      restore service after a failure, here from its detection until service
      is restored, the median over failed deployments. The Four Keys project
      of the DORA team starts the clock earlier, at the incident report or at
      the deployment that caused it, whichever came first. That time is
      ``impact_s`` in the deployments frame.

    The lead time and time to restore are medians, as in Four Keys. A metric
    without data (no deployment, no failure) is NaN.

    To keep a run fast, the rollout of each release kind is simulated once
    with :func:`rollout_outcomes` and its outcome is reused for every
    deployment of that kind. So every deployment of one kind has the same
    rollout duration, detection and restore times when an automatic rollback
    catches it, and only the manual times vary.

    Parameters
    ----------
    pipeline
        The delivery pipeline (default: ``DeliveryPipeline()``).
    commits
        Commit times in seconds: an :class:`InnerLoopResult` (its changes'
        ``end_s``), a frame with an ``end_s`` column, or a sequence.
    commits_per_hour
        Instead of ``commits``, a Poisson stream of commits at this rate.
    duration_s
        The window. Commits after it are left out. Default: the inner loop
        result's ``duration_s``; required for other commit sources. The
        simulation goes on after the window until every change is deployed
        or two more days (or two batch intervals, if longer) have passed.
    seed
        Seed of the random generator of commits, release kinds and manual times.
    outcomes
        Rollout outcomes from :func:`rollout_outcomes` for this pipeline, to
        reuse them between runs. It must have a row for each kind in the mix.
    cache
        Passed to :func:`rollout_outcomes` when ``outcomes`` is not given.

    Returns
    -------
    DeliveryResult
        The metrics, the deployments and the changes.

    Raises
    ------
    ValueError
        If the commit source is missing or given twice, ``duration_s`` is
        missing or out of range, or ``outcomes`` lacks a release kind.
    """
    pipeline = DeliveryPipeline() if pipeline is None else pipeline
    rng = np.random.default_rng(seed)
    commit_rng, kind_rng, manual_rng = rng.spawn(3)
    commit_times, duration_s = _commit_times(commits, commits_per_hour, duration_s, commit_rng)

    kinds = pipeline.release_kinds()
    if outcomes is None:
        outcomes = rollout_outcomes(pipeline, kinds, seed=seed, cache=cache)
    missing = [kind for kind in kinds if kind not in outcomes.index]
    if missing:
        raise ValueError(f"outcomes has no row for release kinds {missing}; run rollout_outcomes(pipeline) for them")

    run = _DeliveryRun(pipeline, outcomes, commit_times, kinds, kind_rng, manual_rng)
    horizon = duration_s + max(2 * DAY_S, 2 * (pipeline.batch_interval_s or 0.0))
    run.env.run(until=run.env.any_of([run.all_deployed, run.env.timeout(horizon)]))

    deployments = pd.DataFrame(run.deployment_rows, columns=DEPLOYMENT_COLUMNS)
    changes = pd.DataFrame({
        "change": np.arange(len(commit_times)),
        "commit_s": commit_times,
        "deployed_s": run.deployed_s,
        "lead_time_s": run.deployed_s - commit_times,
        "attempts": run.attempts,
        "release": run.change_kinds,
    })
    metrics = _delivery_metrics(deployments, changes, duration_s)
    logger.info("delivery: %d deployments in %.1f days, change failure rate %.3f",
                metrics["deployments"], duration_s / DAY_S, metrics["change_failure_rate"])
    return DeliveryResult(pipeline, metrics, deployments, changes, outcomes, float(duration_s), seed)


DEPLOYMENT_COLUMNS = [
    "deployment", "start_s", "end_s", "changes", "release", "failed", "failure_reason", "automatic",
    "detected_s", "restored_s", "time_to_restore_s", "impact_s",
]


def _commit_times(commits, commits_per_hour, duration_s, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    if commits is not None and commits_per_hour is not None:
        raise ValueError("give either commits or commits_per_hour, not both")
    if commits is None and commits_per_hour is None:
        raise ValueError(
            "no commits: pass commits (an InnerLoopResult or commit times in seconds) or commits_per_hour"
        )
    if duration_s is None and isinstance(commits, InnerLoopResult):
        duration_s = commits.duration_s
    if duration_s is None:
        raise ValueError("duration_s is missing; give the window in seconds, such as 5 * 86400 for five days")
    if not _is_number(duration_s) or not math.isfinite(duration_s) or duration_s <= 0:
        raise ValueError(f"duration_s must be a finite number of seconds > 0, got {duration_s!r}")

    if commits_per_hour is not None:
        if not _is_number(commits_per_hour) or not math.isfinite(commits_per_hour) or commits_per_hour <= 0:
            raise ValueError(f"commits_per_hour must be a number > 0, got {commits_per_hour!r}")
        count = rng.poisson(commits_per_hour * duration_s / HOUR_S)
        times = np.sort(rng.uniform(0.0, duration_s, size=count))
    else:
        if isinstance(commits, InnerLoopResult):
            commits = commits.changes
        if isinstance(commits, pd.DataFrame):
            if "end_s" not in commits.columns:
                raise ValueError(f"commits frame has no 'end_s' column of commit times; columns: {list(commits.columns)}")
            commits = commits["end_s"]
        times = np.sort(np.asarray(commits, dtype=float))
        if times.size and (not np.isfinite(times).all() or times[0] < 0):
            raise ValueError("commit times must be finite numbers of seconds >= 0")
        late = int((times >= duration_s).sum())
        if late:
            logger.info("leaving out %d commits at or after duration_s = %g s", late, duration_s)
        times = times[times < duration_s]
    return times, float(duration_s)


class _DeliveryRun:
    """The SimPy model of CI and deployments for one :func:`simulate_delivery` call."""

    def __init__(self, pipeline: DeliveryPipeline, outcomes: pd.DataFrame, commit_times: np.ndarray,
                 kinds: list[str], kind_rng: np.random.Generator, manual_rng: np.random.Generator):
        self.env = simpy.Environment()
        self.pipeline = pipeline
        self.outcomes = outcomes
        self.kinds = kinds
        self.probabilities = np.array([pipeline.release_mix[kind] for kind in kinds], dtype=float)
        self.probabilities /= self.probabilities.sum()
        self.kind_rng = kind_rng
        self.manual_rng = manual_rng
        self.pending = simpy.Store(self.env)
        self.deployment_rows: list[dict] = []
        count = len(commit_times)
        self.deployed_s = np.full(count, math.nan)
        self.attempts = np.zeros(count, dtype=int)
        per_change = pipeline.mix_applies_to == "change"
        self.change_kinds = np.array([self._draw_kind() for _ in range(count)] if per_change else [None] * count,
                                     dtype=object)
        self.remaining = count
        self.all_deployed = self.env.event()
        if count == 0:
            self.all_deployed.succeed()
        for change, commit in enumerate(commit_times):
            self.env.process(self._ci(change, float(commit)))
        self.env.process(self._deployer())

    def _draw_kind(self) -> str:
        return self.kinds[int(self.kind_rng.choice(len(self.kinds), p=self.probabilities))]

    def _ci(self, change: int, ready_at: float):
        yield self.env.timeout(max(ready_at - self.env.now, 0.0) + self.pipeline.ci_s)
        yield self.pending.put(change)

    def _deployer(self):
        interval = self.pipeline.batch_interval_s
        while True:
            if interval is None:
                first = yield self.pending.get()
                batch = [first, *self._take_pending()]
            else:
                # The next multiple of the interval after now; a slot that passed during a deployment is skipped.
                slot = (math.floor(self.env.now / interval + 1e-9) + 1) * interval
                yield self.env.timeout(slot - self.env.now)
                batch = self._take_pending()
                if not batch:
                    continue
            yield from self._deploy(batch)

    def _take_pending(self) -> list[int]:
        items = list(self.pending.items)
        self.pending.items.clear()
        return items

    def _deploy(self, batch: list[int]):
        env = self.env
        start = env.now
        for change in batch:
            self.attempts[change] += 1
        if self.pipeline.mix_applies_to == "change":
            kind = min((self.change_kinds[change] for change in batch), key=RELEASE_SEVERITY.index)
        else:
            kind = self._draw_kind()
        outcome = self.outcomes.loc[kind]
        row = {"deployment": len(self.deployment_rows), "start_s": start, "changes": len(batch), "release": kind,
               "failed": bool(outcome["failed"]), "failure_reason": outcome["failure_reason"],
               "automatic": False, "detected_s": math.nan, "restored_s": math.nan,
               "time_to_restore_s": math.nan, "impact_s": math.nan}

        if not outcome["failed"]:
            yield env.timeout(float(outcome["duration_s"]))
            for change in batch:
                self.deployed_s[change] = env.now
            self.remaining -= len(batch)
            if self.remaining == 0 and not self.all_deployed.triggered:
                self.all_deployed.succeed()
            row["end_s"] = env.now
            self.deployment_rows.append(row)
            return

        if outcome["automatic"]:
            detected = start + float(outcome["detected_after_s"])
            restored_after = float(outcome["restored_after_s"])
            if math.isnan(restored_after):
                # The rollback started but did not complete while traffic was watched: people finish it.
                restored = detected + self.manual_rng.exponential(self.pipeline.manual_restore_s)
            else:
                restored = start + restored_after
            row["automatic"] = True
        else:
            detected = start + self.manual_rng.exponential(self.pipeline.manual_detection_s)
            restored = detected + self.manual_rng.exponential(self.pipeline.manual_restore_s)
        row.update(detected_s=detected, restored_s=restored, time_to_restore_s=restored - detected,
                   impact_s=restored - start, end_s=restored)
        self.deployment_rows.append(row)
        yield env.timeout(restored - start)

        if self.pipeline.mix_applies_to == "change":
            # Each fixed change is a new attempt, drawn again from the mix.
            for change in batch:
                if self.change_kinds[change] != "good":
                    self.change_kinds[change] = self._draw_kind()
        for change in batch:
            env.process(self._ci(change, env.now + self.pipeline.fix_s))


def _delivery_metrics(deployments: pd.DataFrame, changes: pd.DataFrame, duration_s: float) -> dict[str, Any]:
    in_window = deployments[deployments["start_s"] < duration_s]
    failed = in_window[in_window["failed"]]
    deployed = changes["lead_time_s"].dropna()
    count = len(in_window)
    nan = math.nan
    return {
        "deployments_per_day": count / (duration_s / DAY_S),
        "lead_time_s": float(deployed.median()) if len(deployed) else nan,
        "change_failure_rate": len(failed) / count if count else nan,
        "time_to_restore_s": float(failed["time_to_restore_s"].median()) if len(failed) else nan,
        "deployments": count,
        "failed_deployments": len(failed),
        "changes": len(changes),
        "undeployed_changes": int(changes["deployed_s"].isna().sum()),
        "changes_per_deployment": float(in_window["changes"].mean()) if count else nan,
        "p90_lead_time_s": float(deployed.quantile(0.9)) if len(deployed) else nan,
        "mean_impact_s": float(failed["impact_s"].mean()) if len(failed) else nan,
    }


def compare_delivery(
    scenarios: Mapping[str, DeliveryPipeline],
    *,
    commits: InnerLoopResult | pd.DataFrame | Sequence[float] | None = None,
    commits_per_hour: float | None = None,
    duration_s: float | None = None,
    seed: int | None = 0,
    cache: dict | None = None,
) -> dict[str, DeliveryResult]:
    """Run :func:`simulate_delivery` for each pipeline on the same commits and seed.

    Rollouts are shared: each (release kind, service, strategy, rollback
    policy) is simulated once for all the pipelines, and once for later calls
    that pass the same ``cache`` dict. Returns the results by scenario name,
    in the order given; :func:`delivery_table` lays them out.
    """
    if not scenarios:
        raise ValueError("scenarios is empty; give at least one DeliveryPipeline by name")
    cache = {} if cache is None else cache
    results = {}
    for name, pipeline in scenarios.items():
        logger.info("delivery scenario %r", name)
        results[name] = simulate_delivery(pipeline, commits=commits, commits_per_hour=commits_per_hour,
                                          duration_s=duration_s, seed=seed, cache=cache)
    return results


def delivery_table(results: Mapping[str, DeliveryResult]) -> pd.DataFrame:
    """Lay out the four key metrics of several runs, one row per scenario, in display units.

    Columns: ``deployments_per_day``, ``lead_time_h``, ``change_failure_rate``,
    ``time_to_restore_min``, ``deployments``, ``failed_deployments`` and
    ``changes_per_deployment``.
    """
    rows = {}
    for name, result in results.items():
        metrics = result.metrics
        rows[name] = {
            "deployments_per_day": metrics["deployments_per_day"],
            "lead_time_h": metrics["lead_time_s"] / HOUR_S,
            "change_failure_rate": metrics["change_failure_rate"],
            "time_to_restore_min": metrics["time_to_restore_s"] / 60.0,
            "deployments": metrics["deployments"],
            "failed_deployments": metrics["failed_deployments"],
            "changes_per_deployment": metrics["changes_per_deployment"],
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "scenario"
    return table
