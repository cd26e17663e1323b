"""Dockwise's application factory: `create_app()` for Flask's CLI and tests (gunicorn imports serve.py)."""

from __future__ import annotations

import os

from flask import Flask, abort, request
from flask_wtf.csrf import CSRFProtect

from web import api, rooms_api, rooms_pages, rules_page, views
from web.cli import db_cli, recommend_command, rooms_cli, rules_cli
from web.errors import init_errors
from web.paths import init_paths
from web.rooms_service import init_rooms
from web.rules_holder import RulesHolder
from web.secret import environment_key, secret_key
from web.security import BAD_FORWARDED_PROTO, SCHEMES, init_security
from web.settings import ConfigError, proxy_hops, public_url, trusted_hosts
from web.site import init_site
from web.templating import init_templating

DEFAULTS = {
    "RULES_PATH": None,                 # default: rules.yaml beside this file
    "RULES_CHECK_INTERVAL": 1.0,        # seconds between looks at the rules file for changes (0: never)
    "RULES_RELOAD_SECONDS": 20.0,       # a changed rules file is checked in a child process within this CPU time
    "RULES_RELOAD_MEMORY_MB": 1024,     # and memory, or it is not served
    "STATE_DIR": None,                  # shared by one server's workers (default: a private temporary directory)
    "HEALTH_DETAILS": False,            # /healthz shows rule errors to every client, not only local ones
    "MAX_CONTENT_LENGTH": 16 * 1024,    # request bodies over 16 KiB get 413
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_HTTPONLY": True,
    "WTF_CSRF_TIME_LIMIT": 24 * 3600,   # a questionnaire left open for a working day still submits
    "PROXY_FIX": 0,                     # behind a TLS proxy: how many proxies set X-Forwarded-* (e.g. 1)
    "PUBLIC_URL": None,                 # the address users open (e.g. https://dockwise.example.com): links use it
    "TRUSTED_HOSTS": None,              # Host values served; default 127.0.0.1 and localhost, + PUBLIC_URL's host
    "SECRET_KEY_FILE": None,            # a file holding the secret key (a Docker or Kubernetes secret)
    "DATABASE_URL": None,               # the rooms' database (default: SQLite rooms.sqlite3 in the instance folder)
    "DATABASE_URL_FILE": None,          # or a file holding it (a Docker or Kubernetes secret: the URL has a password)
    "ROOMS_KEEP_DAYS": 30,              # a room is deleted this many days after it closes (`flask rooms purge`)
    "ROOMS_PER_CLIENT_PER_HOUR": 10,    # rooms one client address may create in an hour
    "ROOMS_PER_HOUR": 200,              # rooms all clients together may create in an hour
}
# Read as text: from_prefixed_env reads values as JSON, which would turn a numeric key or file name into a number.
TEXT_SETTINGS = ("SECRET_KEY_FILE", "PUBLIC_URL", "TRUSTED_HOSTS", "DATABASE_URL", "DATABASE_URL_FILE")

__all__ = ["ConfigError", "create_app"]

csrf = CSRFProtect()


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: defaults, then instance/config.py, then DOCKWISE_* variables, then `test_config`.

    Broken rules do not stop the app being built (the `flask rules` commands need it then); serving does stop:
    see serve.py. A setting Dockwise cannot use raises ConfigError, whose message names it.
    """
    app = Flask(__name__, instance_relative_config=True,
                instance_path=(test_config or {}).get("INSTANCE_PATH"))
    app.config.from_mapping(DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("DOCKWISE")
    if "DOCKWISE_SECRET_KEY" in os.environ:
        # As text (a numeric key stays a key), and checked here: a key from test_config or config.py is not.
        app.config["SECRET_KEY"] = environment_key(os.environ["DOCKWISE_SECRET_KEY"])
    for name in TEXT_SETTINGS:
        if f"DOCKWISE_{name}" in os.environ:
            app.config[name] = os.environ[f"DOCKWISE_{name}"]
    if test_config:
        app.config.from_mapping(test_config)
    app.config["RULES_PATH"] = app.config["RULES_PATH"] or os.path.join(app.root_path, "rules.yaml")
    app.config["PROXY_FIX"] = proxy_hops(app.config["PROXY_FIX"])
    public = public_url(app.config["PUBLIC_URL"])
    app.config["PUBLIC_URL"] = str(public) if public else None
    app.config["TRUSTED_HOSTS"] = trusted_hosts(app.config["TRUSTED_HOSTS"], public)
    app.config["SECRET_KEY"] = secret_key(app.config, app.instance_path)

    app.json.sort_keys = False  # keep the result document's own order (and skip a sort per response)
    holder = RulesHolder.from_config(app.config)
    holder.load()
    app.extensions["dockwise"] = holder
    init_rooms(app)  # settings checked now; the database is opened on first use in each process (after any fork)

    app.before_request(refuse_unreadable_requests)  # before CSRFProtect's check, which trips over nameless fields
    csrf.init_app(app)
    csrf.exempt(api.bp)
    csrf.exempt(rooms_api.bp)  # tokens travel in the Authorization header, never in a cookie
    csrf.exempt(views.submit)  # the old questionnaire's POST: it changes nothing, and its answers must land
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(rooms_api.bp)
    app.register_blueprint(rooms_pages.bp)
    app.register_blueprint(rules_page.bp)
    init_paths(app)
    init_site(app)
    init_templating(app)
    init_security(app, public)
    init_errors(app)
    app.cli.add_command(rules_cli)
    app.cli.add_command(recommend_command)
    app.cli.add_command(db_cli)
    app.cli.add_command(rooms_cli)

    # Compile the templates now: under `gunicorn --preload` the workers inherit them instead of each paying for
    # the compilation in its first requests.
    for name in app.jinja_env.list_templates():
        app.jinja_env.get_template(name)

    return app


def refuse_unreadable_requests() -> None:
    """Answer 400, not 500, for what Werkzeug or Flask-WTF cannot read: a forwarded scheme that is neither http nor
    https, raw non-UTF-8 bytes in a query string (they make request.args raise), and a multipart part without a
    usable name (Werkzeug calls it None, and Flask-WTF's CSRF check crashes on it); and 413 for a chunked body over
    MAX_CONTENT_LENGTH. One hook, not several: each hook costs every request a little."""
    if request.environ["wsgi.url_scheme"] not in SCHEMES:
        abort(400, BAD_FORWARDED_PROTO)
    if request.method == "POST" and request.content_length is None:
        refuse_long_streamed_body()
    try:
        request.args  # noqa: B018 (parsed here, once, so that a bad query fails early and clearly)
    except UnicodeDecodeError:
        abort(400, "The link's query string is not valid UTF-8.")
    if request.method == "POST" and any(not isinstance(key, str) or "\r" in key or "\n" in key
                                        for key in request.form):
        abort(400, "A form field has no usable name.")


def refuse_long_streamed_body() -> None:
    """413 for a body without Content-Length (chunked) that goes on past MAX_CONTENT_LENGTH: Werkzeug stops reading
    it at the limit without an error, which would leave a truncated body to parse."""
    limit = request.max_content_length
    data = request.get_data(cache=True)  # kept: the form and JSON parsers read it from there
    if limit is not None and len(data) >= limit and request.environ["wsgi.input"].read(1):
        abort(413)
