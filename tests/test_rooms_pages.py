"""The rooms' HTML pages through Flask's test client, on the default SQLite file and on a throwaway PostgreSQL
database, used as a browser without JavaScript uses them: every POST sends what the page's form holds (its hidden
`csrf_token` included), with the changes a user would make.

The flow (start, owner page, join, change answers, privacy before the reveal, reveal, results, the API agreeing),
CSRF refusals, bad input kept for correction, the creation limit, the closing time, a rules change while a room is
open, deletion, error pages, headers, and random requests that must never get a 5xx. Expectations come from the rules
file and recommender.group, so the tests hold under any rules file with the question and choice ids they use.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from shipped import RULES_PATH, SCENARIOS
from werkzeug.datastructures import MultiDict

from app import create_app
from recommender import load_rules
from recommender.group import aggregate
from recommender.links import canonical_query
from rooms import upgrade
from web.security import CSP

START = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
SHIPPED_RULES = load_rules(RULES_PATH)
QUESTIONS = [question.id for question in SHIPPED_RULES.questions]
LABELS = {(q.id, c.id): c.label for q in SHIPPED_RULES.questions for c in q.choices}
# Three members who disagree (answer sets tests/shipped.py keeps meaningful under any rules file with these ids).
TEAM = {
    "Ann": SCENARIOS["kubernetes, clear, nothing would change it, lighter options leave needs unmet"],
    "Bo": SCENARIOS["compose leaves a need unmet, rows against"],
    "Cy": SCENARIOS["docker, open questions could change it"],
}
CARRIED = {"services": "many", "hosts": "few"}  # the answers a results page hands to "Decide as a team"
MISSING_CSRF = "The CSRF token is missing."


# --- a small element tree ---------------------------------------------------------------------------------------

VOID = frozenset(["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"])


class Node:
    """An element of a parsed page: its tag, attributes, children and text."""

    def __init__(self, tag: str, attrs=(), parent: Node | None = None):
        self.tag = tag
        self.attrs = {name: "" if value is None else value for name, value in attrs}
        self.parent = parent
        self.children: list[Node | str] = []

    def __repr__(self) -> str:
        return f"<{self.tag} {self.attrs}>"

    @property
    def text(self) -> str:
        parts = [child if isinstance(child, str) else child.text for child in self.children]
        return " ".join(" ".join(parts).split())

    def iter(self) -> Iterator[Node]:
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.iter()

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        wanted = {name.rstrip("_"): value for name, value in attrs.items()}  # class_ for class
        return [node for node in self.iter() if (tag is None or node.tag == tag)
                and all(value in node.attrs.get(name, "").split() if name == "class" else node.attrs.get(name) == value
                        for name, value in wanted.items())]

    def find(self, tag: str | None = None, **attrs: str) -> Node:
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag or '*'}> with {attrs} in the page"
        return found[0]


class _TreeBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#document")

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Node(tag, attrs, self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node.parent is not None and node.tag != tag:
            node = node.parent
        if node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def page(response, status: int = 200) -> Node:
    """The response's page, parsed, after checking its status and that it is HTML."""
    assert response.status_code == status, response.get_data(as_text=True)[:3000]
    assert response.mimetype == "text/html"
    builder = _TreeBuilder()
    builder.feed(response.get_data(as_text=True))
    builder.close()
    return builder.root


def checked(doc: Node) -> dict[str, str]:
    """Per radio group, the value checked ('' is "Not sure")."""
    groups: dict[str, list[str]] = {}
    for radio in doc.find_all("input", type="radio"):
        groups.setdefault(radio.attrs["name"], [])
        if "checked" in radio.attrs:
            groups[radio.attrs["name"]].append(radio.attrs["value"])
    assert all(len(values) == 1 for values in groups.values()), groups
    return {name: values[0] for name, values in groups.items()}


def shown(answers: dict[str, str], questions=QUESTIONS) -> dict[str, str]:
    """What the questionnaire shows checked for `answers`: each question's choice, or "Not sure"."""
    return {question: answers.get(question, "") for question in questions}


def field_error(doc: Node, field: str) -> str:
    """The message beside a text field, checking that the field is marked invalid and described by it."""
    control = doc.find(id=field)
    assert control.attrs["aria-invalid"] == "true"
    assert f"error-{field}" in control.attrs["aria-describedby"].split()
    return doc.find(id=f"error-{field}").text


def flagged(doc: Node) -> dict[str, str]:
    """Per question flagged on the questionnaire, the message beside it."""
    return {fieldset.attrs["id"].removeprefix("q-"): fieldset.find("p", class_="field-error").text
            for fieldset in doc.find_all("fieldset", class_="invalid")}


def problems(doc: Node) -> str:
    return doc.find(id="problems").text


def path_of(url: str) -> str:
    """A link's path and query, as the test client requests it."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def submit(client, doc: Node, action: str, changes: dict | None = None, *, drop=()):
    """Send the form posting to `action` as a browser does: its fields as the page fills them (hidden and text
    inputs, each radio group's checked value, ticked boxes), with `changes` made (a value, or a list of values) and
    the fields in `drop` left out."""
    (form,) = [form for form in doc.find_all("form", method="post") if form.attrs.get("action") == action]
    fields: dict[str, list[str]] = {}
    for control in form.find_all("input"):
        name = control.attrs.get("name")
        unticked = control.attrs.get("type") in ("radio", "checkbox") and "checked" not in control.attrs
        if name and not unticked:
            fields.setdefault(name, []).append(control.attrs.get("value", ""))
    for name, value in (changes or {}).items():
        fields[name] = value if isinstance(value, list) else [value]
    body = MultiDict([(name, value) for name, values in fields.items() if name not in drop for value in values])
    return client.post(action, data=body)


# --- fixtures -----------------------------------------------------------------------------------------------------


@dataclass
class Clock:
    """The rooms' clock, moved by hand."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module", autouse=True)
def _no_dockwise_environment():
    """A DOCKWISE_* variable in the developer's shell must not change what these tests see (module-wide: the shared
    apps are built before any test's own fixtures)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("DOCKWISE_"):
                patch.delenv(name)
        yield


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def new_database(backend: str, request: pytest.FixtureRequest) -> Iterator:
    """Make empty rooms databases on this backend: the default SQLite file in a new instance folder, or a new
    PostgreSQL database migrated as `flask db upgrade` does. Each call gives the settings to use it."""
    made: list[str] = []
    cluster = request.getfixturevalue("postgres_cluster") if backend == "postgresql" else None
    instances = request.getfixturevalue("tmp_path_factory")

    def make() -> dict:
        settings = {"INSTANCE_PATH": str(instances.mktemp("instance"))}
        if cluster is not None:
            made.append(url := cluster.new_database())
            upgrade(url)
            settings["DATABASE_URL"] = url
        return settings

    yield make
    for url in made:
        cluster.drop_database(url)


@pytest.fixture(scope="module")
def module_clock() -> Clock:
    return Clock()


@pytest.fixture
def clock(module_clock: Clock) -> Clock:
    """The rooms' clock, at START when each test begins."""
    module_clock.now = START
    return module_clock


def build_app(database: dict, clock: Clock, **config):
    """An app as in production (CSRF on) on `database`, with the hand-moved clock."""
    application = create_app({"TESTING": True, "RULES_PATH": str(RULES_PATH), "SECRET_KEY": "test-secret",
                              **database, **config})
    application.extensions["dockwise.rooms"].clock = clock
    return application


@pytest.fixture(scope="module")
def shared_app(new_database, module_clock: Clock) -> Iterator:
    """The app most tests share (building one costs more than most tests): every test makes rooms of its own, so
    they never meet; no creation limit gets in the way."""
    application = build_app(new_database(), module_clock, ROOMS_PER_CLIENT_PER_HOUR=1_000_000,
                            ROOMS_PER_HOUR=1_000_000)
    yield application
    application.extensions["dockwise.rooms"].dispose()


@pytest.fixture
def client(shared_app, clock: Clock):
    """A browser of its own (no cookie shared with other tests) on the shared app, its clock at START."""
    return shared_app.test_client()


@pytest.fixture
def make_app(new_database, clock: Clock) -> Iterator:
    """Build apps with settings of the test's own, each on a database of its own."""
    built = []

    def make(**config):
        built.append(application := build_app(new_database(), clock, **config))
        return application

    yield make
    for application in built:
        application.extensions["dockwise.rooms"].dispose()


def store_of(client):
    return client.application.extensions["dockwise.rooms"].store()


def room_count(client) -> int:
    return store_of(client).count_rooms_created_since(START - timedelta(days=365))


@dataclass
class Room:
    """A room started through the pages: its id and the owner page's address (with the carried answers)."""

    id: str
    owner_url: str

    @property
    def owner_path(self) -> str:
        return urlsplit(self.owner_url).path

    @property
    def token(self) -> str:
        return token_of(self.owner_path)


def start_room(client, title: str = "Our platform", closes_at: str = "", query: str = "") -> Room:
    """Open "Decide as a team" (with a results page's answers in `query`) and start the room."""
    doc = page(client.get(f"/rooms/new{query}"))
    response = submit(client, doc, "/rooms/new", {"title": title, "closes_at": closes_at})
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    owner_url = response.headers["Location"]
    match = re.fullmatch(r"/rooms/([\w-]+)/owner/([\w-]+)(\?.*)?", owner_url)
    assert match, owner_url
    return Room(match.group(1), owner_url)


def join_room(client, room_id: str, name: str, answers: dict[str, str]) -> str:
    """Join through the join page with `answers` ticked; the member's private page's path."""
    doc = page(client.get(f"/rooms/{room_id}/join"))
    response = submit(client, doc, f"/rooms/{room_id}/join", {"name": name, **answers})
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    member_path = response.headers["Location"]
    assert re.fullmatch(rf"/rooms/{re.escape(room_id)}/me/[\w-]+", member_path), member_path
    return member_path


def token_of(private_path: str) -> str:
    """The token at the end of a private page's path."""
    return private_path.rsplit("/", 1)[1]


def reveal(client, room: Room) -> None:
    response = submit(client, page(client.get(room.owner_path)), f"{room.owner_path}/reveal")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/rooms/{room.id}"


def stored_answers(client, room_id: str) -> dict[str, dict[str, str] | None]:
    return {member.name: member.answers for member in store_of(client).get_room(room_id).members}


# --- the whole flow -----------------------------------------------------------------------------------------------


def test_a_team_starts_joins_answers_privately_reveals_and_reads_its_results_through_the_pages(client):
    # "Decide as a team" from a results page carries its answers to the owner page.
    new = page(client.get("/rooms/new?services=many&hosts=few"))
    assert dict(parse_qsl(new.find("input", name="answers").attrs["value"])) == CARRIED
    room = start_room(client, "Platform for the shop", query="?services=many&hosts=few")
    assert dict(parse_qsl(urlsplit(room.owner_url).query)) == CARRIED
    owner = page(client.get(room.owner_url))
    assert owner.find("h1").text == "Platform for the shop"
    assert "private owner link" in owner.find(id="created").text
    owner_link = owner.find("input", id="owner-link").attrs["value"]
    join_link = owner.find("input", id="join-link").attrs["value"]
    assert owner_link == f"http://localhost{room.owner_path}"
    assert room.token in owner_link
    assert join_link == f"http://localhost/rooms/{room.id}/join"
    assert room.token not in join_link
    (answer_yourself,) = [a for a in owner.find_all("a") if a.text == "Answer as a member yourself"]
    assert dict(parse_qsl(urlsplit(answer_yourself.attrs["href"]).query)) == CARRIED
    assert checked(page(client.get(path_of(answer_yourself.attrs["href"])))) == shown(CARRIED)

    # Three members join with answers, each in their own browser; Bo first gives Cy's answers, then changes them.
    browsers = {name: client.application.test_client() for name in TEAM}
    first = {"Ann": TEAM["Ann"], "Bo": TEAM["Cy"], "Cy": TEAM["Cy"]}
    members = {name: join_room(browsers[name], room.id, name, answers) for name, answers in first.items()}
    bo = browsers["Bo"]
    welcome = page(bo.get(members["Bo"]))
    assert "Welcome, Bo." in welcome.find(id="saved").text
    assert checked(welcome) == shown(TEAM["Cy"])
    saved = submit(bo, welcome, members["Bo"], {q: TEAM["Bo"].get(q, "") for q in QUESTIONS})
    assert (saved.status_code, saved.headers["Location"]) == (303, members["Bo"])
    after_save = page(bo.get(members["Bo"]))
    assert after_save.find(id="saved").text == "Your answers are saved."
    assert checked(after_save) == shown(TEAM["Bo"])
    assert stored_answers(client, room.id) == TEAM

    # Before the reveal: who has answered, never what; and no member-facing page holds the owner's token.
    visitor = client.application.test_client()
    room_page = page(visitor.get(f"/rooms/{room.id}"))
    owner_page = page(client.get(room.owner_path))
    member_responses = {name: browsers[name].get(path) for name, path in members.items()}
    member_pages = {name: page(response) for name, response in member_responses.items()}
    for doc in (room_page, owner_page, *member_pages.values()):
        who = doc.find(id="who-heading").parent.text
        assert all(f"{name} answered" in who for name in TEAM), who
    for doc in (room_page, owner_page):  # no questionnaire there, so no choice's label may appear
        assert not doc.find_all("input", type="radio")
        everything = " ".join([doc.text, *(value for node in doc.iter() for value in node.attrs.values())])
        for name, answers in TEAM.items():
            for question, choice in answers.items():
                assert LABELS[question, choice] not in everything, (name, question, choice)
    for name, doc in member_pages.items():
        assert checked(doc) == shown(TEAM[name])  # one's own answers, nobody else's
        html = member_responses[name].get_data(as_text=True)
        assert not any(token_of(members[other]) in html for other in members if other != name)
    member_facing = [visitor.get(f"/rooms/{room.id}"), visitor.get(f"/rooms/{room.id}/join"),
                     *member_responses.values()]
    for response in member_facing:
        assert room.token not in response.get_data(as_text=True), response.request.path

    # The owner reveals; the room's page shows the results.
    reveal(client, room)
    results = page(visitor.get(f"/rooms/{room.id}"))
    group = aggregate(SHIPPED_RULES, list(TEAM.items()))
    assert results.find(id="group-heading").text == group.recommendation.label
    assert group.agreement.words in results.text
    if group.disagreements:
        shown_disagreements = results.find(id="disagreements-heading").parent.find("ul").find_all("li")
        assert len(shown_disagreements) == len(group.disagreements)
        for item, disagreement in zip(shown_disagreements, group.disagreements):
            assert disagreement.question.text in item.text
            assert disagreement.recommendation.label in item.text
            assert all(name in item.text for name, _ in disagreement.members)
    else:
        results.find(id="no-disagreements")
    rows = results.find(id="members-heading").parent.find("tbody").find_all("tr")
    assert [row.find("th").text for row in rows] == list(TEAM)
    for row, member in zip(rows, group.members):
        assert member.recommendation.label in row.text
        link = row.find("a")
        assert link.text == f"{member.name}'s results page"
        member_results = page(visitor.get(path_of(link.attrs["href"])))
        assert member.recommendation.label in member_results.find("h1").text
    spread = {row.find("th").text: (row.find("td").text, row.find("ul").text)
              for row in results.find(id="spread-heading").parent.find("tbody").find_all("tr")}
    for s in group.spread:
        if s.group_choice is not None:
            group_answer, tallies = spread[s.question.text]
            assert group_answer == s.group_choice.label
            for tally in (t for t in s.tallies if t.count):
                assert f"{tally.choice.label}: {tally.count} ({', '.join(tally.members)})" in tallies
    assert not results.find_all(id="stale-rules")
    record_link = [a for a in results.find_all("a") if a.attrs.get("href") == f"/rooms/{room.id}/record.md"]
    assert record_link

    # The API says the same.
    state = client.get(f"/api/rooms/{room.id}").get_json()
    assert state["results"]["label"] == results.find(id="group-heading").text
    assert [m["name"] for m in state["members"]] == [row.find("th").text for row in rows]
    assert [m["label"] for m in state["results"]["members"]] == [m.recommendation.label for m in group.members]
    after = visitor.get(f"/rooms/{room.id}").get_data(as_text=True)
    assert room.token not in after
    for name, path in members.items():
        assert room.token not in browsers[name].get(path).get_data(as_text=True)
    assert not any(token_of(path) in after for path in members.values())



@pytest.mark.parametrize(("query", "prefilled", "complaint"), [
    pytest.param("?services=many&hosts=few", CARRIED, None, id="answers in the address"),
    pytest.param("?link=" + quote("http://localhost/results?services=many&hosts=few&rules=0a1b2c3d", safe=""),
                 CARRIED, None, id="a pasted results link"),
    pytest.param("?link=" + quote("http://localhost/rules", safe=""), {}, "No answers were found in the link",
                 id="a pasted link without answers"),
])
def test_the_join_page_starts_from_the_answers_a_member_brings(client, query, prefilled, complaint):
    room = start_room(client)
    doc = page(client.get(f"/rooms/{room.id}/join{query}"))
    assert checked(doc) == shown(prefilled)
    if complaint:
        assert complaint in problems(doc)
    else:
        assert not doc.find_all(id="problems")


# --- CSRF ---------------------------------------------------------------------------------------------------------

# Each form that changes something: the page it is on, where it posts, and what the user changes before sending.
FORMS = {
    "start a room": ("/rooms/new", "/rooms/new", {"title": "Another room"}),
    "join": ("/rooms/{room}/join", "/rooms/{room}/join", {"name": "Dee", **TEAM["Bo"]}),
    "save answers": ("{member}", "{member}", shown(TEAM["Bo"])),
    "reveal": ("{owner}", "{owner}/reveal", {}),
    "delete": ("{owner}", "{owner}/delete", {"confirm": "yes"}),
}


def snapshot(client, room_id: str) -> tuple:
    """What a refused form must leave as it was: the rooms, this room's members and answers, whether it is open."""
    room = store_of(client).get_room(room_id)
    return room_count(client), stored_answers(client, room_id), room.revealed_at, room.is_open(START)


@pytest.mark.parametrize("token", ["no token", "another browser's token"])
@pytest.mark.parametrize("form", FORMS)
def test_a_form_sent_without_its_own_csrf_token_is_refused_saying_why_and_changes_nothing(client, form, token):
    room = start_room(client)
    member = join_room(client, room.id, "Ann", TEAM["Ann"])
    before = snapshot(client, room.id)
    page_path, action, changes = (part.format(room=room.id, owner=room.owner_path, member=member)
                                  if isinstance(part, str) else part for part in FORMS[form])
    doc = page(client.get(page_path))
    if token == "no token":
        response = submit(client, doc, action, changes, drop=("csrf_token",))
        reason = MISSING_CSRF
    else:
        stranger = page(client.application.test_client().get("/rooms/new"))
        theirs = stranger.find("input", name="csrf_token").attrs["value"]
        response = submit(client, doc, action, {**changes, "csrf_token": theirs})
        reason = "The CSRF tokens do not match."
    refused = page(response, 400)
    assert refused.find("h1").text == "Please send the form again"
    assert reason in refused.find("main").text
    assert snapshot(client, room.id) == before


# --- bad input is kept for correction -----------------------------------------------------------------------------


@pytest.mark.parametrize(("title", "closes_at", "field", "message"), [
    pytest.param("", "", "title", "title: is empty", id="no title"),
    pytest.param("   ", "", "title", "title: is empty", id="a blank title"),
    pytest.param("x" * 121, "", "title", "at most 120 are allowed", id="title too long"),
    pytest.param("Our platform", "2030-04-30T12:00", "closes_at", "has already passed", id="closing in the past"),
    pytest.param("Our platform", "2030-08-01T12:00", "closes_at", "more than 90 days ahead", id="closing too late"),
    pytest.param("Our platform", "next friday", "closes_at", "is not a date and time", id="closing not a time"),
])
def test_starting_a_room_with_bad_input_explains_beside_the_field_keeps_what_was_typed_and_stores_nothing(
        client, title, closes_at, field, message):
    rooms_before = room_count(client)
    doc = page(client.get("/rooms/new?services=many&hosts=few"))
    response = submit(client, doc, "/rooms/new", {"title": title, "closes_at": closes_at})
    again = page(response, 400)
    assert "The room was not created" in problems(again)
    assert message in field_error(again, field)
    assert again.find("input", id="title").attrs["value"] == title
    assert again.find("input", id="closes_at").attrs.get("value", "") == closes_at
    assert dict(parse_qsl(again.find("input", name="answers").attrs["value"])) == CARRIED
    assert room_count(client) == rooms_before


@pytest.mark.parametrize(("name", "bad_answer", "status", "field", "message"), [
    pytest.param("", {}, 400, "name", "name: is empty", id="no name"),
    pytest.param("Dee\x07", {}, 400, "name", "control or invisible characters", id="a control character"),
    pytest.param("x" * 61, {}, 400, "name", "at most", id="name too long"),
    pytest.param("  ANN ", {}, 409, "name", "already called", id="a name taken"),
    pytest.param("Dee", {"networking": "zillions"}, 400, "networking", "zillions", id="an unknown choice"),
    pytest.param("Dee", {"networking": ["ports", "advanced"]}, 400, "networking", "twice", id="two choices"),
])
def test_joining_with_bad_input_explains_it_keeps_the_name_and_ticked_answers_and_stores_nothing(
        client, name, bad_answer, status, field, message):
    room = start_room(client)
    join_room(client, room.id, "Ann", TEAM["Ann"])
    doc = page(client.get(f"/rooms/{room.id}/join"))
    response = submit(client, doc, f"/rooms/{room.id}/join", {"name": name, **TEAM["Bo"], **bad_answer})
    again = page(response, status)
    if field == "name":
        assert message in field_error(again, "name")
    else:
        assert message in flagged(again)[field]
    assert again.find("input", id="name").attrs["value"] == name
    assert checked(again) == shown(TEAM["Bo"])  # the bad answer is shown as "Not sure", to be picked again
    assert stored_answers(client, room.id) == {"Ann": TEAM["Ann"]}


@pytest.mark.parametrize("bad_answer", [{"networking": "zillions"}, {"networking": ["ports", "advanced"]}],
                         ids=["an unknown choice", "two choices"])
def test_saving_a_bad_answer_on_the_private_page_explains_it_keeps_the_rest_and_changes_nothing(client, bad_answer):
    room = start_room(client)
    member = join_room(client, room.id, "Ann", TEAM["Ann"])
    doc = page(client.get(member))
    again = page(submit(client, doc, member, {**shown(TEAM["Bo"]), **bad_answer}), 400)
    assert list(flagged(again)) == ["networking"]
    assert checked(again) == shown(TEAM["Bo"])
    assert stored_answers(client, room.id) == {"Ann": TEAM["Ann"]}


def test_starting_too_many_rooms_gets_429_with_retry_after_keeping_the_title(make_app):
    client = make_app(ROOMS_PER_CLIENT_PER_HOUR=1).test_client()
    start_room(client)
    doc = page(client.get("/rooms/new"))
    response = submit(client, doc, "/rooms/new", {"title": "One more"})
    refused = page(response, 429)
    assert 0 < int(response.headers["Retry-After"]) <= 3601
    assert "Try again in" in problems(refused)
    assert refused.find("input", id="title").attrs["value"] == "One more"
    assert room_count(client) == 1


# --- closing, rules changes, deletion -----------------------------------------------------------------------------


def test_when_the_closing_time_passes_answers_are_read_only_joining_is_refused_and_the_results_and_record_open(
        client, clock):
    room = start_room(client, "Closing at one", closes_at="2030-05-01T13:00")
    member = join_room(client, room.id, "Ann", TEAM["Ann"])
    assert "2030-05-01 13:00 UTC" in page(client.get(room.owner_path)).find(id="room-status").text
    member_page = page(client.get(member))
    join_page = page(client.get(f"/rooms/{room.id}/join"))
    early = client.get(f"/rooms/{room.id}/record.md")
    assert early.status_code == 409
    assert "once the owner reveals" in page(early, 409).find("main").text

    clock.now = START + timedelta(hours=1)
    closed = page(client.get(member))
    assert not closed.find_all("form", method="post")
    assert not closed.find_all("input", type="radio")
    answers = closed.find("dl", class_="answers").text
    assert all(LABELS[question, choice] in answers for question, choice in TEAM["Ann"].items())
    late_save = page(submit(client, member_page, member, shown(TEAM["Bo"])), 409)
    assert "closing time passed" in problems(late_save)
    late_join = page(submit(client, join_page, f"/rooms/{room.id}/join", {"name": "Dee", **TEAM["Bo"]}), 409)
    assert "takes no more members" in late_join.find("main").text
    kept = late_join.find(id="kept-answers").find("a").attrs["href"]  # what Dee ticked is not lost
    assert kept == f"/results?{canonical_query(SHIPPED_RULES, TEAM['Bo'])}"
    assert "takes no more members" in page(client.get(f"/rooms/{room.id}/join")).find("main").text
    assert stored_answers(client, room.id) == {"Ann": TEAM["Ann"]}
    results = page(client.get(f"/rooms/{room.id}"))
    alone = aggregate(SHIPPED_RULES, [("Ann", TEAM["Ann"])])
    assert results.find(id="group-heading").text == alone.recommendation.label
    assert "Closed on" in results.find(id="room-status").text

    record = client.get(f"/rooms/{room.id}/record.md")
    assert record.status_code == 200, record.get_data(as_text=True)[:2000]
    assert record.mimetype == "text/markdown"
    assert record.headers["Content-Disposition"].startswith("attachment")
    assert "Closing at one" in record.get_data(as_text=True)
    assert "Ann" in record.get_data(as_text=True)
    assert "* Date: 2030-05-01" in record.get_data(as_text=True).splitlines()  # MADR's date: the closing time's


def test_a_rules_change_while_open_shows_vanished_answers_as_not_counted_and_flags_the_results_stale(make_app,
                                                                                                    tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    client = make_app(RULES_PATH=str(rules), RULES_CHECK_INTERVAL=0).test_client()
    room = start_room(client)
    ann_answers = {"hosts": "many", "traffic": "spiky", "tenants": "several"}
    ann = join_room(client, room.id, "Ann", ann_answers)
    bo_answers = {"services": "few", "hosts": "one", "traffic": "growing"}
    join_room(client, room.id, "Bo", bo_answers)
    # The choice "spiky" becomes "bursty"; the question "tenants" becomes "customers".
    edited = re.sub(r"\bspiky\b", "bursty", rules.read_text(encoding="utf-8"))
    rules.write_text(re.sub(r"\btenants\b", "customers", edited), encoding="utf-8")
    later = rules.stat().st_mtime_ns + 1_000_000_000
    os.utime(rules, ns=(later, later))
    client.application.extensions["dockwise"].refresh()  # the watcher's look
    current = load_rules(rules)
    traffic = current.questions[current.question_index["traffic"]].text

    own = page(client.get(ann))
    not_counted = [item.text for item in own.find(id="not-counted").find_all("li")]
    assert len(not_counted) == 2
    assert any(f"'{traffic}' no longer offers 'spiky'" in text for text in not_counted), not_counted
    assert any("'tenants' is no longer asked" in text for text in not_counted), not_counted
    current_questions = [question.id for question in current.questions]
    assert checked(own) == shown({"hosts": "many"}, current_questions)

    reveal(client, room)
    results = page(client.get(f"/rooms/{room.id}"))
    assert "The rules have changed" in results.find(id="stale-rules").text
    members_section = results.find(id="members-heading").parent.text
    assert f"Ann: '{traffic}' no longer offers 'spiky'" in members_section
    assert "Ann: 'tenants' is no longer asked" in members_section
    spread = {row.find("th").text: row.find("ul").text
              for row in results.find(id="spread-heading").parent.find("tbody").find_all("tr")}
    assert "Not counted: 1 (Ann)" in spread[traffic]
    group = aggregate(current, [("Ann", ann_answers), ("Bo", bo_answers)])
    assert results.find(id="group-heading").text == group.recommendation.label


def test_deleting_needs_the_box_ticked_then_every_page_of_the_room_is_gone(client):
    room = start_room(client, "To be deleted")
    member = join_room(client, room.id, "Ann", TEAM["Ann"])
    owner = page(client.get(room.owner_path))
    unticked = page(submit(client, owner, f"{room.owner_path}/delete"), 400)
    assert "Tick the box to confirm" in unticked.find(id="error-confirm").text
    assert client.get(f"/rooms/{room.id}").status_code == 200
    rooms_before = room_count(client)

    deleted = page(submit(client, unticked, f"{room.owner_path}/delete", {"confirm": "yes"}))
    assert deleted.find("h1").text == "Room deleted"
    assert "To be deleted" in deleted.find("main").text
    for path in (f"/rooms/{room.id}", room.owner_path, member, f"/rooms/{room.id}/join"):
        assert page(client.get(path), 404).find("h1").text == "No such room", path
    assert room_count(client) == rooms_before - 1


# --- errors and headers -------------------------------------------------------------------------------------------

UNKNOWN_ROOM = "A" * 22


@pytest.mark.parametrize(("method", "path", "status", "heading"), [
    ("GET", "/rooms/{unknown}", 404, "No such room"),
    ("GET", "/rooms/{unknown}/join", 404, "No such room"),
    ("POST", "/rooms/{unknown}/join", 404, "No such room"),
    ("GET", "/rooms/{unknown}/record.md", 404, "No such room"),
    ("GET", "/rooms/{unknown}/owner/{owner}", 404, "No such room"),
    ("GET", "/rooms/{unknown}/me/{member}", 404, "No such room"),
    ("GET", "/rooms/{room}/owner/{member}", 403, "This private link does not work"),
    ("GET", "/rooms/{room}/owner/{other_owner}", 403, "This private link does not work"),
    ("GET", "/rooms/{room}/me/{owner}", 403, "This private link does not work"),
    ("GET", "/rooms/{room}/me/{other_member}", 403, "This private link does not work"),
    ("POST", "/rooms/{room}/owner/{member}/reveal", 403, "This private link does not work"),
    ("POST", "/rooms/{room}/owner/{other_owner}/delete", 403, "This private link does not work"),
    ("POST", "/rooms/{room}/me/{other_member}", 403, "This private link does not work"),
])
def test_an_unknown_room_is_404_and_a_wrong_private_link_is_403_changing_nothing(client, method, path, status,
                                                                                  heading):
    room, other = start_room(client), start_room(client, "Another team")
    member, stranger = join_room(client, room.id, "Ann", TEAM["Ann"]), join_room(client, other.id, "Ann", {})
    url = path.format(unknown=UNKNOWN_ROOM, room=room.id, owner=room.token, member=token_of(member),
                      other_owner=other.token, other_member=token_of(stranger))
    before = snapshot(client, room.id)
    csrf = page(client.get("/rooms/new")).find("input", name="csrf_token").attrs["value"]
    response = client.open(url, method=method, data={"csrf_token": csrf, "confirm": "yes", "name": "Dee",
                                                      **TEAM["Bo"]})
    refused = page(response, status)
    assert refused.find("h1").text == heading
    assert snapshot(client, room.id) == before


def test_every_rooms_response_is_never_stored_nor_indexed_and_private_pages_send_no_referrer_elsewhere(client):
    room = start_room(client)
    member = join_room(client, room.id, "Ann", TEAM["Ann"])
    owner = page(client.get(room.owner_path))
    responses = {  # what is asked -> (its response, whether its address holds a private token)
        "new room page": (client.get("/rooms/new"), False),
        "bad new room": (submit(client, page(client.get("/rooms/new")), "/rooms/new", {"title": ""}), False),
        "room page": (client.get(f"/rooms/{room.id}"), False),
        "join page": (client.get(f"/rooms/{room.id}/join"), False),
        "record before the reveal": (client.get(f"/rooms/{room.id}/record.md"), False),
        "owner page": (client.get(room.owner_path), True),
        "member page": (client.get(member), True),
        "refused answer": (submit(client, page(client.get(member)), member, {"services": "zillions"}), True),
        "wrong owner link": (client.get(f"/rooms/{room.id}/owner/{token_of(member)}"), True),
        "wrong member link": (client.get(f"/rooms/{room.id}/me/{room.token}"), True),
        "refused form": (submit(client, owner, f"{room.owner_path}/reveal", drop=("csrf_token",)), True),
        "unknown room": (client.get(f"/rooms/{UNKNOWN_ROOM}"), False),
        "owner link with a slash added": (client.get(f"{room.owner_path}/"), True),
        "no such page": (client.get(f"/rooms/{room.id}/results"), False),
        "reveal": (submit(client, owner, f"{room.owner_path}/reveal"), True),
        "results": (client.get(f"/rooms/{room.id}"), False),
        "record": (client.get(f"/rooms/{room.id}/record.md"), False),
        "deleted": (submit(client, owner, f"{room.owner_path}/delete", {"confirm": "yes"}), True),
    }
    wrong = []
    for asked, (response, private) in responses.items():
        headers = response.headers
        expected = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow", "Content-Security-Policy": CSP,
                    "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin" if private else "strict-origin-when-cross-origin"}
        wrong += [(asked, response.status_code, name, headers.get(name)) for name, value in expected.items()
                  if headers.get(name) != value]
    assert not wrong, wrong


# --- nothing a crawler sends gets a 5xx ---------------------------------------------------------------------------

# The rooms' addresses, with placeholders for this example's room and its owner's and member's tokens; each is
# filled with the real value or a drawn segment, and some addresses are drawn whole.
ROUTES = ("new", "{room}", "{room}/join", "{room}/record.md", "{room}/owner/{owner}", "{room}/owner/{owner}/reveal",
          "{room}/owner/{owner}/delete", "{room}/me/{member}")
PLACEHOLDERS = ("{room}", "{owner}", "{member}")
FIELD_NAMES = ("csrf_token", "title", "closes_at", "answers", "name", "confirm", "link", *QUESTIONS)
SOME_VALUES = ("", "yes", "2030-05-01T13:00", "2030-05-01T13:00:00Z", "2030-02-30T25:61", "services=many&hosts=few",
               "http://localhost/results?services=many", *(choice for _, choice in LABELS), "\x00", "x" * 200,
               *PLACEHOLDERS)
segments = st.one_of(st.text(max_size=50), st.sampled_from(("", ".", "..", "%", "\x00", "a\x00b", UNKNOWN_ROOM,
                                                             "x" * 100, *PLACEHOLDERS)))
routes = st.one_of(st.sampled_from(ROUTES), st.lists(segments, min_size=1, max_size=5).map("/".join))
fillings = st.fixed_dictionaries({placeholder: st.one_of(st.none(), segments) for placeholder in PLACEHOLDERS})
pairs = st.lists(st.tuples(st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=20)),
                           st.one_of(st.sampled_from(SOME_VALUES), st.text(max_size=80))), max_size=8)


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@example(method="GET", route="{room}", segment_for={"{room}": "\x00"}, query=[], form=[], with_csrf=False)
@example(method="POST", route="{room}/join", segment_for={"{room}": "a\x00b"}, query=[], form=[("name", "Dee")],
         with_csrf=True)
@given(method=st.sampled_from(("GET", "POST")), route=routes, segment_for=fillings, query=pairs, form=pairs,
       with_csrf=st.booleans())
def test_random_requests_to_the_rooms_pages_never_get_a_server_error(shared_app, method, route, segment_for, query,
                                                                    form, with_csrf):
    store = shared_app.extensions["dockwise.rooms"].store()
    room, owner_token = store.create_room("Fuzzed", rules_fingerprint=SHIPPED_RULES.fingerprint)
    _, member_token = store.join(room.id, "Ann", TEAM["Ann"])
    real = {"{room}": room.id, "{owner}": owner_token, "{member}": member_token}

    def filled(text: str) -> str:
        for placeholder, value in real.items():
            text = text.replace(placeholder, value)
        return text

    path = "/".join(quote(filled(part if segment_for.get(part) is None else segment_for[part]), safe="")
                    for part in route.split("/"))
    browser = shared_app.test_client()
    csrf = page(browser.get("/rooms/new")).find("input", name="csrf_token").attrs["value"]
    body = MultiDict([(filled(name), filled(value)) for name, value in form])
    if with_csrf:
        body.add("csrf_token", csrf)
    response = browser.open(f"/rooms/{path}", method=method,
                            query_string=MultiDict([(filled(name), filled(value)) for name, value in query]),
                            data=body if method == "POST" else None)
    assert response.status_code < 500, f"{method} /rooms/{path} answered {response.status_code}"
