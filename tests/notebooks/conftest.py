"""Fixtures that execute notebooks with papermill, once per test session.

Each notebook runs in the ``devsim`` Jupyter kernel with its folder as the
working directory and the executed copy in a temporary folder. Tests read the
values the notebook stored with ``devsim.book.record``.
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

# Parameters injected per notebook, by path relative to the repository root.
# The chapters' defaults already run in seconds; entries here make them smaller.
PARAMETERS: dict[str, dict[str, Any]] = {
    "notebooks/00-welcome.ipynb": {"DURATION_S": 120.0, "SEED": 1},
    "notebooks/01-core-components.ipynb": {"SEED": 1},
    "notebooks/03-development-workflow.ipynb": {"SEED": 1},
    "notebooks/04-predictive-autoscaling.ipynb": {"SEED": 0},
}


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
        source = Path(source)
        if not source.is_absolute():
            source = ROOT / source
        assert source.is_file(), f"{source} not found"
        if source not in cache:
            relative = source.relative_to(ROOT).as_posix()
            output = output_dir / relative.replace("/", "__")
            # papermill raises PapermillExecutionError, naming the cell, if any cell fails.
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
        return read_records(executed_notebooks(ROOT / relative))

    return read
