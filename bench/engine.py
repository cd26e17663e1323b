"""Engine benchmark: how long loading the shipped rules and answering one questionnaire take.

Run with `.venv/bin/python -m bench.engine`. It prints a report and always exits 0: it is not a gate.

- load: read + parse + validate + compile rules.yaml, median of LOADS loads (target ≤ 50 ms);
- per questionnaire: evaluate + explain (which runs drivers, what-if, sensitivity and the outlook) over ANSWER_SETS
  random answer sets (each question one of its choices or unanswered, fixed seed), mean and p99 (target ≤ 0.15 ms);
- breakdown: evaluate, drivers, what_if, sensitivity, the open-question outlook and as_json, each timed alone on the
  same answer sets (the outlook's table is built when the rules load, as the web's rules holder does, and timed apart);
- compile scaling: rules.yaml with 1,000 extra rules each naming all twelve questions (target: load and validate
  ≤ 1,000 ms), and with 700 extra rules each naming eight (the file that took 37 s before conditions compiled to
  per-question choice sets); each extra rule gives every question a random non-empty subset of its choices.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from recommender import RulesError, evaluate, explain, load_rules, load_rules_text
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
LARGE_LOAD_TARGET_MS = 1000.0
LARGE_LOADS = 3


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


def with_extra_rules(ruleset, count: int, questions_per_rule: int, seed: int) -> str:
    """rules.yaml's text with `count` more rules, each naming `questions_per_rule` random questions with a random
    non-empty subset of each one's choices, random scores and a random row, written as the shipped rules are."""
    rng = random.Random(seed)
    lines = []
    for index in range(count):
        questions = rng.sample(ruleset.questions, questions_per_rule)
        when = ", ".join(f"{q.id}: [{', '.join(c.id for c in rng.sample(q.choices, rng.randint(1, len(q.choices))))}]"
                         for q in questions)
        scores = ", ".join(f"{o.id}: {rng.choice((-3, -2, -1, 1, 2, 3))}" for o in ruleset.options)
        lines += [f"  - id: extra-{index}", f"    criterion: {rng.choice(ruleset.criteria).id}",
                  f"    when: {{{when}}}", f"    scores: {{{scores}}}", f"    because: Extra rule {index}.", ""]
    text = RULES.read_text(encoding="utf-8")
    at = text.find("\nscenarios:")  # the rules section ends where the scenarios start (or at the end)
    at = len(text) if at < 0 else at + 1
    return text[:at] + "\n".join(lines) + text[at:]


def compile_scaling(ruleset) -> None:
    print(f"\nCompile scaling (rules.yaml plus generated rules; median of {LARGE_LOADS} loads)")
    cases = [("1 000 rules each naming all 12 questions", 1000, len(ruleset.questions), LARGE_LOAD_TARGET_MS),
             ("700 rules each naming 8 questions (was 37 s)", 700, min(8, len(ruleset.questions)), None)]
    for name, count, per_rule, target in cases:
        text = with_extra_rules(ruleset, count, per_rule, SEED)
        try:
            loads = [timed_ms(lambda text=text: load_rules_text(text, "generated.yaml")) for _ in range(LARGE_LOADS)]
        except RulesError as error:
            print(f"  {name}: does not load:\n{error}")
            continue
        median = statistics.median(loads)
        goal = f" (target ≤ {target:,.0f} ms) {verdict(median, target)}" if target is not None else ""
        print(f"  {name}: load and validate {median:,.0f} ms{goal}; {len(text.encode()) / 1024:.0f} KiB")
    large = load_rules_text(with_extra_rules(ruleset, 1000, len(ruleset.questions), SEED), "generated.yaml")
    warm(large)
    refused = winner_table(large).refused
    sets = random_answer_sets(large, 300, SEED)
    samples = per_call(lambda answers: explain(evaluate(large, answers)).as_json(), sets)
    print(f"  on the first: evaluate + explain + as_json mean {statistics.mean(samples):.2f} ms; open-question "
          + (f"outlooks sampled through the engine ({refused})" if refused else "outlooks from the numpy tables"))


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
    compile_scaling(ruleset)
    return 0


if __name__ == "__main__":
    main()
    sys.exit(0)
