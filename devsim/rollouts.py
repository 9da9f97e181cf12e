"""Rollout experiments for chapter 2 and the rollout simulator app.

:func:`devsim.sim.deployment.simulate_rollout` runs one rollout. This module
runs the sets of rollouts that the chapter compares and lays them out as
tables, one row per run:

* :func:`zero_downtime_table` crosses strategies with the readiness probe and
  connection draining switched on and off, on one release;
* :func:`release_table` deploys each release under each rollback policy;
* :func:`strategy_table` deploys one release with each strategy.

Every row comes from :func:`rollout_row`. It reports two counts of failed
requests because they differ. ``failed_during_rollout`` is the summary's
``failed_requests``, from the rollout start until the rollout completes.
``failed_until_end`` (the summary's ``failed_requests_after_start``) runs from
the rollout start to the end of traffic. A rollout that reports
completion before its pods serve (no readiness probe), or a bad release that
stays deployed, fails most of its requests after completion, so only
``failed_until_end`` backs a claim of zero downtime.

>>> table = zero_downtime_table(strategies=("rolling",), readiness=(True,), drain=(True,), max_duration_s=200)
>>> int(table.loc[0, "failed_until_end"])
0
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from devsim.experiments import AnswerCheck, check_answer
from devsim.sim.deployment import (
    RELEASES,
    BlueGreen,
    Canary,
    Readiness,
    Recreate,
    RollbackPolicy,
    RolloutResult,
    RollingUpdate,
    simulate_rollout,
)

__all__ = [
    "DEFAULT_RATE_RPS",
    "DEFAULT_REPLICAS",
    "DEFAULT_RUN_S",
    "RELEASE_DESCRIPTIONS",
    "STRATEGY_NAMES",
    "analysis_policy",
    "check_rollout_answer",
    "failed_until_end",
    "make_strategy",
    "parse_pod_count",
    "release_table",
    "rollout_row",
    "split_traffic_failures",
    "strategy_table",
    "zero_downtime_table",
]

logger = logging.getLogger(__name__)

STRATEGY_NAMES = ("rolling", "recreate", "blue-green", "canary")

# Behaviour of each named release in devsim.sim.deployment.RELEASES, for tables and the app.
RELEASE_DESCRIPTIONS = {
    "good": "works like the old version",
    "crash-loop": "crashes 5 s after every start, before it is ever ready",
    "not-ready": "runs but never passes its readiness probe",
    "error-rate": "answers 20% of requests with a server error",
    "slow": "one request in ten takes 20 times longer",
    "memory-leak": "is killed (out of memory) 120 s after it becomes ready, then restarts",
}

# A run small enough for a chapter cell: 8 production replicas at 120 requests/s.
# A production replica serves up to 80 requests/s (4 workers, 0.05 s each), so
# the fleet runs at about 19% utilisation and even 6 replicas cope. One run takes
# about 0.3 s on one x86 server core.
DEFAULT_REPLICAS = 8
DEFAULT_RATE_RPS = 120.0
# Seconds of traffic after the rollout starts.
DEFAULT_RUN_S = 400.0

# Status names of requests that did not succeed.
FAILED_STATUSES = ("rejected", "timed_out", "error", "dropped")


def parse_pod_count(value: Any) -> int | str:
    """Turn a ``maxSurge``/``maxUnavailable`` entry into what RollingUpdate takes.

    ``"25%"`` stays a percentage string and ``"2"`` or ``2`` becomes the int 2.
    Any other text is returned stripped but unchanged, so that
    :func:`~devsim.sim.deployment.resolve_surge` rejects it with its own message.
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    text = str(value).strip()
    if text.endswith("%"):
        return text
    try:
        return int(text)
    except ValueError:
        return text


def make_strategy(
    name: str,
    max_surge: int | str = "25%",
    max_unavailable: int | str = "25%",
    progress_deadline_s: float = 600.0,
    min_ready_s: float = 0.0,
) -> RollingUpdate | Recreate | BlueGreen | Canary:
    """Build the strategy called ``name`` (one of :data:`STRATEGY_NAMES`) with its default settings.

    ``max_surge`` and ``max_unavailable`` apply to ``rolling`` only, and pass
    through :func:`parse_pod_count`. The strategy checks its settings when a
    rollout starts, not here.
    """
    if name == "rolling":
        return RollingUpdate(
            max_surge=parse_pod_count(max_surge),
            max_unavailable=parse_pod_count(max_unavailable),
            min_ready_s=min_ready_s,
            progress_deadline_s=progress_deadline_s,
        )
    if name == "recreate":
        return Recreate(progress_deadline_s=progress_deadline_s, min_ready_s=min_ready_s)
    if name == "blue-green":
        return BlueGreen(progress_deadline_s=progress_deadline_s, min_ready_s=min_ready_s)
    if name == "canary":
        return Canary(progress_deadline_s=progress_deadline_s, min_ready_s=min_ready_s)
    raise ValueError(f"strategy {name!r} not found; choose one of {', '.join(STRATEGY_NAMES)}")


def analysis_policy(max_error_ratio: float = 0.05, max_p95_s: float | None = 0.5, **options: Any) -> RollbackPolicy:
    """Return an analysis rollback policy with an SLO on the new version's error ratio and p95 latency.

    A good release has a p95 latency of about 0.15 s in the
    production profile, so the default 0.5 s limit passes it and fails the
    ``slow`` release. ``options`` go to :class:`RollbackPolicy` (for example
    ``interval_s``, ``window_s`` or ``failure_limit``).
    """
    return RollbackPolicy("analysis", max_error_ratio=max_error_ratio, max_p95_s=max_p95_s, **options)


def _run(**settings: Any) -> RolloutResult:
    options = {
        "replicas": DEFAULT_REPLICAS,
        "rate": DEFAULT_RATE_RPS,
        "max_duration_s": DEFAULT_RUN_S,
        "seed": 0,
    }
    options.update({key: value for key, value in settings.items() if value is not None})
    return simulate_rollout(**options)


def _failed_since_start(rollout: RolloutResult) -> pd.Series:
    requests = rollout.result.requests
    started = rollout.summary().get("started_s")
    if started is None:
        # The run ended before the rollout started.
        return requests["status"].iloc[0:0].astype(str)
    after = requests[(requests["arrival_s"] >= started) & (requests["status"] != "ok")]
    return after["status"].astype(str)


def _p95_since_start(rollout: RolloutResult) -> float | None:
    requests = rollout.result.requests
    started = rollout.summary().get("started_s")
    if started is None:
        return None
    latency = requests.loc[(requests["arrival_s"] >= started) & (requests["status"] == "ok"), "latency_s"]
    return float(latency.quantile(0.95)) if len(latency) else None


def failed_until_end(rollout: RolloutResult) -> int:
    """Count the requests that failed from the rollout start to the end of traffic, whatever their status."""
    return int(len(_failed_since_start(rollout)))


def split_traffic_failures(rollout: RolloutResult) -> dict[str, float | int]:
    """Measure the requests that arrived while the new version had a share of traffic strictly between 0 and 1.

    Only the stage ``rollout`` counts, so a rollback is left out. Returns
    ``requests``, ``failed``, ``failed_ratio`` and ``mean_new_share`` (the
    new version's share of traffic averaged over those requests). For a
    canary of a release that fails a share ``e`` of its requests,
    ``failed_ratio`` is close to ``mean_new_share * e``. ``failed_ratio`` and
    ``mean_new_share`` are NaN when no request arrived during a split.
    """
    timeline = rollout.timeline
    requests = rollout.result.requests
    if timeline.empty or requests.empty:
        return {"requests": 0, "failed": 0, "failed_ratio": math.nan, "mean_new_share": math.nan}
    times = timeline["time_s"].to_numpy(dtype=float)
    arrivals = requests["arrival_s"].to_numpy(dtype=float)
    # Each request takes the timeline row sampled last before its arrival.
    row = np.searchsorted(times, arrivals, side="right") - 1
    sampled = row >= 0
    row = np.clip(row, 0, len(times) - 1)
    share = timeline["new_traffic_share"].to_numpy(dtype=float)[row]
    in_rollout = (timeline["stage"].astype(str).to_numpy() == "rollout")[row]
    split = sampled & in_rollout & (share > 0) & (share < 1)
    count = int(split.sum())
    if not count:
        return {"requests": 0, "failed": 0, "failed_ratio": math.nan, "mean_new_share": math.nan}
    failed = int((requests["status"].astype(str).to_numpy()[split] != "ok").sum())
    return {
        "requests": count,
        "failed": failed,
        "failed_ratio": failed / count,
        "mean_new_share": float(share[split].mean()),
    }


def rollout_row(rollout: RolloutResult) -> dict[str, Any]:
    """Return the key figures of one rollout as a flat dict, one row of the tables in this module.

    Besides the summary's figures it has ``failed_until_end``, the failed
    requests of each status until the end of traffic (``rejected_until_end``
    and so on) and ``p95_latency_until_end_s``, the p95 latency of the
    successful requests that arrived from the rollout start on.
    """
    summary = rollout.summary()
    failed = _failed_since_start(rollout)
    row = {
        "strategy": summary.get("strategy"),
        "completed": summary.get("completed"),
        "duration_s": summary.get("duration_s"),
        "failed_during_rollout": summary.get("failed_requests"),
        "requests_during_rollout": summary.get("requests_during"),
        "failed_ratio": summary.get("failed_ratio"),
        "failed_until_end": int(len(failed)),
    }
    for status in FAILED_STATUSES:
        row[f"{status}_until_end"] = int((failed == status).sum())
    row["p95_latency_until_end_s"] = _p95_since_start(rollout)
    row.update(
        {
            "peak_replicas": summary.get("peak_replicas"),
            "extra_replica_seconds": summary.get("extra_replica_seconds"),
            "progress_deadline_exceeded": summary.get("progress_deadline_exceeded"),
            "rolled_back": summary.get("rolled_back"),
            "rollback_after_s": summary.get("rollback_after_s"),
            "rollback_reason": summary.get("rollback_reason"),
            "final_version": summary.get("final_version"),
        }
    )
    return row


def zero_downtime_table(
    strategies: Iterable[str] = STRATEGY_NAMES,
    readiness: Iterable[bool] = (True, False),
    drain: Iterable[bool] = (True, False),
    release: str = "good",
    replicas: int = DEFAULT_REPLICAS,
    rate: float = DEFAULT_RATE_RPS,
    max_duration_s: float = DEFAULT_RUN_S,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Deploy ``release`` once per strategy, readiness probe setting and draining setting.

    Returns one row per run: the columns ``strategy``, ``readiness_probe`` and
    ``draining``, the columns of :func:`rollout_row`, and ``zero_downtime``,
    True when no request failed from the rollout start to the end of traffic.
    All runs share ``seed``, so they see the same arrivals.
    """
    rows = []
    for name in strategies:
        for probe in readiness:
            for draining in drain:
                logger.info("rolling out %s with %s, readiness probe %s, draining %s", release, name, probe, draining)
                rollout = _run(
                    strategy=make_strategy(name),
                    release=release,
                    readiness=Readiness(enabled=probe),
                    drain=draining,
                    replicas=replicas,
                    rate=rate,
                    max_duration_s=max_duration_s,
                    seed=seed,
                )
                row = {"readiness_probe": probe, "draining": draining, **rollout_row(rollout)}
                row["zero_downtime"] = row["failed_until_end"] == 0
                rows.append(row)
    table = pd.DataFrame(rows)
    first = ["strategy", "readiness_probe", "draining"]
    return table[first + [column for column in table.columns if column not in first]]


def release_table(
    releases: Iterable[str] = tuple(RELEASES),
    rollbacks: Mapping[str, RollbackPolicy | str] | None = None,
    strategy: str = "rolling",
    progress_deadline_s: float = 120.0,
    replicas: int = DEFAULT_REPLICAS,
    rate: float = DEFAULT_RATE_RPS,
    max_duration_s: float = DEFAULT_RUN_S,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Deploy each release under each rollback policy with one strategy.

    ``rollbacks`` maps a label to a policy; the default compares ``none``
    (Kubernetes alone), ``failure`` and :func:`analysis_policy`. The progress
    deadline defaults to 120 s, well inside the run, so that a stuck rollout
    meets it (Kubernetes' default is 600 s). Returns one row per run with the
    columns ``release``, ``rollback`` and those of :func:`rollout_row`.
    """
    if rollbacks is None:
        rollbacks = {"none": "none", "failure": "failure", "analysis": analysis_policy()}
    rows = []
    for release in releases:
        if release not in RELEASES:
            raise ValueError(f"release {release!r} not found; choose one of {', '.join(RELEASES)}")
        for label, policy in rollbacks.items():
            logger.info("rolling out %s with %s, rollback %s", release, strategy, label)
            rollout = _run(
                strategy=make_strategy(strategy, progress_deadline_s=progress_deadline_s),
                release=release,
                rollback=policy,
                replicas=replicas,
                rate=rate,
                max_duration_s=max_duration_s,
                seed=seed,
            )
            rows.append({"release": release, "rollback": label, **rollout_row(rollout)})
    return pd.DataFrame(rows)


def strategy_table(
    strategies: Iterable[str] = ("rolling", "blue-green", "canary"),
    release: str = "error-rate",
    rollback: RollbackPolicy | str | None = None,
    replicas: int = DEFAULT_REPLICAS,
    rate: float = DEFAULT_RATE_RPS,
    max_duration_s: float = DEFAULT_RUN_S,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Deploy one release with each strategy and the same rollback policy (default :func:`analysis_policy`).

    Returns one row per strategy with the columns of :func:`rollout_row` plus
    ``max_new_share`` (the largest share of traffic the new version got) and
    ``split_failed_ratio`` and ``split_mean_new_share`` from
    :func:`split_traffic_failures`.
    """
    policy = analysis_policy() if rollback is None else rollback
    rows = []
    for name in strategies:
        logger.info("rolling out %s with %s", release, name)
        rollout = _run(
            strategy=make_strategy(name),
            release=release,
            rollback=policy,
            replicas=replicas,
            rate=rate,
            max_duration_s=max_duration_s,
            seed=seed,
        )
        row = rollout_row(rollout)
        rollout_stage = rollout.timeline[rollout.timeline["stage"] == "rollout"]
        row["max_new_share"] = float(rollout_stage["new_traffic_share"].max()) if len(rollout_stage) else 0.0
        split = split_traffic_failures(rollout)
        row["split_failed_ratio"] = split["failed_ratio"]
        row["split_mean_new_share"] = split["mean_new_share"]
        rows.append(row)
    return pd.DataFrame(rows)


def check_rollout_answer(name: str, answer: Any, expected: float, hint: str, rel_tol: float = 0.0) -> AnswerCheck:
    """Check an exercise answer like :func:`devsim.experiments.check_answer`, with ``hint`` after a wrong one.

    ``hint`` tells where the expected value comes from (for example "maxSurge
    rounds up"). It replaces check_answer's pointer to devsim.theory, which
    does not apply to rollouts.
    """
    checked = check_answer(name, answer, expected, rel_tol=rel_tol)
    if checked.ok is False:
        try:
            value = float(answer)
        except (TypeError, ValueError, OverflowError):
            return checked
        if not math.isfinite(value):
            return checked
        direction = "high" if value > expected else "low"
        return AnswerCheck(name, False, f"{name}: {value:.4g} is too {direction}. {hint} Try again.")
    return checked
