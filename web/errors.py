"""Error pages in the site's layout, JSON under /api/, and a friendly CSRF failure that keeps the answers."""

from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, render_template, request
from flask.globals import request_ctx
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from .rules_holder import RulesUnavailableError

log = logging.getLogger("dockwise.web")

EXPLANATIONS = {
    400: "The request could not be understood.",
    404: "There is no page at this address.",
    405: "This address does not accept that kind of request.",
    413: "The request is larger than Dockwise accepts (16 KiB).",
    415: "The request body is not in a format this address accepts.",
    500: "Something went wrong on our side. Your answers are safe in the link you came from; please try again.",
    503: "Dockwise's rules could not be loaded, so no recommendation can be made right now.",
    "csrf": "The form could not be sent because its security token was missing or had expired (this happens when "
            "a page is left open for a long time, or cookies are blocked). Go back, reload the page and send it "
            "again.",
}


def _is_api() -> bool:
    return request.path.startswith("/api/")


def _error_response(status: int, title: str, message: str, headers=None):
    if _is_api():
        response = jsonify({"errors": [{"question": None, "choice": None, "message": message}]})
    else:
        if request_ctx.url_adapter is None:
            # Werkzeug refused the Host header before Flask could build URLs; the page's links need them.
            request_ctx.url_adapter = current_app.url_map.bind(
                "localhost", script_name=request.script_root or "/", url_scheme=request.scheme)
        response = render_template("error.html", status=status, title=title, message=message)
    return response, status, headers or {}


def handle_http_error(error: HTTPException):
    status = error.code or 500
    headers = {k: v for k, v in error.get_headers() if k.lower() == "allow"}
    # A message given with abort(...) says more than the general explanation of the status.
    custom = error.description and error.description != type(error).description
    message = error.description if custom else EXPLANATIONS.get(status, error.description or "")
    if status == 405 and headers:
        message += f" It accepts: {headers['Allow']}."
    return _error_response(status, error.name, message, headers)


def handle_csrf_error(error: CSRFError):
    if _is_api():
        return _error_response(400, "Bad Request", "the form's security token is missing or expired")
    return _error_response(400, "Please send the form again", EXPLANATIONS["csrf"])


def handle_unavailable(_error):
    return _error_response(503, "Service Unavailable", EXPLANATIONS[503])


def handle_unexpected(error: Exception):
    log.exception("unhandled error on %s %s", request.method, request.path, exc_info=error)
    return _error_response(500, InternalServerError().name, EXPLANATIONS[500])


def init_errors(app: Flask) -> None:
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(RulesUnavailableError, handle_unavailable)
    app.register_error_handler(Exception, handle_unexpected)
