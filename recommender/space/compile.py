"""Rules → a numpy factor model over the analysed axes (one per question; state 0 is unanswered).

A rule reads only a few questions, so the rules are compiled into a few small tables ("factors") over the
questions they read; a state's totals are sums of those tables. Points are counted in integer units (a common
divisor of every rule's MICRO points and of the close threshold), so every sum and tie is exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import DockwiseError
from ..ruleset import CompiledRule, RuleSet

FACTOR_LIMIT = 1 << 16           # rules reading questions whose combinations fit here are summed into one table
RULE_LIMIT = 1 << 16             # the most combinations of the answers to the questions one rule reads
CELLS_LIMIT = 1 << 23            # the most cells of all the summed tables, times the options (a few tens of MB)


class SpaceTooLargeError(DockwiseError):
    """The rules are valid but too large for the whole-space analysis; the message says which and why."""


@dataclass(frozen=True)
class Axis:
    """One question of the analysed space: state 0 is unanswered, state i its i-th listed choice."""

    question: str
    choices: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.choices) + 1


def axes_of(ruleset: RuleSet) -> tuple[Axis, ...]:
    """Every question of the rule set with all its choices, in questionnaire order."""
    return tuple(Axis(q.id, tuple(c.id for c in q.choices)) for q in ruleset.questions)


@dataclass(frozen=True)
class Term:
    """One rule over the analysed axes: where it fires, and what it adds."""

    id: str
    criterion: int
    axes: tuple[int, ...]        # analysed axes it reads, ascending
    fires: np.ndarray            # bool, one axis per entry of `axes`
    points: tuple[int, ...]      # per option, in units
    excludes: tuple[int, ...]


@dataclass(frozen=True)
class Factor:
    """The summed points (and exclusion counts) of rules reading questions within `axes`, over those axes."""

    axes: tuple[int, ...]
    points: np.ndarray           # (K, *sizes of axes)
    excludes: np.ndarray | None  # (K, *sizes of axes) counts, or None when no rule here excludes anything
    full_points: np.ndarray      # the same, reshaped to one axis per analysed axis (size 1 where not read)
    full_excludes: np.ndarray | None


@dataclass(frozen=True)
class Model:
    ruleset: RuleSet
    axes: tuple[Axis, ...]
    dims: tuple[int, ...]
    k: int                       # options
    unit: int                    # MICRO per unit
    close: int                   # the close threshold, in units
    big: int                     # subtracted from an excluded option's total: more than any score difference
    dtype: type
    terms: tuple[Term, ...]
    factors: tuple[Factor, ...]
    excludable: tuple[int, ...]  # options some rule can exclude: their exclusion counts are kept
    count_type: type             # holds any option's exclusion count
    order: tuple[int, ...]       # per axis, its position in questionnaire order (axes may be reordered for speed)


def compile_model(ruleset: RuleSet, axes: Sequence[Axis], order: Sequence[int] | None = None) -> Model:
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
        terms.append(Term(rule.rule.id, rule.criterion, *_fires(rule, where, dims),
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
    return Model(ruleset, tuple(axes), dims, k, unit, close, big, dtype, tuple(terms),
                 _factors(live, dims, k, dtype, count_type), excludable, count_type,
                 tuple(order) if order is not None else tuple(range(len(axes))))


def _fires(rule: CompiledRule, where: dict[int, tuple[int, np.ndarray]],
           dims: tuple[int, ...]) -> tuple[tuple[int, ...], np.ndarray]:
    """The analysed axes a rule reads (ascending) and where it fires over them: the union of its cubes, each the
    outer product of one boolean vector per axis."""
    axes = sorted(where[q][0] for q in rule.questions if q in where)
    cells = math.prod(dims[a] for a in axes)
    if cells > RULE_LIMIT:
        raise SpaceTooLargeError(
            f"rule '{rule.rule.id}' reads {len(axes)} questions ({cells:,} combinations of their answers): the "
            f"whole-space analysis handles rules over at most {RULE_LIMIT:,} combinations; "
            "split it into rules that read fewer questions to analyse these rules")
    position = {a: i for i, a in enumerate(axes)}
    fires = np.zeros([dims[a] for a in axes], dtype=bool)
    for cube in rule.cubes:
        vectors = [np.ones(dims[a], dtype=bool) for a in axes]
        for q, mask in cube:
            if q not in where:  # a question outside the analysed axes stays unanswered: no literal holds there
                break
            t, statemap = where[q]
            vectors[position[t]] = (mask >> statemap & 1).astype(bool)
        else:
            fires |= _outer(vectors)
    return tuple(axes), fires


def _outer(vectors: list[np.ndarray]) -> np.ndarray:
    """The outer product of boolean vectors: True where every vector is (an empty list is a scalar True)."""
    result = np.ones((), dtype=bool)
    for vector in vectors:
        result = np.multiply.outer(result, vector)
    return result


def for_grid(model: Model, like: Model | None = None) -> Model:
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
    return compile_model(model.ruleset, [by_question[q] for q in position], position)


def expand(table: np.ndarray, axes: tuple[int, ...], into: tuple[int, ...], dims: Sequence[int]) -> np.ndarray:
    """View a table over `axes` as one over `into` (a superset, both ascending), size 1 on the axes it lacks."""
    return table.reshape([dims[a] if a in axes else 1 for a in into])


def _factors(terms: list[Term], dims: tuple[int, ...], k: int, dtype: type,
             count_type: type) -> tuple[Factor, ...]:
    groups: dict[tuple[int, ...], list[Term]] = {}
    for term in terms:
        groups.setdefault(term.axes, []).append(term)
    merged: list[tuple[set[int], list[Term]]] = []
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
    cells = k * sum(math.prod(dims[a] for a in axis_set) for axis_set, _ in merged)
    if cells > CELLS_LIMIT:
        raise SpaceTooLargeError(
            f"the rules read {len(merged):,} sets of questions too large to share a table, whose tables would hold "
            f"{cells:,} cells: the whole-space analysis handles at most {CELLS_LIMIT:,}; "
            "rules that read the same few questions share one")
    factors = []
    everything = tuple(range(len(dims)))
    for axis_set, members in merged:
        axes = tuple(sorted(axis_set))
        shape = (k, *(dims[a] for a in axes))
        full_shape = (k, *(dims[a] if a in axis_set else 1 for a in everything))
        points = np.zeros(shape, dtype=np.int64)
        excludes = np.zeros(shape, dtype=np.int64)
        for term in members:
            fires = expand(term.fires, term.axes, axes, dims)
            for o, p in enumerate(term.points):
                if p:
                    points[o] += fires * p
            for o in term.excludes:
                excludes[o] += fires
        points = points.astype(dtype)
        if any(t.excludes for t in members):
            counts = excludes.astype(count_type)
            factors.append(Factor(axes, points, counts, points.reshape(full_shape), counts.reshape(full_shape)))
        else:
            factors.append(Factor(axes, points, None, points.reshape(full_shape), None))
    return tuple(factors)
