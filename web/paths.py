"""The site's own paths, built with url_for once per app and script root instead of on every request."""

from __future__ import annotations

from flask import Flask, current_app, request, url_for

ENDPOINTS = {
    "questionnaire": ("web.questionnaire", {}),
    "results": ("web.results", {}),
    "record": ("web.record", {}),
    "rules": ("rules_page.how_it_decides", {}),
    "json": ("api.recommendation_from_query", {}),
    "new_room": ("rooms.new_room", {}),
    "css": ("static", {"filename": "style.css"}),
    "favicon": ("static", {"filename": "favicon.svg"}),
    "copy_js": ("static", {"filename": "copy.js"}),
    "leaning_js": ("static", {"filename": "leaning.js"}),
}


def site_paths() -> dict[str, str]:
    """Paths of the pages and static files for this request's script root (cached per app and root)."""
    cache = current_app.extensions.setdefault("dockwise.paths", {})
    found = cache.get(request.script_root)
    if found is None:
        found = {name: url_for(endpoint, **values) for name, (endpoint, values) in ENDPOINTS.items()}
        if len(cache) < 8:  # a deployment has one script root; never let request headers grow the cache
            cache[request.script_root] = found
    return found


def init_paths(app: Flask) -> None:
    app.context_processor(lambda: {"paths": site_paths()})
