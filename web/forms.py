"""The questionnaire as a WTForms form built from the rules: one radio group per question, 'Not sure' first.

It is a GET form to /results that changes nothing, so it carries no CSRF token and needs no session. Its fields say
what is wrong with an answer in the core's words (`recommender.links`), so a form and a share link never disagree.
"""

from __future__ import annotations

from functools import lru_cache

from werkzeug.datastructures import MultiDict
from wtforms import Form, RadioField, SelectChoice

from recommender import RuleSet
from recommender.links import choice_issue, twice_issue

NOT_SURE = ""


class AnswerField(RadioField):
    """One question's radio group; an unknown choice or two different ones get the core's message."""

    def __init__(self, *args, ruleset: RuleSet, **kwargs):
        super().__init__(*args, **kwargs)
        self.ruleset = ruleset

    def process_formdata(self, valuelist):
        # The values in order, as recommender.links.answers_from_pairs reads them: the first problem wins, and a
        # question with a problem counts as "Not sure" (so the bad value is never shown as checked).
        self.data = NOT_SURE
        for value in valuelist:
            if value == NOT_SURE:
                continue
            issue = choice_issue(self.ruleset, self.name, value) or (
                twice_issue(self.name, self.data, value) if self.data not in (NOT_SURE, value) else None)
            if issue is not None:
                self.data = NOT_SURE
                raise ValueError(issue.message)
            self.data = value

    def pre_validate(self, form):
        """Nothing left to check: process_formdata accepted only the question's choices."""


@lru_cache(maxsize=8)
def questionnaire_form_class(ruleset: RuleSet) -> type[Form]:
    """A Form subclass for this rules version (cached, so a reload builds a new one once)."""
    fields = {
        question.id: AnswerField(
            question.text,
            choices=[SelectChoice(NOT_SURE, "Not sure"),
                     *(SelectChoice(choice.id, choice.label) for choice in question.choices)],
            default=NOT_SURE,
            ruleset=ruleset,
        )
        for question in ruleset.questions
    }
    return type("QuestionnaireForm", (Form,), fields)


def questionnaire_form(ruleset: RuleSet, formdata: MultiDict | None = None) -> Form:
    """The questionnaire filled from `formdata` (a link's query or an old page's POST), validated when given."""
    form = questionnaire_form_class(ruleset)(formdata=formdata or None)
    if formdata:
        form.validate()
    return form
