"""The questionnaire → results → share link → what-if → change answers flow, with and without JavaScript, and by
keyboard alone, in a real Chromium against a live gunicorn."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from playwright.sync_api import Page, expect

from recommender import evaluate, explain


def choice_label(rules, question_id: str, choice_id: str) -> str:
    question = rules.questions[rules.question_index[question_id]]
    return next(choice.label for choice in question.choices if choice.id == choice_id)


def expected_label(rules, answers: dict[str, str]) -> str:
    document = explain(evaluate(rules, answers)).as_json()
    return next(option.label for option in rules.options if option.id == document["recommendation"])


def query_answers(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def answer_by_clicking_labels(page: Page, rules, answers: dict[str, str]) -> None:
    """Click each choice's label row at its far right end, away from the radio: the whole row must be clickable."""
    for question_id, choice_id in answers.items():
        text = choice_label(rules, question_id, choice_id)
        row = page.locator(f"#q-{question_id} label.choice").filter(has=page.get_by_text(text, exact=True))
        expect(row).to_have_count(1)
        box = row.bounding_box()
        assert box is not None, f"the label row for {question_id}={choice_id} is not rendered"
        row.click(position={"x": box["width"] - 6, "y": box["height"] / 2})
        expect(page.locator(f"#q-{question_id} input[value='{choice_id}']")).to_be_checked()


def read_result(page: Page) -> dict:
    """The recommendation heading and every score bar, as a person reads them."""
    rows = page.locator(".bars .bar-row")
    return {
        "recommendation": page.locator("#answer-title").inner_text().strip(),
        "scores": [
            (rows.nth(i).locator(".bar-label").inner_text().strip(), rows.nth(i).locator(".bar-value").inner_text())
            for i in range(rows.count())
        ],
    }


def assert_prefilled(page: Page, rules, answers: dict[str, str]) -> None:
    for question in rules.questions:
        value = answers.get(question.id, "")
        expect(page.locator(f"#q-{question.id} input[value='{value}']"),
               f"{question.id} should be prefilled with {value or 'Not sure'}").to_be_checked()


def main_flow(new_context, live_server, rules, *, javascript: bool) -> None:
    base = live_server.url
    answers = live_server.answers
    label = expected_label(rules, answers)
    context = new_context(java_script_enabled=javascript)
    if javascript:
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page = context.new_page()

    # The questionnaire: answer by clicking labels, then submit.
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Docker, Compose/Swarm or Kubernetes?")
    answer_by_clicking_labels(page, rules, answers)
    page.get_by_role("button", name="Recommend").click()
    page.wait_for_url("**/results?**")
    assert query_answers(page.url) == {**answers, "rules": live_server.fingerprint}
    expect(page.locator("#answer-title")).to_have_text(label)
    expect(page.get_by_role("heading", level=1)).to_have_text(label)
    expect(page.locator(".notice[role=status]")).to_have_count(0)  # a fresh link is not stale
    result = read_result(page)
    assert len(result["scores"]) == len(rules.options)

    # The share link.
    share_field = page.locator("#share-link")
    expect(share_field).to_be_visible()
    expect(page.get_by_label("Share link")).to_be_editable(editable=False)
    copy_button = page.locator("button.copy")
    expected_share = base + live_server.results_path(answers)
    expect(share_field).to_have_value(expected_share)
    if javascript:
        expect(copy_button).to_be_visible()
        page.get_by_role("button", name="Copy link").click()
        expect(page.locator(".copy-status")).to_have_text("Link copied.")
        share = page.evaluate("navigator.clipboard.readText()")
        assert share == expected_share
    else:
        # Without JavaScript the link is plain selectable text and the Copy button stays hidden.
        expect(copy_button).to_be_hidden()
        share_field.select_text()
        selected = share_field.evaluate("field => field.value.slice(field.selectionStart, field.selectionEnd)")
        assert selected == expected_share
        share = selected
    expect(page.locator(".print-url")).to_be_hidden()  # print-only

    # The link in a fresh context (no cookies, no history) shows the same recommendation and scores.
    other = new_context(java_script_enabled=javascript).new_page()
    other.goto(share)
    expect(other.locator("#answer-title")).to_have_text(label)
    assert read_result(other) == result
    expect(other.locator(".notice[role=status]")).to_have_count(0)

    # A what-if link leads to the recommendation it promises.
    what_if = other.locator("ul.changes > li").first
    expect(what_if).to_be_visible()
    promised = what_if.inner_text().rsplit("→", 1)[1].strip()
    link = what_if.get_by_role("link").first
    changed_answers = query_answers(link.get_attribute("href"))
    assert promised == expected_label(rules, {k: v for k, v in changed_answers.items() if k != "rules"})
    link.click()
    other.wait_for_url("**/results?**")
    expect(other.locator("#answer-title")).to_have_text(promised)
    assert promised != label

    # "Change answers" reopens the questionnaire with the earlier answers chosen.
    page.get_by_role("link", name="Change answers").first.click()
    page.wait_for_url("**/?**")
    expect(page.get_by_role("button", name="Recommend")).to_be_visible()
    assert_prefilled(page, rules, answers)


def test_main_flow_with_javascript(new_context, live_server, shipped_rules):
    main_flow(new_context, live_server, shipped_rules, javascript=True)


def test_main_flow_without_javascript(new_context, live_server, shipped_rules):
    main_flow(new_context, live_server, shipped_rules, javascript=False)


def active_element(page: Page) -> dict:
    return page.evaluate("""() => {
        const el = document.activeElement;
        return {tag: el.tagName.toLowerCase(), type: el.type || null, name: el.name || null, value: el.value ?? null,
                checked: !!el.checked, cls: el.className || '', inMain: !!el.closest('main'),
                outline: getComputedStyle(el).outlineStyle, text: (el.innerText || '').trim()};
    }""")


def test_skip_link_is_first_and_moves_focus_to_main(page: Page):
    page.goto("/")
    page.keyboard.press("Tab")
    focused = active_element(page)
    assert (focused["tag"], focused["cls"], focused["text"]) == ("a", "skip", "Skip to main content")
    skip = page.locator("a.skip")
    box = skip.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["y"] >= 0, "the focused skip link must be on screen"
    page.keyboard.press("Enter")
    assert urlsplit(page.url).fragment == "main"
    page.keyboard.press("Tab")
    focused = active_element(page)
    assert focused["inMain"], f"Tab after the skip link should land inside <main>, not on {focused}"
    assert (focused["type"], focused["name"]) == ("radio", "services")


KEYBOARD_ANSWERS = {"services": "many", "hosts": "few", "availability": "minutes"}


def test_keyboard_only_flow(page: Page, live_server, shipped_rules):
    rules, answers = shipped_rules, KEYBOARD_ANSWERS
    page.goto("/")
    # Tab through the header to the first radio group.
    for _ in range(10):
        page.keyboard.press("Tab")
        if active_element(page)["type"] == "radio":
            break
    focused = active_element(page)
    assert (focused["type"], focused["name"], focused["value"]) == ("radio", rules.questions[0].id, "")
    assert focused["outline"] != "none", "the focused radio has no visible focus indicator"

    for question in rules.questions:
        focused = active_element(page)
        assert (focused["type"], focused["name"]) == ("radio", question.id), f"focus lost at {question.id}: {focused}"
        if question.id in answers:
            steps = [c.id for c in question.choices].index(answers[question.id]) + 1
            for _ in range(steps):
                page.keyboard.press("ArrowDown")
            page.keyboard.press("Space")  # on the already chosen radio: keeps the choice
            focused = active_element(page)
            assert (focused["value"], focused["checked"]) == (answers[question.id], True)
        page.keyboard.press("Tab")

    focused = active_element(page)
    assert (focused["tag"], focused["text"]) == ("button", "Recommend"), f"Tab should reach Recommend, not {focused}"
    assert focused["outline"] != "none", "the focused submit button has no visible focus indicator"
    page.keyboard.press("Enter")
    page.wait_for_url("**/results?**")
    assert query_answers(page.url) == {**answers, "rules": live_server.fingerprint}
    expect(page.locator("#answer-title")).to_have_text(expected_label(rules, answers))


def test_a_link_without_answers_asks_for_them_and_works_without_javascript(new_context, live_server, shipped_rules):
    page = new_context(java_script_enabled=False).new_page()
    response = page.goto(live_server.no_answers_path)
    assert response is not None
    assert response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("Answer a few questions first")
    expect(page.get_by_role("status")).to_contain_text("nothing to recommend")
    expect(page.locator("#answer-title")).to_have_count(0)
    answers = {"hosts": shipped_rules.questions[shipped_rules.question_index["hosts"]].choices[0].id}
    answer_by_clicking_labels(page, shipped_rules, answers)
    page.get_by_role("button", name="Recommend").click()
    page.wait_for_url("**/results?**")
    expect(page.locator("#answer-title")).to_have_text(expected_label(shipped_rules, answers))
