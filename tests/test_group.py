"""A team's answers together (recommender/group.py): the group's answers by the stated rule, the spread, stale
answers, agreement, the disagreements that matter and the dissent.

The behaviour cases use TEAM, a small rules file written here so each expectation can be worked out by hand (see
the comments); the properties run on the shipped rules (tests/shipped.py), whose ordering contract the monotonicity
property relies on, and check the disagreements against brute force over `evaluate`.
"""

from __future__ import annotations

import json
import textwrap

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from shipped import RULES_PATH
from strategies import ruleset_answers

from recommender import evaluate, evaluate_state, explain, load_rules, load_rules_text
from recommender.group import (
    ALL,
    GROUP_RULE,
    MAJORITY,
    NO_ANSWERS,
    SPLIT,
    UNKNOWN_CHOICE,
    UNKNOWN_QUESTION,
    Member,
    aggregate,
    group_choice,
)

PROPERTY = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.generate, Phase.shrink])
SHIPPED = load_rules(RULES_PATH)

# size is ordered (4 choices), storage is not (3 choices), region is ordered (2 choices).
# Points: size small → docker 2, medium → compose 2, large or huge → kubernetes 3; storage volumes → compose 1,
# dynamic → kubernetes 1; region many → kubernetes 1.
TEAM = load_rules_text(textwrap.dedent("""\
    version: 1
    closeness: {close: 0.5}
    options:
      - {id: docker, label: Docker alone, summary: By hand.}
      - {id: compose, label: Compose, summary: One file.}
      - {id: kubernetes, label: Kubernetes, summary: A cluster.}
    criteria:
      - {id: fit, label: Fit}
    questions:
      - id: size
        text: How big?
        choices:
          - {id: small, label: Small}
          - {id: medium, label: Medium}
          - {id: large, label: Large}
          - {id: huge, label: Huge}
      - id: storage
        text: What storage?
        ordered: false
        choices:
          - {id: none, label: None}
          - {id: volumes, label: Volumes}
          - {id: dynamic, label: Dynamic}
      - id: region
        text: How many regions?
        choices:
          - {id: one, label: One}
          - {id: many, label: Many}
    rules:
      - {id: small, criterion: fit, when: {size: small}, scores: {docker: 2}, because: Small.}
      - {id: medium, criterion: fit, when: {size: medium}, scores: {compose: 2}, because: Medium.}
      - {id: big, criterion: fit, when: {size: [large, huge]}, scores: {kubernetes: 3}, because: Big.}
      - {id: volumes, criterion: fit, when: {storage: volumes}, scores: {compose: 1}, because: Volumes.}
      - {id: dynamic, criterion: fit, when: {storage: dynamic}, scores: {kubernetes: 1}, because: Dynamic.}
      - {id: regions, criterion: fit, when: {region: many}, scores: {kubernetes: 1}, because: Regions.}
    """))
SIZE = TEAM.questions[0]
STORAGE = TEAM.questions[1]

# The group: size median of small, medium, medium, large, huge = medium; storage most common = none → compose.
# ann's small would make it docker, dee's huge and eve's large kubernetes; bob's dynamic storage changes nothing.
FIVE = [
    Member("ann", {"size": "small", "storage": "none"}),
    Member("bob", {"size": "medium", "storage": "dynamic"}),
    Member("cy", {"size": "medium", "storage": "none"}),
    Member("dee", {"size": "huge", "storage": "none"}),
    Member("eve", {"size": "large"}),
]


def group_answers(members) -> dict[str, str]:
    return {q.id: c.id for q, c in aggregate(TEAM, members).answers}


def sizes(*choices: str) -> list[Member]:
    return [Member(f"m{i}", {"size": choice}) for i, choice in enumerate(choices)]


def storages(*choices: str) -> list[Member]:
    return [Member(f"m{i}", {"storage": choice}) for i, choice in enumerate(choices)]


# --- the group's answers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("votes", "expected"), [
    (["medium"], "medium"),
    (["small", "huge", "large"], "large"),                   # odd: the middle one
    (["huge", "small", "small"], "small"),
    (["small", "huge"], "small"),                            # even: the lower middle
    (["small", "medium", "large", "huge"], "medium"),
    (["huge", "large", "large", "huge"], "large"),
    (["medium", "medium", "huge", "huge"], "medium"),
])
def test_ordered_question_takes_the_median_and_the_lower_middle_of_an_even_count(votes, expected):
    assert group_answers(sizes(*votes))["size"] == expected


def test_members_who_left_an_ordered_question_open_do_not_vote_on_it():
    members = [*sizes("huge", "large"), Member("quiet", {}), Member("unsure", {"storage": "none"})]
    # Only huge and large are votes: the lower middle is large, though "no answer" is most of the team.
    assert group_answers(members)["size"] == "large"


@pytest.mark.parametrize(("votes", "expected"), [
    (["dynamic", "volumes", "dynamic"], "dynamic"),          # the most given, wherever it is listed
    (["dynamic", "dynamic", "none", "volumes", "none", "dynamic"], "dynamic"),
    (["dynamic", "volumes"], "volumes"),                     # a tie goes to the choice listed first
    (["dynamic", "volumes", "none"], "none"),
    (["dynamic", "dynamic", "volumes", "volumes", "none"], "volumes"),
])
def test_unordered_question_takes_the_most_common_choice_and_a_tie_goes_to_the_first_listed(votes, expected):
    assert group_answers(storages(*votes))["storage"] == expected


def test_unordered_question_is_not_a_median():
    # As an ordered question these would give the median, volumes; unordered, dynamic is the most given.
    assert group_choice(STORAGE, [3, 3, 1, 2, 2, 3, 1]) == 3
    assert group_choice(SIZE, [3, 3, 1, 2, 2, 3, 1]) == 2


def test_a_question_nobody_answered_stays_unanswered():
    result = aggregate(TEAM, sizes("large", "small", "huge"))
    assert {q.id for q in result.explanation.unanswered} == {"storage", "region"}
    spread = {s.question.id: s for s in result.spread}
    assert spread["region"].group_choice is None
    assert spread["region"].unanswered == ("m0", "m1", "m2")
    assert result.explanation.as_json() == explain(evaluate(TEAM, {"size": "large"})).as_json()


def test_a_room_where_nobody_answered_has_no_recommendation_and_nothing_to_agree_on():
    result = aggregate(TEAM, [Member("ann", {}), Member("bob", {"size": ""})])
    assert result.closeness == "unanswered"
    assert result.answers == ()
    assert result.agreement.level == NO_ANSWERS
    assert (result.agreement.agreeing, result.agreement.counted) == (0, 0)
    assert result.differences == result.disagreements == result.dissent == ()


def test_a_room_without_members_has_no_recommendation():
    result = aggregate(TEAM, [])
    assert result.members == ()
    assert result.closeness == "unanswered"
    assert result.agreement.level == NO_ANSWERS


# --- spread and stale answers -------------------------------------------------------------------------------------


def test_spread_counts_each_choice_in_listing_order_and_names_who_left_it_open():
    spread = {s.question.id: s for s in aggregate(TEAM, FIVE).spread}
    assert [(t.choice.id, t.count, t.members) for t in spread["size"].tallies] == [
        ("small", 1, ("ann",)), ("medium", 2, ("bob", "cy")), ("large", 1, ("eve",)), ("huge", 1, ("dee",))]
    assert [(t.choice.id, t.count) for t in spread["storage"].tallies] == [("none", 3), ("volumes", 0),
                                                                          ("dynamic", 1)]
    assert spread["storage"].unanswered == ("eve",)
    assert spread["storage"].answered == 4
    assert (spread["size"].group_choice.id, spread["storage"].group_choice.id) == ("medium", "none")


def test_answers_to_questions_or_choices_the_rules_no_longer_have_are_not_counted():
    stale = Member("old", {"size": "gigantic", "zones": "three", "storage": "volumes", "region": ""})
    result = aggregate(TEAM, [stale, Member("new", {"size": "huge"})])
    old = result.members[0]
    assert [(n.question_id, n.choice_id, n.reason) for n in old.not_counted] == [
        ("size", "gigantic", UNKNOWN_CHOICE), ("zones", "three", UNKNOWN_QUESTION)]
    assert old.not_counted[0].question is SIZE
    assert old.not_counted[1].question is None
    assert "no longer offers 'gigantic'" in old.not_counted[0].text
    assert "'zones' is no longer asked" in old.not_counted[1].text
    # Only the counted answer is evaluated; the empty one is unanswered, as in a share link, and not a stale one.
    assert old.explanation.as_json() == explain(evaluate(TEAM, {"storage": "volumes"})).as_json()
    # The stale answer is no vote: the group's size is the other member's alone.
    assert group_answers([stale, Member("new", {"size": "huge"})])["size"] == "huge"
    spread = {s.question.id: s for s in result.spread}
    assert (spread["size"].not_counted, spread["size"].unanswered) == (("old",), ())
    assert spread["region"].unanswered == ("old", "new")
    as_json = result.as_json()["members"][0]
    assert as_json["not_counted"][0] == {"question": "size", "choice": "gigantic", "reason": UNKNOWN_CHOICE,
                                         "text": old.not_counted[0].text}
    assert as_json["answers"] == {"storage": "volumes"}


def test_answers_that_are_not_a_mapping_are_refused_naming_the_member():
    with pytest.raises(TypeError, match=r"member 2 \('bob'\): answers must be a mapping"):
        aggregate(TEAM, [Member("ann", {}), ("bob", ["size", "small"])])


# --- agreement, disagreements and dissent --------------------------------------------------------------------------


def test_each_member_gets_their_own_result():
    result = aggregate(TEAM, FIVE)
    for member, stored in zip(result.members, FIVE, strict=True):
        assert member.name == stored.name
        assert member.explanation.as_json() == explain(evaluate(TEAM, stored.answers)).as_json()
    assert [m.recommendation.id for m in result.members] == ["docker", "compose", "compose", "kubernetes",
                                                             "kubernetes"]


def test_disagreements_that_matter_are_grouped_by_question_and_the_option_they_lead_to():
    result = aggregate(TEAM, FIVE)
    assert result.recommendation.id == "compose"
    assert [(d.member, d.question.id, d.choice.id, d.group_choice.id, d.matters) for d in result.differences] == [
        ("ann", "size", "small", "medium", True),
        ("bob", "storage", "dynamic", "none", False),   # kubernetes 1 against compose 2: no change
        ("dee", "size", "huge", "medium", True),
        ("eve", "size", "large", "medium", True),
    ]
    assert [(d.question.id, d.group_choice.id, d.recommendation.id, d.direction,
             [(name, choice.id) for name, choice in d.members]) for d in result.disagreements] == [
        ("size", "medium", "docker", "lighter", [("ann", "small")]),
        ("size", "medium", "kubernetes", "heavier", [("dee", "huge"), ("eve", "large")]),
    ]


def test_a_difference_that_does_not_change_the_recommendation_is_no_disagreement_that_matters():
    # storage volumes adds 1 to compose, which already leads: bob's and cy's differences change nothing.
    members = [Member("ann", {"size": "medium", "storage": "volumes"}), Member("bob", {"size": "medium",
                                                                                       "storage": "dynamic"}),
               Member("cy", {"size": "medium", "storage": "none"}), Member("dee", {"storage": "volumes"})]
    result = aggregate(TEAM, members)
    assert (result.recommendation.id, group_answers(members)["storage"]) == ("compose", "volumes")
    assert [(d.member, d.choice.id) for d in result.differences] == [("bob", "dynamic"), ("cy", "none")]
    assert result.disagreements == ()
    assert result.dissent == ()
    assert result.agreement.level == ALL


def test_dissent_names_who_would_pick_what_and_on_which_answers():
    dissent = {d.member: d for d in aggregate(TEAM, FIVE).dissent}
    assert {name: d.recommendation.id for name, d in dissent.items()} == {
        "ann": "docker", "dee": "kubernetes", "eve": "kubernetes"}
    assert [(a.question.id, a.choice.id, a.group_choice.id) for a in dissent["ann"].differing] == [
        ("size", "small", "medium")]
    # eve left storage open where the group answered it: recorded apart from her differing answers.
    assert [q.id for q in dissent["eve"].left_open] == ["storage"]
    assert [a.question.id for a in dissent["eve"].differing] == ["size"]


@pytest.mark.parametrize(("members", "level", "agreeing", "counted"), [
    (FIVE, SPLIT, 2, 5),                                                  # 2 of 5 are recommended compose
    (FIVE[1:3] + [FIVE[0]], MAJORITY, 2, 3),                              # bob and cy of 3
    (sizes("medium", "medium", "medium"), ALL, 3, 3),
    (sizes("small", "huge"), SPLIT, 1, 2),                                # half is no majority
    ([*sizes("huge", "huge", "small"), Member("quiet", {})], MAJORITY, 2, 3),  # a member with no answers: no vote
])
def test_agreement_says_how_many_members_are_recommended_the_groups_option(members, level, agreeing, counted):
    agreement = aggregate(TEAM, members).agreement
    assert (agreement.level, agreement.agreeing, agreement.counted) == (level, agreeing, counted)
    assert sum(len(names) for _, names in agreement.by_option) == counted


def test_the_room_document_uses_ids_and_labels_like_the_result_document():
    result = aggregate(TEAM, FIVE)
    document = json.loads(json.dumps(result.as_json()))
    assert document["rule"] == GROUP_RULE
    assert (document["recommendation"], document["label"]) == ("compose", "Compose")
    assert document["answers"] == {"size": "medium", "storage": "none"}
    assert document["result"] == result.explanation.as_json()
    assert document["agreement"]["by_option"] == {"docker": ["ann"], "compose": ["bob", "cy"],
                                                  "kubernetes": ["dee", "eve"]}
    assert document["members"][3]["query"] == explain(evaluate(TEAM, FIVE[3].answers)).query()
    assert document["disagreements"][1] == {
        "question": "size", "group_choice": "medium", "recommendation": "kubernetes", "label": "Kubernetes",
        "direction": "heavier", "members": [{"name": "dee", "choice": "huge"}, {"name": "eve", "choice": "large"}]}
    assert document["dissent"][2]["answers"] == [{"question": "size", "choice": "large", "group_choice": "medium"},
                                                 {"question": "storage", "choice": None, "group_choice": "none"}]
    assert document["rules_fingerprint"] == TEAM.fingerprint


# --- properties on the shipped rules ------------------------------------------------------------------------------




def teams(min_size: int = 1):
    return st.lists(ruleset_answers(SHIPPED), min_size=min_size, max_size=6).map(
        lambda answers: [Member(f"member {i}", a) for i, a in enumerate(answers)])


@PROPERTY
@given(teams(), st.data())
def test_raising_one_answer_on_an_ordered_question_never_lowers_the_group(members, data):
    """With the ordering contract (which the shipped rules keep), it never gives a lighter recommendation either."""
    raisable = [(m, q) for m, member in enumerate(members) for q, question in enumerate(SHIPPED.questions)
                if question.ordered and question.choices[-1].id != member.answers.get(question.id,
                                                                                        question.choices[-1].id)]
    if not raisable:
        return
    m, q = data.draw(st.sampled_from(raisable))
    question = SHIPPED.questions[q]
    current = [c.id for c in question.choices].index(members[m].answers[question.id])
    higher = question.choices[data.draw(st.integers(current + 1, len(question.choices) - 1))].id
    raised = list(members)
    raised[m] = Member(members[m].name, {**members[m].answers, question.id: higher})
    before, after = aggregate(SHIPPED, members), aggregate(SHIPPED, raised)
    assert after.explanation.state[q] >= before.explanation.state[q]
    options = SHIPPED.option_index
    assert options[after.recommendation.id] >= options[before.recommendation.id]


@PROPERTY
@given(ruleset_answers(SHIPPED))
def test_the_group_of_one_member_is_that_members_own_result(answers):
    result = aggregate(SHIPPED, [Member("solo", answers)])
    own = explain(evaluate(SHIPPED, answers))
    assert result.explanation.as_json() == result.members[0].explanation.as_json() == own.as_json()
    assert result.agreement.level == (ALL if answers else NO_ANSWERS)
    assert result.differences == result.dissent == ()


@PROPERTY
@given(teams(min_size=2).flatmap(lambda members: st.tuples(st.just(members), st.permutations(members))))
def test_member_order_does_not_change_the_group(pair):
    members, shuffled = pair
    first, second = aggregate(SHIPPED, members), aggregate(SHIPPED, shuffled)
    assert first.explanation.as_json() == second.explanation.as_json()
    assert (first.agreement.level, first.agreement.agreeing) == (second.agreement.level, second.agreement.agreeing)
    def spread(result):
        return [[(t.choice.id, sorted(t.members)) for t in s.tallies] for s in result.spread]

    assert spread(first) == spread(second)
    assert sorted(first.differences, key=repr) == sorted(second.differences, key=repr)
    assert sorted(first.dissent, key=repr) == sorted(second.dissent, key=repr)


@PROPERTY
@given(teams())
def test_a_disagreement_matters_exactly_when_the_answer_in_the_groups_place_changes_its_recommendation(members):
    result = aggregate(SHIPPED, members)
    group = result.explanation
    expected = []
    for member in result.members:
        for q, (mine, ours) in enumerate(zip(member.state, group.state)):
            if mine and mine != ours:
                changed = evaluate_state(SHIPPED, group.state[:q] + (mine,) + group.state[q + 1:])
                winner = SHIPPED.options[changed.winner]
                expected.append((member.name, SHIPPED.questions[q].id,
                                 winner if winner != group.recommendation else None))
    assert [(d.member, d.question.id, d.change.recommendation if d.change else None)
            for d in result.differences] == expected
    assert {d.member for d in result.dissent} == {
        m.name for m in result.members if m.answered and m.recommendation != group.recommendation}
