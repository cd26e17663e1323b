"""The room's decision record (recommender/group_record.py): who decided, each option's pros and cons from the
comparison rows, the group's choice and why, the disagreements that matter, the dissent, and text typed by people
kept literal.

The room cases run on the shipped rules (tests/shipped.py) and take every expectation from the GroupResult, so they
hold under any rules file with the SCENARIOS' questions; the pros-and-cons and spread cases use ROWS, a small rules
file written here so each verdict can be worked out by hand (see its comments). No Markdown library is installed, so
the escaping is checked on the text itself.
"""

from __future__ import annotations

import re
import textwrap
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from shipped import RULES_PATH, SCENARIOS
from strategies import ruleset_answers

from recommender import load_rules, load_rules_text
from recommender.group import GROUP_RULE, Member, aggregate
from recommender.group_record import STALE_NOTE, group_decision_record, line_start, option_rows
from recommender.record import md
from recommender.wording import CLOSENESS_WORDS

PROPERTY = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.generate, Phase.shrink])
SHIPPED = load_rules(RULES_PATH)
ROOM_URL = "https://dockwise.example/rooms/r00m"
UNESCAPED_BRACKET = re.compile(r"(?<!\\)(?:\\\\)*[\[\]]")

# Ann and Cy lean light, Bob heavy (his answers lead to a clear Kubernetes), Dee joined and answered nothing.
ROOM = [
    Member("Ann", SCENARIOS["compose, both directions, docker leaves a need unmet"]),
    Member("Bob", SCENARIOS["kubernetes, clear, nothing would change it, lighter options leave needs unmet"]),
    Member("Cy", SCENARIOS["compose, close call with rows against"]),
    Member("Dee", {}),
]

# Rows: fit gives docker 2, compose 1 on small (docker Good, compose Neutral, kubernetes Bad with 0 points); effort
# takes 2 × 1.5 from kubernetes on any size (docker and compose Good with 0 points, kubernetes Bad); scale gives every
# option 1 on volumes (Neutral for all: the row favours none); cost has no rule (Neutral, no points); bare has no
# texts (its label alone).
ROWS = load_rules_text(textwrap.dedent("""\
    version: 1
    closeness: {close: 0.5}
    options:
      - {id: docker, label: Docker alone, summary: By hand.}
      - {id: compose, label: Compose, summary: One file.}
      - {id: kubernetes, label: Kubernetes, summary: A cluster.}
    criteria:
      - id: fit
        label: Fit
        texts: {docker: Fits one box., compose: Fits a few boxes., kubernetes: Fits a fleet.}
      - id: effort
        label: Effort
        weight: 1.5
        texts: {docker: Nothing to run., compose: A little to run., kubernetes: A cluster to run.}
      - id: scale
        label: Scale
        texts: {docker: By hand., compose: By replica count., kubernetes: Automatic.}
      - id: cost
        label: Cost
        texts: {docker: Free., compose: Free., kubernetes: Paid.}
      - {id: bare, label: Bare}
    questions:
      - id: size
        text: How big?
        choices:
          - {id: small, label: Small}
          - {id: medium, label: Medium}
          - id: large
            label: Large
            unmet: {docker: Docker alone cannot spread a large app.}
      - id: storage
        text: What storage?
        ordered: false
        choices:
          - {id: none, label: None}
          - {id: volumes, label: Volumes}
    rules:
      - {id: small, criterion: fit, when: {size: small}, scores: {docker: 2, compose: 1}, because: Small.}
      - {id: medium, criterion: fit, when: {size: medium}, scores: {compose: 2}, because: Medium.}
      - {id: large, criterion: fit, when: {size: large}, scores: {kubernetes: 4}, because: Large.}
      - {id: effort, criterion: effort, when: {size: [small, medium, large]}, scores: {kubernetes: -2},
         because: A cluster is work.}
      - {id: even, criterion: scale, when: {storage: volumes}, scores: {docker: 1, compose: 1, kubernetes: 1},
         because: Volumes everywhere.}
    """))


def record_of(result, *, title="Our platform", stale_rules=False, urls=None) -> str:
    """The record with each member's results link made up from their position (None for those with no answer)."""
    if urls is None:
        urls = {member.name: f"https://dockwise.example/results?m={i}" if member.answered else None
                for i, member in enumerate(result.members)}
    return group_decision_record(result, title=title, room_url=ROOM_URL, member_urls=urls, stale_rules=stale_rules)


def section(record: str, heading: str) -> list[str]:
    """The lines under a heading, up to the next heading of any level."""
    lines = record.splitlines()
    start = lines.index(heading) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("#")), len(lines))
    return [line for line in lines[start:end] if line]


def header(record: str) -> list[str]:
    return section(record, record.splitlines()[0])


@pytest.fixture(scope="module")
def room():
    return aggregate(SHIPPED, ROOM)


@pytest.fixture(scope="module")
def room_record(room) -> str:
    return record_of(room)


# --- a room's record on the shipped rules -------------------------------------------------------------------------


def test_the_room_is_one_with_dissent_a_disagreement_that_matters_and_a_silent_member(room):
    """The room the next tests read has what they look for (under the rules the tests run with)."""
    assert room.explanation.answered
    assert room.dissent
    assert room.disagreements
    assert [m.name for m in room.members if not m.answered] == ["Dee"]


def test_the_title_and_header_name_the_choice_the_deciders_and_the_consulted(room, room_record):
    assert room_record.splitlines()[0] == f"# Our platform: run our containers with {room.recommendation.label}"
    assert header(room_record)[:4] == ["* Status: proposed", "* Deciders: Ann, Bob, Cy",
                                       "* Consulted: Dee (joined; no answer counted)",
                                       f"* Rules: {SHIPPED.model.site.title} rules {SHIPPED.fingerprint}"]


def test_the_context_states_the_group_rule_and_every_answer_the_group_gave(room, room_record):
    context = section(room_record, "## Context and Problem Statement")
    assert f"The group's answers follow one rule: {md(GROUP_RULE)}" in context
    for question, choice in room.answers:
        assert any(line.startswith(f"* {question.text} **{choice.label}** (group: ") for line in context), question.id


def test_every_option_is_considered_with_its_score_and_pros_or_cons_from_the_comparison_rows(room, room_record):
    considered = section(room_record, "## Considered Options")
    scores = {standing.option.id: standing.score for standing in room.explanation.ranking}
    for option in SHIPPED.options:
        assert any(line.startswith(f"* {option.label} — group score {scores[option.id]:g}, ranked ")
                   for line in considered), option.id
        pros_and_cons = section(room_record, f"### {option.label}")
        row_lines = [f"{criterion.label}: {criterion.texts[option.id]}" for criterion in SHIPPED.criteria
                     if option.id in criterion.texts]
        judged = [line for line in pros_and_cons if line.startswith(("* Good, because ", "* Bad, because "))]
        assert any(text in line for line in judged for text in row_lines), option.id


def test_the_outcome_names_the_choice_its_reason_and_the_disagreements_that_matter(room, room_record):
    outcome = section(room_record, "## Decision Outcome")
    e = room.explanation
    assert outcome[0] == f"Chosen option: \"{e.label}\" ({CLOSENESS_WORDS[e.closeness]}). Main reason: {e.why}"
    assert f"({room.agreement.agreeing} of {room.agreement.counted} members)." in outcome[-1]
    matters = section(room_record, "### Disagreements that matter")
    assert len(matters) == len(room.disagreements)
    for line, disagreement in zip(matters, room.disagreements, strict=True):
        assert line.startswith(f"* {disagreement.question.text} The group answered "
                               f"**{disagreement.group_choice.label}**; ")
        for name, choice in disagreement.members:
            assert f"{name} answered **{choice.label}**" in line
        assert f"would make it **{disagreement.recommendation.label}**" in line


def test_the_dissent_says_who_would_pick_what_and_on_which_answers(room, room_record):
    dissent = section(room_record, "## Dissent")
    closeness = {member.name: CLOSENESS_WORDS[member.explanation.closeness] for member in room.members}
    for member in room.dissent:
        first = dissent.index(f"* {member.member} would pick **{member.recommendation.label}** "
                              f"({closeness[member.member]}), answering differently from the group:")
        for offset, answer in enumerate(member.differing, 1):
            assert dissent[first + offset] == (f"  * {answer.question.text} **{answer.choice.label}** "
                                               f"(group: **{answer.group_choice.label}**)")
    assert not any(line.startswith(("* Ann ", "* Cy ", "* Dee ")) for line in dissent)  # they follow the group


def test_more_information_links_the_room_and_each_members_results(room_record):
    assert section(room_record, "## More Information")[:5] == [
        f"* Room: <{ROOM_URL}>",
        "* Ann's results: <https://dockwise.example/results?m=0>",
        "* Bob's results: <https://dockwise.example/results?m=1>",
        "* Cy's results: <https://dockwise.example/results?m=2>",
        "* Dee's results: no link: no answer counted",
    ]


@pytest.mark.parametrize("stale", [True, False])
def test_the_stale_rules_notice_shows_exactly_when_the_rules_changed(room, stale):
    assert (STALE_NOTE in header(record_of(room, stale_rules=stale))) is stale


@pytest.mark.parametrize(("decided_at", "line"), [
    (datetime(2030, 5, 1, 23, 30, tzinfo=UTC), "* Date: 2030-05-01"),
    (datetime(2030, 5, 2, 1, 30, tzinfo=timezone(timedelta(hours=3))), "* Date: 2030-05-01"),  # the UTC date
    (None, None),
])
def test_the_date_is_the_day_the_room_closed_in_utc(room, decided_at, line):
    lines = header(group_decision_record(room, title="T", room_url=ROOM_URL, stale_rules=False, decided_at=decided_at,
                                         member_urls={m.name: None for m in room.members}))
    dates = [entry for entry in lines if entry.startswith("* Date:")]
    assert dates == ([line] if line else [])


def test_a_room_where_nobody_answered_chooses_nothing():
    result = aggregate(SHIPPED, [Member("Ann", {}), Member("Bob", {"services": ""})])
    record = record_of(result)
    assert record.splitlines()[0] == "# Our platform: how to run our containers — no answers yet"
    assert header(record)[1:3] == ["* Deciders: none yet (nobody answered)",
                                   "* Consulted: Ann, Bob (joined; no answer counted)"]
    assert "Chosen option" not in record
    assert section(record, "## Decision Outcome")[0].startswith("No option chosen yet: nobody in the room has answered")
    assert section(record, "## Dissent") == ["Nobody dissents: nobody has answered yet."]


def test_answers_the_current_rules_no_longer_have_are_listed_as_not_counted():
    question = SHIPPED.questions[0]
    stale = Member("Old", {"zones": "three", question.id: "gigantic"})
    result = aggregate(SHIPPED, [stale, Member("New", {question.id: question.choices[0].id})])
    record = record_of(result, stale_rules=True)
    dissent = section(record, "## Dissent")
    start = dissent.index("* Old:")
    assert dissent[start + 1:start + 3] == [f"  * {md(entry.text)}" for entry in result.members[0].not_counted]
    assert "* Consulted: Old (joined; no answer counted)" in header(record)
    assert "* Old's results: no link: no answer counted" in record.splitlines()
    assert "1 not counted" in next(line for line in record.splitlines() if line.startswith(f"* {question.text} **"))


@pytest.mark.parametrize(("urls", "message"), [
    ({"Ann": "https://d.example/a"}, r"member_urls has no entry for the member 'Bob'"),
    ({"Ann": "https://d.example/a", "Bob": "https://d.example/b> [x](http://evil)"},
     r"the results link of 'Bob': .* is not a URL the record can link"),
])
def test_missing_or_broken_links_are_refused_naming_the_member(urls, message):
    result = aggregate(SHIPPED, [Member("Ann", {}), Member("Bob", {})])
    with pytest.raises(ValueError, match=message):
        record_of(result, urls=urls)


# --- text typed by people stays literal ---------------------------------------------------------------------------

HOSTILE = [
    ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ("[x](http://evil)", "\\[x\\](http://evil)"),
    ("![i](http://evil/i.png)", "!\\[i\\](http://evil/i.png)"),
    ("\\[x](http://evil)", "\\\\\\[x\\](http://evil)"),
    ("line\n# injected heading", "line # injected heading"),
    ("back\\slash\\", "back\\\\slash\\\\"),
    # Line breaks Markdown does not make but Unicode, editors and str.splitlines() do.
    ("form\ffeed\u2028line\u2029sep\x85nel\vtab", "form feed line sep nel tab"),
]


@pytest.mark.parametrize(("raw", "escaped"), HOSTILE)
def test_a_hostile_room_title_or_member_name_comes_out_as_literal_text(raw, escaped):
    name = f"Mallory {raw}"
    result = aggregate(SHIPPED, [Member(name, ROOM[1].answers), *ROOM[:1]])
    record = record_of(result, title=f"Room {raw}")
    lines = record.splitlines()
    assert lines[0].startswith(f"# Room {escaped}: run our containers with ")
    assert f"* Deciders: Mallory {escaped}, Ann" in lines
    assert f"* Mallory {escaped}'s results: <https://dockwise.example/results?m=0>" in lines
    assert raw not in record
    assert not UNESCAPED_BRACKET.findall(record)
    # The record's own markup only: its autolinks, and headings it made.
    assert all(line.endswith(">") for line in lines if "<" in line or ">" in line)
    assert not [line for line in lines if line.startswith("# injected")]


@pytest.mark.parametrize(("name", "shown"), [
    ("# Boss", "\\# Boss"),                 # a heading inside the list item
    ("- Dash", "\\- Dash"),                 # a nested list
    ("1. First", "1\\. First"),             # a nested ordered list
    ("12) Twelve", "12\\) Twelve"),
    ("*** ", "\\***"),                      # a thematic break
    ("   Ann", "Ann"),                      # indented code after a list marker
    ("> quote", "&gt; quote"),
])
def test_a_name_that_starts_a_line_cannot_open_a_block(name, shown):
    assert line_start(name) == shown
    record = record_of(aggregate(SHIPPED, [Member(name, ROOM[1].answers), ROOM[0]]))
    assert f"* {shown}'s results: <https://dockwise.example/results?m=0>" in record.splitlines()


# --- pros and cons read from the trace ----------------------------------------------------------------------------


@pytest.mark.parametrize(("answers", "option", "expected"), [
    ({"size": "small", "storage": "volumes"}, "docker", [
        "* Good, because Fit: Fits one box. (+2 points)",
        "* Good, because Effort: Nothing to run. (0 points)",
        "* Neutral, because Scale: By hand. (+1 point)",
        "* Neutral, because Cost: Free.",
        "* Neutral, because Bare",
    ]),
    ({"size": "small", "storage": "volumes"}, "compose", [
        "* Good, because Effort: A little to run. (0 points)",
        "* Neutral, because Fit: Fits a few boxes. (+1 point)",
        "* Neutral, because Scale: By replica count. (+1 point)",
        "* Neutral, because Cost: Free.",
        "* Neutral, because Bare",
    ]),
    ({"size": "small", "storage": "volumes"}, "kubernetes", [
        "* Neutral, because Scale: Automatic. (+1 point)",
        "* Neutral, because Cost: Paid.",
        "* Neutral, because Bare",
        "* Bad, because Fit: Fits a fleet. (0 points)",
        "* Bad, because Effort: A cluster to run. (-3 points)",
    ]),
    ({"size": "large"}, "docker", [
        "* Good, because Effort: Nothing to run. (0 points)",
        "* Neutral, because Scale: By hand.",
        "* Neutral, because Cost: Free.",
        "* Neutral, because Bare",
        "* Bad, because Fit: Fits one box. (0 points)",
        "* Bad, because it leaves unmet: Docker alone cannot spread a large app.",
    ]),
    ({}, "kubernetes", [
        "* Neutral, because Fit: Fits a fleet.",
        "* Neutral, because Effort: A cluster to run.",
        "* Neutral, because Scale: Automatic.",
        "* Neutral, because Cost: Paid.",
        "* Neutral, because Bare",
    ]),
])
def test_a_row_is_good_for_the_options_it_gave_most_and_bad_for_those_it_gave_fewest(answers, option, expected):
    record = record_of(aggregate(ROWS, [Member("Ann", answers)]))
    label = ROWS.options[ROWS.option_index[option]].label
    assert section(record, f"### {label}") == expected


@pytest.mark.parametrize(("members", "line"), [
    ([{"size": "small"}, {"size": "medium"}, {"size": "medium"}, {"size": "large"}],
     "* How big? **Medium** (group: median of 4 answers: 1 × Small, 2 × Medium, 1 × Large)"),
    ([{"size": "large"}, {"size": "small"}, {}],
     "* How big? **Small** (group: median of 2 answers: 1 × Small, 1 × Large; 1 left it open)"),
    ([{"storage": "volumes"}, {"storage": "none"}, {"storage": "volumes"}, {"size": "gigantic"}],
     "* What storage? **Volumes** (group: most given of 3 answers: 1 × None, 2 × Volumes; 1 left it open)"),
    ([{"size": "medium"}, {"size": "gigantic"}],
     "* How big? **Medium** (group: median of 1 answer: 1 × Medium; 1 not counted)"),
])
def test_each_group_answer_says_how_the_members_answers_spread(members, line):
    record = record_of(aggregate(ROWS, [Member(f"m{i}", answers) for i, answers in enumerate(members)]))
    assert line in section(record, "## Context and Problem Statement")


# --- properties on the shipped rules ------------------------------------------------------------------------------




NAMES = st.lists(st.text(min_size=1, max_size=12), min_size=0, max_size=5, unique=True)


@PROPERTY
@given(NAMES.flatmap(lambda names: st.tuples(st.just(names), st.lists(ruleset_answers(SHIPPED), min_size=len(names),
                                                                      max_size=len(names)))))
def test_every_member_appears_and_the_chosen_option_is_the_groups(team):
    names, answer_sets = team
    result = aggregate(SHIPPED, [Member(name, answers) for name, answers in zip(names, answer_sets)])
    record = record_of(result)
    lines = record.splitlines()
    people = [line for line in lines if line.startswith(("* Deciders: ", "* Consulted: "))]
    for name in names:
        assert any(line.startswith(f"* {line_start(name)}'s results: ") for line in lines), name
        assert any(md(name).strip() in line for line in people), name
    chosen = [line for line in lines if line.startswith("Chosen option: ")]
    if result.explanation.answered:
        assert len(chosen) == 1
        assert chosen[0].startswith(f"Chosen option: \"{md(result.recommendation.label)}\" (")
    else:
        assert chosen == []
        assert lines[0].endswith("no answers yet")
    assert record == record_of(aggregate(SHIPPED, [Member(n, a) for n, a in zip(names, answer_sets)]))


@PROPERTY
@given(ruleset_answers(SHIPPED))
def test_the_row_points_of_each_option_add_up_to_its_score(answers):
    """The pros and cons read the same fired rules the score sums: the rows' points make up each option's score."""
    explanation = aggregate(SHIPPED, [Member("Ann", answers)]).explanation
    for standing in explanation.ranking:
        rows = option_rows(explanation, standing.option)
        assert sum(points for _, _, points in rows if points is not None) == pytest.approx(standing.score)
        verdicts = {verdict for verdict, _, _ in rows}
        assert verdicts <= {"Good", "Neutral", "Bad"}
