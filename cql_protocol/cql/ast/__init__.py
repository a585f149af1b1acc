"""Immutable syntax tree of the CQL subset the translator handles.

Nodes are frozen, slotted dataclasses holding tuples, so parsed statements can be shared from a
cache and hashed. Every node renders back to CQL with ``to_cql()``; re-parsing the rendering gives
an equal tree (bind markers keep their order, hence their indexes).

Values (terms and selector expressions):
    Constant(kind, value, text)   literal; `value` is the Python value (str, int, float, bool, None,
                                  bytes, uuid.UUID, types.Duration), `text` a CQL spelling of it that
                                  keeps decimal precision (``1.50``)
    BindMarker(index, name)       ``?`` (name None) or ``:name``; every marker has its bind index
    ListLiteral, SetLiteral, MapLiteral, TupleLiteral
    EmptySetOrMap                 ``{}``: a set or a map, decided by the receiving column's type
    UdtLiteral(fields)            ``{f: v, ...}`` with identifier keys (in a selector the keys might
                                  also be columns of a map: decided by type, as in Cassandra)
    FunctionCall(name, args, keyspace)
    Cast(type, operand)           type hint ``(int) ?``
    CastAs(operand, type)         ``CAST(x AS int)``
    Negated(operand), BinaryOp(op, left, right)   arithmetic (``-x``, ``a + b``)
Selector-only expressions (SELECT clause, GROUP BY):
    ColumnRef(name), FieldAccess(target, field), ElementAccess(target, key),
    SliceAccess(target, start, end), CountRows (``COUNT(*)``), WritetimeOrTtl(kind, target)
Left-hand sides of relations, conditions and DELETE targets:
    ColumnRef, ElementRef(column, key) ``m[k]``, FieldRef(column, field) ``u.f``,
    TokenRef(columns) ``token(a, b)``, ColumnTuple(columns) ``(a, b)``
Clauses:
    Relation(lhs, operator, value) in WHERE; Condition(lhs, operator, value) in IF;
    `value` is InValues(values) for ``IN (...)``, a BindMarker for ``IN ?``, else a term.
    CustomIndexExpression(keyspace, index, value) ``expr(idx, 'q')``
    Assignments: SetValue, SetElement, SetField, Addition, Subtraction, Prepend (the meaning of
    Addition/Subtraction - counter, list, set or map - depends on the column type).
    SelectItem(expr, alias), Ordering(column, descending, ann)
Statements: Insert, Update, Delete, Batch, Select, Use; each carries `bind_markers`, the markers of
the statement in bind order (for a Batch, those of all its statements).

Modules: render (names, strings and types written in CQL), expressions, clauses, statements; the
names above are imported from here.
"""

from __future__ import annotations

from .clauses import (
    Addition,
    Assignment,
    ColumnTuple,
    Condition,
    ConditionLhs,
    CustomIndexExpression,
    DeleteTarget,
    ElementRef,
    FieldRef,
    InValues,
    Operator,
    Prepend,
    Relation,
    RelationLhs,
    SetElement,
    SetField,
    SetValue,
    Subtraction,
    TokenRef,
    WhereItem,
)
from .expressions import (
    BinaryOp,
    BindMarker,
    Cast,
    CastAs,
    ColumnRef,
    Constant,
    ConstantKind,
    CountRows,
    ElementAccess,
    EmptySetOrMap,
    Expr,
    FieldAccess,
    FunctionCall,
    ListLiteral,
    MapLiteral,
    MetadataKind,
    Negated,
    SetLiteral,
    SliceAccess,
    Term,
    TupleLiteral,
    UdtLiteral,
    WritetimeOrTtl,
)
from .render import (
    quote_ident,
    quote_string,
    type_cql,
)
from .statements import (
    Batch,
    BatchKind,
    Delete,
    Insert,
    ModificationStatement,
    Ordering,
    Select,
    SelectItem,
    Statement,
    Update,
    Use,
)

__all__ = [
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
    "ConditionLhs",
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
    "RelationLhs",
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
    "Update",
    "Use",
    "WhereItem",
    "WritetimeOrTtl",
    "quote_ident",
    "quote_string",
    "type_cql",
]
