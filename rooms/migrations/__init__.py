"""Alembic migrations of the rooms tables; run them with rooms.db.upgrade(url)."""
