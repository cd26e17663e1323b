"""Explanations read from a Result's trace: drivers, what-if, weight sensitivity, and the result document."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cmp_to_key
from operator import add

from .engine import CLEAR, Result, winner_of
from .outlook import Outlook, outlook
from .ruleset import MICRO
from .wording import headline_text

# The document's closeness adds to the engine's margin-based CLEAR, CLOSE and TIE:
UNANSWERED = "unanswered"  # nothing answered: there is nothing to recommend on yet
OPEN = "open"              # a clear lead, but the open questions would make another option win in most ways
UNMET = "unmet"            # a clear lead, but the recommendation leaves a need the answers state unmet


@dataclass(frozen=True)
class Driver:
    """One comparison row and how much it added to the winner's lead over the runner-up."""

    criterion: int
    lead: int                      # MICRO units; negative when the row pulled towards the runner-up
    rules: tuple[int, ...]         # fired rules of this row, biggest contribution to the lead first


@dataclass(frozen=True)
class WhatIf:
    """A single changed answer that changes the recommendation."""

    question: int
    choice: int                    # 1-based choice number
    winner: int
    was_unanswered: bool


@dataclass(frozen=True)
class Sensitivity:
    """How far one row's weight would have to move (as a factor) for another option to win."""

    criterion: int
    factor: float
    winner: int
    direction: str                 # "more" or "less": which way the weight must move


def _lead_of(result: Result, rule_index: int) -> int:
    points = result.ruleset.rules[rule_index].points
    runner_up = result.runner_up
    return points[result.winner] - (points[runner_up] if runner_up is not None else 0)


def drivers(result: Result) -> tuple[list[Driver], list[Driver]]:
    """Rows that drove the choice (biggest lead first) and rows that pulled the other way (strongest first)."""
    by_row: dict[int, list[int]] = {}
    for index in result.fired:
        by_row.setdefault(result.ruleset.rules[index].criterion, []).append(index)
    rows = []
    for criterion, rule_indexes in by_row.items():
        leads = {r: _lead_of(result, r) for r in rule_indexes}
        ordered = tuple(sorted(rule_indexes, key=lambda r: -leads[r]))
        rows.append(Driver(criterion, sum(leads.values()), ordered))
    pro = sorted((d for d in rows if d.lead > 0), key=lambda d: (-d.lead, d.criterion))
    con = sorted((d for d in rows if d.lead < 0), key=lambda d: (d.lead, d.criterion))
    return pro, [Driver(d.criterion, d.lead, tuple(reversed(d.rules))) for d in con]


def what_if(result: Result) -> list[WhatIf]:
    """Every single-answer change (including answering an unanswered question) that changes the winner."""
    ruleset = result.ruleset
    rules = ruleset.rules
    state = result.state
    fired = bytearray(len(rules))
    for index in result.fired:
        fired[index] = 1
    keys = result.keys
    base_totals = result.totals
    # Exclusion counts per option; None while nothing is excluded (most results), so most changes skip them.
    base_counts = [len(e) for e in result.excluded_by] if any(result.excluded_by) else None
    found = []
    for q, question in enumerate(ruleset.questions):
        current = state[q]
        deltas = ruleset.solo_delta[q][current]
        shared = ruleset.shared_readers[q]
        for choice in range(1, len(question.choices) + 1):
            if choice == current:
                continue
            # Rules reading this question alone: one precomputed delta. Rules reading others too: look them up.
            points_delta, counts_delta = deltas[choice]
            totals = list(map(add, base_totals, points_delta))
            counts = base_counts
            if counts_delta:
                counts = list(map(add, base_counts or [0] * len(totals), counts_delta))
            shift = choice - current
            for r, stride in shared:
                now = rules[r].table[keys[r] + shift * stride]
                if now != fired[r]:
                    rule = rules[r]
                    sign = 1 if now else -1
                    for o, points in enumerate(rule.points):
                        totals[o] += sign * points
                    if rule.excludes:
                        if counts is base_counts:  # copied before its first change
                            counts = list(base_counts or [0] * len(totals))
                        for o in rule.excludes:
                            counts[o] += sign
            winner = winner_of(totals, counts)
            if winner != result.winner:
                found.append(WhatIf(q, choice, winner, current == 0))
    return found


# Crossing points are exact fractions kept as (numerator, denominator) pairs of ints, denominator > 0: compared by
# cross-multiplication, they give the same answers as Fraction at a fraction of its cost.
Ratio = tuple[int, int]


def _compare(a: Ratio, b: Ratio) -> int:
    return a[0] * b[1] - b[0] * a[1]


def _midpoint(a: Ratio, b: Ratio) -> Ratio:
    return a[0] * b[1] + b[0] * a[1], 2 * a[1] * b[1]


def _winner_at(factor: Ratio, base: list[int], row: list[int], eligible: list[int]) -> int:
    num, den = factor
    best = eligible[0]
    best_score = base[best] * den + num * row[best]
    for o in eligible[1:]:
        score = base[o] * den + num * row[o]
        if score > best_score:
            best, best_score = o, score
    return best


def _first_flip(candidates: list[Ratio], limit: Ratio, winner: int, base, row, eligible):
    """Walk crossing points away from 1 towards `limit`; return (factor, new winner) at the first change."""
    for position, point in enumerate(candidates):
        beyond = candidates[position + 1] if position + 1 < len(candidates) else limit
        # The option that wins just past the crossing is the one the change leads to; exactly at it, a tie of
        # several options is settled by list order, which says nothing about the direction of the change.
        after = _winner_at(_midpoint(point, beyond), base, row, eligible)
        if after != winner:
            return point, after
        at = _winner_at(point, base, row, eligible)
        if at != winner:
            return point, at
    return None


_BY_VALUE = cmp_to_key(_compare)


def sensitivity(result: Result) -> list[Sensitivity]:
    """For each row, the weight factor closest to 1 at which another option would win (rows with none omitted)."""
    rules = result.ruleset.rules
    n = len(result.totals)
    # When every option is ruled out, the ranking ignores exclusions, so every option can still overtake.
    eligible = [o for o in range(n) if not result.excluded_by[o]] or list(range(n))
    if len(eligible) < 2:
        return []
    row_points: dict[int, list[int]] = {}
    for index in result.fired:
        points = row_points.setdefault(rules[index].criterion, [0] * n)
        for o, p in enumerate(rules[index].points):
            points[o] += p
    found = []
    w = result.winner
    for criterion in sorted(row_points):
        row = row_points[criterion]
        base = [result.totals[o] - row[o] for o in range(n)]
        crossings = set()
        for o in eligible:
            slope = row[w] - row[o]
            if o != w and slope:
                gap = base[o] - base[w]
                # Only crossings at factors >= 0 can happen: gap and slope of the same sign, or no gap.
                if (gap >= 0) == (slope > 0) or gap == 0:
                    if slope < 0:
                        gap, slope = -gap, -slope
                    divisor = math.gcd(gap, slope)
                    crossings.add((gap // divisor, slope // divisor))
        if not crossings:
            continue
        # A crossing at exactly 1 is a tie won on list order: the slightest move one way flips it, so it
        # starts the walk in both directions (the walk probes beyond it before reporting a flip).
        up = sorted((p for p in crossings if p[0] >= p[1]), key=_BY_VALUE)
        down = sorted((p for p in crossings if p[0] <= p[1]), key=_BY_VALUE, reverse=True)
        flips = [(*flip, direction) for flip, direction in (
            (_first_flip(up, (up[-1][0] + up[-1][1], up[-1][1]) if up else (2, 1), w, base, row, eligible), "more"),
            (_first_flip(down, (0, 1), w, base, row, eligible), "less")) if flip]
        if not flips:
            continue
        (num, den), winner, direction = min(
            flips, key=lambda f: abs(math.log(f[0][0]) - math.log(f[0][1])) if f[0][0] > 0 else math.inf)
        found.append(Sensitivity(criterion, num / den, winner, direction))
    return found


def _points(value: int) -> float:
    return value / MICRO


def closeness(result: Result, open_outlook: Outlook) -> str:
    """How sure the recommendation is: never "clear" while the open questions or an unmet need say otherwise."""
    if not any(result.state):
        return UNANSWERED
    if result.closeness != CLEAR:
        return result.closeness
    if 2 * open_outlook.counts[result.winner] < open_outlook.total:
        return OPEN
    if result.unmet[result.winner]:
        return UNMET
    return CLEAR


def notes(result: Result) -> list[str]:
    """Plain remarks about how the result came about that a reader should not miss."""
    options = result.ruleset.options
    said = []
    if not any(result.state):
        # Nothing answered: the tie-break's pick is no recommendation, so it is not presented as one.
        return ["No question was answered, so nothing favours any option yet."]
    if result.all_excluded:
        said.append("Every option was ruled out by some answer; the highest score is shown anyway.")
    if result.won_on_tie and result.runner_up is not None:
        said.append(f"{options[result.winner].label} and {options[result.runner_up].label} scored the same; "
                    "ties go to the simpler option.")
    return said


def result_document(result: Result) -> dict:
    """The one JSON-ready document every view (CLI, API, page, decision record) is rendered from."""
    rs = result.ruleset
    options, criteria, questions = rs.options, rs.criteria, rs.questions
    fired = []
    scores = [0.0] * len(options)
    for index in result.fired:
        rule_id, criterion_id, because, points, values, excludes = rs.rules[index].document_fields
        scores = list(map(add, scores, values))  # summed in trace order so the shown scores equal the shown points
        fired.append({"rule": rule_id, "criterion": criterion_id, "because": because, "points": dict(points),
                      "excludes": list(excludes)})
    pro, con = drivers(result)

    rows = rs.criterion_fields
    rules = rs.rules

    def row(driver: Driver) -> dict:
        criterion_id, label, texts = rows[driver.criterion]
        return {"criterion": criterion_id, "label": label, "lead": _points(driver.lead),
                "reasons": [rules[r].rule.because for r in driver.rules], "texts": texts.copy()}

    changes = what_if(result)
    ahead = outlook(result)
    word = closeness(result, ahead)
    return {
        "recommendation": options[result.winner].id,
        "label": options[result.winner].label,
        "closeness": word,
        "headline": headline_text(options[result.winner].label, word),
        "why": rs.rules[pro[0].rules[0]].rule.because if pro else None,
        "margin": _points(result.margin),
        "runner_up": options[result.runner_up].id if result.runner_up is not None else None,
        "tie_break": result.won_on_tie,
        "notes": notes(result),
        "ranking": [{"option": options[o].id, "label": options[o].label, "score": scores[o],
                     "excluded": " ".join(rs.rules[r].rule.because for r in result.excluded_by[o]) or None}
                    for o in result.ranking],
        "drivers": [row(d) for d in pro],
        "against": [row(d) for d in con],
        "fired_rules": fired,
        "excluded": [{"option": options[o].id, "rule": rs.rules[r].rule.id, "reason": rs.rules[r].rule.because}
                     for o in range(len(options)) for r in result.excluded_by[o]],
        "unmet_needs": _unmet_needs(result),
        "what_if": [{"question": questions[c.question].id, "choice": questions[c.question].choices[c.choice - 1].id,
                     "recommendation": options[c.winner].id,
                     "direction": "heavier" if c.winner > result.winner else "lighter",
                     "was_unanswered": c.was_unanswered} for c in changes],
        "sensitivity": [{"criterion": criteria[s.criterion].id, "factor": round(s.factor, 4),
                         "direction": s.direction, "recommendation": options[s.winner].id}
                        for s in sensitivity(result)],
        "unanswered": list(result.unanswered),
        "unanswered_could_change": sorted({questions[c.question].id for c in changes if c.was_unanswered},
                                          key=lambda qid: rs.question_index[qid]),
        "open": {"questions": [questions[q].id for q in ahead.questions],
                 "wins": {option.id: count / ahead.total for option, count in zip(options, ahead.counts)}},
        "answers": result.answers,
        "rules_fingerprint": rs.fingerprint,
    }


def _unmet_needs(result: Result) -> dict[str, list[dict]]:
    """Per option (all of them, in order), the needs the answers state that it leaves unmet."""
    rs = result.ruleset
    needs = {}
    for option, pairs in zip(rs.options, result.unmet):
        entries = []
        for q, s in pairs:
            question = rs.questions[q]
            choice = question.choices[s - 1]
            entries.append({"question": question.id, "choice": choice.id, "text": choice.unmet[option.id]})
        needs[option.id] = entries
    return needs


__all__ = [
    "OPEN",
    "UNANSWERED",
    "UNMET",
    "Driver",
    "Sensitivity",
    "WhatIf",
    "closeness",
    "drivers",
    "notes",
    "result_document",
    "sensitivity",
    "what_if",
]
