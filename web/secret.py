"""The secret key: from the environment, else generated once into the instance folder and shared by all workers."""

from __future__ import annotations

import os
import secrets


def load_or_create_secret_key(instance_path: str) -> str:
    """Read instance/secret_key, creating it atomically (first writer wins) if it does not exist."""
    path = os.path.join(instance_path, "secret_key")
    try:
        with open(path, encoding="ascii") as handle:
            key = handle.read().strip()
        if key:
            return key
    except FileNotFoundError:
        pass
    os.makedirs(instance_path, exist_ok=True)
    temporary = f"{path}.{os.getpid()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(32))
    try:
        os.link(temporary, path)  # fails if another worker got there first; then theirs is the key
    except FileExistsError:
        with open(path, encoding="ascii") as handle:
            if not handle.read().strip():
                os.replace(temporary, path)  # an empty key file (a crash while writing?) is replaced
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    with open(path, encoding="ascii") as handle:
        return handle.read().strip()
