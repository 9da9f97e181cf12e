"""Measure devsim's load forecasters: accuracy on real traces, fit time and latency of one forecast.

Three parts, all on the vendored real data sets:

* Accuracy: :func:`devsim.ml.forecast.evaluate` of every model on each case in
  ``CASES``, trained on the first 70% of the series and scored on the rest.
  MAE, sMAPE (percent) and MASE, plus the wall-clock time of ``fit``.
* Latency: ``predict_one``, the fast path for a single forecast, timed call by
  call with ``time.perf_counter_ns`` after a warm-up, on the NYC taxi models of
  horizon 1 hour. p50 and p99 are reported.
* Online refits: NYC taxi from September 2014 to January 2015 with horizon
  1 hour, a model fitted once on the first 28 days against
  :class:`devsim.ml.forecast.OnlineForecaster` refitting every day on the last
  28 days. MAE before and after 2014-11-20, a week before Thanksgiving.

Usage::

    python benchmarks/forecast.py [--calls N] [--warm-up N] [--output PATH]
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
import time
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
# Benchmark the devsim of this checkout even where another copy is installed.
sys.path.insert(0, str(REPOSITORY_ROOT))

from benchmark_machine import machine_info  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from devsim.datasets import load_dataset  # noqa: E402
from devsim.ml.forecast import (  # noqa: E402
    LastValue,
    LinearForecaster,
    LoadForecaster,
    OnlineForecaster,
    SeasonalNaive,
    evaluate,
    mae,
    make_rate_series,
    requests_to_rate,
    run_online,
)

DEFAULT_CALLS = 1000
DEFAULT_WARM_UP = 100
DEFAULT_OUTPUT = REPOSITORY_ROOT / "benchmarks" / "forecast-results.json"
TRAIN_FRACTION = 0.7

# The Azure trace spans one hour, so it has no daily lag and no calendar features.
AZURE_OPTIONS = {"lags": (1, 2, 3, 5, 10), "rolling_windows": (3, 10), "calendar": ()}

ONLINE_SPAN = ("2014-09-01", "2015-01-31")
ONLINE_CHANGE = "2014-11-20"
ONLINE_WINDOW = "28D"
ONLINE_RETRAIN_EVERY = "1D"


def load_series() -> dict[str, pd.Series]:
    return {
        "nab-elb-request-count-8c0756": make_rate_series(load_dataset("nab-elb-request-count-8c0756"),
                                                         fill_gaps="interpolate"),
        "nab-nyc-taxi": make_rate_series(load_dataset("nab-nyc-taxi")),
        "azure-llm-code": requests_to_rate(load_dataset("azure-llm-code")["timestamp"], freq="1min").astype(float),
    }


def models_for(dataset: str, horizon: int) -> dict:
    if dataset == "azure-llm-code":
        return {
            "last_value": LastValue(horizon=horizon),
            "linear": LinearForecaster(horizon=horizon, **AZURE_OPTIONS),
            "xgboost": LoadForecaster(horizon=horizon, **AZURE_OPTIONS),
        }
    return {
        "last_value": LastValue(horizon=horizon),
        "seasonal_naive_day": SeasonalNaive(season="1D", horizon=horizon),
        "seasonal_naive_week": SeasonalNaive(season="7D", horizon=horizon),
        "linear": LinearForecaster(horizon=horizon),
        "xgboost": LoadForecaster(horizon=horizon),
    }


# Dataset, horizon in steps, and the horizon in words.
CASES = (
    ("nab-elb-request-count-8c0756", 1, "5 min"),
    ("nab-elb-request-count-8c0756", 12, "1 h"),
    ("nab-nyc-taxi", 1, "30 min"),
    ("nab-nyc-taxi", 2, "1 h"),
    ("azure-llm-code", 1, "1 min"),
)


def measure_accuracy(series: dict[str, pd.Series]) -> list[dict]:
    rows = []
    for dataset, horizon, horizon_text in CASES:
        scores = evaluate(models_for(dataset, horizon), series[dataset], train_fraction=TRAIN_FRACTION)
        for model, score in scores.iterrows():
            rows.append({
                "dataset": dataset,
                "horizon_steps": horizon,
                "horizon": horizon_text,
                "model": model,
                "mae": float(score["mae"]),
                "smape_percent": float(score["smape"]),
                "mase": float(score["mase"]),
                "mase_season_steps": int(score["mase_season"]),
                "fit_s": float(score["fit_s"]),
                "predict_series_s": float(score["predict_s"]),
                "n_train": int(score["n_train"]),
                "n_test": int(score["n_test"]),
            })
        print(f"accuracy: {dataset} horizon {horizon_text} done", file=sys.stderr)
    return rows


def measure_latency(series: pd.Series, calls: int, warm_up: int) -> list[dict]:
    """Time ``predict_one`` per call, as a simulator calling it every 15 s would."""
    train = series.iloc[: int(len(series) * TRAIN_FRACTION)]
    rows = []
    for name, model in models_for("nab-nyc-taxi", 2).items():
        model.fit(train)
        values = train.to_numpy()[-model.window_size_:]
        target = train.index[-1] + 2 * model.freq_
        for _ in range(warm_up):
            model.predict_one(values, target)
        samples = np.empty(calls)
        for call in range(calls):
            started = time.perf_counter_ns()
            model.predict_one(values, target)
            samples[call] = time.perf_counter_ns() - started
        rows.append({
            "model": name,
            "window_size": int(model.window_size_),
            "calls": calls,
            "p50_ms": float(np.percentile(samples, 50) / 1e6),
            "p99_ms": float(np.percentile(samples, 99) / 1e6),
            "max_ms": float(samples.max() / 1e6),
        })
    return rows


def measure_online(series: pd.Series) -> dict:
    span = series.loc[ONLINE_SPAN[0]:ONLINE_SPAN[1]]
    started = time.perf_counter()
    online = OnlineForecaster(LoadForecaster(horizon=2), window=ONLINE_WINDOW, retrain_every=ONLINE_RETRAIN_EVERY)
    forecasts = run_online(online, span).dropna()
    online_s = time.perf_counter() - started
    static = LoadForecaster(horizon=2).fit(span.loc[: forecasts["trained_until"].iloc[0]])
    static_forecast = static.predict(span).loc[forecasts.index]

    result = {
        "dataset": "nab-nyc-taxi",
        "span": list(ONLINE_SPAN),
        "horizon": "1 h",
        "window": ONLINE_WINDOW,
        "retrain_every": ONLINE_RETRAIN_EVERY,
        "change": ONLINE_CHANGE,
        "refits": online.n_refits_,
        "online_run_s": online_s,
    }
    for part, mask in (("before", forecasts.index < ONLINE_CHANGE), ("after", forecasts.index >= ONLINE_CHANGE)):
        actual = forecasts.loc[mask, "actual"]
        result[f"n_{part}"] = int(mask.sum())
        result[f"online_mae_{part}"] = mae(actual, forecasts.loc[mask, "forecast"])
        result[f"static_mae_{part}"] = mae(actual, static_forecast.loc[mask])
    return result


def format_accuracy(rows: list[dict]) -> str:
    lines = [f"{'dataset':<30} {'horizon':>7} {'model':<20} {'MAE':>10} {'sMAPE %':>8} {'MASE':>6} {'fit s':>7}"]
    for row in rows:
        lines.append(
            f"{row['dataset']:<30} {row['horizon']:>7} {row['model']:<20} {row['mae']:>10.2f} "
            f"{row['smape_percent']:>8.2f} {row['mase']:>6.3f} {row['fit_s']:>7.3f}"
        )
    return "\n".join(lines)


def format_latency(rows: list[dict]) -> str:
    lines = [f"{'model':<20} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"]
    for row in rows:
        lines.append(f"{row['model']:<20} {row['p50_ms']:>8.3f} {row['p99_ms']:>8.3f} {row['max_ms']:>8.3f}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=DEFAULT_CALLS,
                        help=f"timed predict_one calls per model (default {DEFAULT_CALLS})")
    parser.add_argument("--warm-up", type=int, default=DEFAULT_WARM_UP,
                        help=f"untimed predict_one calls before timing (default {DEFAULT_WARM_UP})")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help=f"path of the JSON report (default {DEFAULT_OUTPUT.relative_to(REPOSITORY_ROOT)})")
    args = parser.parse_args(argv)
    if args.calls < 100:
        parser.error(f"--calls must be at least 100 for a p99, got {args.calls}")
    if args.warm_up < 0:
        parser.error(f"--warm-up must be 0 or more, got {args.warm_up}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    series = load_series()

    accuracy = measure_accuracy(series)
    latency = measure_latency(series["nab-nyc-taxi"], args.calls, args.warm_up)
    print("latency: done", file=sys.stderr)
    online = measure_online(series["nab-nyc-taxi"])
    print("online: done", file=sys.stderr)

    report = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(["python", *sys.argv]) if argv is None else
        shlex.join(["python", "benchmarks/forecast.py", *argv]),
        "machine": machine_info(("numpy", "pandas", "scikit-learn", "xgboost-cpu", "xgboost", "devsim")),
        "split": f"time-ordered: first {TRAIN_FRACTION:.0%} of each series for training, the rest for scoring",
        "accuracy": accuracy,
        "latency": {"dataset": "nab-nyc-taxi", "horizon": "1 h", "warm_up_calls": args.warm_up,
                    "models": latency},
        "online": online,
    }

    print(format_accuracy(accuracy))
    print()
    print(f"predict_one latency, {args.calls} calls after {args.warm_up} warm-up calls (NYC taxi, horizon 1 h):")
    print(format_latency(latency))
    print()
    print(
        f"online refits on NYC taxi {ONLINE_SPAN[0]} .. {ONLINE_SPAN[1]} ({online['refits']} refits, "
        f"{online['online_run_s']:.1f} s): MAE from {ONLINE_CHANGE} online {online['online_mae_after']:.0f}, "
        f"static {online['static_mae_after']:.0f}; before it online {online['online_mae_before']:.0f}, "
        f"static {online['static_mae_before']:.0f}"
    )

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
