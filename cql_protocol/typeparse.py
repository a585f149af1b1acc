"""Parsers for the two textual spellings of a CQL type.

* Java marshal class names, as carried by CUSTOM type options and by some schema tables, e.g.
  ``org.apache.cassandra.db.marshal.VectorType(org.apache.cassandra.db.marshal.FloatType , 3)``.
* CQL syntax, as stored in ``system_schema.columns.type``, e.g. ``map<text, frozen<list<int>>>``.

Frozenness: Cassandra prints a frozen collection or UDT inside ``FrozenType(...)`` (or ``frozen<...>``)
and leaves everything nested in it unwrapped although it is frozen too; the same goes for tuple
elements, UDT fields and vector elements. The parsers therefore carry a "frozen context" downwards.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NoReturn

from .types import (
    CqlType,
    CustomType,
    ListType,
    MapType,
    NativeType,
    SetType,
    TupleType,
    TypeCode,
    UDTType,
    VectorType,
    native,
)

MARSHAL_PACKAGE = "org.apache.cassandra.db.marshal."

_MAX_DEPTH = 64

_MARSHAL_NATIVES: dict[str, int] = {
    "AsciiType": TypeCode.ASCII,
    "LongType": TypeCode.BIGINT,
    "BytesType": TypeCode.BLOB,
    "BooleanType": TypeCode.BOOLEAN,
    "CounterColumnType": TypeCode.COUNTER,
    "DecimalType": TypeCode.DECIMAL,
    "DoubleType": TypeCode.DOUBLE,
    "FloatType": TypeCode.FLOAT,
    "Int32Type": TypeCode.INT,
    "DateType": TypeCode.TIMESTAMP,  # the pre-2.2 name of timestamp; same encoding
    "TimestampType": TypeCode.TIMESTAMP,
    "UUIDType": TypeCode.UUID,
    "UTF8Type": TypeCode.VARCHAR,
    "IntegerType": TypeCode.VARINT,
    "TimeUUIDType": TypeCode.TIMEUUID,
    "InetAddressType": TypeCode.INET,
    "SimpleDateType": TypeCode.DATE,
    "TimeType": TypeCode.TIME,
    "ShortType": TypeCode.SMALLINT,
    "ByteType": TypeCode.TINYINT,
    "DurationType": TypeCode.DURATION,
}

_NATIVE_MARSHAL: dict[int, str] = {
    code: name for name, code in _MARSHAL_NATIVES.items() if name != "DateType"
}

# Characters Cassandra's TypeParser accepts in an identifier.
_IDENT_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-+._&")
_BLANKS = frozenset(" \t\r\n")


# ---------------------------------------------------------------------------------------------
# Java marshal class names
# ---------------------------------------------------------------------------------------------


def parse_marshal_class(name: str, *, strict: bool = False) -> CqlType:
    """Parses a Java marshal class name into a type descriptor.

    Unknown classes (and, unless `strict`, names that do not parse) become ``CustomType(name)``:
    values of such types are then passed through as opaque bytes instead of failing the request.
    With `strict`, malformed names raise ValueError naming the position.
    """
    p = _MarshalParser(name)
    try:
        t = p.parse_type(frozen=False, depth=0)
        p.skip_blank()
        if p.pos != len(name):
            p.fail("unexpected trailing characters")
    except ValueError:
        if strict:
            raise
        return CustomType(name)
    if isinstance(t, CustomType):
        return CustomType(name)  # keep the exact spelling so that it goes back on the wire unchanged
    return t


class _MarshalParser:
    __slots__ = ("pos", "s")

    def __init__(self, s: str) -> None:
        self.s = s
        self.pos = 0

    def fail(self, msg: str) -> NoReturn:
        raise ValueError(f"invalid marshal class name {self.s!r}: {msg} at position {self.pos}")

    def skip_blank(self) -> None:
        s, i, n = self.s, self.pos, len(self.s)
        while i < n and s[i] in _BLANKS:
            i += 1
        self.pos = i

    def peek(self) -> str:
        return self.s[self.pos] if self.pos < len(self.s) else ""

    def expect(self, ch: str) -> None:
        self.skip_blank()
        if self.peek() != ch:
            self.fail(f"expected {ch!r}")
        self.pos += 1

    def ident(self) -> str:
        self.skip_blank()
        s, start, n = self.s, self.pos, len(self.s)
        i = start
        while i < n and s[i] in _IDENT_CHARS:
            i += 1
        if i == start:
            self.fail("expected an identifier")
        self.pos = i
        return s[start:i]

    def skip_parens(self) -> None:
        """Skips a balanced parameter list verbatim (for classes we do not model)."""
        depth = 0
        s, n = self.s, len(self.s)
        while self.pos < n:
            c = s[self.pos]
            self.pos += 1
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth == 0:
                    return
        self.fail("unbalanced parentheses")

    def parse_type(self, frozen: bool, depth: int) -> CqlType:
        if depth > _MAX_DEPTH:
            self.fail("type nesting too deep")
        self.skip_blank()
        start = self.pos
        name = self.ident()
        end = self.pos
        if name.startswith(MARSHAL_PACKAGE):
            short: str | None = name[len(MARSHAL_PACKAGE) :]
        else:
            # TypeParser resolves dot-less names in the marshal package.
            short = None if "." in name else name
        self.skip_blank()
        has_params = self.peek() == "("
        if short is not None:
            code = _MARSHAL_NATIVES.get(short)
            if code is not None:
                if has_params:
                    self.fail(f"{short} takes no parameters")
                return native(code)
            handler = _MARSHAL_PARAMETERIZED.get(short)
            if handler is not None:
                if not has_params:
                    self.fail(f"{short} needs parameters")
                self.pos += 1
                return handler(self, frozen, depth + 1)
        if has_params:
            self.skip_parens()
            end = self.pos
        return CustomType(self.s[start:end])

    def parse_list(self, frozen: bool, depth: int) -> CqlType:
        elem = self.parse_type(frozen, depth)
        self.expect(")")
        return ListType(elem, frozen)

    def parse_set(self, frozen: bool, depth: int) -> CqlType:
        elem = self.parse_type(frozen, depth)
        self.expect(")")
        return SetType(elem, frozen)

    def parse_map(self, frozen: bool, depth: int) -> CqlType:
        key = self.parse_type(frozen, depth)
        self.expect(",")
        value = self.parse_type(frozen, depth)
        self.expect(")")
        return MapType(key, value, frozen)

    def parse_frozen(self, frozen: bool, depth: int) -> CqlType:
        inner = self.parse_type(True, depth)
        self.expect(")")
        return inner

    def parse_reversed(self, frozen: bool, depth: int) -> CqlType:
        # Clustering order only changes comparison, never the value encoding.
        inner = self.parse_type(frozen, depth)
        self.expect(")")
        return inner

    def parse_tuple(self, frozen: bool, depth: int) -> CqlType:
        elements: list[CqlType] = []
        self.skip_blank()
        if self.peek() == ")":
            self.pos += 1
            return TupleType(())
        while True:
            elements.append(self.parse_type(True, depth))
            self.skip_blank()
            c = self.peek()
            self.pos += 1
            if c == ")":
                return TupleType(tuple(elements))
            if c != ",":
                self.pos -= 1
                self.fail("expected ',' or ')'")

    def parse_user(self, frozen: bool, depth: int) -> CqlType:
        # UserType(<keyspace>,<hex name>,<hex field>:<type>,...)
        keyspace = self.ident()
        self.expect(",")
        name = self.hex_name()
        fields: list[tuple[str, CqlType]] = []
        while True:
            self.skip_blank()
            c = self.peek()
            self.pos += 1
            if c == ")":
                return UDTType(keyspace, name, tuple(fields), frozen)
            if c != ",":
                self.pos -= 1
                self.fail("expected ',' or ')'")
            fname = self.hex_name()
            self.expect(":")
            fields.append((fname, self.parse_type(True, depth)))

    def hex_name(self) -> str:
        raw = self.ident()
        try:
            return bytes.fromhex(raw).decode("utf-8")
        except ValueError:
            self.fail(f"{raw!r} is not a hex-encoded UTF-8 name")

    def parse_vector(self, frozen: bool, depth: int) -> CqlType:
        # Cassandra freezes the element type of a vector.
        elem = self.parse_type(True, depth)
        self.expect(",")
        dim = self.ident()
        if not dim.isdigit() or not dim.isascii() or len(dim) > 10 or int(dim) <= 0:
            self.fail(f"invalid vector dimension {dim!r}")
        self.expect(")")
        return VectorType(elem, int(dim))


_MARSHAL_PARAMETERIZED: dict[str, Callable[[_MarshalParser, bool, int], CqlType]] = {
    "ListType": _MarshalParser.parse_list,
    "SetType": _MarshalParser.parse_set,
    "MapType": _MarshalParser.parse_map,
    "FrozenType": _MarshalParser.parse_frozen,
    "ReversedType": _MarshalParser.parse_reversed,
    "TupleType": _MarshalParser.parse_tuple,
    "UserType": _MarshalParser.parse_user,
    "VectorType": _MarshalParser.parse_vector,
}


def marshal_class_name(t: CqlType) -> str:
    """The marshal class name Cassandra 5.0 would print for `t` (AbstractType.toString()).

    Spacing follows Cassandra exactly: type parameters are joined by a bare ``,`` but a vector's
    element and dimension by ``" , "`` (TypeParser.stringifyVectorParameters), e.g.
    ``org.apache.cassandra.db.marshal.VectorType(org.apache.cassandra.db.marshal.FloatType , 3)``.
    """
    return _marshal(t, False)


def _marshal(t: CqlType, ignore_freezing: bool) -> str:
    if isinstance(t, NativeType):
        return MARSHAL_PACKAGE + _NATIVE_MARSHAL[t.code]
    if isinstance(t, CustomType):
        return t.class_name
    if isinstance(t, VectorType):
        elem = _marshal(_frozen(t.element), ignore_freezing)
        return f"{MARSHAL_PACKAGE}VectorType({elem} , {t.dimension})"
    if isinstance(t, TupleType):
        return f"{MARSHAL_PACKAGE}TupleType({','.join(_marshal(e, True) for e in t.elements)})"
    if isinstance(t, ListType | SetType | MapType | UDTType):
        inner_ignore = ignore_freezing or t.frozen
        if isinstance(t, ListType):
            s = f"{MARSHAL_PACKAGE}ListType({_marshal(t.element, inner_ignore)})"
        elif isinstance(t, SetType):
            s = f"{MARSHAL_PACKAGE}SetType({_marshal(t.element, inner_ignore)})"
        elif isinstance(t, MapType):
            k = _marshal(t.key, inner_ignore)
            v = _marshal(t.value, inner_ignore)
            s = f"{MARSHAL_PACKAGE}MapType({k},{v})"
        else:
            fields = "".join(
                f",{fname.encode().hex()}:{_marshal(ft, inner_ignore)}" for fname, ft in t.fields
            )
            s = f"{MARSHAL_PACKAGE}UserType({t.keyspace},{t.name.encode().hex()}{fields})"
        if t.frozen and not ignore_freezing:
            return f"{MARSHAL_PACKAGE}FrozenType({s})"
        return s
    raise TypeError(f"no marshal class name for {t!r}")


def _frozen(t: CqlType) -> CqlType:
    if isinstance(t, ListType | SetType | MapType | UDTType) and not t.frozen:
        return dataclasses.replace(t, frozen=True)
    return t


# ---------------------------------------------------------------------------------------------
# CQL syntax
# ---------------------------------------------------------------------------------------------

_CQL_NATIVES: dict[str, int] = {
    "ascii": TypeCode.ASCII,
    "bigint": TypeCode.BIGINT,
    "blob": TypeCode.BLOB,
    "boolean": TypeCode.BOOLEAN,
    "counter": TypeCode.COUNTER,
    "date": TypeCode.DATE,
    "decimal": TypeCode.DECIMAL,
    "double": TypeCode.DOUBLE,
    "duration": TypeCode.DURATION,
    "float": TypeCode.FLOAT,
    "inet": TypeCode.INET,
    "int": TypeCode.INT,
    "smallint": TypeCode.SMALLINT,
    "text": TypeCode.VARCHAR,
    "time": TypeCode.TIME,
    "timestamp": TypeCode.TIMESTAMP,
    "timeuuid": TypeCode.TIMEUUID,
    "tinyint": TypeCode.TINYINT,
    "uuid": TypeCode.UUID,
    "varchar": TypeCode.VARCHAR,
    "varint": TypeCode.VARINT,
}

_FREEZABLE = (ListType, SetType, MapType, TupleType, UDTType, VectorType)

UdtResolver = Callable[[str], UDTType]


def parse_cql_type(s: str, udt_resolver: UdtResolver | None = None) -> CqlType:
    """Parses a CQL type as written in DDL or stored in ``system_schema.columns.type``.

    User type names go to `udt_resolver` (unquoted names lowercased, quoted ones verbatim); without
    one they become ``UDTType(keyspace="", name=..., fields=())``. A keyspace-qualified name
    ``ks.t`` hands only ``t`` to the resolver; the keyspace is kept in the unresolved placeholder.
    Custom types (``'some.Class'``) go through parse_marshal_class. Raises ValueError naming
    the position on bad input.
    """
    p = _CqlParser(s, udt_resolver)
    t = p.parse_type(frozen=False, depth=0)
    p.skip_ws()
    if p.pos != len(s):
        p.fail("unexpected trailing characters")
    return t


def _is_word_start(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c == "_")


class _CqlParser:
    __slots__ = ("pos", "resolver", "s")

    def __init__(self, s: str, resolver: UdtResolver | None) -> None:
        self.s = s
        self.pos = 0
        self.resolver = resolver

    def fail(self, msg: str, pos: int | None = None) -> NoReturn:
        at = self.pos if pos is None else pos
        raise ValueError(f"invalid CQL type {self.s!r}: {msg} at position {at}")

    def skip_ws(self) -> None:
        s, i, n = self.s, self.pos, len(self.s)
        while i < n and s[i].isspace():
            i += 1
        self.pos = i

    def peek(self) -> str:
        self.skip_ws()
        return self.s[self.pos] if self.pos < len(self.s) else ""

    def expect(self, ch: str) -> None:
        if self.peek() != ch:
            got = repr(self.s[self.pos]) if self.pos < len(self.s) else "end of input"
            self.fail(f"expected {ch!r}, got {got}")
        self.pos += 1

    def word(self) -> str:
        """An unquoted identifier or number: [A-Za-z0-9_]+ (case kept)."""
        s, start, n = self.s, self.pos, len(self.s)
        i = start
        while i < n and _is_word_start(s[i]):
            i += 1
        if i == start:
            self.fail("expected a type")
        self.pos = i
        return s[start:i]

    def quoted(self, quote: str) -> str:
        """A quoted identifier ("...") or string literal ('...'); doubled quotes escape."""
        start = self.pos
        self.pos += 1
        s, n = self.s, len(self.s)
        out: list[str] = []
        while self.pos < n:
            c = s[self.pos]
            self.pos += 1
            if c == quote:
                if self.pos < n and s[self.pos] == quote:
                    out.append(quote)
                    self.pos += 1
                    continue
                return "".join(out)
            out.append(c)
        self.fail(f"unterminated {quote}-quoted name", start)

    def identifier(self) -> str:
        c = self.peek()
        start = self.pos
        if c == '"':
            name = self.quoted('"')
            if not name:
                self.fail("empty quoted identifier", start)
            return name
        w = self.word()
        if not w[0].isalpha():
            self.fail(f"invalid identifier {w!r}", start)
        return w.lower()

    def parse_type(self, frozen: bool, depth: int) -> CqlType:
        if depth > _MAX_DEPTH:
            self.fail("type nesting too deep")
        c = self.peek()
        start = self.pos
        if c == "'":
            return parse_marshal_class(self.quoted("'"))
        if c == '"':
            return self.user_type(frozen)
        if not c or not _is_word_start(c):
            self.fail("expected a type")
        w = self.word()
        lw = w.lower()
        code = _CQL_NATIVES.get(lw)
        if code is not None:
            return native(code)
        if lw == "frozen":
            self.expect("<")
            inner = self.parse_type(True, depth + 1)
            self.expect(">")
            if not isinstance(inner, _FREEZABLE):
                self.fail(
                    f"frozen<> needs a collection, tuple, user type or vector, not {inner.cql()}", start
                )
            return inner
        if lw in ("list", "set"):
            self.expect("<")
            elem = self.parse_type(frozen, depth + 1)
            self.expect(">")
            return ListType(elem, frozen) if lw == "list" else SetType(elem, frozen)
        if lw == "map":
            self.expect("<")
            key = self.parse_type(frozen, depth + 1)
            self.expect(",")
            value = self.parse_type(frozen, depth + 1)
            self.expect(">")
            return MapType(key, value, frozen)
        if lw == "tuple":
            self.expect("<")
            elements = [self.parse_type(True, depth + 1)]
            while self.peek() == ",":
                self.pos += 1
                elements.append(self.parse_type(True, depth + 1))
            self.expect(">")
            return TupleType(tuple(elements))
        if lw == "vector":
            self.expect("<")
            elem = self.parse_type(True, depth + 1)
            self.expect(",")
            self.peek()
            dim_at = self.pos
            dim = self.word() if _is_word_start(self.peek()) else ""
            if not dim.isdigit() or len(dim) > 10 or int(dim) <= 0:
                self.fail(f"vector dimension must be a positive integer, got {dim!r}", dim_at)
            self.expect(">")
            return VectorType(elem, int(dim))
        self.pos = start
        return self.user_type(frozen)

    def user_type(self, frozen: bool) -> CqlType:
        start = self.pos
        name = self.identifier()
        keyspace = ""
        if self.peek() == ".":
            self.pos += 1
            keyspace, name = name, self.identifier()
        if self.resolver is None:
            return UDTType(keyspace, name, (), frozen)
        udt = self.resolver(name)
        if not isinstance(udt, UDTType):
            self.fail(f"user type resolver returned {udt!r} for {name!r}", start)
        return udt if udt.frozen == frozen else dataclasses.replace(udt, frozen=frozen)
