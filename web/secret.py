"""The secret key that signs sessions and CSRF tokens: from DOCKWISE_SECRET_KEY or DOCKWISE_SECRET_KEY_FILE (what a
deployment of several instances needs: the same key everywhere), else generated once into the instance folder and
shared by all workers of the machine.

A key Dockwise cannot use stops it starting with a ConfigError naming the setting.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat

from .settings import ConfigError

MIN_KEY_BYTES = 32
MAX_KEY_FILE_BYTES = 64 * 1024  # read from a key file; a key is a few dozen bytes
HOW_TO_MAKE_ONE = "python -c 'import secrets; print(secrets.token_hex(32))'"
SETTINGS = "DOCKWISE_SECRET_KEY or DOCKWISE_SECRET_KEY_FILE"


def _as_text_if_ascii(key: bytes) -> str | bytes:
    """A key as text when it is ASCII (as a generated one is), else the bytes themselves: both sign the same."""
    return key.decode("ascii") if key.isascii() else key


def checked_key(key: bytes, setting: str) -> bytes:
    """`key` when it is long enough, else a ConfigError naming `setting`."""
    if len(key) < MIN_KEY_BYTES:
        unit = "byte" if len(key) == 1 else "bytes"
        raise ConfigError(f"{setting} is {len(key)} {unit} long; use at least {MIN_KEY_BYTES} random bytes, e.g. "
                          f"`{HOW_TO_MAKE_ONE}`.")
    return key


def environment_key(value: str) -> str:
    """DOCKWISE_SECRET_KEY's value, checked."""
    checked_key(value.encode("utf-8", "surrogateescape"), "DOCKWISE_SECRET_KEY")
    return value


class NotARegularFileError(OSError):
    """A path names a FIFO, a directory, a device or a socket where a file holding a key belongs."""

    def __init__(self, kind: str):
        super().__init__(f"it is {kind}, not a regular file")
        self.strerror = str(self)  # what the messages quote for any OSError


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a socket" if stat.S_ISSOCK(mode) else "a special file"


def read_regular_file(path: str) -> bytes:
    """The first MAX_KEY_FILE_BYTES bytes of the regular file at `path` (symbolic links followed, as a Kubernetes
    secret's are); NotARegularFileError for anything else. Opened without blocking: a FIFO is refused, not waited on."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise NotARegularFileError(_kind(mode))
        data = b""
        while len(data) < MAX_KEY_FILE_BYTES and (chunk := os.read(descriptor, MAX_KEY_FILE_BYTES - len(data))):
            data += chunk
        return data
    finally:
        os.close(descriptor)


def read_key_file(path: str) -> str | bytes:
    """The key in DOCKWISE_SECRET_KEY_FILE (a Docker or Kubernetes secret): its first MAX_KEY_FILE_BYTES bytes, any
    trailing CR and LF characters stripped."""
    try:
        key = read_regular_file(path).rstrip(b"\r\n")
    except OSError as error:
        raise ConfigError(f"DOCKWISE_SECRET_KEY_FILE names {path}, which cannot be read: {error.strerror}. Point "
                          f"it at a readable file holding at least {MIN_KEY_BYTES} random bytes.") from None
    return _as_text_if_ascii(checked_key(key, f"DOCKWISE_SECRET_KEY_FILE ({path})"))


def read_database_url_file(path: str) -> str:
    """The database URL in DOCKWISE_DATABASE_URL_FILE (a Docker or Kubernetes secret: the URL holds a password), with
    surrounding whitespace stripped; ConfigError when it cannot be read or is empty. The URL is never shown."""
    try:
        text = read_regular_file(path).decode("utf-8").strip()
    except OSError as error:
        raise ConfigError(f"DOCKWISE_DATABASE_URL_FILE names {path}, which cannot be read: {error.strerror}. Point it "
                          "at a readable file holding the rooms' database URL.") from None
    except UnicodeDecodeError:
        raise ConfigError(f"DOCKWISE_DATABASE_URL_FILE names {path}, which is not UTF-8 text: it must hold the "
                          "rooms' database URL.") from None
    if not text:
        raise ConfigError(f"DOCKWISE_DATABASE_URL_FILE names {path}, which is empty: it must hold the rooms' "
                          "database URL (postgresql://USER:PASSWORD@HOST/DATABASE).")
    return text


def secret_key(config, instance_path: str) -> str | bytes:
    """The key for the app, from (in order) SECRET_KEY_FILE, SECRET_KEY, or the instance folder's generated key.

    Refused: both settings at once, and no setting when DOCKWISE_PUBLIC_URL says this is a deployment.
    """
    key_file, key = config.get("SECRET_KEY_FILE"), config.get("SECRET_KEY")
    if key_file and key:
        raise ConfigError(f"Both DOCKWISE_SECRET_KEY and DOCKWISE_SECRET_KEY_FILE ({key_file}) are set; set only "
                          "one of them.")
    if key_file:
        return read_key_file(str(key_file))
    if key:
        return key
    if config.get("PUBLIC_URL"):
        raise ConfigError(f"DOCKWISE_PUBLIC_URL is set, so this is a deployment that may run several instances "
                          f"behind one name, and each must sign forms with the same key: set {SETTINGS} (at least "
                          f"{MIN_KEY_BYTES} random bytes, e.g. `{HOW_TO_MAKE_ONE}`).")
    return load_or_create_secret_key(instance_path)


def load_or_create_secret_key(instance_path: str) -> str | bytes:
    """Read instance/secret_key, creating it atomically (first writer wins) if it does not exist."""
    path = os.path.join(instance_path, "secret_key")
    try:
        return _load_or_create(path)
    except OSError as error:
        raise ConfigError(f"No secret key is set and none can be kept in {path}: {error.strerror}. Set {SETTINGS} "
                          f"(at least {MIN_KEY_BYTES} random bytes, e.g. `{HOW_TO_MAKE_ONE}`), or make "
                          f"{instance_path} a writable folder.") from None


def _read(path: str) -> str | bytes:
    return _as_text_if_ascii(read_regular_file(path).strip())


def _load_or_create(path: str) -> str | bytes:
    try:
        key = _read(path)
        if key:
            return key
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = f"{path}.{os.getpid()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32))
    except BaseException:  # a full disk or a file size limit: leave nothing half-written behind
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    try:
        os.link(temporary, path)  # fails if another worker got there first; then theirs is the key
    except FileExistsError:
        if not _read(path):
            os.replace(temporary, path)  # an empty key file (a crash while writing?) is replaced
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return _read(path)
