"""Runs benchmarks/run.py with tiny parameters and checks the JSON it writes.

Speed is measured by the benchmark itself and recorded in benchmarks/README.md.
These tests check only that the script runs and reports what it promises, so
they assert no rates or time limits.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "run.py"
IMPLEMENTATIONS = ("devsim", "plain_simpy", "ciw")
CUSTOMERS = 2000


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    output = tmp_path_factory.mktemp("benchmark") / "results.json"
    completed = run_script("--customers", str(CUSTOMERS), "--repeats", "1", "--output", str(output))
    assert completed.returncode == 0, completed.stderr
    assert output.is_file(), f"benchmark exited 0 but wrote no {output}; stdout:\n{completed.stdout}"
    return json.loads(output.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", IMPLEMENTATIONS)
def test_rate_positive(report, name):
    result = report["results"][name]
    assert result["customers_per_s"] > 0
    assert result["median_customers_per_s"] > 0
    assert len(result["runs"]) == 1


@pytest.mark.parametrize("name", IMPLEMENTATIONS)
def test_run_counts_customers(report, name):
    run = report["results"][name]["runs"][0]
    # devsim draws a Poisson number of arrivals with mean CUSTOMERS, the
    # others simulate exactly CUSTOMERS. 10% is about 4.5 standard deviations.
    assert abs(run["customers"] - CUSTOMERS) <= 0.1 * CUSTOMERS
    assert run["seconds"] > 0
    assert run["customers_per_s"] == pytest.approx(run["customers"] / run["seconds"])


@pytest.mark.parametrize("name", IMPLEMENTATIONS)
def test_mean_wait_reported(report, name):
    result = report["results"][name]
    assert result["mean_wait_s"] > 0
    assert result["mean_wait_ci95_half_width_s"] > 0
    expected = report["scenario"]["erlang_c_mean_wait_s"]
    assert result["mean_wait_relative_error"] == pytest.approx((result["mean_wait_s"] - expected) / expected)
    assert isinstance(result["erlang_c_within_ci95"], bool)


def test_ratios_match_rates(report):
    rates = {name: report["results"][name]["customers_per_s"] for name in IMPLEMENTATIONS}
    ratios = report["ratios"]
    assert ratios["devsim_to_plain_simpy"] == pytest.approx(rates["devsim"] / rates["plain_simpy"])
    assert ratios["devsim_to_ciw"] == pytest.approx(rates["devsim"] / rates["ciw"])
    assert report["targets"]["devsim_at_least_half_plain_simpy"] == (ratios["devsim_to_plain_simpy"] >= 0.5)
    assert report["targets"]["devsim_faster_than_ciw"] == (ratios["devsim_to_ciw"] > 1.0)


def test_scenario_is_mm4_at_0_8(report):
    scenario = report["scenario"]
    assert scenario["servers"] == 4
    assert scenario["utilisation"] == pytest.approx(0.8)
    assert scenario["arrival_rate_per_s"] == pytest.approx(3.2)
    assert scenario["customers"] == CUSTOMERS
    assert scenario["erlang_c_mean_wait_s"] > 0


def test_machine_and_command_recorded(report):
    machine = report["machine"]
    assert machine["python"]
    assert machine["platform"]
    assert machine["packages"]["simpy"]
    assert machine["packages"]["ciw"]
    assert "--customers" in report["command"]
    assert report["date_utc"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--customers", "10"), "--customers must be at least"),
        (("--repeats", "0"), "--repeats must be at least 1"),
    ],
)
def test_invalid_arguments_rejected(tmp_path, args, message):
    output = tmp_path / "results.json"
    completed = run_script(*args, "--output", str(output))
    assert completed.returncode == 2
    assert message in completed.stderr
    assert not output.exists()
