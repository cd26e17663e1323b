"""Sentences shared by every view (page, CLI, decision record), so they never word a fact differently."""

from __future__ import annotations

from .ruleset import RuleSet


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
