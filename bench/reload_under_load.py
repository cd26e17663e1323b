"""Fault check: rewrite the rules file many times while gunicorn serves /results under load.

Run with `.venv/bin/python -m bench.reload_under_load` (100 rewrites, about 45 s) or `--quick` (20 rewrites, about
15 s; what CI runs). It exits 0 when every check passes, 1 when one fails, 2 when it could not run (no wrk, the
server did not start, or its own edits are not what they claim).

gunicorn serves Dockwise as scripts/run does (--workers 2, sync, --preload, plus --no-control-socket) on a free
127.0.0.1 port, on a temporary copy of rules.yaml, with DOCKWISE_RULES_CHECK_INTERVAL=0.2 (default of --interval) so
that each worker looks at the file about five times a second and many of the rewrites are seen mid-load; the app's
default of 1.0 s works the same way, only seeing fewer of the versions. wrk (8 connections, 2 threads) loads GET
/results cycling through distinct canonical links, while this script:

- rewrites the file N times, cycling through every (edit, write) pair in a shuffled order, a random 20–450 ms apart.
  Edits: valid ones that change the fingerprint (the High Availability weight; a rule's `because` text, numbered) and
  broken ones (YAML syntax error, a rule naming a choice that does not exist, a rule naming a criterion that does not
  exist, a weight that is not a number). Writes: atomic (temporary file, then os.replace) or in place (open 'w',
  which truncates, then the first half, a 10–60 ms pause, then the second half: a half-written file);
- polls /healthz on fresh connections every 100 ms, to see reloads happen while loaded;
- then writes a final valid version (in place, in two halves), keeps the load on for max(1 s, 5 × interval), stops
  wrk and checks:
  1. wrk counted 0 non-2xx responses (Lua `response` hook) and 0 socket errors, and made requests at all;
  2. every /healthz poll answered 200;
  3. every worker answers /healthz with the final file's fingerprint and status "ok". /healthz does not say which
     worker answered, so this script tells them apart itself: it holds a fresh connection open until a worker has
     accepted it (a sync worker then blocks reading that request and accepts nothing else), finds the worker holding
     the server side of that connection in /proc/net/tcp and /proc/<pid>/fd, and repeats until every child of the
     gunicorn master holds one; then each connection asks for /healthz;
  4. the workers are the ones that started (none crashed and was replaced), and the gunicorn log has no traceback.

Before the rewrites, the same load runs 2 s untouched: its req/s and p99 are printed beside the loaded run's, to show
what reloading costs (a worker reloads inside the request that notices the change).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from bench.loadlib import (
    SECRET_KEY,
    health_by_worker,
    machine_lines,
    random_answer_sets,
    require_wrk,
    results_paths,
    run_wrk,
    start_wrk,
    stop_wrk,
    write_lines,
    write_lua,
)
from harness.server import Server, ServerError
from recommender import RulesError, load_rules

ROOT = Path(__file__).resolve().parent.parent

RULES = ROOT / "rules.yaml"
SHIPPED = RULES.read_text(encoding="utf-8")
SEED = 20240602
LINKS = 20_000
BASELINE_SECONDS = 2.0
LOG_TROUBLE = ("Traceback", "Error handling request", "[CRITICAL]", "WORKER TIMEOUT", "Booting worker")

OLD_BECAUSE = "Building and running one container on one machine is exactly what Docker itself is for."
WEIGHT_LINE = "    weight: 1.5\n"  # High Availability, the only row not weighted 1.0


def replaced(text: str, old: str, new: str) -> str:
    if old not in text:
        raise AssertionError(f"edit anchor missing from rules.yaml: {old!r}")
    return text.replace(old, new, 1)


# Each edit makes a new text from the last valid text and the edit's number; valid ones change the fingerprint.
EDITS: dict[str, tuple[bool, Callable[[str, int], str]]] = {
    "valid: weight": (True, lambda text, n: replaced(SHIPPED, WEIGHT_LINE, f"    weight: {1.5 + (n + 1) / 100:.2f}\n")),
    "valid: because": (True, lambda text, n: replaced(SHIPPED, OLD_BECAUSE, f"{OLD_BECAUSE} (edit {n})")),
    "broken: YAML syntax": (False, lambda text, n: replaced(text, "closeness:\n  close: 2.0\n",
                                                            "closeness:\n  close: [2.0\n")),
    "broken: unknown choice": (False, lambda text, n: replaced(text, "    when: {services: one, hosts: one}\n",
                                                               "    when: {services: one, hosts: oen}\n")),
    "broken: unknown criterion": (False, lambda text, n: replaced(text, "    criterion: purpose\n",
                                                                  "    criterion: porpose\n")),
    "broken: weight not a number": (False, lambda text, n: replaced(text, "    weight: 1.0\n", "    weight: heavy\n")),
}
WRITES = ("atomic os.replace", "in place, two halves")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=100, help="rewrites of the rules file (default 100)")
    parser.add_argument("--interval", type=float, default=0.2,
                        help="DOCKWISE_RULES_CHECK_INTERVAL in seconds (default 0.2; the app's default is 1.0)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="CI mode: 20 rewrites")
    args = parser.parse_args(argv)
    if args.quick:
        args.edits = 20
    return args


def write_atomic(path: Path, text: str, rng: random.Random) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def write_in_place(path: Path, text: str, rng: random.Random) -> None:
    half = len(text) // 2
    with open(path, "w", encoding="utf-8") as file:
        file.write(text[:half])
        file.flush()
        time.sleep(rng.uniform(0.01, 0.06))
        file.write(text[half:])


WRITERS = {WRITES[0]: write_atomic, WRITES[1]: write_in_place}


class HealthPoller(threading.Thread):
    """GET /healthz on a fresh connection every `period` seconds; records status and fingerprint."""

    def __init__(self, url: str, period: float = 0.1):
        super().__init__(daemon=True)
        self.url, self.period = url, period
        self.stop_event = threading.Event()
        self.statuses: collections.Counter = collections.Counter()
        self.fingerprints: list[str] = []
        self.errors: list[str] = []

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=5) as response:
                    self.statuses[response.status] += 1
                    fingerprint = json.load(response).get("rules_fingerprint")
                    if not self.fingerprints or self.fingerprints[-1] != fingerprint:
                        self.fingerprints.append(fingerprint)
            except urllib.error.HTTPError as error:
                self.statuses[error.code] += 1
            except (urllib.error.URLError, OSError) as error:
                self.errors.append(str(error))
            self.stop_event.wait(self.period)


def plan(edits: int, rng: random.Random) -> list[tuple[str, str]]:
    """Every (edit, write) pair once per cycle, in a shuffled order, for `edits` rewrites."""
    pairs = [(edit, write) for edit in EDITS for write in WRITES]
    schedule: list[tuple[str, str]] = []
    while len(schedule) < edits:
        cycle = list(pairs)
        rng.shuffle(cycle)
        schedule.extend(cycle)
    return schedule[:edits]


def texts_for(schedule: list[tuple[str, str]], scratch: Path) -> tuple[list[str], str, str]:
    """The text of every rewrite and of the final version, each checked to be valid or broken as it claims."""
    texts, last_valid, previous_fingerprint = [], SHIPPED, load_rules(RULES).fingerprint
    for number, (edit, _) in enumerate(schedule):
        valid, make = EDITS[edit]
        text = make(last_valid, number)
        scratch.write_text(text, encoding="utf-8")
        try:
            fingerprint = load_rules(scratch).fingerprint
        except RulesError:
            fingerprint = None
        if valid != (fingerprint is not None) or (valid and fingerprint == previous_fingerprint):
            raise AssertionError(f"edit {number} ({edit}) is not what it claims (fingerprint {fingerprint})")
        if valid:
            last_valid, previous_fingerprint = text, fingerprint
        texts.append(text)
    final = replaced(SHIPPED, OLD_BECAUSE, f"{OLD_BECAUSE} (final version)")
    scratch.write_text(final, encoding="utf-8")
    return texts, final, load_rules(scratch).fingerprint


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    print(f"Dockwise: rules rewritten {args.edits} times under load" + (" (quick)" if args.quick else ""))
    for line in machine_lines():
        print(line)
    require_wrk()
    rng = random.Random(SEED)
    schedule = plan(args.edits, rng)
    workdir = Path(tempfile.mkdtemp(prefix="dockwise-reload-"))
    try:
        try:
            texts, final_text, final_fingerprint = texts_for(schedule, workdir / "scratch.yaml")
        except (AssertionError, RulesError) as error:
            print(f"cannot run: {error}")
            return 2
        return run(args, rng, workdir, schedule, texts, final_text, final_fingerprint)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run(args: argparse.Namespace, rng: random.Random, workdir: Path, schedule: list[tuple[str, str]],
        texts: list[str], final_text: str, final_fingerprint: str) -> int:
    rules_path = workdir / "rules.yaml"
    rules_path.write_text(SHIPPED, encoding="utf-8")
    ruleset = load_rules(rules_path)
    lines = write_lines(workdir / "links.txt", results_paths(ruleset, random_answer_sets(ruleset, LINKS, SEED)))
    lua = write_lua(workdir)
    server = Server(workdir, name="dockwise", secret_key=SECRET_KEY,
                    env={"DOCKWISE_RULES_PATH": str(rules_path), "DOCKWISE_RULES_CHECK_INTERVAL": str(args.interval)})
    try:
        server.start()
    except ServerError as error:
        print(f"cannot run: {error}")
        return 2
    settle = max(1.0, 5 * args.interval)
    print(f"gunicorn --workers 2 (sync) on {server.url}, workers {server.worker_pids()}, "
          f"DOCKWISE_RULES_CHECK_INTERVAL={args.interval:g}; wrk -c {args.connections} -t {args.threads} on "
          f"/results cycling {LINKS} links; shipped fingerprint {ruleset.fingerprint}, final {final_fingerprint}")
    with server:
        workers_before = server.worker_pids()
        baseline = run_wrk("baseline", server.url + "/results", lua, duration=BASELINE_SECONDS, mode="get",
                           lines_file=lines, connections=args.connections, threads=args.threads)
        poller = HealthPoller(server.url)
        wrk = start_wrk(server.url + "/results", lua, duration=args.edits * 0.6 + 60, mode="get", lines_file=lines,
                        connections=args.connections, threads=args.threads)
        started = time.monotonic()
        try:
            poller.start()
            time.sleep(1.0)
            for (_, write), text in zip(schedule, texts):
                WRITERS[write](rules_path, text, rng)
                time.sleep(rng.uniform(0.02, 0.45))
            write_in_place(rules_path, final_text, rng)
            time.sleep(settle)
        finally:
            load = stop_wrk("results", wrk, wait=30)
            poller.stop_event.set()
            poller.join(timeout=10)
        elapsed = time.monotonic() - started
        health, connections = health_by_worker(server)
        workers_after = server.worker_pids()
        log = server.log_text()
    return summarise(args, schedule, baseline, load, elapsed, poller, health, connections, workers_before,
                     workers_after, log, final_fingerprint, settle)


def summarise(args, schedule, baseline, load, elapsed, poller, health, connections, workers_before, workers_after, log,
              final_fingerprint, settle) -> int:
    counts = collections.Counter(schedule)
    print(f"\nRewrites ({len(schedule)}, then the final version in place; load kept on {settle:g} s after it):")
    for edit in EDITS:
        print(f"  {edit:<28} " + ", ".join(f"{write}: {counts[(edit, write)]}" for write in WRITES))
    print(f"\nBaseline, before any rewrite: {baseline.describe()}")
    print(f"Load during the rewrites: {load.describe()}")
    trouble_log = [line for line in log.splitlines() if any(t in line for t in LOG_TROUBLE)]
    # Start-up logs "Booting worker" once per worker; later boots mean a worker died.
    boots = sum("Booting worker" in line for line in trouble_log)
    trouble_log = [line for line in trouble_log if "Booting worker" not in line]
    kept = sum("keeping the last good rules" in line for line in log.splitlines())
    print(f"/healthz polled {sum(poller.statuses.values())} times during the run: statuses {dict(poller.statuses)}, "
          f"{len(poller.fingerprints)} fingerprint changes seen ({len(set(poller.fingerprints))} distinct), "
          f"{len(poller.errors)} connection errors")
    print(f"gunicorn log: {kept} 'keeping the last good rules' lines (broken versions the workers saw), "
          f"{boots} 'Booting worker' lines ({len(workers_before)} at start-up), "
          f"{len(trouble_log)} traceback/error lines")
    print(f"workers before {workers_before}, after {workers_after}; /healthz per worker "
          f"(told apart via /proc, {connections} connections opened):")
    for pid, answer in sorted(health.items()):
        print(f"  pid {pid}: HTTP {answer['_status']}, status {answer.get('status')}, "
              f"fingerprint {answer.get('rules_fingerprint')}, loaded at {answer.get('rules_loaded_at')}")

    failures = []
    if load.requests == 0:
        failures.append("wrk made no requests")
    if baseline.non2xx or baseline.socket_errors:
        failures.append(f"before any rewrite: {baseline.non2xx} non-2xx, {baseline.socket_errors} socket errors")
    if load.non2xx:
        failures.append(f"{load.non2xx} non-2xx responses during the load {load.stats['codes']}")
    if load.socket_errors:
        failures.append(f"{load.socket_errors} socket errors during the load")
    if set(poller.statuses) - {200} or poller.errors:
        failures.append(f"/healthz during the run: {dict(poller.statuses)}, errors {poller.errors[:3]}")
    if set(health) != set(workers_after):
        failures.append(f"could not reach every worker: answered {sorted(health)}, workers {workers_after}")
    for pid, answer in sorted(health.items()):
        if answer.get("rules_fingerprint") != final_fingerprint or answer.get("status") != "ok":
            failures.append(f"worker {pid} ends on {answer.get('rules_fingerprint')} ({answer.get('status')}), "
                            f"not the final {final_fingerprint} (ok)")
    if workers_before != workers_after:
        failures.append(f"workers changed during the run: {workers_before} → {workers_after}")
    if boots > len(workers_before) or trouble_log:
        failures.append(f"gunicorn log: {boots} worker boots, {len(trouble_log)} error lines, first: "
                        f"{trouble_log[0] if trouble_log else ''}")
    print(f"\n{elapsed:.1f} s in all")
    for failure in failures:
        print(f"FAILURE: {failure}")
    if failures:
        return 1
    print(f"PASS: 0 non-2xx in {load.requests} responses; every worker on the final fingerprint {final_fingerprint}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
