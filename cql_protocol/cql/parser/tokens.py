"""The token stream a parser reads: lookahead, expectations, syntax errors worded as Cassandra words
them, the nesting limit, and identifiers."""

from __future__ import annotations

from typing import NoReturn

from ...errors import InvalidRequest, SyntaxError_
from .. import lexer
from ..ast import BindMarker
from ..lexer import QNAME, RESERVED, WORD, Token

# Nesting limit for collections, tuples, parentheses: keeps hostile input from exhausting the stack.
MAX_DEPTH = 64


class _TokenStream:
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
