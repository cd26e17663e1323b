"""`flask rules explore` and `flask rules diff`: thin click commands over `recommender.explore`.

Both read a rules file, or `REV:PATH` from git (`git show REV:PATH`) when the argument is not an existing file
and contains ':', so that `flask rules diff HEAD:rules.yaml rules.yaml` compares the working copy with the
last commit. Errors in a rules file are printed as PATH:LINE:COL lines and exit with status 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from recommender import RulesError, RuleSet, load_rules, load_rules_text
from recommender.explore import DEFAULT_BUDGET, DEFAULT_SAMPLE, DEFAULT_SEED, diff, diff_text, explore, explore_text


class RulesSourceError(Exception):
    """A rules file could not be read at all (here: `git show` failed)."""


def display_path(path: str) -> str:
    """The path relative to the working directory when it lies below it, as people typed it."""
    relative = os.path.relpath(path)
    return relative if not relative.startswith("..") else path


def is_git_spec(spec: str) -> bool:
    """`REV:PATH` names a file in git when it is not an existing file and contains ':'."""
    return ":" in spec and not os.path.exists(spec)


def read_rules(spec: str, repo: str | None = None) -> RuleSet:
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


def _repo_of(path: str) -> str:
    """The directory `git show` runs in: that of the given rules file if it exists, else the app's rules file."""
    for candidate in (path, current_app.config["RULES_PATH"]):
        if candidate and not is_git_spec(candidate):
            return os.path.dirname(os.path.abspath(candidate))
    return os.getcwd()


def _load_or_exit(spec: str, repo: str) -> RuleSet:
    try:
        ruleset = read_rules(spec, repo)
    except RulesError as error:
        for issue in error.issues:
            click.echo(str(issue), err=True)
        click.echo(f"{len(error.issues)} error(s) in {spec if is_git_spec(spec) else display_path(spec)}", err=True)
        sys.exit(1)
    except RulesSourceError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    for warning in ruleset.warnings:
        click.echo(warning, err=True)
    return ruleset


def _space_options(command):
    command = click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True,
                           help="Random seed of the sample.")(command)
    command = click.option("--sample", type=click.IntRange(min=1), default=DEFAULT_SAMPLE, show_default=True,
                           help="Combinations drawn when the space is larger than the budget.")(command)
    command = click.option("--budget", type=click.IntRange(min=1), default=DEFAULT_BUDGET, show_default=True,
                           help="Evaluate every combination when there are at most this many; sample otherwise.")(
        command)
    return click.option("--json", "as_json", is_flag=True, help="Print the report as JSON, and nothing else.")(command)


def _echo(report, as_json: bool, text) -> None:
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(text(report))


@click.command("explore")
@with_appcontext
@click.argument("path", required=False)
@_space_options
def explore_command(path: str | None, as_json: bool, budget: int, sample: int, seed: int) -> None:
    """Evaluate every combination of answers (PATH: a rules file or REV:PATH; default: the app's).

    Prints each option's share of wins, rules that never fire or never matter, rows that never drive a result,
    options that never win, the closest calls and a typical questionnaire per option.
    """
    spec = path or current_app.config["RULES_PATH"]
    ruleset = _load_or_exit(spec, _repo_of(spec))
    _echo(explore(ruleset, budget=budget, sample=sample, seed=seed), as_json, explore_text)


@click.command("diff")
@with_appcontext
@click.argument("old")
@click.argument("new", required=False)
@_space_options
def diff_command(old: str, new: str | None, as_json: bool, budget: int, sample: int, seed: int) -> None:
    """Compare the recommendations of two rules files over every combination of answers.

    OLD and NEW are rules files or REV:PATH (e.g. `HEAD:rules.yaml`); NEW defaults to the app's rules file.
    """
    new = new or current_app.config["RULES_PATH"]
    repo = _repo_of(new)
    old_rules = _load_or_exit(old, repo)
    new_rules = _load_or_exit(new, repo)
    _echo(diff(old_rules, new_rules, budget=budget, sample=sample, seed=seed), as_json, diff_text)
