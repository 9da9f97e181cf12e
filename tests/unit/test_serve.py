"""The prediction endpoint: in process with FastAPI's test client, and as a real server on loopback."""

import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from devsim.autoscale import trace_series
from devsim.ml.forecast import LoadForecaster
from devsim.ml.serve import create_app


@pytest.fixture(scope="module")
def taxi():
    return trace_series("nab-nyc-taxi")


@pytest.fixture(scope="module")
def model(taxi):
    return LoadForecaster(horizon=2, n_estimators=20).fit(taxi.iloc[:4000])


@pytest.fixture(scope="module")
def client(model):
    return TestClient(create_app(model))


def body(taxi, model, end=5000):
    values = taxi.iloc[end - model.window_size_ : end]
    target = values.index[-1] + 2 * model.freq_
    return {"values": values.tolist(), "target_time": target.isoformat()}


def test_health_reports_model(client, model):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["window_size"] == model.window_size_
    assert response.json()["horizon_steps"] == 2


def test_predict_matches_in_process(client, taxi, model):
    request = body(taxi, model)
    response = client.post("/predict", json=request)
    assert response.status_code == 200
    expected = model.predict_one(np.array(request["values"]), request["target_time"])
    assert response.json()["prediction"] == pytest.approx(expected)


def test_too_few_values_is_400(client, model):
    response = client.post("/predict", json={"values": [1.0, 2.0], "target_time": "2015-01-01T00:00:00"})
    assert response.status_code == 400
    assert f"at least the latest {model.window_size_} values" in response.json()["detail"]


def test_missing_target_time_is_400(client, taxi, model):
    request = body(taxi, model)
    del request["target_time"]
    response = client.post("/predict", json=request)
    assert response.status_code == 400
    assert "target_time is required" in response.json()["detail"]


def test_bad_target_time_is_400(client, taxi, model):
    request = body(taxi, model)
    request["target_time"] = "next tuesday"
    response = client.post("/predict", json=request)
    assert response.status_code == 400


def test_non_numeric_values_is_422(client):
    response = client.post("/predict", json={"values": ["a", "b"]})
    assert response.status_code == 422


def test_empty_body_is_422(client):
    assert client.post("/predict", content=b"not json", headers={"content-type": "application/json"}).status_code == 422


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_served_model_on_loopback(tmp_path, taxi, model):
    path = tmp_path / "model.json"
    model.save(path)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "devsim.cli", "serve-model", "--model", str(path), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stdout.read().decode()
            assert time.monotonic() < deadline, "server did not answer within 60 s"
            time.sleep(0.2)
        request = body(taxi, model)
        with httpx.Client(base_url=url, timeout=5) as http:
            answers = [http.post("/predict", json=request) for _ in range(20)]
            bad = http.post("/predict", json={"values": [1.0]})
        assert all(answer.status_code == 200 for answer in answers)
        assert answers[0].json()["prediction"] == pytest.approx(model.predict_one(np.array(request["values"]), request["target_time"]))
        assert bad.status_code == 400
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_serve_missing_model_file_is_clear(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "devsim.cli", "serve-model", "--model", str(tmp_path / "absent.json")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "devsim train-forecaster" in result.stderr


def test_negative_value_is_400(client, taxi, model):
    request = body(taxi, model)
    request["values"][-1] = -5.0
    response = client.post("/predict", json=request)
    assert response.status_code == 400
    assert "values[" in response.json()["detail"]


def test_unreadable_target_time_names_field(client, taxi, model):
    request = body(taxi, model)
    request["target_time"] = "tomorrow"
    response = client.post("/predict", json=request)
    assert response.status_code == 400
    assert "target_time 'tomorrow'" in response.json()["detail"]


def test_serve_non_model_file_is_clear(tmp_path):
    path = tmp_path / "notes.json"
    path.write_text("not a model")
    result = subprocess.run(
        [sys.executable, "-m", "devsim.cli", "serve-model", "--model", str(path)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "is not a forecaster saved by" in result.stderr
