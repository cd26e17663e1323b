"""Shared by the load benchmarks and fault scripts: wrk with a Lua script that cycles through request lines from a
file, random canonical links, and which worker of a server answered a request. The servers themselves are started
by harness.server, the launcher the tests and scripts/audit share.

Import it as `bench.loadlib` with the repository root (not bench/) on sys.path.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import random
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.server import Server, ServerError, die_with_parent, gunicorn_path
from recommender import RuleSet
from recommender.links import canonical_query

WRK = "/usr/bin/wrk"
INSTALL_HINT = "run scripts/install-bench-deps (apt-get install wrk)"
SECRET_KEY = "dockwise-benchmarks-fixed-secret-key"
WRK_MARK = "WRK_JSON "

# One script for every load: `fixed` sends wrk's own URL, `get` cycles through paths and `post` through JSON bodies
# read from a file (one a line), each thread starting at its own share of the file. It counts non-2xx responses per
# status code and prints one JSON line (WRK_JSON ...) with wrk's totals, errors and latency percentiles in µs.
LUA = r"""
local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("thread_id", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

function init(args)
  local mode, file, nthreads, post_path = args[1] or "fixed", args[2], tonumber(args[3] or "1"), args[4]
  non2xx = 0
  codes = {}
  reqs = {}
  if mode == "fixed" then
    reqs[1] = wrk.format(nil, wrk.path)
  else
    local f = assert(io.open(file, "r"))
    for line in f:lines() do
      if #line > 0 then
        if mode == "post" then
          reqs[#reqs + 1] = wrk.format("POST", post_path, {["Content-Type"] = "application/json"}, line)
        else
          reqs[#reqs + 1] = wrk.format("GET", line)
        end
      end
    end
    f:close()
  end
  count = #reqs
  pos = (math.floor(thread_id * count / nthreads) % count) + 1
end

function request()
  local r = reqs[pos]
  pos = pos + 1
  if pos > count then pos = 1 end
  return r
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    local key = tostring(status)
    codes[key] = (codes[key] or 0) + 1
  end
end

function done(summary, latency, requests)
  local bad, codes_text, distinct = 0, {}, 0
  local merged = {}
  for _, t in ipairs(threads) do
    bad = bad + t:get("non2xx")
    distinct = math.max(distinct, t:get("count"))
    for k, v in pairs(t:get("codes")) do merged[k] = (merged[k] or 0) + v end
  end
  for k, v in pairs(merged) do codes_text[#codes_text + 1] = string.format('"%s":%d', k, v) end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,' ..
    '"timeout":%d,"non2xx":%d,"codes":{%s},"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,' ..
    '"distinct_requests":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout, bad,
    table.concat(codes_text, ","), latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, distinct))
end
"""


# --- the machine --------------------------------------------------------------------------------------------------

def machine_lines() -> list[str]:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    wrk = subprocess.run([WRK, "--version"], capture_output=True, text=True, check=False).stdout.splitlines()
    try:
        gunicorn = subprocess.run([gunicorn_path(), "--version"], capture_output=True, text=True, check=False).stdout
    except ServerError:
        gunicorn = ""  # the server's start says why
    return [
        f"machine: {os.cpu_count()} CPUs (nproc {nproc()}), {model}; {platform.system()} {platform.release()}",
        f"python {platform.python_version()}, {gunicorn.strip() or 'gunicorn ?'}, "
        f"{wrk[0].split(' Copyright')[0] if wrk else 'wrk ?'}",
        load_line("before"),
    ]


def load_line(when: str) -> str:
    """The load average, with a warning when other processes already keep the CPUs busy."""
    one, five, fifteen = os.getloadavg()
    line = f"load average {when}: {one:.2f} {five:.2f} {fifteen:.2f}"
    if one > 0.25 * (os.cpu_count() or 1):
        line += " — other processes are using the CPUs: timings are noisy"
    return line


def nproc() -> str:
    try:
        return subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return str(len(os.sched_getaffinity(0)))


def require_wrk() -> None:
    if not (os.path.isfile(WRK) and os.access(WRK, os.X_OK)):
        raise SystemExit(f"{WRK} is missing: {INSTALL_HINT}")


# --- links ----------------------------------------------------------------------------------------------------------

def random_answer_sets(ruleset: RuleSet, count: int, seed: int) -> list[dict[str, str]]:
    """`count` distinct answer sets: each question one of its choices or unanswered, uniformly (fixed seed)."""
    rng = random.Random(seed)
    seen: set[tuple] = set()
    sets: list[dict[str, str]] = []
    attempts = 0
    while len(sets) < count:
        attempts += 1
        if attempts > count * 20:
            raise SystemExit(f"cannot draw {count} distinct answer sets from these rules")
        answers = {}
        for question in ruleset.questions:
            pick = rng.randrange(len(question.choices) + 1)
            if pick:
                answers[question.id] = question.choices[pick - 1].id
        key = tuple(sorted(answers.items()))
        if key not in seen:
            seen.add(key)
            sets.append(answers)
    return sets


def results_paths(ruleset: RuleSet, answer_sets: Iterable[dict[str, str]]) -> list[str]:
    return ["/results?" + canonical_query(ruleset, answers) for answers in answer_sets]


def api_bodies(answer_sets: Iterable[dict[str, str]]) -> list[str]:
    return [json.dumps({"answers": answers}, separators=(",", ":")) for answers in answer_sets]


def write_lines(path: Path, lines: Iterable[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def shuffled(items: list[str], seed: int) -> list[str]:
    copy = list(items)
    random.Random(seed).shuffle(copy)
    return copy


# --- wrk ------------------------------------------------------------------------------------------------------------

@dataclass
class WrkResult:
    label: str
    stats: dict
    output: str

    @property
    def requests(self) -> int:
        return self.stats["requests"]

    @property
    def rps(self) -> float:
        return self.stats["requests"] / (self.stats["duration_us"] / 1e6) if self.stats["duration_us"] else 0.0

    @property
    def socket_errors(self) -> int:
        return sum(self.stats[key] for key in ("connect", "read", "write", "timeout"))

    @property
    def non2xx(self) -> int:
        return self.stats["non2xx"]

    def describe(self) -> str:
        s = self.stats
        codes = f" {s['codes']}" if s["non2xx"] else ""
        return (f"{self.requests} responses in {s['duration_us'] / 1e6:.1f} s ({self.rps:.0f} req/s), "
                f"p50 {s['p50_us'] / 1000:.1f} ms, p99 {s['p99_us'] / 1000:.1f} ms; non-2xx {self.non2xx}{codes}, "
                f"socket errors {self.socket_errors} (connect {s['connect']}, read {s['read']}, write {s['write']}, "
                f"timeout {s['timeout']})")


def write_lua(directory: Path) -> Path:
    path = directory / "dockwise_load.lua"
    path.write_text(LUA, encoding="utf-8")
    return path


def wrk_command(url: str, lua: Path, *, duration: float, connections: int = 8, threads: int = 2,
                mode: str = "fixed", lines_file: Path | None = None, post_path: str = "",
                timeout: float = 5.0) -> list[str]:
    assert url.startswith("http://127.0.0.1:"), "loads go to 127.0.0.1 only"
    return [WRK, "-t", str(threads), "-c", str(connections), "-d", f"{duration:g}s", "--timeout", f"{timeout:g}s",
            "-s", str(lua), url, "--", mode, str(lines_file or ""), str(threads), post_path]


def parse_wrk(label: str, output: str) -> WrkResult:
    for line in output.splitlines():
        if line.startswith(WRK_MARK):
            return WrkResult(label, json.loads(line[len(WRK_MARK):]), output)
    raise RuntimeError(f"wrk printed no summary for {label}:\n{output}")


def run_wrk(label: str, url: str, lua: Path, *, duration: float, **options) -> WrkResult:
    command = wrk_command(url, lua, duration=duration, **options)
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=False,
                          preexec_fn=die_with_parent)
    return parse_wrk(label, done.stdout + done.stderr)


def start_wrk(url: str, lua: Path, *, duration: float, **options) -> subprocess.Popen:
    """wrk in the background, for loads that run while something else happens; stop it with stop_wrk."""
    command = wrk_command(url, lua, duration=duration, **options)
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=die_with_parent)


def stop_wrk(label: str, process: subprocess.Popen, wait: float) -> WrkResult:
    """SIGINT ends wrk's load early; it still prints its totals and runs the Lua `done` function."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        output, _ = process.communicate(timeout=wait)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate(timeout=10)
    return parse_wrk(label, output)


def finish_wrk(label: str, process: subprocess.Popen, timeout: float) -> WrkResult:
    """Wait for a background wrk to end its timed load (past `timeout`, stop it) and read its totals."""
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        return stop_wrk(label, process, wait=30)
    return parse_wrk(label, output)


# --- which worker answers -------------------------------------------------------------------------------------------

TCP_LINE = re.compile(r"^\s*\d+:\s+([0-9A-F]{8}):([0-9A-F]{4})\s+([0-9A-F]{8}):([0-9A-F]{4})\s+(\S+)(?:\s+\S+){3}"
                      r"\s+\d+\s+\d+\s+(\d+)")


def _server_socket_inode(server_port: int, client_port: int) -> int | None:
    """The inode of the server side of the loopback connection server_port ⇄ client_port (IPv4)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        match = TCP_LINE.match(line)
        if match and int(match[2], 16) == server_port and int(match[4], 16) == client_port:
            inode = int(match[6])
            if inode:
                return inode
    return None


def sockets_of(pid: int) -> set[int]:
    """Inodes of the sockets process `pid` has open."""
    found = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    found.add(int(target[8:-1]))
    except OSError:
        pass
    return found


def _holder(pids: list[int], inode: int) -> int | None:
    """Which of `pids` has the socket `inode` open."""
    return next((pid for pid in pids if inode in sockets_of(pid)), None)


class WorkerConnection:
    """A fresh connection to `server`, and the worker that accepted it.

    Nothing in the app names its worker, so this connects, waits until a worker has accepted the connection (a sync
    worker then blocks reading the request, so it accepts nothing else meanwhile), finds the server side of the
    connection in /proc/net/tcp and the worker holding that socket in /proc/<pid>/fd. The request is sent later.
    """

    def __init__(self, server: Server, timeout: float = 2.0):
        self.server = server
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
        client_port = self.sock.getsockname()[1]
        self.pid: int | None = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pid is None:
            inode = _server_socket_inode(server.port, client_port)
            if inode is not None:
                self.pid = _holder(server.worker_pids(), inode)
            if self.pid is None:
                time.sleep(0.002)

    def get(self, path: str) -> tuple[int, bytes]:
        """Send GET `path` and read the whole response: (status, body); the connection is closed after."""
        try:
            self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.server.port}\r\n"
                              "Connection: close\r\n\r\n".encode())
            chunks = []
            while chunk := self.sock.recv(65536):
                chunks.append(chunk)
        finally:
            self.sock.close()
        head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
        return status, body

    def close(self) -> None:
        self.sock.close()


def health_by_worker(server: Server, *, attempts: int = 50) -> tuple[dict[int, dict], int]:
    """/healthz as each current worker answers it: ({pid: health}, connections opened).

    Connections are held open until every worker holds one (a worker blocked reading one request cannot accept
    another, so each new connection goes to a worker not yet holding one); then each asks for /healthz.
    """
    held: dict[int, WorkerConnection] = {}
    opened = 0
    try:
        while opened < attempts and not set(server.worker_pids()) <= set(held):
            connection = WorkerConnection(server)
            opened += 1
            if connection.pid is None or connection.pid in held:
                connection.close()
                continue
            held[connection.pid] = connection
        seen = {}
        for pid, connection in held.items():
            status, body = connection.get("/healthz")
            try:
                health = json.loads(body)
            except ValueError:
                health = {"body": body[:200].decode(errors="replace")}
            health["_status"] = status
            seen[pid] = health
        return seen, opened
    finally:
        for connection in held.values():
            connection.close()
