"""Terms and selector expressions: literals, bind markers, collection and tuple literals, type hints,
function calls, arithmetic, and element/field selection."""

from __future__ import annotations

import uuid
from typing import cast

from ...errors import InvalidRequest
from ...typeparse import parse_cql_type
from ...types import CqlType
from .. import lexer
from ..ast import (
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
from ..duration import parse_duration
from ..lexer import (
    BOOLEAN,
    DURATION,
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
from .tokens import _TokenStream

NAN = float("nan")  # one object, so that equal trees compare equal (nan != nan)
_INF = float("inf")

# Python's int() refuses longer digit strings by default.
_MAX_INT_DIGITS = 4000

_LITERAL_KINDS = frozenset({STRING, INTEGER, FLOAT, BOOLEAN, DURATION, UUID, HEX, NEG_NAN, NEG_INF})
_METADATA_FUNCTIONS = {
    "writetime": MetadataKind.WRITETIME,
    "maxwritetime": MetadataKind.MAXWRITETIME,
    "ttl": MetadataKind.TTL,
}


class _Expressions(_TokenStream):
    __slots__ = ()

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

    def int_value(self) -> Term:
        t = self.peek()
        if t.kind == INTEGER:
            self.advance()
            return self.integer(t)
        if t.kind == "?" or t.kind == ":":
            return self.marker()
        self.no_viable()

    def tuple_literal(self) -> TupleLiteral:
        self.expect("(")
        items = [self.term()]
        while self.accept(","):
            items.append(self.term())
        self.expect(")")
        return TupleLiteral(tuple(items))


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
