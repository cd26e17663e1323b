"""`explore`: one rule set over every combination of answers (a "state" gives each question one of its choices or
leaves it unanswered), or over a uniform random sample (fixed seed) when the space is larger than `budget`.

It is never truncated: a sampled report gives every share with its sample size and a 95 % Wilson interval.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ..ruleset import MICRO, RuleSet
from .checks import DEFAULT_CHECK_SECONDS, GridChecks, SampleChecks, never_fire, never_win, run_checks
from .compile import Model, axes_of, compile_model, for_grid
from .examples import example, first_rows, grid_first, sample_first
from .kernel import (
    CLOSE,
    DEFAULT_BUDGET,
    DEFAULT_SAMPLE,
    DEFAULT_SEED,
    TIE,
    WinnerGrid,
    closeness_of,
    count_codes,
    draw,
    evaluate_grid,
    evaluate_states,
)
from .ordering import space_checks
from .reports import CloseCall, ExploreReport, Share

TOP = 5                          # closest calls and close-call answers listed


@dataclass(frozen=True)
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
    checks: GridChecks | SampleChecks
    winners: WinnerGrid | None          # the winner grid, for the monotonicity check; None for a sample


def _grid_findings(model: Model) -> _Findings:
    grid = evaluate_grid(model)
    dims, k = model.dims, model.k
    space = math.prod(dims)
    wins = count_codes(grid.winner, k)
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
        full_wins=count_codes(full_winner, k), classes=classes, pair_counts=pair_counts,
        per_answer=grid.close_by_answer, answer_totals=[np.full(d, space // d, dtype=np.int64) for d in dims],
        closest=closest, full_close=len(candidates),
        first=grid_first(model.order, grid.winner, {o: 1 for o in range(k) if wins[o]}), checks=GridChecks(grid),
        winners=grid.winners)


def _sample_findings(model: Model, sample: int, seed: int) -> _Findings:
    dims, k = model.dims, model.k
    rng = np.random.default_rng(seed)
    whole = evaluate_states(model, draw(rng, dims, sample, answered=False))
    full = evaluate_states(model, draw(rng, dims, max(1, sample // 4), answered=True))
    cls = closeness_of(whole.margin, model.close)
    classes = [int(np.count_nonzero(cls == TIE)), int(np.count_nonzero(cls == CLOSE))]
    classes.append(sample - sum(classes))
    close = cls > 0
    full_cls = closeness_of(full.margin, model.close)
    closest = first_rows(full.states, np.flatnonzero(full_cls), full.margin.astype(np.int64), TOP)
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
        first=sample_first(states, winners, {o: 1 for o in range(k) if np.any(winners == o)}),
        checks=SampleChecks(whole, full), winners=None)


def explore(ruleset: RuleSet, *, budget: int = DEFAULT_BUDGET, sample: int = DEFAULT_SAMPLE,
            seed: int = DEFAULT_SEED, check_seconds: float = DEFAULT_CHECK_SECONDS) -> ExploreReport:
    """Evaluate every combination of answers (or a uniform sample when there are more than `budget`)."""
    start = time.perf_counter()
    model = compile_model(ruleset, axes_of(ruleset))
    space = math.prod(model.dims)
    exhaustive = space <= budget
    if exhaustive:
        model = for_grid(model)
        found = _grid_findings(model)
    else:
        found = _sample_findings(model, sample, seed)
    seconds = time.perf_counter() - start
    # The grid's winners serve the monotonicity check too; a sample is drawn again there, with the same seed.
    ordering, unmet = space_checks(ruleset, budget=budget, sample=sample, seed=seed, grid=found.winners)
    checked = run_checks(model, found.checks, check_seconds)
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
        never_fire=never_fire(model), dead_weight=checked.dead_weight,
        dead_weight_unchecked=checked.dead_weight_unchecked, idle_rows=checked.idle_rows,
        idle_rows_unchecked=checked.idle_rows_unchecked, never_win=never_win(ruleset, found.wins, found.full_wins),
        closest=tuple(CloseCall(example(model, state), options[w].id, options[r].id, margin * model.unit / MICRO,
                                "tie" if margin == 0 else "close")
                      for state, w, r, margin in found.closest),
        full_close=found.full_close,
        typical=tuple((o.id, example(model, found.first[i][0]) if found.first.get(i) else None)
                      for i, o in enumerate(options)),
        monotonicity=ordering, unmet_needs=unmet)
