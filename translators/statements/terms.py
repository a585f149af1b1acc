"""The terms of a statement on one mapped table (bound values, literals, casts, function calls,
arithmetic), each evaluated for a receiver of known type."""

from __future__ import annotations

import decimal
import json
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from cql_protocol.cql.ast import (
    BinaryOp,
    BindMarker,
    Cast,
    CastAs,
    Constant,
    ConstantKind,
    EmptySetOrMap,
    FunctionCall,
    ListLiteral,
    MapLiteral,
    Negated,
    SetLiteral,
    TupleLiteral,
    UdtLiteral,
)
from cql_protocol.errors import CQLError, InvalidRequest
from cql_protocol.primitives import UNSET, Unset
from cql_protocol.types import (
    NATIVE_NAMES,
    CqlType,
    CustomType,
    ListType,
    MapType,
    NativeType,
    SetType,
    TupleType,
    UDTType,
    VectorType,
    deserialize,
    native,
    serialize,
)
from translators.mapping import TableMapping
from translators.statements.common import (
    _C,
    _LITERAL_TARGETS,
    _NUMERIC,
    BLOB,
    TEXT,
    _code,
    _compatible,
    _identity,
    _is_counter,
    _map_value,
    _same,
    _tname,
)
from translators.statements.functions import (
    _NONDETERMINISTIC,
    _TIME_FUNCTIONS,
    _binary,
    _blob_function,
    _negate,
)
from translators.statements.json_values import _from_json, _JsonError, _no_json_constant
from translators.statements.literals import _literal_value, _Nondeterministic, _Unsupported
from translators.statements.results import Untranslatable


class _Binder:
    def __init__(self, values: Sequence[bytes | Unset | None], bind_types: Sequence[CqlType] | None,
                 version: int, markers: int) -> None:
        self.values = values
        self.bind_types = bind_types
        self.version = version
        self.markers = markers

    def check_count(self, t: _Terms) -> None:
        if len(self.values) != self.markers:
            raise t.invalid(f"There were {self.markers} markers(?) in CQL but {len(self.values)} bound variables")

    def bind_type(self, m: BindMarker) -> CqlType | None:
        if self.bind_types is not None and m.index < len(self.bind_types):
            return self.bind_types[m.index]
        return None

    def raw(self, t: _Terms, m: BindMarker) -> bytes | Unset | None:
        if not 0 <= m.index < len(self.values):
            raise t.invalid(f"No value bound for marker {m.index} ({m.to_cql()})")
        return self.values[m.index]


class _Terms:
    def __init__(self, tm: TableMapping, binder: _Binder) -> None:
        self.tm = tm
        self.binder = binder
        self.name = tm.cql_name
        s = tm.schema
        self.types: dict[str, CqlType] = dict(s.columns)
        self.pk: tuple[str, ...] = tuple(s.partition_key)
        self.ck: tuple[str, ...] = tuple(c for c, _ in s.clustering)
        self.static: frozenset[str] = frozenset(s.static)
        self.is_counter = any(_is_counter(t) for t in self.types.values())

    # -- errors ------------------------------------------------------------------------------

    def invalid(self, reason: str) -> Untranslatable:
        return Untranslatable(self.name, reason, "invalid")

    def unsupported(self, reason: str) -> Untranslatable:
        return Untranslatable(self.name, reason, "unsupported")

    def column(self, name: str) -> CqlType:
        t = self.types.get(name)
        if t is None:
            raise self.invalid(f"Undefined column name {name}")
        return t

    # -- values ------------------------------------------------------------------------------

    def value(self, term: Any, t: CqlType, rname: str) -> Any:
        """The value of `term` given to a receiver of type `t`: a Python value as deserialize makes
        it, None for null, or UNSET."""
        if isinstance(term, BindMarker):
            return self.bound(term, t, rname)
        if isinstance(term, Constant):
            return self.constant(term, t, rname)
        if isinstance(term, ListLiteral | SetLiteral | MapLiteral | EmptySetOrMap | TupleLiteral | UdtLiteral):
            return self.literal(term, t, rname)
        if isinstance(term, FunctionCall):
            return self.call(term, t, rname)
        if isinstance(term, Cast):
            v = self.value(term.operand, term.type, rname)
            if v is None or v is UNSET:
                return v
            return self.convert(v, term.type, t, rname, term.to_cql())
        if isinstance(term, CastAs):
            raise self.invalid(f"CAST is only allowed in selection clauses, not in {term.to_cql()}")
        if isinstance(term, Negated | BinaryOp):
            return self.arithmetic(term, t, rname)
        raise self.unsupported(f"cannot evaluate {getattr(term, 'to_cql', lambda: repr(term))()}")

    def bound(self, m: BindMarker, t: CqlType, rname: str) -> Any:
        raw = self.binder.raw(self, m)
        if raw is None or isinstance(raw, Unset):
            return None if raw is None else UNSET
        bt = self.binder.bind_type(m) or t
        try:
            v: Any = deserialize(bt, raw, self.binder.version)
        except CQLError as e:
            raise self.invalid(f"Invalid value bound for {rname}: {e.message}") from None
        except (TypeError, ValueError) as e:
            raise self.invalid(f"Invalid value bound for {rname}: {e}") from None
        if isinstance(bt, ListType | SetType | MapType) and v is not None:
            items = list(v.items()) if isinstance(v, dict) else v
            flat = [x for pair in items for x in pair] if isinstance(bt, MapType) else items
            if any(x is None for x in flat):
                raise self.invalid("null is not supported inside collections")
        return v

    def constant(self, c: Constant, t: CqlType, rname: str) -> Any:
        if c.kind is ConstantKind.NULL:
            return None
        code = _code(t)
        if isinstance(t, CustomType):
            raise self.unsupported(f"literal values of custom type {t.class_name} are not supported ({rname})")
        if code is None or code not in _LITERAL_TARGETS[c.kind]:
            shown = c.value if c.kind is ConstantKind.STRING else c.text
            raise self.invalid(f"Invalid {c.kind.value.upper()} constant ({shown}) for \"{rname}\" of type "
                               f"{_tname(t)}")
        try:
            return _literal_value(c, code)
        except _Nondeterministic as e:
            raise Untranslatable(self.name, str(e), "nondeterministic") from None
        except _Unsupported as e:
            raise self.unsupported(f"{e} ({rname})") from None
        except (ValueError, InvalidRequest) as e:
            msg = e.message if isinstance(e, InvalidRequest) else str(e)
            raise self.invalid(msg) from None

    def literal(self, term: Any, t: CqlType, rname: str) -> Any:
        what = {ListLiteral: "list", SetLiteral: "set", MapLiteral: "map", EmptySetOrMap: "map",
                TupleLiteral: "tuple", UdtLiteral: "user type"}[type(term)]
        mismatch = self.invalid(f"Invalid {what} literal for {rname} of type {_tname(t)}")
        if isinstance(t, ListType | VectorType):
            if not isinstance(term, ListLiteral):
                raise mismatch
            items = [self.element(e, t.element, rname) for e in term.elements]
            if isinstance(t, VectorType) and len(items) != t.dimension:
                raise self.invalid(f"Invalid vector literal for {rname} of type {_tname(t)}; expected "
                                   f"{t.dimension} elements, but given {len(items)}")
            return items
        if isinstance(t, SetType):
            if isinstance(term, EmptySetOrMap):
                return []
            if not isinstance(term, SetLiteral):
                raise mismatch
            out: list[Any] = []
            seen: set[bytes] = set()
            for e in term.elements:
                v = self.element(e, t.element, rname)
                b = serialize(t.element, v)
                if b not in seen:  # a set literal may repeat an element
                    seen.add(b)
                    out.append(v)
            return out
        if isinstance(t, MapType):
            if isinstance(term, EmptySetOrMap):
                return {}
            if not isinstance(term, MapLiteral):
                raise mismatch
            pairs = [(self.element(k, t.key, rname), self.element(v, t.value, rname)) for k, v in term.entries]
            return _map_value(pairs)
        if isinstance(t, TupleType):
            if not isinstance(term, TupleLiteral):
                raise mismatch
            if len(term.elements) > len(t.elements):
                raise self.invalid(f"Invalid tuple literal for {rname}: too many elements. Type {_tname(t)} "
                                   f"expects {len(t.elements)} but got {len(term.elements)}")
            vals = [self.field(e, et, rname) for e, et in zip(term.elements, t.elements, strict=False)]
            return tuple(vals + [None] * (len(t.elements) - len(vals)))
        if isinstance(t, UDTType):
            if not isinstance(term, UdtLiteral):
                raise mismatch
            fields = dict(t.fields)
            given: dict[str, Any] = {}
            for name, e in term.fields:
                if name not in fields:
                    raise self.invalid(f"Unknown field '{name}' in value of user defined type {t.name}")
                given[name] = self.field(e, fields[name], rname)
            return {name: given.get(name) for name, _ in t.fields}
        raise mismatch

    def element(self, term: Any, t: CqlType, rname: str) -> Any:
        v = self.value(term, t, rname)
        if v is None:
            raise self.invalid("null is not supported inside collections")
        if v is UNSET:
            raise self.invalid("unset value is not supported inside collections")
        return v

    def field(self, term: Any, t: CqlType, rname: str) -> Any:
        v = self.value(term, t, rname)
        if v is UNSET:
            raise self.invalid(f"Invalid unset value for a field of {rname}")
        return v

    def convert(self, v: Any, src: CqlType, dst: CqlType, rname: str, shown: str) -> Any:
        """A value of type `src` stored into a receiver of type `dst` (after a type hint or a function)."""
        if v is None or _same(src, dst):
            return v
        if not _compatible(src, dst):
            raise self.invalid(f"Type error: {shown} of type {_tname(src)} cannot be assigned to {rname} of type "
                               f"{_tname(dst)}")
        try:
            return deserialize(dst, serialize(src, v))
        except (CQLError, TypeError, ValueError) as e:
            raise self.invalid(f"Invalid value {shown} for {rname}: {e}") from None

    # -- functions ---------------------------------------------------------------------------

    def call(self, fc: FunctionCall, t: CqlType, rname: str) -> Any:
        ret, arg_t, fn = self.resolve_function(fc)
        if arg_t is None:  # fromJson: the receiver's type
            text = self.value(fc.args[0], TEXT, rname)
            if text is None or text is UNSET:
                return text if text is None else self.unset_arg(fc)
            try:
                o = json.loads(text, parse_float=Decimal, parse_constant=_no_json_constant)
            except ValueError as e:
                raise self.invalid(f"Could not decode JSON string '{text}': {e}") from None
            return None if o is None else self.from_json(t, o, rname)
        arg = self.value(fc.args[0], arg_t, rname)
        if arg is UNSET:
            return self.unset_arg(fc)
        try:
            v = None if arg is None else fn(arg)
        except (CQLError, TypeError, ValueError, OverflowError) as e:
            msg = e.message if isinstance(e, CQLError) else str(e)
            raise self.invalid(f"Function {fc.name} failed on {fc.to_cql()}: {msg}") from None
        assert ret is not None
        return self.convert(v, ret, t, rname, fc.to_cql())

    def unset_arg(self, fc: FunctionCall) -> Any:
        raise self.invalid(f"Invalid unset value for argument in call to function {fc.name}")

    def resolve_function(self, fc: FunctionCall) -> tuple[CqlType | None, CqlType | None, Callable[[Any], Any]]:
        """(return type, argument type, implementation) of a native function call; the types are
        None for fromJson, whose result takes the receiver's type."""
        name = fc.name.replace("_", "") if fc.keyspace in (None, "system") else None
        shown = fc.name if fc.keyspace is None else f"{fc.keyspace}.{fc.name}"
        if name in _NONDETERMINISTIC:
            raise Untranslatable(self.name, f"{shown}() is non-deterministic: Cassandra computes its value when it "
                                 f"runs the statement, so the same value cannot be written here; bind the value "
                                 f"instead", "nondeterministic")
        for a in fc.args:  # a non-deterministic argument anywhere decides first
            if isinstance(a, FunctionCall):
                self.resolve_function(a)
        if name is None or not (name in _TIME_FUNCTIONS or name == "fromjson" or _blob_function(name)):
            raise self.unsupported(f"function {shown}() is not supported here (only Cassandra can evaluate "
                                   f"user-defined and most native functions); bind the value instead")
        if len(fc.args) != 1:
            raise self.invalid(f"Invalid number of arguments in call to function {shown}: 1 required but "
                               f"{len(fc.args)} provided")
        if name == "fromjson":
            return None, None, _identity
        blob = _blob_function(name)
        if blob is not None:
            target, to_blob = blob
            if to_blob:
                return BLOB, target, lambda v: serialize(target, v)
            return target, BLOB, lambda v: deserialize(target, v)
        overloads = _TIME_FUNCTIONS[name]
        accepted = self.arg_types(fc.args[0])
        matches = [o for o in overloads if accepted is None or o[0] in accepted]
        if len(matches) != 1:
            sigs = ", ".join(f"{shown}({NATIVE_NAMES[a]})" for a, _, _ in (matches or overloads))
            if matches:
                raise self.invalid(f"Ambiguous call to function {shown} (can be matched by following signatures: "
                                   f"{sigs}): use type casts to disambiguate")
            raise self.invalid(f"Type error: {fc.args[0].to_cql()} cannot be passed as argument 0 of function "
                               f"{shown} ({sigs})")
        arg_code, ret_code, fn = matches[0]
        return native(ret_code), native(arg_code), fn

    def arg_types(self, term: Any) -> frozenset[int] | None:
        """The native type codes `term` may have as a function argument (None: any)."""
        if isinstance(term, Cast):
            return frozenset({term.type.code}) if isinstance(term.type, NativeType) else frozenset()
        if isinstance(term, Constant):
            if term.kind is ConstantKind.NULL:
                return None
            if term.kind is ConstantKind.UUID and isinstance(term.value, uuid.UUID) and term.value.version == 1:
                return frozenset({_C.TIMEUUID})  # its exact type wins over uuid
            return _LITERAL_TARGETS[term.kind]
        if isinstance(term, BindMarker):
            bt = self.binder.bind_type(term)
            return None if bt is None else frozenset({bt.code})
        if isinstance(term, FunctionCall):
            ret, _, _ = self.resolve_function(term)
            return None if ret is None else frozenset({ret.code})
        return None

    # -- arithmetic --------------------------------------------------------------------------

    def arithmetic(self, term: Negated | BinaryOp, t: CqlType, rname: str) -> Any:
        code = _code(t)
        if code not in _NUMERIC:
            raise self.unsupported(f"arithmetic ({term.to_cql()}) is only supported on numbers here, not on "
                                   f"{_tname(t)} ({rname})")
        operands = [term.operand] if isinstance(term, Negated) else [term.left, term.right]
        vals = [self.value(o, t, rname) for o in operands]
        if any(v is UNSET for v in vals):
            raise self.invalid(f"Invalid unset value in {term.to_cql()}")
        if any(v is None for v in vals):
            return None
        assert code is not None
        try:
            if isinstance(term, Negated):
                return _negate(code, vals[0])
            return _binary(code, term.op, vals[0], vals[1])
        except ZeroDivisionError:
            raise self.invalid(f"the operation {term.to_cql()} failed: division by zero") from None
        except decimal.InvalidOperation as e:
            raise self.invalid(f"the operation {term.to_cql()} failed: {e}") from None

    def from_json(self, t: CqlType, o: Any, col: str) -> Any:
        try:
            return _from_json(t, o)
        except _JsonError as e:
            raise self.invalid(f"Error decoding JSON value for {col}: {e}") from None
        except _Nondeterministic as e:
            raise Untranslatable(self.name, str(e), "nondeterministic") from None
        except _Unsupported as e:
            raise self.unsupported(f"{e} ({col})") from None
