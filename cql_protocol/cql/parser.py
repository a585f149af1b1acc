"""Recursive-descent parser for the CQL DML subset, following Cassandra 5.0's Parser.g.

Syntax errors read like Cassandra's (``line 1:9 mismatched input 'FORM' expecting K_FROM (SELECT *
[FORM] t...)``). Statements that are valid CQL but outside the subset (DDL, permissions, ...) raise
Unsupported so that callers can hand them to Cassandra unchanged.
"""

from __future__ import annotations

import uuid
from typing import NoReturn, cast

from ..errors import InvalidRequest, SyntaxError_
from ..typeparse import parse_cql_type
from ..types import CqlType
from . import lexer
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
    ConditionLhs,
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
    RelationLhs,
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
)
from .classify import unsupported_kind
from .duration import parse_duration
from .lexer import (
    BOOLEAN,
    DURATION,
    EOF,
    FLOAT,
    HEX,
    INTEGER,
    NEG_INF,
    NEG_NAN,
    QNAME,
    RESERVED,
    STRING,
    UUID,
    WORD,
    Token,
)

# Nesting limit for collections, tuples, parentheses: keeps hostile input from exhausting the stack.
MAX_DEPTH = 64

NAN = float("nan")  # one object, so that equal trees compare equal (nan != nan)
_INF = float("inf")

# Python's int() refuses longer digit strings by default.
_MAX_INT_DIGITS = 4000


class Unsupported(InvalidRequest):
    """Valid CQL outside the translated subset (DDL, permissions, ...). `kind` names the statement."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"{kind} statements are not supported by the translator")
        self.kind = kind


_REL_OPS = {
    "=": Operator.EQ,
    "!=": Operator.NEQ,
    "<": Operator.LT,
    "<=": Operator.LTE,
    ">": Operator.GT,
    ">=": Operator.GTE,
}

_LITERAL_KINDS = frozenset({STRING, INTEGER, FLOAT, BOOLEAN, DURATION, UUID, HEX, NEG_NAN, NEG_INF})
_METADATA_FUNCTIONS = {
    "writetime": MetadataKind.WRITETIME,
    "maxwritetime": MetadataKind.MAXWRITETIME,
    "ttl": MetadataKind.TTL,
}
# Words after which a condition, not "IF EXISTS", follows (a column may be named "exists").
_CONDITION_FOLLOWERS = frozenset({"=", "!=", "<", "<=", ">", ">=", "[", "."})


def parse(statement: str) -> Statement:
    """Parses one CQL statement. Raises SyntaxError_, Unsupported, or InvalidRequest for the few
    checks Cassandra makes without a schema."""
    return _Parser(statement).statement()


class _Parser:
    __slots__ = ("depth", "invalid", "markers", "n", "pos", "src", "toks")

    def __init__(self, src: str) -> None:
        self.src = src
        self.toks = lexer.tokenize(src)
        self.n = len(self.toks) - 1  # index of EOF
        self.pos = 0
        self.markers: list[BindMarker] = []
        self.depth = 0
        # the first schema-free check that failed: raised once the whole statement has parsed, so
        # that a syntax error further on wins, as in Cassandra (which checks while preparing)
        self.invalid: InvalidRequest | None = None

    # -- token helpers -----------------------------------------------------------------------

    def peek(self, k: int = 0) -> Token:
        i = self.pos + k
        return self.toks[i if i < self.n else self.n]

    def advance(self) -> Token:
        t = self.toks[self.pos]
        if self.pos < self.n:
            self.pos += 1
        return t

    def at(self, kind: str) -> bool:
        return self.toks[self.pos].kind == kind

    def at_kw(self, word: str) -> bool:
        t = self.toks[self.pos]
        return t.kind == WORD and t.value == word

    def accept(self, kind: str) -> bool:
        if self.toks[self.pos].kind == kind:
            self.advance()
            return True
        return False

    def accept_kw(self, word: str) -> bool:
        t = self.toks[self.pos]
        if t.kind == WORD and t.value == word:
            self.advance()
            return True
        return False

    def expect(self, kind: str) -> Token:
        t = self.toks[self.pos]
        if t.kind != kind:
            self.mismatch(f"'{kind}'")
        return self.advance()

    def expect_kw(self, word: str) -> Token:
        t = self.toks[self.pos]
        if t.kind != WORD or t.value != word:
            self.mismatch("K_" + word.upper())
        return self.advance()

    def refuse(self, message: str) -> None:
        """Records a statement Cassandra would refuse though its syntax is right (see `invalid`)."""
        if self.invalid is None:
            self.invalid = InvalidRequest(message)

    def error(self, message: str, token: Token | None = None) -> NoReturn:
        tok = self.toks[self.pos] if token is None else token
        line, col = lexer.line_col(self.src, tok.start)
        raise SyntaxError_(f"line {line}:{col} {message}{lexer.snippet(self.src, tok)}")

    def mismatch(self, expecting: str) -> NoReturn:
        tok = self.toks[self.pos]
        self.error(f"mismatched input {lexer.error_display(self.src, tok)} expecting {expecting}")

    def no_viable(self) -> NoReturn:
        tok = self.toks[self.pos]
        self.error(f"no viable alternative at input {lexer.error_display(self.src, tok)}")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.error(f"nesting deeper than {MAX_DEPTH} levels")

    # -- identifiers -------------------------------------------------------------------------

    @staticmethod
    def is_ident(t: Token) -> bool:
        return (t.kind == WORD and t.value not in RESERVED) or (t.kind == QNAME and t.value != "")

    def ident(self) -> str:
        """ident / noncol_ident / fident: IDENT, quoted name or unreserved keyword."""
        t = self.toks[self.pos]
        if self.is_ident(t):
            self.advance()
            return t.value
        self.mismatch("IDENT")

    def cident(self) -> str:
        """A column name; the empty quoted name is allowed (legacy super-column name)."""
        t = self.toks[self.pos]
        if t.kind == QNAME:
            self.advance()
            return t.value
        return self.ident()

    def table_name(self, what: str = "table") -> tuple[str | None, str]:
        first = self.name_part(what if self.peek(1).kind != "." else "keyspace")
        if self.accept("."):
            return first, self.name_part(what)
        return None, first

    def name_part(self, what: str) -> str:
        if self.at("?"):
            raise SyntaxError_(f"Bind variables cannot be used for {what} names")
        return self.ident()

    # -- statements --------------------------------------------------------------------------

    def statement(self) -> Statement:
        t = self.peek()
        stmt: Statement
        if t.kind != WORD:
            self.no_viable()
        w = t.value
        if w == "select":
            stmt = self.select()
        elif w == "insert":
            stmt = self.insert()
        elif w == "update":
            stmt = self.update()
        elif w == "delete":
            stmt = self.delete()
        elif w == "begin":
            stmt = self.batch()
        elif w == "use":
            self.advance()
            stmt = Use(self.name_part("keyspace"))
        else:
            kind = unsupported_kind(self.toks)
            if kind is None:
                self.no_viable()
            raise Unsupported(kind)
        while self.accept(";"):
            pass
        if not self.at(EOF):
            self.mismatch("EOF")
        if self.invalid is not None:
            raise self.invalid
        return stmt

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

    def int_value(self) -> Term:
        t = self.peek()
        if t.kind == INTEGER:
            self.advance()
            return self.integer(t)
        if t.kind == "?" or t.kind == ":":
            return self.marker()
        self.no_viable()

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

    def tuple_literal(self) -> TupleLiteral:
        self.expect("(")
        items = [self.term()]
        while self.accept(","):
            items.append(self.term())
        self.expect(")")
        return TupleLiteral(tuple(items))

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

    # -- SELECT ------------------------------------------------------------------------------

    def select(self) -> Select:
        self.expect_kw("select")
        json = self.modifier_keyword("json")
        distinct = self.modifier_keyword("distinct")
        items: list[SelectItem] = []
        if not self.accept("*"):
            items.append(self.select_item())
            while self.accept(","):
                items.append(self.select_item())
        self.expect_kw("from")
        keyspace, table = self.table_name()
        where: tuple[WhereItem, ...] = ()
        if self.accept_kw("where"):
            where = self.where_clause()
        group_by: list[Expr] = []
        if self.at_kw("group") and self.peek(1).kind == WORD and self.peek(1).value == "by":
            self.advance()
            self.advance()
            group_by.append(self.expr(True))
            while self.accept(","):
                group_by.append(self.expr(True))
        order_by: list[Ordering] = []
        if self.accept_kw("order"):
            self.expect_kw("by")
            order_by.append(self.ordering())
            while self.accept(","):
                order_by.append(self.ordering())
        per_partition_limit = limit = None
        if self.at_kw("per") and self.peek(1).kind == WORD and self.peek(1).value == "partition":
            self.advance()
            self.advance()
            self.expect_kw("limit")
            per_partition_limit = self.int_value()
        if self.accept_kw("limit"):
            limit = self.int_value()
        allow_filtering = False
        if self.accept_kw("allow"):
            self.expect_kw("filtering")
            allow_filtering = True
        return Select(
            keyspace=keyspace,
            table=table,
            selectors=tuple(items),
            distinct=distinct,
            json=json,
            where=where,
            group_by=tuple(group_by),
            order_by=tuple(order_by),
            per_partition_limit=per_partition_limit,
            limit=limit,
            allow_filtering=allow_filtering,
            bind_markers=tuple(self.markers),
        )

    def modifier_keyword(self, word: str) -> bool:
        """JSON and DISTINCT are also valid column names: they are modifiers only when a selection
        follows (``SELECT json FROM t`` selects the column json)."""
        if not self.at_kw(word):
            return False
        nxt = self.peek(1)
        k = nxt.kind
        if k == WORD:
            starts = (nxt.value not in RESERVED and nxt.value != "as") or nxt.value in (
                "null",
                "nan",
                "infinity",
                "token",
            )
        else:
            starts = (
                k in _LITERAL_KINDS
                or k in ("*", "(", "[", "{", "-", "?", ":")
                or (k == QNAME and nxt.value != "")
            )
        if starts:
            self.advance()
        return starts

    def select_item(self) -> SelectItem:
        e = self.expr(True)
        if self.accept_kw("as"):
            return SelectItem(e, self.ident())
        return SelectItem(e)

    def ordering(self) -> Ordering:
        column = self.cident()
        ann = None
        if self.at_kw("ann") and self.peek(1).kind == WORD and self.peek(1).value == "of":
            self.advance()
            self.advance()
            ann = self.term()
        descending = False
        if self.accept_kw("desc"):
            descending = True
        else:
            self.accept_kw("asc")
        return Ordering(column, descending, ann)

    # -- terms and selector expressions ------------------------------------------------------
    # One set of functions serves both: `sel` admits column references, selector functions and
    # element/field selection; in terms, parentheses make tuples, in selectors they group.

    def term(self) -> Term:
        return cast(Term, self.expr(False))

    # Operator and modifier chains build left-deep trees; their length counts as depth so that
    # rendering, comparing and hashing a tree stay within the recursion limit.

    def expr(self, sel: bool) -> Expr:
        self.enter()
        levels = 1
        left = self.product(sel)
        while True:
            t = self.peek()
            if t.kind != "+" and t.kind != "-":
                break
            if not sel and t.kind == "+" and self.prepend_follows():
                break
            self.advance()
            self.enter()
            levels += 1
            left = BinaryOp(t.kind, left, self.product(sel))
        self.depth -= levels
        return left

    def prepend_follows(self) -> bool:
        """`+ X` closing ``X = <value> + X``: a column name, not a function call, after the plus."""
        t = self.peek(1)
        if t.kind != QNAME and not self.is_ident(t):
            return False
        nxt = self.peek(2).kind
        return nxt != "(" and nxt != "."

    def product(self, sel: bool) -> Expr:
        left = self.unary(sel)
        levels = 0
        while True:
            t = self.peek()
            if t.kind != "*" and t.kind != "/" and t.kind != "%":
                self.depth -= levels
                return left
            self.advance()
            self.enter()
            levels += 1
            left = BinaryOp(t.kind, left, self.unary(sel))

    def unary(self, sel: bool) -> Expr:
        if self.at("-"):
            self.advance()
            if sel:
                self.enter()
                operand = self.unary(True)
                self.depth -= 1
                return Negated(operand)
            return Negated(self.primary(False))
        e = self.primary(sel)
        if sel:
            e = self.selector_modifiers(e)
        return e

    def selector_modifiers(self, e: Expr) -> Expr:
        levels = 0
        while True:
            if self.at(".") or self.at("["):
                self.enter()
                levels += 1
            if self.at(".") and self.peek(1).kind in (WORD, QNAME):
                self.advance()
                e = FieldAccess(e, self.ident())
            elif self.at("["):
                self.advance()
                if self.accept(".."):
                    e = SliceAccess(e, None, self.term())
                else:
                    key = self.term()
                    if self.accept(".."):
                        end = None if self.at("]") else self.term()
                        e = SliceAccess(e, key, end)
                    else:
                        e = ElementAccess(e, key)
                self.expect("]")
            else:
                self.depth -= levels
                return e

    def primary(self, sel: bool) -> Expr:
        t = self.peek()
        k = t.kind
        if k in _LITERAL_KINDS:
            self.advance()
            return self.literal(t)
        if k == WORD:
            w = t.value
            if w == "null" or w == "nan" or w == "infinity":
                self.advance()
                return self.literal(t)
            if self.peek(1).kind == "(":
                special = self.special_function(w, sel)
                if special is not None:
                    return special
            if self.function_follows():
                return self.function_call(sel)
            if sel and w not in RESERVED:
                self.advance()
                return ColumnRef(w)
            self.no_viable()
        if k == "?" or k == ":":
            return self.marker()
        if k == "[":
            return self.list_literal(sel)
        if k == "{":
            return self.brace_literal(sel)
        if k == "(":
            return self.parenthesised(sel)
        if k == QNAME:
            if self.function_follows():
                return self.function_call(sel)
            if sel and t.value != "":
                self.advance()
                return ColumnRef(t.value)
        self.no_viable()

    def function_follows(self) -> bool:
        """At `name (` or `ks . name (` with a name that may be a function; the keyspace may be any
        identifier (`writetime.f()` calls f of keyspace writetime)."""
        t = self.peek()
        nxt = self.peek(1).kind
        if nxt == "(":
            return _function_name_token(t)
        return (
            nxt == "."
            and self.is_ident(t)
            and _function_name_token(self.peek(2))
            and self.peek(3).kind == "("
        )

    def function_call(self, sel: bool) -> FunctionCall:
        keyspace = None
        name = self.advance().value
        if self.accept("."):
            keyspace, name = name, self.advance().value
        args = self.arguments(sel)
        return FunctionCall(name, args, keyspace)

    def arguments(self, sel: bool) -> tuple[Expr, ...]:
        self.expect("(")
        args: list[Expr] = []
        if not self.accept(")"):
            args.append(self.expr(sel))
            while self.accept(","):
                args.append(self.expr(sel))
            self.expect(")")
        return tuple(args)

    def special_function(self, word: str, sel: bool) -> Expr | None:
        """COUNT(*), WRITETIME/MAXWRITETIME/TTL(c) and CAST(x AS type); None for ordinary calls."""
        if word == "cast":
            self.advance()
            self.expect("(")
            operand = self.expr(True) if sel else self.primary(False)
            self.expect_kw("as")
            t = self.peek()
            if t.kind != WORD or t.value not in lexer.NATIVE_TYPES:
                self.no_viable()
            self.advance()
            self.expect(")")
            return CastAs(operand, parse_cql_type(t.value))
        if not sel:
            return None
        if word == "count" and self.peek(2).kind == "*":
            self.advance()
            self.advance()
            self.advance()
            self.expect(")")
            return CountRows()
        kind = _METADATA_FUNCTIONS.get(word)
        if kind is None:
            return None
        self.advance()
        self.advance()
        column = self.peek()
        if not self.is_ident(column):
            self.mismatch("IDENT")
        self.advance()
        target = self.selector_modifiers(ColumnRef(column.value))
        self.expect(")")
        return WritetimeOrTtl(kind, target)

    def marker(self) -> BindMarker:
        if self.accept("?"):
            m = BindMarker(len(self.markers))
        else:
            self.expect(":")
            m = BindMarker(len(self.markers), self.ident())
        self.markers.append(m)
        return m

    def list_literal(self, sel: bool) -> ListLiteral:
        self.expect("[")
        items: list[Expr] = []
        if not self.accept("]"):
            items.append(self.expr(sel))
            while self.accept(","):
                items.append(self.expr(sel))
            self.expect("]")
        return ListLiteral(tuple(items))

    def brace_literal(self, sel: bool) -> Expr:
        self.expect("{")
        result: Expr
        if self.accept("}"):
            result = EmptySetOrMap()
        elif self.is_ident(self.peek()) and self.peek(1).kind == ":":
            fields: list[tuple[str, Expr]] = []
            while True:
                name = self.ident()
                self.expect(":")
                fields.append((name, self.expr(sel)))
                if not self.accept(","):
                    break
            self.expect("}")
            result = UdtLiteral(tuple(fields))
        else:
            first = self.expr(sel)
            if self.accept(":"):
                entries = [(first, self.expr(sel))]
                while self.accept(","):
                    key = self.expr(sel)
                    self.expect(":")
                    entries.append((key, self.expr(sel)))
                result = MapLiteral(tuple(entries))
            else:
                items = [first]
                while self.accept(","):
                    items.append(self.expr(sel))
                result = SetLiteral(tuple(items))
            self.expect("}")
        return result

    def parenthesised(self, sel: bool) -> Expr:
        hint = self.type_hint(sel)
        if hint is not None:
            type_, end = hint
            self.pos = end
            self.enter()
            operand = self.primary(sel)
            self.depth -= 1
            return Cast(type_, operand)
        if not sel:
            return self.tuple_literal()
        self.expect("(")
        items = [self.expr(True)]
        while self.accept(","):
            items.append(self.expr(True))
        self.expect(")")
        return items[0] if len(items) == 1 else TupleLiteral(tuple(items))

    def type_hint(self, sel: bool) -> tuple[CqlType, int] | None:
        """At ``(type) operand``: the type and the index of the operand's first token."""
        i = self.pos + 1
        toks = self.toks
        first = toks[i]
        if first.kind == STRING:
            if toks[i + 1].kind != ")":
                return None
            i += 1
        elif first.kind == QNAME or (
            first.kind == WORD and (first.value not in RESERVED or first.value == "set")
        ):
            if toks[i + 1].kind == "(":
                return None
            angle = 0
            while True:
                t = toks[i]
                k = t.kind
                if k == ")" and angle == 0:
                    break
                if k == "<":
                    angle += 1
                elif k == ">":
                    angle -= 1
                    if angle < 0:
                        return None
                elif k == ",":
                    if angle == 0:
                        return None
                elif k == WORD:
                    if not _type_word(t.value, toks[i + 1].kind):
                        return None
                elif k not in (QNAME, STRING, INTEGER, "."):
                    return None
                i += 1
        else:
            return None
        operand = toks[i + 1] if i + 1 < len(toks) else toks[-1]
        if not self.operand_start(operand, i + 1, sel):
            return None
        text = " ".join(self.src[t.start : t.end] for t in toks[self.pos + 1 : i])
        try:
            return parse_cql_type(text), i + 1
        except ValueError:
            self.error(f"no viable alternative at input {lexer.error_display(self.src, first)}", first)

    def operand_start(self, t: Token, index: int, sel: bool) -> bool:
        k = t.kind
        if k in _LITERAL_KINDS or k in ("?", "[", "{", "("):
            return True
        if k == ":":  # a named marker; else this is the ':' of a map entry, as in {(1): 2}
            if not self.is_ident(self.toks[min(index + 1, self.n)]):
                return False
            if sel:
                # selectors decide by a syntactic predicate: `(type) :name` parses, so it is a cast
                return True
            # In terms, `{('x'): now()}` and `{('x'): ks.f()}`: a function call after the name makes
            # the ':' the map's and ('x') a one-element tuple, not a cast of the marker :now or :ks
            # (nothing may follow a marker with '(' or '.'); Cassandra reads both so.
            after = self.toks[min(index + 2, self.n)].kind
            return after != "(" and after != "."
        if k != WORD and k != QNAME:
            return False
        if k == WORD and t.value in ("null", "nan", "infinity"):
            return True
        nxt = self.toks[min(index + 1, self.n)].kind
        if nxt == "(" and (_function_name_token(t) or t.value == "cast"):
            return True
        if nxt == "." and self.is_ident(t):  # ks.f(...); in selectors also a.field
            return True
        if not sel:
            return False
        return t.value != "" if k == QNAME else t.value not in RESERVED and t.value != "as"

    # -- literals ----------------------------------------------------------------------------

    def literal(self, t: Token) -> Constant:
        k = t.kind
        if k == STRING:
            return Constant(ConstantKind.STRING, t.value, "'" + t.value.replace("'", "''") + "'")
        if k == INTEGER:
            return self.integer(t)
        if k == FLOAT:
            return Constant(ConstantKind.FLOAT, float(t.value), t.value)
        if k == BOOLEAN:
            return Constant(ConstantKind.BOOLEAN, t.value == "true", t.value)
        if k == UUID:
            u = uuid.UUID(t.value)
            return Constant(ConstantKind.UUID, u, str(u))
        if k == HEX:
            digits = t.value[2:]
            if len(digits) % 2:
                self.refuse(f"Invalid hex constant {t.value}: an odd number of digits")
                digits = ""  # a stand-in: the statement is refused once parsed
            return Constant(ConstantKind.HEX, bytes.fromhex(digits), "0x" + digits.lower())
        if k == DURATION:
            try:
                return Constant(ConstantKind.DURATION, parse_duration(t.value), t.value)
            except InvalidRequest as e:
                self.refuse(str(e))
                return Constant(ConstantKind.DURATION, parse_duration("0s"), "0s")  # a stand-in, as above
        if k == NEG_NAN or (k == WORD and t.value == "nan"):
            return Constant(ConstantKind.FLOAT, NAN, "NaN")
        if k == NEG_INF:
            return Constant(ConstantKind.FLOAT, -_INF, "-Infinity")
        if k == WORD and t.value == "infinity":
            return Constant(ConstantKind.FLOAT, _INF, "Infinity")
        if k == WORD and t.value == "null":
            return Constant(ConstantKind.NULL, None, "null")
        self.no_viable()

    def integer(self, t: Token) -> Constant:
        if len(t.value) > _MAX_INT_DIGITS:
            self.refuse(f"Integer literal of {len(t.value)} digits is too long")
            return Constant(ConstantKind.INTEGER, 0, "0")  # a stand-in, as above
        return Constant(ConstantKind.INTEGER, int(t.value), t.value)


def _function_name_token(t: Token) -> bool:
    """allowedFunctionName: IDENT, quoted name, unreserved function keyword, TOKEN or COUNT."""
    if t.kind == QNAME:
        return t.value != ""
    if t.kind != WORD:
        return False
    w = t.value
    return (w not in RESERVED and w not in lexer.UNRESERVED_NON_FUNCTION) or w == "token" or w == "count"


# Names Cassandra refuses for a user type (non_type_ident and Parser.reservedTypeNames).
_NOT_TYPE_NAMES = (lexer.UNRESERVED_NON_FUNCTION - {"key"}) | {
    "byte", "complex", "enum", "interval", "macaddr", "bitstring"
}


def _type_word(word: str, following: str) -> bool:
    """Whether a word may stand in a type hint (comparatorType), given the kind of the next token:
    a type keyword, or a user type's name or keyspace (a keyspace may be any unreserved word)."""
    if word == "set":  # reserved, but a collection type
        return following == "<"
    if word in RESERVED:
        return False
    return following == "." or word not in _NOT_TYPE_NAMES


def _compatible(prior: Assignment, new: Assignment) -> bool:
    """Cassandra's Operation.RawUpdate.isCompatibleWith, asked of the earlier operation."""
    if isinstance(prior, SetValue):
        return False
    if isinstance(prior, SetField) and isinstance(new, SetField):
        return prior.field != new.field
    return not isinstance(new, SetValue)
