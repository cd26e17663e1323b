"""Share links: answers ⇄ canonical query strings, with every bad parameter named."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

from .conditions import State
from .errors import AnswerIssue, did_you_mean
from .ruleset import RuleSet

RULES_PARAM = "rules"
MAX_QUERY_BYTES = 2048  # the longest canonical link is far shorter; gunicorn's request line stops at 4094


@dataclass(frozen=True)
class LinkAnswers:
    """What a query string says: the valid answers, the rules fingerprint it names, and each bad parameter."""

    answers: dict[str, str]
    fingerprint: str | None
    issues: tuple[AnswerIssue, ...]


def answers_from_pairs(ruleset: RuleSet, pairs: Iterable[tuple[str, str]]) -> LinkAnswers:
    """Read (name, value) pairs from a link. Unknown names are ignored (tracking tags); an empty value is unanswered."""
    answers: dict[str, str] = {}
    issues: list[AnswerIssue] = []
    bad: set[str] = set()
    fingerprint = None
    for name, value in pairs:
        if name == RULES_PARAM:
            fingerprint = value
            continue
        q = ruleset.question_index.get(name)
        if q is None or name in bad:
            continue
        if value == "":
            continue
        issue = choice_issue(ruleset, name, value) or (
            twice_issue(name, answers[name], value) if answers.get(name, value) != value else None)
        if issue is not None:
            issues.append(issue)
            bad.add(name)
            answers.pop(name, None)
        else:
            answers[name] = value
    return LinkAnswers(answers, fingerprint, tuple(issues))


def choice_issue(ruleset: RuleSet, question: str, value: str) -> AnswerIssue | None:
    """What is wrong with answering a (known) question with `value`; None when it is one of its choices."""
    choices = ruleset.choice_index[ruleset.question_index[question]]
    if value == "" or value in choices:
        return None
    hint = did_you_mean(value, choices) or f"choose one of: {', '.join(choices)}"
    return AnswerIssue(question, value, f"'{question}' has no choice '{value}'; {hint}")


def twice_issue(question: str, first: str, second: str) -> AnswerIssue:
    """A question given twice with different choices."""
    return AnswerIssue(question, second, f"'{question}' is given twice with different choices "
                                         f"('{first}' and '{second}'); keep one")


def canonical_query(ruleset: RuleSet, answers: dict[str, str], *, with_rules: bool = True,
                    fingerprint: str | None = None) -> str:
    """Answered questions in questionnaire order, then `rules=<fingerprint>` (the rules' own unless given)."""
    state = tuple(ruleset.choice_index[q].get(answers.get(question.id) or "", 0)
                  for q, question in enumerate(ruleset.questions))
    if not with_rules or fingerprint is None or fingerprint == ruleset.fingerprint:
        return state_query(ruleset, state, with_rules=with_rules)
    query = state_query(ruleset, state, with_rules=False)
    return f"{query}{'&' if query else ''}{RULES_PARAM}={quote(fingerprint, safe='')}"


def state_query(ruleset: RuleSet, state: State, *, with_rules: bool = True) -> str:
    """The canonical query of a state (per question: 0 unanswered, else choice number)."""
    params = _params(ruleset)
    pieces = [params[q][s] for q, s in enumerate(state) if s]
    if with_rules:
        pieces.append(f"{RULES_PARAM}={ruleset.fingerprint}")
    return "&".join(pieces)


def changed_query(ruleset: RuleSet, state: State, question: int, choice: int) -> str:
    """The canonical query of a state with one question's answer changed to `choice` (a choice number)."""
    return state_query(ruleset, state[:question] + (choice,) + state[question + 1:])


@lru_cache(maxsize=8)
def _params(ruleset: RuleSet) -> tuple[tuple[str, ...], ...]:
    """[question][state] → 'question=choice', quoted once per rules version ('' when unanswered)."""
    return tuple(("",) + tuple(f"{quote(q.id)}={quote(c.id)}" for c in q.choices) for q in ruleset.questions)
