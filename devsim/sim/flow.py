"""A time-stepped flow engine for traces too long to replay request by request.

Weeks of traffic at tens of requests per second are millions of requests,
which the request-level engine (:func:`devsim.sim.simulate`) replays in
minutes. :func:`simulate_flow` takes the same :class:`~devsim.sim.Scenario`
and returns the same result frames, but advances in fixed steps (15 s by
default). In each step:

1. arrivals and their work come from the workload
   (:meth:`~devsim.workload.Workload.step_counts`);
2. capacity is the ready replicas times their workers;
3. work that capacity cannot serve stays in a backlog carried to the next
   step. Requests beyond the fleet's queue capacity are rejected. When the
   backlog alone would make a new request wait longer than the client
   timeout, that step's arrivals time out;
4. latency is the fluid wait to drain the backlog plus the M/M/c wait at the
   step's utilisation plus the service time. For service times that are not
   exponential the M/M/c wait is scaled by the Allen-Cunneen factor
   ``(ca^2 + cs^2) / 2`` with ``ca^2 = 1`` for Poisson arrivals;
5. every sync period the same autoscaling policy as in the request-level
   engine decides, on the utilisation of the steps since its last decision,
   and new replicas become ready after the startup delay.

Latency quantiles come from that queueing approximation: the service time is
exponential with the step's mean work, or follows the empirical distribution
of a per-request trace's work. They are estimates, not counts of requests,
and the ``requests`` frame of a flow result is empty.

NOTE: within a step, arrivals are taken as Poisson. Rate traces replay that
way in both engines, so the two agree closely on them. The Azure code trace
is burstier than Poisson within 15 s, and there the flow engine underestimates
the mean wait (by about a quarter of the mean latency, measured in
``tests/unit/test_flow.py``); "auto" keeps such one-hour traces on the
request-level engine.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pandas as pd

from devsim.sim.autoscaling import AutoscalingPolicy, Observation, policy_from_profile
from devsim.sim.metrics import METRIC_COLUMNS
from devsim.sim.cluster import RequestLog
from devsim.sim.model import SUMMARY_KEYS, Scenario, SimulationResult, _events_frame, _requests_frame
from devsim.theory import erlang_c_many

__all__ = ["simulate_flow", "choose_engine", "run_scenario", "DEFAULT_STEP_S", "MAX_STEPS", "FLOW_THRESHOLD_S"]

DEFAULT_STEP_S = 15.0

# Longer runs take longer steps, so that months of trace run in seconds: a
# 14-day trace keeps 15 s steps, the 7-month NYC taxi trace gets 195 s steps.
MAX_STEPS = 100_000

# Runs whose arrival window is longer than this use the flow engine when the
# engine is "auto". A day of trace at tens of requests per second is millions
# of requests, which takes the request-level engine tens of seconds.
FLOW_THRESHOLD_S = 6 * 3600.0


def choose_engine(workload, engine: str = "auto") -> str:
    """Return ``"des"`` or ``"flow"`` for a workload: the named engine, or by trace length for ``"auto"``."""
    if engine not in ("auto", "des", "flow"):
        raise ValueError(f"engine must be 'auto', 'des' or 'flow', got {engine!r}")
    if engine != "auto":
        return engine
    return "flow" if workload.duration_s > FLOW_THRESHOLD_S else "des"


def run_scenario(scenario: Scenario, seed: int | None = 0, engine: str = "auto") -> SimulationResult:
    """Run ``scenario`` with the request-level engine or the flow engine (see :func:`choose_engine`)."""
    from devsim.sim.model import simulate

    if choose_engine(scenario.workload, engine) == "flow":
        return simulate_flow(scenario, seed=seed)
    return simulate(scenario, seed=seed)


def simulate_flow(scenario: Scenario, seed: int | None = 0, step_s: float | None = None) -> SimulationResult:
    """Run ``scenario`` with the time-stepped flow engine.

    Parameters
    ----------
    scenario
        The same scenario the request-level engine takes.
    seed
        Seed of the one random generator (arrival counts per step).
    step_s
        Step length in seconds; the autoscaler syncs on the first step
        boundary at or after each sync period. ``None`` takes 15 s, or for
        runs longer than :data:`MAX_STEPS` steps of 15 s the next multiple of
        15 s that keeps the run within that many steps.
    """
    if step_s is None:
        step_s = DEFAULT_STEP_S * max(1, math.ceil(scenario.workload.duration_s / (DEFAULT_STEP_S * MAX_STEPS)))
    if not step_s > 0:
        raise ValueError(f"step_s must be > 0, got {step_s!r}")
    profile = scenario.resolved_profile()
    policy = scenario.autoscaler if scenario.autoscaler is not None else policy_from_profile(profile)
    rng = np.random.default_rng(seed)
    inst = profile.instances

    steps = scenario.workload.step_counts(rng, step_s)
    counts = steps.counts
    mean_service = inst.service_time.mean_s
    work = steps.work if steps.work is not None else counts * mean_service
    points = None
    if steps.work is not None:
        cs2 = _trace_cv2(scenario.workload)
        points = _service_points(scenario.workload)
    else:
        cs2 = 1.0 if inst.service_time.distribution == "exponential" else inst.service_time.cv ** 2

    state = _FlowState(profile, policy, step_s)
    rows = state.run(counts, work, cs2)
    metrics, summary = _frames(rows, profile, step_s, cs2, points)
    summary.update(
        {
            "profile": profile.name,
            "workload": repr(scenario.workload),
            "autoscaler": repr(policy),
            "seed": seed,
            "engine": "flow",
            "scale_events": sum(1 for event in state.events if event["kind"] == "scale"),
            "max_ready_replicas": state.max_ready,
        }
    )
    empty = _requests_frame(RequestLog(np.zeros(0), np.zeros(0)), np.zeros(0), np.zeros(0))
    events = _events_frame(state.events)
    duration = len(counts) * step_s
    return SimulationResult(
        requests=empty,
        metrics=metrics,
        events=events,
        instances=pd.DataFrame(columns=["instance", "created_s", "ready_s", "terminated_s"]),
        profile=profile,
        seed=seed,
        workload=repr(scenario.workload),
        autoscaler=repr(policy),
        duration_s=duration,
        replica_seconds=float(metrics["provisioned_replicas"].sum() * step_s),
        ready_replica_seconds=float(metrics["ready_replicas"].sum() * step_s),
        max_ready_replicas=state.max_ready,
        engine="flow",
        precomputed_summary={key: summary.get(key) for key in SUMMARY_KEYS},
    )


def _service_points(workload, count: int = 100) -> np.ndarray | None:
    # Quantile midpoints of the trace's work over its mean: the shape of the
    # service-time distribution, to be scaled to each step's mean work.
    work = getattr(workload, "work", None)
    if work is None or len(work) == 0 or work.mean() <= 0:
        return None
    levels = (np.arange(count) + 0.5) / count
    return np.quantile(work, levels) / work.mean()


def _trace_cv2(workload) -> float:
    work = getattr(workload, "work", None)
    if work is None or len(work) < 2 or work.mean() == 0:
        return 1.0
    return float(work.var() / work.mean() ** 2)


class _FlowState:
    """Replica bookkeeping and the per-step queue recursion."""

    def __init__(self, profile, policy: AutoscalingPolicy, step_s: float):
        self.profile = profile
        self.policy = policy
        self.step_s = step_s
        self.workers = profile.instances.workers
        self.queue_capacity = profile.instances.queue_capacity
        self.timeout = profile.instances.request_timeout_s
        self.startup = profile.instances.startup_delay_s
        self.ready = policy.initial_replicas()
        self.starting: deque[float] = deque()  # ready times of starting replicas
        self.max_ready = self.ready
        self.events: list[dict] = []

    def _scale(self, now: float, replicas: int, reason: str) -> None:
        current = self.ready + len(self.starting)
        self.events.append({"time_s": now, "kind": "scale", "from_replicas": current, "to_replicas": replicas, "reason": reason})
        if replicas > current:
            for _ in range(replicas - current):
                self.starting.append(now + self.startup)
            return
        remove = current - replicas
        # Starting replicas go first (newest first), as in the request-level engine.
        while remove and self.starting:
            self.starting.pop()
            remove -= 1
        self.ready -= remove

    def run(self, counts: np.ndarray, work: np.ndarray, cs2: float) -> dict[str, np.ndarray]:
        n = len(counts)
        step = self.step_s
        out = {name: np.zeros(n) for name in (
            "ready", "provisioned", "desired", "served_work", "capacity", "fluid_wait", "rejected", "timed_out", "ok",
        )}
        backlog_work = 0.0
        sync = self.policy.sync_period_s
        next_sync = sync if sync else math.inf
        window_work = 0.0
        window_capacity = 0.0
        window_arrivals = 0.0
        queue_capacity = self.queue_capacity
        timeout = self.timeout if self.timeout is not None else math.inf

        for k in range(n):
            start = k * step
            while self.starting and self.starting[0] <= start:
                self.starting.popleft()
                self.ready += 1
            if self.ready > self.max_ready:
                self.max_ready = self.ready
            servers = self.ready * self.workers
            capacity = servers * step
            arrivals = counts[k]
            arriving_work = work[k]
            mean_work = arriving_work / arrivals if arrivals > 0 else self.profile.instances.service_time.mean_s

            start_backlog = backlog_work
            timed_out = 0.0
            wait_ahead = start_backlog / servers if servers else math.inf
            if wait_ahead > timeout:
                # The queue ahead already takes longer than the client waits.
                timed_out = arrivals
                arriving_work = 0.0
            demand = backlog_work + arriving_work
            served = min(demand, capacity)
            backlog_work = demand - served

            rejected = 0.0
            if servers == 0:
                rejected = arrivals - timed_out
                backlog_work -= arriving_work
            elif queue_capacity is not None:
                limit_work = self.ready * queue_capacity * mean_work
                if backlog_work > limit_work:
                    excess = backlog_work - limit_work
                    rejected = min(arrivals - timed_out, excess / mean_work)
                    backlog_work -= rejected * mean_work

            out["ready"][k] = self.ready
            out["provisioned"][k] = self.ready + len(self.starting)
            out["served_work"][k] = served
            out["capacity"][k] = capacity
            out["fluid_wait"][k] = (start_backlog + backlog_work) / 2 / servers if servers else math.inf
            out["rejected"][k] = rejected
            out["timed_out"][k] = timed_out
            out["ok"][k] = arrivals - rejected - timed_out

            window_work += served
            window_capacity += capacity
            window_arrivals += arrivals
            end = start + step
            if end >= next_sync - 1e-9:
                utilization = window_work / window_capacity if window_capacity > 0 else 0.0
                current = self.ready + len(self.starting)
                observation = Observation(
                    time_s=end,
                    current_replicas=current,
                    ready_utilization=(utilization,) * self.ready,
                    unready=len(self.starting),
                    arrival_rate=window_arrivals / max(end - (next_sync - sync), step),
                )
                decision = self.policy.recommend(observation)
                if decision.replicas != current:
                    self._scale(end, decision.replicas, decision.reason)
                window_work = window_capacity = window_arrivals = 0.0
                while next_sync <= end + 1e-9:
                    next_sync += sync
            out["desired"][k] = self.ready + len(self.starting)

        out["arrivals"] = counts
        out["work"] = work
        return out


def _frames(rows: dict[str, np.ndarray], profile, step_s: float, cs2: float, points) -> tuple[pd.DataFrame, dict]:
    n = len(rows["arrivals"])
    workers = profile.instances.workers
    arrivals = rows["arrivals"]
    mean_work = np.where(arrivals > 0, rows["work"] / np.maximum(arrivals, 1e-12), profile.instances.service_time.mean_s)
    servers = rows["ready"] * workers
    offered = np.where(servers > 0, rows["work"] / step_s, 0.0)  # erlangs
    prob_wait, theta = _mmc_wait_parameters(servers, offered, mean_work, cs2)
    fluid = np.where(np.isfinite(rows["fluid_wait"]), rows["fluid_wait"], 0.0)

    quantiles = {q: _response_quantile(q, fluid, prob_wait, theta, mean_work, points) for q in (0.5, 0.95, 0.99)}
    ok = rows["ok"]
    ended = arrivals
    with np.errstate(invalid="ignore", divide="ignore"):
        utilization = np.where(rows["capacity"] > 0, rows["served_work"] / rows["capacity"], np.nan)
        error_ratio = np.where(ended > 0, (rows["rejected"] + rows["timed_out"]) / np.maximum(ended, 1e-12), 0.0)
    metrics = pd.DataFrame(
        {
            "time_s": (np.arange(n) + 1) * step_s,  # end of each step
            "arrivals": arrivals,
            "completed": ok,
            "throughput_rps": ok / step_s,
            "p50_latency_s": np.where(ok > 0, quantiles[0.5], np.nan),
            "p95_latency_s": np.where(ok > 0, quantiles[0.95], np.nan),
            "p99_latency_s": np.where(ok > 0, quantiles[0.99], np.nan),
            "error_ratio": error_ratio,
            "ready_replicas": rows["ready"].astype(int),
            "desired_replicas": rows["desired"].astype(int),
            "provisioned_replicas": rows["provisioned"].astype(int),
            "utilization": utilization,
            "cost_usd": rows["provisioned"] * step_s * profile.instances.cost_per_hour / 3600.0,
        }
    )[METRIC_COLUMNS]

    total = float(arrivals.sum())
    ok_total = float(ok.sum())
    mean_wait = fluid + prob_wait / np.where(theta > 0, theta, np.inf)
    weights = ok / ok_total if ok_total > 0 else np.zeros(n)
    replica_seconds = float(rows["provisioned"].sum() * step_s)
    ready_seconds = float(rows["ready"].sum() * step_s)
    duration = n * step_s
    summary = {
        "requests": int(round(total)),
        "ok": int(round(ok_total)),
        "rejected": int(round(rows["rejected"].sum())),
        "timed_out": int(round(rows["timed_out"].sum())),
        "errors": 0,
        "dropped": 0,
        "error_ratio": 1 - ok_total / total if total > 0 else 0.0,
        "p50_latency_s": _mixture_quantile(0.5, weights, fluid, prob_wait, theta, mean_work, points),
        "p95_latency_s": _mixture_quantile(0.95, weights, fluid, prob_wait, theta, mean_work, points),
        "p99_latency_s": _mixture_quantile(0.99, weights, fluid, prob_wait, theta, mean_work, points),
        "mean_latency_s": float(np.sum(weights * (mean_wait + mean_work))) if ok_total > 0 else None,
        "mean_wait_s": float(np.sum(weights * mean_wait)) if ok_total > 0 else None,
        "throughput_rps": ok_total / duration if duration > 0 else 0.0,
        "utilization": float(rows["served_work"].sum() / (ready_seconds * workers)) if ready_seconds > 0 else None,
        "mean_ready_replicas": ready_seconds / duration if duration > 0 else 0.0,
        "replica_hours": replica_seconds / 3600.0,
        "cost_usd": replica_seconds / 3600.0 * profile.instances.cost_per_hour,
        "duration_s": duration,
    }
    return metrics, summary


def _mmc_wait_parameters(servers, offered, mean_work, cs2):
    """Return per step the probability of waiting and the rate of the exponential wait tail.

    A saturated step (offered load at or above its servers) gets no
    stochastic wait, because its fluid backlog already carries the queue.
    """
    servers = np.asarray(servers, dtype=float)
    offered = np.asarray(offered, dtype=float)
    stable = (servers > 0) & (offered > 0) & (offered < servers)
    prob = erlang_c_many(servers, offered)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_wait = (1.0 + cs2) / 2.0 * prob * mean_work / np.where(stable, servers - offered, 1.0)
        theta = np.where(stable & (mean_wait > 0), prob / np.where(mean_wait > 0, mean_wait, 1.0), np.inf)
    return prob, theta


def _survival(t, fluid, prob_wait, theta, mean_work, points=None):
    """Return P(response > t) per step: fluid wait, then an Erlang C wait, then the service time.

    The service time is exponential with the step's mean work, or, when
    ``points`` is given, the empirical distribution of the trace's work
    (quantile points of work divided by its mean) scaled to the step's mean.
    """
    x = np.maximum(t - fluid, 0.0)
    if points is None:
        mu = 1.0 / mean_work
        service_only = np.exp(-mu * x)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            close = np.abs(theta - mu) < 1e-9 * mu
            hypo = np.where(
                close,
                (1 + mu * x) * np.exp(-mu * x),
                (theta * np.exp(-mu * x) - mu * np.exp(-theta * x)) / (theta - mu),
            )
    else:
        service = points[None, :] * np.asarray(mean_work)[:, None]
        gap = x[:, None] - service
        service_only = np.mean(gap < 0, axis=1)
        with np.errstate(over="ignore", invalid="ignore"):
            tail = np.where(gap < 0, 1.0, np.exp(-np.where(np.isfinite(theta), theta, 0.0)[:, None] * np.maximum(gap, 0)))
        hypo = np.mean(tail, axis=1)
    hypo = np.where(np.isfinite(theta), hypo, service_only)
    survival = (1 - prob_wait) * service_only + prob_wait * hypo
    return np.where(t < fluid, 1.0, np.clip(survival, 0.0, 1.0))


def _upper_bound(fluid, theta, mean_work, points):
    spread = 50.0 if points is None else float(points.max()) * 2 + 5.0
    wait = np.where(np.isfinite(theta) & (theta > 0), 50.0 / np.where(theta > 0, theta, 1.0), 0.0)
    return fluid + spread * mean_work + wait


def _response_quantile(q, fluid, prob_wait, theta, mean_work, points=None, iterations: int = 32):
    low = np.array(fluid, dtype=float)
    high = _upper_bound(fluid, theta, mean_work, points)
    for _ in range(iterations):
        middle = (low + high) / 2
        above = _survival(middle, fluid, prob_wait, theta, mean_work, points) > 1 - q
        low = np.where(above, middle, low)
        high = np.where(above, high, middle)
    return (low + high) / 2


def _mixture_quantile(q, weights, fluid, prob_wait, theta, mean_work, points=None, iterations: int = 40):
    mask = weights > 0
    if not mask.any():
        return None
    w, f, p, th, m = weights[mask], fluid[mask], prob_wait[mask], theta[mask], mean_work[mask]
    low = 0.0
    high = float(np.max(_upper_bound(f, th, m, points)))
    for _ in range(iterations):
        middle = (low + high) / 2
        if np.sum(w * _survival(np.full(len(f), middle), f, p, th, m, points)) > 1 - q:
            low = middle
        else:
            high = middle
    return (low + high) / 2
