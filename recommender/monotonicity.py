"""The ordering contract, checked over the whole answer space: a more demanding answer never gives a lighter
recommendation.

Options are listed from the lightest to run to the heaviest, and each question's choices from the least to the
most demanding (unless the question says `ordered: false`). For every ordered question, every pair of adjacent
choices (i → i+1; "unanswered" is not part of the chain) and every combination of the other questions' states,
the recommendation with choice i+1 must not be listed before the one with choice i. A violation's kind is
(question, from choice, to choice, recommendation with `from` → recommendation with `to`).

The recommendations are the winners `explore` computes (exactly `engine.rank`'s), over the whole grid when the
space fits the budget, else over a uniform random sample of questionnaires (fixed seed): each sampled
questionnaire, for each ordered question answered below its last choice, is compared with the next choice, and
shares come with a 95 % Wilson interval. The same winners give how often the recommendation leaves a need that
an answer states (`Choice.unmet`) unmet.

Pure: numpy and the rule core only, no web framework.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .explore import (
    DEFAULT_BUDGET,
    DEFAULT_SAMPLE,
    DEFAULT_SEED,
    Share,
    _axes_of,
    _compile,
    _draw,
    _evaluate_grid,
    _evaluate_states,
    _example,
    _first_rows,
    _for_grid,
    _grid_first,
    _Model,
    wilson,
)
from .ruleset import RuleSet

__all__ = ["MonotonicityReport", "ViolationKind", "monotonicity", "monotonicity_text", "space_checks",
           "unmet_needs"]


@dataclass(frozen=True)
class ViolationKind:
    """Moving `question` from `source` to `target` turns recommendation `heavier` into the lighter `lighter`."""

    question: str
    source: str
    target: str
    heavier: str                 # recommended with `source`
    lighter: str                 # recommended with `target`, listed before `heavier`
    share: Share                 # violating questionnaires of those with `question` at `source`
    example: str                 # share-link query of the most typical violating questionnaire (with `source`)

    def as_dict(self) -> dict:
        data: dict = {"question": self.question, "from": self.source, "to": self.target,
                      "lighter": {"from": self.heavier, "to": self.lighter},
                      "count": self.share.count, "pairs": self.share.total, "share": self.share.share}
        if self.share.sampled:
            data["ci95"] = list(wilson(self.share.count, self.share.total))
        data["example"] = self.example
        return data


@dataclass(frozen=True)
class MonotonicityReport:
    """What the check found; counts are over every pair, or over the sampled pairs when `exhaustive` is false."""

    file: str
    fingerprint: str
    space: int                   # questionnaires: each question one of its choices or unanswered
    exhaustive: bool
    evaluated: int               # questionnaires whose recommendation was compared with its neighbours
    seed: int | None
    seconds: float
    violations: Share            # violating pairs of all pairs checked (`total`)
    kinds: tuple[ViolationKind, ...]
    exempt: tuple[str, ...]      # questions with `ordered: false`

    @property
    def pairs(self) -> int:
        return self.violations.total

    @property
    def count(self) -> int:
        return self.violations.count

    def by_kind(self) -> dict[tuple[str, str, str, str, str], ViolationKind]:
        """The kinds keyed by (question, from, to, heavier, lighter), to compare two versions of the rules."""
        return {(k.question, k.source, k.target, k.heavier, k.lighter): k for k in self.kinds}

    def as_dict(self) -> dict:
        data: dict = {"mode": "exhaustive" if self.exhaustive else "sample", "space": self.space,
                      "evaluated": self.evaluated, "seed": self.seed, "seconds": self.seconds,
                      "pairs": self.pairs, "violations": self.count, "share": self.violations.share}
        if self.violations.sampled:
            data["ci95"] = list(wilson(self.count, self.pairs))
        data["exempt"] = list(self.exempt)
        data["kinds"] = [kind.as_dict() for kind in self.kinds]
        return data


UNMET_ID, UNMET_LABEL = "unmet_needs", "the recommendation leaves a stated need unmet"


# --- the grid ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SliceOrder:
    """The questionnaire order of a grid slice that lacks one axis: all `_grid_first` reads of a model."""

    order: tuple[int, ...]

    def from_questionnaire_order(self, state: Sequence[int]) -> tuple[int, ...]:
        return tuple(int(state[q]) for q in self.order)


def _without(model: _Model, axis: int) -> _SliceOrder:
    positions = [model.order[a] for a in range(len(model.axes)) if a != axis]
    return _SliceOrder(tuple(int(r) for r in np.argsort(np.argsort(positions))))


def _is_ordered(ruleset: RuleSet, question: str) -> bool:
    return ruleset.questions[ruleset.question_index[question]].ordered


def _exempt(ruleset: RuleSet) -> tuple[str, ...]:
    return tuple(q.id for q in ruleset.questions if not q.ordered)


def _kind(model: _Model, a: int, c: int, heavier: int, lighter: int, share: Share,
          state: tuple[int, ...]) -> ViolationKind:
    axis, options = model.axes[a], model.ruleset.options
    return ViolationKind(axis.question, axis.choices[c - 1], axis.choices[c], options[heavier].id,
                         options[lighter].id, share, _example(model, state, with_rules=False).query)


def _grid_kinds(model: _Model, winner: np.ndarray) -> tuple[int, list[ViolationKind]]:
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
            first = _grid_first(_without(model, a), codes, dict.fromkeys(counts, 1))
            for code, n in counts.items():
                state = first[code][0]
                full = (*state[:a], c, *state[a:])
                kinds.append(_kind(model, a, c, code // k, code % k,
                                   Share(f"{axis.question}={axis.choices[c - 1]}", "", n, step_pairs), full))
    return pairs, kinds


def _unmet_tables(model: _Model) -> list[list[tuple[int, np.ndarray]]]:
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


def _grid_unmet(model: _Model, winner: np.ndarray) -> int:
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


def _sample_kinds(model: _Model, states: np.ndarray, winner: np.ndarray) -> tuple[int, list[ViolationKind]]:
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
        low, high = winner[rows], _evaluate_states(model, moved).winner
        per_choice = np.bincount(column[rows], minlength=dims[a])
        bad = np.flatnonzero(high < low)
        codes = (column[rows[bad]].astype(np.int64) * k + low[bad]) * k + high[bad]
        for code in np.unique(codes):
            c, heavier, lighter = int(code) // (k * k), int(code) // k % k, int(code) % k
            found = rows[bad[codes == code]]
            state = _first_rows(states, found, unanswered, 1)[0]
            kinds.append(_kind(model, a, c, heavier, lighter,
                               Share(f"{axis.question}={axis.choices[c - 1]}", "", len(found),
                                     int(per_choice[c]), sampled=True), state))
    return pairs, kinds


def _sample_unmet(model: _Model, states: np.ndarray, winner: np.ndarray) -> int:
    leaves = np.zeros(len(states), dtype=bool)
    for o, tables in enumerate(_unmet_tables(model)):
        wins = winner == o
        for a, table in tables:
            leaves |= wins & table[states[:, a]]
    return int(np.count_nonzero(leaves))


# --- entry points --------------------------------------------------------------------------------------------


def space_checks(ruleset: RuleSet, *, budget: int = DEFAULT_BUDGET, sample: int = DEFAULT_SAMPLE,
                 seed: int = DEFAULT_SEED, grid: tuple[_Model, np.ndarray] | None = None,
                 ) -> tuple[MonotonicityReport, Share]:
    """The monotonicity check and the unmet-needs count, from one evaluation of the space (or of a sample).

    `grid` is (model, winner grid) when the caller has already evaluated every state (`explore` has): the
    model must be the ruleset's own axes, as `_for_grid` orders them, and the grid `_evaluate_grid`'s winners.
    """
    start = time.perf_counter()
    space = math.prod(len(q.choices) + 1 for q in ruleset.questions)
    exhaustive = grid is not None or space <= budget
    if exhaustive:
        if grid is None:
            model = _for_grid(_compile(ruleset, _axes_of(ruleset)))
            grid = (model, _evaluate_grid(model, full=False).winner)
        model, winner = grid
        pairs, kinds = _grid_kinds(model, winner)
        unmet, evaluated = _grid_unmet(model, winner), space
    else:
        model = _compile(ruleset, _axes_of(ruleset))     # questionnaire order, as `_first_rows` expects
        states = _draw(np.random.default_rng(seed), model.dims, sample, answered=False)
        winner = _evaluate_states(model, states).winner
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


# --- text ----------------------------------------------------------------------------------------------------


def _number(percent: float) -> str:
    """Three significant digits, never in exponent notation (violation shares can be tiny)."""
    return np.format_float_positional(percent, precision=3, fractional=False, trim="-")


def _percent(count: int, total: int, sampled: bool) -> str:
    text = f"{_number(100 * count / total) if total else 0} %"
    if sampled:
        low, high = wilson(count, total)
        text += f" [{_number(100 * low)}–{_number(100 * high)}]"
    return text


def _exempt_text(report: MonotonicityReport) -> str:
    return f"exempt: {', '.join(report.exempt)} (ordered: false)" if report.exempt else "exempt: none"


def kind_text(kind: ViolationKind) -> str:
    """One line per kind of violation, as `flask rules check` and explore print it."""
    share = kind.share
    where = ("sampled " if share.sampled else "") + ("questionnaire" if share.count == 1 else "questionnaires")
    return (f"{kind.question}: {kind.source} → {kind.target} makes the recommendation lighter "
            f"({kind.heavier} → {kind.lighter}) in {share.count:,} {where} "
            f"({_percent(share.count, share.total, share.sampled)} of those with {kind.question}={kind.source}), "
            f"e.g. {kind.example}")


def monotonicity_text(report: MonotonicityReport) -> str:
    """The summary line, then one indented line per kind of violation."""
    n = report.count
    found = f"{n:,} violation{'' if n == 1 else 's'}"
    if report.exhaustive:
        if n:
            found += f" ({_percent(n, report.pairs, False)} of the pairs)"
        line = (f"Monotonicity: {found} — every ordered question, every adjacent pair of choices, over every "
                f"combination of the other answers ({report.space:,} questionnaires; {report.pairs:,} pairs) "
                f"in {report.seconds:.1f} s; {_exempt_text(report)}")
    else:
        line = (f"Monotonicity (SAMPLED): {found} in {report.pairs:,} sampled pairs, "
                f"{_percent(n, report.pairs, True)} with its 95 % confidence interval (Wilson) — "
                f"{report.evaluated:,} of {report.space:,} questionnaires drawn uniformly at random "
                f"(seed {report.seed}), each compared with the next choice of every ordered question it answers "
                f"below the last, in {report.seconds:.1f} s; a sample, so no violation found here does not prove "
                f"there is none; {_exempt_text(report)}")
    return "\n".join([line, *(f"  {kind_text(kind)}" for kind in report.kinds)])
