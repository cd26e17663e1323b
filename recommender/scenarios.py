"""Golden scenarios: run each against the rules and say whether the expected option won."""

from __future__ import annotations

from dataclasses import dataclass

from .engine import Result, evaluate
from .model import Scenario
from .ruleset import RuleSet


@dataclass(frozen=True)
class ScenarioOutcome:
    scenario: Scenario
    result: Result

    @property
    def passed(self) -> bool:
        return self.result.ruleset.options[self.result.winner].id in self.scenario.expect

    @property
    def winner(self) -> str:
        return self.result.ruleset.options[self.result.winner].id


def run_scenarios(ruleset: RuleSet) -> list[ScenarioOutcome]:
    """Evaluate every scenario of the rules file, in file order."""
    return [ScenarioOutcome(s, evaluate(ruleset, s.answers)) for s in ruleset.scenarios]
