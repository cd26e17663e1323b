"""Page fragments that depend only on the rules, rendered once per rules version by the macros of _parts.html.

The comparison table, the rows' texts and the answers list are the same HTML for every visitor of a rules
version; rendering them on each request was most of a results page's cost. A request picks and joins them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from flask import current_app
from markupsafe import Markup

from recommender import RuleSet


@dataclass(frozen=True)
class Fragments:
    """Pre-rendered HTML for one RuleSet."""

    table_head: tuple[Markup, ...]                          # [recommended option]
    table_rows: tuple[tuple[tuple[Markup, ...], ...], ...]  # [criterion][driving][recommended option]
    row_texts: dict[str, Markup]                            # criterion id → its options' texts
    answer_rows: tuple[tuple[Markup, ...], ...]             # [question][state]

    def table(self, recommended: int, driving: set[int]) -> Markup:
        """The comparison table's body with the recommended column and the driving rows marked."""
        return Markup("").join(rows[c in driving][recommended] for c, rows in enumerate(self.table_rows))

    def answers(self, state) -> Markup:
        """The answers list of a state."""
        return Markup("").join(self.answer_rows[q][s] for q, s in enumerate(state))


@lru_cache(maxsize=4)
def fragments(ruleset: RuleSet) -> Fragments:
    """The fragments of one rules version (rendered on first use, kept until it is replaced)."""
    macros = current_app.jinja_env.get_template("_parts.html").module
    options = ruleset.options
    return Fragments(
        table_head=tuple(Markup(macros.comparison_head(options, o)) for o in range(len(options))),
        table_rows=tuple(tuple(tuple(Markup(macros.comparison_row(c, options, driving, o))
                                     for o in range(len(options))) for driving in (False, True))
                         for c in ruleset.criteria),
        row_texts={c.id: Markup(macros.row_texts(c, options)) for c in ruleset.criteria},
        answer_rows=tuple(tuple(Markup(macros.answer_row(q, choice)) for choice in (None, *q.choices))
                          for q in ruleset.questions),
    )
