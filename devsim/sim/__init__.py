"""The SimPy model: scenario, fleet, autoscaling and metrics."""

from devsim.sim.autoscaling import AutoscalingPolicy, Decision, HorizontalPodAutoscaler, Manual, Observation
from devsim.sim.model import SUMMARY_KEYS, Scenario, SimulationResult, simulate

__all__ = [
    "AutoscalingPolicy",
    "Decision",
    "HorizontalPodAutoscaler",
    "Manual",
    "Observation",
    "SUMMARY_KEYS",
    "Scenario",
    "SimulationResult",
    "simulate",
]
