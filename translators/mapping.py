"""The mapping file: which CQL tables go to which DynamoDB tables, and how.

A mapping file is YAML (format version 1, reference in docs/mapping.md). It is read in two steps:

1. YAML text → plain Python values plus the line of every key and value (``_compose``);
2. plain values → the frozen model below (``_Builder``), with every check.

Step 2 works on plain dicts, so schema import builds the same dicts and goes through the same
checks. Errors name the file, the line and the path of the offending key, e.g.
``mapping.yaml:14: tables[0].write_mode: 'qeued' is not one of sync, queued``.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable, Sequence
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import yaml

from cql_protocol.typeparse import parse_cql_type
from cql_protocol.types import (
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
)

VERSION = 1
PHASES = ("cassandra", "dual_write", "verify", "dynamo_fallback", "dynamo")
WRITE_MODES = ("sync", "queued")
WRITE_CONDITIONS = ("lww", "none")
LARGE_ITEMS = ("reject", "compress", "s3")
SORT_KEY_ENCODINGS = ("auto", "plain", "bytecomparable")
PROJECTIONS = ("ALL", "KEYS_ONLY", "INCLUDE")
ATTRIBUTE_TYPES = ("S", "N", "B", "BOOL", "L", "M", "SS", "NS", "BS")

KeyEncoding = Literal["plain", "bytecomparable", "composite", "constant"]
KeyType = Literal["S", "N", "B"]
ClusteringOrder = Literal["asc", "desc"]
Projection = Literal["ALL", "KEYS_ONLY", "INCLUDE"]


class MappingError(ValueError):
    """An invalid mapping. `str(e)` is one line per problem, each ``file:line: path: what``."""

    def __init__(self, message: str, errors: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors: list[str] = list(errors) if errors else [message]


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeySpec:
    """One DynamoDB key attribute and how its value is made from CQL columns.

    encoding: ``plain`` (the single column's value as is), ``composite`` (prefix + the partition
    key columns encoded together, S), ``bytecomparable`` (prefix + the clustering columns in an
    order-preserving binary encoding, B), ``constant`` (no columns: the value is the prefix).
    """

    attribute: str
    columns: tuple[str, ...]
    prefix: str
    encoding: KeyEncoding
    dynamodb_type: KeyType


@dataclass(frozen=True)
class AttributeSpec:
    """Where one CQL column is stored: attribute name and, when set, a DynamoDB type override."""

    name: str
    type_override: str | None = None


@dataclass(frozen=True)
class IndexSpec:
    """A global secondary index. Keys are CQL column names (stored under their attribute names)."""

    name: str
    partition_key: str
    sort_key: str | None = None
    projection: Projection = "ALL"
    include: tuple[str, ...] = ()
    cql_index: str | None = None  # the Cassandra secondary index it stands for, if any


@dataclass(frozen=True)
class TableSchema:
    """A CQL table's columns, enough to serve it without Cassandra.

    `columns` is in ``SELECT *`` order: partition key, clustering, then static and regular
    columns, each group alphabetical (as Cassandra orders them).
    """

    columns: dict[str, CqlType]
    partition_key: tuple[str, ...]
    clustering: tuple[tuple[str, ClusteringOrder], ...] = ()
    static: frozenset[str] = frozenset()
    udts: dict[str, UDTType] = field(default_factory=dict)

    @property
    def clustering_columns(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.clustering)

    @property
    def primary_key(self) -> tuple[str, ...]:
        return self.partition_key + self.clustering_columns

    def is_counter_table(self) -> bool:
        return any(isinstance(t, NativeType) and t.code == TypeCode.COUNTER for t in self.columns.values())


@dataclass(frozen=True)
class TableMapping:
    keyspace: str
    table: str
    dynamodb_table: str
    phase: str
    write_mode: str
    write_condition: str
    large_items: str
    s3_bucket: str | None
    ttl_attribute: str
    timestamp_attribute: str
    tombstone_ttl: int
    pk: KeySpec
    sk: KeySpec | None
    attributes: dict[str, AttributeSpec]  # every column, in schema order
    indexes: tuple[IndexSpec, ...]
    schema: TableSchema

    @property
    def cql_name(self) -> str:
        """``keyspace.table`` as written in CQL (quoted where needed)."""
        return f"{quote_identifier(self.keyspace)}.{quote_identifier(self.table)}"

    def attribute_name(self, column: str) -> str:
        return self.attributes[column].name

    def attribute_type(self, column: str) -> str:
        """The DynamoDB type the column's values are stored as (override or default)."""
        spec = self.attributes[column]
        return spec.type_override or default_attribute_type(self.schema.columns[column])


@dataclass(frozen=True)
class Mapping:
    version: int
    region: str | None
    endpoint: str | None
    tables: dict[tuple[str, str], TableMapping]
    source_path: str | None = field(default=None, compare=False)

    def table(self, keyspace: str, table: str) -> TableMapping | None:
        """Looks a table up by its CQL names as stored by Cassandra (unquoted ones lower-case)."""
        return self.tables.get((keyspace, table))

    def dynamodb_tables(self) -> dict[str, list[TableMapping]]:
        out: dict[str, list[TableMapping]] = {}
        for tm in self.tables.values():
            out.setdefault(tm.dynamodb_table, []).append(tm)
        return out


@dataclass(frozen=True)
class TableDefaults:
    """The per-table settings that `defaults:` may set for every table."""

    phase: str = "cassandra"
    write_mode: str = "sync"
    write_condition: str = "lww"
    large_items: str = "reject"
    s3_bucket: str | None = None
    ttl_attribute: str = "_ttl"
    timestamp_attribute: str = "_ts"
    tombstone_ttl: int = 864000


POLICY_KEYS = tuple(f.name for f in dataclasses.fields(TableDefaults))
BUILTIN_DEFAULTS = TableDefaults()


# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------

_UNQUOTED = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_LOWER_UNQUOTED = re.compile(r"[a-z][a-z0-9_]*")
_DYNAMODB_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def quote_identifier(name: str) -> str:
    """A CQL identifier as it must be written: bare when lower-case, otherwise double-quoted."""
    if _LOWER_UNQUOTED.fullmatch(name):
        return name
    return '"' + name.replace('"', '""') + '"'


def _parse_identifier(s: str, pos: int) -> tuple[str, int]:
    if pos < len(s) and s[pos] == '"':
        out: list[str] = []
        i = pos + 1
        while i < len(s):
            if s[i] == '"':
                if i + 1 < len(s) and s[i + 1] == '"':
                    out.append('"')
                    i += 2
                    continue
                if not out:
                    raise ValueError("empty quoted identifier")
                return "".join(out), i + 1
            out.append(s[i])
            i += 1
        raise ValueError("unterminated quoted identifier")
    m = _UNQUOTED.match(s, pos)
    if not m:
        raise ValueError(f"expected an identifier at position {pos}")
    return m.group(0).lower(), m.end()


def parse_identifier(s: str) -> str:
    """One CQL identifier: unquoted names are lower-cased, quoted ones kept verbatim."""
    name, end = _parse_identifier(s.strip(), 0)
    if end != len(s.strip()):
        raise ValueError(f"{s!r} is not a single CQL identifier")
    return name


def parse_table_name(s: str) -> tuple[str, str]:
    """``keyspace.table`` (either part may be double-quoted) → (keyspace, table) as Cassandra stores them."""
    s = s.strip()
    try:
        ks, pos = _parse_identifier(s, 0)
        if pos >= len(s) or s[pos] != ".":
            raise ValueError("expected keyspace.table")
        table, pos = _parse_identifier(s, pos + 1)
        if pos != len(s):
            raise ValueError("unexpected characters after the table name")
    except ValueError as e:
        raise ValueError(f"{s!r} is not a valid keyspace.table name: {e}") from None
    return ks, table


def default_dynamodb_table_name(keyspace: str, table: str, prefix: str = "") -> str:
    """``<prefix><keyspace>.<table>`` with characters DynamoDB refuses replaced by ``_``."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{prefix}{keyspace}.{table}")
    return name[:255]


def check_dynamodb_name(name: str) -> str | None:
    """Why `name` is not a valid DynamoDB table or index name, or None when it is."""
    if not _DYNAMODB_NAME.fullmatch(name):
        return "must be 3-255 characters of a-z, A-Z, 0-9, '_', '-' and '.'"
    return None


# ---------------------------------------------------------------------------------------------
# Types: DynamoDB type of a column, and the key rules
# ---------------------------------------------------------------------------------------------

_TEXT = frozenset({TypeCode.ASCII, TypeCode.VARCHAR})
_SORTABLE_INT = frozenset(
    {TypeCode.TINYINT, TypeCode.SMALLINT, TypeCode.INT, TypeCode.BIGINT, TypeCode.TIMESTAMP, TypeCode.DATE,
     TypeCode.TIME}
)
_NUMERIC = frozenset(
    {TypeCode.TINYINT, TypeCode.SMALLINT, TypeCode.INT, TypeCode.BIGINT, TypeCode.VARINT, TypeCode.DECIMAL,
     TypeCode.COUNTER, TypeCode.TIMESTAMP, TypeCode.DATE, TypeCode.TIME, TypeCode.FLOAT, TypeCode.DOUBLE}
)
_STRINGISH = frozenset(
    {TypeCode.ASCII, TypeCode.VARCHAR, TypeCode.UUID, TypeCode.TIMEUUID, TypeCode.INET, TypeCode.DURATION}
)


def scalar_key_type(t: CqlType) -> KeyType | None:
    """The DynamoDB key type a single CQL value keeps as a plain key: S, N or B; None if it has none."""
    if isinstance(t, NativeType):
        if t.code in _STRINGISH or t.code == TypeCode.BOOLEAN:
            return "S"
        if t.code in _NUMERIC:
            return "N"
        if t.code == TypeCode.BLOB:
            return "B"
    return None


def default_attribute_type(t: CqlType) -> str:
    """The DynamoDB type a (non-key) column's values are stored as by default."""
    if isinstance(t, NativeType):
        if t.code == TypeCode.BOOLEAN:
            return "BOOL"
        if t.code == TypeCode.BLOB:
            return "B"
        return "N" if t.code in _NUMERIC else "S"
    if isinstance(t, SetType):
        elem = t.element
        if isinstance(elem, NativeType) and elem.code != TypeCode.BOOLEAN:
            return {"S": "SS", "N": "NS", "B": "BS"}[default_attribute_type(elem)]
        return "L"
    if isinstance(t, ListType | TupleType | VectorType):
        return "L"
    if isinstance(t, MapType | UDTType):
        return "M"
    return "B"  # custom types: opaque bytes


def allowed_attribute_types(t: CqlType) -> tuple[str, ...]:
    """DynamoDB types a column of type `t` may be stored as (the default first)."""
    default = default_attribute_type(t)
    if isinstance(t, NativeType):
        code = t.code
        if code in _TEXT or code == TypeCode.DURATION:
            extra: tuple[str, ...] = ()
        elif code in (TypeCode.UUID, TypeCode.TIMEUUID, TypeCode.INET):
            extra = ("B",)
        elif code == TypeCode.BOOLEAN:
            extra = ("N", "S")
        elif code == TypeCode.COUNTER:
            extra = ()
        elif code in _NUMERIC:
            extra = ("S",)  # e.g. decimals past DynamoDB's 38 significant digits
        else:
            extra = ()
        return (default, *extra)
    if isinstance(t, SetType) and default != "L":
        return (default, "L")
    return (default,)


class KeyRuleError(ValueError):
    """A key layout that cannot be built. `field` is the sort_key setting at fault, if one is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def derive_keys(
    schema: TableSchema,
    *,
    pk_attribute: str = "pk",
    pk_prefix: str = "",
    sk_attribute: str = "sk",
    sk_prefix: str = "",
    sk_encoding: str = "auto",
    sk_requested: bool = False,
) -> tuple[KeySpec, KeySpec | None]:
    """The DynamoDB key layout of a CQL table. The key type rules:

    Partition key:
      * one column, no prefix: keeps its type, encoding ``plain`` — text/ascii/varchar/uuid/
        timeuuid/inet/boolean/duration → S; tinyint/smallint/int/bigint/varint/decimal/counter/
        timestamp/date/time/float/double → N; blob → B (any other type: composite S);
      * several columns or any prefix → S, encoding ``composite``.
    Sort key:
      * no clustering columns → no sort key, unless a prefix is given (single-table designs): then
        the sort key is the constant prefix, encoding ``constant``, S;
      * one ASC text/ascii/varchar clustering column, no prefix → ``plain`` S;
      * one ASC tinyint/smallint/int/bigint/timestamp/date/time column, no prefix → ``plain`` N;
      * anything else (DESC, several columns, other types, a prefix, or static columns, whose
        static row needs a sort key no clustering value can take) → ``bytecomparable`` B.
    `sk_encoding` ``plain`` where the rules give ``bytecomparable`` is an error, ``bytecomparable``
    is always possible when there are clustering columns. `sk_requested` says a sort_key block was
    written: without clustering columns it then needs a prefix.
    """
    pk_cols = schema.partition_key
    plain_pk = scalar_key_type(schema.columns[pk_cols[0]]) if len(pk_cols) == 1 and not pk_prefix else None
    if plain_pk is not None:
        pk = KeySpec(pk_attribute, pk_cols, "", "plain", plain_pk)
    else:
        pk = KeySpec(pk_attribute, pk_cols, pk_prefix, "composite", "S")

    clustering = schema.clustering
    if not clustering:
        if sk_encoding != "auto":
            raise KeyRuleError(
                f"encoding {sk_encoding!r} needs clustering columns; this table has none, so its sort key "
                "(if any) is the constant prefix", "encoding")
        if sk_prefix:
            return pk, KeySpec(sk_attribute, (), sk_prefix, "constant", "S")
        if sk_requested:
            raise KeyRuleError("the table has no clustering columns: a sort key needs a prefix (its constant "
                               "value), or leave sort_key out", "prefix")
        return pk, None

    plain_sk: KeyType | None = None
    why_not = ""
    if sk_prefix:
        why_not = "a prefix is set"
    elif schema.static:
        # the static row needs a sort key no clustering value can take; a plain key has none
        why_not = "the table has static columns"
    elif len(clustering) > 1:
        why_not = "there are several clustering columns"
    else:
        name, order = clustering[0]
        t = schema.columns[name]
        if order != "asc":
            why_not = f"{name} is DESC"
        elif isinstance(t, NativeType) and t.code in _TEXT:
            plain_sk = "S"
        elif isinstance(t, NativeType) and t.code in _SORTABLE_INT:
            plain_sk = "N"
        else:
            why_not = f"{name} is {t.cql()}, whose DynamoDB order differs from CQL's"
    columns = schema.clustering_columns
    if sk_encoding == "plain" and plain_sk is None:
        raise KeyRuleError(
            f"encoding 'plain' is not possible: {why_not} (plain needs one ascending text or "
            "tinyint/smallint/int/bigint/timestamp/date/time clustering column and no prefix)", "encoding")
    if plain_sk is not None and sk_encoding != "bytecomparable":
        return pk, KeySpec(sk_attribute, columns, "", "plain", plain_sk)
    return pk, KeySpec(sk_attribute, columns, sk_prefix, "bytecomparable", "B")


def describe_key(spec: KeySpec, schema: TableSchema) -> str:
    """One line, e.g. ``sk (B) = 'ITEM#' + bytecomparable(item asc)``."""
    parts: list[str] = []
    if spec.prefix:
        parts.append(repr(spec.prefix))
    if spec.encoding == "plain":
        parts.append(spec.columns[0])
    elif spec.encoding == "composite":
        parts.append(f"composite({', '.join(spec.columns)})")
    elif spec.encoding == "bytecomparable":
        order = dict(schema.clustering)
        cols = ", ".join(f"{c} {order.get(c, 'asc')}" for c in spec.columns)
        parts.append(f"bytecomparable({cols})")
    return f"{spec.attribute} ({spec.dynamodb_type}) = {' + '.join(parts)}"


def type_to_cql(t: CqlType) -> str:
    """CQL spelling of a type that parse_cql_type reads back to the same descriptor."""
    if isinstance(t, NativeType):
        return t.cql()
    if isinstance(t, UDTType):
        name = quote_identifier(t.name)
        return f"frozen<{name}>" if t.frozen else name
    if isinstance(t, ListType | SetType):
        kind = "list" if isinstance(t, ListType) else "set"
        s = f"{kind}<{type_to_cql(t.element)}>"
        return f"frozen<{s}>" if t.frozen else s
    if isinstance(t, MapType):
        s = f"map<{type_to_cql(t.key)}, {type_to_cql(t.value)}>"
        return f"frozen<{s}>" if t.frozen else s
    if isinstance(t, TupleType):
        return "frozen<tuple<" + ", ".join(type_to_cql(e) for e in t.elements) + ">>"
    if isinstance(t, VectorType):
        return f"vector<{type_to_cql(t.element)}, {t.dimension}>"
    if isinstance(t, CustomType):
        return "'" + t.class_name.replace("'", "''") + "'"
    raise TypeError(f"no CQL spelling for {t!r}")


def _udts_used(t: CqlType, out: set[str]) -> None:
    if isinstance(t, UDTType):
        out.add(t.name)
        for _, ft in t.fields:
            _udts_used(ft, out)
    elif isinstance(t, ListType | SetType | VectorType):
        _udts_used(t.element, out)
    elif isinstance(t, MapType):
        _udts_used(t.key, out)
        _udts_used(t.value, out)
    elif isinstance(t, TupleType):
        for e in t.elements:
            _udts_used(e, out)


def udts_used(types: Iterable[CqlType]) -> set[str]:
    """Names of the user types the given types refer to, directly or through other user types."""
    out: set[str] = set()
    for t in types:
        _udts_used(t, out)
    return out


# ---------------------------------------------------------------------------------------------
# Step 1: YAML → plain values with lines
# ---------------------------------------------------------------------------------------------

PathT = tuple[str | int, ...]


@dataclass
class _Lines:
    value: dict[PathT, int] = field(default_factory=dict)
    key: dict[PathT, int] = field(default_factory=dict)

    def of(self, path: PathT, key: bool = False) -> int | None:
        if key and path in self.key:
            return self.key[path]
        p = path
        while True:
            if p in self.value:
                return self.value[p]
            if p in self.key:
                return self.key[p]
            if not p:
                return None
            p = p[:-1]


def _fmt_path(path: PathT) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


def _kind(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"boolean {str(v).lower()}"
    if isinstance(v, int):
        return f"integer {v}"
    if isinstance(v, float):
        return f"number {v}"
    if isinstance(v, str):
        return f"string {v!r}"
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    return f"{type(v).__name__} {v!s}"


def _compose(text: str, source: str) -> tuple[Any, _Lines]:
    lines = _Lines()
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise MappingError(f"{source}:1: the file is empty; expected a mapping with 'version' and 'tables'")
        return _to_plain(loader, node, (), lines, source), lines
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 1
        raise MappingError(f"{source}:{line}: invalid YAML: {e.problem or e.context}") from None
    finally:
        loader.dispose()


def _to_plain(loader: yaml.SafeLoader, node: yaml.Node, path: PathT, lines: _Lines, source: str) -> Any:
    lines.value[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves '<<' merge keys
        out: dict[str, Any] = {}
        for knode, vnode in node.value:
            key = loader.construct_object(knode, deep=True)
            kline = knode.start_mark.line + 1
            where = f"{source}:{kline}: {_fmt_path(path) + ': ' if path else ''}"
            if not isinstance(key, str):
                raise MappingError(f"{where}key {_kind(key)} is not a string (quote it)")
            if key in out:
                raise MappingError(f"{where}duplicate key {key!r} (first at line {lines.key[(*path, key)]})")
            lines.key[(*path, key)] = kline
            out[key] = _to_plain(loader, vnode, (*path, key), lines, source)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_plain(loader, item, (*path, i), lines, source) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


# ---------------------------------------------------------------------------------------------
# Step 2: plain values → model
# ---------------------------------------------------------------------------------------------


class _Invalid(Exception):
    def __init__(self, path: PathT, message: str, key: bool = False) -> None:
        super().__init__(message)
        self.path = path
        self.message = message
        self.key = key


def _map(v: Any, path: PathT) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise _Invalid(path, f"expected a mapping, got {_kind(v)}")
    return v


def _list(v: Any, path: PathT) -> list[Any]:
    if not isinstance(v, list):
        raise _Invalid(path, f"expected a list, got {_kind(v)}")
    return v


def _str(v: Any, path: PathT, *, allow_empty: bool = False) -> str:
    if not isinstance(v, str):
        hint = " (quote it)" if isinstance(v, int | float | bool) else ""
        raise _Invalid(path, f"expected a string, got {_kind(v)}{hint}")
    if not v and not allow_empty:
        raise _Invalid(path, "must not be empty")
    return v


def _opt_str(v: Any, path: PathT) -> str | None:
    return None if v is None else _str(v, path)


def _int(v: Any, path: PathT, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise _Invalid(path, f"expected an integer, got {_kind(v)}")
    if v < minimum:
        raise _Invalid(path, f"must be at least {minimum}, got {v}")
    return v


def _choice(v: Any, path: PathT, choices: Sequence[str]) -> str:
    if not isinstance(v, str):
        raise _Invalid(path, f"expected one of {', '.join(choices)}, got {_kind(v)}")
    if v not in choices:
        raise _Invalid(path, f"{v!r} is not one of {', '.join(choices)}")
    return v


def _attr_name(v: Any, path: PathT) -> str:
    s = _str(v, path)
    if len(s.encode()) > 255:
        raise _Invalid(path, "attribute names used in keys or indexes must be at most 255 bytes")
    return s


def _did_you_mean(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_keys(d: dict[str, Any], path: PathT, allowed: Sequence[str], required: Sequence[str] = ()) -> None:
    for k in d:
        if k not in allowed:
            hint = _did_you_mean(k, allowed) or f"; expected one of: {', '.join(allowed)}"
            raise _Invalid((*path, k), f"unknown key {k!r}{hint}", key=True)
    for k in required:
        if k not in d:
            raise _Invalid(path, f"missing required key {k!r}")


def _columns_ref(v: Any, path: PathT, columns: AbcMapping[str, Any], what: str) -> str:
    name = _str(v, path)
    if name not in columns:
        raise _Invalid(path, f"{what} {name!r} is not a column of the table{_did_you_mean(name, columns)}")
    return name


class _UnknownType(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


_CQL_TYPE_NAMES = ("ascii", "bigint", "blob", "boolean", "counter", "date", "decimal", "double", "duration",
                   "float", "inet", "int", "smallint", "text", "time", "timestamp", "timeuuid", "tinyint",
                   "uuid", "varchar", "varint", "list", "set", "map", "tuple", "frozen", "vector")


class _Types:
    """Resolves the user types of one table's `schema.types`, in any order, rejecting cycles."""

    def __init__(self, keyspace: str, raw: dict[str, Any], path: PathT) -> None:
        self.keyspace = keyspace
        self.raw = raw
        self.path = path
        self.done: dict[str, UDTType] = {}
        self.resolving: list[str] = []

    def resolve(self, name: str) -> UDTType:
        if name in self.done:
            return self.done[name]
        if name not in self.raw:
            raise _UnknownType(name)
        if name in self.resolving:
            cycle = " -> ".join([*self.resolving[self.resolving.index(name):], name])
            raise _Invalid((*self.path, name), f"user type {name!r} contains itself ({cycle})")
        self.resolving.append(name)
        fpath = (*self.path, name)
        fields_raw = _map(self.raw[name], fpath)
        if not fields_raw:
            raise _Invalid(fpath, "a user type needs at least one field")
        fields = tuple((fname, self.parse(ftype, (*fpath, fname))) for fname, ftype in fields_raw.items())
        self.resolving.pop()
        udt = UDTType(self.keyspace, name, fields, True)
        self.done[name] = udt
        return udt

    def parse(self, v: Any, path: PathT) -> CqlType:
        s = _str(v, path)
        try:
            return parse_cql_type(s, self.resolve)
        except _UnknownType as e:
            hint = _did_you_mean(e.name, [*_CQL_TYPE_NAMES, *self.raw])
            raise _Invalid(path, f"unknown type {e.name!r}: not a CQL type and not defined in schema.types{hint}") \
                from None
        except ValueError as e:
            raise _Invalid(path, str(e)) from None


_SCHEMA_KEYS = ("columns", "partition_key", "clustering", "static", "types")


def _parse_schema(raw: Any, path: PathT, keyspace: str) -> TableSchema:
    d = _map(raw, path)
    _check_keys(d, path, _SCHEMA_KEYS, required=("columns", "partition_key"))
    types = _Types(keyspace, _map(d.get("types") or {}, (*path, "types")), (*path, "types"))
    cols_path = (*path, "columns")
    cols_raw = _map(d["columns"], cols_path)
    if not cols_raw:
        raise _Invalid(cols_path, "a table needs at least one column")
    columns = {name: types.parse(t, (*cols_path, name)) for name, t in cols_raw.items()}
    for name in types.raw:  # defined but unused types are still checked
        types.resolve(name)

    pk_path = (*path, "partition_key")
    pk_raw = d["partition_key"]
    pk_list = [pk_raw] if isinstance(pk_raw, str) else _list(pk_raw, pk_path)
    if not pk_list:
        raise _Invalid(pk_path, "the partition key needs at least one column")
    pk = tuple(_columns_ref(c, pk_path if isinstance(pk_raw, str) else (*pk_path, i), columns,
                            "partition key column") for i, c in enumerate(pk_list))

    cl_path = (*path, "clustering")
    clustering: list[tuple[str, ClusteringOrder]] = []
    for i, item in enumerate(_list(d.get("clustering") or [], cl_path)):
        ipath = (*cl_path, i)
        if isinstance(item, str):
            name, order = item, "asc"
        else:
            entry = _map(item, ipath)
            if len(entry) != 1:
                raise _Invalid(ipath, "expected {column: asc|desc}")
            ((name, order_raw),) = entry.items()
            order = _choice(order_raw.lower() if isinstance(order_raw, str) else order_raw, (*ipath, name),
                            ("asc", "desc"))
        _columns_ref(name, ipath, columns, "clustering column")
        clustering.append((name, "desc" if order == "desc" else "asc"))

    st_path = (*path, "static")
    static = [_columns_ref(c, (*st_path, i), columns, "static column")
              for i, c in enumerate(_list(d.get("static") or [], st_path))]

    seen: dict[str, PathT] = {}
    for name, where in [*((c, pk_path) for c in pk), *((c, cl_path) for c, _ in clustering),
                        *((c, st_path) for c in static)]:
        if name in seen:
            raise _Invalid(where, f"column {name!r} is listed twice in the primary key / static columns")
        seen[name] = where
    if static and not clustering:
        raise _Invalid(st_path, "static columns need clustering columns")
    key_cols = (*pk, *(c for c, _ in clustering))
    for name in key_cols:
        t = columns[name]
        if isinstance(t, NativeType) and t.code == TypeCode.COUNTER:
            raise _Invalid((*cols_path, name), f"{name!r} is a primary key column and cannot be a counter")
        if isinstance(t, ListType | SetType | MapType | UDTType) and not t.frozen:
            raise _Invalid((*cols_path, name), f"{name!r} is a primary key column: its type must be frozen")
    regular = sorted(c for c in columns if c not in seen)
    counters = [c for c in regular if isinstance(columns[c], NativeType) and columns[c].code == TypeCode.COUNTER]
    if counters and len(counters) != len(regular):
        other = next(c for c in regular if c not in counters)
        raise _Invalid((*cols_path, other), f"a table with counter columns ({', '.join(counters)}) can have no "
                       f"other non-key columns, but {other!r} is {columns[other].cql()}")

    ordered = [*pk, *(c for c, _ in clustering), *sorted(static), *regular]
    udts = {n: types.done[n] for n in types.raw}
    return TableSchema({c: columns[c] for c in ordered}, pk, tuple(clustering), frozenset(static), udts)


_DYNAMODB_KEYS = ("region", "endpoint")
_TOP_KEYS = ("version", "dynamodb", "defaults", "tables")
_TABLE_KEYS = ("cql", "dynamodb_table", *POLICY_KEYS, "partition_key", "sort_key", "attributes", "indexes",
               "schema")
_PK_KEYS = ("attribute", "prefix")
_SK_KEYS = ("attribute", "prefix", "encoding")
_ATTR_KEYS = ("name", "type")
_INDEX_KEYS = ("name", "partition_key", "sort_key", "projection", "include", "cql_index")


def _parse_policy(d: dict[str, Any], path: PathT, base: TableDefaults) -> tuple[TableDefaults, dict[str, PathT]]:
    """Applies the policy keys present in `d` over `base`; also returns where each was set."""
    values: dict[str, Any] = {}
    where: dict[str, PathT] = {}
    for k in POLICY_KEYS:
        if k not in d:
            continue
        p = (*path, k)
        v = d[k]
        if k == "phase":
            values[k] = _choice(v, p, PHASES)
        elif k == "write_mode":
            values[k] = _choice(v, p, WRITE_MODES)
        elif k == "write_condition":
            values[k] = _choice(v, p, WRITE_CONDITIONS)
        elif k == "large_items":
            values[k] = _choice(v, p, LARGE_ITEMS)
        elif k == "s3_bucket":
            bucket = _opt_str(v, p)
            if bucket is not None and not _S3_BUCKET.fullmatch(bucket):
                raise _Invalid(p, f"{bucket!r} is not a valid S3 bucket name (3-63 characters: a-z, 0-9, '.', '-')")
            values[k] = bucket
        elif k in ("ttl_attribute", "timestamp_attribute"):
            values[k] = _attr_name(v, p)
        elif k == "tombstone_ttl":
            values[k] = _int(v, p, 1)
        where[k] = p
    return dataclasses.replace(base, **values), where


class _Builder:
    """Turns plain values into the model. Errors carry paths; the caller adds file and line."""

    def __init__(self, defaults: TableDefaults, defaults_where: dict[str, PathT] | None = None) -> None:
        self.defaults = defaults
        self.defaults_where = defaults_where or {}

    def table(self, raw: Any, path: PathT) -> TableMapping:
        d = _map(raw, path)
        _check_keys(d, path, _TABLE_KEYS, required=("cql", "schema"))
        cql_path = (*path, "cql")
        try:
            keyspace, table = parse_table_name(_str(d["cql"], cql_path))
        except ValueError as e:
            raise _Invalid(cql_path, str(e)) from None
        policy, where = _parse_policy(d, path, self.defaults)
        where = {**self.defaults_where, **where}
        if policy.large_items == "s3" and not policy.s3_bucket:
            raise _Invalid(where.get("large_items", path), f"large_items is 's3' but no s3_bucket is set for "
                           f"{keyspace}.{table}")
        if policy.ttl_attribute == policy.timestamp_attribute:
            raise _Invalid(where.get("timestamp_attribute", path),
                           f"ttl_attribute and timestamp_attribute are both {policy.ttl_attribute!r}")
        schema = _parse_schema(d["schema"], (*path, "schema"), keyspace)

        pk_path, sk_path = (*path, "partition_key"), (*path, "sort_key")
        pk_raw = _map(d.get("partition_key") or {}, pk_path)
        _check_keys(pk_raw, pk_path, _PK_KEYS)
        sk_raw = _map(d.get("sort_key") or {}, sk_path)
        _check_keys(sk_raw, sk_path, _SK_KEYS)
        try:
            pk, sk = derive_keys(
                schema,
                pk_attribute=_attr_name(pk_raw.get("attribute", "pk"), (*pk_path, "attribute")),
                pk_prefix=_str(pk_raw.get("prefix", ""), (*pk_path, "prefix"), allow_empty=True),
                sk_attribute=_attr_name(sk_raw.get("attribute", "sk"), (*sk_path, "attribute")),
                sk_prefix=_str(sk_raw.get("prefix", ""), (*sk_path, "prefix"), allow_empty=True),
                sk_encoding=_choice(sk_raw.get("encoding", "auto"), (*sk_path, "encoding"), SORT_KEY_ENCODINGS),
                sk_requested="sort_key" in d,
            )
        except KeyRuleError as e:
            raise _Invalid((*sk_path, e.field) if e.field and e.field in sk_raw else sk_path, str(e)) from None

        attributes = self.attributes(d.get("attributes"), (*path, "attributes"), schema)
        reserved: dict[str, tuple[str, PathT]] = {}
        for what, name, p in (
            ("the partition key attribute", pk.attribute, (*pk_path, "attribute")),
            ("the sort key attribute", sk.attribute if sk else None, (*sk_path, "attribute")),
            ("ttl_attribute", policy.ttl_attribute, where.get("ttl_attribute", path)),
            ("timestamp_attribute", policy.timestamp_attribute, where.get("timestamp_attribute", path)),
        ):
            if name is None:
                continue
            if name in reserved:
                raise _Invalid(p, f"{what} {name!r} is also {reserved[name][0]}")
            reserved[name] = (what, p)
        taken: dict[str, str] = {}
        for col, spec in attributes.items():
            p = (*path, "attributes", col) if col in (d.get("attributes") or {}) else (*path, "schema", "columns", col)
            if spec.name in reserved:
                raise _Invalid(p, f"column {col!r} is stored as attribute {spec.name!r}, which is "
                               f"{reserved[spec.name][0]}; rename it with attributes: {{{col}: {{name: ...}}}}")
            if spec.name in taken:
                raise _Invalid(p, f"columns {taken[spec.name]!r} and {col!r} are both stored as attribute "
                               f"{spec.name!r}")
            taken[spec.name] = col

        tm = TableMapping(
            keyspace=keyspace,
            table=table,
            dynamodb_table="",
            phase=policy.phase,
            write_mode=policy.write_mode,
            write_condition=policy.write_condition,
            large_items=policy.large_items,
            s3_bucket=policy.s3_bucket,
            ttl_attribute=policy.ttl_attribute,
            timestamp_attribute=policy.timestamp_attribute,
            tombstone_ttl=policy.tombstone_ttl,
            pk=pk,
            sk=sk,
            attributes=attributes,
            indexes=(),
            schema=schema,
        )
        dt_path = (*path, "dynamodb_table")
        if "dynamodb_table" in d:
            dt = _str(d["dynamodb_table"], dt_path)
            problem = check_dynamodb_name(dt)
            if problem:
                raise _Invalid(dt_path, f"{dt!r} is not a valid DynamoDB table name: {problem}")
        else:
            dt = default_dynamodb_table_name(keyspace, table)
        indexes = self.indexes(d.get("indexes"), (*path, "indexes"), tm)
        return dataclasses.replace(tm, dynamodb_table=dt, indexes=indexes)

    def attributes(self, raw: Any, path: PathT, schema: TableSchema) -> dict[str, AttributeSpec]:
        given = _map(raw or {}, path)
        for col in given:
            if col not in schema.columns:
                raise _Invalid((*path, col), f"{col!r} is not a column of the table"
                               f"{_did_you_mean(col, schema.columns)}", key=True)
        out: dict[str, AttributeSpec] = {}
        for col, t in schema.columns.items():
            if col not in given:
                out[col] = AttributeSpec(col)
                continue
            p = (*path, col)
            v = given[col]
            if isinstance(v, str):  # shorthand: {column: attribute_name}
                out[col] = AttributeSpec(_attr_name(v, p))
                continue
            entry = _map(v, p)
            _check_keys(entry, p, _ATTR_KEYS)
            name = _attr_name(entry.get("name", col), (*p, "name"))
            override = None
            if "type" in entry:
                allowed = allowed_attribute_types(t)
                override = _choice(entry["type"], (*p, "type"), ATTRIBUTE_TYPES)
                if override not in allowed:
                    raise _Invalid((*p, "type"), f"a {t.cql()} column cannot be stored as {override}; "
                                   f"possible: {', '.join(allowed)}")
            out[col] = AttributeSpec(name, override)
        return out

    def indexes(self, raw: Any, path: PathT, tm: TableMapping) -> tuple[IndexSpec, ...]:
        out: list[IndexSpec] = []
        names: dict[str, int] = {}
        columns = tm.schema.columns
        for i, item in enumerate(_list(raw or [], path)):
            p = (*path, i)
            d = _map(item, p)
            _check_keys(d, p, _INDEX_KEYS, required=("name", "partition_key"))
            name = _str(d["name"], (*p, "name"))
            problem = check_dynamodb_name(name)
            if problem:
                raise _Invalid((*p, "name"), f"{name!r} is not a valid DynamoDB index name: {problem}")
            if name in names:
                raise _Invalid((*p, "name"), f"index {name!r} is already defined by indexes[{names[name]}]")
            names[name] = i
            def key_column(role: str, p: PathT = p, d: dict[str, Any] = d) -> str:
                col = _columns_ref(d[role], (*p, role), columns, "index key column")
                atype = tm.attribute_type(col)
                if atype not in ("S", "N", "B"):
                    raise _Invalid((*p, role), f"column {col!r} is stored as {atype}, which cannot be an index key "
                                   "(only S, N or B); override its type under attributes")
                return col

            pk_col = key_column("partition_key")
            sk_col = key_column("sort_key") if d.get("sort_key") is not None else None
            if pk_col == sk_col:
                raise _Invalid((*p, "sort_key"), "the index sort key must differ from its partition key")
            projection = _choice(d.get("projection", "ALL"), (*p, "projection"), PROJECTIONS)
            include: tuple[str, ...] = ()
            if "include" in d:
                if projection != "INCLUDE":
                    raise _Invalid((*p, "include"), "include is only for projection: INCLUDE")
                ipath = (*p, "include")
                include = tuple(_columns_ref(c, (*ipath, j), columns, "included column")
                                for j, c in enumerate(_list(d["include"], ipath)))
            if projection == "INCLUDE" and not include:
                raise _Invalid((*p, "projection"), "projection INCLUDE needs an include list of columns")
            cql_index = _opt_str(d.get("cql_index"), (*p, "cql_index"))
            out.append(IndexSpec(name, pk_col, sk_col, cast(Projection, projection), include, cql_index))
        return tuple(out)


def _comparable(a: str, b: str) -> bool:
    return a.startswith(b) or b.startswith(a)


def _cross_checks(tables: list[tuple[TableMapping, PathT]]) -> list[tuple[TableMapping, PathT]]:
    """Checks between tables; returns the tables with shared-table adjustments applied."""
    seen: dict[tuple[str, str], PathT] = {}
    for tm, path in tables:
        key = (tm.keyspace, tm.table)
        if key in seen:
            raise _Invalid((*path, "cql"), f"{tm.cql_name} is already mapped by {_fmt_path(seen[key])}")
        seen[key] = path

    groups: dict[str, list[int]] = {}
    for i, (tm, _) in enumerate(tables):
        groups.setdefault(tm.dynamodb_table, []).append(i)
    out = list(tables)
    for dt, idx in groups.items():
        if len(idx) < 2:
            continue
        # A constant sort key sharing a table with Binary sort keys is stored as the prefix's bytes.
        sk_types = {sk.dynamodb_type for sk in (out[i][0].sk for i in idx)
                    if sk is not None and sk.encoding != "constant"}
        if sk_types == {"B"}:
            for i in idx:
                tm, path = out[i]
                if tm.sk is not None and tm.sk.encoding == "constant":
                    out[i] = (dataclasses.replace(tm, sk=dataclasses.replace(tm.sk, dynamodb_type="B")), path)
        first, fpath = out[idx[0]]
        for i in idx[1:]:
            tm, path = out[i]
            other = f"{first.cql_name} ({_fmt_path(fpath)})"
            why = f"; tables sharing DynamoDB table {dt!r} need the same key attributes and types"
            if (tm.pk.attribute, tm.pk.dynamodb_type) != (first.pk.attribute, first.pk.dynamodb_type):
                raise _Invalid((*path, "partition_key"), f"partition key {tm.pk.attribute} ({tm.pk.dynamodb_type}) "
                               f"differs from {first.pk.attribute} ({first.pk.dynamodb_type}) of {other}{why}")
            mine = (tm.sk.attribute, tm.sk.dynamodb_type) if tm.sk else None
            theirs = (first.sk.attribute, first.sk.dynamodb_type) if first.sk else None
            if mine != theirs:
                def show(k: tuple[str, str] | None) -> str:
                    return f"{k[0]} ({k[1]})" if k else "none"

                raise _Invalid((*path, "sort_key"), f"sort key {show(mine)} differs from {show(theirs)} of "
                               f"{other}{why}")
            if tm.ttl_attribute != first.ttl_attribute:
                raise _Invalid((*path, "ttl_attribute"), f"ttl_attribute {tm.ttl_attribute!r} differs from "
                               f"{first.ttl_attribute!r} of {other}; DynamoDB has one TTL attribute per table")
        for n, i in enumerate(idx):
            tm, path = out[i]
            for j in idx[:n]:
                prev, ppath = out[j]
                apart = not _comparable(tm.pk.prefix, prev.pk.prefix) or (
                    tm.sk is not None and prev.sk is not None and not _comparable(tm.sk.prefix, prev.sk.prefix))
                if not apart:
                    where = (*path, "sort_key", "prefix") if tm.sk else (*path, "partition_key", "prefix")
                    raise _Invalid(where, f"{tm.cql_name} and {prev.cql_name} ({_fmt_path(ppath)}) share DynamoDB "
                                   f"table {dt!r} but their key prefixes do not keep their items apart: give them "
                                   "prefixes of which neither starts with the other")
        _check_index_agreement(dt, [out[i] for i in idx])
    return out


def _check_index_agreement(dt: str, tables: list[tuple[TableMapping, PathT]]) -> None:
    seen: dict[str, tuple[tuple[object, ...], str]] = {}
    for tm, path in tables:
        for i, ix in enumerate(tm.indexes):
            shape = (
                tm.attribute_name(ix.partition_key), tm.attribute_type(ix.partition_key),
                tm.attribute_name(ix.sort_key) if ix.sort_key else None,
                tm.attribute_type(ix.sort_key) if ix.sort_key else None,
                ix.projection,
            )
            if ix.name in seen and seen[ix.name][0] != shape:
                raise _Invalid((*path, "indexes", i, "name"), f"index {ix.name!r} of DynamoDB table {dt!r} is also "
                               f"defined by {seen[ix.name][1]} with other keys or projection")
            seen.setdefault(ix.name, (shape, tm.cql_name))
    _check_key_attribute_types(dt, tables)


def _check_key_attribute_types(dt: str, tables: list[tuple[TableMapping, PathT]]) -> None:
    """Every attribute used as a table or index key has one type across the DynamoDB table."""
    types: dict[str, tuple[str, str]] = {}
    for tm, path in tables:
        uses: list[tuple[str, str, PathT]] = [(tm.pk.attribute, tm.pk.dynamodb_type, (*path, "partition_key"))]
        if tm.sk:
            uses.append((tm.sk.attribute, tm.sk.dynamodb_type, (*path, "sort_key")))
        for i, ix in enumerate(tm.indexes):
            for role, col in (("partition_key", ix.partition_key), ("sort_key", ix.sort_key)):
                if col:
                    uses.append((tm.attribute_name(col), tm.attribute_type(col), (*path, "indexes", i, role)))
        for attr, typ, p in uses:
            if attr in types and types[attr][0] != typ:
                raise _Invalid(p, f"attribute {attr!r} is a key of type {typ} here but {types[attr][0]} in "
                               f"{types[attr][1]} (DynamoDB table {dt!r})")
            types.setdefault(attr, (typ, tm.cql_name))


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def _where(source: str, lines: _Lines | None, e: _Invalid) -> str:
    line = lines.of(e.path, e.key) if lines else None
    loc = f"{source}:{line}:" if line is not None else f"{source}:"
    return f"{loc} {_fmt_path(e.path)}: {e.message}" if e.path else f"{loc} {e.message}"


def mapping_from_dict(raw: Any, source: str = "<mapping>", lines: _Lines | None = None) -> Mapping:
    """Builds and checks a Mapping from plain values (as YAML would give). Raises MappingError."""
    errors: list[tuple[int, str]] = []

    def fail(e: _Invalid) -> None:
        errors.append((lines.of(e.path, e.key) or 0 if lines else 0, _where(source, lines, e)))

    def finish() -> None:
        if errors:
            msgs = [m for _, m in sorted(errors, key=lambda x: x[0])]
            raise MappingError("\n".join(msgs), msgs)

    try:
        d = _map(raw, ())
        _check_keys(d, (), _TOP_KEYS, required=("version", "tables"))
        version = d["version"]
        if isinstance(version, bool) or not isinstance(version, int):
            raise _Invalid(("version",), f"expected an integer, got {_kind(version)}")
        if version != VERSION:
            raise _Invalid(("version",), f"unsupported version {version} (this release reads version {VERSION})")
    except _Invalid as e:
        fail(e)
        finish()

    region = endpoint = None
    try:
        dyn = _map(d.get("dynamodb") or {}, ("dynamodb",))
        _check_keys(dyn, ("dynamodb",), _DYNAMODB_KEYS)
        region = _opt_str(dyn.get("region"), ("dynamodb", "region"))
        endpoint = _opt_str(dyn.get("endpoint"), ("dynamodb", "endpoint"))
        if endpoint is not None and not re.match(r"https?://", endpoint):
            raise _Invalid(("dynamodb", "endpoint"), f"{endpoint!r} is not an http:// or https:// URL")
    except _Invalid as e:
        fail(e)

    defaults: TableDefaults = BUILTIN_DEFAULTS
    defaults_where: dict[str, PathT] = {}
    try:
        dd = _map(d.get("defaults") or {}, ("defaults",))
        _check_keys(dd, ("defaults",), POLICY_KEYS)
        defaults, defaults_where = _parse_policy(dd, ("defaults",), BUILTIN_DEFAULTS)
    except _Invalid as e:
        fail(e)

    builder = _Builder(defaults, defaults_where)
    built: list[tuple[TableMapping, PathT]] = []
    try:
        items = _list(d["tables"] if d["tables"] is not None else [], ("tables",))
    except _Invalid as e:
        fail(e)
        items = []
    for i, item in enumerate(items):
        try:
            built.append((builder.table(item, ("tables", i)), ("tables", i)))
        except _Invalid as e:
            fail(e)
    finish()
    try:
        built = _cross_checks(built)
    except _Invalid as e:
        fail(e)
    finish()
    return Mapping(VERSION, region, endpoint, {(tm.keyspace, tm.table): tm for tm, _ in built}, source)


def loads_mapping(text: str, source: str = "<mapping>") -> Mapping:
    raw, lines = _compose(text, source)
    return mapping_from_dict(raw, source, lines)


def load_mapping(path: str | Path) -> Mapping:
    """Reads and checks a mapping file. Raises MappingError (``file:line: ...``) or OSError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise MappingError(f"{path}:1: not UTF-8 text ({e.reason} at byte {e.start})") from None
    return loads_mapping(text, str(path))


def table_from_dict(raw: dict[str, Any], defaults: TableDefaults = BUILTIN_DEFAULTS,
                    source: str = "<mapping>") -> TableMapping:
    """One `tables:` entry (plain values) → TableMapping, with the single-table checks."""
    try:
        return _Builder(defaults).table(raw, ())
    except _Invalid as e:
        raise MappingError(_where(source, None, e)) from None


def build_mapping(tables: Iterable[TableMapping], region: str | None = None, endpoint: str | None = None,
                  source: str = "<mapping>") -> Mapping:
    """A Mapping from tables built elsewhere (e.g. schema import), with the checks between tables."""
    return mapping_from_dict(_mapping_to_dict(tables, region, endpoint, BUILTIN_DEFAULTS), source)


# ---------------------------------------------------------------------------------------------
# Dumping
# ---------------------------------------------------------------------------------------------


class _Flow(dict[str, Any]):
    pass


class _FlowList(list[Any]):
    pass


class _Dumper(yaml.SafeDumper):
    pass


def _repr_flow_map(d: yaml.SafeDumper, data: dict[str, Any]) -> yaml.Node:
    return d.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)


def _repr_flow_list(d: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    return d.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


_Dumper.add_representer(_Flow, _repr_flow_map)
_Dumper.add_representer(_FlowList, _repr_flow_list)


def _common_defaults(tables: Sequence[TableMapping]) -> TableDefaults:
    values: dict[str, Any] = {}
    for k in POLICY_KEYS:
        seen = {getattr(tm, k) for tm in tables}
        if len(seen) == 1:
            values[k] = seen.pop()
    if values.get("large_items") == "s3" and not values.get("s3_bucket"):
        values.pop("large_items")
    return dataclasses.replace(BUILTIN_DEFAULTS, **values)


def _table_to_dict(tm: TableMapping, defaults: TableDefaults) -> dict[str, Any]:
    out: dict[str, Any] = {"cql": tm.cql_name, "dynamodb_table": tm.dynamodb_table}
    for k in POLICY_KEYS:
        if getattr(tm, k) != getattr(defaults, k):
            out[k] = getattr(tm, k)
    pk = _Flow(attribute=tm.pk.attribute)
    if tm.pk.prefix:
        pk["prefix"] = tm.pk.prefix
    out["partition_key"] = pk
    if tm.sk:
        sk = _Flow(attribute=tm.sk.attribute)
        if tm.sk.prefix:
            sk["prefix"] = tm.sk.prefix
        if tm.sk.encoding in ("plain", "bytecomparable"):
            sk["encoding"] = tm.sk.encoding
        out["sort_key"] = sk
    attrs: dict[str, Any] = {}
    for col, spec in tm.attributes.items():
        if spec.name != col or spec.type_override:
            entry = _Flow()
            if spec.name != col:
                entry["name"] = spec.name
            if spec.type_override:
                entry["type"] = spec.type_override
            attrs[col] = entry
    if attrs:
        out["attributes"] = attrs
    if tm.indexes:
        ixs = []
        for ix in tm.indexes:
            e = _Flow(name=ix.name, partition_key=ix.partition_key)
            if ix.sort_key:
                e["sort_key"] = ix.sort_key
            e["projection"] = ix.projection
            if ix.include:
                e["include"] = _FlowList(ix.include)
            if ix.cql_index:
                e["cql_index"] = ix.cql_index
            ixs.append(e)
        out["indexes"] = ixs
    s = tm.schema
    schema: dict[str, Any] = {
        "columns": {c: type_to_cql(t) for c, t in s.columns.items()},
        "partition_key": _FlowList(s.partition_key),
        "clustering": _FlowList(_Flow({c: o}) for c, o in s.clustering),
        "static": _FlowList(sorted(s.static)),
    }
    if s.udts:
        schema["types"] = {n: _Flow({f: type_to_cql(ft) for f, ft in u.fields}) for n, u in s.udts.items()}
    out["schema"] = schema
    return out


def _mapping_to_dict(tables: Iterable[TableMapping], region: str | None, endpoint: str | None,
                     defaults: TableDefaults) -> dict[str, Any]:
    return {
        "version": VERSION,
        "dynamodb": _Flow(region=region, endpoint=endpoint),
        "defaults": dataclasses.asdict(defaults),
        "tables": [_table_to_dict(tm, defaults) for tm in tables],
    }


_HEADER = """\
# cql-dynamo-proxy mapping, format version 1: how each CQL table is stored in DynamoDB.
# Reference: docs/mapping.md. Check it with `cql-dynamo-proxy mapping check FILE`; create the
# DynamoDB tables with `cql-dynamo-proxy tables create --mapping FILE`.
# Key layout rules: a single partition key column keeps its type; several columns or a prefix
# make a composite string. A single ascending text or integer-like clustering column stays plain;
# otherwise the sort key is an order-preserving binary encoding (DESC included).
"""


def _yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096,
                     default_flow_style=False)


def dump_mapping(mapping: Mapping, notes: AbcMapping[tuple[str, str], Sequence[str]] | None = None) -> str:
    """The mapping as YAML with explanatory comments; ``loads_mapping(dump_mapping(m)) == m``.

    `notes` adds comment lines above a table's entry (e.g. indexes schema import skipped).
    """
    tables = list(mapping.tables.values())
    defaults = _common_defaults(tables)
    doc = _mapping_to_dict(tables, mapping.region, mapping.endpoint, defaults)
    out = [_HEADER, "\n", _yaml({"version": doc["version"], "dynamodb": doc["dynamodb"]})]
    out.append("\n# Settings every table gets unless it sets its own.\n")
    out.append(_yaml({"defaults": doc["defaults"]}))
    if not tables:
        out.append("tables: []\n")
        return "".join(out)
    out.append("tables:\n")
    for tm, td in zip(tables, doc["tables"], strict=True):
        out.append("\n")
        comments = [f"{tm.cql_name} -> {tm.dynamodb_table}", "  partition key " + describe_key(tm.pk, tm.schema)]
        if tm.sk:
            comments.append("  sort key " + describe_key(tm.sk, tm.schema))
        comments.extend((notes or {}).get((tm.keyspace, tm.table), ()))
        out.extend(f"  # {c}\n" for c in comments)
        out.extend(f"  {line}\n" for line in _yaml([td]).splitlines())
    return "".join(out)


def summarize(mapping: Mapping) -> list[str]:
    """Human-readable lines: each table with its key layout, policies and indexes."""
    lines: list[str] = []
    for dt, tms in mapping.dynamodb_tables().items():
        lines.append(f"DynamoDB table {dt}" + (f" (shared by {len(tms)} CQL tables)" if len(tms) > 1 else ""))
        for tm in tms:
            lines.append(f"  {tm.cql_name}: phase {tm.phase}, writes {tm.write_mode}/{tm.write_condition}, "
                         f"large items {tm.large_items}, TTL attribute {tm.ttl_attribute}")
            lines.append(f"    partition key {describe_key(tm.pk, tm.schema)}")
            if tm.sk:
                lines.append(f"    sort key {describe_key(tm.sk, tm.schema)}")
            for ix in tm.indexes:
                keys = f"{tm.attribute_name(ix.partition_key)} ({tm.attribute_type(ix.partition_key)})"
                if ix.sort_key:
                    keys += f" / {tm.attribute_name(ix.sort_key)} ({tm.attribute_type(ix.sort_key)})"
                lines.append(f"    index {ix.name}: {keys}, projection {ix.projection}")
    return lines


__all__ = [
    "BUILTIN_DEFAULTS",
    "PHASES",
    "AttributeSpec",
    "IndexSpec",
    "KeyRuleError",
    "KeySpec",
    "Mapping",
    "MappingError",
    "TableDefaults",
    "TableMapping",
    "TableSchema",
    "allowed_attribute_types",
    "build_mapping",
    "check_dynamodb_name",
    "default_attribute_type",
    "default_dynamodb_table_name",
    "derive_keys",
    "describe_key",
    "dump_mapping",
    "load_mapping",
    "loads_mapping",
    "mapping_from_dict",
    "parse_identifier",
    "parse_table_name",
    "quote_identifier",
    "scalar_key_type",
    "summarize",
    "table_from_dict",
    "type_to_cql",
    "udts_used",
]

