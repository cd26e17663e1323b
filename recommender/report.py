"""Plain-text views for the command line, rendered from the same objects the web uses."""

from __future__ import annotations

from .ruleset import MICRO, RuleSet
from .scenarios import ScenarioOutcome
from .wording import (
                      group_changes,
                      group_phrase,
                      open_outlook_sentence,
                      percent,
                      sensitivity_phrase,
                      unmet_lines,
                      unmet_phrase,
)


def _num(value: float) -> str:
    return f"{value:+g}" if value else "0"


def check_summary(ruleset: RuleSet) -> str:
    """One line: what the rules file holds and its fingerprint."""
    model = ruleset.model
    return (f"{ruleset.file}: OK — {len(model.options)} options, {len(model.criteria)} criteria, "
            f"{len(model.questions)} questions, {len(model.rules)} rules, {len(model.scenarios)} scenarios; "
            f"fingerprint {ruleset.fingerprint}")


def scenario_lines(outcomes: list[ScenarioOutcome]) -> list[str]:
    """One line per scenario; a failure adds the expected option and the actual ranking with scores."""
    lines = []
    for outcome in outcomes:
        expected = " or ".join(outcome.scenario.expect)
        if outcome.passed:
            lines.append(f"PASS  {outcome.scenario.name} → {outcome.winner}")
            continue
        result = outcome.result
        options = result.ruleset.options
        ranking = ", ".join(
            f"{options[o].id} {result.totals[o] / MICRO:g}" + (" (excluded)" if result.excluded_by[o] else "")
            for o in result.ranking)
        lines.append(f"FAIL  {outcome.scenario.name}: expected {expected}, got {outcome.winner}")
        lines.append(f"      ranking: {ranking}")
        lines.append(f"      answers: {' '.join(f'{q}={c}' for q, c in result.answers.items()) or '(none)'}")
    passed = sum(outcome.passed for outcome in outcomes)
    lines.append(f"{passed} passed, {len(outcomes) - passed} failed")
    return lines


def recommendation_text(document: dict, ruleset: RuleSet) -> str:
    """The result document as readable text: answer, scores, drivers, exclusions, what-if, sensitivity."""
    labels = {o.id: o.label for o in ruleset.options}
    if document["closeness"] == "unanswered":
        example = ruleset.questions[0]
        out = [f"{document['headline']}.",
               f"Give answers as QUESTION=CHOICE (e.g. {example.id}={example.choices[0].id}); the scores below "
               "are all 0."]
    else:
        out = [f"Recommendation: {document['headline']}"]
        out += [f"  {unmet_phrase(need['text'])}" for need in document["unmet_needs"][document["recommendation"]]]
    if document["why"]:
        out.append(f"Why: {document['why']}")
    out += [f"Note: {note}" for note in document["notes"]]
    sentence = open_outlook_sentence(ruleset, document)
    if sentence or document["closeness"] == "unanswered":
        out += ["", "Open questions:", f"  {sentence}" if sentence else
                f"  Over every way to answer all {len(document['open']['questions'])} questions:"]
        out += [f"  {labels[option]:<26} wins in {percent(share)}"
                for option, share in document["open"]["wins"].items()]
    unmet = unmet_lines(ruleset, document)
    if unmet:
        out += ["", "Needs each option leaves unmet:"]
        for label, texts in unmet:
            out.append(f"  {label}:")
            out += [f"    - {text}" for text in texts]
    out.append("")
    out.append("Scores:")
    for entry in document["ranking"]:
        excluded = f"  — ruled out: {entry['excluded']}" if entry["excluded"] else ""
        out.append(f"  {entry['label']:<26} {entry['score']:>7g}{excluded}")
    for title, rows in (("What drove it", document["drivers"]), ("What pulled the other way", document["against"])):
        if rows:
            out += ["", f"{title}:"]
            for row in rows:
                out.append(f"  {row['label']} ({_num(row['lead'])} to the lead)")
                out += [f"    - {reason}" for reason in row["reasons"]]
    if document["what_if"] and document["closeness"] != "unanswered":
        out += ["", "What would change it:"]
        for group in group_changes(ruleset, document["what_if"], lambda question, choice: ""):
            lead = "Revisit this when" if group["direction"] == "heavier" else "You could simplify if"
            out.append(f"  {lead} {group_phrase(group)} → {labels[group['recommendation']]}")
    if document["sensitivity"]:
        out += ["", "How robust it is (weight changes that would flip it):"]
        out += [f"  {sensitivity_phrase(ruleset, entry)}" for entry in document["sensitivity"]]
    if document["unanswered"]:
        out += ["", f"Not answered: {', '.join(document['unanswered'])}"]
        if document["unanswered_could_change"]:
            out.append(f"  answering could change it: {', '.join(document['unanswered_could_change'])}")
    out += ["", f"Rules fingerprint: {document['rules_fingerprint']}"]
    return "\n".join(out)
