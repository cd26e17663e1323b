"""Test-only routes the web tests add to their apps: one that raises, and a form that changes state."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from flask import Flask, redirect, render_template_string, request

# What the raising route's error says: a test that finds it in a response has found a leak.
LEAK_MARKER = "raised-by-the-test-route"
ROOT = Path(__file__).resolve().parent.parent

# A form that changes state, as the planned team rooms will: the questionnaire no longer needs CSRF protection, but
# every POST view that is not exempted does, so the real Flask-WTF round trip is checked through it.
PROTECTED = "/test-only/protected-form"
SENT = PROTECTED + "?sent=" + quote("ship it")
PROTECTED_PAGE = """{% extends "base.html" %}{% block main %}<h1>A protected form</h1>
<form method="post" action="{{ request.path }}"><input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<label>Note <input name="note"></label> <button type="submit">Send</button></form>{% endblock %}"""


def _boom():
    raise RuntimeError(f"{LEAK_MARKER} in {ROOT}/secret/place.py")


def _show_protected_form():
    return render_template_string(PROTECTED_PAGE, title="A protected form")


def _send_protected_form():
    # Only reached when CSRFProtect accepted the token (the view is not exempt).
    return redirect(PROTECTED + "?sent=" + quote(request.form.get("note", "")), 303)


def add_test_routes(application: Flask) -> Flask:
    """/boom and /api/boom, which raise, and the protected form (GET shows it, POST sends it)."""
    application.add_url_rule("/boom", "boom", _boom)
    application.add_url_rule("/api/boom", "api_boom", _boom)
    application.add_url_rule(PROTECTED, "protected_form", _show_protected_form, methods=["GET"])
    application.add_url_rule(PROTECTED, "protected_form_send", _send_protected_form, methods=["POST"])
    return application
