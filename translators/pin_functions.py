"""Pins non-deterministic CQL functions to literals before a statement reaches Cassandra.

`now()`, `uuid()`, `currentTimestamp()` ... are evaluated by Cassandra, so a sidecar cannot know
what it stored. Replacing them with the values the sidecar picks, in the statement text sent to
Cassandra, makes both stores write the same value. Only plain QUERY statements can be rewritten:
a prepared statement's text is fixed by its id.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
import uuid
from typing import Any

from cql_protocol.cql import ast

_UUID_FUNCS = {"now": uuid.uuid1, "currenttimeuuid": uuid.uuid1, "uuid": uuid.uuid4}


def _norm(name: str) -> str:
    return name.lower().replace("_", "")


def pin(stmt: Any, now: float | None = None) -> tuple[Any, bool]:
    """The statement with every pinnable call replaced by a constant, and whether anything changed."""
    t = time.time() if now is None else now
    changed = False

    def visit(node: Any) -> Any:
        nonlocal changed
        if isinstance(node, tuple):
            new = tuple(visit(n) for n in node)
            return node if all(a is b for a, b in zip(new, node, strict=True)) else new
        if isinstance(node, ast.FunctionCall):
            const = _evaluate(node, t)
            if const is not None:
                changed = True
                return const
        if dataclasses.is_dataclass(node) and not isinstance(node, type):
            updates = {}
            for f in dataclasses.fields(node):
                v = getattr(node, f.name)
                nv = visit(v)
                if nv is not v:
                    updates[f.name] = nv
            return dataclasses.replace(node, **updates) if updates else node
        return node

    return visit(stmt), changed


def _evaluate(call: ast.FunctionCall, t: float) -> ast.Constant | None:
    name = _norm(call.name)
    if call.keyspace not in (None, "system"):
        return None
    if not call.args:
        if name in _UUID_FUNCS:
            u = _UUID_FUNCS[name]()
            return ast.Constant(ast.ConstantKind.UUID, u, str(u))
        if name == "currenttimestamp":
            return _int(int(t * 1000))
        if name == "currentdate":
            return _str(datetime.datetime.fromtimestamp(t, datetime.UTC).date().isoformat())
        if name == "currenttime":
            d = datetime.datetime.fromtimestamp(t, datetime.UTC)
            return _str(d.strftime("%H:%M:%S.") + f"{d.microsecond:06d}000")
        return None
    if len(call.args) == 1 and isinstance(call.args[0], ast.FunctionCall) and not call.args[0].args \
            and _norm(call.args[0].name) in ("now", "currenttimeuuid"):
        if name in ("totimestamp", "dateof", "tounixtimestamp", "unixtimestampof"):
            return _int(int(t * 1000))
        if name == "todate":
            return _str(datetime.datetime.fromtimestamp(t, datetime.UTC).date().isoformat())
    return None


def _int(v: int) -> ast.Constant:
    return ast.Constant(ast.ConstantKind.INTEGER, v, str(v))


def _str(s: str) -> ast.Constant:
    return ast.Constant(ast.ConstantKind.STRING, s, "'" + s.replace("'", "''") + "'")
