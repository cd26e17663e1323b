"""Plain text for the command line: the rules check, scenario lines and an explanation."""

from __future__ import annotations

from .explain import Explanation
from .ruleset import MICRO, RuleSet
from .scenarios import ScenarioOutcome
from .wording import (
    change_phrase,
    open_outlook_sentence,
    percent,
    sensitivity_phrase,
    signed_points_text,
    unmet_phrase,
)


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


def recommendation_text(explanation: Explanation) -> str:
    """An explanation as readable text: answer, scores, drivers, exclusions, what-if, sensitivity."""
    e = explanation
    if not e.answered:
        example = e.ruleset.questions[0]
        out = [f"{e.headline}.",
               f"Give answers as QUESTION=CHOICE (e.g. {example.id}={example.choices[0].id}); the scores below "
               "are all 0."]
    else:
        out = [f"Recommendation: {e.headline}"]
        out += [f"  {unmet_phrase(need.text)}" for need in e.recommended_unmet]
    if e.why:
        out.append(f"Why: {e.why}")
    out += [f"Note: {note}" for note in e.notes]
    sentence = open_outlook_sentence(e)
    if sentence or not e.answered:
        out += ["", "Open questions:", f"  {sentence}" if sentence else
                f"  Over every way to answer all {len(e.open.questions)} questions:"]
        out += [f"  {option.label:<26} wins in {percent(share)}" for option, share in e.open.wins]
    unmet = e.unmet_by_option
    if unmet:
        out += ["", "Needs each option leaves unmet:"]
        for option, needs in unmet:
            out.append(f"  {option.label}:")
            out += [f"    - {need.text}" for need in needs]
    out.append("")
    out.append("Scores:")
    for standing in e.ranking:
        excluded = f"  — ruled out: {standing.excluded}" if standing.excluded else ""
        out.append(f"  {standing.option.label:<26} {standing.score:>7g}{excluded}")
    for title, rows in (("What drove it", e.drivers), ("What pulled the other way", e.against)):
        if rows:
            out += ["", f"{title}:"]
            for row in rows:
                out.append(f"  {row.criterion.label} ({signed_points_text(row.lead)} to the lead)")
                out += [f"    - {reason}" for reason in row.reasons]
    if e.what_if and e.answered:
        out += ["", "What would change it:"]
        for group in e.change_groups():
            lead = "Revisit this when" if group.direction == "heavier" else "You could simplify if"
            out.append(f"  {lead} {change_phrase(group)} → {group.recommendation.label}")
    if e.sensitivity:
        out += ["", "How robust it is (weight changes that would flip it):"]
        out += [f"  {sensitivity_phrase(shift)}" for shift in e.sensitivity]
    unanswered = e.unanswered
    if unanswered:
        out += ["", f"Not answered: {', '.join(q.id for q in unanswered)}"]
        could = e.unanswered_could_change
        if could:
            out.append(f"  answering could change it: {', '.join(q.id for q in could)}")
    out += ["", f"Rules fingerprint: {e.fingerprint}"]
    return "\n".join(out)
