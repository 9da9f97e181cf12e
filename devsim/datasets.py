"""Registry and loaders for the real public data sets vendored in ``datasets/real``.

Two sources are vendored unchanged, each with a ``SOURCE.md`` that gives its origin,
licence and the attribution it requires:

* ``azure-llm-inference-2023/``: two one-hour traces of production LLM inference
  requests from Azure (Azure/AzurePublicDataset, CC BY 4.0). One row per request.
* ``nab/``: nine real series from the Numenta Anomaly Benchmark (numenta/NAB, MIT),
  with the benchmark's anomaly windows.

Every file is listed in :data:`REGISTRY` with its SHA-256, and :func:`load_dataset`
checks it before parsing, so a notebook never runs on a silently altered copy.

Examples
--------
>>> from devsim.datasets import list_datasets, load_dataset
>>> list_datasets()["name"].tolist()[:2]
['azure-llm-code', 'azure-llm-conversation']
>>> load_dataset("nab_nyc_taxi").columns.tolist()
['timestamp', 'value', 'anomaly_window']
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

DATA_DIR_ENV = "DEVSIM_DATA_DIR"
"""Environment variable that overrides the directory returned by :func:`data_dir`."""

DatasetKind = Literal["requests", "series"]

_AZURE_SOURCE = "Azure/AzurePublicDataset@b469a113cedc"
_NAB_SOURCE = "numenta/NAB@ea702d75cc22"
_NAB_DATA_PREFIX = "nab/data/"
_NAB_WINDOWS_PATH = "nab/labels/combined_windows.json"
_NAB_WINDOWS_SHA256 = "616e799ddee7f05ddb2ae93f899c92beb4e7b36f9a6d4e1e9d463365bfe4e268"

# The Azure timestamps carry 7 fractional digits (100 ns), so they need nanosecond
# resolution. pandas 3.1 infers the resolution from the text, for example microseconds
# for the NAB timestamps, so every loader casts to this dtype.
_TIMESTAMP_DTYPE = "datetime64[ns]"


@dataclass(frozen=True)
class DatasetInfo:
    """Registry entry for one vendored data file.

    Attributes
    ----------
    name : str
        Registry name, lower case with hyphens, for example ``"nab-nyc-taxi"``.
    path : str
        POSIX path of the file relative to :func:`data_dir`.
    sha256 : str
        Hex SHA-256 of the file as vendored.
    licence : str
        SPDX licence identifier of the source.
    description : str
        One-line description of what the file contains.
    kind : {"requests", "series"}
        ``"requests"`` for per-request traces, ``"series"`` for metric series
        sampled at a fixed step.
    source : str
        Upstream repository and commit, as ``owner/repo@commit``.
    rows : int
        Number of data rows, header excluded.
    start, end : str
        First and last timestamp as written in the file.
    sampling : str
        Sampling step, or the mean request rate for request traces.
    """

    name: str
    path: str
    sha256: str
    licence: str
    description: str
    kind: DatasetKind
    source: str
    rows: int
    start: str
    end: str
    sampling: str


class UnknownDatasetError(KeyError, ValueError):
    """Raised for a name that is not in :data:`REGISTRY`.

    It subclasses both :class:`KeyError` (a failed registry lookup) and
    :class:`ValueError` (an invalid argument), so either ``except`` catches it.
    """

    def __str__(self) -> str:
        # KeyError.__str__ would wrap the message in quotes.
        return str(self.args[0]) if self.args else ""


class DatasetChecksumError(ValueError):
    """Raised when a data file's SHA-256 differs from the one in :data:`REGISTRY`.

    Attributes
    ----------
    path : pathlib.Path
        File that failed the check.
    expected, actual : str
        Hex SHA-256 from the registry and of the file on disk.
    """

    def __init__(self, path: Path, expected: str, actual: str, relative_path: str) -> None:
        self.path = path
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"Checksum mismatch for {path}: expected SHA-256 {expected}, got {actual}. "
            f"The file differs from the copy in the repository. Restore it with "
            f"`git checkout -- datasets/real/{relative_path}` in the repository, or copy "
            f"datasets/real/{relative_path} again if {DATA_DIR_ENV} points elsewhere."
        )


def _azure(name: str, stem: str, description: str, rows: int, start: str, end: str,
           sha256: str, sampling: str) -> DatasetInfo:
    return DatasetInfo(
        name=name,
        path=f"azure-llm-inference-2023/data/{stem}.csv",
        sha256=sha256,
        licence="CC-BY-4.0",
        description=description,
        kind="requests",
        source=_AZURE_SOURCE,
        rows=rows,
        start=start,
        end=end,
        sampling=sampling,
    )


def _nab(relative_path: str, description: str, rows: int, start: str, end: str,
         sha256: str, sampling: str) -> DatasetInfo:
    stem = Path(relative_path).stem
    return DatasetInfo(
        name="nab-" + stem.replace("_", "-"),
        path=_NAB_DATA_PREFIX + relative_path,
        sha256=sha256,
        licence="MIT",
        description=description,
        kind="series",
        source=_NAB_SOURCE,
        rows=rows,
        start=start,
        end=end,
        sampling=sampling,
    )


# Row counts, periods and SHA-256 values were computed from the vendored files, and
# tests/unit/test_datasets.py checks them against the files.
_ENTRIES = (
    _azure(
        "azure-llm-code", "AzureLLMInferenceTrace_code",
        "Azure LLM inference requests of a code-completion service: arrival time, "
        "context and generated tokens",
        8819, "2023-11-16 18:17:03.9799600", "2023-11-16 19:14:19.9280160",
        "54e9a6d2a4bd06ba1e060304b900abbc74cbea53de96506e60fe5bb4f2277fb6",
        "per request, mean 2.57 req/s",
    ),
    _azure(
        "azure-llm-conversation", "AzureLLMInferenceTrace_conv",
        "Azure LLM inference requests of a conversation (chat) service: arrival time, "
        "context and generated tokens",
        19366, "2023-11-16 18:15:46.6805900", "2023-11-16 19:14:08.4025270",
        "2f1e5b666d4e3055fdbba98598ce2ec307767b9064e03e2fa46676dbcc7d0bf8",
        "per request, mean 5.53 req/s",
    ),
    _nab(
        "realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv",
        "AWS CloudWatch CPU utilization (%) of an EC2 instance",
        4032, "2014-04-10 00:04:00", "2014-04-24 00:09:00",
        "d768419037c9db269343822957314f57ee21a7d9a4d41df2add0d1ba45ba84de",
        "5 min, 2 samples missing",
    ),
    _nab(
        "realAWSCloudwatch/ec2_cpu_utilization_c6585a.csv",
        "AWS CloudWatch CPU utilization (%) of an EC2 instance, no labelled anomalies",
        4032, "2014-04-02 14:29:00", "2014-04-16 14:24:00",
        "d936cea74682ed43ac96b778352d7de294c0b0c168f4a7e6817162346cdb28c1",
        "5 min",
    ),
    _nab(
        "realAWSCloudwatch/ec2_disk_write_bytes_c0d644.csv",
        "AWS CloudWatch disk write bytes of an EC2 instance",
        4032, "2014-04-02 14:25:00", "2014-04-16 14:20:00",
        "a0e734a66098bb81833835f0839dadafbc8ae829c51494670ee8849e46eb5b63",
        "5 min",
    ),
    _nab(
        "realAWSCloudwatch/ec2_network_in_257a54.csv",
        "AWS CloudWatch network bytes in of an EC2 instance",
        4032, "2014-04-10 00:04:00", "2014-04-24 00:09:00",
        "39104b08f2e0a673b5137eb7681897fcadf0955fedf565740a6a94edc63a81a4",
        "5 min, 2 samples missing",
    ),
    _nab(
        "realAWSCloudwatch/elb_request_count_8c0756.csv",
        "AWS CloudWatch request count of an Elastic Load Balancer",
        4032, "2014-04-10 00:04:00", "2014-04-24 00:39:00",
        "74c26574a01ca9fb89dddb5021e2e13c3a93eb25dc640438a9acb1ceb00f1021",
        "5 min, 8 samples missing",
    ),
    _nab(
        "realAWSCloudwatch/rds_cpu_utilization_cc0c53.csv",
        "AWS CloudWatch CPU utilization (%) of an RDS database instance",
        4032, "2014-02-14 14:30:00", "2014-02-28 14:30:00",
        "d5df979ef85928769a016cd0f935919d8c2a113926e21e1eb3a5001d688760e2",
        "5 min, 1 sample missing",
    ),
    _nab(
        "realKnownCause/cpu_utilization_asg_misconfiguration.csv",
        "Average CPU utilization (%) of an AWS auto-scaling group during a "
        "misconfiguration",
        18050, "2014-05-14 01:14:00", "2014-07-15 17:19:00",
        "58ba65dc0737cfbac11b51514476d50c438d44011232144bb8d93f392df58f9f",
        "5 min",
    ),
    _nab(
        "realKnownCause/ec2_request_latency_system_failure.csv",
        "Metric of an AWS EC2 server on the US East Coast, ending in a documented AWS "
        "API failure (request latency by file name, CPU usage by NAB's data README)",
        4032, "2014-03-07 03:41:00", "2014-03-21 03:41:00",
        "98378580aa80157e057c61d59d81daddccc6c65a2c0c800e3f01f603b8215c3f",
        "5 min, 1 sample missing, 12 repeated timestamps re-spaced on load",
    ),
    _nab(
        "realKnownCause/nyc_taxi.csv",
        "New York City taxi passengers per 30 minutes",
        10320, "2014-07-01 00:00:00", "2015-01-31 23:30:00",
        "d8fa6f7f0734bf5c8be12c52a94e20a82664c397d9dec4449156bd453d32856d",
        "30 min",
    ),
)

REGISTRY: dict[str, DatasetInfo] = {info.name: info for info in _ENTRIES}
"""Vendored data files by registry name. Lookups through the functions of this module
also accept underscores for hyphens and any letter case."""

# Checksums already verified in this process, keyed by (resolved path, mtime in ns,
# size), so a changed file is hashed again.
_verified_files: dict[tuple[str, int, int], str] = {}

# Files whose repeated timestamps were already reported, so the warning is logged once
# per file and process.
_reported_repairs: set[str] = set()


def data_dir() -> Path:
    """Locate the directory that contains the vendored data sets.

    Returns
    -------
    pathlib.Path
        The directory named by the ``DEVSIM_DATA_DIR`` environment variable when it is
        set and not empty, else ``datasets/real`` in the repository that contains the
        ``devsim`` package.

    Raises
    ------
    FileNotFoundError
        If the directory does not exist. This happens with a non-editable install,
        because the data sets are not part of the wheel.
    """
    override = os.environ.get(DATA_DIR_ENV, "").strip()
    if override:
        directory = Path(override).expanduser()
        if not directory.is_dir():
            raise FileNotFoundError(
                f"Data directory not found: {DATA_DIR_ENV} is set to {directory}, which "
                f"is not a directory. Point {DATA_DIR_ENV} at a copy of the repository's "
                f"datasets/real directory, or unset it to use the one in the repository."
            )
        return directory

    directory = Path(__file__).resolve().parents[1] / "datasets" / "real"
    if not directory.is_dir():
        raise FileNotFoundError(
            f"Data directory not found: {directory}. The data sets live in datasets/real "
            f"of the devsim repository and are not installed with the package. Clone the "
            f"repository and install it with `pip install -e .`, or set {DATA_DIR_ENV} "
            f"to a copy of datasets/real."
        )
    return directory


def dataset_info(name: str) -> DatasetInfo:
    """Look up a registry entry.

    Parameters
    ----------
    name : str
        Registry name. Underscores count as hyphens and letter case is ignored, so
        ``"NAB_nyc_taxi"`` finds ``"nab-nyc-taxi"``.

    Returns
    -------
    DatasetInfo

    Raises
    ------
    UnknownDatasetError
        If no entry matches. The message lists the valid names.
    """
    key = name.strip().lower().replace("_", "-")
    try:
        return REGISTRY[key]
    except KeyError:
        valid = ", ".join(REGISTRY)
        raise UnknownDatasetError(f"unknown dataset {name!r}; choose one of {valid}") from None


def dataset_path(name: str) -> Path:
    """Return the path of a data set's file under :func:`data_dir`.

    The file is not opened, so the path may not exist.
    """
    return data_dir() / dataset_info(name).path


def list_datasets() -> pd.DataFrame:
    """List the registry without reading any data file.

    Returns
    -------
    pandas.DataFrame
        One row per entry, in registry order, with columns ``name``, ``kind``,
        ``licence``, ``description``, ``file`` (path under :func:`data_dir`), ``rows``,
        ``start``, ``end``, ``sampling``, ``source`` and ``sha256``.
    """
    records = []
    for info in REGISTRY.values():
        record = asdict(info)
        record["file"] = record.pop("path")
        records.append(record)
    columns = ["name", "kind", "licence", "description", "file", "rows", "start", "end",
               "sampling", "source", "sha256"]
    return pd.DataFrame.from_records(records, columns=columns)


def _sha256_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _verify_file(path: Path, expected: str, relative_path: str) -> None:
    """Check a file's SHA-256, hashing it only when it changed since the last check."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if _verified_files.get(key) == expected:
        logger.debug("Checksum of %s already verified in this process", path)
        return

    actual = _sha256_of(path)
    if actual != expected:
        raise DatasetChecksumError(path, expected, actual, relative_path)
    _verified_files[key] = expected
    logger.debug("Verified SHA-256 of %s", path)


def _existing_file(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(
            f"Data file not found: {path}. Restore the repository's datasets/real "
            f"directory (for example with `git checkout -- datasets/real`), or point "
            f"{DATA_DIR_ENV} at a complete copy of it."
        )
    return path


def _check_columns(frame: pd.DataFrame, expected: list[str], path: Path) -> None:
    if list(frame.columns) != expected:
        raise ValueError(
            f"Unexpected columns in {path}: {list(frame.columns)}, expected {expected}."
        )


def _parse_timestamps(values: pd.Series, path: Path) -> pd.Series:
    # ISO8601 keeps all 7 fractional digits of the Azure timestamps, and the cast gives
    # every loader the same nanosecond resolution.
    try:
        parsed = pd.to_datetime(values, format="ISO8601")
    except ValueError as error:
        raise ValueError(f"Invalid timestamp in {path}: {error}") from error
    return parsed.astype(_TIMESTAMP_DTYPE)


def _load_requests(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, dtype={"TIMESTAMP": "string", "ContextTokens": "int64",
                                   "GeneratedTokens": "int64"})
    _check_columns(raw, ["TIMESTAMP", "ContextTokens", "GeneratedTokens"], path)
    frame = pd.DataFrame({
        "timestamp": _parse_timestamps(raw["TIMESTAMP"], path),
        "context_tokens": raw["ContextTokens"],
        "generated_tokens": raw["GeneratedTokens"],
    })
    return frame.sort_values("timestamp", kind="stable").reset_index(drop=True)


def _respace_repeated_timestamps(timestamps: pd.Series, path: Path) -> pd.Series:
    """Move runs of repeated timestamps back onto the series' regular step.

    In NAB's ``ec2_request_latency_system_failure.csv`` the 12 samples of the hour
    02:00-03:00 on 2014-03-09, when US clocks skipped that hour for daylight saving
    time, all carry 03:00:00. The sample before them is 01:56 and the one after is
    03:01: 13 steps of 5 minutes, which the 12 samples fill exactly as 02:01 ... 02:56.
    So a run of n rows that repeat one timestamp after timestamp ``t`` gets
    ``t + k * step`` for k = 1..n, where ``step`` is the median interval. Values and
    row order do not change.

    Raises
    ------
    ValueError
        If a run starts the file or its re-spaced timestamps would reach the next
        timestamp, because then this rule does not explain the repeat.
    """
    # A row equal to the one before it belongs to a run, and so does that row.
    same_as_previous = timestamps.eq(timestamps.shift()).to_numpy()
    if not same_as_previous.any():
        return timestamps

    intervals = timestamps.diff()
    step = intervals[intervals > pd.Timedelta(0)].median()
    values = timestamps.to_numpy(copy=True)
    run_ids = (timestamps != timestamps.shift()).cumsum().to_numpy()
    changed: list[str] = []

    for run_id in np.unique(run_ids[same_as_previous]):
        positions = np.flatnonzero(run_ids == run_id)
        first, last = positions[0], positions[-1]
        original = pd.Timestamp(values[first])
        if first == 0:
            raise ValueError(f"{path} starts with {len(positions)} rows at one timestamp "
                             f"{original}, so they cannot be re-spaced.")
        respaced = values[first - 1] + np.arange(1, len(positions) + 1) * step.to_timedelta64()
        if last + 1 < len(values) and respaced[-1] >= values[last + 1]:
            raise ValueError(
                f"{path} repeats timestamp {original} in {len(positions)} rows, more "
                f"than fit at a {step} step before the next timestamp "
                f"{pd.Timestamp(values[last + 1])}."
            )
        values[first:last + 1] = respaced
        changed.append(f"{len(positions)} rows at {original} moved to "
                       f"{pd.Timestamp(respaced[0])} ... {pd.Timestamp(respaced[-1])}")

    if str(path) not in _reported_repairs:
        _reported_repairs.add(str(path))
        logger.warning(
            "%s repeats timestamps, likely where clocks skipped an hour for daylight "
            "saving time. Re-spaced them at the series' %g s step into the gap before "
            "them: %s.",
            path, step.total_seconds(), "; ".join(changed),
        )
    return pd.Series(values, index=timestamps.index, name=timestamps.name)


def _read_windows(verify: bool) -> dict[str, list[list[str]]]:
    path = _existing_file(data_dir() / _NAB_WINDOWS_PATH)
    if verify:
        _verify_file(path, _NAB_WINDOWS_SHA256, _NAB_WINDOWS_PATH)
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def _windows_for(info: DatasetInfo, verify: bool) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    windows = _read_windows(verify)
    key = info.path.removeprefix(_NAB_DATA_PREFIX)
    return [(pd.Timestamp(start), pd.Timestamp(end)) for start, end in windows.get(key, [])]


def _load_series(info: DatasetInfo, path: Path, verify: bool) -> pd.DataFrame:
    raw = pd.read_csv(path, dtype={"timestamp": "string", "value": "float64"})
    _check_columns(raw, ["timestamp", "value"], path)
    timestamps = _respace_repeated_timestamps(_parse_timestamps(raw["timestamp"], path), path)
    if not timestamps.is_monotonic_increasing or timestamps.duplicated().any():
        raise ValueError(f"Timestamps in {path} are not strictly increasing.")

    # NAB's own labeler (nab/labeler.py in numenta/NAB) marks a row as anomalous when
    # start <= timestamp <= end, so both window ends are included here too.
    in_window = pd.Series(False, index=raw.index)
    for start, end in _windows_for(info, verify):
        in_window |= timestamps.between(start, end, inclusive="both")

    return pd.DataFrame({"timestamp": timestamps, "value": raw["value"],
                         "anomaly_window": in_window.astype(bool)})


def load_dataset(name: str, verify: bool = True) -> pd.DataFrame:
    """Load a vendored data set into a DataFrame.

    Parameters
    ----------
    name : str
        Registry name, see :data:`REGISTRY`. Underscores count as hyphens and letter
        case is ignored.
    verify : bool, default True
        Check the file's SHA-256 against the registry first. Each file is hashed once
        per process and again only when its modification time or size changes.

    Returns
    -------
    pandas.DataFrame
        For ``kind == "requests"`` (the Azure traces): ``timestamp``
        (datetime64[ns], 7 fractional digits kept), ``context_tokens`` and
        ``generated_tokens`` (int64), one row per request, sorted by timestamp, with a
        fresh RangeIndex.

        For ``kind == "series"`` (NAB): ``timestamp`` (datetime64[ns]), ``value``
        (float64) and ``anomaly_window`` (bool, True when the row lies inside one of
        the series' windows in ``nab/labels/combined_windows.json``, ends included),
        in file order. Missing samples stay missing. One series is repaired: in
        ``ec2_request_latency_system_failure.csv`` the 12 rows stamped
        2014-03-09 03:00:00, where US clocks skipped an hour for daylight saving time,
        are re-spaced at the series' 5-minute step to 02:01 ... 02:56, which fills the
        gap between the neighbouring samples 01:56 and 03:01 exactly. A warning is
        logged the first time per process.

    Raises
    ------
    UnknownDatasetError
        If ``name`` is not in the registry.
    FileNotFoundError
        If the data directory or the file is missing.
    DatasetChecksumError
        If ``verify`` is True and the file's SHA-256 differs from the registry.
    """
    info = dataset_info(name)
    path = _existing_file(data_dir() / info.path)
    if verify:
        _verify_file(path, info.sha256, info.path)

    if info.kind == "requests":
        frame = _load_requests(path)
    else:
        frame = _load_series(info, path, verify)
    logger.debug("Loaded %s: %d rows from %s", info.name, len(frame), path)
    return frame


def load_anomaly_windows(name: str, verify: bool = True) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Load the NAB anomaly windows of a series.

    Parameters
    ----------
    name : str
        Registry name of a NAB series (``kind == "series"``).
    verify : bool, default True
        Check the SHA-256 of ``nab/labels/combined_windows.json`` first.

    Returns
    -------
    list of (pandas.Timestamp, pandas.Timestamp)
        Start and end of each window, both inclusive, in file order. Empty for a
        series without labelled anomalies.

    Raises
    ------
    UnknownDatasetError
        If ``name`` is not in the registry.
    ValueError
        If the data set is not a NAB series.
    """
    info = dataset_info(name)
    if info.source != _NAB_SOURCE:
        nab_names = ", ".join(n for n, i in REGISTRY.items() if i.source == _NAB_SOURCE)
        raise ValueError(
            f"Dataset {info.name!r} has no anomaly windows because it is not a NAB "
            f"series. NAB series: {nab_names}."
        )
    return _windows_for(info, verify)
