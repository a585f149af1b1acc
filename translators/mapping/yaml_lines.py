"""Step 1 of reading a mapping: YAML text → plain Python values plus the line of every key and value."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from .model import MappingError

PathT = tuple[str | int, ...]


@dataclass
class _Lines:
    value: dict[PathT, int] = field(default_factory=dict)
    key: dict[PathT, int] = field(default_factory=dict)

    def of(self, path: PathT, key: bool = False) -> int | None:
        if key and path in self.key:
            return self.key[path]
        p = path
        while True:
            if p in self.value:
                return self.value[p]
            if p in self.key:
                return self.key[p]
            if not p:
                return None
            p = p[:-1]


def _fmt_path(path: PathT) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


def _kind(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"boolean {str(v).lower()}"
    if isinstance(v, int):
        return f"integer {v}"
    if isinstance(v, float):
        return f"number {v}"
    if isinstance(v, str):
        return f"string {v!r}"
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    return f"{type(v).__name__} {v!s}"


def _compose(text: str, source: str) -> tuple[Any, _Lines]:
    lines = _Lines()
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise MappingError(f"{source}:1: the file is empty; expected a mapping with 'version' and 'tables'")
        return _to_plain(loader, node, (), lines, source), lines
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 1
        raise MappingError(f"{source}:{line}: invalid YAML: {e.problem or e.context}") from None
    finally:
        loader.dispose()


def _to_plain(loader: yaml.SafeLoader, node: yaml.Node, path: PathT, lines: _Lines, source: str) -> Any:
    lines.value[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves '<<' merge keys
        out: dict[str, Any] = {}
        for knode, vnode in node.value:
            key = loader.construct_object(knode, deep=True)
            kline = knode.start_mark.line + 1
            where = f"{source}:{kline}: {_fmt_path(path) + ': ' if path else ''}"
            if not isinstance(key, str):
                raise MappingError(f"{where}key {_kind(key)} is not a string (quote it)")
            if key in out:
                raise MappingError(f"{where}duplicate key {key!r} (first at line {lines.key[(*path, key)]})")
            lines.key[(*path, key)] = kline
            out[key] = _to_plain(loader, vnode, (*path, key), lines, source)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_plain(loader, item, (*path, i), lines, source) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
