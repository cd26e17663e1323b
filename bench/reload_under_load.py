"""Fault check: rewrite the rules file many times while gunicorn serves /results under load.

Run with `.venv/bin/python -m bench.reload_under_load` (100 rewrites, about 140 s) or `--quick` (20 rewrites, about
35 s; what CI runs). It exits 0 when every check passes, 1 when one fails, 2 when it could not run (no wrk, the
server did not start, or its own edits are not what they claim).

gunicorn serves Dockwise as scripts/run does (--workers 2, sync, --preload, plus --no-control-socket) on a free
127.0.0.1 port, on a temporary copy of rules.yaml, with DOCKWISE_RULES_CHECK_INTERVAL=0.2 (default of --interval) so
that each worker's watcher looks at the file about five times a second and many of the rewrites are seen mid-load;
the app's default of 1.0 s works the same way, only seeing fewer of the versions. wrk (8 connections, 2 threads) loads
GET /results cycling through distinct canonical links, while this script:

- rewrites the file N times, cycling through every (edit, write) pair in a shuffled order, a random 20–450 ms apart.
  Edits: valid ones that change the fingerprint (the High Availability weight; a rule's `because` text, numbered; a
  costly file of 1 000 extra rules each naming all twelve questions, about 380 KB), broken ones (YAML syntax error, a
  rule naming a choice that does not exist, a rule naming a criterion that does not exist, a weight that is not a
  number, and almost 1 MiB of empty rules, `version: 1` and `rules: [{}, {}, …]`), and a truncated write (the first
  half of the last valid text, cut mid-sentence: it loads, but its golden scenarios are cut off, so it must never be
  served). The costly file, the 1 MiB one and the truncated write stay in place until /healthz says a worker has
  judged them (its `rules_file_sha256`), at most 30 s; the others are rewritten sooner than a check takes (about
  0.5 s, several seconds on a loaded machine), so most of them are never checked. Writes: atomic
  (temporary file, then os.replace) or in place (open 'w', which truncates, then the first half, a 10–60 ms pause,
  then the second half: a half-written file);
- polls /healthz on fresh connections every 100 ms, timing each answer;
- then writes a final valid version (in place, in two halves), waits until a worker has judged it, keeps the load on
  for max(1 s, 5 × interval), stops wrk and checks:
  1. wrk counted 0 non-2xx responses (Lua `response` hook) and 0 socket errors, and made requests at all;
  2. every /healthz poll answered within 1 s, with 200 and status "ok" or 503 and status "degraded" (the last good
     rules serving while the file is refused), and the fingerprint of a version that was written valid (never the
     truncated one, never none);
  3. every worker answers /healthz with the final file's fingerprint and status "ok". /healthz does not say which
     worker answered, so this script tells them apart itself: it holds a fresh connection open until a worker has
     accepted it (a sync worker then blocks reading that request and accepts nothing else), finds the worker holding
     the server side of that connection in /proc/net/tcp and /proc/<pid>/fd, and repeats until every child of the
     gunicorn master holds one; then each connection asks for /healthz;
  4. the workers are the ones that started (none crashed and was replaced), and the gunicorn log has no traceback;
  5. every held version, and the final one, was judged within 30 s.

Before the rewrites, the same load runs 2 s untouched: its req/s and p99 are printed beside the loaded run's, to show
what reloading costs (a watcher thread in each worker reads the file, a niced child process checks a new version, and
the worker loads a version that passed beside its requests). It also prints how many versions were checked (each
once, in the state directory the workers share) and how long each held version waited for its verdict.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
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
from dataclasses import dataclass
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
from recommender import RulesError, load_rules, load_rules_text
from recommender.scenarios import run_scenarios

ROOT = Path(__file__).resolve().parent.parent

RULES = ROOT / "rules.yaml"
SHIPPED = RULES.read_text(encoding="utf-8")
SEED = 20240602
LINKS = 20_000
BASELINE_SECONDS = 2.0
LOG_TROUBLE = ("Traceback", "Error handling request", "[CRITICAL]", "WORKER TIMEOUT", "Booting worker")

OLD_BECAUSE = "Building and running one container on one machine is exactly what Docker itself is for."
WEIGHT_LINE = "    weight: 1.5\n"  # High Availability, the only row not weighted 1.0
HEALTH_SECONDS = 1.0  # every /healthz poll must be answered within this


def replaced(text: str, old: str, new: str) -> str:
    if old not in text:
        raise AssertionError(f"edit anchor missing from rules.yaml: {old!r}")
    return text.replace(old, new, 1)


def costly(text: str, n: int) -> str:
    """1 000 extra rules, each naming all twelve questions (about 380 KB): what took 37 s to compile before compiling
    became linear. Pairs of rules share a condition and cancel out, so the golden scenarios still pass."""
    ruleset = load_rules_text(SHIPPED)
    rules = []
    for number in range(1000):
        when = ", ".join(f"{q.id}: {q.choices[(number // 2 + i) % len(q.choices)].id}"
                         for i, q in enumerate(ruleset.questions))
        rules.append(f"  - id: costly-{number}\n    criterion: purpose\n    when: {{{when}}}\n"
                     f"    scores: {{docker: {0.5 if number % 2 == 0 else -0.5}}}\n"
                     f"    because: Costly rule {number} of edit {n}.\n")
    return replaced(SHIPPED, "\nscenarios:\n", "\n" + "".join(rules) + "\nscenarios:\n")


def empty_rules(text: str, n: int) -> str:
    """Almost 1 MiB of `version: 1` and `rules: [{}, {}, …]` (before, a 24 s stall and 196 MB of log)."""
    return "version: 1\nrules: [" + ", ".join(["{}"] * ((1024 * 1024 - 40) // 4)) + "]\n"


def truncated(text: str, n: int) -> str:
    """The first half of the last valid text, cut mid-sentence: it loads, without its golden scenarios."""
    cut = text.index("    because: ", len(text) // 2) + len("    because: ") + 20
    return text[:cut]


# Each edit makes a new text from the last valid text and the edit's number. "valid" ones change the fingerprint and
# must be served; "broken" ones do not load; "refused" ones load but must never be served (their scenarios fail).
EDITS: dict[str, tuple[str, Callable[[str, int], str]]] = {
    "valid: weight": ("valid", lambda text, n: replaced(SHIPPED, WEIGHT_LINE,
                                                        f"    weight: {1.5 + (n + 1) / 100:.2f}\n")),
    "valid: because": ("valid", lambda text, n: replaced(SHIPPED, OLD_BECAUSE, f"{OLD_BECAUSE} (edit {n})")),
    "valid: costly, 1000 rules × 12 questions": ("valid", costly),
    "broken: YAML syntax": ("broken", lambda text, n: replaced(text, "closeness:\n  close: 2.0\n",
                                                               "closeness:\n  close: [2.0\n")),
    "broken: unknown choice": ("broken", lambda text, n: replaced(text, "    when: {services: one, hosts: one}\n",
                                                                  "    when: {services: one, hosts: oen}\n")),
    "broken: unknown criterion": ("broken", lambda text, n: replaced(text, "    criterion: purpose\n",
                                                                     "    criterion: porpose\n")),
    "broken: weight not a number": ("broken", lambda text, n: replaced(text, "    weight: 1.0\n",
                                                                       "    weight: heavy\n")),
    "broken: 1 MiB of empty rules": ("broken", empty_rules),
    "refused: truncated write": ("refused", truncated),
}
# Left in place until a worker has judged them (checking takes longer than the pause between the other rewrites).
HELD = {"valid: costly, 1000 rules × 12 questions", "broken: 1 MiB of empty rules", "refused: truncated write"}
HOLD_SECONDS = 30.0
WRITES = ("atomic os.replace", "in place, two halves")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=100, help="rewrites of the rules file (default 100)")
    parser.add_argument("--interval", type=float, default=0.2,
                        help="DOCKWISE_RULES_CHECK_INTERVAL in seconds (default 0.2; the app's default is 1.0)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="CI mode: 20 rewrites (every edit at least twice)")
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
    """GET /healthz on a fresh connection every `period` seconds; records the time, HTTP status, status and
    fingerprint of each answer."""

    def __init__(self, url: str, period: float = 0.1):
        super().__init__(daemon=True)
        self.url, self.period = url, period
        self.stop_event = threading.Event()
        self.statuses: collections.Counter = collections.Counter()  # (HTTP status, status) → polls
        self.fingerprints: list[str | None] = []  # each change of fingerprint, in order
        self.seen: collections.Counter = collections.Counter()  # fingerprint → polls
        self.seconds: list[float] = []
        self.errors: list[str] = []

    def run(self) -> None:
        while not self.stop_event.is_set():
            started = time.monotonic()
            try:
                try:
                    with urllib.request.urlopen(self.url + "/healthz", timeout=5) as response:
                        code, body = response.status, response.read()
                except urllib.error.HTTPError as error:
                    code, body = error.code, error.read()
                self.seconds.append(time.monotonic() - started)
                health = json.loads(body)
                self.statuses[(code, health.get("status"))] += 1
                fingerprint = health.get("rules_fingerprint")
                self.seen[fingerprint] += 1
                if not self.fingerprints or self.fingerprints[-1] != fingerprint:
                    self.fingerprints.append(fingerprint)
            except (urllib.error.URLError, OSError, ValueError) as error:
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


@dataclass
class Versions:
    """The text of every rewrite, the final version, and the fingerprints that may and may not be served."""

    texts: list[str]
    final: str
    final_fingerprint: str
    valid: set[str]        # fingerprints of every version written valid (and the shipped one)
    never_served: set[str]  # fingerprints of versions that load but must not be served


def versions_for(schedule: list[tuple[str, str]], scratch: Path) -> Versions:
    """The text of every rewrite and of the final version, each checked to be what it claims."""
    shipped = load_rules(RULES).fingerprint
    texts, last_valid, previous_fingerprint, valid, never = [], SHIPPED, shipped, {shipped}, set()
    for number, (edit, _) in enumerate(schedule):
        kind, make = EDITS[edit]
        text = make(last_valid, number)
        scratch.write_text(text, encoding="utf-8")
        try:
            ruleset = load_rules(scratch)
        except RulesError:
            ruleset = None
        fingerprint = ruleset.fingerprint if ruleset else None
        claims = {"valid": ruleset is not None and fingerprint != previous_fingerprint and all(
                      outcome.passed for outcome in run_scenarios(ruleset)),
                  "broken": ruleset is None,
                  "refused": ruleset is not None and not ruleset.scenarios}
        if not claims[kind]:
            raise AssertionError(f"edit {number} ({edit}) is not what it claims (fingerprint {fingerprint})")
        if kind == "valid":
            last_valid, previous_fingerprint = text, fingerprint
            valid.add(fingerprint)
        elif kind == "refused":
            never.add(fingerprint)
        texts.append(text)
    final = replaced(SHIPPED, OLD_BECAUSE, f"{OLD_BECAUSE} (final version)")
    scratch.write_text(final, encoding="utf-8")
    final_fingerprint = load_rules(scratch).fingerprint
    return Versions(texts, final, final_fingerprint, valid | {final_fingerprint}, never - valid)


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
            versions = versions_for(schedule, workdir / "scratch.yaml")
        except (AssertionError, RulesError) as error:
            print(f"cannot run: {error}")
            return 2
        return run(args, rng, workdir, schedule, versions)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run(args: argparse.Namespace, rng: random.Random, workdir: Path, schedule: list[tuple[str, str]],
        versions: Versions) -> int:
    rules_path = workdir / "rules.yaml"
    rules_path.write_text(SHIPPED, encoding="utf-8")
    ruleset = load_rules(rules_path)
    lines = write_lines(workdir / "links.txt", results_paths(ruleset, random_answer_sets(ruleset, LINKS, SEED)))
    lua = write_lua(workdir)
    server = Server(workdir, name="dockwise", secret_key=SECRET_KEY,
                    env={"DOCKWISE_RULES_PATH": str(rules_path), "DOCKWISE_RULES_CHECK_INTERVAL": str(args.interval),
                         "DOCKWISE_STATE_DIR": str(workdir / "state")})
    try:
        server.start()
    except ServerError as error:
        print(f"cannot run: {error}")
        return 2
    settle = max(1.0, 5 * args.interval)
    print(f"gunicorn --workers 2 (sync) on {server.url}, workers {server.worker_pids()}, "
          f"DOCKWISE_RULES_CHECK_INTERVAL={args.interval:g}; wrk -c {args.connections} -t {args.threads} on "
          f"/results cycling {LINKS} links; shipped fingerprint {ruleset.fingerprint}, "
          f"final {versions.final_fingerprint}")
    with server:
        workers_before = server.worker_pids()
        baseline = run_wrk("baseline", server.url + "/results", lua, duration=BASELINE_SECONDS, mode="get",
                           lines_file=lines, connections=args.connections, threads=args.threads)
        poller = HealthPoller(server.url)
        wrk = start_wrk(server.url + "/results", lua, duration=args.edits * 6 + 60, mode="get", lines_file=lines,
                        connections=args.connections, threads=args.threads)
        started = time.monotonic()
        held: list[tuple[str, float | None]] = []
        try:
            poller.start()
            time.sleep(1.0)
            for (edit, write), text in zip(schedule, versions.texts):
                WRITERS[write](rules_path, text, rng)
                if edit in HELD:
                    held.append((edit, wait_until_judged(server.url, text)))
                time.sleep(rng.uniform(0.02, 0.45))
            write_in_place(rules_path, versions.final, rng)
            held.append(("final version", wait_until_judged(server.url, versions.final)))
            time.sleep(settle)
        finally:
            load = stop_wrk("results", wrk, wait=30)
            poller.stop_event.set()
            poller.join(timeout=10)
        elapsed = time.monotonic() - started
        health, connections = health_by_worker(server)
        workers_after = server.worker_pids()
        log = server.log_text()
    verdicts = read_verdicts(workdir / "state")
    return summarise(args, schedule, baseline, load, elapsed, poller, health, connections, workers_before,
                     workers_after, log, versions, settle, verdicts, held)


def wait_until_judged(url: str, text: str) -> float | None:
    """Seconds until /healthz says a worker judged this content (ok or refused), or None after HOLD_SECONDS."""
    digest = hashlib.sha256(text.encode()).hexdigest()
    started = time.monotonic()
    while time.monotonic() - started < HOLD_SECONDS:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=5) as response:
                body = response.read()
        except urllib.error.HTTPError as error:
            body = error.read()
        except (urllib.error.URLError, OSError):
            body = b"{}"
        with contextlib.suppress(ValueError, AttributeError):
            if json.loads(body).get("rules_file_sha256") == digest:
                return time.monotonic() - started
        time.sleep(0.05)
    return None


def read_verdicts(state: Path) -> list[dict]:
    """The verdicts the workers shared in the state directory: one per version checked."""
    verdicts = []
    for path in state.glob("*/verdicts/*.json"):
        try:
            verdicts.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return verdicts


def summarise(args, schedule, baseline, load, elapsed, poller, health, connections, workers_before, workers_after, log,
              versions, settle, verdicts, held) -> int:
    final_fingerprint = versions.final_fingerprint
    counts = collections.Counter(schedule)
    print(f"\nRewrites ({len(schedule)}, then the final version in place; load kept on {settle:g} s after a worker "
          "judged it):")
    for edit in EDITS:
        print(f"  {edit:<41} " + ", ".join(f"{write}: {counts[(edit, write)]}" for write in WRITES))
    print(f"\nBaseline, before any rewrite: {baseline.describe()}")
    print(f"Load during the rewrites: {load.describe()}")
    trouble_log = [line for line in log.splitlines() if any(t in line for t in LOG_TROUBLE)]
    # Start-up logs "Booting worker" once per worker; later boots mean a worker died.
    boots = sum("Booting worker" in line for line in trouble_log)
    trouble_log = [line for line in trouble_log if "Booting worker" not in line]
    kept = sum("keeping the last good rules" in line for line in log.splitlines())
    slowest = max(poller.seconds, default=0.0)
    statuses = ", ".join(f"{code} {status}: {count}" for (code, status), count in sorted(poller.statuses.items()))
    print(f"/healthz polled {sum(poller.statuses.values())} times during the run ({statuses}), slowest answer "
          f"{slowest * 1000:.0f} ms, {len(poller.fingerprints)} fingerprint changes seen "
          f"({len(set(poller.fingerprints))} distinct), {len(poller.errors)} connection errors")
    print(f"gunicorn log: {kept} 'keeping the last good rules' lines (versions refused, each logged once by the "
          "worker that had it checked), "
          f"{boots} 'Booting worker' lines ({len(workers_before)} at start-up), "
          f"{len(trouble_log)} traceback/error lines")
    refused = sum(not verdict["ok"] for verdict in verdicts)
    slowest_check = max((verdict["seconds"] for verdict in verdicts), default=0.0)
    print(f"versions checked (each once, in a child process): {len(verdicts)}, {refused} refused; the slowest check "
          f"took {slowest_check:.1f} s")
    waits: dict[str, list[float | None]] = collections.defaultdict(list)
    for edit, seconds in held:
        waits[edit].append(seconds)
    for edit, times in waits.items():
        judged = sorted(seconds for seconds in times if seconds is not None)
        print(f"  {edit}: held {len(times)} times until judged, " + (
            f"median {judged[len(judged) // 2]:.1f} s, slowest {judged[-1]:.1f} s" if judged else "never judged")
            + (f"; {len(times) - len(judged)} not within {HOLD_SECONDS:g} s" if len(judged) < len(times) else ""))
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
    if set(poller.statuses) - {(200, "ok"), (503, "degraded")} or poller.errors:
        failures.append(f"/healthz during the run: {dict(poller.statuses)}, errors {poller.errors[:3]}")
    if slowest > HEALTH_SECONDS:
        late = sum(seconds > HEALTH_SECONDS for seconds in poller.seconds)
        failures.append(f"{late} /healthz polls answered later than {HEALTH_SECONDS:g} s (slowest {slowest:.2f} s)")
    if set(poller.seen) - versions.valid:
        strays = sorted(map(str, set(poller.seen) - versions.valid))
        failures.append(f"/healthz named versions never written valid: {strays} (truncated ones: "
                        f"{sorted(set(poller.seen) & versions.never_served)})")
    if set(health) != set(workers_after):
        failures.append(f"could not reach every worker: answered {sorted(health)}, workers {workers_after}")
    for pid, answer in sorted(health.items()):
        if answer.get("rules_fingerprint") != final_fingerprint or answer.get("status") != "ok":
            failures.append(f"worker {pid} ends on {answer.get('rules_fingerprint')} ({answer.get('status')}), "
                            f"not the final {final_fingerprint} (ok)")
    for edit, seconds in held:
        if seconds is None:
            failures.append(f"{edit}: no worker judged it within {HOLD_SECONDS:g} s")
    if workers_before != workers_after:
        failures.append(f"workers changed during the run: {workers_before} → {workers_after}")
    if boots > len(workers_before) or trouble_log:
        failures.append(f"gunicorn log: {boots} worker boots, {len(trouble_log)} error lines, first: "
                        f"{trouble_log[0] if trouble_log else ''}")
    print(f"\n{elapsed:.1f} s in all")
    for failure in failures:
        print(f"FAILURE: {failure}")
    if failures:
        print("\nThe end of the gunicorn log:\n" + "\n".join(log.splitlines()[-40:]))
        return 1
    print(f"PASS: 0 non-2xx in {load.requests} responses; every worker on the final fingerprint {final_fingerprint}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
