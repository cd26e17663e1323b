"""What the answer-space analyses return: report dataclasses, shares with their Wilson interval, and one JSON
layout mechanism for all of them (`as_dict()`, what `flask rules explore|diff --json` print).

Each report class may declare `JSON`, its keys in output order; without it, its dataclass fields are used. An entry
is a field or property name, or a pair (key, attribute name or function of the report); the key "**" merges the
value's own dict, and a key ending in "?" is left out when its value is None.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, ClassVar

Z95 = 1.959963984540054

Layout = tuple[str | tuple[str, str | Callable[[Any], Any]], ...]


def wilson(count: int, total: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion count/total (95 % by default)."""
    if total <= 0:
        return (0.0, 1.0)
    p = count / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    low = 0.0 if count == 0 else max(0.0, centre - half)       # exact at the ends, whatever the rounding
    high = 1.0 if count == total else min(1.0, centre + half)
    return (low, high)


def to_json(value: Any) -> Any:
    """JSON-ready data: a report by its layout, tuples and lists as lists, dicts value by value."""
    if is_dataclass(value) and not isinstance(value, type):
        layout: Layout = getattr(value, "JSON", None) or tuple(f.name for f in fields(value))
        data: dict = {}
        for entry in layout:
            key, attribute = (entry, entry) if isinstance(entry, str) else entry
            item = attribute(value) if callable(attribute) else getattr(value, attribute)
            if key.endswith("?"):
                if item is None:
                    continue
                key = key[:-1]
            if key == "**":
                data.update(to_json(item))
            else:
                data[key] = to_json(item)
        return data
    if isinstance(value, tuple | list):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    return value


class Jsonable:
    """Gives a report dataclass `as_dict()`, laid out by its `JSON` (see the module docstring)."""

    JSON: ClassVar[Layout] = ()

    def as_dict(self) -> dict:
        return to_json(self)


def _mode(report: Any) -> str:
    return "exhaustive" if report.exhaustive else "sample"


@dataclass(frozen=True)
class Share(Jsonable):
    """`count` of `total` states; with a 95 % confidence interval when the states were a random sample."""

    id: str
    label: str
    count: int
    total: int
    sampled: bool = False

    JSON = ("id", "label", "count", "total", "share", ("ci95?", "interval"))

    @property
    def share(self) -> float:
        return self.count / self.total if self.total else 0.0

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson(self.count, self.total) if self.sampled else None


@dataclass(frozen=True)
class Example(Jsonable):
    """One questionnaire: its answers, its share-link query string, and how many questions it leaves open."""

    answers: dict[str, str]
    query: str
    unanswered: int


@dataclass(frozen=True)
class CloseCall(Jsonable):
    example: Example
    winner: str
    runner_up: str
    lead: float          # in points
    closeness: str       # "tie" or "close"

    JSON = (("**", "example"), "winner", "runner_up", "lead", "closeness")


@dataclass(frozen=True)
class ViolationKind(Jsonable):
    """Moving `question` from `source` to `target` turns recommendation `heavier` into the lighter `lighter`."""

    question: str
    source: str
    target: str
    heavier: str                 # recommended with `source`
    lighter: str                 # recommended with `target`, listed before `heavier`
    share: Share                 # violating questionnaires of those with `question` at `source`
    example: str                 # share-link query of the most typical violating questionnaire (with `source`)

    JSON = ("question", ("from", "source"), ("to", "target"),
            ("lighter", lambda kind: {"from": kind.heavier, "to": kind.lighter}),
            ("count", lambda kind: kind.share.count), ("pairs", lambda kind: kind.share.total),
            ("share", lambda kind: kind.share.share), ("ci95?", lambda kind: kind.share.interval), "example")


@dataclass(frozen=True)
class MonotonicityReport(Jsonable):
    """What the check found; counts are over every pair, or over the sampled pairs when `exhaustive` is false."""

    file: str
    fingerprint: str
    space: int                   # questionnaires: each question one of its choices or unanswered
    exhaustive: bool
    evaluated: int               # questionnaires whose recommendation was compared with its neighbours
    seed: int | None
    seconds: float
    violations: Share            # violating pairs of all pairs checked (`total`)
    kinds: tuple[ViolationKind, ...]
    exempt: tuple[str, ...]      # questions with `ordered: false`

    JSON = (("mode", _mode), "space", "evaluated", "seed", "seconds", "pairs", ("violations", "count"),
            ("share", lambda report: report.violations.share), ("ci95?", lambda report: report.violations.interval),
            "exempt", "kinds")

    @property
    def pairs(self) -> int:
        return self.violations.total

    @property
    def count(self) -> int:
        return self.violations.count

    def by_kind(self) -> dict[tuple[str, str, str, str, str], ViolationKind]:
        """The kinds keyed by (question, from, to, heavier, lighter), to compare two versions of the rules."""
        return {(k.question, k.source, k.target, k.heavier, k.lighter): k for k in self.kinds}


@dataclass(frozen=True)
class ExploreReport(Jsonable):
    """What `explore` found. Counts are over the whole space, or over the sample when `exhaustive` is false."""

    file: str
    fingerprint: str
    options: int
    questions: int
    rules: int
    space: int                       # combinations, unanswered counting as a state of each question
    full_space: int                  # combinations with every question answered
    exhaustive: bool
    evaluated: int                   # states evaluated for the whole-space figures
    full_evaluated: int              # fully answered states evaluated
    seed: int | None
    seconds: float                   # the evaluation pass
    check_seconds: float             # everything after it
    close_points: float
    shares: tuple[Share, ...]
    full_shares: tuple[Share, ...]
    closeness: tuple[Share, ...]     # ids "tie", "close", "clear"
    close_pairs: tuple[Share, ...]   # ties and close calls per pair of options ("docker/compose")
    close_answers: tuple[Share, ...]  # answers most often in ties or close calls: id "question=choice"
    never_fire: tuple[str, ...]
    dead_weight: tuple[str, ...]
    dead_weight_unchecked: tuple[str, ...]
    idle_rows: tuple[str, ...]
    idle_rows_unchecked: tuple[str, ...]
    never_win: tuple[str, ...]
    closest: tuple[CloseCall, ...]
    full_close: int                  # fully answered states that are ties or close calls
    typical: tuple[tuple[str, Example | None], ...]
    monotonicity: MonotonicityReport | None = None
    unmet_needs: Share | None = None     # states whose winner leaves a need an answer states unmet

    JSON = ("file", "fingerprint", "options", "questions", "rules", "space", "full_space", ("mode", _mode),
            "evaluated", "full_evaluated", "seed", "seconds", "check_seconds",
            ("combinations_per_second", lambda report: report.rate if report.seconds > 0 else None),
            "close_points", "shares", "full_shares", "closeness", "close_pairs", "close_answers", "never_fire",
            "dead_weight", "dead_weight_unchecked", "idle_rows", "idle_rows_unchecked", "never_win", "closest",
            "full_close", ("typical", lambda report: dict(report.typical)), "monotonicity", "unmet_needs")

    @property
    def rate(self) -> float:
        """States evaluated per second in the evaluation pass."""
        return self.evaluated / self.seconds if self.seconds > 0 else float("inf")


@dataclass(frozen=True)
class Flip(Jsonable):
    """States whose recommendation goes from option `source` (old) to option `target` (new)."""

    source: str
    target: str
    share: Share
    examples: tuple[Example, ...] = ()

    JSON = (("from", "source"), ("to", "target"), ("**", "share"), "examples")


@dataclass(frozen=True)
class ScenarioChange(Jsonable):
    name: str
    source: str
    target: str
    ignored: tuple[str, ...]     # "question=choice" answers one side does not understand (left unanswered there)

    JSON = ("name", ("from", "source"), ("to", "target"), "ignored")


@dataclass(frozen=True)
class NeedEdit(Jsonable):
    """One option's stated need on one answer (`unmet` in rules.yaml) that differs between the two files."""

    question: str
    choice: str
    option: str
    old: str | None              # None: the need is new
    new: str | None              # None: the need is gone

    JSON = ("question", "choice", "option", "change", "old", "new")

    @property
    def change(self) -> str:
        return "added" if self.old is None else "removed" if self.new is None else "reworded"


@dataclass(frozen=True)
class DiffReport(Jsonable):
    old_file: str
    new_file: str
    old_fingerprint: str
    new_fingerprint: str
    questions: tuple[str, ...]        # the questions compared (both sides have them)
    space: int                        # combinations of the answers both understand
    exhaustive: bool
    evaluated: int
    seed: int | None
    seconds: float
    changed: Share
    matrix: tuple[Flip, ...]          # every (old winner, new winner) pair that occurs, unchanged ones included
    scenarios: tuple[ScenarioChange, ...]
    scenarios_compared: int
    only_old: dict[str, tuple[str, ...]] = field(default_factory=dict)   # "questions", "choices", "options"
    only_new: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Each over its own file's whole answer space (or a sample of it), not only the answers both understand.
    old_monotonicity: MonotonicityReport | None = None
    new_monotonicity: MonotonicityReport | None = None
    old_unmet_needs: Share | None = None
    new_unmet_needs: Share | None = None
    needs_edited: tuple[NeedEdit, ...] = ()   # stated needs added, removed or reworded, in questionnaire order

    def monotonicity_change(self) -> dict | None:
        """Violations old → new, and the kinds of violation that appear or disappear."""
        if self.old_monotonicity is None or self.new_monotonicity is None:
            return None
        old, new = self.old_monotonicity.by_kind(), self.new_monotonicity.by_kind()
        return {"old": self.old_monotonicity.count, "new": self.new_monotonicity.count,
                "old_mode": _mode(self.old_monotonicity), "new_mode": _mode(self.new_monotonicity),
                "appeared": [kind for key, kind in new.items() if key not in old],
                "disappeared": [kind for key, kind in old.items() if key not in new]}

    def unmet_needs_change(self) -> dict[str, Share] | None:
        """How often the recommendation leaves a stated need unmet, old and new."""
        if self.old_unmet_needs is None or self.new_unmet_needs is None:
            return None
        return {"old": self.old_unmet_needs, "new": self.new_unmet_needs}

    @property
    def flips(self) -> tuple[Flip, ...]:
        return tuple(f for f in self.matrix if f.source != f.target)

    JSON = (("old", lambda report: {"file": report.old_file, "fingerprint": report.old_fingerprint}),
            ("new", lambda report: {"file": report.new_file, "fingerprint": report.new_fingerprint}),
            "questions", "space", ("mode", _mode), "evaluated", "seed", "seconds", "changed", "matrix",
            "scenarios_compared", "scenarios", "only_old", "only_new", ("monotonicity", monotonicity_change),
            ("unmet_needs", unmet_needs_change), "needs_edited")
