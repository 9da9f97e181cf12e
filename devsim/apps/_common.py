"""HTML and chart pieces shared by the apps."""

from __future__ import annotations

import html

import altair as alt
import pandas as pd


def message_html(text: str, action: str = "simulate") -> str:
    """Return a red box saying the app cannot ``action``, followed by ``text``, HTML-escaped."""
    return (
        '<div style="color: #a40e26; background: #ffebe9; border: 1px solid #ff8182; padding: 6px 10px">'
        f"<b>Cannot {html.escape(action)}:</b> {html.escape(text)}</div>"
    )


def placeholder_chart(title: str, width: int, height: int, button: str = "Simulate") -> alt.Chart:
    """Return an empty chart that asks the user to press ``button``."""
    return (
        alt.Chart(pd.DataFrame({"text": [f"press {button}"]}), title=title, width=width, height=height)
        .mark_text()
        .encode(text="text:N")
    )
