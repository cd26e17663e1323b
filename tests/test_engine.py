"""The engine and its explanations, checked against a deliberately simple reference evaluator.

The reference below is written straight from docs/rules-format.md, on the plain data of a rules file,
with exact fractions; it shares no code with `recommender`. Properties run on the shipped rules and on
random small rules files (tests/strategies.py), over random answer sets; hand-written examples use small rules
built here. What the shipped rules recommend for given answers is pinned in tests/test_shipped_rules.py.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass
from fractions import Fraction

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from strategies import RulesCase, answer_sets, load_case, rule_sets

from recommender import AnswersError, RuleSet, evaluate, explain, load_rules_text
from recommender.explain import sensitivity

SOURCES = ["shipped", "random"]
# CI-friendly: the same examples on every run (derandomize), nothing written to a local example database, and
# no "explain" phase (it re-runs a failing example many times, and some of these examples reload rules files).
PROPERTY = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.generate, Phase.shrink])
NUDGE = Fraction(1, 10**6)

# ---------------------------------------------------------------------------------------------------------
# The reference evaluator


def mentioned(condition: dict) -> set[str]:
    """Every question a condition mentions."""
    found = set()
    for key, value in condition.items():
        if key in ("any", "all"):
            for part in value:
                found |= mentioned(part)
        elif key == "not":
            found |= mentioned(value)
        else:
            found.add(key)
    return found


def holds(condition: dict, answers: dict[str, str]) -> bool:
    """docs/rules-format.md, "Conditions": every key of a mapping must hold."""
    for key, value in condition.items():
        if key == "any":
            ok = any(holds(part, answers) for part in value)
        elif key == "all":
            ok = all(holds(part, answers) for part in value)
        elif key == "not":
            ok = all(q in answers for q in mentioned(value)) and not holds(value, answers)
        else:
            ok = answers.get(key) in (value if isinstance(value, list) else [value])
        if not ok:
            return False
    return True


@dataclass(frozen=True)
class Reference:
    options: tuple[str, ...]
    fired: tuple[str, ...]
    scores: dict[str, Fraction]
    points: dict[str, dict[str, Fraction]]     # rule id -> option -> weighted points
    excluded: frozenset[str]
    ranking: tuple[str, ...]
    closeness: str

    @property
    def winner(self) -> str:
        return self.ranking[0]

    @property
    def runner_up(self) -> str:
        return self.ranking[1]


def reference(spec: dict, answers: dict[str, str], weights: dict[str, Fraction] | None = None) -> Reference:
    """docs/rules-format.md, "Scoring": fired rules add scores × weight; excluded options rank last;
    the highest score wins, ties to the option listed first; the lead decides the closeness."""
    options = tuple(o["id"] for o in spec["options"])
    weight = {c["id"]: Fraction(c.get("weight", 1.0)) for c in spec["criteria"]}
    weight.update(weights or {})
    scores = dict.fromkeys(options, Fraction(0))
    points, fired, excluded = {}, [], set()
    for rule in spec["rules"]:
        if not holds(rule["when"], answers):
            continue
        fired.append(rule["id"])
        given_scores = rule.get("scores", {})
        points[rule["id"]] = {o: Fraction(given_scores.get(o, 0)) * weight[rule["criterion"]] for o in options}
        for o in options:
            scores[o] += points[rule["id"]][o]
        excluded.update(rule.get("exclude", []))

    def best_first(group):
        return sorted(group, key=lambda o: (-scores[o], options.index(o)))

    ranking = (*best_first(o for o in options if o not in excluded), *best_first(o for o in options if o in excluded))
    winner, runner_up = ranking[0], ranking[1]
    lead = scores[winner] - scores[runner_up]
    if (winner in excluded) != (runner_up in excluded):
        closeness = "clear"  # only one option is left standing: nothing to compare it with
    elif lead == 0:
        closeness = "tie"
    elif lead < Fraction(spec["closeness"]["close"]):
        closeness = "close"
    else:
        closeness = "clear"
    return Reference(options, tuple(fired), scores, points, frozenset(excluded), ranking, closeness)


def honest_closeness(margin_class: str, answers: dict[str, str], doc: dict) -> str:
    """The document's closeness from the lead's: nothing answered first; a clear lead stays "clear" only when the
    recommendation wins at least half the ways to answer the open questions and leaves no stated need unmet."""
    if not answers:
        return "unanswered"
    if margin_class != "clear":
        return margin_class
    if doc["open"]["wins"][doc["recommendation"]] < 0.5:
        return "open"
    if doc["unmet_needs"][doc["recommendation"]]:
        return "unmet"
    return "clear"


def stated_needs(spec: dict, answers: dict[str, str]) -> dict[str, list[tuple[str, str, str]]]:
    """Per option, the (question, choice, text) of each answer whose choice names it under `unmet`."""
    needs: dict[str, list[tuple[str, str, str]]] = {o["id"]: [] for o in spec["options"]}
    for question in spec["questions"]:
        for choice in question["choices"]:
            if answers.get(question["id"]) == choice["id"]:
                for option, text in choice.get("unmet", {}).items():
                    needs[option].append((question["id"], choice["id"], text))
    return needs


def single_changes(spec: dict, answers: dict[str, str]):
    """Every answer set that differs in one answer, never going back to unanswered."""
    for question in spec["questions"]:
        for choice in question["choices"]:
            if answers.get(question["id"]) != choice["id"]:
                yield question["id"], choice["id"], {**answers, question["id"]: choice["id"]}


# ---------------------------------------------------------------------------------------------------------
# Cases


def draw_case(data, source: str, shipped_case: RulesCase) -> tuple[RulesCase, dict[str, str]]:
    case = shipped_case if source == "shipped" else data.draw(rule_sets(), label="rules")
    return case, data.draw(answer_sets(case.spec), label="answers")


def document_for(case: RulesCase, answers: dict[str, str]) -> dict:
    return explain(evaluate(case.ruleset, answers)).as_json()


_RELOADED: dict[tuple[str, str, Fraction], RuleSet] = {}


def reloaded(case: RulesCase, criterion: str, weight: Fraction) -> RuleSet:
    """The rules file with one row's weight edited in its YAML text, loaded again (cached: loading takes time).
    The weight must have at most six decimals, so that the text says exactly that weight."""
    assert (weight * 10**6).denominator == 1
    key = (case.text, criterion, weight)
    if key not in _RELOADED:
        if len(_RELOADED) > 500:
            _RELOADED.clear()
        # The criterion's own `weight:` line: the lines after `- id: <criterion>` up to the next list item.
        pattern = rf"(- id: {re.escape(criterion)}\n(?:[ \t]++(?!- ).*\n)*?[ \t]++weight: )(\S+)"
        text, count = re.subn(pattern, lambda m: f"{m[1]}{float(weight):.6f}", case.text, count=1)
        assert count == 1, f"no weight for {criterion} in the YAML text"
        _RELOADED[key] = load_rules_text(text)
    return _RELOADED[key]


def base_weight(spec: dict, criterion: str) -> Fraction:
    return next(Fraction(c.get("weight", 1.0)) for c in spec["criteria"] if c["id"] == criterion)


# ---------------------------------------------------------------------------------------------------------
# Scores, ranking and closeness


@pytest.mark.parametrize("source", SOURCES)
@PROPERTY
@given(data=st.data())
def test_result_matches_the_reference_evaluator(source, data, shipped_case):
    case, answers = draw_case(data, source, shipped_case)
    ref = reference(case.spec, answers)
    doc = document_for(case, answers)
    assert doc["recommendation"] == ref.winner
    assert [entry["option"] for entry in doc["ranking"]] == list(ref.ranking)
    for entry in doc["ranking"]:
        assert entry["score"] == pytest.approx(float(ref.scores[entry["option"]]), abs=1e-9)
        assert (entry["excluded"] is not None) == (entry["option"] in ref.excluded)
    assert [rule["rule"] for rule in doc["fired_rules"]] == list(ref.fired)
    assert {entry["option"] for entry in doc["excluded"]} == ref.excluded
    assert doc["runner_up"] == ref.runner_up
    assert doc["margin"] == pytest.approx(float(ref.scores[ref.winner] - ref.scores[ref.runner_up]), abs=1e-9)
    assert evaluate(case.ruleset, answers).closeness == ref.closeness
    assert doc["closeness"] == honest_closeness(ref.closeness, answers, doc)
    assert doc["tie_break"] == (ref.closeness == "tie")


@pytest.mark.parametrize("source", SOURCES)
@PROPERTY
@given(data=st.data())
def test_shown_scores_are_the_sums_of_the_shown_points(source, data, shipped_case):
    case, answers = draw_case(data, source, shipped_case)
    doc = document_for(case, answers)
    for entry in doc["ranking"]:
        total = 0.0
        for rule in doc["fired_rules"]:
            total += rule["points"][entry["option"]]
        assert entry["score"] == total


@pytest.mark.parametrize("source", SOURCES)
@PROPERTY
@given(data=st.data())
def test_ranking_exclusions_ties_and_closeness(source, data, shipped_case):
    case, answers = draw_case(data, source, shipped_case)
    doc = document_for(case, answers)
    options = [o["id"] for o in case.spec["options"]]
    ranking = doc["ranking"]
    assert doc["recommendation"] == ranking[0]["option"]
    assert doc["runner_up"] == ranking[1]["option"]
    assert sorted(entry["option"] for entry in ranking) == sorted(options)
    standing = [entry["excluded"] is None for entry in ranking]
    assert standing == sorted(standing, reverse=True), "an excluded option ranks above an eligible one"
    for better, worse in itertools.pairwise(ranking):
        if (better["excluded"] is None) == (worse["excluded"] is None):
            assert better["score"] >= worse["score"]
            if better["score"] == worse["score"]:
                assert options.index(better["option"]) < options.index(worse["option"]), "ties go to the earlier"
    top, second = ranking[0], ranking[1]
    if (top["excluded"] is None) == (second["excluded"] is None):
        lead = top["score"] - second["score"]
        expected = "tie" if lead == 0 else "close" if lead < case.spec["closeness"]["close"] else "clear"
        assert doc["tie_break"] == (lead == 0)
    else:
        expected = "clear"
        assert not doc["tie_break"]
    assert doc["closeness"] == honest_closeness(expected, answers, doc)


@pytest.mark.parametrize("source", SOURCES)
@PROPERTY
@given(data=st.data())
def test_answer_order_does_not_matter(source, data, shipped_case):
    case, answers = draw_case(data, source, shipped_case)
    shuffled = dict(data.draw(st.permutations(list(answers.items())), label="order"))
    assert document_for(case, shuffled) == document_for(case, answers)


@pytest.mark.parametrize("source", SOURCES)
@PROPERTY
@given(data=st.data())
def test_unanswered_questions_fire_nothing(source, data, shipped_case):
    case, answers = draw_case(data, source, shipped_case)
    doc = document_for(case, answers)
    fired = {rule["rule"] for rule in doc["fired_rules"]}
    when = {rule["id"]: rule["when"] for rule in case.spec["rules"]}
    for rule in fired:
        assert mentioned(when[rule]) & answers.keys(), f"{rule} fired with all its questions unanswered"
    # Taking an answer back can only stop rules firing: no condition, negated or not, holds on "Not sure".
    for question in answers:
        fewer = {q: c for q, c in answers.items() if q != question}
        newly = {rule["rule"] for rule in document_for(case, fewer)["fired_rules"]} - fired
        assert not newly, f"unanswering {question} fired {newly}"


@pytest.mark.parametrize("source", SOURCES)
@PROPERTY
@given(data=st.data())
def test_no_answers_is_a_tie_won_by_the_first_option_and_called_unanswered(source, data, shipped_case):
    case = shipped_case if source == "shipped" else data.draw(rule_sets(), label="rules")
    doc = document_for(case, {})
    assert doc["fired_rules"] == []
    assert doc["recommendation"] == case.spec["options"][0]["id"]
    assert evaluate(case.ruleset, {}).closeness == "tie"
    assert doc["closeness"] == "unanswered"
    assert doc["tie_break"] is True
    assert {entry["score"] for entry in doc["ranking"]} == {0.0}
    assert doc["notes"] == ["No question was answered, so nothing favours any option yet."]
    assert doc["label"] not in doc["headline"]
    assert sorted(doc["open"]["questions"]) == sorted(q["id"] for q in case.spec["questions"])


# ---------------------------------------------------------------------------------------------------------
# Unmet needs and open questions


@pytest.mark.parametrize("source", SOURCES)
@PROPERTY
@given(data=st.data())
def test_unmet_needs_are_the_answers_whose_choice_names_the_option(source, data, shipped_case):
    case, answers = draw_case(data, source, shipped_case)
    doc = document_for(case, answers)
    assert list(doc["unmet_needs"]) == [o["id"] for o in case.spec["options"]]
    assert {option: [(n["question"], n["choice"], n["text"]) for n in needs]
            for option, needs in doc["unmet_needs"].items()} == stated_needs(case.spec, answers)


@pytest.mark.parametrize("source", SOURCES)
@PROPERTY
@given(data=st.data())
def test_open_shares_name_every_option_and_sum_to_one(source, data, shipped_case):
    case, answers = draw_case(data, source, shipped_case)
    doc = document_for(case, answers)
    assert list(doc["open"]["wins"]) == [o["id"] for o in case.spec["options"]]
    assert all(0 <= share <= 1 for share in doc["open"]["wins"].values())
    assert sum(doc["open"]["wins"].values()) == pytest.approx(1.0)
    assert sorted(doc["open"]["questions"]) == sorted(doc["unanswered"])
    if not doc["unanswered"]:
        assert doc["open"]["wins"][doc["recommendation"]] == 1.0


# ---------------------------------------------------------------------------------------------------------
# What if


@pytest.mark.parametrize("source", SOURCES)
@PROPERTY
@given(data=st.data())
def test_what_if_lists_exactly_the_single_changes_that_change_the_winner(source, data, shipped_case):
    case, answers = draw_case(data, source, shipped_case)
    doc = document_for(case, answers)
    options = [o["id"] for o in case.spec["options"]]
    winner = doc["recommendation"]
    listed = {(entry["question"], entry["choice"]): entry for entry in doc["what_if"]}
    assert len(listed) == len(doc["what_if"]), "a what-if change is listed twice"
    brute = {}
    for question, choice, changed in single_changes(case.spec, answers):
        new_winner = reference(case.spec, changed).winner
        if new_winner != winner:
            brute[question, choice] = new_winner
    assert {key: entry["recommendation"] for key, entry in listed.items()} == brute
    for (question, choice), entry in listed.items():
        assert document_for(case, {**answers, question: choice})["recommendation"] == entry["recommendation"]
        heavier = options.index(entry["recommendation"]) > options.index(winner)
        assert entry["direction"] == ("heavier" if heavier else "lighter")
        assert entry["was_unanswered"] == (question not in answers)
    could_change = {question for question, _ in brute if question not in answers}
    assert set(doc["unanswered_could_change"]) == could_change
    assert len(doc["unanswered_could_change"]) == len(could_change)


# ---------------------------------------------------------------------------------------------------------
# Drivers


@pytest.mark.parametrize("source", SOURCES)
@PROPERTY
@given(data=st.data())
def test_drivers_add_up_to_the_lead(source, data, shipped_case):
    case, answers = draw_case(data, source, shipped_case)
    ref = reference(case.spec, answers)
    doc = document_for(case, answers)
    criterion_of = {rule["id"]: rule["criterion"] for rule in case.spec["rules"]}
    row_leads: dict[str, Fraction] = {}
    for rule in ref.fired:
        lead = ref.points[rule][ref.winner] - ref.points[rule][ref.runner_up]
        row_leads[criterion_of[rule]] = row_leads.get(criterion_of[rule], Fraction(0)) + lead
    pro, con = doc["drivers"], doc["against"]
    for row in pro + con:
        assert row["lead"] == pytest.approx(float(row_leads[row["criterion"]]), abs=1e-9)
    assert {row["criterion"] for row in pro} == {c for c, lead in row_leads.items() if lead > 0}
    assert {row["criterion"] for row in con} == {c for c, lead in row_leads.items() if lead < 0}
    assert all(row["lead"] > 0 for row in pro)
    assert all(row["lead"] < 0 for row in con)
    assert [row["lead"] for row in pro] == sorted((row["lead"] for row in pro), reverse=True)
    assert [row["lead"] for row in con] == sorted(row["lead"] for row in con)
    assert doc["why"] == (pro[0]["reasons"][0] if pro else None)
    total = sum(row["lead"] for row in pro + con)
    scores = {entry["option"]: entry["score"] for entry in doc["ranking"]}
    assert total == pytest.approx(scores[doc["recommendation"]] - scores[doc["runner_up"]], abs=1e-9)


# ---------------------------------------------------------------------------------------------------------
# Weight sensitivity


def sample_factors(spec: dict, answers: dict[str, str], criterion: str) -> list[Fraction]:
    """Weight factors that show every winner the row's weight can produce: each factor at which two options
    score the same, the points between them, 0, and one beyond the last (scores are linear in the factor)."""
    ref = reference(spec, answers)
    row = dict.fromkeys(ref.options, Fraction(0))
    for rule in spec["rules"]:
        if rule["id"] in ref.fired and rule["criterion"] == criterion:
            for o in ref.options:
                row[o] += ref.points[rule["id"]][o]
    base = {o: ref.scores[o] - row[o] for o in ref.options}
    crossings = {Fraction(0)}
    for a in ref.options:
        for b in ref.options:
            if row[a] != row[b]:
                point = (base[b] - base[a]) / (row[a] - row[b])
                if point > 0:
                    crossings.add(point)
    points = sorted(crossings)
    between = [(x + y) / 2 for x, y in itertools.pairwise(points)]
    return sorted({*points, *between, points[-1] + 1, Fraction(1)})


def winner_at(spec: dict, answers: dict[str, str], criterion: str, factor: Fraction) -> str:
    return reference(spec, answers, {criterion: base_weight(spec, criterion) * factor}).winner


def reloaded_winner(case: RulesCase, answers: dict[str, str], criterion: str, factor: Fraction, up: bool) -> str:
    """Edit the row's weight in the YAML text and evaluate again. The new weight is put on a 2e-6 grid (just
    beyond the factor) so that every point, being a whole or half point times it, counts exactly."""
    grid = Fraction(2, 10**6)
    steps = base_weight(case.spec, criterion) * factor / grid
    weight = (math.ceil(steps) if up else math.floor(steps)) * grid
    return explain(evaluate(reloaded(case, criterion, weight), answers)).as_json()["recommendation"]


def nudged(factor: Fraction, direction: str) -> tuple[Fraction, bool]:
    """The factor moved slightly further from 1 the stated way (a factor of 1 is a tie: any move flips it)."""
    if factor == 0:
        return Fraction(0), False
    up = direction == "more"
    return factor * (1 + NUDGE if up else 1 - NUDGE), up


@pytest.mark.parametrize("source", SOURCES)
@PROPERTY
@given(data=st.data())
def test_sensitivity_factors_flip_the_result(source, data, shipped_case):
    case, answers = draw_case(data, source, shipped_case)
    result = evaluate(case.ruleset, answers)
    doc = explain(result).as_json()
    options = [o["id"] for o in case.spec["options"]]
    criteria = [c["id"] for c in case.spec["criteria"]]
    entries = sensitivity(result)
    assert doc["sensitivity"] == [{"criterion": s.criterion.id, "factor": round(s.factor, 4),
                                   "direction": s.direction, "recommendation": s.recommendation.id}
                                  for s in entries]
    for entry in entries:
        # The factor is a float; the crossing it stands for is a fraction of small whole numbers.
        criterion, stated = entry.criterion.id, entry.recommendation.id
        assert criterion in criteria
        assert stated in options
        factor = Fraction(entry.factor).limit_denominator(10**6)
        assert stated != doc["recommendation"]
        if factor != 1:
            assert entry.direction == ("more" if factor > 1 else "less")
        probe, up = nudged(factor, entry.direction)
        assert winner_at(case.spec, answers, criterion, probe) == stated, (
            f"{criterion} × {float(probe)} does not make {stated} win")
        if base_weight(case.spec, criterion) * max(factor, Fraction(1)) * 2 <= 100:
            assert reloaded_winner(case, answers, criterion, probe, up) == stated
        # ...and it is the change closest to 1: no smaller move of that weight changes the winner.
        reach = max(factor, 1 / factor) if factor else None
        for probe in sample_factors(case.spec, answers, criterion):
            if probe and (reach is None or 1 / reach < probe < reach):
                assert winner_at(case.spec, answers, criterion, probe) == doc["recommendation"], (
                    f"{criterion} × {probe} already changes the winner, closer to 1 than {entry.factor}")


@PROPERTY
@given(data=st.data())
def test_rows_missing_from_sensitivity_cannot_flip_the_result(data):
    case, answers = draw_case(data, "random", None)
    doc = document_for(case, answers)
    listed = {entry["criterion"] for entry in doc["sensitivity"]}
    for criterion in (c["id"] for c in case.spec["criteria"] if c["id"] not in listed):
        for factor in ("0", "0.25", "0.5", "0.9", "1.1", "2", "4", "10", "100"):
            weight = base_weight(case.spec, criterion) * Fraction(factor)
            if weight <= 100:
                new_winner = explain(evaluate(reloaded(case, criterion, weight), answers)).as_json()["recommendation"]
                assert new_winner == doc["recommendation"], f"{criterion} × {factor} changes the winner"
        for factor in sample_factors(case.spec, answers, criterion):
            assert winner_at(case.spec, answers, criterion, factor) == doc["recommendation"], (
                f"{criterion} × {factor} changes the winner")


# ---------------------------------------------------------------------------------------------------------
# Bad answers


@pytest.mark.parametrize(("answers", "issues"), [
    ({"servces": "one"}, [("servces", "one", "did you mean 'services'?")]),
    ({"hosts": "fewer"}, [("hosts", "fewer", "did you mean 'few'?")]),
    ({"services": "few", "hostz": "one", "traffic": "spikey"},
     [("hostz", "one", "did you mean 'hosts'?"), ("traffic", "spikey", "did you mean 'spiky'?")]),
    ({"colour": "blue"}, [("colour", "blue", None)]),
    ({"hosts": "seven"}, [("hosts", "seven", None)]),
])
def test_unknown_answers_name_every_bad_pair(shipped_rules, answers, issues):
    with pytest.raises(AnswersError) as raised:
        evaluate(shipped_rules, answers)
    got = raised.value.issues
    assert [(issue.question, issue.choice) for issue in got] == [(q, c) for q, c, _ in issues]
    for issue, (question, choice, hint) in zip(got, issues):
        assert f"'{question}'" in issue.message
        if question in shipped_rules.question_index:
            assert f"'{choice}'" in issue.message
        if hint:
            assert hint in issue.message
        else:
            assert "did you mean" not in issue.message


@pytest.mark.parametrize("source", SOURCES)
@PROPERTY
@given(data=st.data())
def test_unknown_answers_are_all_reported(source, data, shipped_case):
    case, answers = draw_case(data, source, shipped_case)
    questions = [q["id"] for q in case.spec["questions"]]
    bad = {}
    for question in data.draw(st.lists(st.sampled_from(questions), unique=True), label="bad choices"):
        bad[question] = "no-such-choice"
    for question in data.draw(st.lists(st.sampled_from(["colour", "budget", "region"]), unique=True),
                              label="bad questions"):
        bad[question] = "blue"
    mixed = {**answers, **bad}
    if not bad:
        evaluate(case.ruleset, mixed)
        return
    with pytest.raises(AnswersError) as raised:
        evaluate(case.ruleset, mixed)
    assert {(issue.question, issue.choice) for issue in raised.value.issues} == set(bad.items())
    assert len(raised.value.issues) == len(bad)


# ---------------------------------------------------------------------------------------------------------
# The document


DOCUMENT_KEYS = {
    "recommendation", "label", "closeness", "headline", "why", "margin", "runner_up", "tie_break", "notes",
    "ranking", "drivers", "against", "fired_rules", "excluded", "unmet_needs", "what_if", "sensitivity", "unanswered",
    "unanswered_could_change", "open", "answers", "rules_fingerprint",
}
ENTRY_KEYS = {
    "ranking": {"option", "label", "score", "excluded"},
    "drivers": {"criterion", "label", "lead", "reasons", "texts"},
    "against": {"criterion", "label", "lead", "reasons", "texts"},
    "fired_rules": {"rule", "criterion", "because", "points", "excludes"},
    "excluded": {"option", "rule", "reason"},
    "what_if": {"question", "choice", "recommendation", "direction", "was_unanswered"},
    "sensitivity": {"criterion", "factor", "direction", "recommendation"},
}


@pytest.mark.parametrize("source", SOURCES)
@PROPERTY
@given(data=st.data())
def test_document_has_the_promised_shape_and_is_json(source, data, shipped_case):
    case, answers = draw_case(data, source, shipped_case)
    doc = document_for(case, answers)
    assert set(doc) == DOCUMENT_KEYS
    for key, keys in ENTRY_KEYS.items():
        assert all(set(entry) == keys for entry in doc[key]), key
    assert json.loads(json.dumps(doc, allow_nan=False)) == doc
    assert doc["answers"] == answers
    assert doc["unanswered"] == [q["id"] for q in case.spec["questions"] if q["id"] not in answers]
    assert doc["rules_fingerprint"] == case.ruleset.fingerprint
    assert doc["label"] == next(o["label"] for o in case.spec["options"] if o["id"] == doc["recommendation"])


# ---------------------------------------------------------------------------------------------------------
# Hand-written examples


def small_spec(rules: list[dict], close: float = 2.0, options=("first", "second", "third")) -> dict:
    """A hand-written rules file: one row, two questions `a` and `b` with choices x, y, z."""
    return {
        "version": 1,
        "closeness": {"close": close},
        "options": [{"id": o, "label": o.title(), "summary": o} for o in options],
        "criteria": [{"id": "row", "label": "Row", "weight": 1.0}],
        "questions": [{"id": q, "text": q, "choices": [{"id": c, "label": c} for c in "xyz"]} for q in "ab"],
        "rules": [{"id": f"r{i}", "criterion": "row", "because": f"Reason {i}.", **rule}
                  for i, rule in enumerate(rules)],
    }


@pytest.mark.parametrize(("answers", "fires"), [
    ({}, False),
    ({"b": "x"}, False),       # `not` on an unanswered question never holds
    ({"a": "x"}, False),
    ({"a": "y"}, True),
    ({"a": "z", "b": "x"}, True),
])
def test_not_holds_only_on_answered_questions(answers, fires):
    case = load_case(small_spec([{"when": {"not": {"a": "x"}}, "scores": {"second": 1}}]))
    assert bool(document_for(case, answers)["fired_rules"]) == fires


@pytest.mark.parametrize(("scores", "close", "closeness"), [
    ({"first": 1, "second": 1}, 2.0, "tie"),
    ({"second": 1.5}, 2.0, "close"),
    ({"second": 2}, 2.0, "clear"),
    ({"second": 0.5}, 0, "clear"),
    ({"first": 3, "second": 1.5, "third": 2}, 1.5, "close"),
])
def test_closeness_follows_the_threshold(scores, close, closeness):
    case = load_case(small_spec([{"when": {"a": "x"}, "scores": scores}], close=close))
    doc = document_for(case, {"a": "x"})
    assert doc["closeness"] == closeness
    assert doc["tie_break"] == (closeness == "tie")


@pytest.mark.parametrize("options", [("first", "second", "third"), ("second", "first", "third")])
def test_a_tie_goes_to_the_option_listed_first(options):
    case = load_case(small_spec([{"when": {"a": "x"}, "scores": {"first": 2, "second": 2}}], options=options))
    doc = document_for(case, {"a": "x"})
    assert doc["recommendation"] == options[0]
    assert doc["runner_up"] == options[1]
    assert doc["closeness"] == "tie"
    assert doc["tie_break"] is True


def test_an_excluded_option_ranks_last_whatever_its_score():
    case = load_case(small_spec([{"when": {"a": "x"}, "scores": {"first": 9, "second": 1}, "exclude": ["first"]}]))
    doc = document_for(case, {"a": "x"})
    assert [entry["option"] for entry in doc["ranking"]] == ["second", "third", "first"]
    assert doc["ranking"][-1]["excluded"] == "Reason 0."
    assert doc["excluded"] == [{"option": "first", "rule": "r0", "reason": "Reason 0."}]


def test_a_current_tie_is_sensitive_to_any_weight_change():
    """Two rows tie the two options: any extra weight on the row that favours `second` makes it win."""
    spec = small_spec([{"when": {"a": "x"}, "scores": {"first": 1}}])
    spec["criteria"].append({"id": "other", "label": "Other", "weight": 1.0})
    spec["rules"].append({"id": "r1", "criterion": "other", "when": {"b": "x"}, "scores": {"second": 1},
                          "because": "Reason 1."})
    doc = document_for(load_case(spec), {"a": "x", "b": "x"})
    assert doc["recommendation"] == "first"
    assert doc["tie_break"] is True
    assert doc["sensitivity"] == [
        {"criterion": "row", "factor": 1.0, "direction": "less", "recommendation": "second"},
        {"criterion": "other", "factor": 1.0, "direction": "more", "recommendation": "second"},
    ]


def test_sensitivity_when_every_option_is_ruled_out():
    """With every option ruled out the highest score still wins, so a row's weight can still change the result."""
    spec = small_spec([{"when": {"a": "x"}, "scores": {"first": -1}, "exclude": ["first", "second", "third"]}])
    doc = document_for(load_case(spec), {"a": "x"})
    assert doc["recommendation"] == "second"
    assert doc["sensitivity"] == [{"criterion": "row", "factor": 0.0, "direction": "less", "recommendation": "first"}]
    switched_off = {**spec, "criteria": [{**spec["criteria"][0], "weight": 0}]}
    assert document_for(load_case(switched_off), {"a": "x"})["recommendation"] == "first"


def test_sensitivity_names_the_option_that_wins_past_a_multi_way_tie():
    """At each row's crossing all three options tie (list order keeps `first`); just past it `third` wins, not the
    `second` that merely ties there. Scores: first 2, second 1 + w, third 2w with `row`'s weight w (0.5 today);
    first 2g, second 0.5 + g, third 1 with `other`'s weight g (1 today)."""
    spec = small_spec([{"when": {"a": "x"}, "scores": {"second": 1, "third": 2}}])
    spec["criteria"][0]["weight"] = 0.5
    spec["criteria"].append({"id": "other", "label": "Other", "weight": 1.0})
    spec["rules"].append({"id": "r1", "criterion": "other", "when": {"b": "x"}, "scores": {"first": 2, "second": 1},
                          "because": "Reason 1."})
    case, answers = load_case(spec), {"a": "x", "b": "x"}
    doc = document_for(case, answers)
    assert doc["recommendation"] == "first"
    assert doc["sensitivity"] == [
        {"criterion": "row", "factor": 2.0, "direction": "more", "recommendation": "third"},
        {"criterion": "other", "factor": 0.5, "direction": "less", "recommendation": "third"},
    ]
    for entry in doc["sensitivity"]:
        weight = base_weight(case.spec, entry["criterion"]) * Fraction(entry["factor"])
        at_crossing = reference(case.spec, answers, {entry["criterion"]: weight})
        assert len(set(at_crossing.scores.values())) == 1  # all three tie there ...
        assert at_crossing.winner == "first"                # ... and list order keeps the first
        probe, up = nudged(Fraction(entry["factor"]), entry["direction"])
        assert reloaded_winner(case, answers, entry["criterion"], probe, up) == entry["recommendation"]
