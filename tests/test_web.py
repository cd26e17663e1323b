"""The web layer through Flask's test client: pages, share links, the decision record, the JSON API, error pages,
CSRF, security headers, the secret key and the configuration order.

Expectations come from rules.yaml read as plain YAML (labels, texts, order) and from the pure core's result document;
the pages are parsed into a small element tree, so a test looks at the element a reader would see. The answers sent
are tests/shipped.py's SCENARIOS and a few ids of the shipped questions; what the shipped rules make of them is pinned
in test_shipped_rules.py, never here. Hot reload and broken rules are in test_hot_reload.py.
"""

from __future__ import annotations

import json
import os
import random
import re
import stat
import time
import warnings
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import itsdangerous.timed
import pytest
import yaml
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from routes import LEAK_MARKER, PROTECTED, SENT, add_test_routes
from shipped import RULES_PATH, SCENARIOS
from werkzeug.datastructures import MultiDict

from app import create_app
from recommender import evaluate, explain, load_rules
from recommender.links import answers_from_pairs
from web.forms import questionnaire_form

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SHIPPED = yaml.safe_load(RULES_PATH.read_text(encoding="utf-8"))
SHIPPED_RULES = load_rules(RULES_PATH)
FINGERPRINT = SHIPPED_RULES.fingerprint

QUESTIONS = SHIPPED["questions"]
QUESTION_ORDER = [q["id"] for q in QUESTIONS]
QUESTION_TEXT = {q["id"]: q["text"] for q in QUESTIONS}
CHOICES = {q["id"]: [c["id"] for c in q["choices"]] for q in QUESTIONS}
CHOICE_LABELS = {(q["id"], c["id"]): c["label"] for q in QUESTIONS for c in q["choices"]}
OPTION_ORDER = [o["id"] for o in SHIPPED["options"]]
OPTION_LABELS = {o["id"]: o["label"] for o in SHIPPED["options"]}
CRITERIA = SHIPPED["criteria"]
MAX_BODY = 16 * 1024
MAX_QUERY = 2048

# What the results page says about how close the result is (explain.CLOSENESS_WORDS, capitalised, plus a full stop).
CLOSENESS_TEXT = {"clear": "A clear choice.", "close": "A close call — read on.",
                  "tie": "A tie, settled by simplicity.",
                  "open": "A first lean — the open questions could still change it.",
                  "unmet": "The best fit, but not every stated need is met."}
NEEDS_PATH = DATA / "needs.yaml"
NEEDS = yaml.safe_load(NEEDS_PATH.read_text(encoding="utf-8"))
NEEDS_RULES = load_rules(NEEDS_PATH)
NEEDS_QUESTION_TEXT = {q["id"]: q["text"] for q in NEEDS["questions"]}
NEEDS_UNMET = {(q["id"], c["id"]): c.get("unmet", {}) for q in NEEDS["questions"] for c in q["choices"]}
NEEDS_LABELS = {o["id"]: o["label"] for o in NEEDS["options"]}

# Answer sets that between them reach every option, every closeness, both kinds of "what would change it", rows
# pulling the other way and unmet needs (tests/shipped.py; test_shipped_rules.py checks they still do).
SCENARIO_PARAMS = [pytest.param(answers, id=name) for name, answers in SCENARIOS.items()]
# With nothing answered the results page asks for answers instead (test_results_without_answers_ask_for_them).
ANSWERED_PARAMS = [param for param in SCENARIO_PARAMS if param.values[0]]

# Text that must never reach a response body or header: tracebacks, the repo's path, versions, object reprs.
LEAKS = ("Traceback", 'File "', str(ROOT), "site-packages", "Werkzeug/", "Python/", "object at 0x", LEAK_MARKER)


# --- expectations ---------------------------------------------------------------------------------------------------

def canonical(answers: dict[str, str], *, with_rules: bool = True) -> str:
    """The canonical query, built here independently: answered questions in questionnaire order, then rules=."""
    parts = [f"{q}={answers[q]}" for q in QUESTION_ORDER if answers.get(q)]
    if with_rules:
        parts.append(f"rules={FINGERPRINT}")
    return "&".join(parts)


def document_for(answers: dict[str, str]) -> dict:
    """The core's result document as JSON would carry it."""
    return json.loads(json.dumps(explain(evaluate(SHIPPED_RULES, answers)).as_json()))


def _questions_in(when: dict):
    for key, value in when.items():
        if key in ("any", "all"):
            for part in value:
                yield from _questions_in(part)
        elif key == "not":
            yield from _questions_in(value)
        else:
            yield key


def _informs() -> dict[str, list[str]]:
    """Per question, the labels of the rows whose rules read it, in table order (read from the YAML)."""
    rows_of: dict[str, set[str]] = {q: set() for q in QUESTION_ORDER}
    for rule in SHIPPED["rules"]:
        for question in _questions_in(rule["when"]):
            rows_of[question].add(rule["criterion"])
    return {q: [c["label"] for c in CRITERIA if c["id"] in rows] for q, rows in rows_of.items()}


INFORMS = _informs()


# --- a small element tree -------------------------------------------------------------------------------------------

VOID = frozenset(["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"])


class Node:
    def __init__(self, tag: str, attrs=(), parent: Node | None = None):
        self.tag = tag
        self.attr_list = list(attrs)
        self.attrs = {name: ("" if value is None else value) for name, value in self.attr_list}
        self.parent = parent
        self.children: list[Node | str] = []

    def __repr__(self) -> str:
        return f"<{self.tag} {self.attrs}>"

    @property
    def classes(self) -> list[str]:
        return self.attrs.get("class", "").split()

    @property
    def text(self) -> str:
        parts: list[str] = []

        def walk(node: Node) -> None:
            for child in node.children:
                if isinstance(child, str):
                    parts.append(child)
                else:
                    walk(child)
        walk(self)
        return " ".join("".join(parts).split())

    def iter(self):
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None, attrs: dict | None = None, **kw) -> list[Node]:
        wanted = {**(attrs or {}), **kw}
        return [node for node in self.iter()
                if (tag is None or node.tag == tag) and (cls is None or cls in node.classes)
                and all(node.attrs.get(name) == value for name, value in wanted.items())]

    def find(self, tag: str | None = None, cls: str | None = None, attrs: dict | None = None, **kw) -> Node:
        found = self.find_all(tag, cls, attrs, **kw)
        assert found, f"no <{tag or '*'}> with class={cls} {attrs or ''} {kw} in {self!r}"
        return found[0]

    def next_element(self) -> Node:
        siblings = [child for child in self.parent.children if isinstance(child, Node)]
        return siblings[siblings.index(self) + 1]


class _TreeBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document")
        self.current = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Node(tag, attrs, self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse(html: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


def page(response, status: int = 200) -> Node:
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    assert response.mimetype == "text/html"
    return parse(response.get_data(as_text=True))


def assert_layout(doc: Node) -> None:
    """The site's layout: title, stylesheet, header with the way back, main, footer."""
    assert doc.find("title").text.endswith("— Dockwise")
    assert doc.find("link", rel="stylesheet").attrs["href"] == "/static/style.css"
    header = doc.find("header", cls="site")
    assert header.find("a", cls="brand").attrs["href"] == "/"
    assert {a.attrs["href"] for a in header.find("nav").find_all("a")} == {"/", "/rules"}
    assert doc.find("main", id="main").find("h1").text
    doc.find("footer", cls="site")


def checked(doc: Node) -> dict[str, list[str]]:
    """The checked radio values, per group."""
    groups: dict[str, list[str]] = {}
    for radio in doc.find_all("input", type="radio"):
        if "checked" in radio.attrs:
            groups.setdefault(radio.attrs["name"], []).append(radio.attrs["value"])
    return groups


def assert_checked(doc: Node, answers: dict[str, str], *, skip=()) -> None:
    """Every question shows exactly the given answer checked, or "Not sure" ("") when it has none."""
    groups = checked(doc)
    for question in QUESTION_ORDER:
        if question not in skip:
            assert groups.get(question) == [answers.get(question, "")], question


def alert_items(doc: Node) -> list[str]:
    return [item.text for item in doc.find("div", attrs={"role": "alert"}).find_all("li")]


def questionnaire_form_of(doc: Node) -> Node:
    """The page's questionnaire: a GET form to the results page. It changes nothing, so it carries no CSRF token;
    its one hidden field names the rules version the questions come from, so the results link pins it."""
    form = doc.find("form", cls="questionnaire")
    assert form.attrs["method"].lower() == "get"
    assert form.attrs["action"] == "/results"
    assert not form.find_all("input", attrs={"name": "csrf_token"})
    hidden = [(field.attrs["name"], field.attrs["value"]) for field in form.find_all("input", type="hidden")]
    assert [name for name, _ in hidden] == ["rules"]
    assert re.fullmatch(r"[0-9a-f]{8}", hidden[0][1]), hidden
    return form


def submit(client, doc: Node, answers: dict[str, str], **kwargs):
    """Pick `answers` on the page's questionnaire (the rest stay as they are) and press "Recommend" as a browser
    does: every radio group's checked value, in page order, sent by the form's method to its action (following
    any redirect, as a browser does)."""
    form = questionnaire_form_of(doc)
    pairs = [(field.attrs["name"], field.attrs["value"]) for field in form.find_all("input", type="hidden")]
    for fieldset in form.find_all("fieldset"):
        radios = fieldset.find_all("input", type="radio")
        name = radios[0].attrs["name"]
        values = [radio.attrs["value"] for radio in radios]
        picked = answers.get(name, next((r.attrs["value"] for r in radios if "checked" in r.attrs), None))
        assert picked in values, (name, picked, values)
        pairs.append((name, picked))
    return client.get(form.attrs["action"] + "?" + urlencode(pairs), follow_redirects=True, **kwargs)


def flagged(doc: Node) -> dict[str, str]:
    """Per question whose field is flagged, the message it shows beside the field (checking the markup: the
    fieldset's class, one error paragraph, and the fieldset described by it)."""
    found = {}
    for fieldset in doc.find("form", cls="questionnaire").find_all("fieldset"):
        errors = fieldset.find_all("p", cls="field-error")
        assert ("invalid" in fieldset.classes) == bool(errors), fieldset
        if errors:
            assert len(errors) == 1
            assert errors[0].attrs["id"] in fieldset.attrs["aria-describedby"].split()
            sentence = re.fullmatch(r"That answer could not be used: (.+)\. Pick one below\.", errors[0].text)
            assert sentence, errors[0].text
            found[fieldset.attrs["id"].removeprefix("q-")] = sentence.group(1)
    return found


def assert_no_cookie(response) -> None:
    assert "Set-Cookie" not in response.headers, response.headers.getlist("Set-Cookie")


def csrf_token_of(doc: Node) -> str:
    return doc.find("input", attrs={"name": "csrf_token", "type": "hidden"}).attrs["value"]


def session_cookie(response) -> dict[str, str | bool]:
    """The session's Set-Cookie header as {attribute (lower case): value or True}."""
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]
    assert len(headers) == 1, response.headers.getlist("Set-Cookie")
    attributes: dict[str, str | bool] = {}
    for part in headers[0].split(";")[1:]:
        name, sep, value = part.strip().partition("=")
        attributes[name.lower()] = value if sep else True
    return attributes


# --- fixtures -------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def _no_dockwise_environment():
    """A DOCKWISE_* variable in the developer's shell must not change what these tests see."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("DOCKWISE_"):
                patch.delenv(name)
        yield


def build_app(instance: Path, **config):
    """create_app with the shipped rules, an instance folder of its own, CSRF off unless asked, and the test-only
    routes of add_test_routes (registered before the first request)."""
    settings = {"TESTING": True, "RULES_PATH": str(RULES_PATH), "INSTANCE_PATH": str(instance),
                "WTF_CSRF_ENABLED": False, **config}
    return add_test_routes(create_app(settings))


@pytest.fixture
def make_app(tmp_path):
    """An app with settings of the test's own (see build_app)."""
    return lambda **config: build_app(tmp_path / "instance", **config)


# The apps are shared by the module's tests (each test gets a client, so no cookie is shared): nothing in them
# changes while serving, and building the page "How Dockwise decides" once per app keeps the run short.
@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """This module's app: CSRF off (the CSRF tests use `csrf_client`, with CSRF on as in production)."""
    return build_app(tmp_path_factory.mktemp("instance"))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def csrf_app(tmp_path_factory):
    return build_app(tmp_path_factory.mktemp("instance"), WTF_CSRF_ENABLED=True)


@pytest.fixture
def csrf_client(csrf_app):
    return csrf_app.test_client()


def test_an_option_a_rule_rules_out_is_marked_and_explained_on_the_page(make_app):
    # The shipped rules rule nothing out (they flag unmet needs instead); minimal.yaml rules out Docker alone.
    application = make_app(RULES_PATH=str(DATA / "minimal.yaml"))
    ruleset = load_rules(DATA / "minimal.yaml")
    expected = explain(evaluate(ruleset, {"hosts": "many"})).as_json()
    doc = page(application.test_client().get(f"/results?hosts=many&rules={ruleset.fingerprint}"))
    rows = doc.find("ul", cls="bars").find_all("li")
    assert [("excluded" in row.classes) for row in rows] == [bool(e["excluded"]) for e in expected["ranking"]]
    assert "excluded" in rows[-1].classes
    assert "ruled out" in rows[-1].text
    section = doc.find("section", attrs={"aria-labelledby": "scores-title"})
    assert "Docker alone: Many machines need an orchestrator." in " ".join(section.text.split())


# --- the questionnaire ----------------------------------------------------------------------------------------------

def test_questionnaire_is_a_get_form_to_the_results_with_a_fieldset_per_question_and_not_sure_checked(client):
    response = client.get("/")
    doc = page(response)
    assert_layout(doc)
    assert_no_cookie(response)
    form = questionnaire_form_of(doc)
    assert form.find("input", type="hidden").attrs["value"] == SHIPPED_RULES.fingerprint  # the results pin it
    fieldsets = form.find_all("fieldset")
    assert [f.attrs["id"] for f in fieldsets] == [f"q-{q}" for q in QUESTION_ORDER]
    for fieldset, question in zip(fieldsets, QUESTIONS, strict=True):
        qid = question["id"]
        assert fieldset.find("legend").text == question["text"]
        radios = fieldset.find_all("input", type="radio")
        assert [(r.attrs["name"], r.attrs["value"]) for r in radios] == [(qid, "")] + [(qid, c) for c in CHOICES[qid]]
        assert [label.text for label in fieldset.find_all("label")] == \
            ["Not sure"] + [CHOICE_LABELS[(qid, c)] for c in CHOICES[qid]]
        assert [r.attrs["value"] for r in radios if "checked" in r.attrs] == [""]
        help_text = fieldset.find("p", cls="help")
        assert help_text.attrs["id"] in fieldset.attrs["aria-describedby"].split()
        assert help_text.text.startswith(" ".join(question.get("help", "").split()))
        informs = help_text.find_all("span", cls="informs")  # none for a question no rule reads (a rules warning)
        assert [span.text for span in informs] == (["Informs: " + ", ".join(INFORMS[qid]) + "."] if INFORMS[qid]
                                                   else [])
        assert not fieldset.find_all(cls="field-error")
    assert form.find("button", type="submit").text == "Recommend"
    assert not doc.find_all("div", attrs={"role": "alert"})


@pytest.mark.parametrize("answers", ANSWERED_PARAMS)
def test_pressing_recommend_on_the_questionnaire_shows_the_results_with_the_canonical_share_link(client, answers):
    response = submit(client, page(client.get("/")), answers)
    doc = page(response)
    assert doc.find("h1", id="answer-title").text == OPTION_LABELS[document_for(answers)["recommendation"]]
    assert doc.find("input", id="share-link").attrs["value"] == "http://localhost/results?" + canonical(answers)


@pytest.mark.parametrize("base_url", ["http://localhost", "https://localhost"])
def test_the_blank_questionnaire_is_the_same_bytes_for_everyone_with_an_etag_and_no_cookie(csrf_app, base_url):
    # CSRF on, as in production: the questionnaire still needs no token, so no session and no cookie.
    first, second = (csrf_app.test_client().get("/", base_url=base_url) for _ in range(2))
    for response in (first, second):
        assert response.status_code == 200
        assert_no_cookie(response)
        assert response.headers["Cache-Control"] == "no-cache"  # revalidated every time: the rules can change
    assert first.get_data() == second.get_data()
    assert first.headers["ETag"]
    assert first.headers["ETag"] == second.headers["ETag"]


@pytest.mark.parametrize(("if_none_match", "status"), [
    pytest.param("{etag}", 304, id="its etag"),
    pytest.param('"0123456789abcdef", {etag}', 304, id="its etag among others"),
    pytest.param('"0123456789abcdef"', 200, id="another etag"),
])
def test_the_blank_questionnaire_answers_304_to_its_own_etag(client, if_none_match, status):
    fresh = client.get("/")
    etag = fresh.headers["ETag"]
    response = client.get("/", headers={"If-None-Match": if_none_match.format(etag=etag)})
    assert response.status_code == status
    assert response.headers["ETag"] == etag
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.get_data() == (b"" if status == 304 else fresh.get_data())
    assert_security_headers(response)
    assert_no_cookie(response)


def test_a_rules_change_the_questionnaire_shows_changes_its_bytes_and_etag(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    client = build_app(tmp_path / "instance", RULES_PATH=str(rules), RULES_CHECK_INTERVAL=0).test_client()
    before = client.get("/")
    assert client.get("/", headers={"If-None-Match": before.headers["ETag"]}).status_code == 304
    edited = yaml.safe_load(RULES_PATH.read_text(encoding="utf-8"))
    last = edited["questions"][-1]
    last["text"] = new = " ".join(last["text"].split()) + " (edited)"
    rules.write_text(yaml.safe_dump(edited, sort_keys=False, allow_unicode=True), encoding="utf-8")
    later = rules.stat().st_mtime_ns + 1_000_000_000  # a whole second later, whatever the file system's clock
    os.utime(rules, ns=(later, later))
    client.application.extensions["dockwise"].refresh()  # the watcher's look: requests never read the file
    after = client.get("/", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert after.headers["ETag"] != before.headers["ETag"]
    assert page(after).find("fieldset", id=f"q-{last['id']}").find("legend").text == new
    assert client.get("/", headers={"If-None-Match": after.headers["ETag"]}).status_code == 304


def test_the_blank_questionnaire_under_a_script_root_links_there(client):
    # Kept once per (rules version, script root): a page rendered for one mount point is never served for another.
    root = client.get("/")
    mounted = client.get("/", environ_overrides={"SCRIPT_NAME": "/dockwise"})
    assert mounted.status_code == 200
    assert parse(mounted.get_data(as_text=True)).find("form", cls="questionnaire").attrs["action"] == \
        "/dockwise/results"
    assert mounted.headers["ETag"] != root.headers["ETag"]
    assert client.get("/", headers={"If-None-Match": root.headers["ETag"]}).status_code == 304


@pytest.mark.parametrize(("query", "answers"), [
    pytest.param("services=few&hosts=one", {"services": "few", "hosts": "one"}, id="two answers"),
    pytest.param("hosts=one&services=few", {"services": "few", "hosts": "one"}, id="any order"),
    pytest.param("managed=unavailable&team_size=large&rules=deadbeef&utm_source=x",
                 {"managed": "unavailable", "team_size": "large"}, id="rules and tracking tags ignored"),
    pytest.param("services=lots&hosts=", {"services": "lots"}, id="empty is not sure"),
    pytest.param(canonical(SCENARIOS["fully answered"]), SCENARIOS["fully answered"], id="fully answered"),
])
def test_questionnaire_is_prefilled_from_the_query(client, query, answers):
    response = client.get("/?" + query)
    doc = page(response)
    assert_no_cookie(response)
    assert_checked(doc, answers)
    assert not doc.find_all("fieldset", cls="invalid")
    # Pressing "Recommend" unchanged shows the results of those answers.
    result = page(submit(client, doc, {}))
    assert result.find("input", id="share-link").attrs["value"] == "http://localhost/results?" + canonical(answers)


def test_the_questionnaire_form_uses_no_deprecated_api(make_app):
    # Under `pytest -W error` a deprecation would turn every form page into a 500, so none may be raised at all.
    client = make_app().test_client()  # a fresh app: its blank questionnaire is rendered here
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client.get("/")
        client.get("/?services=few")
        client.get("/?services=bad")
        client.post("/", data={"services": "few"})
        client.post("/", data={"services": "bad"})
        client.get("/results?services=bad")
    assert [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)] == []


def test_posting_the_questionnaire_in_question_order_redirects_to_the_results(client):
    answers = {"services": "few", "hosts": "one"}
    response = client.post("/", data={q: answers.get(q, "") for q in QUESTION_ORDER})
    assert response.status_code == 303
    assert response.headers["Location"] == "/results?" + canonical(answers)


@pytest.mark.parametrize("answers", ANSWERED_PARAMS)
def test_posting_answers_redirects_to_the_canonical_results_link(client, answers):
    # Posted in reverse questionnaire order, with "Not sure" for the rest and a stray field.
    posted = {q: answers.get(q, "") for q in reversed(QUESTION_ORDER)} | {"utm_source": "x"}
    response = client.post("/", data=posted)
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == "/results"
    assert location.query == canonical(answers)
    result = page(client.get(response.headers["Location"]))
    assert result.find("h1", id="answer-title").text == OPTION_LABELS[document_for(answers)["recommendation"]]


def test_posting_only_some_questions_counts_the_rest_as_not_sure(client):
    response = client.post("/", data={"tenants": "many"})
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).query == canonical({"tenants": "many"})


@pytest.mark.parametrize("bad", [
    pytest.param({"services": "several"}, id="first question"),
    pytest.param({"managed": "maybe"}, id="last question"),
    pytest.param({"services": "x", "tenants": "<script>alert(1)</script>"}, id="two questions"),
])
def test_posting_an_unknown_choice_shows_the_error_beside_it_and_keeps_the_other_answers(csrf_client, bad):
    # An old page posting with CSRF on, as in production: the answers are read, not the (missing) token.
    kept = {"hosts": "few", "traffic": "spiky", "expertise": "docker", "managed": "available"}
    kept = {q: c for q, c in kept.items() if q not in bad}
    response = csrf_client.post("/", data=dict.fromkeys(QUESTION_ORDER, "") | kept | bad)
    doc = page(response, 400)
    assert_layout(doc)
    assert_no_cookie(response)
    assert doc.find("h1").text == "Please check your answers"
    items = alert_items(doc)
    shown = flagged(doc)
    assert set(shown) == set(bad)
    assert sorted(shown.values()) == sorted(items)  # the same message beside the field as in the list
    for question, value in bad.items():
        assert f"'{question}'" in shown[question]
        assert f"'{value}'" in shown[question]
    # The other answers stay checked; a bad one is not passed off as a choice: "Not sure" is checked instead.
    assert_checked(doc, kept)
    assert_no_inline_code(doc)  # the posted value is text on the page, never markup
    # The corrected form is the GET form: pressing "Recommend" after fixing the answers shows the results.
    fixed = {question: CHOICES[question][0] for question in bad}
    result = page(submit(csrf_client, doc, fixed))
    assert result.find("input", id="share-link").attrs["value"] == \
        "http://localhost/results?" + canonical(kept | fixed)


def _old_page_token_without_its_session(client, monkeypatch):
    token = csrf_token_of(page(client.get(PROTECTED)))
    client.delete_cookie("session")
    assert client.get_cookie("session") is None
    return {"csrf_token": token}


OLD_PAGE_POSTS = [
    # (the old page's extra fields, made with the client and monkeypatch; request keyword arguments)
    pytest.param(lambda client, monkeypatch: {}, {}, id="no csrf_token field"),
    pytest.param(lambda client, monkeypatch: {"csrf_token": "ImZyb20tYW4tb2xkLXBhZ2Ui.expired"}, {},
                 id="a token that no longer verifies"),
    pytest.param(_old_page_token_without_its_session, {}, id="a real token, its session cookie gone"),
    pytest.param(lambda client, monkeypatch: {"csrf_token": _expired_token(client, monkeypatch, 30 * 24 * 3600)},
                 {}, id="a token a month old"),
    pytest.param(lambda client, monkeypatch: {}, {"base_url": "https://localhost"}, id="over https, no referer"),
]


@pytest.mark.parametrize(("extra", "kwargs"), OLD_PAGE_POSTS)
def test_a_page_opened_before_the_change_still_lands_on_its_results(csrf_client, monkeypatch, extra, kwargs):
    # CSRF is on; the old questionnaire's POST is exempt because it changes nothing, so its token does not matter.
    fields = {q: POSTED.get(q, "") for q in QUESTION_ORDER} | extra(csrf_client, monkeypatch)
    response = csrf_client.post("/", data=fields, **kwargs)
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert (location.path, location.query) == ("/results", canonical(POSTED))
    assert_no_cookie(response)


def link_pairs(ruleset):
    """Random (name, value) pairs as a link or a posted form carries them: a few questions often (so duplicates are
    common), any question, `rules`, tracking tags, a wrong-case name; values that are choices of this or another
    question, empty, nearly a choice, or anything."""
    names = [question.id for question in ruleset.questions]
    choices = sorted({choice.id for question in ruleset.questions for choice in question.choices})
    name = st.sampled_from(names[:3]) | st.sampled_from([*names, "rules", "utm_source", "csrf_token", names[0].upper()])
    value = (st.sampled_from(["", *choices, choices[0].upper(), f" {choices[0]}", f"{choices[0]}x"])
             | st.text(max_size=3))
    return st.lists(st.tuples(name, value), max_size=8)


@pytest.mark.parametrize("ruleset", [SHIPPED_RULES, NEEDS_RULES], ids=["shipped", "needs"])
@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate, Phase.shrink])  # the explain phase trips over st.data()
@given(data=st.data())
def test_the_form_and_the_core_agree_on_every_query(ruleset, data):
    # The page's questionnaire (WTForms) and the share link's reader (the core) must never disagree: the same
    # questions flagged with the same message, and the same answers kept ("Not sure" for a flagged question).
    pairs = data.draw(link_pairs(ruleset), label="pairs")
    link = answers_from_pairs(ruleset, pairs)
    form = questionnaire_form(ruleset, MultiDict(pairs))
    assert form.errors == {issue.question: [issue.message] for issue in link.issues}
    assert form.data == {question.id: link.answers.get(question.id, "") for question in ruleset.questions}


# --- the results page -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("answers", ANSWERED_PARAMS)
def test_results_page_shows_the_recommendation_scores_drivers_table_and_answers(client, answers):
    expected = document_for(answers)
    doc = page(client.get("/results?" + canonical(answers)))
    assert_layout(doc)
    label = OPTION_LABELS[expected["recommendation"]]

    # The headline: recommendation and closeness.
    answer = doc.find("section", id="answer")
    assert answer.find("h1").text == label
    assert doc.find("title").text == f"{label} recommended — Dockwise"
    closeness = answer.find("p", cls="closeness").text
    assert closeness.startswith(CLOSENESS_TEXT[expected["closeness"]])
    if expected["closeness"] in ("tie", "close") and expected["runner_up"]:
        assert OPTION_LABELS[expected["runner_up"]] in closeness
    if expected["why"]:
        assert answer.find("p", cls="why").text == " ".join(expected["why"].split())
    assert [p.text for p in answer.find_all("p", cls="note")] == expected["notes"]

    # Every option's score, best first; the winner and ruled-out options marked.
    rows = doc.find("ul", cls="bars").find_all("li")
    assert len(rows) == len(OPTION_ORDER)
    for row, entry in zip(rows, expected["ranking"], strict=True):
        assert row.find("span", cls="bar-label").text.startswith(OPTION_LABELS[entry["option"]])
        assert row.find("span", cls="bar-value").text == f"{entry['score']:g} points"
        assert ("winner" in row.classes) == (entry["option"] == expected["recommendation"])
        assert ("excluded" in row.classes) == bool(entry["excluded"])

    # Drivers (h3) and rows against (h4), with their reasons.
    drivers = doc.find("section", attrs={"aria-labelledby": "drivers-title"})
    for heading, rows_expected in (("h3", expected["drivers"]), ("h4", expected["against"])):
        articles = [a for a in drivers.find_all("article", cls="driver") if a.find_all(heading)]
        assert len(articles) == len(rows_expected)
        for article, row in zip(articles, rows_expected, strict=True):
            title = article.find(heading).text
            assert title.startswith(row["label"])
            assert f"{row['lead']:+g} to the lead" in title
            reasons = [li.text for li in article.find("ul").find_all("li")]
            assert reasons == [" ".join(r.split()) for r in row["reasons"]]

    # The full comparison table, the winner's column and the driving rows marked.
    table = doc.find("table", cls="comparison")
    head = table.find("thead").find_all("th")
    assert [th.text for th in head] == ["Row"] + [
        OPTION_LABELS[o] + (" recommended" if o == expected["recommendation"] else "") for o in OPTION_ORDER]
    body = table.find("tbody").find_all("tr")
    assert len(body) == len(CRITERIA)
    driving = {row["criterion"] for row in expected["drivers"]}
    for tr, criterion in zip(body, CRITERIA, strict=True):
        assert tr.find("th").text.removesuffix(" drove it") == criterion["label"]
        assert ("driving" in tr.classes) == (criterion["id"] in driving)
        assert [td.text for td in tr.find_all("td")] == [" ".join(criterion["texts"].get(o, "—").split())
                                                         for o in OPTION_ORDER]

    # The answers, every question in order, "Not sure" for the rest.
    dl = doc.find("dl", cls="answers")
    assert [dt.text for dt in dl.find_all("dt")] == [QUESTION_TEXT[q] for q in QUESTION_ORDER]
    assert [dd.text for dd in dl.find_all("dd")] == [
        CHOICE_LABELS[(q, answers[q])] if q in answers else "Not sure" for q in QUESTION_ORDER]

    # Rules version in the footer.
    assert FINGERPRINT in doc.find("footer").text


@pytest.mark.parametrize("answers", ANSWERED_PARAMS)
def test_results_page_links_change_record_json_and_share_url(client, answers):
    doc = page(client.get("/results?" + canonical(answers)))
    share = "http://localhost/results?" + canonical(answers)
    assert doc.find("link", rel="canonical").attrs["href"] == share
    field = doc.find("input", id="share-link")
    assert field.attrs["value"] == share
    assert "readonly" in field.attrs
    assert doc.find("p", cls="print-url").text == f"Share link: {share}"

    actions = {a.text: a.attrs["href"] for a in doc.find("p", cls="actions").find_all("a")}
    assert actions["Download decision record"] == "/results.md?" + canonical(answers)
    assert actions["JSON"] == "/api/recommendations?" + canonical(answers)
    change = urlsplit(actions["Change answers"])
    assert change.path == "/"
    assert parse_qsl(change.query) == parse_qsl(canonical(answers, with_rules=False))
    assert doc.find("a", cls="button").attrs["href"] == actions["Change answers"]

    change_page = page(client.get(actions["Change answers"]))
    assert_checked(change_page, answers)
    assert page(submit(client, change_page, {})).find("input", id="share-link").attrs["value"] == share
    record = client.get(actions["Download decision record"])
    assert record.status_code == 200
    assert record.mimetype == "text/markdown"
    api = client.get(actions["JSON"])
    assert api.status_code == 200
    assert api.get_json()["recommendation"] == document_for(answers)["recommendation"]


WHAT_IF_PARAMS = [param for param in ANSWERED_PARAMS if document_for(param.values[0])["what_if"]]


@pytest.mark.parametrize("answers", WHAT_IF_PARAMS)
def test_what_would_change_it_links_are_canonical_and_show_what_they_promise(client, answers):
    expected = document_for(answers)
    current = OPTION_ORDER.index(expected["recommendation"])
    doc = page(client.get("/results?" + canonical(answers)))
    section = doc.find("section", attrs={"aria-labelledby": "change-title"})
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for heading in section.find_all("h3"):
        if heading.text.startswith("Revisit this when"):
            direction = "heavier"
        elif heading.text.startswith("You could simplify if"):
            direction = "lighter"
        else:
            continue
        listing = heading.next_element()
        assert listing.tag == "ul"
        for item in listing.find_all("li"):
            promised = item.text.rpartition(" → ")[2]
            assert promised in OPTION_LABELS.values()
            # "Revisit" leads to a heavier option than today's, "simplify" to a lighter one.
            moved = next(o for o in OPTION_ORDER if OPTION_LABELS[o] == promised)
            assert (OPTION_ORDER.index(moved) > current) == (direction == "heavier")
            for link in item.find_all("a"):
                target, _, fragment = link.attrs["href"].partition("#")
                assert fragment == "answer"
                url = urlsplit(target)
                assert url.path == "/results"
                changed = {q: c for q, c in parse_qsl(url.query) if q != "rules"}
                assert url.query == canonical(changed)
                difference = {q: c for q, c in changed.items() if answers.get(q) != c}
                assert len(difference) == 1
                assert set(changed) == set(answers) | set(difference)
                (question, choice), = difference.items()
                assert link.text == CHOICE_LABELS[(question, choice)]
                assert item.text.startswith(f"the answer to “{QUESTION_TEXT[question]}” is ")
                found[(question, choice)] = (direction, promised)
                target_page = page(client.get(target))
                assert target_page.find("h1", id="answer-title").text == promised
    assert found == {(w["question"], w["choice"]): (w["direction"], OPTION_LABELS[w["recommendation"]])
                     for w in expected["what_if"]}


NO_CHANGE_PARAMS = [param for param in ANSWERED_PARAMS if not document_for(param.values[0])["what_if"]]


@pytest.mark.parametrize("answers", NO_CHANGE_PARAMS)
def test_results_without_any_change_say_so(client, answers):
    section = page(client.get("/results?" + canonical(answers))).find(
        "section", attrs={"aria-labelledby": "change-title"})
    assert "No single changed answer would change this recommendation." in section.text
    assert not section.find_all("ul", cls="changes")


@pytest.mark.parametrize("answers", ANSWERED_PARAMS)
def test_unanswered_questions_that_could_change_it_link_to_the_questionnaire(client, answers):
    expected = document_for(answers)
    doc = page(client.get("/results?" + canonical(answers)))
    section = doc.find("section", attrs={"aria-labelledby": "change-title"})
    links = [a for a in section.find_all("a") if "#q-" in a.attrs["href"]]
    assert [a.attrs["href"].rpartition("#q-")[2] for a in links] == expected["unanswered_could_change"]
    for link in links:
        target, _, fragment = link.attrs["href"].partition("#")
        assert link.text == QUESTION_TEXT[fragment.removeprefix("q-")]
        questionnaire = page(client.get(target))
        questionnaire.find("fieldset", id=fragment)
        assert_checked(questionnaire, answers)


# --- unmet needs, open questions, nothing answered (tests/data/needs.yaml; see tests/test_outlook.py for the sums) ---

SPIKY_DOCKER = NEEDS_UNMET[("traffic", "spiky")]["docker"]
SPIKY_COMPOSE = NEEDS_UNMET[("traffic", "spiky")]["compose"]
MANY_DOCKER = NEEDS_UNMET[("hosts", "many")]["docker"]


@pytest.fixture(scope="module")
def needs_app(tmp_path_factory):
    return build_app(tmp_path_factory.mktemp("instance"), RULES_PATH=str(NEEDS_PATH))


@pytest.fixture
def needs_client(needs_app):
    return needs_app.test_client()


def needs_query(answers: dict[str, str]) -> str:
    return "&".join([f"{q['id']}={answers[q['id']]}" for q in NEEDS["questions"] if q["id"] in answers]
                    + [f"rules={NEEDS_RULES.fingerprint}"])


NEEDS_PAGES = [
    # (answers, recommended label, closeness, its unmet needs, {option: its needs}, open sentence, linked question)
    pytest.param({"hosts": "one", "team": "small", "traffic": "spiky"}, "Docker alone", "unmet", [SPIKY_DOCKER],
                 {"Docker alone": [SPIKY_DOCKER], "Docker Compose / Swarm": [SPIKY_COMPOSE]}, None, None,
                 id="clear lead, need unmet"),
    pytest.param({"hosts": "one"}, "Docker alone", "open", [], {},
                 "Docker alone wins in 33 % of the ways your 2 open questions could be answered; the one that "
                 "matters most: How many engineers run it?", "team", id="two open questions against it"),
    pytest.param({"hosts": "one", "traffic": "spiky"}, "Docker alone", "open", [SPIKY_DOCKER],
                 {"Docker alone": [SPIKY_DOCKER], "Docker Compose / Swarm": [SPIKY_COMPOSE]},
                 "Docker alone wins in 33 % of the ways your open question could be answered: How many engineers "
                 "run it?", "team", id="one open question, need unmet"),
    pytest.param({"hosts": "many"}, "Kubernetes", "clear", [], {"Docker alone": [MANY_DOCKER]},
                 "Kubernetes wins in every way your 2 open questions could be answered.", None,
                 id="clear, another option's need unmet"),
]


@pytest.mark.parametrize(("answers", "label", "closeness", "unmet", "others", "sentence", "linked"), NEEDS_PAGES)
def test_results_page_says_unmet_needs_and_what_open_questions_could_change(needs_client, answers, label, closeness,
                                                                            unmet, others, sentence, linked):
    doc = page(needs_client.get("/results?" + needs_query(answers)))
    answer = doc.find("section", id="answer")
    assert answer.find("h1").text == label
    assert answer.find("p", cls="closeness").text == CLOSENESS_TEXT[closeness]
    # Right under the closeness line, one item per need the recommendation leaves unmet.
    listed = answer.find_all("ul", cls="unmet")
    assert [li.text for ul in listed for li in ul.find_all("li")] == [f"Leaves unmet — {text}" for text in unmet]
    if unmet:
        assert answer.find("p", cls="closeness").next_element() is listed[0]
    outlook = answer.find_all("p", cls="open-outlook")
    assert [p.text for p in outlook] == ([sentence] if sentence else [])
    links = [a for p in outlook for a in p.find_all("a")]
    if linked:
        assert [a.text for a in links] == [NEEDS_QUESTION_TEXT[linked]]
        target, _, fragment = links[0].attrs["href"].partition("#")
        assert fragment == f"q-{linked}"
        questionnaire = page(needs_client.get(target))
        questionnaire.find("fieldset", id=fragment)
        assert {q: v for q, v in checked(questionnaire).items() if v != [""]} == {q: [c] for q, c in answers.items()}
    else:
        assert not links
    # Every option's unmet needs, in "How close it is".
    scores = doc.find("section", attrs={"aria-labelledby": "scores-title"})
    by_option = scores.find_all("ul", cls="unmet-by-option")
    shown = {li.find("strong").text: [item.text for item in li.find("ul").find_all("li")]
             for ul in by_option for li in ul.children if not isinstance(li, str)}
    assert shown == others
    assert ("Needs each option leaves unmet" in scores.text) == bool(others)


@pytest.mark.parametrize("which", ["shipped", "needs"])
@pytest.mark.parametrize("query", ["", "?rules=deadbeef", "?utm_source=x", "?hosts="])
def test_results_without_answers_ask_for_them(client, needs_client, which, query):
    response = (client if which == "shipped" else needs_client).get("/results" + query)
    doc = page(response)
    assert_layout(doc)
    assert doc.find("h1").text == "Answer a few questions first"
    assert doc.find("title").text == "Answer a few questions first — Dockwise"
    notice = doc.find("div", id="no-answers")
    assert notice.attrs["role"] == "status"
    assert "nothing to recommend" in notice.text
    # No option is presented as the recommendation: no answer card, no "recommends", the questionnaire instead.
    assert not doc.find_all("section", id="answer")
    assert "recommends" not in doc.find("main").text
    questionnaire_form_of(doc)
    assert checked(doc)
    assert all(values == [""] for values in checked(doc).values())  # "Not sure" everywhere
    assert not flagged(doc)


def test_decision_record_lists_unmet_needs_as_cons_and_the_open_outlook(needs_client):
    answers = {"hosts": "one", "traffic": "spiky"}
    text = needs_client.get("/results.md?" + needs_query(answers)).get_data(as_text=True)
    lines = text.splitlines()
    considered = lines[lines.index("## Considered Options") + 2:lines.index("## Decision Outcome") - 1]
    assert considered == [
        "* Docker alone — score 3",
        f"  * Bad, because it leaves unmet: {SPIKY_DOCKER}",
        "* Docker Compose / Swarm — score 1.5",
        f"  * Bad, because it leaves unmet: {SPIKY_COMPOSE}",
        "* Kubernetes — score 0",
    ]
    outcome = "\n".join(lines[lines.index("## Decision Outcome"):lines.index("### Consequences")])
    assert f'Chosen option: "Docker alone" ({CLOSENESS_TEXT["open"][:-1].lower()}).' in outcome
    assert f"* Leaves unmet — {SPIKY_DOCKER}" in outcome
    assert ("Docker alone wins in 33 % of the ways your open question could be answered: How many engineers "
            "run it?") in outcome


def test_decision_record_without_answers_chooses_nothing(needs_client):
    text = needs_client.get("/results.md").get_data(as_text=True)
    assert text.startswith("# How to run our containers: no answers yet\n")
    assert "Chosen option" not in text
    assert "No option chosen yet" in text
    assert "Over every way to answer all 3 questions: Docker alone wins in 17 %, Docker Compose / Swarm wins in " \
           "0 %, Kubernetes wins in 83 %." in text


@pytest.mark.parametrize("answers", [{}, {"hosts": "one"}, {"hosts": "one", "traffic": "spiky", "team": "small"}])
def test_api_carries_unmet_needs_and_open_shares(needs_client, answers):
    expected = json.loads(json.dumps(explain(evaluate(NEEDS_RULES, answers)).as_json()))
    fetched = needs_client.get("/api/recommendations?" + needs_query(answers)).get_json()
    posted = needs_client.post("/api/recommendations", json={"answers": answers}).get_json()
    for body in (fetched, posted):
        assert body["unmet_needs"] == expected["unmet_needs"]
        assert list(body["unmet_needs"]) == list(NEEDS_LABELS)
        assert body["open"] == expected["open"]
        assert list(body["open"]["wins"]) == list(NEEDS_LABELS)
        assert sum(body["open"]["wins"].values()) == pytest.approx(1.0)
        assert body["closeness"] == expected["closeness"]
    assert fetched["closeness"] == {0: "unanswered", 1: "open", 3: "unmet"}[len(answers)]


@pytest.mark.parametrize(("suffix", "stale"), [
    pytest.param("&rules=deadbeef", True, id="other rules"),
    pytest.param(f"&rules={FINGERPRINT}", False, id="current rules"),
    pytest.param("", False, id="no rules parameter"),
])
def test_a_link_made_under_other_rules_says_the_rules_changed(client, suffix, stale):
    answers = {"services": "few", "hosts": "one"}
    doc = page(client.get("/results?" + canonical(answers, with_rules=False) + suffix, follow_redirects=True))
    notices = [n for n in doc.find_all("div", cls="notice") if "rules have changed" in n.text]
    assert len(notices) == (1 if stale else 0)
    # Either way the result uses today's rules and the share link names them.
    assert doc.find("h1", id="answer-title").text == OPTION_LABELS[document_for(answers)["recommendation"]]
    assert doc.find("input", id="share-link").attrs["value"].endswith(f"rules={FINGERPRINT}")


INVALID_LINKS = [
    # (query, {bad question: words its message must contain}, the valid answers the questionnaire keeps)
    pytest.param("services=several&hosts=one", {"services": ["several"]}, {"hosts": "one"}, id="unknown choice"),
    pytest.param("services=few&hosts=one&services=many", {"services": ["few", "many"]}, {"hosts": "one"},
                 id="twice with different values"),
    pytest.param("services=x&hosts=y&traffic=spiky&rules=deadbeef", {"services": ["x"], "hosts": ["y"]},
                 {"traffic": "spiky"}, id="two bad questions"),
    pytest.param("managed=Available&tenants=one&utm_source=x", {"managed": ["Available", "available"]},
                 {"tenants": "one"}, id="wrong case with a hint"),
    pytest.param("services=few&hosts=bogus", {"hosts": ["bogus"]}, {"services": "few"},
                 id="unknown choice after a good answer"),
    pytest.param("services=x&services=few&hosts=one", {"services": ["x"]}, {"hosts": "one"},
                 id="unknown choice, then a good one for the same question"),
]


@pytest.mark.parametrize("path", ["/results", "/results.md"])
@pytest.mark.parametrize(("query", "bad", "valid"), INVALID_LINKS)
def test_an_invalid_link_names_each_bad_parameter_and_offers_the_prefilled_questionnaire(client, path, query, bad,
                                                                                          valid):
    doc = page(client.get(f"{path}?{query}"), 400)
    assert_layout(doc)
    items = alert_items(doc)
    assert len(items) == len(bad)
    for question, words in bad.items():
        assert any(f"'{question}'" in item and all(f"'{w}'" in item for w in words) for item in items), items
    shown = flagged(doc)
    assert set(shown) == set(bad)
    assert sorted(shown.values()) == sorted(items)  # the same message beside the field as in the list
    questionnaire_form_of(doc)
    assert_checked(doc, valid)


@pytest.mark.parametrize(("query", "bad", "valid"), INVALID_LINKS)
def test_change_answers_with_bad_answers_shows_the_questionnaire_with_them_flagged(client, query, bad, valid):
    response = client.get(f"/?{query}")
    doc = page(response)
    assert_no_cookie(response)
    questionnaire_form_of(doc)
    shown = flagged(doc)
    assert set(shown) == set(bad)
    for question, words in bad.items():
        assert f"'{question}'" in shown[question]
        assert all(f"'{w}'" in shown[question] for w in words)
    assert_checked(doc, valid)


@pytest.mark.parametrize("path", ["/results", "/results.md"])
def test_an_over_long_link_is_refused_with_the_questionnaire(client, path):
    query = canonical({"services": "few"}) + "&utm_source=" + "x" * MAX_QUERY
    doc = page(client.get(f"{path}?{query}"), 400)
    assert any(str(MAX_QUERY) in item for item in alert_items(doc))
    questionnaire_form_of(doc)


def test_an_over_long_link_still_offers_the_valid_answers_it_carries(client):
    # A mail client or tracker can make a good link too long; the answers in it should not be thrown away.
    answers = {"services": "few", "hosts": "one"}
    doc = page(client.get("/results?" + canonical(answers) + "&utm_source=" + "x" * MAX_QUERY), 400)
    assert_checked(doc, answers)


@pytest.mark.parametrize(("length", "status"), [(MAX_QUERY, 200), (MAX_QUERY + 1, 400)])
def test_the_link_length_limit_is_2048_bytes(client, length, status):
    query = canonical({"services": "few"}) + "&utm_source="
    query += "x" * (length - len(query))
    assert len(query) == length
    assert client.get("/results?" + query, follow_redirects=True).status_code == status


@pytest.mark.parametrize(("query", "answers"), [
    pytest.param("utm_source=x&services=few", {"services": "few"}, id="tracking tag"),
    pytest.param("services=few&fbclid=abc&hosts=one&ref=mail", {"services": "few", "hosts": "one"}, id="several tags"),
    pytest.param("services=few&services=few", {"services": "few"}, id="same value twice"),
    pytest.param("hosts=one&services=few", {"services": "few", "hosts": "one"}, id="any order"),
    pytest.param("services=few&hosts=", {"services": "few"}, id="empty value"),
])
def test_harmless_link_variations_show_the_result_with_a_canonical_share_link(client, query, answers):
    doc = page(client.get("/results?" + query, follow_redirects=True))
    assert doc.find("h1", id="answer-title").text == OPTION_LABELS[document_for(answers)["recommendation"]]
    assert doc.find("input", id="share-link").attrs["value"] == "http://localhost/results?" + canonical(answers)


# --- the decision record --------------------------------------------------------------------------------------------

MADR_HEADINGS = ["## Context and Problem Statement", "## Decision Drivers", "## Considered Options",
                 "## Decision Outcome", "### Consequences"]


@pytest.mark.parametrize("answers", SCENARIO_PARAMS)
def test_decision_record_is_a_madr_markdown_download(client, answers):
    expected = document_for(answers)
    response = client.get("/results.md?" + canonical(answers))
    assert response.status_code == 200
    assert response.mimetype == "text/markdown"
    assert response.headers["Content-Disposition"] == \
        f'attachment; filename="dockwise-{expected["recommendation"] if answers else "no-answers"}.md"'
    lines = response.get_data(as_text=True).splitlines()
    label = OPTION_LABELS[expected["recommendation"]]
    assert lines[0].startswith("# ")
    assert (label in lines[0]) == bool(answers)
    headings = [line for line in lines if line.startswith(("## ", "### "))]
    assert [h for h in headings if h in MADR_HEADINGS] == MADR_HEADINGS

    def section(title: str) -> list[str]:
        start = lines.index(title) + 1
        end = next((i for i in range(start, len(lines)) if lines[i].startswith("#")), len(lines))
        return lines[start:end]

    context = section("## Context and Problem Statement")
    for question, choice in answers.items():
        assert f"* {QUESTION_TEXT[question]} **{CHOICE_LABELS[(question, choice)]}**" in context
    drivers = "\n".join(section("## Decision Drivers"))
    for row in expected["drivers"] + expected["against"]:
        assert f"**{row['label']}**" in drivers
    options = [line for line in section("## Considered Options") if line.startswith("* ")]
    assert [line.partition(" — ruled out")[0] for line in options] == [
        f"* {OPTION_LABELS[e['option']]} — score {e['score']:g}" for e in expected["ranking"]]
    assert (f'Chosen option: "{label}"' in "\n".join(section("## Decision Outcome"))) == bool(answers)
    consequences = section("### Consequences")
    # With nothing answered there is no recommendation to change: the record asks for answers instead.
    directions = {w["direction"] for w in expected["what_if"]} if answers else set()
    assert ("Revisit this when:" in consequences) == ("heavier" in directions)
    assert ("You could simplify if:" in consequences) == ("lighter" in directions)
    assert f"http://localhost/results?{canonical(answers)}" in response.get_data(as_text=True)


# --- how Dockwise decides, health -----------------------------------------------------------------------------------

def test_rules_page_shows_criteria_weights_questions_and_rules_by_row(client):
    doc = page(client.get("/rules"))
    assert_layout(doc)
    main = doc.find("main")
    assert main.find("h1").text == "How Dockwise decides"
    assert FINGERPRINT in main.text
    rules_of = {c["id"]: [r for r in SHIPPED["rules"] if r["criterion"] == c["id"]] for c in CRITERIA}

    weights_table = next(t for t in main.find_all("table")
                         if [th.text for th in t.find("thead").find_all("th")] == ["Row", "Weight", "Rules"])
    weights = weights_table.find("tbody").find_all("tr")
    assert [(tr.find("th").text, *(td.text for td in tr.find_all("td"))) for tr in weights] == [
        (c["label"], f"{c['weight']:g}", str(len(rules_of[c["id"]]))) for c in CRITERIA]

    questions = [li for li in main.find("ol").children if isinstance(li, Node) and li.tag == "li"]
    assert len(questions) == len(QUESTIONS)
    for item, question in zip(questions, QUESTIONS, strict=True):
        assert item.find("strong").text == question["text"]
        assert [code.text for code in item.find_all("code")] == [question["id"], *CHOICES[question["id"]]]

    for criterion in CRITERIA:
        row = main.find("section", attrs={"aria-labelledby": f"row-{criterion['id']}"})
        title = row.find("h3", id=f"row-{criterion['id']}").text
        assert title == f"{criterion['label']} weight {criterion['weight']:g}"
        items = row.find_all("li")
        because = [" ".join(r["because"].split()) for r in rules_of[criterion["id"]]]
        assert [li.find("p").text for li in items] == because
        assert [li.find("code").text for li in items] == [r["id"] for r in rules_of[criterion["id"]]]


def test_healthz_reports_the_rules(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    health = response.get_json()
    assert set(health) == {"status", "rules_fingerprint", "rules_loaded_at", "rules_error", "rules_errors_omitted",
                           "rules_file_sha256"}
    assert health["status"] == "ok"
    assert health["rules_fingerprint"] == FINGERPRINT
    assert health["rules_error"] is None
    assert health["rules_errors_omitted"] == 0
    loaded = datetime.fromisoformat(health["rules_loaded_at"])
    assert loaded.tzinfo is not None
    assert abs(time.time() - loaded.timestamp()) < 600


# --- error pages ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/nope", "/results/", "/rules/criteria", "/static/nope.css", "/index.html",
                                  "/api"])
def test_unknown_page_is_a_404_in_the_site_layout_with_a_way_back(client, path):
    doc = page(client.get(path), 404)
    assert_layout(doc)
    main = doc.find("main")
    assert main.find("h1").text == "Not Found"
    assert doc.find("title").text == "404 Not Found — Dockwise"
    assert "/" in {a.attrs["href"] for a in main.find_all("a")}


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("DELETE", "/", {"GET", "HEAD", "OPTIONS", "POST"}),
    ("PUT", "/", {"GET", "HEAD", "OPTIONS", "POST"}),
    ("POST", "/results", {"GET", "HEAD", "OPTIONS"}),
    ("DELETE", "/results.md", {"GET", "HEAD", "OPTIONS"}),
    ("POST", "/rules", {"GET", "HEAD", "OPTIONS"}),
    ("POST", "/healthz", {"GET", "HEAD", "OPTIONS"}),
])
def test_wrong_method_is_a_405_page_with_allow(client, method, path, allowed):
    response = client.open(path, method=method)
    doc = page(response, 405)
    assert_layout(doc)
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allowed
    assert doc.find("main").find("h1").text == "Method Not Allowed"
    assert "GET" in doc.find("main").text


@pytest.mark.parametrize("path", ["/", PROTECTED], ids=["old questionnaire", "protected form"])
@pytest.mark.parametrize("csrf", [False, True], ids=["csrf off", "csrf on"])
def test_a_form_post_over_16_kib_is_a_413_page(make_app, csrf, path):
    client = make_app(WTF_CSRF_ENABLED=csrf).test_client()
    client.get(path)
    doc = page(client.post(path, data={"services": "few", "padding": "x" * MAX_BODY}), 413)
    assert_layout(doc)
    assert doc.find("main").find("h1").text == "Request Entity Too Large"
    assert "16 KiB" in doc.find("main").text


@pytest.mark.parametrize(("size", "status"), [(MAX_BODY, 303), (MAX_BODY + 1, 413)])
def test_the_body_limit_is_16_kib(client, size, status):
    body = "services=few&padding="
    body += "x" * (size - len(body))
    response = client.post("/", data=body.encode(), content_type="application/x-www-form-urlencoded")
    assert response.status_code == status


def test_an_unexpected_error_is_a_500_page_without_details(client, caplog):
    response = client.get("/boom")
    doc = page(response, 500)
    assert_layout(doc)
    assert doc.find("main").find("h1").text == "Internal Server Error"
    assert doc.find("title").text == "500 Internal Server Error — Dockwise"
    assert "try again" in doc.find("main").text
    body = response.get_data(as_text=True)
    for leak in LEAKS:
        assert leak not in body
    # The details go to the log instead.
    logged = [r for r in caplog.records if r.name == "dockwise.web" and "/boom" in r.getMessage()]
    assert len(logged) == 1
    assert logged[0].exc_info is not None


# --- security headers, leaks and inline code, on every kind of response ---------------------------------------------

RESPONSES = [
    # (id, app kind, method, path, request keyword arguments, status)
    ("questionnaire", "plain", "GET", "/", {}, 200),
    ("prefilled", "plain", "GET", "/?services=few&hosts=one", {}, 200),
    ("results", "plain", "GET", "/results?" + canonical(SCENARIOS["fully answered"]), {}, 200),
    ("stale results", "plain", "GET", "/results?services=one&rules=deadbeef", {}, 200),
    ("decision record", "plain", "GET", "/results.md?services=few", {}, 200),
    ("rules", "plain", "GET", "/rules", {}, 200),
    ("healthz", "plain", "GET", "/healthz", {}, 200),
    ("stylesheet", "plain", "GET", "/static/style.css", {}, 200),
    ("script", "plain", "GET", "/static/copy.js", {}, 200),
    ("favicon", "plain", "GET", "/favicon.ico", {}, 301),
    ("post", "plain", "POST", "/", {"data": {"services": "few"}}, 303),
    ("post invalid", "plain", "POST", "/", {"data": {"services": "bad"}}, 400),
    ("invalid link", "plain", "GET", "/results?services=bad", {}, 400),
    ("not found", "plain", "GET", "/nope", {}, 404),
    ("method", "plain", "DELETE", "/", {}, 405),
    ("too large", "plain", "POST", "/", {"data": {"padding": "x" * MAX_BODY}}, 413),
    ("error", "plain", "GET", "/boom", {}, 500),
    ("csrf failure", "csrf", "POST", PROTECTED, {"data": {"note": "ship it"}}, 400),
    ("csrf protected form", "csrf", "GET", PROTECTED, {}, 200),
    ("csrf questionnaire", "csrf", "GET", "/", {}, 200),
    ("csrf old questionnaire post", "csrf", "POST", "/", {"data": {"services": "few"}}, 303),
    ("api questions", "plain", "GET", "/api/questions", {}, 200),
    ("api post", "plain", "POST", "/api/recommendations", {"json": {"answers": {"services": "few"}}}, 200),
    ("api get", "plain", "GET", "/api/recommendations?services=few", {}, 200),
    ("api bad answers", "plain", "POST", "/api/recommendations", {"json": {"answers": {"services": "x"}}}, 400),
    ("api bad json", "plain", "POST", "/api/recommendations",
     {"data": "{not json", "content_type": "application/json"}, 400),
    ("api not json", "plain", "POST", "/api/recommendations", {"data": "services=few"}, 415),
    ("api too large", "plain", "POST", "/api/recommendations",
     {"json": {"answers": {}, "padding": "x" * MAX_BODY}}, 413),
    ("api method", "plain", "PUT", "/api/recommendations", {}, 405),
    ("api not found", "plain", "GET", "/api/nope", {}, 404),
    ("api error", "plain", "GET", "/api/boom", {}, 500),
    ("api csrf exempt", "csrf", "POST", "/api/recommendations", {"json": {"answers": {}}}, 200),
]
RESPONSE_PARAMS = [pytest.param(*case[1:], id=case[0]) for case in RESPONSES]
HTML_RESPONSE_PARAMS = [param for param in RESPONSE_PARAMS
                        if not param.values[2].startswith(("/api/", "/static/", "/healthz", "/results.md",
                                                           "/favicon"))]


@pytest.fixture(scope="module")
def apps(app, csrf_app):
    return {"plain": app, "csrf": csrf_app}


def _respond(apps, kind, method, path, kwargs, status, **extra):
    client = apps[kind].test_client()
    response = client.open(path, method=method, buffered=True, **kwargs, **extra)  # buffered: files get closed
    assert response.status_code == status, response.get_data(as_text=True)[:1000]
    return response


def csp_directives(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    directives = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        assert name not in directives, f"{name} twice"
        directives[name] = sources
    return directives


def assert_security_headers(response) -> None:
    csp = csp_directives(response)
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response.headers["Content-Security-Policy"]
    assert csp["default-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"


@pytest.mark.parametrize(("kind", "method", "path", "kwargs", "status"), RESPONSE_PARAMS)
def test_every_response_has_the_security_headers_and_no_hsts_over_http(apps, kind, method, path, kwargs, status):
    response = _respond(apps, kind, method, path, kwargs, status)
    assert_security_headers(response)
    assert "Strict-Transport-Security" not in response.headers


@pytest.mark.parametrize(("kind", "method", "path", "kwargs", "status"), RESPONSE_PARAMS)
def test_every_response_over_https_has_hsts(apps, kind, method, path, kwargs, status):
    headers = {"Referer": "https://localhost/"}  # as a browser sends it (Flask-WTF checks it over HTTPS)
    response = _respond(apps, kind, method, path, kwargs, status, base_url="https://localhost", headers=headers)
    assert_security_headers(response)
    hsts = response.headers["Strict-Transport-Security"]
    assert int(re.fullmatch(r"max-age=(\d+)(; includeSubDomains)?", hsts).group(1)) >= 365 * 24 * 3600


@pytest.mark.parametrize(("kind", "method", "path", "kwargs", "status"), RESPONSE_PARAMS)
def test_no_response_reveals_tracebacks_paths_or_versions(apps, kind, method, path, kwargs, status):
    response = _respond(apps, kind, method, path, kwargs, status)
    body = response.get_data(as_text=True)
    for leak in LEAKS:
        assert leak not in body
        for name, value in response.headers.items():
            assert leak not in value, name


@pytest.mark.parametrize(("kind", "method", "path", "kwargs", "status"), RESPONSE_PARAMS)
def test_api_responses_are_always_json(apps, kind, method, path, kwargs, status):
    response = _respond(apps, kind, method, path, kwargs, status)
    if path.startswith("/api/"):
        assert response.mimetype == "application/json"
        assert isinstance(response.get_json(), dict)
        assert "<html" not in response.get_data(as_text=True).lower()
        if status >= 400:
            assert [set(e) for e in response.get_json()["errors"]] == [{"question", "choice", "message"}] * len(
                response.get_json()["errors"])
    else:
        assert "/api/" not in path


def assert_no_inline_code(doc: Node) -> None:
    for element in doc.iter():
        assert element.tag != "style", "inline <style>"
        if element.tag == "script":
            assert element.attrs.get("src"), "inline <script>"
            assert not element.text.strip()
        for name, value in element.attr_list:
            assert name != "style", f"style= on {element!r}"
            assert not name.startswith("on"), f"{name}= on {element!r}"
            assert not (value or "").strip().lower().startswith("javascript:"), element


@pytest.mark.parametrize(("kind", "method", "path", "kwargs", "status"), HTML_RESPONSE_PARAMS)
def test_no_page_has_inline_scripts_styles_or_event_handlers(apps, kind, method, path, kwargs, status):
    response = _respond(apps, kind, method, path, kwargs, status)
    doc = page(response, status)
    assert_no_inline_code(doc)
    # Scripts and stylesheets come from this site.
    for element in doc.find_all("script") + doc.find_all("link", rel="stylesheet"):
        assert (element.attrs.get("src") or element.attrs.get("href")).startswith("/static/")


def test_the_results_script_is_a_file_served_from_the_site(client):
    doc = page(client.get("/results?" + canonical({"services": "few"})))
    scripts = doc.find_all("script")
    assert [s.attrs["src"] for s in scripts] == ["/static/copy.js"]
    with client.get("/static/copy.js") as script:
        assert script.status_code == 200
        assert script.mimetype in ("text/javascript", "application/javascript")


# --- cookies and HTTPS ----------------------------------------------------------------------------------------------
# Only a form that changes state opens a session (the protected form stands in for the planned team rooms).

@pytest.mark.parametrize(("method", "path", "kwargs"), [
    pytest.param("GET", "/", {}, id="questionnaire"),
    pytest.param("GET", "/?services=few&hosts=bogus", {}, id="prefilled questionnaire"),
    pytest.param("GET", "/results?" + canonical({"services": "few"}), {}, id="results"),
    pytest.param("GET", "/results?services=bogus", {}, id="invalid link"),
    pytest.param("GET", "/results.md?services=few", {}, id="decision record"),
    pytest.param("POST", "/", {"data": {"services": "few"}}, id="old questionnaire post"),
    pytest.param("POST", "/", {"data": {"services": "bogus"}}, id="old questionnaire post, bad answer"),
])
@pytest.mark.parametrize("base_url", ["http://localhost", "https://localhost"])
def test_asking_for_a_recommendation_sets_no_cookie(csrf_client, method, path, kwargs, base_url):
    response = csrf_client.open(path, method=method, base_url=base_url, **kwargs)
    assert response.status_code in (200, 303, 400)
    assert_no_cookie(response)


def test_session_cookie_over_http_is_httponly_lax_and_not_secure(csrf_client):
    response = csrf_client.get(PROTECTED)
    cookie = session_cookie(response)
    assert cookie.get("httponly") is True
    assert cookie.get("samesite") == "Lax"
    assert "secure" not in cookie
    assert "Strict-Transport-Security" not in response.headers


def test_session_cookie_over_https_is_secure_with_hsts(csrf_client):
    response = csrf_client.get(PROTECTED, base_url="https://localhost")
    cookie = session_cookie(response)
    assert cookie.get("secure") is True
    assert cookie.get("httponly") is True
    assert cookie.get("samesite") == "Lax"
    assert "Strict-Transport-Security" in response.headers


@pytest.mark.parametrize(("proxy_fix", "forwarded", "secure"), [
    pytest.param(1, "https", True, id="behind a TLS proxy"),
    pytest.param(1, None, False, id="proxy, plain HTTP"),
    pytest.param(0, "https", False, id="no proxy configured: the header is not trusted"),
])
def test_behind_a_proxy_x_forwarded_proto_decides_hsts_and_secure_cookie(make_app, proxy_fix, forwarded, secure):
    client = make_app(WTF_CSRF_ENABLED=True, PROXY_FIX=proxy_fix,
                      TRUSTED_HOSTS=["localhost", "dockwise.example"]).test_client()
    headers = {"X-Forwarded-Proto": forwarded, "X-Forwarded-Host": "dockwise.example"} if forwarded else {}
    response = client.get(PROTECTED, headers=headers)
    assert response.status_code == 200
    assert ("Strict-Transport-Security" in response.headers) == secure
    assert ("secure" in session_cookie(response)) == secure
    assert_security_headers(response)
    # The token round trip works with the Referer a browser sends from the public address; over HTTPS (behind the
    # TLS proxy) Flask-WTF checks that Referer against the forwarded host, so one from elsewhere is refused.
    token = csrf_token_of(page(response))
    public = ("https" if secure else "http") + "://dockwise.example"
    referers = [(public + PROTECTED, 303)] + ([("https://elsewhere.example" + PROTECTED, 400)] if secure else [])
    for referer, status in referers:
        sent = client.post(PROTECTED, data=_form(token), headers={**headers, "Referer": referer})
        assert sent.status_code == status, referer


def test_behind_a_proxy_the_share_link_uses_the_public_address(make_app):
    client = make_app(PROXY_FIX=1, TRUSTED_HOSTS="dockwise.example").test_client()
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "dockwise.example"}
    doc = page(client.get("/results?" + canonical({"services": "few"}), headers=headers))
    assert doc.find("input", id="share-link").attrs["value"] == \
        "https://dockwise.example/results?" + canonical({"services": "few"})


# --- CSRF (through the protected form: the questionnaire needs none) -------------------------------------------------

POSTED = {"services": "few", "hosts": "many", "availability": "none", "managed": "unavailable"}


def _form(token: str | None = None) -> dict[str, str]:
    """What the protected form sends: its note, and the token when given."""
    return {"note": "ship it"} | ({} if token is None else {"csrf_token": token})


def test_csrf_get_then_post_with_the_real_token_is_accepted(csrf_client):
    token = csrf_token_of(page(csrf_client.get(PROTECTED)))
    response = csrf_client.post(PROTECTED, data=_form(token))
    assert response.status_code == 303
    assert response.headers["Location"] == SENT


def test_csrf_over_https_with_the_browsers_referer_is_accepted(csrf_client):
    token = csrf_token_of(page(csrf_client.get(PROTECTED, base_url="https://localhost")))
    response = csrf_client.post(PROTECTED, data=_form(token), base_url="https://localhost",
                                headers={"Referer": "https://localhost" + PROTECTED})
    assert response.status_code == 303
    assert response.headers["Location"] == SENT


def _expired_token(client, monkeypatch, age: int) -> str:
    """A real token from the protected form, signed `age` seconds ago."""
    real = itsdangerous.timed.TimestampSigner.get_timestamp
    monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", lambda self: real(self) - age)
    token = csrf_token_of(page(client.get(PROTECTED)))
    monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", real)
    return token


def _post_without_token(client, monkeypatch):
    client.get(PROTECTED)
    return client.post(PROTECTED, data=_form())


def _post_bad_token(client, monkeypatch):
    client.get(PROTECTED)
    return client.post(PROTECTED, data=_form("not-a-token"))


def _post_without_session_cookie(client, monkeypatch):
    token = csrf_token_of(page(client.get(PROTECTED)))
    client.delete_cookie("session")
    return client.post(PROTECTED, data=_form(token))


def _post_token_of_another_session(client, monkeypatch):
    token = csrf_token_of(page(client.application.test_client().get(PROTECTED)))
    client.get(PROTECTED)
    return client.post(PROTECTED, data=_form(token))


def _post_expired_token(client, monkeypatch):
    return client.post(PROTECTED, data=_form(_expired_token(client, monkeypatch, 24 * 3600 + 60)))


def _post_over_https_without_referer(client, monkeypatch):
    token = csrf_token_of(page(client.get(PROTECTED, base_url="https://localhost")))
    return client.post(PROTECTED, data=_form(token), base_url="https://localhost")


def _post_over_https_from_another_site(client, monkeypatch):
    token = csrf_token_of(page(client.get(PROTECTED, base_url="https://localhost")))
    return client.post(PROTECTED, data=_form(token), base_url="https://localhost",
                       headers={"Referer": "https://elsewhere.example" + PROTECTED})


@pytest.mark.parametrize(("attempt", "reason", "hint"), [
    (_post_without_token, "The CSRF token is missing.", "arrived without its security token"),
    (_post_bad_token, "The CSRF token is invalid.", "damaged or was not made by this site"),
    (_post_without_session_cookie, "The CSRF session token is missing.", "Allow cookies for this site."),
    (_post_token_of_another_session, "The CSRF tokens do not match.", "belongs to another browser session"),
    (_post_expired_token, "The CSRF token has expired.", "left open too long"),
    (_post_over_https_without_referer, "The referrer header is missing.", "set DOCKWISE_PUBLIC_URL"),
    (_post_over_https_from_another_site, "The referrer does not match the host.", "set DOCKWISE_PUBLIC_URL"),
], ids=lambda value: value.__name__.removeprefix("_post_") if callable(value) else "")
def test_csrf_failure_is_a_400_page_naming_its_reason_and_reloading_the_form_lets_it_be_sent(
        csrf_client, monkeypatch, caplog, attempt, reason, hint):
    response = attempt(csrf_client, monkeypatch)
    doc = page(response, 400)
    assert_layout(doc)
    main = doc.find("main")
    assert main.find("h1").text == "Please send the form again"
    assert doc.find("title").text == "400 Please send the form again — Dockwise"
    assert reason in main.text
    assert hint in main.text
    assert "Go back, reload the page and send it again." in main.text
    assert not doc.find_all("form")  # a plain error page: nothing was sent, nothing is re-rendered
    # Whoever runs the site sees the same reason in the log, with the address.
    logged = [record.getMessage() for record in caplog.records
              if record.name == "dockwise.web" and record.levelname == "WARNING"]
    assert logged == [f"form refused on POST {PROTECTED}: {reason}"]
    # As the page says: reload the form (a fresh token) and send it again.
    https = attempt in (_post_over_https_without_referer, _post_over_https_from_another_site)
    base_url = "https://localhost" if https else "http://localhost"
    token = csrf_token_of(page(csrf_client.get(PROTECTED, base_url=base_url)))
    again = csrf_client.post(PROTECTED, data=_form(token), base_url=base_url,
                             headers={"Referer": base_url + PROTECTED})
    assert again.status_code == 303
    assert again.headers["Location"] == SENT


def test_csrf_token_within_its_time_limit_is_accepted(csrf_client, monkeypatch):
    token = _expired_token(csrf_client, monkeypatch, 23 * 3600)  # a working day's wait is fine
    assert csrf_client.post(PROTECTED, data=_form(token)).status_code == 303


@pytest.mark.parametrize(("age", "status"), [(0, 303), (5, 400)])
def test_csrf_time_limit_comes_from_config(make_app, monkeypatch, age, status):
    client = make_app(WTF_CSRF_ENABLED=True, WTF_CSRF_TIME_LIMIT=1).test_client()
    token = _expired_token(client, monkeypatch, age)
    assert client.post(PROTECTED, data=_form(token)).status_code == status


def test_the_json_api_is_exempt_from_csrf(csrf_client):
    response = csrf_client.post("/api/recommendations", json={"answers": {"services": "few"}})
    assert response.status_code == 200
    assert response.get_json()["recommendation"] == document_for({"services": "few"})["recommendation"]


# --- the JSON API ---------------------------------------------------------------------------------------------------

def test_api_questions_lists_questions_choices_and_fingerprint(client):
    response = client.get("/api/questions")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["rules_fingerprint"] == FINGERPRINT
    assert [q["id"] for q in body["questions"]] == QUESTION_ORDER
    for shown, question in zip(body["questions"], QUESTIONS, strict=True):
        assert shown["text"] == question["text"]
        assert [(c["id"], c["label"]) for c in shown["choices"]] == [(c["id"], c["label"]) for c in question["choices"]]
        assert [next(c["label"] for c in CRITERIA if c["id"] == row) for row in shown["informs"]] == \
            INFORMS[question["id"]]
    assert [(o["id"], o["label"]) for o in body["options"]] == [(o, OPTION_LABELS[o]) for o in OPTION_ORDER]


@pytest.mark.parametrize("answers", SCENARIO_PARAMS)
def test_api_post_returns_the_result_document_and_share_url(client, answers):
    response = client.post("/api/recommendations", json={"answers": answers})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body.pop("share_url") == "http://localhost/results?" + canonical(answers)
    assert body == document_for(answers)


@pytest.mark.parametrize("answers", SCENARIO_PARAMS)
def test_api_get_with_the_share_query_equals_the_post(client, answers):
    posted = client.post("/api/recommendations", json={"answers": answers}).get_json()
    fetched = client.get("/api/recommendations?" + canonical(answers))
    assert fetched.status_code == 200
    assert fetched.get_json() == posted
    shuffled = list(answers.items())
    random.Random(7).shuffle(shuffled)
    query = "&".join(f"{q}={c}" for q, c in shuffled) + "&utm_source=x"
    assert client.get("/api/recommendations?" + query).get_json() == posted


def test_api_post_treats_null_and_empty_answers_as_not_sure(client):
    body = client.post("/api/recommendations", json={"answers": {"services": "few", "hosts": None, "traffic": ""}})
    assert body.status_code == 200
    assert body.get_json()["answers"] == {"services": "few"}


@pytest.mark.parametrize(("answers", "bad"), [
    pytest.param({"services": "several"}, {("services", "several")}, id="unknown choice"),
    pytest.param({"hsts": "one"}, {("hsts", "one")}, id="unknown question"),
    pytest.param({"services": "x", "hosts": "y", "traffic": "spiky"}, {("services", "x"), ("hosts", "y")},
                 id="two bad pairs"),
    pytest.param({"services": "x", "budget": "low", "managed": "available"}, {("services", "x"), ("budget", "low")},
                 id="bad choice and unknown question"),
])
def test_api_post_with_bad_answers_names_each_bad_pair(client, answers, bad):
    response = client.post("/api/recommendations", json={"answers": answers})
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    errors = response.get_json()["errors"]
    assert {(e["question"], e["choice"]) for e in errors} == bad
    assert len(errors) == len(bad)
    for error in errors:
        assert error["question"] in error["message"]


@pytest.mark.parametrize("value", [5, True, ["few"], {"few": 1}])
def test_api_post_with_a_non_string_choice_is_a_400_naming_the_question(client, value):
    response = client.post("/api/recommendations", json={"answers": {"services": value, "hosts": "one"}})
    assert response.status_code == 400
    assert [e["question"] for e in response.get_json()["errors"]] == ["services"]


@pytest.mark.parametrize(("query", "bad"), [
    pytest.param("services=several&hosts=one", {("services", "several")}, id="unknown choice"),
    pytest.param("services=few&services=many", {("services", "many")}, id="twice with different values"),
    pytest.param("services=x&hosts=y", {("services", "x"), ("hosts", "y")}, id="two bad"),
])
def test_api_get_with_a_bad_query_names_each_bad_pair(client, query, bad):
    response = client.get("/api/recommendations?" + query)
    assert response.status_code == 400
    errors = response.get_json()["errors"]
    assert {(e["question"], e["choice"]) for e in errors} == bad


def test_api_get_with_an_over_long_query_is_a_400(client):
    response = client.get("/api/recommendations?services=few&utm_source=" + "x" * MAX_QUERY)
    assert response.status_code == 400
    assert str(MAX_QUERY) in response.get_json()["errors"][0]["message"]


@pytest.mark.parametrize("kwargs", [
    pytest.param({"data": "services=few", "content_type": "application/x-www-form-urlencoded"}, id="form"),
    pytest.param({"data": '{"answers": {}}', "content_type": "text/plain"}, id="text"),
    pytest.param({"data": '{"answers": {}}'}, id="no content type"),
])
def test_api_post_without_a_json_body_is_a_415(client, kwargs):
    response = client.post("/api/recommendations", **kwargs)
    assert response.status_code == 415
    assert response.mimetype == "application/json"
    assert response.get_json()["errors"][0]["message"]


@pytest.mark.parametrize("body", ["{not json", '{"answers": {', "", b"\xff\xfe"], ids=repr)
def test_api_post_with_malformed_json_is_a_400(client, body):
    response = client.post("/api/recommendations", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    assert response.get_json()["errors"][0]["message"]


@pytest.mark.parametrize("body", [{"answers": []}, [], "x", 5, None, {"answers": "services=few"}, {}], ids=repr)
def test_api_post_with_the_wrong_shape_is_a_400(client, body):
    response = client.post("/api/recommendations", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    assert response.get_json()["errors"][0]["message"]


def test_api_post_over_16_kib_is_a_413_json(client):
    response = client.post("/api/recommendations", json={"answers": {"services": "few"}, "pad": "x" * MAX_BODY})
    assert response.status_code == 413
    assert response.mimetype == "application/json"
    assert "16 KiB" in response.get_json()["errors"][0]["message"]


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("PUT", "/api/recommendations", {"GET", "HEAD", "OPTIONS", "POST"}),
    ("DELETE", "/api/recommendations", {"GET", "HEAD", "OPTIONS", "POST"}),
    ("POST", "/api/questions", {"GET", "HEAD", "OPTIONS"}),
])
def test_api_wrong_method_is_a_405_json_with_allow(client, method, path, allowed):
    response = client.open(path, method=method)
    assert response.status_code == 405
    assert response.mimetype == "application/json"
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allowed
    assert response.get_json()["errors"][0]["message"]


@pytest.mark.parametrize("path", ["/api/nope", "/api/questions/services", "/api/recommendations/1"])
def test_api_unknown_address_is_a_404_json(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert response.get_json()["errors"][0]["message"]


def test_api_unexpected_error_is_a_500_json(client):
    response = client.get("/api/boom")
    assert response.status_code == 500
    assert response.mimetype == "application/json"
    assert response.get_json()["errors"][0]["message"]


# --- the secret key -------------------------------------------------------------------------------------------------

def test_without_a_secret_key_one_is_generated_once_in_the_instance_folder(tmp_path):
    instance = tmp_path / "instance"
    first = add_test_routes(create_app({"TESTING": True, "RULES_PATH": str(RULES_PATH),
                                        "INSTANCE_PATH": str(instance)}))
    key_file = instance / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text(encoding="ascii").strip()
    assert len(key) >= 32
    assert first.secret_key == key
    before = key_file.stat()
    second = add_test_routes(create_app({"TESTING": True, "RULES_PATH": str(RULES_PATH),
                                         "INSTANCE_PATH": str(instance)}))
    assert second.secret_key == key
    after = key_file.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert [p.name for p in instance.iterdir()] == ["secret_key"]  # no temporary file left behind
    # Two workers share it: a form served by one is accepted by the other (CSRF is on in these apps).
    browser = first.test_client()
    token = csrf_token_of(page(browser.get(PROTECTED)))
    other = second.test_client()
    assert other.post(PROTECTED, data=_form(token)).status_code == 400  # without the session: refused
    other.set_cookie("session", browser.get_cookie("session").value)
    assert other.post(PROTECTED, data=_form(token)).status_code == 303


def test_different_instance_folders_get_different_keys(tmp_path):
    keys = {create_app({"RULES_PATH": str(RULES_PATH), "INSTANCE_PATH": str(tmp_path / name)}).secret_key
            for name in ("a", "b")}
    assert len(keys) == 2


@pytest.mark.parametrize("key", ["from-the-environment-0123456789abcdef", "1234567890" * 4, "1e" + "0" * 32],
                         ids=["text", "digits only", "looks like a float"])
def test_the_environment_secret_key_wins_and_nothing_is_written(tmp_path, monkeypatch, key):
    monkeypatch.setenv("DOCKWISE_SECRET_KEY", key)
    instance = tmp_path / "instance"
    application = create_app({"TESTING": True, "RULES_PATH": str(RULES_PATH), "INSTANCE_PATH": str(instance)})
    assert application.secret_key == key
    assert not (instance / "secret_key").exists()
    assert application.test_client().get("/").status_code == 200


def test_an_existing_key_file_is_used(tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "secret_key").write_text("kept-from-last-deploy\n", encoding="ascii")
    application = create_app({"RULES_PATH": str(RULES_PATH), "INSTANCE_PATH": str(instance)})
    assert application.secret_key == "kept-from-last-deploy"


# --- configuration order --------------------------------------------------------------------------------------------

@pytest.fixture
def three_rules_files(tmp_path):
    """Three valid rules files with different fingerprints: the shipped one, minimal.yaml, and an edited copy."""
    edited = tmp_path / "edited.yaml"
    heavier = re.sub(r"(?m)^(    weight: )(\S+)$", lambda m: f"{m[1]}{float(m[2]) + 1:g}",
                     RULES_PATH.read_text(encoding="utf-8"), count=1)  # the first row one point heavier
    edited.write_text(heavier, encoding="utf-8")
    files = [RULES_PATH, DATA / "minimal.yaml", edited]
    assert len({load_rules(path).fingerprint for path in files}) == 3
    return files


def _fingerprint_served(application) -> str:
    return application.test_client().get("/healthz").get_json()["rules_fingerprint"]


def test_config_order_instance_file_then_environment_then_test_config(tmp_path, monkeypatch, three_rules_files):
    shipped, minimal, edited = three_rules_files
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text(f"RULES_PATH = {str(edited)!r}\n", encoding="utf-8")
    base = {"TESTING": True, "INSTANCE_PATH": str(instance), "SECRET_KEY": "x" * 32}

    only_file = create_app(base)
    assert only_file.config["RULES_PATH"] == str(edited)
    assert _fingerprint_served(only_file) == load_rules(edited).fingerprint

    monkeypatch.setenv("DOCKWISE_RULES_PATH", str(minimal))
    from_env = create_app(base)
    assert from_env.config["RULES_PATH"] == str(minimal)
    assert _fingerprint_served(from_env) == load_rules(minimal).fingerprint

    from_test_config = create_app({**base, "RULES_PATH": str(shipped)})
    assert from_test_config.config["RULES_PATH"] == str(shipped)
    assert _fingerprint_served(from_test_config) == FINGERPRINT


def test_environment_rules_path_is_used(tmp_path, monkeypatch, three_rules_files):
    minimal = three_rules_files[1]
    monkeypatch.setenv("DOCKWISE_RULES_PATH", str(minimal))
    application = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path)})
    assert _fingerprint_served(application) == load_rules(minimal).fingerprint


def test_without_any_setting_the_rules_beside_app_py_are_used(tmp_path):
    application = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path)})
    beside = ROOT / "rules.yaml"  # the real one, even when DOCKWISE_TEST_RULES names a copy (tests/shipped.py)
    assert Path(application.config["RULES_PATH"]) == beside
    assert _fingerprint_served(application) == load_rules(beside).fingerprint


def test_defaults_are_the_documented_ones(tmp_path):
    config = create_app({"INSTANCE_PATH": str(tmp_path), "RULES_PATH": str(RULES_PATH)}).config
    assert config["MAX_CONTENT_LENGTH"] == MAX_BODY
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["WTF_CSRF_TIME_LIMIT"] == 24 * 3600
    assert config["PROXY_FIX"] == 0
    assert config.get("WTF_CSRF_ENABLED", True) is True



def test_a_specific_reason_for_a_400_is_shown(client):
    # A server puts the raw request-line bytes into QUERY_STRING as latin-1 text.
    response = client.get("/results", environ_overrides={"QUERY_STRING": b"services=f\xffw".decode("latin-1")})
    assert response.status_code == 400
    assert "not valid UTF-8" in response.get_data(as_text=True)


def test_a_hostile_script_root_is_escaped_in_what_if_links(client):
    response = client.get("/results?" + canonical({"services": "few", "hosts": "one"}),
                          environ_overrides={"SCRIPT_NAME": '/x"><script>alert(1)</script>'})
    assert response.status_code == 200
    assert "<script>alert" not in response.get_data(as_text=True)


def in_reverse_order(answers: dict[str, str]) -> str:
    return "&".join(f"{q}={answers[q]}" for q in reversed(QUESTION_ORDER) if q in answers)


@pytest.mark.parametrize(("query", "expected"), [
    pytest.param(f"services=few&hosts=&traffic=&rules={FINGERPRINT}", canonical({"services": "few"}),
                 id="a submitted questionnaire's Not sure answers are dropped"),
    pytest.param(in_reverse_order({"services": "many", "hosts": "few"}),
                 canonical({"services": "many", "hosts": "few"}, with_rules=False), id="questionnaire order"),
    pytest.param("services=few&utm_source=mail", "services=few", id="tracking tags dropped"),
    pytest.param("services=few&rules=<x>", "services=few&rules=%3Cx%3E", id="an odd rules version kept, quoted"),
])
def test_a_results_link_that_is_not_canonical_redirects_to_the_canonical_one(client, query, expected):
    response = client.get("/results?" + query)
    assert response.status_code == 303
    assert response.headers["Location"] == "/results?" + expected
    assert client.get(response.headers["Location"]).status_code == 200  # and it stays there


@pytest.mark.parametrize("query", [canonical({"services": "few", "hosts": "one"}, with_rules=False),
                                   canonical({"services": "few", "hosts": "one"}), "services=few&rules=deadbeef"])
def test_a_canonical_results_link_is_answered_directly(client, query):
    assert client.get("/results?" + query).status_code == 200
