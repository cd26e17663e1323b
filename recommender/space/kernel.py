"""Vectorised evaluation of a compiled model: every state (a grid, chunk by chunk) or explicit states (a sample).

Winners follow `engine.rank` exactly: eligible options before excluded ones, then the higher total, then the
earlier option.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .compile import Model

DEFAULT_BUDGET = 40_000_000      # at most this many states are evaluated exhaustively (about 4 s on 2 cores)
DEFAULT_SAMPLE = 1_000_000       # states drawn when the space is larger than the budget
DEFAULT_SEED = 20240601
CHUNK = 1 << 16                  # states evaluated at once: arrays stay in the CPU cache
CLEAR, CLOSE, TIE = 0, 1, 2      # closeness classes per state (the engine's CLEAR, CLOSE, TIE)


def top2(values: list[np.ndarray], k: int, big: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def winner_of(values: list[np.ndarray]) -> np.ndarray:
    """The winner per state alone (the earlier option on a tie)."""
    best = values[0].copy()
    w = np.zeros(best.shape, dtype=np.uint8)
    for o in range(1, len(values)):
        above = values[o] > best
        np.copyto(w, o, where=above)
        np.maximum(best, values[o], out=best)
    return w


def closeness_of(margin: np.ndarray, close: int) -> np.ndarray:
    """TIE where the margin is 0, CLOSE below the threshold, else CLEAR (an excluded runner-up is far away)."""
    cls = (margin < close).view(np.uint8).copy()
    np.copyto(cls, TIE, where=margin == 0)
    return cls


def count_codes(values: np.ndarray, n: int) -> np.ndarray:
    """np.bincount(values, minlength=n) without an index-sized temporary array."""
    flat = values.reshape(-1)
    if n <= 32:
        return np.array([np.count_nonzero(flat == c) for c in range(n)], dtype=np.int64)
    total = np.zeros(n, dtype=np.int64)
    for start in range(0, len(flat), 16 * CHUNK):
        total += np.bincount(flat[start:start + 16 * CHUNK], minlength=n)
    return total


# --- every state ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WinnerGrid:
    """The winner of every state, one array axis per question in the model's axis order (see `Model.order`)."""

    model: Model
    winner: np.ndarray


@dataclass(frozen=True)
class Grid:
    """Every state fully evaluated, one array axis per question in the model's axis order."""

    model: Model
    winner: np.ndarray
    runner_up: np.ndarray
    values: np.ndarray                  # (K, *dims): total, minus `big` when excluded
    excluded: np.ndarray                # (len(excludable), *dims) exclusion counts
    closeness: np.ndarray
    close_by_answer: list[np.ndarray]   # per axis, per state: ties and close calls

    @property
    def winners(self) -> WinnerGrid:
        return WinnerGrid(self.model, self.winner)


def _lead(dims: tuple[int, ...]) -> int:
    """How many leading axes to step through so that each chunk (the trailing axes) has at most CHUNK states."""
    lead, trail = 0, math.prod(dims)
    while lead < len(dims) and trail > CHUNK:
        trail //= dims[lead]
        lead += 1
    return lead


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


class _Scorer:
    """Fills one chunk's totals (minus `big` where excluded) and exclusion counts into the buffers given."""

    def __init__(self, model: Model):
        self.model = model
        self.point_tables = [[f.full_points[o] for f in model.factors if f.points[o].any()]
                             for o in range(model.k)]
        self.excl_tables = [[f.full_excludes[o] for f in model.factors
                             if f.full_excludes is not None and f.excludes is not None and f.excludes[o].any()]
                            for o in model.excludable]

    def fill(self, index: tuple[int, ...], values: list[np.ndarray], excluded: list[np.ndarray]) -> None:
        for o in range(self.model.k):
            _fill(values[o], self.point_tables[o], index)
        for j, o in enumerate(self.model.excludable):
            _fill(excluded[j], self.excl_tables[j], index)
            np.subtract(values[o], self.model.big, out=values[o], where=excluded[j] > 0)


def evaluate_grid(model: Model) -> Grid:
    """Evaluate every state, keeping totals, exclusions, winners, runners-up and closeness."""
    dims, k = model.dims, model.k
    lead = _lead(dims)
    scorer = _Scorer(model)
    grid = Grid(model, np.empty(dims, dtype=np.uint8), np.empty(dims, dtype=np.uint8),
                np.empty((k, *dims), dtype=model.dtype),
                np.empty((len(model.excludable), *dims), dtype=model.count_type),
                np.empty(dims, dtype=np.uint8), [np.zeros(d, dtype=np.int64) for d in dims])
    for index in np.ndindex(*dims[:lead]):
        values = [grid.values[(o, *index)] for o in range(k)]
        scorer.fill(index, values, [grid.excluded[(j, *index)] for j in range(len(model.excludable))])
        w, r, margin = top2(values, k, model.big)
        grid.winner[index] = w
        grid.runner_up[index] = r
        cls = closeness_of(margin, model.close)
        grid.closeness[index] = cls
        _count_close(cls > 0, index, dims, lead, grid.close_by_answer)
    return grid


def evaluate_winners(model: Model, relabel: np.ndarray | None = None) -> WinnerGrid:
    """Evaluate every state, keeping only the winners, mapped through `relabel` when given (for `diff`)."""
    dims, k = model.dims, model.k
    lead = _lead(dims)
    scorer = _Scorer(model)
    shape = dims[lead:]
    values = [np.empty(shape, dtype=model.dtype) for _ in range(k)]
    excluded = [np.empty(shape, dtype=model.count_type) for _ in model.excludable]
    winners = np.empty(dims, dtype=relabel.dtype if relabel is not None else np.uint8)
    for index in np.ndindex(*dims[:lead]):
        scorer.fill(index, values, excluded)
        w = top2(values, k, model.big)[0]
        winners[index] = relabel[w] if relabel is not None else w
    return WinnerGrid(model, winners)


def _count_close(close: np.ndarray, index: tuple[int, ...], dims: tuple[int, ...], lead: int,
                 per_answer: list[np.ndarray]) -> None:
    """Add a chunk's ties and close calls to the per-answer counts (every axis, every state)."""
    total = int(np.count_nonzero(close))
    if not total:
        return
    for a, i in enumerate(index):
        per_answer[a][i] += total
    flat = close.view(np.uint8)
    for a in range(lead, len(dims)):
        view = flat.reshape(math.prod(dims[lead:a]), dims[a], -1)
        for s in range(dims[a]):
            per_answer[a][s] += np.count_nonzero(view[:, s, :])


# --- explicit states -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """Explicit states (one row each) and their evaluation."""

    model: Model
    states: np.ndarray                 # (n, T) state per axis
    winner: np.ndarray
    runner_up: np.ndarray
    margin: np.ndarray
    values: np.ndarray                 # (K, n)
    excluded: np.ndarray               # (len(excludable), n)


def evaluate_states(model: Model, states: np.ndarray) -> Sample:
    """Evaluate the given states (one row each, one column per axis of the model)."""
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
    w, r, margin = top2(list(values), k, model.big)
    return Sample(model, states, w, r, margin, values, excluded)


def draw(rng: np.random.Generator, dims: tuple[int, ...], n: int, answered: bool) -> np.ndarray:
    """n uniform random states (with replacement), one row each, stored by column; all answered if `answered`."""
    low = 1 if answered else 0
    dtype = np.uint8 if max(dims, default=1) <= 256 else np.int32
    states = np.zeros((n, len(dims)), dtype=dtype, order="F")
    for a, d in enumerate(dims):
        if d > low:
            states[:, a] = rng.integers(low, d, size=n, dtype=dtype)
    return states
