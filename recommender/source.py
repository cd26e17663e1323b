"""Read a rules file safely into plain values plus a separate tree of source positions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from yaml.constructor import SafeConstructor

from .errors import RulesIssue, RulesSyntaxError

MAX_BYTES = 1024 * 1024
# A valid file nests about 8 levels (rules → rule → when → any → condition → not → …); 16 leaves room.
MAX_DEPTH = 16

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {_TAG + name for name in ("str", "int", "float", "bool", "null", "map", "seq")}
_TRUE_FALSE = {"true", "false"}

Path_ = tuple[str | int, ...]


@dataclass
class Source:
    """A rules file's values, and where each value (and each mapping key) stands in the file."""

    file: str
    values: object
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    # Problems that do not stop the values being read (duplicate keys, tags, unquoted booleans):
    # the loader reports them together with the validation issues.
    issues: list[RulesIssue] = field(default_factory=list)

    def position(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        """Line and column (1-based) of the value at `path`, or of its nearest ancestor that exists."""
        if key and path in self.key_positions:
            return self.key_positions[path]
        for end in range(len(path), -1, -1):
            found = self.positions.get(path[:end])
            if found:
                return found
        return (1, 1)

    def issue(self, path: Path_, message: str, hint: str | None = None, *, key: bool = False) -> RulesIssue:
        line, column = self.position(path, key=key)
        return RulesIssue(self.file, line, column, path, message, hint)


def read_source(path: str | Path, display_name: str | None = None) -> Source:
    """Read and parse the file at `path`; raise RulesSyntaxError on anything unsafe or malformed."""
    name = display_name or str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise RulesSyntaxError([RulesIssue(name, 1, 1, (), "file not found", "check the path")]) from None
    except OSError as error:
        raise RulesSyntaxError([RulesIssue(name, 1, 1, (), f"cannot read the file: {error.strerror}")]) from None
    return parse_source(data, name)


def parse_source(data: bytes | str, name: str) -> Source:
    """Parse YAML text into a Source; raise RulesSyntaxError when it cannot be read at all.

    Problems that still leave usable values are returned in `Source.issues`.
    """
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_BYTES:
        raise RulesSyntaxError([RulesIssue(name, 1, 1, (), "file is larger than 1 MiB",
                                           "a rules file is a few hundred lines")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise RulesSyntaxError([RulesIssue(name, line, 1, (), "file is not valid UTF-8", "save it as UTF-8")]) from None
    _check_events(text, name)
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as error:
        raise RulesSyntaxError([_yaml_issue(error, name)]) from None
    if root is None:
        raise RulesSyntaxError([RulesIssue(name, 1, 1, (), "file is empty", "start from the shipped rules.yaml")])
    builder = _Builder(name)
    values = builder.build(root, ())
    return Source(name, values, builder.positions, builder.key_positions, builder.issues)


def _yaml_issue(error: yaml.YAMLError, name: str) -> RulesIssue:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    return RulesIssue(name, line, column, (), message, "check indentation, colons and quotes on this line")


def _check_events(text: str, name: str) -> None:
    """Walk the event stream (no recursion, no objects built) to refuse aliases and deep nesting."""
    issues: list[RulesIssue] = []
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            mark = event.start_mark
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise RulesSyntaxError(
                        [RulesIssue(name, mark.line + 1, mark.column + 1, (),
                                    f"nesting is deeper than {MAX_DEPTH} levels",
                                    "no valid rules file nests this deep; flatten the conditions")]
                    )
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                issues.append(RulesIssue(name, mark.line + 1, mark.column + 1, (),
                                         f"aliases (*{event.anchor}) are not allowed",
                                         "write the value out in full"))
    except yaml.YAMLError as error:
        raise RulesSyntaxError(issues + [_yaml_issue(error, name)]) from None
    if issues:
        raise RulesSyntaxError(issues)


class _Builder:
    """Turns composed nodes into plain values, recording positions and collecting every issue."""

    def __init__(self, name: str):
        self.name = name
        self.positions: dict[Path_, tuple[int, int]] = {}
        self.key_positions: dict[Path_, tuple[int, int]] = {}
        self.issues: list[RulesIssue] = []
        self._constructor = SafeConstructor()

    def _issue(self, node: yaml.Node, path: Path_, message: str, hint: str | None = None) -> None:
        mark = node.start_mark
        self.issues.append(RulesIssue(self.name, mark.line + 1, mark.column + 1, path, message, hint))

    def build(self, node: yaml.Node, path: Path_) -> object:
        self.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if node.tag not in _ALLOWED_TAGS:
            self._refuse_tag(node, path)
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (index,)) for index, item in enumerate(node.value)]
        value = self._constructor.construct_object(node)
        if isinstance(value, bool) and not node.style and node.value.lower() not in _TRUE_FALSE:
            self._issue(node, path, f"unquoted {node.value} is read by YAML as the boolean {str(value).lower()}",
                        f"quote it: '{node.value}'")
        return value

    def _refuse_tag(self, node: yaml.Node, path: Path_) -> None:
        tag = node.tag.replace(_TAG, "!!")
        if tag == "!!timestamp":
            self._issue(node, path, "a date or time is not allowed here", f"quote it: '{node.value}'")
        else:
            self._issue(node, path, f"the tag {tag} is not allowed",
                        "rules files hold plain text, numbers, lists and mappings")

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[str, object]:
        result: dict[str, object] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _ALLOWED_TAGS:
                self._issue(key_node, path, "a mapping key must be plain text", "write the key as a word")
                continue
            key = self._constructor.construct_object(key_node)
            if isinstance(key, bool):
                self._issue(key_node, path + (key_node.value,),
                            f"the key {key_node.value} is read by YAML as the boolean {str(key).lower()}",
                            f"quote it: '{key_node.value}'")
            if key is None:
                self._issue(key_node, path, "a mapping key is empty", "write the key as a word")
                continue
            key = key_node.value if isinstance(key, bool) else str(key)
            key_path = path + (key,)
            line = key_node.start_mark.line + 1
            if key in first_line:
                self._issue(key_node, key_path, f"duplicate key '{key}' (first defined on line {first_line[key]})",
                            "remove one of them; YAML would silently keep only the last")
                continue
            first_line[key] = line
            self.key_positions[key_path] = (line, key_node.start_mark.column + 1)
            result[key] = self.build(value_node, key_path)
        return result
