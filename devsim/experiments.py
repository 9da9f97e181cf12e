"""Experiments the chapters and apps run, and the checks of chapter exercises.

A chapter cell should read as one step of an argument ("run both environments
on the same trace"), so the loops and bookkeeping behind such a step live here:

* :func:`environment_scenario` turns an environment name plus the knobs a
  learner turns (fixed replicas, HPA target) into a :class:`~devsim.sim.Scenario`;
* :func:`compare_environments` runs several environments on one workload;
* :func:`autoscaling_comparison` runs the HPA and two fixed fleets sized from it;
* :func:`summary_table` and :func:`profile_table` lay results and profiles side by side;
* :func:`servers_for_mean_wait` sizes an M/M/c queue for a mean-wait target;
* :func:`check_answer` compares an exercise answer with the expected value.

>>> from devsim.workload import Poisson
>>> runs = compare_environments(Poisson(rate=20, duration_s=60), seed=1)
>>> list(runs)
['production', 'development']
"""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from devsim.profiles import Profile, load_profile, profile_names
from devsim.sim import HorizontalPodAutoscaler, Manual, Scenario, SimulationResult, simulate
from devsim.workload import Workload

__all__ = [
    "AnswerCheck",
    "SUMMARY_ROWS",
    "autoscaling_comparison",
    "check_answer",
    "compare_environments",
    "environment_scenario",
    "profile_table",
    "servers_for_mean_wait",
    "summary_table",
]

logger = logging.getLogger(__name__)

# Summary keys that the comparison tables show, in order.
SUMMARY_ROWS = [
    "requests",
    "error_ratio",
    "p50_latency_s",
    "p95_latency_s",
    "p99_latency_s",
    "utilization",
    "mean_ready_replicas",
    "max_ready_replicas",
    "scale_events",
    "cost_usd",
]


def environment_scenario(
    environment: str | Profile,
    workload: Workload,
    *,
    replicas: int | None = None,
    target_utilization: float | None = None,
) -> Scenario:
    """Build the scenario of one environment, with the knobs a learner turns.

    Parameters
    ----------
    environment
        A shipped profile name (``production``, ``development``,
        ``experimental``) or a :class:`~devsim.profiles.Profile`.
    workload
        The arrivals to replay.
    replicas
        Run a fixed fleet of this many replicas instead of the profile's
        scaling mode.
    target_utilization
        HPA target utilisation (0..1] that replaces the profile's value; it
        matters only where the HPA runs.

    Raises
    ------
    devsim.profiles.ProfileError
        On an unknown environment or an invalid ``target_utilization``.
    ValueError
        On ``replicas`` below 1.
    """
    overrides: dict[str, Any] = {}
    if target_utilization is not None:
        overrides["scaling__target_utilization"] = target_utilization
    if isinstance(environment, Profile):
        profile = environment.with_overrides(**overrides) if overrides else environment
    else:
        profile = load_profile(environment, **overrides)

    if replicas is not None:
        autoscaler = Manual(replicas)
    elif profile.scaling.mode == "predictive":
        # NOTE: devsim has no predictive policy yet, so the experimental
        # environment runs the HPA with its own scaling settings in its place.
        autoscaler = HorizontalPodAutoscaler.from_profile(profile)
    else:
        autoscaler = None
    return Scenario(profile, workload, autoscaler=autoscaler)


def compare_environments(
    workload: Workload,
    environments: Sequence[str | Profile] = ("production", "development"),
    seed: int | None = 0,
) -> dict[str, SimulationResult]:
    """Run each environment on the same workload and seed; return ``{name: result}``.

    The same seed gives every run the same arrivals, so the differences come
    from the environments alone.
    """
    results = {}
    for environment in environments:
        scenario = environment_scenario(environment, workload)
        name = scenario.resolved_profile().name
        logger.info("simulating %s on %r", name, workload)
        results[name] = simulate(scenario, seed=seed)
    return results


def autoscaling_comparison(
    workload: Workload,
    environment: str | Profile = "production",
    seed: int | None = 0,
) -> dict[str, SimulationResult]:
    """Run the HPA, then fixed fleets sized from what the HPA used.

    Returns ``{"HPA": ..., "fixed at HPA mean": ..., "fixed at HPA peak": ...}``.
    The first fixed fleet has the HPA run's mean ready replicas rounded up, so
    it costs about as much. The second has the HPA run's maximum ready
    replicas: the capacity a team would buy to serve the same peak without
    auto-scaling. All three runs see the same arrivals.
    """
    hpa_scenario = environment_scenario(environment, workload)
    profile = hpa_scenario.resolved_profile()
    if profile.scaling.mode == "manual":
        raise ValueError(
            f"environment {profile.name!r} scales manually, so it has no HPA to compare; "
            "use production or experimental, or a profile with scaling.mode 'horizontal'"
        )
    hpa = simulate(hpa_scenario, seed=seed)
    mean_replicas = max(1, math.ceil(hpa.summary()["mean_ready_replicas"] - 1e-9))
    peak_replicas = max(1, hpa.max_ready_replicas)

    results = {"HPA": hpa}
    for label, replicas in (("fixed at HPA mean", mean_replicas), ("fixed at HPA peak", peak_replicas)):
        scenario = environment_scenario(profile, workload, replicas=replicas)
        results[label] = simulate(scenario, seed=seed)
    return results


def summary_table(results: Mapping[str, SimulationResult], rows: Iterable[str] = SUMMARY_ROWS) -> pd.DataFrame:
    """Lay the summaries of several runs side by side: one row per summary key, one column per run."""
    rows = list(rows)
    columns = {}
    for label, result in results.items():
        summary = result.summary()
        unknown = [row for row in rows if row not in summary]
        if unknown:
            raise KeyError(f"unknown summary key(s) {unknown}; choose from {list(summary)}")
        columns[label] = [summary[row] for row in rows]
    # object dtype keeps counts as int next to float ratios in the same column.
    return pd.DataFrame(columns, index=pd.Index(rows, name="metric"), dtype=object)


# Rows of profile_table: a label and the attribute path inside a Profile.
_PROFILE_ROWS = [
    ("app technology", "app.technology"),
    ("app port", "app.port"),
    ("hot reload", "app.hot_reload"),
    ("debugger port", "app.debugger_port"),
    ("message queue", "app.message_queue"),
    ("scaling mode", "scaling.mode"),
    ("initial replicas", "scaling.replicas"),
    ("min replicas", "scaling.min_replicas"),
    ("max replicas", "scaling.max_replicas"),
    ("HPA target utilisation", "scaling.target_utilization"),
    ("workers per instance", "instances.workers"),
    ("mean service time (s)", "instances.service_time.mean_s"),
    ("startup delay (s)", "instances.startup_delay_s"),
    ("cost per instance-hour (USD)", "instances.cost_per_hour"),
    ("load balancer", "load_balancer.algorithm"),
    ("database", "database.engine"),
    ("database topology", "database.topology"),
    ("database nodes", "database.nodes"),
    ("backups", "database.backup.schedule"),
    ("cache", "cache.mode"),
    ("monitoring", "monitoring.tools"),
    ("alerts", "monitoring.alert_channel"),
    ("TLS", "security.tls"),
    ("secrets", "security.secrets"),
    ("debug endpoints", "security.debug_endpoints"),
    ("deployment", "deployment.strategy"),
    ("rollback", "deployment.rollback"),
    ("orchestration", "orchestration"),
    ("clouds", "clouds"),
]


def _attribute(profile: Profile, path: str) -> Any:
    value: Any = profile
    for part in path.split("."):
        value = getattr(value, part)
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "–"
    return "–" if value is None else value


def profile_table(names: Sequence[str] | None = None) -> pd.DataFrame:
    """Compare environment profiles: one row per setting, one column per profile.

    ``names`` defaults to the shipped profiles, production first. Values are
    read from the validated profiles, so the table always matches the YAML files.
    """
    if names is None:
        shipped = profile_names()
        order = ["production", "development", "experimental"]
        names = [name for name in order if name in shipped] + [name for name in shipped if name not in order]
    profiles = [load_profile(name) for name in names]
    data = {profile.name: [_attribute(profile, path) for _, path in _PROFILE_ROWS] for profile in profiles}
    # Values differ in type across rows (ports, flags, names), so every cell is shown as text.
    return pd.DataFrame(data, index=pd.Index([label for label, _ in _PROFILE_ROWS], name="setting")).astype(str)


def servers_for_mean_wait(
    arrival_rate: float, mean_service_s: float, max_mean_wait_s: float, max_servers: int = 10_000
) -> int:
    """Return the fewest servers ``c`` whose M/M/c mean wait in queue is at most ``max_mean_wait_s``.

    Only stable queues count, so the result is above the offered load
    ``arrival_rate * mean_service_s``. Raises ValueError when even
    ``max_servers`` servers miss the target, or on a negative target.
    """
    from devsim.theory import mmc_mean_wait

    if max_mean_wait_s < 0:
        raise ValueError(f"max_mean_wait_s must be >= 0, got {max_mean_wait_s!r}")
    mu = 1.0 / mean_service_s
    offered_load = arrival_rate * mean_service_s
    for servers in range(math.floor(offered_load) + 1, max_servers + 1):
        if mmc_mean_wait(arrival_rate, mu, servers) <= max_mean_wait_s:
            return servers
    raise ValueError(
        f"no server count up to {max_servers} keeps the mean wait at or below {max_mean_wait_s:g} s "
        f"at {arrival_rate:g} requests/s; raise max_servers or the target"
    )


@dataclass(frozen=True)
class AnswerCheck:
    """Outcome of checking one exercise answer.

    ``ok`` is True for a correct answer, False for a wrong one and None while
    the answer is still missing.
    """

    name: str
    ok: bool | None
    message: str

    def __bool__(self) -> bool:
        return bool(self.ok)

    def __repr__(self) -> str:
        return self.message

    def _repr_html_(self) -> str:
        colour = {True: "#1a7f37", False: "#cf222e", None: "#6e7781"}[self.ok]
        return f'<p style="color: {colour}; font-weight: bold">{html.escape(self.message)}</p>'


def check_answer(
    name: str,
    answer: Any,
    expected: float,
    rel_tol: float = 0.01,
    abs_tol: float = 0.0,
    hint: str = "Try again.",
) -> AnswerCheck:
    """Compare an exercise answer with the expected number.

    The answer is correct when ``math.isclose(answer, expected, rel_tol=rel_tol,
    abs_tol=abs_tol)``. ``None`` counts as not answered yet, so a chapter runs
    from top to bottom before the learner fills in anything. A wrong answer or
    one that is not a finite number gives a result that explains the problem,
    not an exception. ``hint`` follows the message for a wrong answer.
    """
    if answer is None:
        return AnswerCheck(name, None, f"{name}: not answered yet; replace None with your answer and rerun this cell.")
    try:
        value = float(answer)
    except (TypeError, ValueError, OverflowError):
        value = math.nan
    if not math.isfinite(value):
        return AnswerCheck(name, False, f"{name}: {answer!r} is not a finite number; enter a number such as 0.5.")
    if math.isclose(value, expected, rel_tol=rel_tol, abs_tol=abs_tol):
        return AnswerCheck(name, True, f"{name}: correct ({value:.4g}).")
    direction = "high" if value > expected else "low"
    return AnswerCheck(
        name,
        False,
        f"{name}: {value:.4g} is too {direction}; the answer is accepted within {rel_tol:.0%} of the expected value. {hint}",
    )
