"""The rooms' JSON API through Flask's test client, on the default SQLite file and on a throwaway PostgreSQL database:
the whole flow, privacy before the reveal, tokens, closing, bad answers, a rules change, limits, deletion, expiry,
the `flask db upgrade` and `flask rooms purge` commands, and the settings."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from shipped import RULES_PATH, SCENARIOS

from app import ConfigError, create_app
from recommender import load_rules
from recommender.group import aggregate
from rooms import upgrade
from rooms.models import hash_token

START = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
SHIPPED_RULES = load_rules(RULES_PATH)
# Three members who disagree (answer sets tests/shipped.py keeps meaningful under any rules file with these ids).
TEAM = {
    "Ann": SCENARIOS["kubernetes, clear, nothing would change it, lighter options leave needs unmet"],
    "Bo": SCENARIOS["compose leaves a need unmet, rows against"],
    "Cy": SCENARIOS["docker, open questions could change it"],
}


@dataclass
class Clock:
    """The rooms' clock, moved by hand."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(autouse=True)
def _no_dockwise_environment(no_dockwise_environment):
    """A DOCKWISE_* variable in the developer's shell must not change what these tests see."""


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> dict:
    """The rooms' database settings: the default (an SQLite file in the instance folder, migrated by itself), or a
    fresh PostgreSQL database migrated as `flask db upgrade` does."""
    if request.param == "sqlite":
        return {}
    url = request.getfixturevalue("postgres_url")
    upgrade(url)
    return {"DATABASE_URL": url}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_app(tmp_path: Path, database: dict, clock: Clock) -> Iterator:
    """Build apps on this test's database, each with the hand-moved clock; their engines are closed at the end."""
    built = []

    def make(**config):
        settings = {"TESTING": True, "RULES_PATH": str(RULES_PATH), "INSTANCE_PATH": str(tmp_path / "instance"),
                    "SECRET_KEY": "test-secret", **database, **config}
        application = create_app(settings)
        application.extensions["dockwise.rooms"].clock = clock
        built.append(application)
        return application

    yield make
    for application in built:
        application.extensions["dockwise.rooms"].dispose()


@pytest.fixture
def client(make_app):
    return make_app().test_client()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def create(client, title: str = "Our platform", **body) -> dict:
    response = client.post("/api/rooms", json={"title": title, **body})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def api(room: dict, path: str = "") -> str:
    """An API address of the room (its links point at the pages people open)."""
    return f"/api/rooms/{room['room']['id']}{path}"


def join(client, room: dict, name: str) -> dict:
    response = client.post(api(room, "/members"), json={"name": name})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def answer(client, member: dict, answers: dict, method: str = "put"):
    return client.open(member["links"]["api"], method=method.upper(), json={"answers": answers},
                       headers=bearer(member["member_token"]))


def only_error(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    (error,) = response.get_json()["errors"]
    assert {"question", "choice", "message", "code", "field"} <= error.keys()
    return error


# --- the whole flow ---------------------------------------------------------------------------------------------


def test_a_team_creates_joins_answers_privately_reveals_and_reads_every_part_of_its_results(client):
    room = create(client, "Platform for the shop")
    room_id = room["room"]["id"]
    assert room["room"]["title"] == "Platform for the shop"
    assert room["room"]["status"] == "open"
    assert room["links"] == {"owner": f"http://localhost/rooms/{room_id}/owner/{room['owner_token']}",
                             "join": f"http://localhost/rooms/{room_id}/join",
                             "results": f"http://localhost/rooms/{room_id}",
                             "api": f"http://localhost/api/rooms/{room_id}"}
    members = {name: join(client, room, name) for name in TEAM}
    assert all(m["links"] == {"answer": f"http://localhost/rooms/{room_id}/me/{m['member_token']}",
                              "results": f"http://localhost/rooms/{room_id}",
                              "api": f"http://localhost/api/rooms/{room_id}/members/me"} for m in members.values())
    for (name, answers), method in zip(TEAM.items(), ["put", "post", "put"]):
        stored = answer(client, members[name], answers, method)
        assert stored.status_code == 200
        assert stored.get_json()["member"]["answers"] == answers

    # Before the reveal: who has answered, and nothing of what.
    before = client.get(room["links"]["api"])
    assert before.status_code == 200
    state = before.get_json()
    assert state["members"] == [{"name": name, "answered": True} for name in TEAM]
    assert "results" not in state
    text = before.get_data(as_text=True)
    for answers in TEAM.values():
        assert not any(f'"{choice}"' in text for choice in answers.values())
    # A member sees their own answers, and only theirs.
    own = client.get(members["Bo"]["links"]["api"], headers=bearer(members["Bo"]["member_token"]))
    assert own.get_json()["member"]["answers"] == TEAM["Bo"]
    # Only the owner reveals.
    refused = client.post(api(room, "/reveal"), headers=bearer(members["Ann"]["member_token"]))
    assert only_error(refused, 403)["code"] == "token_refused"

    revealed = client.post(api(room, "/reveal"), headers=bearer(room["owner_token"]))
    assert revealed.status_code == 200
    after = client.get(room["links"]["api"])
    state = after.get_json()
    assert state == revealed.get_json()
    assert state["room"]["status"] == "revealed"
    results = state["results"]
    expected = aggregate(SHIPPED_RULES, list(TEAM.items())).as_json()
    for part in ("recommendation", "closeness", "answers", "agreement", "spread", "disagreements", "dissent",
                 "rule", "result"):
        assert results[part] == expected[part], part
    assert results["stale_rules"] is False
    assert results["rules_fingerprint"] == results["room_rules_fingerprint"] == SHIPPED_RULES.fingerprint
    assert results["not_counted"] == []
    for member, (name, answers) in zip(results["members"], TEAM.items()):
        assert member["name"] == name
        assert member["recommendation"] == next(m for m in expected["members"] if m["name"] == name)["recommendation"]
        canonical = client.post("/api/recommendations", json={"answers": answers}).get_json()["share_url"]
        assert member["results_url"] == canonical
        assert client.get(canonical.removeprefix("http://localhost")).status_code == 200  # no redirect: canonical

    # Tokens are never shown again, nor their digests.
    for text in (before.get_data(as_text=True), after.get_data(as_text=True), own.get_data(as_text=True)):
        for token in [room["owner_token"], *(m["member_token"] for m in members.values())]:
            assert token not in text
            assert hash_token(token) not in text
    # The room is closed now: answers are refused, and so are joins.
    late = answer(client, members["Cy"], TEAM["Ann"])
    assert only_error(late, 409)["code"] == "room_closed"
    assert only_error(client.post(api(room, "/members"), json={"name": "Dee"}), 409)["code"] == "room_closed"


def test_a_room_closes_by_itself_at_its_closing_time_and_then_shows_its_results(client, clock):
    room = create(client, closes_at=(START + timedelta(hours=1)).isoformat().replace("+00:00", "Z"))
    assert room["room"]["closes_at"] == "2030-05-01T13:00:00+00:00"
    ann = join(client, room, "Ann")
    assert answer(client, ann, TEAM["Ann"]).status_code == 200
    assert "results" not in client.get(room["links"]["api"]).get_json()
    clock.now = START + timedelta(hours=1)
    error = only_error(answer(client, ann, TEAM["Bo"]), 409)
    assert (error["code"], error["reason"]) == ("room_closed", "closed")
    state = client.get(room["links"]["api"]).get_json()
    assert state["room"]["status"] == "closed"
    assert state["results"]["members"][0]["answers"] == TEAM["Ann"]


# --- tokens and bad input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "link", "whose", "status", "code"), [
    ("POST", "owner", "member", 403, "token_refused"),
    ("POST", "owner", "other room's owner", 403, "token_refused"),
    ("POST", "owner", None, 401, "token_missing"),
    ("DELETE", "results", "member", 403, "token_refused"),
    ("DELETE", "results", None, 401, "token_missing"),
    ("PUT", "answer", "owner", 403, "token_refused"),
    ("PUT", "answer", "other room's member", 403, "token_refused"),
    ("GET", "answer", "owner", 403, "token_refused"),
    ("PUT", "answer", None, 401, "token_missing"),
])
def test_a_wrong_or_missing_token_is_refused_and_changes_nothing(client, method, link, whose, status, code):
    room, other = create(client), create(client, "Another team")
    member, stranger = join(client, room, "Ann"), join(client, other, "Ann")
    tokens = {"member": member["member_token"], "owner": room["owner_token"],
              "other room's owner": other["owner_token"], "other room's member": stranger["member_token"]}
    url = member["links"]["api"] if link == "answer" else {"owner": api(room, "/reveal"), "results": api(room)}[link]
    response = client.open(url, method=method, json={"answers": TEAM["Ann"]},
                           headers=bearer(tokens[whose]) if whose else {})
    error = only_error(response, status)
    assert error["code"] == code
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    state = client.get(room["links"]["api"]).get_json()
    assert state["room"]["status"] == "open"
    assert state["members"] == [{"name": "Ann", "answered": False}]


def test_unknown_questions_and_choices_are_refused_naming_each_and_nothing_is_stored(client):
    room = create(client)
    ann = join(client, room, "Ann")
    question = SHIPPED_RULES.questions[0].id
    response = answer(client, ann, {question: "zillions", "favourite_colour": "blue", "hosts": "one"})
    assert response.status_code == 400
    errors = response.get_json()["errors"]
    assert {(e["question"], e["choice"]) for e in errors} == {(question, "zillions"), ("favourite_colour", "blue")}
    assert all(e["code"] == "invalid_answer" and e["field"] == "answers" and e["message"] for e in errors)
    assert "zillions" in next(e["message"] for e in errors if e["question"] == question)
    own = client.get(ann["links"]["api"], headers=bearer(ann["member_token"])).get_json()["member"]
    assert (own["answered"], own["answers"]) == (False, {})


@pytest.mark.parametrize(("url", "body", "status", "code", "field"), [
    ("/api/rooms", {"closes_at": None}, 400, "invalid_input", "title"),
    ("/api/rooms", {"title": "   "}, 400, "invalid_input", "title"),
    ("/api/rooms", {"title": "x" * 121}, 400, "invalid_input", "title"),
    ("/api/rooms", {"title": "T", "closes_at": "next friday"}, 400, "invalid_input", "closes_at"),
    ("/api/rooms", {"title": "T", "closes_at": "2030-05-01T13:00:00"}, 400, "invalid_input", "closes_at"),
    ("/api/rooms", {"title": "T", "closes_at": "2030-04-30T13:00:00Z"}, 400, "invalid_input", "closes_at"),
    ("/api/rooms", ["title"], 400, "invalid_body", None),
    ("/api/rooms", "not json", 415, "not_json", None),
    ("members", {}, 400, "invalid_input", "name"),
    ("members", {"name": "ANN "}, 409, "name_taken", None),
    ("/api/rooms/no-such-room/members", {"name": "Bo"}, 404, "room_not_found", None),
])
def test_bad_requests_get_the_api_error_shape_with_a_code(client, url, body, status, code, field):
    room = create(client)
    join(client, room, "Ann")
    url = api(room, "/members") if url == "members" else url
    response = client.post(url, data="title=T") if body == "not json" else client.post(url, json=body)
    error = only_error(response, status)
    assert (error["code"], error["field"]) == (code, field)
    assert error["message"]


def test_a_body_over_the_size_limit_gets_413_as_json(client):
    response = client.post("/api/rooms", json={"title": "x" * 20_000})
    assert response.status_code == 413
    assert response.get_json()["errors"][0]["message"]


# --- rules that change ------------------------------------------------------------------------------------------


def test_after_a_rules_change_results_are_recomputed_flagged_stale_and_vanished_answers_not_counted(make_app,
                                                                                                   tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    client = make_app(RULES_PATH=str(rules), RULES_CHECK_INTERVAL=0).test_client()
    room = create(client)
    members = {name: join(client, room, name) for name in TEAM}
    for name, answers in TEAM.items():
        assert answer(client, members[name], answers).status_code == 200
    # The choice "spiky" (Ann's and Bo's traffic) becomes "bursty"; the question "tenants" becomes "customers".
    edited = re.sub(r"\bspiky\b", "bursty", rules.read_text(encoding="utf-8"))
    edited = re.sub(r"\btenants\b", "customers", edited)
    rules.write_text(edited, encoding="utf-8")
    later = rules.stat().st_mtime_ns + 1_000_000_000
    os.utime(rules, ns=(later, later))
    client.application.extensions["dockwise"].refresh()  # the watcher's look
    current = load_rules(rules)
    assert current.fingerprint != SHIPPED_RULES.fingerprint

    assert client.post(api(room, "/reveal"), headers=bearer(room["owner_token"])).status_code == 200
    results = client.get(room["links"]["api"]).get_json()["results"]
    assert results["stale_rules"] is True
    assert results["room_rules_fingerprint"] == SHIPPED_RULES.fingerprint
    assert results["rules_fingerprint"] == current.fingerprint
    expected = aggregate(current, list(TEAM.items())).as_json()
    assert results["recommendation"] == expected["recommendation"]
    assert results["spread"] == expected["spread"]
    gone = {(name, question, choice) for name, answers in TEAM.items() for question, choice in answers.items()
            if choice == "spiky" or question == "tenants"}
    assert gone  # the team's answers use what the edit takes away
    assert {(n["member"], n["question"], n["choice"]) for n in results["not_counted"]} == gone
    for member in results["members"]:
        counted = {q: c for q, c in TEAM[member["name"]].items() if c != "spiky" and q != "tenants"}
        assert member["answers"] == counted
        canonical = client.post("/api/recommendations", json={"answers": counted}).get_json()["share_url"]
        assert member["results_url"] == canonical
    # New answers are checked against the current rules.
    late_room = create(client, "Later")
    dee = join(client, late_room, "Dee")
    refused = answer(client, dee, {"traffic": "spiky"})
    assert [(e["question"], e["choice"]) for e in refused.get_json()["errors"]] == [("traffic", "spiky")]
    assert answer(client, dee, {"traffic": "bursty"}).status_code == 200


# --- limits -----------------------------------------------------------------------------------------------------


def test_one_client_creating_too_many_rooms_gets_429_with_retry_after_and_others_do_not(make_app):
    client = make_app(ROOMS_PER_CLIENT_PER_HOUR=2).test_client()
    for _ in range(2):
        create(client)
    response = client.post("/api/rooms", json={"title": "Third"})
    error = only_error(response, 429)
    assert error["code"] == "rate_limited"
    assert 3500 < int(response.headers["Retry-After"]) <= 3601
    assert "2 rooms" in error["message"]
    other = client.post("/api/rooms", json={"title": "Elsewhere"}, environ_base={"REMOTE_ADDR": "127.0.0.2"})
    assert other.status_code == 201


@pytest.mark.parametrize("refused", [{"title": ""}, {"title": "x" * 121},
                                     {"title": "T", "closes_at": "2000-01-01T00:00Z"}])
def test_a_room_refused_for_its_input_does_not_count_against_the_limit(make_app, refused):
    client = make_app(ROOMS_PER_CLIENT_PER_HOUR=2).test_client()
    for _ in range(3):
        assert only_error(client.post("/api/rooms", json=refused), 400)["code"] == "invalid_input"
    create(client)
    create(client)
    assert only_error(client.post("/api/rooms", json={"title": "Third"}), 429)["code"] == "rate_limited"


def test_too_many_rooms_in_total_get_429_until_an_hour_has_passed(make_app, clock):
    client = make_app(ROOMS_PER_HOUR=2).test_client()
    for address in ("127.0.0.2", "127.0.0.3"):
        assert client.post("/api/rooms", json={"title": "T"}, environ_base={"REMOTE_ADDR": address}).status_code == 201
    response = client.post("/api/rooms", json={"title": "T"}, environ_base={"REMOTE_ADDR": "127.0.0.4"})
    assert only_error(response, 429)["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) > 0
    clock.now = START + timedelta(hours=1, seconds=1)
    assert client.post("/api/rooms", json={"title": "T"}, environ_base={"REMOTE_ADDR": "127.0.0.5"}).status_code == 201


# --- deletion and expiry ----------------------------------------------------------------------------------------


def test_the_owner_deletes_a_room_at_once_with_its_members(client):
    room = create(client)
    ann = join(client, room, "Ann")
    assert answer(client, ann, TEAM["Ann"]).status_code == 200
    response = client.delete(room["links"]["api"], headers=bearer(room["owner_token"]))
    assert response.status_code == 204
    assert response.get_data() == b""
    assert only_error(client.get(room["links"]["api"]), 404)["code"] == "room_not_found"
    assert only_error(answer(client, ann, TEAM["Bo"]), 404)["code"] == "room_not_found"


def test_rooms_purge_deletes_the_rooms_closed_longer_ago_than_the_keep_days(make_app, clock):
    application = make_app(ROOMS_KEEP_DAYS=30)
    client = application.test_client()
    revealed, still_open = create(client, "Revealed"), create(client, "Open",
                                                             closes_at=(START + timedelta(days=40)).isoformat())
    assert client.post(api(revealed, "/reveal"), headers=bearer(revealed["owner_token"])).status_code == 200
    clock.now = START + timedelta(days=30, minutes=1)
    result = application.test_cli_runner().invoke(args=["rooms", "purge"])
    assert result.exit_code == 0, result.output
    assert result.output == "purged 1 room closed more than 30 days ago\n"
    assert client.get(revealed["links"]["api"]).status_code == 404
    assert client.get(still_open["links"]["api"]).status_code == 200


# --- the database -----------------------------------------------------------------------------------------------


def test_a_postgresql_database_is_used_after_flask_db_upgrade_and_refused_clearly_before(tmp_path, postgres_url):
    password_url = postgres_url.replace("postgres@", "postgres:s3cret@")  # trust auth ignores the password
    application = create_app({"TESTING": True, "RULES_PATH": str(RULES_PATH), "INSTANCE_PATH": str(tmp_path),
                              "SECRET_KEY": "test-secret", "DATABASE_URL": password_url})
    client = application.test_client()
    try:
        error = only_error(client.post("/api/rooms", json={"title": "T"}), 503)
        assert error["code"] == "rooms_unavailable"
        assert "flask db upgrade" in error["message"]
        result = application.test_cli_runner().invoke(args=["db", "upgrade"])
        assert result.exit_code == 0, result.output
        assert "latest migration" in result.output
        assert "s3cret" not in result.output
        assert create(client)["room"]["status"] == "open"
    finally:
        application.extensions["dockwise.rooms"].dispose()


def test_the_default_sqlite_file_is_made_in_the_instance_folder_and_flask_db_upgrade_is_harmless(tmp_path):
    instance = tmp_path / "instance"
    application = create_app({"TESTING": True, "RULES_PATH": str(RULES_PATH), "INSTANCE_PATH": str(instance),
                              "SECRET_KEY": "test-secret"})
    try:
        assert not (instance / "rooms.sqlite3").exists()  # nothing is opened before the first use
        room = create(application.test_client())
        assert (instance / "rooms.sqlite3").is_file()
        result = application.test_cli_runner().invoke(args=["db", "upgrade"])
        assert result.exit_code == 0, result.output
        assert application.test_client().get(room["links"]["api"]).status_code == 200
    finally:
        application.extensions["dockwise.rooms"].dispose()


def test_a_forked_process_opens_its_own_database_connections(make_app):
    # serve.py builds the app before gunicorn forks: a pooled connection must never be shared by two processes.
    application = make_app()
    client = application.test_client()
    room = create(client)
    rooms = application.extensions["dockwise.rooms"]
    parent_store = rooms.store()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer through the pipe, then leave without running the parent's cleanup
        try:
            own_store = rooms.store()
            ok = own_store is not parent_store and own_store.get_room(room["room"]["id"]).title == "Our platform"
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        said = pipe.read()
    os.waitpid(pid, 0)
    assert said == b"1"
    assert rooms.store() is parent_store
    assert client.get(room["links"]["api"]).status_code == 200


# --- settings ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "value"), [
    ("ROOMS_KEEP_DAYS", "-1"),
    ("ROOMS_KEEP_DAYS", "a month"),
    ("ROOMS_PER_HOUR", "0"),
    ("ROOMS_PER_CLIENT_PER_HOUR", "1.5"),
    ("DATABASE_URL", "mysql://dockwise:s3cret@db/rooms"),
    ("DATABASE_URL", "sqlite://"),
    ("DATABASE_URL", "postgresql://dockwise:s3cret@db:port/rooms"),
])
def test_a_rooms_setting_dockwise_cannot_use_stops_it_naming_the_setting(tmp_path, monkeypatch, name, value):
    monkeypatch.setenv(f"DOCKWISE_{name}", value)
    with pytest.raises(ConfigError) as raised:
        create_app({"TESTING": True, "RULES_PATH": str(RULES_PATH), "INSTANCE_PATH": str(tmp_path),
                    "SECRET_KEY": "test-secret"})
    assert f"DOCKWISE_{name}" in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_no_cache_keeps_a_rooms_tokens_names_or_answers(client):
    created = client.post("/api/rooms", json={"title": "Cached?"})
    room_id = created.get_json()["room"]["id"]
    joined = client.post(f"/api/rooms/{room_id}/members", json={"name": "ann"})
    for response in (created, joined, client.get(f"/api/rooms/{room_id}"), client.get("/api/rooms/nope")):
        assert response.headers["Cache-Control"] == "no-store"
