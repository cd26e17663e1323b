"""Error pages in the site's layout, JSON under /api/, and a CSRF failure that says (and logs) its real reason."""

from __future__ import annotations

import logging
import re

from flask import Flask, current_app, jsonify, render_template, request
from flask.globals import request_ctx
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError, SecurityError

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
}
# The rooms API's codes for errors raised outside its own handlers (README "Team rooms").
ERROR_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large",
               415: "not_json", 500: "server_error", 503: "unavailable"}
# Werkzeug's own message would repeat the Host header, which the client wrote.
UNTRUSTED_HOST = ("This site does not answer to the host name in the request's Host header. If you run this site, add "
                  "the name to DOCKWISE_TRUSTED_HOSTS, or make the proxy in front pass the public host "
                  "(nginx: proxy_set_header Host $host).")
AGAIN = "Go back, reload the page and send it again."
PROXY_HINT = ("If you run this site behind a proxy, the proxy must pass the public Host and X-Forwarded-Proto (with "
              "DOCKWISE_PROXY_FIX set), or set DOCKWISE_PUBLIC_URL to the address users open.")
# Flask-WTF's reasons for refusing a form, each with what the user (or whoever runs the site) can do about it.
CSRF_HINTS = {
    "The CSRF token is missing.": f"The form arrived without its security token. {AGAIN}",
    "The CSRF session token is missing.": "Your browser did not send back this site's cookie, which the form's "
                                          f"security token belongs to (cookies blocked, or cleared). Allow cookies "
                                          f"for this site. {AGAIN}",
    "The CSRF token has expired.": f"The page was left open too long, and its security token expired. {AGAIN}",
    "The CSRF token is invalid.": f"The form's security token is damaged or was not made by this site. {AGAIN}",
    "The CSRF tokens do not match.": "The form's security token belongs to another browser session (the page was "
                                     f"opened before your session changed). {AGAIN}",
    "The referrer header is missing.": "Over HTTPS the browser must say which page sent the form (the Referer "
                                       "header), and it did not: a privacy setting or extension may remove it. "
                                       f"{AGAIN} {PROXY_HINT}",
    "The referrer does not match the host.": "The form was sent from a page at another address than the one it "
                                             f"was sent to. {AGAIN} {PROXY_HINT}",
}


PRIVATE_LINK_TOKEN = re.compile(r"(/rooms/[^/]+/(?:owner|me)/)[^/]+")


def logged_path() -> str:
    """The request's path as the log shows it: a room's private link without its token."""
    return PRIVATE_LINK_TOKEN.sub(r"\1TOKEN", request.path)


def _is_api() -> bool:
    return request.path.startswith("/api/")


def _error_response(status: int, title: str, message: str, headers=None):
    if _is_api():
        entry = {"question": None, "choice": None, "message": message}
        if request.path.startswith("/api/rooms"):  # the rooms API's errors each carry a code (README)
            entry |= {"code": ERROR_CODES.get(status, f"http_{status}"), "field": None}
        response = jsonify({"errors": [entry]})
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
    if isinstance(error, SecurityError):
        message = UNTRUSTED_HOST
    if status == 405 and headers:
        message += f" It accepts: {headers['Allow']}."
    return _error_response(status, error.name, message, headers)


def handle_csrf_error(error: CSRFError):
    reason = error.description or "The CSRF check failed."
    log.warning("form refused on %s %s: %s", request.method, logged_path(), reason)
    message = f"{reason} {CSRF_HINTS.get(reason, AGAIN)}"
    if _is_api():
        return _error_response(400, "Bad Request", message)
    return _error_response(400, "Please send the form again", message)


def handle_unavailable(_error):
    return _error_response(503, "Service Unavailable", EXPLANATIONS[503])


def handle_unexpected(error: Exception):
    log.exception("unhandled error on %s %s", request.method, logged_path(), exc_info=error)
    return _error_response(500, InternalServerError().name, EXPLANATIONS[500])


def init_errors(app: Flask) -> None:
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(RulesUnavailableError, handle_unavailable)
    app.register_error_handler(Exception, handle_unexpected)
