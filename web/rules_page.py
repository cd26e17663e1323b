"""The "How Dockwise decides" page: the rules as written and what they recommend across every questionnaire."""

from __future__ import annotations

from flask import Blueprint, render_template

from recommender.wording import describe_condition

from .analysis import analysis_of, init_analysis
from .context import current_rules

bp = Blueprint("rules_page", __name__)
# The answer-space analysis is computed off the request path (web/analysis.py); the page shows what is ready.
bp.record_once(lambda state: init_analysis(state.app))


def percent(share: float) -> str:
    """A share as the page prints it: one decimal, and never "0.0 %" for a share that is not zero."""
    if 0 < share < 0.0005:
        return "< 0.1 %"
    if 0.9995 < share < 1:
        return "> 99.9 %"
    return f"{share * 100:.1f} %"


@bp.get("/rules")
def how_it_decides():
    ruleset = current_rules()
    by_row: list[list] = [[] for _ in ruleset.criteria]
    for rule in ruleset.rules:
        by_row[rule.criterion].append(rule)
    analysis = analysis_of(ruleset)
    return render_template("rules.html", rules=ruleset, rules_by_row=by_row, analysis=analysis,
                           space=analysis.space, change=analysis.change, percent=percent,
                           conditions=[describe_condition(ruleset, rule.rule.when) for rule in ruleset.rules],
                           labels={option.id: option.label for option in ruleset.options})
