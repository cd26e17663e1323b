"""The rooms store: the only code that reads or writes rooms. The web layer calls `RoomStore`'s methods.

Secrets. A room's id (`secrets.token_urlsafe(16)`, 128 bits) is its join secret: the join link is the room's link,
and whoever holds it may join and, after the reveal, read the results. The owner token and each member token are
`secrets.token_urlsafe(32)` (256 bits), returned once, and stored only as SHA-256 digests. The owner token is checked
with `hmac.compare_digest` on digests; a member token is found by its digest through a unique index, which compares
digests of the presented token, so timing can tell an attacker nothing about the token itself.

Lifetime. A room is open (takes joins and answers) until its `ends_at`: the first of the owner's reveal and its
closing time. A room without a closing time closes by itself `Limits.max_open_days` after it was created, and a
closing time may be at most that far ahead, so that every room ends. Results are visible once the room has ended.
A room expires `keep_days` after it ended: `purge_expired(now, keep_days)` deletes expired rooms with their members.
The owner's `delete_room` deletes a room and its members at once.

Answers are stored as given, a mapping of question id → choice id (the public contract of share links): the store
checks their shape and size, not the rules, so answers survive a change of rules; the caller checks them against the
current RuleSet before submitting and, when reading, counts only those that still exist.

Each method is one transaction: it commits all of its writes or none. On PostgreSQL a join locks its room row
(SELECT … FOR UPDATE) so that concurrent joins cannot pass the member cap; answers take a shared lock on the room,
so that no answer lands after the reveal has committed. SQLite serializes writers by itself (rooms.db).
"""

from __future__ import annotations

import hmac
import re
import secrets
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from recommender.model import ID_PATTERN

from .db import make_engine
from .errors import NameTakenError, RoomClosedError, RoomFullError, RoomInputError, RoomNotFoundError, TokenRefusedError
from .models import NAME_MAX, ROOM_ID_LENGTH, TITLE_MAX, Member, Room, hash_token

ROOM_ID_BYTES = 16
JOINERS = frozenset("\u200c\u200d")  # zero-width (non-)joiner: part of how Persian names and emoji sequences are spelt
ROOM_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{ROOM_ID_LENGTH}}}")
TOKEN_BYTES = 32


@dataclass(frozen=True)
class Limits:
    """What one room may hold. Defaults are the product's; tests pass smaller ones."""

    title_max: int = TITLE_MAX
    name_max: int = NAME_MAX
    members_per_room: int = 100
    max_open_days: int = 90
    answers_max: int = 200  # questions in one submission; far more than any rules file asks
    answer_id_max: int = 64  # characters of one question or choice id, as in the rules


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class MemberView:
    """A member as stored, without their token. `answers` is None until they first answer."""

    id: int
    name: str
    answers: dict[str, str] | None
    created_at: datetime
    updated_at: datetime

    @property
    def has_answered(self) -> bool:
        """Whether the member gave at least one answer (all "Not sure" is not answering)."""
        return bool(self.answers)


@dataclass(frozen=True)
class RoomView:
    """A room as stored, with its members in the order they joined; `ends_at` is when it stops taking answers.

    It holds every member's answers: before `results_visible(now)` a page may show who has answered, not what."""

    id: str
    title: str
    rules_fingerprint: str
    created_at: datetime
    closes_at: datetime | None
    revealed_at: datetime | None
    ends_at: datetime
    members: tuple[MemberView, ...]

    def is_open(self, now: datetime) -> bool:
        """Whether the room still takes joins and answers at `now`."""
        return now < self.ends_at

    def results_visible(self, now: datetime) -> bool:
        """Whether members may see each other's answers at `now`: after the reveal or the closing time."""
        return not self.is_open(now)


class RoomStore:
    """Rooms and members on one database. Build it with `RoomStore.from_url(url)` or around an Engine from
    rooms.db.make_engine (the database must be upgraded first: rooms.db.upgrade)."""

    def __init__(self, engine: Engine, *, limits: Limits = Limits(), clock: Callable[[], datetime] = utc_now):
        if engine.dialect.name == "sqlite":
            with engine.connect() as connection:
                if not connection.exec_driver_sql("PRAGMA foreign_keys").scalar():
                    raise ValueError("this SQLite engine has foreign keys off, so deleting a room would keep its "
                                     "members: make it with rooms.db.make_engine")
        self.engine = engine
        self.limits = limits
        self.clock = clock
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RoomStore:
        return cls(make_engine(url), **kwargs)

    # Reading

    def get_room(self, room_id: str) -> RoomView:
        """The room with its members; RoomNotFoundError when there is none."""
        with self._sessions.begin() as session:
            return self._view(self._room(session, room_id))

    def member(self, room_id: str, member_token: str) -> MemberView:
        """The member whose private token this is; TokenRefusedError when it belongs to no member of this room."""
        with self._sessions.begin() as session:
            self._room(session, room_id)
            return _member_view(self._member(session, room_id, member_token))

    def check_owner(self, room_id: str, owner_token: str) -> RoomView:
        """The room when `owner_token` is its owner's; TokenRefusedError otherwise."""
        with self._sessions.begin() as session:
            return self._view(self._owned_room(session, room_id, owner_token))

    def count_rooms_created_since(self, since: datetime) -> int:
        """How many rooms (still stored) were created at or after `since`: for a limit on room creation."""
        _require_aware("since", since)
        with self._sessions.begin() as session:
            return session.scalar(select(func.count()).select_from(Room).where(Room.created_at >= since)) or 0

    # Writing

    def create_room(self, title: str, closes_at: datetime | None = None, *,
                    rules_fingerprint: str) -> tuple[RoomView, str]:
        """A new room and its owner token (shown once; only its digest is kept)."""
        now = self.clock()
        title = self._text("title", title, self.limits.title_max)
        if closes_at is not None:
            _require_aware("closes_at", closes_at)
            if closes_at <= now:
                raise RoomInputError("closes_at", f"{closes_at.isoformat(timespec='minutes')} has already passed",
                                     "choose a closing time in the future, or none")
            if closes_at > now + timedelta(days=self.limits.max_open_days):
                raise RoomInputError("closes_at", f"{closes_at.isoformat(timespec='minutes')} is more than "
                                     f"{self.limits.max_open_days} days ahead",
                                     f"choose a closing time within {self.limits.max_open_days} days")
        owner_token = secrets.token_urlsafe(TOKEN_BYTES)
        room = Room(id=secrets.token_urlsafe(ROOM_ID_BYTES), title=title, rules_fingerprint=rules_fingerprint,
                    owner_token_hash=hash_token(owner_token), created_at=now, closes_at=closes_at, revealed_at=None)
        with self._sessions.begin() as session:
            session.add(room)
            session.flush()
            return self._view(room, members=()), owner_token

    def join(self, room_id: str, name: str, answers: Mapping[str, str] | None = None) -> tuple[MemberView, str]:
        """A new member of an open room, with their first answers if given, and their private token (shown once; only
        its digest is kept). Joining and answering are one transaction: a refused join stores no answers."""
        name = self._text("name", name, self.limits.name_max)
        answers = self._answers(answers) if answers is not None else None
        key = name_key(name)
        now = self.clock()
        try:
            with self._sessions.begin() as session:
                room = self._room(session, room_id, lock="update")
                self._require_open(room, now)
                members = session.scalar(select(func.count()).select_from(Member).where(Member.room_id == room.id))
                if (members or 0) >= self.limits.members_per_room:
                    raise RoomFullError(room.id, self.limits.members_per_room)
                taken = session.scalar(select(Member.id).where(Member.room_id == room.id, Member.name_key == key))
                if taken is not None:
                    raise NameTakenError(room.id, name)
                token = secrets.token_urlsafe(TOKEN_BYTES)
                member = Member(room_id=room.id, name=name, name_key=key, token_hash=hash_token(token), answers=answers,
                                created_at=now, updated_at=now)
                session.add(member)
                session.flush()
                return _member_view(member), token
        except IntegrityError as exc:
            # Only reachable if a database let two joins past the check above at once: same answer as the check.
            raise NameTakenError(room_id, name) from exc

    def submit_answers(self, room_id: str, member_token: str, answers: Mapping[str, str]) -> MemberView:
        """Replace the member's answers while the room is open; RoomClosedError after the reveal or the closing time."""
        answers = self._answers(answers)
        now = self.clock()
        with self._sessions.begin() as session:
            room = self._room(session, room_id, lock="share")
            member = self._member(session, room.id, member_token)
            self._require_open(room, now)
            member.answers = answers
            member.updated_at = now
            session.flush()
            return _member_view(member)

    def reveal(self, room_id: str, owner_token: str) -> RoomView:
        """Close the room and show its answers to its members; revealing twice keeps the first time."""
        now = self.clock()
        with self._sessions.begin() as session:
            room = self._owned_room(session, room_id, owner_token, lock="update")
            if room.revealed_at is None:
                room.revealed_at = now
                session.flush()
            return self._view(room)

    def delete_room(self, room_id: str, owner_token: str) -> None:
        """Delete the room and all its members' names and answers at once."""
        with self._sessions.begin() as session:
            room = self._owned_room(session, room_id, owner_token, lock="update")
            session.execute(delete(Room).where(Room.id == room.id))

    def purge_expired(self, now: datetime, keep_days: int) -> int:
        """Delete the rooms that ended more than `keep_days` before `now`, with their members; how many."""
        _require_aware("now", now)
        if isinstance(keep_days, bool) or not isinstance(keep_days, int) or keep_days < 0:
            raise RoomInputError("keep_days", f"{keep_days!r} is not a number of days", "give a whole number ≥ 0")
        cutoff = now - timedelta(days=keep_days)
        ended_before_cutoff = or_(
            Room.revealed_at < cutoff,
            Room.closes_at < cutoff,
            Room.closes_at.is_(None) & (Room.created_at < cutoff - timedelta(days=self.limits.max_open_days)),
        )
        with self._sessions.begin() as session:
            result = session.execute(delete(Room).where(ended_before_cutoff))
            return result.rowcount  # type: ignore[attr-defined]

    # Helpers

    def _room(self, session: Session, room_id: str, lock: str | None = None) -> Room:
        # Only what token_urlsafe makes can be a room: anything else (a NUL byte, which PostgreSQL's text refuses
        # with an error, or a stray character) is not found without asking the database.
        if not isinstance(room_id, str) or not ROOM_ID.fullmatch(room_id):
            raise RoomNotFoundError(str(room_id)[:ROOM_ID_LENGTH])
        query = select(Room).where(Room.id == room_id)
        if lock is not None:
            query = query.with_for_update(read=lock == "share")
        room = session.scalar(query)
        if room is None:
            raise RoomNotFoundError(room_id)
        return room

    def _owned_room(self, session: Session, room_id: str, owner_token: str, lock: str | None = None) -> Room:
        room = self._room(session, room_id, lock)
        presented = hash_token(owner_token) if isinstance(owner_token, str) else ""
        if not hmac.compare_digest(room.owner_token_hash, presented):
            raise TokenRefusedError(room.id, "owner")
        return room

    def _member(self, session: Session, room_id: str, member_token: str) -> Member:
        member = None
        if isinstance(member_token, str) and member_token:
            member = session.scalar(select(Member).where(Member.room_id == room_id,
                                                         Member.token_hash == hash_token(member_token)))
        if member is None:
            raise TokenRefusedError(room_id, "member")
        return member

    def _ends_at(self, room: Room) -> datetime:
        closes = room.closes_at or room.created_at + timedelta(days=self.limits.max_open_days)
        return min(closes, room.revealed_at) if room.revealed_at is not None else closes

    def _require_open(self, room: Room, now: datetime) -> None:
        ends_at = self._ends_at(room)
        if now >= ends_at:
            revealed = room.revealed_at is not None and room.revealed_at == ends_at
            raise RoomClosedError(room.id, ends_at, "revealed" if revealed else "closed")

    def _view(self, room: Room, members: tuple[MemberView, ...] | None = None) -> RoomView:
        if members is None:
            members = tuple(_member_view(member) for member in room.members)
        return RoomView(id=room.id, title=room.title, rules_fingerprint=room.rules_fingerprint,
                        created_at=room.created_at, closes_at=room.closes_at, revealed_at=room.revealed_at,
                        ends_at=self._ends_at(room), members=members)

    def _text(self, field: str, value: str, limit: int) -> str:
        if not isinstance(value, str):
            raise RoomInputError(field, f"expected text, got {type(value).__name__}")
        value = " ".join(value.split())
        if not value:
            raise RoomInputError(field, "is empty", f"give a {field}")
        if len(value) > limit:
            raise RoomInputError(field, f"is {len(value)} characters long; at most {limit} are allowed",
                                 f"shorten the {field}")
        if any(unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn") and char not in JOINERS for char in value):
            raise RoomInputError(field, "contains control or invisible characters", "use letters, digits and spaces")
        return value

    def _answers(self, answers: Mapping[str, str]) -> dict[str, str]:
        if not isinstance(answers, Mapping):
            raise RoomInputError("answers", f"expected a mapping of question id to choice id, got "
                                 f"{type(answers).__name__}")
        if len(answers) > self.limits.answers_max:
            raise RoomInputError("answers", f"{len(answers)} answers; at most {self.limits.answers_max} are allowed")
        checked: dict[str, str] = {}
        for question, choice in answers.items():
            for what, value in (("question id", question), ("choice id", choice)):
                if not isinstance(value, str) or not _ID.fullmatch(value) or len(value) > self.limits.answer_id_max:
                    raise RoomInputError("answers", f"{what} {value!r} is not an id",
                                         f"ids are 1–{self.limits.answer_id_max} of a–z, 0–9, '_' and '-', "
                                         "starting with a letter")
            checked[question] = choice
        return checked


_ID = re.compile(ID_PATTERN)  # the rules' own id syntax: an answer naming anything else can never count


def name_key(name: str) -> str:
    """What makes two display names the same person's: case-folded, NFKC-normalised, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def _member_view(member: Member) -> MemberView:
    return MemberView(id=member.id, name=member.name, answers=None if member.answers is None else dict(member.answers),
                      created_at=member.created_at, updated_at=member.updated_at)


def _require_aware(field: str, value: datetime) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise RoomInputError(field, f"{value!r} is not a timezone-aware datetime", "pass datetime.now(UTC) or similar")


__all__ = ["Limits", "MemberView", "RoomStore", "RoomView", "name_key"]
