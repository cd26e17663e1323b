"""The HTTPS side, which the live audits (scripts/audit, plain HTTP on a loopback port) cannot see: behind a
TLS-terminating proxy that sends `X-Forwarded-Proto: https`, with `PROXY_FIX` set to the number of proxies, every
response carries HSTS and the session cookie is Secure; without PROXY_FIX the forwarded headers are ignored, so a
client cannot claim HTTPS (no HSTS, no Secure cookie).

The questionnaire is a GET form to /results and sets no cookie (nor does an old page's `POST /`), so the session
cookie is checked through a test-only form that CSRFProtect guards, as tests/test_web.py does.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from routes import PROTECTED, SENT, add_test_routes

from app import create_app

ROOT = Path(__file__).resolve().parent.parent
RULES_PATH = ROOT / "rules.yaml"
ONE_YEAR = 365 * 24 * 3600
PUBLIC_HOST = "dockwise.example"
TLS_PROXY = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": PUBLIC_HOST, "X-Forwarded-For": "203.0.113.7"}


# Every kind of response: pages, redirects, the API, static files, the protected form, and error pages of each
# status (the CSRF failure page too). Only the protected form's page sets the session cookie (it holds the token).
RESPONSES = [
    # method, path, request keyword arguments, status, whether the response sets the session cookie
    pytest.param("GET", "/", {}, 200, False, id="questionnaire"),
    pytest.param("GET", "/?services=few&hosts=one", {}, 200, False, id="prefilled questionnaire"),
    pytest.param("POST", "/", {"data": {"services": "few", "hosts": "one"}}, 303, False,
                 id="old page's post, without a token or referer"),
    pytest.param("POST", "/", {"data": {"csrf_token": "ImZyb20tYW4tb2xkLXBhZ2Ui.expired", "services": "few"}}, 303,
                 False, id="old page's post with its stale token"),
    pytest.param("POST", "/", {"data": {"services": "heaps"}}, 400, False, id="old page's post, bad answer"),
    pytest.param("GET", "/results?services=few&hosts=one", {}, 200, False, id="results"),
    pytest.param("GET", "/results?hosts=one&services=few", {}, 303, False, id="results, non-canonical query"),
    pytest.param("GET", "/results?services=heaps", {}, 400, False, id="invalid link"),
    pytest.param("GET", "/results.md?services=few", {}, 200, False, id="decision record"),
    pytest.param("GET", "/rules", {}, 200, False, id="rules"),
    pytest.param("GET", "/healthz", {}, 200, False, id="healthz"),
    pytest.param("GET", "/favicon.ico", {}, 301, False, id="favicon redirect"),
    pytest.param("GET", "/static/style.css", {}, 200, False, id="stylesheet"),
    pytest.param("HEAD", "/", {}, 200, False, id="HEAD"),
    pytest.param("OPTIONS", "/", {}, 200, False, id="OPTIONS"),
    pytest.param("GET", PROTECTED, {}, 200, True, id="protected form"),
    pytest.param("POST", PROTECTED, {"data": {"note": "ship it"}}, 400, False, id="CSRF failure"),
    pytest.param("POST", PROTECTED, {"data": {"note": "ship it", "csrf_token": "not-a-token"}}, 400, False,
                 id="CSRF failure, bad token"),
    pytest.param("POST", "/", {"data": {"padding": "x" * 17000}}, 413, False, id="old page's post too large"),
    pytest.param("POST", PROTECTED, {"data": {"padding": "x" * 17000}}, 413, False, id="protected form too large"),
    pytest.param("GET", "/nope", {}, 404, False, id="not found"),
    pytest.param("DELETE", "/", {}, 405, False, id="method not allowed"),
    pytest.param("GET", "/boom", {}, 500, False, id="unexpected error"),
    pytest.param("GET", "/api/questions", {}, 200, False, id="API questions"),
    pytest.param("POST", "/api/recommendations", {"json": {"answers": {"services": "few"}}}, 200, False,
                 id="API post"),
    pytest.param("POST", "/api/recommendations", {"json": {"answers": {"services": "x"}}}, 400, False, id="API 400"),
    pytest.param("POST", "/api/recommendations", {"data": "x"}, 415, False, id="API 415"),
    pytest.param("GET", "/api/nope", {}, 404, False, id="API 404"),
    pytest.param("GET", "/api/boom", {}, 500, False, id="API 500"),
]


@pytest.fixture
def make_app(tmp_path):
    """An app as in production (CSRF on, PROXY_FIX 0 unless given) with the test-only routes, serving the public
    host (and localhost, the test client's)."""
    def make(**config):
        return add_test_routes(create_app({
            "TESTING": True, "SECRET_KEY": "https-test-secret", "RULES_PATH": str(RULES_PATH),
            "INSTANCE_PATH": str(tmp_path / "instance"), "WTF_CSRF_ENABLED": True, "PROXY_FIX": 0,
            "TRUSTED_HOSTS": ["localhost", PUBLIC_HOST], **config}))
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


def assert_no_cookie(response) -> None:
    assert "Set-Cookie" not in response.headers, response.headers.getlist("Set-Cookie")


def assert_hsts(response) -> None:
    hsts = response.headers.get("Strict-Transport-Security")
    assert hsts, f"no HSTS on {response.request.method} {response.request.path} ({response.status})"
    match = re.fullmatch(r"max-age=(\d+)(; includeSubDomains)?(; preload)?", hsts)
    assert match, hsts
    assert int(match.group(1)) >= ONE_YEAR
    assert match.group(2), "includeSubDomains"


def assert_stays_on_the_public_https_site(location: str) -> None:
    """A redirect's target: relative (resolved against the public https address) or that address itself."""
    parts = urlsplit(location)
    assert parts.scheme in ("", "https"), location
    assert parts.netloc in ("", PUBLIC_HOST), location


class _Inputs(HTMLParser):
    """Every <form> and <input> of a page, as attribute dicts, in page order (each input with its form's index)."""

    def __init__(self, html: str):
        super().__init__()
        self.forms: list[dict[str, str | None]] = []
        self.inputs: list[tuple[int | None, dict[str, str | None]]] = []
        self._open: int | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        if tag == "form":
            self.forms.append(dict(attrs))
            self._open = len(self.forms) - 1
        elif tag == "input":
            self.inputs.append((self._open, dict(attrs)))

    def handle_endtag(self, tag):
        if tag == "form":
            self._open = None


def csrf_token_of(response) -> str:
    tokens = [attrs["value"] for _, attrs in _Inputs(response.get_data(as_text=True)).inputs
              if attrs.get("name") == "csrf_token"]
    assert len(tokens) == 1, tokens
    return tokens[0]


def questionnaire_query(response, answers: dict[str, str]) -> tuple[str, str]:
    """What pressing "Recommend" on the questionnaire sends: the form's action and its query (hidden fields, then
    every radio group's checked value in page order, `answers` picked). The form is a GET form with no token."""
    parsed = _Inputs(response.get_data(as_text=True))
    [index] = [i for i, form in enumerate(parsed.forms) if "questionnaire" in (form.get("class") or "").split()]
    form = parsed.forms[index]
    assert (form["method"] or "").lower() == "get"
    fields = [attrs for owner, attrs in parsed.inputs if owner == index]
    assert not [attrs for attrs in fields if attrs.get("name") == "csrf_token"]
    pairs = [(attrs["name"], attrs["value"]) for attrs in fields if attrs.get("type") == "hidden"]
    groups: dict[str, list[dict[str, str | None]]] = {}
    for attrs in fields:
        if attrs.get("type") == "radio":
            groups.setdefault(attrs["name"], []).append(attrs)
    assert set(answers) <= set(groups), (answers, list(groups))
    for name, radios in groups.items():
        values = [radio["value"] for radio in radios]
        picked = answers.get(name, next((radio["value"] for radio in radios if "checked" in radio), None))
        assert picked in values, (name, picked, values)
        pairs.append((name, picked))
    return form["action"], urlencode(pairs)


# --- every response -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "kwargs", "status", "sets_cookie"), RESPONSES)
def test_behind_a_tls_proxy_every_response_has_hsts(make_app, method, path, kwargs, status, sets_cookie):
    client = make_app(PROXY_FIX=1).test_client()
    response = client.open(path, method=method, headers=TLS_PROXY, buffered=True, **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert_hsts(response)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    cookie = session_cookie(response)
    if sets_cookie:
        assert cookie is not None
        assert cookie.get("secure") is True
    else:
        assert_no_cookie(response)
    if 300 <= status < 400:
        assert_stays_on_the_public_https_site(response.headers["Location"])


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "sets_cookie"), RESPONSES)
def test_without_proxy_fix_the_forwarded_headers_are_ignored(make_app, method, path, kwargs, status, sets_cookie):
    client = make_app().test_client()  # PROXY_FIX 0, the default
    response = client.open(path, method=method, headers=TLS_PROXY, buffered=True, **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert "Strict-Transport-Security" not in response.headers
    cookie = session_cookie(response)
    assert (cookie is not None) == sets_cookie, response.headers.getlist("Set-Cookie")
    assert cookie is None or "secure" not in cookie
    assert PUBLIC_HOST not in response.get_data(as_text=True)
    assert PUBLIC_HOST not in response.headers.get("Location", "")


# --- the session cookie (through the protected form) ----------------------------------------------------------------

@pytest.mark.parametrize("before", [
    pytest.param([], id="protected form"),
    pytest.param([{"data": {"note": "ship it"}}], id="reloaded after a CSRF failure without a token"),
    pytest.param([{"data": {"note": "ship it", "csrf_token": "not-a-token"}}], id="reloaded after a bad token"),
])
def test_behind_a_tls_proxy_the_session_cookie_is_secure(make_app, before):
    client = make_app(PROXY_FIX=1).test_client()
    for kwargs in before:  # failed posts: a generic 400 page, with HSTS, that sets no cookie
        failed = client.post(PROTECTED, headers=TLS_PROXY, **kwargs)
        assert failed.status_code == 400
        assert_hsts(failed)
        assert_no_cookie(failed)
    response = client.get(PROTECTED, headers=TLS_PROXY)
    assert response.status_code == 200
    cookie = session_cookie(response)
    assert cookie is not None, "the protected form sets the session cookie (it holds the CSRF token)"
    assert cookie.get("secure") is True
    assert cookie.get("httponly") is True
    assert cookie.get("samesite") == "Lax"
    assert_hsts(response)


@pytest.mark.parametrize("headers", [
    pytest.param({"X-Forwarded-Proto": "https"}, id="X-Forwarded-Proto"),
    pytest.param(TLS_PROXY, id="all the proxy's headers"),
])
def test_without_proxy_fix_a_client_claiming_https_gets_no_secure_cookie(make_app, headers):
    response = make_app().test_client().get(PROTECTED, headers=headers)
    assert response.status_code == 200
    cookie = session_cookie(response)
    assert cookie is not None
    assert "secure" not in cookie
    assert cookie.get("httponly") is True
    assert cookie.get("samesite") == "Lax"
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
    response = client.get(PROTECTED, headers=headers)
    assert response.status_code == 200
    assert ("Strict-Transport-Security" in response.headers) == secure
    cookie = session_cookie(response)
    assert cookie is not None
    assert ("secure" in cookie) == secure


# --- whole visits ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("answers", [
    # In question order, as the canonical query lists them.
    pytest.param({"services": "few", "hosts": "one"}, id="two answers"),
    pytest.param({"tenants": "many"}, id="one answer"),
])
def test_a_whole_visit_through_a_tls_proxy(make_app, answers):
    """Questionnaire → its GET form to /results (redirected to the canonical query) → results with an https share
    link on the public host; every response with HSTS, and no cookie anywhere."""
    client = make_app(PROXY_FIX=1).test_client()
    page = client.get("/", headers=TLS_PROXY)
    assert page.status_code == 200
    assert_hsts(page)
    assert_no_cookie(page)
    action, query = questionnaire_query(page, answers)
    assert action == "/results"
    results = client.get(f"{action}?{query}", headers=TLS_PROXY, follow_redirects=True)
    assert results.status_code == 200
    # The form sends every question, "Not sure" too: the results redirect that to the canonical query.
    assert [step.status_code for step in results.history] == [303]
    for response in [*results.history, results]:
        assert_hsts(response)
        assert_no_cookie(response)
    redirected = results.history[0].headers["Location"]
    assert_stays_on_the_public_https_site(redirected)
    assert client.get_cookie("session") is None
    [share] = [attrs["value"] for _, attrs in _Inputs(results.get_data(as_text=True)).inputs
               if attrs.get("id") == "share-link"]
    link = urlsplit(share)
    assert (link.scheme, link.netloc, link.path) == ("https", PUBLIC_HOST, "/results"), share
    assert link.query == urlsplit(redirected).query, share
    shared = [pair for pair in link.query.split("&") if not pair.startswith("rules=")]
    assert shared == [f"{name}={value}" for name, value in answers.items()], share


@pytest.mark.parametrize(("referer", "status"), [
    pytest.param(f"https://{PUBLIC_HOST}{PROTECTED}", 303, id="from the public host: accepted"),
    pytest.param(f"https://evil.example{PROTECTED}", 400, id="from another site: refused"),
    pytest.param(f"http://{PUBLIC_HOST}{PROTECTED}", 400, id="from the plain-http address: refused"),
    pytest.param(None, 400, id="no referer: refused"),
])
def test_over_a_tls_proxy_a_post_is_accepted_only_from_the_public_host(make_app, referer, status):
    """Over HTTPS Flask-WTF checks the Referer against the (forwarded) host, on top of the token."""
    client = make_app(PROXY_FIX=1).test_client()
    form = client.get(PROTECTED, headers=TLS_PROXY)
    token = csrf_token_of(form)
    headers = {**TLS_PROXY, "Referer": referer} if referer else TLS_PROXY
    posted = client.post(PROTECTED, data={"csrf_token": token, "note": "ship it"}, headers=headers)
    assert posted.status_code == status, posted.get_data(as_text=True)[:500]
    assert_hsts(posted)
    if status == 303:
        assert posted.headers["Location"] in (SENT, f"https://{PUBLIC_HOST}{SENT}")
    else:
        assert "Please send the form again" in posted.get_data(as_text=True)


# --- HSTS, property-based -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def apps_by_proxy_count(tmp_path_factory):
    instance = tmp_path_factory.mktemp("https-instance")
    return {proxies: create_app({"TESTING": True, "SECRET_KEY": "https-test-secret", "RULES_PATH": str(RULES_PATH),
                                 "INSTANCE_PATH": str(instance), "PROXY_FIX": proxies}) for proxies in (0, 1)}


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(values=st.lists(st.sampled_from(["https", "http", "HTTPS", "wss", "ws", "", "ftp", " https ", "javascript"]),
                       min_size=1, max_size=3),
       proxy_fix=st.sampled_from([0, 1]))
def test_hsts_exactly_when_the_trusted_proxy_says_https_and_any_other_scheme_is_refused(apps_by_proxy_count, values,
                                                                                        proxy_fix):
    header = ", ".join(values)
    response = apps_by_proxy_count[proxy_fix].test_client().get("/api/questions",
                                                                headers={"X-Forwarded-Proto": header})
    # With one trusted proxy the last (non-empty) value is the proxy's own: it must be http or https, exactly (it ends
    # up in every absolute link); without a trusted proxy the header is ignored.
    items = [value.strip() for value in values if value.strip()]
    said = items[-1] if proxy_fix == 1 and items else None
    assert response.status_code == (400 if said not in (None, "http", "https") else 200), header
    assert ("Strict-Transport-Security" in response.headers) == (said in ("https", "wss")), header
