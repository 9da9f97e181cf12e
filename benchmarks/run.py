"""Measure how many M/M/c customers per second devsim simulates, against SimPy and Ciw.

All three implementations simulate the same queue: M/M/4 with service rate
mu = 1 per second and arrival rate lam = 3.2 per second (utilisation 0.8),
unbounded FIFO queue, starting empty.

* ``devsim``: ``devsim.sim.simulate`` on the development profile (one
  instance, manual scaling) with 4 workers, no queue limit, no client timeout
  and exponential service times, fed by ``devsim.workload.Poisson``. The
  timed region is the whole call, so it includes drawing the arrivals and
  service times, the metrics scraper, and building the result frames
  (requests, metrics, events, instances). Loading and validating the profile
  happens once, outside the timed region.
* ``plain_simpy``: the textbook SimPy model defined in this file, with a
  source process and one process per customer that requests a
  ``simpy.Resource``.
* ``ciw``: ``ciw.Simulation`` run with ``simulate_until_max_customers``,
  followed by ``get_all_records`` to collect the waits.

Each timed region goes from the model parameters to the list of per-customer
waits in queue. Every implementation first runs one small untimed warm-up, so
imports and first-call costs are not timed. The repeats are interleaved
(devsim, plain SimPy, Ciw, then again) so that a slow phase of the machine
hits all three alike. The reported rate is the best (fastest) of the repeats,
as the note under ``timeit.Timer.repeat`` in the Python documentation
recommends, because slower runs mostly measure other processes. The median is stored in the JSON as well.

The mean wait of each implementation is compared with the Erlang C value
``devsim.theory.mmc_mean_wait`` as a check that all three simulate the same
system. Its 95% confidence interval uses batch means, because successive
waits in a queue are correlated.

Usage::

    python benchmarks/run.py [--customers N] [--repeats R] [--seed S] [--output PATH]
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import math
import random
import shlex
import statistics
import sys
import time
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
# Benchmark the devsim of this checkout even where another copy is installed.
sys.path.insert(0, str(REPOSITORY_ROOT))

from benchmark_machine import machine_info  # noqa: E402

import ciw  # noqa: E402
import numpy as np  # noqa: E402
import simpy  # noqa: E402
from scipy import stats  # noqa: E402

from devsim.profiles import Profile, load_profile  # noqa: E402
from devsim.sim import Scenario, simulate  # noqa: E402
from devsim.theory import mmc_mean_wait  # noqa: E402
from devsim.workload import Poisson  # noqa: E402

SERVERS = 4
SERVICE_RATE = 1.0
UTILISATION = 0.8
ARRIVAL_RATE = UTILISATION * SERVERS * SERVICE_RATE

DEFAULT_CUSTOMERS = 200_000
DEFAULT_REPEATS = 3
DEFAULT_SEED = 1
DEFAULT_OUTPUT = REPOSITORY_ROOT / "benchmarks" / "results.json"
MIN_CUSTOMERS = 100
WARM_UP_CUSTOMERS = 1_000
CONFIDENCE_BATCHES = 20

IMPLEMENTATIONS = ("devsim", "plain_simpy", "ciw")
LABELS = {"devsim": "devsim simulate", "plain_simpy": "plain SimPy", "ciw": "Ciw"}


# -- the three implementations -----------------------------------------------


def mmc_profile() -> Profile:
    """Return the development profile turned into an M/M/c queue with ``SERVERS`` workers."""
    return load_profile(
        "development",
        instances__workers=SERVERS,
        instances__queue_capacity=None,
        instances__request_timeout_s=None,
        instances__service_time={"distribution": "exponential", "mean_s": 1.0 / SERVICE_RATE},
    )


def run_devsim(customers: int, seed: int, profile: Profile) -> np.ndarray:
    """Simulate about ``customers`` arrivals with devsim and return the waits in arrival order.

    ``Poisson`` draws a Poisson number of arrivals with mean ``customers``, so
    the count varies by about ``sqrt(customers)`` between seeds. The rate uses the real count.
    """
    workload = Poisson(rate=ARRIVAL_RATE, duration_s=customers / ARRIVAL_RATE)
    result = simulate(Scenario(profile, workload), seed=seed)
    return result.requests["wait_s"].to_numpy()


def run_plain_simpy(customers: int, seed: int) -> list[float]:
    """Simulate ``customers`` arrivals with a textbook SimPy model and return the waits.

    The queue is FIFO, so the order in which waits are recorded (service start)
    is also the arrival order.
    """
    rng = random.Random(seed)
    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=SERVERS)
    waits: list[float] = []

    def customer(env: simpy.Environment):
        arrived = env.now
        with servers.request() as request:
            yield request
            waits.append(env.now - arrived)
            yield env.timeout(rng.expovariate(SERVICE_RATE))

    def source(env: simpy.Environment):
        for _ in range(customers):
            yield env.timeout(rng.expovariate(ARRIVAL_RATE))
            env.process(customer(env))

    env.process(source(env))
    env.run()
    return waits


def run_ciw(customers: int, seed: int) -> list[tuple[float, float]]:
    """Simulate in Ciw until ``customers`` have completed service, and return (arrival, wait) pairs.

    Ciw returns records grouped by individual, not by arrival, so the caller
    sorts them outside the timed region.
    """
    ciw.seed(seed)
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=ARRIVAL_RATE)],
        service_distributions=[ciw.dists.Exponential(rate=SERVICE_RATE)],
        number_of_servers=[SERVERS],
    )
    simulation = ciw.Simulation(network)
    simulation.simulate_until_max_customers(customers)
    return [(record.arrival_date, record.waiting_time) for record in simulation.get_all_records()]


def waits_in_arrival_order(name: str, output) -> np.ndarray:
    """Convert an implementation's output to a float array of waits in arrival order."""
    if name == "ciw":
        output = [wait for _, wait in sorted(output)]
    return np.asarray(output, dtype=float)


def run_once(name: str, customers: int, seed: int, profile: Profile) -> dict:
    """Time one run of implementation ``name`` and return its rate and wait statistics."""
    gc.collect()
    started = time.perf_counter()
    if name == "devsim":
        output = run_devsim(customers, seed, profile)
    elif name == "plain_simpy":
        output = run_plain_simpy(customers, seed)
    else:
        output = run_ciw(customers, seed)
    seconds = time.perf_counter() - started

    waits = waits_in_arrival_order(name, output)
    mean_wait, half_width = batch_means_interval(waits)
    return {
        "seed": seed,
        "customers": int(len(waits)),
        "seconds": seconds,
        "customers_per_s": len(waits) / seconds,
        "mean_wait_s": mean_wait,
        "mean_wait_ci95_half_width_s": half_width,
    }


# -- statistics ----------------------------------------------------------------


def batch_means_interval(waits: np.ndarray, batches: int = CONFIDENCE_BATCHES) -> tuple[float, float]:
    """Return the mean wait and the half-width of its 95% confidence interval by batch means.

    The waits are cut into ``batches`` consecutive batches of equal size (the
    remainder is dropped). The batch means are close to independent when a
    batch is much longer than the queue's correlation time. At utilisation 0.8
    that holds for the default 10,000 customers per batch, while runs of a few
    thousand customers give only a rough interval.
    """
    size = len(waits) // batches
    if size == 0:
        raise ValueError(f"batch means need at least {batches} waits, got {len(waits)}. Simulate more customers.")
    means = waits[: size * batches].reshape(batches, size).mean(axis=1)
    half_width = stats.t.ppf(0.975, batches - 1) * means.std(ddof=1) / math.sqrt(batches)
    return float(waits.mean()), float(half_width)


def summarise(runs: list[dict], expected_wait: float) -> dict:
    """Combine the repeats of one implementation: best and median rate, pooled mean wait."""
    rates = [run["customers_per_s"] for run in runs]
    # The repeats use different seeds, so their means are independent estimates
    # and the pooled half-width combines their half-widths in quadrature.
    pooled_wait = statistics.fmean(run["mean_wait_s"] for run in runs)
    pooled_half_width = math.sqrt(sum(run["mean_wait_ci95_half_width_s"] ** 2 for run in runs)) / len(runs)
    return {
        "customers_per_s": max(rates),
        "median_customers_per_s": statistics.median(rates),
        "mean_wait_s": pooled_wait,
        "mean_wait_ci95_half_width_s": pooled_half_width,
        "mean_wait_relative_error": (pooled_wait - expected_wait) / expected_wait,
        "erlang_c_within_ci95": abs(pooled_wait - expected_wait) <= pooled_half_width,
        "runs": runs,
    }


# -- report ----------------------------------------------------------------------


def format_table(results: dict, repeats: int, expected_wait: float) -> str:
    header = (
        f"{'implementation':<16} {f'customers/s (best of {repeats})':>26} {'median':>10} "
        f"{'mean wait s':>12} {'95% CI +-':>10} {'vs Erlang C':>12}"
    )
    lines = [header, "-" * len(header)]
    for name in IMPLEMENTATIONS:
        result = results[name]
        lines.append(
            f"{LABELS[name]:<16} {result['customers_per_s']:>26,.0f} {result['median_customers_per_s']:>10,.0f} "
            f"{result['mean_wait_s']:>12.4f} {result['mean_wait_ci95_half_width_s']:>10.4f} "
            f"{result['mean_wait_relative_error']:>+12.1%}"
        )
    lines.append(f"{'Erlang C':<16} {'':>26} {'':>10} {expected_wait:>12.4f}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            f"Simulate M/M/{SERVERS} at utilisation {UTILISATION} with devsim, a plain SimPy model and Ciw, "
            "and report customers simulated per second of each."
        )
    )
    parser.add_argument(
        "--customers", type=int, default=DEFAULT_CUSTOMERS,
        help=f"customers per run, at least {MIN_CUSTOMERS} (default {DEFAULT_CUSTOMERS:,})",
    )
    parser.add_argument(
        "--repeats", type=int, default=DEFAULT_REPEATS,
        help=f"interleaved runs of each implementation, of which the best rate is reported (default {DEFAULT_REPEATS})",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED,
        help=f"seed of the first repeat, and repeat k uses seed + k (default {DEFAULT_SEED})",
    )
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT,
        help=f"JSON file to write (default {DEFAULT_OUTPUT.relative_to(REPOSITORY_ROOT)})",
    )
    args = parser.parse_args(argv)
    if args.customers < MIN_CUSTOMERS:
        parser.error(f"--customers must be at least {MIN_CUSTOMERS} for the batch-means interval, got {args.customers}")
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    profile = mmc_profile()
    expected_wait = mmc_mean_wait(ARRIVAL_RATE, SERVICE_RATE, SERVERS)

    warm_up = min(WARM_UP_CUSTOMERS, args.customers)
    for name in IMPLEMENTATIONS:
        run_once(name, warm_up, args.seed, profile)

    runs: dict[str, list[dict]] = {name: [] for name in IMPLEMENTATIONS}
    for repeat in range(args.repeats):
        seed = args.seed + repeat
        for name in IMPLEMENTATIONS:
            run = run_once(name, args.customers, seed, profile)
            runs[name].append(run)
            print(
                f"repeat {repeat + 1}/{args.repeats} {LABELS[name]:<16} "
                f"{run['customers']:>9,} customers in {run['seconds']:7.2f} s = {run['customers_per_s']:>10,.0f}/s",
                file=sys.stderr,
            )

    results = {name: summarise(runs[name], expected_wait) for name in IMPLEMENTATIONS}
    ratios = {
        "devsim_to_plain_simpy": results["devsim"]["customers_per_s"] / results["plain_simpy"]["customers_per_s"],
        "devsim_to_ciw": results["devsim"]["customers_per_s"] / results["ciw"]["customers_per_s"],
    }
    report = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(["python", *sys.argv]) if argv is None else shlex.join(["python", "benchmarks/run.py", *argv]),
        "machine": machine_info(("simpy", "ciw", "numpy", "pandas", "devsim")),
        "scenario": {
            "model": f"M/M/{SERVERS}",
            "servers": SERVERS,
            "service_rate_per_s": SERVICE_RATE,
            "arrival_rate_per_s": ARRIVAL_RATE,
            "utilisation": UTILISATION,
            "customers": args.customers,
            "repeats": args.repeats,
            "seeds": [args.seed + repeat for repeat in range(args.repeats)],
            "erlang_c_mean_wait_s": expected_wait,
        },
        "statistic": "customers_per_s is the best (fastest) of the repeats; median_customers_per_s is the median",
        "devsim_timing": "simulate() end to end, including building its result frames; profile loading excluded",
        "results": results,
        "ratios": ratios,
        "targets": {
            "devsim_at_least_half_plain_simpy": ratios["devsim_to_plain_simpy"] >= 0.5,
            "devsim_faster_than_ciw": ratios["devsim_to_ciw"] > 1.0,
        },
    }

    print(format_table(results, args.repeats, expected_wait))
    print(
        f"devsim / plain SimPy = {ratios['devsim_to_plain_simpy']:.2f} (target >= 0.50), "
        f"devsim / Ciw = {ratios['devsim_to_ciw']:.2f} (target > 1.00)"
    )
    print("devsim's time includes building its result frames.")

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
