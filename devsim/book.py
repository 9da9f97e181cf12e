"""Record results inside notebooks and build the book of executed chapters.

Inside a notebook, ``record("mean_wait_s", value)`` displays a JSON value that
papermill stores in the executed notebook, and ``read_records(path)`` reads every
recorded value back, so tests can check a chapter's numbers without parsing text.

``python -m devsim.book build`` executes every ``notebooks/*.ipynb`` with papermill
into ``build/notebooks/`` and converts each executed notebook to ``build/html/``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)

RECORD_METADATA_KEY = "devsim_record"
JSON_MIMETYPE = "application/json"

DEFAULT_KERNEL_NAME = "devsim"
# Per-cell limit in seconds. It guards against a hung cell, such as a large
# ipywidgets.Output payload that blocks the notebook client, and is not a time budget.
DEFAULT_EXECUTION_TIMEOUT_S = 600

_NOT_CONVERTED = object()


def record(name: str, value: Any) -> Any:
    """Display ``value`` under ``name`` so that it is stored in the notebook's outputs.

    The output carries an ``application/json`` payload ``{"name": name, "value": ...}``
    for ``read_records`` and a ``text/plain`` line for readers of the HTML book.
    Returns ``value`` unchanged, so ``x = record("x", compute())`` keeps its type.
    A bare ``record(...)`` as the last line of a cell also shows that value as Out[].
    Assign the result or end the line with ``;`` to hide it.
    Raises TypeError or ValueError, as ``to_json_value`` does, if ``value`` cannot be
    stored as JSON.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"record name must be a non-empty str, got {name!r}")
    json_value = to_json_value(value, name=name)

    from IPython.display import display

    bundle = {
        JSON_MIMETYPE: {"name": name, "value": json_value},
        "text/plain": f"{name} = {json.dumps(json_value)}",
    }
    display(bundle, raw=True, metadata={RECORD_METADATA_KEY: name})
    return value


def to_json_value(value: Any, name: str = "value") -> Any:
    """Convert ``value`` to plain JSON types: dict, list, str, int, float, bool, None.

    numpy scalars and arrays become Python numbers and lists, tuples become lists,
    and dict keys of type int become strings, as in JSON. pandas Series and
    DataFrames take the form of their ``to_json()`` (default orient, ISO dates), so a
    missing or infinite value becomes null. Raises TypeError naming the record and the value for
    any other type, and ValueError for NaN or infinity outside pandas objects, because
    JSON has no such numbers.
    """
    return _convert(value, name, path=name)


def _convert(value: Any, name: str, path: str) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(
                f"cannot record {path} = {value!r} for {name!r}: JSON has no NaN or "
                "infinity. Record None or a finite number instead."
            )
        return float(value)

    converted = _convert_library_type(value, name, path)
    if converted is not _NOT_CONVERTED:
        return converted

    if isinstance(value, Mapping):
        result = {}
        for key, item in value.items():
            result[_convert_key(key, name, path)] = _convert(item, name, f"{path}[{key!r}]")
        return result
    if isinstance(value, (list, tuple)):
        return [_convert(item, name, f"{path}[{index}]") for index, item in enumerate(value)]

    raise TypeError(
        f"cannot record {path} for {name!r}: {value!r} of type {type(value).__name__} is "
        "not JSON-serialisable; convert it to a dict, list, str, number, bool or None"
    )


def _convert_library_type(value: Any, name: str, path: str) -> Any:
    """Convert numpy and pandas objects, or return ``_NOT_CONVERTED``."""
    # Both libraries are dependencies of devsim, but importing them only when a
    # value may be theirs keeps record() cheap for plain Python values.
    module = type(value).__module__.split(".")[0]
    if module == "numpy":
        import numpy as np

        if isinstance(value, np.generic):
            return _convert(value.item(), name, path)
        if isinstance(value, np.ndarray):
            return _convert(value.tolist(), name, path)
    if module == "pandas":
        import pandas as pd

        if isinstance(value, (pd.Series, pd.DataFrame)):
            return json.loads(value.to_json(date_format="iso"))
        if isinstance(value, pd.Index):
            return _convert(value.to_list(), name, path)
        if isinstance(value, pd.Timestamp):
            return value.isoformat()
    return _NOT_CONVERTED


def _convert_key(key: Any, name: str, path: str) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    if type(key).__module__ == "numpy" and hasattr(key, "dtype") and key.dtype.kind in "iu":
        return str(int(key))
    raise TypeError(
        f"cannot record {path} for {name!r}: dict key {key!r} of type "
        f"{type(key).__name__} is not a str or int"
    )


def read_records(path: str | Path) -> dict[str, Any]:
    """Read every value that ``record`` stored in the executed notebook at ``path``.

    Records are read in cell and output order, so a later record of the same name
    replaces an earlier one.
    """
    import nbformat

    notebook = nbformat.read(str(path), as_version=4)
    records: dict[str, Any] = {}
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") not in ("display_data", "execute_result"):
                continue
            if RECORD_METADATA_KEY not in output.get("metadata", {}):
                continue
            payload = output.get("data", {}).get(JSON_MIMETYPE)
            if isinstance(payload, str):
                payload = json.loads(payload)
            if not isinstance(payload, Mapping) or "name" not in payload:
                raise ValueError(
                    f"{path}: an output marked {RECORD_METADATA_KEY!r} has no "
                    f"{JSON_MIMETYPE} payload with a name"
                )
            records[payload["name"]] = payload.get("value")
    return records


@dataclass(frozen=True)
class ChapterResult:
    """Outcome of executing and converting one notebook."""

    source: Path
    executed: Path
    html: Path | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


def build_book(
    notebooks_dir: str | Path = "notebooks",
    executed_dir: str | Path = "build/notebooks",
    html_dir: str | Path = "build/html",
    *,
    kernel_name: str = DEFAULT_KERNEL_NAME,
    execution_timeout: int = DEFAULT_EXECUTION_TIMEOUT_S,
    parameters: Mapping[str, Any] | None = None,
) -> list[ChapterResult]:
    """Execute each ``*.ipynb`` in ``notebooks_dir`` and convert it to HTML.

    Notebooks run in name order with papermill, each with ``notebooks_dir`` as the
    working directory, so relative paths in a chapter resolve as they do in
    JupyterLab. ``parameters`` are injected after each notebook's cell tagged
    ``parameters``. ``execution_timeout`` is in seconds per cell. A failing notebook
    does not stop the build: its executed copy, which shows the error, is still
    converted, and its ``ChapterResult.error`` contains the message. A missing kernel
    raises ``jupyter_client.kernelspec.NoSuchKernel`` before any notebook runs.
    """
    import papermill
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    notebooks_dir = Path(notebooks_dir)
    executed_dir = Path(executed_dir)
    html_dir = Path(html_dir)
    sources = sorted(notebooks_dir.glob("*.ipynb"))
    if not sources:
        raise FileNotFoundError(f"no notebooks (*.ipynb) found in {notebooks_dir}")
    KernelSpecManager().get_kernel_spec(kernel_name)
    executed_dir.mkdir(parents=True, exist_ok=True)
    html_dir.mkdir(parents=True, exist_ok=True)

    results = []
    for source in sources:
        executed = executed_dir / source.name
        logger.info("executing %s -> %s", source, executed)
        error = None
        try:
            papermill.execute_notebook(
                str(source),
                str(executed),
                parameters=dict(parameters or {}),
                kernel_name=kernel_name,
                # Needed to write the injected-parameters cell when a notebook's
                # metadata names no language.
                language="python",
                execution_timeout=execution_timeout,
                cwd=str(notebooks_dir),
                progress_bar=False,
            )
        except (PapermillExecutionError, CellTimeoutError, DeadKernelError) as exc:
            error = f"{type(exc).__name__}: {exc}"
            logger.error("executing %s failed: %s", source, error)

        html = None
        if executed.exists():
            html = html_dir / f"{source.stem}.html"
            _convert_to_html(executed, html)
            logger.info("converted %s -> %s", executed, html)
        results.append(ChapterResult(source, executed, html, error))
    return results


def _convert_to_html(notebook_path: Path, html_path: Path) -> None:
    import nbformat
    from nbconvert import HTMLExporter

    notebook = nbformat.read(str(notebook_path), as_version=4)
    body, _resources = HTMLExporter().from_notebook_node(notebook)
    html_path.write_text(body, encoding="utf-8")


def _parse_parameter(text: str) -> tuple[str, Any]:
    name, separator, raw_value = text.partition("=")
    if not separator or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, yaml.safe_load(raw_value)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line. Returns 0, 1 if a notebook failed, or 2 if none could run."""
    parser = argparse.ArgumentParser(prog="python -m devsim.book", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="execute every notebook and convert it to HTML")
    build.add_argument(
        "--notebooks", default="notebooks", help="folder of source notebooks (default: %(default)s)"
    )
    build.add_argument(
        "--executed", default="build/notebooks", help="folder for executed notebooks (default: %(default)s)"
    )
    build.add_argument("--html", default="build/html", help="folder for HTML pages (default: %(default)s)")
    build.add_argument(
        "--kernel", default=DEFAULT_KERNEL_NAME, help="Jupyter kernel name (default: %(default)s)"
    )
    build.add_argument(
        "--timeout",
        type=int,
        default=DEFAULT_EXECUTION_TIMEOUT_S,
        help="execution timeout per cell, in seconds (default: %(default)s)",
    )
    build.add_argument(
        "-p",
        "--parameter",
        action="append",
        default=[],
        type=_parse_parameter,
        metavar="NAME=VALUE",
        help="parameter injected into every notebook; VALUE is parsed as YAML (repeatable)",
    )
    args = parser.parse_args(argv)

    from jupyter_client.kernelspec import NoSuchKernel

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        results = build_book(
            args.notebooks,
            args.executed,
            args.html,
            kernel_name=args.kernel,
            execution_timeout=args.timeout,
            parameters=dict(args.parameter),
        )
    except NoSuchKernel:
        print(
            f"error: Jupyter kernel {args.kernel!r} not found. Run `make setup`, which registers it.",
            file=sys.stderr,
        )
        return 2
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failures = [result for result in results if not result.ok]
    built = len(results) - len(failures)
    print(f"built {built} of {len(results)} notebooks into {args.executed} and {args.html}")
    for result in failures:
        print(f"FAILED {result.source}: {result.error}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
