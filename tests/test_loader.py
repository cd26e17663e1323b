"""Loading rules files: every defect is reported where it is and how to fix it.

That the shipped file is sound (no warnings, its scenarios passing, the agreed questions and rows) is pinned in
test_shipped_rules.py; the shipped file appears here only as a large realistic input.
"""

from __future__ import annotations

import json
import re
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from shipped import RULES_PATH

from recommender import RulesError, RulesSyntaxError, RulesValidationError, load_rules, load_rules_text
from recommender.model import Site, json_schema
from recommender.ruleset import ACCENTS
from recommender.scenarios import run_scenarios
from recommender.source import MAX_BYTES, MAX_DEPTH

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
BROKEN = DATA / "broken"
MINIMAL = DATA / "minimal.yaml"
SCHEMA_PATH = ROOT / "rules.schema.json"

MINIMAL_TEXT = MINIMAL.read_text(encoding="utf-8")
SHIPPED_TEXT = RULES_PATH.read_text(encoding="utf-8")


def edit(text: str, old: str, new: str) -> str:
    """Replace the one occurrence of `old`; fail loudly if the edit would silently do nothing."""
    assert text.count(old) == 1, f"expected exactly one {old!r} in the text"
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    """The 1-based line on which `needle` (found once) starts."""
    assert text.count(needle) == 1, f"expected exactly one {needle!r} in the text"
    return text[:text.index(needle)].count("\n") + 1


# minimal.yaml's two rows with a text for every option: tests that edit the rows start from these.
COMPLETE_CRITERIA = """\
  - id: scaling
    label: Scaling
    weight: 1.0
    texts:
      docker: Scaling is manual.
      compose: Replica counts are set by hand.
      kubernetes: Scaling is automatic.
  - id: high_availability
    label: High Availability
    weight: 1.5
    texts: {docker: Limited., compose: Swarm reschedules on other nodes., kubernetes: Built in.}
"""


def with_criteria(text: str, criteria: str) -> str:
    """`text` with its `criteria:` section replaced by `criteria` (the rows, indented as in minimal.yaml)."""
    new, count = re.subn(r"(?ms)^criteria:\n.*?^(?=questions:\n)", lambda _: "criteria:\n" + criteria, text)
    assert count == 1
    return new


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

    assert load(padded_minimal(MAX_BYTES)).warnings == load_rules_text(MINIMAL_TEXT, "big.yaml").warnings
    with pytest.raises(RulesSyntaxError) as caught:
        load(padded_minimal(MAX_BYTES + 1))
    assert str(caught.value) == ("big.yaml:1:1: (top level): file is 1,048,577 bytes, larger than the limit of 1 MiB "
                                 "(1,048,576 bytes) (a rules file is a few hundred lines: remove what is not needed)")


def nested_when(depth: int) -> str:
    """minimal.yaml with the first rule's condition wrapped in `not`s until its innermost mapping is `depth` deep."""
    # The top-level mapping, `rules`, the rule and `when` are four levels; each `not: {` adds one.
    nots = depth - 4
    return edit(MINIMAL_TEXT, "    when: {hosts: one}", "    when: " + "{not: " * nots + "{hosts: one}" + "}" * nots)


def test_nesting_up_to_the_limit_loads():
    ruleset = load_rules_text(nested_when(MAX_DEPTH))
    assert [o.winner for o in run_scenarios(ruleset)] == ["docker", "kubernetes"]  # an even number of `not`s


def test_nesting_past_the_limit_is_refused():
    text = nested_when(MAX_DEPTH + 1)
    with pytest.raises(RulesSyntaxError) as caught:
        load_rules_text(text, "deep.yaml")
    (issue,) = caught.value.issues
    assert issue.line == line_of(text, "    when: {not:")
    assert issue.message == f"nesting is deeper than {MAX_DEPTH} levels"


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_text_is_reported_as_empty(text):
    with pytest.raises(RulesSyntaxError) as caught:
        load_rules_text(text, "empty.yaml")
    assert str(caught.value) == "empty.yaml:1:1: (top level): file is empty (start from the shipped rules.yaml)"


# --- Warnings -------------------------------------------------------------------------------------------------------

def test_warnings_are_listed_in_line_order_and_do_not_stop_loading():
    criteria = edit(COMPLETE_CRITERIA, "    weight: 1.0\n", "    weight: 0\n")
    text = with_criteria(MINIMAL_TEXT, criteria + "  - id: networking\n    label: Networking\n")
    text = edit(text, "rules:\n", "  - id: team_size\n    text: How many engineers?\n"
                                  "    choices: [{id: solo, label: Just me}, {id: team, label: A team}]\nrules:\n")
    ruleset = load_rules_text(text, "warn.yaml")
    assert ruleset.warnings == (
        "warn.yaml:18:13: warning: criteria[0].weight: criterion 'scaling' has weight 0 (its rules change nothing)",
        "warn.yaml:27:5: warning: criteria[2]: criterion 'networking' (Networking) has no text for options "
        "'docker', 'compose', 'kubernetes' (the comparison table shows — there: add them under `texts`)",
        "warn.yaml:27:9: warning: criteria[2].id: criterion 'networking' has no rules (it can never drive a result)",
        "warn.yaml:43:9: warning: questions[2].id: question 'team_size' is read by no rule "
        "(its answer never changes a result)",
    )
    assert [o.passed for o in run_scenarios(ruleset)] == [True, True]


SCALING_COMPOSE = "      compose: Replica counts are set by hand.\n"
HA_COMPOSE = "compose: Swarm reschedules on other nodes., "
ADD_IT = "(the comparison table shows — there: add it under `texts`)"
ADD_THEM = "(the comparison table shows — there: add them under `texts`)"


# Each case: edits of COMPLETE_CRITERIA as (old, new) pairs, then the warnings expected, in line order.
@pytest.mark.parametrize(("edits", "expected"), [
    pytest.param([], [], id="every text given"),
    pytest.param([(SCALING_COMPOSE, "")], [
        f"rows.yaml:19:5: warning: criteria[0].texts: criterion 'scaling' (Scaling) has no text for option "
        f"'compose' {ADD_IT}"], id="one option, block texts"),
    pytest.param([(HA_COMPOSE, "")], [
        f"rows.yaml:26:5: warning: criteria[1].texts: criterion 'high_availability' (High Availability) has no "
        f"text for option 'compose' {ADD_IT}"], id="one option, flow texts"),
    pytest.param([("      docker: Scaling is manual.\n", ""), (SCALING_COMPOSE, "")], [
        f"rows.yaml:19:5: warning: criteria[0].texts: criterion 'scaling' (Scaling) has no text for options "
        f"'docker', 'compose' {ADD_THEM}"], id="two options"),
    pytest.param([("    texts: {docker: Limited., " + HA_COMPOSE + "kubernetes: Built in.}\n", "")], [
        f"rows.yaml:23:5: warning: criteria[1]: criterion 'high_availability' (High Availability) has no text "
        f"for options 'docker', 'compose', 'kubernetes' {ADD_THEM}"], id="no texts at all, at the row"),
    pytest.param([(SCALING_COMPOSE, "      compose: ''\n")], [
        f"rows.yaml:19:5: warning: criteria[0].texts: criterion 'scaling' (Scaling) has no text for option "
        f"'compose' {ADD_IT}"], id="an empty text"),
    pytest.param([(SCALING_COMPOSE, "      compose: '  '\n")], [
        f"rows.yaml:19:5: warning: criteria[0].texts: criterion 'scaling' (Scaling) has no text for option "
        f"'compose' {ADD_IT}"], id="a blank text"),
    pytest.param([(SCALING_COMPOSE, ""), (HA_COMPOSE, "")], [
        f"rows.yaml:19:5: warning: criteria[0].texts: criterion 'scaling' (Scaling) has no text for option "
        f"'compose' {ADD_IT}",
        f"rows.yaml:25:5: warning: criteria[1].texts: criterion 'high_availability' (High Availability) has no "
        f"text for option 'compose' {ADD_IT}"], id="two rows"),
])
def test_a_row_without_a_text_for_some_option_is_a_warning_naming_the_row_and_the_options(edits, expected):
    criteria = COMPLETE_CRITERIA
    for old, new in edits:
        criteria = edit(criteria, old, new)
    ruleset = load_rules_text(with_criteria(MINIMAL_TEXT, criteria), "rows.yaml")
    assert list(ruleset.warnings) == expected
    assert [o.passed for o in run_scenarios(ruleset)] == [True, True]  # a warning never stops the rules loading


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
    "flow mapping written as block": ("    scores: {compose: 1, kubernetes: 2}\n",
                                      "    scores:\n      compose: 1\n      kubernetes: 2\n"),
    "block list written as flow": ("      - id: one\n        label: One machine\n      - id: many\n"
                                   "        label: Many machines\n",
                                   "      [{id: one, label: One machine}, {id: many, label: Many machines}]\n"),
    "a label quoted": ("    label: Scaling\n", '    label: "Scaling"\n'),
    "a weight written as an integer": ("    weight: 1.0\n", "    weight: 1\n"),
    "a scenario's expectation changed": ("    expect: docker\n", "    expect: [docker, compose]\n"),
    "the site's words": ("version: 1\n", "version: 1\nsite: {title: Acme, heading: Which one?, description: Pick.}\n"),
}

DOCKER_OPTION = "  - id: docker\n    label: Docker alone\n    summary: Run each container by hand.\n"
COMPOSE_OPTION = "  - id: compose\n    label: Docker Compose / Swarm\n    summary: Describe the stack in one file.\n"

# Edits of minimal.yaml that change what a user is told or recommended.
CHANGED_MEANING_MINIMAL = {
    "a weight": ("    weight: 1.5", "    weight: 2.0"),
    "an option label": ("    label: Docker alone", "    label: Plain Docker"),
    "an option summary": ("    summary: Run each container by hand.", "    summary: Run each container by script."),
    "a criterion label": ("    label: High Availability", "    label: Availability"),
    "a criterion text": ("Scaling is manual.", "Scaling is by hand."),
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

# Edits of the shipped file that change what a user is told or recommended, whatever it says today: the first
# row's weight one point heavier, and a word added to the first because text written on the `because:` line.
CHANGED_MEANING_SHIPPED = {
    "a weight": (r"(?m)^(    weight: )(\S+)$", lambda m: f"{m[1]}{float(m[2]) + 1:g}"),
    "a because text": (r"(?m)^(    because: )(?=\w)", r"\1Indeed, "),
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


@pytest.mark.parametrize(("old", "new"), list(CHANGED_MEANING_MINIMAL.values()), ids=list(CHANGED_MEANING_MINIMAL))
def test_fingerprint_changes_with_content(old, new):
    assert load_rules_text(edit(MINIMAL_TEXT, old, new)).fingerprint != load_rules_text(MINIMAL_TEXT).fingerprint


@pytest.mark.parametrize(("pattern", "new"), list(CHANGED_MEANING_SHIPPED.values()), ids=list(CHANGED_MEANING_SHIPPED))
def test_fingerprint_of_the_shipped_file_changes_with_content(pattern, new):
    edited, count = re.subn(pattern, new, SHIPPED_TEXT, count=1)
    assert count == 1
    assert load_rules_text(edited).fingerprint != load_rules_text(SHIPPED_TEXT).fingerprint


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
        (lambda r: r.model.site, "title", ValidationError),
        (lambda r: r, "fingerprint", FrozenInstanceError),
        (lambda r: r.rules[0], "points", FrozenInstanceError),
    ],
    ids=["rules-file", "option", "criterion", "choice", "rule", "closeness", "site", "ruleset", "compiled-rule"],
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
    text = MINIMAL_TEXT.replace("scores: {docker: 2, compose: 1}", edit, 1)
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
    assert (issue.line, issue.column) == (line_of(text, "        unmet: {compse"), 17)


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


# --- The site block -------------------------------------------------------------------------------------------------

DEFAULT_SITE = {
    "title": "Dockwise",
    "heading": "Docker, Compose/Swarm or Kubernetes?",
    "description": "Docker alone, Docker Compose / Swarm, or Kubernetes? Answer a short questionnaire and get a "
                   "recommendation that explains itself.",
}


def with_site(block: str) -> str:
    """minimal.yaml with `block` (top-level lines) on line 3, right after `version: 1`."""
    return edit(MINIMAL_TEXT, "version: 1\n", "version: 1\n" + block)


def test_without_a_site_block_the_pages_keep_todays_words():
    assert load_rules(MINIMAL).model.site.model_dump() == DEFAULT_SITE == Site().model_dump()


@pytest.mark.parametrize(("block", "expected"), [
    pytest.param("site:\n  title: Acme Platform Advice\n  heading: Which way should we run our containers?\n"
                 "  description: >-\n    Three options,\n    one answer.\n",
                 {"title": "Acme Platform Advice", "heading": "Which way should we run our containers?",
                  "description": "Three options, one answer."}, id="every field"),
    pytest.param("site: {heading: 'Docker or Kubernetes: which one?'}\n",
                 DEFAULT_SITE | {"heading": "Docker or Kubernetes: which one?"}, id="one field, the rest default"),
    pytest.param("site: {}\n", DEFAULT_SITE, id="empty"),
])
def test_the_site_block_is_read_and_frozen(block, expected):
    site = load_rules_text(with_site(block)).model.site
    assert site.model_dump() == expected
    with pytest.raises(ValidationError):
        site.title = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(("block", "column", "location", "message", "hint"), [
    ("site: {title: ''}\n", 15, "site.title", "string should have at least 1 character", None),
    ("site: {heading: " + "x" * 121 + "}\n", 17, "site.heading", "string should have at most 120 characters", None),
    ("site: {description: " + "x" * 301 + "}\n", 21, "site.description",
     "string should have at most 300 characters", None),
    ("site: {title: 42}\n", 15, "site.title", "input should be a valid string", "quote it: '42'"),
    ("site: {description: null}\n", 21, "site.description", "input should be a valid string", None),
    ("site: {titel: Acme}\n", 8, "site.titel", "unknown field 'titel'", "did you mean 'title'?"),
    ("site: Dockwise\n", 7, "site", "input should be a valid dictionary", None),
    ("sites: {title: Acme}\n", 1, "sites", "unknown top-level field 'sites'", "did you mean 'site'?"),
], ids=["empty title", "heading too long", "description too long", "number", "null", "misspelt field",
        "not a mapping", "misspelt block"])
def test_a_bad_site_block_is_reported_where_it_is(block, column, location, message, hint):
    with pytest.raises(RulesValidationError) as raised:
        load_rules_text(with_site(block), "site.yaml")
    [issue] = raised.value.issues
    assert (issue.line, issue.column, issue.location) == (3, column, location), str(issue)
    assert message in issue.message, str(issue)
    assert str(issue).startswith(f"site.yaml:3:{column}: {location}: "), str(issue)
    if hint is not None:
        assert issue.hint == hint, str(issue)


# --- Accents --------------------------------------------------------------------------------------------------------

STYLESHEET = ROOT / "static" / "style.css"


def with_options(count: int) -> str:
    """minimal.yaml with options added after Kubernetes up to `count` options (they score nothing)."""
    extra = "".join(f"  - id: extra{n}\n    label: Extra {n}\n    summary: Option {n}.\n" for n in range(3, count))
    return edit(MINIMAL_TEXT, "criteria:\n", extra + "criteria:\n")


def test_accents_cycle_through_the_stylesheets_colours_by_option_index_or_id():
    ruleset = load_rules_text(with_options(ACCENTS + 3))
    assert ACCENTS == 8
    assert [ruleset.accent(i) for i in range(ACCENTS + 3)] == [*range(ACCENTS), 0, 1, 2]
    assert [ruleset.accent(o.id) for o in ruleset.options] == [ruleset.accent(i) for i in range(ACCENTS + 3)]
    assert [o.passed for o in run_scenarios(ruleset)] == [True, True]


@pytest.mark.parametrize("option", [3, -1, "podman"])
def test_accent_of_an_option_that_does_not_exist_is_an_error(option):
    with pytest.raises((IndexError, KeyError)):
        load_rules(MINIMAL).accent(option)


def _luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_stylesheet_has_an_accessible_accent_class_for_every_accent_in_both_schemes():
    css = STYLESHEET.read_text(encoding="utf-8")
    dark_at = css.index("@media (prefers-color-scheme: dark)")
    schemes = {"light": css[:dark_at], "dark": css[dark_at:css.index("}\n}", dark_at)]}
    for scheme, block in schemes.items():
        colours = dict(re.findall(r"--([a-z0-9-]+): (#[0-9a-f]{6});", block))
        accents = [colours[f"accent-{n}"] for n in range(ACCENTS)]
        assert f"--accent-{ACCENTS}:" not in block
        assert len(set(accents)) == ACCENTS, scheme
        # Text in an accent on the page or a panel, and the page colour on an accent (a primary button): WCAG AA.
        low = {(accent, ground): round(_contrast(colours[accent], colours[ground]), 2)
               for accent in (f"accent-{n}" for n in range(ACCENTS)) for ground in ("bg", "panel")}
        assert {pair: ratio for pair, ratio in low.items() if ratio < 4.5} == {}, scheme
    for n in range(ACCENTS):
        assert f".accent-{n} {{ --accent: var(--accent-{n}); }}" in css
