"""JSON values (INSERT JSON, fromJson()), as Cassandra's fromJSONObject of each type reads them."""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal
from typing import Any

from cql_protocol.cql.ast import Constant, ConstantKind
from cql_protocol.cql.duration import parse_duration
from cql_protocol.errors import InvalidRequest
from cql_protocol.types import (
    NATIVE_NAMES,
    CqlType,
    ListType,
    MapType,
    SetType,
    TupleType,
    UDTType,
    VectorType,
    serialize,
)
from translators.statements.common import _C, _INT_BITS, _code, _map_value, _tname
from translators.statements.literals import _from_string, _literal_value, _number


class _JsonError(Exception):
    pass


def _no_json_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON constant {name}")


def _json_names(obj: dict[str, Any]) -> dict[str, Any]:
    """Keys as column or field names: "\\"Quoted\\"" keeps its case, anything else is lower-cased."""
    out: dict[str, Any] = {}
    for k, v in obj.items():
        name = k[1:-1] if len(k) >= 2 and k.startswith('"') and k.endswith('"') else k.lower()
        out[name] = v
    return out


def _from_json(t: CqlType, o: Any) -> Any:
    if o is None:
        return None
    if isinstance(t, ListType | SetType | VectorType):
        if not isinstance(o, list):
            raise _JsonError(f"Expected a list, but got a {_json_kind(o)}: {o}")
        items = [_json_element(t.element, e) for e in o]
        if isinstance(t, VectorType) and len(items) != t.dimension:
            raise _JsonError(f"Expected a vector of {t.dimension} elements, but got {len(items)}")
        if isinstance(t, SetType):
            seen: set[bytes] = set()
            uniq = []
            for e in items:
                b = serialize(t.element, e)
                if b not in seen:
                    seen.add(b)
                    uniq.append(e)
            items = uniq
        return items
    if isinstance(t, MapType):
        if not isinstance(o, dict):
            raise _JsonError(f"Expected a map, but got a {_json_kind(o)}: {o}")
        textual = _code(t.key) in (_C.VARCHAR, _C.ASCII)
        pairs = []
        for k, v in o.items():
            key: Any = k
            if not textual:  # JSON keys are strings: others are JSON-encoded inside them
                try:
                    key = json.loads(k, parse_float=Decimal, parse_constant=_no_json_constant)
                except ValueError:
                    key = k
            pairs.append((_json_element(t.key, key), _json_element(t.value, v)))
        return _map_value(pairs)
    if isinstance(t, TupleType):
        if not isinstance(o, list):
            raise _JsonError(f"Expected a list representation of a tuple, but got a {_json_kind(o)}: {o}")
        if len(o) > len(t.elements):
            raise _JsonError(f"Tuple contains extra items (expected {len(t.elements)}): {o}")
        vals = [_from_json(et, e) for et, e in zip(t.elements, o, strict=False)]
        return tuple(vals + [None] * (len(t.elements) - len(vals)))
    if isinstance(t, UDTType):
        if not isinstance(o, dict):
            raise _JsonError(f"Expected a map, but got a {_json_kind(o)}: {o}")
        given = _json_names(o)
        fields = dict(t.fields)
        for name in given:
            if name not in fields:
                raise _JsonError(f"Unknown field '{name}' in value of user defined type {t.name}")
        return {name: _from_json(ft, given.get(name)) for name, ft in t.fields}
    code = _code(t)
    if code is None:
        raise _JsonError(f"JSON values of type {_tname(t)} are not supported")
    return _json_native(code, o)


def _json_element(t: CqlType, o: Any) -> Any:
    if o is None:
        raise _JsonError("null is not supported inside collections")
    return _from_json(t, o)


def _json_kind(o: Any) -> str:
    return {bool: "Boolean", int: "Integer", Decimal: "Double", str: "String", list: "ArrayList",
            dict: "LinkedHashMap"}.get(type(o), type(o).__name__)


def _json_native(code: int, o: Any) -> Any:
    name = NATIVE_NAMES[code]
    is_number = isinstance(o, int | Decimal) and not isinstance(o, bool)
    try:
        if code in (_C.VARCHAR, _C.ASCII, _C.INET, _C.UUID, _C.TIMEUUID, _C.DATE, _C.DURATION, _C.BLOB):
            if not isinstance(o, str):
                raise _JsonError(f"Expected a string representation of a {name} value, but got a {_json_kind(o)}: {o}")
            if code == _C.BLOB:
                if not o.startswith("0x"):
                    raise _JsonError("String representation of blob is missing 0x prefix: " + o)
                return bytes.fromhex(o[2:])
            if code in (_C.UUID, _C.TIMEUUID):
                u = uuid.UUID(o)
                if code == _C.TIMEUUID and u.version != 1:
                    raise _JsonError(f"Unsupported UUID version {u.version} for timeuuid: {o}")
                return u
            if code == _C.DURATION:
                return parse_duration(o)
            return _from_string(code, o)
        if code == _C.BOOLEAN:
            if isinstance(o, bool):
                return o
            if isinstance(o, str) and o.lower() in ("true", "false"):
                return o.lower() == "true"
            raise _JsonError(f"Expected a boolean value, but got a {_json_kind(o)}: {o}")
        if code in (_C.TIMESTAMP, _C.TIME):
            if isinstance(o, int) and not isinstance(o, bool):
                return _literal_value(Constant(ConstantKind.INTEGER, o, str(o)), code)
            if isinstance(o, str):
                return _from_string(code, o)
            raise _JsonError(f"Expected a long or a datestring representation of a {name} value, but got a "
                             f"{_json_kind(o)}: {o}")
        if code in _INT_BITS or code == _C.VARINT:
            if isinstance(o, str) and re.fullmatch(r"-?\d+", o.strip()):
                o = int(o.strip())
            if not isinstance(o, int) or isinstance(o, bool):
                raise _JsonError(f"Expected an integer value, but got a {_json_kind(o)}: {o}")
            return _literal_value(Constant(ConstantKind.INTEGER, o, str(o)), code)
        if code in (_C.DECIMAL, _C.DOUBLE, _C.FLOAT):
            if isinstance(o, str):
                text = o
            elif is_number:
                text = str(o)
            else:
                raise _JsonError(f"Expected a number, but got a {_json_kind(o)}: {o}")
            try:
                approx = float(text)
            except ValueError:
                raise _JsonError(f"Unable to make {name} from '{text}'") from None
            return _number(code, text, approx)
    except (ValueError, InvalidRequest) as e:
        raise _JsonError(e.message if isinstance(e, InvalidRequest) else str(e)) from None
    raise _JsonError(f"JSON values of type {name} are not supported")
