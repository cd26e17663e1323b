"""Sentences shared by every view (page, CLI, decision record), so they never word a fact differently."""

from __future__ import annotations

from .model import Question
from .ruleset import RuleSet

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


def open_outlook(ruleset: RuleSet, document: dict) -> tuple[str, Question | None] | None:
    """The document's open-question sentence as (its lead, the question that ends it, if any); None when nothing is
    open or nothing is answered. The page links the question; text views append it."""
    questions = document["open"]["questions"]
    if not questions or document["closeness"] == "unanswered":
        return None
    lead, names_question = open_sentence_lead(document["label"], document["open"]["wins"][document["recommendation"]],
                                              len(questions))
    return lead, ruleset.questions[ruleset.question_index[questions[0]]] if names_question else None


def open_outlook_sentence(ruleset: RuleSet, document: dict) -> str | None:
    """The document's open-question sentence as plain text, or None when nothing is open (or nothing is answered)."""
    found = open_outlook(ruleset, document)
    if found is None:
        return None
    lead, question = found
    return lead + question.text if question else lead


def unmet_lines(ruleset: RuleSet, document: dict) -> list[tuple[str, list[str]]]:
    """(option label, its unmet needs' texts) for every option that leaves a stated need unmet, in option order."""
    return [(ruleset.options[ruleset.option_index[option]].label, [need["text"] for need in needs])
            for option, needs in document["unmet_needs"].items() if needs]


def choice_label(ruleset: RuleSet, question_id: str, choice_id: str) -> str:
    question = ruleset.questions[ruleset.question_index[question_id]]
    return question.choices[ruleset.choice_index[ruleset.question_index[question_id]][choice_id] - 1].label


def group_phrase(group: dict, quote=lambda choice: f"“{choice['label']}”") -> str:
    """A group of what-if changes as a team would say it: 'the answer to “…?” is “…” or “…”'.

    `quote(choice)` renders each choice (the results page wraps it in a link; its text stays the same).
    """
    return f"the answer to “{group['question']}” is " + " or ".join(quote(choice) for choice in group["choices"])


def sensitivity_phrase(ruleset: RuleSet, entry: dict) -> str:
    """A sensitivity entry as a sentence, e.g. 'Kubernetes would win if High Availability counted 2.4× as much'."""
    option = ruleset.options[ruleset.option_index[entry["recommendation"]]].label
    row = ruleset.criteria[ruleset.criterion_index[entry["criterion"]]].label
    factor = entry["factor"]
    if factor == 0:
        return f"{option} would win if {row} did not count at all"
    if factor == 1:
        return f"{option} would win if {row} counted even slightly {entry['direction']}"
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


def group_changes(ruleset: RuleSet, changes: list[dict], url_for_change) -> list[dict]:
    """What-if entries grouped by question and new recommendation, each choice with its link, in questionnaire order.

    `url_for_change(question_id, choice_id)` gives the link to the changed result.
    """
    groups: dict[tuple[str, str], dict] = {}
    for change in changes:
        key = (change["question"], change["recommendation"])
        if key not in groups:
            question = ruleset.questions[ruleset.question_index[change["question"]]]
            groups[key] = {"question": question.text, "question_id": question.id, "choices": [],
                           "recommendation": change["recommendation"], "direction": change["direction"]}
        groups[key]["choices"].append({"label": choice_label(ruleset, change["question"], change["choice"]),
                                       "url": url_for_change(change["question"], change["choice"])})
    return list(groups.values())
