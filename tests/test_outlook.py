"""Unmet needs, open-question shares and honest closeness, checked against brute force over `evaluate`.

tests/data/needs.yaml is small enough to work out by hand (see the comments at each case); random small rules
files (tests/strategies.py, with random `unmet` texts added) and the shipped rules are checked against brute force:
every way to answer the open questions evaluated one by one.
"""

from __future__ import annotations

import itertools
import json
import random
from fractions import Fraction
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import Phase, given, reject, settings
from hypothesis import strategies as st
from strategies import answer_sets, load_case, rule_specs

from recommender import RulesValidationError, evaluate, evaluate_state, explain, load_rules
from recommender.outlook import WinnerTable, outlook, winner_table
from recommender.wording import CLOSENESS_WORDS, open_sentence, percent

DATA = Path(__file__).resolve().parent / "data"
NEEDS = load_rules(DATA / "needs.yaml")
PROPERTY = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.generate, Phase.shrink])

SPIKY_DOCKER = "Docker alone has no autoscaler: keep spare containers running for the peaks."
SPIKY_COMPOSE = "Swarm has no autoscaler: scale replicas by hand, or add one."
MANY_DOCKER = "Docker alone runs on one machine: add a scheduler to span several."


def completions(ruleset, answers: dict[str, str]):
    """Every way to answer the questions `answers` leaves open, as full answer sets."""
    open_questions = [q for q in ruleset.questions if q.id not in answers]
    for picks in itertools.product(*(q.choices for q in open_questions)):
        yield {**answers, **{q.id: c.id for q, c in zip(open_questions, picks)}}


def brute_force(ruleset, answers: dict[str, str]) -> tuple[dict[str, Fraction], list[str], dict[str, Fraction]]:
    """Each option's share of the completions, the open questions most decisive first, and each one's D."""
    options = [o.id for o in ruleset.options]
    open_questions = [q for q in ruleset.questions if q.id not in answers]
    winners = [(full, options[evaluate(ruleset, full).winner]) for full in completions(ruleset, answers)]

    def shares(rows) -> dict[str, Fraction]:
        return {o: Fraction(sum(w == o for _, w in rows), len(rows)) for o in options}

    overall = shares(winners)
    decisive = {}
    for question in open_questions:
        d = Fraction(0)
        for choice in question.choices:
            given_choice = shares([(full, w) for full, w in winners if full[question.id] == choice.id])
            d += Fraction(1, len(question.choices)) * Fraction(1, 2) * sum(
                abs(given_choice[o] - overall[o]) for o in options)
        decisive[question.id] = d
    order = sorted((q.id for q in open_questions),
                   key=lambda qid: (-decisive[qid], [q.id for q in ruleset.questions].index(qid)))
    return overall, order, decisive


def expected_closeness(ruleset, answers: dict[str, str], doc: dict, wins: dict[str, Fraction]) -> str:
    """docs: unanswered first; tie and close by the lead; then open, unmet, and only otherwise clear."""
    margin_class = evaluate(ruleset, answers).closeness
    recommended = doc["recommendation"]
    stated = {(q.id, c.id) for q in ruleset.questions for c in q.choices if recommended in c.unmet}
    if not answers:
        return "unanswered"
    if margin_class != "clear":
        return margin_class
    if wins[recommended] < Fraction(1, 2):
        return "open"
    if stated & set(answers.items()):
        return "unmet"
    return "clear"


# --- needs.yaml, by hand ------------------------------------------------------------------------------------------

# Full questionnaires: one machine and a small team → Docker alone; any other team or many machines → Kubernetes
# (traffic never changes the winner). Over the 12 ways to answer nothing: Docker alone wins 2, Kubernetes 10.
# D(team) = 1/3·(1/3 + 1/6 + 1/6) = 2/9, D(hosts) = 1/2·(1/6 + 1/6) = 1/6, D(traffic) = 0.
@pytest.mark.parametrize(("answers", "questions", "wins", "decisiveness", "closeness"), [
    pytest.param({}, ["team", "hosts", "traffic"], {"docker": Fraction(1, 6), "kubernetes": Fraction(5, 6)},
                 [Fraction(2, 9), Fraction(1, 6), 0], "unanswered", id="nothing answered"),
    # Docker alone leads by 1.5 points (clear), but only a small team keeps it ahead: 2 of the 6 ways.
    pytest.param({"hosts": "one"}, ["team", "traffic"], {"docker": Fraction(1, 3), "kubernetes": Fraction(2, 3)},
                 [Fraction(4, 9), 0], "open", id="clear lead, open questions against it"),
    pytest.param({"hosts": "one", "traffic": "spiky"}, ["team"],
                 {"docker": Fraction(1, 3), "kubernetes": Fraction(2, 3)}, [Fraction(4, 9)], "open",
                 id="open takes precedence over unmet"),
    pytest.param({"hosts": "one", "team": "small"}, ["traffic"], {"docker": 1}, [0], "clear",
                 id="one open question that changes nothing"),
    pytest.param({"hosts": "one", "team": "small", "traffic": "spiky"}, [], {"docker": 1}, [], "unmet",
                 id="clear lead, stated need unmet"),
    pytest.param({"hosts": "many"}, ["traffic", "team"], {"kubernetes": 1}, [0, 0], "clear",
                 id="equally decisive in questionnaire order; others' unmet needs do not count"),
    pytest.param({"team": "small"}, ["hosts", "traffic"], {"docker": Fraction(1, 2), "kubernetes": Fraction(1, 2)},
                 [Fraction(1, 2), 0], "tie", id="tie"),
])
def test_open_questions_by_hand(answers, questions, wins, decisiveness, closeness):
    doc = explain(evaluate(NEEDS, answers)).as_json()
    assert doc["open"]["questions"] == questions
    assert list(doc["open"]["wins"]) == ["docker", "compose", "kubernetes"]
    assert doc["open"]["wins"] == {o: float(wins.get(o, 0)) for o in ("docker", "compose", "kubernetes")}
    found = outlook(evaluate(NEEDS, answers))
    assert found.decisiveness == pytest.approx([float(d) for d in decisiveness])
    assert doc["closeness"] == closeness
    assert doc["headline"].endswith(CLOSENESS_WORDS[closeness]) or closeness == "unanswered"


@pytest.mark.parametrize(("answers", "needs"), [
    pytest.param({}, {"docker": [], "compose": [], "kubernetes": []}, id="nothing answered"),
    pytest.param({"traffic": "steady", "hosts": "one"}, {"docker": [], "compose": [], "kubernetes": []},
                 id="no need stated"),
    pytest.param({"traffic": "spiky"}, {"docker": [("traffic", "spiky", SPIKY_DOCKER)],
                                        "compose": [("traffic", "spiky", SPIKY_COMPOSE)], "kubernetes": []},
                 id="one answer, two options"),
    pytest.param({"hosts": "many", "traffic": "spiky", "team": "large"},
                 {"docker": [("traffic", "spiky", SPIKY_DOCKER), ("hosts", "many", MANY_DOCKER)],
                  "compose": [("traffic", "spiky", SPIKY_COMPOSE)], "kubernetes": []},
                 id="questionnaire order"),
])
def test_unmet_needs_per_option_in_option_and_questionnaire_order(answers, needs):
    doc = explain(evaluate(NEEDS, answers)).as_json()
    assert list(doc["unmet_needs"]) == ["docker", "compose", "kubernetes"]
    assert {o: [(n["question"], n["choice"], n["text"]) for n in entries]
            for o, entries in doc["unmet_needs"].items()} == needs
    assert json.loads(json.dumps(doc)) == doc


@pytest.mark.parametrize(("share", "text"), [
    (0.0, "0 %"), (1.0, "100 %"), (0.68, "68 %"), (2 / 3, "67 %"), (0.5, "50 %"), (0.996, "99.6 %"),
    (0.9996, "99.96 %"), (0.004, "0.4 %"), (0.00004, "under 0.01 %"), (0.99999, "over 99.99 %"),
])
def test_percentages_never_round_to_0_or_100_unless_exact(share, text):
    assert percent(share) == text


@pytest.mark.parametrize(("share", "count", "sentence"), [
    (0.68, 7, "Kubernetes wins in 68 % of the ways your 7 open questions could be answered; the one that matters "
              "most: How?"),
    (1 / 3, 1, "Kubernetes wins in 33 % of the ways your open question could be answered: How?"),
    (1.0, 1, "Kubernetes wins whichever way your open question is answered: How?"),
    (1.0, 3, "Kubernetes wins in every way your 3 open questions could be answered."),
    (0.0, 2, "Kubernetes wins in 0 % of the ways your 2 open questions could be answered; the one that matters "
             "most: How?"),
])
def test_open_sentence_singular_plural_and_exact_ends(share, count, sentence):
    assert open_sentence("Kubernetes", share, count, "How?") == sentence


# --- random small rules files, against brute force ----------------------------------------------------------------

@st.composite
def cases_with_needs(draw):
    """A random small rules file whose choices name unmet needs at random, and answers for it."""
    spec = draw(rule_specs())
    options = [o["id"] for o in spec["options"]]
    for question in spec["questions"]:
        for choice in question["choices"]:
            named = [o for o in options if draw(st.integers(0, 3)) == 0]
            if named:
                choice["unmet"] = {o: f"{o} cannot do {choice['id']}." for o in named}
    try:
        case = load_case(spec)
    except RulesValidationError as error:
        if all("can never hold" in issue.message for issue in error.issues):
            reject()
        raise
    return case, draw(answer_sets(case.spec))


@PROPERTY
@given(drawn=cases_with_needs())
def test_shares_order_and_closeness_match_brute_force(drawn):
    case, answers = drawn
    ruleset = case.ruleset
    doc = explain(evaluate(ruleset, answers)).as_json()
    wins, order, decisive = brute_force(ruleset, answers)
    assert doc["open"]["wins"] == {o: float(share) for o, share in wins.items()}
    assert sum(doc["open"]["wins"].values()) == pytest.approx(1.0)
    assert doc["open"]["questions"] == order
    found = outlook(evaluate(ruleset, answers))
    assert found.decisiveness == pytest.approx([float(decisive[q]) for q in order])
    assert doc["closeness"] == expected_closeness(ruleset, answers, doc, wins)
    # The promise in words: never "clear" while the open questions or a stated need say otherwise.
    if doc["closeness"] == "clear":
        assert answers
        assert wins[doc["recommendation"]] >= Fraction(1, 2)
        assert not doc["unmet_needs"][doc["recommendation"]]
    for option, needs in doc["unmet_needs"].items():
        assert [(n["question"], n["choice"]) for n in needs] == [
            (q.id, c.id) for q in ruleset.questions for c in q.choices
            if answers.get(q.id) == c.id and option in c.unmet]


@PROPERTY
@given(drawn=cases_with_needs())
def test_the_table_holds_every_full_questionnaires_winner(drawn):
    case, _ = drawn
    ruleset = case.ruleset
    table = WinnerTable(ruleset).winners
    assert table.shape == tuple(len(q.choices) for q in ruleset.questions)
    for full in completions(ruleset, {}):
        state = tuple(ruleset.choice_index[q][full[question.id]] for q, question in enumerate(ruleset.questions))
        assert table[tuple(s - 1 for s in state)] == evaluate(ruleset, full).winner


@PROPERTY
@given(drawn=cases_with_needs())
def test_without_a_table_slices_give_the_same_outlook(drawn):
    """Rules files too large for the table compute each slice on demand: the same numbers."""
    case, answers = drawn
    result = evaluate(case.ruleset, answers)
    with mock.patch("recommender.outlook.FULL_LIMIT", 0):
        without = WinnerTable(case.ruleset)
    assert without.winners is None
    assert without.outlook(result.state, result.winner) == winner_table(case.ruleset).outlook(result.state,
                                                                                              result.winner)


@pytest.mark.parametrize("answers", [{}, {"hosts": "one"}, {"team": "small"}])
def test_slices_too_large_to_count_are_sampled(answers):
    result = evaluate(NEEDS, answers)
    exact = outlook(result)
    with mock.patch("recommender.outlook.FULL_LIMIT", 0), mock.patch("recommender.outlook.SLICE_LIMIT", 0):
        sampled = WinnerTable(NEEDS).outlook(result.state, result.winner)
    assert not sampled.exact
    assert sampled.questions == exact.questions
    assert sampled.shares == pytest.approx(exact.shares, abs=0.01)


# --- the shipped rules, whatever their scores ---------------------------------------------------------------------

def test_shipped_table_agrees_with_evaluate_on_samples(shipped_rules):
    table = winner_table(shipped_rules).winners
    assert table.dtype == np.uint8
    assert table.shape == tuple(len(q.choices) for q in shipped_rules.questions)
    rng = random.Random(7)
    for _ in range(2000):
        state = tuple(rng.randint(1, len(q.choices)) for q in shipped_rules.questions)
        assert table[tuple(s - 1 for s in state)] == evaluate_state(shipped_rules, state).winner, state


@pytest.mark.parametrize("seed", range(40))
def test_shipped_shares_match_brute_force_with_few_open_questions(shipped_rules, seed):
    rng = random.Random(seed)
    questions = list(shipped_rules.questions)
    open_ids = {q.id for q in rng.sample(questions, rng.randint(1, 4))}
    answers = {q.id: rng.choice(q.choices).id for q in questions if q.id not in open_ids}
    doc = explain(evaluate(shipped_rules, answers)).as_json()
    wins, order, _ = brute_force(shipped_rules, answers)
    assert doc["open"]["wins"] == {o: float(share) for o, share in wins.items()}
    assert doc["open"]["questions"] == order
    assert doc["closeness"] == expected_closeness(shipped_rules, answers, doc, wins)


def test_shipped_nothing_answered_sums_to_one_over_every_full_questionnaire(shipped_rules):
    doc = explain(evaluate(shipped_rules, {})).as_json()
    table = winner_table(shipped_rules).winners
    counts = np.bincount(table.ravel(), minlength=len(shipped_rules.options))
    assert doc["open"]["wins"] == {o.id: count / table.size for o, count in zip(shipped_rules.options, counts)}
    assert sorted(doc["open"]["questions"]) == sorted(q.id for q in shipped_rules.questions)
    assert doc["closeness"] == "unanswered"


@pytest.mark.parametrize("seed", range(5))
def test_fully_answered_gives_the_recommendation_all_of_it(shipped_rules, seed):
    rng = random.Random(seed)
    answers = {q.id: rng.choice(q.choices).id for q in shipped_rules.questions}
    doc = explain(evaluate(shipped_rules, answers)).as_json()
    assert doc["open"] == {"questions": [],
                           "wins": {o.id: float(o.id == doc["recommendation"]) for o in shipped_rules.options}}
