"""Recursive-descent parser for the CQL DML subset, following Cassandra 5.0's Parser.g.

Syntax errors read like Cassandra's (``line 1:9 mismatched input 'FORM' expecting K_FROM (SELECT *
[FORM] t...)``). Statements that are valid CQL but outside the subset (DDL, permissions, ...) raise
Unsupported so that callers can hand them to Cassandra unchanged.
"""

from __future__ import annotations

from ...errors import InvalidRequest
from ..ast import Statement, Use
from ..classify import unsupported_kind
from ..lexer import EOF, WORD
from .modifications import _Modifications
from .select import _Select


class Unsupported(InvalidRequest):
    """Valid CQL outside the translated subset (DDL, permissions, ...). `kind` names the statement."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"{kind} statements are not supported by the translator")
        self.kind = kind


def parse(statement: str) -> Statement:
    """Parses one CQL statement. Raises SyntaxError_, Unsupported, or InvalidRequest for the few
    checks Cassandra makes without a schema."""
    return _Parser(statement).statement()


class _Parser(_Modifications, _Select):
    __slots__ = ()

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
