"""Dockwise's application factory: `create_app()` for Flask's CLI and tests (gunicorn imports serve.py)."""

from __future__ import annotations

import os

from flask import Flask, abort, request
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from web import api, rules_page, views
from web.cli import recommend_command, rules_cli
from web.errors import init_errors
from web.paths import init_paths
from web.rules_holder import RulesHolder
from web.secret import load_or_create_secret_key
from web.security import init_security
from web.site import init_site
from web.templating import init_templating

DEFAULTS = {
    "RULES_PATH": None,                 # default: rules.yaml beside this file
    "RULES_CHECK_INTERVAL": 1.0,        # seconds between checks of the rules file for changes
    "MAX_CONTENT_LENGTH": 16 * 1024,    # request bodies over 16 KiB get 413
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_HTTPONLY": True,
    "WTF_CSRF_TIME_LIMIT": 24 * 3600,   # a questionnaire left open for a working day still submits
    "PROXY_FIX": 0,                     # behind a TLS proxy: how many proxies set X-Forwarded-* (e.g. 1)
}

csrf = CSRFProtect()


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: defaults, then instance/config.py, then DOCKWISE_* variables, then `test_config`.

    Broken rules do not stop the app being built (the `flask rules` commands need it then); serving does stop:
    see serve.py.
    """
    app = Flask(__name__, instance_relative_config=True,
                instance_path=(test_config or {}).get("INSTANCE_PATH"))
    app.config.from_mapping(DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("DOCKWISE")
    if "DOCKWISE_SECRET_KEY" in os.environ:
        # from_prefixed_env reads values as JSON, which would turn a numeric key into a number.
        app.config["SECRET_KEY"] = os.environ["DOCKWISE_SECRET_KEY"]
    if test_config:
        app.config.from_mapping(test_config)
    app.config["RULES_PATH"] = app.config["RULES_PATH"] or os.path.join(app.root_path, "rules.yaml")
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = load_or_create_secret_key(app.instance_path)
    if app.config["PROXY_FIX"]:
        hops = int(app.config["PROXY_FIX"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)

    app.json.sort_keys = False  # keep the result document's own order (and skip a sort per response)
    holder = RulesHolder(app.config["RULES_PATH"], os.path.basename(app.config["RULES_PATH"]),
                         float(app.config["RULES_CHECK_INTERVAL"]))
    holder.refresh()
    app.extensions["dockwise"] = holder

    app.before_request(refuse_unreadable_requests)  # before CSRFProtect's check, which trips over nameless fields
    csrf.init_app(app)
    csrf.exempt(api.bp)
    csrf.exempt(views.submit)  # the old questionnaire's POST: it changes nothing, and its answers must land
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(rules_page.bp)
    init_paths(app)
    init_site(app)
    init_templating(app)
    init_security(app)
    init_errors(app)
    app.cli.add_command(rules_cli)
    app.cli.add_command(recommend_command)

    # Compile the templates now: under `gunicorn --preload` the workers inherit them instead of each paying for
    # the compilation in its first requests.
    for name in app.jinja_env.list_templates():
        app.jinja_env.get_template(name)

    return app


def refuse_unreadable_requests() -> None:
    """Answer 400, not 500, for what Werkzeug or Flask-WTF cannot read: raw non-UTF-8 bytes in a query string (they
    make request.args raise), and a multipart part without a usable name (Werkzeug calls it None, and Flask-WTF's CSRF
    check crashes on it). One hook, not two: each hook costs every request a little."""
    try:
        request.args  # noqa: B018 (parsed here, once, so that a bad query fails early and clearly)
    except UnicodeDecodeError:
        abort(400, "The link's query string is not valid UTF-8.")
    if request.method == "POST" and any(not isinstance(key, str) or "\r" in key or "\n" in key
                                        for key in request.form):
        abort(400, "A form field has no usable name.")
