"""Rooms and their members.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rooms",
        sa.Column("id", sa.String(43), nullable=False),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("rules_fingerprint", sa.String(64), nullable=False),
        sa.Column("owner_token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revealed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_rooms"),
    )
    op.create_index("ix_rooms_created_at", "rooms", ["created_at"])
    op.create_table(
        "room_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.String(43), nullable=False),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("name_key", sa.String(240), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("answers", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_room_members"),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name="fk_room_members_room_id_rooms", ondelete="CASCADE"),
        sa.UniqueConstraint("room_id", "name_key", name="uq_room_members_room_id_name_key"),
    )
    op.create_index("ix_room_members_token_hash", "room_members", ["token_hash"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_room_members_token_hash", table_name="room_members")
    op.drop_table("room_members")
    op.drop_index("ix_rooms_created_at", table_name="rooms")
    op.drop_table("rooms")
