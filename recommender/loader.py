"""Load a rules file: safe YAML, pydantic validation, cross-reference checks, fingerprint, compilation."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .conditions import MAX_CUBES, ConditionParser, ConditionTooComplexError, CubeCompiler
from .errors import MAX_COLLECTED_ISSUES, RulesIssue, RulesSyntaxError, RulesValidationError, did_you_mean
from .model import ALL_FIELD_NAMES, SECTIONS, Closeness, RulesFile, Site
from .ruleset import RuleSet, compile_ruleset
from .source import Source, parse_source, read_source

REQUIRED_SECTIONS = ("options", "criteria", "questions", "rules")
HEADER_FIELDS = ("version", "site", "closeness")
MAX_RULES = 2000
# Literals of all rules' compiled conditions (`question: [choices]` entries, once per alternative they are part of):
# what evaluation and every what-if read. The shipped rules have 74.
MAX_LITERALS = 50_000


class _Header(BaseModel):
    model_config = ConfigDict(extra="ignore")
    version: int = Field()
    site: Site = Field(default_factory=Site)
    closeness: Closeness


def load_rules(path: str | Path, display_name: str | None = None) -> RuleSet:
    """Read, validate and compile a rules file; raise a RulesError listing every problem at once."""
    return validate_source(read_source(path, display_name))


def load_rules_text(text: str | bytes, name: str = "rules.yaml") -> RuleSet:
    """Like load_rules, for text already in memory (tests, `git show` output)."""
    return validate_source(parse_source(text, name))


def fingerprint(model: RulesFile) -> str:
    """A short stable hash of everything that can change a result or its explanation (not scenarios, nor the
    site's own words: a new title must not tell every share link that its rules changed)."""
    data = model.model_dump(mode="json", exclude={"scenarios", "site"})
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:8]


def validate_source(source: Source) -> RuleSet:
    """Turn parsed values into a RuleSet, or raise with every syntax and validation issue found."""
    checker = _Checker(source)
    ruleset = checker.run()
    # A refused tag, date or unquoted boolean also fails validation at the same place: report it once.
    said = {issue.path for issue in source.issues if issue.path}  # a set: looked up once per prefix, not scanned
    fresh = [issue for issue in checker.issues
             if not any(issue.path[:end] in said for end in range(1, len(issue.path) + 1))]
    issues = sorted(source.issues + fresh, key=lambda issue: (issue.line, issue.column))
    if source.issues:
        raise RulesSyntaxError(issues, complete=checker.complete)
    if issues:
        raise RulesValidationError(issues, complete=checker.complete)
    assert ruleset is not None
    return ruleset


def _raw_at(values: object, path: tuple) -> object:
    for part in path:
        try:
            values = values[part]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return None
    return values


def _pydantic_issues(source: Source, prefix: tuple, errors: list) -> list[RulesIssue]:
    return [issue for issue in (_pydantic_issue(source, prefix, e) for e in errors) if issue is not None]


def _pydantic_issue(source: Source, prefix: tuple, error: dict) -> RulesIssue | None:
    loc = tuple(part for part in error["loc"] if not (isinstance(part, str) and "[" in part))
    path = prefix + loc
    kind = error["type"]
    value = error.get("input")
    hint = None
    if kind == "missing":
        return source.issue(path, f"missing field '{loc[-1]}'", "add it")
    if kind == "extra_forbidden":
        name = str(loc[-1])
        return source.issue(path, f"unknown field '{name}'",
                            did_you_mean(name, ALL_FIELD_NAMES) or "remove it", key=True)
    message = error["msg"]
    if kind == "too_short":
        raw = _raw_at(source.values, path)
        wanted = error.get("ctx", {}).get("min_length", 1)
        if isinstance(raw, list) and len(raw) >= wanted:
            return None  # long enough as written: the failing entries have their own issues
        return source.issue(path, f"needs at least {wanted} entries, has {len(raw) if isinstance(raw, list) else 0}",
                            "add the missing entries")
    if kind == "string_type" and isinstance(value, (bool, int, float)):
        hint = f"quote it: '{str(value).lower() if isinstance(value, bool) else value}'"
    elif kind == "string_pattern_mismatch":
        message = f"'{value}' is not a valid id"
        hint = "use lowercase letters, digits, '-' and '_', starting with a letter"
    elif kind == "literal_error" and loc == ("version",):
        hint = "this Dockwise reads version 1"
    return source.issue(path, message[0].lower() + message[1:], hint)


class _Checker:
    """Collects every issue in one pass: structure first, then cross-references between sections."""

    def __init__(self, source: Source):
        self.source = source
        self.issues: list[RulesIssue] = []
        self.complete = True  # False when part of the file was left unchecked (too many issues, too many rules)
        # Ids of items that failed validation: references to them are not reported again as unknown.
        self.broken_ids: dict[str, set[str]] = {name: set() for name in SECTIONS}

    def report(self, path: tuple, message: str, hint: str | None = None, key: bool = False) -> None:
        self.issues.append(self.source.issue(path, message, hint, key=key))

    def enough_issues(self) -> bool:
        """Whether checking stops here (then the rest is unchecked): a broken file costs at most
        MAX_COLLECTED_ISSUES issues' work, the reader's included."""
        if len(self.issues) + len(self.source.issues) < MAX_COLLECTED_ISSUES:
            return False
        self.complete = False
        return True

    def run(self) -> RuleSet | None:
        values = self.source.values
        if not isinstance(values, dict):
            self.report((), "the file must be a mapping with options, criteria, questions and rules",
                        "start from the shipped rules.yaml")
            return None
        header = self._header(values)
        items = {name: self._section(values, name, model) for name, model in SECTIONS.items()}
        options, criteria, questions, rules, scenarios = (items[name] for name in SECTIONS)
        option_ids = self._unique("options", options, "option") + sorted(self.broken_ids["options"])
        criterion_ids = self._unique("criteria", criteria, "criterion") + sorted(self.broken_ids["criteria"])
        question_ids = self._unique("questions", questions, "question")
        self._unique("rules", rules, "rule")
        for index, question in enumerate(questions):
            if question is None:
                continue
            if question.id in ("any", "all", "not"):
                self.report(("questions", index, "id"), f"'{question.id}' is reserved for conditions",
                            "choose another question id")
            seen: dict[str, int] = {}
            for c, choice in enumerate(question.choices):
                for option in choice.unmet:
                    self._known(("questions", index, "choices", c, "unmet", option), option, option_ids, "option",
                                key=True)
                if choice.id in seen:
                    self.report(("questions", index, "choices", c, "id"),
                                f"duplicate choice id '{choice.id}' (first at choices[{seen[choice.id]}])",
                                "choice ids must be unique within a question")
                seen.setdefault(choice.id, c)
        for index, criterion in enumerate(criteria):
            for option in criterion.texts if criterion else ():
                self._known(("criteria", index, "texts", option), option, option_ids, "option", key=True)
        seen_questions: set[str] = set()
        valid_questions = []
        for q in questions:  # the first definition of a duplicated id is the one used, as `_unique` reports
            if q is not None and q.id not in seen_questions:
                seen_questions.add(q.id)
                valid_questions.append(q)
        parser = ConditionParser([q.id for q in valid_questions], [[c.id for c in q.choices] for q in valid_questions],
                                 self.report, ignore=self.broken_ids["questions"])
        if not isinstance(values.get("questions"), list):
            parser.ignore_unknown = True  # the missing section is reported once; its references are not
        compiler = CubeCompiler([len(q.choices) for q in valid_questions])
        conditions = []
        read_questions: set[int] = set()
        literals = 0
        compiling = True  # until a limit of the whole file is reached: the rest is checked, not compiled
        for index, rule in enumerate(rules):
            if rule is None:
                continue
            if self.enough_issues():
                break
            path = ("rules", index)
            self._known(path + ("criterion",), rule.criterion, criterion_ids, "criterion")
            for option in rule.scores:
                self._known(path + ("scores", option), option, option_ids, "option", key=True)
            for e, option in enumerate(rule.exclude):
                self._known(path + ("exclude", e), option, option_ids, "option")
            if not any(rule.scores.values()) and not rule.exclude:
                self.report(path, f"rule '{rule.id}' neither scores nor excludes anything",
                            "give it `scores` or `exclude`")
            condition = parser.parse(rule.when, path + ("when",))
            if condition is None or not compiling:
                continue
            try:
                cubes = compiler.compile(condition)
            except ConditionTooComplexError as error:
                hint = ("simplify the nested `any`/`not` of this rule and those before it" if error.whole_file else
                        f"split the rule into several, or nest fewer `any`/`not`: a condition may expand to at most "
                        f"{MAX_CUBES} alternatives")
                self.report(path + ("when",), f"the condition of rule '{rule.id}' is too complex: {error}", hint)
                compiling = not error.whole_file
                continue
            if not cubes:
                self.report(path + ("when",), f"the condition of rule '{rule.id}' can never hold",
                            "a question has one answer at a time: check `all`/`not` and the choices listed")
            literals += sum(len(cube) for cube in cubes)
            if literals > MAX_LITERALS:
                self.report(path + ("when",), f"the rules' conditions up to rule '{rule.id}' compile to more "
                            f"than {MAX_LITERALS:,} literals (a question's choices in one alternative)",
                            "a rules file needs a few hundred: merge rules, or name fewer questions per rule")
                compiling = False
                continue
            named = tuple(sorted(condition.questions()))
            read_questions.update(named)
            conditions.append((named, cubes))
        for index, scenario in enumerate(scenarios):
            if self.enough_issues():
                break
            if scenario is None:
                continue
            path = ("scenarios", index)
            for question, choice in scenario.answers.items():
                if question in self.broken_ids["questions"] or parser.ignore_unknown:
                    continue
                if self._known(path + ("answers", question), question, question_ids, "question", key=True):
                    q = valid_questions[[x.id for x in valid_questions].index(question)]
                    self._known(path + ("answers", question), choice, [c.id for c in q.choices],
                                f"choice of '{question}'")
            for e, option in enumerate(scenario.expect):
                self._known(path + ("expect", e) if len(scenario.expect) > 1 else path + ("expect",),
                            option, option_ids, "option")
        if self.issues or header is None:
            return None
        model = RulesFile.model_validate({
            "version": header.version, "site": header.site, "closeness": header.closeness, "options": options,
            "criteria": criteria, "questions": questions, "rules": rules, "scenarios": scenarios,
        })
        warnings = self._warnings(model, read_questions)
        return compile_ruleset(self.source.file, model, fingerprint(model), conditions, warnings)

    def _header(self, values: dict) -> _Header | None:
        for key in values:
            if key not in (*HEADER_FIELDS, *SECTIONS):
                self.report((key,), f"unknown top-level field '{key}'",
                            did_you_mean(key, [*HEADER_FIELDS, *SECTIONS]) or "remove it", key=True)
        try:
            header = _Header.model_validate(values)
        except ValidationError as error:
            self.issues.extend(_pydantic_issues(self.source, (), error.errors()))
            return None
        if header.version != 1:
            self.report(("version",), f"unsupported version {header.version}", "this Dockwise reads version 1")
            return None
        return header

    def _section(self, values: dict, name: str, model: type[BaseModel]) -> list:
        raw = values.get(name)
        if raw is None:
            if name in REQUIRED_SECTIONS:
                self.report((name,) if name in values else (), f"missing section '{name}'", "add it as a list")
            return []
        if not isinstance(raw, list):
            self.report((name,), f"'{name}' must be a list", "write each entry on a `- ` line")
            return []
        if not raw and name in REQUIRED_SECTIONS:
            self.report((name,), f"'{name}' is empty", "add at least one entry")
        if name == "rules" and len(raw) > MAX_RULES:
            self.report((name, MAX_RULES), f"{len(raw):,} rules, more than the {MAX_RULES:,} a rules file may hold",
                        "merge rules of the same row, or remove rules that never change a result")
            raw = raw[:MAX_RULES]
            self.complete = False
        items = []
        for index, item in enumerate(raw):
            if self.enough_issues():
                break
            try:
                items.append(model.model_validate(item))
            except ValidationError as error:
                self.issues.extend(_pydantic_issues(self.source, (name, index), error.errors()))
                items.append(None)
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    self.broken_ids[name].add(item["id"])
        return items

    def _unique(self, section: str, items: list, what: str) -> list[str]:
        first: dict[str, int] = {}
        for index, item in enumerate(items):
            if item is None:
                continue
            if item.id in first:
                line = self.source.position((section, first[item.id]))[0]
                self.report((section, index, "id"), f"duplicate {what} id '{item.id}' (first defined on line {line})",
                            f"{what} ids must be unique")
            else:
                first[item.id] = index
        return list(first)

    def _known(self, path: tuple, value: str, known: list[str], what: str, key: bool = False) -> bool:
        if value in known:
            return True
        hint = did_you_mean(value, known) or (f"known: {', '.join(known)}" if known else None)
        self.report(path, f"unknown {what} '{value}'", hint, key=key)
        return False

    def _warnings(self, model: RulesFile, read_questions: set[int]) -> list[str]:
        used = {rule.criterion for rule in model.rules}
        warnings = [self.source.issue(("questions", i, "id"), f"question '{q.id}' is read by no rule",
                                      "its answer never changes a result")
                    for i, q in enumerate(model.questions) if i not in read_questions]
        for i, scenario in enumerate(model.scenarios):
            if len(scenario.expect) > 1 and not scenario.close_call:
                warnings.append(self.source.issue(("scenarios", i, "expect"),
                                                  f"scenario '{scenario.name}' accepts several options",
                                                  "say why it is a close call in `close_call`"))
        for i, c in enumerate(model.criteria):
            if c.weight == 0:
                warnings.append(self.source.issue(("criteria", i, "weight"), f"criterion '{c.id}' has weight 0",
                                                  "its rules change nothing"))
            if c.id not in used:
                warnings.append(self.source.issue(("criteria", i, "id"), f"criterion '{c.id}' has no rules",
                                                  "it can never drive a result"))
            missing = [o.id for o in model.options if not c.texts.get(o.id, "").strip()]
            if missing:  # the comparison table would show "—" in these cells
                texts = ("criteria", i, "texts")
                one = len(missing) == 1
                warnings.append(self.source.issue(
                    texts if texts in self.source.key_positions else texts[:2],
                    f"criterion '{c.id}' ({c.label}) has no text for {'option' if one else 'options'} "
                    + ", ".join(f"'{o}'" for o in missing),
                    f"the comparison table shows — there: add {'it' if one else 'them'} under `texts`", key=True))
        return [f"{w.file}:{w.line}:{w.column}: warning: {w.location}: {w.message} ({w.hint})"
                for w in sorted(warnings, key=lambda w: (w.line, w.column))]
