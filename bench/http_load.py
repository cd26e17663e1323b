"""HTTP benchmark: Dockwise under gunicorn against a hello-world Flask app under the same gunicorn settings.

Run with `.venv/bin/python -m bench.http_load` (about 2.5 minutes) or `--quick` (CI: 3 s loads, 1 round, about 20 s).
It prints a report and exits 0 even when a target is missed or a response is not 2xx (those print FAILURE lines);
it exits 1 only when wrk is missing or a server could not start.

Both apps are served by gunicorn exactly as scripts/run serves Dockwise (--workers 2, sync workers, --preload,
127.0.0.1, plus --no-control-socket), each on its own free port; Dockwise reads a temporary copy of rules.yaml. Each
round loads, one after the other with wrk (8 connections, 2 threads):

- GET /hello on the hello-world app (the reference: what gunicorn + Flask alone can do here);
- GET / (the questionnaire);
- GET /results?<canonical link>, cycling through LINKS distinct links drawn at random from the shipped rules (each
  question one of its choices or unanswered), written in a new random order each round, each wrk thread starting
  at its own part of the list: no cache, in the app or in front of it, can hide the cost;
- POST /api/recommendations with {"answers": ...}, cycling the same way through the same answer sets.

The table gives, per endpoint, the median over the rounds of req/s, p50 and p99 (wrk's own latency histogram), the
server's CPU time per response (gunicorn master + workers, from /proc: steadier than req/s when other processes share
the machine), the ratio to the hello-world req/s and the targets: / ≥ 0.75× (a static page), /results ≥ 0.45×, the
API ≥ 0.5×, p99 ≤ 15 ms. A wrk Lua `response` hook counts every non-2xx response; any non-2xx, socket error or
server error log line is a FAILURE line.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.loadlib import (
    SECRET_KEY,
    WrkResult,
    api_bodies,
    load_line,
    machine_lines,
    random_answer_sets,
    require_wrk,
    results_paths,
    run_wrk,
    shuffled,
    write_lines,
    write_lua,
)
from harness.server import Server, ServerError
from recommender import RulesError, load_rules

ROOT = Path(__file__).resolve().parent.parent

RULES = ROOT / "rules.yaml"
SEED = 20240601
P99_TARGET_MS = 15.0
LOG_TROUBLE = ("Traceback", "Error handling request", "[CRITICAL]", "WORKER TIMEOUT", "Exception")


@dataclass(frozen=True)
class Load:
    label: str
    server: str          # "hello" or "dockwise"
    mode: str            # wrk script mode: fixed, get or post
    path: str
    ratio_target: float | None


LOADS = (
    Load("GET /hello (hello app)", "hello", "fixed", "/hello", None),
    Load("GET /", "dockwise", "fixed", "/", 0.75),
    Load("GET /results?…", "dockwise", "get", "/results", 0.45),
    Load("POST /api/recommendations", "dockwise", "post", "/api/recommendations", 0.5),
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per load (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the four loads (default 3)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per load (default 2)")
    parser.add_argument("--links", type=int, default=20_000, help="distinct links / answer sets (default 20000)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="CI mode: 3 s loads, 1 round, 1 s warm-up")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.rounds, args.warmup = 3.0, 1, 1.0
    return args


def check_once(servers: dict[str, Server], sample_path: str, sample_body: str) -> list[str]:
    """One request per endpoint before loading: a load on an endpoint that fails would measure error pages."""
    problems = []
    for load in LOADS:
        url = servers[load.server].url + (sample_path if load.mode == "get" else load.path)
        data = sample_body.encode() if load.mode == "post" else None
        request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
        except Exception as error:  # any failure is reported, not raised
            problems.append(f"{load.label}: {error}")
    return problems


def wrk_options(load: Load, files: dict[str, Path], args: argparse.Namespace) -> dict:
    options = {"connections": args.connections, "threads": args.threads, "mode": load.mode}
    if load.mode in ("get", "post"):
        options["lines_file"] = files[load.mode]
    if load.mode == "post":
        options["post_path"] = load.path
    return options


def measure(load: Load, server: Server, lua: Path, duration: float, files: dict[str, Path],
            args: argparse.Namespace) -> WrkResult:
    """One wrk load, plus the server's CPU time per response (steadier than req/s on a shared machine)."""
    cpu = server.cpu_seconds()
    result = run_wrk(load.label, server.url + load.path, lua, duration=duration, **wrk_options(load, files, args))
    result.stats["cpu_ms_per_request"] = (server.cpu_seconds() - cpu) * 1000 / max(result.requests, 1)
    return result


def ms(microseconds: float) -> str:
    return f"{microseconds / 1000:.2f} ms"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    print("Dockwise HTTP benchmark" + (" (quick)" if args.quick else ""))
    for line in machine_lines():
        print(line)
    require_wrk()
    try:
        ruleset = load_rules(RULES)
    except RulesError as error:
        print(f"cannot benchmark: {RULES.name} does not load:\n{error}")
        return 1

    answer_sets = random_answer_sets(ruleset, args.links, SEED)
    paths, bodies = results_paths(ruleset, answer_sets), api_bodies(answer_sets)
    answered = statistics.mean(len(answers) for answers in answer_sets)
    print(f"gunicorn --workers 2 (sync) --preload, both apps; wrk -c {args.connections} -t {args.threads}, "
          f"{args.duration:g} s per load, {args.rounds} round(s), {args.warmup:g} s warm-up per load")
    print(f"rules fingerprint {ruleset.fingerprint}; {len(paths)} distinct links / API bodies "
          f"({answered:.1f} of {len(ruleset.questions)} questions answered on average), new order each round")

    workdir = Path(tempfile.mkdtemp(prefix="dockwise-bench-http-"))
    rules_copy = workdir / "rules.yaml"
    shutil.copyfile(RULES, rules_copy)
    lua = write_lua(workdir)
    servers = {
        "hello": Server(workdir, app="bench.hello:app", name="hello", secret_key=SECRET_KEY, ready_path="/hello"),
        "dockwise": Server(workdir, name="dockwise", secret_key=SECRET_KEY,
                           env={"DOCKWISE_RULES_PATH": str(rules_copy)}),
    }
    try:
        try:
            servers["hello"].start()
            servers["dockwise"].start()
        except ServerError as error:
            print(f"FAILURE: {error}")
            return 1
        print(f"hello app on {servers['hello'].url}, Dockwise on {servers['dockwise'].url}")
        for problem in check_once(servers, paths[0], bodies[0]):
            print(f"FAILURE: first request: {problem}")

        results: dict[str, list[WrkResult]] = {load.label: [] for load in LOADS}
        warm: list[WrkResult] = []
        if args.warmup > 0:
            files = {"get": write_lines(workdir / "warm-links.txt", shuffled(paths, SEED - 1)),
                     "post": write_lines(workdir / "warm-bodies.txt", shuffled(bodies, SEED - 2))}
            warm.extend(measure(load, servers[load.server], lua, args.warmup, files, args) for load in LOADS)
        for round_number in range(args.rounds):
            files = {"get": write_lines(workdir / f"links-{round_number}.txt", shuffled(paths, SEED + round_number)),
                     "post": write_lines(workdir / f"bodies-{round_number}.txt",
                                         shuffled(bodies, SEED + 1000 + round_number))}
            for load in LOADS:
                results[load.label].append(measure(load, servers[load.server], lua, args.duration, files, args))
        report(args, results, warm, servers)
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def report(args: argparse.Namespace, results: dict[str, list[WrkResult]], warm: list[WrkResult],
           servers: dict[str, Server]) -> None:
    medians = {label: {
        "rps": statistics.median(run.rps for run in runs),
        "p50": statistics.median(run.stats["p50_us"] for run in runs),
        "p99": statistics.median(run.stats["p99_us"] for run in runs),
        "cpu": statistics.median(run.stats["cpu_ms_per_request"] for run in runs),
    } for label, runs in results.items()}
    hello = medians[LOADS[0].label]["rps"]

    print(f"\nPer round (req/s, p50 / p99, server CPU per response), {args.duration:g} s each")
    for load in LOADS:
        cells = [f"{run.rps:6.0f} {ms(run.stats['p50_us'])} / {ms(run.stats['p99_us'])}, "
                 f"{run.stats['cpu_ms_per_request']:.2f} ms CPU" for run in results[load.label]]
        print(f"  {load.label:<28} " + " | ".join(cells))

    print(f"\nMedians of {args.rounds} round(s)")
    header = (f"  {'endpoint':<28} {'req/s':>8} {'p50':>10} {'p99':>10} {'CPU/req':>9} {'× hello':>8}  "
              f"{'target':<24} verdict")
    print(header)
    print("  " + "-" * (len(header) + 10))
    for load in LOADS:
        m = medians[load.label]
        ratio = m["rps"] / hello if hello else 0.0
        if load.ratio_target is None:
            target, verdict = "(reference)", ""
        else:
            target = f"≥ {load.ratio_target:.2f}×, p99 ≤ {P99_TARGET_MS:g} ms"
            misses = []
            if ratio < load.ratio_target:
                misses.append(f"{ratio:.2f}× < {load.ratio_target:.2f}×")
            if m["p99"] / 1000 > P99_TARGET_MS:
                misses.append(f"p99 {m['p99'] / 1000:.1f} > {P99_TARGET_MS:g} ms")
            verdict = "meets" if not misses else "misses (" + "; ".join(misses) + ")"
        print(f"  {load.label:<28} {m['rps']:8.0f} {ms(m['p50']):>10} {ms(m['p99']):>10} {m['cpu']:6.2f} ms "
              f"{ratio:7.2f}×  "
              f"{target:<24} {verdict}".rstrip())

    print("\nResponses (measured rounds; warm-up in brackets)")
    failures = []
    for index, load in enumerate(LOADS):
        runs = results[load.label]
        total = sum(run.requests for run in runs)
        bad = sum(run.non2xx for run in runs)
        errors = sum(run.socket_errors for run in runs)
        codes: dict[str, int] = {}
        for run in runs:
            for code, count in run.stats["codes"].items():
                codes[code] = codes.get(code, 0) + count
        extra = ""
        if load.mode != "fixed":
            used = [min(run.requests, run.stats["distinct_requests"]) for run in runs]
            extra = f", distinct requests per round ≥ {min(used)} of {runs[0].stats['distinct_requests']}"
        warm_bad = warm[index].non2xx + warm[index].socket_errors if warm else 0
        print(f"  {load.label:<28} {total:7d} responses, non-2xx {bad}"
              f"{' ' + str(codes) if codes else ''}, socket errors {errors} [{warm_bad}]{extra}")
        if bad:
            failures.append(f"{load.label}: {bad} non-2xx responses {codes}")
        if errors or warm_bad:
            details = {key: sum(run.stats[key] for run in runs) for key in ("connect", "read", "write", "timeout")}
            failures.append(f"{load.label}: socket errors {details}, warm-up non-2xx + errors {warm_bad}")
    for name, server in servers.items():
        trouble = [line for line in server.log_text().splitlines() if any(t in line for t in LOG_TROUBLE)]
        if trouble:
            failures.append(f"{name} gunicorn log: {len(trouble)} error lines, first: {trouble[0]}")
    for failure in failures:
        print(f"FAILURE: {failure}")
    if not failures:
        print("all responses 2xx, no socket errors, no errors in the gunicorn logs")
    print(load_line("after"))
    print("CPU/req: user + system CPU time of the gunicorn master and workers per response — it moves much less "
          "than req/s when other processes share the CPUs.")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
