"""The answer-space analysis behind /rules, computed off the request path: once per rules version, per worker.

`explore` (about 1 s, and 240 MB more at its peak) and, after a hot reload, `diff` against the version served
before (about 1.3 s, 190 MB) never run inside a request: the first /rules request that sees a rules version
queues it for one background daemon thread of this process and renders at once with what is ready. The thread
computes the newest queued version only (versions saved meanwhile are skipped), then ends; the next version
starts another. Kept afterwards: the current version's ExploreReport and, after a reload, its DiffReport against
the previous one (a few KB each). The numpy arrays live and die inside each call, and glibc is told to give
them back to the system (see `return_large_blocks_to_the_system`); the thread lets go of both RuleSets when it
is done (the rules holder keeps the previous one as `previous`, one RuleSet, about 5 MB).

Threads do not survive fork, and `gunicorn --preload` builds the app in the master: nothing here starts a
thread before a /rules request, and state made in another process (the master) is discarded on first use in a
worker. A failure is logged and shown as "could not be computed"; it is tried again only for another version.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from dataclasses import dataclass, field, replace

from flask import Flask, current_app

from recommender import RuleSet
from recommender.space import DiffReport, ExploreReport, SpaceTooLargeError, diff, explore

log = logging.getLogger("dockwise.analysis")

EXTENSION = "dockwise.analysis"
PENDING, READY, FAILED = "pending", "ready", "failed"
M_MMAP_THRESHOLD = -3            # glibc's mallopt parameter
MMAP_THRESHOLD = 256 * 1024      # blocks this large (the analysis' numpy arrays) are mapped, and unmapped when freed


@dataclass(frozen=True)
class Change:
    """What changed since the previous rules version: the diff, with both versions' option labels and order."""

    report: DiffReport
    labels: dict[str, str]        # option id → label (the current version's wording first)
    sources: tuple[str, ...]      # the previous version's options: the rows of the from → to matrix
    targets: tuple[str, ...]      # the current version's options: its columns
    cells: dict[tuple[str, str], float] = field(default_factory=dict)  # (from, to) → share of compared states
    # What one version has and the other lacks: ("previous" or "current", "questions" | "choices" | "options", ids)
    one_sided: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    @classmethod
    def of(cls, report: DiffReport, previous: RuleSet, ruleset: RuleSet) -> Change:
        labels = {o.id: o.label for o in previous.options} | {o.id: o.label for o in ruleset.options}
        one_sided = tuple((where, kind, tuple(side[kind]))
                          for where, side in (("previous", report.only_old), ("current", report.only_new))
                          for kind in ("questions", "choices", "options") if side.get(kind))
        return cls(report, labels, tuple(o.id for o in previous.options), tuple(o.id for o in ruleset.options),
                   {(flip.source, flip.target): flip.share.share for flip in report.matrix}, one_sided)


@dataclass(frozen=True)
class Analysis:
    """What /rules can show for one rules version now: each part pending, ready or failed."""

    fingerprint: str
    previous: str | None            # the fingerprint of the version this worker served before, if any
    space_state: str = PENDING
    space: ExploreReport | None = None
    change_state: str | None = None  # None: nothing to compare with (a fresh start)
    change: Change | None = None

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.fingerprint, self.previous)


class AnswerSpace:
    """One per app: the analysis of the rules version it serves, computed by a background thread of this process."""

    def __init__(self) -> None:
        self._start()

    def _start(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._current: Analysis | None = None
        self._queued: tuple[RuleSet, RuleSet | None] | None = None
        self._thread: threading.Thread | None = None

    def _here(self) -> None:
        if self._pid != os.getpid():  # made before a fork (gunicorn --preload): no thread of it lives here
            self._start()

    def of(self, ruleset: RuleSet, previous: RuleSet | None = None) -> Analysis:
        """The analysis of `ruleset` (and of what changed since `previous`) as far as it is ready; never waits.

        The first call for a version queues its computation and answers "pending".
        """
        self._here()
        if previous is not None and previous.fingerprint == ruleset.fingerprint:
            previous = None
        key = (ruleset.fingerprint, previous.fingerprint if previous else None)
        with self._lock:
            current = self._current
            # Not knowing the previous version (a request that raced a reload) is no reason to start again.
            if current is not None and current.fingerprint == key[0] and (previous is None or current.key == key):
                return current
            current = Analysis(*key, change_state=PENDING if previous else None)
            self._current, self._queued = current, (ruleset, previous)
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="dockwise-analysis", daemon=True)
                try:
                    thread.start()
                except Exception:  # e.g. no more threads: say so on the page rather than fail the request
                    log.exception("could not start the analysis of rules %s", ruleset.fingerprint)
                    self._queued = None
                    self._current = current = replace(current, space_state=FAILED,
                                                      change_state=FAILED if previous else None)
                    return current
                self._thread = thread
            return current

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until nothing is being computed (for tests and scripts); False if `timeout` passed first."""
        self._here()
        with self._idle:
            return self._idle.wait_for(lambda: self._thread is None, timeout)

    # --- the background thread --------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._work()
        except Exception:  # a bug outside explore and diff: fail what is pending rather than stay "being computed"
            log.exception("the analysis thread stopped")
            with self._lock:
                current = self._current
                if current is not None:
                    self._current = replace(current, **{part: FAILED for part in ("space_state", "change_state")
                                                        if getattr(current, part) == PENDING})
                self._queued, self._thread = None, None
                self._idle.notify_all()

    def _work(self) -> None:
        return_large_blocks_to_the_system()
        while True:
            with self._lock:
                job, self._queued = self._queued, None
                if job is None:
                    self._thread = None
                    self._idle.notify_all()
                    return
            ruleset, previous = job
            del job
            key = (ruleset.fingerprint, previous.fingerprint if previous else None)
            try:
                self._publish(key, space_state=READY, space=explore(ruleset))
            except SpaceTooLargeError as error:  # valid rules, too large to analyse: a reason, not a traceback
                log.warning("no answer-space analysis of rules %s: %s", ruleset.fingerprint, error)
                self._publish(key, space_state=FAILED)
            except Exception:
                log.exception("could not compute the answer-space analysis of rules %s", ruleset.fingerprint)
                self._publish(key, space_state=FAILED)
            if previous is not None and not self._superseded():
                try:
                    self._publish(key, change_state=READY, change=Change.of(diff(previous, ruleset), previous, ruleset))
                except SpaceTooLargeError as error:
                    log.warning("no comparison of rules %s with %s: %s", ruleset.fingerprint, previous.fingerprint,
                                error)
                    self._publish(key, change_state=FAILED)
                except Exception:
                    log.exception("could not compare rules %s with the previous version %s", ruleset.fingerprint,
                                  previous.fingerprint)
                    self._publish(key, change_state=FAILED)
            del ruleset, previous  # not kept past their analysis

    def _superseded(self) -> bool:
        with self._lock:
            return self._queued is not None

    def _publish(self, key: tuple[str, str | None], **parts) -> None:
        with self._lock:
            if self._current is not None and self._current.key == key:  # else a newer version took its place
                self._current = replace(self._current, **parts)


def return_large_blocks_to_the_system() -> None:
    """Have glibc map every large block, so the analysis' arrays go back to the system when freed.

    By default glibc raises its mmap threshold (up to 32 MiB) after the first large block is freed, and from then on
    serves the arrays from this thread's arena, which freeing does not shrink: measured, a worker kept about 120 MB
    after the analysis was done. With a fixed threshold it returns to where it started; the time is the same.
    """
    try:
        if (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    except (ValueError, OSError, AttributeError):  # not glibc: its allocator is left as it is
        pass


def init_analysis(app: Flask) -> None:
    app.extensions.setdefault(EXTENSION, AnswerSpace())


def analysis_of(ruleset: RuleSet) -> Analysis:
    """The analysis of `ruleset`, which this worker serves now, and of what changed since the version it served
    before (the rules holder's `previous`)."""
    holder = current_app.extensions["dockwise"]
    previous = holder.previous if holder.rules is ruleset else None
    return current_app.extensions[EXTENSION].of(ruleset, previous)
