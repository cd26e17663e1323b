"""The JSON API: questions, and recommendations by POST body or by the share link's query. Never HTML."""

from __future__ import annotations

import json

from flask import Blueprint, jsonify, request

from recommender import AnswersError, evaluate, explain
from recommender.errors import AnswerIssue

from .context import InvalidLinkError, current_rules, read_link, share_url

bp = Blueprint("api", __name__, url_prefix="/api")


def errors_response(issues: list[AnswerIssue] | list[dict], status: int = 400):
    payload = [issue.as_dict() if isinstance(issue, AnswerIssue) else issue for issue in issues]
    return jsonify({"errors": payload}), status


@bp.after_request
def options_as_json(response):
    """Flask answers OPTIONS itself with an empty HTML body; the API answers JSON, always."""
    if request.method == "OPTIONS":
        allow = sorted(m.strip() for m in response.headers.get("Allow", "").split(",") if m.strip())
        response.set_data(json.dumps({"allow": allow}))
        response.mimetype = "application/json"
    return response


@bp.get("/questions")
def questions():
    ruleset = current_rules()
    return jsonify({
        "rules_fingerprint": ruleset.fingerprint,
        "questions": [{
            "id": q.id, "text": q.text, "help": q.help,
            "choices": [{"id": c.id, "label": c.label} for c in q.choices],
            "informs": [c.id for c in ruleset.criteria_read_by(q.id)],
        } for q in ruleset.questions],
        "options": [{"id": o.id, "label": o.label} for o in ruleset.options],
    })


def _recommendation(ruleset, answers: dict[str, str]):
    explanation = explain(evaluate(ruleset, answers))
    document = explanation.as_json()
    document["share_url"] = share_url(explanation.query())
    return jsonify(document)


@bp.get("/recommendations")
def recommendation_from_query():
    try:
        ruleset, link = read_link()
    except InvalidLinkError as error:
        named = {issue.message for issue in error.link.issues}
        general = [{"question": None, "choice": None, "message": m} for m in error.messages if m not in named]
        return errors_response(general + [issue.as_dict() for issue in error.link.issues])
    return _recommendation(ruleset, link.answers)


@bp.post("/recommendations")
def recommendation_from_body():
    if not request.is_json:
        return errors_response([{"question": None, "choice": None,
                                 "message": "send a JSON body with Content-Type: application/json"}], 415)
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        return errors_response([{"question": None, "choice": None,
                                 "message": "the JSON body is nested too deeply; send {\"answers\": {...}}"}])
    if body is None:
        return errors_response([{"question": None, "choice": None, "message": "the body is not valid JSON"}])
    answers = body.get("answers") if isinstance(body, dict) else None
    if not isinstance(answers, dict):
        return errors_response([{"question": None, "choice": None,
                                 "message": 'expected {"answers": {"question": "choice", ...}}'}])
    ruleset = current_rules()
    try:
        return _recommendation(ruleset, {q: c for q, c in answers.items() if c is not None and c != ""})
    except AnswersError as error:
        return errors_response(error.issues)
