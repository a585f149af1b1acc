"""The clauses statements share: USING, IF (conditions), and WHERE (relations)."""

from __future__ import annotations

from ..ast import (
    BindMarker,
    ColumnRef,
    ColumnTuple,
    Condition,
    ConditionLhs,
    CustomIndexExpression,
    ElementRef,
    FieldRef,
    InValues,
    Operator,
    Relation,
    RelationLhs,
    Term,
    TokenRef,
    WhereItem,
)
from ..lexer import QNAME, WORD
from .expressions import _Expressions

_REL_OPS = {
    "=": Operator.EQ,
    "!=": Operator.NEQ,
    "<": Operator.LT,
    "<=": Operator.LTE,
    ">": Operator.GT,
    ">=": Operator.GTE,
}

# Words after which a condition, not "IF EXISTS", follows (a column may be named "exists").
_CONDITION_FOLLOWERS = frozenset({"=", "!=", "<", "<=", ">", ">=", "[", "."})


class _Clauses(_Expressions):
    __slots__ = ()

    def take_markers(self, start: int) -> tuple[BindMarker, ...]:
        return tuple(self.markers[start:])

    def using(self, allow_ttl: bool) -> tuple[Term | None, Term | None]:
        """USING TTL/TIMESTAMP [AND ...]; a repeated objective overrides, as in Cassandra."""
        ttl: Term | None = None
        timestamp: Term | None = None
        self.expect_kw("using")
        while True:
            if self.accept_kw("timestamp"):
                self.overridable(timestamp, "TIMESTAMP")
                timestamp = self.int_value()
            elif allow_ttl and self.accept_kw("ttl"):
                self.overridable(ttl, "TTL")
                ttl = self.int_value()
            elif allow_ttl:
                self.no_viable()
            else:
                self.mismatch("K_TIMESTAMP")
            if not allow_ttl or not self.accept_kw("and"):
                return ttl, timestamp

    def overridable(self, prior: Term | None, objective: str) -> None:
        # An overridden marker would stay in the statement's variables with nothing to bind it to:
        # Cassandra fails to prepare such a statement (a server error), and no rendering keeps it.
        if isinstance(prior, BindMarker):
            self.refuse(f"{objective} is given twice in USING and its first value is a bind marker")

    def if_clause(self) -> tuple[bool, tuple[Condition, ...]]:
        if not self.accept_kw("if"):
            return False, ()
        if self.at_kw("exists") and not self.condition_follows():
            self.advance()
            return True, ()
        conditions = [self.condition()]
        while self.accept_kw("and"):
            conditions.append(self.condition())
        return False, tuple(conditions)

    def condition_follows(self) -> bool:
        nxt = self.peek(1)
        return nxt.kind in _CONDITION_FOLLOWERS or (nxt.kind == WORD and nxt.value in ("in", "contains"))

    # -- WHERE and IF ------------------------------------------------------------------------

    def where_clause(self) -> tuple[WhereItem, ...]:
        items = [self.relation()]
        while self.accept_kw("and"):
            items.append(self.relation())
        return tuple(items)

    def relation(self) -> WhereItem:
        t = self.peek()
        if t.kind == WORD and t.value == "token" and self.peek(1).kind == "(":
            self.advance()
            lhs: RelationLhs = TokenRef(self.column_tuple())
            op = self.relation_type()
            return Relation(lhs, op, self.term())
        if t.kind == WORD and t.value == "expr" and self.peek(1).kind == "(" and self.peek(1).start == t.end:
            self.advance()
            self.advance()
            keyspace, index = self.table_name("index")
            self.expect(",")
            value = self.term()
            self.expect(")")
            return CustomIndexExpression(keyspace, index, value)
        if t.kind == "(":
            if self.column_tuple_follows():
                return self.multi_column_relation()
            self.enter()
            self.advance()
            inner = self.relation()
            self.expect(")")
            self.depth -= 1
            return inner
        if t.kind != QNAME and not self.is_ident(t):
            self.no_viable()
        column = self.cident()
        if self.accept("["):
            key = self.term()
            self.expect("]")
            op = self.relation_type()
            return Relation(ElementRef(column, key), op, self.term())
        lhs = ColumnRef(column)
        t = self.peek()
        if t.kind in _REL_OPS:
            self.advance()
            return Relation(lhs, _REL_OPS[t.kind], self.term())
        if t.kind == WORD:
            if t.value == "in":
                self.advance()
                return Relation(lhs, Operator.IN, self.in_values())
            if t.value == "contains":
                self.advance()
                op = Operator.CONTAINS_KEY if self.accept_kw("key") else Operator.CONTAINS
                return Relation(lhs, op, self.term())
            if t.value == "like":
                self.advance()
                return Relation(lhs, Operator.LIKE, self.term())
            if t.value == "is":
                self.advance()
                self.expect_kw("not")
                null = self.expect_kw("null")
                return Relation(lhs, Operator.IS_NOT, self.literal(null))
        self.no_viable()

    def column_tuple_follows(self) -> bool:
        first = self.peek(1)
        return (first.kind == QNAME or self.is_ident(first)) and self.peek(2).kind in (",", ")")

    def column_tuple(self) -> tuple[str, ...]:
        self.expect("(")
        names = [self.cident()]
        while self.accept(","):
            names.append(self.cident())
        self.expect(")")
        return tuple(names)

    def multi_column_relation(self) -> Relation:
        lhs = ColumnTuple(self.column_tuple())
        t = self.peek()
        if t.kind == WORD and t.value == "in":
            self.advance()
            if self.at("?") or self.at(":"):
                return Relation(lhs, Operator.IN, self.marker())
            self.expect("(")
            values: list[Term] = []
            if not self.accept(")"):
                nxt = self.peek()
                if nxt.kind == "(":
                    values.append(self.tuple_literal())
                    while self.accept(","):
                        values.append(self.tuple_literal())
                elif nxt.kind == "?" or nxt.kind == ":":
                    values.append(self.marker())
                    while self.accept(","):
                        values.append(self.marker())
                else:
                    self.no_viable()
                self.expect(")")
            return Relation(lhs, Operator.IN, InValues(tuple(values)))
        op = self.relation_type()
        if self.at("?") or self.at(":"):
            return Relation(lhs, op, self.marker())
        if self.at("("):
            return Relation(lhs, op, self.tuple_literal())
        self.no_viable()

    def relation_type(self) -> Operator:
        t = self.peek()
        op = _REL_OPS.get(t.kind)
        if op is None:
            self.no_viable()
        self.advance()
        return op

    def in_values(self) -> Term | InValues:
        if self.at("?") or self.at(":"):
            return self.marker()
        self.expect("(")
        values: list[Term] = []
        if not self.accept(")"):
            values.append(self.term())
            while self.accept(","):
                values.append(self.term())
            self.expect(")")
        return InValues(tuple(values))

    def condition(self) -> Condition:
        column = self.cident()
        lhs: ConditionLhs
        if self.accept("["):
            key = self.term()
            self.expect("]")
            lhs = ElementRef(column, key)
        elif self.accept("."):
            lhs = FieldRef(column, self.ident())
        else:
            lhs = ColumnRef(column)
        t = self.peek()
        if t.kind in _REL_OPS:
            self.advance()
            return Condition(lhs, _REL_OPS[t.kind], self.term())
        if t.kind == WORD and t.value == "in":
            self.advance()
            return Condition(lhs, Operator.IN, self.in_values())
        if t.kind == WORD and t.value == "contains" and isinstance(lhs, ColumnRef):
            self.advance()
            op = Operator.CONTAINS_KEY if self.accept_kw("key") else Operator.CONTAINS
            return Condition(lhs, op, self.term())
        self.no_viable()
