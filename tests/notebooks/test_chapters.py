"""Execute every chapter and Voila app with papermill and check the figures they record.

Each notebook runs once per test session in the ``devsim`` Jupyter kernel, with
its folder as the working directory and the executed copy in a temporary
folder. The per-chapter tests then read the values that the chapter stored
with ``devsim.book.record``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devsim.book import read_records

ROOT = Path(__file__).resolve().parents[2]
KERNEL_NAME = "devsim"
# Per cell, in seconds. The slowest cell of a chapter takes a few seconds; the
# limit only stops a hung cell.
EXECUTION_TIMEOUT_S = 300

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "voila").glob("*.ipynb"))

# Parameters injected per notebook, by path relative to the repository root.
# The chapters' defaults already run in seconds; entries here make them smaller.
PARAMETERS: dict[str, dict[str, Any]] = {
    "notebooks/00-welcome.ipynb": {"DURATION_S": 120.0, "SEED": 1},
    "notebooks/01-core-components.ipynb": {"SEED": 1},
}

# Tolerance of the largest relative error between the simulated M/M/c mean wait
# and Erlang C in chapter 1's sweep. At 4 x 20,000 customers per point the
# standard error of the mean wait is a few percent, largest at low utilisation
# where the wait is small.
ERLANG_RELATIVE_TOLERANCE = 0.15

pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="session")
def devsim_kernel() -> str:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel:
        pytest.fail(
            f"Jupyter kernel {KERNEL_NAME!r} is not registered; run `make test` (or `make setup`), "
            f"which registers it with: .venv/bin/python -m ipykernel install --prefix .venv --name {KERNEL_NAME}"
        )
    return KERNEL_NAME


@pytest.fixture(scope="session")
def executed_notebooks(tmp_path_factory, devsim_kernel):
    """Return a function that executes a notebook once per session and returns the executed copy's path."""
    import papermill

    output_dir = tmp_path_factory.mktemp("executed")
    cache: dict[Path, Path] = {}

    def execute(source: Path) -> Path:
        if source not in cache:
            relative = source.relative_to(ROOT).as_posix()
            output = output_dir / relative.replace("/", "__")
            papermill.execute_notebook(
                str(source),
                str(output),
                parameters=PARAMETERS.get(relative, {}),
                kernel_name=devsim_kernel,
                language="python",
                execution_timeout=EXECUTION_TIMEOUT_S,
                cwd=str(source.parent),
                progress_bar=False,
            )
            cache[source] = output
        return cache[source]

    return execute


@pytest.fixture(scope="session")
def records(executed_notebooks):
    """Return a function that gives the recorded values of a notebook, by path relative to the root."""

    def read(relative: str) -> dict[str, Any]:
        path = ROOT / relative
        assert path.is_file(), f"{relative} not found"
        return read_records(executed_notebooks(path))

    return read


def test_notebooks_found():
    assert any(path.parent.name == "notebooks" for path in NOTEBOOKS), "no notebooks/*.ipynb found"
    assert any(path.parent.name == "voila" for path in NOTEBOOKS), "no voila/*.ipynb found"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_notebook_executes(notebook, executed_notebooks):
    # papermill raises PapermillExecutionError, naming the cell, if any cell fails.
    executed = executed_notebooks(notebook)
    assert executed.is_file()


# -- 00-welcome ---------------------------------------------------------------


def test_welcome_lists_three_profiles(records):
    recorded = records("notebooks/00-welcome.ipynb")
    assert recorded["profiles"] == ["production", "development", "experimental"]


def test_welcome_first_simulation(records):
    recorded = records("notebooks/00-welcome.ipynb")
    # 60 requests/s for 120 s: about 7,200 arrivals.
    assert 6_000 < recorded["first_sim_requests"] < 8_500
    assert recorded["first_sim_prod_p95_latency_s"] < recorded["first_sim_dev_p95_latency_s"]
    # One instance of 4 workers at 0.05 s per request is 75% busy at 60 requests/s.
    assert recorded["first_sim_dev_utilization"] == pytest.approx(0.75, abs=0.05)


# -- 01-core-components -------------------------------------------------------

CORE = "notebooks/01-core-components.ipynb"


def test_core_production_beats_development(records):
    recorded = records(CORE)
    assert recorded["prod_p95_latency_s"] < recorded["dev_p95_latency_s"]
    assert recorded["prod_error_ratio"] < recorded["dev_error_ratio"]


def test_core_production_costs_more(records):
    recorded = records(CORE)
    assert recorded["prod_cost_usd"] > recorded["dev_cost_usd"]


def test_core_elb_production_beats_development(records):
    recorded = records(CORE)
    assert recorded["elb_prod_p95_latency_s"] < recorded["elb_dev_p95_latency_s"]
    assert recorded["elb_prod_max_ready_replicas"] >= 2


def test_core_erlang_sweep_matches_theory(records):
    recorded = records(CORE)
    assert recorded["erlang_utilizations"] == [0.3, 0.5, 0.7, 0.8, 0.9]
    assert recorded["erlang_max_rel_error"] < ERLANG_RELATIVE_TOLERANCE
    assert recorded["erlang_all_within_ci"] is True


def test_core_hpa_cheaper_than_peak_fleet(records):
    recorded = records(CORE)
    assert recorded["hpa_cost_usd"] < recorded["fixed_cost_usd"]


def test_core_peak_fleet_has_lower_tail(records):
    recorded = records(CORE)
    assert recorded["fixed_p95_latency_s"] <= recorded["hpa_p95_latency_s"]
    assert recorded["fixed_p95_latency_s"] <= recorded["fixed_mean_p95_latency_s"]


def test_core_mean_fleet_costs_about_hpa(records):
    recorded = records(CORE)
    # The fixed fleet has the HPA run's mean ready replicas, rounded up; the HPA
    # also pays for starting and draining replicas. Either may cost a little more.
    assert recorded["fixed_mean_cost_usd"] == pytest.approx(recorded["hpa_cost_usd"], rel=0.15)
    assert recorded["fixed_mean_cost_usd"] < recorded["fixed_cost_usd"]


def test_core_explorer_ran(records):
    recorded = records(CORE)
    assert recorded["explorer_requests"] > 0
