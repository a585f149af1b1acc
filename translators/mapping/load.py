"""Reading a mapping: from YAML text or a file, from plain values, or from tables built elsewhere."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .build import (
    _DYNAMODB_KEYS,
    _TOP_KEYS,
    _Builder,
    _check_keys,
    _Invalid,
    _list,
    _map,
    _opt_str,
    _parse_policy,
)
from .cross_checks import _cross_checks
from .dump import _mapping_to_dict
from .model import BUILTIN_DEFAULTS, POLICY_KEYS, VERSION, Mapping, MappingError, TableDefaults, TableMapping
from .yaml_lines import PathT, _compose, _fmt_path, _kind, _Lines


def _where(source: str, lines: _Lines | None, e: _Invalid) -> str:
    line = lines.of(e.path, e.key) if lines else None
    loc = f"{source}:{line}:" if line is not None else f"{source}:"
    return f"{loc} {_fmt_path(e.path)}: {e.message}" if e.path else f"{loc} {e.message}"


def mapping_from_dict(raw: Any, source: str = "<mapping>", lines: _Lines | None = None) -> Mapping:
    """Builds and checks a Mapping from plain values (as YAML would give). Raises MappingError."""
    errors: list[tuple[int, str]] = []

    def fail(e: _Invalid) -> None:
        errors.append((lines.of(e.path, e.key) or 0 if lines else 0, _where(source, lines, e)))

    def finish() -> None:
        if errors:
            msgs = [m for _, m in sorted(errors, key=lambda x: x[0])]
            raise MappingError("\n".join(msgs), msgs)

    try:
        d = _map(raw, ())
        _check_keys(d, (), _TOP_KEYS, required=("version", "tables"))
        version = d["version"]
        if isinstance(version, bool) or not isinstance(version, int):
            raise _Invalid(("version",), f"expected an integer, got {_kind(version)}")
        if version != VERSION:
            raise _Invalid(("version",), f"unsupported version {version} (this release reads version {VERSION})")
    except _Invalid as e:
        fail(e)
        finish()

    region = endpoint = None
    try:
        dyn = _map(d.get("dynamodb") or {}, ("dynamodb",))
        _check_keys(dyn, ("dynamodb",), _DYNAMODB_KEYS)
        region = _opt_str(dyn.get("region"), ("dynamodb", "region"))
        endpoint = _opt_str(dyn.get("endpoint"), ("dynamodb", "endpoint"))
        if endpoint is not None and not re.match(r"https?://", endpoint):
            raise _Invalid(("dynamodb", "endpoint"), f"{endpoint!r} is not an http:// or https:// URL")
    except _Invalid as e:
        fail(e)

    defaults: TableDefaults = BUILTIN_DEFAULTS
    defaults_where: dict[str, PathT] = {}
    try:
        dd = _map(d.get("defaults") or {}, ("defaults",))
        _check_keys(dd, ("defaults",), POLICY_KEYS)
        defaults, defaults_where = _parse_policy(dd, ("defaults",), BUILTIN_DEFAULTS)
    except _Invalid as e:
        fail(e)

    builder = _Builder(defaults, defaults_where)
    built: list[tuple[TableMapping, PathT]] = []
    try:
        items = _list(d["tables"] if d["tables"] is not None else [], ("tables",))
    except _Invalid as e:
        fail(e)
        items = []
    for i, item in enumerate(items):
        try:
            built.append((builder.table(item, ("tables", i)), ("tables", i)))
        except _Invalid as e:
            fail(e)
    finish()
    try:
        built = _cross_checks(built)
    except _Invalid as e:
        fail(e)
    finish()
    return Mapping(VERSION, region, endpoint, {(tm.keyspace, tm.table): tm for tm, _ in built}, source)


def loads_mapping(text: str, source: str = "<mapping>") -> Mapping:
    raw, lines = _compose(text, source)
    return mapping_from_dict(raw, source, lines)


def load_mapping(path: str | Path) -> Mapping:
    """Reads and checks a mapping file. Raises MappingError (``file:line: ...``) or OSError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise MappingError(f"{path}:1: not UTF-8 text ({e.reason} at byte {e.start})") from None
    return loads_mapping(text, str(path))


def table_from_dict(raw: dict[str, Any], defaults: TableDefaults = BUILTIN_DEFAULTS,
                    source: str = "<mapping>") -> TableMapping:
    """One `tables:` entry (plain values) → TableMapping, with the single-table checks."""
    try:
        return _Builder(defaults).table(raw, ())
    except _Invalid as e:
        raise MappingError(_where(source, None, e)) from None


def build_mapping(tables: Iterable[TableMapping], region: str | None = None, endpoint: str | None = None,
                  source: str = "<mapping>") -> Mapping:
    """A Mapping from tables built elsewhere (e.g. schema import), with the checks between tables."""
    return mapping_from_dict(_mapping_to_dict(tables, region, endpoint, BUILTIN_DEFAULTS), source)
