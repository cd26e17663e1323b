"""Page parts that depend only on the rules, rendered once per rules version and reused by every request.

The results page and the questionnaire are mostly the same HTML for every visitor: the comparison table, the row
texts, the answers list, the question fieldsets. Rendering those from Jinja on each request cost most of a request's
time; here they are rendered once (from the macros in templates/_parts.html) when a rules version is first used,
and a request only picks and joins the right pieces.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from flask import current_app
from markupsafe import Markup

from recommender import RuleSet
from recommender.links import RULES_PARAM


@dataclass(frozen=True)
class PageParts:
    """Pre-rendered fragments and pre-built query pieces for one RuleSet."""

    params: tuple[tuple[str, ...], ...]                 # [question][state] → "services=few" ("" when unanswered)
    table_head: tuple[Markup, ...]                      # [recommended option]
    table_rows: tuple[tuple[tuple[Markup, ...], ...], ...]  # [criterion][driving][recommended option]
    row_texts: tuple[Markup, ...]                       # [criterion]
    answer_rows: tuple[tuple[Markup, ...], ...]         # [question][state]
    fieldsets: tuple[tuple[Markup, ...], ...]           # [question][state], state 0 = Not sure
    bad_fieldsets: tuple[Markup, ...]                   # [question], flagged as invalid, nothing chosen

    def query(self, state, fingerprint: str | None) -> str:
        """The canonical share-link query for a state (ids are URL-safe by the rules schema: no quoting needed)."""
        pieces = [self.params[q][s] for q, s in enumerate(state) if s]
        if fingerprint:
            pieces.append(f"{RULES_PARAM}={fingerprint}")
        return "&".join(pieces)


@lru_cache(maxsize=4)
def page_parts(ruleset: RuleSet) -> PageParts:
    macros = current_app.jinja_env.get_template("_parts.html").module
    options = ruleset.options
    n = len(options)
    return PageParts(
        params=tuple(("",) + tuple(f"{q.id}={c.id}" for c in q.choices) for q in ruleset.questions),
        table_head=tuple(Markup(macros.comparison_head(options, o)) for o in range(n)),
        table_rows=tuple(tuple(tuple(Markup(macros.comparison_row(c, options, driving, o)) for o in range(n))
                               for driving in (False, True)) for c in ruleset.criteria),
        row_texts=tuple(Markup(macros.row_texts(c, options)) for c in ruleset.criteria),
        answer_rows=tuple(tuple(Markup(macros.answer_row(q, choice)) for choice in (None, *q.choices))
                          for q in ruleset.questions),
        fieldsets=tuple(tuple(Markup(macros.question_fieldset(q, value, False, ruleset.criteria_read_by(q.id)))
                              for value in ("", *(c.id for c in q.choices))) for q in ruleset.questions),
        bad_fieldsets=tuple(Markup(macros.question_fieldset(q, "", True, ruleset.criteria_read_by(q.id)))
                            for q in ruleset.questions),
    )
