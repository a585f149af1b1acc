"""Values (terms) and selector expressions, and the Term and Expr unions of their nodes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Union

from ...types import CqlType
from .render import _function_name, quote_ident, type_cql


class ConstantKind(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    NULL = "null"
    HEX = "hex"
    UUID = "uuid"
    DURATION = "duration"


@dataclass(frozen=True, slots=True)
class Constant:
    kind: ConstantKind
    value: object
    text: str

    def to_cql(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class BindMarker:
    index: int
    name: str | None = None

    def to_cql(self) -> str:
        return "?" if self.name is None else ":" + quote_ident(self.name)


@dataclass(frozen=True, slots=True)
class ListLiteral:
    elements: tuple[Expr, ...]

    def to_cql(self) -> str:
        return "[" + ", ".join(e.to_cql() for e in self.elements) + "]"


@dataclass(frozen=True, slots=True)
class SetLiteral:
    elements: tuple[Expr, ...]

    def to_cql(self) -> str:
        return "{" + ", ".join(e.to_cql() for e in self.elements) + "}"


@dataclass(frozen=True, slots=True)
class MapLiteral:
    entries: tuple[tuple[Expr, Expr], ...]

    def to_cql(self) -> str:
        return "{" + ", ".join(_map_entry(k, v) for k, v in self.entries) + "}"


def _map_entry(key: Expr, value: Expr) -> str:
    if isinstance(key, ColumnRef):
        # A selector's column as a key keeps its parentheses (`{a: 1}` reads as a UDT literal), and
        # so does the value (`{(a): b}` reads as a cast of the marker :b); in selectors, parentheses
        # around one expression only group it.
        return f"({key.to_cql()}): ({value.to_cql()})"
    return f"{key.to_cql()}: {value.to_cql()}"


@dataclass(frozen=True, slots=True)
class EmptySetOrMap:
    def to_cql(self) -> str:
        return "{}"


@dataclass(frozen=True, slots=True)
class TupleLiteral:
    elements: tuple[Expr, ...]

    def to_cql(self) -> str:
        return "(" + ", ".join(e.to_cql() for e in self.elements) + ")"


@dataclass(frozen=True, slots=True)
class UdtLiteral:
    fields: tuple[tuple[str, Expr], ...]

    def to_cql(self) -> str:
        return "{" + ", ".join(f"{quote_ident(k)}: {v.to_cql()}" for k, v in self.fields) + "}"


@dataclass(frozen=True, slots=True)
class FunctionCall:
    name: str
    args: tuple[Expr, ...]
    keyspace: str | None = None

    def to_cql(self) -> str:
        prefix = "" if self.keyspace is None else quote_ident(self.keyspace) + "."
        return prefix + _function_name(self.name) + "(" + ", ".join(a.to_cql() for a in self.args) + ")"


@dataclass(frozen=True, slots=True)
class Cast:
    """A type hint, ``(type) operand``."""

    type: CqlType
    operand: Expr

    def to_cql(self) -> str:
        return f"({type_cql(self.type)}) {_wrap(self.operand, _NEEDS_PARENS_AS_OPERAND)}"


@dataclass(frozen=True, slots=True)
class CastAs:
    """A conversion, ``CAST(operand AS type)``."""

    operand: Expr
    type: CqlType

    def to_cql(self) -> str:
        return f"CAST({self.operand.to_cql()} AS {type_cql(self.type)})"


@dataclass(frozen=True, slots=True)
class Negated:
    operand: Expr

    def to_cql(self) -> str:
        # The blank keeps "- 1" from lexing as the constant -1 and "- -1" from being a comment.
        return "- " + _wrap(self.operand, (BinaryOp,))


_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "%": 2}


@dataclass(frozen=True, slots=True)
class BinaryOp:
    op: str
    left: Expr
    right: Expr

    def to_cql(self) -> str:
        p = _PRECEDENCE[self.op]
        left = self.left.to_cql()
        if isinstance(self.left, BinaryOp) and _PRECEDENCE[self.left.op] < p:
            left = f"({left})"
        right = self.right.to_cql()
        if isinstance(self.right, BinaryOp) and _PRECEDENCE[self.right.op] <= p:
            right = f"({right})"
        return f"{left} {self.op} {right}"


# ---------------------------------------------------------------------------------------------
# Selector expressions and column references
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ColumnRef:
    name: str

    def to_cql(self) -> str:
        return quote_ident(self.name)


@dataclass(frozen=True, slots=True)
class FieldAccess:
    target: Expr
    field: str

    def to_cql(self) -> str:
        target = _wrap(self.target, _NEEDS_PARENS_AS_TARGET)
        if _ends_with_number(self.target):
            target = f"({target})"  # `1.f` and `(int) 2..f` lex as a float (`1.`, `2.`) and what follows
        return f"{target}.{quote_ident(self.field)}"


def _ends_with_number(e: Expr) -> bool:
    """Whether `e` renders ending in a numeric literal (a cast's operand comes last, unwrapped)."""
    while isinstance(e, Cast):
        e = e.operand
    return isinstance(e, Constant) and e.kind in (ConstantKind.INTEGER, ConstantKind.FLOAT)


@dataclass(frozen=True, slots=True)
class ElementAccess:
    target: Expr
    key: Expr

    def to_cql(self) -> str:
        return f"{_wrap(self.target, _NEEDS_PARENS_AS_TARGET)}[{self.key.to_cql()}]"


@dataclass(frozen=True, slots=True)
class SliceAccess:
    target: Expr
    start: Expr | None
    end: Expr | None

    def to_cql(self) -> str:
        lo = "" if self.start is None else self.start.to_cql() + " "
        hi = "" if self.end is None else " " + self.end.to_cql()
        return f"{_wrap(self.target, _NEEDS_PARENS_AS_TARGET)}[{lo}..{hi}]"


@dataclass(frozen=True, slots=True)
class CountRows:
    """``COUNT(*)``."""

    def to_cql(self) -> str:
        return "COUNT(*)"


class MetadataKind(StrEnum):
    WRITETIME = "WRITETIME"
    MAXWRITETIME = "MAXWRITETIME"
    TTL = "TTL"


@dataclass(frozen=True, slots=True)
class WritetimeOrTtl:
    """``WRITETIME(c)``, ``MAXWRITETIME(c)``, ``TTL(c)``; the target may select an element or field."""

    kind: MetadataKind
    target: Expr

    def to_cql(self) -> str:
        return f"{self.kind.value}({self.target.to_cql()})"


_NEEDS_PARENS_AS_TARGET: tuple[type, ...] = (BinaryOp, Negated)
_NEEDS_PARENS_AS_OPERAND: tuple[type, ...] = (BinaryOp, Negated, FieldAccess, ElementAccess, SliceAccess)


def _wrap(e: Expr, kinds: tuple[type, ...]) -> str:
    s = e.to_cql()
    return f"({s})" if isinstance(e, kinds) else s


Term = Union[  # noqa: UP007 - a runtime alias of classes defined above
    Constant,
    BindMarker,
    ListLiteral,
    SetLiteral,
    MapLiteral,
    EmptySetOrMap,
    TupleLiteral,
    UdtLiteral,
    FunctionCall,
    Cast,
    CastAs,
    Negated,
    BinaryOp,
]
Expr = Union[  # noqa: UP007
    Term,
    ColumnRef,
    FieldAccess,
    ElementAccess,
    SliceAccess,
    CountRows,
    WritetimeOrTtl,
]
