"""Team rooms in a real Chromium against a live gunicorn: an owner and three members, each in a browser context of
their own, start a room, join, answer, change an answer, reveal, read the results and download the record, with
JavaScript on and off; a member starts from a results link they paste; axe and the Nu Html Checker on every page of
a room's life, walked once (one browser walk, one JVM run)."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Response, expect
from test_browser_accessibility import RUN_AXE
from test_browser_accessibility import describe as describe_violations
from test_browser_flows import answer_by_clicking_labels, assert_prefilled, choice_label, query_answers
from test_browser_html_validity import describe as describe_message

from app import create_app
from recommender.group import aggregate

ROOT = Path(__file__).resolve().parents[2]

TITLE = "Where the shop runs"
# Ben's hosts=many alone would turn the group's Docker Compose / Swarm into Kubernetes: a disagreement that matters.
MEMBERS = {
    "Ana": {"services": "many", "hosts": "few", "availability": "minutes", "team_size": "small",
            "managed": "available"},
    "Ben": {"services": "many", "hosts": "many", "availability": "none", "team_size": "small", "managed": "available"},
    "Cy": {"services": "few", "hosts": "few", "availability": "minutes", "team_size": "solo"},
}
CHANGED = ("Cy", "team_size", "small")  # Cy changes this answer through the private link before the reveal
CLOSES_IN = timedelta(days=3)


def submit(page: Page, button: str) -> Response:
    """Press a form's button and return the response of the page it leads to (after any redirect)."""
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name=button, exact=True).click()
    response = navigation.value
    assert response is not None, f"pressing {button!r} led to no page"
    return response


def final_answers() -> dict[str, dict[str, str]]:
    name, question, choice = CHANGED
    return {**MEMBERS, name: {**MEMBERS[name], question: choice}}


def expected_group(rules):
    group = aggregate(rules, list(final_answers().items()))
    assert group.disagreements, "MEMBERS no longer disagree in a way that matters under rules.yaml: pick other answers"
    return group


def start_room(page: Page, title: str, closes_at: str = "") -> Response:
    """On /rooms/new: type the title (and a closing time) and start the room."""
    page.get_by_label("Title").fill(title)
    if closes_at:
        page.get_by_label("Closing time (UTC, optional)").fill(closes_at)
    return submit(page, "Start the room")


def join_room(page: Page, rules, name: str, answers: dict[str, str]) -> Response:
    """On a join page: type a name, click each answer's label, join."""
    page.get_by_label("Your name").fill(name)
    answer_by_clicking_labels(page, rules, answers)
    return submit(page, "Join and save my answers")


# --- the whole flow -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_owner_and_three_members_decide_together(new_context, live_server, shipped_rules, javascript):
    rules = shipped_rules
    group = expected_group(rules)

    # The owner starts a room from the questionnaire, closing in a few days.
    owner = new_context(java_script_enabled=javascript).new_page()
    owner.goto("/")
    owner.get_by_role("link", name="Decide as a team").click()
    owner.wait_for_url("**/rooms/new")
    closes = datetime.now(UTC).replace(second=0, microsecond=0) + CLOSES_IN
    response = start_room(owner, TITLE, closes.strftime("%Y-%m-%dT%H:%M"))
    assert response.status == 200
    assert re.fullmatch(r"/rooms/[^/]+/owner/[^/]+", urllib.parse.urlsplit(owner.url).path), owner.url
    owner_url, owner_token = owner.url, urllib.parse.urlsplit(owner.url).path.rsplit("/", 1)[1]
    expect(owner.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(owner.locator("#created")).to_contain_text("your private owner link")
    expect(owner.locator("#room-status")).to_contain_text(f"the closing time, {closes:%Y-%m-%d %H:%M} UTC")
    expect(owner.locator("#owner-link")).to_have_value(owner_url)
    expect(owner.locator("button.copy").first).to_be_visible(visible=javascript)  # JavaScript's Copy button only
    join_url = owner.locator("#join-link").input_value()
    assert re.fullmatch(re.escape(live_server.url) + r"/rooms/[^/]+/join", join_url), join_url
    assert owner_token not in join_url
    room_url = join_url.removesuffix("/join")

    # Three members, each in a context of their own, join from the link and answer.
    members: dict[str, Page] = {}
    private: dict[str, str] = {}
    for name, answers in MEMBERS.items():
        page = members[name] = new_context(java_script_enabled=javascript).new_page()
        page.goto(join_url)
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Join “{TITLE}”")
        response = join_room(page, rules, name, answers)
        assert response.status == 200
        assert re.fullmatch(r"/rooms/[^/]+/me/[^/]+", urllib.parse.urlsplit(page.url).path), page.url
        private[name] = page.url
        expect(page.locator("#saved")).to_contain_text("Your answers are saved.")
        expect(page.locator("#member-link")).to_have_value(page.url)
        assert_prefilled(page, rules, answers)
        assert owner_token not in page.content(), f"{name}'s page shows the owner's token"

    # One member changes an answer through the private link.
    name, question, choice = CHANGED
    page = members[name]
    page.goto(private[name])
    expect(page.locator("#saved")).to_have_count(0)
    assert_prefilled(page, rules, MEMBERS[name])
    answer_by_clicking_labels(page, rules, {question: choice})
    assert submit(page, "Save my answers").status == 200
    assert page.url == private[name]
    expect(page.locator("#saved")).to_have_text("Your answers are saved.")
    assert_prefilled(page, rules, final_answers()[name])

    # Before the reveal: the room shows who has answered, never what; the record is not ready.
    page = members["Ana"]
    assert page.goto(room_url).status == 200
    for member in MEMBERS:
        expect(page.locator("ul.members li").filter(has_text=member)).to_contain_text("answered")
    main = page.locator("main")
    expect(main.locator("table")).to_have_count(0)  # neither the members' recommendations nor the spread
    for other in ("Ben", "Cy"):
        for question_id, choice_id in final_answers()[other].items():
            label = choice_label(rules, question_id, choice_id)
            expect(main, f"{other}'s answer to {question_id} shows before the reveal").not_to_contain_text(label)
    assert owner_token not in page.content()
    expect(page.get_by_role("link", name="Download the decision record (Markdown)")).to_have_count(0)
    assert page.request.get(room_url + "/record.md").status == 409
    owner.reload()
    for member in MEMBERS:
        expect(owner.locator("ul.members li").filter(has_text=member)).to_contain_text("answered")

    # The owner reveals; the room page shows the group's result.
    assert submit(owner, "Reveal the answers now").status == 200
    assert owner.url == room_url
    expect(owner.locator("#group-heading")).to_have_text(group.explanation.label)

    # Every member reads the results from their private page, and downloads the record.
    for name, page in members.items():
        page.goto(private[name])
        expect(page.get_by_role("button", name="Save my answers")).to_have_count(0)  # read-only now
        expect(page.locator("input[type=radio]")).to_have_count(0)
        page.get_by_role("link", name="Read the room's results").click()
        page.wait_for_url(room_url)
        assert_room_results(page, rules, group, live_server.fingerprint)
        assert owner_token not in page.content()
        assert_record(page, group)

    # A member's results link is the usual results page.
    page = members["Ana"]
    page.get_by_role("link", name="Ben's results page").click()
    page.wait_for_url("**/results?**")
    expect(page.locator("#answer-title")).to_have_text(next(m for m in group.members if m.name == "Ben")
                                                       .recommendation.label)
    assert query_answers(page.url) == {**final_answers()["Ben"], "rules": live_server.fingerprint}


def assert_room_results(page: Page, rules, group, fingerprint: str) -> None:
    """The revealed room as a member reads it: the group's recommendation and agreement, each member's row with a
    link to their results, the disagreements that matter, and the changed answer counted."""
    expect(page.locator("#group-heading")).to_have_text(group.explanation.label)
    expect(page.locator("section.answer")).to_contain_text(f"Agreement: {group.agreement.words}")
    table = page.locator("section[aria-labelledby=members-heading] tbody")
    for member in group.members:
        row = table.locator("tr").filter(has=page.get_by_role("rowheader", name=member.name, exact=True))
        expect(row).to_contain_text(member.recommendation.label)
        link = row.get_by_role("link", name=f"{member.name}'s results page")
        href = link.get_attribute("href") or ""
        assert query_answers(href) == {**final_answers()[member.name], "rules": fingerprint}, href
    disagreements = page.locator("section[aria-labelledby=disagreements-heading]")
    for disagreement in group.disagreements:
        expect(disagreements).to_contain_text(disagreement.question.text)
        expect(disagreements).to_contain_text(disagreement.recommendation.label)
        for name, choice in disagreement.members:
            expect(disagreements).to_contain_text(f"{name} answered “{choice.label}”")
    name, question, choice = CHANGED
    spread = page.locator("table.spread tr").filter(has=page.get_by_role(
        "rowheader", name=rules.questions[rules.question_index[question]].text, exact=True))
    chose = [member for member, answers in final_answers().items() if answers.get(question) == choice]
    expect(spread).to_contain_text(f"{choice_label(rules, question, choice)}: {len(chose)} ({', '.join(chose)})")


def assert_record(page: Page, group) -> None:
    """The decision record downloads from the room's page as Markdown naming the room and every member."""
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the decision record (Markdown)").click()
    download = info.value
    assert download.failure() is None, f"the decision record did not download: {download.failure()}"
    assert download.suggested_filename.endswith(".md"), download.suggested_filename
    text = Path(download.path()).read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith(f"# {TITLE}"), text[:200]
    assert re.search(r"^## ", text, re.MULTILINE), "the record has no Markdown sections"
    for member in group.members:
        assert member.name in text, f"the record does not name {member.name}"


# --- starting from a results page -------------------------------------------------------------------------------


def test_answers_come_from_a_results_page(new_context, live_server, shipped_rules):
    """The owner starts a room from a results page and answers with those answers filled in; a member pastes their
    own results link on the join page (without JavaScript) and starts from theirs."""
    rules = shipped_rules
    owner = new_context().new_page()
    owner.goto(live_server.results_path(MEMBERS["Ana"]))
    owner.get_by_role("link", name="Decide as a team").click()
    owner.wait_for_url("**/rooms/new?**")
    assert start_room(owner, TITLE).status == 200
    join_url = owner.locator("#join-link").input_value()
    owner.get_by_role("link", name="Answer as a member yourself").click()
    owner.wait_for_url(join_url + "?**")
    assert_prefilled(owner, rules, MEMBERS["Ana"])

    member = new_context(java_script_enabled=False).new_page()
    member.goto(live_server.results_path(MEMBERS["Ben"]))
    results_link = member.locator("#share-link").input_value()
    member.goto(join_url)
    assert_prefilled(member, rules, {})
    member.locator("#link").fill(results_link)
    member.get_by_role("button", name="Fill in my answers").click()
    member.wait_for_url(join_url + "?link=**")
    assert_prefilled(member, rules, MEMBERS["Ben"])
    member.get_by_label("Your name").fill("Ben")
    assert submit(member, "Join and save my answers").status == 200
    expect(member.locator("#saved")).to_contain_text("Your answers are saved.")
    assert_prefilled(member, rules, MEMBERS["Ben"])


# --- axe and the Nu Html Checker on every page of a room's life ----------------------------------------------------

# Each page of the walk below, in its order, with its HTTP status.
ROOM_PAGES = {
    "new-room": 200,
    "new-room-no-title": 400,
    "new-room-closing-time-past": 400,
    "owner": 200,
    "join": 200,
    "join-link-without-answers": 200,
    "join-no-name": 400,
    "member": 200,
    "join-name-taken": 409,
    "room-open": 200,
    "owner-delete-unconfirmed": 400,
    "owner-wrong-token": 403,
    "room-revealed": 200,
    "owner-revealed": 200,
    "member-read-only": 200,
    "join-closed": 200,
    "room-deleted": 200,
    "room-not-found": 404,
    # Rendered in-process (see rules_changed_pages) and served in place of a live page.
    "member-answers-not-counted": 200,
    "room-rules-changed": 200,
}
STALE_FINGERPRINT = "00000000"
SCHEMES = ("light", "dark")


class Walk:
    """One page going through a room's life; at each stop the served HTML is saved and axe runs in both schemes."""

    def __init__(self, page: Page, axe_script: Path, folder: Path):
        self.page, self.axe_script, self.folder = page, axe_script, folder
        self.files: dict[str, Path] = {}
        self.violations: dict[tuple[str, str], list[dict]] = {}

    def stop(self, name: str, response: Response | None) -> None:
        assert response is not None, f"{name}: no response"
        assert response.status == ROOM_PAGES[name], f"{name}: {response.url} answered {response.status}"
        self.files[name] = self.folder / f"{name}.html"
        self.files[name].write_bytes(response.body())
        self.page.add_script_tag(path=self.axe_script)
        for scheme in SCHEMES:
            self.page.emulate_media(color_scheme=scheme)
            self.violations[name, scheme] = self.page.evaluate(RUN_AXE)
        self.page.emulate_media(color_scheme="light")

    def stop_in_place(self, name: str, html: bytes) -> None:
        """Serve `html` at an address of the live server (so its stylesheet applies) and stop there."""
        self.page.route(f"**/in-place/{name}", lambda route: route.fulfill(
            status=ROOM_PAGES[name], body=html, content_type="text/html; charset=utf-8"))
        self.stop(name, self.page.goto(f"/in-place/{name}"))


def rules_changed_pages(folder: Path) -> dict[str, bytes]:
    """A room whose rules changed since it started, rendered in-process (a live server would have to change the
    rules every other test uses): Ben's own page listing his answer the rules no longer offer, and the room's
    results with the stale-rules notice and that answer not counted."""
    app = create_app({"TESTING": True, "RULES_PATH": str(ROOT / "rules.yaml"), "INSTANCE_PATH": str(folder),
                      "SECRET_KEY": "x", "RULES_CHECK_INTERVAL": 0,
                      "DATABASE_URL": f"sqlite:///{folder / 'rooms.sqlite3'}"})
    rooms = app.extensions["dockwise.rooms"]
    try:
        store, client = rooms.store(), app.test_client()
        room, owner_token = store.create_room(TITLE, rules_fingerprint=STALE_FINGERPRINT)
        store.join(room.id, "Ana", MEMBERS["Ana"])
        _, ben = store.join(room.id, "Ben", {**MEMBERS["Ben"], "hosts": "fleet", "gone": "yes"})
        pages = {"member-answers-not-counted": client.get(f"/rooms/{room.id}/me/{ben}")}
        store.reveal(room.id, owner_token)
        pages["room-rules-changed"] = client.get(f"/rooms/{room.id}")
    finally:
        rooms.dispose()
    for name, response in pages.items():
        assert response.status_code == ROOM_PAGES[name], f"{name}: {response.status_code}"
    assert b'id="not-counted"' in pages["member-answers-not-counted"].data
    assert b'id="stale-rules"' in pages["room-rules-changed"].data
    assert b"Answers not counted" in pages["room-rules-changed"].data
    return {name: response.data for name, response in pages.items()}


def walk_a_room(walk: Walk, rules) -> None:
    """Every page a room shows, from the empty form to after its deletion: three members (one without answers)
    so the revealed room has a disagreement, dissent and a member with no answer that counts."""
    page = walk.page
    walk.stop("new-room", page.goto("/rooms/new"))
    walk.stop("new-room-no-title", start_room(page, ""))
    expect(page.locator("#error-title")).to_be_visible()
    walk.stop("new-room-closing-time-past", start_room(page, TITLE, "2020-01-01T12:00"))
    expect(page.locator("#error-closes_at")).to_be_visible()
    page.get_by_label("Closing time (UTC, optional)").fill("")
    walk.stop("owner", start_room(page, TITLE))
    owner_url = page.url
    join_url = page.locator("#join-link").input_value()
    room_url = join_url.removesuffix("/join")
    walk.stop("join", page.goto(join_url))
    walk.stop("join-link-without-answers", page.goto(join_url + "?link=" + urllib.parse.quote(room_url)))
    expect(page.locator("#problems")).to_contain_text("No answers were found in the link you pasted")
    page.goto(join_url)
    walk.stop("join-no-name", join_room(page, rules, "", MEMBERS["Ana"]))
    expect(page.locator("#error-name")).to_be_visible()
    assert_prefilled(page, rules, MEMBERS["Ana"])  # the rejected form keeps the answers
    walk.stop("member", join_room(page, rules, "Ana", {}))  # the answers were kept on the rejected form
    member_url = page.url
    page.goto(join_url)
    join_room(page, rules, "Ben", MEMBERS["Ben"])
    page.goto(join_url)
    join_room(page, rules, "Cy", {})
    page.goto(join_url)
    walk.stop("join-name-taken", join_room(page, rules, "Ana", {}))
    expect(page.locator("#error-name")).to_be_visible()
    walk.stop("room-open", page.goto(room_url))
    page.goto(owner_url)
    walk.stop("owner-delete-unconfirmed", submit(page, "Delete the room"))
    expect(page.locator("#error-confirm")).to_be_visible()
    walk.stop("owner-wrong-token", page.goto(owner_url.rsplit("/", 1)[0] + "/not-the-token"))
    page.goto(owner_url)
    walk.stop("room-revealed", submit(page, "Reveal the answers now"))
    expect(page.locator("section[aria-labelledby=disagreements-heading]")).to_be_visible()
    expect(page.locator("section[aria-labelledby=dissent-heading]")).to_be_visible()
    expect(page.get_by_text("No answer that counts")).to_be_visible()
    walk.stop("owner-revealed", page.goto(owner_url))
    walk.stop("member-read-only", page.goto(member_url))
    expect(page.locator("dl.answers")).to_be_visible()
    walk.stop("join-closed", page.goto(join_url))
    page.goto(owner_url)
    page.get_by_label("Yes, delete this room and all its answers").check()
    walk.stop("room-deleted", submit(page, "Delete the room"))
    walk.stop("room-not-found", page.goto(room_url))
    in_process = walk.folder / "in-process"
    in_process.mkdir()
    for name, html in rules_changed_pages(in_process).items():
        walk.stop_in_place(name, html)
    assert list(walk.files) == list(ROOM_PAGES), "the walk missed a page"


def run_vnu(vnu_command: list[str], files: dict[str, Path]) -> dict[str, list[dict]]:
    """{page name: vnu messages}, from one JVM run over every file."""
    by_file = {path.resolve(): name for name, path in files.items()}
    run = subprocess.run([*vnu_command, "--format", "json", "--stdout", *map(str, files.values())],
                         capture_output=True, text=True, timeout=120, check=False)
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"vnu.jar gave no JSON (exit {run.returncode}):\n{run.stdout}\n{run.stderr}", pytrace=False)
    messages: dict[str, list[dict]] = {name: [] for name in files}
    for message in report["messages"]:
        path = Path(urllib.parse.unquote(urllib.parse.urlsplit(message.get("url", "")).path)).resolve()
        if path not in by_file:
            pytest.fail(f"vnu.jar reported a message for no page: {message}", pytrace=False)
        messages[by_file[path]].append(message)
    return messages


@pytest.fixture(scope="module")
def room_pages_checked(browser: Browser, live_server, shipped_rules, axe_script, vnu_command, tmp_path_factory):
    """(axe violations by (page, scheme), vnu messages by page) for every page of one room's life."""
    # bypass_csp: add_script_tag inlines axe, which the site's CSP (script-src 'self') rightly blocks.
    context = browser.new_context(base_url=live_server.url, bypass_csp=True)
    context.set_default_timeout(10_000)
    try:
        walk = Walk(context.new_page(), axe_script, tmp_path_factory.mktemp("room-pages"))
        walk_a_room(walk, shipped_rules)
    finally:
        context.close()
    return walk.violations, run_vnu(vnu_command, walk.files)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("name", list(ROOM_PAGES))
def test_axe_finds_no_violations_on_room_pages(room_pages_checked, name, scheme):
    violations = room_pages_checked[0][name, scheme]
    assert not violations, (f"axe found {len(violations)} violation(s) on {name} ({scheme}):\n"
                            + describe_violations(violations))


@pytest.mark.parametrize("name", list(ROOM_PAGES))
def test_nu_html_checker_finds_no_errors_on_room_pages(room_pages_checked, name, note):
    messages = room_pages_checked[1][name]
    errors = [m for m in messages if m["type"] in ("error", "non-document-error") or m.get("subType") == "fatal"]
    for warning in (m for m in messages if m not in errors and m.get("subType") == "warning"):
        note(f"vnu {name}: {describe_message(warning)}")
    assert not errors, f"the Nu Html Checker found {len(errors)} error(s) on {name}:\n" + "\n".join(
        "  " + describe_message(m) for m in errors)
