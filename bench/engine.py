"""Engine benchmark: how long loading the shipped rules and answering one questionnaire take.

Run with `.venv/bin/python -m bench.engine`. It prints a report and always exits 0: it is not a gate.

- load: read + parse + validate + compile rules.yaml, median of LOADS loads (target ≤ 50 ms);
- per questionnaire: evaluate + explain (which runs drivers, what-if, sensitivity and the outlook) over ANSWER_SETS
  random answer sets (each question one of its choices or unanswered, fixed seed), mean and p99 (target ≤ 0.15 ms);
- breakdown: evaluate, drivers, what_if, sensitivity, the open-question outlook and as_json, each timed alone on the
  same answer sets (the outlook's table is built when the rules load, as the web's rules holder does, and timed apart).
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from recommender import RulesError, evaluate, explain, load_rules
from recommender.explain import drivers, sensitivity, what_if
from recommender.outlook import WinnerTable, outlook, warm, winner_table
from recommender.source import read_source

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules.yaml"
LOADS = 20
ANSWER_SETS = 3000
SEED = 20240601
LOAD_TARGET_MS = 50.0
QUESTIONNAIRE_TARGET_MS = 0.15


def timed_ms(call: Callable[[], object]) -> float:
    start = time.perf_counter_ns()
    call()
    return (time.perf_counter_ns() - start) / 1e6


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def verdict(measured: float, target: float | None) -> str:
    if target is None:
        return ""
    return "meets" if measured <= target else "misses"


def line(name: str, measured: str, target: float | None, value: float) -> None:
    goal = f"target ≤ {target:g} ms" if target is not None else "(no target)"
    print(f"  {name:<42} {measured:<30} {goal:<18} {verdict(value, target)}".rstrip())


def random_answer_sets(ruleset, count: int, seed: int) -> list[dict[str, str]]:
    """Each question gets one of its choices or stays unanswered, uniformly."""
    rng = random.Random(seed)
    sets = []
    for _ in range(count):
        answers = {}
        for question in ruleset.questions:
            pick = rng.randrange(len(question.choices) + 1)
            if pick:
                answers[question.id] = question.choices[pick - 1].id
        sets.append(answers)
    return sets


def per_call(call: Callable[[object], object], items: list) -> list[float]:
    return [timed_ms(lambda item=item: call(item)) for item in items]


def main() -> int:
    print(f"Dockwise engine benchmark — {RULES.name}, Python {sys.version.split()[0]}")
    try:
        ruleset = load_rules(RULES)
    except RulesError as error:
        print(f"cannot benchmark: {RULES} does not load:\n{error}")
        return 0
    model = ruleset.model
    print(f"  {len(model.options)} options, {len(model.criteria)} criteria, {len(model.questions)} questions, "
          f"{len(model.rules)} rules; fingerprint {ruleset.fingerprint}")

    print(f"\nLoad (median of {LOADS})")
    load_rules(RULES)  # warm the imports and caches once
    loads = [timed_ms(lambda: load_rules(RULES)) for _ in range(LOADS)]
    parses = [timed_ms(lambda: read_source(RULES)) for _ in range(LOADS)]
    median = statistics.median(loads)
    line("load + validate + compile", f"{median:.2f} ms", LOAD_TARGET_MS, median)
    line("  of which read + YAML parse", f"{statistics.median(parses):.2f} ms", None, 0.0)

    def build_outlook_table() -> None:  # what `warm` does, on a table of its own
        table = WinnerTable(ruleset)
        table.prepare()
        table.outlook((0,) * len(ruleset.questions), 0)

    tables = [timed_ms(build_outlook_table) for _ in range(5)]
    line("open-question outlooks (once per version)", f"{statistics.median(tables):.2f} ms", None, 0.0)
    warm(ruleset)  # as the web's rules holder does when it loads a version

    answer_sets = random_answer_sets(ruleset, ANSWER_SETS, SEED)
    for answers in random_answer_sets(ruleset, 300, SEED + 1):  # warm-up, on other answer sets
        explain(evaluate(ruleset, answers)).as_json()
    table = winner_table(ruleset)

    def uncached(call: Callable[[object], object]) -> Callable[[object], object]:
        # Every answer set here is new to a server too: no outlook cached by an earlier pass may answer it.
        table.forget()
        warm(ruleset)
        return call
    results = [evaluate(ruleset, answers) for answers in answer_sets]
    answered = statistics.mean(len(answers) for answers in answer_sets)
    print(f"\nPer questionnaire ({ANSWER_SETS} random answer sets, seed {SEED}, "
          f"{answered:.1f} of {len(model.questions)} questions answered on average)")
    total = per_call(uncached(lambda answers: explain(evaluate(ruleset, answers))), answer_sets)
    mean, tail = statistics.mean(total), p99(total)
    line("evaluate + explain: mean", f"{mean * 1000:.1f} µs ({mean:.4f} ms)", QUESTIONNAIRE_TARGET_MS, mean)
    line("evaluate + explain: p99", f"{tail * 1000:.1f} µs ({tail:.4f} ms)", QUESTIONNAIRE_TARGET_MS, tail)

    print("\nBreakdown (each alone, same answer sets)")
    parts = {
        "evaluate": per_call(lambda answers: evaluate(ruleset, answers), answer_sets),
        "explain (given a Result)": per_call(uncached(explain), results),
        "  drivers": per_call(drivers, results),
        "  what_if": per_call(what_if, results),
        "  sensitivity": per_call(sensitivity, results),
        "  open-question outlook": per_call(uncached(outlook), results),
        "as_json (given an Explanation)": per_call(lambda e: e.as_json(), [explain(r) for r in results]),
    }
    for name, samples in parts.items():
        part_mean, part_tail = statistics.mean(samples), p99(samples)
        line(name, f"mean {part_mean * 1000:6.1f} µs, p99 {part_tail * 1000:6.1f} µs", None, 0.0)
    return 0


if __name__ == "__main__":
    main()
    sys.exit(0)
