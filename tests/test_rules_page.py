"""/rules and its answer-space analysis, which is computed off the request path (web/analysis.py).

The background computations are held on an Event (the `gate` fixture) where a test needs to see the page before
they finish, and awaited with `AnswerSpace.wait` where it needs them done: no test depends on timing.
"""

from __future__ import annotations

import html
import logging
import os
import re
import threading
import warnings
from pathlib import Path

import pytest

from app import create_app
from recommender import load_rules
from web import analysis
from web.rules_page import percent

ROOT = Path(__file__).resolve().parent.parent
RULES_PATH = ROOT / "rules.yaml"
SHIPPED_TEXT = RULES_PATH.read_text(encoding="utf-8")
PENDING = ("The analysis of this rules version is being computed — reload in a few seconds. The rules below are "
           "current.")
FAILED = "The analysis of this rules version could not be computed."
WAIT = 120  # seconds: a generous bound for a slow machine, never reached when things work

# Two valid edits of High Availability's weight (its text occurs exactly once in the shipped file).
WEIGHT = "    weight: 1.5\n"
# Both keep every golden scenario passing: a version whose scenarios fail is not served.
HEAVIER, LIGHTER = WEIGHT.replace("1.5", "3.5"), WEIGHT.replace("1.5", "0.5")


class Gate:
    """Replaces explore and diff in web.analysis: holds each call until opened, and keeps what each returned."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, fail: set[str] = frozenset()):
        self.event = threading.Event()
        self.called = threading.Condition()
        self.calls: list[tuple[str, ...]] = []
        self.reports: dict[tuple[str, ...], object] = {}
        for name in ("explore", "diff"):
            monkeypatch.setattr(analysis, name, self._wrap(name, getattr(analysis, name), name in fail))

    def _wrap(self, name, real, fail: bool):
        def held(*rulesets, **options):
            call = (name, *(r.fingerprint for r in rulesets))
            with self.called:
                self.calls.append(call)
                self.called.notify_all()
            if not self.event.wait(WAIT):
                raise TimeoutError("the test never opened the gate")
            if fail:
                raise RuntimeError(f"{name} failed on purpose")
            self.reports[call] = report = real(*rulesets, **options)
            return report
        return held

    def entered(self, *call: str) -> None:
        """Wait until the background thread has made this call (and is held in it, unless the gate is open)."""
        with self.called:
            assert self.called.wait_for(lambda: call in self.calls, WAIT), f"{call} was never made"

    def open(self) -> None:
        self.event.set()

    def close(self) -> None:
        self.event.clear()


@pytest.fixture
def gate(monkeypatch):
    held = Gate(monkeypatch)
    yield held
    held.open()  # never leave a thread waiting after the test


def space_of(app) -> analysis.AnswerSpace:
    return app.extensions[analysis.EXTENSION]


def finished(app) -> None:
    assert space_of(app).wait(WAIT), "the analysis did not finish"


def source(client, status: int = 200) -> str:
    response = client.get("/rules")
    assert response.status_code == status
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def text(markup: str) -> str:
    """What a reader sees: tags dropped, entities decoded, white space collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", markup)).split())


def section(markup: str, heading_id: str) -> str | None:
    """The HTML from the <h2> with this id to the next <h2>, or None when there is no such heading."""
    start = markup.find(f'<h2 id="{heading_id}">')
    if start < 0:
        return None
    end = markup.find("<h2", start + 1)
    return markup[start:end]


def rows(markup: str) -> list[list[str]]:
    """Every table row in `markup`, as the texts of its cells."""
    return [[text(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", markup, re.S)]


def statuses(markup: str) -> list[str]:
    return [text(body) for body in re.findall(r'<div class="notice[^"]*" role="status"[^>]*>(.*?)</div>', markup, re.S)]


def assert_rules_shown(markup: str, ruleset) -> None:
    """Everything that does not need the analysis is there, whatever its state."""
    assert "<h1>How Dockwise decides</h1>" in markup
    assert ruleset.fingerprint in markup
    for rule in ruleset.rules:
        assert f"<code>{rule.rule.id}</code>" in markup
    for question in ruleset.questions:
        assert f"<code>{question.id}</code>" in markup


def assert_shares_shown(markup: str, report) -> None:
    shares = section(markup, "answer-space")
    assert not statuses(shares)
    assert rows(shares)[1:] == [[share.label, percent(share.share), percent(full.share)]
                                for share, full in zip(report.shares, report.full_shares, strict=True)]
    assert f"every one of {report.space:,} possible questionnaires" in text(shares)


def expected_matrix(report, old, new) -> list[list[str]]:
    cells = {(flip.source, flip.target): flip.share.share for flip in report.matrix}
    labels = {o.id: o.label for o in old.options} | {o.id: o.label for o in new.options}
    return ([["Recommended before → now", *(labels[o.id] for o in new.options)]]
            + [[labels[s.id], *(percent(cells.get((s.id, t.id), 0)) for t in new.options)] for s in old.options])


class RulesFile:
    """A copy of rules.yaml that tests edit; each write moves the mtime a whole second on (see test_hot_reload), and
    has `holder` (when set) look at the file, as its watcher thread would."""

    holder = None

    def __init__(self, path: Path):
        self.path = path
        path.write_text(SHIPPED_TEXT, encoding="utf-8")
        self.mtime_ns = path.stat().st_mtime_ns

    def write(self, text: str) -> str:
        """Save `text`; return its fingerprint."""
        self.path.write_text(text, encoding="utf-8")
        self.mtime_ns += 1_000_000_000
        os.utime(self.path, ns=(self.mtime_ns, self.mtime_ns))
        if self.holder is not None:
            self.holder.refresh()
        return load_rules(self.path).fingerprint


@pytest.fixture
def rules_file(tmp_path) -> RulesFile:
    return RulesFile(tmp_path / "rules.yaml")


@pytest.fixture
def reloading_app(tmp_path, rules_file):
    """An app serving the editable copy, looking at the file after each write (and without a watcher thread)."""
    application = create_app({"TESTING": True, "RULES_PATH": str(rules_file.path), "SECRET_KEY": "test-secret",
                              "INSTANCE_PATH": str(tmp_path / "instance"), "RULES_CHECK_INTERVAL": 0})
    rules_file.holder = application.extensions["dockwise"]
    yield application
    space_of(application).wait(WAIT)


# --- off the request path ------------------------------------------------------------------------------------------

def test_the_first_request_answers_at_once_and_the_numbers_follow(app, client, gate, shipped_rules):
    first = source(client)
    assert statuses(first) == [PENDING]
    assert '<div class="notice" role="status" id="analysis-status">' in first
    assert "Wins, all questionnaires" not in first
    assert section(first, "what-changed") is None  # a fresh start has nothing to compare with
    assert_rules_shown(first, shipped_rules)
    gate.entered("explore", shipped_rules.fingerprint)
    assert statuses(source(client)) == [PENDING]  # still computing: asked again, not queued again

    gate.open()
    finished(app)
    ready = source(client)
    assert PENDING not in ready
    assert_shares_shown(ready, gate.reports[("explore", shipped_rules.fingerprint)])
    assert_rules_shown(ready, shipped_rules)
    assert section(ready, "what-changed") is None
    source(client)
    assert gate.calls == [("explore", shipped_rules.fingerprint)]  # once per rules version


def test_nothing_is_computed_until_the_rules_page_is_asked_for(app, client, gate):
    # Loading the rules (as gunicorn's master does with --preload, before it forks) and serving the other pages
    # start nothing: a thread started before the fork would not exist in the workers.
    for path in ("/", "/results?services=few", "/healthz", "/api/questions"):
        assert client.get(path, follow_redirects=True).status_code == 200, path
    assert space_of(app).wait(0)  # no thread of its own
    assert gate.calls == []


def test_a_worker_forked_from_the_master_computes_its_own_analysis(app, client, gate, shipped_rules):
    # The master here has even queued the analysis (its thread is held by the gate): the forked worker has no such
    # thread, so it must start its own rather than wait for one that does not exist there.
    assert statuses(source(client)) == [PENDING]
    gate.entered("explore", shipped_rules.fingerprint)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12+: fork() in a process with threads
        pid = os.fork()
    if pid == 0:  # the worker
        code = 1
        try:
            gate.open()
            worker = app.test_client()
            if statuses(source(worker)) == [PENDING] and space_of(app).wait(WAIT):
                assert_shares_shown(source(worker), gate.reports[("explore", shipped_rules.fingerprint)])
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the forked worker did not compute and show its analysis"
    gate.open()
    finished(app)


# --- what changed after a hot reload -------------------------------------------------------------------------------

def test_after_a_hot_reload_the_page_shows_what_changed(reloading_app, rules_file, gate):
    client = reloading_app.test_client()
    shipped = load_rules(rules_file.path)
    gate.open()
    source(client)
    finished(reloading_app)
    assert section(source(client), "what-changed") is None

    gate.close()
    heavier = rules_file.write(SHIPPED_TEXT.replace(WEIGHT, HEAVIER))
    pending = source(client)
    assert "High Availability <span class=\"lead-points\">weight 3.5</span>" in pending  # the rules are current
    changed = section(pending, "what-changed")
    assert statuses(changed) == [f"What changed since rules version {shipped.fingerprint}, which this server served "
                                 f"before, is being computed — reload in a few seconds."]
    assert statuses(section(pending, "answer-space")) == [PENDING]

    gate.open()
    finished(reloading_app)
    assert gate.calls == [("explore", shipped.fingerprint), ("explore", heavier),
                          ("diff", shipped.fingerprint, heavier)]
    report = gate.reports[("diff", shipped.fingerprint, heavier)]
    assert report.changed.count > 0
    markup = source(client)
    assert_shares_shown(markup, gate.reports[("explore", heavier)])
    changed = section(markup, "what-changed")
    assert not statuses(changed)
    assert (f"This server served rules version {shipped.fingerprint} before this one. Compared over every one of the "
            f"{report.space:,} questionnaires both versions understand, the recommendation changes in "
            f"{percent(report.changed.share)} of them ({report.changed.count:,}).") in text(changed)
    new = load_rules(rules_file.path)
    assert rows(changed) == expected_matrix(report, shipped, new)
    flips = re.findall(r'<li><a href="/results\?([^"]+)">(.*?)</a>: (.*?)</li>', changed)
    labels = {o.id: o.label for o in new.options}
    assert [(html.unescape(query), text(name), text(share)) for query, name, share in flips] == [
        (flip.examples[0].query, f"{labels[flip.source]} → {labels[flip.target]}",
         f"{percent(flip.share.share)} ({flip.share.count:,})")
        for flip in sorted(report.flips, key=lambda f: -f.share.count)]
    scenarios = text(re.search(r'<li id="changed-scenarios">(.*?)</li>', changed, re.S).group(1))
    assert scenarios.startswith(f"Scenarios whose result changes: {len(report.scenarios)} of "
                                f"{report.scenarios_compared}")
    for change in report.scenarios:
        assert f"{change.name}: {labels[change.source]} → {labels[change.target]}" in scenarios


def test_a_reload_back_compares_with_the_version_served_just_before(reloading_app, rules_file, gate):
    client = reloading_app.test_client()
    gate.open()
    shipped = load_rules(rules_file.path).fingerprint
    heavier = rules_file.write(SHIPPED_TEXT.replace(WEIGHT, HEAVIER))
    source(client)
    finished(reloading_app)
    rules_file.write(SHIPPED_TEXT)
    source(client)
    finished(reloading_app)
    markup = source(client)
    assert f"This server served rules version {heavier} before this one." in text(section(markup, "what-changed"))
    assert gate.calls[-2:] == [("explore", shipped), ("diff", heavier, shipped)]


def test_versions_saved_while_one_is_computed_are_skipped_but_the_last(reloading_app, rules_file, gate):
    client = reloading_app.test_client()
    shipped = load_rules(rules_file.path).fingerprint
    source(client)
    gate.entered("explore", shipped)  # and held there
    heavier = rules_file.write(SHIPPED_TEXT.replace(WEIGHT, HEAVIER))
    source(client)
    lighter = rules_file.write(SHIPPED_TEXT.replace(WEIGHT, LIGHTER))
    assert statuses(source(client)) == [PENDING, f"What changed since rules version {heavier}, which this server "
                                                 f"served before, is being computed — reload in a few seconds."]
    gate.open()
    finished(reloading_app)
    # The version computing when the others came finishes (it cannot be stopped), the one in between is skipped.
    assert gate.calls == [("explore", shipped), ("explore", lighter), ("diff", heavier, lighter)]
    markup = source(client)
    assert_shares_shown(markup, gate.reports[("explore", lighter)])
    assert f"served rules version {heavier} before" in text(section(markup, "what-changed"))


# --- failures ------------------------------------------------------------------------------------------------------

def test_a_failing_analysis_is_logged_and_shown_never_a_500(app, client, monkeypatch, caplog, shipped_rules):
    caplog.set_level(logging.ERROR, logger="dockwise.analysis")
    failing = Gate(monkeypatch, fail={"explore"})
    failing.open()
    source(client)
    finished(app)
    markup = source(client)
    assert statuses(markup) == [f"{FAILED} The error is in the server's log; it is tried again when the rules change. "
                                "The rules below are current."]
    assert '<div class="notice error" role="status" id="analysis-status">' in markup
    assert_rules_shown(markup, shipped_rules)
    logged = [r for r in caplog.records if r.name == "dockwise.analysis"]
    assert len(logged) == 1
    assert shipped_rules.fingerprint in logged[0].getMessage()
    assert logged[0].exc_info is not None
    source(client)
    finished(app)
    assert failing.calls == [("explore", shipped_rules.fingerprint)]  # not tried again for the same version


def test_a_failing_comparison_is_shown_and_the_analysis_still_is(reloading_app, rules_file, monkeypatch, caplog):
    caplog.set_level(logging.ERROR, logger="dockwise.analysis")
    failing = Gate(monkeypatch, fail={"diff"})
    failing.open()
    client = reloading_app.test_client()
    shipped = load_rules(rules_file.path).fingerprint
    rules_file.write(SHIPPED_TEXT.replace(WEIGHT, HEAVIER))
    source(client)
    finished(reloading_app)
    markup = source(client)
    heavier = load_rules(rules_file.path).fingerprint
    assert_shares_shown(markup, failing.reports[("explore", heavier)])
    assert statuses(section(markup, "what-changed")) == [
        f"What changed since rules version {shipped} could not be computed. The error is in the server's log."]
    assert [r.exc_info is not None for r in caplog.records if r.name == "dockwise.analysis"] == [True]


def test_a_thread_that_cannot_start_is_shown_as_could_not_be_computed(app, client, monkeypatch, caplog):
    caplog.set_level(logging.ERROR, logger="dockwise.analysis")

    def refuse(self):
        raise RuntimeError("can't start new thread")
    monkeypatch.setattr(threading.Thread, "start", refuse)
    markup = source(client)
    assert statuses(markup)[0].startswith(FAILED)
    assert len([r for r in caplog.records if r.name == "dockwise.analysis"]) == 1


def test_a_bug_in_the_thread_itself_fails_what_is_pending_and_a_later_version_starts_afresh(
        reloading_app, rules_file, monkeypatch, caplog, gate):
    caplog.set_level(logging.ERROR, logger="dockwise.analysis")
    gate.open()

    def broken():
        raise RuntimeError("a bug")
    monkeypatch.setattr(analysis, "return_large_blocks_to_the_system", broken)
    client = reloading_app.test_client()
    source(client)
    finished(reloading_app)
    assert statuses(source(client))[0].startswith(FAILED)
    assert [r.getMessage() for r in caplog.records if r.name == "dockwise.analysis"] == ["the analysis thread stopped"]
    monkeypatch.undo()
    Gate(monkeypatch).open()
    rules_file.write(SHIPPED_TEXT.replace(WEIGHT, HEAVIER))
    source(client)
    finished(reloading_app)
    markup = source(client)
    assert not statuses(markup)
    assert "Wins, all questionnaires" in markup


# --- small parts ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("share", "shown"), [
    (0, "0.0 %"), (0.0004, "< 0.1 %"), (0.0005, "0.1 %"), (0.118, "11.8 %"), (0.9996, "> 99.9 %"), (1, "100.0 %"),
])
def test_percent_never_rounds_a_share_to_zero_or_all(share, shown):
    assert percent(share) == shown
