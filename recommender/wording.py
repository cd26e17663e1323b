"""Sentences shared by every view (page, CLI, decision record), so they never word a fact differently."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .model import Question
from .ruleset import RuleSet

if TYPE_CHECKING:
    from .explain import ChangeGroup, Explanation, WeightShift

# How sure a recommendation is, per value of the result document's `closeness`.
CLOSENESS_WORDS = {
    "clear": "a clear choice",
    "close": "a close call — read on",
    "tie": "a tie, settled by simplicity",
    "open": "a first lean — the open questions could still change it",
    "unmet": "the best fit, but not every stated need is met",
    "unanswered": "no answers yet",
}
NO_ANSWERS_HEADLINE = "No recommendation yet: answer a few questions first"


def headline_text(label: str, closeness: str) -> str:
    """The recommendation and how sure it is, e.g. 'Kubernetes — a clear choice'; none when nothing is answered."""
    if closeness == "unanswered":
        return NO_ANSWERS_HEADLINE
    return f"{label} — {CLOSENESS_WORDS[closeness]}"


def points_text(points: float) -> str:
    """Points as shown: as few digits as they need, e.g. '3', '-1.5'."""
    return f"{points:g}"


def signed_points_text(points: float) -> str:
    """Points added to a lead, with their sign, e.g. '+3', '-1.5'."""
    return f"{points:+g}"


def unmet_phrase(text: str) -> str:
    """One need the recommendation leaves unmet, as said next to it."""
    return f"Leaves unmet — {text}"


def percent(share: float) -> str:
    """A share as a percentage: whole numbers, more digits only where rounding would say 0 % or 100 % untruly."""
    if share <= 0:
        return "0 %"
    if share >= 1:
        return "100 %"
    for digits in (0, 1, 2):
        text = f"{100 * share:.{digits}f}"
        if 0 < float(text) < 100:
            return f"{text} %"
    return "under 0.01 %" if share < 0.5 else "over 99.99 %"


def open_sentence_lead(label: str, share: float, open_count: int) -> tuple[str, bool]:
    """The words of the open-question sentence before its most decisive question, and whether that question follows."""
    if open_count == 1:
        if share >= 1:
            return f"{label} wins whichever way your open question is answered: ", True
        return f"{label} wins in {percent(share)} of the ways your open question could be answered: ", True
    if share >= 1:
        return f"{label} wins in every way your {open_count} open questions could be answered.", False
    return (f"{label} wins in {percent(share)} of the ways your {open_count} open questions could be answered; "
            f"the one that matters most: "), True


def open_sentence(label: str, share: float, open_count: int, question: str) -> str:
    """What the open questions could change, e.g. 'Kubernetes wins in 68 % of the ways your 7 open questions could
    be answered; the one that matters most: …?', where `question` is the most decisive one.
    """
    lead, names_question = open_sentence_lead(label, share, open_count)
    return lead + question if names_question else lead


def open_outlook(explanation: Explanation) -> tuple[str, Question | None] | None:
    """The open-question sentence as (its lead, the question that ends it, if any); None when nothing is open or
    nothing is answered. The page links the question; text views append it."""
    questions = explanation.open.questions
    if not questions or not explanation.answered:
        return None
    lead, names_question = open_sentence_lead(explanation.label, explanation.open_share, len(questions))
    return lead, questions[0] if names_question else None


def open_outlook_sentence(explanation: Explanation) -> str | None:
    """The open-question sentence as plain text, or None when nothing is open (or nothing is answered)."""
    found = open_outlook(explanation)
    if found is None:
        return None
    lead, question = found
    return lead + question.text if question else lead


def change_phrase(group: ChangeGroup) -> str:
    """A group of what-if changes as a team would say it: 'the answer to “…?” is “…” or “…”'."""
    return f"the answer to “{group.question.text}” is " + " or ".join(f"“{c.label}”" for c in group.choices)


def sensitivity_phrase(shift: WeightShift) -> str:
    """A weight shift as a sentence, e.g. 'Kubernetes would win if High Availability counted 2.4× as much'."""
    option, row, factor = shift.recommendation.label, shift.criterion.label, shift.factor
    if factor == 0:
        return f"{option} would win if {row} did not count at all"
    if factor == 1:
        return f"{option} would win if {row} counted even slightly {shift.direction}"
    return f"{option} would win if {row} counted {factor:.2g}× as much"


def describe_condition(ruleset: RuleSet, when: dict) -> str:
    """A rule's `when` in words, e.g. 'hosts is many, and services is many or lots'."""
    parts = []
    for key, value in when.items():
        if key in ("any", "all"):
            inner = [describe_condition(ruleset, part) for part in value]
            joiner = " or " if key == "any" else " and "
            parts.append("(" + joiner.join(inner) + ")" if len(inner) > 1 else inner[0])
        elif key == "not":
            parts.append(f"not ({describe_condition(ruleset, value)})")
        else:
            choices = value if isinstance(value, list | tuple) else [value]
            parts.append(f"{key} is {' or '.join(choices)}")
    return ", and ".join(parts)
