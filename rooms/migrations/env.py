"""Alembic's environment for the rooms tables. rooms.db.upgrade passes its open connection in `config.attributes`;
the alembic command line (with `-x url=...` or sqlalchemy.url) gets an engine made by rooms.db.make_engine."""

from __future__ import annotations

from alembic import context

from rooms.db import make_engine
from rooms.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations(connection) -> None:
    # render_as_batch: SQLite can only alter a table by copying it, which batch mode does for later revisions.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("rooms migrations: give the database with -x url=sqlite:///PATH or postgresql://...")
    engine = make_engine(url)
    try:
        with engine.begin() as own_connection:
            run_migrations(own_connection)
    finally:
        engine.dispose()
