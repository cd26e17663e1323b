"""Team rooms' storage: SQLAlchemy models, Alembic migrations and the store the web layer calls.

    from rooms import RoomStore, upgrade
    upgrade(url)                      # once, before serving (`flask db upgrade`; by itself for the SQLite default)
    store = RoomStore.from_url(url)   # sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DATABASE
"""

from .db import alembic_config, database_url, make_engine, upgrade
from .errors import (
    NameTakenError,
    RoomClosedError,
    RoomError,
    RoomFullError,
    RoomInputError,
    RoomNotFoundError,
    TokenRefusedError,
)
from .store import Limits, MemberView, RoomStore, RoomView

__all__ = [
    "Limits", "MemberView", "NameTakenError", "RoomClosedError", "RoomError", "RoomFullError", "RoomInputError",
    "RoomNotFoundError", "RoomStore", "RoomView", "TokenRefusedError", "alembic_config", "database_url", "make_engine",
    "upgrade",
]
