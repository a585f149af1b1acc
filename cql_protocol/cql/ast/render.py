"""How names, strings and types are written in CQL (quoted where needed)."""

from __future__ import annotations

import re

from ...types import (
    CqlType,
    CustomType,
    ListType,
    MapType,
    NativeType,
    SetType,
    TupleType,
    UDTType,
    VectorType,
)
from ..lexer import ALL_KEYWORDS, RESERVED, UNRESERVED_NON_FUNCTION

_PLAIN_IDENT = re.compile(r"[a-z][a-z0-9_]*\Z")


def quote_ident(name: str) -> str:
    """`name` as a CQL identifier: bare when that reads back the same, else double-quoted."""
    if _PLAIN_IDENT.match(name) and name not in ALL_KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def quote_string(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _function_name(name: str) -> str:
    # Function names may also be TOKEN, COUNT and the unreserved keywords except a few.
    plain = _PLAIN_IDENT.match(name) and (
        name in ("token", "count")
        or (name not in RESERVED and name not in UNRESERVED_NON_FUNCTION and name not in ("true", "false"))
    )
    return name if plain else '"' + name.replace('"', '""') + '"'


def _qualified(keyspace: str | None, name: str) -> str:
    return quote_ident(name) if keyspace is None else f"{quote_ident(keyspace)}.{quote_ident(name)}"


def type_cql(t: CqlType) -> str:
    """A CQL spelling of `t` that keeps user type keyspaces and quoting."""
    if isinstance(t, NativeType):
        return t.cql()
    if isinstance(t, CustomType):
        return quote_string(t.class_name)
    if isinstance(t, ListType):
        s = f"list<{type_cql(t.element)}>"
    elif isinstance(t, SetType):
        s = f"set<{type_cql(t.element)}>"
    elif isinstance(t, MapType):
        s = f"map<{type_cql(t.key)}, {type_cql(t.value)}>"
    elif isinstance(t, TupleType):
        return "tuple<" + ", ".join(type_cql(e) for e in t.elements) + ">"
    elif isinstance(t, VectorType):
        return f"vector<{type_cql(t.element)}, {t.dimension}>"
    elif isinstance(t, UDTType):
        s = _qualified(t.keyspace or None, t.name)
    else:
        return t.cql()
    return f"frozen<{s}>" if getattr(t, "frozen", False) else s
