"""The rules file the tests call "shipped", and the answer sets the web tests walk through it.

RULES_PATH is rules.yaml beside app.py, or the file the DOCKWISE_TEST_RULES variable names. Every test outside
tests/test_shipped_rules.py must pass with any valid rules file: to check that, point the variable at an edited copy,
e.g. `DOCKWISE_TEST_RULES=/tmp/edited/rules.yaml .venv/bin/python -m pytest tests --ignore=tests/browser`; only
tests/test_shipped_rules.py (which pins what rules.yaml says today) should then fail. Only the tests read the variable
(here, once, at import: tests/conftest.py's fixtures and the modules that need the path at import time take it from
here; conftest.py itself cannot be imported by test modules, as tests/browser/conftest.py shares its module name).
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RULES_PATH = Path(os.environ.get("DOCKWISE_TEST_RULES") or ROOT / "rules.yaml").resolve()

# Answer sets the web tests (tests/test_web.py) show, post, share and download. Under the shipped rules they reach
# every option, every closeness, both kinds of "what would change it", rows pulling the other way and unmet needs
# (tests/test_shipped_rules.py keeps them honest); the web tests derive every expectation from the rules and the core,
# so they hold under any rules file that has these questions and choices.
SCENARIOS = {
    "nothing answered": {},
    "docker, open questions could change it": {"services": "one"},
    "docker, close call": {"networking": "ports"},
    "compose, both directions, docker leaves a need unmet": {"hosts": "one", "availability": "none"},
    "compose leaves a need unmet, rows against": {"services": "few", "hosts": "one", "traffic": "spiky"},
    "compose, close call with rows against": {"availability": "minutes", "networking": "ports"},
    "compose, close call, no row against": {"tenants": "several"},
    "kubernetes, close call": {"services": "few", "hosts": "many"},
    "kubernetes, clear, nothing would change it, lighter options leave needs unmet": {
        "hosts": "many", "traffic": "spiky", "availability": "minutes", "networking": "advanced"},
    "fully answered": {"services": "many", "hosts": "few", "traffic": "growing", "availability": "minutes",
                       "networking": "internal", "storage": "volumes", "deployment": "file", "resources": "limits",
                       "team_size": "medium", "expertise": "docker", "tenants": "several", "managed": "unavailable"},
}
