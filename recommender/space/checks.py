"""Findings about the rules themselves: rules that never fire or are dead weight, rows that never drive a
result, options that never win — over every state of a grid or over a sample, each stopping at its first
counter-example within a time budget.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from ..ruleset import RuleSet
from .compile import Model, Term, expand
from .kernel import CHUNK, Grid, Sample, winner_of

DEFAULT_CHECK_SECONDS = 2.0      # time allowed to the dead-weight and row checks, which stop early when they can


class RuleChecks(NamedTuple):
    """Dead-weight rules and idle rows (criterion ids), and those the time budget left unchecked."""

    dead_weight: tuple[str, ...]
    dead_weight_unchecked: tuple[str, ...]
    idle_rows: tuple[str, ...]
    idle_rows_unchecked: tuple[str, ...]


def never_fire(model: Model) -> tuple[str, ...]:
    """Rules that fire in no state of the analysed axes."""
    return tuple(t.id for t in model.terms if not t.fires.any())


def never_win(ruleset: RuleSet, wins: np.ndarray, full_wins: np.ndarray) -> tuple[str, ...]:
    """Options that win no state, answered or not."""
    return tuple(o.id for i, o in enumerate(ruleset.options) if not wins[i] and not full_wins[i])


def _removal_changes(model: Model, term: Term, values: list[np.ndarray], counts: list[np.ndarray],
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
    return bool((winner_of(new) != winner).any())


def _trivially_dead(term: Term) -> bool:
    """Adds the same points to every option and excludes nothing: it can never change a ranking."""
    return not term.excludes and len(set(term.points)) == 1


def _lead_table(model: Model, criterion: int) -> tuple[tuple[int, ...], np.ndarray] | None:
    """Over the axes a row's rules read: for each (winner, runner-up) pair, whether the row favours the winner."""
    terms = [t for t in model.terms if t.criterion == criterion and t.fires.any() and any(t.points)]
    if not terms or model.k == 1:
        return None
    axes = tuple(sorted({a for t in terms for a in t.axes}))
    shape = [model.dims[a] for a in axes]
    rows = np.zeros((model.k, *shape), dtype=np.int64)
    for term in terms:
        fires = expand(term.fires, term.axes, axes, model.dims)
        for o, p in enumerate(term.points):
            if p:
                rows[o] += fires * p
    lead = rows[:, None] - rows[None, :]                     # (winner, runner-up, *axes)
    positive = np.moveaxis(lead > 0, (0, 1), (-2, -1)).reshape(*shape, model.k * model.k)
    return axes, positive


class GridChecks:
    """Checks over every state, reading views of the grid so that a rule's slice is never copied whole."""

    def __init__(self, grid: Grid):
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

    def removal_changes(self, term: Term, deadline: float) -> bool | None:
        grid = self.grid
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
        """winner * K + runner-up per state, built on first use."""
        if self._pairs is None:
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


class SampleChecks:
    """The same checks over sampled states, a chunk at a time so that they can stop early."""

    def __init__(self, *samples: Sample):
        self.samples = samples

    def _chunks(self) -> Iterator[tuple[Sample, slice]]:
        for sample in self.samples:
            for start in range(0, len(sample.states), CHUNK):
                yield sample, slice(start, start + CHUNK)

    def removal_changes(self, term: Term, deadline: float) -> bool | None:
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


def run_checks(model: Model, checks: GridChecks | SampleChecks, seconds: float) -> RuleChecks:
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
    return RuleChecks(tuple(dead), tuple(dead_unchecked), tuple(idle), tuple(idle_unchecked))
