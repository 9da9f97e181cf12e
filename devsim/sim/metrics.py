"""Periodic metrics, in the manner of a Prometheus scrape.

During a run, :class:`Scraper` samples the fleet every scrape interval (15 s
by default): replicas by state, worker utilisation and instance-seconds paid
for. After the run, :func:`interval_metrics` joins those gauges with counts and
latency quantiles computed from the per-request frame, one row per interval.
Each row describes the interval that ends at ``time_s``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["Scraper", "interval_metrics", "METRIC_COLUMNS"]

METRIC_COLUMNS = [
    "time_s",
    "arrivals",
    "completed",
    "throughput_rps",
    "p50_latency_s",
    "p95_latency_s",
    "p99_latency_s",
    "error_ratio",
    "ready_replicas",
    "desired_replicas",
    "provisioned_replicas",
    "utilization",
    "cost_usd",
]


class Scraper:
    """Samples fleet gauges every ``interval_s`` seconds of simulated time."""

    def __init__(self, env, cluster, interval_s: float, cost_per_hour: float):
        self.env = env
        self.cluster = cluster
        self.interval_s = interval_s
        self.cost_per_hour = cost_per_hour
        self.rows: list[dict] = []
        self._last_t = env.now
        self._last_busy = 0.0
        self._last_ready_workers = 0.0
        self._last_provisioned = 0.0

    def run(self):
        while True:
            yield self.env.timeout(self.interval_s)
            self.sample()

    def sample(self) -> None:
        """Record one row of gauges for the interval that ends now."""
        now = self.env.now
        if now <= self._last_t and self.rows:
            return
        cluster = self.cluster
        busy = sum(inst.busy_area_at(now) for inst in cluster.instances)
        provisioned_area, ready_area = cluster.areas_at(now)
        ready_workers = ready_area * cluster.workers

        capacity = ready_workers - self._last_ready_workers
        utilization = (busy - self._last_busy) / capacity if capacity > 0 else np.nan
        self.rows.append(
            {
                "time_s": now,
                "ready_replicas": len(cluster.ready),
                "desired_replicas": len(cluster.active()),
                "provisioned_replicas": cluster.provisioned_count(),
                "utilization": utilization,
                "cost_usd": (provisioned_area - self._last_provisioned) * self.cost_per_hour / 3600.0,
            }
        )
        self._last_t = now
        self._last_busy = busy
        self._last_ready_workers = ready_workers
        self._last_provisioned = provisioned_area


def interval_metrics(requests: pd.DataFrame, gauges: list[dict], interval_s: float) -> pd.DataFrame:
    """Join scraped gauges with per-interval request statistics.

    Arrivals are counted in the interval where they arrive and completions in
    the interval where they end. Latency quantiles cover the requests that
    completed successfully in the interval; ``error_ratio`` is rejected plus
    timed-out requests over all requests that ended in the interval.
    """
    frame = pd.DataFrame(gauges, columns=["time_s", "ready_replicas", "desired_replicas", "provisioned_replicas", "utilization", "cost_usd"])
    if frame.empty:
        return pd.DataFrame(columns=METRIC_COLUMNS)
    edges = frame["time_s"].to_numpy()
    lengths = np.diff(np.concatenate([[0.0], edges]))

    def bucket(times: np.ndarray) -> np.ndarray:
        # Interval k covers (edges[k-1], edges[k]]; times at 0 fall in the first one.
        return np.clip(np.searchsorted(edges, times, side="left"), 0, len(edges) - 1)

    n = len(edges)
    arrivals = np.bincount(bucket(requests["arrival_s"].to_numpy()), minlength=n)
    end_bucket = bucket(requests["end_s"].to_numpy())
    ok = (requests["status"] == "ok").to_numpy()
    completed = np.bincount(end_bucket[ok], minlength=n)
    ended = np.bincount(end_bucket, minlength=n)
    failed = np.bincount(end_bucket[~ok], minlength=n)

    latencies = pd.Series(requests["latency_s"].to_numpy()[ok], index=end_bucket[ok])
    grouped = latencies.groupby(level=0)
    quantiles = {}
    for q, column in ((0.5, "p50_latency_s"), (0.95, "p95_latency_s"), (0.99, "p99_latency_s")):
        quantiles[column] = grouped.quantile(q).reindex(range(n)).to_numpy()

    frame.insert(1, "arrivals", arrivals[:n])
    frame.insert(2, "completed", completed[:n])
    frame.insert(3, "throughput_rps", completed[:n] / np.where(lengths > 0, lengths, np.nan))
    for offset, (column, values) in enumerate(quantiles.items()):
        frame.insert(4 + offset, column, values)
    with np.errstate(invalid="ignore", divide="ignore"):
        frame.insert(7, "error_ratio", np.where(ended[:n] > 0, failed[:n] / np.maximum(ended[:n], 1), 0.0))
    return frame[METRIC_COLUMNS]
