"""A team's answers together: each member's result, how the answers spread, the group's answers by one stated rule,
how far the members agree, the disagreements that change the group's recommendation, and the dissent to record.

Pure: members' stored answers (question id → choice id, possibly from older rules) in, a typed GroupResult out.
Every recommendation in it is an Explanation (evaluate + explain), so a room says what the results page says.

How the group's answers are chosen is GROUP_RULE, the text the README and the room's page quote.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from .conditions import State
from .engine import evaluate_state
from .explain import Change, Explanation, explain
from .model import Choice, Option, Question
from .ruleset import RuleSet

GROUP_RULE = (
    "Each ordered question takes the median of the members' answers, by the choices' order (least demanding "
    "first). With an even number of answers it takes the lower of the two middle ones, the less demanding: more "
    "than half of the answers are then at least that demanding, whereas the upper middle may be asked for by only "
    "half. Since a more demanding answer never gives a lighter recommendation (the ordering contract), the group "
    "never leans heavier than a majority of its answers ask, and an even split goes to the simpler side, as a tied "
    "score does. A question whose choices have no order takes the answer most members gave; a tie goes to the "
    "choice listed first. Members who left a question unanswered do not vote on it; a question nobody answered "
    "stays unanswered. Answers to questions or choices the current rules no longer have are not counted. The "
    "group's answers are then evaluated like any questionnaire."
)

# How far the members agree (Agreement.level): the page words these.
ALL = "all"               # every member who answered anything is recommended the group's option
MAJORITY = "majority"     # more than half of them are
SPLIT = "split"           # half or fewer are
NO_ANSWERS = "unanswered"  # no member answered anything: there is nothing to agree on

AGREEMENT_WORDS = {
    ALL: "everyone's answers lead to the group's recommendation",
    MAJORITY: "most members' answers lead to the group's recommendation",
    SPLIT: "the team is split: at most half of the members' answers lead to the group's recommendation",
    NO_ANSWERS: "nobody has answered yet",
}

# Why a stored answer is not counted (NotCounted.reason).
UNKNOWN_QUESTION = "unknown question"
UNKNOWN_CHOICE = "unknown choice"


class Member(NamedTuple):
    """One member as stored: a display name and answers by question id and choice id."""

    name: str
    answers: Mapping[str, str]


class NotCounted(NamedTuple):
    """A stored answer the current rules cannot read: its question or its choice no longer exists."""

    question_id: str
    choice_id: str
    question: Question | None      # the question when it still exists (the choice is what went away)
    reason: str                    # UNKNOWN_QUESTION or UNKNOWN_CHOICE

    @property
    def text(self) -> str:
        """In plain words, for the page and the record."""
        if self.question is None:
            return f"'{self.question_id}' is no longer asked; the answer '{self.choice_id}' is not counted"
        return f"'{self.question.text}' no longer offers '{self.choice_id}'; that answer is not counted"


@dataclass(frozen=True, slots=True)
class MemberResult:
    """One member's result under the current rules, from the answers that count."""

    name: str
    explanation: Explanation
    not_counted: tuple[NotCounted, ...]

    @property
    def state(self) -> State:
        return self.explanation.state

    @property
    def answered(self) -> bool:
        """Whether any answer counts: a member with none has no recommendation."""
        return self.explanation.answered

    @property
    def recommendation(self) -> Option:
        return self.explanation.recommendation

    @property
    def answers(self) -> tuple[tuple[Question, Choice], ...]:
        """The counted answers in questionnaire order."""
        return self.explanation.answers


class Tally(NamedTuple):
    """One choice of a question and the members who gave it."""

    choice: Choice
    members: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.members)


class Spread(NamedTuple):
    """How the members answered one question, and the group's answer to it."""

    question: Question
    tallies: tuple[Tally, ...]      # every choice, in listing order, with zero counts too
    unanswered: tuple[str, ...]     # the members who left it unanswered
    not_counted: tuple[str, ...]    # the members whose answer is a choice the question no longer offers
    group_choice: Choice | None     # None: nobody answered it

    @property
    def answered(self) -> int:
        return sum(tally.count for tally in self.tallies)


class Agreement(NamedTuple):
    """How far the members' own recommendations agree with the group's."""

    level: str                      # ALL, MAJORITY, SPLIT or NO_ANSWERS
    agreeing: int                   # members recommended the group's option
    counted: int                    # members with at least one counted answer
    by_option: tuple[tuple[Option, tuple[str, ...]], ...]   # every option, with the members it is recommended to

    @property
    def words(self) -> str:
        return AGREEMENT_WORDS[self.level]


class Difference(NamedTuple):
    """A member's counted answer that differs from the group's, and what it would do in the group's place."""

    member: str
    question: Question
    choice: Choice                  # the member's answer
    group_choice: Choice            # the group's answer (a member's answer implies the group has one)
    change: Change | None           # the group's what-if for that answer; None: the recommendation stays

    @property
    def matters(self) -> bool:
        return self.change is not None


class Disagreement(NamedTuple):
    """The members whose answer to one question, put in place of the group's, would make the group's recommendation
    the same other option."""

    question: Question
    group_choice: Choice
    recommendation: Option
    direction: str                  # "heavier" or "lighter", as the what-if says
    members: tuple[tuple[str, Choice], ...]   # (member, their answer), in member order


class DissentingAnswer(NamedTuple):
    """A question a dissenting member answers differently from the group (choice None: the member left it open)."""

    question: Question
    choice: Choice | None
    group_choice: Choice | None


class Dissent(NamedTuple):
    """A member whose own recommendation differs from the group's, and the answers where they part."""

    member: str
    recommendation: Option
    answers: tuple[DissentingAnswer, ...]   # in questionnaire order

    @property
    def differing(self) -> tuple[DissentingAnswer, ...]:
        """The questions the member answered differently (not the ones they left open)."""
        return tuple(answer for answer in self.answers if answer.choice is not None)

    @property
    def left_open(self) -> tuple[Question, ...]:
        """The questions the group answered and the member left open."""
        return tuple(answer.question for answer in self.answers if answer.choice is None)


@dataclass(frozen=True, slots=True)
class GroupResult:
    """Everything a room's results and its decision record say, read from one Explanation per member and one for
    the group."""

    ruleset: RuleSet
    members: tuple[MemberResult, ...]
    spread: tuple[Spread, ...]             # every question, in questionnaire order
    explanation: Explanation               # the group's answers, evaluated like any questionnaire
    agreement: Agreement
    differences: tuple[Difference, ...]    # per member (in order), per question (in order)
    dissent: tuple[Dissent, ...]

    @property
    def recommendation(self) -> Option:
        return self.explanation.recommendation

    @property
    def closeness(self) -> str:
        return self.explanation.closeness

    @property
    def answers(self) -> tuple[tuple[Question, Choice], ...]:
        """The group's answers in questionnaire order."""
        return self.explanation.answers

    @property
    def disagreements(self) -> tuple[Disagreement, ...]:
        """The differences that change the group's recommendation, grouped by question (questionnaire order) and
        the option they lead to (option order)."""
        groups: dict[tuple[int, int], list] = {}
        questions = self.ruleset.question_index
        options = self.ruleset.option_index
        for difference in self.differences:
            change = difference.change
            if change is None:
                continue
            key = (questions[difference.question.id], options[change.recommendation.id])
            entry = groups.setdefault(key, [difference, []])
            entry[1].append((difference.member, difference.choice))
        return tuple(Disagreement(first.question, first.group_choice, first.change.recommendation,
                                  first.change.direction, tuple(members))
                     for _, (first, members) in sorted(groups.items(), key=_first_item))

    def as_json(self) -> dict:
        """The room's results document: ids for what the rules name, labels beside them, as explain's as_json."""
        agreement = self.agreement
        return {
            "rule": GROUP_RULE,
            "recommendation": self.recommendation.id,
            "label": self.recommendation.label,
            "closeness": self.closeness,
            "headline": self.explanation.headline,
            "answers": {q.id: c.id for q, c in self.answers},
            "result": self.explanation.as_json(),
            "agreement": {"level": agreement.level, "words": agreement.words, "agreeing": agreement.agreeing,
                          "counted": agreement.counted,
                          "by_option": {option.id: list(names) for option, names in agreement.by_option}},
            "members": [_member_json(member) for member in self.members],
            "spread": [{"question": s.question.id, "text": s.question.text, "ordered": s.question.ordered,
                        "choices": [{"choice": t.choice.id, "label": t.choice.label, "count": t.count,
                                     "members": list(t.members)} for t in s.tallies],
                        "unanswered": len(s.unanswered), "unanswered_members": list(s.unanswered),
                        "not_counted": len(s.not_counted), "not_counted_members": list(s.not_counted),
                        "group": s.group_choice.id if s.group_choice is not None else None}
                       for s in self.spread],
            "disagreements": [{"question": d.question.id, "group_choice": d.group_choice.id,
                               "recommendation": d.recommendation.id, "label": d.recommendation.label,
                               "direction": d.direction,
                               "members": [{"name": name, "choice": choice.id} for name, choice in d.members]}
                              for d in self.disagreements],
            "dissent": [{"member": d.member, "recommendation": d.recommendation.id, "label": d.recommendation.label,
                         "answers": [{"question": a.question.id,
                                      "choice": a.choice.id if a.choice is not None else None,
                                      "group_choice": a.group_choice.id if a.group_choice is not None else None}
                                     for a in d.answers]}
                        for d in self.dissent],
            "rules_fingerprint": self.ruleset.fingerprint,
        }


def _first_item(pair: tuple) -> object:
    return pair[0]


def _member_json(member: MemberResult) -> dict:
    explanation = member.explanation
    return {"name": member.name, "recommendation": explanation.recommendation.id,
            "label": explanation.recommendation.label, "closeness": explanation.closeness,
            "headline": explanation.headline, "margin": explanation.margin,
            "answers": {q.id: c.id for q, c in explanation.answers},
            "not_counted": [{"question": n.question_id, "choice": n.choice_id, "reason": n.reason, "text": n.text}
                            for n in member.not_counted],
            "query": explanation.query()}


# --- the work -----------------------------------------------------------------------------------------------------


def counted_state(ruleset: RuleSet, answers: Mapping[str, object]) -> tuple[State, tuple[NotCounted, ...]]:
    """The state of the answers the current rules can read, and each stored answer they cannot.

    An empty or missing choice is unanswered, as in a share link; anything else that is not one of the question's
    choice ids is not counted."""
    state = [0] * len(ruleset.questions)
    not_counted = []
    for question_id, choice_id in answers.items():
        if choice_id is None or choice_id == "":
            continue
        q = ruleset.question_index.get(question_id) if isinstance(question_id, str) else None
        if q is None:
            not_counted.append(NotCounted(str(question_id), str(choice_id), None, UNKNOWN_QUESTION))
            continue
        s = ruleset.choice_index[q].get(choice_id) if isinstance(choice_id, str) else None
        if s is None:
            not_counted.append(NotCounted(question_id, str(choice_id), ruleset.questions[q], UNKNOWN_CHOICE))
            continue
        state[q] = s
    return tuple(state), tuple(not_counted)


def group_choice(question: Question, given: Iterable[int]) -> int:
    """The group's answer to one question (a choice number, 0 unanswered) from the members' choice numbers
    (0 for unanswered): see GROUP_RULE."""
    votes = sorted(s for s in given if s)
    if not votes:
        return 0
    if question.ordered:
        return votes[(len(votes) - 1) // 2]  # the lower middle when the count is even
    counts = [0] * (len(question.choices) + 1)
    for s in votes:
        counts[s] += 1
    return counts.index(max(counts))  # the first listed of the most given (counts[0] is 0 and never the max)


def group_state(ruleset: RuleSet, states: Iterable[State]) -> State:
    """The group's answers (a state) from the members' states, question by question."""
    states = list(states)
    return tuple(group_choice(question, (state[q] for state in states))
                 for q, question in enumerate(ruleset.questions))


def aggregate(ruleset: RuleSet, members: Iterable[Member | tuple[str, Mapping[str, object]]]) -> GroupResult:
    """The room's results for these members (in the order given) under the current rules."""
    explained: dict[State, Explanation] = {}  # members who answered alike share one explanation

    def explanation_of(state: State) -> Explanation:
        found = explained.get(state)
        if found is None:
            found = explained[state] = explain(evaluate_state(ruleset, state))
        return found

    results = []
    for position, member in enumerate(members):
        name, answers = member
        if not isinstance(answers, Mapping):
            raise TypeError(f"member {position + 1} ({name!r}): answers must be a mapping of question id to choice "
                            f"id, not {type(answers).__name__}")
        state, not_counted = counted_state(ruleset, answers)
        results.append(MemberResult(name, explanation_of(state), not_counted))
    results = tuple(results)

    group = group_state(ruleset, (member.state for member in results))
    explanation = explanation_of(group)
    return GroupResult(ruleset, results, _spread(ruleset, results, group), explanation,
                       _agreement(ruleset, results, explanation.recommendation),
                       _differences(ruleset, results, explanation), _dissent(ruleset, results, explanation))


def _spread(ruleset: RuleSet, members: tuple[MemberResult, ...], group: State) -> tuple[Spread, ...]:
    stale = [{n.question_id for n in member.not_counted if n.reason == UNKNOWN_CHOICE} for member in members]
    spread = []
    for q, question in enumerate(ruleset.questions):
        by_choice: list[list[str]] = [[] for _ in range(len(question.choices) + 1)]
        not_counted = []
        for member, stale_questions in zip(members, stale):
            if question.id in stale_questions:
                not_counted.append(member.name)
            else:
                by_choice[member.state[q]].append(member.name)
        tallies = tuple(Tally(choice, tuple(names)) for choice, names in zip(question.choices, by_choice[1:]))
        spread.append(Spread(question, tallies, tuple(by_choice[0]), tuple(not_counted),
                             question.choices[group[q] - 1] if group[q] else None))
    return tuple(spread)


def _agreement(ruleset: RuleSet, members: tuple[MemberResult, ...], recommendation: Option) -> Agreement:
    by_option: list[list[str]] = [[] for _ in ruleset.options]
    for member in members:
        if member.answered:
            by_option[ruleset.option_index[member.recommendation.id]].append(member.name)
    counted = sum(len(names) for names in by_option)
    agreeing = len(by_option[ruleset.option_index[recommendation.id]])
    if not counted:
        level = NO_ANSWERS
    elif agreeing == counted:
        level = ALL
    elif 2 * agreeing > counted:
        level = MAJORITY
    else:
        level = SPLIT
    return Agreement(level, agreeing, counted, tuple(zip(ruleset.options, map(tuple, by_option))))


def _differences(ruleset: RuleSet, members: tuple[MemberResult, ...],
                 group: Explanation) -> tuple[Difference, ...]:
    # The group's what-if already holds every single answer that, in place of the group's, changes its
    # recommendation: a member's answer matters exactly when it is one of them.
    changes = {(change.question.id, change.choice.id): change for change in group.what_if}
    questions = ruleset.questions
    found = []
    for member in members:
        for q, (mine, ours) in enumerate(zip(member.state, group.state)):
            if mine and mine != ours:
                question = questions[q]
                choice = question.choices[mine - 1]
                found.append(Difference(member.name, question, choice, question.choices[ours - 1],
                                        changes.get((question.id, choice.id))))
    return tuple(found)


def _dissent(ruleset: RuleSet, members: tuple[MemberResult, ...], group: Explanation) -> tuple[Dissent, ...]:
    questions = ruleset.questions
    found = []
    for member in members:
        if not member.answered or member.recommendation == group.recommendation:
            continue
        answers = tuple(DissentingAnswer(questions[q], questions[q].choices[mine - 1] if mine else None,
                                         questions[q].choices[ours - 1] if ours else None)
                        for q, (mine, ours) in enumerate(zip(member.state, group.state)) if mine != ours)
        found.append(Dissent(member.name, member.recommendation, answers))
    return tuple(found)


__all__ = [
    "AGREEMENT_WORDS",
    "ALL",
    "GROUP_RULE",
    "MAJORITY",
    "NO_ANSWERS",
    "SPLIT",
    "UNKNOWN_CHOICE",
    "UNKNOWN_QUESTION",
    "Agreement",
    "Difference",
    "Disagreement",
    "Dissent",
    "DissentingAnswer",
    "GroupResult",
    "Member",
    "MemberResult",
    "NotCounted",
    "Spread",
    "Tally",
    "aggregate",
    "counted_state",
    "group_choice",
    "group_state",
]
