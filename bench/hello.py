"""A one-route Flask app for comparison: what gunicorn + Flask cost with no Dockwise work at all.

Served by bench/http_load.py as `gunicorn bench.hello:app` from the repository root, with Dockwise's settings.
"""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/hello")
def hello() -> str:
    return "Hello, world!"
