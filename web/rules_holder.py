"""Holds the current rules for one worker and hot-reloads them when the file changes."""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime

from recommender import RulesError, RuleSet, load_rules
from recommender.errors import RulesIssue
from recommender.outlook import warm

log = logging.getLogger("dockwise.rules")


class RulesUnavailableError(Exception):
    """No valid rules have been loaded yet (the file was broken from the start)."""


class RulesHolder:
    """Serves the last good RuleSet; checks the file's (mtime_ns, size, inode) at most once per interval.

    A changed file is loaded into a new RuleSet and swapped in with one assignment, so a request never sees a
    half-built one. Any error (YAML, validation, a half-written or missing file) keeps the last good rules serving.
    """

    def __init__(self, path: str, display_name: str | None = None, interval: float = 1.0):
        self.path = path
        self.display_name = display_name or path
        self.interval = interval
        self.rules: RuleSet | None = None
        # The version served before the current one (a different fingerprint), for /rules' "what changed".
        self.previous: RuleSet | None = None
        self.loaded_at: datetime | None = None
        self.error: RulesError | None = None
        self._signature: tuple[int, int, int] | None = None
        self._next_check = 0.0

    def check(self) -> None:
        """Reload the rules if the interval has passed and the file changed."""
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + self.interval
            self.refresh()

    def get(self) -> RuleSet:
        """The current rules, reloading first if the file changed and the interval has passed."""
        self.check()
        if self.rules is None:
            raise RulesUnavailableError(str(self.error) if self.error else "rules not loaded")
        return self.rules

    def refresh(self) -> None:
        try:
            stat = os.stat(self.path)
        except OSError as error:
            # An editor's save-by-rename can leave no file for a moment: keep serving and look again next time.
            self._fail(RulesError([RulesIssue(self.display_name, 1, 1, (), f"cannot read the file: {error.strerror}")]),
                       None)
            return
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if signature == self._signature:
            return
        try:
            rules = load_rules(self.path, self.display_name)
        except RulesError as error:
            self._fail(error, signature)
            return
        except Exception as error:  # a bug in loading must not take the site down either
            log.exception("unexpected error loading %s", self.display_name)
            self._fail(RulesError([RulesIssue(self.display_name, 1, 1, (), f"could not be loaded: {error!r}")]),
                       signature)
            return
        try:
            warm(rules)  # the open-question outlooks' table: built here, off the request path
        except Exception:  # requests would build it themselves; a bug here must not keep good rules out
            log.exception("could not prepare the open-question outlooks for %s", self.display_name)
        if self.rules is not None and self.rules.fingerprint != rules.fingerprint:
            self.previous = self.rules
        self.rules, self.error, self._signature = rules, None, signature
        self.loaded_at = datetime.now(UTC)
        log.info("rules loaded from %s, fingerprint %s", self.display_name, rules.fingerprint)

    def _fail(self, error: RulesError, signature: tuple[int, int, int] | None) -> None:
        # Log a reload failure once per bad version of the file. A failure before any rules were loaded is the
        # caller's to report (start-up stops with the errors; `flask rules check` prints them itself).
        if self.rules is not None and (signature != self._signature or self.error is None):
            for issue in error.issues:
                log.error("%s", issue)
            log.error("keeping the last good rules (fingerprint %s)", self.rules.fingerprint)
        self.error = error
        self._signature = signature

    def health(self) -> dict:
        """What /healthz reports: status, fingerprint, when loaded, and the last reload error's lines."""
        return {
            "status": "ok" if self.rules is not None and self.error is None else
                      ("degraded" if self.rules is not None else "failing"),
            "rules_fingerprint": self.rules.fingerprint if self.rules else None,
            "rules_loaded_at": self.loaded_at.isoformat(timespec="seconds") if self.loaded_at else None,
            "rules_error": [str(issue) for issue in self.error.issues] if self.error else None,
        }
