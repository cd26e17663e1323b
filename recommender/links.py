"""Share links: answers ⇄ canonical query strings, with every bad parameter named."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

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
        choices = ruleset.choice_index[q]
        if value not in choices:
            hint = did_you_mean(value, choices) or f"choose one of: {', '.join(choices)}"
            issues.append(AnswerIssue(name, value, f"'{name}' has no choice '{value}'; {hint}"))
            bad.add(name)
            answers.pop(name, None)
        elif answers.get(name, value) != value:
            issues.append(AnswerIssue(name, value, f"'{name}' is given twice with different choices "
                                                   f"('{answers[name]}' and '{value}'); keep one"))
            bad.add(name)
            answers.pop(name)
        else:
            answers[name] = value
    return LinkAnswers(answers, fingerprint, tuple(issues))


def canonical_query(ruleset: RuleSet, answers: dict[str, str], *, with_rules: bool = True) -> str:
    """Answered questions in questionnaire order, then `rules=<fingerprint>`."""
    parts = [f"{q.id}={quote(answers[q.id])}" for q in ruleset.questions if answers.get(q.id)]
    if with_rules:
        parts.append(f"{RULES_PARAM}={ruleset.fingerprint}")
    return "&".join(parts)
