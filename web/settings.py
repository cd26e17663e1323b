"""The settings of Dockwise's edge, checked at start-up: the public URL, the trusted hosts and the proxies in front.

A value Dockwise cannot use stops it starting with a ConfigError that names the setting and says how to fix it.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import click
from sqlalchemy import make_url

from recommender import DockwiseError

MAX_PROXIES = 5
# What scripts/run serves on (gunicorn binds 127.0.0.1:8000). No IPv6 literal: Werkzeug's host check (which Flask's
# TRUSTED_HOSTS uses) cannot match one, so "[::1]" would be refused whatever the list says.
LOCAL_HOSTS = ("127.0.0.1", "localhost")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
HOST_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")
PATH_PREFIX = re.compile(r"(?:/[A-Za-z0-9._~-]+)+")
DEFAULT_PORTS = {"http": 80, "https": 443}
EXAMPLE_URL = "https://dockwise.example.com"
DEFAULT_DATABASE_FILE = "rooms.sqlite3"  # in the instance folder


class ConfigError(DockwiseError, click.ClickException):
    """A setting Dockwise cannot start with; the message names the setting and says how to fix it. A ClickException,
    so that `flask …` commands print it as one `Error: …` line, not a traceback."""


@dataclass(frozen=True)
class PublicURL:
    """Where users reach Dockwise: scheme, Host value (with a non-default port), and a path prefix ("" at the root)."""

    scheme: str
    host: str
    hostname: str
    prefix: str

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}{self.prefix}"


def public_url(value: object) -> PublicURL | None:
    """DOCKWISE_PUBLIC_URL parsed, or None when unset; raise ConfigError when it is not a plain http(s) origin."""
    if value is None or value == "":
        return None

    def refuse(problem: str) -> ConfigError:
        return ConfigError(f"DOCKWISE_PUBLIC_URL {problem} (it is {value!r}); give the address users open, "
                           f"e.g. {EXAMPLE_URL} or {EXAMPLE_URL}/dockwise.")

    if not isinstance(value, str):
        raise refuse("must be a URL")
    parts = urlsplit(value.strip())
    if parts.scheme not in DEFAULT_PORTS:
        raise refuse("must start with https:// or http://")
    if "@" in parts.netloc:
        raise refuse("must not hold a user name or password")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise refuse("must not have a query (?…) or a fragment (#…)")
    try:
        port = parts.port
    except ValueError:
        raise refuse("has a port that is not a number from 1 to 65535") from None
    hostname = parts.hostname or ""
    if not HOST_NAME.fullmatch(hostname):
        raise refuse("needs a host name of letters, digits, dots and hyphens (other letters in their xn-- form)")
    prefix = parts.path.rstrip("/")
    if prefix and not PATH_PREFIX.fullmatch(prefix):
        raise refuse("may have a path prefix only of letters, digits and - . _ ~ between single slashes")
    host = hostname if port in (None, DEFAULT_PORTS[parts.scheme]) else f"{hostname}:{port}"
    return PublicURL(parts.scheme, host, hostname, prefix)


def trusted_hosts(value: object, public: PublicURL | None) -> list[str]:
    """Flask's TRUSTED_HOSTS from DOCKWISE_TRUSTED_HOSTS (a comma list or a list; a leading dot takes subdomains too),
    by default the local addresses, plus the public URL's host; raise ConfigError for an entry that is no host name."""
    if value is None or value == "":
        names = list(LOCAL_HOSTS)
    else:
        if isinstance(value, str):
            entries = value.split(",")
        elif isinstance(value, list | tuple) and all(isinstance(entry, str) for entry in value):
            entries = list(value)
        else:
            raise ConfigError(f"DOCKWISE_TRUSTED_HOSTS must be a comma-separated list of host names, e.g. "
                              f"dockwise.example.com,.example.org (it is {value!r}).")
        names = [entry.strip().lower() for entry in entries if entry.strip()]
        if not names:
            raise ConfigError(f"DOCKWISE_TRUSTED_HOSTS lists no host (it is {value!r}); list the names clients "
                              "use, e.g. dockwise.example.com, or leave it unset for 127.0.0.1 and localhost.")
        for name in names:
            if not HOST_NAME.fullmatch(name.removeprefix(".")):
                raise ConfigError(f"DOCKWISE_TRUSTED_HOSTS has {name!r}, which is not a host name: list names or "
                                  "IPv4 addresses without a port or wildcard (.example.org also takes its "
                                  "subdomains; IPv6 addresses cannot be matched).")
    if public is not None and public.hostname not in names:
        names.append(public.hostname)
    return names


def proxy_hops(value: object) -> int:
    """DOCKWISE_PROXY_FIX as the number of proxies whose X-Forwarded-* headers are trusted (0: none)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PROXIES:
        raise ConfigError(f"DOCKWISE_PROXY_FIX must be a whole number from 0 to {MAX_PROXIES}: how many proxies in "
                          "front of Dockwise set X-Forwarded-For, -Proto, -Host and -Port (0 trusts none; 1 for one "
                          f"nginx) (it is {value!r}).")
    return value


def number_setting(config: Mapping, name: str, default: float, *, minimum: float) -> float:
    """A setting that must be a number (at least `minimum`); raise ConfigError naming it."""
    value = config.get(name, default)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not minimum <= value < float("inf"):
        raise ConfigError(f"DOCKWISE_{name} must be a number, at least {minimum:g} (it is {config.get(name)!r}); "
                          "see the README's Configuration table.")
    return float(value)


def flag_setting(config: Mapping, name: str) -> bool:
    """A yes/no setting: 1, true, yes or on; 0, false, no, off or empty. Raise ConfigError for anything else."""
    value = config.get(name)
    text = str(value).strip().lower() if value is not None else ""
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off", "none"):
        return False
    raise ConfigError(f"DOCKWISE_{name} must be 1 (on) or 0 (off) (it is {value!r}).")


def whole_number_setting(config: Mapping, name: str, *, minimum: int, meaning: str) -> int:
    """A setting that must be a whole number (at least `minimum`); raise ConfigError naming it and what it means."""
    value = config.get(name)
    number = value
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if isinstance(number, bool) or not isinstance(number, int) or number < minimum:
        raise ConfigError(f"DOCKWISE_{name} must be a whole number, at least {minimum}: {meaning} (it is {value!r}).")
    return number


def database_url_setting(value: object, instance_path: str) -> str:
    """DOCKWISE_DATABASE_URL, or the SQLite file rooms.sqlite3 in the instance folder when unset; raise ConfigError
    for a URL the rooms cannot use. The value is never repeated in the message: it may hold a password."""
    if value is None or value == "":
        return f"sqlite:///{os.path.join(instance_path, DEFAULT_DATABASE_FILE)}"
    expected = ("expected sqlite:////absolute/path/rooms.sqlite3 or postgresql://USER:PASSWORD@HOST/DATABASE, or leave "
                f"it unset for {DEFAULT_DATABASE_FILE} in the instance folder")
    if not isinstance(value, str):
        raise ConfigError(f"DOCKWISE_DATABASE_URL must be a database URL ({expected}).")
    try:
        parsed = make_url(value.strip())
    except Exception:  # sqlalchemy raises ArgumentError, and ValueError for a bad port
        raise ConfigError(f"DOCKWISE_DATABASE_URL cannot be read as a URL ({expected}).") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql", "postgres"):
        raise ConfigError(f"DOCKWISE_DATABASE_URL names the database {backend!r}, which Dockwise's rooms do not "
                          f"support ({expected}).")
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ConfigError("DOCKWISE_DATABASE_URL names an SQLite database in memory, which each connection would see "
                          f"empty: name a file ({expected}).")
    return value.strip()
