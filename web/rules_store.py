"""What the workers of one server share about the rules file: the last good version and the verdict on each version.

A directory per server (gunicorn master) and rules file holds `current.json`, which names the last good version (an
atomically replaced pointer), that version's bytes under `good/` (content-addressed by SHA-256), the verdicts on every
version checked under `verdicts/`, and `lock`, which one process holds while it checks a version, so that a version is
checked (and its errors logged) once, not once per worker. A respawned worker, and every worker after SIGHUP, loads
what the pointer names, so every worker serves the same last good rules. The directory's name carries the master's
pid and start time: a new server never mistakes an old server's pointer for its own, and directories of servers that
are gone are removed. When no directory can be used, `LocalStore` keeps the same state in one process's memory.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import stat
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from recommender.source import MAX_BYTES

from .rules_check import Verdict, read_regular_file

KEEP_VERSIONS = 4     # good versions kept on disk: the current one and a few before it
KEEP_VERDICTS = 256   # verdicts kept (newest first); an older version is simply checked again


class StoreUnavailableError(Exception):
    """The state directory cannot be used; the message says which and why."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def process_identity(pid: int) -> str:
    """`pid-starttime` (the start time from /proc, in clock ticks since boot): a reused pid is told apart."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return f"{pid}-{fields[19]}"  # field 22 of stat; the split starts at field 3
    except (OSError, IndexError):
        return str(pid)


def is_alive(identity: str) -> bool:
    pid = identity.split("-", 1)[0]
    return pid.isdigit() and process_identity(int(pid)) == identity


@dataclass(frozen=True)
class Pointer:
    """The last good version: its content's SHA-256 and its rules fingerprint."""

    sha256: str
    fingerprint: str


class LocalStore:
    """The same state in this process's memory: the fallback when no state directory can be used."""

    shared = False

    def __init__(self) -> None:
        self._verdicts: OrderedDict[str, Verdict] = OrderedDict()
        self._pointer: Pointer | None = None
        self._good: bytes | None = None
        self._lock = threading.Lock()

    def verdict(self, digest: str) -> Verdict | None:
        return self._verdicts.get(digest)

    def save_verdict(self, digest: str, verdict: Verdict) -> None:
        self._verdicts[digest] = verdict
        while len(self._verdicts) > KEEP_VERDICTS:
            self._verdicts.popitem(last=False)

    def pointer(self) -> Pointer | None:
        return self._pointer

    def snapshot(self, digest: str) -> bytes | None:
        return self._good if self._pointer and self._pointer.sha256 == digest else None

    def publish(self, digest: str, data: bytes, fingerprint: str) -> None:
        self._pointer, self._good = Pointer(digest, fingerprint), data

    def touch(self, digest: str) -> None:
        pass  # nothing on disk to keep fresh

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        with self._lock:
            yield

    def after_fork(self) -> None:
        self._lock = threading.Lock()  # the parent's may have been held by another thread at the fork


class SharedStore:
    """The state in a directory every worker of one server reads and writes (see the module's docstring)."""

    shared = True

    def __init__(self, directory: Path):
        self.directory = directory

    @classmethod
    def open(cls, base: str | None, rules_path: str, master: str) -> SharedStore:
        """The directory of the server whose master is `master` for `rules_path`, under `base` (default: a private
        directory in the system's temporary directory); created if missing. Raise StoreUnavailableError."""
        root = Path(base) if base else Path(tempfile.gettempdir()) / f"dockwise-{os.getuid()}"
        rules_key = sha256(os.path.abspath(rules_path).encode())[:16]
        directory = root / f"{rules_key}-{master}"
        try:
            private_directory(root, strict=base is None)
            for path in (directory, directory / "good", directory / "verdicts"):
                path.mkdir(mode=0o700, exist_ok=True)
        except OSError as error:
            raise StoreUnavailableError(f"cannot use the state directory {root}: {error.strerror or error}") from None
        remove_servers_gone(root, keep=directory)
        return cls(directory)

    def verdict(self, digest: str) -> Verdict | None:
        try:
            return Verdict.from_json(json.loads(read_small(self.directory / "verdicts" / f"{digest}.json")))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save_verdict(self, digest: str, verdict: Verdict) -> None:
        folder = self.directory / "verdicts"
        write_atomic(folder / f"{digest}.json", json.dumps(verdict.as_json()).encode())
        keep_newest(folder, KEEP_VERDICTS)

    def pointer(self) -> Pointer | None:
        try:
            value = json.loads(read_small(self.directory / "current.json"))
            return Pointer(str(value["sha256"]), str(value["fingerprint"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def snapshot(self, digest: str) -> bytes | None:
        """The bytes of a good version, if still kept and intact."""
        try:
            data = read_small(self.directory / "good" / f"{digest}.yaml", MAX_BYTES)
        except OSError:
            return None
        return data if sha256(data) == digest else None

    def publish(self, digest: str, data: bytes, fingerprint: str) -> None:
        """Make `data` the last good version: its bytes first, then the pointer, each replaced atomically."""
        good = self.directory / "good" / f"{digest}.yaml"
        if not good.exists():
            write_atomic(good, data)
        write_atomic(self.directory / "current.json",
                     json.dumps({"sha256": digest, "fingerprint": fingerprint}).encode())
        keep_newest(self.directory / "good", KEEP_VERSIONS, keep=good.name)

    def touch(self, digest: str) -> None:
        """Mark the pointer and the good version's bytes as used now, for cleaners of old temporary files."""
        for path in (self.directory / "current.json", self.directory / "good" / f"{digest}.yaml", self.directory):
            os.utime(path)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive across the server's processes (and threads: each call opens its own file description)."""
        descriptor = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # releases the lock, as the end of a killed process does

    def after_fork(self) -> None:
        pass  # nothing held across a fork: each lock() opens the file anew


def private_directory(path: Path, *, strict: bool) -> None:
    """Create `path` (mode 0700) or check the existing one: a directory, not a link, owned by this user and writable
    by no one else (`strict`: not readable by anyone else either). Raise OSError saying what is wrong."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700, parents=not strict)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise OSError(f"{path} is not a directory")
    if info.st_uid != os.getuid():
        raise OSError(f"{path} belongs to another user (uid {info.st_uid})")
    if info.st_mode & (0o077 if strict else 0o022):
        raise OSError(f"{path} is open to other users (mode {stat.S_IMODE(info.st_mode):o}); make it 0700")


def remove_servers_gone(root: Path, keep: Path) -> None:
    """Delete the directories (named `<rules key>-<master>`) of servers whose master has exited."""
    with contextlib.suppress(OSError):
        for path in root.iterdir():
            key, _, master = path.name.partition("-")
            if path != keep and len(key) == 16 and master and not is_alive(master) and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)


def read_small(path: Path, limit: int = 64 * 1024) -> bytes:
    """At most `limit` (+ 1) bytes of a regular file of the state directory, not following a symbolic link."""
    return read_regular_file(path, limit, follow_links=False)


def write_atomic(path: Path, data: bytes) -> None:
    """Write a temporary file beside `path`, flush it to disk, then rename it over `path`."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def keep_newest(folder: Path, count: int, keep: str | None = None) -> None:
    """Delete all but the `count` most recently written files of `folder` (and never `keep`)."""
    with contextlib.suppress(OSError):
        entries = [entry for entry in os.scandir(folder) if entry.is_file() and not entry.name.startswith(".tmp-")]
        if len(entries) <= count:
            return
        entries.sort(key=lambda entry: entry.stat().st_mtime_ns, reverse=True)
        for entry in entries[count:]:
            if entry.name != keep:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
