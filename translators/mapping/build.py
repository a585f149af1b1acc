"""Step 2 of reading a mapping: plain values → the model, with every single-table check.

Errors are `_Invalid` with the path of the offending key; the caller adds file and line.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Sequence
from collections.abc import Mapping as AbcMapping
from typing import Any, cast

from cql_protocol.typeparse import parse_cql_type
from cql_protocol.types import CqlType, ListType, MapType, NativeType, SetType, TypeCode, UDTType

from .column_types import allowed_attribute_types
from .key_rules import KeyRuleError, derive_keys
from .model import (
    ATTRIBUTE_TYPES,
    LARGE_ITEMS,
    PHASES,
    POLICY_KEYS,
    PROJECTIONS,
    SORT_KEY_ENCODINGS,
    TOKEN_BUCKET,
    TOKEN_KEY,
    WRITE_CONDITIONS,
    WRITE_MODES,
    AttributeSpec,
    ClusteringOrder,
    IndexSpec,
    Projection,
    TableDefaults,
    TableMapping,
    TableSchema,
)
from .names import _S3_BUCKET, check_dynamodb_name, default_dynamodb_table_name, parse_table_name
from .yaml_lines import PathT, _kind


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
               "token_index", "schema")
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
        ti_path = (*path, "token_index")
        token_index = d.get("token_index", False)
        if not isinstance(token_index, bool):
            raise _Invalid(ti_path, f"token_index must be true or false, not {token_index!r}")
        reserved: dict[str, tuple[str, PathT]] = {}
        for what, name, p in (
            ("the partition key attribute", pk.attribute, (*pk_path, "attribute")),
            ("the sort key attribute", sk.attribute if sk else None, (*sk_path, "attribute")),
            ("ttl_attribute", policy.ttl_attribute, where.get("ttl_attribute", path)),
            ("timestamp_attribute", policy.timestamp_attribute, where.get("timestamp_attribute", path)),
            ("the token bucket attribute of token_index", TOKEN_BUCKET if token_index else None, ti_path),
            ("the token key attribute of token_index", TOKEN_KEY if token_index else None, ti_path),
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
            token_index=token_index,
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
