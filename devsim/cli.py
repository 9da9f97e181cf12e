"""The ``devsim`` command.

Subcommands::

    devsim run --profile production --trace azure-llm-code [--rate-multiplier X]
               [--window START:END] [--seed N] [--engine auto|des|flow]
               [--format table|json] [--out DIR]
    devsim compare production development --trace NAME [same options as run]
    devsim deploy --profile production --strategy rolling|recreate|blue-green|canary
                  --release good|crash-loop|not-ready|error-rate|slow|memory-leak
                  --rollback none|failure|analysis [--format table|json]
    devsim autoscale --trace NAME --policies manual,hpa,predictive [--format table|json]
    devsim train-forecaster --trace NAME --out MODEL.json [--horizon STEPS]
    devsim serve-model --model MODEL.json [--host 127.0.0.1] [--port 9002]
    devsim validate [--format table|json] [--customers N] [--replications R]
    devsim datasets [--format table|json]
    devsim profiles

Errors in the input (an unknown profile or dataset, a bad window, an invalid
override) print one message to standard error and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

__all__ = ["main", "build_parser"]

logger = logging.getLogger(__name__)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number greater than 0")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trace", required=True, help="shipped dataset to replay (see `devsim datasets`)")
    parser.add_argument("--rate-multiplier", type=_positive_float, default=1.0, help="scales the trace's request rate (default 1)")
    parser.add_argument("--window", default=None, help="part of the trace to replay, START:END in seconds or durations such as 10min:20min (default: all)")
    parser.add_argument("--speedup", type=_positive_float, default=1.0, help="replays the trace this many times faster (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--replicas", type=_positive_int, default=None, help="fixed replica count: manual scaling instead of the profile's policy")
    parser.add_argument("--engine", choices=("auto", "des", "flow"), default="auto",
                        help="des replays every request, flow steps through time; auto picks flow for traces over 6 hours")
    parser.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the result frames and an HTML report")
    parser.add_argument("--frames", choices=("csv", "parquet"), default="csv", help="file format of the frames written with --out (default csv)")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``devsim`` command."""
    from devsim import __version__

    parser = argparse.ArgumentParser(prog="devsim", description="Simulate the DevOps Simulator environments on real traffic.")
    parser.add_argument("--version", action="version", version=f"devsim {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="also log progress to standard error (warnings are always logged)")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="simulate one environment on a trace and print its summary")
    run.add_argument("--profile", default="production", help="environment profile name or YAML path (default production)")
    _add_run_options(run)

    compare = sub.add_parser("compare", help="simulate two or more environments on the same trace, side by side")
    compare.add_argument("profiles", nargs="+", help="profile names or YAML paths, e.g. production development")
    _add_run_options(compare)

    deploy = sub.add_parser("deploy", help="roll out a new release under traffic and report failed requests and rollback")
    deploy.add_argument("--profile", default="production", help="environment profile name or YAML path (default production)")
    deploy.add_argument("--strategy", choices=("rolling", "recreate", "blue-green", "canary"), default="rolling",
                        help="rollout strategy (default rolling)")
    deploy.add_argument("--release", default="good",
                        help="good, crash-loop, not-ready, error-rate, slow or memory-leak (default good)")
    deploy.add_argument("--rollback", choices=("none", "failure", "analysis"), default="failure",
                        help="none: Kubernetes alone; failure: on a progress deadline or crash loop; analysis: also on error ratio or p95 (default failure)")
    deploy.add_argument("--max-surge", default="25%", help="pods or percentage above the desired count during a rolling update (default 25%%)")
    deploy.add_argument("--max-unavailable", default="25%", help="pods or percentage that may be unavailable during a rolling update (default 25%%)")
    deploy.add_argument("--replicas", type=_positive_int, default=None, help="desired replicas (default: the profile's)")
    deploy.add_argument("--rate", type=_positive_float, default=None, help="requests per second during the rollout (default: 40%% of capacity)")
    deploy.add_argument("--no-drain", action="store_true", help="kill removed pods at once instead of draining them")
    deploy.add_argument("--no-readiness-probe", action="store_true", help="send traffic to pods as soon as their container starts")
    deploy.add_argument("--progress-deadline", type=_positive_float, default=600.0, help="progressDeadlineSeconds (default 600)")
    deploy.add_argument("--max-p95", type=_positive_float, default=None, help="p95 latency limit in seconds for analysis (default: none)")
    deploy.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    deploy.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")

    autoscale = sub.add_parser("autoscale", help="compare manual, HPA and predictive scaling on the later part of a trace")
    autoscale.add_argument("--trace", required=True, help="shipped dataset to replay (see `devsim datasets`)")
    autoscale.add_argument("--policies", default="manual,hpa,predictive",
                           help="comma-separated: manual, hpa, predictive, predictive-online (default manual,hpa,predictive)")
    autoscale.add_argument("--profile", default="production", help="environment profile name or YAML path (default production)")
    autoscale.add_argument("--rate-multiplier", type=_positive_float, default=1.0, help="scales the trace's request rate (default 1)")
    autoscale.add_argument("--startup-delay", type=float, default=None, help="instance startup delay in seconds (default: the profile's)")
    autoscale.add_argument("--max-replicas", type=_positive_int, default=None, help="upper replica bound (default: the profile's)")
    autoscale.add_argument("--train-fraction", type=float, default=0.5, help="share of the trace that trains the forecaster (default 0.5)")
    autoscale.add_argument("--test-window", default=None, help="START:END of the replayed part, relative to its start (default: all of it)")
    autoscale.add_argument("--headroom", type=float, default=0.2, help="extra capacity share on top of the forecast (default 0.2)")
    autoscale.add_argument("--slo-p95", type=_positive_float, default=0.5, help="p95 latency SLO in seconds per metrics interval (default 0.5)")
    autoscale.add_argument("--engine", choices=("auto", "des", "flow"), default="auto",
                           help="simulation engine; auto picks flow for traces over 6 hours")
    autoscale.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    autoscale.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")

    train = sub.add_parser("train-forecaster", help="fit the XGBoost load forecaster on a trace and save it as JSON")
    train.add_argument("--trace", required=True, help="shipped dataset to learn from")
    train.add_argument("--out", type=Path, required=True, help="file to write the model to")
    train.add_argument("--horizon", type=_positive_int, default=1, help="steps ahead to forecast (default 1)")

    serve = sub.add_parser("serve-model", help="serve a saved forecaster over HTTP (POST /predict, GET /health)")
    serve.add_argument("--model", type=Path, required=True, help="file written by train-forecaster")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    serve.add_argument("--port", type=_positive_int, default=9002, help="port (default 9002, the experimental AI API port)")

    validate = sub.add_parser("validate", help="compare simulated M/M/c waits with Erlang C")
    validate.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    validate.add_argument("--customers", type=_positive_int, default=60_000, help="customers per replication (default 60000)")
    validate.add_argument("--replications", type=_positive_int, default=10, help="replications per grid point (default 10)")
    validate.add_argument("--seed", type=int, default=2024, help="base random seed (default 2024)")

    datasets = sub.add_parser("datasets", help="list the shipped datasets")
    datasets.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")

    sub.add_parser("profiles", help="list the shipped environment profiles")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``devsim`` command; return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return _COMMANDS[args.command](args)
    except BrokenPipeError:
        # The reader of standard output (e.g. `head`) closed it early.
        sys.stderr.close()
        return 0
    except (ValueError, KeyError, FileNotFoundError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
        print(f"devsim: error: {message}", file=sys.stderr)
        return 2


# -- run and compare -----------------------------------------------------


def _simulate_profile(profile_name: str, args) -> Any:
    from devsim.profiles import load_profile
    from devsim.sim import HorizontalPodAutoscaler, Manual, Scenario
    from devsim.sim.autoscaling import policy_from_profile
    from devsim.sim.flow import run_scenario
    from devsim.workload import trace_workload

    profile = load_profile(profile_name)
    workload = trace_workload(args.trace, rate_multiplier=args.rate_multiplier, window=args.window, speedup=args.speedup)
    if args.replicas is not None:
        autoscaler = Manual(args.replicas)
    elif profile.scaling.mode == "predictive":
        logger.warning(
            "profile %r asks for predictive scaling, which needs a forecaster trained on the trace; "
            "this command uses the HPA, and `devsim autoscale` compares the predictive policy", profile.name,
        )
        autoscaler = HorizontalPodAutoscaler.from_profile(profile)
    else:
        autoscaler = policy_from_profile(profile)
    return run_scenario(Scenario(profile, workload, autoscaler=autoscaler), seed=args.seed, engine=args.engine)


def _check_out_folder(folder: Path | None) -> None:
    # Fail before a long simulation, not after it.
    if folder is None:
        return
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--out {folder} is a file; give a folder path (it is created if missing)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"cannot create the --out folder {folder}: {error.strerror}") from None


def _run(args) -> int:
    _check_out_folder(args.out)
    result = _simulate_profile(args.profile, args)
    summary = result.summary()
    if args.out is not None:
        summary["output_files"] = _write_outputs(result, args.out, args.frames)
    if args.format == "json":
        print(json.dumps(summary, indent=2))
    else:
        print(_table([("", summary)]))
    return 0


def _compare(args) -> int:
    if len(args.profiles) < 2:
        raise ValueError("compare needs at least two profiles, e.g. `devsim compare production development --trace azure-llm-code`")
    _check_out_folder(args.out)
    columns = []
    for name in args.profiles:
        result = _simulate_profile(name, args)
        summary = result.summary()
        if args.out is not None:
            summary["output_files"] = _write_outputs(result, args.out / result.profile.name, args.frames)
        columns.append((result.profile.name, summary))
    if args.format == "json":
        print(json.dumps({name: summary for name, summary in columns}, indent=2))
    else:
        print(_table(columns))
    return 0


def _write_outputs(result, folder: Path, frames: str) -> list[str]:
    from devsim.report import write_report

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in ("requests", "metrics", "events"):
        frame = getattr(result, name)
        path = folder / f"{name}.{frames}"
        if frames == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
        written.append(str(path))
    summary_path = folder / "summary.json"
    summary_path.write_text(json.dumps(result.summary(), indent=2) + "\n", encoding="utf-8")
    written.append(str(summary_path))
    written.append(str(write_report(result, folder / "report.html")))
    return written


# -- validate, datasets, profiles -----------------------------------------


def _validate(args) -> int:
    from devsim.validation import validate_mmc

    frame = validate_mmc(customers=args.customers, replications=args.replications, seed=args.seed)
    if args.format == "json":
        print(frame.to_json(orient="records", indent=2))
    else:
        shown = frame.assign(
            relative_error=(frame["relative_error"] * 100).map("{:+.2f}%".format),
            interval=[f"[{lo:.4g}, {hi:.4g}]" for lo, hi in zip(frame["ci_low_s"], frame["ci_high_s"])],
        )[["servers", "utilization", "theory_wait_s", "simulated_wait_s", "interval", "relative_error", "within_ci"]]
        print(shown.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
        print(f"\n{int(frame['within_ci'].sum())} of {len(frame)} grid points have Erlang C inside the 99% interval "
              f"({args.replications} replications x {args.customers} customers each, first 10% discarded).")
    return 0 if frame["within_ci"].all() else 1


def _deploy(args) -> int:
    from devsim.sim.deployment import (
        RELEASES, BlueGreen, Canary, Readiness, Recreate, RollbackPolicy, RollingUpdate, simulate_rollout,
    )

    if args.release not in RELEASES:
        raise ValueError(f"unknown release {args.release!r}; choose one of {', '.join(RELEASES)}")
    if args.strategy != "rolling" and (args.max_surge != "25%" or args.max_unavailable != "25%"):
        logger.warning("--max-surge and --max-unavailable apply to the rolling strategy only; %s ignores them", args.strategy)
    surge = _pods_or_percent(args.max_surge)
    unavailable = _pods_or_percent(args.max_unavailable)
    strategies = {
        "rolling": lambda: RollingUpdate(max_surge=surge, max_unavailable=unavailable, progress_deadline_s=args.progress_deadline),
        "recreate": lambda: Recreate(progress_deadline_s=args.progress_deadline),
        "blue-green": lambda: BlueGreen(progress_deadline_s=args.progress_deadline),
        "canary": lambda: Canary(progress_deadline_s=args.progress_deadline),
    }
    policy = RollbackPolicy(args.rollback, max_p95_s=args.max_p95)
    result = simulate_rollout(
        args.profile, strategy=strategies[args.strategy](), release=args.release, rollback=policy,
        readiness=Readiness(enabled=not args.no_readiness_probe), replicas=args.replicas, rate=args.rate,
        drain=not args.no_drain, max_duration_s=max(900.0, args.progress_deadline + 300.0), seed=args.seed,
    )
    report = result.summary()
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        print(_table([("", report)]))
    return 0


def _pods_or_percent(text: str):
    text = text.strip()
    if text.endswith("%"):
        return text
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither a whole number of pods nor a percentage such as '25%'") from None


def _autoscale(args) -> int:
    from devsim.autoscale import compare_policies

    policies = tuple(name.strip() for name in args.policies.split(",") if name.strip())
    if not policies:
        raise ValueError("--policies is empty; give e.g. manual,hpa,predictive")
    if not 0 < args.train_fraction < 1:
        raise ValueError(f"--train-fraction must be between 0 and 1, got {args.train_fraction}")
    if args.headroom < 0:
        raise ValueError(f"--headroom must be 0 or more, got {args.headroom}")
    if args.startup_delay is not None and args.startup_delay < 0:
        raise ValueError(f"--startup-delay must be 0 or more seconds, got {args.startup_delay}")
    overrides = {} if args.max_replicas is None else {"scaling__max_replicas": args.max_replicas}
    comparison = compare_policies(
        args.trace, policies=policies, profile=args.profile, rate_multiplier=args.rate_multiplier,
        train_fraction=args.train_fraction, test_window=args.test_window, startup_delay_s=args.startup_delay,
        slo_p95_s=args.slo_p95, headroom=args.headroom, engine=args.engine, seed=args.seed, **overrides,
    )
    table = comparison.table.drop(columns=["autoscaler"])
    if args.format == "json":
        print(json.dumps({"settings": comparison.settings, "policies": json.loads(table.to_json(orient="index"))}, indent=2))
    else:
        print(table.to_string(float_format=lambda x: f"{x:.4g}"))
        print(f"\nTrained on the trace before {comparison.settings['test_start']}; an interval violates the SLO when "
              f"its p95 latency exceeds {args.slo_p95:g} s or more than 1% of its requests fail.")
    return 0


def _train_forecaster(args) -> int:
    from devsim.autoscale import trace_series
    from devsim.ml.forecast import LoadForecaster

    series = trace_series(args.trace)
    model = LoadForecaster(horizon=args.horizon).fit(series)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    print(f"saved a LoadForecaster (horizon {args.horizon} steps of {model.freq_}, window {model.window_size_} values) to {args.out}")
    return 0


def _serve_model(args) -> int:
    from devsim.ml.serve import serve

    if not args.model.is_file():
        raise FileNotFoundError(f"model file {args.model} not found; write one with `devsim train-forecaster --trace NAME --out {args.model}`")
    print(f"serving {args.model} on http://{args.host}:{args.port} (POST /predict, GET /health); press Ctrl+C to stop",
          flush=True)
    serve(args.model, host=args.host, port=args.port)
    return 0


def _datasets(args) -> int:
    from devsim.datasets import list_datasets

    frame = list_datasets()
    if args.format == "json":
        print(frame.to_json(orient="records", indent=2, date_format="iso"))
    else:
        print(frame[["name", "kind", "rows", "licence", "description"]].to_string(index=False, max_colwidth=60))
    return 0


def _profiles(args) -> int:
    from devsim.profiles import load_profile, profile_names

    for name in profile_names():
        profile = load_profile(name)
        s = profile.scaling
        print(f"{name:13} port {profile.app.port:<5} scaling {s.mode:10} replicas {s.min_replicas}-{s.max_replicas}  "
              f"database {profile.database.topology} x{profile.database.nodes}  alerts {profile.monitoring.alert_channel}")
    return 0


def _format_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        folders = sorted({str(Path(item).parent) for item in value})
        return f"{len(value)} files in {', '.join(folders)}"
    return str(value)


def _table(columns: list[tuple[str, dict]]) -> str:
    keys = list(columns[0][1])
    header = ["", *[name for name, _ in columns]] if any(name for name, _ in columns) else None
    rows = [[key, *[_format_value(summary.get(key)) for _, summary in columns]] for key in keys]
    if header:
        rows.insert(0, header)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [cell.rjust(widths[i + 1]) if len(columns) > 1 else cell for i, cell in enumerate(row[1:])]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


_COMMANDS = {
    "run": _run,
    "compare": _compare,
    "deploy": _deploy,
    "autoscale": _autoscale,
    "train-forecaster": _train_forecaster,
    "serve-model": _serve_model,
    "validate": _validate,
    "datasets": _datasets,
    "profiles": _profiles,
}


if __name__ == "__main__":
    sys.exit(main())
