"""Fuzzing every route through Flask's test client: random query strings, form posts, JSON and non-JSON bodies,
methods, paths and headers, oversize bodies; with CSRF off, with CSRF on, and behind a trusted proxy.

Whatever is sent, every response must keep four promises (`check_response`):
  - never a 5xx (and no exception escapes the error handlers: under gunicorn that is a bare 500 page);
  - every 4xx says what was wrong: an HTML page in the site's layout with an explanatory sentence, or JSON with
    non-empty `errors[].message`;
  - every response under /api/ is JSON (Content-Type application/json), never HTML;
  - every response carries the security headers (and HSTS only when the request really came over HTTPS).

The default run sends a few hundred requests, derandomized (the same ones every run). The `slow` variant sends over
10 000; it runs only with DOCKWISE_SLOW=1 (e.g. `DOCKWISE_SLOW=1 scripts/test tests/test_fuzz.py -m slow`), also
derandomized unless DOCKWISE_FUZZ_SEED=<integer> picks another seed to explore with.
A falsifying example is printed as the request to send again (`FuzzRequest.send` shows how it is sent).
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from shipped import RULES_PATH
from werkzeug.datastructures import MultiDict
from werkzeug.http import parse_list_header

from app import create_app

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = yaml.safe_load(RULES_PATH.read_text(encoding="utf-8"))
QUESTION_IDS = [q["id"] for q in SHIPPED["questions"]]
CHOICES = {q["id"]: [c["id"] for c in q["choices"]] for q in SHIPPED["questions"]}
CHOICE_IDS = sorted({c for choices in CHOICES.values() for c in choices})
MAX_BODY = 16 * 1024

GET_ROUTES = ["/", "/results", "/results.md", "/rules", "/healthz", "/favicon.ico", "/static/style.css",
              "/static/copy.js", "/static/favicon.svg", "/api/questions", "/api/recommendations"]
POST_ROUTES = ["/", "/api/recommendations"]
ROUTES = GET_ROUTES
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
ODD_METHODS = ["TRACE", "PROPFIND", "FOO"]
APP_KINDS = ["plain", "csrf", "proxy"]

SLOW = pytest.mark.skipif(os.environ.get("DOCKWISE_SLOW") != "1",
                          reason="slow fuzzing (10 000+ requests): set DOCKWISE_SLOW=1 to run it")
DEFAULT = {"deadline": None, "derandomize": True, "database": None, "suppress_health_check": [HealthCheck.too_slow]}


# --- the apps ---------------------------------------------------------------------------------------------------

class LastErrors(logging.Handler):
    """Keeps what Dockwise logged about unhandled errors, so a 500 failure shows the server-side exception."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> str:
        lines = []
        for record in self.records:
            error = record.exc_info[1] if record.exc_info else None
            lines.append(record.getMessage() + (f": {type(error).__name__}: {error}"[:500] if error else ""))
        self.records.clear()
        return "\n".join(lines)


SERVER_LOG = LastErrors()


@pytest.fixture(scope="module")
def apps(tmp_path_factory):
    """One app per kind, built once: CSRF off ('plain'), CSRF on ('csrf'), behind one trusted proxy ('proxy')."""
    instance = tmp_path_factory.mktemp("fuzz-instance")
    base = {"TESTING": True, "SECRET_KEY": "fuzz-secret", "RULES_PATH": str(RULES_PATH),
            "INSTANCE_PATH": str(instance)}
    built = {
        "plain": create_app({**base, "WTF_CSRF_ENABLED": False}),
        "csrf": create_app({**base, "WTF_CSRF_ENABLED": True}),
        "proxy": create_app({**base, "WTF_CSRF_ENABLED": False, "PROXY_FIX": 1}),
    }
    logger = logging.getLogger("dockwise.web")
    logger.addHandler(SERVER_LOG)
    yield built
    logger.removeHandler(SERVER_LOG)


# --- requests ---------------------------------------------------------------------------------------------------

def _short(value, limit: int = 300) -> str:
    text = repr(value)
    unit = {bytes: "bytes", str: "characters"}.get(type(value), "items")
    return text if len(text) <= limit else f"{text[:limit]}… ({len(value)} {unit} in all)"


@dataclass(frozen=True)
class FuzzRequest:
    """One request, replayable: `app` names the kind of app; `send` shows exactly how it goes through the client."""

    app: str
    method: str
    path: str
    query: str | None = None            # sent as the query string (the test client UTF-8 encodes it)
    raw_query: bytes | None = None      # or: these bytes exactly, as a server puts them into QUERY_STRING
    headers: tuple[tuple[str, str], ...] = ()
    form: tuple[tuple[str, str], ...] | None = None
    body: bytes | None = None
    content_type: str | None = None
    chunked: bool = False               # body without Content-Length, as with Transfer-Encoding: chunked
    environ: tuple[tuple[str, str], ...] = field(default=())

    def __repr__(self) -> str:
        parts = [f"app={self.app!r}", f"method={self.method!r}", f"path={self.path!r}"]
        for name in ("query", "raw_query", "headers", "form", "body", "content_type", "environ"):
            value = getattr(self, name)
            if value not in (None, ()):
                parts.append(f"{name}={_short(value)}")
        if self.chunked:
            parts.append("chunked=True")
        return f"FuzzRequest({', '.join(parts)})"

    @property
    def api(self) -> bool:
        return self.path.startswith("/api/")

    def send(self, client):
        kwargs: dict = {"method": self.method, "headers": list(self.headers), "buffered": True}
        if self.query is not None:
            kwargs["query_string"] = self.query
        environ = dict(self.environ)
        if self.raw_query is not None:
            environ["QUERY_STRING"] = self.raw_query.decode("latin-1")
        if environ:
            kwargs["environ_overrides"] = environ
        if self.form is not None:
            kwargs["data"] = MultiDict(list(self.form))
        if self.body is not None:
            if self.chunked:
                kwargs["input_stream"] = BytesIO(self.body)
            else:
                kwargs["data"] = self.body
        if self.content_type is not None:
            kwargs["content_type"] = self.content_type
        return client.open(self.path, **kwargs)


# --- strategies -------------------------------------------------------------------------------------------------

def _repeat(alphabet: st.SearchStrategy[str], max_size: int) -> st.SearchStrategy[str]:
    """Very long strings, built cheaply: one drawn piece repeated."""
    return st.builds(lambda piece, n: (piece * n)[:max_size] or piece, alphabet,
                     st.integers(1, max_size))


PERCENT_JUNK = ["%", "%%", "%z", "%zz", "%0", "%ff", "%fe%ff", "%00", "%C3", "%C3%28", "%E2%82", "%u0041", "+",
                "&", "&&", "=", "==", ";", "#", "%23", "%26", "%3D", "\u2028", "\x7f", "%25"]
short_text = st.text(max_size=20)
latin1_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
                      max_size=40)

keys = st.one_of(
    st.sampled_from(QUESTION_IDS + ["rules"]),
    st.sampled_from(["", "Services", "services[]", "services ", "csrf_token", "utm_source", "answers", "rules[]"]),
    short_text,
)
values = st.one_of(
    st.sampled_from(CHOICE_IDS),
    st.sampled_from(["", " ", "FEW", "few ", "none", "null", "0", "deadbeef", "00000000"]),
    short_text,
    _repeat(st.sampled_from(["x", "é", "🐳", "%", "few", "&"]), 5000),
)
pairs = st.lists(st.tuples(keys, values), max_size=15)


QUERY_KINDS = ["encoded", "junk", "raw"]


@st.composite
def query_strings(draw, kind: str) -> tuple[str | None, bytes | None]:
    """(query, raw_query): well-formed pairs ('encoded'), pairs with percent junk spliced in ('junk'), or raw bytes
    ('raw': printable ASCII only, as gunicorn refuses any other byte in the request line)."""
    if kind == "raw":
        return None, draw(st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=300)).encode()
    items = draw(pairs)
    if kind == "encoded":
        return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in items), None
    pieces = [f"{k}={v}" if draw(st.booleans()) else k for k, v in items]
    for _ in range(draw(st.integers(1, 4))):
        pieces.insert(draw(st.integers(0, len(pieces))), draw(st.sampled_from(PERCENT_JUNK)))
    return draw(st.sampled_from(["&", "", ";"])).join(pieces), None


any_query = st.sampled_from(QUERY_KINDS).flatmap(query_strings)


path_chars = st.characters(blacklist_characters="?#", blacklist_categories=("Cs",))
unknown_paths = st.one_of(
    st.sampled_from(["/nope", "/api/nope", "/api/", "/api", "/static/", "/static/nope.css", "/static/../app.py",
                     "/static/%2e%2e/app.py", "//", "/results/", "/RESULTS", "/rules.yaml", "/.env", "/results.md/x",
                     "/api/recommendations/", "/api/questions/1", "/%", "/%zz", "/%ff", "/\u00e9", "/a%00b",
                     "/" + "x" * 3000]),
    st.builds(lambda prefix, rest: prefix + rest, st.sampled_from(["/", "/api/", "/static/", "/results/"]),
              st.text(path_chars, max_size=30)),
)
paths = st.one_of(st.sampled_from(ROUTES), unknown_paths)

CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "application/JSON", "text/json",
                 "application/vnd.api+json", "application/json; charset=latin-1", "application/json;", "application/",
                 "application/x-www-form-urlencoded", "multipart/form-data", "multipart/form-data; boundary=x",
                 "text/plain", "text/html", "application/octet-stream", "", "*/*", "json", "application/json\x7f"]
ACCEPTS = ["*/*", "application/json", "text/html", "text/html,application/xhtml+xml;q=0.9", "application/xml",
           "image/*", "text/markdown", "", "garbage;;q=x", "application/json;q=0"]
HOSTS = ["localhost", "dockwise.example", "127.0.0.1:8000", "[::1]:80", "x" * 64, "x" * 64 + ".example",
         "a..b", ".", "", "évil.example", "localhost:99999", "localhost:abc", "a b", "a/b", "a@b"]
header_values = st.one_of(latin1_text, _repeat(st.sampled_from(["x", "a.", "é"]), 8000))
forwarded = st.one_of(st.sampled_from(["https", "http", "https, http", "http, https", "wss", "HTTPS", "ftp", ""]),
                      latin1_text)


@st.composite
def header_sets(draw) -> tuple[tuple[str, str], ...]:
    headers: list[tuple[str, str]] = []
    # The host names carry the most risk (URLs are built from them), so they are sent more often than the rest.
    for name in ("Host", "X-Forwarded-Host"):
        if draw(st.integers(0, 3)) == 0:
            headers.append((name, draw(st.sampled_from(HOSTS))))
    choices = {
        "Accept": st.one_of(st.sampled_from(ACCEPTS), latin1_text),
        "Host": st.one_of(st.sampled_from(HOSTS), latin1_text),
        "X-Forwarded-For": st.one_of(st.sampled_from(["1.2.3.4", "1.2.3.4, 5.6.7.8", "::1", "unknown"]),
                                     latin1_text),
        "X-Forwarded-Proto": forwarded,
        "X-Forwarded-Host": st.one_of(st.sampled_from(HOSTS), header_values),
        "X-Forwarded-Port": st.one_of(st.sampled_from(["443", "80", "0", "-1", "99999", "abc", ""]), latin1_text),
        "X-Forwarded-Prefix": st.one_of(st.sampled_from(["/dockwise", "/", "", "//x", "/%zz"]), latin1_text),
        "Referer": st.one_of(st.sampled_from(["https://localhost/", "http://evil.example/", "garbage"]),
                             latin1_text),
        "Origin": st.one_of(st.sampled_from(["null", "https://evil.example"]), latin1_text),
        "Cookie": st.one_of(st.sampled_from(["session=garbage", "session=", "session=e30.abc.def", "a=b; ; c"]),
                            latin1_text),
        "Range": st.one_of(st.sampled_from(["bytes=0-10", "bytes=99999-", "bytes=-5", "bytes=abc", "bytes=5-1"]),
                           latin1_text),
        "If-None-Match": st.one_of(st.sampled_from(["*", '"x"', "W/\"x\""]), latin1_text),
        "If-Modified-Since": st.one_of(st.sampled_from(["Thu, 01 Jan 1970 00:00:00 GMT", "garbage"]), latin1_text),
        "Accept-Encoding": st.sampled_from(["gzip", "br", "identity;q=0", "*;q=0"]),
        "Accept-Language": latin1_text,
        "User-Agent": header_values,
        "X-Requested-With": st.sampled_from(["XMLHttpRequest"]),
    }
    for name in draw(st.lists(st.sampled_from(sorted(choices)), max_size=5, unique=True)):
        if name not in dict(headers):
            headers.append((name, draw(choices[name])))
    return tuple(headers)


def _nested(depth: int, kind: str) -> str:
    return {"list": "[" * depth + "]" * depth,
            "object": '{"a":' * depth + "1" + "}" * depth,
            "answers": '{"answers":' + "[" * depth + "]" * depth + "}"}[kind]


json_leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
                        st.sampled_from(CHOICE_IDS + QUESTION_IDS))
json_values = st.recursive(json_leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=12)
answer_maps = st.dictionaries(keys, st.one_of(values, json_values), max_size=14)


JSON_KINDS = ["answers", "extra keys", "non-object answers", "any value", "deep", "huge", "broken", "encodings"]


@st.composite
def json_bodies(draw, kind: str) -> bytes:
    """Valid shapes (answers by question id), wrong shapes, garbage, deep nesting, huge strings, broken JSON."""
    if kind == "answers":
        return json.dumps({"answers": draw(answer_maps)}).encode()
    if kind == "extra keys":
        return json.dumps({"answers": draw(answer_maps), draw(short_text): draw(json_values)}).encode()
    if kind == "non-object answers":
        return json.dumps({"answers": draw(st.one_of(json_leaves, st.lists(json_leaves, max_size=3)))}).encode()
    if kind == "any value":
        return json.dumps(draw(json_values)).encode()
    if kind == "deep":
        depth = draw(st.one_of(st.sampled_from([2, 100, 999, 1000, 1001, 1500, 5000, 8000]), st.integers(1, 8000)))
        return _nested(depth, draw(st.sampled_from(["list", "object", "answers"]))).encode()
    if kind == "huge":
        size = draw(st.integers(0, MAX_BODY + 4096))
        return json.dumps({"answers": {draw(st.sampled_from(QUESTION_IDS)): "x" * size}}).encode()
    if kind == "encodings":
        text = json.dumps({"answers": draw(answer_maps)}, ensure_ascii=False)
        return text.encode(draw(st.sampled_from(["utf-8", "utf-16", "utf-32", "latin-1"])), errors="replace")
    assert kind == "broken", kind
    valid = json.dumps({"answers": draw(answer_maps)}).encode()
    cut = draw(st.integers(0, len(valid)))
    return valid[:cut] + draw(st.sampled_from([b"", b"}", b"\xff", b"NaN", b",", b"'", b"\x00"]))


any_json = st.sampled_from(JSON_KINDS).flatmap(json_bodies)


def form_values():
    return st.lists(st.tuples(keys, values), max_size=20)


# --- the checks -------------------------------------------------------------------------------------------------

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
CSP_MUST = ["default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"]
LEAKS = ("Traceback", 'File "', str(ROOT), "site-packages", "object at 0x")


class PageText(HTMLParser):
    """The texts a reader of an error page sees as its explanation: alert list items and lead paragraphs."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict]] = []
        self.alert_items: list[str] = []
        self.leads: list[str] = []
        self.has_main = self.has_form = False
        self._current: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "main":
            self.has_main = True
        if tag == "form":
            self.has_form = True
        in_alert = any(a.get("role") == "alert" for _, a in self.stack)
        if tag == "li" and in_alert:
            self.alert_items.append("")
            self._current = self.alert_items
        elif tag == "p" and "lead" in (attributes.get("class") or "").split():
            self.leads.append("")
            self._current = self.leads
        if tag not in ("input", "meta", "link", "br", "img"):
            self.stack.append((tag, attributes))

    def handle_endtag(self, tag):
        while self.stack:
            opened, _ = self.stack.pop()
            if opened == tag:
                break
        if tag in ("li", "p"):
            self._current = None

    def handle_data(self, data):
        if self._current is not None:
            self._current[-1] += data


def _sentence(text: str) -> bool:
    return len(re.findall(r"\w+", text)) >= 3


def check_response(request: FuzzRequest, response) -> None:
    """The four promises, each on its own line so that Hypothesis reports each broken one separately."""
    status = response.status_code
    server_log = SERVER_LOG.take()
    context = f"{request!r} → {status} {response.headers.get('Content-Type')}"
    body = response.get_data()
    text = body.decode("utf-8", "replace")

    # 1. Never a 5xx.
    assert status < 500, f"5xx: {context}\nserver log: {server_log}\nbody: {text[:300]}"

    # 2. Security headers on every response; HSTS only over HTTPS.
    missing = {name: response.headers.get(name) for name, value in SECURITY_HEADERS.items()
               if response.headers.get(name) != value}
    csp = response.headers.get("Content-Security-Policy", "")
    missing.update({f"CSP {part}": csp for part in CSP_MUST if part not in csp})
    if "Permissions-Policy" not in response.headers:
        missing["Permissions-Policy"] = None
    assert not missing, f"security headers missing or wrong {missing}: {context}"
    assert ("Strict-Transport-Security" in response.headers) == _expect_https(request), f"HSTS: {context}"

    # 3. Nothing under /api/ is HTML: always JSON.
    if request.api:
        assert response.mimetype == "application/json", f"/api/ answered with {response.mimetype}: {context}"
        if body:
            assert isinstance(json.loads(body), dict), f"/api/ body is not a JSON object: {context}"

    # 4. Every 4xx explains itself (HEAD has no body to explain with).
    if 400 <= status < 500 and request.method != "HEAD":
        _check_explained(request, response, context, text)

    for leak in LEAKS:
        assert leak not in text, f"response reveals {leak!r}: {context}"


def _expect_https(request: FuzzRequest) -> bool:
    """HSTS belongs exactly to requests that came over HTTPS: behind the one trusted proxy, the last (the proxy's own)
    X-Forwarded-Proto says so; without a trusted proxy the header is ignored and the test client speaks plain HTTP."""
    if request.app != "proxy":
        return False
    headers = [value for name, value in request.headers if name.lower() == "x-forwarded-proto"]
    items = parse_list_header(headers[-1]) if headers else []  # HTTP list syntax: commas, quotes, no empty items
    return bool(items) and items[-1] in ("https", "wss")


def _check_explained(request: FuzzRequest, response, context: str, text: str) -> None:
    if request.api:
        errors = json.loads(text).get("errors")
        assert isinstance(errors, list), f"4xx JSON without errors[]: {context}\n{text[:300]}"
        assert errors, f"4xx JSON with empty errors[]: {context}"
        for error in errors:
            assert isinstance(error, dict), f"{context}: {error}"
            assert set(error) == {"question", "choice", "message"}, f"{context}: {error}"
            assert isinstance(error["message"], str), f"message is not text: {context}"
            assert error["message"].strip(), f"empty message: {context}"
        return
    assert response.mimetype == "text/html", f"4xx page is not HTML: {context}"
    page = PageText()
    page.feed(text)
    assert page.has_main, f"4xx page is not in the site's layout: {context}\n{text[:300]}"
    # The questionnaire always has its introduction as lead: its 4xx must add the alert naming what was wrong.
    explanations = page.alert_items if page.has_form else page.leads
    assert any(_sentence(line) for line in explanations), f"4xx page explains nothing: {context}\n{text[:600]}"


def send_and_check(apps, request: FuzzRequest):
    client = apps[request.app].test_client()
    try:
        response = request.send(client)
    except Exception as error:  # an exception out of the error handlers themselves
        pytest.fail(f"{request!r} raised {type(error).__name__}: {error} (the error handlers failed; under gunicorn "
                    f"this is gunicorn's bare 500 page without security headers)\nserver log: {SERVER_LOG.take()}")
    check_response(request, response)
    return response


# --- request strategies, one per kind of input ------------------------------------------------------------------

@st.composite
def query_requests(draw, kind: str, app_kinds=("plain",)) -> FuzzRequest:
    query, raw = draw(query_strings(kind))
    return FuzzRequest(draw(st.sampled_from(app_kinds)), draw(st.sampled_from(["GET", "GET", "HEAD"])),
                       draw(st.sampled_from(GET_ROUTES)), query=query, raw_query=raw)


@st.composite
def form_requests(draw, app_kinds=("plain",)) -> FuzzRequest:
    items = draw(form_values())
    if draw(st.booleans()) and items:  # answers that are mostly real choices, a few not
        items = [(q, draw(st.sampled_from(CHOICES[q])) if draw(st.integers(0, 4)) else v)
                 if q in CHOICES else (q, v) for q, v in items]
    content_type = draw(st.sampled_from([None, None, "application/x-www-form-urlencoded", "multipart/form-data"]))
    query, _ = draw(st.one_of(st.just((None, None)), query_strings("junk")))
    return FuzzRequest(draw(st.sampled_from(app_kinds)), "POST", "/", query=query, form=tuple(items),
                       content_type=content_type)


@st.composite
def json_requests(draw, kind: str) -> FuzzRequest:
    content_type = draw(st.sampled_from(["application/json", "application/json", "application/json; charset=utf-8",
                                         "application/vnd.dockwise+json"]))
    return FuzzRequest(draw(st.sampled_from(["plain", "csrf"])), "POST", "/api/recommendations",
                       body=draw(json_bodies(kind)), content_type=content_type, headers=draw(header_sets()))


@st.composite
def non_json_requests(draw) -> FuzzRequest:
    body = draw(st.one_of(st.binary(max_size=500), st.text(max_size=200).map(str.encode),
                          st.just(b"services=few&hosts=one"), any_json))
    content_type = draw(st.one_of(st.none(), st.sampled_from(CONTENT_TYPES)))
    return FuzzRequest(draw(st.sampled_from(["plain", "csrf"])), "POST", draw(st.sampled_from(POST_ROUTES)),
                       body=body, content_type=content_type)


@st.composite
def any_requests(draw, app_kind: str) -> FuzzRequest:
    """Any method on any path (real or not), any headers, maybe a query, maybe a body, maybe a lying Content-Length."""
    method = draw(st.one_of(st.sampled_from(METHODS), st.sampled_from(ODD_METHODS)))
    query, raw = draw(st.one_of(st.just((None, None)), any_query))
    body = draw(st.one_of(st.none(), st.binary(max_size=200), any_json))
    content_type = draw(st.one_of(st.none(), st.sampled_from(CONTENT_TYPES))) if body is not None else None
    environ = ()
    if draw(st.integers(0, 9)) == 0:
        environ = (("CONTENT_LENGTH", draw(st.sampled_from(["abc", "-1", "99999999", "", "5", "0x10"]))),)
    return FuzzRequest(app_kind, method, draw(paths), query=query, raw_query=raw,
                       headers=draw(header_sets()), body=body, content_type=content_type, environ=environ)


@st.composite
def oversize_requests(draw) -> FuzzRequest:
    size = draw(st.integers(MAX_BODY - 64, 4 * MAX_BODY))
    path = draw(st.sampled_from(POST_ROUTES))
    chunked = draw(st.booleans())
    app_kind = draw(st.sampled_from(["plain", "csrf"]))
    if path == "/api/recommendations":
        body = json.dumps({"answers": {"services": "few"}, "padding": "x" * max(0, size - 40)}).encode()
        return FuzzRequest(app_kind, "POST", path, body=body, content_type="application/json", chunked=chunked)
    body = ("services=few&padding=" + "x" * size).encode()
    content_type = draw(st.sampled_from(["application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]))
    return FuzzRequest(app_kind, "POST", path, body=body, content_type=content_type, chunked=chunked)


# --- the default run: a few hundred requests, each kind of input given its own share ----------------------------

@pytest.mark.parametrize("kind", QUERY_KINDS)
@settings(max_examples=30, **DEFAULT)
@given(data=st.data())
def test_random_query_strings_on_every_get_route(apps, kind, data):
    send_and_check(apps, data.draw(query_requests(kind), label="request"))


@settings(max_examples=40, **DEFAULT)
@given(request=form_requests(app_kinds=("plain", "csrf")))
def test_random_form_posts(apps, request):
    """An old questionnaire page's post lands on its results or names the bad answer, CSRF on or off (it is exempt:
    it changes nothing); a form over 16 KiB is refused."""
    response = send_and_check(apps, request)
    assert response.status_code in (303, 400, 413), f"{request!r} → {response.status_code}"


@pytest.mark.parametrize("kind", JSON_KINDS)
@settings(max_examples=10, **DEFAULT)
@given(data=st.data())
def test_random_json_bodies_to_the_api(apps, kind, data):
    request = data.draw(json_requests(kind), label="request")
    response = send_and_check(apps, request)
    assert response.status_code in (200, 400, 413), f"{request!r} → {response.status_code}"


@settings(max_examples=40, **DEFAULT)
@given(request=non_json_requests())
def test_random_non_json_bodies(apps, request):
    send_and_check(apps, request)


@pytest.mark.parametrize("app_kind", APP_KINDS)
@settings(max_examples=30, **DEFAULT)
@given(data=st.data())
def test_random_methods_paths_and_headers(apps, app_kind, data):
    send_and_check(apps, data.draw(any_requests(app_kind), label="request"))


@settings(max_examples=20, **DEFAULT)
@given(request=oversize_requests())
def test_oversize_bodies_are_refused_with_413(apps, request):
    response = send_and_check(apps, request)
    if len(request.body) > MAX_BODY:
        assert response.status_code == 413, f"{request!r} → {response.status_code}"


# Requests the strategies above can produce, pinned so they are sent on every run whatever Hypothesis draws.
PINNED = [
    pytest.param(FuzzRequest("plain", "POST", "/api/recommendations", body=_nested(1500, "list").encode(),
                             content_type="application/json"), id="JSON nested 1500 deep"),
    pytest.param(FuzzRequest("plain", "POST", "/api/recommendations", body=_nested(1500, "answers").encode(),
                             content_type="application/json"), id="answers nested 1500 deep"),
    pytest.param(FuzzRequest("plain", "POST", "/api/recommendations", body=_nested(900, "object").encode(),
                             content_type="application/json"), id="JSON nested 900 deep"),
    pytest.param(FuzzRequest("plain", "GET", "/", headers=(("Host", "x" * 64),)), id="Host label of 64 characters"),
    pytest.param(FuzzRequest("plain", "GET", "/rules", headers=(("Host", "a..b"),)), id="Host with an empty label"),
    pytest.param(FuzzRequest("plain", "GET", "/api/questions", headers=(("Host", "x" * 64),)),
                 id="Host label of 64 characters, API"),
    pytest.param(FuzzRequest("proxy", "GET", "/results", query="services=few",
                             headers=(("X-Forwarded-Host", "x" * 64 + ".example"),)),
                 id="X-Forwarded-Host label of 64 characters behind a proxy"),
    pytest.param(FuzzRequest("plain", "GET", "/results", raw_query=b"services=f%ffw&hosts=%ff%fe&%zz&%"),
                 id="percent-encoded non-UTF-8 query"),
    pytest.param(FuzzRequest("plain", "GET", "/results", raw_query=b"services=f\xffw"), id="raw non-UTF-8 query"),
    pytest.param(FuzzRequest("plain", "GET", "/results", query="&".join(["services=few"] * 200)),
                 id="a repeated key past the link length limit"),
    pytest.param(FuzzRequest("csrf", "POST", "/", form=(("services", "few"), ("hosts", "heaps"))),
                 id="form post without a CSRF token"),
    pytest.param(FuzzRequest("csrf", "POST", "/", body=b'--x\r\nContent-Disposition: form-data\r\n\r\nfew\r\n--x--\r\n',
                             content_type="multipart/form-data; boundary=x"), id="multipart part without a name"),
    pytest.param(FuzzRequest("csrf", "POST", "/", form=(("\n", "few"),), content_type="multipart/form-data"),
                 id="multipart field named by a newline"),
    pytest.param(FuzzRequest("plain", "POST", "/", body=b"0", content_type="application/json"),
                 id="JSON number posted to the questionnaire"),
    pytest.param(FuzzRequest("plain", "POST", "/", body=b'[["services", "few"], ["hosts"]]',
                             content_type="application/json"), id="JSON pairs, one short, posted to the questionnaire"),
    pytest.param(FuzzRequest("plain", "POST", "/", body=b'--x\r\nContent-Disposition: form-data; name="services"; '
                             b'filename="a.txt"\r\n\r\nfew\r\n--x--\r\n',
                             content_type="multipart/form-data; boundary=x"), id="an answer sent as a file"),
    pytest.param(FuzzRequest("plain", "POST", "/", environ=(("CONTENT_LENGTH", "99999999"),),
                             content_type="application/x-www-form-urlencoded"), id="lying Content-Length"),
]


@pytest.mark.parametrize("request_", PINNED)
def test_pinned_nasty_requests(apps, request_):
    send_and_check(apps, request_)


@pytest.mark.parametrize("body", [
    *(pytest.param(body, id=body.decode()) for body in
      (b"0", b'"few"', b"[1]", b"null", b"{}", b'{"services": "few"}', b'[["services", "few"]]')),
    pytest.param(_nested(1500, "list").encode(), id="[[[...]]] 1500 deep"),
])
def test_json_posted_to_the_questionnaire(apps, body):
    """What a script gets that posts JSON to / (the old questionnaire's endpoint) with CSRF on: a redirect or a 4xx,
    never a 500."""
    client = apps["csrf"].test_client()
    request = FuzzRequest("csrf", "POST", "/", body=body, content_type="application/json")
    try:
        response = request.send(client)
    except Exception as error:
        pytest.fail(f"{request!r} raised {type(error).__name__}: {error}")
    check_response(request, response)
    assert response.status_code in (303, 400), f"{request!r} → {response.status_code}"


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("path", [*ROUTES, "/nope", "/api/nope"])
def test_every_method_on_every_route(apps, method, path):
    """The whole method × route grid, so each broken cell is reported on its own."""
    send_and_check(apps, FuzzRequest("plain", method, path))


# --- the slow run: 10 000+ requests -----------------------------------------------------------------------------

SLOW_RUNS = {  # name: (strategy, examples); 13 250 requests in all
    **{f"query {kind}": (query_requests(kind, app_kinds=tuple(APP_KINDS)), 1000) for kind in QUERY_KINDS},
    "form posts": (form_requests(app_kinds=("plain", "csrf")), 1500),
    **{f"JSON {kind}": (json_requests(kind), 400) for kind in JSON_KINDS},
    "non-JSON bodies": (non_json_requests(), 750),
    **{f"anything, {kind} app": (any_requests(kind), 1500) for kind in APP_KINDS},
    "oversize bodies": (oversize_requests(), 300),
}


@pytest.mark.slow
@SLOW
@pytest.mark.parametrize("name", sorted(SLOW_RUNS))
def test_slow_fuzz_every_kind_of_request(apps, name):
    strategy, examples = SLOW_RUNS[name]
    sent = []

    def send(request):
        sent.append(request)
        send_and_check(apps, request)

    # Derandomized like the default run, unless DOCKWISE_FUZZ_SEED names another seed to explore with.
    chosen = os.environ.get("DOCKWISE_FUZZ_SEED")
    run = settings(max_examples=examples, **{**DEFAULT, "derandomize": chosen is None})(given(request=strategy)(send))
    if chosen is not None:
        run = seed(int(chosen))(run)
    run()
    assert len(sent) >= examples, f"Hypothesis stopped after {len(sent)} requests"
