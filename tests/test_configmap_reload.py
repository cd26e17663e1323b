"""The rules ConfigMap of deploy/kubernetes: hot reload survives the kubelet's `..data` swap, against a real gunicorn.

The kubelet writes a ConfigMap (or Secret) volume with its AtomicWriter: each version of the files goes into a new
hidden folder named after the time (`..2026_12_02_05_40_01.123456789`), `..data` is a symbolic link to that folder and
each file a link through it (`rules.yaml -> ..data/rules.yaml`). An update writes the new folder, points a new link
`..data_tmp` at it, renames that over `..data` (one atomic step) and then deletes the old folder. Here that happens
for real on disk, under gunicorn started with the pods' settings (deploy/kubernetes/base/settings.env and the example
overlay's, their paths moved into this test's folders), and the Deployment's own probes are sent as the kubelet sends
them.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from bench.loadlib import health_by_worker
from harness.server import Server
from recommender import load_rules_text

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "deploy" / "kubernetes" / "base"
OVERLAY = ROOT / "deploy" / "kubernetes" / "overlays" / "example"
CONFIGMAP_RULES = (BASE / "rules.yaml").read_text(encoding="utf-8")
INTERVAL = "0.2"  # DOCKWISE_RULES_CHECK_INTERVAL here (1 s by default), so that the test waits less
PATIENCE = 30.0   # seconds for every worker to reach a state (a check of a new version takes about 1 s)


@pytest.fixture(autouse=True)
def _no_dockwise_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith("DOCKWISE_"):
            monkeypatch.delenv(name)


# --- versions of the rules ------------------------------------------------------------------------------------------

def edited(text: str, label: str) -> str:
    """A valid version: the first rule's `because` text with `label` appended (its golden scenarios still pass)."""
    match = re.search(r"^    because: (\S.*)$", text, re.M)
    assert match, "the rules have no `because:` line to edit"
    return text.replace(match[0], f"{match[0]} ({label})", 1)


def broken(text: str) -> str:
    """A version that does not load: the first rule names a row that does not exist."""
    text, count = re.subn(r"^    criterion: \S+$", "    criterion: no-such-row", text, count=1, flags=re.M)
    assert count == 1, "the rules have no `criterion:` line to break"
    return text


def fingerprint_of(text: str) -> str:
    return load_rules_text(text).fingerprint


# --- the kubelet's side ----------------------------------------------------------------------------------------------

class AtomicWriterVolume:
    """A ConfigMap or Secret volume as the kubelet's AtomicWriter lays it out and updates it."""

    def __init__(self, root: Path, files: Mapping[str, bytes], mode: int = 0o644):
        self.root = root
        self.mode = mode
        root.mkdir(mode=0o755)
        self.write(files)

    def write(self, files: Mapping[str, bytes]) -> None:
        """Write a new version: new folder, `..data_tmp` renamed over `..data`, links to new files, old folder gone."""
        data = self.root / "..data"
        old = os.readlink(data) if data.is_symlink() else None
        # Go's os.MkdirTemp(dir, "..2006_01_02_15_04_05."), then chmod 0755, as the kubelet does.
        folder = Path(tempfile.mkdtemp(prefix=datetime.now(UTC).strftime("..%Y_%m_%d_%H_%M_%S."), dir=self.root))
        folder.chmod(0o755)
        for name, content in files.items():
            (folder / name).write_bytes(content)
            (folder / name).chmod(self.mode)
        (self.root / "..data_tmp").symlink_to(folder.name)
        os.rename(self.root / "..data_tmp", data)
        for name in files:
            if not (self.root / name).is_symlink():
                (self.root / name).symlink_to(f"..data/{name}")
        if old is not None:
            shutil.rmtree(self.root / old)


def dockwise_container(document: dict) -> dict:
    return next(c for c in document["spec"]["template"]["spec"]["containers"] if c["name"] == "dockwise")


DEPLOYMENT = yaml.safe_load((BASE / "deployment.yaml").read_text(encoding="utf-8"))
CONTAINER = dockwise_container(DEPLOYMENT)
PROBES = {kind: CONTAINER[f"{kind}Probe"]["httpGet"] for kind in ("startup", "readiness", "liveness")}


def pod_settings() -> dict[str, str]:
    """The settings of a pod of the example overlay: base/settings.env, then the overlay's literals over them."""
    settings = {}
    for line in (BASE / "settings.env").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            settings[name] = value
    overlay = yaml.safe_load((OVERLAY / "kustomization.yaml").read_text(encoding="utf-8"))
    for generator in overlay.get("configMapGenerator", []):
        if generator["name"] == "dockwise-settings":
            settings.update(literal.split("=", 1) for literal in generator.get("literals", []))
    return settings


def moved_into(settings: Mapping[str, str], folders: Mapping[str, Path]) -> dict[str, str]:
    """`settings` with every path under one of the container's mounts moved into the folder standing for its volume."""
    mounts = {mount["mountPath"]: folders[mount["name"]] for mount in CONTAINER["volumeMounts"]}
    moved = dict(settings)
    for name, value in settings.items():
        for mount_path, folder in mounts.items():
            if value.startswith(mount_path + "/"):
                moved[name] = str(folder / value[len(mount_path) + 1:])
    return moved


class KeyFileServer(Server):
    """harness.server's gunicorn, with the key from DOCKWISE_SECRET_KEY_FILE only (Server always sets
    DOCKWISE_SECRET_KEY, and Dockwise refuses both at once): `env -u` drops it and execs gunicorn in place."""

    def command(self) -> list[str]:
        return ["env", "-u", "DOCKWISE_SECRET_KEY", *super().command()]


class Pod:
    """gunicorn as a pod of the example overlay runs it: its settings, a kubelet-written rules ConfigMap and Secret,
    and an emptyDir (mode 0777) for the state."""

    def __init__(self, tmp_path: Path):
        self.rules = AtomicWriterVolume(tmp_path / "rules", {"rules.yaml": CONFIGMAP_RULES.encode()})
        # The rooms' database is not used here: a SQLite file stands for the PostgreSQL a pod's Secret names.
        database_url = f"sqlite:///{tmp_path / 'rooms.sqlite3'}".encode()
        secret = AtomicWriterVolume(tmp_path / "secret", {"secret-key": secrets.token_hex(32).encode(),
                                                          "database-url": database_url},
                                    mode=0o440)
        state = tmp_path / "state"
        state.mkdir()
        state.chmod(0o777)  # as the kubelet makes an emptyDir
        tmp = tmp_path / "tmp"
        tmp.mkdir()
        self.settings = moved_into(pod_settings(), {"rules": self.rules.root, "secret": secret.root, "state": state,
                                                    "tmp": tmp})
        self.server = KeyFileServer(tmp_path, env={**self.settings, "DOCKWISE_RULES_CHECK_INTERVAL": INTERVAL})

    def update_rules(self, text: str) -> None:
        self.rules.write({"rules.yaml": text.encode()})

    def probe(self, kind: str) -> int:
        """The status the Deployment's probe of this kind gets, sent as the kubelet sends it (its path and headers,
        no X-Forwarded-* header, no redirect followed)."""
        probe = PROBES[kind]
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=5)
        try:
            connection.request("GET", probe["path"], headers={h["name"]: h["value"] for h in probe["httpHeaders"]})
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    def get(self, path: str) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=5)
        try:
            connection.request("GET", path, headers={"Host": "localhost"})
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()

    def every_worker(self, condition: Callable[[dict], bool], what: str) -> dict[int, dict]:
        """Wait until /healthz, as each worker answers it, satisfies `condition`."""
        deadline = time.monotonic() + PATIENCE
        while True:
            answers, _ = health_by_worker(self.server)
            if (answers and set(answers) == set(self.server.worker_pids())
                    and all(condition(answer) for answer in answers.values())):
                return answers
            assert self.server.process.poll() is None, f"gunicorn exited:\n{self.server.log_text()[-3000:]}"
            assert time.monotonic() < deadline, f"not every worker {what} within {PATIENCE:g} s: {answers}"
            time.sleep(0.1)

    def serving(self, text: str, status: str) -> dict[int, dict]:
        fingerprint = fingerprint_of(text)
        code = 200 if status == "ok" else 503
        return self.every_worker(lambda h: (h["_status"], h["status"], h["rules_fingerprint"]) ==
                                 (code, status, fingerprint), f"serves {fingerprint} ({status})")


@pytest.fixture
def pod(tmp_path):
    pod = Pod(tmp_path)
    with pod.server:
        yield pod


def test_the_state_directory_inside_the_emptydir_is_private_and_shared_by_the_workers(pod):
    """DOCKWISE_STATE_DIR names a folder inside the world-writable emptyDir: Dockwise makes it, private, and uses it
    (it refuses an emptyDir's own folder, mode 0777, and then each worker keeps its own rules state)."""
    state = Path(pod.settings["DOCKWISE_STATE_DIR"])
    assert state.parent.stat().st_mode & 0o777 == 0o777
    assert state.stat().st_mode & 0o777 == 0o700
    assert [entry.name for entry in state.iterdir()], "no server keeps its rules state there"
    assert "state directory" not in pod.server.log_text(), pod.server.log_text()


def test_a_configmap_update_is_served_and_a_broken_one_keeps_the_last_good_rules(pod):
    pod.serving(CONFIGMAP_RULES, "ok")
    assert {kind: pod.probe(kind) for kind in PROBES} == {"startup": 200, "readiness": 200, "liveness": 200}

    good = edited(CONFIGMAP_RULES, "edited in the ConfigMap")
    pod.update_rules(good)  # the folder Dockwise read the first version from is gone now
    pod.serving(good, "ok")
    status, page = pod.get("/rules")
    assert status == 200
    assert "(edited in the ConfigMap)" in page

    pod.update_rules(broken(good))
    pod.serving(good, "degraded")  # 503, and the last good version's fingerprint
    # The pod stays in the Service and alive: readiness and liveness answer 200; only /healthz (the startup probe,
    # and what alerts should watch) says 503.
    assert {kind: pod.probe(kind) for kind in PROBES} == {"startup": 503, "readiness": 200, "liveness": 200}
    status, page = pod.get("/rules")
    assert status == 200
    assert "(edited in the ConfigMap)" in page

    fixed = edited(CONFIGMAP_RULES, "fixed in the ConfigMap")
    pod.update_rules(fixed)
    pod.serving(fixed, "ok")
    assert {kind: pod.probe(kind) for kind in PROBES} == {"startup": 200, "readiness": 200, "liveness": 200}
    assert "Traceback" not in pod.server.log_text()
