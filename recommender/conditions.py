"""Rule conditions (`when`): parsed once from plain values, compiled into a few alternatives of per-question choices."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .errors import did_you_mean

COMBINATORS = ("any", "all", "not")
# Alternatives a condition may expand to: `question: [choices]` entries and several keys are one; each `any` entry
# adds its own, and `all` or several keys over `any`s, or `not` over several entries, multiply them.
MAX_CUBES = 64
# Combinations of alternatives examined while compiling one file's conditions (about a second at worst).
MAX_WORK = 1 << 18

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


Literal = tuple[int, int]   # (question, mask): bit s of mask is set when state s satisfies it (bit 0 never is)
Cube = tuple[Literal, ...]  # holds when every literal holds; one literal per question, by question


class ConditionTooComplexError(Exception):
    """A condition expands to more alternatives than MAX_CUBES, or the file's conditions to more than MAX_WORK."""

    def __init__(self, message: str, whole_file: bool = False):
        super().__init__(message)
        self.whole_file = whole_file  # the budget of the whole file is spent: no later condition can compile


class CubeCompiler:
    """Compiles conditions into a few alternatives ("cubes"), each a conjunction of per-question choice sets.

    A rule fires when any of its cubes holds (disjunctive normal form). `all` and several keys multiply the
    alternatives of their parts and `not` distributes over them, so a deep nest can expand exponentially: each
    condition may keep at most MAX_CUBES alternatives, and the whole file may examine at most MAX_WORK combinations
    of alternatives while expanding (a budget shared by every condition of one file, `work` counts them).
    """

    def __init__(self, sizes: list[int]):
        self.answered = [((1 << (size + 1)) - 1) & ~1 for size in sizes]  # every state but 0 (unanswered)
        self.work = 0

    def compile(self, condition: Condition) -> tuple[Cube, ...]:
        """The cubes of a condition (none when it can never hold); raise ConditionTooComplexError past a ceiling."""
        if isinstance(condition, Answered):
            mask = 0
            for state in condition.states:
                mask |= 1 << state
            return (((condition.question, mask),),)
        if isinstance(condition, AnyOf):
            found: list[Cube] = []
            for part in condition.parts:
                found.extend(self.compile(part))
            return self._simplify(found)
        if isinstance(condition, AllOf):
            cubes: tuple[Cube, ...] = ((),)
            for part in condition.parts:
                cubes = self._product(cubes, self.compile(part))
            return cubes
        # Not: every question the part names answered, and for each of the part's cubes some literal failing.
        questions = sorted(condition.part.questions())
        cubes = (tuple((q, self.answered[q]) for q in questions),)
        for cube in self.compile(condition.part):
            cubes = self._product(cubes, tuple(((q, self.answered[q] & ~mask),) for q, mask in cube
                                               if self.answered[q] & ~mask))
        return cubes

    def _product(self, left: tuple[Cube, ...], right: tuple[Cube, ...]) -> tuple[Cube, ...]:
        """The alternatives of (any of `left`) and (any of `right`)."""
        combinations = len(left) * len(right)
        self.work += combinations
        if combinations > MAX_CUBES * MAX_CUBES:
            raise ConditionTooComplexError(f"it expands to more than {MAX_CUBES} alternatives")
        if self.work > MAX_WORK:
            raise ConditionTooComplexError(
                f"the file's conditions up to here expand to more than {MAX_WORK:,} combinations of alternatives",
                whole_file=True)
        found = []
        for a in left:
            for b in right:
                cube = _both(a, b)
                if cube is not None:
                    found.append(cube)
        return self._simplify(found)

    def _simplify(self, cubes: list[Cube]) -> tuple[Cube, ...]:
        """Without duplicates, with alternatives that differ on one question merged, and within MAX_CUBES."""
        unique = list(dict.fromkeys(cubes))
        if len(unique) > 1:
            unique = _merged(unique)
        if len(unique) > MAX_CUBES:
            # Dropping absorbed cubes costs a comparison per pair: tried only when it may bring them within the limit.
            unique = _absorbed(unique) if len(unique) <= 4 * MAX_CUBES else unique
            if len(unique) > MAX_CUBES:
                raise ConditionTooComplexError(f"it expands to more than {MAX_CUBES} alternatives")
        return tuple(unique)


def _both(a: Cube, b: Cube) -> Cube | None:
    """The cube holding where both hold, or None when they never hold together."""
    if not a:
        return b
    if not b:
        return a
    masks = dict(a)
    for q, mask in b:
        if q in masks:
            mask &= masks[q]
            if not mask:
                return None
        masks[q] = mask
    return tuple(sorted(masks.items()))


def _merged(cubes: list[Cube]) -> list[Cube]:
    """Merge cubes that name the same questions and differ in one question's choices (their union), until none do."""
    changed = True
    while changed:
        changed = False
        for position in range(max(len(cube) for cube in cubes)):
            groups: dict[tuple, int] = {}
            kept: list[Cube] = []
            for cube in cubes:
                if position >= len(cube):
                    kept.append(cube)
                    continue
                key = (tuple(q for q, _ in cube), cube[:position] + cube[position + 1:])
                at = groups.get(key)
                if at is None:
                    groups[key] = len(kept)
                    kept.append(cube)
                else:
                    q, mask = kept[at][position]
                    kept[at] = kept[at][:position] + ((q, mask | cube[position][1]),) + kept[at][position + 1:]
                    changed = True
            cubes = list(dict.fromkeys(kept))
    return cubes


def _absorbed(cubes: list[Cube]) -> list[Cube]:
    """Drop each cube that holds only where another does (the more general first: fewer, wider literals)."""
    order = sorted(cubes, key=lambda cube: (len(cube), -sum(mask.bit_count() for _, mask in cube)))
    kept: list[Cube] = []
    for cube in order:
        masks = dict(cube)
        if not any(all(q in masks and not masks[q] & ~mask for q, mask in general) for general in kept):
            kept.append(cube)
    return kept
