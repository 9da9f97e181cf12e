"""ipywidgets apps shared by the Voila pages in ``voila/`` and the chapters in ``notebooks/``.

Each app is built by a function that returns one widget, so a notebook cell or
a Voila page needs only ``build_...()`` as its last line. The apps draw with
``alt.JupyterChart`` in offline mode (see :mod:`devsim.charts`), so they work
without network access.
"""

from devsim.apps.explorer import (
    TRACE_CHOICES,
    EnvironmentExplorer,
    ExplorerSettings,
    TraceChoice,
    build_explorer,
    build_workload,
    run_settings,
)

__all__ = [
    "TRACE_CHOICES",
    "EnvironmentExplorer",
    "ExplorerSettings",
    "TraceChoice",
    "build_explorer",
    "build_workload",
    "run_settings",
]
