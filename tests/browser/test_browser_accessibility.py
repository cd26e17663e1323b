"""axe-core on every kind of page, in light and in dark colour schemes (contrast fails most in dark mode).

/rules is checked once its answer-space analysis is on the page, and in the states a live server passes through too
quickly to catch (rendered in-process, served in place of the live /rules so the live stylesheet applies).
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect
from test_browser_html_validity import ANALYSIS_SECONDS, rules_page_states

# name → (path for the live server, expected HTTP status)
PAGES = {
    "questionnaire": (lambda server: "/", 200),
    "results": (lambda server: server.results_path(), 200),
    "stale-results": (lambda server: server.stale_results_path, 200),
    "results-unmet-needs": (lambda server: server.unmet_results_path, 200),
    "no-answers": (lambda server: server.no_answers_path, 200),
    "invalid-link": (lambda server: server.invalid_link_path, 400),
    "rules": (lambda server: "/rules", 200),
    "not-found": (lambda server: "/nope", 404),
}

RUN_AXE = """async () => {
    const results = await axe.run(document, {resultTypes: ["violations"]});
    return results.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
        nodes: v.nodes.map((n) => ({target: n.target.join(" "), summary: n.failureSummary})),
    }));
}"""


def describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']} <{v['helpUrl']}>")
        for node in v["nodes"]:
            summary = " ".join(node["summary"].split()) if node["summary"] else ""
            lines.append(f"    {node['target']}: {summary}")
    return "\n".join(lines)


def goto_analysed(page: Page, path: str):
    """Open `path` (/rules) again until its answer-space analysis is shown: each gunicorn worker computes it in the
    background after its first /rules request, and says so on the page until then."""
    deadline = time.monotonic() + ANALYSIS_SECONDS
    while True:
        response = page.goto(path)
        notice = page.locator("#analysis-status")
        if not notice.count() or "being computed" not in notice.inner_text():
            break
        assert time.monotonic() < deadline, f"{path} still computing its analysis after {ANALYSIS_SECONDS} s"
        page.wait_for_timeout(250)
    expect(page.locator("#analysis-status")).to_have_count(0)
    expect(page.get_by_role("region", name="Share of questionnaires each option wins")).to_be_visible()
    return response


def run_axe(page: Page, axe_script, scheme: str) -> list[dict]:
    dark = page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    assert dark == (scheme == "dark"), "the colour scheme was not applied"
    page.add_script_tag(path=axe_script)
    return page.evaluate(RUN_AXE)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("name", list(PAGES))
def test_axe_finds_no_violations(new_context, live_server, axe_script, name, scheme):
    path_of, status = PAGES[name]
    # bypass_csp: add_script_tag inlines axe, which the site's CSP (script-src 'self') rightly blocks.
    page = new_context(bypass_csp=True, color_scheme=scheme).new_page()
    response = goto_analysed(page, path_of(live_server)) if name == "rules" else page.goto(path_of(live_server))
    assert response is not None
    assert response.status == status
    if name == "stale-results":
        expect(page.get_by_text("The rules have changed since this link was made.")).to_be_visible()
    if name == "results-unmet-needs":
        expect(page.locator("#answer .unmet li").first).to_contain_text("Leaves unmet — ")
        expect(page.locator("#answer .open-outlook")).to_contain_text(" of the ways your ")
    if name == "no-answers":
        expect(page.get_by_role("heading", level=1)).to_have_text("Answer a few questions first")
    if name == "invalid-link":
        expect(page.get_by_role("alert")).to_contain_text("'services' has no choice 'heaps'")
    violations = run_axe(page, axe_script, scheme)
    assert not violations, f"axe found {len(violations)} violation(s) on {name} ({scheme}):\n{describe(violations)}"


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("state", ["rules-computing", "rules-reloaded-computing", "rules-changed", "rules-failed"])
def test_axe_on_the_rules_page_in_each_state(new_context, axe_script, state, scheme):
    page = new_context(bypass_csp=True, color_scheme=scheme).new_page()
    body = rules_page_states()[state]
    page.route("**/rules", lambda route: route.fulfill(status=200, content_type="text/html; charset=utf-8", body=body))
    response = page.goto("/rules")
    assert response is not None
    assert response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("How Dockwise decides")
    if state == "rules-changed":
        expect(page.locator("#change-matrix")).to_be_visible()
    else:
        expect(page.get_by_role("status").first).to_be_visible()
    violations = run_axe(page, axe_script, scheme)
    assert not violations, f"axe found {len(violations)} violation(s) on {state} ({scheme}):\n{describe(violations)}"


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_on_rejected_answers(new_context, axe_script, scheme):
    """The questionnaire sent back with a field error (a POST with an answer that is not a choice)."""
    page = new_context(bypass_csp=True, color_scheme=scheme).new_page()
    page.goto("/")
    radio = page.locator("#q-services input[type=radio]").last
    radio.evaluate("input => { input.value = 'heaps'; }")  # tamper, as a stale or forged form would
    radio.check()
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Recommend").click()
    assert navigation.value is not None
    assert navigation.value.status == 400
    expect(page.locator("#q-services .field-error")).to_be_visible()
    violations = run_axe(page, axe_script, scheme)
    assert not violations, f"axe found {len(violations)} violation(s) on rejected answers ({scheme}):\n" + describe(
        violations)
