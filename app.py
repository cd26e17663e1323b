"""Dockwise's entry point: `create_app()` for Flask's CLI and tests, and `app` for gunicorn."""

from __future__ import annotations

import os

from flask import Flask

from web.cli import recommend_command, rules_cli


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: defaults, then instance/config.py, then DOCKWISE_* variables, then `test_config`."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(RULES_PATH=os.path.join(app.root_path, "rules.yaml"))
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("DOCKWISE")
    if test_config:
        app.config.from_mapping(test_config)
    app.cli.add_command(rules_cli)
    app.cli.add_command(recommend_command)
    return app
