"""The rooms store's one error hierarchy: each error has a stable `code`, a message and a hint, plus its own fields.

`as_dict()` gives what an API response can show; none of these ever carries a token.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from recommender.errors import DockwiseError


class RoomError(DockwiseError):
    """Base of every error the rooms store raises on purpose."""

    code = "room_error"

    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(f"{message} ({hint})" if hint else message)

    def fields(self) -> dict[str, Any]:
        """The error's own structured fields (besides code, message and hint)."""
        return {}

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "hint": self.hint, **self.fields()}


class RoomInputError(RoomError):
    """A value given to the store is unusable: `field` names it (title, name, closes_at, answers)."""

    code = "invalid_input"

    def __init__(self, field: str, message: str, hint: str | None = None):
        self.field = field
        super().__init__(f"{field}: {message}", hint)

    def fields(self) -> dict[str, Any]:
        return {"field": self.field}


class RoomNotFoundError(RoomError):
    """No room has this id (never created, deleted by its owner, or purged after it expired)."""

    code = "room_not_found"

    def __init__(self, room_id: str):
        self.room_id = room_id
        super().__init__("no such room", "check the link; rooms are deleted by their owner or some days after they "
                                          "close")

    def fields(self) -> dict[str, Any]:
        return {"room_id": self.room_id}


class TokenRefusedError(RoomError):
    """The owner or member token does not belong to this room; `role` says which one was expected."""

    code = "token_refused"

    def __init__(self, room_id: str, role: str):
        self.room_id = room_id
        self.role = role
        super().__init__(f"this {role} link is not valid for this room",
                         f"use the private {role} link you were given when you "
                         f"{'created the room' if role == 'owner' else 'joined'}")

    def fields(self) -> dict[str, Any]:
        return {"room_id": self.room_id, "role": self.role}


class RoomFullError(RoomError):
    """The room already has its maximum number of members."""

    code = "room_full"

    def __init__(self, room_id: str, limit: int):
        self.room_id = room_id
        self.limit = limit
        super().__init__(f"this room already has its maximum of {limit} members",
                         "ask the room's owner to start another room")

    def fields(self) -> dict[str, Any]:
        return {"room_id": self.room_id, "limit": self.limit}


class NameTakenError(RoomError):
    """Another member of the room already uses this display name (compared ignoring case and extra spaces)."""

    code = "name_taken"

    def __init__(self, room_id: str, name: str):
        self.room_id = room_id
        self.name = name
        super().__init__(f"someone in this room is already called {name!r}",
                         "choose another display name, or use your own private link if that was you")

    def fields(self) -> dict[str, Any]:
        return {"room_id": self.room_id, "name": self.name}


class RoomClosedError(RoomError):
    """The room takes no more answers: its owner revealed them or its closing time passed (`closed_at`)."""

    code = "room_closed"

    def __init__(self, room_id: str, closed_at: datetime, reason: str):
        self.room_id = room_id
        self.closed_at = closed_at
        self.reason = reason
        why = "its answers were revealed" if reason == "revealed" else "its closing time passed"
        super().__init__(f"this room closed at {closed_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC: {why}",
                         "answers can no longer be given or changed; the room's results are open to its members")

    def fields(self) -> dict[str, Any]:
        return {"room_id": self.room_id, "closed_at": self.closed_at.isoformat(), "reason": self.reason}
