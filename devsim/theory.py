"""Closed-form queueing results that the simulation is checked against.

For an M/M/c queue (Poisson arrivals at rate ``lam``, exponential service at
rate ``mu`` per server, ``c`` servers, unbounded FIFO queue) with offered load
``a = lam / mu`` and utilisation ``rho = a / c < 1``:

* Erlang C, the probability that an arrival waits:
  ``C(c, a) = B(c, a) / (1 - rho * (1 - B(c, a)))``, where the Erlang B
  blocking probability follows the recursion ``B(0) = 1``,
  ``B(k) = a B(k-1) / (k + a B(k-1))``, which is stable for large ``c``;
* mean wait in queue ``Wq = C(c, a) / (c mu - lam)``;
* mean response time ``W = Wq + 1 / mu``;
* Little's law ``L = lam * W`` (true for any stable queue, not only M/M/c).

Reference: L. Kleinrock, *Queueing Systems, Volume 1: Theory* (1975),
section 3.5; D. Gross et al., *Fundamentals of Queueing Theory*, 4th ed., section 2.3.
"""

from __future__ import annotations

import math

__all__ = [
    "erlang_b",
    "erlang_c",
    "erlang_c_many",
    "mmc_mean_wait",
    "mmc_mean_response",
    "mmc_mean_queue_length",
    "utilization",
    "littles_law_l",
]


def _check(lam: float, mu: float, c: int) -> None:
    if not (isinstance(c, int) or float(c).is_integer()) or c < 1:
        raise ValueError(f"c (servers) must be a whole number >= 1, got {c!r}")
    if lam < 0 or not math.isfinite(lam):
        raise ValueError(f"arrival rate lam must be finite and >= 0, got {lam!r}")
    if mu <= 0 or not math.isfinite(mu):
        raise ValueError(f"service rate mu must be finite and > 0, got {mu!r}")


def utilization(lam: float, mu: float, c: int) -> float:
    """Return ``rho = lam / (c mu)``, the long-run fraction of busy servers."""
    _check(lam, mu, c)
    return lam / (int(c) * mu)


def erlang_b(c: int, a: float) -> float:
    """Return the Erlang B blocking probability of ``c`` servers at offered load ``a`` erlangs."""
    if a < 0:
        raise ValueError(f"offered load a must be >= 0, got {a!r}")
    b = 1.0
    for k in range(1, int(c) + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(c: int, a: float) -> float:
    """Return the Erlang C probability that an arrival waits (M/M/c, offered load ``a`` erlangs).

    Raises ``ValueError`` when ``a >= c``: the queue is unstable and every
    arrival eventually waits.
    """
    c = int(c)
    if a >= c:
        raise ValueError(f"offered load {a!r} erlangs is not below c={c}: the queue is unstable (utilisation >= 1)")
    b = erlang_b(c, a)
    rho = a / c
    return b / (1 - rho * (1 - b))


def erlang_c_many(servers, offered):
    """Return the Erlang C probability of waiting for arrays of server counts and offered loads.

    The Erlang B recursion of :func:`erlang_b` runs once over ``k = 1..max(servers)``
    for all entries at once. Entries that are not stable (no servers, no
    load, or load at or above the servers) get 0 instead of an error.
    """
    import numpy as np

    servers = np.asarray(servers, dtype=float)
    offered = np.asarray(offered, dtype=float)
    stable = (servers > 0) & (offered > 0) & (offered < servers)
    a = np.where(stable, offered, 0.0)
    blocking = np.ones(servers.shape)
    for k in range(1, int(servers.max(initial=0)) + 1):
        blocking = np.where(k <= servers, a * blocking / (k + a * blocking), blocking)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(stable, a / np.where(servers > 0, servers, 1.0), 0.0)
        return np.where(stable, blocking / (1 - rho * (1 - blocking)), 0.0)


def mmc_mean_wait(lam: float, mu: float, c: int) -> float:
    """Return the mean time in queue ``Wq`` of an M/M/c queue, in the unit of ``1 / lam``."""
    _check(lam, mu, c)
    c = int(c)
    if lam == 0:
        return 0.0
    return erlang_c(c, lam / mu) / (c * mu - lam)


def mmc_mean_response(lam: float, mu: float, c: int) -> float:
    """Return the mean response time ``W = Wq + 1 / mu`` of an M/M/c queue."""
    return mmc_mean_wait(lam, mu, c) + 1.0 / mu


def mmc_mean_queue_length(lam: float, mu: float, c: int) -> float:
    """Return the mean number waiting ``Lq = lam * Wq`` (Little's law applied to the queue)."""
    return lam * mmc_mean_wait(lam, mu, c)


def littles_law_l(arrival_rate: float, mean_time_in_system: float) -> float:
    """Return ``L = lambda * W``, the time-average number in the system."""
    return arrival_rate * mean_time_in_system
