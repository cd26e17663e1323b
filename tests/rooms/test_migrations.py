"""The packaged Alembic migrations build exactly the models' schema, on SQLite and PostgreSQL, without alembic.ini."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from rooms import alembic_config, make_engine, upgrade
from rooms.models import Base


def schema_diff(url):
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata), context.get_current_revision()
    finally:
        engine.dispose()


def table_names(url):
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_builds_the_models_schema_and_is_idempotent(db_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no alembic.ini anywhere near: the configuration is built in code
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    upgrade(db_url)
    upgrade(db_url)
    assert schema_diff(db_url) == ([], head)


def test_downgrade_removes_the_tables_and_upgrade_restores_them(db_url):
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
    finally:
        engine.dispose()
    assert table_names(db_url) & {"rooms", "room_members"} == set()
    upgrade(db_url)
    assert schema_diff(db_url)[0] == []


def test_the_database_itself_deletes_a_rooms_members(db_url):
    """ON DELETE CASCADE is in the schema (and switched on for SQLite), so no member outlives their room."""
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO rooms (id, title, rules_fingerprint, owner_token_hash, created_at) "
                                    "VALUES ('r1', 'T', 'f', 'h', CURRENT_TIMESTAMP)"))
            connection.execute(text("INSERT INTO room_members (room_id, name, name_key, token_hash, created_at, "
                                    "updated_at) VALUES ('r1', 'Ann', 'ann', 't', CURRENT_TIMESTAMP, "
                                    "CURRENT_TIMESTAMP)"))
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM rooms"))
            assert connection.execute(text("SELECT count(*) FROM room_members")).scalar() == 0
    finally:
        engine.dispose()


def test_migrations_roll_back_with_their_transaction(db_url):
    """upgrade() runs in one transaction, on SQLite too: a failure before it commits leaves no table behind."""
    engine = make_engine(db_url)

    def upgrade_then_fail():
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.execute(text("SELECT * FROM no_such_table"))

    try:
        with pytest.raises(DBAPIError, match="no_such_table"):
            upgrade_then_fail()
    finally:
        engine.dispose()
    assert table_names(db_url) == set()


def test_the_tables_keep_nothing_but_the_documented_columns(db_url):
    """What a room keeps: no IP address, no user agent, no token in clear, nothing about a person but a name."""
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        inspector = inspect(engine)
        columns = {table: {column["name"] for column in inspector.get_columns(table)}
                   for table in ("rooms", "room_members")}
    finally:
        engine.dispose()
    assert columns == {
        "rooms": {"id", "title", "rules_fingerprint", "owner_token_hash", "created_at", "closes_at", "revealed_at"},
        "room_members": {"id", "room_id", "name", "name_key", "token_hash", "answers", "created_at", "updated_at"},
    }
