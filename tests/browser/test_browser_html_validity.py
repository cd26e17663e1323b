"""The Nu Html Checker (vnu.jar) on the HTML of every kind of page, fetched over HTTP from the live server.

All pages are checked by one JVM run (a module-scoped fixture); each page then passes or fails on its own.
/rules is fetched once its answer-space analysis is on the page (each worker computes it in the background after its
first /rules request); the states a live server passes through too quickly to catch (the analysis being computed,
failed, and what changed after a hot reload) are rendered in-process and checked with the rest.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from functools import cache
from pathlib import Path

import pytest

from app import create_app
from web import analysis

ROOT = Path(__file__).resolve().parents[2]
ANALYSIS_SECONDS = 120  # how long /rules may show "being computed" before the test gives up (about 2 s is usual)

# name → (method, path for the live server, form fields or raw body, expected status)
PAGES = {
    "questionnaire": ("GET", lambda s: "/", None, 200),
    "results": ("GET", lambda s: s.results_path(), None, 200),
    "stale-results": ("GET", lambda s: s.stale_results_path, None, 200),
    "results-unmet-needs": ("GET", lambda s: s.unmet_results_path, None, 200),
    "no-answers": ("GET", lambda s: s.no_answers_path, None, 200),
    "invalid-link": ("GET", lambda s: s.invalid_link_path, None, 400),
    "invalid-post": ("POST", lambda s: "/", {"services": "heaps", "hosts": "few"}, 400),
    "old-page-post": ("POST", lambda s: "/", {"services": "many", "csrf_token": "from-an-old-page"}, 200),
    "prefilled": ("GET", lambda s: "/?services=few&hosts=bogus", None, 200),
    "rules": ("GET", lambda s: "/rules", None, 200),
    "not-found": ("GET", lambda s: "/nope", None, 404),
    "method-not-allowed": ("POST", lambda s: "/rules", {}, 405),
    "too-large": ("POST", lambda s: "/", b"services=" + b"x" * (17 * 1024), 413),
}


def analysis_pending(html: bytes) -> bool:
    return b'id="analysis-status"' in html and b"being computed" in html


def fetch_analysed(fetch):
    """fetch() → (status, html) again until the page no longer says its analysis is being computed."""
    deadline = time.monotonic() + ANALYSIS_SECONDS
    got, html = fetch()
    while analysis_pending(html):
        assert time.monotonic() < deadline, f"/rules still computing its analysis after {ANALYSIS_SECONDS} s"
        time.sleep(0.25)
        got, html = fetch()
    return got, html


@cache
def rules_page_states() -> dict[str, bytes]:
    """/rules in-process, in the states a live server passes through too quickly to catch: the analysis being
    computed, computed after a hot reload with what changed, being computed after a reload, and failed."""
    pages = {}
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        rules = Path(folder) / "rules.yaml"
        shutil.copyfile(ROOT / "rules.yaml", rules)
        app = create_app({"TESTING": True, "RULES_PATH": str(rules), "INSTANCE_PATH": folder, "SECRET_KEY": "x",
                          "RULES_CHECK_INTERVAL": 0})
        space, client = app.extensions[analysis.EXTENSION], app.test_client()
        holder = app.extensions["dockwise"]
        gate, explore, diff = threading.Event(), analysis.explore, analysis.diff

        def held(real):
            def wait_for_the_gate(*rulesets, **options):
                if not gate.wait(ANALYSIS_SECONDS):
                    raise TimeoutError("the gate was never opened")
                return real(*rulesets, **options)
            return wait_for_the_gate

        def fail(*rulesets, **options):
            raise RuntimeError("failed on purpose")

        def save(weight: str) -> None:
            rules.write_text((ROOT / "rules.yaml").read_text(encoding="utf-8").replace(
                "    weight: 1.5\n", f"    weight: {weight}\n"), encoding="utf-8")
            later = rules.stat().st_mtime_ns + 1_000_000_000 * (len(pages) + 1)
            os.utime(rules, ns=(later, later))
            holder.refresh()  # TESTING apps have no watcher thread: look at the file now

        try:
            patch.setattr(analysis, "explore", held(explore))
            patch.setattr(analysis, "diff", held(diff))
            pages["rules-computing"] = client.get("/rules").data
            gate.set()
            assert space.wait(ANALYSIS_SECONDS)
            gate.clear()
            save("3.5")  # a heavier weight that still passes every golden scenario (else refused)
            pages["rules-reloaded-computing"] = client.get("/rules").data
            gate.set()
            assert space.wait(ANALYSIS_SECONDS)
            pages["rules-changed"] = client.get("/rules").data
            patch.setattr(analysis, "explore", fail)
            patch.setattr(analysis, "diff", fail)
            save("0.5")
            client.get("/rules")
            assert space.wait(ANALYSIS_SECONDS)
            pages["rules-failed"] = client.get("/rules").data
        finally:
            gate.set()  # never leave a thread held
    assert b'id="change-matrix"' in pages["rules-changed"]
    assert pages["rules-failed"].count(b"could not be computed") == 2
    return pages


def fetch_all(server, folder: Path) -> dict[str, Path]:
    """Save each page's HTML as the browser would get it; check the status so the right page is validated."""
    base = server.url
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    files = {}
    for name, (method, path_of, body, status) in PAGES.items():
        data = None
        if method == "POST":
            data = urllib.parse.urlencode(body).encode() if isinstance(body, dict) else body
        path = path_of(server)
        request = urllib.request.Request(base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")

        def fetch(request=request):
            try:
                with opener.open(request, timeout=10) as response:
                    return response.status, response.read()
            except urllib.error.HTTPError as error:
                with error:
                    return error.code, error.read()
        got, html = fetch_analysed(fetch) if name == "rules" else fetch()
        assert got == status, f"{name}: {method} {path} answered {got}, not {status}"
        files[name] = folder / f"{name}.html"
        files[name].write_bytes(html)
    for name, html in rules_page_states().items():
        files[name] = folder / f"{name}.html"
        files[name].write_bytes(html)
    return files


@pytest.fixture(scope="module")
def vnu_report(live_server, vnu_command, tmp_path_factory) -> dict[str, list[dict]]:
    """{page name: vnu messages}: one JVM run over every saved page."""
    folder = tmp_path_factory.mktemp("html")
    files = fetch_all(live_server, folder)
    by_file = {path.resolve().as_uri(): name for name, path in files.items()}
    run = subprocess.run([*vnu_command, "--format", "json", "--stdout", *map(str, files.values())],
                         capture_output=True, text=True, timeout=120, check=False)
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"vnu.jar gave no JSON (exit {run.returncode}):\n{run.stdout}\n{run.stderr}", pytrace=False)
    messages: dict[str, list[dict]] = {name: [] for name in files}
    for message in report["messages"]:
        path = Path(urllib.parse.unquote(urllib.parse.urlsplit(message.get("url", "")).path))
        name = by_file.get(path.resolve().as_uri())
        if name is None:
            pytest.fail(f"vnu.jar reported a message for no page: {message}", pytrace=False)
        messages[name].append(message)
    return messages


def describe(message: dict) -> str:
    where = f"line {message.get('lastLine', '?')}:{message.get('firstColumn', message.get('lastColumn', '?'))}"
    kind = message.get("subType") or message["type"]
    extract = " ".join(message.get("extract", "").split())
    return f"{kind} at {where}: {message['message']}" + (f"\n      in: {extract}" if extract else "")


@pytest.mark.parametrize("name", [*PAGES, "rules-computing", "rules-reloaded-computing", "rules-changed",
                                  "rules-failed"])
def test_nu_html_checker_finds_no_errors(vnu_report, name, note):
    messages = vnu_report[name]
    errors = [m for m in messages if m["type"] in ("error", "non-document-error") or m.get("subType") == "fatal"]
    warnings = [m for m in messages if m not in errors and m.get("subType") == "warning"]
    for warning in warnings:
        note(f"vnu {name}: {describe(warning)}")
        print(f"vnu {name}: {describe(warning)}")
    assert not errors, f"the Nu Html Checker found {len(errors)} error(s) on {name}:\n" + "\n".join(
        "  " + describe(m) for m in errors)
