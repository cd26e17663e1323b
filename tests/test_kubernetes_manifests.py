"""deploy/kubernetes as a user applies it: the base and the example overlay rendered with `kubectl kustomize`, every
object validated strictly against one Kubernetes version's schemas (kubernetes-validate, which ships them), a policy
scan (checkov) with nothing failing beyond the documented exceptions, and the properties a user relies on.

The checkers live in .venv-scan (scripts/install-scan-deps), apart from the app's .venv: a missing one fails here with
the command that installs it. kubectl comes with the machine.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath

import pytest
import yaml

from rooms.store import RoomStore

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "kubernetes"
SCAN_BIN = ROOT / ".venv-scan" / "bin"
INSTALL = "scripts/install-scan-deps"
# The newest Kubernetes whose schemas kubernetes-validate (deploy/kubernetes/scan-requirements.txt) ships, and the
# oldest the manifests are for (the preStop `sleep` action is on by default from 1.30; deploy/kubernetes/README.md).
KUBERNETES_VERSION = "1.37.0"
OLDEST_KUBERNETES_VERSION = "1.30.0"
TARGETS = ("base", "overlays/example")
WORKLOADS = (("Deployment", "dockwise"), ("Job", "dockwise-migrate"), ("CronJob", "dockwise-purge"))
# The example overlay's secrets, made by the user beside its kustomization.yaml (and ignored by git).
EXAMPLE_SECRET_FILES = ("secret-key.txt", "database-url.txt")
EXAMPLE_DATABASE_URL = "postgresql://dockwise:example-password@postgres.example.internal/dockwise"
# The commands the web pods' image runs besides serving: once per release, and daily.
MIGRATION = ["flask", "--app", "app", "db", "upgrade"]
PURGE = ["flask", "--app", "app", "rooms", "purge"]
COMMANDS = {("Job", "dockwise-migrate"): MIGRATION, ("CronJob", "dockwise-purge"): PURGE}

# checkov's findings accepted on purpose, each with its reason. A finding not listed fails the test, and so does a
# listed one that no longer occurs (remove it then).
POLICY_EXCEPTIONS = {
    "CKV_K8S_43": "Image should use digest: the image is built from this repository and pushed to the user's own "
                  "registry, so its digest exists only after that push; an overlay pins it with `digest: sha256:…` "
                  "in its `images:` entry (deploy/kubernetes/README.md), which the example cannot name.",
}


def scan_tool(name: str) -> str:
    path = SCAN_BIN / name
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is missing: run {INSTALL} (it installs checkov and kubernetes-validate into .venv-scan)")
    return str(path)


def kubectl() -> str:
    found = shutil.which("kubectl")
    if not found:
        pytest.fail("kubectl is missing: the manifests are rendered with `kubectl kustomize` (install kubectl)")
    return found


@dataclass
class Rendered:
    """One kustomization, rendered: the YAML file written and its objects."""

    target: str
    path: Path
    objects: list[dict]

    def of_kind(self, kind: str) -> list[dict]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> dict:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.target}: expected one {kind} named {name}, found {len(found)}"
        return found[0]

    def generated(self, kind: str, name: str) -> dict:
        """A generated object, whose name kustomize ends with a hash of its content."""
        found = [o for o in self.of_kind(kind) if re.fullmatch(rf"{name}-[a-z0-9]{{10}}", o["metadata"]["name"])]
        assert len(found) == 1, f"{self.target}: expected one generated {kind} {name}-HASH, found {len(found)}"
        return found[0]

    def settings(self) -> dict[str, str]:
        return self.generated("ConfigMap", "dockwise-settings")["data"]


def render(tree: Path, target: str) -> subprocess.CompletedProcess:
    return subprocess.run([kubectl(), "kustomize", str(tree / target)], capture_output=True, text=True, check=False,
                          timeout=120)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A copy of deploy/kubernetes with the example overlay's secret files made as its kustomization says."""
    copy = tmp_path_factory.mktemp("deploy") / "kubernetes"
    shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns(*EXAMPLE_SECRET_FILES))
    example = copy / "overlays" / "example"
    (example / "secret-key.txt").write_text(secrets.token_hex(32) + "\n")
    (example / "database-url.txt").write_text(EXAMPLE_DATABASE_URL)
    return copy


@pytest.fixture(scope="module")
def rendered(tree) -> dict[str, Rendered]:
    result = {}
    for target in TARGETS:
        done = render(tree, target)
        assert done.returncode == 0, f"kubectl kustomize deploy/kubernetes/{target} failed:\n{done.stderr}"
        path = tree.parent / f"{target.replace('/', '-')}.yaml"
        path.write_text(done.stdout)
        result[target] = Rendered(target, path, [o for o in yaml.safe_load_all(done.stdout) if o])
    return result


def pod_template(workload: dict) -> dict:
    spec = workload["spec"]["jobTemplate"]["spec"] if workload["kind"] == "CronJob" else workload["spec"]
    return spec["template"]


def pod_spec(workload: dict) -> dict:
    return pod_template(workload)["spec"]


def containers(workload: dict) -> list[dict]:
    spec = pod_spec(workload)
    return spec.get("initContainers", []) + spec["containers"]


def the_container(workload: dict) -> dict:
    (container,) = pod_spec(workload)["containers"]
    return container


def volumes_by_name(workload: dict) -> dict[str, dict]:
    return {volume["name"]: volume for volume in pod_spec(workload).get("volumes", [])}


def matches(selector: dict, labels: dict) -> bool:
    assert set(selector) <= {"matchLabels"}, f"only matchLabels selectors are checked here: {selector}"
    return selector["matchLabels"].items() <= labels.items()


# --- rendering, schemas, policies ------------------------------------------------------------------------------------

def test_the_example_overlay_needs_its_secrets_made_first(tmp_path):
    """No secret is committed: without the two files its kustomization says how to make, rendering names them."""
    copy = tmp_path / "kubernetes"
    shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns(*EXAMPLE_SECRET_FILES))
    done = render(copy, "overlays/example")
    assert done.returncode != 0
    assert "secret-key.txt" in done.stderr


def deploy_steps() -> str:
    """The shell code blocks of deploy/kubernetes/README.md's "Deploy" section, in order, as one script."""
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Deploy\n(.*?)^## ", readme, re.S | re.M)[1]
    return "".join(re.findall(r"^```sh\n(.*?)^```", section, re.S | re.M))


# kubectl in the README's steps, without a cluster: `apply -k DIR` renders DIR (into $RENDERED, its name into
# $APPLIED); the other kubectl commands (delete, wait, rollout) need a cluster and do nothing.
FAKE_CLUSTER = """
kubectl() {
    if [ "$1" = apply ] && [ "$2" = -k ]; then
        "$KUBECTL" kustomize "$3" > "$RENDERED"
        printf '%s\\n' "$3" >> "$APPLIED"
    fi
}
"""


def test_the_readmes_deploy_steps_run_in_sequence_from_the_repositorys_root(tmp_path):
    """Pasted into one shell at the root of a copy of the repository's deploy/kubernetes, they make the overlay and its
    secret files (ignored by git), and `kubectl apply -k` finds the overlay and renders it."""
    root = tmp_path / "repository"
    shutil.copytree(DEPLOY, root / "deploy" / "kubernetes", ignore=shutil.ignore_patterns(*EXAMPLE_SECRET_FILES))
    rendered, applied = tmp_path / "rendered.yaml", tmp_path / "applied"
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", FAKE_CLUSTER + deploy_steps()], cwd=root,
                          capture_output=True, text=True, check=False, timeout=120,
                          env={**os.environ, "KUBECTL": kubectl(), "RENDERED": str(rendered), "APPLIED": str(applied)})
    assert done.returncode == 0, f"the README's steps failed:\n{done.stderr}"
    (overlay,) = applied.read_text().splitlines()
    (secret,) = [o for o in yaml.safe_load_all(rendered.read_text()) if o and o["kind"] == "Secret"]
    assert len(base64.b64decode(secret["data"]["secret-key"])) >= 32
    assert base64.b64decode(secret["data"]["database-url"]).startswith(b"postgresql://")
    # The copy is a repository of its own here, so that only the .gitignore files the steps leave count.
    subprocess.run(["git", "init", "--quiet", str(root)], check=True, timeout=30)
    secret_files = [f"{overlay}/{name}" for name in EXAMPLE_SECRET_FILES]
    ignored = subprocess.run(["git", "check-ignore", *secret_files], cwd=root, capture_output=True, text=True,
                             check=False, timeout=30)
    assert ignored.stdout.splitlines() == secret_files, f"git would commit the secret files of {overlay}"


@pytest.mark.parametrize("version", [KUBERNETES_VERSION, OLDEST_KUBERNETES_VERSION])
@pytest.mark.parametrize("target", TARGETS)
def test_every_object_validates_strictly_against_the_kubernetes_schemas(rendered, target, version):
    done = subprocess.run([scan_tool("kubernetes-validate"), "--strict", "-k", version,
                           str(rendered[target].path)], capture_output=True, text=True, check=False, timeout=120)
    lines = done.stdout.splitlines()
    problems = [line for line in lines if not line.startswith("INFO ")]  # ERROR, and WARN for a kind without schema
    assert done.returncode == 0, "\n".join(problems) or done.stderr
    assert not problems, "\n".join(problems)
    passed = [line for line in lines if " passed for resource " in line]
    assert all(line.endswith(f"against version {version.rsplit('.', 1)[0]}") for line in passed), "\n".join(passed)
    assert len(passed) == len(rendered[target].objects), done.stdout


@pytest.mark.parametrize("target", TARGETS)
def test_the_policy_scan_finds_nothing_beyond_the_documented_exceptions(rendered, target):
    done = subprocess.run([scan_tool("checkov"), "--framework", "kubernetes", "--file", str(rendered[target].path),
                           "--output", "json", "--skip-download"],
                          capture_output=True, text=True, check=False, timeout=300, cwd=rendered[target].path.parent,
                          # Offline: no rule downloads (--skip-download), no look for a newer checkov on PyPI.
                          env={**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"})
    assert done.returncode in (0, 1), f"checkov failed to run ({done.returncode}):\n{done.stderr[-3000:]}"
    report = json.loads(done.stdout)
    assert report["summary"]["parsing_errors"] == 0, report["summary"]
    # checkov counts every object, plus a resource of its own for each pod template.
    assert report["summary"]["resource_count"] >= len(rendered[target].objects), report["summary"]
    failed = report["results"]["failed_checks"]
    checked = {f["resource"] for f in failed + report["results"]["passed_checks"]}
    assert {f"{kind}.dockwise.{name}" for kind, name in WORKLOADS} <= checked, sorted(checked)
    unexpected = [f"{f['check_id']} {f['check_name']}: {f['resource']} ({f.get('guideline') or 'no guideline'})"
                  for f in failed if f["check_id"] not in POLICY_EXCEPTIONS]
    assert not unexpected, "checkov findings that are neither fixed nor documented:\n" + "\n".join(unexpected)
    stale = set(POLICY_EXCEPTIONS) - {f["check_id"] for f in failed}
    assert not stale, f"documented exceptions checkov no longer reports (remove them): {sorted(stale)}"


# --- what a user relies on -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", TARGETS)
def test_the_rules_configmap_holds_the_repositorys_rules_under_a_fixed_name(rendered, target):
    """kustomize reads no file outside the base, so the base keeps a copy of rules.yaml, which must be the same. The
    name has no hash suffix: an edit then updates the ConfigMap in place, and the pods reload it."""
    configmap = rendered[target].get("ConfigMap", "dockwise-rules")
    assert configmap["data"]["rules.yaml"] == (ROOT / "rules.yaml").read_text(encoding="utf-8"), (
        "deploy/kubernetes/base/rules.yaml is not rules.yaml: cp rules.yaml deploy/kubernetes/base/rules.yaml")


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(("kind", "name"), WORKLOADS)
def test_every_container_runs_unprivileged_on_a_read_only_root_within_limits(rendered, target, kind, name):
    workload = rendered[target].get(kind, name)
    pod = pod_spec(workload)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    for container in containers(workload):
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True, container["name"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["capabilities"] == {"drop": ["ALL"]}, container["name"]
        assert context.get("seccompProfile", {"type": "RuntimeDefault"}) == {"type": "RuntimeDefault"}
        assert context.get("privileged", False) is False, container["name"]
        assert {"cpu", "memory"} <= container["resources"]["requests"].keys() & container["resources"]["limits"].keys()


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(("kind", "name"), WORKLOADS)
def test_only_emptydirs_are_writable_and_the_state_directory_is_a_folder_inside_one(rendered, target, kind, name):
    workload = rendered[target].get(kind, name)
    volumes = volumes_by_name(workload)
    container = the_container(workload)
    writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
    assert all("emptyDir" in volumes[m["name"]] for m in container["volumeMounts"] if not m.get("readOnly")), writable
    assert "/tmp" in writable
    state = PurePosixPath(rendered[target].settings()["DOCKWISE_STATE_DIR"])
    # Inside, not the mount itself: an emptyDir's own folder is writable by everyone, which Dockwise refuses.
    assert any(state.parent.is_relative_to(path) for path in writable), (state, writable)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(("kind", "name"), WORKLOADS)
def test_the_rules_are_mounted_as_a_folder_the_kubelet_updates(rendered, target, kind, name):
    """A subPath mount is never updated: the rules ConfigMap (and every ConfigMap or Secret) is mounted whole."""
    workload = rendered[target].get(kind, name)
    volumes = volumes_by_name(workload)
    for mount in the_container(workload)["volumeMounts"]:
        if {"configMap", "secret"} & volumes[mount["name"]].keys():
            assert not {"subPath", "subPathExpr"} & mount.keys(), mount
    (rules_mount,) = [m for m in the_container(workload)["volumeMounts"]
                      if volumes[m["name"]].get("configMap", {}).get("name") == "dockwise-rules"]
    assert rendered[target].settings()["DOCKWISE_RULES_PATH"] == f"{rules_mount['mountPath']}/rules.yaml"
    assert "rules.yaml" in rendered[target].get("ConfigMap", "dockwise-rules")["data"]


@pytest.mark.parametrize(("kind", "name"), WORKLOADS)
def test_every_secret_the_pods_read_exists_with_its_keys(rendered, kind, name):
    example = rendered["overlays/example"]
    workload = example.get(kind, name)
    secrets_by_name = {s["metadata"]["name"]: s for s in example.of_kind("Secret")}
    files = {}
    for mount in the_container(workload)["volumeMounts"]:
        source = volumes_by_name(workload)[mount["name"]].get("secret")
        if source:
            assert source["secretName"] in secrets_by_name, source
            for item in source["items"]:
                assert item["key"] in secrets_by_name[source["secretName"]]["data"], item
                files[f"{mount['mountPath']}/{item['path']}"] = item["key"]
    for reference in (e["valueFrom"]["secretKeyRef"] for e in the_container(workload).get("env", [])
                      if "secretKeyRef" in e.get("valueFrom", {})):
        assert reference["key"] in secrets_by_name[reference["name"]]["data"], reference
    settings = example.settings()
    assert files.get(settings["DOCKWISE_SECRET_KEY_FILE"]) == "secret-key", files
    assert files.get(settings["DOCKWISE_DATABASE_URL_FILE"]) == "database-url", files


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(("kind", "name"), COMMANDS)
def test_the_migration_and_the_purge_run_with_the_deployments_image_and_settings(rendered, target, kind, name):
    web = rendered[target].get("Deployment", "dockwise")
    job = rendered[target].get(kind, name)
    web_container, job_container = the_container(web), the_container(job)
    for field in ("image", "imagePullPolicy", "env", "envFrom", "volumeMounts", "securityContext"):
        assert job_container.get(field) == web_container.get(field), field
    for field in ("volumes", "securityContext", "serviceAccountName", "automountServiceAccountToken",
                  "enableServiceLinks"):
        assert pod_spec(job).get(field) == pod_spec(web).get(field), field
    assert pod_spec(job)["restartPolicy"] == "Never"  # a failed run is retried by the Job in a new pod
    # args, not command: it replaces the image's CMD (gunicorn) and keeps any ENTRYPOINT the image has.
    assert "command" not in job_container
    assert job_container["args"] == COMMANDS[kind, name]


@pytest.mark.parametrize("target", TARGETS)
def test_the_purge_runs_daily_one_at_a_time_and_keeps_a_short_history(rendered, target):
    cronjob = rendered[target].get("CronJob", "dockwise-purge")["spec"]
    minute, hour, *every_day = cronjob["schedule"].split()
    assert every_day == ["*", "*", "*"], cronjob["schedule"]
    assert 0 <= int(minute) < 60, cronjob["schedule"]
    assert 0 <= int(hour) < 24, cronjob["schedule"]
    assert cronjob["timeZone"] == "Etc/UTC"  # not the controller's local time, which may change under it
    assert cronjob["concurrencyPolicy"] == "Forbid"
    assert 1 <= cronjob["successfulJobsHistoryLimit"] <= cronjob["failedJobsHistoryLimit"] <= 5
    assert cronjob.get("suspend", False) is False
    job = cronjob["jobTemplate"]["spec"]
    assert job["backoffLimit"] >= 1
    assert job["activeDeadlineSeconds"] < 24 * 3600  # a stuck run ends before the next one is due


@pytest.mark.parametrize("target", TARGETS)
def test_the_probes_name_a_trusted_host_on_the_container_port(rendered, target):
    """The kubelet sends the pod's IP as Host, which Dockwise refuses (400): each probe names localhost. The startup
    probe is /healthz; readiness and liveness are not, since /healthz answers 503 while a refused rules file leaves
    the last good rules serving (tests/test_configmap_reload.py sends these probes through that)."""
    container = the_container(rendered[target].get("Deployment", "dockwise"))
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert list(ports.values()) == [int(rendered[target].settings()["PORT"])]  # where gunicorn binds
    probes = {kind: container[f"{kind}Probe"]["httpGet"] for kind in ("startup", "readiness", "liveness")}
    for kind, probe in probes.items():
        assert ports.get(probe["port"], probe["port"]) in ports.values(), (kind, probe)
        assert probe.get("scheme", "HTTP") == "HTTP"
        assert {"name": "Host", "value": "localhost"} in probe["httpHeaders"], (kind, probe)
    assert probes["startup"]["path"] == "/healthz"
    assert probes["readiness"]["path"] != "/healthz"
    assert probes["liveness"]["path"] != "/healthz"


@pytest.mark.parametrize("target", TARGETS)
def test_the_pods_are_spread_scaled_and_protected_together(rendered, target):
    objects = rendered[target]
    web = objects.get("Deployment", "dockwise")
    labels = web["spec"]["template"]["metadata"]["labels"]
    job_labels = [pod_template(objects.get(kind, name))["metadata"]["labels"] for kind, name in COMMANDS]
    assert web["spec"]["replicas"] >= 2
    assert matches(web["spec"]["selector"], labels)
    spread = {c["topologyKey"]: c for c in pod_spec(web)["topologySpreadConstraints"]}
    assert spread["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"
    # Without it, a node the pods cannot run on (a tainted control-plane node) holds the skew: pods stay Pending.
    assert spread["kubernetes.io/hostname"]["nodeTaintsPolicy"] == "Honor"
    assert matches(spread["kubernetes.io/hostname"]["labelSelector"], labels)

    autoscaler = objects.get("HorizontalPodAutoscaler", "dockwise")
    assert autoscaler["apiVersion"] == "autoscaling/v2"
    assert autoscaler["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "dockwise"}
    assert 2 <= autoscaler["spec"]["minReplicas"] == web["spec"]["replicas"] < autoscaler["spec"]["maxReplicas"]

    budget = objects.get("PodDisruptionBudget", "dockwise")
    assert matches(budget["spec"]["selector"], labels)
    assert budget["spec"]["maxUnavailable"] == 1

    service = objects.get("Service", "dockwise")
    assert service["spec"]["selector"].items() <= labels.items()
    for other in job_labels:
        assert not service["spec"]["selector"].items() <= other.items(), "the Service must select only web pods"
        assert not matches(budget["spec"]["selector"], other), "the budget must count only web pods"
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] in {p["name"] for p in the_container(web)["ports"]}

    policy = objects.get("NetworkPolicy", "dockwise")
    assert matches(policy["spec"]["podSelector"], labels)
    assert policy["spec"]["policyTypes"] == ["Ingress"]


def test_the_ingress_buffers_and_limits_bodies_as_deploy_nginx_does(rendered):
    example = rendered["overlays/example"]
    ingress = example.get("Ingress", "dockwise")
    annotations = ingress["metadata"]["annotations"]
    nginx = (ROOT / "deploy" / "nginx" / "dockwise.conf").read_text(encoding="utf-8")
    assert re.search(r"^\s*proxy_request_buffering on;", nginx, re.M)
    assert re.search(r"^\s*proxy_buffering on;", nginx, re.M)
    body_limit = re.search(r"^\s*client_max_body_size (\S+);", nginx, re.M)[1]
    assert annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "on"
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "on"
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == body_limit

    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    backend = path["backend"]["service"]
    service = example.get("Service", backend["name"])
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    assert any(rule["host"] in tls["hosts"] for tls in ingress["spec"]["tls"])
    settings = example.settings()
    assert settings["DOCKWISE_PUBLIC_URL"] == f"https://{rule['host']}"
    assert settings["DOCKWISE_PROXY_FIX"] == "1"  # the ingress controller, the one proxy setting X-Forwarded-*


@pytest.mark.parametrize(("target", "image"), [("base", "dockwise"),
                                               ("overlays/example", "registry.example.com/dockwise")])
def test_the_image_is_set_by_kustomize_and_tagged_with_the_projects_version(rendered, target, image):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    for kind, name in WORKLOADS:
        for container in containers(rendered[target].get(kind, name)):
            assert container["image"] == f"{image}:{version}", (kind, name)


# --- the image's and the app's side of the contract -------------------------------------------------------------------

def test_the_pods_run_as_the_images_user(rendered):
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    user, group = re.search(r"^USER (\d+):(\d+)$", dockerfile, re.M).groups()
    for kind, name in WORKLOADS:
        context = pod_spec(rendered["overlays/example"].get(kind, name))["securityContext"]
        assert (context["runAsUser"], context["runAsGroup"]) == (int(user), int(group)), (kind, name)


def pod_settings_under(example: Rendered, workload: dict, root: Path, database_url: str) -> dict[str, str]:
    """The example's settings for `workload`, with each volume its container mounts laid out under `root` as the
    kubelet would and the settings' paths moved there; `database_url` stands as the Secret's `database-url` (a SQLite
    file here, where the overlay names a PostgreSQL server)."""
    settings = dict(example.settings())
    for mount in the_container(workload)["volumeMounts"]:
        volume = volumes_by_name(workload)[mount["name"]]
        folder = root / mount["name"]
        folder.mkdir(parents=True)
        if "configMap" in volume:
            for file_name, text in example.get("ConfigMap", volume["configMap"]["name"])["data"].items():
                (folder / file_name).write_text(text, encoding="utf-8")
        elif "secret" in volume:
            secret = example.get("Secret", volume["secret"]["secretName"])
            for item in volume["secret"]["items"]:
                content = base64.b64decode(secret["data"][item["key"]])
                (folder / item["path"]).write_bytes(database_url.encode() if item["key"] == "database-url" else content)
        else:
            folder.chmod(0o777)  # as the kubelet makes an emptyDir
        for setting, value in example.settings().items():
            if value.startswith(mount["mountPath"] + "/"):
                settings[setting] = str(folder / value[len(mount["mountPath"]) + 1:])
    return settings


def run_as_the_pod_does(workload: dict, settings: dict[str, str]) -> subprocess.CompletedProcess:
    """The workload's command (flask …) from the checkout, as the image runs it from /app, with only `settings`."""
    command = the_container(workload)["args"]
    assert command[0] == "flask", command
    return subprocess.run([sys.executable, "-m", "flask", *command[1:]], cwd=ROOT, capture_output=True, text=True,
                          check=False, timeout=120, env={"PATH": os.environ["PATH"], **settings})


def test_the_migration_and_the_purge_use_the_database_the_secret_names(rendered, tmp_path):
    """The Job's and the CronJob's commands, run by the app with the pods' settings and the Secret's files where the
    pods mount them: the migration creates the rooms' tables in the database the Secret's `database-url` names, and
    the purge deletes a room there that closed long ago."""
    example = rendered["overlays/example"]
    url = f"sqlite:///{tmp_path / 'rooms.sqlite3'}"

    migration = example.get("Job", "dockwise-migrate")
    settings = pod_settings_under(example, migration, tmp_path / "migration", url)
    assert settings["DOCKWISE_DATABASE_URL_FILE"] == str(tmp_path / "migration" / "secret" / "database-url")
    done = run_as_the_pod_does(migration, settings)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"the rooms database {url} is at the latest migration" in done.stdout

    long_ago = datetime.now(UTC) - timedelta(days=90)
    store = RoomStore.from_url(url, clock=lambda: long_ago)
    store.create_room("Closed long ago", long_ago + timedelta(days=1), rules_fingerprint="test")
    store.engine.dispose()
    purge = example.get("CronJob", "dockwise-purge")
    done = run_as_the_pod_does(purge, pod_settings_under(example, purge, tmp_path / "purge", url))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "purged 1 room closed more than 30 days ago" in done.stdout
