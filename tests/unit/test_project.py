"""Project-level checks: dependency lists, committed notebooks, Makefile and README."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

# PyPI name in pyproject.toml -> conda-forge name in environment.yml, where they differ.
CONDA_FORGE_NAMES = {
    "xgboost-cpu": "xgboost",
    "torch": "pytorch",
    "playwright": "playwright-python",
}

# Name, optional extras, version specifier, optional environment marker (PEP 508).
# Conda specs written as "name>=1.0" or "name==1.0" parse the same way.
REQUIREMENT_PATTERN = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(?P<spec>[^;]*?)\s*(?:;(?P<marker>.*))?$"
)

MAKE_TARGETS = ("lab", "test", "app", "book", "bench", "clean", "distclean")


def normalise_name(name: str) -> str:
    """Return the PEP 503 form of a package name: lower case, runs of -_. as one -."""
    return re.sub(r"[-_.]+", "-", name).lower()


def normalise_spec(spec: str) -> str:
    """Return a version specifier without spaces, its comma-separated clauses sorted."""
    clauses = [clause.replace(" ", "") for clause in spec.split(",") if clause.strip()]
    return ",".join(sorted(clauses))


def parse_requirement(text: str) -> tuple[str, str, str]:
    """Split a requirement into (normalised name, normalised specifier, marker)."""
    match = REQUIREMENT_PATTERN.match(text)
    assert match, f"cannot parse requirement {text!r}"
    marker = (match["marker"] or "").strip()
    return normalise_name(match["name"]), normalise_spec(match["spec"]), marker


def load_pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as file:
        return tomllib.load(file)


def pyproject_requirements() -> list[str]:
    """Return the core dependencies followed by the test extra."""
    project = load_pyproject()["project"]
    return list(project["dependencies"]) + list(project["optional-dependencies"]["test"])


def load_environment() -> dict:
    with open(ROOT / "environment.yml", encoding="utf-8") as file:
        return yaml.safe_load(file)


def environment_packages() -> tuple[dict[str, str], dict[str, str]]:
    """Return environment.yml's conda packages and pip packages as {name: specifier}.

    Leaves out python, the conda package pip that runs the pip section, and pip
    options such as "-e .".
    """
    conda: dict[str, str] = {}
    pip: dict[str, str] = {}
    has_pip_section = False
    for entry in load_environment()["dependencies"]:
        if isinstance(entry, dict):
            has_pip_section = True
            for pip_entry in entry.get("pip", []):
                if pip_entry.strip().startswith("-"):
                    continue
                name, spec, _marker = parse_requirement(pip_entry)
                pip[name] = spec
            continue
        name, spec, _marker = parse_requirement(entry)
        conda[name] = spec
    conda.pop("python", None)
    if has_pip_section:
        conda.pop("pip", None)
    return conda, pip


def expected_environment_packages() -> dict[str, set[str]]:
    """Map pyproject's requirements to the names environment.yml should use.

    A package listed in environment.yml's pip section keeps its PyPI name; any other
    takes its conda-forge name. The value contains each specifier given for that name,
    because one package may appear under several platform markers.
    """
    _conda, pip = environment_packages()
    expected: dict[str, set[str]] = {}
    for requirement in pyproject_requirements():
        name, spec, _marker = parse_requirement(requirement)
        if name not in pip:
            name = CONDA_FORGE_NAMES.get(name, name)
        expected.setdefault(name, set()).add(spec)
    return expected


def test_environment_lists_pyproject_packages():
    conda, pip = environment_packages()
    listed = set(conda) | set(pip)
    expected = expected_environment_packages()

    missing_from_environment = sorted(set(expected) - listed)
    missing_from_pyproject = sorted(listed - set(expected))
    # One assert, so that a failure lists the missing names on both sides.
    assert (missing_from_environment, missing_from_pyproject) == ([], []), (
        f"in pyproject.toml but not in environment.yml (conda-forge names): {missing_from_environment}\n"
        f"in environment.yml but not in pyproject.toml (core or test extra): {missing_from_pyproject}"
    )


def test_environment_version_pins_match():
    conda, pip = environment_packages()
    listed = {**conda, **pip}
    mismatches = []
    for name, pyproject_specs in sorted(expected_environment_packages().items()):
        environment_spec = listed.get(name, "")
        for pyproject_spec in sorted(pyproject_specs):
            if pyproject_spec and environment_spec and pyproject_spec != environment_spec:
                mismatches.append(f"{name}: pyproject {pyproject_spec!r}, environment.yml {environment_spec!r}")
    assert mismatches == [], "version specifiers differ:\n" + "\n".join(mismatches)


def test_environment_pins_pytorch():
    conda, _pip = environment_packages()
    assert conda.get("pytorch") == "==2.13.0", f"environment.yml has pytorch {conda.get('pytorch')!r}"


def test_environment_python_matches_requires_python():
    python_entries = [
        parse_requirement(entry)[1]
        for entry in load_environment()["dependencies"]
        if isinstance(entry, str) and parse_requirement(entry)[0] == "python"
    ]
    requires_python = normalise_spec(load_pyproject()["project"]["requires-python"])
    assert python_entries == [requires_python]


def test_environment_uses_conda_forge_only():
    assert load_environment()["channels"] == ["conda-forge"]


def test_pyproject_pins_torch():
    assert "torch==2.13.0" in pyproject_requirements()


def test_pyproject_uses_xgboost_cpu():
    requirements = [parse_requirement(text) for text in load_pyproject()["project"]["dependencies"]]
    names = [name for name, _spec, _marker in requirements]
    assert "xgboost-cpu" in names

    # Plain xgboost pulls in the CUDA libraries on Linux, so it may appear only for
    # macOS, where xgboost-cpu has no wheels.
    for name, _spec, marker in requirements:
        if name == "xgboost":
            assert marker.replace('"', "'").replace(" ", "") == "sys_platform=='darwin'", (
                f"xgboost is required outside macOS (marker {marker!r}); use xgboost-cpu"
            )


def committed_notebooks(folder: str) -> list[Path]:
    """Return the .ipynb files directly in ``folder`` that git would commit.

    Inside a git work tree these are tracked files plus untracked ones that
    .gitignore does not exclude. Outside one, they are all .ipynb files in the folder.
    """
    try:
        listing = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", folder],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (FileNotFoundError, subprocess.CalledProcessError):
        return sorted((ROOT / folder).glob("*.ipynb"))

    paths = {ROOT / relative for relative in listing.split("\0") if relative}
    return sorted(
        path for path in paths if path.suffix == ".ipynb" and path.parent == ROOT / folder and path.is_file()
    )


def load_notebook(path: Path) -> dict:
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def test_notebooks_exist():
    assert committed_notebooks("notebooks"), "no notebooks/*.ipynb found: the workbook has no chapters"


def test_notebooks_committed_without_outputs():
    notebooks = committed_notebooks("notebooks") + committed_notebooks("voila")
    assert notebooks, "no notebooks/*.ipynb or voila/*.ipynb found"

    problems = []
    for path in notebooks:
        for index, cell in enumerate(load_notebook(path)["cells"]):
            if cell["cell_type"] != "code":
                continue
            if cell.get("outputs"):
                problems.append(f"{path.relative_to(ROOT)} cell {index}: has outputs")
            if cell.get("execution_count") is not None:
                problems.append(f"{path.relative_to(ROOT)} cell {index}: execution_count {cell['execution_count']}")
    assert problems == [], (
        "notebooks must be committed without outputs (Clear All Outputs, then save):\n" + "\n".join(problems)
    )


def test_chapters_have_one_parameters_cell():
    notebooks = committed_notebooks("notebooks")
    assert notebooks, "no notebooks/*.ipynb found"

    problems = []
    for path in notebooks:
        tagged = [
            index
            for index, cell in enumerate(load_notebook(path)["cells"])
            if "parameters" in cell.get("metadata", {}).get("tags", [])
        ]
        if len(tagged) != 1:
            problems.append(f"{path.relative_to(ROOT)}: cells tagged 'parameters': {tagged}")
    assert problems == [], "each chapter needs exactly one cell tagged 'parameters' for papermill:\n" + "\n".join(
        problems
    )


def makefile_targets() -> set[str]:
    """Return the names before ':' in the Makefile's rule lines, leaving out ':=' assignments."""
    targets: set[str] = set()
    for line in (ROOT / "Makefile").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_./ -]+?)\s*:(?!=)", line)
        if match:
            targets.update(match[1].split())
    return targets


@pytest.mark.parametrize("target", MAKE_TARGETS)
def test_makefile_declares_target(target):
    assert target in makefile_targets()


def test_readme_mentions_make_commands():
    readme = ROOT / "README.md"
    assert readme.is_file(), "README.md is missing"
    text = readme.read_text(encoding="utf-8")
    assert "make lab" in text
    assert "make test" in text
