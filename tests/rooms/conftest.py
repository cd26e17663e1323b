"""Database fixtures for the rooms tests: an SQLite file per test, and a throwaway PostgreSQL cluster per run.

The cluster is Debian's PostgreSQL server (scripts/install-test-deps installs it): initdb into a temporary folder,
reached only through a unix socket in that folder (no TCP port), run as the `postgres` system user when the tests
run as root (initdb refuses root), and stopped and removed at the end of the session, even after a failure.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
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


@dataclass
class PostgresCluster:
    """A running throwaway cluster; `new_database()` gives the URL of a fresh, empty database."""

    socket_dir: Path
    _names: Iterator[int] = field(default_factory=itertools.count)

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(host=str(self.socket_dir), user="postgres", dbname="postgres", autocommit=True)

    def new_database(self) -> str:
        name = f"rooms_test_{next(self._names)}"
        with self.admin() as connection:
            connection.execute(f'CREATE DATABASE "{name}" STRATEGY FILE_COPY')
        return f"postgresql://postgres@/{name}?host={self.socket_dir}"

    def drop_database(self, url: str) -> None:
        name = url.split("/")[-1].split("?")[0]
        with self.admin() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(Path(path).parts[4]))
    if not found:
        pytest.fail("Debian's PostgreSQL server is not installed (no /usr/lib/postgresql/*/bin/initdb): run "
                    "scripts/install-test-deps, or `apt-get install postgresql`")
    return Path(found[-1]).parent


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    bin_dir = _postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="dockwise-pg-"))
    as_owner: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    data, log = root / "data", root / "postgres.log"

    def run(*args: str | Path) -> None:
        done = subprocess.run([*as_owner, *map(str, args)], cwd=root, capture_output=True, text=True, timeout=60,
                              check=False)
        if done.returncode != 0:
            server_log = log.read_text(errors="replace") if log.exists() else ""
            pytest.fail(f"{Path(str(args[0])).name} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
                        f"{server_log}")

    try:
        run(bin_dir / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale",
            "--no-sync", "--no-instructions")
        # No TCP at all (listen_addresses empty): only the socket in our folder. Durability is not wanted here.
        options = (f"-k {root} -c listen_addresses= -c max_connections=200 -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off")
        run(bin_dir / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "30", "-o", options, "start")
        try:
            yield PostgresCluster(root)
        finally:
            run(bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    url = postgres_cluster.new_database()
    yield url
    postgres_cluster.drop_database(url)


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
