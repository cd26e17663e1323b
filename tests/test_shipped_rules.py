"""What the shipped rules.yaml says today.

These tests pin what rules.yaml says today: its questions and choices, its options and rows, its sourced scenarios
passing, what it recommends for sample answers, and that it keeps the ordering contract. A tuner who changes rules.yaml
updates them in the same commit. Every other test must pass with any valid rules.yaml; to check that, run the suite
with DOCKWISE_TEST_RULES naming an edited copy (tests/shipped.py): only this module should fail.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from shipped import ROOT, SCENARIOS
from test_engine import nudged, reloaded_winner  # the engine tests' weight edits (no fixtures come with them)

from recommender import evaluate, explain
from recommender.model import Site
from recommender.scenarios import run_scenarios
from recommender.space import monotonicity, monotonicity_text

TABLE_PATH = ROOT.parent / "shared" / "docker-vs-kubernetes.md"
SCHEMA_COMMENT = "# yaml-language-server: $schema=rules.schema.json"


def recommendation(ruleset, answers: str | dict[str, str]) -> dict:
    """The result document for answers given as a dict or as "question=choice question=choice"."""
    if isinstance(answers, str):
        answers = dict(pair.split("=") for pair in answers.split())
    return explain(evaluate(ruleset, answers)).as_json()


# --- the file -------------------------------------------------------------------------------------------------------

def test_the_file_starts_with_the_schema_comment(shipped_text):
    assert shipped_text.splitlines()[0] == SCHEMA_COMMENT


def test_the_rules_load_without_warnings(shipped_rules):
    """No row without a text for some option, no row without rules, no question that no rule reads, no weight 0."""
    assert shipped_rules.warnings == ()


def test_the_rules_say_the_site_words_explicitly(shipped_spec, shipped_rules):
    assert shipped_spec["site"] == Site().model_dump()  # today's words, written out (test_loader.py pins them)
    assert shipped_rules.model.site.model_dump() == Site().model_dump()


# --- the questionnaire ----------------------------------------------------------------------------------------------

EXPECTED_QUESTIONS = {
    "services": ["one", "few", "many", "lots"],
    "hosts": ["one", "few", "many"],
    "traffic": ["steady", "growing", "spiky"],
    "availability": ["hours", "minutes", "none"],
    "networking": ["ports", "internal", "advanced"],
    "storage": ["none", "volumes", "dynamic"],
    "deployment": ["commands", "file", "declarative"],
    "resources": ["none", "limits", "quotas"],
    "team_size": ["solo", "small", "medium", "large"],
    "expertise": ["new", "docker", "kubernetes"],
    "tenants": ["one", "several", "many"],
    "managed": ["unavailable", "available"],
}


def test_the_questions_and_choices_are_the_agreed_ids_least_demanding_first(shipped_rules):
    actual = {q.id: [c.id for c in q.choices] for q in shipped_rules.questions}
    assert list(actual.items()) == list(EXPECTED_QUESTIONS.items())
    assert len(shipped_rules.questions) == 12


def test_the_answer_space_has_19_660_800_questionnaires(shipped_rules):
    """Every question answered or "Not sure": the space `flask rules check` and `flask rules explore` go through."""
    space = math.prod(len(q.choices) + 1 for q in shipped_rules.questions)
    assert space == 5 * 4 * 4 * 4 * 4 * 4 * 4 * 4 * 5 * 4 * 4 * 3 == 19_660_800


def questions_in(when: dict) -> set[str]:
    """Every question a condition mentions."""
    found = set()
    for key, value in when.items():
        if key in ("any", "all"):
            for part in value:
                found |= questions_in(part)
        elif key == "not":
            found |= questions_in(value)
        else:
            found.add(key)
    return found


def test_every_question_informs_a_row(shipped_spec):
    """Some rule reads every question, so the questionnaire says which rows each one informs."""
    read = set().union(*(questions_in(rule["when"]) for rule in shipped_spec["rules"]))
    assert [q["id"] for q in shipped_spec["questions"] if q["id"] not in read] == []


# --- the options and the rows ---------------------------------------------------------------------------------------

def test_the_options_are_docker_compose_kubernetes_in_that_order(shipped_rules):
    assert [o.id for o in shipped_rules.options] == ["docker", "compose", "kubernetes"]


@pytest.fixture(scope="module")
def comparison_table() -> list[tuple[str, str, str]]:
    """The rows of the shared comparison table as (feature, docker, kubernetes)."""
    if not TABLE_PATH.is_file():
        pytest.skip(f"the comparison table is not at {TABLE_PATH} (it sits in shared/ beside the repository)")
    rows = []
    for line in TABLE_PATH.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if all(set(cell) <= set("-: ") for cell in cells):
            continue  # the separator row
        rows.append(tuple(cells))
    header, *body = rows
    assert header == ("Feature", "Docker", "Kubernetes")
    return body


def test_the_rows_are_the_comparison_tables_rows_word_for_word(shipped_rules, comparison_table):
    assert len(comparison_table) == len(shipped_rules.criteria) == 12
    actual = [(c.label, c.texts.get("docker"), c.texts.get("kubernetes")) for c in shipped_rules.criteria]
    assert actual == comparison_table


def test_every_row_has_a_rule(shipped_rules):
    used = {rule.rule.criterion for rule in shipped_rules.rules}
    assert [c.id for c in shipped_rules.criteria if c.id not in used] == []


def test_not_every_row_weighs_the_same(shipped_spec):
    assert {c["id"]: c["weight"] for c in shipped_spec["criteria"] if c["weight"] != 1} == {"high_availability": 1.5}


# --- the sourced scenarios ------------------------------------------------------------------------------------------

def test_the_scenarios_all_pass(shipped_rules):
    failures = [f"{o.scenario.name}: expected {' or '.join(o.scenario.expect)}, got {o.winner}"
                for o in run_scenarios(shipped_rules) if not o.passed]
    assert failures == []


def test_flask_rules_test_passes_every_scenario(runner, shipped_spec):
    result = runner.invoke(args=["rules", "test"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    names = [scenario["name"] for scenario in shipped_spec["scenarios"]]
    assert len(lines) == len(names) + 1
    for line, name in zip(lines[:-1], names, strict=True):
        assert line.startswith(f"PASS  {name} → ")
    assert lines[-1] == f"{len(names)} passed, 0 failed"


def test_the_scenarios_cover_every_option_and_every_row(shipped_rules):
    outcomes = run_scenarios(shipped_rules)
    assert len(outcomes) >= 40
    assert {o.winner for o in outcomes if o.passed} == {o.id for o in shipped_rules.options}
    fired_rows = {shipped_rules.rules[r].rule.criterion for o in outcomes for r in o.result.fired}
    assert [c.id for c in shipped_rules.criteria if c.id not in fired_rows] == []


# --- sample recommendations -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("answers", "expected"), [
    ("services=one availability=hours", "docker"),
    ("services=one hosts=one", "docker"),
    ("services=few hosts=one", "compose"),
    ("services=few hosts=few availability=minutes deployment=file expertise=docker", "compose"),
    ("services=many hosts=many traffic=spiky availability=none expertise=kubernetes", "kubernetes"),
    ("tenants=many resources=quotas team_size=large", "kubernetes"),
    ("services=lots hosts=many deployment=declarative", "kubernetes"),
])
def test_the_rules_follow_mainstream_guidance(shipped_rules, answers, expected):
    assert recommendation(shipped_rules, answers)["recommendation"] == expected


@pytest.mark.parametrize("answers", [
    "team_size=small expertise=new availability=minutes",
    "team_size=solo expertise=new availability=none services=few hosts=few",
    "team_size=small expertise=new traffic=spiky services=few",
    "services=many hosts=one availability=none",
])
def test_the_rules_do_not_push_kubernetes_where_it_does_not_fit(shipped_rules, answers):
    assert recommendation(shipped_rules, answers)["recommendation"] != "kubernetes"


@pytest.mark.parametrize(("answers", "flagged"), [
    ("availability=none", {"docker"}),
    ("services=one availability=none", {"docker"}),
    ("traffic=spiky", {"docker", "compose"}),
    ("resources=quotas tenants=many", {"docker", "compose"}),
])
def test_the_rules_flag_the_needs_lighter_options_leave_unmet_and_do_not_recommend_docker_for_them(
        shipped_rules, answers, flagged):
    doc = recommendation(shipped_rules, answers)
    assert {option for option, needs in doc["unmet_needs"].items() if needs} == flagged
    assert doc["excluded"] == []  # weighed and flagged, not ruled out (docs/rules-format.md)
    assert doc["recommendation"] != "docker"
    assert doc["closeness"] != "clear" or doc["recommendation"] not in flagged


def test_the_web_tests_sample_answers_reach_every_kind_of_result(shipped_rules):
    """tests/shipped.py's SCENARIOS, which tests/test_web.py walks through every page, the API and the record."""
    documents = [recommendation(shipped_rules, answers) for answers in SCENARIOS.values()]
    assert {d["recommendation"] for d in documents} == {o.id for o in shipped_rules.options}
    assert {d["closeness"] for d in documents} == {"clear", "close", "open", "unmet", "unanswered"}
    assert {w["direction"] for d in documents for w in d["what_if"]} == {"heavier", "lighter"}
    assert any(d["against"] for d in documents)
    assert any(d["unmet_needs"][d["recommendation"]] for d in documents)
    assert any(not d["unmet_needs"][d["recommendation"]] and any(d["unmet_needs"].values()) for d in documents)
    assert any(not d["what_if"] for d in documents)


@pytest.mark.parametrize("answers", [
    # A three-way tie at the crossing: list order settles the tie itself, another option wins just past it
    # (test_engine.py checks the same on a small file built for it).
    {"traffic": "steady", "networking": "ports", "storage": "none", "resources": "quotas", "team_size": "solo",
     "expertise": "docker", "tenants": "many"},
])
def test_answers_with_a_three_way_tie_at_a_crossing_are_sensitive_and_flip_as_stated(answers, shipped_case):
    doc = recommendation(shipped_case.ruleset, answers)
    criteria = [c["id"] for c in shipped_case.spec["criteria"]]
    assert doc["sensitivity"], "these answers are sensitive to some weight"
    for entry in doc["sensitivity"]:
        assert entry["criterion"] in criteria
        factor = Fraction(entry["factor"]).limit_denominator(10**6)
        probe, up = nudged(factor, entry["direction"])
        assert reloaded_winner(shipped_case, answers, entry["criterion"], probe, up) == entry["recommendation"]


# --- the ordering contract ------------------------------------------------------------------------------------------

# Choices least demanding first; these questions alone are exempt (docs/rules-format.md).
EXEMPT_QUESTIONS = ["storage"]


def test_at_most_two_questions_are_exempt_from_the_ordering_contract_each_with_its_reason(shipped_rules):
    exempt = [q.id for q in shipped_rules.questions if not q.ordered]
    assert exempt == EXEMPT_QUESTIONS
    assert len(exempt) <= 2
    docs = (ROOT / "docs" / "rules-format.md").read_text(encoding="utf-8")
    assert all(f"| `{qid}` |" in docs for qid in exempt)


def test_the_rules_have_no_monotonicity_violations(shipped_rules):
    report = monotonicity(shipped_rules)
    assert report.exhaustive
    assert report.count == 0, monotonicity_text(report)
