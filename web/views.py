"""HTML pages: questionnaire, results (the share link), decision record, how Dockwise decides, health."""

from __future__ import annotations

from functools import lru_cache

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request, url_for

from recommender import RuleSet, evaluate, result_document
from recommender.explain import CLOSENESS_WORDS
from recommender.explore import ExploreReport, explore
from recommender.links import MAX_QUERY_BYTES, LinkAnswers, answers_from_pairs, canonical_query
from recommender.record import decision_record
from recommender.wording import describe_condition, group_changes, sensitivity_phrase

from .forms import form_answers, questionnaire_form_class

bp = Blueprint("web", __name__)


def current_rules() -> RuleSet:
    return current_app.extensions["dockwise"].get()


def results_path(ruleset: RuleSet, answers: dict[str, str]) -> str:
    return url_for("web.results") + "?" + canonical_query(ruleset, answers)


def share_url(ruleset: RuleSet, answers: dict[str, str]) -> str:
    return url_for("web.results", _external=True) + "?" + canonical_query(ruleset, answers)


class InvalidLinkError(Exception):
    """A results link with bad parameters: answered with the questionnaire, prefilled with the valid ones."""

    def __init__(self, ruleset: RuleSet, link: LinkAnswers, messages: list[str]):
        self.ruleset, self.link, self.messages = ruleset, link, messages


def read_link() -> tuple[RuleSet, LinkAnswers]:
    """The rules and the answers of the current request's query string; raise InvalidLinkError when it is bad."""
    ruleset = current_rules()
    if len(request.query_string) > MAX_QUERY_BYTES:
        raise InvalidLinkError(ruleset, LinkAnswers({}, None, ()),
                          [f"The link is longer than {MAX_QUERY_BYTES} bytes; a Dockwise link is much shorter."])
    link = answers_from_pairs(ruleset, request.args.items(multi=True))
    if link.issues:
        raise InvalidLinkError(ruleset, link, [issue.message for issue in link.issues])
    return ruleset, link


def render_questionnaire(ruleset: RuleSet, form, *, status: int = 200, messages=(), bad_questions=(),
                         title: str = "Docker, Compose/Swarm or Kubernetes?"):
    return render_template("questionnaire.html", form=form, rules=ruleset, messages=messages,
                           bad_questions=set(bad_questions), title=title), status


@bp.get("/")
def questionnaire():
    ruleset = current_rules()
    link = answers_from_pairs(ruleset, request.args.items(multi=True))
    form = questionnaire_form_class(ruleset)(formdata=None, data=link.answers)
    return render_questionnaire(ruleset, form)


@bp.post("/")
def submit():
    ruleset = current_rules()
    form = questionnaire_form_class(ruleset)()
    if form.validate():
        return redirect(results_path(ruleset, form_answers(form, ruleset)), 303)
    bad = [name for name in form.errors if name != "csrf_token"]
    messages = [f"“{form[name].label.text}”: that answer is not one of the choices; pick one below." for name in bad]
    return render_questionnaire(ruleset, form, status=400, messages=messages, bad_questions=bad,
                                title="Please check your answers")


@bp.errorhandler(InvalidLinkError)
def invalid_link(error: InvalidLinkError):
    form = questionnaire_form_class(error.ruleset)(formdata=None, data=error.link.answers)
    return render_questionnaire(error.ruleset, form, status=400, messages=error.messages,
                                bad_questions=[issue.question for issue in error.link.issues],
                                title="This link has answers Dockwise does not know")


@bp.get("/results")
def results():
    ruleset, link = read_link()
    document = result_document(evaluate(ruleset, link.answers))
    changes = group_changes(ruleset, document["what_if"],
                            lambda q, c: results_path(ruleset, {**link.answers, q: c}))
    return render_template(
        "results.html", doc=document, rules=ruleset,
        stale=link.fingerprint is not None and link.fingerprint != ruleset.fingerprint,
        share_url=share_url(ruleset, link.answers),
        canonical=results_path(ruleset, link.answers),
        change_url=url_for("web.questionnaire") + "?" + canonical_query(ruleset, link.answers, with_rules=False),
        query=canonical_query(ruleset, link.answers),
        heavier=[group for group in changes if group["direction"] == "heavier"],
        lighter=[group for group in changes if group["direction"] == "lighter"],
        robustness=[sensitivity_phrase(ruleset, entry) for entry in document["sensitivity"]],
        closeness_words=CLOSENESS_WORDS[document["closeness"]],
        labels={option.id: option.label for option in ruleset.options},
    )


@bp.get("/results.md")
def record():
    ruleset, link = read_link()
    document = result_document(evaluate(ruleset, link.answers))
    text = decision_record(document, ruleset, share_url(ruleset, link.answers))
    response = Response(text, mimetype="text/markdown")
    response.headers["Content-Disposition"] = f'attachment; filename="dockwise-{document["recommendation"]}.md"'
    return response


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


@bp.get("/healthz")
def healthz():
    holder = current_app.extensions["dockwise"]
    holder.get_or_none()
    health = holder.health()
    return jsonify(health), 200 if health["rules_fingerprint"] else 503


@bp.get("/favicon.ico")
def favicon():
    return redirect(url_for("static", filename="favicon.svg"), 301)

