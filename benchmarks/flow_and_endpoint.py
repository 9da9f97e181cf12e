"""Measure the flow engine on long traces and the prediction endpoint on loopback.

Two parts:

* Flow engine: wall-clock time of :func:`devsim.sim.flow.simulate_flow` on the
  whole 14-day NAB ELB trace (x100, production profile with its HPA) and on the
  7-month NYC taxi trace (x30), best of ``--repeats``. On one day of the ELB
  trace, the request-level engine and the flow engine run the same scenario
  side by side and the ratio of their times is reported.
* Endpoint: ``devsim serve-model`` started as a subprocess on 127.0.0.1 with a
  NYC taxi forecaster, then ``--calls`` sequential ``POST /predict`` requests
  over one keep-alive connection; p50 and p99 of the round trip, next to
  ``predict_one`` in process on the same model and body.

Usage::

    python benchmarks/flow_and_endpoint.py [--repeats R] [--calls N] [--output PATH]
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
# Benchmark the devsim of this checkout even where another copy is installed.
sys.path.insert(0, str(REPOSITORY_ROOT))

from benchmark_machine import machine_info  # noqa: E402

import httpx  # noqa: E402
import numpy as np  # noqa: E402

from devsim.autoscale import trace_series  # noqa: E402
from devsim.ml.forecast import LoadForecaster  # noqa: E402
from devsim.sim import Scenario, simulate  # noqa: E402
from devsim.sim.flow import simulate_flow  # noqa: E402
from devsim.workload import trace_workload  # noqa: E402

DEFAULT_OUTPUT = REPOSITORY_ROOT / "benchmarks" / "flow-endpoint-results.json"


def best_time(function, repeats: int) -> tuple[float, object]:
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def measure_flow(repeats: int) -> dict:
    elb = Scenario("production", trace_workload("nab-elb-request-count-8c0756", rate_multiplier=100))
    taxi = Scenario("production", trace_workload("nab-nyc-taxi", rate_multiplier=30))
    elb_day = Scenario("production", trace_workload("nab-elb-request-count-8c0756", window="0:1D", rate_multiplier=100))

    elb_s, elb_result = best_time(lambda: simulate_flow(elb, seed=0), repeats)
    taxi_s, taxi_result = best_time(lambda: simulate_flow(taxi, seed=0), repeats)
    flow_day_s, _ = best_time(lambda: simulate_flow(elb_day, seed=0), repeats)
    des_day_s, des_day = best_time(lambda: simulate(elb_day, seed=0), 1)
    return {
        "elb_14_days_s": elb_s,
        "elb_14_days_steps": len(elb_result.metrics),
        "elb_14_days_requests": elb_result.summary()["requests"],
        "taxi_7_months_s": taxi_s,
        "taxi_7_months_steps": len(taxi_result.metrics),
        "taxi_7_months_requests": taxi_result.summary()["requests"],
        "elb_one_day_flow_s": flow_day_s,
        "elb_one_day_des_s": des_day_s,
        "elb_one_day_requests": des_day.summary()["requests"],
        "des_over_flow_time_ratio": des_day_s / flow_day_s,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def measure_endpoint(calls: int) -> dict:
    series = trace_series("nab-nyc-taxi")
    model = LoadForecaster(horizon=2).fit(series.iloc[: len(series) // 2])
    values = series.iloc[-model.window_size_ :]
    body = {"values": values.tolist(), "target_time": (values.index[-1] + 2 * model.freq_).isoformat()}

    in_process = []
    array = np.asarray(body["values"])
    for _ in range(100):
        model.predict_one(array, body["target_time"])
    for _ in range(calls):
        start = time.perf_counter_ns()
        model.predict_one(array, body["target_time"])
        in_process.append((time.perf_counter_ns() - start) / 1e6)

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.json"
        model.save(path)
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "devsim.cli", "serve-model", "--model", str(path), "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the endpoint did not start within 60 s") from None
                    time.sleep(0.2)
            round_trips = []
            with httpx.Client(base_url=url, timeout=5) as client:
                for _ in range(50):
                    client.post("/predict", json=body).raise_for_status()
                for _ in range(calls):
                    start = time.perf_counter_ns()
                    client.post("/predict", json=body).raise_for_status()
                    round_trips.append((time.perf_counter_ns() - start) / 1e6)
        finally:
            server.terminate()
            server.wait(timeout=10)

    return {
        "calls": calls,
        "in_process_p50_ms": float(np.percentile(in_process, 50)),
        "in_process_p99_ms": float(np.percentile(in_process, 99)),
        "http_p50_ms": float(np.percentile(round_trips, 50)),
        "http_p99_ms": float(np.percentile(round_trips, 99)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per flow measurement; the best counts (default 3)")
    parser.add_argument("--calls", type=int, default=500, help="timed prediction requests (default 500)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON file to write")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.calls < 10:
        parser.error("--repeats must be >= 1 and --calls >= 10")

    flow = measure_flow(args.repeats)
    endpoint = measure_endpoint(args.calls)
    report = {
        "date": datetime.date.today().isoformat(),
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "machine": machine_info(("simpy", "numpy", "pandas", "xgboost-cpu", "fastapi", "uvicorn", "devsim")),
        "flow": flow,
        "endpoint": endpoint,
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    print(f"flow engine, 14-day ELB x100 ({flow['elb_14_days_steps']} steps): {flow['elb_14_days_s']:.2f} s")
    print(f"flow engine, 7-month NYC taxi x30 ({flow['taxi_7_months_steps']} steps): {flow['taxi_7_months_s']:.2f} s")
    print(f"one ELB day x100 ({flow['elb_one_day_requests']} requests): request-level {flow['elb_one_day_des_s']:.2f} s, "
          f"flow {flow['elb_one_day_flow_s']:.3f} s, ratio {flow['des_over_flow_time_ratio']:.0f}")
    print(f"predict_one in process: p50 {endpoint['in_process_p50_ms']:.2f} ms, p99 {endpoint['in_process_p99_ms']:.2f} ms")
    print(f"POST /predict on loopback: p50 {endpoint['http_p50_ms']:.2f} ms, p99 {endpoint['http_p99_ms']:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
