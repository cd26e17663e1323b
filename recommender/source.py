"""Read a rules file safely into plain values plus a separate tree of source positions."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from yaml.constructor import SafeConstructor

from .errors import MAX_COLLECTED_ISSUES, RulesIssue, RulesSyntaxError

MAX_BYTES = 1024 * 1024
# Values (scalars, lists and mappings) a file may hold: the shipped rules have about 2,600, and a file of 1,000
# more rules each naming all twelve questions about 68,000. Counted while parsing: a huge flat list costs little.
MAX_VALUES = 200_000
# A valid file nests about 8 levels (rules → rule → when → any → condition → not → …); 16 leaves room.
MAX_DEPTH = 16

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {_TAG + name for name in ("str", "int", "float", "bool", "null", "map", "seq")}
_STR, _INT = _TAG + "str", _TAG + "int"
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
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_BYTES:  # refused unread; a file that grows while read is caught below
                raise _too_large(name, size)
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise RulesSyntaxError([RulesIssue(name, 1, 1, (), "file not found", "check the path")]) from None
    except OSError as error:
        raise RulesSyntaxError([RulesIssue(name, 1, 1, (), f"cannot read the file: {error.strerror}")]) from None
    return parse_source(data, name)


def _too_large(name: str, size: int, more: bool = False) -> RulesSyntaxError:
    return RulesSyntaxError([RulesIssue(
        name, 1, 1, (), f"file is {'over ' if more else ''}{size:,} bytes, larger than the limit of 1 MiB "
        f"({MAX_BYTES:,} bytes)", "a rules file is a few hundred lines: remove what is not needed")])


def parse_source(data: bytes | str, name: str) -> Source:
    """Parse YAML text into a Source; raise RulesSyntaxError when it cannot be read at all.

    Problems that still leave usable values are returned in `Source.issues`.
    """
    if isinstance(data, str) and len(data) > MAX_BYTES:  # more characters than bytes allowed: no need to encode
        raise _too_large(name, len(data), more=len(data.encode()) > len(data))
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_BYTES:
        raise _too_large(name, len(raw))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise RulesSyntaxError([RulesIssue(name, line, 1, (), "file is not valid UTF-8", "save it as UTF-8")]) from None
    return _Reader(text, name).read()


def _yaml_issue(error: yaml.YAMLError, name: str) -> RulesIssue:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    return RulesIssue(name, line, column, (), message, "check indentation, colons and quotes on this line")


_STARTS = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_ENDS = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


class _Reader:
    """Builds plain values, their positions and every issue from the YAML event stream, in one pass.

    No node tree is built (the time and memory of a large file go into its values alone). Aliases, nesting deeper
    than MAX_DEPTH and more than MAX_VALUES values refuse the file: the first two with every alias found (and any
    syntax error), the others at once, where they occur. Reading stops at an issue past MAX_COLLECTED_ISSUES (aliases
    included), and the file is refused with those found and the rest unchecked.
    """

    def __init__(self, text: str, name: str):
        self.text = text
        self.name = name
        self.loader = _Loader(text)
        self.positions: dict[Path_, tuple[int, int]] = {}
        self.key_positions: dict[Path_, tuple[int, int]] = {}
        self.issues: list[RulesIssue] = []
        self.refusals: list[RulesIssue] = []   # aliases: reported alone, whatever else the file holds
        self.depth = 0
        self.count = 0
        self.anchors: set[str] = set()
        self.composer_error = False  # a second document or a duplicate anchor: reported as PyYAML words it
        self.constructor = SafeConstructor()

    def read(self) -> Source:
        loader = self.loader
        try:
            try:
                loader.get_event()  # the stream's start
                if loader.check_event(yaml.StreamEndEvent):
                    values = _EMPTY
                else:
                    loader.get_event()  # the document's start
                    values = self._node(())
                    loader.get_event()  # the document's end
                    while not loader.check_event(yaml.StreamEndEvent):  # another document: checked, not kept
                        self.composer_error = True
                        if loader.check_event(yaml.DocumentStartEvent, yaml.DocumentEndEvent):
                            loader.get_event()
                        else:
                            self._skip()
            except yaml.YAMLError as error:
                raise RulesSyntaxError(self.refusals + [_yaml_issue(error, self.name)]) from None
            if self.refusals:
                raise RulesSyntaxError(self.refusals)
            if self.composer_error:
                try:
                    yaml.compose(self.text, Loader=_Loader)
                except yaml.YAMLError as error:
                    raise RulesSyntaxError([_yaml_issue(error, self.name)]) from None
        finally:
            loader.dispose()
        if values is _EMPTY:
            raise RulesSyntaxError([RulesIssue(self.name, 1, 1, (), "file is empty",
                                               "start from the shipped rules.yaml")])
        return Source(self.name, values, self.positions, self.key_positions, self.issues)

    def _next(self) -> yaml.Event:
        """The next event, checked for aliases, depth and the number of values."""
        event = self.loader.get_event()
        if isinstance(event, _ENDS):
            self.depth -= 1
            return event
        mark = event.start_mark
        self.count += 1
        if self.count > MAX_VALUES:
            raise RulesSyntaxError([RulesIssue(self.name, mark.line + 1, mark.column + 1, (),
                                               f"the file holds more than {MAX_VALUES:,} values",
                                               "a rules file holds a few thousand: remove what is not needed")])
        if isinstance(event, yaml.AliasEvent):
            self._collect(self.refusals, RulesIssue(self.name, mark.line + 1, mark.column + 1, (),
                                                    f"aliases (*{event.anchor}) are not allowed",
                                                    "write the value out in full"))
            return event
        if event.anchor is not None:
            self.composer_error |= event.anchor in self.anchors
            self.anchors.add(event.anchor)
        if isinstance(event, _STARTS):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise RulesSyntaxError([RulesIssue(self.name, mark.line + 1, mark.column + 1, (),
                                                   f"nesting is deeper than {MAX_DEPTH} levels",
                                                   "no valid rules file nests this deep; flatten the conditions")])
        return event

    def _skip(self) -> None:
        """Consume the next node whole (its events are still checked)."""
        if isinstance(self._next(), _STARTS):
            self._skip_rest()

    def _skip_rest(self) -> None:
        """Consume the rest of a list or mapping whose start was consumed."""
        level = 1
        while level:
            event = self._next()
            if isinstance(event, _STARTS):
                level += 1
            elif isinstance(event, _ENDS):
                level -= 1

    def _issue(self, mark, path: Path_, message: str, hint: str | None = None) -> None:
        self._collect(self.issues, RulesIssue(self.name, mark.line + 1, mark.column + 1, path, message, hint))

    def _collect(self, issues: list[RulesIssue], issue: RulesIssue) -> None:
        """Keep `issue` in `issues`; past MAX_COLLECTED_ISSUES, stop reading and refuse the file with those found
        (aliases alone if any, as at the end), saying that the rest was not checked."""
        if len(self.issues) + len(self.refusals) >= MAX_COLLECTED_ISSUES:
            raise RulesSyntaxError(self.refusals or self.issues, complete=False)
        issues.append(issue)

    def _tag(self, event: yaml.Event, kind: type) -> str:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.loader.resolve(kind, getattr(event, "value", None), event.implicit)
        return tag

    def _scalar(self, event: yaml.ScalarEvent, tag: str, path: Path_) -> object:
        value = event.value
        if tag == _STR:
            return value
        if tag == _INT and value.isdigit() and (value[0] != "0" or value == "0"):  # decimal: what files hold
            return int(value)
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
        try:
            return self.constructor.construct_object(node)
        except (ValueError, yaml.YAMLError):
            self._issue(event.start_mark, path, f"'{event.value}' is not a valid {tag.replace(_TAG, '!!')}",
                        "remove the tag, or write a value of that type")
            return None
        finally:
            self.constructor.constructed_objects.pop(node, None)

    def _node(self, path: Path_) -> object:
        event = self._next()
        if isinstance(event, yaml.AliasEvent):
            return None  # the file is refused for it
        mark = event.start_mark
        self.positions[path] = (mark.line + 1, mark.column + 1)
        scalar = isinstance(event, yaml.ScalarEvent)
        tag = self._tag(event, yaml.ScalarNode if scalar else
                        yaml.MappingNode if isinstance(event, yaml.MappingStartEvent) else yaml.SequenceNode)
        if tag not in _ALLOWED_TAGS:
            self._refuse_tag(event, tag, path)
            if not scalar:
                self._skip_rest()
            return None
        if scalar:
            value = self._scalar(event, tag, path)
            if isinstance(value, bool) and not event.style and event.value.lower() not in _TRUE_FALSE:
                self._issue(mark, path, f"unquoted {event.value} is read by YAML as the boolean {str(value).lower()}",
                            f"quote it: '{event.value}'")
            return value
        if isinstance(event, yaml.SequenceStartEvent):
            items = []
            while not self.loader.check_event(yaml.SequenceEndEvent):
                items.append(self._node(path + (len(items),)))
            self._next()
            return items
        return self._mapping(path)

    def _refuse_tag(self, event: yaml.Event, tag: str, path: Path_) -> None:
        tag = tag.replace(_TAG, "!!")
        if tag == "!!timestamp":
            self._issue(event.start_mark, path, "a date or time is not allowed here", f"quote it: '{event.value}'")
        else:
            self._issue(event.start_mark, path, f"the tag {tag} is not allowed",
                        "rules files hold plain text, numbers, lists and mappings")

    def _mapping(self, path: Path_) -> dict[str, object]:
        result: dict[str, object] = {}
        first_line: dict[str, int] = {}
        loader = self.loader
        while not loader.check_event(yaml.MappingEndEvent):
            key_event = loader.peek_event()
            tag = self._tag(key_event, yaml.ScalarNode) if isinstance(key_event, yaml.ScalarEvent) else None
            if tag not in _ALLOWED_TAGS:
                self._skip()
                if not isinstance(key_event, yaml.AliasEvent):
                    self._issue(key_event.start_mark, path, "a mapping key must be plain text",
                                "write the key as a word")
                self._skip()
                continue
            self._next()
            mark = key_event.start_mark
            key = self._scalar(key_event, tag, path)
            if isinstance(key, bool):
                self._issue(mark, path + (key_event.value,),
                            f"the key {key_event.value} is read by YAML as the boolean {str(key).lower()}",
                            f"quote it: '{key_event.value}'")
            if key is None:
                self._issue(mark, path, "a mapping key is empty", "write the key as a word")
                self._skip()
                continue
            key = key_event.value if isinstance(key, bool) else str(key)
            key_path = path + (key,)
            line = mark.line + 1
            if key in first_line:
                self._issue(mark, key_path, f"duplicate key '{key}' (first defined on line {first_line[key]})",
                            "remove one of them; YAML would silently keep only the last")
                self._skip()
                continue
            first_line[key] = line
            self.key_positions[key_path] = (line, mark.column + 1)
            result[key] = self._node(key_path)
        self._next()
        return result


_EMPTY = object()
