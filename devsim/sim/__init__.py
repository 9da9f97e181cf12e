"""The SimPy model: scenario, fleet, autoscaling and metrics."""

from devsim.sim.autoscaling import AutoscalingPolicy, Decision, HorizontalPodAutoscaler, Manual, Observation
from devsim.sim.model import SUMMARY_KEYS, Scenario, SimulationResult, simulate
from devsim.sim.flow import run_scenario, simulate_flow

__all__ = [
    "AutoscalingPolicy",
    "Decision",
    "HorizontalPodAutoscaler",
    "Manual",
    "Observation",
    "SUMMARY_KEYS",
    "Scenario",
    "SimulationResult",
    "run_scenario",
    "simulate",
    "simulate_flow",
]
