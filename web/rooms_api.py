"""The rooms' JSON API (/api/rooms): create a room, join it, answer privately, reveal, read the results, delete.

Owner and member tokens travel only in `Authorization: Bearer <token>`, never in a URL or a body, so that they stay
out of access logs and browser histories. Errors have the JSON API's shape, each entry with the RoomError's `code`
(and `field`, `hint` and its other fields): `{"errors": [{"question": …, "choice": …, "message": …, "code": …}]}`.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, jsonify, request, url_for
from sqlalchemy.exc import OperationalError

from recommender import AnswersError
from rooms import RoomClosedError, RoomError, RoomFullError, RoomInputError, RoomNotFoundError, TokenRefusedError
from rooms.errors import NameTakenError

from .api import options_as_json
from .context import current_rules, share_url
from .rooms_service import (
    RateLimitedError,
    RoomsUnavailableError,
    checked_answers,
    current_rooms,
    database_unreachable,
    iso,
    room_state,
    room_summary,
)

bp = Blueprint("rooms_api", __name__, url_prefix="/api/rooms")
bp.after_request(options_as_json)


@bp.after_request
def never_kept(response):
    """A room's state holds its members' names and answers, and creation returns tokens: no cache keeps any of it."""
    response.headers["Cache-Control"] = "no-store"
    return response

STATUS = {RoomNotFoundError: 404, TokenRefusedError: 403, RoomFullError: 409, NameTakenError: 409,
          RoomClosedError: 409, RoomInputError: 400}


class BodyError(Exception):
    """The request body is not the JSON object expected; `status` is 415 or 400."""

    def __init__(self, message: str, status: int = 400, field: str | None = None):
        super().__init__(message)
        self.message, self.status, self.field = message, status, field


class MissingTokenError(Exception):
    """No `Authorization: Bearer <token>` header; `role` says whose token is expected."""

    def __init__(self, role: str):
        super().__init__(role)
        self.role = role


def _error(message: str, status: int, code: str, **fields):
    return jsonify({"errors": [{"question": None, "choice": None, "message": message, "code": code, "field": None,
                                **fields}]}), status


@bp.errorhandler(RoomError)
def room_error(error: RoomError):
    message = f"{error.message}; {error.hint}" if error.hint else error.message
    entry = {"question": None, "choice": None, "field": None, **error.as_dict(), "message": message}
    return jsonify({"errors": [entry]}), STATUS.get(type(error), 400)


@bp.errorhandler(AnswersError)
def answers_error(error: AnswersError):
    return jsonify({"errors": [{**issue.as_dict(), "code": "invalid_answer", "field": "answers"}
                               for issue in error.issues]}), 400


@bp.errorhandler(BodyError)
def body_error(error: BodyError):
    return _error(error.message, error.status, "invalid_body" if error.status == 400 else "not_json",
                  field=error.field)


@bp.errorhandler(MissingTokenError)
def missing_token(error: MissingTokenError):
    response, status = _error(f"this request needs the {error.role} token: send it as `Authorization: Bearer "
                              "<token>`", 401, "token_missing", role=error.role)
    response.headers["WWW-Authenticate"] = 'Bearer realm="dockwise rooms"'
    return response, status


@bp.errorhandler(RateLimitedError)
def rate_limited(error: RateLimitedError):
    response, status = _error(f"{error.message}; try again in {error.retry_after} seconds", 429, "rate_limited",
                              retry_after=error.retry_after)
    response.headers["Retry-After"] = str(error.retry_after)
    return response, status


@bp.errorhandler(RoomsUnavailableError)
def rooms_unavailable(error: RoomsUnavailableError):
    return _error(str(error), 503, "rooms_unavailable")


@bp.errorhandler(OperationalError)
def database_down(error: OperationalError):
    return rooms_unavailable(database_unreachable(error))


def _body(*expected: str) -> dict:
    """The JSON object sent, with only the `expected` keys read; BodyError when there is none."""
    shape = "{" + ", ".join(f'"{key}": …' for key in expected) + "}"
    if not request.is_json:
        raise BodyError("send a JSON body with Content-Type: application/json", 415)
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        raise BodyError(f"the JSON body is nested too deeply; send {shape}") from None
    if body is None:
        raise BodyError("the body is not valid JSON")
    if not isinstance(body, dict):
        raise BodyError(f"expected a JSON object: {shape}")
    return body


def _bearer(role: str) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MissingTokenError(role)
    return token.strip()


def _closes_at(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    example = "e.g. 2030-05-01T17:00:00Z"
    if not isinstance(value, str):
        raise RoomInputError("closes_at", "expected an ISO 8601 date and time with a time zone", example)
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise RoomInputError("closes_at", f"{value[:40]!r} is not an ISO 8601 date and time", example) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise RoomInputError("closes_at", f"{value[:40]!r} has no time zone", f"add Z or an offset, {example}")
    return moment


def _url(endpoint: str, room_id: str, **values: str) -> str:
    """An absolute link, built as share links are (DOCKWISE_PUBLIC_URL's origin and prefix when it is set)."""
    return url_for(endpoint, room_id=room_id, _external=True, **values)


def _member_json(member) -> dict:
    return {"name": member.name, "answered": member.has_answered, "joined_at": iso(member.created_at),
            "updated_at": iso(member.updated_at)}


@bp.post("")
def create_room():
    body = _body("title", "closes_at")
    closes_at = _closes_at(body.get("closes_at"))
    title = body.get("title")
    if title is None:
        raise RoomInputError("title", "is missing", 'send {"title": "Our platform"}')
    rooms = current_rooms()
    room, owner_token = rooms.create_room(request.remote_addr or "", title, closes_at, current_rules().fingerprint)
    return jsonify({"room": room_summary(room, rooms.clock()), "owner_token": owner_token,
                    "links": {"owner": _url("rooms.owner", room.id, token=owner_token),
                              "join": _url("rooms.join", room.id), "results": _url("rooms.room", room.id),
                              "api": _url("rooms_api.room", room.id)}}), 201


@bp.get("/<room_id>")
def room(room_id: str):
    rooms = current_rooms()
    view = rooms.store().get_room(room_id)
    return jsonify(room_state(view, current_rules(), rooms.clock(), share_url))


@bp.delete("/<room_id>")
def delete_room(room_id: str):
    current_rooms().store().delete_room(room_id, _bearer("owner"))
    return "", 204


@bp.post("/<room_id>/reveal")
def reveal(room_id: str):
    rooms = current_rooms()
    view = rooms.store().reveal(room_id, _bearer("owner"))
    return jsonify(room_state(view, current_rules(), rooms.clock(), share_url))


@bp.post("/<room_id>/members")
def join(room_id: str):
    name = _body("name").get("name")
    if name is None:
        raise RoomInputError("name", "is missing", 'send {"name": "Ann"}')
    member, token = current_rooms().store().join(room_id, name)
    return jsonify({"member": _member_json(member), "member_token": token,
                    "links": {"answer": _url("rooms.member", room_id, token=token),
                              "results": _url("rooms.room", room_id), "api": _url("rooms_api.me", room_id)}}), 201


@bp.get("/<room_id>/members/me")
def me(room_id: str):
    rooms = current_rooms()
    member = rooms.store().member(room_id, _bearer("member"))
    return jsonify({"member": {**_member_json(member), "answers": member.answers or {}}})


@bp.route("/<room_id>/members/me", methods=["PUT", "POST"])
def answer(room_id: str):
    token = _bearer("member")
    answers = _body("answers").get("answers")
    if not isinstance(answers, dict):
        raise RoomInputError("answers", "expected an object of question id to choice id",
                             'send {"answers": {"services": "few", "hosts": "one"}}')
    store = current_rooms().store()
    store.member(room_id, token)  # a stranger learns nothing about the rules' ids from a refused token
    member = store.submit_answers(room_id, token, checked_answers(current_rules(), answers))
    return jsonify({"member": {**_member_json(member), "answers": member.answers or {}}})
