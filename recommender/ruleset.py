"""The validated, compiled, immutable rules that evaluation runs on."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

from .conditions import Cube, State
from .model import Criterion, Option, Question, Rule, RulesFile, Scenario

MICRO = 1_000_000  # points are counted in integer millionths: exact sums, exact ties, in any order
# How many accent colours static/style.css defines (`.accent-0` … `.accent-7`, light and dark): change both together.
ACCENTS = 8


def to_micro(points: float) -> int:
    return round(points * MICRO)


@dataclass(frozen=True)
class CompiledRule:
    """A rule ready to evaluate: its condition as alternatives of per-question choice sets, its points as counted."""

    index: int
    rule: Rule
    criterion: int
    questions: tuple[int, ...]   # every question its condition names, ascending
    cubes: tuple[Cube, ...]      # it fires when every literal of one of them holds (see conditions.CubeCompiler)
    points: tuple[int, ...]      # per option, in MICRO units, criterion weight applied
    excludes: tuple[int, ...]
    # The same as shown: (option id, points) pairs, the points alone, and the excluded option ids.
    point_items: tuple[tuple[str, float], ...] = ()
    point_values: tuple[float, ...] = ()
    exclude_ids: tuple[str, ...] = ()

    def fires(self, state: State) -> bool:
        """Whether the rule fires on `state` (one cube at a time: the engine uses RuleSet.hits instead)."""
        return any(all(mask >> state[q] & 1 for q, mask in cube) for cube in self.cubes)


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
    # For each question, the rules that read it (indexes, ascending).
    readers: tuple[tuple[int, ...], ...] = ()
    # Evaluation works on bit sets. Each cube of each rule has a bit: rule r's first cube bit r, the other cubes of
    # rules with several bits from len(rules) up. `cube_fails[q][s]`: the cubes whose literal on question q does not
    # hold in state s; a state's failed cubes are the union over its questions, and rule r fires when one of its
    # cubes did not fail (see `hits`). `several_cubes`: (bit of rule r, bits of all its cubes) for those rules.
    cube_fails: tuple[tuple[int, ...], ...] = ()
    several_cubes: tuple[tuple[int, int], ...] = ()
    rule_bits: int = 0               # bit r for every rule r
    # What a what-if re-checks per question: the rules that read it and other questions too, as a bit set; the
    # rules that read it alone are summed into one delta from each state to each other, [question][from][to] →
    # (points per option, exclusion counts or None when no count changes), so a changed answer adds one vector.
    shared_readers: tuple[int, ...] = ()
    solo_delta: tuple[tuple[tuple[tuple[tuple[int, ...], tuple[int, ...] | None], ...], ...], ...] = ()
    close_micro: int = 0
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

    def hits(self, failed: int) -> int:
        """The rules (bit r: rule r) with a cube outside `failed`, the cubes a state fails (see `cube_fails`)."""
        alive = ~failed
        hit = alive & self.rule_bits
        for bit, cubes in self.several_cubes:
            if alive & cubes:
                hit |= bit
        return hit

    def failed_cubes(self, state: State) -> int:
        """The cubes whose literal on some question does not hold in `state`."""
        failed = 0
        for fails, s in zip(self.cube_fails, state):
            failed |= fails[s]
        return failed

    def criteria_read_by(self, question_id: str) -> tuple[Criterion, ...]:
        """The comparison rows whose rules read this question, in table order."""
        q = self.question_index[question_id]
        rows = {self.rules[r].criterion for r in self.readers[q]}
        return tuple(c for i, c in enumerate(self.criteria) if i in rows)


def _delta(was: tuple[tuple[int, ...], tuple[int, ...]], now: tuple[tuple[int, ...], tuple[int, ...]]):
    points = tuple(b - a for a, b in zip(was[0], now[0]))
    counts = tuple(b - a for a, b in zip(was[1], now[1]))
    return points, counts if any(counts) else None


def _unmet_of(texts, option_index: dict[str, int]) -> tuple[int, ...]:
    """The options a choice's unmet needs name, in option order (unknown ids are the loader's to report)."""
    return tuple(sorted(option_index[o] for o in texts if o in option_index))


def compile_ruleset(file: str, model: RulesFile, fingerprint: str,
                    conditions: list[tuple[tuple[int, ...], tuple[Cube, ...]]], warnings: list[str]) -> RuleSet:
    """Build the RuleSet from a validated model and, per rule, the questions its condition names and its cubes."""
    option_index = {o.id: i for i, o in enumerate(model.options)}
    criterion_index = {c.id: i for i, c in enumerate(model.criteria)}
    compiled = []
    readers: list[list[int]] = [[] for _ in model.questions]
    for index, (rule, (questions, cubes)) in enumerate(zip(model.rules, conditions)):
        criterion = criterion_index[rule.criterion]
        weight = model.criteria[criterion].weight
        points = tuple(to_micro(rule.scores.get(o.id, 0.0) * weight) for o in model.options)
        excludes = tuple(sorted(option_index[o] for o in set(rule.exclude)))
        compiled.append(CompiledRule(
            index, rule, criterion, questions, cubes, points, excludes,
            point_items=tuple((o.id, p / MICRO) for o, p in zip(model.options, points)),
            point_values=tuple(p / MICRO for p in points),
            exclude_ids=tuple(model.options[o].id for o in excludes)))
        for q in questions:
            readers[q].append(index)
    cube_fails, several = _cube_fails(compiled, [len(q.choices) + 1 for q in model.questions])
    solo = []
    for q, question in enumerate(model.questions):
        alone = [compiled[r] for r in readers[q] if len(compiled[r].questions) == 1]
        per_state = []
        blank = [0] * len(model.questions)
        for state in range(len(question.choices) + 1):
            points = [0] * len(model.options)
            counts = [0] * len(model.options)
            blank[q] = state
            for rule in alone:
                if rule.fires(blank):
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
        cube_fails=cube_fails,
        several_cubes=several,
        rule_bits=(1 << len(compiled)) - 1,
        solo_delta=tuple(tuple(tuple(_delta(was, now) for now in states) for was in states) for states in solo),
        shared_readers=tuple(sum(1 << r for r in rs if len(compiled[r].questions) > 1) for rs in readers),
        close_micro=to_micro(model.closeness.close),
        unmet=unmet,
        unmet_questions=tuple(q for q, states in enumerate(unmet) if any(states)),
        unmet_masks=tuple(bytes(bool(texts) for texts in states) for states in unmet),
    )


def _cube_fails(rules: list[CompiledRule], sizes: list[int]):
    """`RuleSet.cube_fails` and `RuleSet.several_cubes`, in time linear in the literals of all cubes."""
    first_extra = len(rules)
    cubes = first_extra + sum(max(len(rule.cubes) - 1, 0) for rule in rules)
    # One bitmap per question and state, filled a byte at a time and turned into an int once.
    fails = [[bytearray((cubes + 7) // 8) for _ in range(size)] for size in sizes]
    several = []
    extra = first_extra
    for rule in rules:
        bits = 0
        for position, cube in enumerate(rule.cubes):
            bit = rule.index if position == 0 else extra
            extra += position > 0
            bits |= 1 << bit
            byte, flag = bit >> 3, 1 << (bit & 7)
            for q, mask in cube:
                per_state = fails[q]
                for s in range(sizes[q]):
                    if not mask >> s & 1:
                        per_state[s][byte] |= flag
        if not rule.cubes:  # a condition that can never hold (the loader refuses them): its bit always fails
            for per_state in fails[0]:
                per_state[rule.index >> 3] |= 1 << (rule.index & 7)
        elif len(rule.cubes) > 1:
            several.append((1 << rule.index, bits))
    return (tuple(tuple(int.from_bytes(bitmap, "little") for bitmap in per_state) for per_state in fails),
            tuple(several))
