"""Answer-space analysis for tuning rules.yaml: every combination of answers at once, or a uniform sample.

A combination (a "state") gives each question one of its choices or leaves it unanswered. A score is a sum
of per-rule terms, and a rule reads only a few questions, so the rules are compiled into a few small tables
("factors") over the questions they read; the totals of every state are sums of those tables broadcast over
the whole space, evaluated chunk by chunk with numpy. Winners follow `engine.rank` exactly: eligible options
before excluded ones, then the higher total, then the earlier option. Points are counted in integer units
(a common divisor of every rule's MICRO points and of the close threshold), so every sum and tie is exact.

When the space is larger than `budget` states it is not truncated: a uniform random sample (fixed seed) is
evaluated instead, and every share comes with its sample size and a 95 % Wilson confidence interval.

Pure: numpy and the rule core only, no web framework. `explore` and `diff` return reports with `as_dict()`
(JSON-ready) and plain-text renderers `explore_text` and `diff_text`.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .engine import evaluate
from .links import canonical_query
from .ruleset import MICRO, RuleSet

if TYPE_CHECKING:
    from .monotonicity import MonotonicityReport

DEFAULT_BUDGET = 40_000_000      # at most this many states are evaluated exhaustively (about 4 s on 2 cores)
DEFAULT_SAMPLE = 1_000_000       # states drawn when the space is larger than the budget
DEFAULT_SEED = 20240601
DEFAULT_CHECK_SECONDS = 2.0      # time allowed to the dead-weight and row checks, which stop early when they can
CHUNK = 1 << 16                  # states evaluated at once: arrays stay in the CPU cache
FACTOR_LIMIT = 1 << 16           # rules reading questions whose combinations fit here are summed into one table
Z95 = 1.959963984540054
TOP = 5                          # closest calls and close-call answers listed
EXAMPLES = 3                     # typical examples per kind of flip in a diff
CLEAR, CLOSE, TIE = 0, 1, 2      # closeness classes per state (the engine's CLEAR, CLOSE, TIE)


# --- reports -------------------------------------------------------------------------------------------------


def wilson(count: int, total: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion count/total (95 % by default)."""
    if total <= 0:
        return (0.0, 1.0)
    p = count / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    low = 0.0 if count == 0 else max(0.0, centre - half)       # exact at the ends, whatever the rounding
    high = 1.0 if count == total else min(1.0, centre + half)
    return (low, high)


@dataclass(frozen=True)
class Share:
    """`count` of `total` states; with a 95 % confidence interval when the states were a random sample."""

    id: str
    label: str
    count: int
    total: int
    sampled: bool = False

    @property
    def share(self) -> float:
        return self.count / self.total if self.total else 0.0

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson(self.count, self.total) if self.sampled else None

    def as_dict(self) -> dict:
        data: dict = {"id": self.id, "label": self.label, "count": self.count, "total": self.total,
                      "share": self.share}
        if self.sampled:
            low, high = wilson(self.count, self.total)
            data["ci95"] = [low, high]
        return data


@dataclass(frozen=True)
class Example:
    """One questionnaire: its answers, its share-link query string, and how many questions it leaves open."""

    answers: dict[str, str]
    query: str
    unanswered: int

    def as_dict(self) -> dict:
        return {"answers": dict(self.answers), "query": self.query, "unanswered": self.unanswered}


@dataclass(frozen=True)
class CloseCall:
    example: Example
    winner: str
    runner_up: str
    lead: float          # in points
    closeness: str       # "tie" or "close"

    def as_dict(self) -> dict:
        return {**self.example.as_dict(), "winner": self.winner, "runner_up": self.runner_up, "lead": self.lead,
                "closeness": self.closeness}


@dataclass(frozen=True)
class ExploreReport:
    """What `explore` found. Counts are over the whole space, or over the sample when `exhaustive` is false."""

    file: str
    fingerprint: str
    options: int
    questions: int
    rules: int
    space: int                       # combinations, unanswered counting as a state of each question
    full_space: int                  # combinations with every question answered
    exhaustive: bool
    evaluated: int                   # states evaluated for the whole-space figures
    full_evaluated: int              # fully answered states evaluated
    seed: int | None
    seconds: float                   # the evaluation pass
    check_seconds: float             # everything after it
    close_points: float
    shares: tuple[Share, ...]
    full_shares: tuple[Share, ...]
    closeness: tuple[Share, ...]     # ids "tie", "close", "clear"
    close_pairs: tuple[Share, ...]   # ties and close calls per pair of options ("docker/compose")
    close_answers: tuple[Share, ...]  # answers most often in ties or close calls: id "question=choice"
    never_fire: tuple[str, ...]
    dead_weight: tuple[str, ...]
    dead_weight_unchecked: tuple[str, ...]
    idle_rows: tuple[str, ...]
    idle_rows_unchecked: tuple[str, ...]
    never_win: tuple[str, ...]
    closest: tuple[CloseCall, ...]
    full_close: int                  # fully answered states that are ties or close calls
    typical: tuple[tuple[str, Example | None], ...]
    monotonicity: MonotonicityReport | None = None
    unmet_needs: Share | None = None     # states whose winner leaves a need an answer states unmet

    @property
    def rate(self) -> float:
        """States evaluated per second in the evaluation pass."""
        return self.evaluated / self.seconds if self.seconds > 0 else float("inf")

    def as_dict(self) -> dict:
        return {
            "file": self.file, "fingerprint": self.fingerprint,
            "options": self.options, "questions": self.questions, "rules": self.rules,
            "space": self.space, "full_space": self.full_space,
            "mode": "exhaustive" if self.exhaustive else "sample",
            "evaluated": self.evaluated, "full_evaluated": self.full_evaluated, "seed": self.seed,
            "seconds": self.seconds, "check_seconds": self.check_seconds,
            "combinations_per_second": self.rate if self.seconds > 0 else None,
            "close_points": self.close_points,
            "shares": [s.as_dict() for s in self.shares],
            "full_shares": [s.as_dict() for s in self.full_shares],
            "closeness": [s.as_dict() for s in self.closeness],
            "close_pairs": [s.as_dict() for s in self.close_pairs],
            "close_answers": [s.as_dict() for s in self.close_answers],
            "never_fire": list(self.never_fire),
            "dead_weight": list(self.dead_weight), "dead_weight_unchecked": list(self.dead_weight_unchecked),
            "idle_rows": list(self.idle_rows), "idle_rows_unchecked": list(self.idle_rows_unchecked),
            "never_win": list(self.never_win),
            "closest": [c.as_dict() for c in self.closest], "full_close": self.full_close,
            "typical": {option: example.as_dict() if example else None for option, example in self.typical},
            "monotonicity": self.monotonicity.as_dict() if self.monotonicity else None,
            "unmet_needs": self.unmet_needs.as_dict() if self.unmet_needs else None,
        }


@dataclass(frozen=True)
class Flip:
    """States whose recommendation goes from option `source` (old) to option `target` (new)."""

    source: str
    target: str
    share: Share
    examples: tuple[Example, ...] = ()

    def as_dict(self) -> dict:
        return {"from": self.source, "to": self.target, **self.share.as_dict(),
                "examples": [e.as_dict() for e in self.examples]}


@dataclass(frozen=True)
class ScenarioChange:
    name: str
    source: str
    target: str
    ignored: tuple[str, ...]     # "question=choice" answers one side does not understand (left unanswered there)

    def as_dict(self) -> dict:
        return {"name": self.name, "from": self.source, "to": self.target, "ignored": list(self.ignored)}


@dataclass(frozen=True)
class NeedEdit:
    """One option's stated need on one answer (`unmet` in rules.yaml) that differs between the two files."""

    question: str
    choice: str
    option: str
    old: str | None              # None: the need is new
    new: str | None              # None: the need is gone

    @property
    def change(self) -> str:
        return "added" if self.old is None else "removed" if self.new is None else "reworded"

    def as_dict(self) -> dict:
        return {"question": self.question, "choice": self.choice, "option": self.option, "change": self.change,
                "old": self.old, "new": self.new}


@dataclass(frozen=True)
class DiffReport:
    old_file: str
    new_file: str
    old_fingerprint: str
    new_fingerprint: str
    questions: tuple[str, ...]        # the questions compared (both sides have them)
    space: int                        # combinations of the answers both understand
    exhaustive: bool
    evaluated: int
    seed: int | None
    seconds: float
    changed: Share
    matrix: tuple[Flip, ...]          # every (old winner, new winner) pair that occurs, unchanged ones included
    scenarios: tuple[ScenarioChange, ...]
    scenarios_compared: int
    only_old: dict[str, tuple[str, ...]] = field(default_factory=dict)   # "questions", "choices", "options"
    only_new: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Each over its own file's whole answer space (or a sample of it), not only the answers both understand.
    old_monotonicity: MonotonicityReport | None = None
    new_monotonicity: MonotonicityReport | None = None
    old_unmet_needs: Share | None = None
    new_unmet_needs: Share | None = None
    needs_edited: tuple[NeedEdit, ...] = ()   # stated needs added, removed or reworded, in questionnaire order

    def monotonicity_change(self) -> dict | None:
        """Violations old → new, and the kinds of violation that appear or disappear."""
        if self.old_monotonicity is None or self.new_monotonicity is None:
            return None
        old, new = self.old_monotonicity.by_kind(), self.new_monotonicity.by_kind()
        return {"old": self.old_monotonicity.count, "new": self.new_monotonicity.count,
                "old_mode": "exhaustive" if self.old_monotonicity.exhaustive else "sample",
                "new_mode": "exhaustive" if self.new_monotonicity.exhaustive else "sample",
                "appeared": [kind for key, kind in new.items() if key not in old],
                "disappeared": [kind for key, kind in old.items() if key not in new]}

    @property
    def flips(self) -> tuple[Flip, ...]:
        return tuple(f for f in self.matrix if f.source != f.target)

    def as_dict(self) -> dict:
        return {
            "old": {"file": self.old_file, "fingerprint": self.old_fingerprint},
            "new": {"file": self.new_file, "fingerprint": self.new_fingerprint},
            "questions": list(self.questions), "space": self.space,
            "mode": "exhaustive" if self.exhaustive else "sample",
            "evaluated": self.evaluated, "seed": self.seed, "seconds": self.seconds,
            "changed": self.changed.as_dict(),
            "matrix": [f.as_dict() for f in self.matrix],
            "scenarios_compared": self.scenarios_compared,
            "scenarios": [s.as_dict() for s in self.scenarios],
            "only_old": {k: list(v) for k, v in self.only_old.items()},
            "only_new": {k: list(v) for k, v in self.only_new.items()},
            "monotonicity": _monotonicity_change_dict(self.monotonicity_change()),
            "unmet_needs": {"old": self.old_unmet_needs.as_dict(), "new": self.new_unmet_needs.as_dict()}
            if self.old_unmet_needs and self.new_unmet_needs else None,
            "needs_edited": [edit.as_dict() for edit in self.needs_edited],
        }


def _monotonicity_change_dict(change: dict | None) -> dict | None:
    if change is None:
        return None
    return {**change, "appeared": [k.as_dict() for k in change["appeared"]],
            "disappeared": [k.as_dict() for k in change["disappeared"]]}


# --- compilation ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Axis:
    """One question of the analysed space: state 0 is unanswered, state i its i-th listed choice."""

    question: str
    choices: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.choices) + 1


def _axes_of(ruleset: RuleSet) -> tuple[_Axis, ...]:
    return tuple(_Axis(q.id, tuple(c.id for c in q.choices)) for q in ruleset.questions)


@dataclass(frozen=True)
class _Term:
    """One rule over the analysed axes: where it fires, and what it adds."""

    id: str
    criterion: int
    axes: tuple[int, ...]        # analysed axes it reads, ascending
    fires: np.ndarray            # bool, one axis per entry of `axes`
    points: tuple[int, ...]      # per option, in units
    excludes: tuple[int, ...]


@dataclass(frozen=True)
class _Factor:
    """The summed points (and exclusion counts) of rules reading questions within `axes`, over those axes."""

    axes: tuple[int, ...]
    points: np.ndarray           # (K, *sizes of axes)
    excludes: np.ndarray | None  # (K, *sizes of axes) counts, or None when no rule here excludes anything
    full_points: np.ndarray      # the same, reshaped to one axis per analysed axis (size 1 where not read)
    full_excludes: np.ndarray | None


@dataclass(frozen=True)
class _Model:
    ruleset: RuleSet
    axes: tuple[_Axis, ...]
    dims: tuple[int, ...]
    k: int                       # options
    unit: int                    # MICRO per unit
    close: int                   # the close threshold, in units
    big: int                     # subtracted from an excluded option's total: more than any score difference
    dtype: type
    terms: tuple[_Term, ...]
    factors: tuple[_Factor, ...]
    excludable: tuple[int, ...]  # options some rule can exclude: their exclusion counts are kept
    count_type: type             # holds any option's exclusion count
    order: tuple[int, ...]       # per axis, its position in questionnaire order (axes may be reordered for speed)

    def from_questionnaire_order(self, state: Sequence[int]) -> tuple[int, ...]:
        return tuple(int(state[q]) for q in self.order)


def _compile(ruleset: RuleSet, axes: Sequence[_Axis], order: Sequence[int] | None = None) -> _Model:
    """Project the rules onto `axes` (questions matched by id, choices by id; others stay unanswered).

    `order[i]` is the questionnaire position of axes[i] (default: axes are in questionnaire order).
    """
    k = len(ruleset.options)
    if k > 255:
        raise ValueError("explore handles at most 255 options")
    dims = tuple(axis.size for axis in axes)
    where: dict[int, tuple[int, np.ndarray]] = {}
    for t, axis in enumerate(axes):
        q = ruleset.question_index[axis.question]
        choices = ruleset.choice_index[q]
        where[q] = (t, np.array([0] + [choices[c] for c in axis.choices], dtype=np.intp))
    unit = 0
    for rule in ruleset.rules:
        for points in rule.points:
            unit = math.gcd(unit, points)
    unit = math.gcd(unit, ruleset.close_micro) or 1
    terms = []
    for rule in ruleset.rules:
        counts = [len(ruleset.questions[q].choices) + 1 for q in rule.questions]
        table = np.frombuffer(rule.table, dtype=np.uint8).reshape(counts).astype(bool)
        targets = []
        for i, q in enumerate(rule.questions):
            t, statemap = where.get(q, (-1, np.zeros(1, dtype=np.intp)))
            table = np.take(table, statemap, axis=i)
            if t >= 0:
                targets.append(t)
        table = table.reshape([table.shape[i] for i, q in enumerate(rule.questions) if q in where])
        table = np.ascontiguousarray(table.transpose(sorted(range(len(targets)), key=targets.__getitem__)))
        terms.append(_Term(rule.rule.id, rule.criterion, tuple(sorted(targets)), table,
                           tuple(p // unit for p in rule.points), rule.excludes))
    live = [t for t in terms if t.fires.any() and (any(t.points) or t.excludes)]
    bound = max(sum(abs(t.points[o]) for t in live) for o in range(k))
    close = ruleset.close_micro // unit
    big = 4 * bound + close + 1
    # The smallest integer type that holds every total, penalty and margin: int16 for the shipped rules.
    dtype = next(t for t in (np.int16, np.int32, np.int64) if 2 * bound + big < np.iinfo(t).max)
    excludable = tuple(sorted({o for t in live for o in t.excludes}))
    most = max((sum(o in t.excludes for t in live) for o in excludable), default=0)
    count_type = np.uint8 if most < 255 else np.uint16
    return _Model(ruleset, tuple(axes), dims, k, unit, close, big, dtype, tuple(terms),
                  _factors(live, dims, k, dtype, count_type), excludable, count_type,
                  tuple(order) if order is not None else tuple(range(len(axes))))


def _for_grid(model: _Model, like: _Model | None = None) -> _Model:
    """The model with its axes reordered so that each factor's axes are adjacent (or in `like`'s order).

    numpy then coalesces a factor's broadcast axes into a few long strided loops: several times faster than
    broadcasting over a dozen short axes. `order` keeps the questionnaire order for everything users see.
    """
    if like is not None:
        position = list(like.order)
    else:
        def key(a: int) -> tuple[int, int, int]:
            holders = [f for f, factor in enumerate(model.factors) if a in factor.axes]
            return (min(holders), max(holders), a) if holders else (-1, -1, a)
        position = [model.order[a] for a in sorted(range(len(model.axes)), key=key)]
    if tuple(position) == model.order:
        return model
    by_question = {model.order[i]: axis for i, axis in enumerate(model.axes)}
    return _compile(model.ruleset, [by_question[q] for q in position], position)


def _expand(table: np.ndarray, axes: tuple[int, ...], into: tuple[int, ...], dims: Sequence[int]) -> np.ndarray:
    """View a table over `axes` as one over `into` (a superset, both ascending), size 1 on the axes it lacks."""
    return table.reshape([dims[a] if a in axes else 1 for a in into])


def _factors(terms: list[_Term], dims: tuple[int, ...], k: int, dtype: type,
             count_type: type) -> tuple[_Factor, ...]:
    groups: dict[tuple[int, ...], list[_Term]] = {}
    for term in terms:
        groups.setdefault(term.axes, []).append(term)
    merged: list[tuple[set[int], list[_Term]]] = []
    for axes in sorted(groups, key=lambda a: -math.prod(dims[x] for x in a)):
        best, best_size = None, 0
        for entry in merged:
            size = math.prod(dims[x] for x in entry[0] | set(axes))
            if size <= FACTOR_LIMIT and (best is None or size < best_size):
                best, best_size = entry, size
        if best is None:
            merged.append((set(axes), list(groups[axes])))
        else:
            best[0].update(axes)
            best[1].extend(groups[axes])
    factors = []
    everything = tuple(range(len(dims)))
    for axis_set, members in merged:
        axes = tuple(sorted(axis_set))
        shape = (k, *(dims[a] for a in axes))
        points = np.zeros(shape, dtype=np.int64)
        excludes = np.zeros(shape, dtype=np.int64) if any(t.excludes for t in members) else None
        for term in members:
            fires = _expand(term.fires, term.axes, axes, dims)
            for o, p in enumerate(term.points):
                if p:
                    points[o] += fires * p
            for o in term.excludes:
                assert excludes is not None
                excludes[o] += fires
        points = points.astype(dtype)
        full_shape = (k, *(dims[a] if a in axis_set else 1 for a in everything))
        if excludes is not None:
            excludes = excludes.astype(count_type)
        factors.append(_Factor(axes, points, excludes, points.reshape(full_shape),
                               excludes.reshape(full_shape) if excludes is not None else None))
    return tuple(factors)


# --- evaluation ----------------------------------------------------------------------------------------------


def _top2(values: list[np.ndarray], k: int, big: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Winner, runner-up and margin per state, as `engine.rank` orders them (earlier option wins ties)."""
    shape = values[0].shape
    if k == 1:
        zero = np.zeros(shape, dtype=np.uint8)
        return zero, zero.copy(), np.full(shape, big, dtype=values[0].dtype)
    v0, v1 = values[0], values[1]
    w = (v1 > v0).view(np.uint8).copy()
    r = 1 - w
    best = np.maximum(v0, v1)
    second = np.minimum(v0, v1)
    for o in range(2, k):
        vo = values[o]
        above_best = vo > best
        above_second = vo > second
        np.copyto(second, vo, where=above_second)
        np.copyto(r, o, where=above_second)
        np.copyto(second, best, where=above_best)
        np.copyto(r, w, where=above_best)
        np.copyto(w, o, where=above_best)
        np.maximum(best, vo, out=best)
    np.subtract(best, second, out=best)
    return w, r, best


def _winner(values: list[np.ndarray]) -> np.ndarray:
    best = values[0].copy()
    w = np.zeros(best.shape, dtype=np.uint8)
    for o in range(1, len(values)):
        above = values[o] > best
        np.copyto(w, o, where=above)
        np.maximum(best, values[o], out=best)
    return w


def _closeness(margin: np.ndarray, close: int) -> np.ndarray:
    """TIE where the margin is 0, CLOSE below the threshold, else CLEAR (an excluded runner-up is far away)."""
    cls = (margin < close).view(np.uint8).copy()
    np.copyto(cls, TIE, where=margin == 0)
    return cls


def _fill(out: np.ndarray, tables: list[np.ndarray], index: tuple[int, ...]) -> None:
    """out = the sum of full-rank `tables` at the leading `index`, broadcast over the trailing axes."""
    if not tables:
        out.fill(0)
        return
    for n, table in enumerate(tables):
        part = table[tuple(i if table.shape[a] > 1 else 0 for a, i in enumerate(index))]
        if n == 0:
            np.copyto(out, part)
        else:
            np.add(out, part, out=out)


@dataclass
class _Grid:
    """Every state of the space, one array axis per question in the model's axis order (see `_Model.order`)."""

    model: _Model
    winner: np.ndarray
    runner_up: np.ndarray | None = None
    values: np.ndarray | None = None      # (K, *dims): total, minus `big` when excluded
    excluded: np.ndarray | None = None    # (len(excludable), *dims) exclusion counts
    closeness: np.ndarray | None = None
    close_by_answer: list[np.ndarray] | None = None   # per axis, per state: ties and close calls


def _counts(values: np.ndarray, n: int) -> np.ndarray:
    """np.bincount(values, minlength=n) without an index-sized temporary array."""
    flat = values.reshape(-1)
    if n <= 32:
        return np.array([np.count_nonzero(flat == c) for c in range(n)], dtype=np.int64)
    total = np.zeros(n, dtype=np.int64)
    for start in range(0, len(flat), 16 * CHUNK):
        total += np.bincount(flat[start:start + 16 * CHUNK], minlength=n)
    return total


def _evaluate_grid(model: _Model, full: bool = True, relabel: np.ndarray | None = None) -> _Grid:
    """Evaluate every state. `full=False` keeps only the winners, mapped through `relabel` (for `diff`)."""
    dims, k = model.dims, model.k
    lead, trail = 0, math.prod(dims)
    while lead < len(dims) and trail > CHUNK:
        trail //= dims[lead]
        lead += 1
    shape = dims[lead:]
    grid = _Grid(model, np.empty(dims, dtype=relabel.dtype if relabel is not None else np.uint8))
    excl_type = model.count_type
    if full:
        grid.runner_up = np.empty(dims, dtype=np.uint8)
        grid.values = np.empty((k, *dims), dtype=model.dtype)
        grid.excluded = np.empty((len(model.excludable), *dims), dtype=excl_type)
        grid.closeness = np.empty(dims, dtype=np.uint8)
        grid.close_by_answer = [np.zeros(d, dtype=np.int64) for d in dims]
    else:
        value_buffers = [np.empty(shape, dtype=model.dtype) for _ in range(k)]
        excl_buffers = [np.empty(shape, dtype=excl_type) for _ in model.excludable]
    point_tables = [[f.full_points[o] for f in model.factors if f.points[o].any()] for o in range(k)]
    excl_tables = [[f.full_excludes[o] for f in model.factors
                    if f.full_excludes is not None and f.excludes is not None and f.excludes[o].any()]
                   for o in model.excludable]
    for index in np.ndindex(*dims[:lead]):
        values = []
        for o in range(k):
            out = grid.values[(o, *index)] if grid.values is not None else value_buffers[o]
            _fill(out, point_tables[o], index)
            values.append(out)
        for j, o in enumerate(model.excludable):
            counts = grid.excluded[(j, *index)] if grid.excluded is not None else excl_buffers[j]
            _fill(counts, excl_tables[j], index)
            np.subtract(values[o], model.big, out=values[o], where=counts > 0)
        w, r, margin = _top2(values, k, model.big)
        grid.winner[index] = relabel[w] if relabel is not None else w
        if full:
            assert grid.runner_up is not None
            assert grid.closeness is not None
            assert grid.close_by_answer is not None
            grid.runner_up[index] = r
            cls = _closeness(margin, model.close)
            grid.closeness[index] = cls
            _count_close(cls > 0, index, dims, lead, grid.close_by_answer)
    return grid


def _count_close(close: np.ndarray, index: tuple[int, ...], dims: tuple[int, ...], lead: int,
                 counts: list[np.ndarray]) -> None:
    """Add a chunk's ties and close calls to the per-answer counts (every axis, every state)."""
    total = int(np.count_nonzero(close))
    if not total:
        return
    for a, i in enumerate(index):
        counts[a][i] += total
    flat = close.view(np.uint8)
    for a in range(lead, len(dims)):
        view = flat.reshape(math.prod(dims[lead:a]), dims[a], -1)
        for s in range(dims[a]):
            counts[a][s] += np.count_nonzero(view[:, s, :])


@dataclass
class _Sample:
    """Explicit states (one row each) and their evaluation."""

    model: _Model
    states: np.ndarray                 # (n, T) state per axis
    winner: np.ndarray
    runner_up: np.ndarray
    margin: np.ndarray
    values: np.ndarray                 # (K, n)
    excluded: np.ndarray               # (len(excludable), n)


def _evaluate_states(model: _Model, states: np.ndarray) -> _Sample:
    n = len(states)
    k = model.k
    values = np.zeros((k, n), dtype=model.dtype)
    excluded = np.zeros((len(model.excludable), n), dtype=np.int64)
    for factor in model.factors:
        if factor.axes:
            flat = np.ravel_multi_index(tuple(states[:, a] for a in factor.axes), factor.points.shape[1:])
        else:
            flat = np.zeros(n, dtype=np.intp)
        for o in range(k):
            table = factor.points[o].ravel()
            if table.any():
                values[o] += table[flat]
        if factor.excludes is not None:
            for j, o in enumerate(model.excludable):
                excluded[j] += factor.excludes[o].ravel()[flat]
    for j, o in enumerate(model.excludable):
        np.subtract(values[o], model.big, out=values[o], where=excluded[j] > 0)
    w, r, margin = _top2(list(values), k, model.big)
    return _Sample(model, states, w, r, margin, values, excluded)


def _draw(rng: np.random.Generator, dims: tuple[int, ...], n: int, answered: bool) -> np.ndarray:
    """n uniform random states (with replacement), one row each, stored by column; all answered if `answered`."""
    low = 1 if answered else 0
    dtype = np.uint8 if max(dims, default=1) <= 256 else np.int32
    states = np.zeros((n, len(dims)), dtype=dtype, order="F")
    for a, d in enumerate(dims):
        if d > low:
            states[:, a] = rng.integers(low, d, size=n, dtype=dtype)
    return states


# --- checks shared by both modes -----------------------------------------------------------------------------


def _removal_changes(model: _Model, term: _Term, values: list[np.ndarray], counts: list[np.ndarray],
                     winner: np.ndarray) -> bool:
    """Would removing `term` change a winner among these states (all of which it fires on)?"""
    new = []
    for o in range(model.k):
        v = values[o]
        p = int(term.points[o])
        if o in term.excludes:
            counts_o = counts[model.excludable.index(o)]
            v = np.where(counts_o == 1, v + (model.big - p), v - p)
        elif p:
            v = v - p
        new.append(v)
    return bool((_winner(new) != winner).any())


def _trivially_dead(term: _Term) -> bool:
    """Adds the same points to every option and excludes nothing: it can never change a ranking."""
    return not term.excludes and len(set(term.points)) == 1


def _lead_table(model: _Model, criterion: int) -> tuple[tuple[int, ...], np.ndarray] | None:
    """Over the axes a row's rules read: for each (winner, runner-up) pair, whether the row favours the winner."""
    terms = [t for t in model.terms if t.criterion == criterion and t.fires.any() and any(t.points)]
    if not terms or model.k == 1:
        return None
    axes = tuple(sorted({a for t in terms for a in t.axes}))
    shape = [model.dims[a] for a in axes]
    rows = np.zeros((model.k, *shape), dtype=np.int64)
    for term in terms:
        fires = _expand(term.fires, term.axes, axes, model.dims)
        for o, p in enumerate(term.points):
            if p:
                rows[o] += fires * p
    lead = rows[:, None] - rows[None, :]                     # (winner, runner-up, *axes)
    positive = np.moveaxis(lead > 0, (0, 1), (-2, -1)).reshape(*shape, model.k * model.k)
    return axes, positive


class _GridChecks:
    """Checks over every state, reading views of the grid so that a rule's slice is never copied whole."""

    def __init__(self, grid: _Grid):
        self.grid = grid
        self.dims = grid.model.dims
        self._pairs: np.ndarray | None = None

    def _blocks(self, fixed: dict[int, int]) -> Iterator[tuple]:
        """Index tuples covering the states with `fixed` axis values, each at most CHUNK states (as views)."""
        free = [a for a in range(len(self.dims)) if a not in fixed]
        split: list[int] = []
        while math.prod(self.dims[a] for a in free) > CHUNK:
            split.append(free.pop(0))
        for values in itertools.product(*(range(self.dims[a]) for a in split)):
            at = {**fixed, **dict(zip(split, values))}
            yield tuple(slice(at[a], at[a] + 1) if a in at else slice(None) for a in range(len(self.dims)))

    def removal_changes(self, term: _Term, deadline: float) -> bool | None:
        grid = self.grid
        assert grid.values is not None
        assert grid.excluded is not None
        for key in np.argwhere(term.fires):
            for block in self._blocks(dict(zip(term.axes, (int(s) for s in key)))):
                if time.perf_counter() > deadline:
                    return None
                values = [grid.values[(o, *block)] for o in range(grid.model.k)]
                counts = [grid.excluded[(j, *block)] for j in range(len(grid.model.excludable))]
                if _removal_changes(grid.model, term, values, counts, grid.winner[block]):
                    return True
        return False

    def pairs(self) -> np.ndarray:
        if self._pairs is None:
            assert self.grid.runner_up is not None
            k = self.grid.model.k
            pairs = self.grid.winner.astype(np.uint8 if k * k <= 256 else np.uint16)
            pairs *= k
            pairs += self.grid.runner_up
            self._pairs = pairs
        return self._pairs

    def drives(self, axes: tuple[int, ...], positive: np.ndarray, deadline: float) -> bool | None:
        pairs = self.pairs()
        for key in np.argwhere(positive.any(axis=-1)):
            key_t = tuple(int(s) for s in key)
            wanted = np.flatnonzero(positive[key_t])
            for block in self._blocks(dict(zip(axes, key_t))):
                if time.perf_counter() > deadline:
                    return None
                part = pairs[block]
                if any((part == p).any() for p in wanted):
                    return True
        return False


class _SampleChecks:
    """The same checks over sampled states, a chunk at a time so that they can stop early."""

    def __init__(self, *samples: _Sample):
        self.samples = samples

    def _chunks(self) -> Iterator[tuple[_Sample, slice]]:
        for sample in self.samples:
            for start in range(0, len(sample.states), CHUNK):
                yield sample, slice(start, start + CHUNK)

    def removal_changes(self, term: _Term, deadline: float) -> bool | None:
        for s, rows in self._chunks():
            if time.perf_counter() > deadline:
                return None
            states = s.states[rows]
            mask = term.fires[tuple(states[:, a] for a in term.axes)] if term.axes else np.full(
                len(states), bool(term.fires))
            if mask.any() and _removal_changes(s.model, term, [v[rows][mask] for v in s.values],
                                               [c[rows][mask] for c in s.excluded], s.winner[rows][mask]):
                return True
        return False

    def drives(self, axes: tuple[int, ...], positive: np.ndarray, deadline: float) -> bool | None:
        for s, rows in self._chunks():
            if time.perf_counter() > deadline:
                return None
            pairs = s.winner[rows].astype(np.intp) * s.model.k + s.runner_up[rows]
            if positive[(*(s.states[rows, a] for a in axes), pairs)].any():
                return True
        return False


def _run_checks(model: _Model, checks: _GridChecks | _SampleChecks, seconds: float):
    """Dead-weight rules and idle rows, each check stopping at its first counter-example, within `seconds`."""
    deadline = time.perf_counter() + seconds
    dead, dead_unchecked = [], []
    for term in model.terms:
        if not term.fires.any():
            continue
        if _trivially_dead(term):
            dead.append(term.id)
            continue
        changes = checks.removal_changes(term, deadline)
        if changes is None:
            dead_unchecked.append(term.id)
        elif not changes:
            dead.append(term.id)
    idle, idle_unchecked = [], []
    for c, criterion in enumerate(model.ruleset.criteria):
        table = _lead_table(model, c)
        if table is None:
            idle.append(criterion.id)
            continue
        drives = checks.drives(*table, deadline)
        if drives is None:
            idle_unchecked.append(criterion.id)
        elif not drives:
            idle.append(criterion.id)
    return tuple(dead), tuple(dead_unchecked), tuple(idle), tuple(idle_unchecked)


def _example(model: _Model, state: Sequence[int], with_rules: bool = True) -> Example:
    answers = {axis.question: axis.choices[s - 1] for axis, s in zip(model.axes, state) if s}
    return Example(answers, canonical_query(model.ruleset, answers, with_rules=with_rules),
                   sum(1 for s in state if not s))


def _grid_first(model: _Model, codes: np.ndarray, wanted: dict[int, int]) -> dict[int, list[tuple]]:
    """For each code, up to wanted[code] states with it: fewest unanswered first, then questionnaire order."""
    found: dict[int, list[tuple]] = {c: [] for c in wanted}
    if not wanted:
        return found
    codes = codes.transpose(np.argsort(model.order))     # a view in questionnaire order
    dims = codes.shape
    inner = tuple(d - 1 for d in dims)
    if all(d > 1 for d in dims):
        flat = codes[(slice(1, None),) * len(dims)].ravel()
        for c, need in wanted.items():
            for i in np.flatnonzero(flat == c)[:need]:
                found[c].append(tuple(int(s) + 1 for s in np.unravel_index(i, inner)))
    missing = [c for c, need in wanted.items() if len(found[c]) < need]
    if missing:
        unanswered = np.zeros(dims, dtype=np.uint8)
        for a, d in enumerate(dims):
            unanswered += (np.arange(d) == 0).reshape([d if b == a else 1 for b in range(len(dims))])
        flat_codes = codes.ravel()          # a copy, in questionnaire order
        flat_unanswered = unanswered.ravel()
        for u in range(1, len(dims) + 1):
            missing = [c for c in missing if len(found[c]) < wanted[c]]
            if not missing:
                break
            level = np.flatnonzero(flat_unanswered == u)
            level_codes = flat_codes[level]
            for c in missing:
                for i in level[level_codes == c][:wanted[c] - len(found[c])]:
                    found[c].append(tuple(int(s) for s in np.unravel_index(i, dims)))
    return {c: [model.from_questionnaire_order(state) for state in states] for c, states in found.items()}


def _first_rows(states: np.ndarray, rows: np.ndarray, key: np.ndarray, need: int) -> list[tuple]:
    """Up to `need` distinct states among `rows`, smallest `key` first, then in questionnaire (C) order."""
    found: list[tuple] = []
    if need <= 0 or not len(rows):
        return found
    keys = key[rows]
    for value in np.unique(keys):
        same = rows[keys == value]
        for i in same[np.lexsort(tuple(states[same, a] for a in reversed(range(states.shape[1]))))]:
            state = tuple(int(x) for x in states[i])
            if not found or found[-1] != state:
                found.append(state)
                if len(found) == need:
                    return found
    return found


def _sample_first(states: np.ndarray, codes: np.ndarray, wanted: dict[int, int]) -> dict[int, list[tuple]]:
    """Like _grid_first, among sampled states (the sample's model keeps questionnaire order)."""
    unanswered = (states == 0).sum(axis=1)
    return {c: _first_rows(states, np.flatnonzero(codes == c), unanswered, need) for c, need in wanted.items()}


# --- explore -------------------------------------------------------------------------------------------------


@dataclass
class _Findings:
    """Raw counts behind an ExploreReport, from either the whole grid or a sample."""

    evaluated: int
    full_evaluated: int
    wins: np.ndarray
    full_wins: np.ndarray
    classes: list[int]                  # tie, close, clear
    pair_counts: np.ndarray             # ties and close calls per winner * K + runner-up
    per_answer: list[np.ndarray]        # per axis, per state: ties and close calls
    answer_totals: list[np.ndarray]     # per axis, per state: states evaluated
    closest: list[tuple[tuple[int, ...], int, int, int]]   # state, winner, runner-up, margin
    full_close: int
    first: dict[int, list[tuple]]       # per option, the typical state it wins
    checks: _GridChecks | _SampleChecks


def _grid_findings(model: _Model) -> _Findings:
    grid = _evaluate_grid(model)
    assert grid.closeness is not None
    assert grid.runner_up is not None
    assert grid.values is not None
    assert grid.close_by_answer is not None
    dims, k = model.dims, model.k
    space = math.prod(dims)
    wins = _counts(grid.winner, k)
    inner = (slice(1, None),) * len(dims)
    full_winner = grid.winner[inner].ravel()
    full_runner_up = grid.runner_up[inner].ravel()
    cls = grid.closeness
    classes = [int(np.count_nonzero(cls == TIE)), int(np.count_nonzero(cls == CLOSE))]
    classes.append(space - sum(classes))
    close_states = np.flatnonzero(cls.ravel())
    pair_counts = np.bincount(grid.winner.ravel()[close_states].astype(np.intp) * k
                              + grid.runner_up.ravel()[close_states], minlength=k * k)
    # Closest calls: fully answered ties and close calls, smallest lead first, then questionnaire order.
    candidates = np.flatnonzero(cls[inner].ravel())
    values = grid.values[(slice(None), *inner)].reshape(k, -1)[:, candidates]
    winners, runners_up = full_winner[candidates], full_runner_up[candidates]
    margins = (np.take_along_axis(values, winners[None].astype(np.intp), 0)[0]
               - np.take_along_axis(values, runners_up[None].astype(np.intp), 0)[0])
    states = np.stack(np.unravel_index(candidates, [d - 1 for d in dims]), axis=1) + 1
    questionnaire = states[:, np.argsort(model.order)]
    rank = np.ravel_multi_index(tuple(questionnaire.T), [dims[i] for i in np.argsort(model.order)]) \
        if len(candidates) else candidates
    order = np.lexsort((rank, margins))[:TOP]
    closest = [(tuple(int(x) for x in states[i]), int(winners[i]), int(runners_up[i]), int(margins[i]))
               for i in order]
    return _Findings(
        evaluated=space, full_evaluated=len(full_winner), wins=wins,
        full_wins=_counts(full_winner, k), classes=classes, pair_counts=pair_counts,
        per_answer=grid.close_by_answer, answer_totals=[np.full(d, space // d, dtype=np.int64) for d in dims],
        closest=closest, full_close=len(candidates),
        first=_grid_first(model, grid.winner, {o: 1 for o in range(k) if wins[o]}), checks=_GridChecks(grid))


def _sample_findings(model: _Model, sample: int, seed: int) -> _Findings:
    dims, k = model.dims, model.k
    rng = np.random.default_rng(seed)
    whole = _evaluate_states(model, _draw(rng, dims, sample, answered=False))
    full = _evaluate_states(model, _draw(rng, dims, max(1, sample // 4), answered=True))
    cls = _closeness(whole.margin, model.close)
    classes = [int(np.count_nonzero(cls == TIE)), int(np.count_nonzero(cls == CLOSE))]
    classes.append(sample - sum(classes))
    close = cls > 0
    full_cls = _closeness(full.margin, model.close)
    closest = _first_rows(full.states, np.flatnonzero(full_cls), full.margin.astype(np.int64), TOP)
    rows = [int(np.flatnonzero((full.states == state).all(axis=1))[0]) for state in closest]
    states = np.concatenate([whole.states, full.states])
    winners = np.concatenate([whole.winner, full.winner])
    return _Findings(
        evaluated=sample, full_evaluated=len(full.states), wins=np.bincount(whole.winner, minlength=k),
        full_wins=np.bincount(full.winner, minlength=k), classes=classes,
        pair_counts=np.bincount(whole.winner[close].astype(np.intp) * k + whole.runner_up[close], minlength=k * k),
        per_answer=[np.bincount(whole.states[close, a], minlength=d) for a, d in enumerate(dims)],
        answer_totals=[np.bincount(whole.states[:, a], minlength=d) for a, d in enumerate(dims)],
        closest=[(state, int(full.winner[i]), int(full.runner_up[i]), int(full.margin[i]))
                 for state, i in zip(closest, rows)],
        full_close=int(np.count_nonzero(full_cls)),
        first=_sample_first(states, winners, {o: 1 for o in range(k) if np.any(winners == o)}),
        checks=_SampleChecks(whole, full))


def explore(ruleset: RuleSet, *, budget: int = DEFAULT_BUDGET, sample: int = DEFAULT_SAMPLE,
            seed: int = DEFAULT_SEED, check_seconds: float = DEFAULT_CHECK_SECONDS) -> ExploreReport:
    """Evaluate every combination of answers (or a uniform sample when there are more than `budget`)."""
    start = time.perf_counter()
    model = _compile(ruleset, _axes_of(ruleset))
    space = math.prod(model.dims)
    exhaustive = space <= budget
    if exhaustive:
        model = _for_grid(model)
        found = _grid_findings(model)
    else:
        found = _sample_findings(model, sample, seed)
    seconds = time.perf_counter() - start
    from .monotonicity import space_checks  # here: monotonicity builds on this module
    if isinstance(found.checks, _GridChecks):
        ordering, unmet = space_checks(ruleset, grid=(model, found.checks.grid.winner))
    else:
        ordering, unmet = space_checks(ruleset, budget=budget, sample=sample, seed=seed)
    dead, dead_unchecked, idle, idle_unchecked = _run_checks(model, found.checks, check_seconds)
    k, options, sampled = model.k, ruleset.options, not exhaustive
    pairs = []
    for a in range(k):
        for b in range(a + 1, k):
            count = int(found.pair_counts[a * k + b] + found.pair_counts[b * k + a])
            if count:
                pairs.append(Share(f"{options[a].id}/{options[b].id}", f"{options[a].label} / {options[b].label}",
                                   count, found.evaluated, sampled))
    pairs.sort(key=lambda share: -share.count)
    answers = []
    for a in np.argsort(model.order):
        axis = model.axes[a]
        for s, choice in enumerate(axis.choices, start=1):
            if found.answer_totals[a][s]:
                answers.append(Share(f"{axis.question}={choice}", "", int(found.per_answer[a][s]),
                                     int(found.answer_totals[a][s]), sampled))
    answers.sort(key=lambda share: -share.share)
    close = ruleset.model.closeness.close
    return ExploreReport(
        file=ruleset.file, fingerprint=ruleset.fingerprint, options=k, questions=len(model.dims),
        rules=len(ruleset.rules), space=space, full_space=math.prod(d - 1 for d in model.dims),
        exhaustive=exhaustive, evaluated=found.evaluated, full_evaluated=found.full_evaluated,
        seed=None if exhaustive else seed, seconds=seconds, check_seconds=time.perf_counter() - start - seconds,
        close_points=close,
        shares=tuple(Share(o.id, o.label, int(found.wins[i]), found.evaluated, sampled)
                     for i, o in enumerate(options)),
        full_shares=tuple(Share(o.id, o.label, int(found.full_wins[i]), found.full_evaluated, sampled)
                          for i, o in enumerate(options)),
        closeness=tuple(Share(name, label, count, found.evaluated, sampled) for name, label, count in
                        zip(("tie", "close", "clear"), ("tie", f"close (lead below {close:g})", "clear"),
                            found.classes)),
        close_pairs=tuple(pairs), close_answers=tuple(answers[:TOP]),
        never_fire=tuple(t.id for t in model.terms if not t.fires.any()),
        dead_weight=dead, dead_weight_unchecked=dead_unchecked, idle_rows=idle, idle_rows_unchecked=idle_unchecked,
        never_win=tuple(o.id for i, o in enumerate(options) if not found.wins[i] and not found.full_wins[i]),
        closest=tuple(CloseCall(_example(model, state), options[w].id, options[r].id, margin * model.unit / MICRO,
                                "tie" if margin == 0 else "close")
                      for state, w, r, margin in found.closest),
        full_close=found.full_close,
        typical=tuple((o.id, _example(model, found.first[i][0]) if found.first.get(i) else None)
                      for i, o in enumerate(options)),
        monotonicity=ordering, unmet_needs=unmet)


# --- diff ----------------------------------------------------------------------------------------------------


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


def diff(old: RuleSet, new: RuleSet, *, budget: int = DEFAULT_BUDGET, sample: int = DEFAULT_SAMPLE,
         seed: int = DEFAULT_SEED) -> DiffReport:
    """Compare the recommendations of two rule sets over every combination of the answers both understand."""
    start = time.perf_counter()
    old_questions = {q.id: {c.id for c in q.choices} for q in old.questions}
    axes = tuple(_Axis(q.id, tuple(c.id for c in q.choices if c.id in old_questions[q.id]))
                 for q in new.questions if q.id in old_questions)
    old_model, new_model = _compile(old, axes), _compile(new, axes)
    space = math.prod(new_model.dims)
    exhaustive = space <= budget
    if exhaustive:
        new_model = _for_grid(new_model)
        old_model = _for_grid(old_model, like=new_model)
    dims = new_model.dims
    ids = [o.id for o in new.options] + [o.id for o in old.options if o.id not in new.option_index]
    n = len(ids)
    old_map = np.array([ids.index(o.id) for o in old.options], dtype=np.intp)
    new_map = np.array([ids.index(o.id) for o in new.options], dtype=np.intp)
    code_type = np.uint8 if n * n < 255 else np.uint16
    # When both sides ask the same questions with the same choices and offer the same options, the compared space
    # is each side's own, and its winner grids serve the monotonicity and unmet-needs checks too.
    same_space = (exhaustive and [o.id for o in old.options] == [o.id for o in new.options]
                  and _axes_of(old) == _axes_of(new) == axes)
    grids: dict[str, tuple[_Model, np.ndarray]] = {}
    if exhaustive:
        old_winner = _evaluate_grid(old_model, full=False, relabel=old_map.astype(code_type)).winner
        new_winner = _evaluate_grid(new_model, full=False, relabel=new_map.astype(code_type)).winner
        if same_space:
            grids = {"old": (old_model, old_winner), "new": (new_model, new_winner)}
            codes = old_winner * np.array(n, dtype=code_type)
        else:
            codes = old_winner
            codes *= n
        codes += new_winner
        evaluated = space
        counts = _counts(codes, n * n)
    else:
        states = _draw(np.random.default_rng(seed), dims, sample, answered=False)
        before = old_map[_evaluate_states(old_model, states).winner]
        after = new_map[_evaluate_states(new_model, states).winner]
        codes = before * n + after
        evaluated = sample
        counts = np.bincount(codes, minlength=n * n)
    sampled = not exhaustive
    flips = {c: EXAMPLES for c in range(n * n) if counts[c] and c // n != c % n}
    examples = _grid_first(new_model, codes, flips) if exhaustive else _sample_first(states, codes, flips)
    seconds = time.perf_counter() - start
    matrix = []
    for c in np.flatnonzero(counts):
        a, b = ids[c // n], ids[c % n]
        matrix.append(Flip(a, b, Share(f"{a}->{b}", "", int(counts[c]), evaluated, sampled),
                           tuple(_example(new_model, state, with_rules=False) for state in examples.get(int(c), []))))
    changed = int(sum(counts[c] for c in flips))
    scenarios, compared = _scenario_changes(old, new)
    only_old, only_new = _only(old, new)
    from .monotonicity import space_checks  # here: monotonicity builds on this module
    old_ordering, old_unmet = space_checks(old, budget=budget, sample=sample, seed=seed, grid=grids.get("old"))
    new_ordering, new_unmet = space_checks(new, budget=budget, sample=sample, seed=seed, grid=grids.get("new"))
    return DiffReport(
        old_file=old.file, new_file=new.file, old_fingerprint=old.fingerprint, new_fingerprint=new.fingerprint,
        questions=tuple(axis.question for axis in axes), space=space, exhaustive=exhaustive, evaluated=evaluated,
        seed=None if exhaustive else seed, seconds=seconds,
        changed=Share("changed", "recommendation changes", changed, evaluated, sampled),
        matrix=tuple(matrix), scenarios=tuple(scenarios), scenarios_compared=compared,
        only_old=only_old, only_new=only_new, old_monotonicity=old_ordering, new_monotonicity=new_ordering,
        old_unmet_needs=old_unmet, new_unmet_needs=new_unmet, needs_edited=_needs_edited(old, new))


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


# --- text ----------------------------------------------------------------------------------------------------


def _percent(share: Share) -> str:
    text = f"{100 * share.share:6.2f} %"
    if share.sampled:
        low, high = wilson(share.count, share.total)
        text += f" [{100 * low:.2f}–{100 * high:.2f}]"
    return text


def _names(items: Sequence[str]) -> str:
    return ", ".join(items) if items else "none"


def explore_text(report: ExploreReport) -> str:
    """The explore report as the CLI prints it."""
    out = [f"{report.file} (fingerprint {report.fingerprint}): {report.options} options, "
           f"{report.questions} questions, {report.rules} rules",
           f"Answer space: {report.space:,} combinations (each question one of its choices or unanswered), "
           f"{report.full_space:,} of them fully answered."]
    if report.exhaustive:
        out.append(f"Evaluated every combination in {report.seconds:.2f} s ({report.rate / 1e6:.1f} million/s); "
                   f"checks took {report.check_seconds:.2f} s.")
        where = "combinations"
    else:
        out.append(f"SAMPLED: the space is larger than the budget, so {report.evaluated:,} combinations and "
                   f"{report.full_evaluated:,} fully answered ones were drawn uniformly at random (seed {report.seed}) "
                   f"in {report.seconds:.2f} s; checks took {report.check_seconds:.2f} s.")
        out.append("Every share is an estimate with its 95 % confidence interval (Wilson) in brackets; findings "
                   "below hold for the sampled combinations only.")
        where = "sampled combinations"
    out += ["", "Wins (share of the space / of fully answered questionnaires):"]
    width = max(len(f"{s.label} ({s.id})") for s in report.shares)
    for share, full in zip(report.shares, report.full_shares):
        out.append(f"  {f'{share.label} ({share.id})':<{width}}  {_percent(share)}   {_percent(full)}")
    out += ["", f"Closeness (lead of the winner over the runner-up; close means below {report.close_points:g} points):"]
    out += [f"  {share.label:<28} {_percent(share)}" for share in report.closeness]
    if report.close_pairs:
        out.append("  ties and close calls by pair:")
        out += [f"    {share.id:<26} {_percent(share)}" for share in report.close_pairs]
    out += ["", f"Rules that never fire: {_names(report.never_fire)}",
            f"Dead weight (fires, but removing the rule changes no winner in the {where}): "
            f"{_names(report.dead_weight)}"]
    if report.dead_weight_unchecked:
        out.append(f"  not checked within the time budget: {_names(report.dead_weight_unchecked)}")
    out.append(f"Rows that never drive a result (never give the winner more points than the runner-up "
               f"in the {where}): {_names(report.idle_rows)}")
    if report.idle_rows_unchecked:
        out.append(f"  not checked within the time budget: {_names(report.idle_rows_unchecked)}")
    out.append(f"Options that never win{'' if report.exhaustive else ' in the sample'}: {_names(report.never_win)}")
    if report.monotonicity is not None:
        from .monotonicity import monotonicity_text
        out += ["", monotonicity_text(report.monotonicity)]
    if report.unmet_needs is not None:
        out.append(f"The recommendation leaves a need an answer states unmet in "
                   f"{_percent(report.unmet_needs).strip()} of the {where} ({report.unmet_needs.count:,}).")
    out += ["", f"Answers most often in a tie or close call (share of the {where} with that answer):"]
    out += [f"  {share.id:<28} {_percent(share)}" for share in report.close_answers] or ["  none"]
    out += ["", f"Closest calls (fully answered, ties and close calls, smallest lead first, then questionnaire "
                f"order; {report.full_close:,} such {'questionnaires' if report.exhaustive else 'in the sample'}):"]
    for call in report.closest:
        relation = "tie with" if call.closeness == "tie" else f"by {call.lead:g} over"
        out.append(f"  {call.winner} {relation} {call.runner_up}: {call.example.query}")
    if not report.closest:
        out.append("  none")
    out += ["", "Typical questionnaire each option wins (fewest unanswered, then questionnaire order):"]
    for option, example in report.typical:
        if example is None:
            out.append(f"  {option}: never wins")
        else:
            out.append(f"  {option} ({example.unanswered} unanswered): {example.query}")
    return "\n".join(out)


def _diff_checks_text(report: DiffReport) -> list[str]:
    """Monotonicity violations and unmet needs, old → new, each over its own file's answer space."""
    change = report.monotonicity_change()
    if change is None:
        return []
    from .monotonicity import kind_text

    def count(key: str) -> str:
        return f"{change[key]:,}" + (" (sampled)" if change[f"{key}_mode"] == "sample" else "")
    out = ["", f"Monotonicity violations (a more demanding answer gives a lighter recommendation; each file over "
               f"its own answer space): {count('old')} → {count('new')}"]
    out += [f"  appears:    {kind_text(kind)}" for kind in change["appeared"]]
    out += [f"  disappears: {kind_text(kind)}" for kind in change["disappeared"]]
    if report.old_unmet_needs is not None and report.new_unmet_needs is not None:
        out.append(f"The recommendation leaves a need an answer states unmet in "
                   f"{_percent(report.old_unmet_needs).strip()} → {_percent(report.new_unmet_needs).strip()} "
                   f"of questionnaires.")
    if report.needs_edited:
        out.append(f"Stated needs edited ({len(report.needs_edited)}):")
        out += [f"  {edit.change}: {edit.question}={edit.choice}, {edit.option}: "
                + (f"“{edit.new}”" if edit.old is None else f"“{edit.old}”" if edit.new is None
                   else f"“{edit.old}” → “{edit.new}”") for edit in report.needs_edited]
    return out


def diff_text(report: DiffReport) -> str:
    """The diff report as the CLI prints it."""
    out = [f"{report.old_file} ({report.old_fingerprint}) → {report.new_file} ({report.new_fingerprint})"]
    for label, side, other in (("old", report.only_old, report.new_file), ("new", report.only_new, report.old_file)):
        file = report.old_file if label == "old" else report.new_file
        if side.get("questions"):
            out.append(f"Only in {file}: question(s) {', '.join(side['questions'])} — compared as unanswered "
                       f"(not in {other}).")
        if side.get("choices"):
            out.append(f"Only in {file}: choice(s) {', '.join(side['choices'])} — not compared.")
        if side.get("options"):
            out.append(f"Only in {file}: option(s) {', '.join(side['options'])}.")
    if report.exhaustive:
        out.append(f"Compared every one of {report.space:,} combinations of the answers both understand "
                   f"({len(report.questions)} questions) in {report.seconds:.2f} s.")
    else:
        out.append(f"SAMPLED: {report.evaluated:,} of {report.space:,} combinations of the answers both understand, "
                   f"drawn uniformly at random (seed {report.seed}) in {report.seconds:.2f} s; 95 % confidence "
                   f"intervals (Wilson) in brackets.")
    out.append(f"Recommendation changes in {_percent(report.changed).strip()} of them "
               f"({report.changed.count:,}{' sampled' if not report.exhaustive else ''}).")
    out += ["", "From → to (share of all compared combinations):"]
    for flip in sorted(report.matrix, key=lambda f: (f.source == f.target, -f.share.count)):
        marker = "  " if flip.source == flip.target else "* "
        out.append(f"  {marker}{flip.source + ' → ' + flip.target:<28} {_percent(flip.share)}  ({flip.share.count:,})")
    if report.flips:
        out += ["", "Typical examples of each flip (fewest unanswered, then questionnaire order):"]
        for flip in sorted(report.flips, key=lambda f: -f.share.count):
            out.append(f"  {flip.source} → {flip.target}:")
            out += [f"    {example.query or '(nothing answered)'}" for example in flip.examples]
    out += _diff_checks_text(report)
    out += ["", f"Scenarios whose result changes ({len(report.scenarios)} of {report.scenarios_compared}):"]
    for change in report.scenarios:
        note = f"  (ignored: {', '.join(change.ignored)})" if change.ignored else ""
        out.append(f"  {change.name}: {change.source} → {change.target}{note}")
    if not report.scenarios:
        out.append("  none")
    return "\n".join(out)
