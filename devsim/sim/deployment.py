"""Rollouts: replacing one release of the app with another while it serves traffic.

A :class:`Release` describes how a version behaves: its service time, its
error ratio, and the ways a release goes wrong in practice (crash-looping at
start, never passing readiness, a slow tail, a memory leak that gets
instances killed). A rollout strategy moves the fleet from the running
version to the new one:

* :class:`RollingUpdate` follows the Kubernetes Deployment controller
  (``apps/v1``, documented behaviour as of Kubernetes 1.30). ``maxSurge``
  (default 25%, rounded up) bounds the pods above the desired count and
  ``maxUnavailable`` (default 25%, rounded down) the pods that may be
  unavailable. A pod is available once it has been ready for
  ``minReadySeconds``. A rollout that makes no progress for
  ``progressDeadlineSeconds`` (default 600) gets the ProgressDeadlineExceeded
  condition.
* :class:`Recreate` removes every old pod, waits until they are gone, then
  starts the new ones.
* :class:`BlueGreen` starts a full new fleet, switches all traffic once it is
  available and keeps the old fleet for ``scale_down_delay_s`` for a fast
  switch back.
* :class:`Canary` shifts traffic to the new version in weight steps with
  pauses, then promotes it.

A :class:`Readiness` probe decides when a started pod is ready. Removal
drains a pod by default (it gets no new requests and finishes what it holds
within the grace period); with ``drain=False`` its requests are dropped.

Kubernetes itself never rolls back on its own: a Deployment that exceeds its
progress deadline only reports the condition. Automatic rollback is the work
of a controller on top, as Argo Rollouts and Flagger do with analysis of
metrics. :class:`RollbackPolicy` models both kinds: on failure (progress
deadline exceeded or crash loop) and on analysis (the new version's error
ratio or p95 latency over a window, against an SLO or against the old
version). A rollback is itself a rollout back to the old version and
appears in the events as one: a rolling update or recreate runs again towards
the old version, while a canary or blue-green rollout aborts and sends all
traffic to the stable fleet at once.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import simpy

from devsim.profiles import Profile, load_profile
from devsim.sim.autoscaling import Manual
from devsim.sim.cluster import DRAINING, OK, READY, STARTING, Cluster, Instance
from devsim.sim.model import Scenario, SimulationResult, simulate
from devsim.workload import Poisson, Workload

__all__ = [
    "Release",
    "RELEASES",
    "Readiness",
    "RollingUpdate",
    "Recreate",
    "BlueGreen",
    "Canary",
    "RollbackPolicy",
    "RolloutResult",
    "simulate_rollout",
    "resolve_surge",
]

# Kubernetes restarts a crashed container after 10 s, doubling up to 5 minutes (CrashLoopBackOff).
CRASH_BACKOFF_START_S = 10.0
CRASH_BACKOFF_MAX_S = 300.0


@dataclass(frozen=True)
class Release:
    """Behaviour of one version of the app.

    Attributes
    ----------
    name
        Version label, e.g. ``"v2"``.
    work_scale
        Multiplies every request's service time (1.0 keeps the old speed).
    error_ratio
        Share of served requests that end in a server error.
    slow_share, slow_factor
        Share of requests that take ``slow_factor`` times longer: a slower tail.
    crash_after_s
        If set, the process crashes this long after each start, before it is
        ever ready, and restarts with Kubernetes' back-off: a crash loop.
    never_ready
        The process runs but never passes its readiness probe.
    leak_kill_after_s
        If set, a ready instance is killed (out of memory) this long after
        it became ready, and restarts.
    """

    name: str = "v2"
    work_scale: float = 1.0
    error_ratio: float = 0.0
    slow_share: float = 0.0
    slow_factor: float = 1.0
    crash_after_s: float | None = None
    never_ready: bool = False
    leak_kill_after_s: float | None = None

    def __post_init__(self):
        problems = []
        if self.work_scale <= 0:
            problems.append(f"work_scale must be > 0, got {self.work_scale}")
        if not 0 <= self.error_ratio <= 1:
            problems.append(f"error_ratio must be in [0, 1], got {self.error_ratio}")
        if not 0 <= self.slow_share <= 1:
            problems.append(f"slow_share must be in [0, 1], got {self.slow_share}")
        if self.slow_factor < 1:
            problems.append(f"slow_factor must be >= 1, got {self.slow_factor}")
        for name in ("crash_after_s", "leak_kill_after_s"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                problems.append(f"{name} must be > 0 or None, got {value}")
        if problems:
            raise ValueError(f"invalid release {self.name!r}: " + "; ".join(problems))

    @property
    def is_plain(self) -> bool:
        return self.work_scale == 1.0 and self.error_ratio == 0 and self.slow_share == 0

    def service_time(self, work: float, chance: float) -> float:
        """Return the service time of a request with base ``work`` and uniform draw ``chance``."""
        scaled = work * self.work_scale
        # Slow requests take the top of the [0, 1) draw and errors the bottom, so
        # a request is never both while slow_share + error_ratio <= 1.
        if self.slow_share and chance >= 1.0 - self.slow_share:
            scaled *= self.slow_factor
        return scaled

    def fails(self, chance: float) -> bool:
        """Return whether the request with uniform draw ``chance`` ends in a server error."""
        return chance < self.error_ratio


# Named releases for the command line and the chapters.
RELEASES = {
    "good": Release("v2"),
    "crash-loop": Release("v2", crash_after_s=5.0),
    "not-ready": Release("v2", never_ready=True),
    "error-rate": Release("v2", error_ratio=0.2),
    "slow": Release("v2", slow_share=0.1, slow_factor=20.0),
    "memory-leak": Release("v2", leak_kill_after_s=120.0),
}


@dataclass(frozen=True)
class Readiness:
    """A readiness probe: first check after ``initial_delay_s``, then every ``period_s``.

    A pod is ready at the first check after its process is up (the profile's
    startup delay). ``failure_threshold`` consecutive failed checks of a
    ready pod would make it unready; in the model only a crash does that.
    ``enabled=False`` marks a pod ready as soon as its process starts, which
    is what a Deployment without a readiness probe does.
    """

    initial_delay_s: float = 5.0
    period_s: float = 5.0
    failure_threshold: int = 3
    enabled: bool = True

    def __post_init__(self):
        if self.initial_delay_s < 0 or self.period_s <= 0 or self.failure_threshold < 1:
            raise ValueError(
                "readiness probe needs initial_delay_s >= 0, period_s > 0 and failure_threshold >= 1, got "
                f"{self.initial_delay_s}, {self.period_s}, {self.failure_threshold}"
            )

    def ready_at(self, started_s: float, up_s: float) -> float:
        """Return when a pod started at ``started_s`` whose process is up at ``up_s`` first passes the probe."""
        if not self.enabled:
            # Without a probe the pod counts as ready once its container starts,
            # even if the app inside still needs time.
            return started_s
        first = started_s + self.initial_delay_s
        if up_s <= first:
            return first
        return first + math.ceil((up_s - first) / self.period_s - 1e-9) * self.period_s


class _Lifecycle:
    """Boots instances of one release: readiness, crash loops and memory-leak kills."""

    def __init__(self, release: Release, readiness: Readiness, startup_delay_s: float, events: list):
        self.release = release
        self.readiness = readiness
        self.startup_delay_s = startup_delay_s
        self.events = events

    def boot(self, cluster: Cluster, inst: Instance) -> None:
        env = cluster.env
        now = env.now
        generation = inst.generation
        release = self.release
        if release.crash_after_s is not None:
            delay = release.crash_after_s
            if inst.restarts:
                delay += min(CRASH_BACKOFF_START_S * 2 ** (inst.restarts - 1), CRASH_BACKOFF_MAX_S)
            self._after(env, delay, lambda: self._crash(cluster, inst, generation))
            return
        if release.never_ready:
            return
        inst.up_at = now + self.startup_delay_s
        ready = self.readiness.ready_at(now, inst.up_at)
        self._after(env, ready - now, lambda: self._ready(cluster, inst, generation))

    def _after(self, env: simpy.Environment, delay: float, action) -> None:
        timer = env.timeout(max(delay, 0.0))
        timer.callbacks.append(lambda event: action())

    def _crash(self, cluster: Cluster, inst: Instance, generation: int) -> None:
        if inst.state != STARTING or inst.generation != generation:
            return
        inst.restarts += 1
        inst.generation += 1
        cluster._event("instance_crashed", instance=inst.id, version=inst.version, reason=f"restart {inst.restarts}")
        self.boot(cluster, inst)

    def _ready(self, cluster: Cluster, inst: Instance, generation: int) -> None:
        if inst.state != STARTING or inst.generation != generation:
            return
        cluster._make_ready(inst, generation)
        if self.release.leak_kill_after_s is not None:
            self._after(cluster.env, self.release.leak_kill_after_s, lambda: self._oom(cluster, inst, generation))

    def _oom(self, cluster: Cluster, inst: Instance, generation: int) -> None:
        if inst.state == READY and inst.generation == generation:
            cluster.kill_and_restart(inst, "out of memory", self)


def resolve_surge(value, replicas: int, round_up: bool, name: str) -> int:
    """Turn ``maxSurge``/``maxUnavailable`` (an int or a percentage string like ``"25%"``) into pods."""
    if isinstance(value, str):
        text = value.strip()
        if not text.endswith("%"):
            raise ValueError(f"{name} {value!r} is invalid; give a whole number of pods or a percentage such as '25%'")
        try:
            percent = float(text[:-1])
        except ValueError:
            raise ValueError(f"{name} {value!r} is invalid; give a percentage such as '25%'") from None
        if not 0 <= percent <= 100:
            raise ValueError(f"{name} {value!r} must be between 0% and 100%")
        pods = replicas * percent / 100
        return math.ceil(pods - 1e-9) if round_up else math.floor(pods + 1e-9)
    if int(value) != value or value < 0:
        raise ValueError(f"{name} {value!r} must be a whole number of pods >= 0 or a percentage")
    return int(value)


@dataclass
class _RolloutState:
    """State shared by every strategy: the fleet, the versions and the timeline."""

    env: simpy.Environment
    cluster: Cluster
    replicas: int
    lifecycles: dict
    drain: bool
    grace_s: float
    timeline: list = field(default_factory=list)

    def pods(self, version: str) -> list[Instance]:
        return self.cluster.by_version(version)

    def available(self, version: str, min_ready_s: float) -> list[Instance]:
        now = self.env.now
        return [inst for inst in self.pods(version) if inst.state == READY and now - inst.ready_at >= min_ready_s]

    def scale(self, version: str, count: int) -> None:
        pods = self.pods(version)
        if count > len(pods):
            for _ in range(count - len(pods)):
                self.cluster.start_instance(version=version, release=self.lifecycles[version].release,
                                            lifecycle=self.lifecycles[version])
        elif count < len(pods):
            # Remove unready pods first, then the newest ready ones, as the ReplicaSet controller does.
            order = sorted(pods, key=lambda inst: (inst.state == READY, -inst.id))
            for inst in order[: len(pods) - count]:
                self.cluster.remove_instance(inst, drain=self.drain, grace_s=self.grace_s)

    def record(self, stage: str, new: str, old: str) -> None:
        cluster = self.cluster
        weights = cluster.version_weights
        new_weight = None
        if weights is not None:
            total = sum(weights.values())
            new_weight = weights.get(new, 0.0) / total if total else 0.0
        row = {"time_s": self.env.now, "stage": stage}
        for label, version in (("new", new), ("old", old)):
            pods = self.pods(version)
            row[f"{label}_total"] = len(pods)
            row[f"{label}_ready"] = sum(1 for inst in pods if inst.state == READY)
        row["terminating"] = sum(1 for inst in cluster.instances if inst.state == DRAINING)
        if new_weight is None:
            ready = row["new_ready"] + row["old_ready"]
            new_weight = row["new_ready"] / ready if ready else 0.0
        row["new_traffic_share"] = new_weight
        self.timeline.append(row)


@dataclass
class RollingUpdate:
    """Kubernetes RollingUpdate: surge new pods, remove old ones, keep enough available.

    Parameters
    ----------
    max_surge, max_unavailable
        Pods (int) or a percentage of the desired replicas (``"25%"``); surge
        rounds up and unavailable rounds down, and they may not both be 0.
    min_ready_s
        ``minReadySeconds``: how long a ready pod must stay ready to count as available.
    progress_deadline_s
        ``progressDeadlineSeconds``: no progress for this long ends the
        rollout with ProgressDeadlineExceeded. It must exceed ``min_ready_s``.
    """

    max_surge: int | str = "25%"
    max_unavailable: int | str = "25%"
    min_ready_s: float = 0.0
    progress_deadline_s: float = 600.0
    name = "rolling"

    def limits(self, replicas: int) -> tuple[int, int]:
        surge = resolve_surge(self.max_surge, replicas, round_up=True, name="maxSurge")
        unavailable = resolve_surge(self.max_unavailable, replicas, round_up=False, name="maxUnavailable")
        if surge == 0 and unavailable == 0:
            raise ValueError(
                f"maxSurge ({self.max_surge!r}) and maxUnavailable ({self.max_unavailable!r}) are both 0 for "
                f"{replicas} replicas, so the rollout could never progress; raise one of them"
            )
        return surge, unavailable

    def validate(self, replicas: int) -> None:
        self.limits(replicas)
        if self.min_ready_s < 0:
            raise ValueError(f"min_ready_s must be >= 0, got {self.min_ready_s}")
        if self.progress_deadline_s <= self.min_ready_s:
            raise ValueError(
                f"progress_deadline_s ({self.progress_deadline_s}) must be greater than min_ready_s "
                f"({self.min_ready_s}), as Kubernetes requires"
            )

    def step(self, state: _RolloutState, target: str, others: list[str]) -> bool:
        """Reconcile once towards ``target``; return True when the rollout is complete."""
        n = state.replicas
        surge, unavailable = self.limits(n)
        new = state.pods(target)
        old = [inst for version in others for inst in state.pods(version)]
        all_count = len(new) + len(old)

        # Scale up the new ReplicaSet within maxSurge.
        if len(new) < n:
            room = n + surge - all_count
            if room > 0:
                state.scale(target, len(new) + min(room, n - len(new)))
                new = state.pods(target)
                all_count = len(new) + len(old)

        # Scale down old ReplicaSets while keeping n - maxUnavailable available.
        min_available = n - unavailable
        new_available = len(state.available(target, self.min_ready_s))
        new_unavailable = len(new) - new_available
        max_scaled_down = all_count - min_available - new_unavailable
        if old and max_scaled_down > 0:
            # Unhealthy old pods go first, without touching availability.
            for inst in [inst for inst in old if inst.state != READY][:max_scaled_down]:
                state.cluster.remove_instance(inst, drain=state.drain, grace_s=state.grace_s)
                max_scaled_down -= 1
            old = [inst for version in others for inst in state.pods(version)]
            available = new_available + sum(
                1 for inst in old if state.env.now - inst.ready_at >= self.min_ready_s and inst.state == READY
            )
            removable = min(len(old), available - min_available, max_scaled_down)
            if removable > 0:
                for version in others:
                    pods = state.pods(version)
                    take = min(len(pods), removable)
                    state.scale(version, len(pods) - take)
                    removable -= take
        old = [inst for version in others for inst in state.pods(version)]
        return not old and len(state.available(target, self.min_ready_s)) == n


@dataclass
class Recreate:
    """Kubernetes Recreate: remove all old pods, wait until they are gone, start the new ones."""

    progress_deadline_s: float = 600.0
    min_ready_s: float = 0.0
    name = "recreate"

    def validate(self, replicas: int) -> None:
        if self.progress_deadline_s <= self.min_ready_s:
            raise ValueError(f"progress_deadline_s ({self.progress_deadline_s}) must be greater than min_ready_s ({self.min_ready_s})")

    def step(self, state: _RolloutState, target: str, others: list[str]) -> bool:
        old = [inst for version in others for inst in state.pods(version)]
        if old:
            for version in others:
                state.scale(version, 0)
            return False
        if any(inst.state == DRAINING and inst.version != target for inst in state.cluster.instances):
            return False
        if len(state.pods(target)) < state.replicas:
            state.scale(target, state.replicas)
        return len(state.available(target, self.min_ready_s)) == state.replicas


@dataclass
class BlueGreen:
    """Blue-green: start a full new fleet, switch traffic at once, keep the old one a while."""

    scale_down_delay_s: float = 30.0
    progress_deadline_s: float = 600.0
    min_ready_s: float = 0.0
    name = "blue-green"
    _switched_at: float | None = None

    def validate(self, replicas: int) -> None:
        if self.scale_down_delay_s < 0:
            raise ValueError(f"scale_down_delay_s must be >= 0, got {self.scale_down_delay_s}")
        if self.progress_deadline_s <= self.min_ready_s:
            raise ValueError(f"progress_deadline_s ({self.progress_deadline_s}) must be greater than min_ready_s ({self.min_ready_s})")

    def step(self, state: _RolloutState, target: str, others: list[str]) -> bool:
        cluster = state.cluster
        if cluster.version_weights is None or cluster.version_weights.get(target, 0) == 0:
            if cluster.version_weights is None:
                cluster.version_weights = {version: 1.0 for version in others}
            if len(state.pods(target)) < state.replicas:
                state.scale(target, state.replicas)
            if len(state.available(target, self.min_ready_s)) == state.replicas:
                cluster.version_weights = {target: 1.0}
                self._switched_at = state.env.now
                cluster._event("traffic_switched", version=target)
            return False
        if self._switched_at is None:
            self._switched_at = state.env.now
        if state.env.now - self._switched_at < self.scale_down_delay_s:
            return False
        for version in others:
            state.scale(version, 0)
        return True


@dataclass
class Canary:
    """Canary: shift traffic to the new version in steps of ``(weight, pause_s)``, then promote.

    The stable fleet keeps its size during the steps. The canary gets
    ``ceil(weight * replicas)`` pods and exactly ``weight`` of the traffic,
    as with a traffic router (a service mesh or an ingress that splits by weight).
    """

    steps: tuple = ((0.1, 60.0), (0.25, 60.0), (0.5, 60.0))
    progress_deadline_s: float = 600.0
    min_ready_s: float = 0.0
    name = "canary"
    _step: int = 0
    _step_started: float | None = None

    def validate(self, replicas: int) -> None:
        previous = 0.0
        for weight, pause in self.steps:
            if not 0 < weight < 1 or weight <= previous or pause < 0:
                raise ValueError(f"canary steps must have increasing weights in (0, 1) and pauses >= 0, got {self.steps}")
            previous = weight
        if self.progress_deadline_s <= self.min_ready_s:
            raise ValueError(f"progress_deadline_s ({self.progress_deadline_s}) must be greater than min_ready_s ({self.min_ready_s})")

    def current_weight(self) -> float:
        return self.steps[self._step][0] if self._step < len(self.steps) else 1.0

    def step(self, state: _RolloutState, target: str, others: list[str]) -> bool:
        cluster = state.cluster
        n = state.replicas
        now = state.env.now
        if self._step < len(self.steps):
            weight, pause = self.steps[self._step]
            needed = max(1, math.ceil(weight * n))
            if len(state.pods(target)) < needed:
                state.scale(target, needed)
            if len(state.available(target, self.min_ready_s)) < needed:
                cluster.version_weights = {version: 1.0 for version in others}
                return False
            cluster.version_weights = {target: weight, **{version: (1 - weight) / len(others) for version in others}}
            if self._step_started is None:
                self._step_started = now
                cluster._event("canary_step", version=target, reason=f"weight {weight:.0%}")
            if now - self._step_started >= pause:
                self._step += 1
                self._step_started = None
            return False
        # Promote: full new fleet, then all traffic, then remove the old fleet.
        if len(state.pods(target)) < n:
            state.scale(target, n)
        if len(state.available(target, self.min_ready_s)) < n:
            return False
        cluster.version_weights = {target: 1.0}
        for version in others:
            state.scale(version, 0)
        return True


@dataclass
class RollbackPolicy:
    """When to roll back: ``none``, ``failure``, ``analysis`` or ``manual``.

    ``failure`` rolls back on ProgressDeadlineExceeded or when a new pod has
    restarted ``crash_restarts`` times. ``analysis`` measures the new
    version every ``interval_s`` over the last ``window_s``. A measurement
    fails when the error ratio exceeds ``max_error_ratio`` (or the old
    version's by ``max_error_ratio_increase`` when ``compare_to_old``) or the
    p95 latency exceeds ``max_p95_s``, and rolls back after
    ``failure_limit`` failed measurements; it also rolls back on failure.
    ``manual`` rolls back at ``manual_at_s`` after the rollout started.

    Analysis goes on after the new version takes all traffic, until
    ``analysis_duration_s`` after the rollout started, so that a fast rolling
    update is still checked and rolled back if it fails. The restart check
    runs as long, so a memory leak whose pods are killed and restarted is
    rolled back once one pod reaches ``crash_restarts`` restarts.
    The analysis has no p95 limit unless ``max_p95_s`` is set.
    """

    mode: str = "failure"
    crash_restarts: int = 3
    interval_s: float = 30.0
    window_s: float = 60.0
    max_error_ratio: float = 0.05
    max_p95_s: float | None = None
    compare_to_old: bool = False
    max_error_ratio_increase: float = 0.02
    failure_limit: int = 2
    min_requests: int = 20
    analysis_duration_s: float = 600.0
    manual_at_s: float | None = None

    def __post_init__(self):
        if self.mode not in ("none", "failure", "analysis", "manual"):
            raise ValueError(f"rollback mode must be none, failure, analysis or manual, got {self.mode!r}")
        if self.mode == "manual" and self.manual_at_s is None:
            raise ValueError("rollback mode 'manual' needs manual_at_s, the time after the rollout start to roll back")
        if self.interval_s <= 0 or self.window_s <= 0 or self.failure_limit < 1:
            raise ValueError("analysis needs interval_s > 0, window_s > 0 and failure_limit >= 1")


@dataclass
class RolloutResult:
    """A simulation result with the rollout's own record.

    Attributes
    ----------
    result
        The :class:`~devsim.sim.SimulationResult` of the whole run.
    timeline
        One row per reconcile (every second): pods of each version, ready
        pods, terminating pods, the new version's share of traffic, stage.
    report
        Headline numbers of the rollout (see :meth:`summary`).
    """

    result: SimulationResult
    timeline: pd.DataFrame
    report: dict

    def summary(self) -> dict:
        """Return the rollout's numbers: failed requests, duration, peak replicas, rollback.

        ``failed_requests`` and ``failed_ratio`` count requests that arrived
        between the rollout start and its completion (or the end of traffic).
        A release that completes quickly and then fails (no readiness probe, or
        a bad release that is not rolled back) shows in
        ``failed_requests_after_start`` and ``failed_ratio_after_start``, which
        count every request from the rollout start to the end of traffic.
        """
        return dict(self.report)


def simulate_rollout(
    profile: Profile | str = "production",
    strategy=None,
    release: Release | str = "good",
    rollback: RollbackPolicy | str = "none",
    readiness: Readiness | None = None,
    replicas: int | None = None,
    rate: float | None = None,
    workload: Workload | None = None,
    start_s: float = 60.0,
    drain: bool = True,
    grace_s: float = 30.0,
    max_duration_s: float = 900.0,
    seed: int | None = 0,
) -> RolloutResult:
    """Deploy ``release`` over the running version while traffic flows, and measure it.

    Parameters
    ----------
    profile
        Environment profile; its instance settings and replica count apply.
    strategy
        :class:`RollingUpdate` (default), :class:`Recreate`, :class:`BlueGreen` or :class:`Canary`.
    release
        The new version: a :class:`Release` or a name in :data:`RELEASES`.
    rollback
        A :class:`RollbackPolicy` or its mode name.
    readiness
        The readiness probe of the pods (default: 5 s delay, 5 s period).
    replicas
        Desired replicas (default: the profile's initial replicas).
    rate
        Poisson request rate when no ``workload`` is given (default: 40% of
        the fleet's capacity).
    start_s
        When the rollout starts, after a warm steady state.
    drain, grace_s
        Connection draining on pod removal and the termination grace period.
    max_duration_s
        Traffic stops this long after ``start_s``; a rollout still running
        then is reported as not complete.
    """
    prof = load_profile(profile) if isinstance(profile, str) else profile
    # A strategy keeps its stepping state, so each run works on a fresh copy.
    strategy = RollingUpdate() if strategy is None else _fresh(strategy)
    release_label = release if isinstance(release, str) else release.name
    if isinstance(release, str):
        if release not in RELEASES:
            raise ValueError(f"unknown release {release!r}; choose one of {', '.join(RELEASES)}")
        release = RELEASES[release]
    policy = RollbackPolicy(rollback) if isinstance(rollback, str) else rollback
    readiness = Readiness() if readiness is None else readiness
    n = prof.scaling.replicas if replicas is None else int(replicas)
    if n < 1:
        raise ValueError(f"replicas must be >= 1, got {replicas!r}")
    strategy.validate(n)
    if grace_s < 0:
        raise ValueError(f"grace_s must be >= 0, got {grace_s}")
    inst = prof.instances
    if workload is None:
        capacity = n * inst.workers / inst.service_time.mean_s
        workload = Poisson(rate=0.4 * capacity if rate is None else rate, duration_s=start_s + max_duration_s)

    old_version = "v1"
    new_version = release.name if release.name != old_version else "v2"
    controller = _RolloutController(strategy, policy, release, readiness, n, start_s, drain, grace_s,
                                    inst.startup_delay_s, old_version, new_version)
    controller.release_label = release_label
    scenario = Scenario(prof, workload, autoscaler=Manual(n))
    result = simulate(scenario, seed=seed, controllers=(controller,))
    return controller.finish(result)


class _RolloutController:
    """The SimPy process that runs a strategy, watches for failure and rolls back."""

    reconcile_s = 1.0

    def __init__(self, strategy, policy, release, readiness, replicas, start_s, drain, grace_s, startup_delay_s,
                 old_version, new_version):
        self.strategy = strategy
        self.policy = policy
        self.release = release
        self.readiness = readiness
        self.replicas = replicas
        self.start_s = start_s
        self.drain = drain
        self.grace_s = grace_s
        self.startup_delay_s = startup_delay_s
        self.old = old_version
        self.new = new_version
        self.report: dict = {}
        self.state: _RolloutState | None = None
        self.finished_log: list[tuple[float, str, int, float]] = []
        self.finished_times: list[float] = []

    def __call__(self, env: simpy.Environment, cluster: Cluster):
        return self.run(env, cluster)

    def _on_finish(self, i: int, status: int, end: float) -> None:
        cluster = self.state.cluster
        index = cluster.log.instance[i]
        if index < 0:
            return
        version = cluster.instances[index].version
        self.finished_log.append((end, version, status, end - cluster.log.arrival[i]))
        self.finished_times.append(end)

    def run(self, env: simpy.Environment, cluster: Cluster):
        plain = _Lifecycle(Release(self.old), self.readiness, self.startup_delay_s, cluster.events)
        new = _Lifecycle(self.release, self.readiness, self.startup_delay_s, cluster.events)
        for inst in cluster.instances:
            inst.version = self.old
        self.state = _RolloutState(env, cluster, self.replicas, {self.old: plain, self.new: new}, self.drain, self.grace_s)
        cluster.on_finish = self._on_finish
        yield env.timeout(self.start_s)

        state = self.state
        strategy = self.strategy
        target, others = self.new, [self.old]
        cluster._event("rollout_started", version=target, reason=f"{strategy.name} to {target}")
        started = env.now
        last_progress = env.now
        progress_marker = None
        analysis_failures = 0
        next_analysis = env.now + self.policy.interval_s
        rolled_back_at = None
        rollback_reason = None
        deadline_exceeded = False
        completed_at = None
        stage = "rollout"
        peak_total = self.replicas

        def make_report() -> dict:
            # Rebuilt at every reconcile, so that a run whose traffic ends while
            # the rollout is still going keeps a complete report.
            rolled_back = rolled_back_at is not None
            if completed_at is not None:
                outcome = "rolled_back" if rolled_back else "rolled_out"
            else:
                outcome = "rollback_incomplete" if rolled_back else "incomplete"
            return {
                "strategy": self.strategy.name,
                "rollback_strategy": strategy.name if rolled_back else None,
                "release": getattr(self, "release_label", self.release.name),
                "new_version": self.new,
                "rollback_policy": self.policy.mode,
                "outcome": outcome,
                "started_s": started,
                "completed": completed_at is not None,
                "completed_s": completed_at,
                "duration_s": (completed_at - started) if completed_at is not None else None,
                "rolled_back": rolled_back,
                "rollback_started_s": rolled_back_at,
                "rollback_after_s": (rolled_back_at - started) if rolled_back else None,
                "rollback_reason": rollback_reason,
                "progress_deadline_exceeded": any(event["kind"] == "progress_deadline_exceeded" for event in cluster.events),
                "final_version": target if completed_at is not None else None,
                "peak_replicas": peak_total,
            }

        while True:
            done = strategy.step(state, target, others) if completed_at is None else True
            total = len(state.pods(self.new)) + len(state.pods(self.old))
            peak_total = max(peak_total, total)
            marker = (len(state.available(target, getattr(strategy, "min_ready_s", 0.0))),
                      sum(len(state.pods(v)) for v in others), len(state.pods(target)))
            if marker != progress_marker:
                progress_marker = marker
                last_progress = env.now
            if done and completed_at is None:
                completed_at = env.now
                kind = "rollback_completed" if stage == "rollback" else "rollout_completed"
                cluster._event(kind, version=target)
            # Failure and analysis policies keep watching the new version for
            # analysis_duration_s after the start, even once it has all traffic.
            watching = (stage == "rollout" and self.policy.mode in ("failure", "analysis")
                        and env.now - started < self.policy.analysis_duration_s)
            analysing = watching and self.policy.mode == "analysis"
            if completed_at is not None and not watching:
                break

            reason = None
            if completed_at is None and env.now - last_progress > strategy.progress_deadline_s and not deadline_exceeded:
                deadline_exceeded = True
                cluster._event("progress_deadline_exceeded", version=target,
                               reason=f"no progress for {strategy.progress_deadline_s:g} s")
                reason = "progress deadline exceeded"
            if stage == "rollout" and self.policy.mode in ("failure", "analysis"):
                crashes = max((inst.restarts for inst in state.pods(self.new)), default=0)
                if crashes >= self.policy.crash_restarts:
                    reason = reason or f"crash loop or repeated kills ({crashes} restarts of a new pod)"
                if analysing and env.now >= next_analysis:
                    next_analysis = env.now + self.policy.interval_s
                    failed, detail = self._analyse(env.now)
                    if failed is not None:
                        cluster._event("analysis", version=self.new, reason=("failed: " if failed else "passed: ") + detail)
                        analysis_failures = analysis_failures + 1 if failed else 0
                        if analysis_failures >= self.policy.failure_limit:
                            reason = f"analysis failed {analysis_failures} times: {detail}"
            if stage == "rollout" and self.policy.mode == "manual" and env.now - started >= self.policy.manual_at_s:
                reason = "manual rollback"
            if reason and stage == "rollout" and self.policy.mode != "none":
                stage = "rollback"
                rolled_back_at = env.now
                rollback_reason = reason
                cluster._event("rollback_started", version=self.old, reason=reason)
                target, others = self.old, [self.new]
                strategy = _rollback_strategy(strategy)
                if completed_at is not None:
                    # The new version had all traffic; send it back to the old fleet as it becomes ready.
                    cluster.version_weights = None
                completed_at = None
                last_progress = env.now
                deadline_exceeded = False
            # Recorded after the decisions, so the row's stage matches the events at its time.
            state.record(stage, self.new, self.old)
            self.report = make_report()
            if cluster.arrivals_done:
                break
            yield env.timeout(self.reconcile_s)

        self.report = make_report()
        # Keep sampling the fleet until traffic ends, for the timeline.
        while not cluster.arrivals_done:
            yield env.timeout(self.reconcile_s)
            state.record("done" if completed_at is not None else stage, self.new, self.old)

    def _analyse(self, now: float) -> tuple[bool | None, str]:
        policy = self.policy
        start = now - policy.window_s
        # Requests finish in time order, so the window starts at a binary-searched index.
        rows = self.finished_log[bisect.bisect_right(self.finished_times, start):]
        new_rows = [row for row in rows if row[1] == self.new]
        if len(new_rows) < policy.min_requests:
            return None, f"{len(new_rows)} requests of {self.new} in the window, fewer than {policy.min_requests}"
        errors = sum(1 for row in new_rows if row[2] != OK) / len(new_rows)
        latencies = [row[3] for row in new_rows if row[2] == OK]
        p95 = float(np.quantile(latencies, 0.95)) if latencies else math.inf
        limit = policy.max_error_ratio
        if policy.compare_to_old:
            old_rows = [row for row in rows if row[1] == self.old]
            if old_rows:
                old_errors = sum(1 for row in old_rows if row[2] != OK) / len(old_rows)
                limit = old_errors + policy.max_error_ratio_increase
        failed = errors > limit or (policy.max_p95_s is not None and p95 > policy.max_p95_s)
        detail = f"{self.new} error ratio {errors:.3f} (limit {limit:.3f}), p95 {p95:.3f} s"
        if policy.max_p95_s is not None:
            detail += f" (limit {policy.max_p95_s:g} s)"
        return failed, detail

    def finish(self, result: SimulationResult) -> RolloutResult:
        timeline = pd.DataFrame(self.state.timeline)
        report = dict(self.report)
        requests = result.requests
        start = report.get("started_s", self.start_s)
        end = report.get("completed_s") or result.duration_s
        during = requests[(requests["arrival_s"] >= start) & (requests["arrival_s"] <= end)]
        failed = during[during["status"] != "ok"]
        report["requests_during"] = int(len(during))
        report["failed_requests"] = int(len(failed))
        for status in ("rejected", "timed_out", "error", "dropped"):
            report[f"{status}_during"] = int((failed["status"] == status).sum())
        report["failed_ratio"] = float(len(failed) / len(during)) if len(during) else 0.0
        # From the rollout start to the end of traffic, which also counts a bad
        # release that stayed after its rollout completed.
        after = requests[requests["arrival_s"] >= start]
        report["failed_requests_after_start"] = int((after["status"] != "ok").sum())
        report["failed_ratio_after_start"] = float((after["status"] != "ok").mean()) if len(after) else 0.0
        if not timeline.empty:
            window = timeline[(timeline["time_s"] >= start) & (timeline["time_s"] <= end)]
            extra = (window["new_total"] + window["old_total"] + window["terminating"] - self.replicas).clip(lower=0)
            report["extra_replica_seconds"] = float(extra.sum() * self.reconcile_s)
        else:
            report["extra_replica_seconds"] = 0.0
        return RolloutResult(result, timeline, report)


@dataclass
class _Abort:
    """Rollback of a canary or blue-green rollout: all traffic to the stable version at once.

    The stable fleet is still running (a canary keeps it at full size, blue-green
    keeps it for its scale-down delay), so traffic moves back immediately and
    the new pods are removed, as Argo Rollouts does on abort.
    """

    progress_deadline_s: float = 600.0
    min_ready_s: float = 0.0
    name = "abort"

    def step(self, state: _RolloutState, target: str, others: list[str]) -> bool:
        cluster = state.cluster
        if len(state.pods(target)) < state.replicas:
            state.scale(target, state.replicas)
        if state.available(target, 0.0):
            cluster.version_weights = {target: 1.0}
        if len(state.available(target, self.min_ready_s)) < state.replicas:
            return False
        for version in others:
            state.scale(version, 0)
        return True


def _rollback_strategy(strategy):
    if isinstance(strategy, (Canary, BlueGreen)):
        return _Abort(progress_deadline_s=strategy.progress_deadline_s, min_ready_s=strategy.min_ready_s)
    return _fresh(strategy)


def _fresh(strategy):
    # A rollback restarts the strategy's own stepping state (canary steps, blue-green switch time).
    from dataclasses import fields

    values = {f.name: getattr(strategy, f.name) for f in fields(strategy) if not f.name.startswith("_")}
    return type(strategy)(**values)
