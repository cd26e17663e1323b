"""Layout in a real browser: a 360 px phone, print media, and the README's screenshot."""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import pytest
from playwright.sync_api import expect
from test_browser_accessibility import goto_analysed

ROOT = Path(__file__).resolve().parents[2]
PHONE = {"width": 360, "height": 780}
SCREENSHOT = ROOT / "docs" / "screenshot-results.png"
SCREENSHOT_SIZE = {"width": 1000, "height": 1400}


@pytest.mark.parametrize("name", ["results", "questionnaire", "rules"])
def test_no_horizontal_page_overflow_on_a_phone(new_context, live_server, name):
    path = {"results": live_server.results_path(), "questionnaire": "/", "rules": "/rules"}[name]
    page = new_context(viewport=PHONE).new_page()
    if name == "rules":
        goto_analysed(page, path)  # with the analysis' tables on it
    else:
        page.goto(path)
    widths = page.evaluate("""() => ({
        page: document.scrollingElement.scrollWidth,
        wide: [...document.querySelectorAll('main *')]
            .filter((el) => !el.closest('.table-scroll') && el.getBoundingClientRect().right > innerWidth + 0.5)
            .slice(0, 5).map((el) => el.tagName.toLowerCase() + (el.className ? '.' + el.className : '')),
    })""")
    assert widths["page"] <= PHONE["width"], (
        f"{name} is {widths['page']} px wide at {PHONE['width']} px; too wide: {widths['wide']}")
    if name == "results":
        # The comparison table may be wider than the phone, but only inside its own scrolling box.
        box = page.locator("section[aria-labelledby=table-title] .table-scroll")
        sizes = box.evaluate(
            "el => ({client: el.clientWidth, scroll: el.scrollWidth, right: el.getBoundingClientRect().right})")
        assert sizes["right"] <= PHONE["width"]
        assert sizes["scroll"] > sizes["client"], "the comparison table should scroll inside its own box"


def test_print_shows_the_share_url_and_hides_controls(new_context, live_server):
    page = new_context().new_page()  # JavaScript on: the Copy button is shown on screen, and must not print
    page.goto(live_server.results_path())
    expect(page.get_by_role("button", name="Copy link")).to_be_visible()
    page.emulate_media(media="print")
    share_url = live_server.url + live_server.results_path()
    print_url = page.locator(".print-url")
    expect(print_url).to_be_visible()
    expect(print_url).to_have_text(f"Share link: {share_url}")
    for selector in ["header.site nav", "a.skip", "button", ".actions", "#share-link", "footer.site a"]:
        elements = page.locator(selector)
        for i in range(elements.count()):
            expect(elements.nth(i), f"{selector} should not print").to_be_hidden()
    expect(page.locator("#answer-title")).to_be_visible()
    # The whole URL is on the page, wrapped rather than cut off.
    box = print_url.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= page.viewport_size["width"]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_results_screenshot(new_context, live_server, tmp_path):
    """Always takes the screenshot; writes docs/screenshot-results.png only when DOCKWISE_SCREENSHOT=1."""
    page = new_context(viewport=SCREENSHOT_SIZE, color_scheme="light", device_scale_factor=1).new_page()
    page.goto(live_server.results_path())
    expect(page.locator("#answer-title")).to_be_visible()
    shot = tmp_path / "screenshot-results.png"
    page.screenshot(path=shot, animations="disabled", caret="hide")
    assert png_size(shot.read_bytes()) == (SCREENSHOT_SIZE["width"], SCREENSHOT_SIZE["height"])
    if os.environ.get("DOCKWISE_SCREENSHOT") == "1":
        shutil.copyfile(shot, SCREENSHOT)
