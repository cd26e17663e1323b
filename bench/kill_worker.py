"""Fault check: SIGKILL a gunicorn worker while wrk loads /results; only its requests may be lost.

Run with `.venv/bin/python -m bench.kill_worker` (about 15 s) or `--quick` (about 10 s). It exits 0 when every check
passes, 1 when one fails, 2 when it could not run (no wrk, or the server did not start).

gunicorn serves Dockwise as scripts/run does (--workers 2, sync, --preload, plus --no-control-socket) on a free
127.0.0.1 port with a temporary copy of rules.yaml. wrk (8 connections, 2 threads) loads GET /results cycling through
distinct canonical links; after --kill-after seconds this script takes the first child of the gunicorn master (from
/proc, what `pgrep -P` shows), waits until it holds a client connection (a socket besides the listening one it
shares with the master: it is mid-request), SIGKILLs it and watches the master's children until a new
worker replaces it. Then:

1. requests lost while loading (wrk's socket errors — connect, read, write, timeout — plus non-2xx responses) are at
   most the connections a worker can have held (--connections; a sync worker holds one at a time) and every other
   response was 2xx;
2. gunicorn replaced the worker (two workers again, a new pid, "was sent SIGKILL" and a new "Booting worker" in
   its log);
3. after the replacement, a second short load gets only 2xx and no socket error, and every worker — the new one
   included, told apart via /proc as in bench/reload_under_load.py — answers /healthz with 200.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from bench.loadlib import (
    SECRET_KEY,
    finish_wrk,
    health_by_worker,
    machine_lines,
    random_answer_sets,
    require_wrk,
    results_paths,
    run_wrk,
    sockets_of,
    start_wrk,
    write_lines,
    write_lua,
)
from harness.server import Server, ServerError
from recommender import load_rules

ROOT = Path(__file__).resolve().parent.parent

RULES = ROOT / "rules.yaml"
SEED = 20240603
LINKS = 20_000
REPLACE_TIMEOUT = 15.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of load around the kill (default 8)")
    parser.add_argument("--kill-after", type=float, default=3.0, help="seconds into the load (default 3)")
    parser.add_argument("--after", type=float, default=3.0, help="seconds of load after the replacement (default 3)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="CI mode: 5 s load, kill after 2 s, 2 s after")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.kill_after, args.after = 5.0, 2.0, 2.0
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    print("Dockwise: SIGKILL a gunicorn worker under load" + (" (quick)" if args.quick else ""))
    for line in machine_lines():
        print(line)
    require_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="dockwise-kill-"))
    try:
        rules_path = workdir / "rules.yaml"
        shutil.copyfile(RULES, rules_path)
        ruleset = load_rules(rules_path)
        lines = write_lines(workdir / "links.txt", results_paths(ruleset, random_answer_sets(ruleset, LINKS, SEED)))
        lua = write_lua(workdir)
        server = Server(workdir, name="dockwise", secret_key=SECRET_KEY, env={"DOCKWISE_RULES_PATH": str(rules_path)})
        try:
            server.start()
        except ServerError as error:
            print(f"cannot run: {error}")
            return 2
        with server:
            return run(args, server, lua, lines)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run(args: argparse.Namespace, server: Server, lua: Path, lines: Path) -> int:
    workers_before = server.worker_pids()
    print(f"gunicorn --workers 2 (sync) on {server.url}, master {server.process.pid}, workers {workers_before}; "
          f"wrk -c {args.connections} -t {args.threads} on /results for {args.duration:g} s, "
          f"SIGKILL after {args.kill_after:g} s")
    options = {"mode": "get", "lines_file": lines, "connections": args.connections, "threads": args.threads}
    wrk = start_wrk(server.url + "/results", lua, duration=args.duration, **options)
    replaced_after = None
    try:
        time.sleep(args.kill_after)
        victim = server.worker_pids()[0]
        # Kill it mid-request: wait (at most 1 s) until it holds a client connection.
        held, deadline = 0, time.monotonic() + 1.0
        while not held and time.monotonic() < deadline:
            # A worker's sockets are the listening one, shared with the master, and the connection it serves.
            held = len(sockets_of(victim) - sockets_of(server.process.pid))
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        new_workers: list[int] = []
        while time.monotonic() - killed_at < REPLACE_TIMEOUT:
            current = server.worker_pids()
            new_workers = [pid for pid in current if pid not in workers_before]
            if victim not in current and len(current) == len(workers_before) and new_workers:
                replaced_after = time.monotonic() - killed_at
                break
            time.sleep(0.01)
    finally:
        # wrk runs its whole timed load: the kill is in the middle of it, not at its end.
        load = finish_wrk("results", wrk, timeout=args.duration + 30)
    workers_after = server.worker_pids()
    after = run_wrk("results after", server.url + "/results", lua, duration=args.after, **options)
    health, connections = health_by_worker(server)
    log = server.log_text()

    lost = load.socket_errors + load.non2xx
    print(f"\nKilled worker {victim} (it held {held} client connection(s) just before) "
          f"{args.kill_after:g} s into the load")
    print("replacement: " + (f"worker(s) {new_workers} in {replaced_after * 1000:.0f} ms" if replaced_after is not None
                             else f"none within {REPLACE_TIMEOUT:g} s") + f"; workers now {workers_after}")
    print(f"load around the kill: {load.describe()} → lost {lost}, bound {args.connections}")
    print(f"load after the replacement: {after.describe()}")
    print(f"/healthz per worker (told apart via /proc, {connections} connections opened): "
          + ", ".join(f"pid {pid}: HTTP {answer['_status']} {answer.get('status')}"
                      for pid, answer in sorted(health.items())))
    sigkill_logged = f"Worker (pid:{victim}) was sent SIGKILL" in log
    boots = [line for line in log.splitlines() if "Booting worker" in line]
    print(f"gunicorn log: SIGKILL of {victim} logged: {sigkill_logged}; {len(boots)} 'Booting worker' lines "
          f"(2 at start-up)")

    failures = []
    if load.requests == 0:
        failures.append("wrk made no requests around the kill")
    if lost > args.connections:
        failures.append(f"{lost} requests lost, more than the {args.connections} connections a worker could hold")
    if replaced_after is None:
        failures.append(f"gunicorn did not replace worker {victim} within {REPLACE_TIMEOUT:g} s")
    if len(workers_after) != len(workers_before) or victim in workers_after:
        failures.append(f"workers after the kill: {workers_after} (before: {workers_before})")
    if not sigkill_logged or len(boots) < len(workers_before) + 1:
        failures.append("the gunicorn log does not show the kill and a new worker booting")
    if after.requests == 0 or after.non2xx or after.socket_errors:
        failures.append(f"after the replacement: {after.requests} responses, {after.non2xx} non-2xx, "
                        f"{after.socket_errors} socket errors")
    if set(health) != set(workers_after) or any(answer["_status"] != 200 for answer in health.values()):
        failures.append(f"not every worker answered /healthz with 200: {sorted(health)} of {workers_after}")
    for failure in failures:
        print(f"FAILURE: {failure}")
    if failures:
        return 1
    print(f"PASS: {lost} request(s) lost with the killed worker, {load.requests} others 2xx; "
          f"worker replaced in {replaced_after * 1000:.0f} ms and serving")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
