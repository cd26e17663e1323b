"""`diff`: two rule sets over every combination of the answers both understand (or a sample of them): where the
recommendation changes, with typical examples, plus scenarios, stated needs and each file's own space checks.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..engine import evaluate
from ..ruleset import RuleSet
from .compile import Axis, axes_of, compile_model, for_grid
from .examples import example, grid_first, sample_first
from .kernel import (
    DEFAULT_BUDGET,
    DEFAULT_SAMPLE,
    DEFAULT_SEED,
    WinnerGrid,
    count_codes,
    draw,
    evaluate_states,
    evaluate_winners,
)
from .ordering import space_checks
from .reports import DiffReport, Flip, NeedEdit, ScenarioChange, Share

EXAMPLES = 3                     # typical examples per kind of flip


def _only(old: RuleSet, new: RuleSet) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    def side(a: RuleSet, b: RuleSet) -> dict[str, tuple[str, ...]]:
        b_questions = {q.id: {c.id for c in q.choices} for q in b.questions}
        b_options = {o.id for o in b.options}
        return {
            "questions": tuple(q.id for q in a.questions if q.id not in b_questions),
            "choices": tuple(f"{q.id}={c.id}" for q in a.questions if q.id in b_questions
                             for c in q.choices if c.id not in b_questions[q.id]),
            "options": tuple(o.id for o in a.options if o.id not in b_options),
        }
    return side(old, new), side(new, old)


def _understood(ruleset: RuleSet, answers: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    kept, ignored = {}, []
    for question, choice in answers.items():
        q = ruleset.question_index.get(question)
        if q is not None and choice in ruleset.choice_index[q]:
            kept[question] = choice
        else:
            ignored.append(f"{question}={choice}")
    return kept, ignored


def _scenario_changes(old: RuleSet, new: RuleSet) -> tuple[list[ScenarioChange], int]:
    scenarios = list(new.scenarios)
    names = {s.name for s in scenarios}
    scenarios += [s for s in old.scenarios if s.name not in names]
    changes = []
    for scenario in scenarios:
        old_answers, old_ignored = _understood(old, scenario.answers)
        new_answers, new_ignored = _understood(new, scenario.answers)
        before = old.options[evaluate(old, old_answers).winner].id
        after = new.options[evaluate(new, new_answers).winner].id
        if before != after:
            ignored = [f"{a} (old)" for a in old_ignored] + [f"{a} (new)" for a in new_ignored]
            changes.append(ScenarioChange(scenario.name, before, after, tuple(ignored)))
    return changes, len(scenarios)


def _needs_edited(old: RuleSet, new: RuleSet) -> tuple[NeedEdit, ...]:
    """The stated needs of the answers both files have, per option, where the two files say different things."""
    old_choices = {(q.id, c.id): c for q in old.questions for c in q.choices}
    options = [o.id for o in new.options] + [o.id for o in old.options if o.id not in new.option_index]
    edits = []
    for question in new.questions:
        for choice in question.choices:
            before = old_choices.get((question.id, choice.id))
            if before is None:
                continue
            for option in options:
                was, now = before.unmet.get(option), choice.unmet.get(option)
                if was != now:
                    edits.append(NeedEdit(question.id, choice.id, option, was, now))
    return tuple(edits)


def diff(old: RuleSet, new: RuleSet, *, budget: int = DEFAULT_BUDGET, sample: int = DEFAULT_SAMPLE,
         seed: int = DEFAULT_SEED) -> DiffReport:
    """Compare the recommendations of two rule sets over every combination of the answers both understand."""
    start = time.perf_counter()
    old_questions = {q.id: {c.id for c in q.choices} for q in old.questions}
    axes = tuple(Axis(q.id, tuple(c.id for c in q.choices if c.id in old_questions[q.id]))
                 for q in new.questions if q.id in old_questions)
    old_model, new_model = compile_model(old, axes), compile_model(new, axes)
    space = math.prod(new_model.dims)
    exhaustive = space <= budget
    if exhaustive:
        new_model = for_grid(new_model)
        old_model = for_grid(old_model, like=new_model)
    dims = new_model.dims
    ids = [o.id for o in new.options] + [o.id for o in old.options if o.id not in new.option_index]
    n = len(ids)
    old_map = np.array([ids.index(o.id) for o in old.options], dtype=np.intp)
    new_map = np.array([ids.index(o.id) for o in new.options], dtype=np.intp)
    code_type = np.uint8 if n * n < 255 else np.uint16
    # When both sides ask the same questions with the same choices and offer the same options, the compared space
    # is each side's own, and its winner grids serve the monotonicity and unmet-needs checks too.
    same_space = (exhaustive and [o.id for o in old.options] == [o.id for o in new.options]
                  and axes_of(old) == axes_of(new) == axes)
    old_grid: WinnerGrid | None = None
    new_grid: WinnerGrid | None = None
    if exhaustive:
        old_winner = evaluate_winners(old_model, relabel=old_map.astype(code_type)).winner
        new_winner = evaluate_winners(new_model, relabel=new_map.astype(code_type)).winner
        if same_space:
            old_grid, new_grid = WinnerGrid(old_model, old_winner), WinnerGrid(new_model, new_winner)
            codes = old_winner * np.array(n, dtype=code_type)
        else:
            codes = old_winner
            codes *= n
        codes += new_winner
        evaluated = space
        counts = count_codes(codes, n * n)
    else:
        states = draw(np.random.default_rng(seed), dims, sample, answered=False)
        before = old_map[evaluate_states(old_model, states).winner]
        after = new_map[evaluate_states(new_model, states).winner]
        codes = before * n + after
        evaluated = sample
        counts = np.bincount(codes, minlength=n * n)
    sampled = not exhaustive
    flips = {c: EXAMPLES for c in range(n * n) if counts[c] and c // n != c % n}
    examples = grid_first(new_model.order, codes, flips) if exhaustive else sample_first(states, codes, flips)
    seconds = time.perf_counter() - start
    matrix = []
    for c in np.flatnonzero(counts):
        a, b = ids[c // n], ids[c % n]
        matrix.append(Flip(a, b, Share(f"{a}->{b}", "", int(counts[c]), evaluated, sampled),
                           tuple(example(new_model, state, with_rules=False) for state in examples.get(int(c), []))))
    changed = int(sum(counts[c] for c in flips))
    scenarios, compared = _scenario_changes(old, new)
    only_old, only_new = _only(old, new)
    old_ordering, old_unmet = space_checks(old, budget=budget, sample=sample, seed=seed, grid=old_grid)
    new_ordering, new_unmet = space_checks(new, budget=budget, sample=sample, seed=seed, grid=new_grid)
    return DiffReport(
        old_file=old.file, new_file=new.file, old_fingerprint=old.fingerprint, new_fingerprint=new.fingerprint,
        questions=tuple(axis.question for axis in axes), space=space, exhaustive=exhaustive, evaluated=evaluated,
        seed=None if exhaustive else seed, seconds=seconds,
        changed=Share("changed", "recommendation changes", changed, evaluated, sampled),
        matrix=tuple(matrix), scenarios=tuple(scenarios), scenarios_compared=compared,
        only_old=only_old, only_new=only_new, old_monotonicity=old_ordering, new_monotonicity=new_ordering,
        old_unmet_needs=old_unmet, new_unmet_needs=new_unmet, needs_edited=_needs_edited(old, new))
