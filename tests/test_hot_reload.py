"""Editing rules.yaml while Dockwise serves, and serving with rules that were broken from the start.

The app here has no watcher thread (RULES_CHECK_INTERVAL 0): each test makes the look the watcher makes every interval
itself, with `look(client)` (`health(client)` looks first too), so what a look does is tested without waiting on a
clock. Requests never look at the file (tested below). Every write still bumps the file's mtime (os.utime), as an
editor's save does. The served file starts as a copy of tests/data/minimal.yaml: what is checked is reloading, whatever
the shipped rules say. tests/test_reload_safety.py runs the watcher under gunicorn.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from app import create_app
from harness.server import Server, ServerError
from recommender import RulesError, evaluate, explain, load_rules, load_rules_text

ROOT = Path(__file__).resolve().parent.parent
BASE_TEXT = (Path(__file__).resolve().parent / "data" / "minimal.yaml").read_text(encoding="utf-8")
BASE_FINGERPRINT = load_rules_text(BASE_TEXT).fingerprint

ERROR_LINE = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+):(?P<col>\d+): \S.*$")

# Valid edits, each anchored on text that occurs exactly once in minimal.yaml.
WEIGHT = ("    weight: 1.5\n", "    weight: 4\n")  # High Availability's
HA_QUERY = "hosts=one"  # answers that fire a High Availability rule
ANSWERED = "/results?hosts=one&traffic=steady"  # a results page whose drivers show OLD_BECAUSE
OLD_BECAUSE = "One machine needs no orchestrator."
NEW_BECAUSE = "Edited while serving, one machine needs no scheduler."
BECAUSE = (f"    because: {OLD_BECAUSE}\n", f"    because: {NEW_BECAUSE}\n")
CHOICE_LABEL = ("        label: One machine\n", "        label: One machine (edited)\n")

# Broken edits: (old, new, whether the error's line is exactly the edited line).
MISSPELT_CHOICE = ("    when: {hosts: one}\n", "    when: {hosts: oen}\n", True)
UNKNOWN_FIELD = ("    when: {hosts: many}\n", "    when: {hosts: many}\n    wieght: 2\n", False)
YAML_SYNTAX = ("closeness:\n  close: 1.0\n", "closeness:\n  close: [1.0\n", False)
BAD_WEIGHT = ("    weight: 1.5\n", "    weight: heavy\n", True)


def edited(*edits) -> str:
    text = BASE_TEXT
    for old, new, *_ in edits:
        assert text.count(old) == 1, f"edit anchor is not unique in minimal.yaml: {old!r}"
        text = text.replace(old, new)
    return text


def line_of(text: str, fragment: str) -> int:
    return text[:text.index(fragment)].count("\n") + 1


class RulesFile:
    """A copy of minimal.yaml that tests edit; each change moves the mtime forward by a whole second."""

    def __init__(self, path: Path):
        self.path = path
        path.write_text(BASE_TEXT, encoding="utf-8")
        self.mtime_ns = path.stat().st_mtime_ns

    def _next_mtime(self) -> int:
        self.mtime_ns += 1_000_000_000
        return self.mtime_ns

    def write(self, text: str | bytes) -> None:
        if isinstance(text, str):
            text = text.encode("utf-8")
        self.path.write_bytes(text)
        os.utime(self.path, ns=(self.mtime_ns, self._next_mtime()))

    def replace_with(self, text: str, *, mtime_ns: int | None = None) -> None:
        """Save the way many editors do: write a temporary file, then rename it over the original."""
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(text, encoding="utf-8")
        mtime = self._next_mtime() if mtime_ns is None else mtime_ns
        os.utime(temporary, ns=(mtime, mtime))
        os.replace(temporary, self.path)

    def fingerprint(self) -> str:
        return load_rules(self.path).fingerprint


pytestmark = pytest.mark.usefixtures("no_dockwise_environment")


@pytest.fixture
def rules_file(tmp_path) -> RulesFile:
    return RulesFile(tmp_path / "rules.yaml")


def _app(tmp_path, rules_path, **config):
    return create_app({"TESTING": True, "RULES_PATH": str(rules_path), "INSTANCE_PATH": str(tmp_path / "instance"),
                       "RULES_CHECK_INTERVAL": 0, "WTF_CSRF_ENABLED": False, **config})


@pytest.fixture
def client(tmp_path, rules_file):
    return _app(tmp_path, rules_file.path).test_client()


def look(client) -> None:
    """The watcher's look at the file: a new version is checked (in a child process) and served if it passes."""
    client.application.extensions["dockwise"].refresh()


def health(client) -> dict:
    """/healthz after a look at the file: 200 only when the file as it is serves, else 503."""
    look(client)
    response = client.get("/healthz")
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert response.status_code == (200 if body["status"] == "ok" else 503)
    return body


def text_of(client, path: str, status: int = 200) -> str:
    """The page's text as a reader sees it: tags dropped, entities decoded, white space collapsed."""
    response = client.get(path)
    assert response.status_code == status, response.get_data(as_text=True)[:1000]
    return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", response.get_data(as_text=True))).split())


def assert_serving(client, fingerprint: str) -> None:
    """Every page answers, under the rules with this fingerprint."""
    # (Not /rules: it explores the whole answer space once per rules version, which is slow and tested elsewhere.)
    for path in ("/", ANSWERED, "/results.md?hosts=many", "/api/questions"):
        assert client.get(path).status_code == 200, path
    assert client.get("/api/questions").get_json()["rules_fingerprint"] == fingerprint
    assert f"rules={fingerprint}" in client.post("/", data={"hosts": "many"}).headers["Location"]


# --- valid edits ----------------------------------------------------------------------------------------------------

def served_result(client, query: str = HA_QUERY) -> dict:
    response = client.get("/api/recommendations?" + query)
    assert response.status_code == 200
    body = response.get_json()
    body.pop("share_url")
    return body


def expected_result(text: str, query: str = HA_QUERY) -> dict:
    ruleset = load_rules_text(text, "rules.yaml")
    return json.loads(json.dumps(explain(evaluate(ruleset, dict(parse_qsl(query)))).as_json()))


def test_a_changed_weight_is_picked_up(client, rules_file):
    assert health(client)["rules_fingerprint"] == BASE_FINGERPRINT
    assert served_result(client) == expected_result(BASE_TEXT)
    rules_file.write(edited(WEIGHT))
    body = health(client)
    assert body["status"] == "ok"
    assert body["rules_fingerprint"] == rules_file.fingerprint() != BASE_FINGERPRINT
    page = text_of(client, "/rules")
    assert "High Availability weight 4" in page
    assert rules_file.fingerprint() in page
    assert served_result(client) == expected_result(edited(WEIGHT)) != expected_result(BASE_TEXT)
    assert_serving(client, rules_file.fingerprint())


def test_a_changed_because_text_is_picked_up(client, rules_file):
    assert OLD_BECAUSE in text_of(client, ANSWERED)
    rules_file.write(edited(BECAUSE))
    assert health(client)["rules_fingerprint"] == rules_file.fingerprint()
    for path in ("/rules", ANSWERED):
        page = text_of(client, path)
        assert NEW_BECAUSE in page
        assert OLD_BECAUSE not in page
    assert NEW_BECAUSE in client.get(ANSWERED.replace("/results", "/results.md")).get_data(as_text=True)


def test_a_changed_choice_label_reaches_the_form(client, rules_file):
    rules_file.write(edited(CHOICE_LABEL))
    look(client)
    assert "One machine (edited)" in text_of(client, "/")
    response = client.post("/", data={"hosts": "one"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/results?hosts=one&rules={rules_file.fingerprint()}"


def test_a_link_made_before_the_edit_says_the_rules_changed(client, rules_file):
    link = client.post("/", data={"hosts": "many"}).headers["Location"]
    assert "rules have changed" not in text_of(client, link)
    rules_file.write(edited(WEIGHT))
    look(client)
    assert "rules have changed" in text_of(client, link)


def test_replacing_the_file_by_rename_is_picked_up(client, rules_file):
    rules_file.replace_with(edited(WEIGHT))
    assert health(client)["rules_fingerprint"] == rules_file.fingerprint() != BASE_FINGERPRINT


def test_a_rename_with_the_same_size_and_mtime_is_picked_up_by_its_inode(client, rules_file):
    before = rules_file.path.stat()
    same_size = BASE_TEXT.replace("    weight: 1.5\n", "    weight: 2.5\n", 1)
    assert same_size != BASE_TEXT
    assert len(same_size) == len(BASE_TEXT)
    rules_file.replace_with(same_size, mtime_ns=before.st_mtime_ns)
    after = rules_file.path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert after.st_ino != before.st_ino
    assert health(client)["rules_fingerprint"] == rules_file.fingerprint() != BASE_FINGERPRINT


def test_a_kubernetes_configmap_update_is_picked_up_through_its_symbolic_links(tmp_path):
    """A mounted ConfigMap: rules.yaml → ..data/rules.yaml, and an update swaps the ..data link to a new folder."""
    volume = tmp_path / "configmap"
    for version, text in (("..v1", BASE_TEXT), ("..v2", edited(WEIGHT))):
        (volume / version).mkdir(parents=True)
        (volume / version / "rules.yaml").write_text(text, encoding="utf-8")
    (volume / "..data").symlink_to("..v1")
    (volume / "rules.yaml").symlink_to("..data/rules.yaml")
    client = _app(tmp_path, volume / "rules.yaml").test_client()
    assert health(client)["rules_fingerprint"] == BASE_FINGERPRINT
    (volume / "..data_tmp").symlink_to("..v2")
    os.replace(volume / "..data_tmp", volume / "..data")
    assert health(client)["rules_fingerprint"] == load_rules_text(edited(WEIGHT)).fingerprint


@pytest.mark.parametrize(("text", "served"), [(edited(WEIGHT), True), (edited(MISSPELT_CHOICE), False)],
                         ids=["valid edit", "broken edit"])
def test_requests_never_read_the_file_only_the_watcher_does(client, rules_file, text, served):
    assert client.get("/healthz").get_json()["rules_fingerprint"] == BASE_FINGERPRINT
    rules_file.write(text)
    for _ in range(3):
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.get_json()["status"] == "ok"
        assert response.get_json()["rules_fingerprint"] == BASE_FINGERPRINT
        assert served_result(client) == expected_result(BASE_TEXT)
    look(client)
    after = load_rules_text(text).fingerprint if served else BASE_FINGERPRINT
    assert client.get("/healthz").get_json()["rules_fingerprint"] == after


# --- broken edits ---------------------------------------------------------------------------------------------------

BROKEN_EDITS = [
    pytest.param(lambda: edited(MISSPELT_CHOICE), line_of(edited(MISSPELT_CHOICE), "hosts: oen"), id="unknown choice"),
    pytest.param(lambda: edited(BAD_WEIGHT), line_of(edited(BAD_WEIGHT), "weight: heavy"), id="wrong type"),
    pytest.param(lambda: edited(UNKNOWN_FIELD), None, id="unknown field"),
    pytest.param(lambda: edited(YAML_SYNTAX), None, id="yaml syntax"),
    pytest.param(lambda: "", None, id="empty file"),
    pytest.param(lambda: BASE_TEXT[:BASE_TEXT.index("scores: {docker: 2") + 3], None, id="half written"),
    pytest.param(lambda: BASE_TEXT.encode("utf-8") + b"# \xff\n", None, id="not utf-8"),
]


@pytest.mark.parametrize(("broken", "line"), BROKEN_EDITS)
def test_a_broken_edit_keeps_the_last_good_rules_and_reports_the_errors(client, rules_file, broken, line):
    rules_file.write(edited(WEIGHT))
    good = rules_file.fingerprint()
    assert health(client)["rules_fingerprint"] == good
    text = broken()
    with pytest.raises(RulesError):
        load_rules_from(rules_file, text)
    rules_file.write(text)

    body = health(client)
    assert body["status"] == "degraded"
    assert body["rules_fingerprint"] == good
    assert body["rules_loaded_at"]
    assert body["rules_error"]
    for error in body["rules_error"]:
        match = ERROR_LINE.match(error)
        assert match, error
        assert match["file"] == "rules.yaml"
    if line is not None:
        assert line in {int(ERROR_LINE.match(e)["line"]) for e in body["rules_error"]}, body["rules_error"]
    assert_serving(client, good)
    assert served_result(client) == expected_result(edited(WEIGHT))  # the last good rules, not the first ones

    rules_file.write(BASE_TEXT)
    body = health(client)
    assert body["status"] == "ok"
    assert body["rules_error"] is None
    assert body["rules_fingerprint"] == BASE_FINGERPRINT
    assert_serving(client, BASE_FINGERPRINT)


def load_rules_from(rules_file: RulesFile, text: str | bytes):
    """Check a broken text really is broken, without touching the served file."""
    probe = rules_file.path.with_name("probe.yaml")
    probe.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return load_rules(probe)


def test_a_broken_edit_is_logged_once_per_version(client, rules_file, caplog):
    caplog.set_level(logging.ERROR, logger="dockwise.rules")
    rules_file.write(edited(MISSPELT_CHOICE))
    for _ in range(3):
        health(client)
    keeping = [r for r in caplog.records if "keeping the last good rules" in r.getMessage()]
    assert len(keeping) == 1
    assert any("hosts" in r.getMessage() and "oen" in r.getMessage() for r in caplog.records)
    rules_file.write(edited(YAML_SYNTAX))
    health(client)
    assert len([r for r in caplog.records if "keeping the last good rules" in r.getMessage()]) == 2


def test_a_missing_file_is_logged_once_not_on_every_request(client, rules_file, caplog):
    caplog.set_level(logging.ERROR, logger="dockwise.rules")
    rules_file.path.unlink()
    for _ in range(3):
        health(client)
    assert len([r for r in caplog.records if "keeping the last good rules" in r.getMessage()]) == 1
    assert len([r for r in caplog.records if "cannot read" in r.getMessage()]) == 1


def test_a_deleted_file_keeps_serving_until_it_is_back(client, rules_file):
    rules_file.path.unlink()
    body = health(client)
    assert body["status"] == "degraded"
    assert body["rules_fingerprint"] == BASE_FINGERPRINT
    assert len(body["rules_error"]) == 1
    assert ERROR_LINE.match(body["rules_error"][0])
    assert "cannot read" in body["rules_error"][0]
    assert_serving(client, BASE_FINGERPRINT)
    rules_file.write(edited(WEIGHT))
    body = health(client)
    assert body["status"] == "ok"
    assert body["rules_fingerprint"] == rules_file.fingerprint()


def test_an_editor_save_by_rename_keeps_serving_throughout(client, rules_file):
    backup = rules_file.path.with_name("rules.yaml~")
    os.rename(rules_file.path, backup)  # the editor moves the original away ...
    assert_serving(client, BASE_FINGERPRINT)
    assert health(client)["status"] == "degraded"
    rules_file.replace_with(edited(BECAUSE))  # ... and renames the new version into place
    body = health(client)
    assert body["status"] == "ok"
    assert body["rules_fingerprint"] == rules_file.fingerprint()
    assert NEW_BECAUSE in text_of(client, ANSWERED)


# --- broken from the start ------------------------------------------------------------------------------------------

BROKEN_FROM_START = [
    pytest.param(lambda: edited(MISSPELT_CHOICE), id="unknown choice"),
    pytest.param(lambda: edited(YAML_SYNTAX), id="yaml syntax"),
    pytest.param(lambda: "", id="empty file"),
    pytest.param(None, id="missing file"),
]


@pytest.fixture(params=BROKEN_FROM_START)
def broken_app(request, tmp_path, rules_file):
    if request.param is None:
        rules_file.path.unlink()
    else:
        rules_file.write(request.param())
    return _app(tmp_path, rules_file.path)  # lenient: building the app does not stop on broken rules


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/"), ("GET", "/?hosts=one"), ("POST", "/"), ("GET", "/results?hosts=one"),
    ("GET", "/results.md?hosts=one"), ("GET", "/rules"),
])
def test_with_broken_rules_from_the_start_pages_are_503_in_the_site_layout(broken_app, method, path):
    data = {"hosts": "one"} if method == "POST" else None
    response = broken_app.test_client().open(path, method=method, data=data)
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    assert '<header class="site">' in text
    assert '<footer class="site">' in text
    assert re.search(r"<h1>Service Unavailable</h1>", text)
    assert "<title>503 Service Unavailable — Dockwise</title>" in text
    assert "Traceback" not in text
    assert str(ROOT) not in text
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_with_broken_rules_a_csrf_protected_post_is_503_too(tmp_path, rules_file):
    rules_file.write(edited(MISSPELT_CHOICE))
    client = _app(tmp_path, rules_file.path, WTF_CSRF_ENABLED=True).test_client()
    assert client.post("/", data={"hosts": "one"}).status_code == 503


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/questions"), ("GET", "/api/recommendations?hosts=one"), ("POST", "/api/recommendations"),
])
def test_with_broken_rules_from_the_start_the_api_is_503_json(broken_app, method, path):
    response = broken_app.test_client().open(path, method=method, json={"answers": {"hosts": "one"}})
    assert response.status_code == 503
    assert response.mimetype == "application/json"
    assert response.get_json()["errors"][0]["message"]


def test_with_broken_rules_from_the_start_healthz_says_failing(broken_app):
    response = broken_app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "failing"
    assert body["rules_fingerprint"] is None
    assert body["rules_loaded_at"] is None
    assert body["rules_error"]
    for error in body["rules_error"]:
        assert ERROR_LINE.match(error), error
        assert error.startswith("rules.yaml:")


def test_rules_broken_from_the_start_are_served_once_fixed(broken_app, rules_file):
    client = broken_app.test_client()
    assert client.get("/").status_code == 503
    rules_file.write(BASE_TEXT)
    assert health(client)["status"] == "ok"
    assert_serving(client, BASE_FINGERPRINT)


def _python(code: str, rules_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKWISE_", "FLASK_"))}
    env["DOCKWISE_RULES_PATH"] = str(rules_path)
    env["DOCKWISE_SECRET_KEY"] = "subprocess-test-key-" * 2  # so the repo's instance folder is not written to
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def test_importing_app_py_does_not_fail_on_broken_rules(rules_file):
    rules_file.write(edited(MISSPELT_CHOICE))
    result = _python("import app, sys; sys.exit('app' in vars(app))", rules_file.path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("preload", [False, True], ids=["in-workers", "preload"])
def test_gunicorns_app_refuses_to_serve_broken_rules_with_every_error(tmp_path, rules_file, preload):
    """`gunicorn serve:app` halts with exit 3 (its WORKER_BOOT_ERROR: no worker is respawned) and logs every error.

    Without --preload each worker loads the app: one worker here, because when two fail to boot at the same moment
    gunicorn's own shutdown can trip over the second failure (HaltServer raised again while halting: exit 1 and a
    traceback, a race in gunicorn's arbiter, not in Dockwise). scripts/run preloads: the master refuses, once.
    """
    rules_file.write(edited(MISSPELT_CHOICE))
    server = Server(tmp_path, env={"DOCKWISE_RULES_PATH": str(rules_file.path),
                                   "DOCKWISE_STATE_DIR": str(tmp_path / "state")}, preload=preload,
                    workers=2 if preload else 1)
    with pytest.raises(ServerError, match="gunicorn exited with 3 before serving"):
        server.start()
    log = server.log_text()
    line = line_of(edited(MISSPELT_CHOICE), "hosts: oen")
    assert re.search(rf"^rules\.yaml:{line}:\d+: ", log, re.M), log
    assert "Traceback" not in log
