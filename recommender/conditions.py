"""Rule conditions (`when`): parsed once from plain values, compiled into lookup tables."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import did_you_mean

COMBINATORS = ("any", "all", "not")
# A rule reading more questions than this many answer combinations should be split.
MAX_TABLE = 1 << 16

State = tuple[int, ...]  # per question: 0 = unanswered, i + 1 = its i-th choice


@dataclass(frozen=True)
class Answered:
    """Holds when question `question` was answered with one of `states`."""

    question: int
    states: frozenset[int]

    def holds(self, state: State) -> bool:
        return state[self.question] in self.states

    def questions(self) -> frozenset[int]:
        return frozenset((self.question,))


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Condition, ...]

    def holds(self, state: State) -> bool:
        return all(part.holds(state) for part in self.parts)

    def questions(self) -> frozenset[int]:
        return frozenset().union(*(part.questions() for part in self.parts))


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Condition, ...]

    def holds(self, state: State) -> bool:
        return any(part.holds(state) for part in self.parts)

    def questions(self) -> frozenset[int]:
        return frozenset().union(*(part.questions() for part in self.parts))


@dataclass(frozen=True)
class Not:
    """Holds when every question of `part` is answered and `part` does not hold."""

    part: Condition

    def holds(self, state: State) -> bool:
        return all(state[q] for q in self.part.questions()) and not self.part.holds(state)

    def questions(self) -> frozenset[int]:
        return self.part.questions()


Condition = Answered | AllOf | AnyOf | Not
PathT = tuple[str | int, ...]


class ConditionParser:
    """Turns a raw `when` mapping into a Condition, reporting each problem with its path."""

    def __init__(self, question_ids: list[str], choice_ids: list[list[str]], report, ignore: set[str] = frozenset()):
        self.question_index = {qid: i for i, qid in enumerate(question_ids)}
        self.choice_ids = choice_ids
        self.report = report  # report(path, message, hint=None, key=False)
        self.ignore = ignore  # questions that failed validation: already reported, so not "unknown" here
        self.ignore_unknown = False

    def parse(self, raw: object, path: PathT) -> Condition | None:
        if not isinstance(raw, Mapping) or not raw:
            self.report(path, "a condition must be a non-empty mapping",
                        "write `question: choice`, or `any:`/`all:` with a list, or `not:` with a mapping")
            return None
        parts: list[Condition] = []
        ok = True
        for key, value in raw.items():
            part = self._entry(key, value, path + (key,))
            ok = ok and part is not None
            if part is not None:
                parts.append(part)
        if not ok:
            return None
        return parts[0] if len(parts) == 1 else AllOf(tuple(parts))

    def _entry(self, key: str, value: object, path: PathT) -> Condition | None:
        if key in ("any", "all"):
            if not isinstance(value, list | tuple) or not value:
                self.report(path, f"`{key}` takes a non-empty list of conditions",
                            "write each condition on a `- ` line")
                return None
            parts = [self.parse(item, path + (index,)) for index, item in enumerate(value)]
            if any(part is None for part in parts):
                return None
            return (AnyOf if key == "any" else AllOf)(tuple(parts))
        if key == "not":
            part = self.parse(value, path)
            return Not(part) if part is not None else None
        if key in self.ignore or (self.ignore_unknown and key not in self.question_index):
            return None
        if key not in self.question_index:
            hint = did_you_mean(key, [*self.question_index, *COMBINATORS])
            self.report(path, f"unknown question '{key}'", hint or f"questions are: {', '.join(self.question_index)}",
                        key=True)
            return None
        question = self.question_index[key]
        choices = self.choice_ids[question]
        values = value if isinstance(value, list | tuple) else [value]
        if not values:
            self.report(path, f"no choice given for '{key}'", f"choices are: {', '.join(choices)}")
            return None
        states = set()
        ok = True
        for index, choice in enumerate(values):
            where = path + (index,) if isinstance(value, list | tuple) else path
            if not isinstance(choice, str):
                self.report(where, f"a choice id must be text, not {type(choice).__name__}", "quote it")
                ok = False
            elif choice not in choices:
                hint = did_you_mean(choice, choices)
                self.report(where, f"'{key}' has no choice '{choice}'", hint or f"choices are: {', '.join(choices)}")
                ok = False
            else:
                states.add(choices.index(choice) + 1)
        return Answered(question, frozenset(states)) if ok else None


def truth_table(condition: Condition, sizes: list[int]) -> tuple[tuple[int, ...], tuple[int, ...], bytes] | None:
    """The questions a condition reads, their strides, and one byte per combination of their states.

    `sizes[q]` is the number of choices of question q. Returns None when the table would exceed MAX_TABLE.
    """
    questions = tuple(sorted(condition.questions()))
    counts = [sizes[q] + 1 for q in questions]
    total = 1
    for count in counts:
        total *= count
    if total > MAX_TABLE:
        return None
    strides = []
    stride = 1
    for count in reversed(counts):
        strides.append(stride)
        stride *= count
    strides.reverse()
    state = [0] * len(sizes)
    table = bytearray(total)
    for index, combo in enumerate(itertools.product(*(range(count) for count in counts))):
        for q, s in zip(questions, combo):
            state[q] = s
        table[index] = condition.holds(tuple(state))
    return questions, tuple(strides), bytes(table)
