"""Database fixtures for the rooms tests: an SQLite file per test, and a database in the throwaway PostgreSQL cluster
of tests/conftest.py (`postgres_url`, shared with the rooms API's tests: one cluster per run)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rooms import RoomStore, make_engine, upgrade

START = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


@dataclass
class Clock:
    """The store's clock, moved by hand."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'rooms.sqlite3'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(db_url: str, clock: Clock) -> Iterator[RoomStore]:
    """A store on a freshly migrated database, on each backend, with a hand-moved clock."""
    upgrade(db_url)
    engine = make_engine(db_url)
    yield RoomStore(engine, clock=clock)
    engine.dispose()
