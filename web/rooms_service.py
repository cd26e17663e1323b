"""Between the rooms API and the rooms store: settings, the per-process store, room creation limits, and the room's
state as the API returns it (the current rules and recommender.group's aggregation applied to the stored answers).

The store's Engine is made on first use in each process and never crosses a fork: serve.py builds the app in
gunicorn's master (--preload), and a pooled connection inherited by two workers would be used by both at once.
An SQLite database (the default) is migrated there too, once per process; a PostgreSQL database must have been
migrated with `flask db upgrade`, and until it is the rooms API answers 503 saying so.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, current_app
from sqlalchemy import make_url

from recommender import RuleSet
from recommender.engine import parse_answers
from recommender.group import GROUP_RULE, GroupResult, aggregate
from rooms import RoomInputError, RoomStore, RoomView, alembic_config, make_engine, upgrade
from rooms.store import utc_now

from .secret import read_database_url_file
from .settings import ConfigError, database_url_setting, whole_number_setting

log = logging.getLogger("dockwise.rooms")

HOUR = 3600.0
TOTAL_RETRY_SECONDS = 60  # the server-wide limit is counted in the database; ask again a minute later
MAX_TRACKED_CLIENTS = 10_000  # the per-client limit's memory stays bounded whatever addresses call


@dataclass(frozen=True)
class RoomsSettings:
    """The rooms' settings, checked when the app is built."""

    database_url: str
    keep_days: int
    per_client_per_hour: int
    per_hour: int

    @property
    def is_sqlite(self) -> bool:
        return make_url(self.database_url).get_backend_name() == "sqlite"


def _database_url(config: Mapping) -> object:
    """DOCKWISE_DATABASE_URL, or the contents of the file DOCKWISE_DATABASE_URL_FILE names (not both)."""
    url_file, url = config.get("DATABASE_URL_FILE"), config.get("DATABASE_URL")
    if not url_file:
        return url
    if url:
        raise ConfigError(f"Both DOCKWISE_DATABASE_URL and DOCKWISE_DATABASE_URL_FILE ({url_file}) are set; set only "
                          "one.")
    return read_database_url_file(url_file)


def rooms_settings(config: Mapping, instance_path: str) -> RoomsSettings:
    """The rooms' settings from the app's config; raise ConfigError naming a setting Dockwise cannot use."""
    return RoomsSettings(
        database_url=database_url_setting(_database_url(config), instance_path),
        keep_days=whole_number_setting(config, "ROOMS_KEEP_DAYS", minimum=0,
                                       meaning="the days a room is kept after it closes"),
        per_client_per_hour=whole_number_setting(config, "ROOMS_PER_CLIENT_PER_HOUR", minimum=1,
                                                 meaning="the rooms one client address may create in an hour"),
        per_hour=whole_number_setting(config, "ROOMS_PER_HOUR", minimum=1,
                                      meaning="the rooms all clients together may create in an hour"),
    )


class RoomsUnavailableError(Exception):
    """The rooms database cannot be used: not migrated (the message says what to run) or not reachable."""


DATABASE_UNREACHABLE = ("the rooms database cannot be reached right now, so no room can be opened or changed; try "
                        "again in a minute (whoever runs this site: check DOCKWISE_DATABASE_URL and the database "
                        "server)")


class RateLimitedError(Exception):
    """Too many rooms were created lately; `retry_after` is in whole seconds."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


@dataclass
class ClientLimiter:
    """At most `limit` events per client address in any hour, counted in this process's memory (never stored)."""

    limit: int
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _swept: float = field(default=float("-inf"))

    def take(self, client: str) -> float:
        """Count one event for `client`; 0 when it is allowed, else the seconds until it would be."""
        now = self.clock()
        with self._lock:
            if now - self._swept >= HOUR or len(self._seen) >= MAX_TRACKED_CLIENTS:
                self._forget_idle(now)  # an address is kept no longer than an hour after its last creation
                self._swept = now
            times = self._seen.get(client)
            if times is None:
                times = self._seen[client] = deque()
            while times and times[0] <= now - HOUR:
                times.popleft()
            if len(times) >= self.limit:
                return times[0] + HOUR - now
            times.append(now)
            return 0.0

    def give_back(self, client: str) -> None:
        """Uncount `client`'s latest event (a creation that was refused for its input)."""
        with self._lock:
            times = self._seen.get(client)
            if times:
                times.pop()

    def _forget_idle(self, now: float) -> None:
        for client in [c for c, times in self._seen.items() if not times or times[-1] <= now - HOUR]:
            del self._seen[client]
        while len(self._seen) >= MAX_TRACKED_CLIENTS:  # every one active: the oldest entry goes
            del self._seen[next(iter(self._seen))]


class Rooms:
    """The app's rooms: its settings, the store of the current process, and the creation limits."""

    def __init__(self, settings: RoomsSettings, clock: Callable[[], datetime] = utc_now):
        self.settings = settings
        self.clock = clock  # the store's clock; tests move it by hand
        self.clients = ClientLimiter(settings.per_client_per_hour)
        self._store: RoomStore | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def store(self) -> RoomStore:
        """The store of this process, made (and, for SQLite, migrated) on first use."""
        pid = os.getpid()
        if self._pid != pid:
            with self._lock:
                if self._pid != pid:
                    if self._store is not None:
                        # Made before a fork: leave the parent's connections to the parent.
                        self._store.engine.dispose(close=False)
                        self._store = None
                    self._store = self._open()
                    self._pid = pid
        assert self._store is not None
        return self._store

    def _open(self) -> RoomStore:
        url = self.settings.database_url
        if self.settings.is_sqlite:
            Path(make_url(url).database or "").parent.mkdir(parents=True, exist_ok=True)
            upgrade(url)
        engine = make_engine(url)
        try:
            require_migrated(engine)
            return RoomStore(engine, clock=lambda: self.clock())
        except BaseException:
            engine.dispose()
            raise

    def create_room(self, client: str, title: object, closes_at: datetime | None, rules_fingerprint: str):
        """A new room and its owner token, counted against the creation limits (RateLimitedError); a room refused
        for its input (RoomInputError) is not counted."""
        self.limit_creation(client)
        try:
            return self.store().create_room(title, closes_at, rules_fingerprint=rules_fingerprint)  # type: ignore[arg-type]
        except RoomInputError:
            self.clients.give_back(client)
            raise

    def limit_creation(self, client: str) -> None:
        """Count a room creation by `client`; raise RateLimitedError when it or everyone made too many lately."""
        wait = self.clients.take(client)
        if wait:
            raise RateLimitedError(f"this address created {self.settings.per_client_per_hour} rooms in the last "
                                   "hour, the most allowed", max(1, int(wait) + 1))
        since = self.clock() - timedelta(hours=1)
        if self.store().count_rooms_created_since(since) >= self.settings.per_hour:
            raise RateLimitedError(f"{self.settings.per_hour} rooms were created in the last hour, the most this "
                                   "site allows", TOTAL_RETRY_SECONDS)

    def dispose(self) -> None:
        if self._store is not None and self._pid == os.getpid():
            self._store.engine.dispose()
        self._store = self._pid = None


def database_unreachable(error: Exception) -> RoomsUnavailableError:
    """The error to show for a database that could not be reached (logged once per request, without the URL)."""
    log.warning("rooms database unreachable: %s", str(error).strip().splitlines()[0][:300] if str(error) else error)
    return RoomsUnavailableError(DATABASE_UNREACHABLE)


def require_migrated(engine) -> None:
    """Raise RoomsUnavailableError unless the database is at the rooms' latest migration."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current != head:
        raise RoomsUnavailableError(
            "the rooms database is not migrated" + (f" (it is at {current}, the latest is {head})" if current else "")
            + ": whoever runs this site must run `flask db upgrade` with the same DOCKWISE_DATABASE_URL")


def init_rooms(app: Flask) -> Rooms:
    """Check the rooms' settings and attach them to the app; no database is touched until the first use."""
    rooms = Rooms(rooms_settings(app.config, app.instance_path))
    app.extensions["dockwise.rooms"] = rooms
    return rooms


def current_rooms() -> Rooms:
    return current_app.extensions["dockwise.rooms"]


# --- commands (web/cli.py wraps these) ----------------------------------------------------------------------------


def upgrade_database(settings: RoomsSettings) -> str:
    """Migrate the rooms database to the latest revision; what was done, in words (no password shown)."""
    url = settings.database_url
    if settings.is_sqlite:
        Path(make_url(url).database or "").parent.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    shown = make_url(url).render_as_string(hide_password=True)
    return f"the rooms database {shown} is at the latest migration"


def purge_rooms(rooms: Rooms) -> int:
    """Delete the rooms that closed more than DOCKWISE_ROOMS_KEEP_DAYS ago; how many."""
    return rooms.store().purge_expired(rooms.clock(), rooms.settings.keep_days)


# --- what the API shows -------------------------------------------------------------------------------------------


def checked_answers(ruleset: RuleSet, answers: Mapping[str, object]) -> dict[str, str]:
    """The answers a member submits, without the unanswered ones; AnswersError names every unknown pair."""
    given = {question: choice for question, choice in answers.items() if choice is not None and choice != ""}
    parse_answers(ruleset, given)
    return given  # type: ignore[return-value]  # parse_answers accepted every pair: each is a question and choice id


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment is not None else None


def room_status(room: RoomView, now: datetime) -> str:
    """open (takes answers), revealed (by its owner) or closed (its closing time passed)."""
    if room.is_open(now):
        return "open"
    return "revealed" if room.revealed_at == room.ends_at else "closed"


def room_summary(room: RoomView, now: datetime) -> dict:
    """What anyone holding the room's id may see at any time: never an answer, a token or a digest."""
    return {"id": room.id, "title": room.title, "status": room_status(room, now), "created_at": iso(room.created_at),
            "closes_at": iso(room.closes_at), "revealed_at": iso(room.revealed_at), "ends_at": iso(room.ends_at),
            "results_visible": room.results_visible(now)}


GROUP_RESULTS_KEPT = 32  # rooms whose results this process keeps computed (a 100-member room costs ~0.2 s)


class GroupResults:
    """The group results of recently read rooms, per process. A room's results are read only once it has closed, when
    its answers can no longer change, so the key (rules version, members and their answers) only misses when the rules
    change or another room is read: a room's page, record and API state are computed once, not per request."""

    def __init__(self, kept: int = GROUP_RESULTS_KEPT):
        self.kept = kept
        self._results: dict[tuple, GroupResult] = {}
        self._lock = threading.Lock()

    def of(self, ruleset: RuleSet, room: RoomView) -> GroupResult:
        members = tuple((m.name, tuple(sorted((m.answers or {}).items()))) for m in room.members)
        key = (ruleset, members)
        with self._lock:
            found = self._results.get(key)
        if found is None:
            found = aggregate(ruleset, [(name, dict(answers)) for name, answers in members])
            with self._lock:
                if len(self._results) >= self.kept:
                    del self._results[next(iter(self._results))]  # the oldest entry
                self._results[key] = found
        return found


group_results = GroupResults()


def room_state(room: RoomView, ruleset: RuleSet, now: datetime, results_url: Callable[[str], str]) -> dict:
    """The room as GET /api/rooms/<id> shows it: before the results are visible, who has answered (names only);
    after, everything its results say, recomputed under the current rules (`results_url` makes a member's link)."""
    state = {"room": room_summary(room, now),
             "members": [{"name": member.name, "answered": member.has_answered} for member in room.members],
             "group_rule": GROUP_RULE}
    if not room.results_visible(now):
        return state
    group = group_results.of(ruleset, room)
    results = group.as_json()
    for member_json, member, counted in zip(results["members"], room.members, group.members):
        member_json["answered"] = member.has_answered
        # A member none of whose answers count has no recommendation, so no results page to link.
        member_json["results_url"] = results_url(member_json["query"]) if counted.answered else None
    results["stale_rules"] = room.rules_fingerprint != ruleset.fingerprint
    results["room_rules_fingerprint"] = room.rules_fingerprint
    results["not_counted"] = [{"member": member["name"], **entry}
                              for member in results["members"] for entry in member["not_counted"]]
    state["results"] = results
    return state
