"""What the review of the rooms found, each kept fixed: no private-link token in the app's log, the per-client limit's
memory, a late save that shows what counts, a database that cannot be reached, one-line command errors, joiner
characters in names, an all-"Not sure" member, error codes under /api/rooms, and deleted bytes overwritten."""

from __future__ import annotations

import logging
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from shipped import RULES_PATH, SCENARIOS

from app import ConfigError, create_app
from rooms import RoomInputError, RoomStore, upgrade
from rooms.db import make_engine
from web.rooms_service import ClientLimiter

UNREACHABLE = "postgresql://nobody@/nodb?host=/nonexistent-dockwise-socket-dir"
ANSWERS = SCENARIOS["compose leaves a need unmet, rows against"]


@pytest.fixture(autouse=True)
def _no_dockwise_environment(no_dockwise_environment):
    """A DOCKWISE_* variable in the developer's shell must not change what these tests see."""


def make_app(tmp_path: Path, **config):
    return create_app({"TESTING": True, "RULES_PATH": str(RULES_PATH), "INSTANCE_PATH": str(tmp_path / "instance"),
                       "SECRET_KEY": "test-secret-test-secret-test-secret", **config})


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def new_room_with_member(client) -> tuple[str, str, str]:
    """A room (by the API) with one member who answered through the join form: (room id, owner token, member path)."""
    room = client.post("/api/rooms", json={"title": "Our platform"}).get_json()
    room_id = room["room"]["id"]
    join_page = client.get(f"/rooms/{room_id}/join").get_data(as_text=True)
    joined = client.post(f"/rooms/{room_id}/join", data={"csrf_token": csrf(join_page), "name": "Ann", **ANSWERS})
    assert joined.status_code == 303
    return room_id, room["owner_token"], joined.location


@pytest.mark.parametrize("private", ["owner", "member"])
def test_a_refused_form_on_a_private_link_is_logged_without_its_token(tmp_path, caplog, private):
    client = make_app(tmp_path).test_client()
    room_id, owner_token, member_path = new_room_with_member(client)
    path = f"/rooms/{room_id}/owner/{owner_token}/reveal" if private == "owner" else member_path
    token = owner_token if private == "owner" else member_path.rsplit("/", 1)[1]
    with caplog.at_level(logging.WARNING, logger="dockwise.web"):
        assert client.post(path, data={}).status_code == 400  # no CSRF token
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "form refused" in logged
    assert token not in logged
    assert f"/rooms/{room_id}/" in logged
    assert "TOKEN" in logged


def test_an_address_is_forgotten_an_hour_after_its_last_creation():
    now = [0.0]
    limiter = ClientLimiter(limit=2, clock=lambda: now[0])
    assert limiter.take("10.0.0.1") == 0
    now[0] = 3601.0
    assert limiter.take("10.0.0.2") == 0  # any later call sweeps the idle ones
    assert "10.0.0.1" not in limiter._seen
    assert limiter.take("10.0.0.2") == 0
    assert limiter.take("10.0.0.2") > 0


def test_a_save_after_the_closing_time_shows_the_answers_that_count_not_the_unsaved_ones(tmp_path):
    app = make_app(tmp_path)
    client = app.test_client()
    rooms = app.extensions["dockwise.rooms"]
    room_id, _, member_path = new_room_with_member(client)
    page = client.get(member_path).get_data(as_text=True)
    rooms.clock = lambda: datetime.now(UTC) + timedelta(days=91)  # past the 90 days a room stays open
    question, choice = next(iter(ANSWERS.items()))
    other = next(c.id for c in app.extensions["dockwise"].get().questions[
        app.extensions["dockwise"].get().question_index[question]].choices if c.id != choice)
    late = client.post(member_path, data={"csrf_token": csrf(page), question: other})
    text = late.get_data(as_text=True)
    assert late.status_code == 409
    assert "Your changes were not saved" in text
    assert client.get(f"/api/rooms/{room_id}").get_json()["results"]["members"][0]["answers"][question] == choice
    shown = app.extensions["dockwise"].get().questions[app.extensions["dockwise"].get().question_index[question]]
    labels = {c.id: c.label for c in shown.choices}
    answers = text[text.index('class="answers"'):]
    assert labels[choice] in answers
    assert labels[other] not in answers


@pytest.mark.parametrize(("method", "path"), [("GET", "/api/rooms/aaaa"), ("POST", "/api/rooms")])
def test_an_unreachable_database_is_a_503_in_the_api(tmp_path, method, path):
    client = make_app(tmp_path, DATABASE_URL=UNREACHABLE).test_client()
    response = client.open(path, method=method, json={"title": "T"})
    assert response.status_code == 503
    (error,) = response.get_json()["errors"]
    assert error["code"] == "rooms_unavailable"
    assert "cannot be reached" in error["message"]


def test_an_unreachable_database_keeps_the_new_room_form_as_typed(tmp_path):
    client = make_app(tmp_path, DATABASE_URL=UNREACHABLE).test_client()
    page = client.get("/rooms/new").get_data(as_text=True)
    response = client.post("/rooms/new", data={"csrf_token": csrf(page), "title": "Platform for the shop"})
    text = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "cannot be reached" in text
    assert 'value="Platform for the shop"' in text
    assert client.get("/rooms/aaaa").status_code == 503


@pytest.mark.parametrize("command", [["db", "upgrade"], ["rooms", "purge"]])
def test_commands_on_an_unreachable_database_end_with_one_error_line(tmp_path, command):
    result = make_app(tmp_path, DATABASE_URL=UNREACHABLE).test_cli_runner().invoke(args=command)
    assert result.exit_code == 1
    assert result.output.startswith("Error: the rooms database cannot be used:")
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.fixture
def store(tmp_path: Path) -> RoomStore:
    url = f"sqlite:///{tmp_path / 'rooms.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    yield RoomStore(engine)
    engine.dispose()


@pytest.mark.parametrize("name", ["علی\u200cرضا", "👩\u200d💻 Dev"])
def test_names_spelt_with_joiners_are_kept(store, name):
    room, _ = store.create_room("Our platform", rules_fingerprint="f")
    member, _ = store.join(room.id, name)
    assert member.name == name


@pytest.mark.parametrize("name", ["Ann\u202e", "A\u00adnn", "A\u200bnn"])
def test_invisible_and_direction_characters_are_still_refused(store, name):
    room, _ = store.create_room("Our platform", rules_fingerprint="f")
    with pytest.raises(RoomInputError, match="control or invisible"):
        store.join(room.id, name)


def test_a_member_who_left_everything_at_not_sure_has_not_answered(tmp_path):
    client = make_app(tmp_path).test_client()
    room = client.post("/api/rooms", json={"title": "T"}).get_json()
    room_id = room["room"]["id"]
    join_page = client.get(f"/rooms/{room_id}/join").get_data(as_text=True)
    assert client.post(f"/rooms/{room_id}/join", data={"csrf_token": csrf(join_page), "name": "Ann"}).status_code == 303
    assert client.get(f"/api/rooms/{room_id}").get_json()["members"] == [{"name": "Ann", "answered": False}]
    assert "no answers yet" in client.get(f"/rooms/{room_id}").get_data(as_text=True)


@pytest.mark.parametrize(("method", "body", "status", "code"), [
    ("PATCH", None, 405, "method_not_allowed"),
    ("POST", "x" * 20_000, 413, "too_large"),
])
def test_every_error_under_api_rooms_has_a_code(tmp_path, method, body, status, code):
    client = make_app(tmp_path).test_client()
    response = client.open("/api/rooms", method=method, data=body, content_type="application/json")
    assert response.status_code == status
    (error,) = response.get_json()["errors"]
    assert (error["code"], error["field"]) == (code, None)


def test_deleted_rooms_are_overwritten_on_disk(store):
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA secure_delete").scalar() == 1


def test_the_database_url_can_come_from_a_file(tmp_path):
    database = tmp_path / "from-file.sqlite3"
    url_file = tmp_path / "database-url"
    url_file.write_text(f"sqlite:///{database}\n")
    app = make_app(tmp_path, DATABASE_URL_FILE=str(url_file))
    assert app.test_client().post("/api/rooms", json={"title": "T"}).status_code == 201
    assert database.exists()
    assert not (tmp_path / "instance" / "rooms.sqlite3").exists()


@pytest.mark.parametrize(("case", "message"), [
    ("both", "Both DOCKWISE_DATABASE_URL and DOCKWISE_DATABASE_URL_FILE"),
    ("empty", "which is empty"),
    ("missing", "which cannot be read: No such file or directory"),
    ("fifo", "which cannot be read"),
    ("not a url", "DOCKWISE_DATABASE_URL cannot be read as a URL"),
])
def test_a_database_url_file_dockwise_cannot_use_is_refused_at_start_naming_it(tmp_path, case, message):
    url_file = tmp_path / "database-url"
    config = {"DATABASE_URL_FILE": str(url_file)}
    if case == "both":
        url_file.write_text("sqlite:////tmp/x.sqlite3")
        config["DATABASE_URL"] = "sqlite:////tmp/y.sqlite3"
    elif case == "empty":
        url_file.write_text("\n")
    elif case == "fifo":
        os.mkfifo(url_file)
    elif case == "not a url":
        url_file.write_text("postgresql://host:notaport/db")
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_app(tmp_path, **config)
