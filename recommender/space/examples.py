"""Picking example questionnaires: the most typical states with a given code (fewest unanswered questions
first, then questionnaire order), from a grid or from sampled states, and their share links.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..links import canonical_query
from .compile import Model
from .reports import Example


def example(model: Model, state: Sequence[int], with_rules: bool = True) -> Example:
    """The questionnaire of one state (in the model's axis order), with its share-link query."""
    answers = {axis.question: axis.choices[s - 1] for axis, s in zip(model.axes, state) if s}
    return Example(answers, canonical_query(model.ruleset, answers, with_rules=with_rules),
                   sum(1 for s in state if not s))


def grid_first(order: Sequence[int], codes: np.ndarray, wanted: dict[int, int]) -> dict[int, list[tuple]]:
    """For each code, up to wanted[code] states with it: fewest unanswered first, then questionnaire order.

    `codes` has one axis per analysed axis; `order[i]` is axis i's position in questionnaire order (`Model.order`).
    The states are returned in the grid's axis order.
    """
    found: dict[int, list[tuple]] = {c: [] for c in wanted}
    if not wanted:
        return found
    codes = codes.transpose(np.argsort(order))     # a view in questionnaire order
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
    return {c: [tuple(int(state[q]) for q in order) for state in states] for c, states in found.items()}


def first_rows(states: np.ndarray, rows: np.ndarray, key: np.ndarray, need: int) -> list[tuple]:
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


def sample_first(states: np.ndarray, codes: np.ndarray, wanted: dict[int, int]) -> dict[int, list[tuple]]:
    """Like grid_first, among sampled states (the sample's model keeps questionnaire order)."""
    unanswered = (states == 0).sum(axis=1)
    return {c: first_rows(states, np.flatnonzero(codes == c), unanswered, need) for c, need in wanted.items()}
