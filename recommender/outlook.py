"""What the open questions could still change: each option's share of the ways to answer them, exactly.

Per rules version, the winner of every fully answered questionnaire is computed once, vectorised with numpy from
explore's compiled factors, into one uint8 array with an axis per question (indexed by choice number − 1). For a
partly answered questionnaire, the ways to answer its open questions (each open question given one of its choices,
all equally likely) are the cells of one slice of that array, so each option's share is a count over the slice.

How decisive an open question q is: D(q) = Σ_c P(q=c) · ½ Σ_o |P(o | q=c) − P(o)| over those ways, the average
distance (total variation) between the win shares knowing q's answer and not knowing it.
"""

from __future__ import annotations

import math
import random
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from itertools import combinations, product, repeat
from operator import add, mul, sub
from typing import NamedTuple

import numpy as np

from .conditions import State
from .engine import Result, winner_of
from .ruleset import RuleSet
from .space.compile import Model as _Model
from .space.compile import SpaceTooLargeError
from .space.compile import axes_of as _axes_of
from .space.compile import compile_model as _compile
from .space.kernel import draw as _draw
from .space.kernel import evaluate_states as _evaluate_states
from .space.kernel import top2 as _top2

FULL_LIMIT = 1 << 25   # fully answered questionnaires precomputed at most (32 MiB); beyond, slices on demand
SLICE_LIMIT = 1 << 22  # open slices evaluated exactly at most, when there is no precomputed array; beyond, sampled
SAMPLE = 200_000       # ways drawn (fixed seed) for a slice past SLICE_LIMIT
SAMPLE_SEED = 20240601
ENGINE_SAMPLE = 256    # ways drawn and evaluated one at a time when the rules are too large for the numpy tables
TIGHT = 4096           # slices with cells × open questions up to this take the tight path; larger ones are cached
CACHED = 512           # results of large slices kept per rules version
SHAPES_BYTES = 1 << 23  # the tight path's codes kept per rules version (the shipped rules need about 2.6 MB)
SHAPES = 1 << 14       # sets of open questions remembered per rules version (the shipped rules have 4096)


class Outlook(NamedTuple):  # a NamedTuple: built on every request, and a frozen dataclass costs more to build
    """Over every way to answer the open questions: how many each option wins, and the questions by decisiveness."""

    questions: tuple[int, ...]     # open question indexes, most decisive first, then questionnaire order
    counts: tuple[int, ...]        # per option, the ways it wins
    total: int                     # the ways (the product of the open questions' choice counts)
    decisiveness: tuple[float, ...] = ()   # D per entry of `questions`
    exact: bool = True             # False when the ways were too many and a uniform sample was counted

    @property
    def shares(self) -> tuple[float, ...]:
        return tuple(count / self.total for count in self.counts)


class _Shape(NamedTuple):
    """What a set of open questions needs, kept per set: their choice counts, the ways, and for few ways the codes."""

    dims: tuple[int, ...]
    total: int
    width: int                     # sum(dims) × options: the length of the tight path's counts
    codes: np.ndarray | None       # see _codes; None when the ways are too many for the tight path


_ALL = slice(None)


class WinnerTable:
    """The winners of one rules version's fully answered questionnaires, and the outlooks read from them."""

    def __init__(self, ruleset: RuleSet):
        self.ruleset = ruleset
        self.k = len(ruleset.options)
        self.dims = tuple(len(q.choices) for q in ruleset.questions)
        self._model: _Model | None = None
        # Why the rules are too large for the numpy tables (then every outlook is sampled through the engine).
        self.refused: str | None = None
        self.winners: np.ndarray | None = None
        if math.prod(self.dims) <= FULL_LIMIT and self.model is not None:
            self.winners = _winners(self.model, (0,) * len(self.dims))
        # Per set of open questions; kept until SHAPES_BYTES, so that every request after the first is tight.
        self._shapes: OrderedDict[tuple[int, ...], _Shape] = OrderedDict()
        self._shapes_bytes = 0
        self._cache: OrderedDict[State, Outlook] = OrderedDict()
        self._lock = threading.Lock()  # the caches are shared by a threaded server's requests

    @property
    def model(self) -> _Model | None:
        """The rules' numpy tables, built on first use; None when they are too large (see `refused`)."""
        if self._model is None and self.refused is None:
            try:
                self._model = _compile(self.ruleset, _axes_of(self.ruleset))
            except SpaceTooLargeError as error:
                self.refused = str(error)
        return self._model

    def prepare(self) -> None:
        """Build the tight path's codes for every set of open questions it serves, fewest first, within the cap."""
        if self.winners is None:
            return
        smallest = sorted(self.dims)
        for m in range(1, len(self.dims) + 1):
            if m * math.prod(smallest[:m]) > TIGHT:
                break
            for subset in combinations(range(len(self.dims)), m):
                if m * math.prod(self.dims[q] for q in subset) <= TIGHT and subset not in self._shapes:
                    self._shape(subset)
                    if self._shapes_bytes >= SHAPES_BYTES:
                        return

    def forget(self) -> None:
        """Drop the cached outlooks of large slices (benchmarks time them uncached; `warm` fills it again)."""
        with self._lock:
            self._cache.clear()

    def outlook(self, state: State, winner: int) -> Outlook:
        """The outlook of a state whose recommendation (as `evaluate` ranks it) is `winner`."""
        open_questions = tuple([q for q, s in enumerate(state) if not s])
        if not open_questions:
            counts = [0] * self.k
            counts[winner] = 1
            return Outlook((), tuple(counts), 1)
        shape = self._shapes.get(open_questions) or self._shape(open_questions)
        if shape.codes is not None:
            # Few ways: one bincount gives, per open question and choice, the wins of each option.
            ways = self.winners[tuple([s - 1 if s else _ALL for s in state])]
            if len(open_questions) == 1:
                counts = np.bincount(ways, minlength=self.k).tolist()
                return Outlook(open_questions, tuple(counts), shape.total, (_decisiveness(counts, shape.total),))
            counts = np.bincount((shape.codes + ways.reshape(-1)).reshape(-1), minlength=shape.width).tolist()
            return _outlook(open_questions, shape.dims, self.k, counts, shape.total)
        with self._lock:
            found = self._cache.get(state)
            if found is not None:
                self._cache.move_to_end(state)
                return found
        found = self._large(state, list(open_questions), list(shape.dims))
        with self._lock:
            self._cache[state] = found
            while len(self._cache) > CACHED:
                self._cache.popitem(last=False)
        return found

    def _shape(self, open_questions: tuple[int, ...]) -> _Shape:
        dims = tuple(self.dims[q] for q in open_questions)
        total = math.prod(dims)
        tight = self.winners is not None and total * len(dims) <= TIGHT
        shape = _Shape(dims, total, sum(dims) * self.k, _codes(dims, self.k) if tight else None)
        with self._lock:
            if open_questions not in self._shapes:
                self._shapes[open_questions] = shape
                self._shapes_bytes += shape.codes.nbytes if shape.codes is not None else 0
            while self._shapes_bytes > SHAPES_BYTES or len(self._shapes) > SHAPES:
                _, dropped = self._shapes.popitem(last=False)
                self._shapes_bytes -= dropped.codes.nbytes if dropped.codes is not None else 0
        return shape

    def _large(self, state: State, open_questions: list[int], dims: list[int]) -> Outlook:
        k = self.k
        if self.winners is not None:
            ways = self.winners[tuple(s - 1 if s else slice(None) for s in state)]
        elif self.model is None:
            return self._by_engine(state, open_questions, dims)
        elif math.prod(dims) <= SLICE_LIMIT:
            ways = _winners(self.model, state)
        else:
            return self._sampled(state, open_questions, dims)
        counts: list[int] = []
        for a, n in enumerate(dims):
            # Each cell's code is (its choice on axis a) × k + its winner: one bincount per open question.
            shape = [1] * len(dims)
            shape[a] = n
            keys = ways + (np.arange(n, dtype=np.intp) * k).reshape(shape)
            counts += np.bincount(keys.reshape(-1), minlength=n * k).tolist()
        return _outlook(open_questions, dims, k, counts)

    def _sampled(self, state: State, open_questions: list[int], dims: list[int]) -> Outlook:
        model = self.model
        draws = _draw(np.random.default_rng(SAMPLE_SEED), tuple(n + 1 for n in dims), SAMPLE, answered=True)
        states = np.empty((SAMPLE, len(state)), dtype=draws.dtype, order="F")
        states[:] = np.asarray(state, dtype=draws.dtype)
        states[:, open_questions] = draws
        winners = _evaluate_states(model, states).winner.astype(np.intp)
        counts: list[int] = []
        for a, n in enumerate(dims):
            choice = draws[:, a].astype(np.intp) - 1
            counts += np.bincount(choice * self.k + winners, minlength=n * self.k).tolist()
        outlook = _outlook(open_questions, dims, self.k, counts, total=SAMPLE)
        return Outlook(outlook.questions, outlook.counts, outlook.total, outlook.decisiveness, exact=False)


    def _by_engine(self, state: State, open_questions: list[int], dims: list[int]) -> Outlook:
        """Every way, or ENGINE_SAMPLE ways drawn (fixed seed) when there are more, evaluated one at a time."""
        k, ruleset = self.k, self.ruleset
        total = math.prod(dims)
        if total <= ENGINE_SAMPLE:
            ways = product(*(range(n) for n in dims))
        else:
            rng = random.Random(SAMPLE_SEED)
            ways = ([rng.randrange(n) for n in dims] for _ in range(ENGINE_SAMPLE))
        counts = [0] * (sum(dims) * k)
        drawn = 0
        way_state = list(state)
        for way in ways:
            for q, choice in zip(open_questions, way):
                way_state[q] = choice + 1
            winner = _winner(ruleset, way_state)
            offset = 0
            for choice, n in zip(way, dims):
                counts[(offset + choice) * k + winner] += 1
                offset += n
            drawn += 1
        outlook = _outlook(open_questions, dims, k, counts, total=drawn)
        return outlook if total <= ENGINE_SAMPLE else outlook._replace(exact=False)


def _winner(ruleset: RuleSet, state: list[int]) -> int:
    """The winner of one state, as `engine.evaluate_state` ranks it, without building a Result."""
    rules = ruleset.rules
    hits = ruleset.hits(ruleset.failed_cubes(state))
    totals = [0] * len(ruleset.options)
    counts = None
    while hits:
        low = hits & -hits
        hits ^= low
        rule = rules[low.bit_length() - 1]
        totals = list(map(add, totals, rule.points))
        if rule.excludes:
            counts = counts or [0] * len(totals)
            for o in rule.excludes:
                counts[o] += 1
    return winner_of(totals, counts)


def _codes(dims: Sequence[int], k: int) -> np.ndarray:
    """For every cell of a slice (C order), per open question: (offset of that question + its choice) × k."""
    total = math.prod(dims)
    # The winners are uint8: codes of the same type keep the addition cheap (a wider one when they do not fit).
    dtype = np.uint8 if sum(dims) * k <= 256 else np.intp
    small = total * len(dims) <= 256  # plain lists build small ones faster than numpy calls do
    rows = np.empty((len(dims), total), dtype=dtype) if not small else []
    offset, inner = 0, total
    for a, n in enumerate(dims):
        # Along this axis each choice covers `inner` cells in a row, and the pattern repeats total / (n · inner) times.
        inner //= n
        if small:
            rows.append([(offset + c) * k for c in range(n) for _ in range(inner)] * (total // (n * inner)))
        else:
            rows[a].reshape(total // (n * inner), n, inner)[...] = (np.arange(offset, offset + n) * k)[:, None]
        offset += n
    return np.array(rows, dtype=dtype) if small else rows


def _outlook(open_questions: Sequence[int], dims: Sequence[int], k: int, counts: list[int],
             total: int | None = None) -> Outlook:
    """From counts[(offset of question + choice) × k + option], the wins and the questions by decisiveness."""
    if total is None:
        total = math.prod(dims)
    wins = [sum(counts[o:dims[0] * k:k]) for o in range(k)]
    # D(q) = Σ_c (1/n) · ½ Σ_o |count(o, c)·n/total − wins(o)/total| = x / (2·n·total), with x in integers (the
    # question's counts run c-major). x/n orders the questions exactly, since equal fractions give equal floats.
    xs = []
    start = 0
    for n in dims:
        end = start + n * k
        xs.append(sum(map(abs, map(sub, map(mul, counts[start:end], repeat(n)), wins * n))))
        start = end
    order = sorted(range(len(dims)), key=lambda i: -xs[i] / dims[i])  # stable: ties stay in questionnaire order
    return Outlook(tuple([open_questions[i] for i in order]), tuple(wins), total,
                   tuple([xs[i] / (2 * dims[i] * total) for i in order]))


def _decisiveness(wins: list[int], n: int) -> float:
    """D of a lone open question: each of its n answers settles the winner, so D = Σ_o wins(o)·(n − wins(o)) / n²."""
    return sum(count * (n - count) for count in wins) / (n * n)


def _winners(model: _Model, state: State) -> np.ndarray:
    """The winner of every way to answer the questions `state` leaves open (0), the others fixed: one axis each."""
    k = model.k
    open_axes = [a for a, s in enumerate(state) if not s]
    shape = [model.dims[a] - 1 for a in open_axes]

    def part(table: np.ndarray) -> np.ndarray:
        # Answered axes keep size 1 (their state picked), open ones drop the unanswered state 0.
        index = tuple((slice(s, s + 1) if s else slice(1, None)) if size > 1 else slice(None)
                      for s, size in zip(state, table.shape))
        return table[index].reshape([table.shape[a] if table.shape[a] == 1 else shape[open_axes.index(a)]
                                     for a in open_axes] if open_axes else [])

    values = []
    for o in range(k):
        total = np.zeros(shape, dtype=model.dtype)
        for factor in model.factors:
            if factor.points[o].any():
                total += part(factor.full_points[o])
        values.append(total)
    for o in model.excludable:
        counts = np.zeros(shape, dtype=model.count_type)
        for factor in model.factors:
            if factor.full_excludes is not None and factor.full_excludes[o].any():
                counts += part(factor.full_excludes[o])
        np.subtract(values[o], model.big, out=values[o], where=counts > 0)
    return np.ascontiguousarray(_top2(values, k, model.big)[0], dtype=np.uint8)


@lru_cache(maxsize=8)
def winner_table(ruleset: RuleSet) -> WinnerTable:
    """The table for one rules version, built on first use (the web's rules holder builds it when it loads)."""
    return WinnerTable(ruleset)


def outlook(result: Result) -> Outlook:
    """What the open questions of this result could still change."""
    return winner_table(result.ruleset).outlook(result.state, result.winner)


def warm(ruleset: RuleSet) -> None:
    """Build what a request would otherwise pay for: the table, the tight path's codes, the nothing-answered outlook."""
    table = winner_table(ruleset)
    table.prepare()
    table.outlook((0,) * len(ruleset.questions), 0)
