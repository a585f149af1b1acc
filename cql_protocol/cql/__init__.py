"""Parser for the CQL statements the translator handles (Cassandra 5.0 grammar).

* ``parse(cql)`` turns INSERT, UPDATE, DELETE, BATCH, SELECT and USE into an immutable tree (see
  ``ast`` for the node set); ``parse_cached`` memoises it per statement text.
* ``classify(cql)`` names the statement kind, keyspace and table without a full parse, for routing.
* Errors: ``SyntaxError_`` with Cassandra-style positions for malformed text; ``Unsupported`` (an
  ``InvalidRequest``) for valid statements outside the subset (DDL, roles, permissions, ...), which
  callers pass to Cassandra unchanged; ``InvalidRequest`` for the few checks Cassandra makes without a
  schema (unmatched INSERT columns, custom timestamp on a conditional update, batch-wide TTL, ...).

Bind markers are numbered as Cassandra numbers bound variables: every ``?`` and ``:name`` in order
of appearance across the whole statement (BATCH members, USING clauses and LIMIT included).
"""

from __future__ import annotations

import functools

from .ast import (
    Addition,
    Assignment,
    Batch,
    BatchKind,
    BinaryOp,
    BindMarker,
    Cast,
    CastAs,
    ColumnRef,
    ColumnTuple,
    Condition,
    Constant,
    ConstantKind,
    CountRows,
    CustomIndexExpression,
    Delete,
    DeleteTarget,
    ElementAccess,
    ElementRef,
    EmptySetOrMap,
    Expr,
    FieldAccess,
    FieldRef,
    FunctionCall,
    Insert,
    InValues,
    ListLiteral,
    MapLiteral,
    MetadataKind,
    ModificationStatement,
    Negated,
    Operator,
    Ordering,
    Prepend,
    Relation,
    Select,
    SelectItem,
    SetElement,
    SetField,
    SetLiteral,
    SetValue,
    SliceAccess,
    Statement,
    Subtraction,
    Term,
    TokenRef,
    TupleLiteral,
    UdtLiteral,
    Update,
    Use,
    WhereItem,
    WritetimeOrTtl,
    quote_ident,
    quote_string,
)
from .classify import classify
from .parser import Unsupported, parse

CACHE_SIZE = 4096


@functools.lru_cache(maxsize=CACHE_SIZE)
def parse_cached(statement: str) -> Statement:
    """``parse`` memoised by statement text; the trees are immutable and safe to share. Errors are
    not cached."""
    return parse(statement)


__all__ = [
    "CACHE_SIZE",
    "Addition",
    "Assignment",
    "Batch",
    "BatchKind",
    "BinaryOp",
    "BindMarker",
    "Cast",
    "CastAs",
    "ColumnRef",
    "ColumnTuple",
    "Condition",
    "Constant",
    "ConstantKind",
    "CountRows",
    "CustomIndexExpression",
    "Delete",
    "DeleteTarget",
    "ElementAccess",
    "ElementRef",
    "EmptySetOrMap",
    "Expr",
    "FieldAccess",
    "FieldRef",
    "FunctionCall",
    "InValues",
    "Insert",
    "ListLiteral",
    "MapLiteral",
    "MetadataKind",
    "ModificationStatement",
    "Negated",
    "Operator",
    "Ordering",
    "Prepend",
    "Relation",
    "Select",
    "SelectItem",
    "SetElement",
    "SetField",
    "SetLiteral",
    "SetValue",
    "SliceAccess",
    "Statement",
    "Subtraction",
    "Term",
    "TokenRef",
    "TupleLiteral",
    "UdtLiteral",
    "Unsupported",
    "Update",
    "Use",
    "WhereItem",
    "WritetimeOrTtl",
    "classify",
    "parse",
    "parse_cached",
    "quote_ident",
    "quote_string",
]
