"""Fault check: 50 slow clients against Dockwise behind the nginx of deploy/nginx/dockwise.conf.

Run with `.venv/bin/python -m bench.slow_clients` (about 90 s) or `--quick` (about 35 s; what CI runs). It exits 0
when every check passes, 1 when one fails, 2 when it could not run (no nginx or openssl: scripts/install-bench-deps
installs them; or gunicorn or nginx did not start). `--template PATH` checks another nginx site with the same
placeholders.

gunicorn serves Dockwise as scripts/run does (--workers 2, sync, --preload, plus --no-control-socket) on a free
127.0.0.1 port, on a temporary copy of rules.yaml, with DOCKWISE_PROXY_FIX=1 and DOCKWISE_PUBLIC_URL set to the
proxy's address: the production shape of the README's "Running in production". In front of it, nginx (Debian's
/usr/sbin/nginx, as the current user: `nginx -p DIR -c DIR/nginx.conf -g 'daemon off;'`, with its pid, logs and
temporary files in a temporary DIR) serves deploy/nginx/dockwise.conf with its placeholders filled in: HTTPS on a
free 127.0.0.1 port with a throwaway self-signed certificate (openssl), its HTTP redirect on another, gunicorn as
the upstream. Then:

1. the HTTP server answers a 308 to the public https:// name (the template's redirect);
2. 50 slow connections to nginx's HTTPS port never finish their request: half send a request line and then one
   header line every 5 s (slowloris), half send a whole head for a 16 000-byte POST body and then one byte of it
   every 5 s (a slow upload). One that nginx closes (client_header_timeout) is opened again at once, so 50 are held
   for --hold seconds: 40 s, longer than gunicorn's 30 s worker timeout (`--quick`: gunicorn --timeout 10, held 15 s);
3. meanwhile a fresh HTTPS connection every 0.5 s asks for /healthz or a results page (20 distinct canonical links
   in turn) through nginx: each must answer 200 within 1 s, and a results page's share link must name the public
   URL (so the proxy's headers reach Dockwise as configured);
4. the slow connections were really held (on average at least 90 % of them open at each poll), and gunicorn kept its
   workers: the same pids before and after, and no "WORKER TIMEOUT" in its log.

For contrast (printed, not a gate; `--no-contrast` skips it), the same slow connections then go to gunicorn itself
for its worker timeout plus 5 s, with the same polls: how many answered within 1 s, and how many times gunicorn
killed a worker. (With the template's `proxy_request_buffering off`, the check fails the same way: the slow uploads
reach gunicorn.)
"""

from __future__ import annotations

import argparse
import contextlib
import grp
import http.client
import os
import pwd
import random
import re
import select
import shutil
import signal
import socket
import ssl
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.loadlib import machine_lines, random_answer_sets, results_paths
from harness.server import Server, ServerError, die_with_parent, free_port
from recommender import load_rules

ROOT = Path(__file__).resolve().parent.parent

RULES = ROOT / "rules.yaml"
TEMPLATE = ROOT / "deploy" / "nginx" / "dockwise.conf"
NGINX = "/usr/sbin/nginx"
OPENSSL = "/usr/bin/openssl"
INSTALL_HINT = "run scripts/install-bench-deps (apt-get install nginx openssl)"
PLACEHOLDER = re.compile(r"\$\{(DOCKWISE_[A-Z_]+)\}")
SEED = 20240604
LINKS = 20
ANSWER_WITHIN = 1.0         # seconds: the gate for every poll
POLL_TIMEOUT = 5.0          # seconds a poll may take before it counts as failed (so slow answers are measured)
HELD_SHARE = 0.9            # the slow connections count as held when on average this share was open at each poll
SERVER_NAME = "127.0.0.1"

# The check's own main configuration; the template is included into its http block as a distribution's conf.d is.
NGINX_MAIN = """\
{user}worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/dockwise.conf;
}}
"""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=50, help="slow connections held (default 50)")
    parser.add_argument("--hold", type=float, default=40.0, help="seconds they are held (default 40)")
    parser.add_argument("--interval", type=float, default=5.0,
                        help="seconds between two pieces (a header line, a byte of body) a slow connection sends "
                             "(default 5)")
    parser.add_argument("--template", type=Path, default=TEMPLATE,
                        help=f"the nginx site to check (default {TEMPLATE.relative_to(ROOT)})")
    parser.add_argument("--poll-interval", type=float, default=0.5, help="seconds between two polls (default 0.5)")
    parser.add_argument("--gunicorn-timeout", type=int, default=None,
                        help="gunicorn --timeout in seconds (default: gunicorn's own, 30)")
    parser.add_argument("--contrast", action=argparse.BooleanOptionalAction, default=True,
                        help="then hold the same slow connections against gunicorn directly (printed, not a gate)")
    parser.add_argument("--quick", action="store_true", help="CI mode: gunicorn --timeout 10, held 15 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.gunicorn_timeout, args.hold = 10, 15.0
    return args


class Gunicorn(Server):
    """harness.server's gunicorn, with --timeout when one is given."""

    def __init__(self, *args, timeout: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.timeout = timeout

    def command(self) -> list[str]:
        command = super().command()
        if self.timeout is None:
            return command
        return [*command[:-1], "--timeout", str(self.timeout), command[-1]]


# --- nginx ----------------------------------------------------------------------------------------------------------

def fill_template(path: Path, values: dict[str, str]) -> str:
    """The template with its ${DOCKWISE_...} placeholders filled in, as envsubst with that list of names does."""
    text = path.read_text(encoding="utf-8")
    missing = sorted(set(PLACEHOLDER.findall(text)) - set(values))
    if missing:
        raise ValueError(f"{path} has placeholders this check does not fill in: {', '.join(missing)}")
    return string.Template(text).safe_substitute(values)


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 (valid one day): (certificate, key)."""
    certificate, key = directory / "dockwise.pem", directory / "dockwise.key"
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-days", "1", "-subj", f"/CN={SERVER_NAME}", "-addext", f"subjectAltName=IP:{SERVER_NAME}",
                    "-keyout", str(key), "-out", str(certificate)],
                   check=True, capture_output=True, timeout=30)
    return certificate, key


def user_line() -> str:
    """nginx's `user` directive for the current user: a master started as root would otherwise run its workers as
    nobody, who cannot enter the private temporary folder."""
    if os.geteuid() != 0:
        return ""  # an unprivileged master runs its workers as itself (and would warn about a `user` line)
    return f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};\n"


class Nginx:
    """nginx serving the filled-in template from `directory`, in the foreground, as the current user."""

    def __init__(self, directory: Path, site: str):
        self.directory = directory
        (directory / "dockwise.conf").write_text(site, encoding="utf-8")
        self.conf = directory / "nginx.conf"
        self.conf.write_text(NGINX_MAIN.format(user=user_line(), dir=directory), encoding="utf-8")
        self.process: subprocess.Popen | None = None

    def command(self, *extra: str) -> list[str]:
        return [NGINX, "-p", str(self.directory), "-c", str(self.conf), "-e", str(self.directory / "error.log"),
                *extra]

    def start(self, port: int) -> None:
        """Check the configuration (`nginx -t`), start nginx and wait until `port` accepts connections."""
        tested = subprocess.run(self.command("-t"), capture_output=True, text=True, timeout=30)
        if tested.returncode != 0:
            raise ServerError(f"nginx -t refuses the configuration:\n{tested.stderr}")
        self.process = subprocess.Popen(self.command("-g", "daemon off;"), stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                        preexec_fn=die_with_parent)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"nginx exited with {self.process.returncode}:\n{self.error_log()}")
            with contextlib.suppress(OSError), socket.create_connection((SERVER_NAME, port), timeout=1):
                return
            time.sleep(0.05)
        raise ServerError(f"nginx did not listen on {port} within 10 s:\n{self.error_log()}")

    def error_log(self) -> str:
        try:
            return (self.directory / "error.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGQUIT (nginx's graceful stop), then SIGKILL if it has not exited within 10 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


# --- slow clients and polls -----------------------------------------------------------------------------------------

# What a slow connection sends first, and then one piece of every `interval` seconds, by kind: a request head that
# never ends (slowloris), and a complete head whose body never ends (a slow upload, which reaches gunicorn unless the
# proxy buffers request bodies). The body stays under Dockwise's 16 KiB limit, so nginx accepts it.
BODY_LENGTH = 16_000
OPENINGS = {
    "head": f"GET /healthz HTTP/1.1\r\nHost: {SERVER_NAME}\r\n",
    "body": f"POST /api/recommendations HTTP/1.1\r\nHost: {SERVER_NAME}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {BODY_LENGTH}\r\n\r\n",
}
PIECES = {"head": lambda n: f"X-Slow-{n}: {n}\r\n", "body": lambda n: " "}
KIND_NAMES = {"head": "slow request heads", "body": "slow request bodies"}


@dataclass
class SlowConnection:
    kind: str
    sock: socket.socket
    opened: float
    next_piece: float
    pieces: int = 0


class SlowClients(threading.Thread):
    """Slow connections to `port`, `counts[kind]` of each kind of OPENINGS, each sending one more piece every
    `interval` seconds and never finishing its request; one the server closes is opened again at once."""

    def __init__(self, port: int, counts: dict[str, int], interval: float, tls: ssl.SSLContext | None = None):
        super().__init__(daemon=True)
        self.port, self.counts, self.interval, self.tls = port, counts, interval, tls
        self.stop_event = threading.Event()
        self.connections: list[SlowConnection] = []
        self.opened = dict.fromkeys(counts, 0)
        self.open_failures = 0
        self.lifetimes: dict[str, list[float]] = {kind: [] for kind in counts}  # of those the server closed
        self.answers: list[bytes] = []      # the first bytes of what the server sent before closing, if anything

    @property
    def live(self) -> int:
        return len(self.connections)

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def open_one(self, kind: str) -> None:
        try:
            sock = socket.create_connection((SERVER_NAME, self.port), timeout=2)
            if self.tls:
                sock = self.tls.wrap_socket(sock, server_hostname=SERVER_NAME)
            sock.sendall(OPENINGS[kind].encode())
        except OSError:
            self.open_failures += 1
            return
        now = time.monotonic()
        self.opened[kind] += 1
        self.connections.append(SlowConnection(kind, sock, now, now + self.interval * random.random()))

    def read(self, connection: SlowConnection) -> None:
        """After select() says readable: the server closed or answered (record the connection and drop it), or only
        TLS housekeeping arrived (TLS 1.3 session tickets make a socket readable: keep it)."""
        connection.sock.setblocking(False)
        try:
            data = connection.sock.recv(64)
        except ssl.SSLWantReadError:
            connection.sock.settimeout(2)
            return
        except OSError:
            data = b""
        if data:
            self.answers.append(data[:12])
        self.drop(connection)

    def drop(self, connection: SlowConnection) -> None:
        self.lifetimes[connection.kind].append(time.monotonic() - connection.opened)
        connection.sock.close()
        self.connections.remove(connection)

    def run(self) -> None:
        while not self.stop_event.is_set():
            for kind, count in self.counts.items():
                for _ in range(count - sum(c.kind == kind for c in self.connections)):
                    if not self.stop_event.is_set():
                        self.open_one(kind)
            readable, _, _ = select.select([c.sock for c in self.connections], [], [], 0.1)
            for connection in [c for c in self.connections if c.sock in readable]:
                self.read(connection)
            now = time.monotonic()
            for connection in [c for c in self.connections if c.next_piece <= now]:
                try:
                    connection.sock.sendall(PIECES[connection.kind](connection.pieces).encode())
                except OSError:
                    self.drop(connection)
                    continue
                connection.pieces += 1
                connection.next_piece = now + self.interval

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=10)
        for connection in self.connections:
            connection.sock.close()
        self.connections.clear()


@dataclass
class Poll:
    path: str
    seconds: float
    status: int = 0
    error: str = ""
    live_slow: int = 0

    @property
    def answered(self) -> bool:
        return self.status == 200 and not self.error and self.seconds <= ANSWER_WITHIN


class Poller(threading.Thread):
    """A fresh connection every `period` seconds asking for each of `paths` in turn; `complaint(path, body)` says
    what is wrong with a 200 response's body, or ''."""

    def __init__(self, port: int, paths: list[str], period: float, slow: SlowClients,
                 tls: ssl.SSLContext | None = None, complaint: Callable[[str, bytes], str] | None = None):
        super().__init__(daemon=True)
        self.port, self.paths, self.period, self.slow, self.tls, self.complaint = port, paths, period, slow, tls, \
            complaint
        self.stop_event = threading.Event()
        self.polls: list[Poll] = []

    def poll(self, path: str) -> Poll:
        if self.tls:
            connection = http.client.HTTPSConnection(SERVER_NAME, self.port, timeout=POLL_TIMEOUT, context=self.tls)
        else:
            connection = http.client.HTTPConnection(SERVER_NAME, self.port, timeout=POLL_TIMEOUT)
        live = self.slow.live
        started = time.monotonic()
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            result = Poll(path, time.monotonic() - started, response.status, live_slow=live)
            if self.complaint and response.status == 200:
                result.error = self.complaint(path, body)
        except (OSError, http.client.HTTPException) as error:
            result = Poll(path, time.monotonic() - started, error=f"{type(error).__name__}: {error}", live_slow=live)
        finally:
            connection.close()
        return result

    def run(self) -> None:
        number = 0
        while not self.stop_event.is_set():
            self.polls.append(self.poll(self.paths[number % len(self.paths)]))
            number += 1
            self.stop_event.wait(self.period)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=POLL_TIMEOUT + 5)


def hold(port: int, tls: ssl.SSLContext | None, args: argparse.Namespace, paths: list[str], seconds: float,
         complaint: Callable[[str, bytes], str] | None = None) -> tuple[SlowClients, Poller]:
    """Hold `args.connections` slow connections to `port` (half slow heads, half slow bodies) for `seconds` while
    polling `paths`."""
    counts = {"head": args.connections - args.connections // 2, "body": args.connections // 2}
    slow = SlowClients(port, counts, args.interval, tls)
    poller = Poller(port, paths, args.poll_interval, slow, tls, complaint)
    slow.start()
    try:
        deadline = time.monotonic() + 5
        while sum(slow.opened.values()) < args.connections and time.monotonic() < deadline:
            time.sleep(0.05)
        poller.start()
        time.sleep(seconds)
    finally:
        poller.stop()
        slow.stop()
    return slow, poller


def latency_line(polls: list[Poll]) -> str:
    if not polls:
        return "no polls"
    times = sorted(p.seconds * 1000 for p in polls)
    p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
    answered = sum(p.answered for p in polls)
    failed = [p for p in polls if p.error or p.status != 200]
    first = f" (first: {failed[0].status or failed[0].error})" if failed else ""
    return (f"{len(polls)} polls, {answered} answered 200 within {ANSWER_WITHIN:g} s, {len(failed)} failed{first}; "
            f"latency p50 {statistics.median(times):.1f} ms, p99 {p99:.1f} ms, max {times[-1]:.1f} ms")


def slow_line(slow: SlowClients, polls: list[Poll]) -> str:
    live = [p.live_slow for p in polls]
    parts = []
    for kind, count in slow.counts.items():
        lifetimes = sorted(slow.lifetimes[kind])
        closed = (f"{len(lifetimes)} closed by the server after {lifetimes[0]:.1f}–{lifetimes[-1]:.1f} s (median "
                  f"{statistics.median(lifetimes):.1f} s)" if lifetimes else "none closed by the server")
        parts.append(f"{count} {KIND_NAMES[kind]}: {slow.opened[kind]} opened, {closed}")
    answers = f"; answers before closing: {sorted(set(slow.answers))}" if slow.answers else ""
    return (f"{'; '.join(parts)}; {slow.open_failures} failed to open; {statistics.mean(live) if live else 0:.1f} open "
            f"on average at a poll (min {min(live, default=0)}){answers}")


# --- the check ------------------------------------------------------------------------------------------------------

def main(argv: list[str]) -> int:
    args = parse_args(argv)
    print(f"Dockwise: {args.connections} slow clients against nginx in front of gunicorn"
          + (" (quick)" if args.quick else ""))
    for line in machine_lines():
        print(line)
    for tool in (NGINX, OPENSSL):
        if not os.access(tool, os.X_OK):
            print(f"cannot run: {tool} is missing: {INSTALL_HINT}")
            return 2
    workdir = Path(tempfile.mkdtemp(prefix="dockwise-slow-"))
    try:
        return run(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run(args: argparse.Namespace, workdir: Path) -> int:
    rules_path = workdir / "rules.yaml"
    shutil.copyfile(RULES, rules_path)
    ruleset = load_rules(rules_path)
    results = results_paths(ruleset, random_answer_sets(ruleset, LINKS, SEED))
    https_port, http_port = free_port(), free_port()
    public_url = f"https://{SERVER_NAME}:{https_port}"
    try:
        certificate, key = make_certificate(workdir)
    except (OSError, subprocess.SubprocessError) as error:
        print(f"cannot run: openssl could not make a certificate: {error}")
        return 2
    tls = ssl.create_default_context(cafile=str(certificate))
    server = Gunicorn(workdir, name="dockwise", timeout=args.gunicorn_timeout,
                      env={"DOCKWISE_RULES_PATH": str(rules_path), "DOCKWISE_PROXY_FIX": "1",
                           "DOCKWISE_PUBLIC_URL": public_url})
    values = {"DOCKWISE_SERVER_NAME": SERVER_NAME, "DOCKWISE_HTTPS_LISTEN": f"{SERVER_NAME}:{https_port}",
              "DOCKWISE_HTTP_LISTEN": f"{SERVER_NAME}:{http_port}", "DOCKWISE_TLS_CERTIFICATE": str(certificate),
              "DOCKWISE_TLS_CERTIFICATE_KEY": str(key),
              "DOCKWISE_ACCESS_LOG": str(workdir / "access.log")}
    nginx_dir = workdir / "nginx"
    nginx_dir.mkdir()
    nginx: Nginx | None = None
    try:
        try:
            server.start()
            site = fill_template(args.template,
                                 {**values, "DOCKWISE_UPSTREAM": f"{SERVER_NAME}:{server.port}"})
            nginx = Nginx(nginx_dir, site)
            nginx.start(https_port)
        except (ServerError, ValueError, OSError) as error:
            print(f"cannot run: {error}")
            return 2
        timeout = args.gunicorn_timeout or 30
        print(f"gunicorn --workers 2 (sync) --preload --timeout {timeout} on {server.url}, workers "
              f"{server.worker_pids()}; nginx {public_url} (and http://{SERVER_NAME}:{http_port}) from "
              f"{args.template}; DOCKWISE_PROXY_FIX=1, DOCKWISE_PUBLIC_URL={public_url}")
        return check(args, server, nginx, tls, https_port, http_port, public_url, results, timeout)
    finally:
        if nginx:
            nginx.stop()
        server.stop()


def check(args, server: Gunicorn, nginx: Nginx, tls: ssl.SSLContext, https_port: int, http_port: int,
          public_url: str, results: list[str], timeout: int) -> int:
    failures = []
    redirect = http.client.HTTPConnection(SERVER_NAME, http_port, timeout=5)
    try:
        redirect.request("GET", "/healthz")
        response = redirect.getresponse()
        location = response.getheader("Location")
    finally:
        redirect.close()
    print(f"\nhttp://{SERVER_NAME}:{http_port}/healthz: {response.status}, Location {location}")
    if response.status != 308 or location != f"https://{SERVER_NAME}/healthz":
        failures.append(f"the HTTP server answered {response.status} {location}, not 308 to the https:// name")

    share_link = f"{public_url}/results?"

    def share_link_named(path: str, body: bytes) -> str:
        if path.startswith("/results") and share_link.encode() not in body:
            return f"the results page does not hold a share link starting {share_link}"
        return ""

    paths = [item for path in results for item in ("/healthz", path)]
    workers_before = server.worker_pids()
    slow, poller = hold(https_port, tls, args, paths, args.hold, share_link_named)
    workers_after = server.worker_pids()
    log = server.log_text()
    polls = poller.polls
    print(f"\nThrough nginx, {args.connections} slow connections held {args.hold:g} s (one more header line or body "
          f"byte every {args.interval:g} s):")
    print(f"  {slow_line(slow, polls)}")
    print(f"  /healthz and results pages: {latency_line(polls)}")
    print(f"  nginx error log: {nginx.error_log().count('client timed out')} 'client timed out' lines")
    print(f"  workers before {workers_before}, after {workers_after}; gunicorn log: "
          f"{log.count('WORKER TIMEOUT')} 'WORKER TIMEOUT' lines")

    late = [p for p in polls if not p.answered]
    if not polls:
        failures.append("no poll was made")
    if late:
        failures.append(f"{len(late)} of {len(polls)} polls did not answer 200 within {ANSWER_WITHIN:g} s, first: "
                        + "; ".join(f"{p.path[:40]} {p.status} {p.seconds:.2f} s {p.error}" for p in late[:3]))
    if polls and statistics.mean(p.live_slow for p in polls) < HELD_SHARE * args.connections:
        failures.append(f"the slow connections were not held: {slow_line(slow, polls)}")
    if workers_before != workers_after or "WORKER TIMEOUT" in log:
        failures.append(f"gunicorn lost workers: {workers_before} → {workers_after}, "
                        f"{log.count('WORKER TIMEOUT')} WORKER TIMEOUT lines")

    if args.contrast:
        contrast(args, server, timeout)

    for failure in failures:
        print(f"FAILURE: {failure}")
    if failures:
        return 1
    print(f"PASS: every one of {len(polls)} polls through nginx answered 200 within {ANSWER_WITHIN:g} s while "
          f"{args.connections} slow connections were held for {args.hold:g} s; gunicorn kept its workers")
    return 0


def contrast(args: argparse.Namespace, server: Gunicorn, timeout: int) -> None:
    """The same slow connections straight to gunicorn, for timeout + 5 s: printed, not a gate."""
    seconds = timeout + 5.0
    timeouts_before = server.log_text().count("WORKER TIMEOUT")
    slow, poller = hold(server.port, None, args, ["/healthz"], seconds)
    polls = poller.polls
    killed = server.log_text().count("WORKER TIMEOUT") - timeouts_before
    print(f"\nContrast (not a gate): the same {args.connections} slow connections straight to gunicorn for "
          f"{seconds:g} s:")
    print(f"  {slow_line(slow, polls)}")
    print(f"  /healthz: {latency_line(polls)}")
    print(f"  gunicorn killed a worker {killed} times (WORKER TIMEOUT)")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
