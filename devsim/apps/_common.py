"""HTML and chart pieces shared by the apps."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from typing import Any

import altair as alt
import pandas as pd

logger = logging.getLogger(__name__)


def message_html(text: str, action: str = "simulate") -> str:
    """Return a red box saying the app cannot ``action``, followed by ``text``, HTML-escaped."""
    return (
        '<div style="color: #a40e26; background: #ffebe9; border: 1px solid #ff8182; padding: 6px 10px">'
        f"<b>Cannot {html.escape(action)}:</b> {html.escape(text)}</div>"
    )


def placeholder_chart(title: str, width: int, height: int, button: str = "Simulate") -> alt.Chart:
    """Return an empty chart with the text "press ``button``"."""
    return (
        alt.Chart(pd.DataFrame({"text": [f"press {button}"]}), title=title, width=width, height=height)
        .mark_text()
        .encode(text="text:N")
    )


def run_reporting_errors(app: Any, work: Callable[[], Any], settings: Any, action: str = "simulate",
                         noun: str = "simulation") -> Any:
    """Call ``work()`` for an app and return its result, or None after showing a readable error.

    ``app`` has ``message`` and ``status`` widgets and a ``_set_busy(False)``
    method, which runs whatever happens. A ValueError (ProfileError and
    TraceError among them) is an invalid setting whose message names the value
    and the fix; any other exception is logged with its traceback and shown
    as one line, because a widget callback must not print a traceback.
    """
    try:
        return work()
    except ValueError as error:
        logger.info("%s rejected settings %s: %s", type(app).__name__, settings, error)
        app.message.value = message_html(str(error), action)
        app.status.value = "Invalid settings"
    except Exception as error:  # noqa: BLE001 - see the docstring
        logger.exception("%s %s failed for settings %s", type(app).__name__, noun, settings)
        app.message.value = message_html(f"the {noun} failed: {type(error).__name__}: {error}", action)
        app.status.value = "Failed"
    finally:
        app._set_busy(False)
    return None
