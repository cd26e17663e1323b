"""Request helpers every web module shares: the current rules and the answers of the request's link."""

from __future__ import annotations

from flask import current_app, request

from recommender import RuleSet
from recommender.links import MAX_QUERY_BYTES, LinkAnswers, answers_from_pairs

from .paths import site_paths


def current_rules() -> RuleSet:
    """The rules this worker serves now (a request never reads the file: the rules holder's watcher does)."""
    return current_app.extensions["dockwise"].get()


class InvalidLinkError(Exception):
    """A results link with bad parameters: answered with the questionnaire, prefilled with the valid ones."""

    def __init__(self, ruleset: RuleSet, link: LinkAnswers, messages: list[str]):
        self.ruleset, self.link, self.messages = ruleset, link, messages


def read_link() -> tuple[RuleSet, LinkAnswers]:
    """The rules and the answers of the current request's query string; raise InvalidLinkError when it is bad."""
    ruleset = current_rules()
    link = answers_from_pairs(ruleset, request.args.items(multi=True))
    if len(request.query_string) > MAX_QUERY_BYTES:
        raise InvalidLinkError(ruleset, LinkAnswers(link.answers, None, link.issues),
                               [f"The link is longer than {MAX_QUERY_BYTES} bytes; a Dockwise link is much shorter.",
                                *(issue.message for issue in link.issues)])
    if link.issues:
        raise InvalidLinkError(ruleset, link, [issue.message for issue in link.issues])
    return ruleset, link


def results_path(query: str) -> str:
    """The results page of a canonical query, as a path under this request's script root."""
    return f"{site_paths()['results']}?{query}"


def share_url(query: str) -> str:
    """The absolute share link of a canonical query: the one place it is built (page, record and API). With
    DOCKWISE_PUBLIC_URL set, the request's scheme, host and script root are the public URL's (security.PublicOrigin)."""
    return f"{request.scheme}://{request.host}{results_path(query)}"
