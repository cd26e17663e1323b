"""The WSGI entry gunicorn serves (`gunicorn serve:app`): broken rules stop it before it serves.

Not named wsgi.py: Flask's CLI would load a wsgi.py before app.py, and `flask rules check` must work on broken rules.
`flask --app serve run` refuses broken rules as gunicorn does; `flask run` (app.py) serves 503s until they are fixed.
"""

from __future__ import annotations

import sys

from flask import Flask

from app import create_app

# gunicorn halts instead of respawning a worker that exits with this code (its WORKER_BOOT_ERROR).
WORKER_BOOT_ERROR = 3


def require_rules(app: Flask) -> None:
    """Stop serving before it starts when the rules are broken, printing every PATH:LINE:COL error."""
    holder = app.extensions["dockwise"]
    if holder.rules is None:
        for issue in holder.error.issues if holder.error else ():
            print(issue, file=sys.stderr)
        print(f"Dockwise cannot start: fix {holder.display_name} (`flask rules check` lists the errors).",
              file=sys.stderr)
        raise SystemExit(WORKER_BOOT_ERROR)


app = create_app()
require_rules(app)
