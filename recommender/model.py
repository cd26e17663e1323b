"""The rules file's schema as immutable pydantic models; the JSON Schema is generated from these."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema

ID_PATTERN = r"^[a-z][a-z0-9_-]*$"
Id = Annotated[str, Field(pattern=ID_PATTERN, max_length=64)]


def _deep_freeze(value: Any) -> Any:
    """Mappings become read-only views and lists tuples, all the way down: loaded rules cannot be changed."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: _deep_freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_deep_freeze(item) for item in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _thaw(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [_thaw(item) for item in value]
    return value


_FROZEN = (AfterValidator(_deep_freeze), PlainSerializer(_thaw))
TextById = Annotated[Mapping[Id, str], *_FROZEN]
# Finite and bounded: points are counted in integer millionths, and a tuner never needs more than this.
Points = Annotated[float, Field(ge=-1000, le=1000, allow_inf_nan=False)]
PointsById = Annotated[Mapping[Id, Points], *_FROZEN]
ChoiceByQuestion = Annotated[Mapping[Id, Id], *_FROZEN]


def _one_or_many(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


OneOrManyIds = Annotated[
    tuple[Id, ...],
    BeforeValidator(_one_or_many),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": ID_PATTERN},
                              {"type": "array", "items": {"type": "string", "pattern": ID_PATTERN}, "minItems": 1}]}),
]

CONDITION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "description": "Holds when every entry holds. `question: choice` or `question: [choices]` holds when the question "
                   "was answered with (one of) those choices; `any: [...]`, `all: [...]` and `not: {...}` combine "
                   "conditions. `not` holds only when every question it mentions is answered: an unanswered question "
                   "fires nothing.",
    "properties": {
        "any": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/Condition"},
                "description": "Holds when at least one of these conditions holds."},
        "all": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/Condition"},
                "description": "Holds when every one of these conditions holds."},
        "not": {"$ref": "#/$defs/Condition",
                "description": "Holds when every question it mentions is answered and the condition does not hold."},
    },
    "additionalProperties": {
        "description": "A question id mapped to one choice id or a list of them.",
        "anyOf": [{"type": "string", "pattern": ID_PATTERN},
                  {"type": "array", "items": {"type": "string", "pattern": ID_PATTERN}, "minItems": 1}],
    },
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Option(_Frozen):
    """One thing Dockwise can recommend."""

    id: Id = Field(description="Stable id used in links, the API and rules (never rename casually).")
    label: str = Field(min_length=1, max_length=80, description="Name shown to people, e.g. 'Kubernetes'.")
    summary: str = Field(min_length=1, description="One paragraph on what choosing this option means for a team.")


class Criterion(_Frozen):
    """One row of the comparison table; rules belong to a row and its weight scales their points."""

    id: Id = Field(description="Stable id of the row, used by rules.")
    label: str = Field(min_length=1, max_length=80, description="The row name exactly as in the comparison table.")
    weight: float = Field(default=1.0, ge=0, le=100, allow_inf_nan=False,
                          description="Multiplies every point the row's rules give (0 switches the row off).")
    texts: TextById = Field(default_factory=dict,
                                 description="What each option offers on this row, keyed by option id.")


class Choice(_Frozen):
    """One answer to a question."""

    id: Id = Field(description="Stable id used in share links and the API (never rename casually).")
    label: str = Field(min_length=1, max_length=120, description="The answer as people read it.")
    unmet: TextById = Field(
        default_factory=dict,
        description="The need this answer states that some options cannot meet: option id → what that option "
                    "leaves unmet, in plain words, and what a team would add instead (e.g. 'Swarm has no "
                    "autoscaler: scale by hand or add one'). Every result lists these per option; a recommendation "
                    "that leaves one unmet is never called clear. To rule the option out as well, give a rule on "
                    "this answer `exclude`; otherwise weigh against it with points.")


class Question(_Frozen):
    """One question of the questionnaire; leaving it unanswered ('Not sure') is always allowed."""

    id: Id = Field(description="Stable id used in share links and the API (never rename casually).")
    text: str = Field(min_length=1, max_length=200, description="The question in plain words.")
    help: str = Field(default="", description="One sentence of help shown under the question.")
    choices: tuple[Choice, ...] = Field(min_length=2, max_length=12,
                                        description="The possible answers, in the order shown: from the least "
                                                    "demanding to the most demanding (the ordering contract), "
                                                    "unless `ordered` is false.")
    ordered: bool = Field(default=True,
                          description="Whether the choices run from the least to the most demanding. A more "
                                      "demanding choice must never give a lighter recommendation, and `flask rules "
                                      "check` proves it over the whole answer space. Set false only for a question "
                                      "whose choices have no such order, and say why in docs/rules-format.md.")


class Rule(_Frozen):
    """When the condition holds, the rule adds points per option (times its row's weight) and may rule options out."""

    id: Id = Field(description="Stable id of the rule, shown in traces.")
    criterion: Id = Field(description="Id of the comparison row this rule belongs to.")
    when: Annotated[dict[str, Any], *_FROZEN, WithJsonSchema({"type": "object", "x-dockwise": "condition"})] = Field(
        description="The condition on answers under which the rule fires.")
    scores: PointsById = Field(default_factory=dict,
                                    description="Points per option id when the rule fires; unnamed options get 0.")
    exclude: tuple[Id, ...] = Field(default=(), description="Option ids this rule rules out; `because` is the reason.")
    because: str = Field(min_length=1, max_length=300, description="One sentence a user reads: why this rule applies.")


class Scenario(_Frozen):
    """A golden case: these answers must lead to the expected option."""

    name: str = Field(min_length=1, description="What the case describes.")
    answers: ChoiceByQuestion = Field(description="Question id → choice id; unnamed questions stay unanswered.")
    expect: OneOrManyIds = Field(description="The expected option id, or a list of acceptable ones.")
    source: str = Field(min_length=1, description="The real, publicly described situation: who, where (title and "
                                                  "address) and the concrete figures it states.")
    close_call: str | None = Field(default=None, min_length=1,
                                   description="Why this case is a close call: the reason more than one option in "
                                               "`expect` is acceptable. Needed whenever `expect` lists several.")


class Closeness(_Frozen):
    """How the winner's lead over the runner-up is put into words."""

    close: float = Field(ge=0, le=1000, allow_inf_nan=False,
                         description="A lead (in points) below this is 'a close call'; a lead of 0 is a tie.")


DEFAULT_TITLE = "Dockwise"
DEFAULT_HEADING = "Docker, Compose/Swarm or Kubernetes?"
DEFAULT_DESCRIPTION = ("Docker alone, Docker Compose / Swarm, or Kubernetes? Answer a short questionnaire and get a "
                       "recommendation that explains itself.")


class Site(_Frozen):
    """The site's own words: its name, the questionnaire's heading and the pages' default meta description."""

    title: str = Field(default=DEFAULT_TITLE, min_length=1, max_length=60,
                       description="The site's name: the brand in the header and the end of every page title "
                                   "('… — Dockwise').")
    heading: str = Field(default=DEFAULT_HEADING, min_length=1, max_length=120,
                         description="The questionnaire's heading, also its page title.")
    description: str = Field(default=DEFAULT_DESCRIPTION, min_length=1, max_length=300,
                             description="The meta description of pages that do not say their own (search engines "
                                         "show about 160 characters).")


class RulesFile(_Frozen):
    """Dockwise's knowledge base: options, comparison rows, questions, rules and golden scenarios."""

    version: Literal[1] = Field(description="Format version of this file.")
    site: Site = Field(default_factory=Site, description="The site's name, the questionnaire's heading and the "
                                                         "default meta description; each defaults to today's text.")
    closeness: Closeness = Field(description="Thresholds for calling a result clear or close.")
    options: tuple[Option, ...] = Field(min_length=1, description="What can be recommended, from the lightest to "
                                                                  "run to the heaviest (the ordering contract): "
                                                                  "ties go to the earlier option.")
    criteria: tuple[Criterion, ...] = Field(min_length=1, description="The comparison table's rows, in order.")
    questions: tuple[Question, ...] = Field(min_length=1, description="The questionnaire, in order.")
    rules: tuple[Rule, ...] = Field(min_length=1, description="The scoring rules.")
    scenarios: tuple[Scenario, ...] = Field(default=(), description="Golden cases run by `flask rules test`.")


# Sections validated one item at a time, so that one bad rule does not hide the others' problems.
SECTIONS: dict[str, type[_Frozen]] = {
    "options": Option, "criteria": Criterion, "questions": Question, "rules": Rule, "scenarios": Scenario,
}
ALL_FIELD_NAMES = sorted({name for model in (RulesFile, *SECTIONS.values(), Choice, Closeness, Site)
                          for name in model.model_fields})


def json_schema() -> dict[str, Any]:
    """The JSON Schema of rules.yaml, for editors (yaml-language-server) and `flask rules schema`."""
    schema = RulesFile.model_json_schema()
    schema["$defs"]["Condition"] = CONDITION_SCHEMA
    when = schema["$defs"]["Rule"]["properties"]["when"]
    schema["$defs"]["Rule"]["properties"]["when"] = {"$ref": "#/$defs/Condition", "description": when["description"]}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Dockwise rules"
    return schema
