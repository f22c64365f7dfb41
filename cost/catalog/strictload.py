"""The one strict reader of YAML and JSON inputs: stack files, price books, catalogs, usage and factors
files, the policy config, the economics annotation and the answers of servers.

What it refuses, each as one `InputError` naming the file (or URL) and the key:
- a key repeated in one mapping (YAML and JSON both keep the last value silently);
- work while parsing beyond fixed bounds: the text's size (`MAX_BYTES`), nesting (`MAX_DEPTH`) and the
  nodes a document expands to with its aliases (`MAX_NODES`; a "billion laughs" document stops here);
- numbers no input of breakeven can mean: NaN, infinities and magnitudes above `MAX_MAGNITUDE`
  (so nothing read here overflows in later arithmetic); per-key ranges stay with each schema;
- keys that are not plain scalars (YAML's `? [a, b]`), and text that is not UTF-8.

The depth is checked while composing, before libyaml's recursive composer could exhaust the C stack
(it crashes the interpreter at about 100,000 nested brackets): events come from libyaml's parser,
nodes are composed here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent, MappingEndEvent, MappingStartEvent, ScalarEvent, SequenceEndEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from cost.errors import InputError

MAX_BYTES = 4 * 2**20        # 4 MiB: the largest shipped catalog is 24 KB
MAX_DEPTH = 64               # the deepest shipped file nests 6 levels
MAX_NODES = 200_000          # nodes after alias expansion; the shipped catalogs hold ~5,000
MAX_MAGNITUDE = 1e18         # above any price, token volume or count breakeven reads
_MERGE_TAG = "tag:yaml.org,2002:merge"
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


class _PyParser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    """PyYAML's pure-Python parser, where PyYAML was built without libyaml."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)


_Parser: Any
try:
    from yaml.cyaml import CParser as _Parser  # type: ignore[attr-defined]
except ImportError:                            # PyYAML built without libyaml
    _Parser = _PyParser


def _where(path: list[str]) -> str:
    """`config.breakeven:models[0].replicas` from its segments."""
    out = ""
    for part in path:
        out += part if part.startswith("[") or not out else "." + part
    if len(out) > 120:                   # 100,000 nested lists do not make a readable key
        out = out[:60] + "..." + out[-40:]
    return out or "(document)"


class _StrictLoader(_Parser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
    """libyaml's parser (or PyYAML's) + a bounded composer + PyYAML's safe constructor."""

    def __init__(self, text: str, source: str) -> None:
        _Parser.__init__(self, text)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self.source = source
        self.anchors: dict[str, Node] = {}
        self.sizes: dict[str, int] = {}      # nodes each finished anchor expands to
        self.path: list[str] = []
        self.depth = 0
        self.count = 0

    def fail(self, value: object, allowed: str, node_or_event: Any = None) -> InputError:
        mark = getattr(node_or_event, "start_mark", None)
        detail = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        return InputError(f"{self.source}: {_where(self.path)}", value, allowed, detail)

    # --- composing (PyYAML's Composer, with bounds, duplicate keys and number checks) ---------
    def get_single_node(self) -> Node | None:
        self.get_event()                                   # StreamStart
        node = None
        if not self.check_event(yaml.events.StreamEndEvent):
            self.get_event()                               # DocumentStart
            node = self.compose_node(None, None)
            self.get_event()                               # DocumentEnd
        if not self.check_event(yaml.events.StreamEndEvent):
            raise self.fail("a second document", "one YAML document per file", self.peek_event())
        self.get_event()
        return node

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if self.check_event(AliasEvent):
            alias: Any = self.get_event()
            if alias.anchor not in self.sizes:
                raise self.fail(f"*{alias.anchor}", "an alias of an anchor defined (and closed) before it", alias)
            self.count += self.sizes[alias.anchor]
            self._check_count(alias)
            return self.anchors[alias.anchor]
        event: Any = self.peek_event()
        if event.anchor is not None and event.anchor in self.anchors:
            raise self.fail(f"&{event.anchor}", "each anchor defined once", event)
        self.depth += 1
        self.count += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"nesting deeper than {MAX_DEPTH} levels", f"at most {MAX_DEPTH} nested levels", event)
        self._check_count(event)
        start = self.count
        self.descend_resolver(parent, index)
        if self.check_event(ScalarEvent):
            node: Node = self._scalar(event.anchor)
        elif self.check_event(MappingStartEvent):
            node = self._mapping(event.anchor)
        else:
            node = self._sequence(event.anchor)
        self.ascend_resolver()
        self.depth -= 1
        if event.anchor is not None:
            self.sizes[event.anchor] = self.count - start + 1
        return node

    def _check_count(self, event: Any) -> None:
        if self.count > MAX_NODES:
            raise self.fail(f"more than {MAX_NODES:,} nodes (aliases expanded)", f"at most {MAX_NODES:,} nodes", event)

    def _scalar(self, anchor: str | None) -> ScalarNode:
        event: Any = self.get_event()
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.resolve(ScalarNode, event.value, event.implicit)
        node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
        if anchor is not None:
            self.anchors[anchor] = node
        if tag in _NUMBER_TAGS:
            self._check_number(node)
        return node

    def _check_number(self, node: ScalarNode) -> None:
        try:
            value = self.construct_object(node)
            ok = math.isfinite(value) and abs(value) <= MAX_MAGNITUDE
        except (ValueError, OverflowError):      # e.g. an integer longer than Python's 4,300 digits
            ok = False
        if not ok:
            shown = node.value if len(node.value) <= 40 else node.value[:40] + "..."
            raise self.fail(shown, f"a finite number of magnitude at most {MAX_MAGNITUDE:g}", node)

    def _sequence(self, anchor: str | None) -> SequenceNode:
        event: Any = self.get_event()
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.resolve(SequenceNode, None, event.implicit)
        node = SequenceNode(tag, [], event.start_mark, None, flow_style=event.flow_style)
        if anchor is not None:
            self.anchors[anchor] = node
        index = 0
        while not self.check_event(SequenceEndEvent):
            self.path.append(f"[{index}]")
            node.value.append(self.compose_node(node, index))
            self.path.pop()
            index += 1
        node.end_mark = self.get_event().end_mark
        return node

    def _mapping(self, anchor: str | None) -> MappingNode:
        event: Any = self.get_event()
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.resolve(MappingNode, None, event.implicit)
        node = MappingNode(tag, [], event.start_mark, None, flow_style=event.flow_style)
        if anchor is not None:
            self.anchors[anchor] = node
        seen: dict[Any, ScalarNode] = {}
        while not self.check_event(MappingEndEvent):
            key_node = self.compose_node(node, None)
            if not isinstance(key_node, ScalarNode):
                raise self.fail("a key that is a mapping or a list", "plain keys (strings or numbers)", key_node)
            key = key_node.value if key_node.tag == _MERGE_TAG else self.construct_object(key_node)
            self.path.append(str(key))
            if key in seen:
                first = seen[key].start_mark.line + 1
                raise self.fail(f"repeated key (first at line {first})", "each key once per mapping", key_node)
            seen[key] = key_node
            value_node = self.compose_node(node, key_node)
            self.path.pop()
            node.value.append((key_node, value_node))
        node.end_mark = self.get_event().end_mark
        return node


def _whole(source: str, key: str | None, value: str, allowed: str, detail: str = "") -> InputError:
    """An error about the whole document: named by `source` itself, or (given a `key`, such as a flag) by the
    key with the source as its value."""
    if key is None:
        return InputError(source, value, allowed, detail)
    return InputError(key, source, allowed, f"{value!r}: {detail}" if detail else value)


def yaml_text(text: str, source: str, key: str | None = None) -> Any:
    """The one YAML document of `text` (None when empty), read strictly. `source` (a file) names it in errors,
    with the path of the key inside it; `key` (a flag or config key) names what a syntax error is about."""
    if len(text) > MAX_BYTES:
        raise _whole(source, key, f"{len(text):,} characters", f"a YAML document of at most {MAX_BYTES:,} bytes")
    loader = _StrictLoader(text, source)
    try:
        node = loader.get_single_node()
        return None if node is None else loader.construct_document(node)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "?"
        what = "a YAML tag it cannot read" if isinstance(e, yaml.constructor.ConstructorError) else "YAML syntax error"
        raise _whole(source, key, f"{what} at {where}", "a valid YAML document",
                     e.problem or str(e).splitlines()[0]) from None
    except yaml.YAMLError as e:
        raise _whole(source, key, "a YAML error", "a valid YAML document", str(e).splitlines()[0]) from None
    finally:
        loader.dispose()


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"repeated key {key!r}")
        out[key] = value
    return out


def _check_tree(doc: Any) -> tuple[str, object, str] | None:
    """(path, value, allowed) of the first thing a parsed JSON document may not hold: nesting deeper than
    MAX_DEPTH, or a number that is not finite or beyond MAX_MAGNITUDE. None when it holds neither."""
    todo: list[tuple[Any, list[str]]] = [(doc, [])]
    while todo:
        node, path = todo.pop()
        if isinstance(node, (dict, list)):
            if len(path) >= MAX_DEPTH:
                return _where(path), f"nesting deeper than {MAX_DEPTH} levels", f"at most {MAX_DEPTH} nested levels"
            items = node.items() if isinstance(node, dict) else ((f"[{i}]", v) for i, v in enumerate(node))
            todo.extend((v, path + [str(k)]) for k, v in items)
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            if not (math.isfinite(node) and abs(node) <= MAX_MAGNITUDE):
                return _where(path), node, f"a finite number of magnitude at most {MAX_MAGNITUDE:g}"
    return None


def json_text(text: str | bytes, source: str, key: str | None = None, sep: str = ": ") -> Any:
    """The JSON value of `text`, read strictly. `source` (a file, URL or config key) names it in errors: with the
    first bytes of what it holds for a document that does not parse, with `sep` and the path inside it for a
    value it may not hold. `key` (a flag), when given, names what a whole-document error is about."""
    if len(text) > MAX_BYTES:
        raise _whole(source, key, f"{len(text):,} bytes", f"a JSON document of at most {MAX_BYTES:,} bytes")
    try:
        doc = json.loads(text, object_pairs_hook=_unique)
    except json.JSONDecodeError as e:
        raise _whole(source, key, first_bytes(text), "a valid JSON document",
                     f"{e.msg} at line {e.lineno}, column {e.colno}") from None
    except RecursionError:      # nesting past Python's recursion limit, so past MAX_DEPTH too
        raise _whole(source, key, f"nesting deeper than {MAX_DEPTH} levels", f"at most {MAX_DEPTH} nested levels") from None
    except (ValueError, UnicodeDecodeError) as e:   # a repeated key; an integer past 4,300 digits; bad bytes
        raise _whole(source, key, first_bytes(text), "a valid JSON document", str(e)) from None
    bad = _check_tree(doc)
    if bad:
        path, value, allowed = bad
        raise InputError(f"{source}{sep}{path}", value, allowed)
    return doc


def first_bytes(text: str | bytes, n: int = 60) -> str:
    """The start of a text, as shown in an error (what came back, not the whole of it)."""
    head = text[:n] if isinstance(text, str) else text[:n].decode("utf-8", "replace")
    return head + ("..." if len(text) > n else "")


def read_text(path: str | Path, key: str, what: str) -> str:
    """A file's UTF-8 text, bounded by MAX_BYTES; errors name `key`, the path and `what` is allowed."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as e:
        raise InputError(key, str(path), f"a readable {what}", e.strerror or str(e)) from None
    if len(data) > MAX_BYTES:
        raise InputError(key, str(path), f"a {what} of at most {MAX_BYTES:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(key, str(path), f"a UTF-8 {what}", f"undecodable byte at offset {e.start}") from None


def load_yaml(path: str | Path, key: str, what: str = "YAML file") -> Any:
    """Read and strictly parse a YAML file; errors name `key` and the file, and the key inside it."""
    return yaml_text(read_text(path, key, what), str(path), key)


def load_json(path: str | Path, key: str, what: str = "JSON file") -> Any:
    """Read and strictly parse a JSON file; errors name `key` and the file (and a repeated key)."""
    return json_text(read_text(path, key, what), str(path), key)
