"""What templates may call besides the objects they are given: the core's wording, as filters and globals."""

from __future__ import annotations

from flask import Flask

from recommender.wording import (
    CLOSENESS_WORDS,
    open_outlook,
    points_text,
    sensitivity_phrase,
    signed_points_text,
    unmet_phrase,
)


def init_templating(app: Flask) -> None:
    app.jinja_env.filters.update(sensitivity_phrase=sensitivity_phrase, unmet_phrase=unmet_phrase,
                                 points=points_text, signed=signed_points_text)
    app.jinja_env.globals.update(closeness_words=CLOSENESS_WORDS, open_outlook=open_outlook)
