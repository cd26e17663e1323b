"""Where a /results request spends its time: cProfile over the Flask app serving distinct links via the test client.

Run with `.venv/bin/python -m bench.profile_results` (about 15 s). Options: `--links N` (default 2000), `--top N`
(default 25), `--endpoint results|api|questionnaire` (default results). It prints the time per request with and
without the profiler, a few landmarks (how much of a request each part takes), then the top functions by
cumulative time and by own time. A report: it always exits 0.

The links are drawn like bench/http_load.py's (each question one of its choices or unanswered, distinct, fixed seed);
200 other links warm up the app first (templates compiled, form class built), so the profile is the steady state.
No gunicorn or HTTP here: the test client's own cost (building the WSGI environ, reading the response) shows up in
the profile but not under `Flask.full_dispatch_request`.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from app import create_app
from bench.loadlib import SECRET_KEY, api_bodies, random_answer_sets, results_paths

ROOT = Path(__file__).resolve().parent.parent

SEED = 20240601
WARM_UP = 200
# (label, file name ending, function name): the parts of a request worth seeing side by side.
LANDMARKS = [
    ("whole request in the test client", "werkzeug/test.py", "open"),
    ("Flask dispatch (incl. after_request)", "flask/app.py", "full_dispatch_request"),
    ("the view: results()", "web/views.py", "results"),
    ("the view: recommendation_from_body()", "web/api.py", "recommendation_from_body"),
    ("the view: questionnaire()", "web/views.py", "questionnaire"),
    ("  read_link (parse the query)", "web/context.py", "read_link"),
    ("  evaluate", "recommender/engine.py", "evaluate"),
    ("  explain", "recommender/explain.py", "explain"),
    ("    what_if", "recommender/explain.py", "what_if"),
    ("    sensitivity", "recommender/explain.py", "sensitivity"),
    ("    drivers", "recommender/explain.py", "drivers"),
    ("    outlook", "recommender/outlook.py", "outlook"),
    ("  as_json", "recommender/explain.py", "as_json"),
    ("  canonical_query", "recommender/links.py", "canonical_query"),
    ("  state_query", "recommender/links.py", "state_query"),
    ("  url_for", "flask/helpers.py", "url_for"),
    ("  render_template", "flask/templating.py", "render_template"),
    ("  jsonify", "flask/json/__init__.py", "jsonify"),
    ("  form class instantiation", "wtforms/form.py", "__call__"),
    ("  generate_csrf", "flask_wtf/csrf.py", "generate_csrf"),
    ("session save (cookie signing)", "flask/sessions.py", "save_session"),
]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--links", type=int, default=2000, help="distinct links to request (default 2000)")
    parser.add_argument("--top", type=int, default=25, help="functions per table (default 25)")
    parser.add_argument("--endpoint", choices=("results", "api", "questionnaire"), default="results")
    return parser.parse_args(argv)


def short(filename: str) -> str:
    for prefix in (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["stdlib"], str(ROOT)):
        if filename.startswith(prefix):
            return filename[len(prefix):].lstrip("/")
    return filename


def table(stats: pstats.Stats, key: str, top: int, requests: int, total: float) -> None:
    rows = sorted(stats.stats.items(), key=lambda item: item[1][3 if key == "cumulative" else 2], reverse=True)
    print(f"  {'calls/req':>9} {'own µs/req':>10} {'cum µs/req':>10} {'cum %':>6}  function")
    for (filename, line, name), (_, ncalls, tottime, cumtime, _) in rows[:top]:
        where = f"{short(filename)}:{line}({name})" if line else name
        print(f"  {ncalls / requests:9.1f} {tottime / requests * 1e6:10.1f} {cumtime / requests * 1e6:10.1f} "
              f"{cumtime / total * 100:5.1f}%  {where}")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dockwise-profile-") as instance:
        app = create_app({"SECRET_KEY": SECRET_KEY, "INSTANCE_PATH": instance})
        return profile(app, args)


def profile(app, args: argparse.Namespace) -> int:
    ruleset = app.extensions["dockwise"].get()
    answer_sets = random_answer_sets(ruleset, args.links + WARM_UP, SEED)
    warm, measured = answer_sets[:WARM_UP], answer_sets[WARM_UP:]
    client = app.test_client()

    if args.endpoint == "results":
        label = "GET /results?<link>"
        items = results_paths(ruleset, measured)

        def call(item: str):
            return client.get(item)
        warm_items = results_paths(ruleset, warm)
    elif args.endpoint == "api":
        label = "POST /api/recommendations"
        items = api_bodies(measured)

        def call(item: str):
            return client.post("/api/recommendations", data=item, content_type="application/json")
        warm_items = api_bodies(warm)
    else:
        label = "GET /"
        items = ["/"] * args.links

        def call(item: str):
            return client.get(item)
        warm_items = ["/"] * WARM_UP

    for item in warm_items:
        call(item)
    start = time.perf_counter()
    for item in items:
        status = call(item).status_code
        if status != 200:
            print(f"FAILURE: {label} answered {status} for {item[:120]}")
            return 0
    plain = time.perf_counter() - start

    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    for item in items:
        call(item)
    profiler.disable()
    profiled = time.perf_counter() - start

    stats = pstats.Stats(profiler)
    requests = len(items)
    print(f"Profile of {label} — {requests} distinct requests, Flask test client, rules {ruleset.fingerprint}, "
          f"Python {sys.version.split()[0]}")
    print(f"  without profiler: {plain / requests * 1000:.3f} ms per request ({requests / plain:.0f} req/s, "
          "one process)")
    print(f"  with cProfile:    {profiled / requests * 1000:.3f} ms per request (the profile's figures are inflated "
          "by about that ratio)")

    total = stats.total_tt
    print("\nLandmarks (cumulative, per request, share of the profiled total)")
    by_name: dict[tuple[str, str], tuple[int, float]] = {}
    for (filename, _, name), (_, ncalls, _, cumtime, _) in stats.stats.items():
        for _, ending, wanted in LANDMARKS:
            if name == wanted and filename.endswith(ending):
                calls, cum = by_name.get((ending, wanted), (0, 0.0))
                by_name[(ending, wanted)] = (calls + ncalls, max(cum, cumtime))
    for text, ending, wanted in LANDMARKS:
        if (ending, wanted) in by_name:
            calls, cum = by_name[(ending, wanted)]
            print(f"  {text:<40} {cum / requests * 1e6:8.1f} µs {cum / total * 100:5.1f}%  "
                  f"({calls / requests:.1f} calls per request)")

    print(f"\nTop {args.top} by cumulative time")
    table(stats, "cumulative", args.top, requests, total)
    print(f"\nTop {args.top} by own time")
    table(stats, "own", args.top, requests, total)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
