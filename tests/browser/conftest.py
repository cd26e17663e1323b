"""Real-browser fixtures: a live gunicorn server, one Debian Chromium per session, a new context per test.

Everything here is real: gunicorn is started as the deployment starts it (`--preload serve:app`, two workers) on a free
loopback port by harness.server, with a temporary copy of rules.yaml and a fixed secret key; Chromium is Debian's
/usr/bin/chromium driven by Playwright. Nothing is skipped: a missing browser, Java or npm package fails the run and
says which command installs it (`scripts/install-test-deps`, which `scripts/test` runs first).
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from harness.server import Server, ServerError

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
NODE_MODULES = ROOT / "node_modules"
AXE_JS = NODE_MODULES / "axe-core" / "axe.min.js"
VNU_JAR = NODE_MODULES / "vnu-jar" / "build" / "dist" / "vnu.jar"
INSTALL_HINT = "run scripts/install-test-deps (scripts/test runs it before pytest)"

# Without the background-networking flags Chromium's own connections fail on this closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECRET_KEY = "dockwise-browser-tests-fixed-secret-key"

# A representative set of answers: Compose / Swarm wins clearly, with a row pulling the other way, a robustness
# sentence and several what-if links that would make it Kubernetes.
ANSWERS = {
    "services": "many",
    "hosts": "few",
    "availability": "minutes",
    "team_size": "small",
    "managed": "available",
}
STALE_FINGERPRINT = "00000000"


def query(answers: dict[str, str], fingerprint: str | None = None) -> str:
    parts = [f"{name}={value}" for name, value in answers.items()]
    if fingerprint:
        parts.append(f"rules={fingerprint}")
    return "&".join(parts)


class LiveServer:
    """A running gunicorn: its base URL, its rules fingerprint and a few URLs the suites share."""

    answers = ANSWERS

    def __init__(self, url: str, fingerprint: str, rules: Path = ROOT / "rules.yaml"):
        self.url = url
        self.fingerprint = fingerprint
        self.rules = rules

    def results_path(self, answers: dict[str, str] = ANSWERS, fingerprint: str | None = None) -> str:
        return "/results?" + query(answers, fingerprint or self.fingerprint)

    @property
    def stale_results_path(self) -> str:
        return self.results_path(fingerprint=STALE_FINGERPRINT)

    @property
    def unmet_results_path(self) -> str:
        """A results page whose recommendation leaves a stated need unmet, with open questions and other options'
        unmet needs (found in the served rules, so it holds whatever their scores)."""
        return self.results_path(_answers_leaving_needs_unmet(self.rules))

    @property
    def no_answers_path(self) -> str:
        return "/results?rules=" + self.fingerprint

    @property
    def invalid_link_path(self) -> str:
        return "/results?services=heaps&hosts=few&rules=" + self.fingerprint


def _answers_leaving_needs_unmet(rules_path: Path) -> dict[str, str]:
    from recommender import evaluate, explain, load_rules

    ruleset = load_rules(rules_path)
    rng = random.Random(3)
    for _ in range(20_000):
        answers = {q.id: rng.choice(q.choices).id for q in ruleset.questions if rng.random() < 0.5}
        doc = explain(evaluate(ruleset, answers)).as_json()
        needs = doc["unmet_needs"]
        if needs[doc["recommendation"]] and doc["open"]["questions"] and len([n for n in needs.values() if n]) > 1:
            return answers
    pytest.fail(f"no answers in {rules_path.name} leave a need unmet: the rules' choices name no `unmet` texts")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """gunicorn serving the app on a free loopback port, with its own copy of the rules; stopped at session end."""
    workdir = tmp_path_factory.mktemp("live-server")
    rules = workdir / "rules.yaml"
    shutil.copyfile(ROOT / "rules.yaml", rules)
    # The rooms' SQLite database in the temporary folder, not in the checkout's instance folder.
    env = {"DOCKWISE_RULES_PATH": str(rules), "DOCKWISE_DATABASE_URL": f"sqlite:///{workdir / 'rooms.sqlite3'}"}
    server = Server(workdir, env=env, secret_key=SECRET_KEY)
    try:
        server.start()
    except ServerError as error:
        pytest.fail(str(error))
    with server:
        yield LiveServer(server.url, server.fingerprint, rules)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, launched once for the whole session. Missing browser = failure, never a skip."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: {INSTALL_HINT}", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_context(browser: Browser, live_server: LiveServer) -> Iterator:
    """A factory for fresh browser contexts on the live server; every context is closed after the test."""
    contexts: list[BrowserContext] = []

    def make(**options) -> BrowserContext:
        context = browser.new_context(base_url=live_server.url, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_context) -> Page:
    """A page in a fresh JavaScript-enabled context."""
    return new_context().new_page()


def _require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        pytest.fail(f"{what} is missing ({path.relative_to(ROOT)}): {INSTALL_HINT}", pytrace=False)
    return path


@pytest.fixture(scope="session")
def axe_script() -> Path:
    """axe-core's browser build, from the pinned npm package."""
    return _require_file(AXE_JS, "axe-core")


@pytest.fixture(scope="session")
def vnu_command() -> list[str]:
    """The Nu Html Checker's command line (java -jar vnu.jar), from the pinned npm package vnu-jar."""
    java = shutil.which("java")
    if not java:
        pytest.fail(f"java is not installed (the Nu Html Checker needs it): {INSTALL_HINT}", pytrace=False)
    return [java, "-jar", str(_require_file(VNU_JAR, "The Nu Html Checker (vnu-jar)"))]


NOTES = pytest.StashKey[list[str]]()


@pytest.fixture
def note(request: pytest.FixtureRequest):
    """Keep a line for the end-of-run summary (e.g. a validator warning), shown even when every test passes."""
    lines = request.config.stash.setdefault(NOTES, [])
    return lines.append


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    lines = config.stash.get(NOTES, [])
    if lines:
        terminalreporter.section("browser suite notes")
        for line in lines:
            terminalreporter.write_line(line)
