"""The devsim command, run as a user would: as a subprocess and in process."""

import json
import subprocess
import sys


from devsim.cli import main
from devsim.sim import SUMMARY_KEYS


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "devsim.cli", *args], capture_output=True, text=True, timeout=300)


def test_run_azure_trace_whole(capsys):
    assert main(["run", "--profile", "production", "--trace", "azure-llm-code", "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert list(summary) == SUMMARY_KEYS
    # Without a window every request of the trace is replayed.
    assert summary["requests"] == 8819
    assert summary["ok"] + summary["rejected"] + summary["timed_out"] == 8819


def test_run_table_output(capsys):
    assert main(["run", "--trace", "azure-llm-code", "--window", "0:5min"]) == 0
    out = capsys.readouterr().out
    assert "p95_latency_s" in out
    assert "cost_usd" in out


def test_run_writes_frames_and_report(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", "--trace", "azure-llm-code", "--window", "0:10min", "--out", str(out), "--format", "json"])
    assert code == 0
    for name in ("requests.csv", "metrics.csv", "events.csv", "summary.json", "report.html"):
        assert (out / name).is_file(), name
    html = (out / "report.html").read_text()
    assert "<svg" in html
    assert "<script src=" not in html


def test_run_parquet_frames(tmp_path, capsys):
    out = tmp_path / "pq"
    assert main(["run", "--trace", "azure-llm-code", "--window", "0:2min", "--out", str(out), "--frames", "parquet"]) == 0
    assert (out / "requests.parquet").is_file()


def test_compare_side_by_side(capsys):
    code = main(["compare", "production", "development", "--trace", "azure-llm-code", "--window", "0:10min",
                 "--rate-multiplier", "3", "--format", "json"])
    assert code == 0
    both = json.loads(capsys.readouterr().out)
    assert set(both) == {"production", "development"}
    assert both["production"]["p95_latency_s"] < both["development"]["p95_latency_s"]


def test_unknown_trace_is_clear_error():
    result = run_cli("run", "--trace", "nope")
    assert result.returncode == 2
    assert "unknown dataset 'nope'" in result.stderr
    assert "azure-llm-code" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_profile_is_clear_error():
    result = run_cli("run", "--profile", "prod", "--trace", "azure-llm-code")
    assert result.returncode == 2
    assert "choose one of development, experimental, production" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_multiplier_rejected_by_parser():
    result = run_cli("run", "--trace", "azure-llm-code", "--rate-multiplier", "-1")
    assert result.returncode == 2
    assert "must be a number greater than 0" in result.stderr


def test_bad_window_is_clear_error():
    result = run_cli("run", "--trace", "azure-llm-code", "--window", "later")
    assert result.returncode == 2
    assert "START:END" in result.stderr


def test_datasets_listed(capsys):
    assert main(["datasets", "--format", "json"]) == 0
    names = [row["name"] for row in json.loads(capsys.readouterr().out)]
    assert "azure-llm-code" in names
    assert "nab-nyc-taxi" in names


def test_validate_small_grid_json(capsys, monkeypatch):
    code = main(["validate", "--format", "json", "--customers", "5000", "--replications", "3"])
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 9
    assert {"theory_wait_s", "simulated_wait_s", "ci_low_s", "ci_high_s", "relative_error"} <= set(rows[0])
    assert code in (0, 1)
    assert code == (0 if all(row["within_ci"] for row in rows) else 1)


def test_console_script_installed():
    import shutil

    path = shutil.which("devsim") or str(__import__("pathlib").Path(sys.executable).with_name("devsim"))
    result = subprocess.run([path, "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.startswith("devsim ")


def test_deploy_rolls_back_bad_release(capsys):
    code = main(["deploy", "--strategy", "rolling", "--release", "error-rate", "--rollback", "analysis", "--format", "json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["release"] == "error-rate"
    assert report["rolled_back"] is True
    assert report["final_version"] == "v1"


def test_deploy_good_release_no_failures(capsys):
    assert main(["deploy", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["failed_requests"] == 0
    assert report["completed"] is True


def test_deploy_both_zero_is_clear_error():
    result = run_cli("deploy", "--max-surge", "0", "--max-unavailable", "0")
    assert result.returncode == 2
    assert "both 0" in result.stderr
    assert "Traceback" not in result.stderr


def test_deploy_unknown_release_is_clear_error():
    result = run_cli("deploy", "--release", "broken")
    assert result.returncode == 2
    assert "choose one of good" in result.stderr
