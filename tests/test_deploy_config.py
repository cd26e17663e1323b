"""deploy/nginx/dockwise.conf agrees with the app and with the README; bench/slow_clients.py proves it under load.

These read text only (no nginx needed): the fault check starts nginx with the template and holds slow clients.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from shipped import RULES_PATH
from werkzeug.middleware.proxy_fix import ProxyFix

from app import create_app

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "nginx" / "dockwise.conf"
README = ROOT / "README.md"
PLACEHOLDER = re.compile(r"\$\{(DOCKWISE_[A-Z_]+)\}")

# ProxyFix's counts and the headers they make Dockwise trust.
FORWARDED = {"x_for": "X-Forwarded-For", "x_proto": "X-Forwarded-Proto", "x_host": "X-Forwarded-Host",
             "x_port": "X-Forwarded-Port", "x_prefix": "X-Forwarded-Prefix"}


def directives(text: str) -> list[str]:
    """nginx directive lines without comments and with single spaces: what a reader compares."""
    lines = (" ".join(line.split("#", 1)[0].split()) for line in text.splitlines())
    return [line for line in lines if line]


def template() -> str:
    return TEMPLATE.read_text(encoding="utf-8")


def readme_section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else len(text)]


def proxy_fix_of(app) -> ProxyFix:
    """The ProxyFix in the app's WSGI middleware chain."""
    layer = app.wsgi_app
    while layer is not None and not isinstance(layer, ProxyFix):
        layer = getattr(layer, "app", None)
    assert layer is not None, "DOCKWISE_PROXY_FIX=1 installs no ProxyFix"
    return layer


def test_body_limit_matches_the_apps(app):
    """nginx refuses exactly what Dockwise would refuse, before gunicorn is involved."""
    sizes = re.findall(r"^\s*client_max_body_size\s+(\d+)k;", template(), re.MULTILINE)
    assert sizes == [str(app.config["MAX_CONTENT_LENGTH"] // 1024)]
    assert app.config["MAX_CONTENT_LENGTH"] % 1024 == 0


def test_every_forwarded_header_dockwise_trusts_is_set_by_the_proxy(tmp_path):
    """A forwarded header Dockwise trusts but the proxy passes through unchanged is the client's to forge."""
    app = create_app({"TESTING": True, "RULES_PATH": str(RULES_PATH), "INSTANCE_PATH": str(tmp_path),
                      "SECRET_KEY": "x" * 32, "PROXY_FIX": 1})
    proxy_fix = proxy_fix_of(app)
    trusted = {header for count, header in FORWARDED.items() if getattr(proxy_fix, count)}
    set_here = {line.split()[1] for line in directives(template()) if line.startswith("proxy_set_header ")}
    assert trusted
    assert trusted <= set_here, f"trusted by Dockwise but not set by {TEMPLATE.name}: {sorted(trusted - set_here)}"
    assert "Host" in set_here  # nginx's default Host is the upstream's name


def test_both_buffers_are_on():
    """gunicorn's sync workers need the proxy to buffer requests and responses."""
    lines = directives(template())
    assert "proxy_request_buffering on;" in lines
    assert "proxy_buffering on;" in lines


def test_the_envsubst_command_fills_in_every_placeholder():
    """The command in the template's header fills in what the template uses: nothing left as `${...}` for nginx."""
    text = template()
    command = next(line for line in text.splitlines() if "envsubst '" in line)
    listed = PLACEHOLDER.findall(command.split("envsubst '", 1)[1].split("'", 1)[0])
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert sorted(listed) == sorted(set(PLACEHOLDER.findall(body)))


def test_the_readme_quotes_the_template_as_it_is():
    """Every nginx line the README's "Running in production" shows is in deploy/nginx/dockwise.conf."""
    section = readme_section("Running in production")
    blocks = re.findall(r"```nginx\n(.*?)```", section, re.DOTALL)
    assert blocks, "the section shows no nginx lines"
    quoted = [line for block in blocks for line in directives(block) if line != "}"]
    assert [line for line in quoted if line not in directives(template())] == []


@pytest.mark.parametrize(("request_uri", "logged"), [
    ("/rooms/R00M/owner/S3cr3t-_x", "/rooms/R00M/owner/TOKEN"),
    ("/rooms/R00M/owner/S3cr3t/reveal", "/rooms/R00M/owner/TOKEN/reveal"),
    ("/rooms/R00M/me/S3cr3t?x=1", "/rooms/R00M/me/TOKEN?x=1"),
    ("/rooms/R00M", "/rooms/R00M"),
    ("/rooms/R00M/join", "/rooms/R00M/join"),
    ("/results?services=few", "/results?services=few"),
])
def test_the_access_log_keeps_no_private_link_token(request_uri, logged):
    """The template's log map (nginx PCRE, read here with Python's re) drops the token of a room's private link, and
    every access_log uses the format built on it, which logs no Referer (a page's Referer may be a private link)."""
    text = template()
    log_map = r'map \$request_uri \$dockwise_logged_uri \{\s*"~([^"]+)" "([^"]+)";'
    pattern, replacement = re.search(log_map, text).groups()
    python_pattern = pattern.replace("(?<", "(?P<")
    python_replacement = re.sub(r"\$\{?(\w+)\}?", r"\\g<\1>", replacement)
    found = re.match(python_pattern, request_uri)
    assert (re.sub(python_pattern, python_replacement, request_uri) if found else request_uri) == logged
    log_format = re.search(r"log_format dockwise (.*?);", text, re.DOTALL).group(1)
    assert "$dockwise_logged_uri" in log_format
    assert not re.search(r"\$request\b|\$request_uri|\$uri|\$http_referer", log_format)
    uses = [line for line in directives(text) if line.startswith("access_log")]
    assert len(uses) == text.count("\nserver {")
    assert all(line.endswith(" dockwise;") for line in uses)
