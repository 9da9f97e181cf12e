"""The HTML report of one run: its summary and its charts in one offline file."""

from __future__ import annotations

from pathlib import Path

__all__ = ["write_report"]


def write_report(result, path: str | Path) -> Path:
    """Write a self-contained HTML report of ``result`` to ``path`` and return the path.

    Charts are embedded as SVG, so the file opens without network access.
    """
    from devsim import charts

    path = Path(path)
    metrics = result.metrics
    figures = [
        ("Latency", charts.latency_chart(metrics)),
        ("Errors", charts.error_chart(metrics)),
        ("Replicas", charts.replicas_chart(metrics)),
        ("Cost", charts.cost_chart(metrics)),
        ("Arrivals", charts.arrivals_chart(metrics)),
    ]
    title = f"devsim run: {result.profile.name} on {result.workload}"
    charts.save_report(path, title, result.summary(), figures)
    return path
