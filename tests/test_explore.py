"""Answer-space analysis (`recommender.space`, `flask rules explore|diff`), checked against `evaluate`.

Tiny hand-made rule sets have shares worked out by hand below; random small rule sets (tests/strategies.py)
are enumerated both ways, state by state, against the engine; the shipped rules are checked on a random sample
of their states (some 20 million today). The whole shipped space is evaluated once for the checks here and once
through the CLI.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import random
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import RulesCase, load_case, rule_sets, to_yaml

from app import create_app
from recommender import RuleSet, evaluate, evaluate_state, load_rules_text
from recommender.engine import CLEAR, CLOSE, TIE, rank
from recommender.ruleset import MICRO
from recommender.space import diff, diff_text, explore, explore_text, wilson
from recommender.space.compile import axes_of, compile_model, for_grid
from recommender.space.kernel import evaluate_grid, evaluate_states
from web.cli import diff_command, explore_command

EXAMPLES = settings(max_examples=25, deadline=None, derandomize=True, database=None)
CLASS = {CLEAR: 0, CLOSE: 1, TIE: 2}


# --- small rule sets -----------------------------------------------------------------------------------------

def spec_of(options, questions, criteria, rules, close=1.5) -> dict:
    """A rules file as plain data. questions: {id: [choices]}; criteria: {id: weight}; rules: list of dicts."""
    return {
        "version": 1,
        "closeness": {"close": close},
        "options": [{"id": o, "label": o.upper(), "summary": f"About {o}."} for o in options],
        "criteria": [{"id": c, "label": c.title(), "weight": w} for c, w in criteria.items()],
        "questions": [{"id": q, "text": f"{q}?", "choices": [{"id": c, "label": c} for c in choices]}
                      for q, choices in questions.items()],
        "rules": [{"id": f"r{i + 1}", "because": "Reason.", **rule} for i, rule in enumerate(rules)],
    }


# Set A, by hand (states are (q1, q2); 0 = unanswered; close means a lead below 2):
#   r1  q1=x      a +2      (row c1)
#   r2  q2=u      b +1.5    (row c4)
#   r3  q1=y      b +1      (row c1)
#   r4  q1=x      a +1      (row c2) — a wins wherever q1=x even without it: dead weight
#   r5  q1=x,q2=v b +1      (row c3) — b trails a by 2 there: dead weight, and its row never favours the winner
#   option c never scores: it can tie at best, and ties go to the earlier option, so it never wins.
#            q2: 0             u                 v
#   q1: 0    a (tie 0)         b by 1.5 (close)  a (tie 0)
#       x    a by 3            a by 1.5 (close)  a by 2
#       y    b by 1 (close)    b by 2.5          b by 1 (close)
# a wins 5 of 9, b 4 of 9; fully answered (x,u) (x,v) (y,u) (y,v): a 2, b 2. Ties 2, close calls 4, clear 3.
# r1 is not dead weight: without it (x,u) is a 1 against b 1.5.
SET_A = spec_of(
    ["a", "b", "c"], {"q1": ["x", "y"], "q2": ["u", "v"]}, {"c1": 1, "c2": 1, "c3": 1, "c4": 1},
    [{"criterion": "c1", "when": {"q1": "x"}, "scores": {"a": 2}},
     {"criterion": "c4", "when": {"q2": "u"}, "scores": {"b": 1.5}},
     {"criterion": "c1", "when": {"q1": "y"}, "scores": {"b": 1}},
     {"criterion": "c2", "when": {"q1": "x"}, "scores": {"a": 1}},
     {"criterion": "c3", "when": {"q1": "x", "q2": "v"}, "scores": {"b": 1}}], close=2)

# Set B, with an exclusion, by hand:
#   r1  q1=x  a +1 ;  r2  q2=v  b +1, excludes a ;  r3  q1=y  a +3
#            q2: 0        u          v
#   q1: 0    a (tie)     a (tie)    b (a excluded)
#       x    a by 1      a by 1     b (a excluded)
#       y    a by 3      a by 3     b (a excluded)
# a wins 6 of 9, b 3; fully answered: a 2, b 2. Close below 2: ties 2, close calls 2 ((x,0), (x,u)), clear 5
# (an excluded runner-up is always clear). r1 and r3 are dead weight: without them a still wins, on a tie.
SET_B = spec_of(
    ["a", "b"], {"q1": ["x", "y"], "q2": ["u", "v"]}, {"c1": 1},
    [{"criterion": "c1", "when": {"q1": "x"}, "scores": {"a": 1}},
     {"criterion": "c1", "when": {"q2": "v"}, "scores": {"b": 1}, "exclude": ["a"]},
     {"criterion": "c1", "when": {"q1": "y"}, "scores": {"a": 3}}], close=2)


def rules_of(spec: dict, name: str = "rules.yaml") -> RuleSet:
    return load_rules_text(to_yaml(spec), name)


def shares(report) -> dict[str, int]:
    return {s.id: s.count for s in report.shares}


def test_set_a_shares_closeness_and_findings_by_hand():
    report = explore(rules_of(SET_A))
    assert report.exhaustive
    assert (report.space, report.full_space, report.evaluated) == (9, 4, 9)
    assert shares(report) == {"a": 5, "b": 4, "c": 0}
    assert {s.id: s.count for s in report.full_shares} == {"a": 2, "b": 2, "c": 0}
    assert {s.id: s.count for s in report.closeness} == {"tie": 2, "close": 4, "clear": 3}
    assert [(s.id, s.count) for s in report.close_pairs] == [("a/b", 6)]
    assert report.shares[0].share == pytest.approx(5 / 9)
    assert report.shares[0].interval is None
    assert report.never_fire == ()
    assert report.dead_weight == ("r4", "r5")
    assert report.dead_weight_unchecked == ()
    assert report.idle_rows == ("c3",)
    assert report.never_win == ("c",)
    typical = dict(report.typical)
    assert typical["a"].query == "q1=x&q2=u&rules=" + report.fingerprint
    assert typical["b"].query.startswith("q1=y&q2=u&")
    assert typical["c"] is None
    # Fully answered ties and close calls, smallest lead first: (y,v) b by 1, then (x,u) a by 1.5.
    assert [(c.example.answers, c.winner, c.runner_up, c.lead, c.closeness) for c in report.closest] == [
        ({"q1": "y", "q2": "v"}, "b", "a", 1.0, "close"), ({"q1": "x", "q2": "u"}, "a", "b", 1.5, "close")]
    assert report.full_close == 2
    answers = {s.id: (s.count, s.total) for s in report.close_answers}
    assert answers["q1=y"] == (2, 3)      # (y,0) and (y,v)
    assert answers["q2=u"] == (2, 3)      # (0,u) and (x,u)
    assert answers["q2=v"] == (2, 3)      # (0,v) and (y,v)
    text = explore_text(report)
    for line in ("Answer space: 9 combinations", "Dead weight", "r4, r5", "Rows that never drive a result",
                 "c3", "Options that never win: c", "c: never wins", "b by 1 over a: q1=y&q2=v"):
        assert line in text


def test_set_b_exclusion_and_tie_rule_by_hand():
    report = explore(rules_of(SET_B))
    assert shares(report) == {"a": 6, "b": 3}
    assert {s.id: s.count for s in report.full_shares} == {"a": 2, "b": 2}
    assert {s.id: s.count for s in report.closeness} == {"tie": 2, "close": 2, "clear": 5}
    assert report.dead_weight == ("r1", "r3")
    assert report.idle_rows == ()
    assert report.never_win == ()
    assert [c.example.answers for c in report.closest] == [{"q1": "x", "q2": "u"}]


# --- exhaustive agreement with evaluate ----------------------------------------------------------------------

def all_states(ruleset: RuleSet):
    return itertools.product(*(range(len(q.choices) + 1) for q in ruleset.questions))


def grid_in_questionnaire_order(ruleset: RuleSet):
    """The model and the grid's per-state arrays, transposed back into questionnaire order."""
    model = for_grid(compile_model(ruleset, axes_of(ruleset)))
    grid = evaluate_grid(model)
    perm = tuple(int(a) for a in np.argsort(model.order))
    values = grid.values.transpose((0, *(a + 1 for a in perm)))
    return model, (grid.winner.transpose(perm), grid.runner_up.transpose(perm), grid.closeness.transpose(perm),
                   values)


def assert_state_agrees(model, arrays, state, result):
    winner, runner_up, closeness, values = arrays
    assert winner[state] == result.winner, state
    if result.runner_up is not None:
        assert runner_up[state] == result.runner_up, state
    assert closeness[state] == CLASS[result.closeness], state
    for o, total in enumerate(result.totals):
        assert total % model.unit == 0
        expected = total // model.unit - (model.big if result.excluded_by[o] else 0)
        assert values[(o, *state)] == expected, (state, o)


def reference_findings(ruleset: RuleSet):
    """Dead-weight rules and idle rows, straight from evaluate_state and the engine's own `rank`."""
    results = [evaluate_state(ruleset, state) for state in all_states(ruleset)]
    changed = [False] * len(ruleset.rules)
    fired = [False] * len(ruleset.rules)
    drives = [False] * len(ruleset.criteria)
    for result in results:
        for r in result.fired:
            fired[r] = True
            rule = ruleset.rules[r]
            totals = [t - p for t, p in zip(result.totals, rule.points)]
            excluded = [bool(set(by) - {r}) for by in result.excluded_by]
            changed[r] = changed[r] or rank(totals, excluded)[0] != result.winner
        if result.runner_up is not None:
            lead = Counter()
            for r in result.fired:
                rule = ruleset.rules[r]
                lead[rule.criterion] += rule.points[result.winner] - rule.points[result.runner_up]
            for c, value in lead.items():
                drives[c] = drives[c] or value > 0
    dead = tuple(rule.rule.id for rule in ruleset.rules if fired[rule.index] and not changed[rule.index])
    idle = tuple(c.id for i, c in enumerate(ruleset.criteria) if not drives[i])
    return results, dead, idle


@EXAMPLES
@given(rule_sets())
def test_every_state_of_small_rule_sets_agrees_with_evaluate(case: RulesCase):
    ruleset = case.ruleset
    model, arrays = grid_in_questionnaire_order(ruleset)
    natural = compile_model(ruleset, axes_of(ruleset))
    states = np.array(list(all_states(ruleset)), dtype=np.uint8)
    sample = evaluate_states(natural, states)
    results, dead, idle = reference_findings(ruleset)
    for i, (state, result) in enumerate(zip(all_states(ruleset), results)):
        assert_state_agrees(model, arrays, state, result)
        assert sample.winner[i] == result.winner
    report = explore(ruleset)
    options = [o.id for o in ruleset.options]
    wins = Counter(options[r.winner] for r in results)
    assert shares(report) == {o: wins[o] for o in options}
    full = Counter(options[r.winner] for r in results if all(r.state))
    assert {s.id: s.count for s in report.full_shares} == {o: full[o] for o in options}
    classes = Counter(r.closeness for r in results)
    assert {s.id: s.count for s in report.closeness} == {"tie": classes[TIE], "close": classes[CLOSE],
                                                          "clear": classes[CLEAR]}
    assert report.never_fire == ()
    assert report.dead_weight == dead
    assert report.idle_rows == idle
    assert report.never_win == tuple(o for o in options if not wins[o])
    for o, example in report.typical:
        won = [r for r in results if options[r.winner] == o]
        if not won:
            assert example is None
            continue
        best = min(won, key=lambda r: (len(r.unanswered), r.state))
        assert example.answers == best.answers
    close_calls = sorted((r for r in results if all(r.state) and r.closeness != CLEAR),
                         key=lambda r: (r.margin, r.state))
    assert [c.example.answers for c in report.closest] == [r.answers for r in close_calls[:5]]
    assert [c.lead for c in report.closest] == [r.margin / MICRO for r in close_calls[:5]]
    assert report.full_close == len(close_calls)
    for share in report.close_answers:
        question, choice = share.id.split("=")
        with_answer = [r for r in results if r.answers.get(question) == choice]
        assert (share.count, share.total) == (sum(r.closeness != CLEAR for r in with_answer), len(with_answer))


@pytest.fixture(scope="module")
def shipped_grid(shipped_rules):
    """The whole shipped space, evaluated once for this module."""
    return grid_in_questionnaire_order(shipped_rules)


def space_of(ruleset: RuleSet) -> int:
    """How many ways there are to answer the questionnaire, "Not sure" included."""
    return math.prod(len(q.choices) + 1 for q in ruleset.questions)


def random_states(ruleset: RuleSet, count: int, seed: int) -> list[tuple[int, ...]]:
    rng = random.Random(seed)
    return [tuple(rng.randrange(len(q.choices) + 1) for q in ruleset.questions) for _ in range(count)]


def test_shipped_space_agrees_with_evaluate_on_a_random_sample(shipped_rules, shipped_grid):
    model, arrays = shipped_grid
    assert arrays[0].size == space_of(shipped_rules)
    states = random_states(shipped_rules, 2000, seed=7)
    states += [(0,) * len(shipped_rules.questions), tuple(len(q.choices) for q in shipped_rules.questions)]
    natural = compile_model(shipped_rules, axes_of(shipped_rules))
    sample = evaluate_states(natural, np.array(states, dtype=np.uint8))
    for i, state in enumerate(states):
        result = evaluate_state(shipped_rules, state)
        assert_state_agrees(model, arrays, state, result)
        assert (sample.winner[i], sample.runner_up[i]) == (result.winner, result.runner_up)
    # and through the public API: answers by id, as the web app passes them
    for state in states[:50]:
        result = evaluate(shipped_rules, evaluate_state(shipped_rules, state).answers)
        assert arrays[0][state] == result.winner


# --- sampling ------------------------------------------------------------------------------------------------

def test_sampling_mode_reports_sample_size_and_intervals_that_cover_the_exact_shares(shipped_rules, shipped_grid):
    winner = shipped_grid[1][0]
    exact = {o.id: np.count_nonzero(winner == i) / winner.size for i, o in enumerate(shipped_rules.options)}
    report = explore(shipped_rules, budget=1000, sample=20_000, seed=3)
    assert not report.exhaustive
    assert (report.evaluated, report.full_evaluated, report.seed) == (20_000, 5_000, 3)
    assert report.space == winner.size
    assert sum(s.count for s in report.shares) == 20_000
    for share in report.shares:
        low, high = share.interval
        assert low <= share.share <= high
        assert high - low < 0.03
        assert low - 0.005 <= exact[share.id] <= high + 0.005
    assert all(s.interval is not None for s in (*report.full_shares, *report.closeness))
    text = explore_text(report)
    assert "SAMPLED" in text
    assert "20,000 combinations" in text
    assert "confidence interval" in text
    low, high = report.shares[0].interval
    assert f"[{100 * low:.2f}–{100 * high:.2f}]" in text
    data = report.as_dict()
    assert data["mode"] == "sample"
    assert data["evaluated"] == 20_000
    assert data["shares"][0]["ci95"] == [low, high]


def test_a_sample_that_covers_a_tiny_space_finds_what_the_exhaustive_pass_finds():
    ruleset = rules_of(SET_A)
    exact, sampled = explore(ruleset), explore(ruleset, budget=8, sample=4000, seed=1)
    assert not sampled.exhaustive
    assert (sampled.evaluated, sampled.full_evaluated) == (4000, 1000)
    for name in ("never_fire", "dead_weight", "idle_rows", "never_win"):
        assert getattr(sampled, name) == getattr(exact, name), name
    assert [(o, e.query if e else None) for o, e in sampled.typical] == [
        (o, e.query if e else None) for o, e in exact.typical]
    assert [c.example.query for c in sampled.closest] == [c.example.query for c in exact.closest]
    for share, truth in zip(sampled.shares, exact.shares):
        low, high = share.interval
        assert low <= truth.share <= high


def test_checks_that_run_out_of_time_say_so():
    report = explore(rules_of(SET_A), check_seconds=0)
    assert report.dead_weight == ()
    assert report.dead_weight_unchecked == ("r1", "r2", "r3", "r4", "r5")
    assert report.idle_rows_unchecked == ("c1", "c2", "c3", "c4")
    text = explore_text(report)
    assert "not checked within the time budget: r1, r2, r3, r4, r5" in text


def test_sampled_diff_of_identical_rules_is_zero_with_an_interval():
    ruleset = rules_of(SET_A)
    report = diff(ruleset, rules_of(SET_A), budget=5, sample=2000)
    assert not report.exhaustive
    assert report.evaluated == 2000
    assert report.changed.count == 0
    assert report.changed.interval == wilson(0, 2000)
    assert "SAMPLED: 2,000 of 9 combinations" in diff_text(report)


def test_wilson_interval():
    low, high = wilson(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-4)
    assert high == pytest.approx(0.5962, abs=1e-4)
    assert wilson(0, 10)[0] == 0.0


# --- diff ----------------------------------------------------------------------------------------------------

def test_diff_of_identical_files_is_zero():
    report = diff(rules_of(SET_A, "old.yaml"), rules_of(SET_A, "new.yaml"))
    assert report.exhaustive
    assert report.space == 9
    assert report.changed.count == 0
    assert report.changed.share == 0.0
    assert report.flips == ()
    assert sum(f.share.count for f in report.matrix) == 9
    assert report.scenarios == ()
    assert "Recommendation changes in 0.00 %" in diff_text(report)


def with_weight(spec: dict, criterion: str, weight: float) -> dict:
    spec = copy.deepcopy(spec)
    for c in spec["criteria"]:
        if c["id"] == criterion:
            c["weight"] = weight
    return spec


def test_a_weight_change_flips_exactly_the_predicted_combination():
    # r2 (row c4) gives b 1.5 x weight where q2=u; at (x,u) a has 3. Weight 2 makes it a tie (a keeps it, as
    # the earlier option); weight 3 gives b 4.5 > 3: (x,u) — and only it — flips from a to b.
    old = rules_of(SET_A, "old.yaml")
    assert diff(old, rules_of(with_weight(SET_A, "c4", 2))).changed.count == 0
    report = diff(old, rules_of(with_weight(SET_A, "c4", 3)))
    assert report.changed.count == 1
    assert [(f.source, f.target, f.share.count) for f in report.flips] == [("a", "b", 1)]
    assert [e.query for e in report.flips[0].examples] == ["q1=x&q2=u"]
    assert report.changed.share == pytest.approx(1 / 9)


def flips_by_evaluate(old: RuleSet, new: RuleSet, states) -> dict[tuple[str, str], list[dict]]:
    """Every flip, computed state by state with evaluate; states are given as answers both understand."""
    flips: dict[tuple[str, str], list[dict]] = {}
    for answers in states:
        before = old.options[evaluate(old, answers).winner].id
        after = new.options[evaluate(new, answers).winner].id
        if before != after:
            flips.setdefault((before, after), []).append(answers)
    return flips


def answer_space(questions: list[tuple[str, list[str]]]):
    """Every combination of answers over (question, choices), in questionnaire order."""
    for picked in itertools.product(*([None, *choices] for _, choices in questions)):
        yield {q: c for (q, _), c in zip(questions, picked) if c is not None}


@settings(max_examples=20, deadline=None, derandomize=True, database=None)
@given(rule_sets(), st.data())
def test_diff_flips_exactly_what_evaluate_predicts(case: RulesCase, data):
    spec = copy.deepcopy(case.spec)
    criterion = data.draw(st.sampled_from(spec["criteria"]))
    criterion["weight"] = data.draw(st.sampled_from([0, 0.5, 1, 2, 3.5]))
    new = load_case(spec).ruleset
    old = case.ruleset
    questions = [(q.id, [c.id for c in q.choices]) for q in new.questions]
    predicted = flips_by_evaluate(old, new, list(answer_space(questions)))
    report = diff(old, new)
    assert {(f.source, f.target): f.share.count for f in report.flips} == {k: len(v) for k, v in predicted.items()}
    assert report.changed.count == sum(len(v) for v in predicted.values())
    for flip in report.flips:
        typical = sorted(predicted[(flip.source, flip.target)],
                         key=lambda a: (len(questions) - len(a), [
                             0 if q not in a else 1 + choices.index(a[q]) for q, choices in questions]))
        assert [e.answers for e in flip.examples] == typical[:3]


ONE_SIDE_OLD = spec_of(
    ["a", "b"], {"q1": ["x", "y"], "q2": ["u", "v"], "q3": ["m", "n"]}, {"c1": 1},
    [{"criterion": "c1", "when": {"q1": "x"}, "scores": {"a": 1}},
     {"criterion": "c1", "when": {"q2": "v"}, "scores": {"b": 2}},
     {"criterion": "c1", "when": {"q3": "m"}, "scores": {"b": 5}}])
ONE_SIDE_NEW = spec_of(
    ["a", "b", "k"], {"q2": ["v", "u"], "q1": ["x", "y", "z"]}, {"c1": 1},
    [{"criterion": "c1", "when": {"q1": "x"}, "scores": {"a": 3}},
     {"criterion": "c1", "when": {"q2": "v"}, "scores": {"b": 2}},
     {"criterion": "c1", "when": {"q1": "z"}, "scores": {"k": 5}}])


def test_questions_choices_and_options_on_one_side_only_are_reported_and_left_out():
    old, new = rules_of(ONE_SIDE_OLD, "old.yaml"), rules_of(ONE_SIDE_NEW, "new.yaml")
    report = diff(old, new)
    assert report.only_old == {"questions": ("q3",), "choices": (), "options": ()}
    assert report.only_new == {"questions": (), "choices": ("q1=z",), "options": ("k",)}
    assert report.questions == ("q2", "q1")          # new file's order
    assert report.space == 9                         # q2: 0, v, u; q1: 0, x, y
    predicted = flips_by_evaluate(old, new, list(answer_space([("q2", ["v", "u"]), ("q1", ["x", "y"])])))
    # by hand: only (q1=x, q2=v) flips, from b (2 > 1) to a (3 > 2)
    assert predicted == {("b", "a"): [{"q2": "v", "q1": "x"}]}
    assert [(f.source, f.target, f.share.count) for f in report.flips] == [("b", "a", 1)]
    assert report.flips[0].examples[0].query == "q2=v&q1=x"
    text = diff_text(report)
    assert "Only in old.yaml: question(s) q3 — compared as unanswered" in text
    assert "Only in new.yaml: choice(s) q1=z — not compared" in text
    assert "Only in new.yaml: option(s) k" in text
    data = report.as_dict()
    assert data["only_old"]["questions"] == ["q3"]
    assert data["only_new"]["choices"] == ["q1=z"]


def test_diff_lists_scenarios_whose_result_changes():
    old_spec = copy.deepcopy(SET_A)
    old_spec["scenarios"] = [
        {"name": "x and u", "answers": {"q1": "x", "q2": "u"}, "expect": "a", "source": "Hand."},
        {"name": "y only", "answers": {"q1": "y"}, "expect": "b", "source": "Hand."}]
    new_spec = with_weight(old_spec, "c4", 3)
    report = diff(rules_of(old_spec), rules_of(new_spec))
    assert [(s.name, s.source, s.target) for s in report.scenarios] == [("x and u", "a", "b")]
    assert report.scenarios_compared == 2
    assert "x and u: a → b" in diff_text(report)


# --- command line --------------------------------------------------------------------------------------------

def write(path: Path, spec: dict) -> Path:
    path.write_text(to_yaml(spec), encoding="utf-8")
    return path


def test_explore_cli_json_on_the_shipped_rules_is_pure_json(runner, shipped_rules, shipped_grid):
    result = runner.invoke(explore_command, ["--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["mode"] == "exhaustive"
    assert data["fingerprint"] == shipped_rules.fingerprint
    assert data["space"] == data["evaluated"] == space_of(shipped_rules)
    winner = shipped_grid[1][0]
    assert [s["count"] for s in data["shares"]] == [int(np.count_nonzero(winner == i))
                                                    for i in range(len(shipped_rules.options))]
    assert sum(s["share"] for s in data["shares"]) == pytest.approx(1.0)
    assert data["dead_weight_unchecked"] == []
    assert data["idle_rows_unchecked"] == []
    ordering = data["monotonicity"]
    assert (ordering["mode"], ordering["space"]) == ("exhaustive", space_of(shipped_rules))
    assert ordering["violations"] == sum(kind["count"] for kind in ordering["kinds"])
    assert data["unmet_needs"]["total"] == space_of(shipped_rules)
    for option in shipped_rules.options:
        typical = data["typical"][option.id]
        assert evaluate(shipped_rules, typical["answers"]).winner == shipped_rules.option_index[option.id]


def test_explore_cli_text_and_sampling_budget(runner, tmp_path):
    path = write(tmp_path / "a.yaml", SET_A)
    result = runner.invoke(explore_command, [str(path)])
    assert result.exit_code == 0, result.output
    assert "Answer space: 9 combinations" in result.stdout
    assert "Dead weight" in result.stdout
    sampled = runner.invoke(explore_command, [str(path), "--budget", "5", "--sample", "300", "--json"])
    assert sampled.exit_code == 0, sampled.output
    data = json.loads(sampled.stdout)
    assert (data["mode"], data["evaluated"]) == ("sample", 300)
    assert all("ci95" in s for s in data["shares"])


def test_diff_cli_json_is_pure_json(runner, tmp_path):
    old = write(tmp_path / "old.yaml", SET_A)
    new = write(tmp_path / "new.yaml", with_weight(SET_A, "c4", 3))
    result = runner.invoke(diff_command, [str(old), str(new), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["changed"]["count"] == 1
    assert [(m["from"], m["to"], m["count"]) for m in data["matrix"] if m["from"] != m["to"]] == [("a", "b", 1)]
    # By hand (SET_A's table): q2 u → v turns b into the lighter a at (0,u); with weight 3 on c4, at (x,u) too.
    assert (data["monotonicity"]["old"], data["monotonicity"]["new"]) == (1, 2)
    assert [(k["question"], k["from"], k["to"], k["count"]) for k in data["monotonicity"]["appeared"]] == []
    assert data["unmet_needs"]["old"]["count"] == data["unmet_needs"]["new"]["count"] == 0
    same = runner.invoke(diff_command, [str(old), str(old)])
    assert same.exit_code == 0
    assert "Recommendation changes in 0.00 %" in same.stdout


@pytest.mark.parametrize("command", ["explore", "diff-old", "diff-new"])
def test_invalid_rules_exit_1_with_path_line_col(runner, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    good = write(tmp_path / "good.yaml", SET_A)
    bad = tmp_path / "bad.yaml"
    bad.write_text(to_yaml(SET_A).replace("q1: x", "q1: xx", 1), encoding="utf-8")
    args = {"explore": (explore_command, ["bad.yaml", "--json"]),
            "diff-old": (diff_command, ["bad.yaml", str(good), "--json"]),
            "diff-new": (diff_command, [str(good), "bad.yaml"])}[command]
    result = runner.invoke(*args)
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if ": warning: " not in line]   # good.yaml's, if any
    assert lines[0].startswith("bad.yaml:")
    assert "'q1' has no choice 'xx'" in lines[0]
    assert lines[-1] == "1 error(s) in bad.yaml"


def test_missing_file_exits_1(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(explore_command, ["nowhere.yaml"])
    assert result.exit_code == 1
    assert result.stderr.startswith("nowhere.yaml:1:1: ")


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false",
                    *args], cwd=repo, check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_diff_reads_old_from_a_git_revision(runner, tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    rules = write(repo / "rules.yaml", SET_A)
    (repo / "broken.yaml").write_text(to_yaml(SET_A).replace("q1: x", "q1: xx", 1), encoding="utf-8")
    git(repo, "init", "-q")
    git(repo, "add", "rules.yaml", "broken.yaml")
    git(repo, "commit", "-q", "-m", "rules")
    write(rules, with_weight(SET_A, "c4", 3))
    monkeypatch.chdir(tmp_path)      # not the repository: git runs where the NEW file is
    result = runner.invoke(diff_command, ["HEAD:rules.yaml", str(rules), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["old"]["file"] == "HEAD:rules.yaml"
    assert data["changed"]["count"] == 1
    text = runner.invoke(diff_command, ["HEAD:rules.yaml", str(rules)])
    assert text.stdout.startswith("HEAD:rules.yaml (")
    app_runner = create_app({"TESTING": True, "SECRET_KEY": "test", "RULES_PATH": str(rules)}).test_cli_runner()
    explored = app_runner.invoke(explore_command, ["HEAD:rules.yaml", "--json"])   # git runs by the app's rules
    assert explored.exit_code == 0, explored.output
    assert json.loads(explored.stdout)["file"] == "HEAD:rules.yaml"
    missing = runner.invoke(diff_command, ["HEAD:missing.yaml", str(rules)])
    assert missing.exit_code == 1
    assert missing.stdout == ""
    assert missing.stderr.startswith("error: HEAD:missing.yaml: cannot read it from git: ")
    broken = runner.invoke(diff_command, ["HEAD:broken.yaml", str(rules)])
    assert broken.exit_code == 1
    assert broken.stderr.splitlines()[0].startswith("HEAD:broken.yaml:")
    assert broken.stderr.splitlines()[-1] == "1 error(s) in HEAD:broken.yaml"
