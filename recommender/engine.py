"""Evaluation: answers in, a Result that carries its whole trace out. Pure and deterministic."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .conditions import State
from .errors import AnswerIssue, AnswersError, did_you_mean
from .ruleset import RuleSet

CLEAR, CLOSE, TIE = "clear", "close", "tie"


@dataclass(frozen=True)
class Result:
    """The outcome of one questionnaire and everything that led to it (points in MICRO units)."""

    ruleset: RuleSet
    state: State
    fired: tuple[int, ...]               # indexes of the rules that fired, in rules-file order
    totals: tuple[int, ...]              # score per option
    excluded_by: tuple[tuple[int, ...], ...]  # per option, the rules that ruled it out
    ranking: tuple[int, ...]             # option indexes, best first; excluded options last
    winner: int
    runner_up: int | None
    margin: int                          # winner's lead over the runner-up
    closeness: str                       # CLEAR, CLOSE or TIE
    won_on_tie: bool                     # the winner only won because it is listed first
    hits: int = 0                        # the fired rules as a bit set, bit r for rule r (what-if reuses it)
    # Per option, the (question, choice number) answers, in questionnaire order, that state a need it leaves unmet.
    unmet: tuple[tuple[tuple[int, int], ...], ...] = ()

    @property
    def answers(self) -> dict[str, str]:
        """The given answers in questionnaire order."""
        questions = self.ruleset.questions
        return {q.id: q.choices[s - 1].id for q, s in zip(questions, self.state) if s}

    @property
    def unanswered(self) -> tuple[str, ...]:
        return tuple(q.id for q, s in zip(self.ruleset.questions, self.state) if not s)

    @property
    def all_excluded(self) -> bool:
        return all(self.excluded_by)


def parse_answers(ruleset: RuleSet, answers: Mapping[str, object]) -> State:
    """Turn {question: choice} into a state; raise AnswersError naming every unknown question or choice."""
    state = [0] * len(ruleset.questions)
    issues = []
    for question, choice in answers.items():
        q = ruleset.question_index.get(question) if isinstance(question, str) else None
        if q is None:
            hint = did_you_mean(str(question), ruleset.question_index)
            issues.append(AnswerIssue(str(question), None if choice is None else str(choice),
                                      f"unknown question '{question}'" + (f"; {hint}" if hint else "")))
            continue
        s = ruleset.choice_index[q].get(choice) if isinstance(choice, str) else None
        if s is None:
            choices = ruleset.choice_index[q]
            hint = did_you_mean(str(choice), choices) or f"choose one of: {', '.join(choices)}"
            issues.append(AnswerIssue(question, None if choice is None else str(choice),
                                      f"'{question}' has no choice '{choice}'; {hint}"))
            continue
        state[q] = s
    if issues:
        raise AnswersError(issues)
    return tuple(state)


def evaluate(ruleset: RuleSet, answers: Mapping[str, object]) -> Result:
    """Evaluate answers ({question id: choice id}; absent questions are unanswered) under the rules."""
    return evaluate_state(ruleset, parse_answers(ruleset, answers))


def evaluate_state(ruleset: RuleSet, state: State) -> Result:
    """Evaluate a state (per question: 0 unanswered, else choice number) under the rules."""
    n = len(ruleset.options)
    # Every rule at once, on bit sets (see RuleSet.cube_fails): evaluation is on every request's path.
    hits = ruleset.hits(ruleset.failed_cubes(state))
    fired = []
    rest = hits
    while rest:
        low = rest & -rest
        fired.append(low.bit_length() - 1)
        rest ^= low
    fired = tuple(fired)
    rules = ruleset.rules
    totals = [sum(column) for column in zip(*[rules[r].points for r in fired])] if fired else [0] * n
    excluded: list[list[int]] = [[] for _ in range(n)]
    for r in fired:
        for o in rules[r].excludes:
            excluded[o].append(r)
    is_excluded = [bool(e) for e in excluded]
    ranking = rank(totals, is_excluded)
    winner = ranking[0]
    runner_up = ranking[1] if n > 1 else None
    margin = totals[winner] - totals[runner_up] if runner_up is not None else 0
    won_on_tie = False
    if runner_up is None or is_excluded[runner_up] != is_excluded[winner]:
        closeness = CLEAR
    elif margin == 0:
        closeness, won_on_tie = TIE, True
    elif margin < ruleset.close_micro:
        closeness = CLOSE
    else:
        closeness = CLEAR
    return Result(ruleset, state, fired, tuple(totals), tuple(tuple(e) for e in excluded), ranking, winner,
                  runner_up, margin, closeness, won_on_tie, hits, unmet_needs(ruleset, state))


_NONE_UNMET: dict[int, tuple[tuple[()], ...]] = {}


def unmet_needs(ruleset: RuleSet, state: State) -> tuple[tuple[tuple[int, int], ...], ...]:
    """Per option, the answered (question, choice number) pairs whose `unmet` names it, in questionnaire order."""
    masks = ruleset.unmet_masks
    hits = [q for q in ruleset.unmet_questions if masks[q][state[q]]]
    if not hits:
        n = len(ruleset.options)
        return _NONE_UNMET.get(n) or _NONE_UNMET.setdefault(n, ((),) * n)
    per_option: list[list[tuple[int, int]]] = [[] for _ in ruleset.options]
    for q in hits:
        s = state[q]
        for o in ruleset.unmet[q][s]:
            per_option[o].append((q, s))
    return tuple(tuple(pairs) for pairs in per_option)


def rank(totals: list[int] | tuple[int, ...], excluded: list[bool]) -> tuple[int, ...]:
    """Options best first: eligible before excluded, then by score, then by list order (simpler first)."""
    return tuple(sorted(range(len(totals)), key=lambda o: (excluded[o], -totals[o], o)))


def winner_of(totals: list[int], exclusion_counts: list[int] | None) -> int:
    """The top of `rank` without sorting: what what-if needs thousands of times (None: nothing excluded)."""
    if exclusion_counts is None or not any(exclusion_counts):
        return totals.index(max(totals))  # the first of the highest: ties go to the earlier option
    best, best_total = -1, 0
    for o, total in enumerate(totals):
        if not exclusion_counts[o] and (best < 0 or total > best_total):
            best, best_total = o, total
    # With every option ruled out, the ranking ignores exclusions.
    return best if best >= 0 else totals.index(max(totals))
