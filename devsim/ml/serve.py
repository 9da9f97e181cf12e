"""An HTTP prediction endpoint for a saved load forecaster.

The experimental profile names port 9002 as its AI API. :func:`create_app`
wraps a fitted forecaster in a FastAPI application with two routes:

``GET /health``
    Model facts: horizon, window size, series step.
``POST /predict``
    Body ``{"values": [...], "target_time": "2015-01-31T12:00:00"}``: the
    latest ``window_size`` values of the series, oldest first, and the time of
    the forecast value (needed when the model uses calendar features).
    Returns ``{"prediction": ..., "horizon_steps": ..., "window_size": ...}``.

A malformed body gets HTTP 422 from FastAPI's validation. A well-formed body
that the model cannot use (too few values, an invalid value, an unreadable
time) gets HTTP 400 with a message naming the problem. :func:`serve` binds to
127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import logging
import math
import socket
from pathlib import Path

import pandas as pd

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

__all__ = ["create_app", "serve", "DEFAULT_HOST", "DEFAULT_PORT"]

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9002


class PredictRequest(BaseModel):
    """Body of ``POST /predict``."""

    values: list[float] = Field(min_length=1, description="latest values of the series, oldest first")
    target_time: str | None = Field(default=None, description="ISO 8601 time of the forecast value")


class PredictResponse(BaseModel):
    """Response body of ``POST /predict``."""

    prediction: float
    horizon_steps: int
    window_size: int


def create_app(model) -> FastAPI:
    """Return a FastAPI application that serves ``model.predict_one``."""
    app = FastAPI(title="devsim load forecaster", version="1")
    window = int(model.window_size_)
    horizon = int(model.horizon)

    @app.get("/health")
    def health() -> dict:
        return {
            "status": "ok",
            "model": type(model).__name__,
            "horizon_steps": horizon,
            "window_size": window,
            "step": str(getattr(model, "freq_", "")),
        }

    @app.post("/predict", response_model=PredictResponse)
    def predict(request: PredictRequest) -> PredictResponse:
        if len(request.values) < window:
            raise HTTPException(
                status_code=400,
                detail=f"values has {len(request.values)} items; send at least the latest {window} values of the series",
            )
        bad = [index for index, value in enumerate(request.values) if not (math.isfinite(value) and 0 <= value < 1e15)]
        if bad:
            raise HTTPException(
                status_code=400,
                detail=f"values[{bad[0]}] = {request.values[bad[0]]!r} is invalid; loads are finite counts >= 0 and below 1e15",
            )
        if request.target_time is not None:
            try:
                pd.Timestamp(request.target_time)
            except ValueError:
                raise HTTPException(
                    status_code=400,
                    detail=f"target_time {request.target_time!r} is not an ISO 8601 time such as 2015-01-31T12:00:00",
                ) from None
        try:
            prediction = model.predict_one(request.values, request.target_time)
        except ValueError as error:
            logger.info("rejected prediction request: %s", error)
            raise HTTPException(status_code=400, detail=str(error)) from None
        return PredictResponse(prediction=prediction, horizon_steps=horizon, window_size=window)

    return app


def serve(model_path: str | Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Load a forecaster saved with ``LoadForecaster.save`` and serve it until interrupted."""
    import uvicorn

    from devsim.ml.forecast import LoadForecaster

    try:
        model = LoadForecaster.load(model_path)
    except (ValueError, KeyError) as error:
        raise ValueError(
            f"model file {model_path} is not a forecaster saved by `devsim train-forecaster` ({error})"
        ) from None
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ValueError(f"cannot listen on {host}:{port} ({error.strerror}); pass another --port") from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("serving on %s makes the endpoint reachable from other machines", host)
    logger.info("serving %s on http://%s:%d", model_path, host, port)
    uvicorn.run(create_app(model), host=host, port=port, log_level="warning")
