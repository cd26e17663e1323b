"""Shared fixtures, after Flask's tutorial: `app`, `client`, `runner`, plus the shipped rules and a throwaway
PostgreSQL cluster (`postgres_url`: a fresh database in it) for the rooms' tests.

"Shipped" means tests/shipped.py's RULES_PATH: rules.yaml, or the edited copy DOCKWISE_TEST_RULES names.

The cluster is Debian's PostgreSQL server (scripts/install-test-deps installs it): initdb into a temporary folder,
reached only through a unix socket in that folder (no TCP port), run as the `postgres` system user when the tests
run as root (initdb refuses root), and stopped and removed at the end of the session, even after a failure. It is
started only when a test asks for it.
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
from pathlib import Path

import psycopg
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
