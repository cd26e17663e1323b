"""Engines and migrations: `make_engine(url)` for SQLite or PostgreSQL, `upgrade(url)` to bring a database to head.

URLs: `sqlite:///PATH` (the default, a file in the instance folder), or `postgresql://USER:PASSWORD@HOST/DB`
(psycopg 3 is used whatever driver the URL names; `postgres://` is accepted too). Other databases are refused.

On SQLite every transaction starts with BEGIN IMMEDIATE, so writers take the write lock before they read and two
processes cannot both read "99 members" and both add the hundredth; foreign keys are switched on (SQLite leaves them
off), so deleting a room deletes its members; WAL lets readers go on while one process writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.engine import URL

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_SECONDS = 15  # how long a writer waits for another's write lock before it fails
# Any fixed number: concurrent upgrades of one PostgreSQL database take this advisory lock, so one runs at a time.
PG_UPGRADE_LOCK = 0x446F636B  # "Dock"


def database_url(url: str | URL) -> URL:
    """The URL with the driver Dockwise uses; a clear ValueError for a database it does not support."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError, and ValueError for a bad port
        raise ValueError(f"database URL {str(url)!r} cannot be read: {exc} (expected sqlite:///PATH or "
                         "postgresql://USER:PASSWORD@HOST/DATABASE)") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    raise ValueError(f"database URL names {backend!r}: Dockwise's rooms support sqlite:///PATH or "
                     "postgresql://USER:PASSWORD@HOST/DATABASE")


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An Engine set up for the rooms store (see the module docstring); kwargs go to create_engine."""
    parsed = database_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True, **kwargs)
    kwargs.setdefault("connect_args", {}).setdefault("timeout", SQLITE_BUSY_SECONDS)
    engine = create_engine(parsed, **kwargs)
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy's documented recipe: sqlite3 must not emit its own BEGIN, so that _sqlite_begin's is the one used.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA secure_delete = ON")  # a deleted room's bytes are overwritten, not left in free pages
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(url: str | URL | None = None) -> Config:
    """Alembic's configuration built in code (no alembic.ini): the packaged migrations, and `url` when given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        # ConfigParser would read "%" as interpolation; a password may contain one.
        rendered = database_url(url).render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Run the rooms' migrations up to `revision` on the database at `url`, in one transaction."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_UPGRADE_LOCK})
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()
