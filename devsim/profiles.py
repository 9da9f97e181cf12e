"""Environment profiles: the architecture document's environments as typed data.

The production, development and experimental environments live as YAML files in
``devsim/data/profiles``. :func:`load_profile` reads one of them (or any YAML
file of the same shape), applies overrides and validates the result. Every
problem found is reported at once, each with its path and value, so that a
learner who edits a profile fixes all mistakes in one pass.

>>> from devsim.profiles import load_profile
>>> prod = load_profile("production", scaling__max_replicas=10)
>>> prod.scaling.max_replicas
10
"""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "ProfileError",
    "Profile",
    "load_profile",
    "profile_names",
]

PROFILE_PACKAGE = "devsim.data.profiles"


class ProfileError(ValueError):
    """A profile that cannot be loaded: unknown name, unreadable file or invalid values.

    ``problems`` holds one ``(path, message, value)`` tuple per problem.
    """

    def __init__(self, source: str, problems: list[tuple[str, str, Any]]):
        self.source = source
        self.problems = problems
        count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
        lines = [f"invalid profile {source}: {count}"]
        for path, message, value in problems:
            # A section-level problem names its values in the message already.
            shown = "" if value is None or isinstance(value, (dict, list)) else f" (got {value!r})"
            lines.append(f"  - {path}: {message}{shown}")
        super().__init__("\n".join(lines))


class _Strict(BaseModel):
    # Unknown keys are errors so that a typo in a YAML file or an override
    # cannot be ignored silently.
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceTime(_Strict):
    """Service-time distribution of one request on one worker."""

    distribution: Literal["exponential", "deterministic", "lognormal", "gamma"] = "exponential"
    mean_s: float = Field(gt=0)
    cv: float = Field(default=1.0, ge=0, description="coefficient of variation; ignored by exponential and deterministic")


class App(_Strict):
    """Application server facts: technology and ports."""

    technology: str
    port: int = Field(ge=1, le=65535)
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    ai_api_port: int | None = Field(default=None, ge=1, le=65535)
    hot_reload: bool = False
    debugger_port: int | None = Field(default=None, ge=1, le=65535)
    message_queue: str | None = None


class Instances(_Strict):
    """Capacity and lifecycle of one app instance."""

    workers: int = Field(ge=1)
    queue_capacity: int | None = Field(ge=0, description="waiting requests one instance accepts; None is unbounded")
    service_time: ServiceTime
    request_timeout_s: float | None = Field(gt=0, description="client timeout; None waits forever")
    startup_delay_s: float = Field(ge=0)
    cost_per_hour: float = Field(ge=0)


class LoadBalancer(_Strict):
    """Request routing between ready instances."""

    algorithm: Literal["round_robin", "least_connections"] = "round_robin"


class ScalingPolicy(_Strict):
    """One HPA scaling policy: at most ``value`` pods or percent per ``period_s``."""

    type: Literal["Pods", "Percent"]
    value: int = Field(gt=0)
    period_s: float = Field(gt=0, le=1800)


class ScalingRules(_Strict):
    """HPA behaviour for one direction (scale up or scale down)."""

    stabilization_window_s: float = Field(ge=0, le=3600)
    select_policy: Literal["Max", "Min", "Disabled"] = "Max"
    policies: list[ScalingPolicy] = Field(min_length=1)


class Scaling(_Strict):
    """Scaling mode, replica limits and HPA settings."""

    mode: Literal["manual", "horizontal", "predictive"]
    replicas: int = Field(ge=1, description="initial replicas, and the fixed count in manual mode")
    min_replicas: int = Field(ge=1)
    max_replicas: int = Field(ge=1)
    target_utilization: float = Field(gt=0, le=1)
    sync_period_s: float = Field(gt=0)
    tolerance: float = Field(ge=0, lt=1)
    scale_up: ScalingRules
    scale_down: ScalingRules

    @model_validator(mode="after")
    def _check_limits(self) -> "Scaling":
        problems = []
        if self.min_replicas > self.max_replicas:
            problems.append(
                f"min_replicas ({self.min_replicas}) is above max_replicas ({self.max_replicas}); "
                "lower min_replicas or raise max_replicas"
            )
        elif not self.min_replicas <= self.replicas <= self.max_replicas:
            problems.append(
                f"replicas ({self.replicas}) is outside [min_replicas, max_replicas] = "
                f"[{self.min_replicas}, {self.max_replicas}]"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Backup(_Strict):
    """Database backup policy."""

    schedule: Literal["daily", "manual", "continuous", "hourly", "weekly"]
    automated: bool
    geo_redundant: bool = False


class Database(_Strict):
    """Database topology and backup policy."""

    engine: str
    version: str
    topology: Literal["single", "primary-replica", "multi-master"]
    nodes: int = Field(ge=1)
    backup: Backup
    encrypted_connections: bool
    seed_test_data: bool = False

    @model_validator(mode="after")
    def _check_topology(self) -> "Database":
        if self.topology == "single" and self.nodes != 1:
            raise ValueError(f"topology 'single' needs nodes=1, not {self.nodes}")
        if self.topology != "single" and self.nodes < 2:
            raise ValueError(f"topology {self.topology!r} needs at least 2 nodes, not {self.nodes}")
        return self


class Cache(_Strict):
    """Cache service."""

    engine: str
    mode: Literal["single", "cluster"]


class Monitoring(_Strict):
    """Monitoring tools, scrape interval and alert channel."""

    tools: list[str] = Field(min_length=1)
    scrape_interval_s: float = Field(gt=0)
    metrics: list[str]
    alert_channel: Literal["email", "console", "pager", "chat"]
    dashboard: str | None = None


class Security(_Strict):
    """Transport security, secrets handling and exposure settings."""

    tls: bool
    database_tls: bool
    secrets: Literal["aws-secrets-manager", "plaintext", "vault", "environment"]
    cors_allowed_origins: list[str]
    debug_endpoints: bool
    security_audits: bool


class Deployment(_Strict):
    """Deployment strategy and rollback policy."""

    strategy: Literal["rolling", "recreate", "blue-green", "canary"]
    zero_downtime: bool
    rollback: Literal["automatic-on-failure", "automatic-on-anomaly", "manual"]


class Profile(_Strict):
    """One environment: everything the simulation and the chapters read."""

    name: str = Field(min_length=1)
    description: str
    app: App
    instances: Instances
    load_balancer: LoadBalancer
    scaling: Scaling
    database: Database
    cache: Cache
    monitoring: Monitoring
    security: Security
    deployment: Deployment
    orchestration: Literal["kubernetes", "docker-compose", "none"]
    clouds: list[str] = Field(default_factory=list)

    def with_overrides(self, **overrides: Any) -> "Profile":
        """Return a validated copy with overrides applied (see :func:`load_profile`)."""
        data = self.model_dump()
        _apply_overrides(data, overrides)
        return _validate(data, source=f"{self.name!r} with overrides")


def profile_names() -> list[str]:
    """Return the names of the profiles shipped with devsim."""
    folder = resources.files(PROFILE_PACKAGE)
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_profile(name_or_path: str | Path, **overrides: Any) -> Profile:
    """Load, override and validate an environment profile.

    Parameters
    ----------
    name_or_path
        A shipped profile name (``production``, ``development``, ``experimental``)
        or the path of a YAML file with the same fields.
    **overrides
        Values to replace. A nested field is written with double underscores
        (``scaling__max_replicas=10``) or as a dict that is merged into the
        section (``scaling={"max_replicas": 10}``).

    Raises
    ------
    ProfileError
        On an unknown name, an unreadable file, or invalid values. The message
        lists every problem with its path and value.
    """
    data, source = _read_profile_data(name_or_path)
    _apply_overrides(data, overrides)
    return _validate(data, source)


def _read_profile_data(name_or_path: str | Path) -> tuple[dict[str, Any], str]:
    text_path = str(name_or_path)
    looks_like_path = isinstance(name_or_path, Path) or text_path.endswith((".yaml", ".yml")) or "/" in text_path

    if looks_like_path:
        path = Path(name_or_path)
        if not path.is_file():
            raise ProfileError(str(path), [("file", "file not found; give an existing YAML file or one of " + ", ".join(profile_names()), str(path))])
        text = path.read_text(encoding="utf-8")
        source = str(path)
    else:
        names = profile_names()
        if text_path not in names:
            raise ProfileError(
                repr(text_path),
                [("name", f"profile not found; choose one of {', '.join(names)} or give a YAML file path", text_path)],
            )
        text = resources.files(PROFILE_PACKAGE).joinpath(f"{text_path}.yaml").read_text(encoding="utf-8")
        source = repr(text_path)

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ProfileError(source, [("file", f"invalid YAML{where}: {problem}", None)]) from None
    if not isinstance(data, dict):
        raise ProfileError(source, [("file", "the top level must be a mapping of sections", type(data).__name__)])
    return data, source


def _apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> None:
    for key, value in overrides.items():
        path = key.split("__")
        target = data
        for part in path[:-1]:
            child = target.get(part)
            if not isinstance(child, dict):
                child = {}
                target[part] = child
            target = child
        leaf = path[-1]
        if isinstance(value, dict) and isinstance(target.get(leaf), dict):
            merged = copy.deepcopy(target[leaf])
            merged.update(value)
            target[leaf] = merged
        else:
            target[leaf] = value


def _validate(data: dict[str, Any], source: str) -> Profile:
    try:
        return Profile.model_validate(data)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            path = ".".join(str(part) for part in item["loc"]) or "(profile)"
            message = item["msg"]
            if message.startswith("Value error, "):
                message = message[len("Value error, ") :]
            problems.append((path, message, item.get("input")))
        raise ProfileError(source, problems) from None
