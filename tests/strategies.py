"""Hypothesis strategies: random small rules files (as plain data and as YAML text) and answer sets."""

from __future__ import annotations

import yaml
from hypothesis import reject
from hypothesis import strategies as st

from recommender import RuleSet, RulesValidationError, load_rules_text

OPTION_IDS = ("plain", "stack", "cluster", "fleet")
CRITERION_IDS = ("cost", "effort", "uptime")
QUESTION_IDS = ("size", "hosts", "load", "team")
CHOICE_IDS = ("low", "mid", "high", "max")
WEIGHTS = (0, 0.5, 1, 1.5, 2)
CLOSE_THRESHOLDS = (0, 0.5, 1, 2, 3)
# Integer or half points from -3 to 3, written as ints when whole (as people write them).
POINTS = tuple(k // 2 if k % 2 == 0 else k / 2 for k in range(-6, 7))
NONZERO_POINTS = tuple(p for p in POINTS if p)


class RulesCase:
    """One rules file three ways: the plain data it was written from, its YAML text, and the loaded RuleSet."""

    def __init__(self, spec: dict, text: str, ruleset: RuleSet):
        self.spec, self.text, self.ruleset = spec, text, ruleset

    def __repr__(self) -> str:
        # Failure reports show the YAML of a small file (enough to reproduce it), never a whole RuleSet.
        if len(self.text) > 5000:
            return f"<rules file {self.ruleset.file}, fingerprint {self.ruleset.fingerprint}>"
        return f"<rules file:\n{self.text}>"


_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def to_yaml(spec: dict) -> str:
    return yaml.dump(spec, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


# Everything is drawn through a few cached strategies (integers and booleans): building fresh strategy
# objects for every draw would spend most of each example validating them.


def _pick(draw, items):
    return items[draw(st.integers(0, len(items) - 1))]


def _some(draw, items, min_size=1, max_size=None):
    """A non-empty ordered selection of distinct items."""
    chosen = [item for item in items if draw(st.booleans())][:max_size]
    return chosen if len(chosen) >= min_size else [_pick(draw, items)]


def _entry(draw, question: tuple[str, tuple[str, ...]]) -> object:
    """The value of a `question: choice` or `question: [choices]` entry."""
    _, choices = question
    return _pick(draw, choices) if draw(st.booleans()) else _some(draw, choices)


def _condition(draw, questions: list[tuple[str, tuple[str, ...]]], depth: int = 0) -> dict:
    """A random `when`: question entries, lists of choices, several keys, and nested any/all/not."""
    kind = _pick(draw, ("entry", "entry", "several", "any", "all", "not") if depth < 3 else ("entry", "several"))
    if kind == "entry":
        question = _pick(draw, questions)
        return {question[0]: _entry(draw, question)}
    if kind in ("any", "all"):
        return {kind: [_condition(draw, questions, depth + 1) for _ in range(draw(st.integers(1, 3)))]}
    if kind == "not":
        return {"not": _condition(draw, questions, depth + 1)}
    # Several keys in one mapping: distinct questions, plus at most one of each combinator.
    condition = {q[0]: _entry(draw, q) for q in _some(draw, questions)}
    if depth < 3:
        for combinator in ("any", "all", "not"):
            if draw(st.integers(0, 3)) == 0:
                parts = [_condition(draw, questions, depth + 1) for _ in range(draw(st.integers(1, 2)))]
                condition[combinator] = parts[0] if combinator == "not" else parts
    return condition


@st.composite
def conditions(draw, questions: list[tuple[str, tuple[str, ...]]]) -> dict:
    return _condition(draw, questions)


@st.composite
def rule_specs(draw) -> dict:
    """A small rules file as plain data: 2–4 options, 1–3 criteria, 2–4 questions of 2–4 choices, 1–8 rules."""
    options = list(OPTION_IDS[: draw(st.integers(2, 4))])
    criteria = list(CRITERION_IDS[: draw(st.integers(1, 3))])
    questions = [(qid, CHOICE_IDS[: draw(st.integers(2, 4))]) for qid in QUESTION_IDS[: draw(st.integers(2, 4))]]
    rules = []
    for index in range(draw(st.integers(1, 8))):
        scores = {o: _pick(draw, POINTS) for o in options if draw(st.booleans())}
        exclude = _some(draw, options) if draw(st.integers(0, 5)) == 0 else []
        if not any(scores.values()) and not exclude:
            scores[_pick(draw, options)] = _pick(draw, NONZERO_POINTS)
        rule = {"id": f"rule-{index}", "criterion": _pick(draw, criteria), "when": _condition(draw, questions),
                "scores": scores}
        if exclude:
            rule["exclude"] = exclude
        rule["because"] = f"Reason {index}."
        rules.append(rule)
    return {
        "version": 1,
        "closeness": {"close": _pick(draw, CLOSE_THRESHOLDS)},
        "options": [{"id": o, "label": o.title(), "summary": f"All about {o}."} for o in options],
        "criteria": [{"id": c, "label": c.title(), "weight": _pick(draw, WEIGHTS),
                      "texts": {o: f"{o} on {c}" for o in options}} for c in criteria],
        "questions": [{"id": qid, "text": f"What {qid}?", "choices": [{"id": c, "label": c.upper()} for c in choices]}
                      for qid, choices in questions],
        "rules": rules,
    }


def load_case(spec: dict) -> RulesCase:
    text = to_yaml(spec)
    return RulesCase(spec, text, load_rules_text(text))


@st.composite
def rule_sets(draw) -> RulesCase:
    """A random small rules file the loader accepts (files with a `when` that can never hold are skipped)."""
    spec = draw(rule_specs())
    try:
        return load_case(spec)
    except RulesValidationError as error:
        if all("can never hold" in issue.message for issue in error.issues):
            reject()
        raise


@st.composite
def answer_sets(draw, spec: dict) -> dict[str, str]:
    """Answers in questionnaire order: each question one of its choices, or unanswered (absent)."""
    answers = {}
    for question in spec["questions"]:
        pick = draw(st.integers(0, len(question["choices"])))
        if pick:
            answers[question["id"]] = question["choices"][pick - 1]["id"]
    return answers


@st.composite
def ruleset_answers(draw, ruleset: RuleSet) -> dict[str, str]:
    """Answers to the rules' questions: each one of its choices or unanswered (absent)."""
    answers = {}
    for question in ruleset.questions:
        pick = draw(st.integers(0, len(question.choices)))
        if pick:
            answers[question.id] = question.choices[pick - 1].id
    return answers
