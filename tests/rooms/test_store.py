"""The rooms store on SQLite and PostgreSQL: rooms, members, answers, reveal, delete, purge, caps and secrets."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text

from rooms import (
    Limits,
    NameTakenError,
    RoomClosedError,
    RoomFullError,
    RoomInputError,
    RoomNotFoundError,
    RoomStore,
    TokenRefusedError,
    database_url,
)

FINGERPRINT = "0a1b2c3d"
ANSWERS = {"team-size": "small", "uptime": "high"}


def new_room(store, title="Platform choice", closes_at=None):
    return store.create_room(title, closes_at, rules_fingerprint=FINGERPRINT)


def table_rows(store, table):
    with store.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(text(f"SELECT * FROM {table}"))]


def test_a_room_is_created_with_an_unguessable_id_and_a_private_owner_token(store, clock):
    closes_at = clock.now + timedelta(days=2)
    room, owner_token = new_room(store, "  Platform   for the  shop ", closes_at)
    other, other_token = new_room(store)
    assert room.title == "Platform for the shop"
    assert (room.rules_fingerprint, room.created_at, room.closes_at, room.revealed_at) == (
        FINGERPRINT, clock.now, closes_at, None)
    assert room.members == ()
    assert len(room.id) >= 22  # token_urlsafe(16): 128 bits
    assert len(owner_token) >= 43  # token_urlsafe(32): 256 bits
    assert room.id != other.id
    assert owner_token != other_token
    assert store.get_room(room.id) == room


def test_datetimes_come_back_as_the_same_instant_in_utc(store, clock):
    closes_at = datetime(2030, 5, 2, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    room, _ = new_room(store, closes_at=closes_at)
    stored = store.get_room(room.id)
    assert stored.closes_at == closes_at
    assert stored.closes_at.tzinfo is UTC
    assert stored.closes_at.hour == 7
    assert stored.created_at == clock.now
    assert stored.created_at.tzinfo is UTC


def test_members_join_answer_and_change_their_answers(store, clock):
    room, _ = new_room(store)
    joined_at = clock.now
    ann, ann_token = store.join(room.id, "Ann")
    bob, _ = store.join(room.id, "Bob")
    assert not ann.has_answered
    assert ann_token not in (None, "")
    clock.advance(minutes=5)
    store.submit_answers(room.id, ann_token, ANSWERS)
    clock.advance(minutes=5)
    changed = store.submit_answers(room.id, ann_token, {"team-size": "large"})
    assert changed.answers == {"team-size": "large"}
    assert (changed.created_at, changed.updated_at) == (joined_at, clock.now)
    members = store.get_room(room.id).members
    assert [(member.name, member.answers) for member in members] == [("Ann", {"team-size": "large"}), ("Bob", None)]
    assert store.member(room.id, ann_token).id == ann.id != bob.id


def test_a_member_token_works_only_in_its_own_room(store):
    room, _ = new_room(store)
    other, _ = new_room(store)
    _, token = store.join(room.id, "Ann")
    for room_id, presented in [(other.id, token), (room.id, token + "x"), (room.id, ""), (room.id, None)]:
        with pytest.raises(TokenRefusedError) as refused:
            store.submit_answers(room_id, presented, ANSWERS)
        assert refused.value.role == "member"
    assert store.member(room.id, token).answers is None


@pytest.mark.parametrize(("field", "value", "allowed"), [
    ("title", "t" * 120, True),
    ("title", "t" * 121, False),
    ("title", "   ", False),
    ("title", "bell\x07", False),
    ("name", "n" * 60, True),
    ("name", "n" * 61, False),
    ("name", "", False),
    ("name", "zero\u200bwidth", False),
])
def test_title_and_name_lengths_are_capped(store, field, value, allowed):
    def attempt():
        if field == "title":
            return new_room(store, value)
        room, _ = new_room(store)
        return store.join(room.id, value)

    if allowed:
        attempt()
        return
    with pytest.raises(RoomInputError) as refused:
        attempt()
    assert refused.value.field == field
    assert refused.value.as_dict()["code"] == "invalid_input"


def test_a_room_takes_at_most_its_member_limit(store):
    store.limits = Limits(members_per_room=3)
    room, _ = new_room(store)
    for name in ("Ann", "Bob", "Cy"):
        store.join(room.id, name)
    with pytest.raises(RoomFullError) as refused:
        store.join(room.id, "Dee")
    assert refused.value.as_dict() == {"code": "room_full", "message": refused.value.message,
                                       "hint": refused.value.hint, "room_id": room.id, "limit": 3}
    assert [member.name for member in store.get_room(room.id).members] == ["Ann", "Bob", "Cy"]


def test_a_display_name_is_taken_whatever_its_case_and_spacing(store):
    room, _ = new_room(store)
    other, _ = new_room(store)
    store.join(room.id, "Ann Lee")
    with pytest.raises(NameTakenError):
        store.join(room.id, "  ann   LEE ")
    store.join(other.id, "Ann Lee")  # another room may have its own Ann Lee
    assert len(store.get_room(room.id).members) == 1


def test_answers_stop_at_the_closing_time(store, clock):
    room, _ = new_room(store, closes_at=clock.now + timedelta(hours=1))
    _, token = store.join(room.id, "Ann")
    store.submit_answers(room.id, token, ANSWERS)
    clock.advance(hours=1)
    with pytest.raises(RoomClosedError) as refused:
        store.submit_answers(room.id, token, {"team-size": "large"})
    assert (refused.value.reason, refused.value.closed_at) == ("closed", room.closes_at)
    # Written as the pages write times, in UTC.
    assert refused.value.message.startswith(f"this room closed at {room.closes_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC")
    with pytest.raises(RoomClosedError):
        store.join(room.id, "Bob")
    stored = store.get_room(room.id)
    assert [member.answers for member in stored.members] == [ANSWERS]
    assert stored.results_visible(clock.now)


def test_the_reveal_closes_the_room_and_keeps_its_first_time(store, clock):
    room, owner_token = new_room(store)
    _, token = store.join(room.id, "Ann")
    assert not store.get_room(room.id).results_visible(clock.now)
    revealed_at = clock.advance(minutes=1)
    assert store.reveal(room.id, owner_token).revealed_at == revealed_at
    clock.advance(minutes=1)
    assert store.reveal(room.id, owner_token).revealed_at == revealed_at
    with pytest.raises(RoomClosedError) as refused:
        store.submit_answers(room.id, token, ANSWERS)
    assert (refused.value.reason, refused.value.closed_at) == ("revealed", revealed_at)
    assert store.get_room(room.id).results_visible(clock.now)


def test_an_open_ended_room_closes_after_the_longest_open_time(store, clock):
    room, _ = new_room(store)
    _, token = store.join(room.id, "Ann")
    assert room.ends_at == clock.now + timedelta(days=store.limits.max_open_days)
    clock.now = room.ends_at
    with pytest.raises(RoomClosedError):
        store.submit_answers(room.id, token, ANSWERS)


@pytest.mark.parametrize(("closes_in", "problem"), [
    (timedelta(0), "has already passed"),
    (timedelta(days=-1), "has already passed"),
    (timedelta(days=91), "more than 90 days ahead"),
])
def test_a_closing_time_must_lie_ahead_within_the_longest_open_time(store, clock, closes_in, problem):
    with pytest.raises(RoomInputError, match=problem) as refused:
        new_room(store, closes_at=clock.now + closes_in)
    assert refused.value.field == "closes_at"


def test_a_naive_closing_time_is_refused(store):
    with pytest.raises(RoomInputError, match="timezone-aware"):
        new_room(store, closes_at=datetime(2030, 5, 2, 12, 0))  # naive on purpose


def test_only_the_owner_token_reveals_or_deletes(store):
    room, owner_token = new_room(store)
    _, other_owner_token = new_room(store)
    _, member_token = store.join(room.id, "Ann")
    for wrong in (other_owner_token, member_token, owner_token[:-1], "", None):
        for act in (store.reveal, store.delete_room, store.check_owner):
            with pytest.raises(TokenRefusedError) as refused:
                act(room.id, wrong)
            assert refused.value.role == "owner"
    stored = store.get_room(room.id)
    assert stored.revealed_at is None
    assert len(stored.members) == 1
    assert store.check_owner(room.id, owner_token).id == room.id


def test_deleting_a_room_deletes_its_members_and_answers_at_once(store):
    room, owner_token = new_room(store)
    kept, _ = new_room(store)
    _, token = store.join(room.id, "Ann")
    store.submit_answers(room.id, token, ANSWERS)
    store.join(kept.id, "Bob")
    store.delete_room(room.id, owner_token)
    with pytest.raises(RoomNotFoundError):
        store.get_room(room.id)
    with pytest.raises(RoomNotFoundError):
        store.delete_room(room.id, owner_token)
    assert [row["name"] for row in table_rows(store, "room_members")] == ["Bob"]


def test_expired_rooms_are_purged_keep_days_after_they_end(store, clock):
    keep_days = 30
    start = clock.now
    revealed, owner_token = new_room(store, "revealed now")
    closes_in_a_day, _ = new_room(store, "closes in a day", start + timedelta(days=1))
    open_ended, _ = new_room(store, "no closing time")
    open_ended_revealed_late, late_token = new_room(store, "revealed after 10 days")
    for room in (revealed, closes_in_a_day, open_ended):
        store.join(room.id, "Ann")
    store.reveal(revealed.id, owner_token)
    clock.advance(days=10)
    store.reveal(open_ended_revealed_late.id, late_token)

    def remaining(days_after_start):
        purged = store.purge_expired(start + timedelta(days=days_after_start), keep_days)
        titles = sorted(row["title"] for row in table_rows(store, "rooms"))
        return purged, titles

    everything = sorted(["revealed now", "closes in a day", "no closing time", "revealed after 10 days"])
    assert remaining(30) == (0, everything)  # exactly keep_days after the reveal: not yet
    assert remaining(30.01) == (1, [title for title in everything if title != "revealed now"])
    assert remaining(31.01) == (1, ["no closing time", "revealed after 10 days"])
    assert remaining(40.01) == (1, ["no closing time"])
    assert remaining(store.limits.max_open_days + keep_days) == (0, ["no closing time"])
    assert remaining(store.limits.max_open_days + keep_days + 0.01) == (1, [])
    assert table_rows(store, "room_members") == []


def test_purge_refuses_a_negative_keep_days(store, clock):
    with pytest.raises(RoomInputError, match="keep_days"):
        store.purge_expired(clock.now, -1)


def test_tokens_are_stored_only_as_sha256_digests(store):
    room, owner_token = new_room(store)
    _, ann_token = store.join(room.id, "Ann")
    _, bob_token = store.join(room.id, "Bob")
    stored = " ".join(str(value) for table in ("rooms", "room_members") for row in table_rows(store, table)
                      for value in row.values())
    for token in (owner_token, ann_token, bob_token):
        assert token not in stored
        assert hashlib.sha256(token.encode()).hexdigest() in stored


def test_rooms_created_since_are_counted_for_rate_limits(store, clock):
    new_room(store)
    since = clock.advance(minutes=1)
    new_room(store)
    clock.advance(minutes=1)
    new_room(store)
    assert store.count_rooms_created_since(since) == 2
    assert store.count_rooms_created_since(clock.advance(seconds=1)) == 0


@pytest.mark.parametrize(("answers", "problem"), [
    (["team-size"], "expected a mapping"),
    ({"team-size": 3}, "choice id 3 is not an id"),
    ({"Team Size": "small"}, "question id 'Team Size' is not an id"),
    ({"team-size": "x" * 65}, "is not an id"),
    ({f"q{number}": "a" for number in range(201)}, "201 answers; at most 200"),
])
def test_malformed_answers_are_refused_and_the_stored_ones_kept(store, answers, problem):
    room, _ = new_room(store)
    _, token = store.join(room.id, "Ann")
    store.submit_answers(room.id, token, ANSWERS)
    with pytest.raises(RoomInputError, match=problem) as refused:
        store.submit_answers(room.id, token, answers)
    assert refused.value.field == "answers"
    assert store.member(room.id, token).answers == ANSWERS


@pytest.mark.parametrize("room_id", ["no-such-room", "", "x" * 500, None])
def test_an_unknown_room_is_not_found(store, room_id):
    with pytest.raises(RoomNotFoundError, match="no such room"):
        store.get_room(room_id)
    with pytest.raises(RoomNotFoundError):
        store.join(room_id, "Ann")


def test_an_sqlite_engine_without_foreign_keys_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"make it with rooms\.db\.make_engine"):
        RoomStore(create_engine(f"sqlite:///{tmp_path / 'plain.sqlite3'}"))


@pytest.mark.parametrize(("url", "driver"), [
    ("sqlite:///instance/rooms.sqlite3", "sqlite"),
    ("postgresql://dockwise:secret@db.internal/dockwise", "postgresql+psycopg"),
    ("postgresql+psycopg2://dockwise@db.internal/dockwise", "postgresql+psycopg"),
    ("postgres://dockwise@db.internal/dockwise", "postgresql+psycopg"),
])
def test_database_urls_use_psycopg_for_postgresql(url, driver):
    assert database_url(url).drivername == driver


@pytest.mark.parametrize(("url", "problem"), [
    ("mysql://dockwise@db.internal/dockwise", "names 'mysql'"),
    ("not a url", "cannot be read"),
])
def test_unsupported_database_urls_are_refused_clearly(url, problem):
    with pytest.raises(ValueError, match=problem):
        database_url(url)
