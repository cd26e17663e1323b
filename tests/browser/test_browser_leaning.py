"""The questionnaire's live leaning (static/leaning.js) in a real Chromium against the live gunicorn: it follows the
answers in the API's own words, shows only the latest request's answer, keeps the last leaning when a request fails,
passes axe, and without JavaScript leaves the page as it was."""

from __future__ import annotations

import contextlib
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from playwright.sync_api import Error, Page, expect
from test_browser_accessibility import describe, run_axe

from recommender.wording import open_sentence, unmet_phrase

REGION = "#leaning"
API = "**/api/recommendations?*"
NOTHING_ANSWERED = "Answer a question to see which way it leans."
# Records every text the region shows, so a test can prove that nothing else was ever shown in between.
RECORD_TEXTS = """() => {
    const region = document.getElementById("leaning");
    window.leaningTexts = [];
    new MutationObserver(() => window.leaningTexts.push(region.textContent))
        .observe(region, {childList: true, subtree: true, characterData: true});
}"""


def tick(page: Page, answers: dict[str, str]) -> None:
    for question_id, choice_id in answers.items():
        page.locator(f"#q-{question_id} input[value='{choice_id}']").check()


def api_document(page: Page, answers: dict[str, str]) -> dict:
    response = page.request.get("/api/recommendations?" + urlencode(answers))
    assert response.ok, f"the API answered {response.status} for {answers}: {response.text()}"
    return response.json()


def expect_leaning(page: Page, rules, answers: dict[str, str]) -> dict:
    """Wait until the region says what the API says for these answers, in the server's words; return the document."""
    doc = api_document(page, answers)
    region = page.locator(REGION)
    expect(region).to_be_visible()
    expect(region.locator(".leaning-headline")).to_have_text(f"Leaning: {doc['headline']}.")
    questions = doc["open"]["questions"]
    if questions:
        first = rules.questions[rules.question_index[questions[0]]].text
        share = doc["open"]["wins"][doc["recommendation"]]
        expect(region.locator(".leaning-open")).to_have_text(open_sentence("It", share, len(questions), first))
    else:
        expect(region.locator(".leaning-open")).to_have_count(0)
    expect(region.locator("a, button, input")).to_have_count(0)  # nothing to tab to inside the live region
    unmet = [unmet_phrase(need["text"]) for need in doc["unmet_needs"][doc["recommendation"]]]
    if unmet:
        expect(region.locator(".leaning-unmet li")).to_have_text(unmet)
    else:
        expect(region.locator(".leaning-unmet")).to_have_count(0)
    return doc


def unmet_answers(live_server) -> dict[str, str]:
    return {k: v for k, v in parse_qsl(urlsplit(live_server.unmet_results_path).query) if k != "rules"}


def test_the_leaning_follows_the_answers(page: Page, shipped_rules):
    errors: list[Error] = []
    page.on("pageerror", lambda error: errors.append(error))
    page.goto("/")
    region = page.locator(REGION)
    expect(region).to_have_attribute("role", "status")
    expect(region).to_have_attribute("aria-live", "polite")
    expect(region).to_be_empty()  # nothing answered: nothing said
    expect(region).to_be_hidden()

    tick(page, {"hosts": "many"})
    first = expect_leaning(page, shipped_rules, {"hosts": "many"})
    expect(page.locator("#q-hosts input[value='many']")).to_be_focused()  # announced, not focused

    tick(page, {"hosts": "one"})
    changed = expect_leaning(page, shipped_rules, {"hosts": "one"})
    assert changed["headline"] != first["headline"], "pick answers whose leanings differ"

    # Several quick changes: the leaning settles on the last answers.
    answers = {"hosts": "few", "services": "many", "availability": "minutes", "team_size": "small"}
    tick(page, answers)
    expect_leaning(page, shipped_rules, answers)

    # Back to "Not sure" everywhere: the leaning is gone, and the region says why.
    tick(page, dict.fromkeys(answers, ""))
    expect(region).to_have_text(NOTHING_ANSWERED)
    assert not errors, f"the page threw: {errors}"


def test_a_prefilled_questionnaire_leans_at_once_and_names_unmet_needs(page: Page, live_server, shipped_rules):
    answers = unmet_answers(live_server)
    page.goto("/?" + urlencode(answers))
    doc = expect_leaning(page, shipped_rules, answers)
    assert doc["unmet_needs"][doc["recommendation"]], "these answers should leave a need unmet"
    expect(page.locator(f"{REGION} .leaning-unmet li").first).to_contain_text("Leaves unmet — ")


def test_only_the_latest_answer_is_shown_and_failures_keep_the_last(page: Page, shipped_rules):
    errors: list[Error] = []
    page.on("pageerror", lambda error: errors.append(error))
    page.goto("/")
    page.evaluate(RECORD_TEXTS)
    region = page.locator(REGION)
    shown = []

    # The first request is held back until a newer one has been answered; then it answers, with another leaning.
    held = []
    page.route(API, lambda route: route.continue_() if held else held.append(route))
    with page.expect_request(API):
        tick(page, {"hosts": "many"})
    tick(page, {"hosts": "one"})
    expect_leaning(page, shipped_rules, {"hosts": "one"})
    shown.append(region.text_content())
    stale = {**api_document(page, {"hosts": "many"}), "headline": "A stale answer"}
    with contextlib.suppress(Error):  # the page may already have cancelled it: as good
        held[0].fulfill(json=stale)
    tick(page, {"services": "many"})
    expect_leaning(page, shipped_rules, {"hosts": "one", "services": "many"})
    shown.append(region.text_content())

    # A server error, then a network failure: the last leaning stays.
    page.unroute(API)
    page.route(API, lambda route: route.fulfill(status=500, json={"errors": [{"message": "boom"}]}))
    with page.expect_response(API) as failed:
        tick(page, {"hosts": "many"})
    assert failed.value.status == 500
    page.unroute(API)
    page.route(API, lambda route: route.abort())
    with page.expect_event("requestfailed"):
        tick(page, {"team_size": "large"})
    page.unroute(API)
    expect(region).to_have_text(shown[-1])

    # And the next good answer is shown again.
    final = {"hosts": "many", "services": "many", "team_size": "small"}
    tick(page, {"team_size": "small"})
    expect_leaning(page, shipped_rules, final)
    shown.append(region.text_content())

    assert page.evaluate("window.leaningTexts") == shown, "a stale or failed answer reached the region"
    assert not errors, f"the page threw: {errors}"


def test_without_javascript_the_region_stays_hidden_and_the_form_works(new_context, live_server, shipped_rules):
    page = new_context(java_script_enabled=False).new_page()
    page.goto("/")
    region = page.locator(REGION)
    expect(region).to_have_count(1)
    expect(region).to_be_hidden()
    tick(page, live_server.answers)
    expect(region).to_be_hidden()
    expect(region).to_be_empty()
    page.get_by_role("button", name="Recommend").click()
    page.wait_for_url("**/results?**")
    expect(page.locator("#answer-title")).to_have_text(api_document(page, live_server.answers)["label"])


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_violations_with_the_leaning_shown(new_context, live_server, shipped_rules, axe_script, scheme):
    # bypass_csp: run_axe inlines axe, which the site's CSP rightly blocks.
    page = new_context(bypass_csp=True, color_scheme=scheme).new_page()
    page.goto("/")
    answers = unmet_answers(live_server)  # the fullest leaning: headline, open questions and an unmet need
    tick(page, answers)
    expect_leaning(page, shipped_rules, answers)
    violations = run_axe(page, axe_script, scheme)
    assert not violations, f"axe found {len(violations)} violation(s) with the leaning shown ({scheme}):\n" + describe(
        violations)
