"""An explanation as a Markdown decision record in the MADR layout.

Every text from the rules goes through `md()`: a rules file is edited by people, and the record is rendered by
whatever Markdown viewer opens it, so rule text must not become HTML, a link or an image there.
"""

from __future__ import annotations

import re

from .explain import Explanation
from .wording import (
    CLOSENESS_WORDS,
    change_phrase,
    open_outlook_sentence,
    percent,
    points_text,
    sensitivity_phrase,
    signed_points_text,
    unmet_phrase,
)

# Line breaks: Markdown's \r and \n, and the others Unicode and str.splitlines() break lines on (a room's member
# names may hold them), so that no viewer or tool shows the text on two lines.
_MARKUP = re.compile(r"[\\\[\]<>]|\s*[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]\s*")
_ESCAPES = {"\\": "\\\\", "[": "\\[", "]": "\\]", "<": "&lt;", ">": "&gt;"}


def md(text: object) -> str:
    """`text` as literal Markdown: no HTML (< and > as entities), no link or image ([ and ] escaped, and the
    backslash, so an escape cannot be undone), on one line (a line break could start a block of its own)."""
    return _MARKUP.sub(lambda match: _ESCAPES.get(match[0], " "), str(text))


def driver_lines(e: Explanation) -> list[str]:
    """The Decision Drivers list: the rows that drove the choice, then those that pulled the other way."""
    out = []
    for row in e.drivers:
        out.append(f"* **{md(row.criterion.label)}** ({signed_points_text(row.lead)} to the lead)")
        out += [f"  * {md(reason)}" for reason in row.reasons]
    for row in e.against:
        out.append(f"* **{md(row.criterion.label)}** pulled the other way ({signed_points_text(row.lead)})")
        out += [f"  * {md(reason)}" for reason in row.reasons]
    if not e.drivers and not e.against:
        out.append("* No answer favoured any option.")
    return out


def chosen_lines(e: Explanation) -> list[str]:
    """The chosen option of an answered explanation, how sure and why, the needs it leaves unmet and what the open
    questions could change."""
    out = [f"Chosen option: \"{md(e.label)}\" ({CLOSENESS_WORDS[e.closeness]})."
           + (f" Main reason: {md(e.why)}" if e.why else "")]
    if e.recommended_unmet:
        out += [""] + [f"* {md(unmet_phrase(need.text))}" for need in e.recommended_unmet]
    sentence = open_outlook_sentence(e)
    if sentence:
        out += ["", md(sentence)]
    return out


def decision_record(explanation: Explanation, share_url: str) -> str:
    """Title, context (the answers), drivers, options with scores, outcome, consequences (what would change it)."""
    e = explanation
    ruleset = e.ruleset
    site = md(ruleset.model.site.title)
    title = f"# Run our containers with {md(e.label)}" if e.answered else "# How to run our containers: no answers yet"
    out = [title, "",
           "* Status: proposed",
           f"* Rules: {site} rules {e.fingerprint}", "",
           "## Context and Problem Statement", "",
           f"How should we run our containers: {', '.join(md(o.label) for o in ruleset.options)}? "
           f"We answered {site}'s questionnaire as follows:", ""]
    out += [f"* {md(question.text)} **{md(choice.label)}**" for question, choice in e.answers]
    if not e.answered:
        out.append("* (no question answered)")
    unanswered = e.unanswered
    if unanswered:
        out += ["", "Not answered:", ""] + [f"* {md(question.text)}" for question in unanswered]
    out += ["", "## Decision Drivers", "", *driver_lines(e)]
    out += ["", "## Considered Options", ""]
    needs_of = {option.id: needs for option, needs in e.unmet_needs}
    for standing in e.ranking:
        ruled_out = f" — ruled out: {md(standing.excluded)}" if standing.excluded else ""
        out.append(f"* {md(standing.option.label)} — score {points_text(standing.score)}{ruled_out}")
        # MADR lists an option's cons under it: here, the needs the answers state that it leaves unmet.
        out += [f"  * Bad, because it leaves unmet: {md(need.text)}" for need in needs_of[standing.option.id]]
    out += ["", "## Decision Outcome", ""]
    if not e.answered:
        out.append("No option chosen yet: no question was answered, so nothing favours any option. "
                   "Answer the questions you can and download the record again.")
        out.append("")
        out.append(f"Over every way to answer all {len(e.open.questions)} questions: " + ", ".join(
            f"{md(option.label)} wins in {percent(share)}" for option, share in e.open.wins) + ".")
    else:
        out += chosen_lines(e)
    out += ["", *map(md, e.notes)] if e.notes else []
    groups = e.change_groups() if e.answered else ()
    heavier = [group for group in groups if group.direction == "heavier"]
    lighter = [group for group in groups if group.direction == "lighter"]
    out += ["", "### Consequences", ""]
    for heading, groups in (("Revisit this when", heavier), ("You could simplify if", lighter)):
        if groups:
            out.append(f"{heading}:")
            out += [f"* {md(change_phrase(group))} → {md(group.recommendation.label)}" for group in groups]
            out.append("")
    if not e.answered:
        out += ["Answer a few questions first: the record then says what would change the recommendation.", ""]
    elif not heavier and not lighter:
        out += ["No single changed answer would change this recommendation.", ""]
    if e.sensitivity:
        out.append("How robust it is:")
        out += [f"* {md(sensitivity_phrase(shift))}" for shift in e.sensitivity]
        out.append("")
    out += ["## More Information", "", f"* Share link: <{share_url}>",
            f"* Generated by {site}, rules version {e.fingerprint}; each score is the sum of the "
            "rules listed on the share link's page."]
    return "\n".join(out).rstrip() + "\n"
