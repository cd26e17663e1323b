"""The Markdown decision record keeps rule text literal: whatever a rules file says, the record a Markdown viewer
renders shows it as text — no HTML, no link, no image, no heading of its own.
"""

from __future__ import annotations

import copy
import itertools
import re

import pytest
import yaml
from shipped import SCENARIOS

from recommender import evaluate, explain, load_rules_text
from recommender.record import decision_record

# What a careless or hostile edit of rules.yaml could put in any text: raw HTML, a link, an image, a backslash that
# would undo an escape, and a line break starting a block of its own.
HTML = "<img src=x onerror=alert(1)>"
LINK = "[click](javascript:alert(1))"
IMAGE = "![i](https://evil.example/i.png)"
UNDO = "\\[x](javascript:alert(2))"
HOSTILE = f" {HTML} {LINK} {IMAGE} {UNDO}\n# injected heading"
ESCAPED = {
    HTML: "&lt;img src=x onerror=alert(1)&gt;",
    LINK: "\\[click\\](javascript:alert(1))",
    IMAGE: "!\\[i\\](https://evil.example/i.png)",
    UNDO: "\\\\\\[x\\](javascript:alert(2))",
}
SHARE_URL = "https://dockwise.example/results?services=few&rules=abc"
UNESCAPED_BRACKET = re.compile(r"(?<!\\)(?:\\\\)*[\[\]]")


def with_hostile_text(spec: dict) -> dict:
    """The rules with hostile text in every text the record can show: all of HOSTILE in the reasons and needs, one
    of its parts in turn in each label and question (they have a length limit)."""
    spec = copy.deepcopy(spec)
    parts = itertools.cycle(ESCAPED)
    spec["site"]["title"] += " " + next(parts)
    labelled = [*spec["options"], *spec["criteria"], *(c for q in spec["questions"] for c in q["choices"])]
    for item in labelled:
        item["label"] += " " + next(parts)
    for question in spec["questions"]:
        question["text"] += " " + next(parts)
        for choice in question["choices"]:
            for option in choice.get("unmet", {}):
                choice["unmet"][option] += HOSTILE
    for rule in spec["rules"]:
        rule["because"] += HOSTILE
    return spec


@pytest.fixture(scope="module")
def hostile_rules(shipped_spec):
    return load_rules_text(yaml.safe_dump(with_hostile_text(shipped_spec), allow_unicode=True), "hostile.yaml")


@pytest.fixture(scope="module")
def records(hostile_rules) -> dict[str, str]:
    return {name: decision_record(explain(evaluate(hostile_rules, answers)), SHARE_URL)
            for name, answers in SCENARIOS.items()}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_rule_text_in_the_record_is_literal_markdown(records, name):
    record = records[name]
    lines = record.splitlines()
    # The only markup the record makes of its own: the share link's autolink.
    assert [line for line in lines if "<" in line or ">" in line] == [f"* Share link: <{SHARE_URL}>"]
    assert not UNESCAPED_BRACKET.findall(record)
    for raw in (HTML, LINK, IMAGE, UNDO):
        assert raw not in record
    # The line break inside the text became a space: no heading of its own, the text goes on on its line.
    assert not [line for line in lines if line.startswith("# injected")]
    assert all(f"{ESCAPED[UNDO]} # injected heading" in line for line in lines if "injected heading" in line)


def test_the_escaped_rule_text_still_reads_as_written(records):
    """Escaped, not dropped: each hostile text shows up, in its escaped form, across the records."""
    everything = "\n".join(records.values())
    for raw, escaped in ESCAPED.items():
        assert escaped in everything, raw
    assert "injected heading" in everything
