"""A room's results as a Markdown decision record in the MADR layout: who decided, the options with their pros and
cons from the comparison rows, the group's result and why, the disagreements that matter and the recorded dissent.

Pure, like record.py, whose `md()` every text goes through: the room's title and the members' names are typed by
people, and rule text is edited by people, so none of it may become HTML, a link, an image or a block of its own in
whatever Markdown viewer opens the record.

The sections follow MADR's template: Considered Options lists each option with its group score, and each option's
Good/Neutral/Bad lines, one per comparison row (see `option_rows`), sit under Pros and Cons of the Options after the
outcome; Dissent, which MADR has no section for, follows the outcome.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from .explain import Explanation
from .group import GROUP_RULE, NO_ANSWERS, GroupResult, MemberResult, Spread
from .model import Criterion, Option
from .record import chosen_lines, driver_lines, md
from .wording import CLOSENESS_WORDS, points_text, signed_points_text

# A decision record's status. A tool never accepts a decision for a team: the group's result is what the team
# proposes to itself, and the team marks the record accepted (or rejected) when it has talked it over.
STATUS = "proposed"
STALE_NOTE = "Note: answers were given under an older rules version; recomputed under the current rules."
# What a comparison row says about an option (see option_rows), in MADR's words.
GOOD, NEUTRAL, BAD = "Good", "Neutral", "Bad"
DIRECTION_WORDS = {"heavier": "a heavier option", "lighter": "a lighter option"}

# What would open a block (heading, list item, thematic break, table, code fence) when it starts a line's content;
# md() has already made < and > entities and escaped backslashes.
_BLOCK_OPENER = re.compile(r"[#+*=|~`_-]|\d{1,9}[.)]")
_URL_BREAKERS = re.compile(r"[\s<>]")


def line_start(text: object) -> str:
    """md(text) safe to start a line's content, as a member's name does in a list: trimmed, with a leading
    character that would open a block of its own escaped."""
    text = md(text).strip()
    found = _BLOCK_OPENER.match(text)
    if found:
        cut = found.end() - 1
        text = f"{text[:cut]}\\{text[cut:]}"
    return text


def _url(url: str, what: str) -> str:
    """An autolink; a URL that would end it early or break its line is refused (the app makes these URLs)."""
    if not url or _URL_BREAKERS.search(url):
        raise ValueError(f"{what}: {url!r} is not a URL the record can link (it is empty or holds a space, < or "
                         ">); pass the absolute URL the app made for it")
    return f"<{url}>"


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"


def _names(names) -> str:
    return ", ".join(md(name).strip() for name in names)


def _points(points: float) -> str:
    return f"{signed_points_text(points) if points else '0'} point{'' if abs(points) == 1 else 's'}"


def spread_text(spread: Spread) -> str:
    """How the group's answer came about, e.g. 'group: median of 4 answers: 1 × One, 3 × Several; 1 left it open'."""
    how = "median" if spread.question.ordered else "most given"
    parts = [f"group: {how} of {_count(spread.answered, 'answer')}: "
             + ", ".join(f"{tally.count} × {md(tally.choice.label)}" for tally in spread.tallies if tally.count)]
    if spread.unanswered:
        parts.append(f"{len(spread.unanswered)} left it open")
    if spread.not_counted:
        parts.append(f"{len(spread.not_counted)} not counted")
    return "; ".join(parts)


def option_rows(explanation: Explanation, option: Option) -> tuple[tuple[str, Criterion, float | None], ...]:
    """Each comparison row for `option` as (Good, Neutral or Bad, the row, the row's points for the option; None when
    none of its rules fired), in row order.

    Read from the trace: a row's points for an option are the points of the row's fired rules
    (`explanation.fired`), the same rules the option's score sums. A row is Good for the options it gave the most
    points of all options and Bad for those it gave the fewest; it is Neutral for the options in between, and for
    every option when it gave all of them the same (as a row none of whose rules fired does).
    """
    ruleset = explanation.ruleset
    o = ruleset.option_index[option.id]
    counted: dict[int, list[int]] = {}   # row → per option, in the engine's exact units: compared
    shown: dict[int, float] = {}         # row → this option's points as the score shows them: printed
    for rule in explanation.fired:
        row = counted.setdefault(rule.criterion, [0] * len(ruleset.options))
        for index, points in enumerate(rule.points):
            row[index] += points
        shown[rule.criterion] = shown.get(rule.criterion, 0.0) + rule.point_values[o]
    found = []
    for c, criterion in enumerate(ruleset.criteria):
        row = counted.get(c)
        verdict = NEUTRAL
        if row is not None and min(row) != max(row):
            verdict = GOOD if row[o] == max(row) else BAD if row[o] == min(row) else NEUTRAL
        found.append((verdict, criterion, shown.get(c)))
    return tuple(found)


def _pros_and_cons(explanation: Explanation, option: Option, unmet) -> list[str]:
    rows = option_rows(explanation, option)
    out = []
    for wanted in (GOOD, NEUTRAL, BAD):  # MADR's order: the pros, then the rest, then the cons
        for verdict, criterion, points in rows:
            if verdict != wanted:
                continue
            text = criterion.texts.get(option.id)
            said = f"{md(criterion.label)}: {md(text)}" if text else md(criterion.label)
            out.append(f"* {verdict}, because {said}" + (f" ({_points(points)})" if points is not None else ""))
    out += [f"* Bad, because it leaves unmet: {md(need.text)}" for need in unmet]
    return out


def _member_url(member_urls: Mapping[str, str | None], member: MemberResult) -> str:
    if member.name not in member_urls:
        raise ValueError(f"member_urls has no entry for the member {member.name!r}: give the link to their results, "
                         "or None when none of their answers counts")
    url = member_urls[member.name]
    return _url(url, f"the results link of {member.name!r}") if url is not None else "no link: no answer counted"


def group_decision_record(group: GroupResult, *, title: str, room_url: str, member_urls: Mapping[str, str | None],
                          stale_rules: bool, decided_at: datetime | None = None) -> str:
    """The room's decision record (MADR): header with the deciders, context (the question, the group rule, the
    group's answers and their spread), drivers, considered options, outcome (the choice, why, agreement and the
    disagreements that matter), dissent, pros and cons of each option from the comparison rows, and links.

    `member_urls` gives each member's results link by name (None for a member none of whose answers counts);
    `stale_rules` says the answers were given under another rules version than the current one; `decided_at` (the
    reveal or the closing time) is MADR's Date.
    """
    e = group.explanation
    site = md(group.ruleset.model.site.title)
    room = md(title).strip()
    heading = (f"# {room}: run our containers with {md(e.label)}" if e.answered
               else f"# {room}: how to run our containers — no answers yet")
    out = [heading, "", *_header(group, site, stale_rules, decided_at),
           "", "## Context and Problem Statement", "", *_context(group, site),
           "", "## Decision Drivers", "", *driver_lines(e),
           "", "## Considered Options", "", *_considered(group),
           "", "## Decision Outcome", "", *_outcome(group),
           "", "## Dissent", "", *_dissent(group),
           # MADR's own place for them: after the outcome, one subsection per option.
           "", "## Pros and Cons of the Options", "", *_all_pros_and_cons(e),
           "## More Information", "", f"* Room: {_url(room_url, 'room_url')}",
           *(f"* {line_start(member.name)}'s results: {_member_url(member_urls, member)}" for member in group.members),
           f"* Generated by {site}, rules version {e.fingerprint}; the group's answers are evaluated like any "
           "questionnaire, and each member's results page lists the rules behind their scores."]
    return "\n".join(out).rstrip() + "\n"


def _header(group: GroupResult, site: str, stale_rules: bool, decided_at: datetime | None) -> list[str]:
    # MADR's decision-makers are the members whose answers count; those who joined and gave none were consulted.
    answered = [member.name for member in group.members if member.answered]
    silent = [member.name for member in group.members if not member.answered]
    out = [f"* Status: {STATUS}",
           *([f"* Date: {decided_at.astimezone(UTC):%Y-%m-%d}"] if decided_at is not None else []),
           f"* Deciders: {_names(answered)}" if answered else "* Deciders: none yet (nobody answered)"]
    if silent:
        out.append(f"* Consulted: {_names(silent)} (joined; no answer counted)")
    out.append(f"* Rules: {site} rules {group.explanation.fingerprint}")
    return out + (["", STALE_NOTE] if stale_rules else [])


def _context(group: GroupResult, site: str) -> list[str]:
    members, answered = len(group.members), sum(member.answered for member in group.members)
    counted = ("no answer counts yet" if not answered else f"the answers of all {answered} count"
               if answered == members else f"the answers of {answered} count")
    out = [f"How should we run our containers: {', '.join(md(o.label) for o in group.ruleset.options)}? "
           f"{_count(members, 'member')} joined the room to answer {site}'s questionnaire, each privately; "
           f"{counted}.", "", f"The group's answers follow one rule: {md(GROUP_RULE)}", ""]
    spread = [s for s in group.spread if s.group_choice is not None]
    out += [f"* {md(s.question.text)} **{md(s.group_choice.label)}** ({spread_text(s)})" for s in spread]
    if not spread:
        out.append("* (no question answered)")
    nobody = [s.question for s in group.spread if s.group_choice is None]
    if nobody:
        out += ["", "Nobody answered:", ""] + [f"* {md(question.text)}" for question in nobody]
    return out


def _considered(group: GroupResult) -> list[str]:
    ranking = group.explanation.ranking
    place = {standing.option.id: (position, standing) for position, standing in enumerate(ranking, 1)}
    own = {option.id: names for option, names in group.agreement.by_option}
    out = ["Lightest to run first; scores are the group's answers'.", ""]
    for option in group.ruleset.options:
        position, standing = place[option.id]
        parts = [f"group score {points_text(standing.score)}, ranked {position} of {len(ranking)}"]
        if standing.excluded:
            parts.append(f"ruled out: {md(standing.excluded)}")
        if own[option.id]:
            parts.append(f"the own answers of {_names(own[option.id])} lead here")
        out.append(f"* {md(option.label)} — " + "; ".join(parts))
    return out


def _outcome(group: GroupResult) -> list[str]:
    e = group.explanation
    if not e.answered:
        # The explanation's only note would repeat this.
        out = ["No option chosen yet: nobody in the room has answered a question, so nothing favours any option. "
               "Answer the questions you can and download the record again."]
    else:
        out = chosen_lines(e) + (["", *map(md, e.notes)] if e.notes else [])
    agreement = group.agreement
    words = agreement.words
    out += ["", f"Agreement: {words[0].upper()}{words[1:]}"
            + (f" ({agreement.agreeing} of {agreement.counted} members)." if agreement.level != NO_ANSWERS else ".")]
    out += ["", "### Disagreements that matter", ""]
    for disagreement in group.disagreements:
        members = ", ".join(f"{md(name).strip()} answered **{md(choice.label)}**"
                            for name, choice in disagreement.members)
        either = "that answer" if len(disagreement.members) == 1 else "any of these answers"
        out.append(f"* {md(disagreement.question.text)} The group answered **{md(disagreement.group_choice.label)}**;"
                   f" {members}. In the group's place, {either} would make it "
                   f"**{md(disagreement.recommendation.label)}**, {DIRECTION_WORDS[disagreement.direction]}.")
    if not group.disagreements:
        out.append("No member's answer, put in place of the group's, would change the group's recommendation."
                   if e.answered else "None yet: nobody has answered.")
    return out


def _dissent(group: GroupResult) -> list[str]:
    out = []
    closeness = {member.name: CLOSENESS_WORDS[member.explanation.closeness] for member in group.members}
    for dissent in group.dissent:
        out.append(f"* {line_start(dissent.member)} would pick **{md(dissent.recommendation.label)}** "
                   f"({closeness[dissent.member]}), answering differently from the group:")
        for answer in dissent.answers:
            theirs = f"**{md(answer.choice.label)}**" if answer.choice is not None else "left open"
            ours = f"**{md(answer.group_choice.label)}**" if answer.group_choice is not None else "left open"
            out.append(f"  * {md(answer.question.text)} {theirs} (group: {ours})")
    if not group.dissent:
        out.append(f"Nobody dissents: every member whose answers count is recommended {md(group.explanation.label)}."
                   if group.explanation.answered else "Nobody dissents: nobody has answered yet.")
    stale = [member for member in group.members if member.not_counted]
    if stale:
        out += ["", "Not counted (the current rules no longer have these questions or choices):", ""]
        for member in stale:
            out.append(f"* {line_start(member.name)}:")
            out += [f"  * {md(entry.text)}" for entry in member.not_counted]
    return out


def _all_pros_and_cons(e: Explanation) -> list[str]:
    out = ["Each comparison row, for each option: Good where the group's answers gave that option the most points on "
           "the row, Bad where the fewest, Neutral otherwise.", ""]
    for option, unmet in e.unmet_needs:
        out += [f"### {md(option.label)}", "", *_pros_and_cons(e, option, unmet), ""]
    return out


__all__ = ["STALE_NOTE", "STATUS", "group_decision_record", "line_start", "option_rows", "spread_text"]
