"""The monotonicity check (`recommender.space.ordering`), against a brute force over the engine.

tests/data/violation.yaml is worked out by hand below; random small rule sets are enumerated pair by pair with
`evaluate_state`; the shipped rules (and a copy with one question's choices listed backwards, which has many
violations) are checked on random pairs with `evaluate`, and in sampled mode against the same sampled states.
That the shipped rules themselves keep the ordering contract is pinned in test_shipped_rules.py.
"""

from __future__ import annotations

import copy
import itertools
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from shipped import RULES_PATH
from strategies import RulesCase, load_case, rule_sets, to_yaml

from app import create_app
from recommender import RuleSet, evaluate, evaluate_state, load_rules, load_rules_text
from recommender.space import diff, diff_text, explore, explore_text, monotonicity, monotonicity_text, wilson
from recommender.space.compile import axes_of, compile_model
from recommender.space.kernel import draw
from recommender.space.ordering import space_checks, unmet_needs

DATA = Path(__file__).resolve().parent / "data"
VIOLATION = DATA / "violation.yaml"


def violation_spec(**changes) -> dict:
    """tests/data/violation.yaml as plain data; `storage_ordered` / `drop_rule` edit it."""
    spec = yaml.safe_load(VIOLATION.read_text(encoding="utf-8"))
    if "storage_ordered" in changes:
        spec["questions"][2]["ordered"] = changes["storage_ordered"]
    if "drop_rule" in changes:
        spec["rules"] = [r for r in spec["rules"] if r["id"] != changes["drop_rule"]]
    return spec


def rules_of(spec: dict, name: str = "rules.yaml") -> RuleSet:
    return load_rules_text(to_yaml(spec), name)


def backwards(spec: dict, question: str) -> dict:
    """The rules with `question`'s choices listed from the most to the least demanding: a broken contract."""
    spec = copy.deepcopy(spec)
    for q in spec["questions"]:
        if q["id"] == question:
            q["choices"].reverse()
    return spec


SHIPPED_SPEC = yaml.safe_load(RULES_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def reversed_rules() -> RuleSet:
    return rules_of(backwards(SHIPPED_SPEC, "hosts"), "reversed.yaml")


@pytest.fixture(scope="module")
def reversed_report(reversed_rules):
    return space_checks(reversed_rules)


@pytest.fixture(scope="module")
def checked(shipped_rules, reversed_rules, reversed_report):
    """Each rules file with its exhaustive report, computed once for the module."""
    small = load_rules(VIOLATION)
    return [(shipped_rules, monotonicity(shipped_rules)), (reversed_rules, reversed_report[0]),
            (small, monotonicity(small))]


# --- the brute force -----------------------------------------------------------------------------------------

Kind = tuple[str, str, str, str, str]      # question, from, to, recommended with from, recommended with to


def query(ruleset: RuleSet, state: tuple[int, ...]) -> str:
    """The share-link query of a state, built here independently of `recommender.links`."""
    return "&".join(f"{q.id}={q.choices[s - 1].id}" for q, s in zip(ruleset.questions, state) if s)


def leaves_need_unmet(ruleset: RuleSet, state: tuple[int, ...], winner: int) -> bool:
    option = ruleset.options[winner].id
    return any(option in q.choices[s - 1].unmet for q, s in zip(ruleset.questions, state) if s)


def brute_force(ruleset: RuleSet, states=None):
    """Pairs checked, violations per kind, each kind's most typical state, and unmet needs, via evaluate_state."""
    questions, options = ruleset.questions, ruleset.options
    states = list(states if states is not None else
                  itertools.product(*(range(len(q.choices) + 1) for q in questions)))
    winner = {}

    def win(state):
        if state not in winner:
            winner[state] = evaluate_state(ruleset, state).winner
        return winner[state]

    pairs, kinds, typical = 0, Counter(), {}
    for state in states:
        for i, q in enumerate(questions):
            c = state[i]
            if not q.ordered or not 1 <= c < len(q.choices):
                continue
            pairs += 1
            before, after = win(state), win((*state[:i], c + 1, *state[i + 1:]))
            if after < before:
                kind = (q.id, q.choices[c - 1].id, q.choices[c].id, options[before].id, options[after].id)
                kinds[kind] += 1
                best = typical.get(kind)
                key = (state.count(0), state)
                if best is None or key < best:
                    typical[kind] = key
    unmet = sum(leaves_need_unmet(ruleset, state, win(state)) for state in states)
    return pairs, kinds, {kind: query(ruleset, state) for kind, (_, state) in typical.items()}, unmet


def kinds_of(report) -> dict[Kind, int]:
    return {key: kind.share.count for key, kind in report.by_kind().items()}


def examples_of(report) -> dict[Kind, str]:
    return {key: kind.example for key, kind in report.by_kind().items()}


# --- by hand -------------------------------------------------------------------------------------------------

# tests/data/violation.yaml: hosts one < few < many, traffic steady < spiky, storage (ordered: false) volumes, none.
# Points (docker, compose, kubernetes): hosts=few (0,2,0); hosts=many (0,0,3); hosts=many & traffic=steady (4,0,0);
# traffic=spiky (0,0,1); storage=none (5,0,0). Ties go to the earlier option. Winners, storage unanswered or
# volumes (storage=none makes docker win everywhere):
#              traffic: —        steady     spiky
#   hosts: —            docker   docker     kubernetes
#          one          docker   docker     kubernetes
#          few          compose  compose    compose
#          many         kubernetes docker   kubernetes
# hosts one → few: kubernetes → compose with spiky traffic, storage — or volumes: 2 violations of 9 pairs.
# hosts few → many: compose → docker with steady traffic, storage — or volumes: 2 of 9. traffic: none of 12.
# Pairs: hosts 2 steps × 9 + traffic 1 step × 12 = 30. Ordered, storage volumes → none would add 12 pairs and
# 7 violations: kubernetes → docker in (—,spiky) (one,spiky) (many,—) (many,spiky), compose → docker with few.
# Unmet: hosts=many leaves docker's need unmet, traffic=spiky docker's and compose's. Docker wins with many hosts
# in (many,steady,—|volumes) and (many,*,none): 5; docker or compose wins with spiky traffic in
# (few,spiky,—|volumes) and (*,spiky,none): 6; (many,spiky,none) is in both: 10 of 36.
BY_HAND = {
    ("hosts", "one", "few", "kubernetes", "compose"): 2,
    ("hosts", "few", "many", "compose", "docker"): 2,
}
STORAGE_BY_HAND = {
    ("storage", "volumes", "none", "kubernetes", "docker"): 4,
    ("storage", "volumes", "none", "compose", "docker"): 3,
}


def test_the_violating_file_is_caught_with_its_exact_count_by_hand_and_by_brute_force():
    ruleset = load_rules(VIOLATION)
    report, unmet = space_checks(ruleset)
    assert report.exhaustive
    assert (report.count, report.pairs, report.space) == (4, 30, 36)
    assert kinds_of(report) == BY_HAND
    assert examples_of(report) == {
        ("hosts", "one", "few", "kubernetes", "compose"): "hosts=one&traffic=spiky&storage=volumes",
        ("hosts", "few", "many", "compose", "docker"): "hosts=few&traffic=steady&storage=volumes",
    }
    assert report.exempt == ("storage",)
    assert (unmet.count, unmet.total) == (10, 36)
    pairs, kinds, examples, unmet_count = brute_force(ruleset)
    assert (pairs, dict(kinds), examples, unmet_count) == (30, BY_HAND, examples_of(report), 10)


@pytest.mark.parametrize(("ordered", "expected", "pairs", "exempt"), [
    pytest.param(False, BY_HAND, 30, ("storage",), id="ordered-false-exempts"),
    pytest.param(True, {**BY_HAND, **STORAGE_BY_HAND}, 42, (), id="ordered-true-checks"),
])
def test_ordered_false_exempts_a_question(ordered, expected, pairs, exempt):
    report = monotonicity(rules_of(violation_spec(storage_ordered=ordered)))
    assert kinds_of(report) == expected
    assert (report.count, report.pairs, report.exempt) == (sum(expected.values()), pairs, exempt)


def test_a_fixed_file_has_no_violations():
    report = monotonicity(load_rules(DATA / "minimal.yaml"))
    assert (report.count, report.kinds, report.exempt) == (0, (), ())
    assert monotonicity_text(report).startswith("Monotonicity: 0 violations — every ordered question")


# --- against the engine --------------------------------------------------------------------------------------

@st.composite
def ordered_cases(draw) -> RulesCase:
    """A random small rules file whose questions may be unordered and whose choices may state unmet needs."""
    case = draw(rule_sets())
    spec = copy.deepcopy(case.spec)
    options = [o["id"] for o in spec["options"]]
    for question in spec["questions"]:
        if draw(st.integers(0, 3)) == 0:
            question["ordered"] = False
        for choice in question["choices"]:
            unmet = [o for o in options if draw(st.integers(0, 4)) == 0]
            if unmet:
                choice["unmet"] = {o: f"{o} cannot." for o in unmet}
    return load_case(spec)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(ordered_cases())
def test_every_pair_of_small_rule_sets_agrees_with_evaluate_state(case: RulesCase):
    ruleset = case.ruleset
    report, unmet = space_checks(ruleset)
    pairs, kinds, examples, unmet_count = brute_force(ruleset)
    assert (report.pairs, kinds_of(report), examples_of(report)) == (pairs, dict(kinds), examples)
    assert report.count == sum(kinds.values())
    assert unmet.count == unmet_count
    assert report.exempt == tuple(q.id for q in ruleset.questions if not q.ordered)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_random_pairs_of_the_shipped_and_small_rules_agree_with_evaluate(data, checked):
    """A pair that evaluate finds violating is of a reported kind (a clean pair's kind may violate elsewhere)."""
    ruleset, report = data.draw(st.sampled_from(checked))
    ordered = [q for q in ruleset.questions if q.ordered]
    question = data.draw(st.sampled_from(ordered))
    answers = {q.id: c.id for q in ruleset.questions
               if (c := data.draw(st.sampled_from([None, *q.choices]))) is not None}
    source = data.draw(st.sampled_from(question.choices[:-1]))
    target = question.choices[[c.id for c in question.choices].index(source.id) + 1]
    before = evaluate(ruleset, {**answers, question.id: source.id}).winner
    after = evaluate(ruleset, {**answers, question.id: target.id}).winner
    options = ruleset.options
    kind = (question.id, source.id, target.id, options[before].id, options[after].id)
    assert (kind in report.by_kind()) or after >= before


def test_every_reported_example_is_a_real_violation(reversed_rules, reversed_report):
    report = reversed_report[0]
    assert report.count > 0
    for (question, source, target, heavier, lighter), kind in report.by_kind().items():
        answers = dict(pair.split("=") for pair in kind.example.split("&"))
        assert answers[question] == source
        assert reversed_rules.options[evaluate(reversed_rules, answers).winner].id == heavier
        assert reversed_rules.options[evaluate(reversed_rules, {**answers, question: target}).winner].id == lighter


@pytest.mark.parametrize("name", ["shipped", "reversed", "violation"])
def test_sampled_pairs_agree_with_evaluate_on_the_same_states(name, shipped_rules, reversed_rules):
    ruleset = {"shipped": shipped_rules, "reversed": reversed_rules, "violation": load_rules(VIOLATION)}[name]
    report, unmet = space_checks(ruleset, budget=1, sample=400, seed=5)
    assert not report.exhaustive
    states = draw(np.random.default_rng(5), compile_model(ruleset, axes_of(ruleset)).dims, 400, answered=False)
    states = [tuple(int(s) for s in row) for row in states]
    pairs, kinds, examples, unmet_count = brute_force(ruleset, states)
    assert (report.pairs, kinds_of(report), examples_of(report)) == (pairs, dict(kinds), examples)
    assert (unmet.count, unmet.total) == (unmet_count, 400)


# --- sampling ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "sample"), [("violation", 20_000), ("reversed", 200_000)])
def test_sampled_mode_says_so_and_its_intervals_contain_the_exhaustive_shares(name, sample, reversed_rules,
                                                                               reversed_report):
    ruleset = {"violation": load_rules(VIOLATION), "reversed": reversed_rules}[name]
    exact, exact_unmet = reversed_report if name == "reversed" else space_checks(ruleset)
    report, unmet = space_checks(ruleset, budget=10, sample=sample, seed=11)
    assert not report.exhaustive
    assert (report.evaluated, report.seed, report.space) == (sample, 11, exact.space)
    low, high = report.violations.interval
    assert low <= exact.violations.share <= high
    assert exact.count > 0
    low, high = unmet.interval
    assert low <= exact_unmet.share <= high
    # Per kind, a wider interval: of a dozen 95 % intervals, one missing would be no surprise.
    sampled = report.by_kind()
    for key, kind in exact.by_kind().items():
        if kind.share.share >= 0.01:
            low, high = wilson(sampled[key].share.count, sampled[key].share.total, z=4.0)
            assert low <= kind.share.share <= high, key
    text = monotonicity_text(report)
    assert text.startswith(f"Monotonicity (SAMPLED): {report.count:,} violations in {report.pairs:,} sampled pairs")
    assert "a sample" in text
    assert "95 % confidence interval" in text
    data = report.as_dict()
    assert data["mode"] == "sample"
    assert data["ci95"] == list(report.violations.interval)
    assert all("ci95" in kind for kind in data["kinds"])


# --- shapes --------------------------------------------------------------------------------------------------

def test_text_and_json_shapes():
    report = monotonicity(load_rules(VIOLATION, "violation.yaml"))
    lines = monotonicity_text(report).splitlines()
    assert lines[0].startswith("Monotonicity: 4 violations (13.3 % of the pairs) — every ordered question, every "
                               "adjacent pair of choices, over every combination of the other answers "
                               "(36 questionnaires; 30 pairs) in ")
    assert lines[0].endswith(" s; exempt: storage (ordered: false)")
    assert lines[1:] == [
        "  hosts: one → few makes the recommendation lighter (kubernetes → compose) in 2 questionnaires "
        "(22.2 % of those with hosts=one), e.g. hosts=one&traffic=spiky&storage=volumes",
        "  hosts: few → many makes the recommendation lighter (compose → docker) in 2 questionnaires "
        "(22.2 % of those with hosts=few), e.g. hosts=few&traffic=steady&storage=volumes"]
    data = json.loads(json.dumps(report.as_dict()))
    assert {k: data[k] for k in ("mode", "space", "pairs", "violations", "exempt", "seed")} == {
        "mode": "exhaustive", "space": 36, "pairs": 30, "violations": 4, "exempt": ["storage"], "seed": None}
    assert "ci95" not in data
    assert data["kinds"][0] == {"question": "hosts", "from": "one", "to": "few",
                                "lighter": {"from": "kubernetes", "to": "compose"}, "count": 2, "pairs": 9,
                                "share": pytest.approx(2 / 9), "example": "hosts=one&traffic=spiky&storage=volumes"}


def test_explore_reports_violations_and_unmet_needs_from_its_one_evaluation(monkeypatch):
    import recommender.space.ordering as ordering_module
    import recommender.space.survey as survey_module
    calls = []

    def counted(evaluate):
        def call(*args, **kwargs):
            calls.append(args[0])
            return evaluate(*args, **kwargs)
        return call
    monkeypatch.setattr(survey_module, "evaluate_grid", counted(survey_module.evaluate_grid))
    monkeypatch.setattr(ordering_module, "evaluate_winners", counted(ordering_module.evaluate_winners))
    report = explore(load_rules(VIOLATION, "violation.yaml"))
    assert len(calls) == 1
    assert (report.monotonicity.count, report.unmet_needs.count) == (4, 10)
    assert kinds_of(report.monotonicity) == BY_HAND
    data = report.as_dict()
    assert data["monotonicity"]["violations"] == 4
    assert data["unmet_needs"]["count"] == 10
    text = explore_text(report)
    assert "Monotonicity: 4 violations" in text
    assert "  hosts: few → many makes the recommendation lighter (compose → docker)" in text
    assert "leaves a need an answer states unmet in 27.78 % of the combinations (10)" in text


def test_explore_in_sampled_mode_samples_the_check_too():
    report = explore(load_rules(VIOLATION), budget=10, sample=2000, seed=1)
    assert not report.monotonicity.exhaustive
    assert report.unmet_needs.sampled
    assert "Monotonicity (SAMPLED)" in explore_text(report)


def test_diff_reports_the_change_in_violations_and_unmet_needs():
    # Without many-hosts-steady, few → many gives kubernetes: that kind disappears; docker no longer wins with
    # many hosts unless storage=none, so unmet needs fall from 10 to 8 of 36 ((many,steady,—|volumes) leave).
    old = load_rules(VIOLATION, "old.yaml")
    new = rules_of(violation_spec(drop_rule="many-hosts-steady"), "new.yaml")
    report = diff(old, new)
    change = report.monotonicity_change()
    assert (change["old"], change["new"]) == (4, 2)
    assert change["appeared"] == []
    assert [(k.question, k.source, k.target, k.heavier, k.lighter) for k in change["disappeared"]] == [
        ("hosts", "few", "many", "compose", "docker")]
    assert (report.old_unmet_needs.count, report.new_unmet_needs.count) == (10, 8)
    text = diff_text(report)
    assert "each file over its own answer space): 4 → 2" in text
    assert "  disappears: hosts: few → many makes the recommendation lighter (compose → docker)" in text
    assert "leaves a need an answer states unmet in 27.78 % → 22.22 % of questionnaires" in text
    data = json.loads(json.dumps(report.as_dict()))
    assert (data["monotonicity"]["old"], data["monotonicity"]["new"]) == (4, 2)
    assert [k["to"] for k in data["monotonicity"]["disappeared"]] == ["many"]
    assert (data["unmet_needs"]["old"]["count"], data["unmet_needs"]["new"]["count"]) == (10, 8)
    back = diff(new, old).monotonicity_change()
    assert [k.target for k in back["appeared"]] == ["many"]


def test_diff_lists_each_stated_need_added_removed_or_reworded():
    text = VIOLATION.read_text(encoding="utf-8")
    edited = text.replace("unmet: {docker: Docker alone runs on one machine.}",
                          "unmet: {docker: Docker alone runs on one host., compose: Swarm needs three managers.}")
    edited = edited.replace("unmet: {docker: No autoscaler., compose: Swarm has no autoscaler.}",
                            "unmet: {compose: Swarm has no autoscaler.}")
    assert edited.count("Swarm needs three managers") == 1
    assert "No autoscaler." not in edited
    report = diff(load_rules_text(text, "old.yaml"), load_rules_text(edited, "new.yaml"))
    assert [(e.question, e.choice, e.option, e.change) for e in report.needs_edited] == [
        ("hosts", "many", "docker", "reworded"), ("hosts", "many", "compose", "added"),
        ("traffic", "spiky", "docker", "removed")]
    lines = diff_text(report).splitlines()
    start = lines.index("Stated needs edited (3):")
    assert lines[start + 1:start + 4] == [
        "  reworded: hosts=many, docker: “Docker alone runs on one machine.” → “Docker alone runs on one host.”",
        "  added: hosts=many, compose: “Swarm needs three managers.”",
        "  removed: traffic=spiky, docker: “No autoscaler.”"]
    assert [e["change"] for e in report.as_dict()["needs_edited"]] == ["reworded", "added", "removed"]
    assert diff(load_rules(VIOLATION), load_rules(VIOLATION)).needs_edited == ()


def test_unmet_needs_alone():
    share = unmet_needs(load_rules(VIOLATION))
    assert (share.count, share.total, share.sampled) == (10, 36, False)


def test_the_rules_page_shows_the_violations_and_unmet_needs(tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "RULES_PATH": str(VIOLATION),
                      "INSTANCE_PATH": str(tmp_path)})
    violations = "More demanding answers that give a lighter recommendation: 4 of 30 one-step answer changes"
    deadline = time.monotonic() + 60      # the page may render before its analysis is ready: ask again until then
    while violations not in (page := app.test_client().get("/rules").get_data(as_text=True)):
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert violations in page
    assert "leaves a need their answers state unmet: 27.8 %" in page

