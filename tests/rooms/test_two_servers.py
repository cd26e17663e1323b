"""Two gunicorn servers sharing one PostgreSQL database, as two instances behind one name would: members joining and
answering through both at once lose and duplicate nothing, a display name is taken once, and the member cap holds.

The database is a fresh one in the throwaway cluster of tests/conftest.py, migrated as an operator does (`flask db
upgrade` with DOCKWISE_DATABASE_URL set); each server is `serve:app` as scripts/run serves it (harness.server.Server:
sync workers, --preload), with the same secret key, and 4 workers rather than 2 so that 8 processes, each with its own
connections, have transactions in flight at once: with 2 each, joins that skipped the room's lock passed the member
cap in 2 of 8 tries; with 4, in each of 22. Every request is real HTTP to 127.0.0.1; each batch is released together
by a barrier.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from shipped import RULES_PATH

from harness.server import ROOT, Server
from recommender import load_rules
from rooms import Limits

MEMBERS = 50
SAME_NAME_RACERS = 10
SAME_NAME_ROUNDS = 5
CAP = Limits().members_per_room
CAP_RACERS = CAP + 10
WORKERS = 4
SECRET_KEY = "two-servers-test-secret-key-of-32+-bytes"
REQUEST_SECONDS = 30
RULES = load_rules(RULES_PATH)


@dataclass(frozen=True)
class Reply:
    """A response's status and JSON body."""

    status: int
    body: dict

    def error_code(self) -> str | None:
        errors = self.body.get("errors") or [{}]
        return errors[0].get("code")


def call(server: Server, method: str, path: str, body: dict | None = None, token: str | None = None) -> Reply:
    """One request on a connection of its own; the JSON body answered (or {} when there is none)."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=REQUEST_SECONDS)
    try:
        connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = connection.getresponse()
        data = response.read()
        return Reply(response.status, json.loads(data) if data else {})
    finally:
        connection.close()


def at_once(count: int, work: Callable[[int], object]) -> list:
    """work(0) … work(count - 1), each in its own thread, all released together; their results in order."""
    barrier = threading.Barrier(count)

    def released(index: int) -> object:
        barrier.wait(timeout=REQUEST_SECONDS)
        return work(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(released, range(count)))


def answers_of(member: int, submission: int) -> dict[str, str]:
    """A full set of answers for a member's first (0) or second (1) submission, distinct from every other's: the
    number 2 × member + submission written in the mixed radix of the questions' choice counts."""
    number, answers = 2 * member + submission, {}
    for question in RULES.questions:
        number, digit = divmod(number, len(question.choices))
        answers[question.id] = question.choices[digit].id
    assert number == 0, "the rules have too few questions and choices to give every submission its own answers"
    return answers


def expect(replies: list[Reply], status: int, what: str) -> None:
    wrong = [reply for reply in replies if reply.status != status]
    assert not wrong, f"{what}: {len(wrong)} of {len(replies)} did not answer {status}, e.g. {wrong[:3]}"


@dataclass
class Pair:
    """The two servers."""

    a: Server
    b: Server

    def by_index(self, index: int) -> Server:
        """Server A for even indexes, B for odd ones."""
        return self.b if index % 2 else self.a

    def other(self, server: Server) -> Server:
        return self.b if server is self.a else self.a

    def create_room(self, title: str) -> tuple[str, str]:
        """A new room made through server A: its id and owner token."""
        reply = call(self.a, "POST", "/api/rooms", {"title": title})
        assert reply.status == 201, reply
        return reply.body["room"]["id"], reply.body["owner_token"]

    def members(self, server: Server, room_id: str) -> list[dict]:
        reply = call(server, "GET", f"/api/rooms/{room_id}")
        assert reply.status == 200, reply
        return reply.body["members"]


def flask_db_upgrade(database_url: str) -> str:
    """Migrate the database as the README tells an operator to: `flask db upgrade` with the same setting."""
    flask = Path(sys.executable).parent / "flask"
    env = {name: value for name, value in os.environ.items() if not name.startswith(("DOCKWISE_", "FLASK_"))}
    env.update(DOCKWISE_DATABASE_URL=database_url, DOCKWISE_SECRET_KEY=SECRET_KEY,
               DOCKWISE_RULES_PATH=str(RULES_PATH))
    done = subprocess.run([str(flask), "db", "upgrade"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, f"flask db upgrade failed ({done.returncode}):\n{done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def servers(postgres_cluster, tmp_path_factory) -> Iterator[Pair]:
    """Two servers on one freshly migrated PostgreSQL database, with room creation limits out of the way."""
    database_url = postgres_cluster.new_database()
    workdir = tmp_path_factory.mktemp("two-servers")
    started: list[Server] = []
    try:
        assert "latest migration" in flask_db_upgrade(database_url)
        with pytest.MonkeyPatch.context() as patch:
            for name in [name for name in os.environ if name.startswith("DOCKWISE_")]:
                patch.delenv(name)  # the developer's shell must not change what the servers do
            for name in ("a", "b"):
                server = Server(workdir, name=name, workers=WORKERS, secret_key=SECRET_KEY, env={
                    "DOCKWISE_RULES_PATH": str(RULES_PATH), "DOCKWISE_DATABASE_URL": database_url,
                    "DOCKWISE_STATE_DIR": str(workdir / f"state-{name}"),
                    "DOCKWISE_ROOMS_PER_CLIENT_PER_HOUR": "1000", "DOCKWISE_ROOMS_PER_HOUR": "1000"})
                started.append(server.start())
        yield Pair(*started)
    finally:
        for server in started:
            server.stop()
        postgres_cluster.drop_database(database_url)


def test_fifty_members_joining_and_answering_through_two_servers_at_once_lose_and_duplicate_nothing(servers):
    room_id, owner_token = servers.create_room("Rush hour")
    names = [f"Member {index}" for index in range(MEMBERS)]

    def join_and_answer(index: int) -> tuple[Reply, Reply]:
        server = servers.by_index(index)
        joined = call(server, "POST", f"/api/rooms/{room_id}/members", {"name": names[index]})
        if joined.status != 201:
            return joined, joined
        return joined, call(server, "PUT", f"/api/rooms/{room_id}/members/me", {"answers": answers_of(index, 0)},
                            joined.body["member_token"])

    first = at_once(MEMBERS, join_and_answer)
    expect([joined for joined, _ in first], 201, "joins")
    expect([answered for _, answered in first], 200, "first answers")
    assert [answered.body["member"]["answers"] for _, answered in first] == [answers_of(i, 0) for i in range(MEMBERS)]
    tokens = [joined.body["member_token"] for joined, _ in first]

    def change_through_the_other_server(index: int) -> Reply:
        return call(servers.other(servers.by_index(index)), "PUT", f"/api/rooms/{room_id}/members/me",
                    {"answers": answers_of(index, 1)}, tokens[index])

    changed = at_once(MEMBERS, change_through_the_other_server)
    expect(changed, 200, "changed answers")
    assert [reply.body["member"]["answers"] for reply in changed] == [answers_of(i, 1) for i in range(MEMBERS)]

    for server in (servers.a, servers.b):
        members = servers.members(server, room_id)
        assert sorted(member["name"] for member in members) == sorted(names)
        assert all(member["answered"] for member in members)

    revealed = call(servers.b, "POST", f"/api/rooms/{room_id}/reveal", token=owner_token)
    assert revealed.status == 200, revealed
    for server in (servers.a, servers.b):
        state = call(server, "GET", f"/api/rooms/{room_id}")
        assert state.status == 200, state
        results = state.body["results"]
        assert {member["name"]: member["answers"] for member in results["members"]} == {
            names[index]: answers_of(index, 1) for index in range(MEMBERS)}
        assert results["not_counted"] == []


def test_racing_joins_with_one_name_through_two_servers_give_it_to_exactly_one(servers):
    room_id, _ = servers.create_room("One name each")
    for round_number in range(SAME_NAME_ROUNDS):
        before = len(servers.members(servers.a, room_id))
        # The same name as people type it: compared ignoring case and extra spaces.
        spellings = [f"Dana {round_number}", f"dana {round_number}", f"  DANA   {round_number} "]

        def join(index: int, spellings: list[str] = spellings) -> Reply:
            return call(servers.by_index(index), "POST", f"/api/rooms/{room_id}/members",
                        {"name": spellings[index % len(spellings)]})

        replies = at_once(SAME_NAME_RACERS, join)
        assert Counter(reply.status for reply in replies) == {201: 1, 409: SAME_NAME_RACERS - 1}
        assert {reply.error_code() for reply in replies if reply.status == 409} == {"name_taken"}
        (winner,) = [reply for reply in replies if reply.status == 201]
        for server in (servers.a, servers.b):
            members = servers.members(server, room_id)
            assert len(members) == before + 1
            assert members[-1]["name"] == winner.body["member"]["name"]
        assert winner.body["member"]["name"] in {" ".join(spelling.split()) for spelling in spellings}
        me = call(servers.b, "GET", f"/api/rooms/{room_id}/members/me", token=winner.body["member_token"])
        assert me.status == 200, me


def test_racing_joins_through_two_servers_never_pass_the_member_cap(servers):
    room_id, _ = servers.create_room("Crowded")

    def join(index: int) -> Reply:
        return call(servers.by_index(index), "POST", f"/api/rooms/{room_id}/members", {"name": f"Member {index}"})

    replies = at_once(CAP_RACERS, join)
    assert Counter(reply.status for reply in replies) == {201: CAP, 409: CAP_RACERS - CAP}
    assert {reply.error_code() for reply in replies if reply.status == 409} == {"room_full"}
    joined = sorted(reply.body["member"]["name"] for reply in replies if reply.status == 201)
    for server in (servers.a, servers.b):
        assert sorted(member["name"] for member in servers.members(server, room_id)) == joined
