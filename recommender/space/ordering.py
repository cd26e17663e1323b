"""The ordering contract (monotonicity), checked over the whole answer space: a more demanding answer never gives
a lighter recommendation.

Options are listed from the lightest to run to the heaviest, and each question's choices from the least to the
most demanding (unless the question says `ordered: false`). For every ordered question, every pair of adjacent
choices (i → i+1; "unanswered" is not part of the chain) and every combination of the other questions' states,
the recommendation with choice i+1 must not be listed before the one with choice i. A violation's kind is
(question, from choice, to choice, recommendation with `from` → recommendation with `to`).

The recommendations are the kernel's winners (exactly `engine.rank`'s), over the whole grid when the space fits
the budget, else over a uniform random sample of questionnaires (fixed seed): each sampled questionnaire, for each
ordered question answered below its last choice, is compared with the next choice, and shares come with a 95 %
Wilson interval. The same winners give how often the recommendation leaves a need that an answer states
(`Choice.unmet`) unmet.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..ruleset import RuleSet
from .compile import Model, axes_of, compile_model, for_grid
from .examples import example, first_rows, grid_first
from .kernel import DEFAULT_BUDGET, DEFAULT_SAMPLE, DEFAULT_SEED, WinnerGrid, draw, evaluate_states, evaluate_winners
from .reports import MonotonicityReport, Share, ViolationKind

UNMET_ID, UNMET_LABEL = "unmet_needs", "the recommendation leaves a stated need unmet"


def _without(model: Model, axis: int) -> tuple[int, ...]:
    """The questionnaire order of a grid slice that lacks `axis` (what `grid_first` needs of it)."""
    positions = [model.order[a] for a in range(len(model.axes)) if a != axis]
    return tuple(int(r) for r in np.argsort(np.argsort(positions)))


def _is_ordered(ruleset: RuleSet, question: str) -> bool:
    return ruleset.questions[ruleset.question_index[question]].ordered


def _exempt(ruleset: RuleSet) -> tuple[str, ...]:
    return tuple(q.id for q in ruleset.questions if not q.ordered)


def _kind(model: Model, a: int, c: int, heavier: int, lighter: int, share: Share,
          state: tuple[int, ...]) -> ViolationKind:
    axis, options = model.axes[a], model.ruleset.options
    return ViolationKind(axis.question, axis.choices[c - 1], axis.choices[c], options[heavier].id,
                         options[lighter].id, share, example(model, state, with_rules=False).query)


# --- the grid ------------------------------------------------------------------------------------------------


def _grid_kinds(model: Model, winner: np.ndarray) -> tuple[int, list[ViolationKind]]:
    """Pairs checked and violation kinds, comparing slices (views) of the winner grid along each ordered axis."""
    k, dims = model.k, model.dims
    code_type = np.uint8 if k * k <= 256 else np.uint16
    # A code heavier * k + lighter with lighter < heavier can only come from a violating pair.
    lighter_pairs = [(x, y) for x in range(k) for y in range(x)]
    pairs, kinds = 0, []
    for a, axis in enumerate(model.axes):
        if not _is_ordered(model.ruleset, axis.question):
            continue
        before = (slice(None),) * a
        step_pairs = math.prod(dims) // dims[a]
        for c in range(1, dims[a] - 1):
            pairs += step_pairs
            low, high = winner[(*before, c)], winner[(*before, c + 1)]
            if not np.less(high, low).any():
                continue
            codes = low.astype(code_type)
            codes *= k
            codes += high
            counts = {x * k + y: int(np.count_nonzero(codes == x * k + y)) for x, y in lighter_pairs}
            counts = {code: n for code, n in counts.items() if n}
            first = grid_first(_without(model, a), codes, dict.fromkeys(counts, 1))
            for code, n in counts.items():
                state = first[code][0]
                full = (*state[:a], c, *state[a:])
                kinds.append(_kind(model, a, c, code // k, code % k,
                                   Share(f"{axis.question}={axis.choices[c - 1]}", "", n, step_pairs), full))
    return pairs, kinds


def _unmet_tables(model: Model) -> list[list[tuple[int, np.ndarray]]]:
    """Per option: (axis, per state of the axis whether that answer states a need the option leaves unmet)."""
    ruleset = model.ruleset
    tables: list[list[tuple[int, np.ndarray]]] = [[] for _ in range(model.k)]
    for a, axis in enumerate(model.axes):
        question = ruleset.questions[ruleset.question_index[axis.question]]
        unmet = {c.id: c.unmet for c in question.choices}
        for o, option in enumerate(ruleset.options):
            table = np.array([False] + [option.id in unmet[c] for c in axis.choices])
            if table.any():
                tables[o].append((a, table))
    return tables


def _grid_unmet(model: Model, winner: np.ndarray) -> int:
    """Questionnaires whose recommendation leaves a stated need unmet, one leading index at a time (small temps)."""
    dims, count = model.dims, 0
    for o, tables in enumerate(_unmet_tables(model)):
        if not tables:
            continue
        for i in range(dims[0]):
            block = winner[i]
            wins = block == o
            if any(a == 0 and table[i] for a, table in tables):
                count += int(np.count_nonzero(wins))
                continue
            leaves = np.zeros(block.shape, dtype=bool)
            for a, table in tables:
                if a:
                    np.logical_or(leaves, table.reshape([d if b == a else 1 for b, d in enumerate(dims)][1:]),
                                  out=leaves)
            count += int(np.count_nonzero(leaves & wins))
    return count


# --- a sample ------------------------------------------------------------------------------------------------


def _sample_kinds(model: Model, states: np.ndarray, winner: np.ndarray) -> tuple[int, list[ViolationKind]]:
    """Each sampled state against the next choice of every ordered question it answers below the last choice."""
    k, dims = model.k, model.dims
    unanswered = (states == 0).sum(axis=1)
    pairs, kinds = 0, []
    for a, axis in enumerate(model.axes):
        if not _is_ordered(model.ruleset, axis.question):
            continue
        column = states[:, a]
        rows = np.flatnonzero((column >= 1) & (column < dims[a] - 1))
        pairs += len(rows)
        moved = states[rows]
        moved[:, a] += 1
        low, high = winner[rows], evaluate_states(model, moved).winner
        per_choice = np.bincount(column[rows], minlength=dims[a])
        bad = np.flatnonzero(high < low)
        codes = (column[rows[bad]].astype(np.int64) * k + low[bad]) * k + high[bad]
        for code in np.unique(codes):
            c, heavier, lighter = int(code) // (k * k), int(code) // k % k, int(code) % k
            found = rows[bad[codes == code]]
            state = first_rows(states, found, unanswered, 1)[0]
            kinds.append(_kind(model, a, c, heavier, lighter,
                               Share(f"{axis.question}={axis.choices[c - 1]}", "", len(found),
                                     int(per_choice[c]), sampled=True), state))
    return pairs, kinds


def _sample_unmet(model: Model, states: np.ndarray, winner: np.ndarray) -> int:
    leaves = np.zeros(len(states), dtype=bool)
    for o, tables in enumerate(_unmet_tables(model)):
        wins = winner == o
        for a, table in tables:
            leaves |= wins & table[states[:, a]]
    return int(np.count_nonzero(leaves))


# --- entry points --------------------------------------------------------------------------------------------


def space_checks(ruleset: RuleSet, *, budget: int = DEFAULT_BUDGET, sample: int = DEFAULT_SAMPLE,
                 seed: int = DEFAULT_SEED, grid: WinnerGrid | None = None) -> tuple[MonotonicityReport, Share]:
    """The monotonicity check and the unmet-needs count, from one evaluation of the space (or of a sample).

    `grid` is the winner of every state when the caller has already evaluated them (`explore` has): its model
    must be over the ruleset's own axes, in any axis order (`for_grid`'s).
    """
    start = time.perf_counter()
    space = math.prod(len(q.choices) + 1 for q in ruleset.questions)
    exhaustive = grid is not None or space <= budget
    if exhaustive:
        if grid is None:
            grid = evaluate_winners(for_grid(compile_model(ruleset, axes_of(ruleset))))
        model, winner = grid.model, grid.winner
        pairs, kinds = _grid_kinds(model, winner)
        unmet, evaluated = _grid_unmet(model, winner), space
    else:
        model = compile_model(ruleset, axes_of(ruleset))     # questionnaire order, as `first_rows` expects
        states = draw(np.random.default_rng(seed), model.dims, sample, answered=False)
        winner = evaluate_states(model, states).winner
        pairs, kinds = _sample_kinds(model, states, winner)
        unmet, evaluated = _sample_unmet(model, states, winner), sample
    position = {q.id: i for i, q in enumerate(ruleset.questions)}
    choice = {(q.id, c.id): i for q in ruleset.questions for i, c in enumerate(q.choices)}
    kinds.sort(key=lambda kind: (position[kind.question], choice[kind.question, kind.source], -kind.share.count))
    sampled = not exhaustive
    report = MonotonicityReport(
        file=ruleset.file, fingerprint=ruleset.fingerprint, space=space, exhaustive=exhaustive,
        evaluated=evaluated, seed=None if exhaustive else seed, seconds=time.perf_counter() - start,
        violations=Share("violations", "a more demanding answer gives a lighter recommendation",
                         sum(kind.share.count for kind in kinds), pairs, sampled),
        kinds=tuple(kinds), exempt=_exempt(ruleset))
    return report, Share(UNMET_ID, UNMET_LABEL, unmet, evaluated, sampled)


def monotonicity(ruleset: RuleSet, *, budget: int = DEFAULT_BUDGET, sample: int = DEFAULT_SAMPLE,
                 seed: int = DEFAULT_SEED) -> MonotonicityReport:
    """Check that no more demanding answer gives a lighter recommendation, over every questionnaire or a sample."""
    return space_checks(ruleset, budget=budget, sample=sample, seed=seed)[0]


def unmet_needs(ruleset: RuleSet, *, budget: int = DEFAULT_BUDGET, sample: int = DEFAULT_SAMPLE,
                seed: int = DEFAULT_SEED) -> Share:
    """Questionnaires whose recommendation leaves a need that one of their answers states unmet."""
    return space_checks(ruleset, budget=budget, sample=sample, seed=seed)[1]
