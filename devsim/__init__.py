"""devsim: a runnable workbook for DevOps and site-reliability engineering.

The public entry points are re-exported here; the modules hold the details.
"""

__version__ = "0.1.0"

from devsim.datasets import list_datasets, load_dataset
from devsim.profiles import Profile, ProfileError, load_profile
from devsim.sim import HorizontalPodAutoscaler, Manual, Scenario, SimulationResult, simulate

__all__ = [
    "__version__",
    "HorizontalPodAutoscaler",
    "Manual",
    "Profile",
    "ProfileError",
    "Scenario",
    "SimulationResult",
    "list_datasets",
    "load_dataset",
    "load_profile",
    "simulate",
]
