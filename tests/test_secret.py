"""The secret key across instances and disks: DOCKWISE_SECRET_KEY or DOCKWISE_SECRET_KEY_FILE give every instance the
same key (so a form served by one is accepted by another); a key Dockwise cannot use, or none where one is required,
stops it starting with a message naming the setting — under gunicorn too, which then exits with code 3.

The single-machine default (a key generated once into instance/secret_key) is covered in tests/test_web.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from routes import PROTECTED, add_test_routes
from shipped import ROOT, RULES_PATH

from app import ConfigError, create_app

KEY = "k3y-" * 8  # 32 bytes
NON_ASCII_KEY = "clé secrète partagée entre les instances".encode()
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


pytestmark = pytest.mark.usefixtures("no_dockwise_environment")


def build(instance: Path, **config):
    return add_test_routes(create_app({"TESTING": True, "RULES_PATH": str(RULES_PATH), "INSTANCE_PATH": str(instance),
                                       "WTF_CSRF_ENABLED": True, **config}))


def refusal(instance: Path, **config) -> str:
    with pytest.raises(ConfigError) as refused:
        build(instance, **config)
    return str(refused.value)


def form_sent_to_the_other(first, second) -> int:
    """Status of posting the protected form, served (with its cookie) by `first`, to `second`."""
    browser = first.test_client()
    token = TOKEN.search(browser.get(PROTECTED).get_data(as_text=True))[1]
    other = second.test_client()
    other.set_cookie("session", browser.get_cookie("session").value)
    return other.post(PROTECTED, data={"csrf_token": token, "note": "ship it"}).status_code


def start_in_a_process(instance: Path, prelude: str = "", **environment: str) -> str:
    """What creating the app in a fresh Python process prints (its ConfigError, or "started"), given 30 s at most:
    a start-up that hangs fails the test instead of the suite."""
    script = (f"{prelude}\nfrom app import ConfigError, create_app\ntry:\n"
              f"    create_app({{'RULES_PATH': {str(RULES_PATH)!r}, 'INSTANCE_PATH': {str(instance)!r}}})\n"
              "    print('started')\nexcept ConfigError as error:\n    print(error)\n")
    try:
        done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env={**os.environ, **environment},
                              capture_output=True, text=True, timeout=30, check=True)
    except subprocess.TimeoutExpired:
        pytest.fail("creating the app did not finish within 30 s")
    return done.stdout.strip()


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder that cannot be created or written, even by root: its parent is a regular file (ENOTDIR)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n", encoding="ascii")
    return blocker / "instance"


# --- refused -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "length"), [("1", "1 byte"), ("x" * 31, "31 bytes"), ("", "0 bytes"),
                                               ("é" * 15, "30 bytes")])
def test_a_short_environment_key_is_refused_naming_the_setting(tmp_path, monkeypatch, value, length):
    monkeypatch.setenv("DOCKWISE_SECRET_KEY", value)
    message = refusal(tmp_path)
    assert message.startswith(f"DOCKWISE_SECRET_KEY is {length} long; use at least 32 random bytes")
    assert "secrets.token_hex(32)" in message
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize(("content", "length"), [(b"short\n", "5 bytes"), (b"\n", "0 bytes"),
                                                 (b"x" * 31 + b"\r\n", "31 bytes")])
def test_a_short_key_file_is_refused_naming_the_setting_and_the_file(tmp_path, monkeypatch, content, length):
    key_file = tmp_path / "key"
    key_file.write_bytes(content)
    monkeypatch.setenv("DOCKWISE_SECRET_KEY_FILE", str(key_file))
    assert refusal(tmp_path / "instance").startswith(f"DOCKWISE_SECRET_KEY_FILE ({key_file}) is {length} long")


@pytest.mark.parametrize(("make", "reason"), [
    (lambda tmp_path: tmp_path / "missing", "No such file or directory"),
    (lambda tmp_path: tmp_path, "it is a directory, not a regular file"),
    (lambda tmp_path: unwritable_folder(tmp_path), "Not a directory"),
    (lambda tmp_path: Path("/dev/null"), "it is a device, not a regular file"),
], ids=["missing", "a folder", "under a file", "a device"])
def test_an_unreadable_key_file_is_refused_naming_the_setting_and_the_reason(tmp_path, monkeypatch, make, reason):
    path = make(tmp_path)
    monkeypatch.setenv("DOCKWISE_SECRET_KEY_FILE", str(path))
    message = refusal(tmp_path / "instance")
    assert message.startswith(f"DOCKWISE_SECRET_KEY_FILE names {path}, which cannot be read: {reason}.")


def test_a_fifo_as_key_file_is_refused_at_once_instead_of_hanging_start_up(tmp_path):
    fifo = tmp_path / "key"
    os.mkfifo(fifo)  # nothing ever writes to it: opened for reading the usual way, it waits for a writer forever
    said = start_in_a_process(tmp_path / "instance", DOCKWISE_SECRET_KEY_FILE=str(fifo))
    assert said == (f"DOCKWISE_SECRET_KEY_FILE names {fifo}, which cannot be read: it is a FIFO (named pipe), not a "
                    "regular file. Point it at a readable file holding at least 32 random bytes.")


def test_a_generated_key_that_cannot_be_written_leaves_no_file_behind(tmp_path):
    """A full disk, here a file size limit of 0 bytes: the key's temporary file is removed, not left to pile up."""
    instance = tmp_path / "instance"
    limit = ("import resource, signal\nsignal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
             "resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))")
    said = start_in_a_process(instance, prelude=limit)
    assert said.startswith(f"No secret key is set and none can be kept in {instance / 'secret_key'}: File too large.")
    assert list(instance.iterdir()) == []


def test_both_key_settings_at_once_are_refused(tmp_path, monkeypatch):
    key_file = tmp_path / "key"
    key_file.write_text(KEY, encoding="ascii")
    monkeypatch.setenv("DOCKWISE_SECRET_KEY", KEY)
    monkeypatch.setenv("DOCKWISE_SECRET_KEY_FILE", str(key_file))
    assert refusal(tmp_path / "instance").startswith("Both DOCKWISE_SECRET_KEY and DOCKWISE_SECRET_KEY_FILE")


def test_a_public_url_without_a_key_is_refused_and_nothing_is_generated(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKWISE_PUBLIC_URL", "https://dockwise.example.com")
    message = refusal(tmp_path / "instance")
    assert "DOCKWISE_PUBLIC_URL is set" in message
    assert "DOCKWISE_SECRET_KEY or DOCKWISE_SECRET_KEY_FILE" in message
    assert not (tmp_path / "instance").exists()


def test_an_instance_folder_that_cannot_hold_a_key_needs_one_from_the_environment(tmp_path, monkeypatch):
    """A read-only or unwritable instance folder: refused with the reason and the settings to use, not a traceback;
    with the key from the environment, Dockwise serves and signs forms without writing anything."""
    instance = unwritable_folder(tmp_path)
    message = refusal(instance)
    assert message.startswith(f"No secret key is set and none can be kept in {instance / 'secret_key'}: Not a "
                              "directory.")
    assert "Set DOCKWISE_SECRET_KEY or DOCKWISE_SECRET_KEY_FILE" in message

    monkeypatch.setenv("DOCKWISE_SECRET_KEY", KEY)
    application = build(instance)
    assert application.secret_key == KEY
    assert form_sent_to_the_other(application, application) == 303


# --- accepted ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("content", [KEY.encode() + b"\n", NON_ASCII_KEY + b"\n", NON_ASCII_KEY, b"\x00\xff" * 16],
                         ids=["ascii with newline", "utf-8 with newline", "utf-8", "binary"])
def test_two_instances_with_the_same_key_file_accept_each_others_forms(tmp_path, monkeypatch, content):
    """Each instance has its own instance folder, as on two machines; a Docker or Kubernetes secret is a file."""
    key_file = tmp_path / "key"
    key_file.write_bytes(content)
    monkeypatch.setenv("DOCKWISE_SECRET_KEY_FILE", str(key_file))
    first, second = build(tmp_path / "one"), build(tmp_path / "two")
    assert first.secret_key in (content.rstrip(b"\n"), content.rstrip(b"\n").decode("ascii", "replace"))
    assert form_sent_to_the_other(first, second) == 303
    assert not (tmp_path / "one").exists()  # nothing generated: the key came from the file
    assert not (tmp_path / "two").exists()


def test_a_key_file_reached_through_symbolic_links_is_read(tmp_path, monkeypatch):
    """A Kubernetes secret: `key` → `..data/key`, `..data` → a timestamped folder holding the file."""
    version = tmp_path / "..2024_06_01_12_00_00.1"
    version.mkdir()
    (version / "key").write_text(KEY + "\n", encoding="ascii")
    (tmp_path / "..data").symlink_to(version.name)
    (tmp_path / "key").symlink_to("..data/key")
    monkeypatch.setenv("DOCKWISE_SECRET_KEY_FILE", str(tmp_path / "key"))
    assert build(tmp_path / "instance").secret_key == KEY


def test_instances_with_the_environment_key_and_the_same_key_in_a_file_agree(tmp_path, monkeypatch):
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n", encoding="ascii")
    monkeypatch.setenv("DOCKWISE_SECRET_KEY", KEY)
    from_environment = build(tmp_path / "one")
    monkeypatch.delenv("DOCKWISE_SECRET_KEY")
    monkeypatch.setenv("DOCKWISE_SECRET_KEY_FILE", str(key_file))
    from_file = build(tmp_path / "two")
    assert form_sent_to_the_other(from_environment, from_file) == 303


def test_a_non_ascii_key_in_the_instance_folder_is_used(tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "secret_key").write_bytes(NON_ASCII_KEY + b"\n")
    application = build(instance)
    assert application.secret_key == NON_ASCII_KEY
    assert form_sent_to_the_other(application, build(instance)) == 303
