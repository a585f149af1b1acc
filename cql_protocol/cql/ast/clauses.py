"""Left-hand sides, relations (WHERE) and conditions (IF), and the assignments of UPDATE ... SET."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Union

from .expressions import ColumnRef, Term
from .render import _qualified, quote_ident


@dataclass(frozen=True, slots=True)
class ElementRef:
    column: str
    key: Term

    def to_cql(self) -> str:
        return f"{quote_ident(self.column)}[{self.key.to_cql()}]"


@dataclass(frozen=True, slots=True)
class FieldRef:
    column: str
    field: str

    def to_cql(self) -> str:
        return f"{quote_ident(self.column)}.{quote_ident(self.field)}"


@dataclass(frozen=True, slots=True)
class TokenRef:
    columns: tuple[str, ...]

    def to_cql(self) -> str:
        return "token(" + ", ".join(quote_ident(c) for c in self.columns) + ")"


@dataclass(frozen=True, slots=True)
class ColumnTuple:
    columns: tuple[str, ...]

    def to_cql(self) -> str:
        return "(" + ", ".join(quote_ident(c) for c in self.columns) + ")"


class Operator(StrEnum):
    EQ = "="
    NEQ = "!="
    LT = "<"
    LTE = "<="
    GT = ">"
    GTE = ">="
    IN = "IN"
    CONTAINS = "CONTAINS"
    CONTAINS_KEY = "CONTAINS KEY"
    LIKE = "LIKE"
    IS_NOT = "IS NOT"


@dataclass(frozen=True, slots=True)
class InValues:
    """The parenthesised list of ``IN (a, b)``; ``IN ?`` has a BindMarker instead."""

    values: tuple[Term, ...]

    def to_cql(self) -> str:
        return "(" + ", ".join(v.to_cql() for v in self.values) + ")"


RelationLhs = Union[ColumnRef, ElementRef, TokenRef, ColumnTuple]  # noqa: UP007
ConditionLhs = Union[ColumnRef, ElementRef, FieldRef]  # noqa: UP007


@dataclass(frozen=True, slots=True)
class Relation:
    lhs: RelationLhs
    operator: Operator
    value: Term | InValues

    def to_cql(self) -> str:
        return f"{self.lhs.to_cql()} {self.operator.value} {self.value.to_cql()}"


@dataclass(frozen=True, slots=True)
class CustomIndexExpression:
    keyspace: str | None
    index: str
    value: Term

    def to_cql(self) -> str:
        return f"expr({_qualified(self.keyspace, self.index)}, {self.value.to_cql()})"


WhereItem = Union[Relation, CustomIndexExpression]  # noqa: UP007


@dataclass(frozen=True, slots=True)
class Condition:
    lhs: ConditionLhs
    operator: Operator
    value: Term | InValues

    def to_cql(self) -> str:
        return f"{self.lhs.to_cql()} {self.operator.value} {self.value.to_cql()}"


# ---------------------------------------------------------------------------------------------
# Assignments (UPDATE ... SET)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetValue:
    """``c = v``."""

    column: str
    value: Term

    def to_cql(self) -> str:
        return f"{quote_ident(self.column)} = {self.value.to_cql()}"


@dataclass(frozen=True, slots=True)
class SetElement:
    """``c[k] = v``: list index or map key."""

    column: str
    key: Term
    value: Term

    def to_cql(self) -> str:
        return f"{quote_ident(self.column)}[{self.key.to_cql()}] = {self.value.to_cql()}"


@dataclass(frozen=True, slots=True)
class SetField:
    """``u.f = v``."""

    column: str
    field: str
    value: Term

    def to_cql(self) -> str:
        return f"{quote_ident(self.column)}.{quote_ident(self.field)} = {self.value.to_cql()}"


@dataclass(frozen=True, slots=True)
class Addition:
    """``c = c + v`` or ``c += v``: counter increment, list append, set add or map put."""

    column: str
    value: Term

    def to_cql(self) -> str:
        c = quote_ident(self.column)
        return f"{c} = {c} + {self.value.to_cql()}"


@dataclass(frozen=True, slots=True)
class Subtraction:
    """``c = c - v`` or ``c -= v``: counter decrement, list/set element removal, map key removal."""

    column: str
    value: Term

    def to_cql(self) -> str:
        c = quote_ident(self.column)
        return f"{c} = {c} - {self.value.to_cql()}"


@dataclass(frozen=True, slots=True)
class Prepend:
    """``l = v + l``."""

    column: str
    value: Term

    def to_cql(self) -> str:
        c = quote_ident(self.column)
        return f"{c} = {self.value.to_cql()} + {c}"


Assignment = Union[SetValue, SetElement, SetField, Addition, Subtraction, Prepend]  # noqa: UP007
DeleteTarget = Union[ColumnRef, ElementRef, FieldRef]  # noqa: UP007
