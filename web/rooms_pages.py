"""The rooms' HTML pages: start a room, the owner's page (reveal, delete), join, a member's own page (change answers),
the room's page (who has answered; after the reveal, the group's results) and its decision record.

Private links carry their token in the path (`/rooms/<id>/owner/<token>`, `/rooms/<id>/me/<token>`): there are no
accounts, so the link is the key, as in a password-reset mail. Those pages are never cached (`no-store`), send no
Referer to other sites (`Referrer-Policy: same-origin`) and ask search engines not to index them. Every form that
changes something is a POST checked by Flask-WTF's CSRFProtect, and works without JavaScript.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

from flask import Blueprint, Response, abort, flash, get_flashed_messages, redirect, render_template, request, url_for
from sqlalchemy.exc import OperationalError
from werkzeug.datastructures import MultiDict
from wtforms import DateTimeLocalField, Form, StringField

from recommender import RuleSet
from recommender.group import GROUP_RULE, GroupResult, counted_state
from recommender.group_record import group_decision_record
from recommender.links import answers_from_pairs, canonical_query
from rooms import RoomClosedError, RoomError, RoomFullError, RoomInputError, RoomNotFoundError, TokenRefusedError
from rooms.errors import NameTakenError
from rooms.store import Limits, RoomView

from .context import current_rules, share_url
from .forms import questionnaire_form
from .rooms_service import (
    RateLimitedError,
    RoomsUnavailableError,
    current_rooms,
    database_unreachable,
    group_results,
    room_status,
)

bp = Blueprint("rooms", __name__, url_prefix="/rooms")

LIMITS = Limits()
CLOSES_AT_FORMAT = "%Y-%m-%dT%H:%M"


PRIVATE_PATH = re.compile(r"/rooms/[^/]+/(?:owner|me)/")


@bp.after_app_request
def never_kept(response):
    """A room's pages show names and answers, and a private page holds a token in its address: every response under
    /rooms/ (errors and unmatched addresses too) is never stored nor indexed, and one under a private link's address
    sends no Referer to other sites."""
    if request.path.startswith("/rooms/"):
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Robots-Tag"] = "noindex, nofollow"
        if PRIVATE_PATH.match(request.path):
            response.headers["Referrer-Policy"] = "same-origin"
    return response


def _error_page(status: int, title: str, message: str, headers=None):
    return render_template("error.html", status=status, title=title, message=message), status, headers or {}


@bp.errorhandler(RoomNotFoundError)
def room_not_found(_error):
    return _error_page(404, "No such room", "There is no room at this address: the link may be cut short, or the "
                       "room was deleted by its owner or expired. Ask whoever sent the link for a new one.")


@bp.errorhandler(TokenRefusedError)
def token_refused(error: TokenRefusedError):
    whose = "the room's owner" if error.role == "owner" else "a member of this room"
    return _error_page(403, "This private link does not work", f"This link is not the private link of {whose}: it "
                       "may be cut short or mistyped. Open the link exactly as you saved it.")


@bp.errorhandler(RoomsUnavailableError)
def rooms_unavailable(error: RoomsUnavailableError):
    message = str(error)
    if request.method == "POST":
        message += ". Nothing was changed: go back (your browser keeps what you typed) and send it again later"
    return _error_page(503, "Rooms are not available", f"{message[:1].upper()}{message[1:]}.")


@bp.errorhandler(OperationalError)
def database_down(error: OperationalError):
    return rooms_unavailable(database_unreachable(error))


class RoomForm(Form):
    """A new room: its title and an optional closing time, in UTC."""

    title = StringField("Title", description=f"What the team is deciding; at most {LIMITS.title_max} characters.")
    closes_at = DateTimeLocalField("Closing time (UTC, optional)", format=CLOSES_AT_FORMAT)


class MemberForm(Form):
    """The name a member answers under."""

    name = StringField("Your name", description=f"Shown to the other members; at most {LIMITS.name_max} characters.")


def _field_error(form: Form, error: RoomError) -> None:
    """Put a store's complaint about one input next to that input (or under the form's first field)."""
    field = getattr(error, "field", None)
    target = form[field] if field in form else next(iter(form))
    message = f"{error.message}; {error.hint}" if error.hint else error.message
    target.errors = [*target.errors, message]  # type: ignore[misc]


def _answers_query(ruleset: RuleSet, pairs) -> str:
    """The canonical query of the valid answers among `pairs` (anything else is left out), or ''."""
    link = answers_from_pairs(ruleset, pairs)
    return canonical_query(ruleset, link.answers, with_rules=False) if link.answers else ""


# --- starting a room ----------------------------------------------------------------------------------------------


@bp.get("/new")
def new_room():
    ruleset = current_rules()
    return _render_new(RoomForm(), _answers_query(ruleset, request.args.items(multi=True)))


def _render_new(form: RoomForm, answers: str, status: int = 200, messages=(), headers=None):
    now = datetime.now(UTC)
    return render_template("room_new.html", form=form, answers=answers, messages=messages,
                           now=now.strftime("%Y-%m-%d %H:%M"), title="Decide as a team"), status, headers or {}


@bp.post("/new")
def create_room():
    ruleset = current_rules()
    form = RoomForm(request.form)
    form.validate()  # parses the closing time; the store checks the rest, with the same messages as the API
    answers = _answers_query(ruleset, parse_qsl(request.form.get("answers", "")))
    closes_at = form.closes_at.data.replace(tzinfo=UTC) if form.closes_at.data else None
    if form.closes_at.raw_data and form.closes_at.raw_data[0] and closes_at is None:
        form.closes_at.errors = [f"{form.closes_at.raw_data[0][:40]!r} is not a date and time; pick one with the "
                                 "date picker, or type it as 2030-05-01T17:00 (UTC)"]
        return _render_new(form, answers, 400)
    form.closes_at.errors = []
    rooms = current_rooms()
    try:
        room, owner_token = rooms.create_room(request.remote_addr or "", form.title.data or "", closes_at,
                                              ruleset.fingerprint)
    except RateLimitedError as error:
        return _render_new(form, answers, 429, [f"{error.message}. Try again in {_duration(error.retry_after)}."],
                           {"Retry-After": str(error.retry_after)})
    except (RoomsUnavailableError, OperationalError) as error:
        unavailable = error if isinstance(error, RoomsUnavailableError) else database_unreachable(error)
        message = str(unavailable)
        return _render_new(form, answers, 503, [f"{message[:1].upper()}{message[1:]}. The room was not created."])
    except RoomInputError as error:
        _field_error(form, error)
        return _render_new(form, answers, 400)
    flash("Your room is ready. Save this page's address: it is your private owner link.", "created")
    target = url_for("rooms.owner", room_id=room.id, token=owner_token)
    return redirect(f"{target}?{answers}" if answers else target, 303)


def _duration(seconds: int) -> str:
    minutes = -(-seconds // 60)
    return f"{seconds} seconds" if seconds < 120 else f"{minutes} minutes"


# --- the owner's page -------------------------------------------------------------------------------------------


@bp.get("/<room_id>/owner/<token>")
def owner(room_id: str, token: str):
    room = current_rooms().store().check_owner(room_id, token)
    return _render_owner(room, token, _answers_query(current_rules(), request.args.items(multi=True)),
                         created=get_flashed_messages(category_filter=["created"]))


def _render_owner(room: RoomView, token: str, answers: str = "", status: int = 200, **extra):
    """The owner's page; `answers` (a canonical query) prefills "Answer as a member yourself"."""
    join = url_for("rooms.join", room_id=room.id, _external=True)
    return render_template("room_owner.html", room=room, state=_state(room), token=token,
                           owner_url=url_for("rooms.owner", room_id=room.id, token=token, _external=True),
                           join_url=join, answer_url=f"{join}?{answers}" if answers else join,
                           title=f"{room.title} — your room", **extra), status


@bp.post("/<room_id>/owner/<token>/reveal")
def reveal(room_id: str, token: str):
    current_rooms().store().reveal(room_id, token)
    return redirect(url_for("rooms.room", room_id=room_id), 303)


@bp.post("/<room_id>/owner/<token>/delete")
def delete(room_id: str, token: str):
    store = current_rooms().store()
    room = store.check_owner(room_id, token)
    if request.form.get("confirm") != "yes":
        return _render_owner(room, token, status=400,
                             delete_error="Tick the box to confirm: deleting cannot be undone.")
    store.delete_room(room_id, token)
    return render_template("room_deleted.html", title="Room deleted", room_title=room.title)


# --- joining and answering ----------------------------------------------------------------------------------------


@bp.get("/<room_id>/join")
def join(room_id: str):
    room = current_rooms().store().get_room(room_id)
    ruleset = current_rules()
    formdata, messages = _prefill(ruleset)
    return _render_join(room, ruleset, MemberForm(), questionnaire_form(ruleset, formdata), messages=messages)


def _prefill(ruleset: RuleSet) -> tuple[MultiDict | None, list[str]]:
    """The answers to start from: a pasted results link (`link`), else answers in the query itself."""
    pasted = request.args.get("link", "").strip()
    if pasted:
        try:
            query = urlsplit(pasted).query
        except ValueError:  # e.g. an unbalanced [ in the host part
            query = ""
        pairs = [(key, value) for key, value in parse_qsl(query) if key in ruleset.question_index]
        if not pairs:
            return None, [f"No answers were found in the link you pasted ({pasted[:80]}): paste the address of a "
                          "results page, which looks like …/results?services=…"]
        return MultiDict(pairs), []
    pairs = [(key, value) for key, value in request.args.items(multi=True) if key in ruleset.question_index]
    return (MultiDict(pairs) if pairs else None), []


def _render_join(room: RoomView, ruleset: RuleSet, member_form: MemberForm, form: Form, status: int = 200,
                 messages=()):
    kept = _form_answers(ruleset, form) if request.method == "POST" else {}
    return render_template("room_join.html", room=room, state=_state(room), rules=ruleset, member_form=member_form,
                           form=form, messages=messages, title=f"Join {room.title}",
                           kept_answers=canonical_query(ruleset, kept) if kept else ""), status


@bp.post("/<room_id>/join")
def join_submit(room_id: str):
    store = current_rooms().store()
    room = store.get_room(room_id)
    ruleset = current_rules()
    member_form = MemberForm(request.form)
    form = questionnaire_form(ruleset, _answer_pairs(ruleset))
    if form.errors:
        return _render_join(room, ruleset, member_form, form, 400, ["Some answers could not be used: see below."])
    try:
        joined, token = store.join(room_id, member_form.name.data or "", _form_answers(ruleset, form))
    except (RoomInputError, NameTakenError, RoomFullError, RoomClosedError) as error:
        status = 400 if isinstance(error, RoomInputError) else 409
        if isinstance(error, RoomInputError | NameTakenError):
            _field_error(member_form, error)
            return _render_join(room, ruleset, member_form, form, status)
        return _render_join(room, ruleset, member_form, form, status, [_sentence(error)])
    flash(f"Welcome, {joined.name}. Your answers are saved. Save this page's address: it is your private link to "
          "change them until the room closes.", "saved")
    return redirect(url_for("rooms.member", room_id=room_id, token=token), 303)


def _answer_pairs(ruleset: RuleSet) -> MultiDict:
    """The posted answers only (the name and the CSRF token are other fields)."""
    return MultiDict([(key, value) for key, value in request.form.items(multi=True)
                      if key in ruleset.question_index])


def _form_answers(ruleset: RuleSet, form: Form) -> dict[str, str]:
    return {question.id: form[question.id].data for question in ruleset.questions if form[question.id].data}


def _sentence(error: RoomError) -> str:
    return f"{error.message[:1].upper()}{error.message[1:]}" + (f"; {error.hint}." if error.hint else ".")


@bp.get("/<room_id>/me/<token>")
def member(room_id: str, token: str):
    store = current_rooms().store()
    me = store.member(room_id, token)
    room = store.get_room(room_id)
    ruleset = current_rules()
    form, not_counted = _stored_answers_form(ruleset, me)
    return _render_member(room, ruleset, me, token, form, not_counted=not_counted)


def _stored_answers_form(ruleset: RuleSet, me) -> tuple[Form, list[str]]:
    """The questionnaire ticked with the member's stored answers that still count, and why the others do not."""
    _, not_counted = counted_state(ruleset, me.answers or {})
    counted = {key: value for key, value in (me.answers or {}).items()
               if not any(item.question_id == key for item in not_counted)}
    return questionnaire_form(ruleset, MultiDict(counted) if counted else None), [item.text for item in not_counted]


def _render_member(room: RoomView, ruleset: RuleSet, me, token: str, form: Form, status: int = 200, messages=(),
                   not_counted=()):
    return render_template("room_member.html", room=room, state=_state(room), rules=ruleset, me=me, form=form,
                           token=token, messages=messages, not_counted=not_counted,
                           saved=get_flashed_messages(category_filter=["saved"]),
                           member_url=url_for("rooms.member", room_id=room.id, token=token, _external=True),
                           title=f"{room.title} — your answers"), status


@bp.post("/<room_id>/me/<token>")
def member_submit(room_id: str, token: str):
    store = current_rooms().store()
    me = store.member(room_id, token)
    room = store.get_room(room_id)
    ruleset = current_rules()
    form = questionnaire_form(ruleset, _answer_pairs(ruleset))
    if form.errors:
        return _render_member(room, ruleset, me, token, form, 400, ["Some answers could not be used: see below."])
    try:
        store.submit_answers(room_id, token, _form_answers(ruleset, form))
    except RoomClosedError as error:
        # Show what was stored (and counts), not what was just sent: those changes were not saved.
        stored, not_counted = _stored_answers_form(ruleset, me)
        return _render_member(store.get_room(room_id), ruleset, me, token, stored, 409,
                              [f"{_sentence(error)} Your changes were not saved; below are your answers as they "
                               "count."], not_counted=not_counted)
    flash("Your answers are saved.", "saved")
    return redirect(url_for("rooms.member", room_id=room_id, token=token), 303)


# --- the room and its results -------------------------------------------------------------------------------------


def _state(room: RoomView) -> dict:
    """What every room page says about the room: its status, and who has answered (never what)."""
    rooms = current_rooms()
    now = rooms.clock()
    return {"status": room_status(room, now), "open": room.is_open(now), "visible": room.results_visible(now),
            "answered": [m.name for m in room.members if m.has_answered],
            "waiting": [m.name for m in room.members if not m.has_answered]}


def _group(room: RoomView, ruleset: RuleSet) -> GroupResult:
    return group_results.of(ruleset, room)


@bp.get("/<room_id>")
def room(room_id: str):
    room = current_rooms().store().get_room(room_id)
    ruleset = current_rules()
    state = _state(room)
    group = _group(room, ruleset) if state["visible"] else None
    member_urls = _member_urls(group) if group is not None else {}
    group_url = share_url(group.explanation.query()) if group is not None and group.explanation.answered else None
    return render_template("room.html", room=room, state=state, group=group, rules=ruleset, rule=GROUP_RULE,
                           member_urls=member_urls, group_url=group_url, title=room.title,
                           stale=room.rules_fingerprint != ruleset.fingerprint)


def _member_urls(group) -> dict[str, str | None]:
    """Each member's usual results page, or None for a member none of whose answers count."""
    return {m.name: share_url(m.explanation.query()) if m.answered else None for m in group.members}


@bp.get("/<room_id>/record.md")
def record(room_id: str):
    room = current_rooms().store().get_room(room_id)
    ruleset = current_rules()
    if not _state(room)["visible"]:
        abort(409, "The decision record is ready once the owner reveals the answers or the room closes.")
    group = _group(room, ruleset)
    text = group_decision_record(group, title=room.title, member_urls=_member_urls(group),
                                 room_url=url_for("rooms.room", room_id=room.id, _external=True),
                                 stale_rules=room.rules_fingerprint != ruleset.fingerprint, decided_at=room.ends_at)
    response = Response(text, mimetype="text/markdown")
    response.headers["Content-Disposition"] = 'attachment; filename="dockwise-team-decision.md"'
    return response
