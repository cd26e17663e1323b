"""Shared fixtures, after Flask's tutorial: `app`, `client`, `runner`, plus the shipped rules.

"Shipped" means tests/shipped.py's RULES_PATH: rules.yaml, or the edited copy DOCKWISE_TEST_RULES names.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from shipped import RULES_PATH
from strategies import RulesCase

from app import create_app
from recommender import load_rules

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def app(tmp_path):
    return create_app({"TESTING": True, "RULES_PATH": str(RULES_PATH), "INSTANCE_PATH": str(tmp_path),
                       "SECRET_KEY": "test-secret"})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def shipped_rules():
    """The shipped rules.yaml, loaded once."""
    return load_rules(RULES_PATH)


@pytest.fixture(scope="session")
def shipped_text() -> str:
    """The shipped rules.yaml as text."""
    return RULES_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def shipped_spec(shipped_text) -> dict:
    """The shipped rules.yaml as plain YAML data."""
    return yaml.safe_load(shipped_text)


@pytest.fixture(scope="session")
def shipped_case(shipped_spec, shipped_text, shipped_rules) -> RulesCase:
    """The shipped rules three ways (tests/strategies.py): plain data, YAML text and the loaded rules."""
    return RulesCase(shipped_spec, shipped_text, shipped_rules)


@pytest.fixture
def no_dockwise_environment(monkeypatch):
    """A DOCKWISE_* variable in the developer's shell must not change what a test sees."""
    for name in list(os.environ):
        if name.startswith("DOCKWISE_"):
            monkeypatch.delenv(name)
