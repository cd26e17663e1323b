"""The questionnaire form, generated from the rules: one radio group per question, 'Not sure' first."""

from __future__ import annotations

from functools import lru_cache

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectChoice

from recommender import RuleSet

NOT_SURE = ""


@lru_cache(maxsize=8)
def questionnaire_form_class(ruleset: RuleSet) -> type[FlaskForm]:
    """A FlaskForm subclass for this rules version (cached, so a reload builds a new one once)."""
    fields = {
        question.id: RadioField(
            question.text,
            choices=[SelectChoice(NOT_SURE, "Not sure"),
                     *(SelectChoice(choice.id, choice.label) for choice in question.choices)],
            default=NOT_SURE,
        )
        for question in ruleset.questions
    }
    return type("QuestionnaireForm", (FlaskForm,), fields)


def form_answers(form: FlaskForm, ruleset: RuleSet) -> dict[str, str]:
    """The answered questions of a validated form."""
    return {q.id: form[q.id].data for q in ruleset.questions if form[q.id].data}
