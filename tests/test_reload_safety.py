"""Reloading rules.yaml can never take the site down: what issue 10 found, each against a real gunicorn.

gunicorn serves a copy of the shipped rules with two sync workers (--preload, as scripts/run serves; some tests
without it too), watching the file every 0.2 s. Every request here must be answered within 1 s, whatever is being
done to the file: requests never read it, a watcher thread in each worker does, and a child process checks a new
version (loaded, golden scenarios passing) within a time and memory budget before any worker serves it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import re
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from shipped import RULES_PATH

from app import create_app
from bench.loadlib import health_by_worker
from harness.server import Server
from recommender import RulesError, load_rules_text
from recommender.loader import MAX_RULES
from recommender.scenarios import run_scenarios
from recommender.source import MAX_BYTES
from web.rules_check import SERVE_BUDGET_MS, Budget, check_in_child, judge
from web.settings import ConfigError

SHIPPED = RULES_PATH.read_text(encoding="utf-8")
INTERVAL = 0.2
ANSWERED = "/results?services=few&hosts=one"
ERROR_LINE = re.compile(r"^rules\.yaml:\d+:\d+: ")
PATIENCE = 30.0  # seconds a test waits for every worker to reach a state (a check takes about 1 s)


@pytest.fixture(autouse=True)
def _no_dockwise_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith("DOCKWISE_"):
            monkeypatch.delenv(name)


# --- versions of the file -------------------------------------------------------------------------------------------

def fingerprint_of(text: str) -> str:
    return load_rules_text(text).fingerprint


def because_anchor(text: str) -> str:
    match = re.search(r"^    because: (\S.*)$", text, re.M)
    assert match, "the rules have no `because:` line to edit"
    return match[1]


def edit(text: str, label: str) -> str:
    """A valid version: the first rule's `because` text with `label` appended (its scenarios still pass)."""
    anchor = because_anchor(text)
    return text.replace(anchor, f"{anchor} ({label})", 1)


def same_size_edit(text: str) -> str:
    """A valid version of the same size: the case of the first rule's `because` text's first letter flipped."""
    anchor = because_anchor(text)
    return text.replace(anchor, anchor[0].swapcase() + anchor[1:], 1)


def broken(text: str) -> str:
    """A version that does not load: the first rule names a row that does not exist."""
    return re.sub(r"^    criterion: \S+$", "    criterion: no-such-row", text, count=1, flags=re.M)


def truncated(text: str) -> str:
    """The first half of the file, cut mid-sentence where what is left still loads (its scenarios are gone)."""
    half = len(text) // 2
    for match in re.finditer(r"^    because: ", text[half:], re.M):
        cut = text[:half + match.end() + 20]
        with contextlib.suppress(RulesError):
            load_rules_text(cut)
            return cut
    raise AssertionError("no cut in the second half of the rules leaves a file that loads")


@functools.cache
def big(text: str) -> str:
    """A valid version of almost 1 MiB (the size limit), with as many rules as a file may hold: long rules naming four
    questions each, whose points cancel out in pairs, so every golden scenario still passes. It takes a second or
    more to check."""
    shipped = load_rules_text(text)
    when = ", ".join(f"{q.id}: [{', '.join(c.id for c in q.choices)}]" for q in shipped.questions[:4])
    criterion, option = shipped.model.criteria[0].id, shipped.options[0].id
    because = ("Filler rule {number}, cancelled by its pair; it names four questions and is here to make the file "
               "as large as a rules file may be, so that checking it takes time. ") * 2
    rules, size = [], len(text.encode())
    for number in range(MAX_RULES - len(shipped.rules) - len(shipped.rules) % 2):
        rule = (f"  - id: filler-{number}\n    criterion: {criterion}\n    when: {{{when}}}\n"
                f"    scores: {{{option}: {0.5 if number % 2 == 0 else -0.5}}}\n"
                f"    because: {because.format(number=number).strip()[:300]}\n")
        if size + len(rule) > MAX_BYTES - 1000 and number % 2 == 0:
            break
        rules.append(rule)
        size += len(rule)
    marker = "\nscenarios:\n"
    assert marker in text
    return text.replace(marker, "\n" + "".join(rules) + marker, 1)


def test_the_versions_are_what_they_claim():
    good = [SHIPPED, edit(SHIPPED, "B"), same_size_edit(SHIPPED), big(SHIPPED)]
    fingerprints = [fingerprint_of(text) for text in good]
    assert len(set(fingerprints)) == len(fingerprints)
    for text in good:
        assert all(outcome.passed for outcome in run_scenarios(load_rules_text(text)))
    assert len(same_size_edit(SHIPPED)) == len(SHIPPED)
    assert 900 * 1024 < len(big(SHIPPED).encode()) <= MAX_BYTES
    with pytest.raises(RulesError):
        load_rules_text(broken(SHIPPED))
    cut = load_rules_text(truncated(SHIPPED))
    assert not cut.scenarios
    assert fingerprint_of(truncated(SHIPPED)) not in fingerprints


# --- a served copy ---------------------------------------------------------------------------------------------------

class Served:
    """gunicorn serving a copy of the shipped rules; `get` insists on an answer within 1 s."""

    def __init__(self, tmp_path: Path, *, preload: bool = True, env: dict[str, str] | None = None):
        self.rules = tmp_path / "rules.yaml"
        self.rules.write_text(SHIPPED, encoding="utf-8")
        self.server = Server(tmp_path, workers=2, preload=preload, env={
            "DOCKWISE_RULES_PATH": str(self.rules), "DOCKWISE_RULES_CHECK_INTERVAL": str(INTERVAL),
            "DOCKWISE_STATE_DIR": str(tmp_path / "state"), **(env or {})})

    def write(self, text: str | bytes) -> None:
        """Save in place, as `cp` or an editor writing over the file does."""
        self.rules.write_bytes(text.encode() if isinstance(text, str) else text)

    def get(self, path: str) -> tuple[int, bytes]:
        started = time.monotonic()
        try:
            with urllib.request.urlopen(self.server.url + path, timeout=5) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()
        elapsed = time.monotonic() - started
        assert elapsed < 1.0, f"GET {path} took {elapsed:.2f} s"
        return status, body

    def health(self) -> dict:
        status, body = self.get("/healthz")
        health = json.loads(body)
        assert status == (200 if health["status"] == "ok" else 503), (status, health)
        return health

    def every_worker(self) -> dict[int, dict] | None:
        """/healthz as each worker answers it (bench.loadlib tells the workers apart), or None if one did not."""
        answers, _ = health_by_worker(self.server)
        return answers if answers and set(answers) == set(self.server.worker_pids()) else None

    def eventually(self, condition: Callable[[dict[int, dict]], bool], what: str,
                   while_waiting: Callable[[], None] | None = None) -> dict[int, dict]:
        """Wait until every worker's /healthz satisfies `condition`, answering requests meanwhile."""
        deadline = time.monotonic() + PATIENCE
        while True:
            if while_waiting:
                while_waiting()
            answers = self.every_worker()
            if answers and all(answer["_status"] and condition(answer) for answer in answers.values()):
                return answers
            assert time.monotonic() < deadline, f"not every worker {what} within {PATIENCE:g} s: {answers}"
            time.sleep(0.1)

    def serving(self, text: str, status: str = "ok") -> dict[int, dict]:
        fingerprint = fingerprint_of(text)
        return self.eventually(lambda h: h["rules_fingerprint"] == fingerprint and h["status"] == status,
                               f"serves {fingerprint} ({status})", self.answers_requests)

    def answers_requests(self) -> None:
        for path in ("/", ANSWERED, "/api/questions"):
            assert self.get(path)[0] == 200, path


@pytest.fixture
def served(tmp_path):
    served = Served(tmp_path)
    with served.server:
        yield served


def degraded_with(text: str, message: str) -> Callable[[dict], bool]:
    fingerprint = fingerprint_of(text)
    return lambda h: (h["status"] == "degraded" and h["rules_fingerprint"] == fingerprint
                      and any(message in line for line in h["rules_error"] or ()))


# --- the findings ----------------------------------------------------------------------------------------------------

def test_a_fifo_at_the_rules_path_is_refused_while_requests_are_answered(served):
    served.rules.unlink()
    os.mkfifo(served.rules)
    try:
        answers = served.eventually(degraded_with(SHIPPED, "not a regular file (a FIFO (named pipe))"),
                                    "refuses the FIFO", served.answers_requests)
        assert all(ERROR_LINE.match(line) for h in answers.values() for line in h["rules_error"])
    finally:
        # Should a worker be stuck opening the FIFO (as before this fix), a writer opening it releases it.
        with contextlib.suppress(OSError):
            os.close(os.open(served.rules, os.O_WRONLY | os.O_NONBLOCK))
    served.rules.unlink()
    served.write(edit(SHIPPED, "after the FIFO"))
    served.serving(edit(SHIPPED, "after the FIFO"))


def test_a_same_size_edit_that_keeps_the_old_mtime_is_picked_up(served):
    before = served.rules.stat()
    served.write(same_size_edit(SHIPPED))
    os.utime(served.rules, ns=(before.st_atime_ns, before.st_mtime_ns))  # as `cp -p` or `rsync --inplace -t` do
    after = served.rules.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    served.serving(same_size_edit(SHIPPED))


def test_a_truncated_write_is_never_served(served):
    cut = truncated(SHIPPED)
    served.write(cut)
    seen = set()

    def watch_fingerprints():
        served.answers_requests()
        seen.add(served.health()["rules_fingerprint"])

    answers = served.eventually(degraded_with(SHIPPED, "no golden scenario expects"), "refuses the truncated file",
                                watch_fingerprints)
    for _ in range(int(3 / INTERVAL)):  # and it stays refused
        watch_fingerprints()
    assert seen == {fingerprint_of(SHIPPED)}
    assert fingerprint_of(cut) not in {h["rules_fingerprint"] for h in served.eventually(bool, "answers").values()}
    assert all(ERROR_LINE.match(line) for h in answers.values() for line in h["rules_error"])
    served.write(edit(SHIPPED, "saved in full"))
    served.serving(edit(SHIPPED, "saved in full"))


@pytest.mark.parametrize("preload", [True, False], ids=["preload", "no-preload"])
def test_every_worker_serves_the_last_good_rules_after_a_respawn_and_after_sighup(tmp_path, preload):
    a, b, c = SHIPPED, edit(SHIPPED, "B"), broken(edit(SHIPPED, "C"))
    served = Served(tmp_path, preload=preload)
    with served.server as server:
        served.write(b)
        served.serving(b)
        served.write(c)
        served.eventually(degraded_with(b, "no-such-row"), "keeps B while C is broken")

        victim = server.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        wait_for_workers(server, lambda pids: victim not in pids, "a new worker replaces the killed one")
        answers = served.eventually(degraded_with(b, "no-such-row"), "serves B after the respawn")
        assert fingerprint_of(a) not in {h["rules_fingerprint"] for h in answers.values()}

        before = set(server.worker_pids())
        os.kill(server.process.pid, signal.SIGHUP)
        wait_for_workers(server, lambda pids: not set(pids) & before, "every worker is replaced after SIGHUP")
        served.eventually(degraded_with(b, "no-such-row"), "serves B after SIGHUP")

        served.write(edit(SHIPPED, "D"))
        served.serving(edit(SHIPPED, "D"))
    assert "Traceback" not in server.log_text()


def wait_for_workers(server: Server, condition: Callable[[list[int]], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not (len(pids := server.worker_pids()) == server.workers and condition(pids)):
        assert server.process.poll() is None, f"gunicorn exited:\n{server.log_text()[-3000:]}"
        assert time.monotonic() < deadline, f"{what}: not within {PATIENCE:g} s (workers {pids})"
        time.sleep(0.05)


@pytest.mark.parametrize(("budget", "outcome"), [
    (None, "served"),
    ("0.1", "refused: over the time budget"),
])
def test_a_file_slow_to_check_is_checked_off_the_request_path(tmp_path, budget, outcome):
    text = big(SHIPPED)
    served = Served(tmp_path, env={"DOCKWISE_RULES_RELOAD_SECONDS": budget} if budget else {})
    with served.server:
        served.answers_requests()
        served.write(text)
        if outcome == "served":
            served.serving(text)  # every request on the way answered within 1 s
        else:
            served.eventually(degraded_with(SHIPPED, "took more than 0.1 s of CPU time, the reload budget"),
                              "refuses the file over budget", served.answers_requests)
        served.answers_requests()


def test_a_check_that_needs_more_memory_than_its_budget_is_refused_and_names_the_setting():
    text = big(SHIPPED).encode()
    assert check_in_child(text, "rules.yaml", Budget()).ok
    verdict = check_in_child(text, "rules.yaml", Budget(memory=64 * 1024 * 1024))
    assert not verdict.ok
    assert verdict.final
    assert len(verdict.errors) == 1
    assert ERROR_LINE.match(verdict.errors[0])
    assert "more memory than the reload budget of 64 MiB" in verdict.errors[0]
    assert "DOCKWISE_RULES_RELOAD_MEMORY_MB" in verdict.errors[0]


def slow_to_answer(text: str, count: int = 380) -> str:
    """`text` with `count` more rules, each `all:` of two `any:` lists of 8 answers: 64 alternatives a rule, within
    every size limit, yet about 70 ms of CPU per questionnaire (the shipped rules: under 1 ms)."""
    data = yaml.safe_load(text)
    rng = random.Random(7)
    answers = [(q["id"], c["id"]) for q in data["questions"] for c in q["choices"]]
    rows = [c["id"] for c in data["criteria"]]
    rules = []
    for index in range(count):
        picks = [f"{{{question}: {choice}}}" for question, choice in rng.sample(answers, 16)]
        rules.append(f"  - id: slow-{index}\n    criterion: {rng.choice(rows)}\n"
                     f"    when: {{all: [{{any: [{', '.join(picks[:8])}]}}, {{any: [{', '.join(picks[8:])}]}}]}}\n"
                     "    scores: {docker: 0.001}\n    because: Slow to check.\n")
    return text.replace("\nrules:\n", "\nrules:\n" + "".join(rules), 1)


def test_a_version_that_makes_every_request_slow_is_refused():
    text = slow_to_answer(SHIPPED)
    load_rules_text(text)  # valid, and within every size limit
    verdict = judge(text.encode(), "rules.yaml", frozenset())
    assert not verdict.ok
    assert len(verdict.errors) == 1
    assert ERROR_LINE.match(verdict.errors[0])
    assert "ms of CPU with these rules" in verdict.errors[0]
    assert f"the reload budget is {SERVE_BUDGET_MS:g} ms" in verdict.errors[0]
    assert judge(SHIPPED.encode(), "rules.yaml", frozenset()).ok


def test_thousands_of_errors_are_capped_on_healthz_and_in_the_log(served):
    text = "version: 1\nrules: [" + ", ".join(["{}"] * 1999) + "]\n"
    with pytest.raises(RulesError) as raised:
        load_rules_text(text)
    total = len(raised.value.issues) + getattr(raised.value, "omitted", 0)
    assert total > 1000
    served.write(text)
    answers = served.eventually(lambda h: h["status"] == "degraded", "refuses the file")
    for health in answers.values():
        assert len(health["rules_error"]) == 50
        assert health["rules_errors_omitted"] == total - 50
        assert health["rules_fingerprint"] == fingerprint_of(SHIPPED)
    log = served.server.log_text().splitlines()
    assert len([line for line in log if ERROR_LINE.match(line)]) == 50  # one worker checked it, and logged it once
    assert [line for line in log if line.startswith("… and")] == [f"… and {total - 50:,} more errors (the first 50 "
                                                                  "are shown)"]


def test_without_a_usable_state_directory_each_worker_keeps_its_own_and_serves(tmp_path):
    (tmp_path / "a-file").write_text("not a directory")
    served = Served(tmp_path, env={"DOCKWISE_STATE_DIR": str(tmp_path / "a-file" / "state")})
    with served.server as server:
        served.write(edit(SHIPPED, "B"))
        served.serving(edit(SHIPPED, "B"))
    log = server.log_text()
    assert f"cannot use the state directory {tmp_path / 'a-file' / 'state'}" in log
    assert "set DOCKWISE_STATE_DIR to a directory Dockwise can write" in log
    assert "Traceback" not in log


# --- /healthz details and the settings (no network: the Flask test client) --------------------------------------------

@pytest.fixture
def degraded_app(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(SHIPPED, encoding="utf-8")

    def make(**config):
        app = create_app({"TESTING": True, "RULES_PATH": str(rules), "INSTANCE_PATH": str(tmp_path / "instance"),
                          "RULES_CHECK_INTERVAL": 0, "SECRET_KEY": "x" * 32, **config})
        rules.write_text(broken(SHIPPED), encoding="utf-8")
        app.extensions["dockwise"].refresh()
        return app

    return make


@pytest.mark.parametrize(("remote_addr", "headers", "config", "details"), [
    ("127.0.0.1", {}, {}, True),
    ("::1", {}, {}, True),
    ("203.0.113.9", {}, {}, False),
    ("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}, {}, False),  # a local proxy passing a request on
    ("127.0.0.1", {"Forwarded": "for=203.0.113.9"}, {}, False),
    # Behind a configured proxy, a request from 127.0.0.1 is the proxy's, whether or not it adds X-Forwarded-For.
    ("127.0.0.1", {}, {"PROXY_FIX": 1}, False),
    ("127.0.0.1", {}, {"PUBLIC_URL": "https://dockwise.example.com"}, False),
    ("203.0.113.9", {}, {"HEALTH_DETAILS": True}, True),
    ("127.0.0.1", {}, {"PROXY_FIX": 1, "HEALTH_DETAILS": True}, True),
], ids=["local", "local IPv6", "remote", "through a local proxy", "through a proxy (RFC 7239)",
        "behind a configured proxy", "with a public URL", "remote, setting on", "behind a proxy, setting on"])
def test_healthz_shows_why_it_is_degraded_only_locally_or_when_asked(degraded_app, remote_addr, headers, config,
                                                                     details):
    client = degraded_app(**config).test_client()
    response = client.get("/healthz", headers=headers, environ_base={"REMOTE_ADDR": remote_addr})
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "degraded"
    assert body["rules_fingerprint"] == fingerprint_of(SHIPPED)
    if details:
        assert any("no-such-row" in line for line in body["rules_error"])
        assert body["rules_errors_omitted"] == 0
        assert body["rules_loaded_at"]
    else:
        assert set(body) == {"status", "rules_fingerprint"}


@pytest.mark.parametrize(("name", "value", "message"), [
    ("RULES_CHECK_INTERVAL", "soon", "DOCKWISE_RULES_CHECK_INTERVAL must be a number, at least 0"),
    ("RULES_CHECK_INTERVAL", -1, "DOCKWISE_RULES_CHECK_INTERVAL must be a number, at least 0"),
    ("RULES_RELOAD_SECONDS", 0, "DOCKWISE_RULES_RELOAD_SECONDS must be a number, at least 0.1"),
    ("RULES_RELOAD_MEMORY_MB", 16, "DOCKWISE_RULES_RELOAD_MEMORY_MB must be a number, at least 256"),
    ("HEALTH_DETAILS", "maybe", "DOCKWISE_HEALTH_DETAILS must be 1 (on) or 0 (off)"),
])
def test_a_reload_setting_it_cannot_use_is_named(tmp_path, monkeypatch, name, value, message):
    monkeypatch.setenv(f"DOCKWISE_{name}", json.dumps(value) if not isinstance(value, str) else value)
    with pytest.raises(ConfigError, match=re.escape(message)):
        create_app({"TESTING": True, "RULES_PATH": str(RULES_PATH), "INSTANCE_PATH": str(tmp_path),
                    "SECRET_KEY": "x" * 32})
