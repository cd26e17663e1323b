"""Holds the rules one process serves; a watcher thread reloads them off the request path when the file changes.

A request only reads what is current (`get()`: no stat, no read, no parsing). Every `interval` seconds a daemon thread
reads the file by content (SHA-256 of its bytes, so a same-size edit that keeps the old mtime is seen) and, for bytes
it has not judged before and that stayed the same for SETTLE_SECONDS (a write in progress is not judged), has a child
process check them within a time and memory budget (web/rules_check.py: loaded, every golden scenario passing). Only
a version that passed is loaded here and swapped in with one assignment; until then, and after a refusal, the last
good rules serve. Under serve.py the processes of one server share verdicts and the last good version
(web/rules_store.py): a version is checked once, its errors logged once, and a worker forked later (a respawn, or
after SIGHUP) loads the last good version before it serves, so every worker serves the same rules.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Mapping
from datetime import UTC, datetime

from recommender import RulesError, RuleSet, load_rules_text
from recommender.outlook import warm

from .rules_check import Budget, Verdict, check_in_child, problem, read_rules_file
from .rules_store import LocalStore, SharedStore, StoreUnavailableError, process_identity, sha256
from .settings import flag_setting, number_setting

log = logging.getLogger("dockwise.rules")

DEFAULT_BUDGET = Budget()
SETTLE_SECONDS = 0.1  # new bytes must read the same twice this far apart before they are checked
# How often the last good version's files are touched: a cleaner of old temporary files (systemd-tmpfiles removes
# what is untouched for 10 days) must never take them from a long-running server whose rules do not change.
TOUCH_SECONDS = 3600.0

_holders: weakref.WeakSet[RulesHolder] = weakref.WeakSet()


class RulesUnavailableError(Exception):
    """No valid rules have been loaded yet (the file was broken from the start)."""


class RulesHolder:
    """The rules this process serves, the version before them (for /rules' "what changed") and the reload status."""

    def __init__(self, path: str, display_name: str | None = None, interval: float = 1.0, *,
                 budget: Budget = DEFAULT_BUDGET, state_dir: str | None = None, health_details: bool = False,
                 thread: bool = True):
        self.path = path
        self.display_name = display_name or path
        self.interval = interval
        self.thread = thread  # a watcher thread looks at the file every `interval` seconds (if above 0)
        self.budget = budget
        self.state_dir = state_dir
        self.health_details = health_details
        self.rules: RuleSet | None = None
        # The version served before the current one (a different fingerprint), for /rules' "what changed".
        self.previous: RuleSet | None = None
        self.loaded_at: datetime | None = None
        # Why the file's current content is not what is served (a refused verdict), or None.
        self.error: Verdict | None = None
        self._source = b""  # the bytes `rules` were loaded from
        self._digest: str | None = None  # and their SHA-256
        self.judged: str | None = None  # the SHA-256 of the file's content as last judged (None: unreadable)
        self._store: LocalStore | SharedStore = LocalStore()
        self._shared = False  # serve.py shares this holder with the server's other processes
        self._watching = False
        self._touched = 0.0  # time.monotonic() when the last good version's files were last touched
        self._start_lock = threading.Lock()
        self._pass_lock = threading.Lock()
        _holders.add(self)

    @classmethod
    def from_config(cls, config: Mapping) -> RulesHolder:
        """A holder from the app's settings; raise ConfigError naming a setting it cannot use. Under Flask's TESTING
        there is no watcher thread: a test makes the watcher's look itself, with `refresh()`."""
        path = str(config["RULES_PATH"])
        state_dir = config.get("STATE_DIR")
        return cls(path, os.path.basename(path), number_setting(config, "RULES_CHECK_INTERVAL", 1.0, minimum=0),
                   budget=Budget(number_setting(config, "RULES_RELOAD_SECONDS", Budget.seconds, minimum=0.1),
                                 int(number_setting(config, "RULES_RELOAD_MEMORY_MB", Budget.memory >> 20,
                                                    minimum=256)) << 20),
                   state_dir=str(state_dir) if state_dir not in (None, "") else None,
                   health_details=flag_setting(config, "HEALTH_DETAILS"), thread=not config.get("TESTING"))

    # --- serving ----------------------------------------------------------------------------------------------------

    def get(self) -> RuleSet:
        """The current rules (and, on a process's first call, the watcher started)."""
        if not self._watching:
            self.watch()
        rules = self.rules
        if rules is None:
            raise RulesUnavailableError("\n".join(self.error.log_lines()) if self.error else "rules not loaded")
        return rules

    def health(self, *, details: bool) -> dict:
        """What /healthz reports: the status and fingerprint; with `details`, when loaded and why degraded."""
        if not self._watching:
            self.watch()
        rules, error = self.rules, self.error
        body = {"status": "failing" if rules is None else ("degraded" if error else "ok"),
                "rules_fingerprint": rules.fingerprint if rules else None}
        if details:
            body["rules_loaded_at"] = self.loaded_at.isoformat(timespec="seconds") if self.loaded_at else None
            body["rules_error"] = list(error.errors) if error else None
            body["rules_errors_omitted"] = error.omitted if error else 0
            body["rules_file_sha256"] = self.judged
        return body

    def watch(self) -> None:
        """Start this process's watcher thread (once; RULES_CHECK_INTERVAL 0 means never)."""
        with self._start_lock:
            if self._watching:
                return
            self._watching = True
        if self.thread and self.interval > 0:
            try:
                threading.Thread(target=_watch, args=(weakref.ref(self), self.interval), daemon=True,
                                 name=f"dockwise rules watcher ({self.display_name})").start()
            except RuntimeError as error:  # no thread to be had: serve on, with the rules loaded so far
                log.error("cannot start the rules watcher (%s): this process will not see changes to %s",
                          error, self.display_name)

    # --- loading ----------------------------------------------------------------------------------------------------

    def load(self) -> None:
        """Load the file in this process, at start-up (serve.py refuses to serve when this leaves no rules)."""
        try:
            data = read_rules_file(self.path, self.display_name)
            rules = load_rules_text(data, self.display_name)
        except RulesError as error:
            self.error = Verdict.refused(error)
            return
        except Exception as error:  # a bug in loading must not take the site down either
            log.exception("unexpected error loading %s", self.display_name)
            self.error = Verdict.refused(problem(self.display_name, f"could not be loaded: {error!r}"))
            return
        self._install(rules, data)
        self.error, self.judged = None, self._digest

    def refresh(self, *, check: bool = True) -> None:
        """One look at the file, what the watcher does every interval: serve a new version that passes its check,
        keep the last good rules (and say why) when it does not. `check=False` only applies verdicts already known,
        and takes no lock (a new worker does this before it serves: it must not wait for a sibling's check)."""
        with self._pass_lock:
            self._refresh(check)

    def _refresh(self, check: bool) -> None:
        try:
            data = read_rules_file(self.path, self.display_name)
        except RulesError as error:
            self.judged = None
            self._unreadable(Verdict.refused(error))
            return
        digest = sha256(data)
        if digest == self._digest:
            self.judged = digest
            if self.error is not None:
                log.info("%s is back to the version served (fingerprint %s)", self.display_name,
                         self.rules.fingerprint if self.rules else None)
                self.error = None
            if check:
                self._publish()
            return
        verdict = self._store_read(self._store.verdict, digest)
        if verdict is None:
            if not check:
                return
            time.sleep(SETTLE_SECONDS)
            try:
                again = read_rules_file(self.path, self.display_name)
            except RulesError:
                return  # the next look reports it
            if sha256(again) != digest:
                return  # still being written: judge it once it stays the same
            verdict = self._check(digest, data)
        if verdict.ok:
            self._swap_in(digest, data)
        else:
            self.error = verdict
            self._follow_last_good()
        self.judged = digest

    def _check(self, digest: str, data: bytes) -> Verdict:
        """The verdict on new bytes: checked in a child process by one process of the server at a time."""
        served = self.rules
        covered = frozenset(option for scenario in served.scenarios for option in scenario.expect) if served else None
        verdict = None
        try:
            with self._store.lock():
                verdict = self._store.verdict(digest)
                if verdict is not None:  # another worker checked it while this one waited
                    return verdict
                verdict = check_in_child(data, self.display_name, self.budget, covered or frozenset())
                if verdict.final:
                    self._store.save_verdict(digest, verdict)
        except OSError as error:
            self._lose_store(error)
            verdict = verdict or check_in_child(data, self.display_name, self.budget, covered or frozenset())
            if verdict.final:
                self._store.save_verdict(digest, verdict)
        if verdict.ok:
            log.info("%s: a new version passed its check in %.1f s (fingerprint %s)", self.display_name,
                     verdict.seconds, verdict.fingerprint)
        else:
            for line in verdict.log_lines():
                log.error("%s", line)
            if served is not None:
                log.error("keeping the last good rules (fingerprint %s)", served.fingerprint)
        return verdict

    def _swap_in(self, digest: str, data: bytes) -> None:
        try:
            rules = load_rules_text(data, self.display_name)
        except Exception as error:  # it passed in the child; should loading here fail all the same, keep serving
            log.exception("a checked version of %s could not be loaded", self.display_name)
            self.error = Verdict.refused(problem(self.display_name, f"could not be loaded: {error!r}"))
            return
        self._install(rules, data)
        self.error = None
        log.info("rules loaded from %s, fingerprint %s", self.display_name, rules.fingerprint)
        self._publish()

    def _install(self, rules: RuleSet, data: bytes, *, remember_previous: bool = True) -> None:
        try:
            warm(rules)  # the open-question outlooks' table: built here, off the request path
        except Exception:  # requests would build it themselves; a bug here must not keep good rules out
            log.exception("could not prepare the open-question outlooks for %s", self.display_name)
        if remember_previous and self.rules is not None and self.rules.fingerprint != rules.fingerprint:
            self.previous = self.rules
        self.rules, self._source, self._digest = rules, data, sha256(data)
        self.loaded_at = datetime.now(UTC)

    def _unreadable(self, verdict: Verdict) -> None:
        # Logged once per process and problem, not on every look.
        if self.error is None or self.error.errors != verdict.errors:
            for line in verdict.log_lines():
                log.error("%s", line)
            if self.rules is not None:
                log.error("keeping the last good rules (fingerprint %s)", self.rules.fingerprint)
        self.error = verdict
        self._follow_last_good()

    # --- sharing with the server's other processes ------------------------------------------------------------------

    def share(self, master_pid: int, *, adopt: bool) -> None:
        """Share verdicts and the last good version with the processes of the server whose master is `master_pid`
        (serve.py, once). `adopt`: this is a worker loading the app itself (no --preload), which serves what its
        siblings serve, even if the file is broken now. Falls back to this process alone when no state directory can
        be used."""
        try:
            self._store = SharedStore.open(self.state_dir, self.path, process_identity(master_pid))
        except StoreUnavailableError as error:
            log.warning("%s; each worker keeps its own rules state, so a worker started later may serve older rules "
                        "until its watcher has looked at the file: set DOCKWISE_STATE_DIR to a directory Dockwise "
                        "can write", error)
        self._shared = True
        if adopt:
            self._follow_last_good(remember_previous=False)
        if self._store_read(self._store.pointer) is None:
            self._publish()

    def _publish(self) -> None:
        """Make the version served the last good one, unless the file holds another version already judged good
        (then a worker that read an older version would point the others back at it)."""
        rules, digest = self.rules, self._digest
        if rules is None or digest is None:
            return
        pointer = self._store_read(self._store.pointer)
        if pointer is not None and pointer.sha256 == digest:
            if time.monotonic() - self._touched > TOUCH_SECONDS:
                self._touched = time.monotonic()
                self._store_read(self._store.touch, digest)
            return
        try:
            with self._store.lock():
                try:
                    current = sha256(read_rules_file(self.path, self.display_name))
                except RulesError:
                    current = None
                verdict = self._store.verdict(current) if current not in (None, digest) else None
                if verdict is None or not verdict.ok:
                    self._store.publish(digest, self._source, rules.fingerprint)
        except OSError as error:
            self._lose_store(error)

    def _follow_last_good(self, *, remember_previous: bool = True) -> None:
        """Serve the last good version the server's processes share, when this process serves another one."""
        pointer = self._store_read(self._store.pointer)
        if pointer is None or pointer.sha256 == self._digest:
            return
        data = self._store_read(self._store.snapshot, pointer.sha256)
        if data is None:
            return
        try:
            rules = load_rules_text(data, self.display_name)
        except Exception:
            log.exception("the last good version of %s could not be loaded", self.display_name)
            return
        self._install(rules, data, remember_previous=remember_previous)
        log.info("serving the last good rules of %s, fingerprint %s", self.display_name, rules.fingerprint)

    def _store_read(self, method, *args):
        try:
            return method(*args)
        except OSError as error:
            self._lose_store(error)
            return None

    def _lose_store(self, error: OSError) -> None:
        if self._store.shared:
            log.warning("the rules state directory failed (%s); this process carries on with its own state", error)
            self._store = LocalStore()

    def _after_fork(self) -> None:
        """In a new child process: fresh locks, no watcher yet; a shared holder loads the last good version now,
        applies what is known about the file's current content, and starts watching, before the child serves."""
        self._start_lock, self._pass_lock = threading.Lock(), threading.Lock()
        self._watching = False
        self._store.after_fork()
        if not self._shared:
            return
        try:
            self._follow_last_good()
            self.refresh(check=False)
        except Exception:
            log.exception("could not load the last good rules in a new worker")
        self.watch()


def _watch(holder_ref: weakref.ref, interval: float) -> None:
    """The watcher thread: a look at the file every `interval` seconds, for as long as the holder exists."""
    while True:
        time.sleep(interval)
        holder = holder_ref()
        if holder is None:
            return
        try:
            holder.refresh()
        except Exception:  # the watcher must outlive any bug, or reloads would silently stop
            log.exception("the rules watcher failed; it keeps watching")
        del holder


def _after_fork_in_child() -> None:
    for holder in list(_holders):
        holder._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
