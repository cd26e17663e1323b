"""Loading rules files: every defect is reported where it is and how to fix it; the shipped file is sound."""

from __future__ import annotations

import json
import re
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from recommender import RulesError, RulesSyntaxError, RulesValidationError, load_rules, load_rules_text
from recommender.model import json_schema
from recommender.scenarios import run_scenarios
from recommender.source import MAX_BYTES, MAX_DEPTH

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
BROKEN = DATA / "broken"
MINIMAL = DATA / "minimal.yaml"
RULES_PATH = ROOT / "rules.yaml"
SCHEMA_PATH = ROOT / "rules.schema.json"
TABLE_PATH = ROOT.parent / "shared" / "docker-vs-kubernetes.md"
SCHEMA_COMMENT = "# yaml-language-server: $schema=rules.schema.json"

MINIMAL_TEXT = MINIMAL.read_text(encoding="utf-8")
SHIPPED_TEXT = RULES_PATH.read_text(encoding="utf-8")


def edit(text: str, old: str, new: str) -> str:
    """Replace the one occurrence of `old`; fail loudly if the edit would silently do nothing."""
    assert text.count(old) == 1, f"expected exactly one {old!r} in the text"
    return text.replace(old, new)


# --- Broken files ---------------------------------------------------------------------------------------------------
# Per file: the exception class, then each expected issue as (line, column, location, message part, hint part),
# in the order they must be reported. A hint part of None means the issue is not required to carry a hint.

SYNTAX, INVALID = RulesSyntaxError, RulesValidationError

BROKEN_CASES = {
    "yaml_syntax.yaml": (SYNTAX, [
        (58, 27, "(top level)", "YAML syntax error: mapping values are not allowed",
         "check indentation, colons and quotes"),
    ]),
    "duplicate_key.yaml": (SYNTAX, [
        (25, 5, "criteria[1].weight", "duplicate key 'weight' (first defined on line 24)",
         "YAML would silently keep only the last"),
    ]),
    "bool_value.yaml": (SYNTAX, [
        (43, 14, "questions[2].choices[0].id", "unquoted yes is read by YAML as the boolean true", "quote it: 'yes'"),
    ]),
    "bool_key.yaml": (SYNTAX, [
        (59, 12, "rules[2].when.off", "the key off is read by YAML as the boolean false", "quote it: 'off'"),
    ]),
    "python_tag.yaml": (SYNTAX, [
        (45, 14, "rules[0].because", "the tag !!python/object/apply:os.system is not allowed",
         "rules files hold plain text, numbers, lists and mappings"),
    ]),
    "date.yaml": (SYNTAX, [
        (64, 11, "scenarios[1].name", "a date or time is not allowed here", "quote it: '2024-06-01'"),
    ]),
    "alias.yaml": (SYNTAX, [
        (25, 12, "(top level)", "aliases (*texts) are not allowed", "write the value out in full"),
    ]),
    "deep_nesting.yaml": (SYNTAX, [
        (43, 89, "(top level)", f"nesting is deeper than {MAX_DEPTH} levels", "flatten the conditions"),
    ]),
    "wrong_type.yaml": (INVALID, [
        (24, 13, "criteria[1].weight", "input should be a valid number", None),
    ]),
    "missing_field.yaml": (INVALID, [
        (41, 5, "rules[0].because", "missing field 'because'", "add it"),
    ]),
    "unknown_field.yaml": (INVALID, [
        (41, 5, "rules[0].because", "missing field 'because'", "add it"),
        (45, 5, "rules[0].becuase", "unknown field 'becuase'", "did you mean 'because'?"),
    ]),
    "duplicate_ids.yaml": (INVALID, [
        (12, 9, "options[2].id", "duplicate option id 'compose' (first defined on line 9)", "must be unique"),
        (37, 13, "questions[0].choices[2].id", "duplicate choice id 'one'", "must be unique within a question"),
        (45, 9, "questions[2].id", "duplicate question id 'hosts' (first defined on line 30)", "must be unique"),
        (60, 9, "rules[2].id", "duplicate rule id 'one-host' (first defined on line 49)", "must be unique"),
    ]),
    "unknown_references.yaml": (INVALID, [
        (43, 19, "rules[0].when.hosts", "'hosts' has no choice 'onee'", "did you mean 'one'?"),
        (47, 16, "rules[1].criterion", "unknown criterion 'high_availabilty'", "did you mean 'high_availability'?"),
        (50, 15, "rules[1].exclude[0]", "unknown option 'dokcer'", "did you mean 'docker'?"),
        (55, 7, "rules[2].when.trafic", "unknown question 'trafic'", "did you mean 'traffic'?"),
        (61, 36, "scenarios[0].answers.traffic", "'stedy'", "did you mean 'steady'?"),
    ]),
    "never_holds.yaml": (INVALID, [
        (43, 11, "rules[0].when", "the condition of rule 'one-host' can never hold",
         "a question has one answer at a time"),
    ]),
    "reserved_id.yaml": (INVALID, [
        (40, 9, "questions[2].id", "'any' is reserved for conditions", "choose another question id"),
    ]),
    "no_effect.yaml": (INVALID, [
        (52, 5, "rules[2]", "rule 'spiky-load' neither scores nor excludes anything", "give it `scores` or `exclude`"),
    ]),
    "empty.yaml": (SYNTAX, [
        (1, 1, "(top level)", "file is empty", "start from the shipped rules.yaml"),
    ]),
    "top_level_list.yaml": (INVALID, [
        (2, 1, "(top level)", "the file must be a mapping", "start from the shipped rules.yaml"),
    ]),
    "unknown_section.yaml": (INVALID, [
        (59, 1, "scenario", "unknown top-level field 'scenario'", "did you mean 'scenarios'?"),
    ]),
    "not_utf8.yaml": (SYNTAX, [
        (13, 1, "(top level)", "file is not valid UTF-8", "save it as UTF-8"),
    ]),
    "missing_section.yaml": (INVALID, [
        (2, 1, "(top level)", "missing section 'questions'", "add it as a list"),
        (26, 1, "question", "unknown top-level field 'question'", "did you mean 'questions'?"),
    ]),
    "multiple_errors.yaml": (SYNTAX, [
        (21, 7, "criteria[0].texts.kubernets", "unknown option 'kubernets'", "did you mean 'kubernetes'?"),
        (43, 11, "rules[0].when", "the condition of rule 'one-host' can never hold", "one answer at a time"),
        (47, 16, "rules[1].criterion", "unknown criterion 'high_availabilty'", "did you mean 'high_availability'?"),
        (52, 5, "rules[2].because", "missing field 'because'", "add it"),
        (58, 5, "rules[2].becuase", "unknown field 'becuase'", "did you mean 'because'?"),
        (63, 5, "scenarios[0].expect", "duplicate key 'expect' (first defined on line 62)", "remove one of them"),
    ]),
}

def broken_params() -> list:
    return [pytest.param(name, error_class, expected, id=name.removesuffix(".yaml"))
            for name, (error_class, expected) in BROKEN_CASES.items()]


def load_issues(name: str, error_class: type[RulesError]) -> tuple[Path, RulesError]:
    path = BROKEN / name
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    error = caught.value
    assert type(error) is error_class, f"{name}: expected {error_class.__name__}, got {type(error).__name__}:\n{error}"
    return path, error


def test_every_broken_file_has_a_case_and_says_what_is_wrong():
    files = sorted(path.name for path in BROKEN.glob("*.yaml"))
    assert files == sorted(BROKEN_CASES)
    for name in files:
        head = (BROKEN / name).read_bytes().splitlines()[:2]
        assert any(line.startswith(b"# Broken: ") for line in head), f"{name}: line 1 or 2 must say what is broken"


def test_both_error_kinds_are_rules_errors():
    assert issubclass(RulesSyntaxError, RulesError)
    assert issubclass(RulesValidationError, RulesError)
    assert not issubclass(RulesSyntaxError, RulesValidationError)
    assert not issubclass(RulesValidationError, RulesSyntaxError)


def test_minimal_file_loads_cleanly_and_its_scenarios_pass():
    ruleset = load_rules(MINIMAL)
    assert ruleset.warnings == ()
    assert [outcome.winner for outcome in run_scenarios(ruleset)] == ["docker", "kubernetes"]
    assert all(outcome.passed for outcome in run_scenarios(ruleset))


@pytest.mark.parametrize(("name", "error_class", "expected"), broken_params())
def test_broken_file_reports_each_issue_where_it_is(name, error_class, expected):
    path, error = load_issues(name, error_class)
    issues = error.issues
    listing = "\n".join(str(issue) for issue in issues)
    assert [(i.line, i.column) for i in issues] == sorted((i.line, i.column) for i in issues), listing
    # The exception's text is what the CLI prints: one line per issue.
    assert str(error).splitlines() == [str(issue) for issue in issues]
    position = 0
    for line, column, location, message, hint in expected:
        while position < len(issues) and (issues[position].line, issues[position].column,
                                          issues[position].location) != (line, column, location):
            position += 1
        assert position < len(issues), f"no issue at {line}:{column} {location} (in this order) among:\n{listing}"
        issue = issues[position]
        position += 1
        assert message in issue.message, listing
        text = str(issue)
        assert text.startswith(f"{path}:{line}:{column}: {location}: {issue.message}"), text
        if hint is not None:
            assert issue.hint is not None, listing
            assert hint in issue.hint, listing
            assert text.endswith(f" ({issue.hint})"), text


@pytest.mark.parametrize(("name", "error_class", "expected"), broken_params())
def test_broken_file_reports_nothing_else(name, error_class, expected):
    """One defect, one report: no follow-on issue that sends the reader to a line that is fine."""
    _, error = load_issues(name, error_class)
    assert [(i.line, i.column, i.location) for i in error.issues] == [e[:3] for e in expected], str(error)


def test_text_and_path_report_the_same_issues():
    for path in sorted(BROKEN.glob("*.yaml")):
        with pytest.raises(RulesError) as from_path:
            load_rules(path, display_name=path.name)
        with pytest.raises(RulesError) as from_text:
            load_rules_text(path.read_bytes(), path.name)
        assert from_text.value.issues == from_path.value.issues, path.name


def test_missing_file_is_reported_with_its_name(tmp_path):
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(RulesSyntaxError) as caught:
        load_rules(path)
    assert str(caught.value) == f"{path}:1:1: (top level): file not found (check the path)"


def padded_minimal(size: int) -> bytes:
    """minimal.yaml grown to exactly `size` bytes with comment lines: still a valid rules file in every other way."""
    data = MINIMAL_TEXT.encode()
    remaining = size - len(data)
    assert remaining > 1
    line = b"#" + b"x" * 78 + b"\n"
    data += line * (remaining // len(line))
    rest = remaining % len(line)
    data += b"\n" if rest == 1 else (b"#" + b"x" * (rest - 2) + b"\n" if rest else b"")
    assert len(data) == size
    return data


@pytest.mark.parametrize("via", ["path", "text"])
def test_file_over_1_mib_is_refused_and_1_mib_is_not(tmp_path, via):
    def load(data: bytes):
        if via == "text":
            return load_rules_text(data, "big.yaml")
        path = tmp_path / "big.yaml"
        path.write_bytes(data)
        return load_rules(path, display_name="big.yaml")

    assert load(padded_minimal(MAX_BYTES)).warnings == ()
    with pytest.raises(RulesSyntaxError) as caught:
        load(padded_minimal(MAX_BYTES + 1))
    assert str(caught.value) == ("big.yaml:1:1: (top level): file is larger than 1 MiB "
                                 "(a rules file is a few hundred lines)")


def nested_when(depth: int) -> str:
    """minimal.yaml with the first rule's condition wrapped in `not`s until its innermost mapping is `depth` deep."""
    # The top-level mapping, `rules`, the rule and `when` are four levels; each `not: {` adds one.
    nots = depth - 4
    return edit(MINIMAL_TEXT, "    when: {hosts: one}", "    when: " + "{not: " * nots + "{hosts: one}" + "}" * nots)


def test_nesting_up_to_the_limit_loads():
    ruleset = load_rules_text(nested_when(MAX_DEPTH))
    assert [o.winner for o in run_scenarios(ruleset)] == ["docker", "kubernetes"]  # an even number of `not`s


def test_nesting_past_the_limit_is_refused():
    with pytest.raises(RulesSyntaxError) as caught:
        load_rules_text(nested_when(MAX_DEPTH + 1), "deep.yaml")
    (issue,) = caught.value.issues
    assert (issue.line, issue.message) == (43, f"nesting is deeper than {MAX_DEPTH} levels")


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_text_is_reported_as_empty(text):
    with pytest.raises(RulesSyntaxError) as caught:
        load_rules_text(text, "empty.yaml")
    assert str(caught.value) == "empty.yaml:1:1: (top level): file is empty (start from the shipped rules.yaml)"


# --- Warnings -------------------------------------------------------------------------------------------------------

def test_warnings_are_listed_in_line_order_and_do_not_stop_loading():
    text = edit(MINIMAL_TEXT, "    weight: 1.0\n", "    weight: 0\n")
    text = edit(text, "    texts: {docker: Limited., kubernetes: Built in.}\n",
                "    texts: {docker: Limited., kubernetes: Built in.}\n  - id: networking\n    label: Networking\n")
    text = edit(text, "rules:\n", "  - id: team_size\n    text: How many engineers?\n"
                                  "    choices: [{id: solo, label: Just me}, {id: team, label: A team}]\nrules:\n")
    ruleset = load_rules_text(text, "warn.yaml")
    assert ruleset.warnings == (
        "warn.yaml:18:13: warning: criteria[0].weight: criterion 'scaling' has weight 0 (its rules change nothing)",
        "warn.yaml:26:9: warning: criteria[2].id: criterion 'networking' has no rules (it can never drive a result)",
        "warn.yaml:42:9: warning: questions[2].id: question 'team_size' is read by no rule "
        "(its answer never changes a result)",
    )
    assert [o.passed for o in run_scenarios(ruleset)] == [True, True]


# --- The shipped rules ----------------------------------------------------------------------------------------------

def test_shipped_rules_load_without_warnings(shipped_rules):
    assert shipped_rules.warnings == ()


def test_shipped_scenarios_all_pass(shipped_rules):
    failures = [f"{o.scenario.name}: expected {' or '.join(o.scenario.expect)}, got {o.winner}"
                for o in run_scenarios(shipped_rules) if not o.passed]
    assert failures == []


def test_shipped_file_starts_with_the_schema_comment():
    assert SHIPPED_TEXT.splitlines()[0] == SCHEMA_COMMENT


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
# The ordering contract: choices least demanding first; these questions alone are exempt (docs/rules-format.md).
EXEMPT_QUESTIONS = ["storage"]


def test_shipped_options_are_docker_compose_kubernetes_in_that_order(shipped_rules):
    assert [o.id for o in shipped_rules.options] == ["docker", "compose", "kubernetes"]


def test_shipped_questions_and_choices_are_the_agreed_ids_least_demanding_first(shipped_rules):
    actual = {q.id: [c.id for c in q.choices] for q in shipped_rules.questions}
    assert list(actual.items()) == list(EXPECTED_QUESTIONS.items())


def test_at_most_two_shipped_questions_are_exempt_from_the_ordering_contract_each_with_its_reason(shipped_rules):
    exempt = [q.id for q in shipped_rules.questions if not q.ordered]
    assert exempt == EXEMPT_QUESTIONS
    assert len(exempt) <= 2
    docs = (ROOT / "docs" / "rules-format.md").read_text(encoding="utf-8")
    assert all(f"| `{qid}` |" in docs for qid in exempt)


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


def test_shipped_criteria_are_the_table_rows_word_for_word(shipped_rules, comparison_table):
    assert len(comparison_table) == 12
    actual = [(c.label, c.texts.get("docker"), c.texts.get("kubernetes")) for c in shipped_rules.criteria]
    assert actual == comparison_table


def test_every_shipped_criterion_has_a_rule(shipped_rules):
    used = {rule.rule.criterion for rule in shipped_rules.rules}
    assert [c.id for c in shipped_rules.criteria if c.id not in used] == []


def test_shipped_scenarios_cover_every_option_and_every_criterion(shipped_rules):
    outcomes = run_scenarios(shipped_rules)
    assert len(outcomes) >= 40
    assert {o.winner for o in outcomes if o.passed} == {o.id for o in shipped_rules.options}
    fired_rows = {shipped_rules.rules[r].rule.criterion for o in outcomes for r in o.result.fired}
    assert [c.id for c in shipped_rules.criteria if c.id not in fired_rows] == []


# --- Fingerprint ----------------------------------------------------------------------------------------------------

def reverse_keys(value):
    if isinstance(value, dict):
        return {key: reverse_keys(value[key]) for key in reversed(value)}
    if isinstance(value, list):
        return [reverse_keys(item) for item in value]
    return value


def unindent_lists(text: str) -> str:
    """Write the top-level lists in the other common style, `options:` followed by `- id:` in column 1."""
    lines, in_list = [], False
    for line in text.splitlines(keepends=True):
        if re.match(r"[a-z]", line):
            in_list = line.rstrip().endswith(":") and line.split(":")[0] in SECTION_LISTS
        lines.append(line.removeprefix("  ") if in_list else line)
    return "".join(lines)


SECTION_LISTS = ("options", "criteria", "questions", "rules", "scenarios")

# Rewrites that keep the meaning of any rules file.
SAME_MEANING = {
    "comments added": lambda t: re.sub(r"(?m)\}$", "}  # note", re.sub(r"(?m)^(?=[a-z])", "# section\n", t)),
    "comments removed": lambda t: re.sub(r"(?m)^ *#.*\n", "", t),
    "nested lines indented two more": lambda t: re.sub(r"(?m)^(?= )", "  ", t),
    "section lists not indented": unindent_lists,
    "all flow style (JSON)": lambda t: json.dumps(yaml.safe_load(t), ensure_ascii=False),
    "all block style, keys sorted": lambda t: yaml.safe_dump(yaml.safe_load(t), sort_keys=True, indent=4,
                                                             default_flow_style=False, allow_unicode=True, width=1000),
    "keys in reverse order": lambda t: json.dumps(reverse_keys(yaml.safe_load(t)), indent=1),
    "scenario sources changed": lambda t: re.sub(r"(?m)^(    source: ).*$", r"\1Another reference.", t),
    "scenarios removed": lambda t: t[: t.index("\nscenarios:")] + "\n",
}

# Edits of minimal.yaml that keep its meaning.
SAME_MEANING_MINIMAL = {
    "a rule's keys reordered": ("    when: {hosts: one}\n    scores: {docker: 2, compose: 1}\n",
                                "    scores: {docker: 2, compose: 1}\n    when: {hosts: one}\n"),
    "flow mapping written as block": ("    texts: {docker: Limited., kubernetes: Built in.}",
                                      "    texts:\n      docker: Limited.\n      kubernetes: Built in."),
    "block list written as flow": ("      - id: one\n        label: One machine\n      - id: many\n"
                                   "        label: Many machines\n",
                                   "      [{id: one, label: One machine}, {id: many, label: Many machines}]\n"),
    "a label quoted": ("    label: Scaling\n", '    label: "Scaling"\n'),
    "a weight written as an integer": ("    weight: 1.0\n", "    weight: 1\n"),
    "a scenario's expectation changed": ("    expect: docker\n", "    expect: [docker, compose]\n"),
}

DOCKER_OPTION = "  - id: docker\n    label: Docker alone\n    summary: Run each container by hand.\n"
COMPOSE_OPTION = "  - id: compose\n    label: Docker Compose / Swarm\n    summary: Describe the stack in one file.\n"

# Edits of minimal.yaml that change what a user is told or recommended.
CHANGED_MEANING_MINIMAL = {
    "a weight": ("    weight: 1.5", "    weight: 2.0"),
    "an option label": ("    label: Docker alone", "    label: Plain Docker"),
    "an option summary": ("    summary: Run each container by hand.", "    summary: Run each container by script."),
    "a criterion label": ("    label: High Availability", "    label: Availability"),
    "a criterion text": ("      docker: Scaling is manual.", "      docker: Scaling is by hand."),
    "a question text": ("    text: How does the load change?", "    text: How does the load vary?"),
    "a question help": ("    help: Think of the busiest day.", "    help: Think of the quietest day."),
    "a choice label": ("        label: One machine", "        label: A single machine"),
    "the choice order": ("      - {id: steady, label: It stays the same}\n      - {id: spiky, label: It jumps}",
                         "      - {id: spiky, label: It jumps}\n      - {id: steady, label: It stays the same}"),
    "a rule's scores": ("    scores: {docker: 2, compose: 1}", "    scores: {docker: 3, compose: 1}"),
    "a rule's exclusions": ("    exclude: [docker]\n", ""),
    "a rule's condition": ("    when: {hosts: many}", "    when: {hosts: many, traffic: spiky}"),
    "a because text": ("    because: One machine needs no orchestrator.", "    because: One machine needs no cluster."),
    "the closeness threshold": ("  close: 1.0", "  close: 0.5"),
    "the option order": (DOCKER_OPTION + COMPOSE_OPTION, COMPOSE_OPTION + DOCKER_OPTION),
}

CHANGED_MEANING_SHIPPED = {
    "a weight": ("    weight: 1.5\n", "    weight: 2.0\n"),
    "a because text": ("because: A single container needs no orchestrator;",
                       "because: One container needs no orchestrator;"),
}


@pytest.mark.parametrize("base", ["minimal", "shipped"])
@pytest.mark.parametrize("rewrite", list(SAME_MEANING))
def test_fingerprint_ignores_form_and_scenarios(base, rewrite):
    text = MINIMAL_TEXT if base == "minimal" else SHIPPED_TEXT
    variant = SAME_MEANING[rewrite](text)
    assert variant != text
    assert load_rules_text(variant).fingerprint == load_rules_text(text).fingerprint


@pytest.mark.parametrize(("old", "new"), list(SAME_MEANING_MINIMAL.values()), ids=list(SAME_MEANING_MINIMAL))
def test_fingerprint_ignores_equivalent_edits(old, new):
    assert load_rules_text(edit(MINIMAL_TEXT, old, new)).fingerprint == load_rules_text(MINIMAL_TEXT).fingerprint


@pytest.mark.parametrize(
    ("base", "old", "new"),
    [pytest.param(text, old, new, id=f"{label}-{name}")
     for label, text, edits in (("minimal", MINIMAL_TEXT, CHANGED_MEANING_MINIMAL),
                                ("shipped", SHIPPED_TEXT, CHANGED_MEANING_SHIPPED))
     for name, (old, new) in edits.items()],
)
def test_fingerprint_changes_with_content(base, old, new):
    assert load_rules_text(edit(base, old, new)).fingerprint != load_rules_text(base).fingerprint


# --- Schema ---------------------------------------------------------------------------------------------------------

def test_committed_schema_matches_the_models():
    committed = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert committed == json_schema(), "rules.schema.json is out of date: run `flask rules schema -o rules.schema.json`"


def schema_fields(node, where="schema"):
    """Every (place, property schema) under a `properties` mapping, anywhere in the schema."""
    if isinstance(node, dict):
        for name, field in node.get("properties", {}).items():
            yield f"{where}.{name}", field
        for key, value in node.items():
            yield from schema_fields(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from schema_fields(value, f"{where}[{index}]")


def test_every_schema_field_is_described():
    schema = json_schema()
    fields = dict(schema_fields(schema))
    assert {"schema.rules", "schema.$defs.Rule.because", "schema.$defs.Condition.not"} <= set(fields)
    assert [where for where, field in fields.items() if not field.get("description")] == []
    assert [name for name, definition in schema["$defs"].items() if not definition.get("description")] == []


# --- Immutability ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("target", "attribute", "error"),
    [
        (lambda r: r.model, "version", ValidationError),
        (lambda r: r.model.options[0], "label", ValidationError),
        (lambda r: r.model.criteria[0], "weight", ValidationError),
        (lambda r: r.model.questions[0].choices[0], "label", ValidationError),
        (lambda r: r.model.rules[0], "because", ValidationError),
        (lambda r: r.model.closeness, "close", ValidationError),
        (lambda r: r, "fingerprint", FrozenInstanceError),
        (lambda r: r.rules[0], "points", FrozenInstanceError),
    ],
    ids=["rules-file", "option", "criterion", "choice", "rule", "closeness", "ruleset", "compiled-rule"],
)
def test_loaded_rules_cannot_be_changed(shipped_rules, target, attribute, error):
    obj = target(shipped_rules)
    before = getattr(obj, attribute)
    with pytest.raises(error):
        setattr(obj, attribute, "changed")
    assert getattr(obj, attribute) == before


def test_loaded_sections_are_tuples(shipped_rules):
    model = shipped_rules.model
    for section in (model.options, model.criteria, model.questions, model.rules, model.scenarios,
                    model.questions[0].choices):
        assert isinstance(section, tuple)


@pytest.mark.parametrize(
    "mapping",
    [
        lambda r: r.model.criteria[0].texts,
        lambda r: r.model.rules[0].scores,
        lambda r: r.model.rules[0].when,
        lambda r: r.model.scenarios[0].answers,
    ],
    ids=["criterion-texts", "rule-scores", "rule-when", "scenario-answers"],
)
def test_mappings_inside_loaded_rules_cannot_be_changed(mapping):
    ruleset = load_rules(RULES_PATH)  # a private copy: the test must not spoil the shared fixture if it fails
    target = mapping(ruleset)
    key = next(iter(target))
    with pytest.raises(TypeError):
        target[key] = "changed"


@pytest.mark.parametrize(("edit", "message"), [
    ("scores: {docker: .inf}", "finite number"),
    ("scores: {docker: .nan}", "finite number"),
    ("scores: {docker: 1e9}", "less than or equal to 1000"),
])
def test_scores_must_be_finite_and_bounded(edit, message):
    text = RULES_PATH.read_text(encoding="utf-8").replace("scores: {docker: 2}", edit, 1)
    assert edit in text
    with pytest.raises(RulesValidationError) as caught:
        load_rules_text(text)
    assert len(caught.value.issues) == 1
    assert message in caught.value.issues[0].message


# --- Ordering and needs ---------------------------------------------------------------------------------------------

def test_unmet_need_naming_an_unknown_option_is_reported_where_it_is_with_a_hint():
    text = edit(MINIMAL_TEXT, "      - {id: spiky, label: It jumps}",
                "      - id: spiky\n        label: It jumps\n        unmet: {compse: Swarm has no autoscaler.}")
    with pytest.raises(RulesValidationError) as raised:
        load_rules_text(text, "needs.yaml")
    [issue] = raised.value.issues
    assert (issue.location, issue.message, issue.hint) == (
        "questions[1].choices[1].unmet.compse", "unknown option 'compse'", "did you mean 'compose'?")
    assert (issue.line, issue.column) == (41, 17)


def test_unmet_needs_and_order_are_read_into_the_immutable_model():
    text = edit(MINIMAL_TEXT, "      - {id: spiky, label: It jumps}",
                "      - id: spiky\n        label: It jumps\n        unmet: {compose: Swarm has no autoscaler.}")
    text = edit(text, "  - id: traffic\n", "  - id: traffic\n    ordered: false\n")
    ruleset = load_rules_text(text)
    traffic = ruleset.questions[1]
    assert (traffic.ordered, ruleset.questions[0].ordered) == (False, True)
    assert dict(traffic.choices[1].unmet) == {"compose": "Swarm has no autoscaler."}
    with pytest.raises(TypeError):
        traffic.choices[1].unmet["docker"] = "x"  # type: ignore[index]
    assert load_rules_text(text).fingerprint != load_rules_text(MINIMAL_TEXT).fingerprint
