"""YAML in and out, through libyaml's C loader/dumper when it is available.

Loading is strict and bounded, because a job file may be written by hand, by
a script gone wrong, or by someone hostile:

- only plain data (the *safe* loader: no ``!!python/...`` or other tags);
- a duplicate key is an error naming the key and both lines (PyYAML would
  silently keep the last one, so a person's first value would vanish unseen);
- at most :data:`MAX_DEPTH` levels of nesting;
- at most :data:`MAX_NODES` values *after* expanding aliases, so an alias bomb
  ("billion laughs": each anchor nine copies of the one before) is refused
  before anything is built, instead of eating memory when first printed.

The limits are checked on libyaml's event stream, which is produced without
building anything, so a refused document costs one pass over its text.
"""

from __future__ import annotations

from typing import Any

import yaml

try:
    _Base: type = yaml.CSafeLoader
    _Dumper: type = yaml.CSafeDumper
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Base = yaml.SafeLoader
    _Dumper = yaml.SafeDumper

MAX_DEPTH = 32
"""Nesting deeper than this is refused (a job file needs four levels)."""
MAX_NODES = 100_000
"""Values (scalars and collections) a document may hold with its aliases expanded."""

YAMLError = yaml.YAMLError
ReaderError = yaml.reader.ReaderError
_MERGE_TAG = "tag:yaml.org,2002:merge"


class LimitError(yaml.YAMLError):
    """A document over one of the limits above; ``problem_mark`` says where."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """The same key twice in one mapping."""


class _StrictLoader(_Base):  # type: ignore[misc, valid-type]
    """The safe loader, refusing duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[tuple[str, str], int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = (key_node.tag, key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise DuplicateKeyError(
                    None,
                    None,
                    f"duplicate key {key_node.value!r} (first on line {seen[key]})",
                    key_node.start_mark,
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


def check_limits(text: str | bytes) -> None:
    """Raise :class:`LimitError` when ``text`` nests too deeply or expands too far.

    Walks libyaml's events: a collection's expanded size is one plus its
    children's; an alias counts the full size of the node it names. Nothing
    is built, so a bomb is refused in time proportional to its text.
    """
    sizes: dict[str, int] = {}
    stack: list[list[Any]] = []  # [anchor, size] per open collection
    total = 0
    for event in yaml.parse(text, Loader=_Base):
        if isinstance(event, yaml.CollectionStartEvent):
            stack.append([event.anchor, 1])
            if len(stack) > MAX_DEPTH:
                raise LimitError(f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, size = stack.pop()
            if anchor is not None:
                sizes[anchor] = size
        elif isinstance(event, yaml.ScalarEvent):
            size = 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            size = sizes.get(event.anchor, 1)
        else:
            continue
        if stack:
            stack[-1][1] += size
        else:
            total += size
        if total + sum(frame[1] for frame in stack) > MAX_NODES:
            raise LimitError(
                f"more than {MAX_NODES} values once its aliases are expanded (an alias bomb?)",
                event.start_mark,
            )


def loads(text: str | bytes) -> Any:
    """Parse one document, strictly and within the limits above."""
    check_limits(text)
    return yaml.load(text, Loader=_StrictLoader)


def dumps(data: Any) -> str:
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )
