"""Tests for devsim.book: recording values in notebooks and building the book."""

from __future__ import annotations

import math

import nbformat
import numpy as np
import pandas as pd
import papermill
import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from papermill.exceptions import PapermillExecutionError

from devsim import book

KERNEL_NAME = "devsim"
CELL_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def devsim_kernel() -> str:
    if KERNEL_NAME not in KernelSpecManager().find_kernel_specs():
        pytest.fail(
            f"Jupyter kernel {KERNEL_NAME!r} is not registered; run `make test`, which registers it "
            f"(or: .venv/bin/python -m ipykernel install --prefix .venv --name {KERNEL_NAME})"
        )
    return KERNEL_NAME


def write_notebook(path, *sources, parameters="threshold = 1"):
    """Write a notebook with a markdown title, a cell tagged 'parameters' and code cells.

    The notebook metadata names no kernel or language, as in a notebook never opened
    in JupyterLab.
    """
    cells = [
        new_markdown_cell("# Test chapter"),
        new_code_cell(parameters, metadata={"tags": ["parameters"]}),
        *(new_code_cell(source) for source in sources),
    ]
    nbformat.write(new_notebook(cells=cells), str(path))
    return path


RECORDING_CELL = """\
import numpy as np
import pandas as pd
from devsim.book import record

record("threshold", threshold)
record("mean_wait_s", np.float64(2.5))
record("waits", np.array([1, 2, 3]))
record("by_server", pd.Series([0.5, None], index=["a", "b"]))
returned = record("mean_wait_s", 3.0)
assert returned == 3.0
"""


# to_json_value and record, without a kernel.


def test_to_json_value_passes_plain_values():
    value = {"a": [1, 2.5, "x", True, None], "b": {"c": -3}}
    assert book.to_json_value(value) == value


def test_to_json_value_converts_numpy_scalars():
    assert book.to_json_value(np.float64(2.5)) == 2.5
    assert type(book.to_json_value(np.int64(7))) is int
    assert book.to_json_value(np.bool_(True)) is True


def test_to_json_value_converts_numpy_arrays():
    assert book.to_json_value(np.arange(6).reshape(2, 3)) == [[0, 1, 2], [3, 4, 5]]


def test_to_json_value_converts_tuples_and_int_keys():
    assert book.to_json_value({1: (1, 2), np.int32(2): "x"}) == {"1": [1, 2], "2": "x"}


def test_to_json_value_converts_pandas_series():
    series = pd.Series([0.5, math.nan, math.inf], index=["a", "b", "c"])
    assert book.to_json_value(series) == {"a": 0.5, "b": None, "c": None}


def test_to_json_value_converts_pandas_dataframe():
    frame = pd.DataFrame({"servers": [2, 4], "wait_s": [1.5, 0.25]})
    assert book.to_json_value(frame) == {
        "servers": {"0": 2, "1": 4},
        "wait_s": {"0": 1.5, "1": 0.25},
    }


def test_to_json_value_converts_pandas_timestamp():
    assert book.to_json_value(pd.Timestamp("2024-01-02T03:04:05")) == "2024-01-02T03:04:05"


@pytest.mark.parametrize(
    "value",
    [{1, 2}, object(), b"bytes", pd.NA],
    ids=["set", "object", "bytes", "pandas-NA"],
)
def test_to_json_value_rejects_other_types(value):
    with pytest.raises(TypeError, match="'result'.*not JSON-serialisable"):
        book.to_json_value(value, name="result")


def test_to_json_value_error_names_nested_path():
    with pytest.raises(TypeError, match=r"result\['runs'\]\[1\]"):
        book.to_json_value({"runs": [1, {2}]}, name="result")


@pytest.mark.parametrize("value", [math.nan, math.inf, np.float64("-inf"), [1.0, math.nan]])
def test_to_json_value_rejects_non_finite(value):
    with pytest.raises(ValueError, match="no NaN or infinity"):
        book.to_json_value(value, name="result")


def test_to_json_value_rejects_tuple_keys():
    with pytest.raises(TypeError, match="dict key"):
        book.to_json_value({(1, 2): "x"}, name="result")


def test_record_returns_value_unchanged():
    value = np.float64(1.25)
    assert book.record("x", value) is value


def test_record_rejects_unserialisable_value():
    with pytest.raises(TypeError, match="'latency'"):
        book.record("latency", object())


@pytest.mark.parametrize("name", ["", None, 3])
def test_record_rejects_invalid_name(name):
    with pytest.raises(TypeError, match="record name"):
        book.record(name, 1)


# Executing notebooks with papermill in the devsim kernel.


def test_read_records_after_papermill(tmp_path, devsim_kernel):
    source = write_notebook(tmp_path / "chapter.ipynb", RECORDING_CELL)
    executed = tmp_path / "chapter-out.ipynb"

    papermill.execute_notebook(
        str(source),
        str(executed),
        parameters={"threshold": 7},
        kernel_name=devsim_kernel,
        language="python",
        execution_timeout=CELL_TIMEOUT_S,
        cwd=str(tmp_path),
        progress_bar=False,
    )

    nbformat.validate(nbformat.read(str(executed), as_version=4))
    records = book.read_records(executed)
    assert records["threshold"] == 7
    assert records["mean_wait_s"] == 3.0  # the later record of the same name wins
    assert records["waits"] == [1, 2, 3]
    assert records["by_server"] == {"a": 0.5, "b": None}
    assert set(records) == {"threshold", "mean_wait_s", "waits", "by_server"}


def test_read_records_empty_without_records(tmp_path):
    path = write_notebook(tmp_path / "plain.ipynb", "print('no records')")
    assert book.read_records(path) == {}


def test_record_failure_stops_papermill(tmp_path, devsim_kernel):
    source = write_notebook(
        tmp_path / "bad.ipynb",
        "from devsim.book import record\nrecord('latency', object())",
    )

    with pytest.raises(PapermillExecutionError) as error:
        papermill.execute_notebook(
            str(source),
            str(tmp_path / "bad-out.ipynb"),
            kernel_name=devsim_kernel,
            execution_timeout=CELL_TIMEOUT_S,
            progress_bar=False,
        )
    assert error.value.ename == "TypeError"
    assert "latency" in error.value.evalue


def test_build_book_executes_and_converts(tmp_path, devsim_kernel):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    # Reading a file by relative path proves that each notebook runs in the notebooks folder.
    (notebooks / "input.txt").write_text("41", encoding="utf-8")
    write_notebook(
        notebooks / "01-good.ipynb",
        "from devsim.book import record\n"
        "with open('input.txt') as file:\n"
        "    record('answer', int(file.read()) + threshold)",
    )
    write_notebook(notebooks / "02-failing.ipynb", "raise RuntimeError('chapter broke')")

    results = book.build_book(
        notebooks,
        tmp_path / "build" / "notebooks",
        tmp_path / "build" / "html",
        kernel_name=devsim_kernel,
        execution_timeout=CELL_TIMEOUT_S,
        parameters={"threshold": 1},
    )

    assert [result.source.name for result in results] == ["01-good.ipynb", "02-failing.ipynb"]
    good, failing = results
    assert good.ok
    assert book.read_records(good.executed) == {"answer": 42}
    assert "answer = 42" in good.html.read_text(encoding="utf-8")

    assert not failing.ok
    assert "chapter broke" in failing.error
    assert failing.executed.is_file()
    assert "chapter broke" in failing.html.read_text(encoding="utf-8")


def test_build_book_stops_cell_at_timeout(tmp_path, devsim_kernel):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    write_notebook(notebooks / "slow.ipynb", "import time\ntime.sleep(60)")

    [result] = book.build_book(
        notebooks,
        tmp_path / "executed",
        tmp_path / "html",
        kernel_name=devsim_kernel,
        execution_timeout=2,
    )

    assert "CellTimeoutError" in result.error
    assert result.html.is_file()


def test_build_book_rejects_missing_kernel(tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    write_notebook(notebooks / "chapter.ipynb", "pass")

    with pytest.raises(NoSuchKernel):
        book.build_book(notebooks, tmp_path / "executed", tmp_path / "html", kernel_name="no-such-kernel")
    assert not (tmp_path / "executed").exists()


def test_build_book_rejects_empty_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no notebooks"):
        book.build_book(tmp_path, tmp_path / "executed", tmp_path / "html")


def test_main_builds_with_parameters(tmp_path, devsim_kernel):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    write_notebook(
        notebooks / "chapter.ipynb",
        "from devsim.book import record\nrecord('servers', servers)\nrecord('label', label)",
        parameters="servers = 1\nlabel = 'default'",
    )
    executed = tmp_path / "executed"

    exit_code = book.main(
        [
            "build",
            "--notebooks", str(notebooks),
            "--executed", str(executed),
            "--html", str(tmp_path / "html"),
            "--kernel", devsim_kernel,
            "--timeout", str(CELL_TIMEOUT_S),
            "-p", "servers=4",
            "-p", "label=peak hour",
        ]
    )  # fmt: skip

    assert exit_code == 0
    assert book.read_records(executed / "chapter.ipynb") == {"servers": 4, "label": "peak hour"}
    assert (tmp_path / "html" / "chapter.html").is_file()


def test_main_reports_missing_kernel(tmp_path, capsys):
    write_notebook(tmp_path / "chapter.ipynb", "pass")

    exit_code = book.main(["build", "--notebooks", str(tmp_path), "--kernel", "no-such-kernel"])

    assert exit_code == 2
    assert "make setup" in capsys.readouterr().err
