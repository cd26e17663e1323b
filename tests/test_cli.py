"""The command line as a user meets it: `flask rules check|test|schema` and `flask recommend`.

Files with mistakes are edits of tests/data/minimal.yaml, so what is checked is how the commands report, not what the
shipped rules say (that is pinned in test_shipped_rules.py).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from shipped import RULES_PATH

from app import create_app
from recommender import evaluate, load_rules
from recommender.model import json_schema

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
MINIMAL = DATA / "minimal.yaml"
MINIMAL_TEXT = MINIMAL.read_text(encoding="utf-8")
MINIMAL_SPEC = yaml.safe_load(MINIMAL_TEXT)
SHIPPED = yaml.safe_load(RULES_PATH.read_text(encoding="utf-8"))

ERROR_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<rest>.+)$")
SUMMARY = re.compile(
    r"^(?P<file>.+): OK — (?P<options>\d+) options, (?P<criteria>\d+) criteria, (?P<questions>\d+) questions, "
    r"(?P<rules>\d+) rules, (?P<scenarios>\d+) scenarios; fingerprint (?P<fingerprint>[0-9a-f]{8})$")
MONOTONICITY = re.compile(
    r"^Monotonicity: (?P<violations>[\d,]+) violations?( \(.+ of the pairs\))? — every ordered question, every "
    r"adjacent pair of choices, over every combination of the other answers \((?P<space>[\d,]+) questionnaires; "
    r"(?P<pairs>[\d,]+) pairs\) in [\d.]+ s; exempt: (?P<exempt>.+)$")

OPTION_LABELS = {option["id"]: option["label"] for option in MINIMAL_SPEC["options"]}
CHOICE_LABELS = {(q["id"], c["id"]): c["label"] for q in MINIMAL_SPEC["questions"] for c in q["choices"]}

# The keys of the result document (recommender.explain.Explanation.as_json), the contract of `recommend --json`.
DOCUMENT_KEYS = {
    "recommendation", "label", "closeness", "headline", "why", "margin", "runner_up", "tie_break", "notes",
    "ranking", "drivers", "against", "fired_rules", "excluded", "unmet_needs", "what_if", "sensitivity", "unanswered",
    "unanswered_could_change", "open", "answers", "rules_fingerprint",
}

# Edits of tests/data/minimal.yaml, each anchored on text that occurs exactly once in it.
MISSPELT_CHOICE = ("    when: {hosts: one}\n", "    when: {hosts: oen}\n")
UNKNOWN_RULE_FIELD = ("    because: Load that jumps needs an autoscaler.\n",
                      "    because: Load that jumps needs an autoscaler.\n    wieght: 2\n")
UNUSED_QUESTION = (
    "      - {id: spiky, label: It jumps}\n",
    "      - {id: spiky, label: It jumps}\n"
    "  - id: budget\n    text: What is your budget?\n    choices:\n"
    "      - id: low\n        label: Low\n      - id: high\n        label: High\n",
)
WRONG_EXPECTATION = ("    expect: docker\n", "    expect: kubernetes\n")  # "One machine, steady load"
RENAMED_DOCKER = ("    label: Docker alone\n", "    label: Docker, renamed for this test\n")


def write_edited(path: Path, *edits: tuple[str, str]) -> Path:
    """Write tests/data/minimal.yaml with `edits` applied to `path`."""
    text = MINIMAL_TEXT
    for old, new in edits:
        assert text.count(old) == 1, f"edit anchor is not unique in minimal.yaml: {old!r}"
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    return path


def position(path: Path, needle: str) -> tuple[int, int]:
    """1-based line and column of `needle`, which must occur once in the file."""
    text = path.read_text(encoding="utf-8")
    assert text.count(needle) == 1, f"{needle!r} is not unique in {path}"
    at = text.index(needle)
    return text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)


def error_lines(stderr: str) -> list[re.Match]:
    """The PATH:LINE:COL lines of stderr; every other line must be the closing count."""
    lines = stderr.splitlines()
    matches = [ERROR_LINE.match(line) for line in lines[:-1]]
    assert all(matches), f"a line is not PATH:LINE:COL: ...:\n{stderr}"
    assert re.fullmatch(rf"{len(matches)} error\(s\) in .+", lines[-1]), stderr
    return matches


TEST_CONFIG = {"TESTING": True, "SECRET_KEY": "test"}  # a SECRET_KEY, so no key file is written to instance/


def runner_for(rules_path: Path | str):
    return create_app({**TEST_CONFIG, "RULES_PATH": str(rules_path)}).test_cli_runner()


def invoker(app):
    """Invoke commands as the `flask` executable does: its FlaskGroup pushes an app context around every command.

    `recommend` needs that context (it is a plain click command; see the test under Flask's bare runner below).
    """
    runner = app.test_cli_runner()

    def invoke(*args: str):
        with app.app_context():
            return runner.invoke(args=list(args))
    return invoke


@pytest.fixture
def cli(app):
    return invoker(app)


@pytest.fixture
def broken_rules(tmp_path, monkeypatch) -> Path:
    """A rules file with two errors, in the current directory so paths are shown as `broken.yaml`."""
    monkeypatch.chdir(tmp_path)
    return write_edited(tmp_path / "broken.yaml", MISSPELT_CHOICE, UNKNOWN_RULE_FIELD)


# --- rules check -----------------------------------------------------------------------------------------------------

def test_check_shipped_rules_prints_the_summary_and_the_monotonicity_line(runner, shipped_rules):
    result = runner.invoke(args=["rules", "check"])
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    ordering = MONOTONICITY.match(lines[1])
    assert ordering, lines[1]
    violations = int(ordering["violations"].replace(",", ""))
    # Whether the shipped rules have none is pinned in test_shipped_rules.py; here, that the exit status says so.
    assert result.exit_code == (1 if violations else 0), result.output
    assert bool(lines[2:]) == bool(violations)
    assert all(line.startswith("  ") for line in lines[2:])
    assert ordering["space"] == f"{math.prod(len(q['choices']) + 1 for q in SHIPPED['questions']):,}"
    unordered = [q["id"] for q in SHIPPED["questions"] if q.get("ordered") is False]
    assert ordering["exempt"] == (f"{', '.join(unordered)} (ordered: false)" if unordered else "none")
    summary = SUMMARY.match(lines[0])
    assert summary, lines[0]
    assert summary["file"].endswith("rules.yaml")
    counts = {name: len(SHIPPED.get(name) or []) for name in ("options", "criteria", "questions", "rules", "scenarios")}
    assert {name: int(summary[name]) for name in counts} == counts
    assert summary["fingerprint"] == shipped_rules.fingerprint


def test_check_reports_every_error_with_its_line_and_column(broken_rules):
    result = runner_for(RULES_PATH).invoke(args=["rules", "check", "broken.yaml"])
    assert result.exit_code == 1
    assert result.stdout == ""
    reported = {(m["file"], int(m["line"]), int(m["col"])): m["rest"] for m in error_lines(result.stderr)}
    assert reported == {
        ("broken.yaml", *position(broken_rules, "oen}")):
            "rules[0].when.hosts: 'hosts' has no choice 'oen' (did you mean 'one'?)",
        ("broken.yaml", *position(broken_rules, "wieght: 2")):
            "rules[2].wieght: unknown field 'wieght' (did you mean 'weight'?)",
    }
    assert result.stderr.splitlines()[-1] == "2 error(s) in broken.yaml"


@pytest.mark.parametrize(("edit", "needle", "message"), [
    (("    scores: {kubernetes: 3}\n", "    scores: {kubernetes: 3, kubernets: 1}\n"),
     "kubernets", "unknown option 'kubernets' (did you mean 'kubernetes'?)"),
    (("    when: {hosts: many}\n", "    when: {hots: many}\n"),
     "hots", "unknown question 'hots' (did you mean 'hosts'?)"),
    (("    when: {hosts: many}\n", "    when: {hosts: many}\n    criterion: scalingg\n"),
     "criterion: scalingg", "duplicate key 'criterion'"),
], ids=["unknown-option", "unknown-question", "duplicate-key"])
def test_check_points_at_the_mistake(tmp_path, monkeypatch, edit, needle, message):
    monkeypatch.chdir(tmp_path)
    path = write_edited(tmp_path / "rules.yaml", edit)
    result = runner_for(RULES_PATH).invoke(args=["rules", "check", "rules.yaml"])
    assert result.exit_code == 1
    [error] = error_lines(result.stderr)
    assert (int(error["line"]), int(error["col"])) == position(path, needle)
    assert message in error["rest"]


@pytest.mark.parametrize(("edit", "needle"), [
    (("  - id: docker\n    label: Docker alone\n", "  - id: docker\n    label: Docker alone\n    colour: blue\n"),
     "colour"),
    (("    weight: 1.5\n", "    weight: 1.5\n    colour: blue\n"), "colour"),
    (("    text: How many machines will run them?\n", "    text: How many machines will run them?\n    colour: blue\n"),
     "colour"),
], ids=["option", "criterion", "question"])
def test_check_reports_an_unknown_field_once_without_follow_on_errors(tmp_path, monkeypatch, edit, needle):
    """One stray field must not make its option, criterion or question 'unknown' everywhere it is used."""
    monkeypatch.chdir(tmp_path)
    path = write_edited(tmp_path / "rules.yaml", edit)
    result = runner_for(RULES_PATH).invoke(args=["rules", "check", "rules.yaml"])
    assert result.exit_code == 1
    errors = error_lines(result.stderr)
    assert [(int(e["line"]), int(e["col"])) for e in errors] == [position(path, needle)], result.stderr
    assert "unknown field 'colour'" in errors[0]["rest"]


def test_check_missing_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner_for(RULES_PATH).invoke(args=["rules", "check", "missing.yaml"])
    assert result.exit_code == 1
    assert result.stdout == ""
    [error] = error_lines(result.stderr)
    assert error["file"] == "missing.yaml"
    assert "file not found" in error["rest"]


@pytest.mark.parametrize(("name", "status", "lines"), [
    ("minimal.yaml", 0, []),
    ("violation.yaml", 1, [
        "  hosts: one → few makes the recommendation lighter (kubernetes → compose) in 2 questionnaires "
        "(22.2 % of those with hosts=one), e.g. hosts=one&traffic=spiky&storage=volumes",
        "  hosts: few → many makes the recommendation lighter (compose → docker) in 2 questionnaires "
        "(22.2 % of those with hosts=few), e.g. hosts=few&traffic=steady&storage=volumes"]),
], ids=["clean", "violating"])
def test_check_proves_monotonicity_and_lists_each_kind_of_violation(tmp_path, monkeypatch, name, status, lines):
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_text((DATA / name).read_text(encoding="utf-8"), encoding="utf-8")
    result = runner_for(RULES_PATH).invoke(args=["rules", "check", name])
    assert result.exit_code == status, result.output
    assert result.stderr == ""
    out = result.stdout.splitlines()
    assert SUMMARY.match(out[0])
    ordering = MONOTONICITY.match(out[1])
    assert ordering, out[1]
    assert int(ordering["violations"]) == len(lines) * 2
    assert out[2:] == lines


@pytest.mark.parametrize(("budget", "sampled"), [("1", True), ("1000000", False)], ids=["sampled", "every one"])
def test_check_samples_a_space_larger_than_its_budget(budget, sampled):
    result = runner_for(RULES_PATH).invoke(args=["rules", "check", str(MINIMAL), "--budget", budget, "--sample", "50"])
    assert result.exit_code == 0, result.output
    ordering = result.stdout.splitlines()[1]
    assert ordering.startswith("Monotonicity (SAMPLED): ") == sampled, ordering
    if sampled:
        assert "checks every one" in ordering  # it says how to prove it over the whole space


def clean_copy(path: Path) -> Path:
    """A rules file without monotonicity violations (tests/data/minimal.yaml) at `path`."""
    path.write_text(MINIMAL_TEXT, encoding="utf-8")
    return path


def test_check_without_path_uses_the_apps_rules_path(tmp_path):
    custom = clean_copy(tmp_path / "custom.yaml")
    result = runner_for(custom).invoke(args=["rules", "check"])
    assert result.exit_code == 0, result.output
    summary = SUMMARY.match(result.stdout.splitlines()[0])
    assert summary
    assert Path(summary["file"]).resolve() == custom.resolve()
    assert summary["fingerprint"] == load_rules(custom).fingerprint != load_rules(RULES_PATH).fingerprint


def test_check_without_path_uses_dockwise_rules_path_from_the_environment(tmp_path, monkeypatch):
    custom = clean_copy(tmp_path / "from-env.yaml")
    monkeypatch.setenv("DOCKWISE_RULES_PATH", str(custom))
    result = create_app(TEST_CONFIG).test_cli_runner().invoke(args=["rules", "check"])
    assert result.exit_code == 0, result.output
    summary = SUMMARY.match(result.stdout.splitlines()[0])
    assert summary
    assert Path(summary["file"]).resolve() == custom.resolve()


def test_check_prints_warnings_on_stderr_and_still_passes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_edited(tmp_path / "rules.yaml", UNUSED_QUESTION)
    result = runner_for(RULES_PATH).invoke(args=["rules", "check", "rules.yaml"])
    assert result.exit_code == 0
    assert SUMMARY.match(result.stdout.splitlines()[0])
    line, col = position(path, "budget\n")
    assert result.stderr.splitlines() == [
        f"rules.yaml:{line}:{col}: warning: questions[2].id: question 'budget' is read by no rule "
        "(its answer never changes a result)"]


# --- rules test ------------------------------------------------------------------------------------------------------

def test_test_runs_every_scenario_in_file_order():
    result = runner_for(MINIMAL).invoke(args=["rules", "test"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    names = [scenario["name"] for scenario in MINIMAL_SPEC["scenarios"]]
    assert len(lines) == len(names) + 1
    for line, name in zip(lines[:-1], names, strict=True):
        assert line.startswith(f"PASS  {name} → ")
    assert lines[-1] == f"{len(names)} passed, 0 failed"


def test_test_shows_expected_and_actual_ranking_of_a_failing_scenario(tmp_path):
    path = write_edited(tmp_path / "rules.yaml", WRONG_EXPECTATION)
    result = runner_for(RULES_PATH).invoke(args=["rules", "test", str(path)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    name = "One machine, steady load"
    start = lines.index(f"FAIL  {name}: expected kubernetes, got docker")
    minimal = load_rules(MINIMAL)
    actual = evaluate(minimal, {"hosts": "one", "traffic": "steady"})
    ranking = ", ".join(f"{minimal.options[o].id} {actual.totals[o] / 1_000_000:g}" for o in actual.ranking)
    assert lines[start + 1] == f"      ranking: {ranking}"
    assert lines[start + 1].startswith("      ranking: docker ")
    assert lines[start + 2] == "      answers: hosts=one traffic=steady"
    assert sum(line.startswith("PASS  ") for line in lines) == len(MINIMAL_SPEC["scenarios"]) - 1
    assert lines[-1] == f"{len(MINIMAL_SPEC['scenarios']) - 1} passed, 1 failed"


# --- rules schema ----------------------------------------------------------------------------------------------------

def test_schema_prints_the_json_schema(runner):
    result = runner.invoke(args=["rules", "schema"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json_schema()


@pytest.mark.parametrize("flag", ["-o", "--output"])
def test_schema_writes_the_file(runner, tmp_path, flag):
    target = tmp_path / "rules.schema.json"
    result = runner.invoke(args=["rules", "schema", flag, str(target)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert json.loads(target.read_text(encoding="utf-8")) == json_schema()
    assert str(target) in result.stderr


def test_schema_into_a_missing_directory_is_a_clean_error(runner, tmp_path):
    target = tmp_path / "no-such-dir" / "rules.schema.json"
    result = runner.invoke(args=["rules", "schema", "-o", str(target)])
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), f"crashed with {result.exception!r}"
    assert str(target) in result.stderr


# --- recommend -------------------------------------------------------------------------------------------------------

def test_recommend_json_prints_only_the_result_document(cli, shipped_rules):
    result = cli("recommend", "--json", "services=few", "hosts=one")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert set(document) == DOCUMENT_KEYS
    assert document["answers"] == {"services": "few", "hosts": "one"}
    assert document["recommendation"] in {option["id"] for option in SHIPPED["options"]}
    assert document["rules_fingerprint"] == shipped_rules.fingerprint


def test_recommend_runs_under_flasks_bare_test_runner_like_the_rules_commands(runner):
    """`app.test_cli_runner()` pushes no app context; `rules …` get one from AppGroup, `recommend` must too."""
    result = runner.invoke(args=["recommend", "--json", "services=few"])
    assert result.exit_code == 0, f"crashed with {result.exception!r}"
    assert json.loads(result.stdout)["answers"] == {"services": "few"}


def test_recommend_json_stays_pure_when_the_rules_have_warnings(tmp_path):
    path = write_edited(tmp_path / "rules.yaml", UNUSED_QUESTION)
    result = invoker(create_app({**TEST_CONFIG, "RULES_PATH": str(path)}))("recommend", "--json", "hosts=one")
    assert result.exit_code == 0, result.output
    assert "read by no rule" in result.stderr
    assert set(json.loads(result.stdout)) == DOCUMENT_KEYS


def test_recommend_text_shows_recommendation_drivers_and_what_if(cli):
    answers = ["--rules", str(MINIMAL), "hosts=one"]  # Docker alone, driven by High Availability; many hosts change it
    document = json.loads(cli("recommend", "--json", *answers).stdout)
    assert document["drivers"]
    assert document["what_if"]
    result = cli("recommend", *answers)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith(f"Recommendation: {document['headline']}\n")
    assert "What drove it:" in text
    for driver in document["drivers"]:
        assert f"  {driver['label']} (" in text
        for reason in driver["reasons"]:
            assert f"    - {reason}" in text
    lines = text.splitlines()
    start = lines.index("What would change it:") + 1
    section = lines[start:lines.index("", start)]
    assert len(section) == len(document["what_if"])
    for line, change in zip(section, document["what_if"], strict=True):
        assert CHOICE_LABELS[change["question"], change["choice"]] in line
        assert line.endswith(f"→ {OPTION_LABELS[change['recommendation']]}")
    assert f"Rules fingerprint: {document['rules_fingerprint']}" in text


NEEDS_PATH = Path(__file__).resolve().parent / "data" / "needs.yaml"
NEEDS_TEXT = yaml.safe_load(NEEDS_PATH.read_text(encoding="utf-8"))
NEEDS_UNMET = {(q["id"], c["id"]): c.get("unmet", {}) for q in NEEDS_TEXT["questions"] for c in q["choices"]}


@pytest.mark.parametrize(("answers", "headline", "leaves_unmet", "sentence", "shares", "others"), [
    pytest.param(["hosts=one", "team=small", "traffic=spiky"],
                 "Docker alone — the best fit, but not every stated need is met",
                 [NEEDS_UNMET["traffic", "spiky"]["docker"]], None, None,
                 {"Docker alone": [NEEDS_UNMET["traffic", "spiky"]["docker"]],
                  "Docker Compose / Swarm": [NEEDS_UNMET["traffic", "spiky"]["compose"]]}, id="need unmet"),
    pytest.param(["hosts=one"], "Docker alone — a first lean — the open questions could still change it", [],
                 "Docker alone wins in 33 % of the ways your 2 open questions could be answered; the one that matters "
                 "most: How many engineers run it?", ["33 %", "0 %", "67 %"], {}, id="open questions"),
    pytest.param(["hosts=many"], "Kubernetes — a clear choice", [],
                 "Kubernetes wins in every way your 2 open questions could be answered.", ["0 %", "0 %", "100 %"],
                 {"Docker alone": [NEEDS_UNMET["hosts", "many"]["docker"]]}, id="clear"),
])
def test_recommend_text_says_unmet_needs_and_what_open_questions_could_change(cli, answers, headline, leaves_unmet,
                                                                              sentence, shares, others):
    result = cli("recommend", "--rules", str(NEEDS_PATH), *answers)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"Recommendation: {headline}"
    assert lines[1:1 + len(leaves_unmet)] == [f"  Leaves unmet — {text}" for text in leaves_unmet]
    assert not any("Leaves unmet" in line for line in lines[1 + len(leaves_unmet):])
    if sentence:
        start = lines.index("Open questions:") + 1
        assert lines[start] == f"  {sentence}"
        labels = [option["label"] for option in NEEDS_TEXT["options"]]
        assert [line.split()[-2] + " %" for line in lines[start + 1:start + 4]] == shares
        assert [line.strip().startswith(label) for line, label in zip(lines[start + 1:start + 4], labels)] == [True] * 3
    else:
        assert "Open questions:" not in lines
    if others:
        start = lines.index("Needs each option leaves unmet:") + 1
        section = lines[start:lines.index("", start)]
        expected = []
        for label, texts in others.items():
            expected += [f"  {label}:"] + [f"    - {text}" for text in texts]
        assert section == expected
    else:
        assert "Needs each option leaves unmet:" not in lines


def test_recommend_without_answers_recommends_nothing_but_json_keeps_the_document(cli):
    text = cli("recommend", "--rules", str(NEEDS_PATH)).stdout
    assert text.startswith("No recommendation yet: answer a few questions first.\n")
    assert "Recommendation:" not in text
    assert "What would change it:" not in text
    assert "  Over every way to answer all 3 questions:" in text
    document = json.loads(cli("recommend", "--json", "--rules", str(NEEDS_PATH)).stdout)
    assert set(document) == DOCUMENT_KEYS
    assert document["closeness"] == "unanswered"
    assert document["open"]["questions"] == ["team", "hosts", "traffic"]


@pytest.mark.parametrize(("answers", "expected"), [
    (["servces=few"], ["unknown question 'servces'", "did you mean 'services'?"]),
    (["services=fwe"], ["'services' has no choice 'fwe'", "did you mean 'few'?"]),
    (["services=few", "hosts=mnay"], ["'hosts' has no choice 'mnay'", "did you mean 'many'?"]),
    (["servces=few", "hosts=mnay"], ["unknown question 'servces'", "'hosts' has no choice 'mnay'"]),
], ids=["question", "choice", "second-pair", "both-reported"])
def test_recommend_unknown_answers_are_named_with_a_hint(cli, answers, expected):
    result = cli("recommend", *answers)
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    for fragment in expected:
        assert fragment in result.stderr


@pytest.mark.parametrize("pair", ["services", "=few", "services="])
def test_recommend_malformed_pair_is_a_usage_error(cli, pair):
    result = cli("recommend", "services=few", pair)
    assert result.exit_code == 2
    assert "Usage:" in result.stderr
    assert f"'{pair}' is not QUESTION=CHOICE" in result.stderr
    assert result.stdout == ""


def test_recommend_same_question_with_different_choices_is_an_error(cli):
    result = cli("recommend", "services=few", "hosts=one", "services=one")
    assert result.exit_code == 2
    assert "'services' is given twice with different choices" in result.stderr
    assert result.stdout == ""


def test_recommend_same_question_repeated_with_the_same_choice_is_accepted(cli):
    result = cli("recommend", "--json", "services=few", "services=few")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["answers"] == {"services": "few"}


def test_recommend_with_rules_option_uses_that_file(cli, tmp_path):
    path = write_edited(tmp_path / "custom.yaml", RENAMED_DOCKER)
    result = cli("recommend", "--rules", str(path), "hosts=one")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Recommendation: Docker, renamed for this test — ")
    assert f"Rules fingerprint: {load_rules(path).fingerprint}" in result.stdout


def test_recommend_with_missing_rules_file(cli, tmp_path):
    result = cli("recommend", "--rules", str(tmp_path / "missing.yaml"), "services=few")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "file not found" in result.stderr


# --- rules read from git (REV:PATH), the same way by every command ----------------------------------------------------

def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false",
                    *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def git_rules(tmp_path, monkeypatch) -> Path:
    """A repository whose HEAD has minimal.yaml as rules.yaml (and a broken copy); the working copy fails its
    scenarios."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    rules = repo / "rules.yaml"
    rules.write_text(MINIMAL_TEXT, encoding="utf-8")
    write_edited(repo / "broken.yaml", MISSPELT_CHOICE)
    git(repo, "init", "-q")
    git(repo, "add", "rules.yaml", "broken.yaml")
    git(repo, "commit", "-q", "-m", "rules")
    write_edited(rules, RENAMED_DOCKER, WRONG_EXPECTATION)
    monkeypatch.chdir(tmp_path)      # not the repository: git runs where the app's rules file is
    return rules


@pytest.mark.parametrize(("args", "shown"), [
    (["rules", "check", "HEAD:rules.yaml"], "HEAD:rules.yaml: OK"),
    (["rules", "test", "HEAD:rules.yaml"], " 0 failed"),
    (["recommend", "--rules", "HEAD:rules.yaml", "hosts=one"], "Recommendation: Docker alone"),
    (["recommend", "--json", "--rules", "HEAD:rules.yaml", "hosts=one"], '"rules_fingerprint": '),
], ids=["check", "test", "recommend", "recommend-json"])
def test_commands_read_rules_from_a_git_revision(git_rules, args, shown):
    committed = load_rules(MINIMAL).fingerprint
    result = invoker(create_app({**TEST_CONFIG, "RULES_PATH": str(git_rules)}))(*args)
    assert result.exit_code == 0, result.output
    assert shown in result.stdout
    assert "renamed for this test" not in result.stdout      # the committed version, not the working copy
    if "--json" in args:
        assert json.loads(result.stdout)["rules_fingerprint"] == committed
    if "check" in args:
        assert f"fingerprint {committed}" in result.stdout.splitlines()[0]


@pytest.mark.parametrize("args", [
    ["rules", "check", "NOSUCHREV:rules.yaml"], ["rules", "test", "HEAD:missing.yaml"],
    ["rules", "explore", "HEAD~3:rules.yaml"], ["rules", "diff", "NOSUCHREV:rules.yaml"],
    ["recommend", "--rules", "NOSUCHREV:rules.yaml", "hosts=one"],
], ids=["check", "test", "explore", "diff", "recommend"])
def test_a_revision_git_cannot_show_is_a_clear_error(git_rules, args):
    spec = next(arg for arg in args if ":" in arg)
    result = invoker(create_app({**TEST_CONFIG, "RULES_PATH": str(git_rules)}))(*args)
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), f"crashed with {result.exception!r}"
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {spec}: cannot read it from git: ")


def test_errors_in_a_revision_are_named_after_it(git_rules):
    result = invoker(create_app({**TEST_CONFIG, "RULES_PATH": str(git_rules)}))("rules", "check", "HEAD:broken.yaml")
    assert result.exit_code == 1
    assert result.stdout == ""
    errors = error_lines(result.stderr)
    assert [(e["file"], int(e["line"]), int(e["col"])) for e in errors] == [
        ("HEAD:broken.yaml", *position(git_rules.parent / "broken.yaml", "oen}"))]
    assert result.stderr.splitlines()[-1] == "1 error(s) in HEAD:broken.yaml"


# --- a broken default rules file -------------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["rules", "check"], ["rules", "test"], ["recommend", "hosts=one"], ["recommend", "--json", "hosts=one"],
], ids=["check", "test", "recommend", "recommend-json"])
def test_commands_report_a_broken_default_rules_file(broken_rules, args):
    app = create_app({**TEST_CONFIG, "RULES_PATH": str(broken_rules)})  # must not raise on broken rules
    result = invoker(app)(*args)
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), f"crashed with {result.exception!r}"
    assert result.stdout == ""
    errors = error_lines(result.stderr)
    assert {(e["file"], int(e["line"]), int(e["col"])) for e in errors} == {
        ("broken.yaml", *position(broken_rules, "oen}")), ("broken.yaml", *position(broken_rules, "wieght: 2"))}


def test_schema_needs_no_rules_file(broken_rules):
    result = runner_for(broken_rules).invoke(args=["rules", "schema"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json_schema()


# --- the real `flask` executable ------------------------------------------------------------------------------------

def run_flask(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    flask = Path(sys.executable).with_name("flask")
    assert flask.exists(), f"no flask executable next to {sys.executable}"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "DOCKWISE_"))}
    return subprocess.run([str(flask), "--app", "app", *args], cwd=ROOT,
                          env={**clean, "DOCKWISE_SECRET_KEY": "test" * 8, **(env or {})},
                          capture_output=True, text=True, timeout=60, check=False)


def test_flask_executable_finds_app_py_from_the_repo_root():
    completed = run_flask("rules", "check")
    assert "Traceback" not in completed.stderr
    lines = completed.stdout.splitlines()
    assert SUMMARY.match(lines[0])
    assert completed.stdout.startswith("rules.yaml: OK")
    ordering = MONOTONICITY.match(lines[1])
    assert ordering, lines[1]
    assert completed.returncode == (0 if ordering["violations"] == "0" else 1), completed.stderr


def test_flask_executable_reports_broken_rules_named_in_the_environment(broken_rules):
    completed = run_flask("rules", "check", env={"DOCKWISE_RULES_PATH": str(broken_rules)})
    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr
    assert completed.stdout == ""
    assert len(error_lines(completed.stderr)) == 2


@pytest.mark.parametrize(("name", "value"), [("PROXY_FIX", "abc"), ("PUBLIC_URL", "ftp://example.com"),
                                             ("SECRET_KEY", "short")])
def test_a_setting_it_cannot_use_is_one_error_line_not_a_traceback(name, value):
    completed = run_flask("rules", "check", env={f"DOCKWISE_{name}": value})
    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr
    assert completed.stderr.startswith(f"Error: DOCKWISE_{name}")
