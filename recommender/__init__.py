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
from .explain import result_document
from .loader import fingerprint, load_rules, load_rules_text
from .ruleset import RuleSet

__all__ = [
    "AnswerIssue", "AnswersError", "DockwiseError", "Result", "RuleSet", "RulesError", "RulesIssue",
    "RulesSyntaxError", "RulesValidationError", "evaluate", "evaluate_state", "fingerprint", "load_rules",
    "load_rules_text", "parse_answers", "result_document",
]
