"""`flask rules check|test|schema|explore|diff`, `flask recommend`, `flask db upgrade` and `flask rooms purge`:
thin click commands over `recommender` and web/rooms_service.py.

Every command that reads rules takes a file or `REV:PATH` (read with `git show`), loaded by `_load_or_exit`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from recommender import AnswersError, RulesError, RuleSet, evaluate, explain
from recommender.model import json_schema
from recommender.rules_file import RulesSourceError, is_git_spec, load_rules_spec, spec_name
from recommender.scenarios import run_scenarios
from recommender.space import (
    DEFAULT_BUDGET,
    DEFAULT_SAMPLE,
    DEFAULT_SEED,
    SpaceTooLargeError,
    diff,
    diff_text,
    explore,
    explore_text,
    monotonicity,
    monotonicity_text,
)
from recommender.text import check_summary, recommendation_text, scenario_lines

from .rooms_service import RoomsUnavailableError, current_rooms, purge_rooms, upgrade_database

rules_cli = AppGroup("rules", help="Check, test and describe the rules file.")


def _repo_of(path: str) -> str:
    """The directory `git show` runs in: that of the given rules file if it exists, else the app's rules file."""
    for candidate in (path, current_app.config["RULES_PATH"]):
        if candidate and not is_git_spec(candidate):
            return os.path.dirname(os.path.abspath(candidate))
    return os.getcwd()


def _load_or_exit(spec: str | None, beside: str | None = None) -> RuleSet:
    """Load a rules file or `REV:PATH` (default: the app's rules); on errors print PATH:LINE:COL lines, exit 1.

    Warnings go to stderr. `git show` runs in the repository of `beside` (a rules file), else of `spec`.
    """
    spec = spec or current_app.config["RULES_PATH"]
    try:
        ruleset = load_rules_spec(spec, _repo_of(beside or spec))
    except RulesError as error:
        for issue in error.issues:
            click.echo(str(issue), err=True)
        if error.omitted_line:  # past the first 50: how many more, or that checking stopped
            click.echo(error.omitted_line, err=True)
        found = len(error.issues) + error.omitted
        click.echo(f"{'at least ' if not error.complete else ''}{found:,} error(s) in {spec_name(spec)}", err=True)
        sys.exit(1)
    except RulesSourceError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    for warning in ruleset.warnings:
        click.echo(warning, err=True)
    return ruleset


def _analysed(run):
    """Run a whole-space analysis; rules too large for it exit with status 1 and the reason, not a traceback."""
    try:
        return run()
    except SpaceTooLargeError as error:
        raise click.ClickException(f"cannot analyse the answer space: {error}") from None


def _space_options(command):
    command = _sampling_options(command)
    return click.option("--json", "as_json", is_flag=True, help="Print the report as JSON, and nothing else.")(command)


def _sampling_options(command):
    command = click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True,
                           help="Random seed of the sample.")(command)
    command = click.option("--sample", type=click.IntRange(min=1), default=DEFAULT_SAMPLE, show_default=True,
                           help="Combinations drawn when the space is larger than the budget.")(command)
    return click.option("--budget", type=click.IntRange(min=1), default=DEFAULT_BUDGET, show_default=True,
                        help="Evaluate every combination when there are at most this many; sample otherwise.")(command)


@rules_cli.command("check")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@_sampling_options
def check_command(path: str | None, budget: int, sample: int, seed: int) -> None:
    """Validate the rules file (errors as PATH:LINE:COL), then prove no more demanding answer gives a lighter result.

    A space larger than --budget is sampled; raise the budget to prove it over every combination.
    """
    ruleset = _load_or_exit(path)
    click.echo(check_summary(ruleset))
    report = _analysed(lambda: monotonicity(ruleset, budget=budget, sample=sample, seed=seed))
    click.echo(monotonicity_text(report))
    if report.count:
        sys.exit(1)


@rules_cli.command("test")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
def test_command(path: str | None) -> None:
    """Run the rules file's golden scenarios."""
    outcomes = run_scenarios(_load_or_exit(path))
    for line in scenario_lines(outcomes):
        click.echo(line)
    if not all(outcome.passed for outcome in outcomes):
        sys.exit(1)


@rules_cli.command("schema")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write to this file.")
def schema_command(output: str | None) -> None:
    """Print (or write) the JSON Schema of rules.yaml."""
    text = json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
    if output:
        try:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as error:
            raise click.ClickException(f"cannot write {output}: {error.strerror}") from None
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


@click.command("recommend")
@with_appcontext
@click.option("--rules", "path", type=click.Path(dir_okay=False), help="Rules file (default: the app's).")
@click.option("--json", "as_json", is_flag=True, help="Print the result document as JSON, and nothing else.")
@click.argument("answers", nargs=-1)
def recommend_command(path: str | None, as_json: bool, answers: tuple[str, ...]) -> None:
    """Recommend an option for answers given as QUESTION=CHOICE."""
    ruleset = _load_or_exit(path)
    given: dict[str, str] = {}
    for pair in answers:
        question, sep, choice = pair.partition("=")
        if not sep or not question or not choice:
            raise click.BadParameter(f"'{pair}' is not QUESTION=CHOICE (e.g. hosts=few)", param_hint="ANSWERS")
        if given.get(question, choice) != choice:
            raise click.BadParameter(f"'{question}' is given twice with different choices", param_hint="ANSWERS")
        given[question] = choice
    try:
        result = evaluate(ruleset, given)
    except AnswersError as error:
        for issue in error.issues:
            click.echo(f"error: {issue.message}", err=True)
        sys.exit(2)
    explanation = explain(result)
    if as_json:
        click.echo(json.dumps(explanation.as_json(), indent=2, ensure_ascii=False))
    else:
        click.echo(recommendation_text(explanation))


def _echo(report, as_json: bool, text) -> None:
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(text(report))


@rules_cli.command("explore")
@click.argument("path", required=False)
@_space_options
def explore_command(path: str | None, as_json: bool, budget: int, sample: int, seed: int) -> None:
    """Evaluate every combination of answers (PATH: a rules file or REV:PATH; default: the app's).

    Prints each option's share of wins, rules that never fire or never matter, rows that never drive a result,
    options that never win, the closest calls and a typical questionnaire per option.
    """
    ruleset = _load_or_exit(path)
    _echo(_analysed(lambda: explore(ruleset, budget=budget, sample=sample, seed=seed)), as_json, explore_text)


@rules_cli.command("diff")
@click.argument("old")
@click.argument("new", required=False)
@_space_options
def diff_command(old: str, new: str | None, as_json: bool, budget: int, sample: int, seed: int) -> None:
    """Compare the recommendations of two rules files over every combination of answers.

    OLD and NEW are rules files or REV:PATH (e.g. `HEAD:rules.yaml`); NEW defaults to the app's rules file.
    """
    new = new or current_app.config["RULES_PATH"]
    old_rules = _load_or_exit(old, beside=new)
    new_rules = _load_or_exit(new)
    _echo(_analysed(lambda: diff(old_rules, new_rules, budget=budget, sample=sample, seed=seed)), as_json, diff_text)


db_cli = AppGroup("db", help="The rooms' database (DOCKWISE_DATABASE_URL).")
rooms_cli = AppGroup("rooms", help="Team rooms.")


@contextmanager
def database_errors_as_one_line() -> Iterator[None]:
    """A database that cannot be reached or is not migrated ends the command with one `Error:` line, no traceback."""
    try:
        yield
    except RoomsUnavailableError as error:
        raise click.ClickException(str(error)) from None
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0][:300]
        raise click.ClickException(f"the rooms database cannot be used: {reason} (check DOCKWISE_DATABASE_URL and "
                                   "the database server)") from None


@db_cli.command("upgrade")
def db_upgrade_command() -> None:
    """Migrate the rooms' database to the latest revision (the SQLite default also migrates itself on first use)."""
    with database_errors_as_one_line():
        click.echo(upgrade_database(current_rooms().settings))


@rooms_cli.command("purge")
def rooms_purge_command() -> None:
    """Delete the rooms that closed more than DOCKWISE_ROOMS_KEEP_DAYS days ago, with their members' answers."""
    rooms = current_rooms()
    with database_errors_as_one_line():
        purged = purge_rooms(rooms)
    click.echo(f"purged {purged} room{'' if purged == 1 else 's'} closed more than {rooms.settings.keep_days} "
               f"day{'' if rooms.settings.keep_days == 1 else 's'} ago")
