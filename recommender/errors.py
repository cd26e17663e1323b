"""One error hierarchy for everything that can go wrong with rules and answers."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

MAX_REPORTED_ISSUES = 50  # issues a RulesError keeps (and a log or a page shows); the rest are counted
# Issues collected before checking stops (the rest of the file unchecked): a broken file costs at most this many
# issues' work, by the reader and by the checker alike, and RulesError then says "at least".
MAX_COLLECTED_ISSUES = 10_000


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A 'did you mean' hint naming the closest candidate, or None."""
    close = difflib.get_close_matches(str(word), list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def format_location(path: tuple[str | int, ...]) -> str:
    """Render a path into the file as `rules[3].when.hosts`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


@dataclass(frozen=True)
class RulesIssue:
    """One problem found in a rules file, with where it is and how to fix it."""

    file: str
    line: int
    column: int
    path: tuple[str | int, ...]
    message: str
    hint: str | None = None

    @property
    def location(self) -> str:
        return format_location(self.path)

    def __str__(self) -> str:
        hint = f" ({self.hint})" if self.hint else ""
        return f"{self.file}:{self.line}:{self.column}: {self.location}: {self.message}{hint}"


class DockwiseError(Exception):
    """Base of every error Dockwise raises on purpose."""


class RulesError(DockwiseError):
    """A rules file cannot be used: `issues` holds the first MAX_REPORTED_ISSUES reasons (in the order given),
    `omitted` how many more were found. `complete` is False when checking stopped before the end of the file
    (too many issues to be worth finding them all), so that `omitted` counts only those found."""

    def __init__(self, issues: list[RulesIssue], *, complete: bool = True):
        issues = list(issues)
        self.issues = issues[:MAX_REPORTED_ISSUES]
        self.omitted = len(issues) - len(self.issues)
        self.complete = complete
        lines = [str(issue) for issue in self.issues]
        if self.omitted_line:
            lines.append(self.omitted_line)
        super().__init__("\n".join(lines))

    @property
    def omitted_line(self) -> str | None:
        """The line that ends the message when issues are left out (see the module's `omitted_line`)."""
        return omitted_line(len(self.issues), self.omitted, complete=self.complete)


def omitted_line(shown: int, omitted: int, *, complete: bool = True) -> str | None:
    """The line after the `shown` issues listed: how many more were found, and whether checking stopped early.

    None when nothing was left out and checking finished, else (docs/rules-format.md's examples) "… and 1,454 more
    errors (the first 50 are shown)" or "… and at least 9,950 more errors (the first 50 are shown; checking stopped
    after 10,000: the rest of the file was not checked)".
    """
    listed = f"the first {shown} {'is' if shown == 1 else 'are'} shown"
    if complete:
        return f"… and {omitted:,} more {_errors(omitted)} ({listed})" if omitted else None
    found = shown + omitted
    if not omitted:
        return f"… checking stopped after {found:,} {_errors(found)}: the rest of the file was not checked"
    return (f"… and at least {omitted:,} more {_errors(omitted)} ({listed}; checking stopped after {found:,}: the "
            f"rest of the file was not checked)")


def _errors(count: int) -> str:
    return "error" if count == 1 else "errors"


class RulesSyntaxError(RulesError):
    """The file is not YAML Dockwise accepts (syntax, size, depth, tags, aliases, duplicate keys)."""


class RulesValidationError(RulesError):
    """The YAML is fine but its content breaks the rules model or its cross-references."""


@dataclass(frozen=True)
class AnswerIssue:
    """One bad question=choice pair in a set of answers."""

    question: str
    choice: str | None
    message: str

    def as_dict(self) -> dict[str, str | None]:
        return {"question": self.question, "choice": self.choice, "message": self.message}


class AnswersError(DockwiseError):
    """Answers name unknown questions or choices; `issues` names each bad pair."""

    def __init__(self, issues: list[AnswerIssue]):
        self.issues = list(issues)
        super().__init__("; ".join(issue.message for issue in self.issues))
