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
from markupsafe import Markup, escape

from recommender import RuleSet
from recommender.links import RULES_PARAM
from recommender.wording import group_phrase


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
    escaped: dict[str, str]                             # every text of the rules → its HTML-escaped form
    labels: dict[str, str]                              # option id → label
    accents: dict[str, int]                             # option id → accent colour class number

    def esc(self, text: str) -> str:
        """HTML-escaped text: a lookup for the rules' own texts, escaping only for anything else."""
        found = self.escaped.get(text)
        return found if found is not None else str(escape(text))

    def bars(self, document: dict) -> Markup:
        """One bar per option on a shared axis that includes 0, so negative scores read as such."""
        scores = [entry["score"] for entry in document["ranking"]]
        low, high = min(0.0, *scores), max(0.0, *scores)
        span = (high - low) or 1.0
        out = []
        for entry in document["ranking"]:
            winner = entry["option"] == document["recommendation"]
            score = entry["score"]
            out.append(
                f'<li class="bar-row{" winner" if winner else ""}{" excluded" if entry["excluded"] else ""}">'
                f'<span class="bar-label">{self.esc(entry["label"])}'
                f'{" <span class=tag>recommended</span>" if winner else ""}'
                f'{" <span class=tag>ruled out</span>" if entry["excluded"] else ""}</span>'
                f'<svg class="bar accent-{self.accents[entry["option"]]}" viewBox="0 0 100 10" '
                f'preserveAspectRatio="none" '
                f'aria-hidden="true" focusable="false"><rect class="track" x="0" y="0" width="100" height="10"/>'
                f'<rect class="fill" x="{(min(score, 0.0) - low) / span * 100:.2f}" y="0" '
                f'width="{max(abs(score) / span * 100, 0.8):.2f}" height="10"/></svg>'
                f'<span class="bar-value">{score:g} points</span></li>\n')
        return Markup("".join(out))

    def drivers(self, rows: list[dict], heading: str, criterion_index) -> Markup:
        """The driver cards: row, its contribution to the lead, the reasons that fired, the row's texts."""
        out = []
        for row in rows:
            reasons = "".join(f"<li>{self.esc(reason)}</li>" for reason in row["reasons"])
            out.append(f'<article class="driver">\n<{heading}>{self.esc(row["label"])} '
                       f'<span class="lead-points">{row["lead"]:+g} to the lead</span></{heading}>\n'
                       f'<ul>{reasons}</ul>\n{self.row_texts[criterion_index[row["criterion"]]]}\n</article>\n')
        return Markup("".join(out))

    def changes(self, groups: list[dict]) -> Markup:
        """What-if groups: the question, each choice that flips it as a link, and the new recommendation."""
        out = []
        for group in groups:
            phrase = group_phrase({"question": self.esc(group["question"]), "choices": group["choices"]},
                                  lambda c: f'“<a href="{escape(c["url"])}#answer">{self.esc(c["label"])}</a>”')
            out.append(f'<li>{phrase} → {self.esc(self.labels[group["recommendation"]])}</li>\n')
        return Markup("".join(out))

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
        escaped={text: str(escape(text)) for text in _texts(ruleset)},
        labels={option.id: option.label for option in options},
        accents={option.id: index % 4 for index, option in enumerate(options)},
    )


def _texts(ruleset: RuleSet):
    for option in ruleset.options:
        yield option.label
    for criterion in ruleset.criteria:
        yield criterion.label
    for question in ruleset.questions:
        yield question.text
        for choice in question.choices:
            yield choice.label
    for rule in ruleset.rules:
        yield rule.rule.because
