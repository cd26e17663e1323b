"""The rooms' tables as SQLAlchemy 2 typed models; the Alembic revisions in rooms/migrations create exactly these.

Nothing here identifies a person beyond the display name they chose: no IP address, no account, no user agent.
Tokens are kept only as SHA-256 hex digests (`hash_token`), so a copy of the database cannot act as an owner or a
member.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, ForeignKey, Index, Integer, MetaData, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

TITLE_MAX = 120
NAME_MAX = 60
TOKEN_HASH_LENGTH = 64  # a SHA-256 hex digest
ROOM_ID_LENGTH = 43  # room ids are secrets.token_urlsafe(16) (22 characters); the column allows up to 32 bytes
NAME_KEY_MAX = 4 * NAME_MAX  # case folding can lengthen a name ("ß" → "ss")


def hash_token(token: str) -> str:
    """The stored form of an owner or member token: its SHA-256 hex digest."""
    return hashlib.sha256(token.encode()).hexdigest()


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend: `timestamptz` on PostgreSQL; on SQLite, which has no time
    zones, naive UTC text that is read back as aware UTC. A naive datetime is refused rather than guessed at."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given to the rooms store: pass an aware one "
                             "(for example datetime.now(UTC))")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """The rooms' declarative base; constraint names are fixed so that migrations can name them."""

    metadata = MetaData(naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s_%(column_1_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    })


class Room(Base):
    """A team's room. Its id is also the join secret: whoever holds the join link may join and, once revealed, read."""

    __tablename__ = "rooms"

    id: Mapped[str] = mapped_column(String(ROOM_ID_LENGTH), primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    rules_fingerprint: Mapped[str] = mapped_column(String(64))
    owner_token_hash: Mapped[str] = mapped_column(String(TOKEN_HASH_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    members: Mapped[list[Member]] = relationship(
        back_populates="room", order_by="Member.id", cascade="all, delete-orphan", passive_deletes=True)


class Member(Base):
    """One member of a room. `answers` maps question id → choice id, or is None until the member first answers."""

    __tablename__ = "room_members"
    __table_args__ = (
        # Names are compared case-folded with runs of spaces collapsed, so "Ann" and " ann" are one person.
        UniqueConstraint("room_id", "name_key"),
        Index("ix_room_members_token_hash", "token_hash", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    name_key: Mapped[str] = mapped_column(String(NAME_KEY_MAX))
    token_hash: Mapped[str] = mapped_column(String(TOKEN_HASH_LENGTH))
    answers: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    room: Mapped[Room] = relationship(back_populates="members")
