"""scripts/container-check: Dockwise's image, compose.yaml with Compose and on Swarm, proven on a real Docker engine.

It installs Debian's docker.io, docker-compose (1.29) and debootstrap when missing, starts its own dockerd (overlay2, a
data root in a temporary folder, its own socket), debootstraps a minimal Debian bookworm (with Python 3.11; and a second
one with PostgreSQL 15 and nginx for stand-ins of the official images, deploy/docker/check/) and imports it as the base
image, downloads the pinned wheels on the host (constraints.txt) and builds the Dockerfile offline from them. Then:

1. one container, non-root, with a read-only root filesystem (a tmpfs on /tmp, a volume on /app/instance), serves
   /healthz, a results page and a room (SQLite in the volume), and its HEALTHCHECK turns healthy;
2. two containers sharing one PostgreSQL container and one secret key serve the same team room: a room created with
   the HTML form on A (its CSRF token and session cookie) is joined with the join form fetched from A and posted to B
   with A's cookie, and the API shows the same room through both; without the cookie, B refuses the form;
3. `docker-compose -f compose.yaml -f compose.override.yaml up -d` starts the whole file (PostgreSQL, the migration,
   two replicas, nginx) with every healthcheck healthy; a room is created with the HTML form through nginx, `docker
   exec … flask rooms purge` reads the database URL from its secret file, and `down -v` leaves nothing behind;
4. compose.yaml deployed on a one-node Swarm: PostgreSQL and nginx stay pending until the node has their labels, then
   two replicas behind nginx survive a rolling update (`docker service update --force`) with 0 failed requests from a
   client polling through nginx.

Test traffic goes only to 127.0.0.1, never to a container's address. Proofs 1 and 2 publish on 127.0.0.1 only;
compose.yaml publishes nginx on every address (as users need; Compose and Swarm's host mode take no address there), so
while the check runs, connections from other machines to published ports are dropped (a DOCKER-USER rule, and an
ip6tables rule per port for docker-proxy's IPv6 listener). Everything started is stopped by id or project name at the
end (containers, the Compose project, the stack, the swarm, dockerd), whatever happened; the iptables rules and IP
forwarding dockerd changes are put back as they were, and only network links named like Docker's that appeared during
the run are deleted. Where no engine can run (not Linux, not root, no overlay filesystem, another dockerd runs,
docker.io cannot be installed, dockerd does not start) it prints a `container-check: SKIP: ...` line and exits 0; any
failure once the engine runs exits 1.

The debootstrapped bases are kept as tarballs in DOCKWISE_CHECK_CACHE (default /var/cache/dockwise-check) for a week;
--fresh makes them anew. Stdlib only: it runs with any Python 3.11.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKER = "/usr/bin/docker"  # docker.io's own client, the same version as its dockerd (another may be on PATH)
COMPOSE = "/usr/bin/docker-compose"  # Debian's docker-compose 1.29 (docker.io ships no `docker compose` plugin)
CACHE = Path(os.environ.get("DOCKWISE_CHECK_CACHE", "/var/cache/dockwise-check"))
CACHE_DAYS = 7
SUITE = "bookworm"  # its python3 is 3.11, what the wheels are downloaded for
PYTHON_VERSION = "3.11"
PYTHON_PACKAGES = ("python3", "python3-venv")
SERVICE_PACKAGES = ("postgresql-15", "nginx-light")
WHEELS = "deploy/docker/wheels"  # inside the build context (.dockerignore lets it in)
TAG = "dockwise-check"
STACK = "dockwise-check"
PROJECT = "dockwise-check-compose"  # the Compose project's name
DOCKER_LINK = re.compile(r"^(docker|br-|veth)")  # the network links dockerd makes: docker0, docker_gwbridge, ...
BUILTIN_CHAINS = {"filter": ("INPUT", "FORWARD", "OUTPUT"),
                  "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
                  "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
                  "raw": ("PREROUTING", "OUTPUT")}
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
NODE_LABELS = ("dockwise.db=true", "dockwise.proxy=true")  # compose.yaml's placement constraints
DB_USER = "dockwise"
REQUEST_SECONDS = 5.0


class NoEngineError(Exception):
    """No engine can run here: the reason, for the SKIP line."""


class CheckFailedError(Exception):
    """Something the check proves did not hold (or a step it needs failed): the message says what."""


# --- output ----------------------------------------------------------------------------------------------------------

START = time.monotonic()
TIMINGS: list[tuple[str, float]] = []


def say(message: str) -> None:
    print(f"[{time.monotonic() - START:6.1f}s] {message}", flush=True)


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Time a stage; its figure goes into the closing summary."""
    began = time.monotonic()
    say(f"{name} ...")
    yield
    took = time.monotonic() - began
    TIMINGS.append((name, took))
    say(f"{name}: done in {took:.1f} s")


def run(args: list[str], *, timeout: float = 600, input_text: str | None = None, cwd: Path | None = None,
        env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command, its output captured; CheckFailedError with the output's tail when it fails and `check` is set."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, input=input_text, cwd=cwd,
                              env=env, check=False)
    except subprocess.TimeoutExpired as error:
        raise CheckFailedError(f"`{' '.join(args)}` took more than {timeout:.0f} s") from error
    if check and done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-30:])
        raise CheckFailedError(f"`{' '.join(args)}` exited with {done.returncode}:\n{tail}")
    return done


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- HTTP to 127.0.0.1 only ------------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: str

    def cookie(self, name: str) -> str | None:
        for header in self.headers.get_all("Set-Cookie") or ():
            if header.startswith(f"{name}="):
                return header.split(";", 1)[0]
        return None


def request(port: int, method: str, path: str, *, form: dict | None = None, json_body: dict | None = None,
            cookie: str | None = None, timeout: float = REQUEST_SECONDS) -> Reply:
    """One request to 127.0.0.1:`port` (the only address test traffic goes to); redirects are not followed."""
    headers = {"Host": f"127.0.0.1:{port}"}
    body = None
    if form is not None:
        body = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif json_body is not None:
        body = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    if cookie:
        headers["Cookie"] = cookie
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read().decode("utf-8", "replace"))
    finally:
        connection.close()


def wait_for(port: int, path: str, seconds: float, want: int = 200) -> Reply:
    """Poll until `path` answers `want`; CheckFailedError with the last answer after `seconds`."""
    deadline = time.monotonic() + seconds
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            reply = request(port, "GET", path, timeout=2)
            if reply.status == want:
                return reply
            last = f"{reply.status} {reply.body[:200]!r}"
        except OSError as error:
            last = str(error)
        time.sleep(0.5)
    raise CheckFailedError(f"127.0.0.1:{port}{path} did not answer {want} within {seconds:.0f} s (last: {last})")


def expect(reply: Reply, status: int, what: str) -> Reply:
    if reply.status != status:
        raise CheckFailedError(f"{what}: expected {status}, got {reply.status}: {reply.body[:300]!r}")
    return reply


def csrf_token(page: Reply) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.body)
    if not found:
        raise CheckFailedError(f"no CSRF token in the form page: {page.body[:300]!r}")
    return found.group(1)


# --- static checks ---------------------------------------------------------------------------------------------------


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def check_pins() -> None:
    """constraints.txt pins every runtime dependency of pyproject.toml at the same version; the Dockerfile's default
    VERSION is pyproject's."""
    pins = pinned()
    problems = []
    for requirement in pyproject()["project"]["dependencies"]:
        name, _, version = requirement.partition("==")
        name = normalized(name.split("[")[0])
        if pins.get(name) != version.strip():
            problems.append(f"{requirement} (constraints.txt: {pins.get(name, 'missing')})")
    if problems:
        raise CheckFailedError("constraints.txt disagrees with pyproject.toml's dependencies: " + "; ".join(problems)
                          + ". Pin the same versions in both (constraints.txt's header says how to remake it).")
    version = pyproject()["project"]["version"]
    default = re.search(r"^ARG VERSION=(\S*)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    if not default or default.group(1) != version:
        raise CheckFailedError(f"the Dockerfile's `ARG VERSION=` default is not pyproject.toml's version {version}")


# --- the engine ------------------------------------------------------------------------------------------------------


def preflight() -> None:
    if sys.platform != "linux":
        raise NoEngineError(f"Docker's engine needs Linux; this is {sys.platform}")
    if os.geteuid() != 0:
        raise NoEngineError("starting dockerd and debootstrap need root; run as root (CI here runs as root)")
    if "overlay" not in Path("/proc/filesystems").read_text():
        raise NoEngineError("the kernel has no overlay filesystem (dockerd's overlay2 storage needs it)")
    refuse_running_dockerd()


def refuse_running_dockerd() -> None:
    """NoEngineError when a dockerd runs already (another check's, or one installing docker.io started)."""
    running = [pid for pid in os.listdir("/proc") if pid.isdigit() and _command_name(pid) == "dockerd"]
    if running:
        raise NoEngineError(f"a dockerd already runs here (pid {', '.join(running)}); this check starts its own, "
                            "and two engines on one machine fight over docker0 and the iptables chains")


def _command_name(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def install_tools() -> None:
    """Debian's docker.io, docker-compose and debootstrap, when missing."""
    if all(Path(path).exists() for path in (DOCKER, COMPOSE)) and shutil.which("dockerd") and \
            shutil.which("debootstrap"):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    packages = ["docker.io", "docker-compose", "debootstrap"]
    done = run(["apt-get", "install", "-y", "-qq", *packages], env=env, check=False)
    if done.returncode != 0:
        run(["apt-get", "update", "-qq"], env=env, check=False)
        done = run(["apt-get", "install", "-y", "-qq", *packages], env=env, check=False)
    if done.returncode != 0:
        raise NoEngineError(f"apt-get could not install {' '.join(packages)}: {done.stderr.strip()[-300:]}")
    refuse_running_dockerd()  # on a systemd host, installing docker.io starts docker.service


def save_firewall() -> dict[str, str]:
    """The iptables and ip6tables rules as they are (iptables-save), to be put back once dockerd has stopped."""
    saved = {}
    for tool in ("iptables", "ip6tables"):
        if shutil.which(f"{tool}-save"):
            done = run([f"{tool}-save"], check=False, timeout=30)
            if done.returncode == 0:
                saved[tool] = done.stdout
    return saved


def _tables(rules: str) -> set[str]:
    return {line[1:].strip() for line in rules.splitlines() if line.startswith("*")}


def _without_counters(rules: str) -> list[str]:
    return [re.sub(r" \[\d+:\d+\]$", "", line) for line in rules.splitlines() if line and not line.startswith("#")]


def restore_firewall(saved: dict[str, str]) -> str:
    """Put back the rules `save_firewall` read; a table dockerd added is emptied (its chains accepting). Says how
    it went, comparing the rules afterwards with the saved ones."""
    outcome = []
    for tool, rules in saved.items():
        now = run([f"{tool}-save"], check=False, timeout=30).stdout
        added = [table for table in sorted(_tables(now) - _tables(rules)) if table in BUILTIN_CHAINS]
        empty = "".join(f"*{table}\n" + "".join(f":{chain} ACCEPT [0:0]\n" for chain in BUILTIN_CHAINS[table])
                        + "COMMIT\n" for table in added)
        done = run([f"{tool}-restore"], input_text=rules + empty, check=False, timeout=30)
        after = run([f"{tool}-save"], check=False, timeout=30).stdout
        same = sorted(_without_counters(after)) == sorted(_without_counters(rules + empty))
        outcome.append(f"{tool} " + ("restored" if done.returncode == 0 and same else
                                     f"NOT restored ({done.stderr.strip()[-200:] or 'the rules differ'})"))
    return ", ".join(outcome) or "no iptables here"


@dataclass
class Engine:
    """A dockerd of this check's own, and everything started on it (stopped by id in `stop`)."""

    root: Path
    log: Path = field(init=False)
    process: subprocess.Popen | None = None
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    stack: str | None = None
    compose_settings: dict[str, str] | None = None  # the Compose project's variables, while it is up
    swarm: bool = False
    links_before: set[str] = field(default_factory=set)
    firewall: dict[str, str] = field(default_factory=dict)
    ip_forward: str | None = None

    def __post_init__(self):
        self.log = self.root / "dockerd.log"
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{self.root}/docker.sock"}

    def docker(self, *args: str, timeout: float = 600, input_text: str | None = None, cwd: Path | None = None,
               env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
        return run([DOCKER, *args], timeout=timeout, input_text=input_text, cwd=cwd,
                   env={**self.env, **(env or {})}, check=check)

    def compose(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        """docker-compose ARGS on PROJECT, with compose.yaml and compose.override.yaml, as the README runs it."""
        # It builds with the `docker` on PATH: docker.io's own, with the classic builder (docker.io ships no buildx).
        tools = {"PATH": f"{Path(DOCKER).parent}:{os.environ.get('PATH', '')}", "DOCKER_BUILDKIT": "0"}
        return run([COMPOSE, "--project-name", PROJECT, "--file", "compose.yaml", "--file", "compose.override.yaml",
                    *args], timeout=timeout, cwd=ROOT, env={**self.env, **tools, **(self.compose_settings or {})},
                   check=check)

    def start(self) -> str:
        self.links_before = set(os.listdir("/sys/class/net"))
        self.firewall = save_firewall()
        self.ip_forward = IP_FORWARD.read_text().strip() if IP_FORWARD.exists() else None
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                ["dockerd", "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"),
                 "--pidfile", str(self.root / "dockerd.pid"), "--host", f"unix://{self.root}/docker.sock",
                 "--storage-driver", "overlay2"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            version = self.docker("version", "--format", "{{.Server.Version}}", check=False, timeout=10)
            if version.returncode == 0:
                # A published port listens on every address (compose.yaml's do, as users need): a connection from
                # another machine is forwarded after Docker's DNAT, and dropped here. Put back with the rest in `stop`.
                run(["iptables", "--insert", "DOCKER-USER", "--match", "conntrack", "--ctstate", "DNAT",
                     "--jump", "DROP"], timeout=30)
                return version.stdout.strip()
            time.sleep(0.5)
        tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-15:])
        self.stop()
        raise NoEngineError(f"dockerd did not start within 60 s; its log ends:\n{tail}")

    def published_locally(self, port: int) -> int:
        """`port`, its IPv6 listener (docker-proxy's, which no DNAT rule covers) closed to other machines."""
        if shutil.which("ip6tables"):
            run(["ip6tables", "--insert", "INPUT", "!", "--in-interface", "lo", "--protocol", "tcp",
                 "--dport", str(port), "--jump", "DROP"], timeout=30)
        return port

    def run_container(self, *args: str) -> str:
        """`docker run -d ARGS`; the container's id, remembered for `stop`."""
        container = self.docker("run", "-d", "--label", TAG, *args).stdout.strip()
        self.containers.append(container)
        return container

    def network(self, name: str) -> str:
        network = self.docker("network", "create", "--label", TAG, name).stdout.strip()
        self.networks.append(network)
        return name

    def stop(self) -> None:
        """Stop everything this engine started, by id, then dockerd itself; remove its data root."""
        if self.process is None:
            return
        if self.process.poll() is None:
            if self.compose_settings is not None:
                began = time.monotonic()
                self.compose("down", "--volumes", "--timeout", "10", check=False, timeout=120)
                say(f"stop: docker-compose --project-name {PROJECT} down --volumes ({time.monotonic() - began:.1f} s)")
            steps = []
            if self.containers:
                steps.append(["rm", "--force", "--volumes", *self.containers])
            if self.stack:
                steps.append(["stack", "rm", self.stack])
            for args in steps:
                began = time.monotonic()
                self.docker(*args, check=False, timeout=60)
                say(f"stop: docker {' '.join(args[:2])} … ({time.monotonic() - began:.1f} s)")
            if self.stack:
                self._wait_stack_gone()
            if self.swarm:
                self.docker("swarm", "leave", "--force", check=False, timeout=60)
            for network in self.networks:
                self.docker("network", "rm", network, check=False, timeout=30)
            if self.volumes:
                self.docker("volume", "rm", *self.volumes, check=False, timeout=30)
            began = time.monotonic()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            say(f"stop: dockerd (pid {self.process.pid}) stopped in {time.monotonic() - began:.1f} s")
        self.process = None
        made = sorted(link for link in set(os.listdir("/sys/class/net")) - self.links_before if DOCKER_LINK.match(link))
        for link in made:
            run(["ip", "link", "delete", link], check=False, timeout=10)
        left = sorted(set(os.listdir("/sys/class/net")) - self.links_before)
        say(f"stop: network links removed: {', '.join(made) or 'none'}"
            + (f"; new and still there: {', '.join(left)}" if left else ""))
        say(f"stop: firewall: {restore_firewall(self.firewall)}")
        if self.ip_forward is not None and IP_FORWARD.read_text().strip() != self.ip_forward:
            IP_FORWARD.write_text(self.ip_forward)
            say(f"stop: net.ipv4.ip_forward put back to {self.ip_forward}")
        for mount in reversed(Path("/proc/mounts").read_text().splitlines()):
            point = mount.split()[1]
            if point.startswith(str(self.root)):
                run(["umount", "--lazy", point], check=False, timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)

    def _wait_stack_gone(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            left = self.docker("ps", "-aq", "--filter", f"label=com.docker.stack.namespace={self.stack}",
                               check=False, timeout=20).stdout.split()
            if not left:
                return
            time.sleep(1)


# --- base images -----------------------------------------------------------------------------------------------------


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses for SUITE (so the check names no host of its own)."""
    if os.environ.get("DOCKWISE_CHECK_MIRROR"):
        return os.environ["DOCKWISE_CHECK_MIRROR"]
    sources = Path("/etc/apt")
    texts = [path.read_text() for path in [sources / "sources.list", *sorted((sources / "sources.list.d").glob("*"))]
             if path.is_file()]
    for text in texts:
        for stanza in text.split("\n\n"):  # deb822: URIs and Suites in one stanza
            uris = re.search(r"^URIs:\s*(.+)$", stanza, re.MULTILINE)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.MULTILINE)
            if uris and suites and SUITE in suites.group(1).split():
                for uri in uris.group(1).split():
                    if uri.rstrip("/").endswith("/debian"):
                        return uri
        for line in text.splitlines():  # one-line form: deb URI SUITE COMPONENTS
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and parts[2] == SUITE and parts[1].rstrip("/").endswith("/debian"):
                return parts[1]
    raise CheckFailedError(f"no Debian {SUITE} mirror in /etc/apt's sources: set DOCKWISE_CHECK_MIRROR to one")


def slim(rootfs: Path) -> None:
    """Drop apt's caches and lists, documentation and translations from a root filesystem before it is imported."""
    for pattern in ("var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*", "usr/share/doc/*",
                    "usr/share/man/*", "usr/share/locale/*", "usr/sbin/policy-rc.d"):
        for path in rootfs.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()


def base_tarballs(work: Path, fresh: bool) -> tuple[Path, Path]:
    """Tarballs of Debian SUITE minbase + Python, and of the same + PostgreSQL and nginx: from the cache when recent."""
    python_tar, services_tar = CACHE / f"{SUITE}-python.tar", CACHE / f"{SUITE}-services.tar"
    recent = time.time() - CACHE_DAYS * 86400
    if not fresh and all(path.exists() and path.stat().st_mtime > recent for path in (python_tar, services_tar)):
        say(f"base: reusing {python_tar} and {services_tar} (under {CACHE_DAYS} days old; --fresh makes them anew)")
        return python_tar, services_tar
    mirror = debian_mirror()
    rootfs = work / "rootfs"
    say(f"base: debootstrap --variant=minbase {SUITE} + {', '.join(PYTHON_PACKAGES)} from {mirror}")
    run(["debootstrap", "--variant=minbase", f"--include={','.join(PYTHON_PACKAGES)}", SUITE, str(rootfs), mirror],
        timeout=900)
    services = work / "services"
    run(["cp", "-a", str(rootfs), str(services)])
    shutil.copy("/etc/resolv.conf", services / "etc/resolv.conf")
    policy = services / "usr/sbin/policy-rc.d"  # no service starts inside the chroot
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    say(f"base: installing {', '.join(SERVICE_PACKAGES)} into a copy, for the stand-in images")
    run(["chroot", str(services), "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq",
         "--no-install-recommends", *SERVICE_PACKAGES], timeout=900)
    CACHE.mkdir(parents=True, exist_ok=True)
    for tree, tarball in ((rootfs, python_tar), (services, services_tar)):
        slim(tree)
        run(["tar", "--numeric-owner", "-C", str(tree), "-cf", f"{tarball}.part", "."], timeout=300)
        os.replace(f"{tarball}.part", tarball)
        shutil.rmtree(tree)
    return python_tar, services_tar


def pinned() -> dict[str, str]:
    """constraints.txt's pins: normalized name -> version."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[normalized(name)] = version.strip()
    return pins


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def download_wheels() -> str:
    """A wheel for every line of constraints.txt, for the base image's Python, into the build context."""
    folder = ROOT / WHEELS
    have = {(normalized(path.name.split("-")[0]), path.name.split("-")[1]) for path in folder.glob("*.whl")}
    wanted = set(pinned().items())
    if wanted <= have:
        return f"all {len(wanted)} wheels already in {WHEELS}"
    run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--only-binary=:all:", "--python-version", PYTHON_VERSION, "--requirement", str(ROOT / "constraints.txt"),
         "--dest", str(folder)], timeout=600)
    return f"{len(wanted - have)} of {len(wanted)} wheels downloaded into {WHEELS}"


# --- the three proofs ------------------------------------------------------------------------------------------------


def write_secrets(folder: Path, password: str) -> dict[str, Path]:
    """The secret files compose.yaml names, as the README makes them: readable by Dockwise's user (uid 10001), since
    Compose mounts them as they are, in a folder only root may enter (what a container sees is the file alone)."""
    folder.mkdir(mode=0o700)
    files = {"secret_key": secrets.token_hex(32), "postgres_password": password,
             "database_url": f"postgresql://{DB_USER}:{password}@postgres:5432/{DB_USER}"}
    paths = {}
    for name, value in files.items():
        paths[name] = folder / name
        paths[name].write_text(value + "\n")
        paths[name].chmod(0o444)
    return paths


def prove_single_container(engine: Engine, image: str, version: str) -> str:
    """Proof 1, started: non-root, read-only, serving; returns the container (its health is read at the end)."""
    port = free_port()
    volume = f"{TAG}-instance"
    engine.volumes.append(volume)
    container = engine.run_container("--read-only", "--tmpfs", "/tmp", "-v", f"{volume}:/app/instance",
                                     "-p", f"127.0.0.1:{port}:8000", image)
    wait_for(port, "/healthz", 60)
    config = json.loads(engine.docker("inspect", container).stdout)[0]
    user = engine.docker("exec", container, "id", "-u").stdout.strip()
    if user == "0" or config["Config"]["User"] != "10001:10001":
        raise CheckFailedError(f"the container runs as uid {user} (image user {config['Config']['User']!r}), not 10001")
    if not config["HostConfig"]["ReadonlyRootfs"]:
        raise CheckFailedError("the container's root filesystem is not read-only")
    write = engine.docker("exec", container, "touch", "/app/written", check=False)
    if write.returncode == 0 or "Read-only file system" not in write.stderr:
        raise CheckFailedError(f"writing into /app did not fail as on a read-only filesystem: {write.stderr.strip()!r}")
    labels = config["Config"]["Labels"]
    if labels.get("org.opencontainers.image.version") != version or \
            f"DOCKWISE_VERSION={version}" not in config["Config"]["Env"]:
        raise CheckFailedError(f"the image's version label or DOCKWISE_VERSION is not {version}: {labels}")
    results = expect(request(port, "GET", "/results?services=few&hosts=many"), 200, "a results page")
    if "Kubernetes" not in results.body or f"http://127.0.0.1:{port}/results?" not in results.body:
        raise CheckFailedError("the results page shows no recommendation or no share link on this address")
    room = expect(request(port, "POST", "/api/rooms", json_body={"title": "Read-only root"}), 201,
                  "a room in SQLite on the instance volume")
    say(f"1. uid {user}, read-only root (a write to /app: {write.stderr.strip().split(': ')[-1]}), labels "
        f"version={version}; /healthz 200, /results 200 ({len(results.body)} bytes), room "
        f"{json.loads(room.body)['room']['id'][:8]}… created on SQLite in the volume")
    return container


def wait_healthy(engine: Engine, container: str, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    status = "?"
    while time.monotonic() < deadline:
        status = engine.docker("inspect", "--format", "{{.State.Health.Status}}", container).stdout.strip()
        if status == "healthy":
            return status
        time.sleep(1)
    log = engine.docker("inspect", "--format", "{{json .State.Health.Log}}", container).stdout.strip()
    raise CheckFailedError(f"the image's HEALTHCHECK did not turn healthy within {seconds:.0f} s ({status}): "
                           f"{log[:400]}")


def prove_shared_postgres(engine: Engine, work: Path, image: str, postgres_image: str) -> None:
    """Proof 2: two Dockwise containers, one PostgreSQL container and one key serve one room, forms cross over."""
    password = secrets.token_urlsafe(18)
    paths = write_secrets(work / "secrets-run", password)
    network = engine.network(f"{TAG}-net")
    postgres = engine.run_container("--network", network, "--network-alias", "postgres",
                                    "-e", f"POSTGRES_USER={DB_USER}", "-e", f"POSTGRES_DB={DB_USER}",
                                    "-e", "POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password",
                                    "-v", f"{paths['postgres_password']}:/run/secrets/postgres_password:ro",
                                    postgres_image)
    deadline = time.monotonic() + 60
    while engine.docker("exec", postgres, "pg_isready", "--host=127.0.0.1", f"--username={DB_USER}",
                        check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise CheckFailedError("PostgreSQL did not accept TCP connections within 60 s: "
                              + engine.docker("logs", postgres, check=False).stderr[-500:])
        time.sleep(0.5)
    shared = ["--read-only", "--tmpfs", "/tmp", "--network", network,
              "-e", "DOCKWISE_SECRET_KEY_FILE=/run/secrets/dockwise_secret_key",
              "-v", f"{paths['secret_key']}:/run/secrets/dockwise_secret_key:ro"]
    by_file = ["-e", "DOCKWISE_DATABASE_URL_FILE=/run/secrets/dockwise_database_url",
               "-v", f"{paths['database_url']}:/run/secrets/dockwise_database_url:ro"]
    migrated = engine.docker("run", "--rm", *shared, *by_file, image, "flask", "db", "upgrade")
    if "latest migration" not in migrated.stdout:
        raise CheckFailedError(f"`flask db upgrade` said: {migrated.stdout.strip()} {migrated.stderr.strip()}")
    port_a, port_b = free_port(), free_port()
    engine.run_container(*shared, *by_file, "-p", f"127.0.0.1:{port_a}:8000", image)
    engine.run_container(*shared, "-e", f"DOCKWISE_DATABASE_URL={paths['database_url'].read_text().strip()}",
                         "-p", f"127.0.0.1:{port_b}:8000", image)
    wait_for(port_a, "/healthz", 60)
    wait_for(port_b, "/healthz", 60)

    new = expect(request(port_a, "GET", "/rooms/new"), 200, "A's new-room form")
    cookie = new.cookie("session")
    created = expect(request(port_a, "POST", "/rooms/new", cookie=cookie, form={
        "csrf_token": csrf_token(new), "answers": "", "title": "Two containers", "closes_at": ""}), 303,
        "the new-room form posted to A")
    owner_path = urllib.parse.urlsplit(created.headers["Location"]).path
    room_id = owner_path.split("/")[2]
    join = expect(request(port_a, "GET", f"/rooms/{room_id}/join", cookie=cookie), 200, "the join form on A")
    cookie = join.cookie("session") or cookie
    answers = {"csrf_token": csrf_token(join), "name": "Bea", "hosts": "many", "services": "few"}
    refused = request(port_b, "POST", f"/rooms/{room_id}/join", form=answers)
    if refused.status != 400:
        raise CheckFailedError(f"B accepted a join form without the session cookie ({refused.status}): CSRF is "
                               "not checked")
    joined = expect(request(port_b, "POST", f"/rooms/{room_id}/join", cookie=cookie, form=answers), 303,
                    "A's join form, with A's cookie, posted to B")
    member_path = urllib.parse.urlsplit(joined.headers["Location"]).path
    expect(request(port_a, "GET", member_path), 200, "the member's private page (made on B) read on A")
    states = [json.loads(expect(request(port, "GET", f"/api/rooms/{room_id}"), 200, f"the room's API on {name}").body)
              for name, port in (("A", port_a), ("B", port_b))]
    members = [[(member["name"], member["answered"]) for member in state["members"]] for state in states]
    if members[0] != members[1] or members[0] != [("Bea", True)]:
        raise CheckFailedError(f"A and B show different rooms: {members}")
    say(f"2. room {room_id[:8]}… made with A's form, joined on B with A's form and cookie (without the cookie B "
        f"answered {refused.status}); both APIs show members {members[0]}")


def listening_addresses(port: int) -> set[str]:
    """The local addresses a TCP socket listens on at `port` (ss)."""
    listed = run(["ss", "--no-header", "--listening", "--tcp", "--numeric", f"sport = :{port}"]).stdout
    return {line.split()[3].rsplit(":", 1)[0] for line in listed.splitlines() if line.strip()}


def published_on(port: int) -> str:
    """Where compose.yaml's published port listens (every address: Compose and Swarm's host mode give no other)."""
    return "/".join(sorted(listening_addresses(port))) or "nothing"


def stack_settings(work: Path, name: str, images: dict[str, str], port: int) -> dict[str, str]:
    """compose.yaml's variables for the check's images, secrets in work/name, nginx on `port`."""
    write_secrets(work / name, secrets.token_urlsafe(18))
    return {"DOCKWISE_IMAGE": images["dockwise"], "DOCKWISE_POSTGRES_IMAGE": images["postgres"],
            "DOCKWISE_PROXY_IMAGE": images["nginx"], "DOCKWISE_HTTP_PORT": str(port),
            "DOCKWISE_PUBLIC_URL": f"http://127.0.0.1:{port}", "DOCKWISE_SECRETS_DIR": str(work / name)}


def room_by_form(port: int, title: str) -> str:
    """A room created with the new-room form (its CSRF token and cookie) on 127.0.0.1:`port`; its owner page read
    back. Returns the room's id."""
    new = expect(request(port, "GET", "/rooms/new"), 200, "the new-room form")
    cookie = new.cookie("session")
    created = expect(request(port, "POST", "/rooms/new", cookie=cookie, form={
        "csrf_token": csrf_token(new), "answers": "", "title": title, "closes_at": ""}), 303,
        "the new-room form posted")
    owner_path = urllib.parse.urlsplit(created.headers["Location"]).path
    owner = expect(request(port, "GET", owner_path, cookie=cookie), 200, "the room's owner page")
    if title not in owner.body:
        raise CheckFailedError(f"the owner page does not show the room's title {title!r}")
    return owner_path.split("/")[2]


def compose_containers(engine: Engine, service: str) -> list[str]:
    return engine.compose("ps", "--quiet", service, timeout=60).stdout.split()


def prove_compose(engine: Engine, work: Path, images: dict[str, str]) -> str:
    """Proof 3: compose.yaml + compose.override.yaml with docker-compose 1.29, as the README runs them."""
    port = engine.published_locally(free_port())
    engine.compose_settings = stack_settings(work, "secrets-compose", images, port)
    image_id = engine.docker("image", "inspect", "--format", "{{.Id}}", images["dockwise"]).stdout.strip()
    began = time.monotonic()
    # compose.override.yaml's `build: .`, with the arguments of the offline build: the same image, from the cache.
    engine.compose("build", "--build-arg", f"BASE_IMAGE={images['python-base']}", "--build-arg", f"WHEELS={WHEELS}",
                   *(argument for name, value in build_arguments().items()
                     for argument in ("--build-arg", f"{name}={value}")), "dockwise", timeout=600)
    rebuilt = engine.docker("image", "inspect", "--format", "{{.Id}}", images["dockwise"]).stdout.strip()
    build = (f"`docker-compose build dockwise` in {time.monotonic() - began:.1f} s gave "
             + ("the same image (the build's cache)" if rebuilt == image_id else f"a new image {rebuilt[:19]}"))
    began = time.monotonic()
    engine.compose("up", "--detach", timeout=300)  # waits for postgres healthy, migrate done, dockwise healthy
    took_up = time.monotonic() - began
    services = {service: compose_containers(engine, service)
                for service in ("postgres", "migrate", "dockwise", "proxy")}
    counts = {service: len(ids) for service, ids in services.items()}
    if counts != {"postgres": 1, "migrate": 1, "dockwise": 2, "proxy": 1}:
        raise CheckFailedError(f"docker-compose started {counts} containers, not compose.yaml's replicas")
    migrated = engine.docker("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", services["migrate"][0])
    if migrated.stdout.split() != ["exited", "0"]:
        raise CheckFailedError(f"the migration container is {migrated.stdout.strip()}, not exited with 0: "
                               + engine.docker("logs", services["migrate"][0], check=False).stderr[-500:])
    healthy = [wait_healthy(engine, container, 60)
               for service in ("postgres", "dockwise", "proxy") for container in services[service]]
    listening = published_on(port)
    room_id = room_by_form(port, "Through Compose")
    hidden = request(port, "GET", "/nginx-health")
    if hidden.status != 404:
        raise CheckFailedError(f"nginx's /nginx-health answered {hidden.status} from outside its container, not 404")
    dockwise = services["dockwise"][0]
    environment = engine.docker("exec", dockwise, "env").stdout
    if "DOCKWISE_DATABASE_URL=" in environment or "DOCKWISE_DATABASE_URL_FILE=" not in environment:
        raise CheckFailedError("the replica's environment should name the database URL's file and not hold the URL")
    purged = engine.docker("exec", dockwise, "flask", "rooms", "purge", check=False)
    if purged.returncode != 0 or not purged.stdout.startswith("purged "):
        raise CheckFailedError(f"`docker exec … flask rooms purge` exited with {purged.returncode}: "
                               f"{(purged.stdout + purged.stderr).strip()[-400:]}")
    began = time.monotonic()
    engine.compose("down", "--volumes", "--timeout", "10", timeout=120)
    took_down = time.monotonic() - began
    project = f"label=com.docker.compose.project={PROJECT}"
    left = {kind: engine.docker(kind, "ls", "--quiet", "--filter", project).stdout.split()
            for kind in ("volume", "network")}
    left["container"] = engine.docker("ps", "--all", "--quiet", "--filter", project).stdout.split()
    if any(left.values()):
        raise CheckFailedError(f"`docker-compose down --volumes` left {left}")
    engine.compose_settings = None
    version = run([COMPOSE, "version", "--short"], check=False).stdout.strip()
    say(f"3. {build}; docker-compose {version} up in {took_up:.1f} s: {counts}; the migration exited 0; {len(healthy)} "
        f"healthy (postgres, 2 dockwise, nginx by its /nginx-health, which answers 404 from outside); nginx published "
        f"on {listening}:{port}, reached on 127.0.0.1; room {room_id[:8]}… made with the form through nginx; "
        f"`docker exec … flask rooms purge` said {purged.stdout.strip()!r}; down --volumes in {took_down:.1f} s, "
        "nothing left")
    return version


@dataclass
class Poller:
    """A client polling through nginx on 127.0.0.1 in a thread: every answer but a 200 is a failure."""

    port: int
    room_id: str
    ok: int = 0
    failures: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        paths = ("/healthz", f"/api/rooms/{self.room_id}", "/results?services=few&hosts=many")
        count = 0
        while not self.stop_event.is_set():
            path = paths[count % len(paths)]
            count += 1
            began = time.monotonic()
            try:
                reply = request(self.port, "GET", path)
                if reply.status == 200:
                    self.ok += 1
                else:
                    self.failures.append(f"{path}: {reply.status} {reply.body[:120]!r}")
            except OSError as error:
                self.failures.append(f"{path}: {error} after {time.monotonic() - began:.1f} s")
            time.sleep(0.05)

    def __enter__(self) -> Poller:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        self.thread.join(timeout=REQUEST_SECONDS + 1)


def running_tasks(engine: Engine, service: str) -> dict[str, str]:
    """The tasks of `service` meant to run: id -> current state."""
    listed = engine.docker("service", "ps", "--no-trunc", "--filter", "desired-state=running",
                           "--format", "{{.ID}} {{.CurrentState}}", service).stdout.splitlines()
    return dict(line.split(" ", 1) for line in listed if line.strip())


def wait_tasks(engine: Engine, service: str, count: int, seconds: float) -> dict[str, str]:
    deadline = time.monotonic() + seconds
    tasks: dict[str, str] = {}
    while time.monotonic() < deadline:
        tasks = running_tasks(engine, service)
        if len(tasks) == count and all(state.startswith("Running") for state in tasks.values()):
            return tasks
        time.sleep(1)
    raise CheckFailedError(f"{service} has not {count} running tasks after {seconds:.0f} s: {tasks}\n"
                      + engine.docker("service", "ps", "--no-trunc", service, check=False).stdout[-1500:])


def pending_for_placement(engine: Engine, service: str, seconds: float) -> str:
    """The error of `service`'s task that waits for a node its placement constraints allow."""
    deadline = time.monotonic() + seconds
    listed = ""
    while time.monotonic() < deadline:
        listed = engine.docker("service", "ps", "--no-trunc", "--format", "{{.CurrentState}}|{{.Error}}",
                               service).stdout
        for line in listed.splitlines():
            state, _, error = line.partition("|")
            if state.startswith("Pending") and "no suitable node" in error:
                return error.strip()
        time.sleep(0.5)
    raise CheckFailedError(f"{service} did not wait for a labelled node (its tasks: {listed.strip()!r}): "
                           "compose.yaml's placement constraint is missing or does not bind")


def prove_swarm(engine: Engine, work: Path, images: dict[str, str]) -> None:
    """Proof 4: compose.yaml on Swarm, pinned by node labels; two replicas behind nginx; a rolling update with 0
    failed requests."""
    engine.docker("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", "127.0.0.1:2377")
    engine.swarm = True
    port = engine.published_locally(free_port())
    settings = stack_settings(work, "secrets-stack", images, port)
    engine.stack = STACK
    engine.docker("stack", "deploy", "--resolve-image", "never", "--compose-file", "compose.yaml", STACK, cwd=ROOT,
                  env=settings)
    constraints = {
        name: json.loads(engine.docker("service", "inspect", "--format", "{{json .Spec.TaskTemplate.Placement}}",
                                       f"{STACK}_{name}").stdout).get("Constraints")
        for name in ("postgres", "proxy")}
    unplaced = {name: pending_for_placement(engine, f"{STACK}_{name}", 30) for name in ("postgres", "proxy")}
    node = engine.docker("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()
    labels = [argument for label in NODE_LABELS for argument in ("--label-add", label)]
    engine.docker("node", "update", *labels, node)
    say(f"4. until `docker node update {' '.join(labels)} {node[:12]}…`, postgres and nginx were pending: "
        f"{unplaced['postgres']!r} (constraints {constraints})")
    service = f"{STACK}_dockwise"
    wait_tasks(engine, service, 2, 120)
    wait_tasks(engine, f"{STACK}_proxy", 1, 60)
    wait_for(port, "/healthz", 60)
    listening = published_on(port)
    proxy = engine.docker("ps", "--quiet", "--filter", f"label=com.docker.swarm.service.name={STACK}_proxy")
    proxy_health = wait_healthy(engine, proxy.stdout.split()[0], 60)
    deadline = time.monotonic() + 120  # the migration job retries until PostgreSQL answers: rooms 503 until then
    while True:
        created = request(port, "POST", "/api/rooms", json_body={"title": "Rolling update"})
        if created.status == 201 or time.monotonic() > deadline:
            break
        time.sleep(1)
    room_id = json.loads(expect(created, 201, "a room created through nginx on the stack").body)["room"]["id"]
    before = running_tasks(engine, service)
    with Poller(port, room_id) as poller:
        time.sleep(2)
        began = time.monotonic()
        engine.docker("service", "update", "--force", "--detach=false", "--quiet", service, timeout=300)
        took = time.monotonic() - began
        time.sleep(3)
    after = wait_tasks(engine, service, 2, 60)
    if set(before) & set(after):
        raise CheckFailedError(f"the rolling update kept tasks {set(before) & set(after)}: nothing was replaced")
    if poller.failures:
        raise CheckFailedError(f"{len(poller.failures)} of {poller.ok + len(poller.failures)} requests through nginx "
                          f"failed during the rolling update: {poller.failures[:5]}")
    if poller.ok < 20:
        raise CheckFailedError(f"only {poller.ok} requests were made during the rolling update: too few to tell")
    expect(request(port, "GET", f"/api/rooms/{room_id}"), 200, "the room after the rolling update")
    say(f"4. stack {STACK}: nginx {proxy_health}, published on {listening}:{port} (host mode), reached on "
        f"127.0.0.1; 2 replicas replaced one at a time "
        f"(start-first) in {took:.1f} s; {poller.ok} requests through nginx, 0 failed; the room is still there")


# --- main ------------------------------------------------------------------------------------------------------------


def build_arguments() -> dict[str, str]:
    """The Dockerfile's VERSION and REVISION: pyproject.toml's version and the checkout's commit."""
    revision = run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], check=False).stdout.strip()
    return {"VERSION": pyproject()["project"]["version"], "REVISION": revision}


def build_images(engine: Engine, python_tar: Path, services_tar: Path) -> dict[str, str]:
    images = {"python-base": f"{TAG}/debian-python:{SUITE}", "services-base": f"{TAG}/debian-services:{SUITE}",
              "dockwise": f"{TAG}/dockwise:latest", "postgres": f"{TAG}/postgres:15",
              "nginx": f"{TAG}/nginx:latest"}
    for tarball, name in ((python_tar, images["python-base"]), (services_tar, images["services-base"])):
        engine.docker("import", str(tarball), name, timeout=300)
    builder = {"DOCKER_BUILDKIT": "0"}  # the classic builder: docker.io ships no buildx
    began = time.monotonic()
    engine.docker("build", "--quiet", "--network", "none", "--build-arg", f"BASE_IMAGE={images['python-base']}",
                  "--build-arg", f"WHEELS={WHEELS}",
                  *(argument for name, value in build_arguments().items()
                    for argument in ("--build-arg", f"{name}={value}")),
                  "--tag", images["dockwise"], str(ROOT), env=builder)
    size = engine.docker("image", "inspect", "--format", "{{.Size}}", images["dockwise"]).stdout.strip()
    say(f"image {images['dockwise']} built offline in {time.monotonic() - began:.1f} s: "
        f"{int(size) / 1e6:.0f} MB (its base: {SUITE} minbase + python3)")
    for name in ("postgres", "nginx"):
        engine.docker("build", "--quiet", "--network", "none", "--build-arg", f"BASE_IMAGE={images['services-base']}",
                      "--tag", images[name], str(ROOT / "deploy/docker/check" / name), env=builder)
    return images


def check(fresh: bool) -> None:
    with stage("static: constraints.txt against pyproject.toml"):
        check_pins()
    preflight()
    with stage("install docker.io, docker-compose and debootstrap"):
        install_tools()
    work = Path(tempfile.mkdtemp(prefix="dockwise-check-", dir="/var/tmp"))
    engine = Engine(work / "engine")
    engine.root.mkdir()
    try:
        with stage("start dockerd"):
            say(f"dockerd {engine.start()} up, data root {engine.root / 'data'}")
        with stage("base images (debootstrap, docker import)"):
            tarballs = base_tarballs(work, fresh)
        with stage("wheels (pip download on the host)"):
            say(f"wheels: {download_wheels()}")
        with stage("build the images"):
            images = build_images(engine, *tarballs)
        with stage("1. one container: non-root, read-only, serving"):
            single = prove_single_container(engine, images["dockwise"], pyproject()["project"]["version"])
        with stage("2. two containers, one PostgreSQL, one key"):
            prove_shared_postgres(engine, work, images["dockwise"], images["postgres"])
        with stage("1. (cont.) the image's HEALTHCHECK"):
            say(f"1. HEALTHCHECK: {wait_healthy(engine, single, 60)}")
        with stage("3. Compose: docker-compose up, a room through nginx, down"):
            prove_compose(engine, work, images)
        with stage("4. Swarm stack: placement, rolling update under load"):
            prove_swarm(engine, work, images)
    finally:
        with stage("stop everything (by id or project name) and dockerd"):
            engine.stop()
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fresh", action="store_true", help="debootstrap the base images anew, ignoring the cache")
    args = parser.parse_args(argv)
    # A CI time-out's SIGTERM unwinds like an error, so the engine and what runs on it still stop.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        check(args.fresh)
    except NoEngineError as reason:
        print(f"container-check: SKIP: {reason}", flush=True)
        return 0
    except CheckFailedError as error:
        print(f"container-check: FAILED: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        if TIMINGS:
            print("container-check timings: " + ", ".join(f"{name} {took:.1f} s" for name, took in TIMINGS))
    print(f"container-check: wall time {time.monotonic() - START:.0f} s")
    print("container-check: 4 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
