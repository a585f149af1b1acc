"""INSERT, UPDATE (with its assignments), DELETE and BATCH."""

from __future__ import annotations

from ...errors import SyntaxError_
from ..ast import (
    Addition,
    Assignment,
    Batch,
    BatchKind,
    ColumnRef,
    Delete,
    DeleteTarget,
    ElementRef,
    FieldRef,
    Insert,
    ModificationStatement,
    Prepend,
    SetElement,
    SetField,
    SetValue,
    Subtraction,
    Term,
    Update,
)
from ..lexer import INTEGER, QNAME, STRING, WORD
from .clauses import _Clauses


class _Modifications(_Clauses):
    __slots__ = ()

    def insert(self) -> Insert:
        start = len(self.markers)
        self.expect_kw("insert")
        self.expect_kw("into")
        keyspace, table = self.table_name()
        columns: tuple[str, ...] = ()
        values: tuple[Term, ...] = ()
        json: Term | None = None
        default_unset = False
        if self.accept_kw("json"):
            t = self.peek()
            if t.kind == STRING:
                self.advance()
                json = self.literal(t)
            elif t.kind == "?" or t.kind == ":":
                json = self.marker()
            else:
                self.no_viable()
            if self.accept_kw("default"):
                if self.accept_kw("unset"):
                    default_unset = True
                elif not self.accept_kw("null"):
                    self.no_viable()
        else:
            self.expect("(")
            cols = [self.cident()]
            while self.accept(","):
                cols.append(self.cident())
            self.expect(")")
            self.expect_kw("values")
            self.expect("(")
            vals = [self.term()]
            while self.accept(","):
                vals.append(self.term())
            self.expect(")")
            columns, values = tuple(cols), tuple(vals)
        if_not_exists = False
        if self.accept_kw("if"):
            self.expect_kw("not")
            self.expect_kw("exists")
            if_not_exists = True
        ttl = timestamp = None
        if self.at_kw("using"):
            ttl, timestamp = self.using(True)
        if json is None:
            if len(columns) != len(values):
                self.refuse("Unmatched column names/values")
            seen: set[str] = set()
            for c in columns:
                if c in seen:
                    self.refuse(f"Multiple definitions found for column {c}")
                seen.add(c)
        if if_not_exists and timestamp is not None:
            self.refuse("Cannot provide custom timestamp for conditional updates")
        return Insert(
            keyspace=keyspace,
            table=table,
            columns=columns,
            values=values,
            json=json,
            json_default_unset=default_unset,
            if_not_exists=if_not_exists,
            ttl=ttl,
            timestamp=timestamp,
            bind_markers=self.take_markers(start),
        )

    def update(self) -> Update:
        start = len(self.markers)
        self.expect_kw("update")
        keyspace, table = self.table_name()
        ttl = timestamp = None
        if self.at_kw("using"):
            ttl, timestamp = self.using(True)
        self.expect_kw("set")
        assignments: list[Assignment] = []
        self.assignment(assignments)
        while self.accept(","):
            self.assignment(assignments)
        self.expect_kw("where")
        where = self.where_clause()
        if_exists, conditions = self.if_clause()
        if timestamp is not None and (if_exists or conditions):
            self.refuse("Cannot provide custom timestamp for conditional updates")
        return Update(
            keyspace=keyspace,
            table=table,
            assignments=tuple(assignments),
            where=where,
            if_exists=if_exists,
            conditions=conditions,
            ttl=ttl,
            timestamp=timestamp,
            bind_markers=self.take_markers(start),
        )

    def delete(self) -> Delete:
        start = len(self.markers)
        self.expect_kw("delete")
        targets: list[DeleteTarget] = []
        if not self.at_kw("from"):
            targets.append(self.delete_target())
            while self.accept(","):
                targets.append(self.delete_target())
        self.expect_kw("from")
        keyspace, table = self.table_name()
        timestamp = None
        if self.at_kw("using"):
            _, timestamp = self.using(False)
        self.expect_kw("where")
        where = self.where_clause()
        if_exists, conditions = self.if_clause()
        if timestamp is not None and (if_exists or conditions):
            self.refuse("Cannot provide custom timestamp for conditional updates")
        return Delete(
            keyspace=keyspace,
            table=table,
            targets=tuple(targets),
            where=where,
            if_exists=if_exists,
            conditions=conditions,
            timestamp=timestamp,
            bind_markers=self.take_markers(start),
        )

    def delete_target(self) -> DeleteTarget:
        column = self.cident()
        if self.accept("["):
            key = self.term()
            self.expect("]")
            return ElementRef(column, key)
        if self.accept("."):
            return FieldRef(column, self.ident())
        return ColumnRef(column)

    def batch(self) -> Batch:
        self.expect_kw("begin")
        kind = BatchKind.LOGGED
        if self.accept_kw("unlogged"):
            kind = BatchKind.UNLOGGED
        elif self.accept_kw("counter"):
            kind = BatchKind.COUNTER
        self.expect_kw("batch")
        ttl = timestamp = None
        if self.at_kw("using"):
            ttl, timestamp = self.using(True)
        statements: list[ModificationStatement] = []
        while True:
            t = self.peek()
            if t.kind != WORD:
                break
            if t.value == "insert":
                statements.append(self.insert())
            elif t.value == "update":
                statements.append(self.update())
            elif t.value == "delete":
                statements.append(self.delete())
            else:
                break
            self.accept(";")
        self.expect_kw("apply")
        self.expect_kw("batch")
        if ttl is not None:
            self.refuse("Global TTL on the BATCH statement is not supported.")
        if timestamp is not None and any(
            (isinstance(s, Insert) and s.if_not_exists)
            or (not isinstance(s, Insert) and (s.if_exists or s.conditions))
            for s in statements
        ):
            self.refuse("Cannot provide custom timestamp for conditional BATCH")
        return Batch(
            kind=kind,
            statements=tuple(statements),
            timestamp=timestamp,
            bind_markers=tuple(self.markers),
        )

    # -- UPDATE assignments ------------------------------------------------------------------

    def assignment(self, out: list[Assignment]) -> None:
        column = self.cident()
        t = self.peek()
        op: Assignment
        if t.kind == "=":
            self.advance()
            op = self.normal_assignment(column)
        elif t.kind == "+=" or t.kind == "-=":
            self.advance()
            value = self.term()
            op = Addition(column, value) if t.kind == "+=" else Subtraction(column, value)
        elif t.kind == "[":
            self.advance()
            key = self.term()
            self.expect("]")
            self.expect("=")
            op = SetElement(column, key, self.term())
        elif t.kind == ".":
            self.advance()
            name = self.ident()
            self.expect("=")
            op = SetField(column, name, self.term())
        else:
            self.no_viable()
        for prior in out:
            if prior.column == column and not _compatible(prior, op):
                raise SyntaxError_(f"Multiple incompatible setting of column {column}")
        out.append(op)

    def normal_assignment(self, column: str) -> Assignment:
        t = self.peek()
        if (t.kind == QNAME or self.is_ident(t)) and self.peek(1).kind != "(" and not self.function_follows():
            other = self.cident()
            sig = self.peek()
            if sig.kind == "+" or sig.kind == "-":
                self.advance()
                if other != column:
                    raise SyntaxError_(f"Only expressions of the form X = X {sig.kind}<value> are supported.")
                value = self.term()
                return Addition(column, value) if sig.kind == "+" else Subtraction(column, value)
            if sig.kind == INTEGER:
                # "c = c -1" lexes as c, =, c, -1.
                self.advance()
                if other != column:
                    sign = "-" if sig.value.startswith("-") else "+"
                    raise SyntaxError_(f"Only expressions of the form X = X {sign} <value> are supported.")
                return Addition(column, self.integer(sig))
            self.no_viable()
        value = self.term()
        if self.accept("+"):
            other = self.cident()
            if other != column:
                raise SyntaxError_("Only expressions of the form X = <value> + X are supported.")
            return Prepend(column, value)
        return SetValue(column, value)


def _compatible(prior: Assignment, new: Assignment) -> bool:
    """Cassandra's Operation.RawUpdate.isCompatibleWith, asked of the earlier operation."""
    if isinstance(prior, SetValue):
        return False
    if isinstance(prior, SetField) and isinstance(new, SetField):
        return prior.field != new.field
    return not isinstance(new, SetValue)
