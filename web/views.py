"""HTML pages: questionnaire, results (the share link), decision record, health."""

from __future__ import annotations

import hashlib

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from recommender import RuleSet, evaluate, explain
from recommender.links import answers_from_pairs, canonical_query
from recommender.record import decision_record

from .context import InvalidLinkError, current_rules, read_link, results_path, share_url
from .forms import questionnaire_form
from .fragments import fragments

bp = Blueprint("web", __name__)

NO_ANSWERS_NOTICE = ("No question is answered yet, so there is nothing to recommend: with nothing answered, every "
                     "option scores the same. Answer the questions you can below, leave the rest at “Not sure”, "
                     "and press Recommend.")
STATIC_PAGES_KEPT = 8  # (rules version, script root) pairs whose questionnaire bytes are kept


def render_questionnaire(ruleset: RuleSet, formdata: MultiDict | None = None, *, status: int = 200,
                         messages=(), title: str | None = None, notice: str | None = None):
    """The questionnaire filled from `formdata` (its bad answers flagged), with `messages` above it."""
    form = questionnaire_form(ruleset, formdata)
    return render_template("questionnaire.html", rules=ruleset, form=form, messages=messages, notice=notice,
                           title=title or ruleset.model.site.heading), status


@bp.get("/")
def questionnaire():
    ruleset = current_rules()
    if request.args:
        # "Change answers" links here with the answers, to be shown ticked.
        return render_questionnaire(ruleset, request.args)
    body, etag = static_questionnaire(ruleset)
    # Revalidate every time (the rules, and so the page, can change at any moment); a browser's copy is usually
    # still good.
    headers = {"ETag": f'"{etag}"', "Cache-Control": "no-cache"}
    if request.if_none_match.contains_weak(etag):
        return Response(status=304, headers=headers)
    return Response(body, mimetype="text/html", headers=headers)


def static_questionnaire(ruleset: RuleSet) -> tuple[bytes, str]:
    """The blank questionnaire's bytes and ETag: the same for every visitor of a rules version, rendered once."""
    cache = current_app.extensions.setdefault("dockwise.questionnaire", {})
    key = (ruleset, request.script_root)
    found = cache.get(key)
    if found is None:
        body = render_questionnaire(ruleset)[0].encode()
        found = body, hashlib.sha256(body).hexdigest()[:32]
        if len(cache) >= STATIC_PAGES_KEPT:
            cache.clear()
        cache[key] = found
    return found


@bp.post("/")
def submit():
    """A questionnaire opened before the form became a GET form posts here; its answers still land on results."""
    ruleset = current_rules()
    link = answers_from_pairs(ruleset, request.form.items(multi=True))
    if link.issues:
        return render_questionnaire(ruleset, request.form, status=400, title="Please check your answers",
                                    messages=[issue.message for issue in link.issues])
    return redirect(results_path(canonical_query(ruleset, link.answers)), 303)


@bp.errorhandler(InvalidLinkError)
def invalid_link(error: InvalidLinkError):
    return render_questionnaire(error.ruleset, request.args, status=400, messages=error.messages,
                                title="This link has answers Dockwise does not know")


@bp.get("/results")
def results():
    ruleset, link = read_link()
    if not link.answers:
        # No answers, no recommendation: the tie-break's pick would read as one, so ask for answers instead.
        return render_questionnaire(ruleset, title="Answer a few questions first", notice=NO_ANSWERS_NOTICE)
    canonical = canonical_query(ruleset, link.answers, with_rules=link.fingerprint is not None,
                                fingerprint=link.fingerprint)
    if request.query_string != canonical.encode():
        # A submitted questionnaire sends every question, "Not sure" too: show (and share) the canonical link.
        return redirect(results_path(canonical), 303)
    explanation = explain(evaluate(ruleset, link.answers))
    query = explanation.query()
    groups = explanation.change_groups()
    return render_template(
        "results.html", e=explanation, fragments=fragments(ruleset), query=query, share_url=share_url(query),
        heavier=[group for group in groups if group.direction == "heavier"],
        lighter=[group for group in groups if group.direction == "lighter"],
        bars=score_bars(explanation),
        stale=link.fingerprint is not None and link.fingerprint != ruleset.fingerprint,
        recommended=ruleset.option_index[explanation.recommendation.id],
        driving={ruleset.criterion_index[row.criterion.id] for row in explanation.drivers},
    )


def score_bars(explanation) -> list[tuple]:
    """Per option in ranking order: (standing, accent number, bar x, bar width) on a 0–100 axis that includes 0, so
    negative scores read as such."""
    scores = [standing.score for standing in explanation.ranking]
    low = min(0.0, *scores)
    span = (max(0.0, *scores) - low) or 1.0
    accent = explanation.ruleset.accent
    return [(standing, accent(standing.option.id), f"{(min(standing.score, 0.0) - low) / span * 100:.2f}",
             f"{max(abs(standing.score) / span * 100, 0.8):.2f}") for standing in explanation.ranking]


@bp.get("/results.md")
def record():
    ruleset, link = read_link()
    explanation = explain(evaluate(ruleset, link.answers))
    response = Response(decision_record(explanation, share_url(explanation.query())), mimetype="text/markdown")
    name = explanation.recommendation.id if explanation.answered else "no-answers"
    response.headers["Content-Disposition"] = f'attachment; filename="dockwise-{name}.md"'
    return response


@bp.get("/healthz")
def healthz():
    """200 when serving the rules file as it is; 503 when degraded (the last good rules serve while the file is
    refused) or failing (no rules). Never waits for a reload. Errors and times only with HEALTH_DETAILS on, or for a
    request from this machine when no proxy is configured (no PROXY_FIX, no PUBLIC_URL: behind one, every request
    comes from the proxy's address) that names no forwarding proxy either."""
    holder = current_app.extensions["dockwise"]
    config = current_app.config
    local = (not config["PROXY_FIX"] and not config["PUBLIC_URL"] and request.remote_addr in ("127.0.0.1", "::1")
             and "X-Forwarded-For" not in request.headers and "Forwarded" not in request.headers)
    health = holder.health(details=local or holder.health_details)
    return jsonify(health), 200 if health["status"] == "ok" else 503


@bp.get("/favicon.ico")
def favicon():
    return redirect(url_for("static", filename="favicon.svg"), 301)
