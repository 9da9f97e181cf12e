"""The serving fleet: a load balancer in front of app instances.

A request reaches the load balancer, which sends it to one ready instance.
The instance serves it at once if one of its workers is free, queues it if its
queue has room, and rejects it otherwise (an HTTP 503 in a real server). A
request whose response would come after the client's timeout ends as timed out
at that deadline.

NOTE: timeouts are lazy. A queued request whose deadline passes keeps its queue
slot until it reaches the head of the queue, where it is discarded unserved; a
request already in service keeps its worker until its work is done, because a
server does not learn that its client left. Both match a server without
deadline propagation.

Instances go through the lifecycle starting -> ready -> draining -> terminated.
A starting instance becomes ready after the profile's startup delay; a draining
instance accepts no new requests, finishes the ones it holds, then terminates.

The request path uses SimPy timeouts with callbacks instead of one process per
request, which keeps the per-request cost to two scheduled events.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import simpy
from simpy.events import Timeout

__all__ = [
    "STARTING",
    "READY",
    "DRAINING",
    "TERMINATED",
    "STATUS_NAMES",
    "Instance",
    "Cluster",
]

STARTING, READY, DRAINING, TERMINATED = "starting", "ready", "draining", "terminated"

# Status codes of the per-request arrays.
# ERROR is a response with a server error after service (a bad release);
# DROPPED is a request lost when its instance was killed before it responded.
PENDING, OK, REJECTED, TIMED_OUT, ERROR, DROPPED = 0, 1, 2, 3, 4, 5
STATUS_NAMES = {
    PENDING: "pending", OK: "ok", REJECTED: "rejected", TIMED_OUT: "timed_out", ERROR: "error", DROPPED: "dropped",
}


class RequestLog:
    """Per-request columns, kept as Python lists because element writes are cheaper than NumPy's.

    ``chance`` holds one uniform draw per request, which a release uses to
    decide whether that request fails or is slow; it is ``None`` unless a run
    deploys releases.
    """

    def __init__(self, arrival: np.ndarray, work: np.ndarray, chance: np.ndarray | None = None):
        n = len(arrival)
        self.arrival = arrival.tolist()
        self.work = work.tolist()
        self.chance = None if chance is None else chance.tolist()
        self.start = [np.nan] * n
        self.end = [np.nan] * n
        self.instance = [-1] * n
        self.status = [PENDING] * n
        self.finished = 0


class Instance:
    """One app instance: ``workers`` parallel servers and a bounded FIFO queue."""

    __slots__ = (
        "id", "cluster", "env", "workers", "queue_capacity", "timeout", "busy", "queue", "state",
        "created_at", "ready_at", "terminated_at", "busy_area", "last_change", "_complete_cb",
        "version", "release", "in_service", "restarts", "generation", "up_at",
    )

    def __init__(self, instance_id: int, cluster: "Cluster", version: str = "v1", release=None):
        self.id = instance_id
        self.cluster = cluster
        self.env = cluster.env
        self.workers = cluster.workers
        self.queue_capacity = cluster.queue_capacity
        self.timeout = cluster.timeout
        self.busy = 0
        self.queue: deque[int] = deque()
        self.state = STARTING
        self.created_at = self.env.now
        self.ready_at = np.nan
        self.terminated_at = np.nan
        # Integral of busy workers over time, for utilisation.
        self.busy_area = 0.0
        self.last_change = self.env.now
        self._complete_cb = self._complete
        self.version = version
        # A release with a different behaviour (see devsim.sim.deployment.Release), or None.
        self.release = release
        self.in_service: set[int] = set()
        self.restarts = 0
        self.generation = 0
        # When the app process listens; a pod marked ready earlier (no readiness
        # probe) refuses connections until then.
        self.up_at = 0.0

    @property
    def connections(self) -> int:
        """Requests held by this instance: in service plus queued."""
        return self.busy + len(self.queue)

    def busy_area_at(self, now: float) -> float:
        """Return the busy worker-seconds accumulated up to ``now``."""
        return self.busy_area + self.busy * (now - self.last_change)

    def accept(self, i: int) -> None:
        log = self.cluster.log
        log.instance[i] = self.id
        if self.env._now < self.up_at:
            self.cluster.finish(i, ERROR, self.env._now)
            return
        if self.busy < self.workers:
            self._start(i, self.env._now)
        elif self.queue_capacity is None or len(self.queue) < self.queue_capacity:
            self.queue.append(i)
        else:
            self.cluster.finish(i, REJECTED, log.arrival[i])

    def _work(self, i: int) -> float:
        work = self.cluster.log.work[i]
        release = self.release
        if release is None:
            return work
        return release.service_time(work, self.cluster.log.chance[i])

    def _start(self, i: int, now: float) -> None:
        log = self.cluster.log
        self.busy_area += self.busy * (now - self.last_change)
        self.last_change = now
        self.busy += 1
        log.start[i] = now
        self.in_service.add(i)
        event = Timeout(self.env, self._work(i), i)
        event.callbacks.append(self._complete_cb)

    def _complete(self, event) -> None:
        now = self.env._now
        i = event._value
        log = self.cluster.log
        if log.status[i]:
            # The request already ended: its instance was killed while serving it.
            return
        self.in_service.discard(i)
        cluster = self.cluster
        deadline = log.arrival[i] + self.timeout if self.timeout is not None else None
        if deadline is not None and now > deadline:
            cluster.finish(i, TIMED_OUT, deadline)
        elif self.release is not None and self.release.fails(log.chance[i]):
            cluster.finish(i, ERROR, now)
        else:
            cluster.finish(i, OK, now)

        queue = self.queue
        while queue:
            j = queue.popleft()
            if self.timeout is not None and now >= log.arrival[j] + self.timeout:
                cluster.finish(j, TIMED_OUT, log.arrival[j] + self.timeout)
                continue
            # The worker goes straight to the next request: busy stays the same.
            self.busy_area += self.busy * (now - self.last_change)
            self.last_change = now
            log.start[j] = now
            self.in_service.add(j)
            next_event = Timeout(self.env, self._work(j), j)
            next_event.callbacks.append(self._complete_cb)
            return

        self.busy_area += self.busy * (now - self.last_change)
        self.last_change = now
        self.busy -= 1
        if self.state == DRAINING and self.busy == 0:
            cluster.terminate(self)

    def drop_all(self, now: float) -> int:
        """End every request in service or queued on this instance as dropped; return how many."""
        cluster = self.cluster
        held = list(self.in_service) + list(self.queue)
        for i in held:
            cluster.finish(i, DROPPED, now)
        self.in_service.clear()
        self.queue.clear()
        self.busy_area += self.busy * (now - self.last_change)
        self.last_change = now
        self.busy = 0
        return len(held)

    def __repr__(self) -> str:
        return f"Instance(id={self.id}, state={self.state}, busy={self.busy}, queued={len(self.queue)})"


class Cluster:
    """The fleet of instances of one deployment and the load balancer in front of it."""

    def __init__(
        self,
        env: simpy.Environment,
        log: RequestLog,
        workers: int,
        queue_capacity: int | None,
        timeout: float | None,
        startup_delay_s: float,
        algorithm: str,
        on_all_finished,
    ):
        self.env = env
        self.log = log
        self.workers = workers
        self.queue_capacity = queue_capacity
        self.timeout = timeout
        self.startup_delay_s = startup_delay_s
        self.algorithm = algorithm
        self.instances: list[Instance] = []
        self.ready: list[Instance] = []
        self.events: list[dict] = []
        self._next_id = 0
        self._rr = 0
        self._on_all_finished = on_all_finished
        self.arrivals_done = False
        self.max_ready = 0
        # Traffic share per version; None routes to every ready instance.
        self.version_weights: dict[str, float] | None = None
        self._swrr: dict[str, float] = {}
        # Called with (request, status, end) when set, for per-version analysis.
        self.on_finish = None
        self.route = self._route_round_robin if algorithm == "round_robin" else self._route_least_connections
        # Integrals over time for cost and capacity.
        self.provisioned_area = 0.0
        self.ready_area = 0.0
        self._area_t = env.now

    # -- request path ----------------------------------------------------

    def dispatch(self, i: int) -> None:
        """Route request ``i`` to an instance, or reject it if none is ready."""
        if not self.ready:
            self.finish(i, REJECTED, self.env._now)
            return
        if self.version_weights is not None:
            self._route_weighted(i)
            return
        self.route(i)

    def _route_weighted(self, i: int) -> None:
        # Smooth weighted round-robin between versions (as in nginx), then
        # least connections within the chosen version.
        by_version: dict[str, list[Instance]] = {}
        for inst in self.ready:
            if self.version_weights.get(inst.version, 0.0) > 0:
                by_version.setdefault(inst.version, []).append(inst)
        if not by_version:
            self.finish(i, REJECTED, self.env._now)
            return
        total = 0.0
        best = None
        for version in by_version:
            weight = self.version_weights[version]
            current = self._swrr.get(version, 0.0) + weight
            self._swrr[version] = current
            total += weight
            if best is None or current > self._swrr[best]:
                best = version
        self._swrr[best] -= total
        candidates = by_version[best]
        target = min(candidates, key=lambda inst: inst.busy + len(inst.queue))
        target.accept(i)

    def _route_round_robin(self, i: int) -> None:
        ready = self.ready
        self._rr += 1
        ready[self._rr % len(ready)].accept(i)

    def _route_least_connections(self, i: int) -> None:
        # Ties go to the first candidate after a rotating offset, so that equal
        # instances share load as round-robin would.
        ready = self.ready
        n = len(ready)
        self._rr += 1
        offset = self._rr % n
        best = ready[offset]
        best_load = best.busy + len(best.queue)
        if best_load:
            for k in range(1, n):
                candidate = ready[(offset + k) % n]
                load = candidate.busy + len(candidate.queue)
                if load < best_load:
                    best, best_load = candidate, load
                    if load == 0:
                        break
        best.accept(i)

    def finish(self, i: int, status: int, end: float) -> None:
        log = self.log
        log.status[i] = status
        log.end[i] = end
        log.finished += 1
        if self.on_finish is not None:
            self.on_finish(i, status, end)
        if self.arrivals_done and log.finished == len(log.status):
            self._on_all_finished()

    # -- lifecycle -------------------------------------------------------

    def _update_areas(self) -> None:
        now = self.env.now
        elapsed = now - self._area_t
        if elapsed:
            self.provisioned_area += elapsed * self.provisioned_count()
            self.ready_area += elapsed * len(self.ready)
            self._area_t = now

    def areas_at(self, now: float) -> tuple[float, float]:
        """Return (provisioned instance-seconds, ready instance-seconds) up to ``now``."""
        elapsed = now - self._area_t
        return (
            self.provisioned_area + elapsed * self.provisioned_count(),
            self.ready_area + elapsed * len(self.ready),
        )

    def provisioned_count(self) -> int:
        """Instances that exist and cost money: starting, ready or draining."""
        return sum(1 for inst in self.instances if inst.state != TERMINATED)

    def active(self) -> list[Instance]:
        """Instances that count towards the replica total: starting or ready."""
        return [inst for inst in self.instances if inst.state in (STARTING, READY)]

    def start_instance(self, ready_now: bool = False, version: str = "v1", release=None, lifecycle=None) -> Instance:
        """Start an instance; ``lifecycle`` (see devsim.sim.deployment) decides readiness, crashes and restarts."""
        self._update_areas()
        inst = Instance(self._next_id, self, version=version, release=release)
        self._next_id += 1
        self.instances.append(inst)
        self._event("instance_started", instance=inst.id, version=version)
        if lifecycle is not None and not ready_now:
            lifecycle.boot(self, inst)
        elif ready_now or self.startup_delay_s == 0:
            self._make_ready(inst)
        else:
            timer = self.env.timeout(self.startup_delay_s, inst)
            timer.callbacks.append(lambda event: self._make_ready(event.value))
        return inst

    def _make_ready(self, inst: Instance, generation: int | None = None) -> None:
        if inst.state != STARTING or (generation is not None and generation != inst.generation):
            return
        self._update_areas()
        inst.state = READY
        inst.ready_at = self.env.now
        inst.last_change = self.env.now
        self.ready.append(inst)
        self.max_ready = max(self.max_ready, len(self.ready))
        self._event("instance_ready", instance=inst.id)

    def remove_instance(self, inst: Instance, drain: bool = True, grace_s: float | None = None) -> None:
        """Take an instance out of service: a starting one stops at once, a ready one drains.

        With ``drain=False`` a ready instance is killed at once and the
        requests in service or queued on it are dropped. With a ``grace_s``, a draining instance
        still holding requests after that many seconds is killed, as Kubernetes
        does at the end of ``terminationGracePeriodSeconds``.
        """
        self._update_areas()
        if inst.state == STARTING:
            self.terminate(inst)
        elif inst.state == READY:
            self.ready.remove(inst)
            if not drain:
                dropped = inst.drop_all(self.env.now)
                self._event("instance_killed", instance=inst.id, reason=f"removed without draining, {dropped} requests dropped")
                self.terminate(inst)
                return
            inst.state = DRAINING
            self._event("instance_draining", instance=inst.id)
            if inst.busy == 0 and not inst.queue:
                self.terminate(inst)
            elif grace_s is not None:
                timer = self.env.timeout(grace_s, inst)
                timer.callbacks.append(lambda event: self._end_grace(event.value))

    def _end_grace(self, inst: Instance) -> None:
        if inst.state == DRAINING:
            dropped = inst.drop_all(self.env.now)
            self._event("instance_killed", instance=inst.id, reason=f"grace period over, {dropped} requests dropped")
            self.terminate(inst)

    def kill_and_restart(self, inst: Instance, reason: str, lifecycle) -> None:
        """Kill a running instance's process (a crash or an out-of-memory kill) and restart it in place."""
        self._update_areas()
        if inst.state == READY:
            self.ready.remove(inst)
        if inst.state not in (STARTING, READY):
            return
        dropped = inst.drop_all(self.env.now)
        inst.state = STARTING
        inst.restarts += 1
        inst.generation += 1
        self._event("instance_killed", instance=inst.id, reason=f"{reason}, {dropped} requests dropped")
        lifecycle.boot(self, inst)

    def terminate(self, inst: Instance) -> None:
        self._update_areas()
        if inst in self.ready:
            self.ready.remove(inst)
        inst.state = TERMINATED
        inst.terminated_at = self.env.now
        self._event("instance_terminated", instance=inst.id)

    def scale_to(self, replicas: int) -> None:
        """Start or remove instances until ``replicas`` are starting or ready.

        Removal prefers starting instances (newest first), then the ready
        instances holding the fewest requests, as Kubernetes prefers deleting
        pods that are not ready.
        """
        active = self.active()
        if replicas > len(active):
            for _ in range(replicas - len(active)):
                self.start_instance()
        elif replicas < len(active):
            starting = [inst for inst in active if inst.state == STARTING][::-1]
            ready = sorted((inst for inst in active if inst.state == READY), key=lambda x: (x.connections, -x.id))
            for inst in (starting + ready)[: len(active) - replicas]:
                self.remove_instance(inst)

    def by_version(self, version: str) -> list[Instance]:
        """Starting or ready instances of one version."""
        return [inst for inst in self.instances if inst.version == version and inst.state in (STARTING, READY)]

    def _event(self, kind: str, **fields) -> None:
        self.events.append({"time_s": self.env.now, "kind": kind, **fields})
