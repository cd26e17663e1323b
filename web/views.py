"""HTML pages: questionnaire, results (the share link), decision record, how Dockwise decides, health."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request, url_for
from markupsafe import Markup

from recommender import RuleSet, evaluate, result_document
from recommender.links import answers_from_pairs, canonical_query
from recommender.record import decision_record
from recommender.wording import (
    CLOSENESS_WORDS,
    group_changes,
    open_outlook,
    sensitivity_phrase,
    unmet_lines,
    unmet_phrase,
)

from .context import InvalidLinkError, current_rules, read_link
from .forms import form_answers, questionnaire_form_class
from .pages import page_parts
from .paths import site_paths

bp = Blueprint("web", __name__)


def results_path(ruleset: RuleSet, answers: dict[str, str]) -> str:
    return url_for("web.results") + "?" + canonical_query(ruleset, answers)


def share_url(ruleset: RuleSet, answers: dict[str, str]) -> str:
    return url_for("web.results", _external=True) + "?" + canonical_query(ruleset, answers)


def render_questionnaire(ruleset: RuleSet, values, *, status: int = 200, messages=(), bad_questions=(),
                         title: str = "Docker, Compose/Swarm or Kubernetes?", notice: str | None = None):
    """The questionnaire with `values` ({question id: choice id}) checked and `bad_questions` flagged."""
    parts = page_parts(ruleset)
    fieldsets = []
    for q, question in enumerate(ruleset.questions):
        if question.id in bad_questions:
            fieldsets.append(parts.bad_fieldsets[q])
        else:
            value = values.get(question.id) or ""
            fieldsets.append(parts.fieldsets[q][ruleset.choice_index[q].get(value, 0)])
    return render_template("questionnaire.html", messages=messages, title=title, notice=notice,
                           fieldsets=Markup("").join(fieldsets)), status


@bp.get("/")
def questionnaire():
    ruleset = current_rules()
    link = answers_from_pairs(ruleset, request.args.items(multi=True))
    return render_questionnaire(ruleset, link.answers)


@bp.post("/")
def submit():
    ruleset = current_rules()
    # Only ever the posted form: Flask-WTF would otherwise read a JSON body as form data.
    form = questionnaire_form_class(ruleset)(formdata=request.form)
    if form.validate():
        return redirect(results_path(ruleset, form_answers(form, ruleset)), 303)
    bad = [name for name in form.errors if name != "csrf_token"]
    messages = [f"“{form[name].label.text}”: that answer is not one of the choices; pick one below." for name in bad]
    return render_questionnaire(ruleset, request.form, status=400, messages=messages, bad_questions=bad,
                                title="Please check your answers")


@bp.errorhandler(InvalidLinkError)
def invalid_link(error: InvalidLinkError):
    return render_questionnaire(error.ruleset, error.link.answers, status=400, messages=error.messages,
                                bad_questions=[issue.question for issue in error.link.issues],
                                title="This link has answers Dockwise does not know")


NO_ANSWERS_NOTICE = ("No question is answered yet, so there is nothing to recommend: with nothing answered, every "
                     "option scores the same. Answer the questions you can below, leave the rest at “Not sure”, "
                     "and press Recommend.")


@bp.get("/results")
def results():
    ruleset, link = read_link()
    if not link.answers:
        # No answers, no recommendation: the tie-break's pick would read as one, so ask for answers instead.
        return render_questionnaire(ruleset, {}, title="Answer a few questions first", notice=NO_ANSWERS_NOTICE)
    result = evaluate(ruleset, link.answers)
    document = result_document(result)
    parts = page_parts(ruleset)
    state, fingerprint = result.state, ruleset.fingerprint
    paths = site_paths()
    results_base = paths["results"] + "?"
    query = parts.query(state, fingerprint)
    change_url = paths["questionnaire"] + "?" + parts.query(state, None)

    def changed_link(question_id: str, choice_id: str) -> str:
        q = ruleset.question_index[question_id]
        changed = state[:q] + (ruleset.choice_index[q][choice_id],) + state[q + 1:]
        return results_base + parts.query(changed, fingerprint)

    changes = group_changes(ruleset, document["what_if"], changed_link)
    driving = {ruleset.criterion_index[row["criterion"]] for row in document["drivers"]}
    share = request.host_url.rstrip("/") + results_base + query
    return render_template(
        "results.html", doc=document, labels=parts.labels,
        stale=link.fingerprint is not None and link.fingerprint != fingerprint,
        share_url=share, canonical=share,
        change_url=change_url,
        query=query,
        accent=result.winner % 4,
        bars=parts.bars(document),
        drivers=parts.drivers(document["drivers"], "h3", ruleset.criterion_index),
        against=parts.drivers(document["against"], "h4", ruleset.criterion_index),
        heavier=parts.changes([group for group in changes if group["direction"] == "heavier"]),
        lighter=parts.changes([group for group in changes if group["direction"] == "lighter"]),
        open_questions=[ruleset.questions[ruleset.question_index[q]] for q in document["unanswered_could_change"]],
        robustness=[sensitivity_phrase(ruleset, entry) for entry in document["sensitivity"]],
        closeness_words=CLOSENESS_WORDS[document["closeness"]],
        unmet=[unmet_phrase(need["text"]) for need in document["unmet_needs"][document["recommendation"]]],
        unmet_by_option=unmet_lines(ruleset, document),
        open_outlook=open_outlook(ruleset, document),
        table_head=parts.table_head[result.winner],
        table_rows=Markup("").join(parts.table_rows[c][c in driving][result.winner]
                                   for c in range(len(ruleset.criteria))),
        answers_html=Markup("").join(parts.answer_rows[q][s] for q, s in enumerate(state)),
    )


@bp.get("/results.md")
def record():
    ruleset, link = read_link()
    document = result_document(evaluate(ruleset, link.answers))
    text = decision_record(document, ruleset, share_url(ruleset, link.answers))
    response = Response(text, mimetype="text/markdown")
    name = "no-answers" if document["closeness"] == "unanswered" else document["recommendation"]
    response.headers["Content-Disposition"] = f'attachment; filename="dockwise-{name}.md"'
    return response


@bp.get("/healthz")
def healthz():
    holder = current_app.extensions["dockwise"]
    holder.get_or_none()
    health = holder.health()
    return jsonify(health), 200 if health["rules_fingerprint"] else 503


@bp.get("/favicon.ico")
def favicon():
    return redirect(url_for("static", filename="favicon.svg"), 301)

