"""Dockwise's pure core: load rules, evaluate answers, explain results. No web framework here."""

from .engine import Result, evaluate, evaluate_state, parse_answers
from .errors import (
                     AnswerIssue,
                     AnswersError,
                     DockwiseError,
                     RulesError,
                     RulesIssue,
                     RulesSyntaxError,
                     RulesValidationError,
)
from .explain import Explanation, explain
from .loader import fingerprint, load_rules, load_rules_text
from .ruleset import RuleSet

__all__ = [
    "AnswerIssue", "AnswersError", "DockwiseError", "Explanation", "Result", "RuleSet", "RulesError", "RulesIssue",
    "RulesSyntaxError", "RulesValidationError", "evaluate", "evaluate_state", "explain", "fingerprint", "load_rules",
    "load_rules_text", "parse_answers",
]
