"""Validation of the simulator against queueing theory.

:func:`validate_mmc` runs devsim's full request path as an M/M/c queue (one
instance with ``c`` workers, Poisson arrivals, exponential service, unbounded
queue, no timeout) for a grid of server counts and utilisations, and compares
the simulated mean wait in queue with the Erlang C value.

Each grid point runs independent replications from independent seeds. The
first ``warmup_fraction`` of the customers of each replication is discarded,
because a run that starts empty waits less than the steady state predicts.
The replication means give a Student-t confidence interval around the
simulated mean; the simulator agrees with theory at a point when the interval
contains the Erlang C value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from devsim.profiles import Profile, load_profile
from devsim.sim.model import Scenario, simulate
from devsim.theory import mmc_mean_wait
from devsim.workload import Poisson

__all__ = ["mmc_profile", "validate_mmc", "DEFAULT_SERVERS", "DEFAULT_UTILIZATIONS"]

DEFAULT_SERVERS = (1, 4, 16)
DEFAULT_UTILIZATIONS = (0.5, 0.8, 0.9)


def mmc_profile(servers: int, mean_service_s: float = 1.0) -> Profile:
    """Return a one-instance profile that is an M/M/c queue with ``servers`` workers."""
    return load_profile(
        "development",
        instances__workers=int(servers),
        instances__queue_capacity=None,
        instances__request_timeout_s=None,
        instances__startup_delay_s=0.0,
        instances__service_time={"distribution": "exponential", "mean_s": float(mean_service_s), "cv": 1.0},
    )


def validate_mmc(
    servers=DEFAULT_SERVERS,
    utilizations=DEFAULT_UTILIZATIONS,
    customers: int = 60_000,
    replications: int = 10,
    warmup_fraction: float = 0.1,
    confidence: float = 0.99,
    seed: int = 2024,
) -> pd.DataFrame:
    """Compare simulated M/M/c mean waits with Erlang C over a grid.

    Parameters
    ----------
    servers, utilizations
        Grid of server counts ``c`` and utilisations ``rho`` (each below 1).
    customers
        Expected customers per replication (the Poisson arrival window is
        ``customers / lambda`` seconds).
    replications
        Independent runs per grid point, at least 2.
    warmup_fraction
        Share of each run's customers, by arrival order, left out of the mean.
    confidence
        Level of the two-sided Student-t interval.
    seed
        Base seed; replication ``r`` of grid point ``k`` uses a seed derived
        from ``(seed, k, r)``, so points and replications are independent.

    Returns
    -------
    pandas.DataFrame
        One row per grid point: ``servers, utilization, theory_wait_s,
        simulated_wait_s, ci_low_s, ci_high_s, relative_error, within_ci,
        customers, replications``.
    """
    if replications < 2:
        raise ValueError(f"replications must be >= 2 to form a confidence interval, got {replications}")
    if customers < 100:
        raise ValueError(f"customers must be >= 100 per replication, got {customers}")
    if not 0 <= warmup_fraction < 1:
        raise ValueError(f"warmup_fraction must be in [0, 1), got {warmup_fraction}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")

    rows = []
    seeds = np.random.SeedSequence(seed)
    for point, (c, rho) in enumerate((c, rho) for c in servers for rho in utilizations):
        if not 0 < rho < 1:
            raise ValueError(f"utilization {rho!r} must be in (0, 1) for a stable M/M/c queue")
        lam = rho * c
        profile = mmc_profile(c)
        means = []
        for child in seeds.spawn(replications):
            result = simulate(Scenario(profile, Poisson(rate=lam, duration_s=customers / lam)), seed=child)
            waits = result.requests["wait_s"].to_numpy()
            means.append(waits[int(len(waits) * warmup_fraction):].mean())
        means = np.asarray(means)
        mean = float(means.mean())
        half = float(stats.t.ppf(0.5 + confidence / 2, len(means) - 1) * means.std(ddof=1) / np.sqrt(len(means)))
        theory = mmc_mean_wait(lam, 1.0, c)
        rows.append(
            {
                "servers": c,
                "utilization": rho,
                "theory_wait_s": theory,
                "simulated_wait_s": mean,
                "ci_low_s": mean - half,
                "ci_high_s": mean + half,
                "relative_error": (mean - theory) / theory,
                "within_ci": bool(mean - half <= theory <= mean + half),
                "customers": customers,
                "replications": replications,
            }
        )
    return pd.DataFrame(rows)
