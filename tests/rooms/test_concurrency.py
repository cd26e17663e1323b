"""Many members at once, each through their own connection: nothing lost, nothing duplicated, the cap holds."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from rooms import Limits, RoomError, RoomFullError, RoomStore, make_engine, upgrade

MEMBERS = 50


def run_at_once(url, count, work, limits=None):
    """Run work(store, index) in `count` threads, each with its own engine and connection, released together."""
    barrier = threading.Barrier(count)

    def one(index):
        engine = make_engine(url)
        try:
            store = RoomStore(engine, limits=limits or Limits())
            barrier.wait(timeout=30)
            try:
                return work(store, index)
            except RoomError as error:
                return error
        finally:
            engine.dispose()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def answers_of(index):
    return {"member": f"m{index}", "team-size": ("small", "medium", "large")[index % 3]}


@pytest.fixture
def migrated_url(db_url):
    upgrade(db_url)
    return db_url


@pytest.fixture
def reader(migrated_url):
    """A store of the test's own, apart from the threads'."""
    engine = make_engine(migrated_url)
    yield RoomStore(engine)
    engine.dispose()


def test_fifty_members_joining_and_answering_at_once_lose_and_duplicate_nothing(migrated_url, reader):
    room, _ = reader.create_room("Rush hour", rules_fingerprint="0a1b2c3d")

    def join_and_answer(store, index):
        member, token = store.join(room.id, f"Member {index}")
        store.submit_answers(room.id, token, answers_of(index))
        store.submit_answers(room.id, token, answers_of(index) | {"changed": "yes"})
        return member.id

    ids = run_at_once(migrated_url, MEMBERS, join_and_answer)
    assert all(isinstance(member_id, int) for member_id in ids), ids
    members = reader.get_room(room.id).members
    assert len(members) == MEMBERS
    assert sorted(member.id for member in members) == sorted(ids)
    assert {member.name: member.answers for member in members} == {
        f"Member {index}": answers_of(index) | {"changed": "yes"} for index in range(MEMBERS)}


def test_concurrent_joins_never_pass_the_member_cap(migrated_url, reader):
    limit = 10
    room, _ = reader.create_room("Crowded", rules_fingerprint="0a1b2c3d")
    results = run_at_once(migrated_url, 30, lambda store, index: store.join(room.id, f"Member {index}")[0],
                          Limits(members_per_room=limit))
    refused = [result for result in results if isinstance(result, RoomError)]
    assert len(refused) == 30 - limit
    assert all(isinstance(error, RoomFullError) for error in refused), refused
    assert len(reader.get_room(room.id).members) == limit
