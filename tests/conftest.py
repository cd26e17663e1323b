"""Shared fixtures, after Flask's tutorial: `app`, `client`, `runner`, plus the shipped rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import create_app
from recommender import load_rules

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
RULES_PATH = ROOT / "rules.yaml"


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
