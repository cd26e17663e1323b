"""The product's promise: adding a question, a choice, a row or a whole new option is a rules.yaml edit only.

The shipped rules.yaml is copied into a temporary directory and edited the way a tuner would (loaded as plain YAML,
changed, dumped); the shipped file is never touched. The edit adds
- a fourth option, HashiCorp Nomad, between Compose / Swarm and Kubernetes (options run lightest first), with a text
  on every row, and in a second copy a fifth and a sixth (K3s and Red Hat OpenShift);
- a thirteenth row, Security, with a text for every option and its own weight;
- a thirteenth question, compliance, whose choices run from the least demanding, and rules on the new row that read
  it (and one that reads an existing question) and score the new option, each leaning one way;
- a scenario for the new option, and the `site` block's words.

Then the copy is served and run as a user would: the questionnaire, the results page, the decision record, the
JSON API, /rules and its background analysis, the `flask rules` commands and `flask recommend`, and the
answer-space analysis from Python. The answers that make Nomad win are found by evaluating real situations (the
shipped scenarios) under the edited rules, never written down here.
"""

from __future__ import annotations

import copy
import json
import math
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from shipped import RULES_PATH

from app import create_app
from recommender import evaluate, explain, load_rules
from recommender.space import explore, monotonicity

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = yaml.safe_load(RULES_PATH.read_text(encoding="utf-8"))  # the rules under test (see tests/shipped.py)
ANALYSIS_DEADLINE = 300  # seconds for /rules' background analysis: generous for a slow machine

# --- the edit -------------------------------------------------------------------------------------------------------

NOMAD = {
    "id": "nomad",
    "label": "HashiCorp Nomad",
    "summary": "You run your containers, and other workloads, on a Nomad cluster: a single binary that runs as a "
               "server or a client, with a few servers scheduling jobs across many machines. It gives rolling and "
               "canary updates and rescheduling when a machine fails, with fewer moving parts than Kubernetes; "
               "service mesh, secrets and autoscaling come from Consul, Vault and the Nomad Autoscaler.",
}
NOMAD_TEXTS = {
    "purpose": "Workload orchestrator that deploys and manages containers and non-containerized applications "
               "across on-premises and cloud machines.",
    "architecture": "A single binary that runs as a server or a client; a few servers keep the cluster state through "
                    "Raft consensus and schedule work onto the client nodes.",
    "container_management": "Manages jobs made of task groups: containers, or other tasks, placed together on a node.",
    "container_orchestration": "Schedules and reschedules jobs across nodes with bin packing, constraints and "
                               "built-in service discovery.",
    "scaling": "Scaling is a count per task group; the separate Nomad Autoscaler adds application and cluster "
               "autoscaling.",
    "high_availability": "Servers replicate their state across a quorum; failed allocations are rescheduled onto "
                         "healthy nodes, with rolling, blue/green and canary updates.",
    "networking": "Bridge networking per allocation and built-in service discovery; load balancing across hosts and "
                  "mutual TLS between services come from Consul or a proxy.",
    "storage_management": "Host volumes, and Container Storage Interface plugins for volumes that follow "
                          "allocations between nodes.",
    "deployment": "Declarative job specifications in HCL, run with nomad job run, versioned, with rollbacks and "
                  "canary deployments.",
    "resource_management": "CPU and memory reservations per task and bin packing across the cluster; quotas per "
                           "namespace in Nomad Enterprise.",
    "community_support": "HashiCorp's documentation and tutorials, with a smaller community and ecosystem than "
                         "Kubernetes.",
    "use_cases": "Suitable for one scheduler for containers and other workloads across on-premises and cloud "
                 "machines, without running Kubernetes.",
}
# Two more options in a second copy, placed by weight; each row describes them as it does the option they build on.
EXTRA_OPTIONS = (
    ({"id": "k3s", "label": "K3s", "summary": "A certified Kubernetes distribution packaged as one small binary, "
      "for small clusters, single machines and the edge."}, "nomad", "kubernetes"),
    ({"id": "openshift", "label": "Red Hat OpenShift", "summary": "Kubernetes with Red Hat's platform around it: "
      "builds, a registry, an operator hub, hardened defaults and support."}, "kubernetes", "kubernetes"),
)

SECURITY = {
    "id": "security",
    "label": "Security",
    "weight": 1.5,
    "texts": {
        "docker": "Rootless mode, user namespaces and seccomp profiles per container; anyone who can reach the "
                  "daemon controls every container on the host.",
        "compose": "Swarm mode encrypts secrets at rest and in transit and uses mutual TLS between nodes, with no "
                   "role-based access control.",
        "nomad": "ACL policies per namespace, mutual TLS between agents, and secrets from Vault rendered into tasks.",
        "kubernetes": "Role-based access control, Secrets, Pod Security admission and network policies per "
                      "namespace.",
    },
}
COMPLIANCE = {
    "id": "compliance",
    "text": "Must deploys and access to secrets be audited?",
    "help": "Think of what an auditor, or your security team, will ask you to show.",
    "choices": [
        {"id": "none", "label": "No formal requirements"},
        {"id": "audited", "label": "Yes: per-team access control and an audit trail"},
        {"id": "regulated", "label": "Yes, and workloads must be isolated by policy (a regulated industry)"},
    ],
}
# Each rule leans one way (docs/rules-format.md): scores that do not increase from the lightest option to the heaviest
# on a set of answers closed downwards, or that do not decrease on a set closed upwards. Nomad's niche is where the
# second rule (against the lighter options) meets the fourth (against Kubernetes).
SECURITY_RULES = [
    {"id": "security-no-audit", "criterion": "security", "when": {"compliance": "none"},
     "scores": {"docker": 1, "compose": 1},
     "because": "Without an audit to pass, a Docker host's own defaults are enough."},
    {"id": "security-audited", "criterion": "security", "when": {"compliance": ["audited", "regulated"]},
     "scores": {"docker": -2, "compose": -1, "nomad": 2, "kubernetes": 2},
     "because": "Audited deploys and secrets need access control per team and a secrets store the scheduler speaks "
                "to: Nomad's ACLs with Vault, or Kubernetes' RBAC and Secrets."},
    {"id": "security-isolation-by-policy", "criterion": "security", "when": {"compliance": "regulated"},
     "scores": {"kubernetes": 1},
     "because": "Isolating workloads by policy is what Kubernetes' Pod Security admission and network policies do."},
    {"id": "security-self-hosted-control-plane", "criterion": "security",
     "when": {"managed": "unavailable", "expertise": ["new", "docker"]}, "scores": {"kubernetes": -2},
     "because": "Securing a self-hosted Kubernetes control plane (etcd, the API server, its certificates) without "
                "Kubernetes experience is a project of its own, where a Nomad cluster is one binary to harden."},
]
NOMAD_SCENARIO = {
    "name": "On-premises team schedules audited services across a few machines with Nomad",
    "answers": {"hosts": "few", "expertise": "docker", "managed": "unavailable", "compliance": "audited"},
    "expect": "nomad",
    "source": "HashiCorp Nomad docs, 'Nomad vs. Kubernetes' (https://developer.hashicorp.com/nomad/docs/"
              "nomad-vs-kubernetes) — a single binary for clients and servers, with no external services needed "
              "for coordination or storage.",
}
SITE = {
    "title": "Schedulewise",
    "heading": "Docker, Compose/Swarm, Nomad or Kubernetes?",
    "description": "Docker alone, Compose / Swarm, HashiCorp Nomad or Kubernetes? Answer a short questionnaire and "
                   "get a recommendation that explains itself.",
}


def option_ids(data: dict) -> list[str]:
    return [option["id"] for option in data["options"]]


def insert_option(data: dict, option: dict, *, after: str, texts: dict[str, str]) -> None:
    """Insert `option` right after `after` (options run lightest first), with a text on every row.

    In every rule it starts halfway between its neighbours' points (as heavy as the heaviest when it is last), so a
    rule that leaned one way still does.
    """
    at = option_ids(data).index(after) + 1
    data["options"].insert(at, option)
    ids = option_ids(data)
    lighter, heavier = ids[at - 1], (ids[at + 1] if at + 1 < len(ids) else ids[at - 1])
    for criterion in data["criteria"]:
        criterion["texts"][option["id"]] = texts[criterion["id"]]
    for rule in data["rules"]:
        scores = rule.setdefault("scores", {})
        points = (scores.get(lighter, 0) + scores.get(heavier, 0)) / 2
        if points:
            scores[option["id"]] = points


def add_row(data: dict, criterion: dict) -> None:
    data["criteria"].append(copy.deepcopy(criterion))


def add_question(data: dict, question: dict, rules: list[dict]) -> None:
    data["questions"].append(copy.deepcopy(question))
    data["rules"].extend(copy.deepcopy(rules))


def extended(*, extra_options: bool = False) -> dict:
    """The shipped rules with Nomad, the Security row, the compliance question and its rules, and new site words."""
    data = copy.deepcopy(SHIPPED)
    data["site"] = dict(SITE)
    insert_option(data, NOMAD, after="compose", texts=NOMAD_TEXTS)
    add_row(data, SECURITY)
    add_question(data, COMPLIANCE, SECURITY_RULES)
    data["scenarios"].append(copy.deepcopy(NOMAD_SCENARIO))
    if extra_options:
        for option, after, like in EXTRA_OPTIONS:
            insert_option(data, option, after=after,
                          texts={c["id"]: c["texts"][like] for c in data["criteria"]})
    return data


def write_rules(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120), encoding="utf-8")
    return path


def answers_where_it_wins(ruleset, option: str) -> dict[str, str]:
    """The most complete real situation (a shipped scenario's answers, the new question answered each way or not)
    whose recommendation under `ruleset` is `option`."""
    choices = [None, *(choice["id"] for choice in COMPLIANCE["choices"])]
    candidates = [{**scenario["answers"], **({COMPLIANCE["id"]: choice} if choice else {})}
                  for scenario in SHIPPED["scenarios"] for choice in choices]
    winning = [answers for answers in candidates
               if ruleset.options[evaluate(ruleset, answers).winner].id == option]
    assert winning, f"no situation makes {option} win under the edited rules"
    return max(winning, key=len)


# --- fixtures -------------------------------------------------------------------------------------------------------

VARIANTS = {"four options": False, "six options": True}


@pytest.fixture(scope="module")
def copies(tmp_path_factory) -> dict[str, Path]:
    """The edited copies, by variant (the shipped file is only read)."""
    folder = tmp_path_factory.mktemp("rules")
    return {name: write_rules(folder / f"{name.replace(' ', '-')}.yaml", extended(extra_options=extra))
            for name, extra in VARIANTS.items()}


@pytest.fixture(scope="module")
def rules_copy(copies) -> Path:
    return copies["four options"]


@pytest.fixture(scope="module")
def ruleset(rules_copy):
    return load_rules(rules_copy)


@pytest.fixture(scope="module")
def winning(ruleset) -> dict[str, str]:
    return answers_where_it_wins(ruleset, NOMAD["id"])


def app_for(rules: Path, instance: Path):
    return create_app({"TESTING": True, "RULES_PATH": str(rules), "INSTANCE_PATH": str(instance),
                       "SECRET_KEY": "test-secret"})


@pytest.fixture(scope="module")
def app(rules_copy, tmp_path_factory):
    return app_for(rules_copy, tmp_path_factory.mktemp("instance"))


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def invoke(app):
    """Run a command as the `flask` executable does, inside an app context."""
    runner = app.test_cli_runner()

    def run(*args: str):
        with app.app_context():
            return runner.invoke(args=[str(arg) for arg in args])
    return run


# --- reading pages --------------------------------------------------------------------------------------------------

VOID = frozenset(["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"])


class Element:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Element | None):
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Element | str] = []

    @property
    def classes(self) -> list[str]:
        return self.attrs.get("class", "").split()

    @property
    def text(self) -> str:
        return " ".join("".join(c if isinstance(c, str) else c.text for c in self.children).split())

    def all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Element]:
        found = []
        for child in self.children:
            if isinstance(child, Element):
                if ((tag is None or child.tag == tag) and (cls is None or cls in child.classes)
                        and all(child.attrs.get(k) == v for k, v in attrs.items())):
                    found.append(child)
                found += child.all(tag, cls, **attrs)
        return found

    def one(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> Element:
        found = self.all(tag, cls, **attrs)
        assert len(found) == 1, f"expected one <{tag or '*'} class={cls} {attrs}>, found {len(found)}"
        return found[0]


class _Builder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Element("#document", {}, None)

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(element)
        if tag not in VOID:
            self.current = element

    def handle_endtag(self, tag):
        node = self.current
        while node.parent is not None and node.tag != tag:
            node = node.parent
        if node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def page(response, status: int = 200) -> Element:
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    assert response.mimetype == "text/html"
    builder = _Builder()
    builder.feed(response.get_data(as_text=True))
    return builder.root


def get_results(client, answers: dict[str, str]) -> Element:
    """The results page of `answers`, reached as a submitted questionnaire is: via the canonical share link."""
    return page(client.get("/results", query_string=answers, follow_redirects=True))


# --- the site -------------------------------------------------------------------------------------------------------

def test_the_questionnaire_asks_the_new_question_under_the_new_heading(client, ruleset):
    root = page(client.get("/"))
    fieldset = root.one("fieldset", id=f"q-{COMPLIANCE['id']}")
    assert fieldset.one("legend").text == COMPLIANCE["text"]
    radios = fieldset.all("input", type="radio")
    assert [(r.attrs["name"], r.attrs["value"]) for r in radios] == [
        (COMPLIANCE["id"], choice) for choice in ("", *(c["id"] for c in COMPLIANCE["choices"]))]
    assert [label.text for label in fieldset.all("label", "choice")] == [
        "Not sure", *(c["label"] for c in COMPLIANCE["choices"])]
    assert fieldset.one("span", "informs").text == f"Informs: {SECURITY['label']}."
    # After the shipped questions, in file order.
    assert [f.attrs["id"] for f in root.all("fieldset", "question")] == [f"q-{q.id}" for q in ruleset.questions]
    assert root.one("h1").text == SITE["heading"]
    assert root.one("title").text == f"{SITE['heading']} — {SITE['title']}"
    assert root.one("meta", name="description").attrs["content"] == SITE["description"]
    assert root.one("a", "brand").text == SITE["title"]


def test_the_results_page_recommends_the_new_option_and_compares_it_on_the_new_row(client, ruleset, winning):
    root = get_results(client, winning)
    answer = root.one("section", id="answer")
    assert answer.one("h1").text == NOMAD["label"]
    assert f"accent-{ruleset.accent(NOMAD['id'])}" in answer.classes
    assert root.one("title").text == f"{NOMAD['label']} recommended — {SITE['title']}"

    bars = root.one("ul", "bars").all("li", "bar-row")
    assert len(bars) == len(ruleset.options) == 4
    assert bars[0].one("span", "bar-label").text == f"{NOMAD['label']} recommended"

    table = root.one("table", "comparison")
    assert [th.text for th in table.one("thead").all("th")][1:] == [
        o.label + (" recommended" if o.id == NOMAD["id"] else "") for o in ruleset.options]
    rows = table.one("tbody").all("tr")
    assert len(rows) == len(ruleset.criteria) == len(SHIPPED["criteria"]) + 1
    security = rows[-1]
    assert security.one("th").text.startswith(SECURITY["label"])
    assert [td.text for td in security.all("td")] == [SECURITY["texts"][o.id] for o in ruleset.options]
    assert security.one("td", "recommended").text == SECURITY["texts"][NOMAD["id"]]

    given = dict(zip((dt.text for dt in root.one("dl", "answers").all("dt")),
                     (dd.text for dd in root.one("dl", "answers").all("dd")), strict=True))
    chosen = {c["id"]: c["label"] for c in COMPLIANCE["choices"]}.get(winning.get(COMPLIANCE["id"]), "Not sure")
    assert given[COMPLIANCE["text"]] == chosen


def test_what_would_change_it_names_the_new_question_and_the_new_option(client, ruleset, winning):
    """Without the new question's answer another option wins; the page says which answers to it would give Nomad,
    under "Revisit this when …" if Nomad is the heavier option, "You could simplify if …" if the lighter."""
    base = {q: c for q, c in winning.items() if q != COMPLIANCE["id"]}
    before = ruleset.options[evaluate(ruleset, base).winner].id
    assert before != NOMAD["id"], "the situation found does not need the new question"
    ids = [o.id for o in ruleset.options]
    heading = "Revisit this when …" if ids.index(NOMAD["id"]) > ids.index(before) else "You could simplify if …"
    root = get_results(client, base)
    title = next(h3 for h3 in root.all("h3") if h3.text == heading)
    siblings = [child for child in title.parent.children if isinstance(child, Element)]
    changes = [li.text for li in siblings[siblings.index(title) + 1].all("li")]
    assert any(change.startswith(f"the answer to “{COMPLIANCE['text']}” is ")
               and change.endswith(f"→ {NOMAD['label']}") for change in changes), changes


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_option_gets_its_own_accent_and_column(copies, tmp_path, variant):
    ruleset = load_rules(copies[variant])
    client = app_for(copies[variant], tmp_path).test_client()
    root = get_results(client, answers_where_it_wins(ruleset, NOMAD["id"]))
    bars = root.one("ul", "bars").all("li", "bar-row")
    labels = [bar.one("span", "bar-label").text.removesuffix(" recommended") for bar in bars]
    accents = [[c for c in bar.one("svg").classes if c.startswith("accent-")] for bar in bars]
    by_label = dict(zip(labels, accents, strict=True))
    assert sorted(by_label) == sorted(o.label for o in ruleset.options)
    assert [by_label[o.label] for o in ruleset.options] == [[f"accent-{ruleset.accent(o.id)}"] for o in ruleset.options]
    assert len({ruleset.accent(o.id) for o in ruleset.options}) == len(ruleset.options)
    columns = root.one("table", "comparison").one("thead").all("th")
    assert len(columns) == 1 + len(ruleset.options)


def test_the_decision_record_chooses_the_new_option(client, ruleset, winning):
    response = client.get("/results.md", query_string=winning)
    assert response.status_code == 200
    assert re.fullmatch(rf'attachment; filename="[\w.-]*-{NOMAD["id"]}\.md"', response.headers["Content-Disposition"])
    record = response.get_data(as_text=True)
    assert record.startswith(f"# Run our containers with {NOMAD['label']}\n")
    assert f'Chosen option: "{NOMAD["label"]}"' in record
    considered = [line for line in record.splitlines() if line.startswith("* ") and " — score " in line]
    names = [line[2:].split(" — ")[0] for line in considered]
    assert names[0] == NOMAD["label"]
    assert sorted(names) == sorted(o.label for o in ruleset.options)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_the_api_recommends_the_new_option(client, ruleset, winning, method):
    if method == "GET":
        response = client.get("/api/recommendations", query_string=winning)
    else:
        response = client.post("/api/recommendations", json={"answers": winning})
    assert response.status_code == 200
    document = response.get_json()
    assert (document["recommendation"], document["label"]) == (NOMAD["id"], NOMAD["label"])
    assert sorted(standing["option"] for standing in document["ranking"]) == sorted(o.id for o in ruleset.options)
    assert set(document["open"]["wins"]) <= {o.id for o in ruleset.options}
    assert math.isclose(sum(document["open"]["wins"].values()), 1.0)
    assert document["answers"] == winning
    assert document["rules_fingerprint"] == ruleset.fingerprint


def test_the_api_lists_the_new_question_and_option(client):
    document = client.get("/api/questions").get_json()
    questions = {q["id"]: q for q in document["questions"]}
    assert [c["id"] for c in questions[COMPLIANCE["id"]]["choices"]] == [c["id"] for c in COMPLIANCE["choices"]]
    assert questions[COMPLIANCE["id"]]["informs"] == [SECURITY["id"]]
    assert SECURITY["id"] in questions["managed"]["informs"]  # a new rule reads a shipped question too
    assert [o["id"] for o in document["options"]] == ["docker", "compose", NOMAD["id"], "kubernetes"]


def test_the_rules_page_shows_the_analysis_with_the_new_option_winning(client, ruleset):
    deadline = time.monotonic() + ANALYSIS_DEADLINE
    root = page(client.get("/rules"))
    while "being computed" in root.text:
        assert time.monotonic() < deadline, "the answer-space analysis of the edited rules never finished"
        time.sleep(0.25)
        root = page(client.get("/rules"))
    assert "could not be computed" not in root.text
    wins = root.one("div", role="region", **{"aria-label": "Share of questionnaires each option wins"})
    shares = {row.one("th").text: [td.text for td in row.all("td")] for row in wins.one("tbody").all("tr")}
    assert list(shares) == [o.label for o in ruleset.options]
    assert all(cell not in ("0.0 %", "") for cell in shares[NOMAD["label"]])
    findings = {item.text.partition(":")[0]: item.text.partition(":")[2] for item in root.all("li")}
    assert findings["Options that never win"] == " none."
    assert findings["More demanding answers that give a lighter recommendation"].startswith(" 0 ")
    assert not {SECURITY["id"], SECURITY["label"]} & set(
        findings["Rows that never drive a result"].rstrip(".").strip().split(", "))
    assert not {rule["id"] for rule in SECURITY_RULES} & set(
        findings["Rules that never fire"].rstrip(".").strip().split(", "))
    assert f"{SECURITY['label']} weight {SECURITY['weight']:g}" in root.text
    assert f"{COMPLIANCE['text']} {COMPLIANCE['id']}:" in root.text
    assert root.one("title").text.endswith(f" — {SITE['title']}")


def test_a_renamed_site_does_not_call_itself_by_the_old_name(client, winning):
    """`site.title` is the site's name: a user who renamed it should not meet the old name on a page or in the
    decision record (page titles and the header's brand do follow it: see the questionnaire test)."""
    old = "Dockwise"
    found = []
    for path, query in (("/", None), ("/results", winning), ("/rules", None), ("/no-such-page", None),
                        ("/results.md", winning)):
        body = client.get(path, query_string=query, follow_redirects=True).get_data(as_text=True)
        found += [f"{path}: …{match.group(0)}…" for match in re.finditer(rf".{{0,40}}{old}.{{0,30}}", body)]
    assert not found, f"the old site name is still shown after renaming the site to {SITE['title']!r}:\n" + "\n".join(
        found)


# --- the command line -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", VARIANTS)
def test_rules_check_passes_without_warnings(invoke, copies, variant):
    ruleset = load_rules(copies[variant])
    result = invoke("rules", "check", copies[variant])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    summary, ordering = result.stdout.splitlines()[:2]
    assert (f"OK — {len(ruleset.options)} options, {len(SHIPPED['criteria']) + 1} criteria, "
            f"{len(SHIPPED['questions']) + 1} questions, {len(ruleset.rules)} rules, "
            f"{len(ruleset.scenarios)} scenarios") in summary
    # One more question can make the space larger than the default budget: the check may sample it (proved in full
    # below).
    assert re.match(r"Monotonicity( \(SAMPLED\))?: 0 violations ", ordering), ordering


def test_rules_test_passes_the_new_scenario(invoke, rules_copy):
    result = invoke("rules", "test", rules_copy)
    assert result.exit_code == 0, result.output
    assert f"PASS  {NOMAD_SCENARIO['name']} → {NOMAD['id']}" in result.stdout.splitlines()
    assert result.stdout.splitlines()[-1] == f"{len(SHIPPED['scenarios']) + 1} passed, 0 failed"


def test_rules_explore_shares_the_space_between_four_options(invoke, rules_copy):
    result = invoke("rules", "explore", rules_copy, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["options"] == 4
    assert [share["id"] for share in report["shares"]] == ["docker", "compose", NOMAD["id"], "kubernetes"]
    assert sum(share["count"] for share in report["shares"]) == report["evaluated"]
    assert math.isclose(sum(share["share"] for share in report["shares"]), 1.0)
    assert {s["id"]: s["share"] for s in report["shares"]}[NOMAD["id"]] > 0
    assert report["never_win"] == []
    assert report["typical"][NOMAD["id"]]["answers"]


def test_rules_diff_finds_questionnaires_that_now_get_the_new_option(invoke, ruleset, rules_copy):
    result = invoke("rules", "diff", RULES_PATH, rules_copy, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["only_new"]["options"] == [NOMAD["id"]]
    assert report["only_new"]["questions"] == [COMPLIANCE["id"]]
    to_nomad = [flip for flip in report["matrix"] if flip["to"] == NOMAD["id"] and flip["from"] != NOMAD["id"]]
    assert to_nomad, report["matrix"]
    assert all(flip["count"] > 0 for flip in to_nomad)
    for flip in to_nomad:  # the example a user would open does show Nomad
        example = flip["examples"][0]["answers"]
        assert ruleset.options[evaluate(ruleset, example).winner].id == NOMAD["id"]


def test_recommend_names_the_new_option(invoke, rules_copy, winning):
    result = invoke("recommend", "--rules", rules_copy, "--json", *(f"{q}={c}" for q, c in winning.items()))
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["recommendation"], document["label"]) == (NOMAD["id"], NOMAD["label"])


# --- the analysis from Python ---------------------------------------------------------------------------------------

def test_the_new_option_wins_a_share_of_the_space(ruleset):
    report = explore(ruleset)
    shares = {share.id: share for share in report.shares}
    assert list(shares) == [o.id for o in ruleset.options]
    assert shares[NOMAD["id"]].count > 0
    assert sum(share.count for share in report.shares) == report.evaluated
    assert report.never_win == ()
    assert SECURITY["id"] not in report.idle_rows
    new_rules = {rule["id"] for rule in SECURITY_RULES}
    assert not new_rules & set(report.never_fire)
    assert not new_rules & set(report.dead_weight)


def test_no_more_demanding_answer_gives_a_lighter_recommendation(ruleset):
    """Proved over every questionnaire of the edited rules (the CLI's default budget would sample them)."""
    space = math.prod(len(q.choices) + 1 for q in ruleset.questions)
    report = monotonicity(ruleset, budget=space)
    assert report.exhaustive
    assert report.count == 0, report.kinds


def test_the_recommendation_follows_the_new_question_up_the_options(ruleset):
    """Each step up the new question's choices keeps Nomad or moves to a heavier option, never a lighter one."""
    ids = [o.id for o in ruleset.options]
    base = {q: a for q, a in NOMAD_SCENARIO["answers"].items() if q != COMPLIANCE["id"]}
    winners = [ruleset.options[evaluate(ruleset, {**base, COMPLIANCE["id"]: c["id"]}).winner].id
               for c in COMPLIANCE["choices"]]
    assert [ids.index(w) for w in winners] == sorted(ids.index(w) for w in winners)
    assert NOMAD["id"] in winners
    assert explain(evaluate(ruleset, NOMAD_SCENARIO["answers"])).recommendation.id == NOMAD["id"]
