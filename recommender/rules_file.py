"""Rules named as a file or as `REV:PATH` in git, the one way every command loads them (reading git is not web work)."""

from __future__ import annotations

import os
import subprocess

from .errors import DockwiseError
from .loader import load_rules, load_rules_text
from .ruleset import RuleSet


class RulesSourceError(DockwiseError):
    """A rules file could not be read at all (here: `git show` failed)."""


def display_path(path: str) -> str:
    """The path relative to the working directory when it lies below it, as people typed it."""
    relative = os.path.relpath(path)
    return relative if not relative.startswith("..") else path


def is_git_spec(spec: str) -> bool:
    """`REV:PATH` names a file in git when it is not an existing file and contains ':'."""
    return ":" in spec and not os.path.exists(spec)


def spec_name(spec: str) -> str:
    """How messages name the rules: `REV:PATH` as given, a file by its display path."""
    return spec if is_git_spec(spec) else display_path(spec)


def load_rules_spec(spec: str, repo: str | None = None) -> RuleSet:
    """Load a rules file, or `REV:PATH` with `git show` run in `repo` (a directory inside the repository).

    Raise RulesError for an invalid file (issues named after `spec`), RulesSourceError when git fails.
    """
    if not is_git_spec(spec):
        return load_rules(spec, display_path(spec))
    try:
        shown = subprocess.run(["git", "show", spec], cwd=repo or None, capture_output=True, check=False,
                               timeout=60)
    except (OSError, subprocess.SubprocessError) as error:
        raise RulesSourceError(f"{spec}: cannot run git: {error}") from None
    if shown.returncode != 0:
        reason = shown.stderr.decode("utf-8", "replace").strip() or f"git exited with status {shown.returncode}"
        raise RulesSourceError(f"{spec}: cannot read it from git: {reason}")
    return load_rules_text(shown.stdout, spec)
