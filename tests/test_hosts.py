"""Dockwise's edge: which Host values it answers (TRUSTED_HOSTS), the public URL every absolute link uses
(DOCKWISE_PUBLIC_URL), which forwarded headers it trusts (DOCKWISE_PROXY_FIX, and never gunicorn on its own), the
caching headers of every response, and bodies that stream past the size limit.

The header logic runs in Flask's test client; what gunicorn itself does with the headers is checked against a real
gunicorn (harness.server.Server, as scripts/run serves).
"""

from __future__ import annotations

import html
import http.client
import io
import os
import re
import shlex
import subprocess
import time
import urllib.request
from urllib.parse import urlsplit

import pytest
from routes import PROTECTED, add_test_routes
from shipped import RULES_PATH

from app import ConfigError, create_app
from harness.server import ROOT, Server, ServerError, free_port, gunicorn_path

KEY = "edge-test-secret-key-of-32-bytes"
QUERY = "services=few&hosts=one"
EVIL = "evil.example"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
LINK = re.compile(r'(?:href|value)="(https?:[^"]*)"')


pytestmark = pytest.mark.usefixtures("no_dockwise_environment")


@pytest.fixture
def make_app(tmp_path):
    def make(**config):
        return add_test_routes(create_app({"TESTING": True, "RULES_PATH": str(RULES_PATH), "SECRET_KEY": KEY,
                                           "INSTANCE_PATH": str(tmp_path / "instance"), **config}))
    return make


@pytest.fixture(scope="module")
def app_for(tmp_path_factory):
    """Apps built once per configuration and shared by the module's tests (none changes one): building one takes a
    few hundred milliseconds."""
    instance, built = tmp_path_factory.mktemp("instance"), {}

    def build(**config):
        key = tuple(sorted(config.items()))
        if key not in built:
            built[key] = add_test_routes(create_app({"TESTING": True, "RULES_PATH": str(RULES_PATH),
                                                     "SECRET_KEY": KEY, "INSTANCE_PATH": str(instance), **config}))
        return built[key]
    return build


def absolute_links(response) -> list[str]:
    """Every absolute URL of a response: the page's links and share box, the Location, an API's share_url, and the
    record's share link."""
    text = response.get_data(as_text=True)
    found = [html.unescape(link) for link in LINK.findall(text)] + re.findall(r"<(https?://[^>]+)>", text)
    if response.is_json and isinstance(response.get_json(), dict) and "share_url" in response.get_json():
        found.append(response.get_json()["share_url"])
    if response.headers.get("Location", "").startswith(("http:", "https:")):
        found.append(response.headers["Location"])
    return found


# Every kind of response that holds or points at an absolute link (and the plain page and API for good measure).
ROUTES = [
    pytest.param("GET", f"/results?{QUERY}", id="results page"),
    pytest.param("GET", "/results?hosts=one&services=few", id="results redirect"),
    pytest.param("GET", f"/results.md?{QUERY}", id="decision record"),
    pytest.param("GET", f"/api/recommendations?{QUERY}", id="API"),
    pytest.param("GET", "/static//style.css", id="static redirect"),
    pytest.param("GET", "/", id="questionnaire"),
    pytest.param("GET", "/healthz", id="health"),
    pytest.param("POST", "/", id="old questionnaire post"),
]


# --- TRUSTED_HOSTS ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("host", [EVIL, f"{EVIL}:8000", f"localhost.{EVIL}", "a/b", "localhost:abc", "x@localhost",
                                  "localhost:99999", ""])
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_an_untrusted_or_invalid_host_gets_a_400_that_never_shows_it(app_for, host, method, path):
    response = app_for().test_client().open(path, method=method, headers={"Host": host},
                                             data={"services": "few"} if method == "POST" else None)
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert EVIL not in body
    assert "Location" not in response.headers
    assert "http:/" not in body  # what an invalid Host gave before: links with no host at all
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    if path.startswith("/api/"):
        assert "DOCKWISE_TRUSTED_HOSTS" in response.get_json()["errors"][0]["message"]
    else:
        assert "<main" in body
        assert "DOCKWISE_TRUSTED_HOSTS" in body


@pytest.mark.parametrize("host", ["localhost", "localhost:5000", "127.0.0.1", "127.0.0.1:8000"])
def test_the_local_addresses_are_served_by_default(app_for, host):
    response = app_for().test_client().get(f"/results?{QUERY}", headers={"Host": host})
    assert response.status_code == 200
    assert all(urlsplit(link).netloc == host for link in absolute_links(response))


@pytest.mark.parametrize(("host", "status"), [("a.example", 200), ("b.example", 200), ("www.b.example", 200),
                                              ("c.example", 400), ("localhost", 400), ("ab.example", 400)])
def test_dockwise_trusted_hosts_lists_the_hosts_served(make_app, monkeypatch, host, status):
    monkeypatch.setenv("DOCKWISE_TRUSTED_HOSTS", "a.example, .b.example")
    assert make_app().test_client().get("/", headers={"Host": host}).status_code == status


@pytest.mark.parametrize("value", ["*", "localhost:8000", "::1", "a b", "https://a.example", ",", "é.example"])
def test_a_trusted_host_that_is_no_host_name_is_refused_at_start(make_app, monkeypatch, value):
    monkeypatch.setenv("DOCKWISE_TRUSTED_HOSTS", value)
    with pytest.raises(ConfigError, match=r"^DOCKWISE_TRUSTED_HOSTS "):
        make_app()


# --- DOCKWISE_PUBLIC_URL ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("public", "origin", "prefix"), [
    ("https://dockwise.example.com", "https://dockwise.example.com", ""),
    ("https://dockwise.example.com:8443/", "https://dockwise.example.com:8443", ""),
    ("https://example.com/tools/dockwise/", "https://example.com", "/tools/dockwise"),
])
@pytest.mark.parametrize("headers", [
    pytest.param({"Host": "127.0.0.1:8000"}, id="nginx's default Host ($proxy_host)"),
    pytest.param({"Host": "localhost", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "127.0.0.1"},
                 id="forwarded headers saying otherwise"),
])
@pytest.mark.parametrize(("method", "path"), [param for param in ROUTES if param.id != "health"])
def test_with_a_public_url_every_absolute_link_uses_it(app_for, public, origin, prefix, headers, method, path):
    client = app_for(PROXY_FIX=1, PUBLIC_URL=public).test_client()
    response = client.open(path, method=method, headers=headers, data={"services": "few"} if method == "POST" else None)
    assert response.status_code in (200, 303, 308)
    links = absolute_links(response)
    assert all(link.startswith(f"{origin}{prefix}/") for link in links), links
    location = response.headers.get("Location")
    assert location is None or location.startswith((f"{prefix}/", f"{origin}{prefix}/")), location
    if path.startswith(("/results?services", "/results.md", "/api/")):  # share box, canonical link, record, API
        assert f"{origin}{prefix}/results?{QUERY}&rules=" in " ".join(links)


@pytest.mark.parametrize("path", ["/results", "/tools/dockwise/results"], ids=["prefix removed by the proxy",
                                                                               "prefix passed on"])
def test_a_public_url_with_a_path_prefix_serves_and_links_under_it(make_app, monkeypatch, path):
    monkeypatch.setenv("DOCKWISE_PUBLIC_URL", "https://example.com/tools/dockwise")
    response = make_app().test_client().get(f"{path}?{QUERY}")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert 'href="/tools/dockwise/static/style.css' in body
    assert 'action="/tools/dockwise/results"' in body or "/tools/dockwise/results.md?" in body


def test_behind_nginx_with_its_default_headers_a_form_from_the_public_page_is_accepted(make_app, monkeypatch):
    """nginx sends `Host: $proxy_host` (the upstream address) unless told otherwise; over HTTPS Flask-WTF compares
    the browser's Referer with the host, which must be the public one."""
    monkeypatch.setenv("DOCKWISE_PUBLIC_URL", "https://dockwise.example.com")
    client = make_app(PROXY_FIX=1, WTF_CSRF_ENABLED=True).test_client()
    upstream = {"Host": "127.0.0.1:8000", "X-Forwarded-Proto": "https"}
    page = client.get(PROTECTED, headers=upstream)
    token = TOKEN.search(page.get_data(as_text=True))[1]
    referer = {"Referer": f"https://dockwise.example.com{PROTECTED}"}
    sent = client.post(PROTECTED, data={"csrf_token": token, "note": "ship it"}, headers={**upstream, **referer})
    assert sent.status_code == 303, sent.get_data(as_text=True)[:400]
    forged = client.post(PROTECTED, data={"csrf_token": token, "note": "x"},
                         headers={**upstream, "Referer": f"https://{EVIL}{PROTECTED}"})
    assert forged.status_code == 400
    assert "The referrer does not match the host." in forged.get_data(as_text=True)


@pytest.mark.parametrize("value", ["dockwise.example.com", "ftp://dockwise.example.com", "https://user:pw@x.example",
                                   "https://x.example/?a=1", "https://x.example/#top", "https://", "https://x:99999",
                                   "https://ex ample.com", "https://x.example/a b", "https://x.example//a",
                                   "https://[::1]"])
def test_a_public_url_that_is_not_a_plain_origin_is_refused_at_start(make_app, monkeypatch, value):
    monkeypatch.setenv("DOCKWISE_PUBLIC_URL", value)
    with pytest.raises(ConfigError, match=r"^DOCKWISE_PUBLIC_URL .*e\.g\. https://dockwise\.example\.com"):
        make_app()


# --- forwarded headers --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("proto", ["javascript", "http, javascript", "ftp", "HTTPS", "wss", "https:"])
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_forwarded_scheme_other_than_http_or_https_is_refused(app_for, proto, method, path):
    client = app_for(PROXY_FIX=1).test_client()
    response = client.open(path, method=method, headers={"X-Forwarded-Proto": proto},
                           data={"services": "few"} if method == "POST" else None)
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "javascript:" not in body
    assert "Location" not in response.headers
    assert "X-Forwarded-Proto" in body
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("host", [EVIL, "a/b", "localhost:abc", "x" * 300])
def test_a_forwarded_host_that_is_not_trusted_is_refused(app_for, host):
    response = app_for(PROXY_FIX=1).test_client().get(f"/results?{QUERY}", headers={"X-Forwarded-Host": host})
    assert response.status_code == 400
    assert EVIL not in response.get_data(as_text=True)


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", "6", "true", "[1]"])
def test_a_proxy_count_that_is_not_a_small_whole_number_is_refused_at_start(make_app, monkeypatch, value):
    monkeypatch.setenv("DOCKWISE_PROXY_FIX", value)
    with pytest.raises(ConfigError, match=r"^DOCKWISE_PROXY_FIX must be a whole number from 0 to 5"):
        make_app()


@pytest.mark.parametrize(("value", "hops"), [("0", 0), ("1", 1), ("2", 2)])
def test_a_proxy_count_from_the_environment_is_used(make_app, monkeypatch, value, hops):
    monkeypatch.setenv("DOCKWISE_PROXY_FIX", value)
    assert make_app().config["PROXY_FIX"] == hops


# --- Cache-Control and Vary ---------------------------------------------------------------------------------------

CACHING = [
    # method, path, request keyword arguments, status, Cache-Control
    pytest.param("GET", "/", {}, 200, "no-cache", id="questionnaire"),
    pytest.param("GET", "/", {"headers": {"If-None-Match": "*"}}, 304, "no-cache", id="questionnaire, 304"),
    pytest.param("GET", "/?services=few", {}, 200, "no-cache", id="prefilled questionnaire"),
    pytest.param("GET", f"/results?{QUERY}", {}, 200, "no-cache", id="results"),
    pytest.param("GET", f"/results.md?{QUERY}", {}, 200, "no-cache", id="record"),
    pytest.param("GET", "/rules", {}, 200, "no-cache", id="rules page"),
    pytest.param("GET", "/api/questions", {}, 200, "no-cache", id="API questions"),
    pytest.param("POST", "/api/recommendations", {"json": {"answers": {}}}, 200, "no-cache", id="API post"),
    pytest.param("GET", "/static/style.css", {}, 200, "no-cache", id="static file"),
    pytest.param("GET", "/healthz", {}, 200, "no-store", id="health"),
    pytest.param("GET", "/static//style.css", {}, 308, "no-cache", id="308 redirect"),
    pytest.param("GET", "/favicon.ico", {}, 301, "no-cache", id="301 redirect"),
    pytest.param("GET", "/results?hosts=one&services=few", {}, 303, "no-cache", id="303 redirect"),
    pytest.param("OPTIONS", "/", {}, 200, "no-cache", id="OPTIONS"),
    pytest.param("HEAD", f"/results?{QUERY}", {}, 200, "no-cache", id="HEAD"),
    pytest.param("GET", "/results?services=heaps", {}, 400, "no-store", id="400 invalid link"),
    pytest.param("GET", "/", {"headers": {"Host": EVIL}}, 400, "no-store", id="400 untrusted host"),
    pytest.param("POST", PROTECTED, {"data": {"note": "x"}}, 400, "no-store", id="400 CSRF failure"),
    pytest.param("GET", "/nope", {}, 404, "no-store", id="404"),
    pytest.param("GET", "/api/nope", {}, 404, "no-store", id="API 404"),
    pytest.param("DELETE", "/", {}, 405, "no-store", id="405"),
    pytest.param("POST", "/", {"data": {"padding": "x" * 17000}}, 413, "no-store", id="413"),
    pytest.param("POST", "/api/recommendations", {"data": "x"}, 415, "no-store", id="415"),
    pytest.param("GET", "/boom", {}, 500, "no-store", id="500"),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "policy"), CACHING)
def test_every_response_says_how_it_may_be_cached(app_for, method, path, kwargs, status, policy):
    response = app_for(WTF_CSRF_ENABLED=True).test_client().open(path, method=method, buffered=True, **kwargs)
    assert response.status_code == status
    assert response.headers.getlist("Cache-Control") == [policy]


@pytest.mark.parametrize(("config", "varies"), [
    pytest.param({"PROXY_FIX": 1}, True, id="forwarded headers decide scheme and host"),
    pytest.param({"PROXY_FIX": 0}, False, id="no proxy trusted"),
    pytest.param({"PROXY_FIX": 1, "PUBLIC_URL": "https://dockwise.example.com"}, False, id="public URL fixes them"),
])
@pytest.mark.parametrize("path", [f"/results?{QUERY}", f"/results.md?{QUERY}", f"/api/recommendations?{QUERY}", "/"])
def test_responses_vary_on_the_forwarded_headers_exactly_when_those_decide_them(app_for, config, varies, path):
    response = app_for(**config).test_client().get(path)
    assert response.status_code == 200
    forwarded = {"x-forwarded-proto", "x-forwarded-host"} <= {value.lower() for value in response.vary}
    assert forwarded == varies


def test_a_page_that_reads_the_session_varies_on_cookie(make_app):
    response = make_app(WTF_CSRF_ENABLED=True).test_client().get(PROTECTED)
    assert "Cookie" in response.vary
    assert response.headers["Cache-Control"] == "no-cache"


# --- bodies without Content-Length --------------------------------------------------------------------------------

def chunked(client, path: str, body: bytes, content_type: str):
    """POST `body` as a chunked request does: no Content-Length, and a server that marks the input as terminated."""
    return client.post(path, input_stream=io.BytesIO(body), content_type=content_type,
                       headers={"Transfer-Encoding": "chunked"}, environ_overrides={"wsgi.input_terminated": True})


@pytest.mark.parametrize(("size", "status"), [(16 * 1024, 200), (16 * 1024 + 1, 413), (40_000, 413)])
def test_a_chunked_api_body_over_16_kib_is_a_413_in_json(app_for, size, status):
    start = b'{"answers": {"services": "few"}, "padding": "'
    body = start + b"x" * (size - len(start) - 2) + b'"}'
    response = chunked(app_for().test_client(), "/api/recommendations", body, "application/json")
    assert response.status_code == status
    if status == 413:
        assert response.get_json() == {"errors": [{"question": None, "choice": None, "message":
                                                   "The request is larger than Dockwise accepts (16 KiB)."}]}
    else:
        assert response.get_json()["share_url"].endswith("/results?services=few&rules=" +
                                                         response.get_json()["rules_fingerprint"])


def test_a_chunked_form_over_16_kib_is_a_413_page(app_for):
    response = chunked(app_for().test_client(), "/", b"services=few&padding=" + b"x" * 17000,
                       "application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert "larger than Dockwise accepts" in response.get_data(as_text=True)


# --- under gunicorn -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Dockwise under gunicorn as scripts/run serves it (DOCKWISE_PROXY_FIX unset: no proxy trusted)."""
    with Server(tmp_path_factory.mktemp("edge"), workers=1, env={"DOCKWISE_RULES_PATH": str(RULES_PATH)}) as running:
        yield running


def fetch(server, method: str, path: str, headers: dict[str, str], body: bytes | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read().decode()
    finally:
        connection.close()


@pytest.mark.parametrize("headers", [
    {"X-Forwarded-Proto": "https"},
    {"X-Forwarded-Ssl": "on"},
    {"X-Forwarded-Protocol": "ssl"},
    {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "127.0.0.1"},
])
def test_gunicorn_trusts_no_forwarded_header_from_a_local_client(server, headers):
    """gunicorn's own defaults trust these from 127.0.0.1: a local client must not switch HSTS and https links on."""
    status, response_headers, body = fetch(server, "GET", f"/results?{QUERY}", headers)
    assert status == 200
    assert "Strict-Transport-Security" not in response_headers
    assert "https://" not in body
    assert f"http://127.0.0.1:{server.port}/results?{QUERY}" in html.unescape(body)


@pytest.mark.parametrize(("path", "headers"), [
    (f"/results?{QUERY}", {"Host": EVIL}),
    ("/static//style.css", {"Host": EVIL}),
    (f"/api/recommendations?{QUERY}", {"Host": f"{EVIL}:80"}),
    (f"/results?{QUERY}", {"X-Forwarded-Host": EVIL}),
])
def test_gunicorn_serves_no_page_with_the_attackers_host(server, path, headers):
    status, response_headers, body = fetch(server, "GET", path, headers)
    if "Host" in headers:
        assert status == 400
        assert response_headers["Cache-Control"] == "no-store"
    assert EVIL not in body
    assert EVIL not in response_headers.get("Location", "")


def test_gunicorn_answers_a_chunked_body_over_16_kib_with_413_json(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    body = b'{"answers": {}, "padding": "' + b"x" * 20000 + b'"}'
    connection.request("POST", "/api/recommendations", body=iter([body[i:i + 4096] for i in range(0, len(body), 4096)]),
                       headers={"Content-Type": "application/json"}, encode_chunked=True)
    response = connection.getresponse()
    assert response.status == 413
    assert b"larger than Dockwise accepts" in response.read()
    connection.close()


@pytest.mark.parametrize(("options", "message"), [
    ({"env": {"DOCKWISE_PROXY_FIX": "-1"}}, "DOCKWISE_PROXY_FIX must be a whole number"),
    ({"env": {"DOCKWISE_PROXY_FIX": "abc"}}, "DOCKWISE_PROXY_FIX must be a whole number"),
    ({"env": {"DOCKWISE_PUBLIC_URL": "dockwise.example.com"}}, "DOCKWISE_PUBLIC_URL "),
    ({"secret_key": "1"}, "DOCKWISE_SECRET_KEY is 1 byte long; use at least 32 random bytes"),
], ids=["proxy count -1", "proxy count abc", "public URL without a scheme", "short secret key"])
def test_gunicorn_refuses_to_start_with_a_bad_setting_and_says_which(tmp_path, options, message):
    server = Server(tmp_path, workers=1, startup_seconds=20, **options)
    try:
        with pytest.raises(ServerError):
            server.start()
    finally:
        server.stop()  # had it started, it would be serving: stop it whatever the outcome
    assert server.process.returncode == 3  # gunicorn's WORKER_BOOT_ERROR: it halts instead of retrying
    log = server.log_text()
    assert f"Dockwise cannot start: {message}" in log
    assert "Traceback" not in log


def test_scripts_run_leaves_no_control_socket_for_other_instances_to_share(tmp_path):
    """gunicorn's default control socket is one per user ($HOME/.gunicorn/gunicorn.ctl), so a second instance would
    take it over: scripts/run turns it off. Its gunicorn command runs here on a free port, with HOME in tmp_path."""
    [line] = [line for line in (ROOT / "scripts" / "run").read_text().splitlines() if line.startswith("exec ")]
    port = free_port()
    command = [gunicorn_path() if word.endswith("/gunicorn") else word.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
               for word in shlex.split(line)[1:]]
    home = tmp_path / "home"
    home.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "XDG_RUNTIME_DIR"}
    env.update(HOME=str(home), DOCKWISE_SECRET_KEY=KEY, DOCKWISE_RULES_PATH=str(RULES_PATH))
    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not _answers(f"http://127.0.0.1:{port}/healthz"):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    finally:
        # gunicorn starts its control socket before it handles any signal: after a clean stop, it would be in the log.
        process.terminate()
        process.wait(timeout=20)
    assert "Control socket" not in log.read_text()
    assert not (home / ".gunicorn").exists()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False
