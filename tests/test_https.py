"""The HTTPS side, which the live audits (scripts/audit, plain HTTP on a loopback port) cannot see: behind a
TLS-terminating proxy that sends `X-Forwarded-Proto: https`, with `PROXY_FIX` set to the number of proxies, every
response carries HSTS and the session cookie is Secure; without PROXY_FIX the forwarded headers are ignored, so a
client cannot claim HTTPS (no HSTS, no Secure cookie).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app import create_app

ROOT = Path(__file__).resolve().parent.parent
RULES_PATH = ROOT / "rules.yaml"
ONE_YEAR = 365 * 24 * 3600
PUBLIC_HOST = "dockwise.example"
TLS_PROXY = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": PUBLIC_HOST, "X-Forwarded-For": "203.0.113.7"}

# Every kind of response: pages, redirects, the API, static files, and error pages of each status.
RESPONSES = [
    pytest.param("GET", "/", {}, 200, id="questionnaire"),
    pytest.param("GET", "/results?services=few&hosts=one", {}, 200, id="results"),
    pytest.param("GET", "/results?services=heaps", {}, 400, id="invalid link"),
    pytest.param("GET", "/results.md?services=few", {}, 200, id="decision record"),
    pytest.param("GET", "/rules", {}, 200, id="rules"),
    pytest.param("GET", "/healthz", {}, 200, id="healthz"),
    pytest.param("GET", "/favicon.ico", {}, 301, id="favicon redirect"),
    pytest.param("GET", "/static/style.css", {}, 200, id="stylesheet"),
    pytest.param("HEAD", "/", {}, 200, id="HEAD"),
    pytest.param("OPTIONS", "/", {}, 200, id="OPTIONS"),
    pytest.param("POST", "/", {"data": {"services": "few"}}, 400, id="form without CSRF token"),
    pytest.param("POST", "/", {"data": {"padding": "x" * 17000}}, 413, id="form too large"),
    pytest.param("GET", "/nope", {}, 404, id="not found"),
    pytest.param("DELETE", "/", {}, 405, id="method not allowed"),
    pytest.param("GET", "/api/questions", {}, 200, id="API questions"),
    pytest.param("POST", "/api/recommendations", {"json": {"answers": {"services": "few"}}}, 200, id="API post"),
    pytest.param("POST", "/api/recommendations", {"json": {"answers": {"services": "x"}}}, 400, id="API 400"),
    pytest.param("POST", "/api/recommendations", {"data": "x"}, 415, id="API 415"),
    pytest.param("GET", "/api/nope", {}, 404, id="API 404"),
]


@pytest.fixture
def make_app(tmp_path):
    def make(**config):
        return create_app({"TESTING": True, "SECRET_KEY": "https-test-secret", "RULES_PATH": str(RULES_PATH),
                           "INSTANCE_PATH": str(tmp_path / "instance"), **config})
    return make


def session_cookie(response) -> dict[str, str | bool] | None:
    """The session's Set-Cookie as {attribute (lower case): value or True}, or None when none is set."""
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]
    if not headers:
        return None
    assert len(headers) == 1, headers
    attributes: dict[str, str | bool] = {}
    for part in headers[0].split(";")[1:]:
        name, sep, value = part.strip().partition("=")
        attributes[name.lower()] = value if sep else True
    return attributes


def assert_hsts(response) -> None:
    hsts = response.headers.get("Strict-Transport-Security")
    assert hsts, f"no HSTS on {response.request.method} {response.request.path} ({response.status})"
    match = re.fullmatch(r"max-age=(\d+)(; includeSubDomains)?(; preload)?", hsts)
    assert match, hsts
    assert int(match.group(1)) >= ONE_YEAR
    assert match.group(2), "includeSubDomains"


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), RESPONSES)
def test_behind_a_tls_proxy_every_response_has_hsts(make_app, method, path, kwargs, status):
    client = make_app(PROXY_FIX=1).test_client()
    response = client.open(path, method=method, headers=TLS_PROXY, buffered=True, **kwargs)
    assert response.status_code == status
    assert_hsts(response)
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), RESPONSES)
def test_without_proxy_fix_the_forwarded_headers_are_ignored(make_app, method, path, kwargs, status):
    client = make_app().test_client()  # PROXY_FIX defaults to 0
    response = client.open(path, method=method, headers=TLS_PROXY, buffered=True, **kwargs)
    assert response.status_code == status
    assert "Strict-Transport-Security" not in response.headers
    cookie = session_cookie(response)
    assert cookie is None or "secure" not in cookie
    assert PUBLIC_HOST not in response.get_data(as_text=True)


@pytest.mark.parametrize(("method", "path", "kwargs"), [
    pytest.param("GET", "/", {}, id="questionnaire"),
    pytest.param("POST", "/", {"data": {"services": "few"}}, id="CSRF failure page, which carries a fresh token"),
])
def test_behind_a_tls_proxy_the_session_cookie_is_secure(make_app, method, path, kwargs):
    client = make_app(PROXY_FIX=1).test_client()
    response = client.open(path, method=method, headers=TLS_PROXY, **kwargs)
    cookie = session_cookie(response)
    assert cookie is not None, "the questionnaire sets the session cookie (it holds the CSRF token)"
    assert cookie.get("secure") is True
    assert cookie.get("httponly") is True
    assert cookie.get("samesite") == "Lax"
    assert_hsts(response)


def test_without_proxy_fix_a_client_claiming_https_gets_no_secure_cookie(make_app):
    response = make_app().test_client().get("/", headers={"X-Forwarded-Proto": "https"})
    cookie = session_cookie(response)
    assert cookie is not None
    assert "secure" not in cookie
    assert cookie.get("httponly") is True
    assert "Strict-Transport-Security" not in response.headers


@pytest.mark.parametrize(("proxies", "forwarded", "secure"), [
    pytest.param(1, None, False, id="proxy configured, no header: plain HTTP"),
    pytest.param(1, "http", False, id="the proxy says http"),
    pytest.param(1, "https, http", False, id="a client's spoofed https before the proxy's http is ignored"),
    pytest.param(1, "http, https", True, id="the proxy's own (last) value counts"),
    pytest.param(2, "https, http", True, id="two proxies: the outer one's value counts"),
    pytest.param(2, "https", False, id="two proxies configured, one value: not trusted"),
])
def test_only_the_trusted_proxys_value_decides(make_app, proxies, forwarded, secure):
    client = make_app(PROXY_FIX=proxies).test_client()
    headers = {"X-Forwarded-Proto": forwarded} if forwarded else {}
    response = client.get("/", headers=headers)
    assert response.status_code == 200
    assert ("Strict-Transport-Security" in response.headers) == secure
    assert ("secure" in session_cookie(response)) == secure


def test_a_whole_visit_through_a_tls_proxy(make_app):
    """Questionnaire → post (CSRF over HTTPS checks the Referer against the public host) → results with an https
    share link; every response with HSTS, the cookie Secure."""
    client = make_app(PROXY_FIX=1).test_client()
    page = client.get("/", headers=TLS_PROXY)
    assert session_cookie(page).get("secure") is True
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    posted = client.post("/", data={"csrf_token": token, "services": "few", "hosts": "one"},
                         headers={**TLS_PROXY, "Referer": f"https://{PUBLIC_HOST}/"})
    assert posted.status_code == 303, posted.get_data(as_text=True)[:500]
    assert_hsts(posted)
    location = urlsplit(posted.headers["Location"])
    assert location.scheme in ("", "https")
    assert location.netloc in ("", PUBLIC_HOST)
    results = client.get(location.path + "?" + location.query, headers=TLS_PROXY)
    assert results.status_code == 200
    assert_hsts(results)
    assert f'value="https://{PUBLIC_HOST}/results?services=few&amp;hosts=one' in results.get_data(as_text=True)


def test_over_a_tls_proxy_a_post_from_another_site_is_refused(make_app):
    client = make_app(PROXY_FIX=1).test_client()
    page = client.get("/", headers=TLS_PROXY)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    posted = client.post("/", data={"csrf_token": token, "services": "few"},
                         headers={**TLS_PROXY, "Referer": "https://evil.example/"})
    assert posted.status_code == 400
    assert_hsts(posted)


@pytest.fixture(scope="module")
def apps_by_proxy_count(tmp_path_factory):
    instance = tmp_path_factory.mktemp("https-instance")
    return {proxies: create_app({"TESTING": True, "SECRET_KEY": "https-test-secret", "RULES_PATH": str(RULES_PATH),
                                 "INSTANCE_PATH": str(instance), "PROXY_FIX": proxies}) for proxies in (0, 1)}


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(values=st.lists(st.sampled_from(["https", "http", "HTTPS", "wss", "ws", "", "ftp", " https "]),
                       min_size=1, max_size=3),
       proxy_fix=st.sampled_from([0, 1]))
def test_hsts_exactly_when_the_trusted_proxy_says_https(apps_by_proxy_count, values, proxy_fix):
    header = ", ".join(values)
    response = apps_by_proxy_count[proxy_fix].test_client().get("/api/questions",
                                                                headers={"X-Forwarded-Proto": header})
    # With one trusted proxy the last (non-empty) value is the proxy's own; https and wss are the secure schemes.
    items = [value.strip() for value in values if value.strip()]
    secure = proxy_fix == 1 and bool(items) and items[-1] in ("https", "wss")
    assert ("Strict-Transport-Security" in response.headers) == secure, header
