"""The one gunicorn launcher of the browser tests, the benchmarks and scripts/audit.

gunicorn serves a WSGI target (`serve:app` by default, as scripts/run does: --workers 2, sync workers, --preload) on a
free 127.0.0.1 port from the repository root, with --no-control-socket: gunicorn's default control socket
($HOME/.gunicorn/gunicorn.ctl) is one per user, so a server started here would take it over from (and on exit delete
it under) a developer's own running gunicorn.

    with Server(tmp_path, env={"DOCKWISE_RULES_PATH": str(rules)}) as server:
        urllib.request.urlopen(server.url + "/")

`start()` (or entering the `with`) returns once `ready_path` answers 2xx and every worker is up, or raises
ServerError with gunicorn's log; leaving the `with` (or `stop()`) stops it. Stdlib only: scripts/audit runs it
with the system Python.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 30.0
STOP_SECONDS = 15.0
PR_SET_PDEATHSIG = 1


class ServerError(Exception):
    """gunicorn could not start (or died before serving); the message ends with its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_path() -> str:
    """The gunicorn beside the running interpreter (.venv/bin/gunicorn under .venv/bin/python), else the checkout's
    .venv's (scripts/audit runs with the system Python), else the one on PATH."""
    for candidate in (Path(sys.executable).parent / "gunicorn", ROOT / ".venv" / "bin" / "gunicorn"):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("gunicorn")
    if not found:
        raise ServerError(f"gunicorn not found beside {sys.executable}, in .venv nor on PATH: run scripts/setup")
    return found


def die_with_parent() -> None:
    """In a child before exec: get SIGTERM when its parent dies, so no server (or wrk) outlives an aborted run."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def children(pid: int) -> list[int]:
    """The live child processes of `pid`, from /proc (what `pgrep -P pid` prints)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the command (which may hold spaces) are: state, ppid, ...
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.append(int(entry.name))
    return sorted(found)


class Server:
    """A gunicorn master serving `app` on a free 127.0.0.1 port, started from the repository root.

    workdir      where the log goes: workdir/<name>.log, gunicorn's stdout and stderr (or `log_path`)
    app          the WSGI target: "serve:app" (Dockwise, refusing broken rules) or e.g. "bench.hello:app"
    env          extra environment (DOCKWISE_RULES_PATH, DOCKWISE_* settings), over this process's own
    secret_key   DOCKWISE_SECRET_KEY (default: a random one, so the repository's instance folder is never written)
    workers      gunicorn --workers (sync workers)
    preload      gunicorn --preload, as scripts/run serves
    control_socket  False adds --no-control-socket (see the module's docstring)
    ready_path   start() waits until this path answers 2xx; its JSON body (if any) is kept as `health`
    """

    def __init__(self, workdir: Path, *, app: str = "serve:app", name: str = "gunicorn",
                 env: Mapping[str, str] | None = None, secret_key: str | None = None, workers: int = 2,
                 preload: bool = True, control_socket: bool = False, ready_path: str = "/healthz",
                 log_path: Path | None = None, startup_seconds: float = STARTUP_SECONDS,
                 dies_with_parent: bool = True):
        self.app = app
        self.name = name
        self.env = dict(env or {})
        self.secret_key = secret_key or secrets.token_hex(32)
        self.workers = workers
        self.preload = preload
        self.control_socket = control_socket
        self.ready_path = ready_path
        self.log_path = Path(log_path) if log_path else Path(workdir) / f"{name}.log"
        self.startup_seconds = startup_seconds
        self.dies_with_parent = dies_with_parent
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.health: dict = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def fingerprint(self) -> str | None:
        """The rules fingerprint Dockwise's /healthz answered when it became ready."""
        return self.health.get("rules_fingerprint")

    def command(self) -> list[str]:
        return [gunicorn_path(), "--workers", str(self.workers), "--bind", f"127.0.0.1:{self.port}",
                *([] if self.control_socket else ["--no-control-socket"]),
                *(["--preload"] if self.preload else []), self.app]

    def start(self) -> Server:
        """Start gunicorn and wait until it serves; on failure stop it and raise ServerError with its log."""
        self.port = free_port()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "DOCKWISE_SECRET_KEY": self.secret_key, **self.env}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command(), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL,
                                            preexec_fn=die_with_parent if self.dies_with_parent else None)
        try:
            self._wait()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait(self) -> None:
        deadline = time.monotonic() + self.startup_seconds
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"{self.name}: gunicorn exited with {self.process.returncode} before serving:\n"
                                  f"{self.log_text()}")
            try:
                with urllib.request.urlopen(self.url + self.ready_path, timeout=2) as response:
                    body = response.read()
                if len(self.worker_pids()) >= self.workers:
                    self.health = _json_object(body)
                    return
            except (OSError, http.client.HTTPException) as error:  # URLError (non-2xx too), refused, timeout
                last = error
            time.sleep(0.1)
        raise ServerError(f"{self.name}: no answer on {self.ready_path} within {self.startup_seconds:g} s ({last}):\n"
                          f"{self.log_text()}")

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def worker_pids(self) -> list[int]:
        return children(self.process.pid) if self.process else []

    def cpu_seconds(self) -> float:
        """User + system CPU time of the master and its live workers so far (workers that died take theirs along)."""
        total = 0
        for pid in [self.process.pid, *self.worker_pids()] if self.process else []:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """SIGTERM (gunicorn's graceful stop), then SIGKILL if it has not exited within STOP_SECONDS."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def __enter__(self) -> Server:
        return self if self.process is not None else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _json_object(body: bytes) -> dict:
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
