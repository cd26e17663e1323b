"""Compiling scales and every limit is a clear error: conditions on any number of questions, the ceilings on a
condition's alternatives, on the compiled size, on the file's size and values, and on the errors reported.

Conditions are checked against their own tree (`Condition.holds`, a direct reading of docs/rules-format.md) and
results against brute force; nothing here times anything (bench/engine.py prints the figures).
"""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import Phase, given, reject, settings
from hypothesis import strategies as st
from strategies import conditions, to_yaml

from recommender import (
    RulesError,
    RulesSyntaxError,
    RulesValidationError,
    evaluate,
    evaluate_state,
    explain,
    load_rules,
    load_rules_text,
)
from recommender.outlook import winner_table
from recommender.source import MAX_BYTES

PROPERTY = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.generate, Phase.shrink])
CHOICE_IDS = ("low", "mid", "high", "max")
# Twelve questions of two to four choices: a rule naming all of them has 2·3·4·… = 186,624 combinations of answers.
QUESTIONS = [(f"q{i}", CHOICE_IDS[: 2 + i % 3]) for i in range(12)]
STATES_PER_CASE = 300


def line_of(text: str, needle: str) -> int:
    """The 1-based line on which `needle` (found once) starts."""
    assert text.count(needle) == 1, f"expected exactly one {needle!r} in the text"
    return text[:text.index(needle)].count("\n") + 1


def column_of(text: str, needle: str) -> int:
    """The 1-based column at which `needle` (found once) starts."""
    assert text.count(needle) == 1, f"expected exactly one {needle!r} in the text"
    start = text.index(needle)
    return start - text.rfind("\n", 0, start)


def with_rules(text: str, rules: list[str]) -> str:
    """A rules file's text with more rules (YAML list items, indented as the shipped ones) at the end of `rules`."""
    at = text.find("\nscenarios:")
    at = len(text) if at < 0 else at + 1
    return text[:at] + "".join(rules) + text[at:]


def rule_text(rule_id: str, when: str, criterion: str, option: str) -> str:
    return (f"  - id: {rule_id}\n    criterion: {criterion}\n    when: {when}\n    scores: {{{option}: 1}}\n"
            f"    because: Generated.\n")


def every_question(ruleset, rng: random.Random) -> dict[str, list[str]]:
    """A `when` naming every question, each with a random non-empty subset of its choices."""
    return {q.id: [c.id for c in rng.sample(q.choices, rng.randint(1, len(q.choices)))] for q in ruleset.questions}


def flow(when: dict[str, list[str]]) -> str:
    return "{" + ", ".join(f"{q}: [{', '.join(choices)}]" for q, choices in when.items()) + "}"


def random_states(rng: random.Random, sizes: list[int], count: int) -> list[tuple[int, ...]]:
    """Random states, half of them fully answered (where conditions on many questions can hold at all)."""
    return [tuple(rng.randint(0 if i % 2 else 1, size) for size in sizes) for i in range(count)]


def twelve_question_file(conditions_: list[dict]) -> dict:
    """A small rules file over QUESTIONS whose rules have the given conditions (alternating rows and options)."""
    options = ["plain", "stack", "cluster"]
    return {
        "version": 1,
        "closeness": {"close": 1},
        "options": [{"id": o, "label": o.title(), "summary": f"All about {o}."} for o in options],
        "criteria": [{"id": c, "label": c.title(), "texts": {o: o for o in options}} for c in ("cost", "uptime")],
        "questions": [{"id": q, "text": f"What {q}?", "choices": [{"id": c, "label": c.upper()} for c in choices]}
                      for q, choices in QUESTIONS],
        "rules": [{"id": f"r{i}", "criterion": ("cost", "uptime")[i % 2], "when": when,
                   "scores": {options[i % 3]: 2, options[(i + 1) % 3]: -1},
                   **({"exclude": [options[i % 3]]} if i % 5 == 4 else {}), "because": f"Rule {i}."}
                  for i, when in enumerate(conditions_)],
    }


@st.composite
def many_question_conditions(draw) -> dict:
    """A random `when` over QUESTIONS, often joined with entries naming every one of the twelve."""
    condition = draw(conditions(QUESTIONS))
    if draw(st.booleans()):
        everything = {q: [c for c in choices if draw(st.booleans())] or [choices[-1]] for q, choices in QUESTIONS}
        condition = {"all": [everything, condition]}
    return condition


# --- conditions on any number of questions ------------------------------------------------------------------------


@PROPERTY
@given(raw=many_question_conditions(), seed=st.integers(0, 2**32 - 1))
def test_a_compiled_condition_holds_exactly_where_its_tree_does(raw, seed):
    from recommender.conditions import ConditionParser, ConditionTooComplexError, CubeCompiler

    problems = []
    parser = ConditionParser([q for q, _ in QUESTIONS], [list(choices) for _, choices in QUESTIONS],
                             lambda *problem, **_: problems.append(problem))
    condition = parser.parse(raw, ("when",))
    assert not problems
    assert condition is not None
    try:
        cubes = CubeCompiler([len(choices) for _, choices in QUESTIONS]).compile(condition)
    except ConditionTooComplexError:
        reject()
    rng = random.Random(seed)
    for state in random_states(rng, [len(choices) for _, choices in QUESTIONS], STATES_PER_CASE):
        compiled = any(all(mask >> state[q] & 1 for q, mask in cube) for cube in cubes)
        assert compiled == condition.holds(state), f"state {state}: cubes {cubes}"


@PROPERTY
@given(whens=st.lists(many_question_conditions(), min_size=1, max_size=5), seed=st.integers(0, 2**32 - 1))
def test_rules_on_all_twelve_questions_fire_and_change_results_as_their_conditions_say(whens, seed):
    from recommender.conditions import ConditionParser

    try:
        ruleset = load_rules_text(to_yaml(twelve_question_file(whens)))
    except RulesValidationError as error:
        if all("can never hold" in issue.message or "too complex" in issue.message for issue in error.issues):
            reject()
        raise
    parser = ConditionParser([q for q, _ in QUESTIONS], [list(choices) for _, choices in QUESTIONS],
                             lambda *problem, **_: pytest.fail(f"{problem}"))
    trees = [parser.parse(rule.rule.when, ("when",)) for rule in ruleset.rules]
    rng = random.Random(seed)
    sizes = [len(choices) for _, choices in QUESTIONS]
    for state in random_states(rng, sizes, 40):
        result = evaluate_state(ruleset, state)
        assert result.fired == tuple(r for r, tree in enumerate(trees) if tree.holds(state))
        # What-if, against brute force: every single changed answer that changes the winner, and only those.
        expected = [(q.id, q.choices[s - 1].id) for q, current, n in zip(ruleset.questions, state, sizes)
                    for s in range(1, n + 1) if s != current
                    and evaluate_state(ruleset, state[:ruleset.question_index[q.id]] + (s,)
                                       + state[ruleset.question_index[q.id] + 1:]).winner != result.winner]
        assert [(c.question.id, c.choice.id) for c in explain(result).what_if] == expected


def test_a_rule_naming_every_question_loads_and_fires_only_on_its_choices(shipped_rules, shipped_text):
    rng = random.Random(20240601)
    criterion, option = shipped_rules.criteria[0].id, shipped_rules.options[-1].id
    when = every_question(shipped_rules, rng)
    ruleset = load_rules_text(with_rules(shipped_text, [rule_text("everything", flow(when), criterion, option)]))
    (index,) = [r.index for r in ruleset.rules if r.rule.id == "everything"]
    inside = {q: choices[0] for q, choices in when.items()}
    assert index in evaluate(ruleset, inside).fired
    for question, choices in when.items():
        others = [c.id for c in ruleset.questions[ruleset.question_index[question]].choices if c.id not in choices]
        if others:
            assert index not in evaluate(ruleset, {**inside, question: others[0]}).fired, question
        assert index not in evaluate(ruleset, {q: c for q, c in inside.items() if q != question}).fired, question


# --- the ceilings on conditions and on the compiled size -----------------------------------------------------------


def pairwise_alternatives(ruleset, count: int) -> str:
    """`any` over `count` alternatives no two of which merge: each names a different pair of questions."""
    questions = ruleset.questions
    pairs = [(a, b) for i, a in enumerate(questions) for b in questions[i + 1:]][:count]
    assert len(pairs) == count, "the rules file has too few questions for this test"
    return "{any: [" + ", ".join(f"{{{a.id}: {a.choices[0].id}, {b.id}: {b.choices[0].id}}}" for a, b in pairs) + "]}"


def test_a_condition_may_expand_to_64_alternatives_and_no_more(shipped_rules, shipped_text):
    from recommender.conditions import MAX_CUBES

    criterion, option = shipped_rules.criteria[0].id, shipped_rules.options[-1].id
    at_limit = pairwise_alternatives(shipped_rules, MAX_CUBES)
    loaded = load_rules_text(with_rules(shipped_text, [rule_text("wide", at_limit, criterion, option)]))
    assert len(loaded.rules[-1].cubes) == MAX_CUBES
    past = pairwise_alternatives(shipped_rules, MAX_CUBES + 1)
    text = with_rules(shipped_text, [rule_text("too-wide", past, criterion, option)])
    with pytest.raises(RulesValidationError) as caught:
        load_rules_text(text, "rules.yaml")
    (issue,) = caught.value.issues
    assert (issue.line, issue.column) == (line_of(text, past), column_of(text, past))
    assert str(issue).endswith(
        f": rules[{len(shipped_rules.rules)}].when: the condition of rule 'too-wide' is too complex: it expands to "
        "more than 64 alternatives (split the rule into several, or nest fewer `any`/`not`: a condition may expand "
        "to at most 64 alternatives)")


def test_compiled_conditions_past_the_literal_ceiling_are_refused_at_the_rule_that_passes_it(shipped_rules,
                                                                                            shipped_text):
    from recommender.loader import MAX_LITERALS

    # `all` over six `any`s of two questions each: 2^6 = 64 alternatives of six literals, 384 literals per rule.
    questions = shipped_rules.questions
    when = "{all: [" + ", ".join(f"{{any: [{{{a.id}: {a.choices[0].id}}}, {{{b.id}: {b.choices[0].id}}}]}}"
                                 for a, b in zip(questions[0:12:2], questions[1:12:2])) + "]}"
    shipped_literals = sum(len(cube) for rule in shipped_rules.rules for cube in rule.cubes)
    count = (MAX_LITERALS - shipped_literals) // 384 + 1
    rules = [rule_text(f"dense-{i}", when, shipped_rules.criteria[0].id, shipped_rules.options[-1].id)
             for i in range(count)]
    text = with_rules(shipped_text, rules)
    with pytest.raises(RulesValidationError) as caught:
        load_rules_text(text, "rules.yaml")
    (issue,) = caught.value.issues
    assert issue.path == ("rules", len(shipped_rules.rules) + count - 1, "when")
    assert issue.line == line_of(text, f"id: dense-{count - 1}\n") + 2
    assert f"the rules' conditions up to rule 'dense-{count - 1}' compile to more than 50,000 literals" in str(issue)
    assert load_rules_text(with_rules(shipped_text, rules[:-1])).rules[-1].rule.id == f"dense-{count - 2}"


def test_more_than_2000_rules_are_refused_at_the_first_one_past_the_limit(shipped_rules, shipped_text):
    extra = 2001 - len(shipped_rules.rules)
    first = shipped_rules.questions[0]
    rules = [rule_text(f"many-{i}", f"{{{first.id}: {first.choices[0].id}}}", shipped_rules.criteria[0].id,
                       shipped_rules.options[0].id) for i in range(extra)]
    text = with_rules(shipped_text, rules)
    with pytest.raises(RulesValidationError) as caught:
        load_rules_text(text, "rules.yaml")
    (issue,) = caught.value.issues
    assert issue.line == line_of(text, f"- id: many-{2000 - len(shipped_rules.rules)}\n")
    assert str(issue).endswith(": rules[2000]: 2,001 rules, more than the 2,000 a rules file may hold (merge rules "
                               "of the same row, or remove rules that never change a result)")
    assert not caught.value.complete


# --- the ceilings on the file --------------------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["path", "bytes", "text"])
def test_a_file_over_1_mib_is_refused_naming_its_size_and_the_limit(tmp_path, via):
    data = b"version: 1\n" + b"#" * (MAX_BYTES - 11) + b"\n"
    assert len(data) == MAX_BYTES + 1
    (tmp_path / "big.yaml").write_bytes(data)
    load = {"path": lambda: load_rules(tmp_path / "big.yaml", "big.yaml"),
            "bytes": lambda: load_rules_text(data, "big.yaml"),
            "text": lambda: load_rules_text(data.decode(), "big.yaml")}[via]
    with pytest.raises(RulesSyntaxError) as caught:
        load()
    assert str(caught.value) == ("big.yaml:1:1: (top level): file is 1,048,577 bytes, larger than the limit of 1 MiB "
                                 "(1,048,576 bytes) (a rules file is a few hundred lines: remove what is not needed)")


def test_a_50_mb_file_is_refused_by_its_size_unread(tmp_path):
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # a sparse file: its size is known without a byte written or read
    with pytest.raises(RulesSyntaxError) as caught:
        load_rules(path, "huge.yaml")
    assert "file is 52,428,800 bytes, larger than the limit of 1 MiB" in str(caught.value)


@pytest.mark.parametrize("item", ["1", "{}"])
def test_a_1_mib_list_of_junk_gets_one_short_error_at_the_value_past_the_ceiling(item):
    head = "version: 1\nrules: ["
    # As many items as fit in 1 MiB, written `1,1,…,1]` (each item and its comma, the last with `]` and a newline).
    text = head + f"{item}," * ((MAX_BYTES - len(head) - len(item) - 2) // (len(item) + 1)) + f"{item}]\n"
    assert MAX_BYTES - len(item) - 1 <= len(text) <= MAX_BYTES
    with pytest.raises(RulesSyntaxError) as caught:
        load_rules_text(text, "junk.yaml")
    (issue,) = caught.value.issues
    # Values are counted from the top: the mapping, `version`, its 1, `rules` and the list are the first five.
    assert (issue.line, issue.column) == (2, len("rules: [") + (200_000 - 5) * (len(item) + 1) + 1)
    assert issue.message == "the file holds more than 200,000 values"
    assert len(str(caught.value)) < 300


# --- the cap on reported errors ------------------------------------------------------------------------------------


def junk_rules(count: int) -> str:
    return "version: 1\nrules: [" + ", ".join(["1"] * count) + "]\n"


def test_errors_past_the_first_50_are_counted_not_listed():
    from recommender.errors import MAX_REPORTED_ISSUES

    with pytest.raises(RulesError) as one:
        load_rules_text(junk_rules(1), "junk.yaml")
    besides_rules = len(one.value.issues) - 1  # the missing sections and fields: reported whatever the rules are
    with pytest.raises(RulesError) as caught:
        load_rules_text(junk_rules(1500), "junk.yaml")
    error = caught.value
    assert MAX_REPORTED_ISSUES == 50
    assert len(error.issues) == 50
    assert error.omitted == 1500 + besides_rules - 50
    assert error.complete
    positions = [(issue.line, issue.column) for issue in error.issues]
    assert positions == sorted(positions)  # the first 50 in file order
    lines = str(error).splitlines()
    assert lines[:50] == [str(issue) for issue in error.issues]
    assert lines[50:] == [f"… and {1500 + besides_rules - 50:,} more errors (the first 50 are shown)"]


def test_checking_stops_after_10000_errors_and_says_there_are_at_least_that_many():
    text = "version: 1\nscenarios: [" + ", ".join(["1"] * 12_000) + "]\n"
    with pytest.raises(RulesError) as caught:
        load_rules_text(text, "junk.yaml")
    error = caught.value
    assert not error.complete
    assert len(error.issues) == 50
    found = 50 + error.omitted
    assert 10_000 <= found < 12_000
    assert str(error).splitlines()[-1] == (f"… and at least {error.omitted:,} more errors (the first 50 are shown; "
                                           f"checking stopped after {found:,}: the rest of the file was not checked)")


@pytest.mark.parametrize(("item", "first_message"), [
    ("yes", "unquoted yes is read by YAML as the boolean true"),
    ("*a", "aliases (*a) are not allowed"),
])
def test_yaml_level_errors_stop_being_collected_at_10000(item, first_message):
    text = "version: 1\nrules: [" + ", ".join([item] * 150_000) + "]\n"
    with pytest.raises(RulesSyntaxError) as caught:
        load_rules_text(text, "junk.yaml")
    error = caught.value
    assert first_message in str(error.issues[0])
    assert (error.issues[0].line, error.issues[0].column) == (2, len("rules: [") + 1)
    assert not error.complete
    assert 50 + error.omitted == 10_000
    assert str(error).splitlines()[-1] == ("… and at least 9,950 more errors (the first 50 are shown; checking stopped "
                                           "after 10,000: the rest of the file was not checked)")


def test_yaml_level_and_content_errors_share_one_cap():
    text = ("version: 1\nrules: [" + ", ".join(["yes"] * 9_000) + "]\n"
            "scenarios: [" + ", ".join(["1"] * 12_000) + "]\n")
    with pytest.raises(RulesSyntaxError) as caught:
        load_rules_text(text, "junk.yaml")
    error = caught.value
    assert not error.complete
    assert 9_000 <= len(error.issues) + error.omitted <= 10_000


@pytest.mark.parametrize(("shown", "omitted", "complete", "line"), [
    (50, 0, True, None),
    (1, 1, True, "… and 1 more error (the first 1 is shown)"),
    (50, 7_950, True, "… and 7,950 more errors (the first 50 are shown)"),
    (3, 0, False, "… checking stopped after 3 errors: the rest of the file was not checked"),
    (50, 9_950, False, "… and at least 9,950 more errors (the first 50 are shown; checking stopped after 10,000: "
                       "the rest of the file was not checked)"),
])
def test_the_count_line_for_what_was_left_out(shown, omitted, complete, line):
    from recommender.errors import omitted_line

    assert omitted_line(shown, omitted, complete=complete) == line


def test_a_short_error_list_has_no_count_line(shipped_text):
    with pytest.raises(RulesError) as caught:
        load_rules_text(shipped_text.replace("version: 1", "version: 2", 1), "rules.yaml")
    assert caught.value.omitted == 0
    assert caught.value.complete
    assert not re.search(r"more errors?|checking stopped", str(caught.value))


# --- a large valid file: it serves, and the whole-space analysis refuses it cleanly ------------------------------


@pytest.fixture(scope="module")
def thousand_rules_file(tmp_path_factory, shipped_rules, shipped_text):
    """The shipped rules plus 1,000 rules each naming every question (bench/engine.py's file)."""
    rng = random.Random(20240601)
    rules = [rule_text(f"extra-{i}", flow(every_question(shipped_rules, rng)), rng.choice(shipped_rules.criteria).id,
                       rng.choice(shipped_rules.options).id) for i in range(1000)]
    path = tmp_path_factory.mktemp("large") / "rules.yaml"
    path.write_text(with_rules(shipped_text, rules), encoding="utf-8")
    return path


def test_a_thousand_rules_on_every_question_load_and_answer(thousand_rules_file, shipped_rules):
    ruleset = load_rules(thousand_rules_file)
    assert len(ruleset.rules) == len(shipped_rules.rules) + 1000
    assert all(len(rule.questions) == len(ruleset.questions) for rule in ruleset.rules[-1000:])
    rng = random.Random(7)
    for state in random_states(rng, [len(q.choices) for q in ruleset.questions], 50):
        fired = evaluate_state(ruleset, state).fired
        assert fired == tuple(rule.index for rule in ruleset.rules if rule.fires(state))
    document = explain(evaluate(ruleset, {})).as_json()
    assert sum(document["open"]["wins"].values()) == pytest.approx(1.0)
    refused = winner_table(ruleset).refused
    assert refused is not None
    assert f"reads {len(ruleset.questions)} questions" in refused


def test_the_answer_space_analysis_refuses_rules_that_read_too_many_questions(thousand_rules_file, runner):
    for command in (["explore"], ["check"], ["diff", str(thousand_rules_file)]):
        result = runner.invoke(args=["rules", *command, str(thousand_rules_file)])
        assert result.exit_code == 1, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert re.search(r"cannot analyse the answer space: rule 'extra-\d+' reads \d+ questions \([\d,]+ "
                         r"combinations of their answers\): the whole-space analysis handles rules over at most "
                         r"65,536 combinations", result.output), result.output
