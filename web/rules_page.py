"""The "How Dockwise decides" page: the rules as written and what they recommend across every questionnaire."""

from __future__ import annotations

from functools import lru_cache

from flask import Blueprint, render_template

from recommender import RuleSet
from recommender.explore import ExploreReport, explore
from recommender.wording import describe_condition

from .context import current_rules

bp = Blueprint("rules_page", __name__)


@lru_cache(maxsize=2)
def answer_space(ruleset: RuleSet) -> ExploreReport:
    """The answer-space summary for one rules version: computed on the first visit, then kept until a reload."""
    return explore(ruleset)


@bp.get("/rules")
def how_it_decides():
    ruleset = current_rules()
    by_row: list[list] = [[] for _ in ruleset.criteria]
    for rule in ruleset.rules:
        by_row[rule.criterion].append(rule)
    return render_template("rules.html", rules=ruleset, rules_by_row=by_row, space=answer_space(ruleset),
                           conditions=[describe_condition(ruleset, rule.rule.when) for rule in ruleset.rules],
                           labels={option.id: option.label for option in ruleset.options})
