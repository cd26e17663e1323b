"""The WSGI entry gunicorn serves (`gunicorn serve:app`): broken rules stop it before it serves.

Not named wsgi.py: Flask's CLI would load a wsgi.py before app.py, and `flask rules check` must work on broken rules.
`flask --app serve run` refuses broken rules as gunicorn does; `flask run` (app.py) serves 503s until they are fixed.

The rules are shared with the server's other processes (web/rules_store.py): under --preload the master loads them
and every worker forked later starts from the last good version. Without --preload each worker imports this module;
a worker of a master whose workers already serve rules serves their last good version even when the file is broken
now (a respawn must not take a worker down), while a server starting for the first time with a broken file refuses.
"""

from __future__ import annotations

import os
import signal
import sys

from flask import Flask

from app import ConfigError, create_app

# gunicorn halts instead of respawning a worker that exits with this code (its WORKER_BOOT_ERROR).
WORKER_BOOT_ERROR = 3


def gunicorn_worker():
    """The gunicorn worker importing this module in this process (no --preload), or None.

    A gunicorn worker installs its signal handlers (its own methods) before it imports the app; the master with
    --preload imports the app before it installs any.
    """
    workers = sys.modules.get("gunicorn.workers.base")
    owner = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    return owner if workers is not None and isinstance(owner, workers.Worker) else None


def share_rules(app: Flask) -> None:
    """Share the rules with the server's other processes: the master is this process, or the worker's parent."""
    worker = gunicorn_worker()
    app.extensions["dockwise"].share(worker.ppid if worker else os.getpid(), adopt=worker is not None)


def require_rules(app: Flask) -> None:
    """Stop serving before it starts when the rules are broken, printing every PATH:LINE:COL error."""
    holder = app.extensions["dockwise"]
    if holder.rules is None:
        for line in holder.error.log_lines() if holder.error else ():
            print(line, file=sys.stderr)
        print(f"Dockwise cannot start: fix {holder.display_name} (`flask rules check` lists the errors).",
              file=sys.stderr)
        raise SystemExit(WORKER_BOOT_ERROR)


try:
    app = create_app()
except ConfigError as error:  # a setting Dockwise cannot use: its message, not a traceback
    print(f"Dockwise cannot start: {error}", file=sys.stderr)
    raise SystemExit(WORKER_BOOT_ERROR) from None
share_rules(app)
require_rules(app)
