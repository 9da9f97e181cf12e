"""Machine learning for devsim: load forecasting for predictive autoscaling.

See :mod:`devsim.ml.forecast` for the data preparation, the forecasters, the
metrics and the online refits.
"""

from devsim.ml.forecast import (
    CALENDAR_FEATURES,
    LastValue,
    LinearForecaster,
    LoadForecaster,
    OnlineForecaster,
    SeasonalNaive,
    backtest,
    evaluate,
    mae,
    make_features,
    make_rate_series,
    mase,
    requests_to_rate,
    run_online,
    smape,
    splice_series,
)

__all__ = [
    "CALENDAR_FEATURES",
    "LastValue",
    "LinearForecaster",
    "LoadForecaster",
    "OnlineForecaster",
    "SeasonalNaive",
    "backtest",
    "evaluate",
    "mae",
    "make_features",
    "make_rate_series",
    "mase",
    "requests_to_rate",
    "run_online",
    "smape",
    "splice_series",
]
