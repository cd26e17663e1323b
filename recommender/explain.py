"""The typed explanation of a Result, read from its trace: drivers, what-if, weight sensitivity, open questions.

Every view renders from an Explanation: the page (Jinja), the API and `recommend --json` (`as_json()`), the
decision record (Markdown) and the command line (text). Its parts hold the rules' own objects (Option, Criterion,
Question, Choice, Rule), never ids to look up again. The small parts are NamedTuples: several dozen are built per
request, and a NamedTuple costs a third of a frozen dataclass to build.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cmp_to_key, lru_cache
from operator import add, sub
from typing import NamedTuple

from .conditions import State
from .engine import CLEAR, Result, winner_of
from .links import changed_query, state_query
from .model import Choice, Criterion, Option, Question, Rule
from .outlook import Outlook, outlook
from .ruleset import MICRO, CompiledRule, RuleSet
from .wording import headline_text

# The document's closeness adds to the engine's margin-based CLEAR, CLOSE and TIE:
UNANSWERED = "unanswered"  # nothing answered: there is nothing to recommend on yet
OPEN = "open"              # a clear lead, but the open questions would make another option win in most ways
UNMET = "unmet"            # a clear lead, but the recommendation leaves a need the answers state unmet


# --- the typed explanation ---------------------------------------------------------------------------------------


class Standing(NamedTuple):
    """One option's place in the ranking: its score and the rules that ruled it out."""

    option: Option
    score: float
    ruled_out_by: tuple[Rule, ...]

    @property
    def excluded(self) -> str | None:
        """Why the option is ruled out, in the rules' own words; None when it is not."""
        return " ".join(rule.because for rule in self.ruled_out_by) or None


class RowEffect(NamedTuple):
    """One comparison row and how many points it added to the winner's lead (negative: towards the runner-up)."""

    criterion: Criterion
    lead: float
    rules: tuple[Rule, ...]        # its fired rules, the one that helped most (or, against, hurt most) first

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(rule.because for rule in self.rules)


class Exclusion(NamedTuple):
    option: Option
    rule: Rule


class UnmetNeed(NamedTuple):
    """A need an answer states, which an option leaves unmet, in the rules' words."""

    question: Question
    choice: Choice
    text: str


class Change(NamedTuple):
    """A single changed answer (or answering an open question) that changes the recommendation."""

    question: Question
    choice: Choice
    recommendation: Option
    direction: str                 # "heavier" or "lighter": towards a heavier or a lighter option
    was_unanswered: bool


class ChangeGroup(NamedTuple):
    """The changes of one question that lead to the same recommendation, in choice order."""

    question: Question
    choices: tuple[Choice, ...]
    recommendation: Option
    direction: str
    queries: tuple[str, ...]       # per choice, the canonical share-link query of the changed answers

    @property
    def links(self) -> tuple[tuple[Choice, str], ...]:
        """(choice, share-link query) pairs."""
        return tuple(zip(self.choices, self.queries, strict=True))


class WeightShift(NamedTuple):
    """How far one row's weight would have to move (as a factor) for another option to win."""

    criterion: Criterion
    factor: float
    direction: str                 # "more" or "less": which way the weight must move
    recommendation: Option


class OpenQuestions(NamedTuple):
    """Over every way to answer the open questions: each option's share of wins, and the questions by decisiveness."""

    questions: tuple[Question, ...]
    wins: tuple[tuple[Option, float], ...]


@dataclass(frozen=True, slots=True)
class Explanation:
    """Everything a view says about one result, read from its trace."""

    ruleset: RuleSet
    state: State
    recommendation: Option
    closeness: str                 # unanswered, tie, close, open, unmet or clear (see CLOSENESS_WORDS)
    margin: float                  # points between the winner and the runner-up
    runner_up: Option | None
    tie_break: bool
    notes: tuple[str, ...]
    ranking: tuple[Standing, ...]
    drivers: tuple[RowEffect, ...]
    against: tuple[RowEffect, ...]
    fired: tuple[CompiledRule, ...]
    excluded: tuple[Exclusion, ...]
    unmet_needs: tuple[tuple[Option, tuple[UnmetNeed, ...]], ...]   # every option, in order
    what_if: tuple[Change, ...]
    sensitivity: tuple[WeightShift, ...]
    open: OpenQuestions

    @property
    def answered(self) -> bool:
        return any(self.state)

    @property
    def label(self) -> str:
        return self.recommendation.label

    @property
    def headline(self) -> str:
        return headline_text(self.recommendation.label, self.closeness)

    @property
    def why(self) -> str | None:
        """The rule that did most for the winner, in its own words."""
        return self.drivers[0].rules[0].because if self.drivers else None

    @property
    def fingerprint(self) -> str:
        return self.ruleset.fingerprint

    @property
    def answers(self) -> tuple[tuple[Question, Choice], ...]:
        return tuple((q, q.choices[s - 1]) for q, s in zip(self.ruleset.questions, self.state) if s)

    @property
    def unanswered(self) -> tuple[Question, ...]:
        return tuple(q for q, s in zip(self.ruleset.questions, self.state) if not s)

    @property
    def unanswered_could_change(self) -> tuple[Question, ...]:
        """Open questions some answer to which would change the recommendation, in questionnaire order."""
        seen = {change.question.id for change in self.what_if if change.was_unanswered}
        return tuple(q for q in self.ruleset.questions if q.id in seen)

    @property
    def ruled_out(self) -> tuple[Standing, ...]:
        """The options some rule ruled out, in ranking order."""
        return tuple(standing for standing in self.ranking if standing.ruled_out_by)

    @property
    def unmet_by_option(self) -> tuple[tuple[Option, tuple[UnmetNeed, ...]], ...]:
        """The options that leave a stated need unmet, with those needs, in option order."""
        return tuple(entry for entry in self.unmet_needs if entry[1])

    @property
    def recommended_unmet(self) -> tuple[UnmetNeed, ...]:
        """The needs the answers state that the recommendation leaves unmet."""
        return self.unmet_needs[self.ruleset.option_index[self.recommendation.id]][1]

    @property
    def open_share(self) -> float:
        """The recommendation's share of the ways to answer the open questions."""
        return self.open.wins[self.ruleset.option_index[self.recommendation.id]][1]

    def change_groups(self) -> tuple[ChangeGroup, ...]:
        """What-if changes grouped by question and new recommendation, in questionnaire order, each choice with
        the share-link query of the changed answers."""
        ruleset, state = self.ruleset, self.state
        groups: dict[tuple[str, str], tuple[Change, list[Choice], list[str]]] = {}
        for change in self.what_if:
            _, choices, queries = groups.setdefault((change.question.id, change.recommendation.id),
                                                        (change, [], []))
            q = ruleset.question_index[change.question.id]
            choices.append(change.choice)
            queries.append(changed_query(ruleset, state, q, ruleset.choice_index[q][change.choice.id]))
        return tuple(ChangeGroup(first.question, tuple(choices), first.recommendation, first.direction, tuple(queries))
                     for first, choices, queries in groups.values())

    def query(self, *, with_rules: bool = True) -> str:
        """The canonical share-link query of these answers."""
        return state_query(self.ruleset, self.state, with_rules=with_rules)

    def as_json(self) -> dict:
        """The result document: the JSON of the API and `flask recommend --json` (its keys are a public contract)."""
        open_questions = self.open
        return {
            "recommendation": self.recommendation.id,
            "label": self.recommendation.label,
            "closeness": self.closeness,
            "headline": self.headline,
            "why": self.why,
            "margin": self.margin,
            "runner_up": self.runner_up.id if self.runner_up is not None else None,
            "tie_break": self.tie_break,
            "notes": list(self.notes),
            "ranking": [{"option": s.option.id, "label": s.option.label, "score": s.score, "excluded": s.excluded}
                        for s in self.ranking],
            "drivers": [_row_json(row) for row in self.drivers],
            "against": [_row_json(row) for row in self.against],
            "fired_rules": [{"rule": rule.rule.id, "criterion": rule.rule.criterion, "because": rule.rule.because,
                             "points": dict(rule.point_items), "excludes": list(rule.exclude_ids)}
                            for rule in self.fired],
            "excluded": [{"option": e.option.id, "rule": e.rule.id, "reason": e.rule.because} for e in self.excluded],
            "unmet_needs": {option.id: [{"question": n.question.id, "choice": n.choice.id, "text": n.text}
                                        for n in needs] for option, needs in self.unmet_needs},
            "what_if": [{"question": c.question.id, "choice": c.choice.id, "recommendation": c.recommendation.id,
                         "direction": c.direction, "was_unanswered": c.was_unanswered} for c in self.what_if],
            "sensitivity": [{"criterion": s.criterion.id, "factor": round(s.factor, 4), "direction": s.direction,
                             "recommendation": s.recommendation.id} for s in self.sensitivity],
            "unanswered": [q.id for q in self.unanswered],
            "unanswered_could_change": [q.id for q in self.unanswered_could_change],
            "open": {"questions": [q.id for q in open_questions.questions],
                     "wins": {option.id: share for option, share in open_questions.wins}},
            "answers": {q.id: c.id for q, c in self.answers},
            "rules_fingerprint": self.ruleset.fingerprint,
        }


def _row_json(row: RowEffect) -> dict:
    criterion = row.criterion
    return {"criterion": criterion.id, "label": criterion.label, "lead": row.lead,
            "reasons": [rule.because for rule in row.rules], "texts": dict(criterion.texts)}


# --- reading the trace --------------------------------------------------------------------------------------------


def drivers(result: Result) -> tuple[tuple[RowEffect, ...], tuple[RowEffect, ...]]:
    """Rows that drove the choice (biggest lead first) and rows that pulled the other way (strongest first)."""
    rules = result.ruleset.rules
    winner, runner_up = result.winner, result.runner_up
    by_row: dict[int, list] = {}
    for index in result.fired:
        rule = rules[index]
        points = rule.points
        lead = points[winner] - (points[runner_up] if runner_up is not None else 0)
        entry = by_row.get(rule.criterion)
        if entry is None:
            by_row[rule.criterion] = [lead, [(lead, rule.rule)]]
        else:
            entry[0] += lead
            entry[1].append((lead, rule.rule))
    criteria = result.ruleset.criteria
    pro, con = [], []
    for criterion, (lead, fired) in by_row.items():
        if lead:
            # The rule that helped most first (ties in file order); against, the one that hurt most first.
            fired.sort(key=_first_item_descending)
            ordered = tuple(rule for _, rule in fired)
            if lead > 0:
                pro.append((-lead, criterion, RowEffect(criteria[criterion], lead / MICRO, ordered)))
            else:
                con.append((lead, criterion, RowEffect(criteria[criterion], lead / MICRO, ordered[::-1])))
    pro.sort()  # by lead, then row: rows are unique, so the RowEffects are never compared
    con.sort()
    return tuple(row for _, _, row in pro), tuple(row for _, _, row in con)


def _first_item_descending(pair: tuple) -> int:
    return -pair[0]


def what_if(result: Result) -> tuple[Change, ...]:
    """Every single-answer change (including answering an unanswered question) that changes the winner."""
    ruleset = result.ruleset
    rules = ruleset.rules
    options = ruleset.options
    state = result.state
    hits = result.hits
    base_totals = result.totals
    # Exclusion counts per option; None while nothing is excluded (most results), so most changes skip them.
    base_counts = [len(e) for e in result.excluded_by] if any(result.excluded_by) else None
    # With nothing excluded, a question whose rules cannot move the lead by the margin cannot change the winner.
    margin = result.margin if base_counts is None and result.runner_up is not None else -1
    swings = _swings(ruleset)
    cube_fails = ruleset.cube_fails
    # The cubes each answer fails, and the union of those of the answers after each question: with the union of
    # those before it, the cubes the other answers fail, whatever this question's answer.
    parts = [fails[s] for fails, s in zip(cube_fails, state)]
    after = [0] * (len(parts) + 1)
    for q in range(len(parts) - 1, -1, -1):
        after[q] = after[q + 1] | parts[q]
    before = 0
    found = []
    for q, question in enumerate(ruleset.questions):
        others = before | after[q + 1]
        before |= parts[q]
        swing = swings[q]
        if swing is not None and swing < margin:
            continue
        current = state[q]
        deltas = ruleset.solo_delta[q][current]
        shared = ruleset.shared_readers[q]
        fails = cube_fails[q]
        for choice in range(1, len(question.choices) + 1):
            if choice == current:
                continue
            # Rules reading this question alone: one precomputed delta. Rules reading others too: those whose
            # firing changes, from the bit sets.
            points_delta, counts_delta = deltas[choice]
            totals = list(map(add, base_totals, points_delta))
            counts = base_counts
            if counts_delta:
                counts = list(map(add, base_counts or [0] * len(totals), counts_delta))
            now_hits = ruleset.hits(others | fails[choice]) if shared else hits
            changed = (now_hits ^ hits) & shared
            while changed:
                low = changed & -changed
                changed ^= low
                rule = rules[low.bit_length() - 1]
                now = now_hits & low
                totals = list(map(add if now else sub, totals, rule.points))
                if rule.excludes:
                    sign = 1 if now else -1
                    if counts is base_counts:  # copied before its first change
                        counts = list(base_counts or [0] * len(totals))
                    for o in rule.excludes:
                        counts[o] += sign
            winner = winner_of(totals, counts)
            if winner != result.winner:
                found.append(Change(question, question.choices[choice - 1], options[winner],
                                    "heavier" if winner > result.winner else "lighter", current == 0))
    return tuple(found)


@lru_cache(maxsize=8)
def _swings(ruleset: RuleSet) -> tuple[int | None, ...]:
    """Per question, the most a change of its answer can move any option's lead over another (None when a rule
    reading it rules options out): each rule reading it fires or stops firing at most once."""
    swings = []
    for readers in ruleset.readers:
        rules = [ruleset.rules[r] for r in readers]
        excludes = any(rule.excludes for rule in rules)
        swings.append(None if excludes else sum(max(rule.points) - min(rule.points) for rule in rules))
    return tuple(swings)


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


def _distinct(ratios: list[Ratio]) -> list[Ratio]:
    """Sorted ratios without repeats of the same value (3/6 and 1/2 are one crossing)."""
    kept = [ratios[0]]
    for ratio in ratios[1:]:
        if _compare(ratio, kept[-1]):
            kept.append(ratio)
    return kept


def sensitivity(result: Result) -> tuple[WeightShift, ...]:
    """For each row, the weight factor closest to 1 at which another option would win (rows with none omitted)."""
    rules = result.ruleset.rules
    criteria, options = result.ruleset.criteria, result.ruleset.options
    n = len(result.totals)
    # When every option is ruled out, the ranking ignores exclusions, so every option can still overtake.
    eligible = [o for o in range(n) if not result.excluded_by[o]] or list(range(n))
    if len(eligible) < 2:
        return ()
    row_points: dict[int, list[int]] = {}
    for index in result.fired:
        points = row_points.setdefault(rules[index].criterion, [0] * n)
        for o, p in enumerate(rules[index].points):
            points[o] += p
    found = []
    w = result.winner
    others = [o for o in eligible if o != w]
    for criterion in sorted(row_points):
        row = row_points[criterion]
        base = [total - points for total, points in zip(result.totals, row)]
        up, down = [], []
        for o in others:
            slope = row[w] - row[o]
            if slope:
                gap = base[o] - base[w]
                # Only crossings at factors >= 0 can happen: gap and slope of the same sign, or no gap.
                if gap == 0 or (gap > 0) == (slope > 0):
                    if slope < 0:
                        gap, slope = -gap, -slope
                    # A crossing at exactly 1 is a tie won on list order: the slightest move one way flips it,
                    # so it starts the walk in both directions (the walk probes beyond it before reporting a flip).
                    if gap >= slope:
                        up.append((gap, slope))
                    if gap <= slope:
                        down.append((gap, slope))
        if not up and not down:
            continue
        if len(up) > 1:
            up = _distinct(sorted(up, key=_BY_VALUE))
        if len(down) > 1:
            down = _distinct(sorted(down, key=_BY_VALUE, reverse=True))
        more = _first_flip(up, (up[-1][0] + up[-1][1], up[-1][1]), w, base, row, eligible) if up else None
        less = _first_flip(down, (0, 1), w, base, row, eligible) if down else None
        # The flip closest to 1 on a log scale; a tie goes to "more". a/b ≥ 1 is closer than c/d ≤ 1 when a·c ≤ b·d.
        if more and (not less or less[0][0] == 0 or more[0][0] * less[0][0] <= more[0][1] * less[0][1]):
            (num, den), winner, direction = *more, "more"
        elif less:
            (num, den), winner, direction = *less, "less"
        else:
            continue
        found.append(WeightShift(criteria[criterion], num / den, direction, options[winner]))
    return tuple(found)


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


def notes(result: Result) -> tuple[str, ...]:
    """Plain remarks about how the result came about that a reader should not miss."""
    options = result.ruleset.options
    said = []
    if not any(result.state):
        # Nothing answered: the tie-break's pick is no recommendation, so it is not presented as one.
        return ("No question was answered, so nothing favours any option yet.",)
    if result.all_excluded:
        said.append("Every option was ruled out by some answer; the highest score is shown anyway.")
    if result.won_on_tie and result.runner_up is not None:
        said.append(f"{options[result.winner].label} and {options[result.runner_up].label} scored the same; "
                    "ties go to the simpler option.")
    return tuple(said)


@lru_cache(maxsize=8)
def _needs(ruleset: RuleSet) -> tuple[tuple[tuple[UnmetNeed | None, ...], ...], ...]:
    """[question][state][option] → the need that answer states and the option leaves unmet (None when none)."""
    return tuple(tuple(tuple(None if not s else
                             (UnmetNeed(question, question.choices[s - 1], question.choices[s - 1].unmet[option.id])
                              if option.id in question.choices[s - 1].unmet else None)
                             for option in ruleset.options)
                       for s in range(len(question.choices) + 1))
                 for question in ruleset.questions)


def explain(result: Result) -> Explanation:
    """The typed explanation of a result: what every view renders."""
    rs = result.ruleset
    options, questions, rules = rs.options, rs.questions, rs.rules
    fired = tuple(rules[index] for index in result.fired)
    scores = [0.0] * len(options)
    for rule in fired:
        scores = list(map(add, scores, rule.point_values))  # summed in trace order: shown scores = shown points
    pro, con = drivers(result)
    ahead = outlook(result)
    needs = _needs(rs)
    return Explanation(
        ruleset=rs,
        state=result.state,
        recommendation=options[result.winner],
        closeness=closeness(result, ahead),
        margin=result.margin / MICRO,
        runner_up=options[result.runner_up] if result.runner_up is not None else None,
        tie_break=result.won_on_tie,
        notes=notes(result),
        ranking=tuple(Standing(options[o], scores[o], tuple(rules[r].rule for r in result.excluded_by[o]))
                      for o in result.ranking),
        drivers=pro,
        against=con,
        fired=fired,
        excluded=tuple(Exclusion(options[o], rules[r].rule)
                       for o in range(len(options)) for r in result.excluded_by[o]),
        unmet_needs=tuple((option, tuple(needs[q][s][o] for q, s in pairs))
                          for o, (option, pairs) in enumerate(zip(options, result.unmet))),
        what_if=what_if(result),
        sensitivity=sensitivity(result),
        open=OpenQuestions(tuple(questions[q] for q in ahead.questions),
                           tuple(zip(options, ahead.shares))),
    )


__all__ = [
    "OPEN",
    "UNANSWERED",
    "UNMET",
    "Change",
    "ChangeGroup",
    "Exclusion",
    "Explanation",
    "OpenQuestions",
    "RowEffect",
    "Standing",
    "UnmetNeed",
    "WeightShift",
    "closeness",
    "drivers",
    "explain",
    "notes",
    "sensitivity",
    "what_if",
]
