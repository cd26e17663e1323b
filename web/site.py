"""The site's own words (name, questionnaire heading, meta description) from the rules, for every template."""

from __future__ import annotations

from flask import Flask, current_app

from recommender.model import Site

DEFAULT_SITE = Site()


def current_site() -> Site:
    """The `site` block of the rules being served, or the defaults when no valid rules were ever loaded.

    Reads the rules the holder serves now without checking the file again: the view of this request already did,
    so the page's title and its content come from the same version. An error page rendered because the rules are
    broken still gets a title.
    """
    holder = current_app.extensions.get("dockwise")
    rules = holder.rules if holder is not None else None
    return rules.model.site if rules is not None else DEFAULT_SITE


def init_site(app: Flask) -> None:
    """Make `site` (title, heading, description) available to every template."""
    app.context_processor(lambda: {"site": current_site()})
