"""`flask rules …` and `flask recommend`: thin click commands over plain functions in `recommender`."""

from __future__ import annotations

import json
import sys

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from recommender import AnswersError, RulesError, evaluate, load_rules, result_document
from recommender.model import json_schema
from recommender.monotonicity import monotonicity, monotonicity_text
from recommender.report import check_summary, recommendation_text, scenario_lines
from recommender.scenarios import run_scenarios

from .cli_tuning import diff_command, display_path, explore_command

rules_cli = AppGroup("rules", help="Check, test and describe the rules file.")


def _rules_path(path: str | None) -> str:
    return path or current_app.config["RULES_PATH"]


def _load_or_exit(path: str | None):
    path = _rules_path(path)
    try:
        ruleset = load_rules(path, display_path(path))
    except RulesError as error:
        for issue in error.issues:
            click.echo(str(issue), err=True)
        click.echo(f"{len(error.issues)} error(s) in {display_path(path)}", err=True)
        sys.exit(1)
    for warning in ruleset.warnings:
        click.echo(warning, err=True)
    return ruleset


@rules_cli.command("check")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
def check_command(path: str | None) -> None:
    """Validate the rules file (errors as PATH:LINE:COL), then prove no more demanding answer gives a lighter result."""
    ruleset = _load_or_exit(path)
    click.echo(check_summary(ruleset))
    report = monotonicity(ruleset)
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
    document = result_document(result)
    if as_json:
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        click.echo(recommendation_text(document, ruleset))


rules_cli.add_command(explore_command)
rules_cli.add_command(diff_command)
