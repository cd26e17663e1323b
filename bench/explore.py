"""Answer-space benchmark: how fast `flask rules explore` and `flask rules diff` go through the shipped rules.

Run with `.venv/bin/python -m bench.explore`. It prints a report and always exits 0: it is not a gate.

- exhaustive explore: every combination of answers (each question one of its choices or unanswered), first run
  in a fresh process (memory not yet mapped) and the median of RUNS more; combinations per second of the
  evaluation pass, and the time of the checks that follow it (target: the whole explore ≤ 5 s);
- the same states through the rule core's pure-Python `evaluate_state`, on SAMPLE random states (fixed seed):
  states per second, the ratio to the vectorised pass and what the whole space would take that way;
- sampling mode (what a larger rules file gets) and `diff` of the shipped rules against themselves.
"""

from __future__ import annotations

import math
import random
import statistics
import sys
import time
from pathlib import Path

from recommender import RulesError, evaluate_state, load_rules
from recommender.space import DEFAULT_BUDGET, DEFAULT_SAMPLE, diff, explore

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules.yaml"
RUNS = 3
SAMPLE = 20_000
SEED = 20240601
TARGET_S = 5.0


def timed(call):
    start = time.perf_counter()
    value = call()
    return value, time.perf_counter() - start


def line(name: str, measured: str, note: str = "") -> None:
    print(f"  {name:<44} {measured:<34} {note}".rstrip())


def main() -> int:
    print(f"Dockwise answer-space benchmark — {RULES.name}, Python {sys.version.split()[0]}")
    try:
        ruleset = load_rules(RULES)
    except RulesError as error:
        print(f"cannot benchmark: {RULES} does not load:\n{error}")
        return 0
    sizes = [len(q.choices) + 1 for q in ruleset.questions]
    space = math.prod(sizes)
    print(f"  {len(ruleset.options)} options, {len(ruleset.questions)} questions, {len(ruleset.rules)} rules; "
          f"space {' x '.join(map(str, sizes))} = {space:,} combinations (budget {DEFAULT_BUDGET:,})")

    print("\nExhaustive explore")
    first, total = timed(lambda: explore(ruleset))
    mode = "exhaustive" if first.exhaustive else f"SAMPLED ({first.evaluated:,} states)"
    line("first run (fresh process)", f"{total:.2f} s total", f"{mode}; target ≤ {TARGET_S:g} s: "
         f"{'meets' if total <= TARGET_S else 'misses'}")
    line("  evaluation pass", f"{first.seconds:.2f} s", f"{first.evaluated / first.seconds / 1e6:.1f} M combinations/s")
    line("  checks (dead weight, rows, examples)", f"{first.check_seconds:.2f} s")
    runs = [timed(lambda: explore(ruleset)) for _ in range(RUNS)]
    passes = [report.seconds for report, _ in runs]
    totals = [seconds for _, seconds in runs]
    line(f"median of {RUNS} more: total", f"{statistics.median(totals):.2f} s")
    line("  evaluation pass", f"{statistics.median(passes):.2f} s",
         f"{first.evaluated / statistics.median(passes) / 1e6:.1f} M combinations/s")

    rng = random.Random(SEED)
    states = [tuple(rng.randrange(size) for size in sizes) for _ in range(SAMPLE)]
    _, python_seconds = timed(lambda: [evaluate_state(ruleset, state) for state in states])
    python_rate = SAMPLE / python_seconds
    numpy_rate = first.evaluated / statistics.median(passes)
    print(f"\nPure-Python evaluate_state on {SAMPLE:,} random states (seed {SEED})")
    line("rate", f"{python_rate:,.0f} states/s", f"whole space would take {space / python_rate:.0f} s")
    line("vectorised pass / pure Python", f"{numpy_rate / python_rate:.0f} x")

    print("\nOther modes")
    sampled, seconds = timed(lambda: explore(ruleset, budget=1))
    line(f"explore, sampled ({DEFAULT_SAMPLE:,} + {sampled.full_evaluated:,})", f"{seconds:.2f} s total",
         f"{sampled.evaluated / sampled.seconds / 1e6:.1f} M states/s in the pass")
    report, seconds = timed(lambda: diff(ruleset, ruleset))
    line("diff rules.yaml rules.yaml (exhaustive)", f"{seconds:.2f} s total",
         f"{2 * report.evaluated / report.seconds / 1e6:.1f} M evaluations/s")
    return 0


if __name__ == "__main__":
    main()
    sys.exit(0)
