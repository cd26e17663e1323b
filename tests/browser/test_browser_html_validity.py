"""The Nu Html Checker (vnu.jar) on the HTML of every kind of page, fetched over HTTP from the live server.

All pages are checked by one JVM run (a module-scoped fixture); each page then passes or fails on its own.
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

# name → (method, path for the live server, form fields or raw body, expected status)
PAGES = {
    "questionnaire": ("GET", lambda s: "/", None, 200),
    "results": ("GET", lambda s: s.results_path(), None, 200),
    "stale-results": ("GET", lambda s: s.stale_results_path, None, 200),
    "results-unmet-needs": ("GET", lambda s: s.unmet_results_path, None, 200),
    "no-answers": ("GET", lambda s: s.no_answers_path, None, 200),
    "invalid-link": ("GET", lambda s: s.invalid_link_path, None, 400),
    "invalid-post": ("POST", lambda s: "/", {"services": "heaps", "hosts": "few"}, 400),
    "expired-form": ("POST", lambda s: "/", {"services": "many", "csrf_token": "expired"}, 400),
    "rules": ("GET", lambda s: "/rules", None, 200),
    "not-found": ("GET", lambda s: "/nope", None, 404),
    "method-not-allowed": ("POST", lambda s: "/rules", {}, 405),
    "too-large": ("POST", lambda s: "/", b"services=" + b"x" * (17 * 1024), 413),
}


def fetch_all(server, folder: Path) -> dict[str, Path]:
    """Save each page's HTML as the browser would get it; check the status so the right page is validated."""
    base = server.url
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    token = None
    files = {}
    for name, (method, path_of, body, status) in PAGES.items():
        data = None
        if method == "POST":
            if isinstance(body, dict):
                if token is None:
                    with opener.open(base + "/", timeout=10) as response:
                        match = re.search(r'name="csrf_token" value="([^"]+)"', response.read().decode())
                    assert match, "the questionnaire has no CSRF token"
                    token = match.group(1)
                data = urllib.parse.urlencode({"csrf_token": token, **body}).encode()
            else:
                data = body
        path = path_of(server)
        request = urllib.request.Request(base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with opener.open(request, timeout=10) as response:
                got, html = response.status, response.read()
        except urllib.error.HTTPError as error:
            got, html = error.code, error.read()
            error.close()
        assert got == status, f"{name}: {method} {path} answered {got}, not {status}"
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


@pytest.mark.parametrize("name", list(PAGES))
def test_nu_html_checker_finds_no_errors(vnu_report, name, note):
    messages = vnu_report[name]
    errors = [m for m in messages if m["type"] in ("error", "non-document-error") or m.get("subType") == "fatal"]
    warnings = [m for m in messages if m not in errors and m.get("subType") == "warning"]
    for warning in warnings:
        note(f"vnu {name}: {describe(warning)}")
        print(f"vnu {name}: {describe(warning)}")
    assert not errors, f"the Nu Html Checker found {len(errors)} error(s) on {name}:\n" + "\n".join(
        "  " + describe(m) for m in errors)
