"""The mapping model: the frozen dataclasses a loaded mapping is made of, and its constants."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from cql_protocol.types import CqlType, ListType, MapType, NativeType, SetType, TypeCode, UDTType

from .column_types import KeyType, default_attribute_type
from .names import quote_identifier

VERSION = 1
PHASES = ("cassandra", "dual_write", "verify", "dynamo_fallback", "dynamo")
WRITE_MODES = ("sync", "queued")
WRITE_CONDITIONS = ("lww", "none")
LARGE_ITEMS = ("reject", "compress", "s3")
SORT_KEY_ENCODINGS = ("auto", "plain", "bytecomparable")
PROJECTIONS = ("ALL", "KEYS_ONLY", "INCLUDE")
ATTRIBUTE_TYPES = ("S", "N", "B", "BOOL", "L", "M", "SS", "NS", "BS")

# token_index: the GSI and its key attributes (bucket: the token's top bits; key: the token as 8
# unsigned big-endian bytes, then the serialized partition key, so it orders as Cassandra's ring)
TOKEN_INDEX = "cdp_token"
TOKEN_BUCKET = "_tb"
TOKEN_KEY = "_tk"

KeyEncoding = Literal["plain", "bytecomparable", "composite", "constant"]
ClusteringOrder = Literal["asc", "desc"]
Projection = Literal["ALL", "KEYS_ONLY", "INCLUDE"]


class MappingError(ValueError):
    """An invalid mapping. `str(e)` is one line per problem, each ``file:line: path: what``."""

    def __init__(self, message: str, errors: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors: list[str] = list(errors) if errors else [message]


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

    # computed once: the read path asks for them for every row
    @cached_property
    def clustering_columns(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.clustering)

    @cached_property
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
    # items carry their partition's token (TOKEN_BUCKET/TOKEN_KEY) and the DynamoDB table has the
    # TOKEN_INDEX GSI: token() range reads go in token order at a cost proportional to their rows
    token_index: bool = False

    @cached_property
    def cql_name(self) -> str:
        """``keyspace.table`` as written in CQL (quoted where needed)."""
        return f"{quote_identifier(self.keyspace)}.{quote_identifier(self.table)}"

    @cached_property
    def plain_columns(self) -> tuple[tuple[str, str, CqlType], ...]:
        """(column, attribute, type) of the columns stored as attributes of their own (every column
        but non-frozen collections, whose elements live in the item's metadata)."""
        return tuple((c, self.attributes[c].name, t) for c, t in self.schema.columns.items()
                     if not (isinstance(t, ListType | SetType | MapType) and not t.frozen))

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
