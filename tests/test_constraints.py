"""constraints.txt, the one pinned set of runtime packages (scripts/setup and the Dockerfile both install it), agrees
with pyproject.toml's pins and with what this environment runs."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def constraints() -> dict[str, str]:
    lines = (line.split("#", 1)[0].strip() for line in (ROOT / "constraints.txt").read_text().splitlines())
    return {canonical(name): pinned for name, pinned in (line.split("==", 1) for line in lines if line)}


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for requirement in project["dependencies"]:
        name, pinned = requirement.split("==", 1)
        pins[canonical(name.split("[", 1)[0])] = pinned
    return pins


@pytest.mark.parametrize(("name", "pinned"), sorted(pyproject_pins().items()))
def test_every_pin_of_pyproject_is_in_the_constraints_at_the_same_version(name, pinned):
    constrained = constraints().get(name)
    assert constrained == pinned, f"constraints.txt pins {name} at {constrained}, pyproject.toml at {pinned}"


@pytest.mark.parametrize(("name", "pinned"), sorted(constraints().items()))
def test_this_environment_runs_exactly_the_constrained_versions(name, pinned):
    try:
        installed = version(name)
    except PackageNotFoundError:
        pytest.fail(f"{name} (constraints.txt {pinned}) is not installed: run scripts/setup")
    assert installed == pinned, f"{name} {installed} is installed, constraints.txt pins {pinned}: run scripts/setup"
