"""The validated, compiled, immutable rules that evaluation runs on."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

from .model import Criterion, Option, Question, Rule, RulesFile, Scenario

MICRO = 1_000_000  # points are counted in integer millionths: exact sums, exact ties, in any order
# How many accent colours static/style.css defines (`.accent-0` … `.accent-7`, light and dark): change both together.
ACCENTS = 8


def to_micro(points: float) -> int:
    return round(points * MICRO)


@dataclass(frozen=True)
class CompiledRule:
    """A rule ready to evaluate: its condition as a lookup table and its points as counted."""

    index: int
    rule: Rule
    criterion: int
    questions: tuple[int, ...]
    strides: tuple[int, ...]
    table: bytes
    points: tuple[int, ...]  # per option, in MICRO units, criterion weight applied
    excludes: tuple[int, ...]
    # The same as shown: (option id, points) pairs, the points alone, and the excluded option ids.
    point_items: tuple[tuple[str, float], ...] = ()
    point_values: tuple[float, ...] = ()
    exclude_ids: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)  # identity equality: a RuleSet is one loaded version, hashable for caches
class RuleSet:
    """Everything evaluation needs, built once per version of the rules file."""

    file: str
    model: RulesFile
    fingerprint: str
    rules: tuple[CompiledRule, ...]
    warnings: tuple[str, ...] = ()
    option_index: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    question_index: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    choice_index: tuple[MappingProxyType, ...] = ()
    criterion_index: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    # For each question, (rule index, stride) of the rules that read it: what a what-if must re-check.
    readers: tuple[tuple[tuple[int, int], ...], ...] = ()
    # What a what-if re-checks per question: the rules that read other questions too, as (rule index, stride); the
    # rules that read it alone are summed into one delta from each state to each other, [question][from][to] →
    # (points per option, exclusion counts or None when no count changes), so a changed answer adds one vector.
    shared_readers: tuple[tuple[tuple[int, int], ...], ...] = ()
    solo_delta: tuple[tuple[tuple[tuple[tuple[int, ...], tuple[int, ...] | None], ...], ...], ...] = ()
    close_micro: int = 0
    # Per rule, in file order, what evaluation reads: (index, truth table, points, ((question, stride), ...)).
    fire_plan: tuple[tuple[int, bytes, tuple[int, ...], tuple[tuple[int, int], ...]], ...] = ()
    # Per question and state, the options (indexes, ascending) that answer states a need unmet for.
    unmet: tuple[tuple[tuple[int, ...], ...], ...] = ()
    unmet_questions: tuple[int, ...] = ()  # the questions with any unmet text, and per question a mask of its states
    unmet_masks: tuple[bytes, ...] = ()

    @property
    def options(self) -> tuple[Option, ...]:
        return self.model.options

    @property
    def criteria(self) -> tuple[Criterion, ...]:
        return self.model.criteria

    @property
    def questions(self) -> tuple[Question, ...]:
        return self.model.questions

    @property
    def scenarios(self) -> tuple[Scenario, ...]:
        return self.model.scenarios

    def accent(self, option: int | str) -> int:
        """The accent colour class number (`accent-N` in static/style.css) of an option, by index or id."""
        index = self.option_index[option] if isinstance(option, str) else option
        if not 0 <= index < len(self.options):
            raise IndexError(f"no option {option!r}")
        return index % ACCENTS

    def criteria_read_by(self, question_id: str) -> tuple[Criterion, ...]:
        """The comparison rows whose rules read this question, in table order."""
        q = self.question_index[question_id]
        rows = {self.rules[r].criterion for r, _ in self.readers[q]}
        return tuple(c for i, c in enumerate(self.criteria) if i in rows)


def _delta(was: tuple[tuple[int, ...], tuple[int, ...]], now: tuple[tuple[int, ...], tuple[int, ...]]):
    points = tuple(b - a for a, b in zip(was[0], now[0]))
    counts = tuple(b - a for a, b in zip(was[1], now[1]))
    return points, counts if any(counts) else None


def _unmet_of(texts, option_index: dict[str, int]) -> tuple[int, ...]:
    """The options a choice's unmet needs name, in option order (unknown ids are the loader's to report)."""
    return tuple(sorted(option_index[o] for o in texts if o in option_index))


def compile_ruleset(file: str, model: RulesFile, fingerprint: str,
                    tables: list[tuple[tuple[int, ...], tuple[int, ...], bytes]],
                    warnings: list[str]) -> RuleSet:
    """Build the RuleSet from a validated model and its conditions' truth tables."""
    option_index = {o.id: i for i, o in enumerate(model.options)}
    criterion_index = {c.id: i for i, c in enumerate(model.criteria)}
    compiled = []
    readers: list[list[tuple[int, int]]] = [[] for _ in model.questions]
    for index, (rule, (questions, strides, table)) in enumerate(zip(model.rules, tables)):
        criterion = criterion_index[rule.criterion]
        weight = model.criteria[criterion].weight
        points = tuple(to_micro(rule.scores.get(o.id, 0.0) * weight) for o in model.options)
        excludes = tuple(sorted(option_index[o] for o in set(rule.exclude)))
        compiled.append(CompiledRule(
            index, rule, criterion, questions, strides, table, points, excludes,
            point_items=tuple((o.id, p / MICRO) for o, p in zip(model.options, points)),
            point_values=tuple(p / MICRO for p in points),
            exclude_ids=tuple(model.options[o].id for o in excludes)))
        for q, stride in zip(questions, strides):
            readers[q].append((index, stride))
    solo = []
    for q, question in enumerate(model.questions):
        alone = [compiled[r] for r, _ in readers[q] if len(compiled[r].questions) == 1]
        per_state = []
        for state in range(len(question.choices) + 1):
            points = [0] * len(model.options)
            counts = [0] * len(model.options)
            for rule in alone:
                if rule.table[state]:
                    for o, p in enumerate(rule.points):
                        points[o] += p
                    for o in rule.excludes:
                        counts[o] += 1
            per_state.append((tuple(points), tuple(counts)))
        solo.append(tuple(per_state))
    unmet = tuple(((),) + tuple(_unmet_of(choice.unmet, option_index) for choice in question.choices)
                  for question in model.questions)
    return RuleSet(
        file=file,
        model=model,
        fingerprint=fingerprint,
        rules=tuple(compiled),
        warnings=tuple(warnings),
        option_index=MappingProxyType(option_index),
        question_index=MappingProxyType({q.id: i for i, q in enumerate(model.questions)}),
        choice_index=tuple(MappingProxyType({c.id: i + 1 for i, c in enumerate(q.choices)}) for q in model.questions),
        criterion_index=MappingProxyType(criterion_index),
        readers=tuple(tuple(r) for r in readers),
        fire_plan=tuple((rule.index, rule.table, rule.points, tuple(zip(rule.questions, rule.strides)))
                        for rule in compiled),
        solo_delta=tuple(tuple(tuple(_delta(was, now) for now in states) for was in states) for states in solo),
        shared_readers=tuple(tuple((r, stride) for r, stride in rs if len(compiled[r].questions) > 1)
                             for rs in readers),
        close_micro=to_micro(model.closeness.close),
        unmet=unmet,
        unmet_questions=tuple(q for q, states in enumerate(unmet) if any(states)),
        unmet_masks=tuple(bytes(bool(texts) for texts in states) for states in unmet),
    )
