"""Scenario in, result out: the entry point of the simulation.

A :class:`Scenario` names an environment profile, a workload and optionally
an autoscaling policy. :func:`simulate` runs it as a SimPy discrete-event
model and returns a :class:`SimulationResult` with flat pandas frames that
charts, apps, the command line and the ML code read.

The run does not stop at the end of the arrival window: it goes on until
every request has ended (ok, rejected, timed out, error or dropped), so that each arrival has
exactly one row in ``requests``.

>>> from devsim.sim import Scenario, simulate
>>> from devsim.workload import Poisson
>>> result = simulate(Scenario("development", Poisson(rate=20, duration_s=60)), seed=1)
>>> sorted(result.summary())[:3]
['autoscaler', 'cost_usd', 'duration_s']
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import simpy
from simpy.events import Timeout

from devsim.profiles import Profile, ServiceTime, load_profile
from devsim.sim.autoscaling import AutoscalingPolicy, Observation, policy_from_profile
from devsim.sim.cluster import STATUS_NAMES, Cluster, RequestLog
from devsim.sim.metrics import Scraper, interval_metrics
from devsim.workload import Workload

__all__ = ["Scenario", "SimulationResult", "simulate", "draw_service_times", "SUMMARY_KEYS"]

logger = logging.getLogger(__name__)

# Keys of SimulationResult.summary(), in order. The command line's JSON output
# uses them as they are, so renaming one is a breaking change.
SUMMARY_KEYS = [
    "profile",
    "workload",
    "autoscaler",
    "seed",
    "engine",
    "requests",
    "ok",
    "rejected",
    "timed_out",
    "errors",
    "dropped",
    "error_ratio",
    "p50_latency_s",
    "p95_latency_s",
    "p99_latency_s",
    "mean_latency_s",
    "mean_wait_s",
    "throughput_rps",
    "utilization",
    "mean_ready_replicas",
    "max_ready_replicas",
    "scale_events",
    "replica_hours",
    "cost_usd",
    "duration_s",
]


@dataclass
class Scenario:
    """What to simulate.

    Parameters
    ----------
    profile
        A :class:`~devsim.profiles.Profile` or the name of a shipped one.
    workload
        The arrival process or trace replay.
    autoscaler
        A policy; ``None`` builds the one the profile's ``scaling.mode`` names.
    scrape_interval_s
        Metrics interval; ``None`` takes the profile's monitoring scrape interval.
    """

    profile: Profile | str
    workload: Workload
    autoscaler: AutoscalingPolicy | None = None
    scrape_interval_s: float | None = None

    def resolved_profile(self) -> Profile:
        return load_profile(self.profile) if isinstance(self.profile, str) else self.profile


@dataclass
class SimulationResult:
    """Frames and metadata of one run.

    Attributes
    ----------
    requests
        One row per request: ``request_id, arrival_s, start_s, end_s, wait_s,
        latency_s, work_s, instance, status``. ``status`` is ``ok``,
        ``rejected``, ``timed_out``, ``error`` (a server error from a bad
        release) or ``dropped`` (its instance was killed before it responded).
        A rejected request has latency 0 and no
        start; a timed-out one ends at its deadline.
    metrics
        One row per scrape interval (see :data:`devsim.sim.metrics.METRIC_COLUMNS`).
    events
        Scaling decisions (``kind == "scale"``, with ``from_replicas``,
        ``to_replicas`` and ``reason``) and instance lifecycle changes.
    instances
        One row per instance: ``instance, created_s, ready_s, terminated_s``.
    """

    requests: pd.DataFrame
    metrics: pd.DataFrame
    events: pd.DataFrame
    instances: pd.DataFrame
    profile: Profile
    seed: int | None
    workload: str
    autoscaler: str
    duration_s: float
    replica_seconds: float
    ready_replica_seconds: float
    max_ready_replicas: int
    engine: str = "des"
    precomputed_summary: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        """Return the run's headline numbers under the keys of :data:`SUMMARY_KEYS`.

        A flow-engine result has no per-request rows, so its summary is
        computed by the engine from its queueing approximation.
        """
        if self.precomputed_summary is not None:
            return dict(self.precomputed_summary)
        requests = self.requests
        status = requests["status"]
        total = len(requests)
        ok_mask = (status == "ok").to_numpy()
        ok_latency = requests["latency_s"].to_numpy()[ok_mask]
        waits = requests["wait_s"].to_numpy()[ok_mask]

        def quantile(q: float) -> float | None:
            return float(np.quantile(ok_latency, q)) if len(ok_latency) else None

        # Every request that started held a worker for its whole work.
        started = ~np.isnan(requests["start_s"].to_numpy())
        busy = float(requests["work_s"].to_numpy()[started].sum())
        ready_worker_seconds = self.ready_replica_seconds * self.profile.instances.workers
        return {
            "profile": self.profile.name,
            "workload": self.workload,
            "autoscaler": self.autoscaler,
            "seed": self.seed,
            "engine": self.engine,
            "requests": total,
            "ok": int(ok_mask.sum()),
            "rejected": int((status == "rejected").sum()),
            "timed_out": int((status == "timed_out").sum()),
            "errors": int((status == "error").sum()),
            "dropped": int((status == "dropped").sum()),
            "error_ratio": float(1 - ok_mask.mean()) if total else 0.0,
            "p50_latency_s": quantile(0.50),
            "p95_latency_s": quantile(0.95),
            "p99_latency_s": quantile(0.99),
            "mean_latency_s": float(ok_latency.mean()) if len(ok_latency) else None,
            "mean_wait_s": float(waits.mean()) if len(waits) else None,
            "throughput_rps": float(ok_mask.sum() / self.duration_s) if self.duration_s > 0 else 0.0,
            "utilization": busy / ready_worker_seconds if ready_worker_seconds > 0 else None,
            "mean_ready_replicas": self.ready_replica_seconds / self.duration_s if self.duration_s > 0 else 0.0,
            "max_ready_replicas": self.max_ready_replicas,
            "scale_events": int((self.events["kind"] == "scale").sum()) if len(self.events) else 0,
            "replica_hours": self.replica_seconds / 3600.0,
            "cost_usd": self.replica_seconds / 3600.0 * self.profile.instances.cost_per_hour,
            "duration_s": self.duration_s,
        }


def draw_service_times(spec: ServiceTime, rng: np.random.Generator, size: int) -> np.ndarray:
    """Draw ``size`` service times in seconds from a profile's distribution."""
    mean, cv = spec.mean_s, spec.cv
    if spec.distribution == "exponential":
        return rng.exponential(mean, size)
    if spec.distribution == "deterministic" or cv == 0:
        return np.full(size, mean)
    if spec.distribution == "lognormal":
        sigma2 = np.log1p(cv * cv)
        return rng.lognormal(np.log(mean) - sigma2 / 2, np.sqrt(sigma2), size)
    if spec.distribution == "gamma":
        shape = 1.0 / (cv * cv)
        return rng.gamma(shape, mean / shape, size)
    raise ValueError(f"unknown service-time distribution {spec.distribution!r}")


def simulate(scenario: Scenario, seed: int | None = 0, controllers=()) -> SimulationResult:
    """Run a scenario and return its result.

    The same scenario and seed give identical frames. All randomness (arrivals
    and service times) comes from one ``numpy.random.Generator`` made from ``seed``.

    ``controllers`` are callables ``(env, cluster)`` returning a SimPy process
    generator, started with the run (for example a rollout controller from
    :mod:`devsim.sim.deployment`). With controllers, each request also gets a
    uniform draw that releases use to decide errors and slow requests.
    """
    profile = scenario.resolved_profile()
    policy = scenario.autoscaler if scenario.autoscaler is not None else policy_from_profile(profile)
    interval = scenario.scrape_interval_s or profile.monitoring.scrape_interval_s
    if interval <= 0:
        raise ValueError(f"scrape_interval_s must be > 0, got {interval!r}")
    rng = np.random.default_rng(seed)

    arrivals = scenario.workload.generate(rng)
    n = len(arrivals)
    work = np.full(n, np.nan) if arrivals.work is None else np.asarray(arrivals.work, dtype=float).copy()
    missing = np.isnan(work)
    if missing.any():
        work[missing] = draw_service_times(profile.instances.service_time, rng, int(missing.sum()))

    chance = rng.uniform(size=n) if controllers else None

    env = simpy.Environment()
    done = env.event()
    log = RequestLog(arrivals.times, work, chance)
    inst = profile.instances
    cluster = Cluster(
        env, log, inst.workers, inst.queue_capacity, inst.request_timeout_s, inst.startup_delay_s,
        profile.load_balancer.algorithm, on_all_finished=lambda: done.succeed() if not done.triggered else None,
    )
    for _ in range(policy.initial_replicas()):
        cluster.start_instance(ready_now=True)

    scraper = Scraper(env, cluster, interval, inst.cost_per_hour)
    env.process(_arrival_process(env, arrivals.times, cluster, done))
    env.process(scraper.run())
    if policy.sync_period_s:
        env.process(_autoscaler_process(env, cluster, policy))
    for controller in controllers:
        env.process(controller(env, cluster))
    if n == 0:
        cluster.arrivals_done = True
        done.succeed()

    env.run(until=done)
    # An empty run still covers its arrival window.
    end_time = arrivals.duration_s if n == 0 else env.now
    scraper.sample()

    requests = _requests_frame(log, arrivals.times, work)
    metrics = interval_metrics(requests, scraper.rows, interval)
    provisioned_area, ready_area = cluster.areas_at(env.now)
    return SimulationResult(
        requests=requests,
        metrics=metrics,
        events=_events_frame(cluster.events),
        instances=pd.DataFrame(
            [(i.id, i.created_at, i.ready_at, i.terminated_at) for i in cluster.instances],
            columns=["instance", "created_s", "ready_s", "terminated_s"],
        ),
        profile=profile,
        seed=seed,
        workload=repr(scenario.workload),
        autoscaler=repr(policy),
        duration_s=float(end_time),
        replica_seconds=float(provisioned_area),
        ready_replica_seconds=float(ready_area),
        max_ready_replicas=cluster.max_ready,
    )


def _arrival_process(env: simpy.Environment, times: np.ndarray, cluster: Cluster, done):
    dispatch = cluster.dispatch
    for i, t in enumerate(times.tolist()):
        delay = t - env._now
        yield Timeout(env, delay if delay > 0 else 0.0)
        dispatch(i)
    cluster.arrivals_done = True
    if cluster.log.finished == len(cluster.log.status) and not done.triggered:
        done.succeed()


def _autoscaler_process(env: simpy.Environment, cluster: Cluster, policy: AutoscalingPolicy):
    last_busy: dict[int, tuple[float, float]] = {}
    last_arrivals = 0
    while True:
        yield env.timeout(policy.sync_period_s)
        now = env.now
        utilizations = []
        unready = 0
        for inst in cluster.active():
            if inst.state != "ready":
                unready += 1
                continue
            previous_area, previous_t = last_busy.get(inst.id, (0.0, inst.ready_at))
            window = now - max(previous_t, inst.ready_at)
            area = inst.busy_area_at(now)
            last_busy[inst.id] = (area, now)
            if window <= 0:
                unready += 1
                continue
            utilizations.append((area - previous_area) / (inst.workers * window))

        arrived = bisect.bisect_right(cluster.log.arrival, now)
        observation = Observation(
            time_s=now,
            current_replicas=len(cluster.active()),
            ready_utilization=tuple(utilizations),
            unready=unready,
            arrival_rate=(arrived - last_arrivals) / policy.sync_period_s,
        )
        last_arrivals = arrived
        decision = policy.recommend(observation)
        if decision.replicas != observation.current_replicas:
            cluster.events.append(
                {
                    "time_s": now,
                    "kind": "scale",
                    "from_replicas": observation.current_replicas,
                    "to_replicas": decision.replicas,
                    "reason": decision.reason,
                }
            )
            cluster.scale_to(decision.replicas)


def _requests_frame(log: RequestLog, arrival: np.ndarray, work: np.ndarray) -> pd.DataFrame:
    start = np.asarray(log.start, dtype=float)
    end = np.asarray(log.end, dtype=float)
    codes = np.asarray(log.status, dtype=np.int8)
    status = pd.Categorical.from_codes(codes - 1, categories=[STATUS_NAMES[c] for c in (1, 2, 3, 4, 5)])
    rejected = codes == 2
    latency = end - arrival
    latency[rejected] = 0.0
    return pd.DataFrame(
        {
            "request_id": np.arange(len(arrival), dtype=np.int64),
            "arrival_s": arrival,
            "start_s": start,
            "end_s": end,
            "wait_s": start - arrival,
            "latency_s": latency,
            "work_s": work,
            "instance": np.asarray(log.instance, dtype=np.int64),
            "status": status,
        }
    )


def _events_frame(events: list[dict]) -> pd.DataFrame:
    columns = ["time_s", "kind", "instance", "version", "from_replicas", "to_replicas", "reason"]
    frame = pd.DataFrame(events, columns=columns)
    for column in ("instance", "from_replicas", "to_replicas"):
        frame[column] = frame[column].astype("Int64")
    return frame
