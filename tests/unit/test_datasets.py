"""Tests for devsim.datasets against the vendored files in datasets/real."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from devsim import datasets
from devsim.datasets import (
    REGISTRY,
    DatasetChecksumError,
    UnknownDatasetError,
    data_dir,
    list_datasets,
    load_anomaly_windows,
    load_dataset,
)

REPO_DATA_DIR = Path(__file__).resolve().parents[2] / "datasets" / "real"
NAB_NAMES = [name for name, info in REGISTRY.items() if info.kind == "series"]
AZURE_NAMES = [name for name, info in REGISTRY.items() if info.kind == "requests"]
DST_SERIES = "nab-ec2-request-latency-system-failure"


@pytest.fixture(autouse=True)
def repository_data_dir(monkeypatch):
    """Run every test against the repository copy unless the test overrides it."""
    monkeypatch.delenv(datasets.DATA_DIR_ENV, raising=False)


@pytest.fixture(scope="module")
def frames():
    """Load every data set once for the module, from the repository copy."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(datasets.DATA_DIR_ENV, raising=False)
        return {name: load_dataset(name) for name in REGISTRY}


def read_csv_rows(path: Path) -> list[list[str]]:
    """Read a CSV with the csv module, independently of the loader, header excluded."""
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))[1:]


def copy_data_dir(tmp_path: Path, monkeypatch) -> Path:
    copy = tmp_path / "real"
    shutil.copytree(REPO_DATA_DIR, copy)
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(copy))
    return copy


def test_registry_has_all_files():
    assert len(AZURE_NAMES) == 2
    assert len(NAB_NAMES) == 9
    vendored = {p.relative_to(REPO_DATA_DIR).as_posix()
                for p in REPO_DATA_DIR.glob("*/data/**/*.csv")}
    assert {info.path for info in REGISTRY.values()} == vendored


def test_registry_nab_names_follow_stems():
    for info in REGISTRY.values():
        if info.kind == "series":
            assert info.name == "nab-" + Path(info.path).stem.replace("_", "-")


@pytest.mark.parametrize("name", list(REGISTRY))
def test_checksum_matches_file(name):
    info = REGISTRY[name]
    actual = hashlib.sha256((REPO_DATA_DIR / info.path).read_bytes()).hexdigest()
    assert actual == info.sha256


@pytest.mark.parametrize("name", list(REGISTRY))
def test_rows_match_file(name, frames):
    rows = read_csv_rows(REPO_DATA_DIR / REGISTRY[name].path)
    assert len(frames[name]) == len(rows)
    assert len(frames[name]) == REGISTRY[name].rows


@pytest.mark.parametrize("name", list(REGISTRY))
def test_period_matches_registry(name, frames):
    info = REGISTRY[name]
    timestamps = frames[name]["timestamp"]
    assert timestamps.iloc[0] == pd.Timestamp(info.start)
    assert timestamps.iloc[-1] == pd.Timestamp(info.end)


@pytest.mark.parametrize("name", AZURE_NAMES)
def test_azure_schema(name, frames):
    frame = frames[name]
    assert list(frame.columns) == ["timestamp", "context_tokens", "generated_tokens"]
    assert frame["timestamp"].dtype == "datetime64[ns]"
    assert frame["context_tokens"].dtype == "int64"
    assert frame["generated_tokens"].dtype == "int64"
    assert frame.index.equals(pd.RangeIndex(len(frame)))


@pytest.mark.parametrize("name", AZURE_NAMES)
def test_azure_timestamps_sorted_one_hour(name, frames):
    timestamps = frames[name]["timestamp"]
    span = timestamps.iloc[-1] - timestamps.iloc[0]
    assert timestamps.is_monotonic_increasing
    assert pd.Timedelta(minutes=55) < span < pd.Timedelta(minutes=61)


@pytest.mark.parametrize("name", AZURE_NAMES)
def test_azure_values_match_file(name, frames):
    rows = read_csv_rows(REPO_DATA_DIR / REGISTRY[name].path)
    frame = frames[name]
    # The files are already sorted, so row i of the file is row i of the frame.
    for i in (0, len(rows) // 2, len(rows) - 1):
        stamp, context, generated = rows[i]
        assert frame["timestamp"].iloc[i] == pd.Timestamp(stamp)
        assert frame["context_tokens"].iloc[i] == int(context)
        assert frame["generated_tokens"].iloc[i] == int(generated)


def test_azure_keeps_microseconds(frames):
    first = frames["azure-llm-code"]["timestamp"].iloc[0]
    assert first == pd.Timestamp("2023-11-16 18:17:03.979960")
    assert first.microsecond == 979960


def test_azure_keeps_seventh_digit(tmp_path, monkeypatch):
    copy = copy_data_dir(tmp_path, monkeypatch)
    path = copy / REGISTRY["azure-llm-code"].path
    path.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\r\n"
                    "2023-11-16 18:17:03.9799601,10,2\r\n")
    frame = load_dataset("azure-llm-code", verify=False)
    assert frame["timestamp"].iloc[0].nanosecond == 100


def test_azure_sorts_unsorted_file(tmp_path, monkeypatch):
    copy = copy_data_dir(tmp_path, monkeypatch)
    path = copy / REGISTRY["azure-llm-code"].path
    path.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\r\n"
                    "2023-11-16 18:17:05.0000000,2,2\r\n"
                    "2023-11-16 18:17:04.0000000,1,1\r\n")
    frame = load_dataset("azure-llm-code", verify=False)
    assert frame["context_tokens"].tolist() == [1, 2]
    assert frame.index.tolist() == [0, 1]


@pytest.mark.parametrize("name", NAB_NAMES)
def test_nab_schema(name, frames):
    frame = frames[name]
    assert list(frame.columns) == ["timestamp", "value", "anomaly_window"]
    assert frame["timestamp"].dtype == "datetime64[ns]"
    assert frame["value"].dtype == "float64"
    assert frame["anomaly_window"].dtype == bool


@pytest.mark.parametrize("name", NAB_NAMES)
def test_nab_timestamps_strictly_increasing(name, frames):
    timestamps = frames[name]["timestamp"]
    assert timestamps.is_monotonic_increasing
    assert timestamps.is_unique


@pytest.mark.parametrize("name", NAB_NAMES)
def test_nab_values_match_file(name, frames):
    rows = read_csv_rows(REPO_DATA_DIR / REGISTRY[name].path)
    expected = [float(value) for _, value in rows]
    assert frames[name]["value"].tolist() == expected


@pytest.mark.parametrize("name", [n for n in NAB_NAMES if n != DST_SERIES])
def test_nab_timestamps_unchanged(name, frames):
    rows = read_csv_rows(REPO_DATA_DIR / REGISTRY[name].path)
    expected = pd.to_datetime([stamp for stamp, _ in rows])
    assert (frames[name]["timestamp"].to_numpy() == expected.to_numpy()).all()


def test_nab_gaps_not_filled(frames):
    timestamps = frames["nab-elb-request-count-8c0756"]["timestamp"]
    assert (timestamps.diff() == pd.Timedelta(minutes=10)).sum() == 8


def test_dst_rows_respaced(frames):
    frame = frames[DST_SERIES]
    window = frame.iloc[555:569]
    expected = pd.date_range("2014-03-09 01:56", "2014-03-09 03:01", freq="5min")
    assert window["timestamp"].tolist() == expected.tolist()


def test_dst_fix_keeps_rows_and_values(frames):
    rows = read_csv_rows(REPO_DATA_DIR / REGISTRY[DST_SERIES].path)
    frame = frames[DST_SERIES]
    assert len(frame) == len(rows) == 4032
    assert frame["value"].iloc[556] == float(rows[556][1])
    assert frame["value"].iloc[567] == float(rows[567][1])


def test_dst_fix_changes_only_repeated_rows(frames):
    rows = read_csv_rows(REPO_DATA_DIR / REGISTRY[DST_SERIES].path)
    original = pd.Series(pd.to_datetime([stamp for stamp, _ in rows]))
    changed = original.ne(frames[DST_SERIES]["timestamp"])
    assert changed.sum() == 12
    assert (original[changed] == pd.Timestamp("2014-03-09 03:00:00")).all()


def test_dst_fix_logs_warning(monkeypatch, caplog):
    monkeypatch.setattr(datasets, "_reported_repairs", set())
    with caplog.at_level(logging.WARNING, logger="devsim.datasets"):
        load_dataset(DST_SERIES)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1
    assert "12 rows at 2014-03-09 03:00:00" in messages[0]
    assert "2014-03-09 02:01:00 ... 2014-03-09 02:56:00" in messages[0]


def test_repeat_too_long_raises(tmp_path, monkeypatch):
    copy = copy_data_dir(tmp_path, monkeypatch)
    path = copy / REGISTRY["nab-nyc-taxi"].path
    path.write_text("timestamp,value\n2014-07-01 00:00:00,1\n2014-07-01 00:30:00,2\n"
                    "2014-07-01 00:30:00,3\n2014-07-01 01:00:00,4\n")
    with pytest.raises(ValueError, match="more than fit"):
        load_dataset("nab-nyc-taxi", verify=False)


@pytest.mark.parametrize("name", NAB_NAMES)
def test_anomaly_flags_match_windows(name, frames):
    frame = frames[name]
    windows = json.loads((REPO_DATA_DIR / "nab/labels/combined_windows.json").read_text())
    key = REGISTRY[name].path.removeprefix("nab/data/")
    expected = pd.Series(False, index=frame.index)
    for start, end in windows[key]:
        expected |= (frame["timestamp"] >= pd.Timestamp(start)) & (
            frame["timestamp"] <= pd.Timestamp(end))
    assert frame["anomaly_window"].equals(expected)


def test_anomaly_window_ends_inclusive(frames):
    # The only window of this series ends on its last row.
    frame = frames["nab-cpu-utilization-asg-misconfiguration"]
    assert frame["timestamp"].iloc[-1] == pd.Timestamp("2014-07-15 17:19:00")
    assert bool(frame["anomaly_window"].iloc[-1])


def test_anomaly_windows_for_nyc_taxi():
    windows = load_anomaly_windows("nab-nyc-taxi")
    assert len(windows) == 5
    assert windows[0] == (pd.Timestamp("2014-10-30 15:30"), pd.Timestamp("2014-11-03 22:30"))


def test_anomaly_windows_empty_series():
    assert load_anomaly_windows("nab-ec2-cpu-utilization-c6585a") == []


def test_anomaly_windows_reject_azure():
    with pytest.raises(ValueError, match="not a NAB series"):
        load_anomaly_windows("azure-llm-code")


def test_underscore_alias_loads(frames):
    frame = load_dataset("NAB_ELB_request_count_8c0756")
    assert frame.equals(frames["nab-elb-request-count-8c0756"])


def test_unknown_name_lists_choices():
    with pytest.raises(UnknownDatasetError) as caught:
        load_dataset("nab-no-such-series")
    message = str(caught.value)
    assert "'nab-no-such-series'" in message
    for name in REGISTRY:
        assert name in message


def test_unknown_name_is_key_and_value_error():
    with pytest.raises(KeyError):
        load_dataset("missing")
    with pytest.raises(ValueError):
        load_dataset("missing")


def test_tampered_file_raises(tmp_path, monkeypatch):
    copy = copy_data_dir(tmp_path, monkeypatch)
    info = REGISTRY["nab-nyc-taxi"]
    path = copy / info.path
    content = bytearray(path.read_bytes())
    content[-1] = ord("9") if content[-1] != ord("9") else ord("7")
    path.write_bytes(bytes(content))

    with pytest.raises(DatasetChecksumError) as caught:
        load_dataset("nab-nyc-taxi")
    message = str(caught.value)
    assert str(path) in message
    assert info.sha256 in message
    assert caught.value.actual in message
    assert "git checkout -- datasets/real/nab/data/realKnownCause/nyc_taxi.csv" in message


def test_tampered_file_loads_unverified(tmp_path, monkeypatch):
    copy = copy_data_dir(tmp_path, monkeypatch)
    path = copy / REGISTRY["nab-nyc-taxi"].path
    path.write_bytes(path.read_bytes() + b"\n")
    assert len(load_dataset("nab-nyc-taxi", verify=False)) == 10320


def test_cache_rehashes_changed_file(tmp_path, monkeypatch):
    copy = copy_data_dir(tmp_path, monkeypatch)
    path = copy / REGISTRY["azure-llm-code"].path
    load_dataset("azure-llm-code")
    path.write_bytes(path.read_bytes() + b"\r\n")
    with pytest.raises(DatasetChecksumError):
        load_dataset("azure-llm-code")


def test_tampered_windows_file_raises(tmp_path, monkeypatch):
    copy = copy_data_dir(tmp_path, monkeypatch)
    path = copy / "nab/labels/combined_windows.json"
    path.write_bytes(path.read_bytes() + b"\n")
    with pytest.raises(DatasetChecksumError, match="combined_windows.json"):
        load_anomaly_windows("nab-nyc-taxi")


def test_missing_file_names_path(tmp_path, monkeypatch):
    copy = copy_data_dir(tmp_path, monkeypatch)
    path = copy / REGISTRY["nab-nyc-taxi"].path
    path.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        load_dataset("nab-nyc-taxi")


def test_data_dir_default():
    assert data_dir() == REPO_DATA_DIR


def test_data_dir_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(tmp_path))
    assert data_dir() == tmp_path


def test_data_dir_missing_env_dir(tmp_path, monkeypatch):
    missing = tmp_path / "absent"
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(missing))
    with pytest.raises(FileNotFoundError, match="DEVSIM_DATA_DIR") as caught:
        data_dir()
    assert str(missing) in str(caught.value)


def test_data_dir_missing_default(tmp_path, monkeypatch):
    # data_dir() looks two levels above the module file, here tmp_path/datasets/real.
    monkeypatch.setattr(datasets, "__file__", str(tmp_path / "devsim" / "datasets.py"))
    with pytest.raises(FileNotFoundError, match="Clone the repository") as caught:
        data_dir()
    assert str(tmp_path / "datasets" / "real") in str(caught.value)


def test_list_datasets_columns():
    table = list_datasets()
    assert table.columns[:5].tolist() == ["name", "kind", "licence", "description", "file"]
    assert table["name"].tolist() == list(REGISTRY)
    assert set(table["licence"]) == {"MIT", "CC-BY-4.0"}
