"""RESULT and its kinds: Void, Rows, Set_keyspace, Prepared, Schema_change.

Row cells stay raw [bytes]; turning them into Python values is the caller's job (types.deserialize)
because the proxy forwards most rows without ever looking inside them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar, Self, cast

from ..errors import ProtocolError
from ..opcodes import Opcode
from ..primitives import INT, Reader, Writer
from ..types import CqlType, read_option, write_option
from .base import Message, response


class ResultKind(IntEnum):
    VOID = 0x0001
    ROWS = 0x0002
    SET_KEYSPACE = 0x0003
    PREPARED = 0x0004
    SCHEMA_CHANGE = 0x0005


class MetadataFlag:
    GLOBAL_TABLES_SPEC = 0x0001
    HAS_MORE_PAGES = 0x0002
    NO_METADATA = 0x0004
    METADATA_CHANGED = 0x0008


# Zero-column rows take no bytes, so their count is not bounded by the body size.
MAX_EMPTY_ROWS = 1 << 20


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    keyspace: str
    table: str
    name: str
    type: CqlType


def _write_columns(w: Writer, columns: list[ColumnSpec], global_spec: bool, version: int) -> None:
    if global_spec:
        w.string(columns[0].keyspace).string(columns[0].table)
        for c in columns:
            w.string(c.name)
            write_option(w, c.type, version)
    else:
        for c in columns:
            w.string(c.keyspace).string(c.table).string(c.name)
            write_option(w, c.type, version)


def _read_columns(r: Reader, count: int, global_spec: bool) -> list[ColumnSpec]:
    columns = []
    if global_spec:
        ks = r.string()
        table = r.string()
        for _ in range(count):
            name = r.string()
            columns.append(ColumnSpec(ks, table, name, read_option(r)))
    else:
        for _ in range(count):
            ks = r.string()
            table = r.string()
            name = r.string()
            columns.append(ColumnSpec(ks, table, name, read_option(r)))
    return columns


def _is_global(columns: list[ColumnSpec]) -> bool:
    if not columns:
        return False
    ks, table = columns[0].keyspace, columns[0].table
    return all(c.keyspace == ks and c.table == table for c in columns)


def _read_count(r: Reader, what: str) -> int:
    n = r.int()
    if n < 0:
        raise ProtocolError(f"negative {what} {n}")
    return n


@dataclass(slots=True)
class RowsMetadata:
    """<metadata> of a Rows result (and the result metadata of Prepared).

    `columns` None means No_metadata (the client asked to skip it); `column_count` still tells how
    many cells each row has and defaults to len(columns).
    """

    columns: list[ColumnSpec] | None
    column_count: int = -1
    paging_state: bytes | None = None
    new_metadata_id: bytes | None = None  # v5: Metadata_changed

    def __post_init__(self) -> None:
        if self.column_count < 0:
            self.column_count = len(self.columns) if self.columns is not None else 0

    def encode(self, w: Writer, version: int) -> None:
        columns = self.columns
        flags = 0
        if columns is None:
            flags |= MetadataFlag.NO_METADATA
            if self.new_metadata_id is not None:
                raise ValueError("a new metadata id needs the metadata itself")
        else:
            if len(columns) != self.column_count:
                raise ValueError(f"column_count {self.column_count} but {len(columns)} columns")
            if _is_global(columns):
                flags |= MetadataFlag.GLOBAL_TABLES_SPEC
            if self.new_metadata_id is not None:
                flags |= MetadataFlag.METADATA_CHANGED
        if self.paging_state is not None:
            flags |= MetadataFlag.HAS_MORE_PAGES
        w.int(flags).int(self.column_count)
        if self.paging_state is not None:
            w.bytes_(self.paging_state)
        if columns is None:
            return
        if self.new_metadata_id is not None:
            w.short_bytes(self.new_metadata_id)
        _write_columns(w, columns, bool(flags & MetadataFlag.GLOBAL_TABLES_SPEC), version)

    @classmethod
    def decode(cls, r: Reader, version: int) -> RowsMetadata:
        flags = r.int()
        count = _read_count(r, "column count")
        paging_state = r.bytes_() if flags & MetadataFlag.HAS_MORE_PAGES else None
        if flags & MetadataFlag.NO_METADATA:
            return cls(None, count, paging_state)
        new_id = r.short_bytes() if flags & MetadataFlag.METADATA_CHANGED else None
        columns = _read_columns(r, count, bool(flags & MetadataFlag.GLOBAL_TABLES_SPEC))
        return cls(columns, count, paging_state, new_id)


@dataclass(slots=True)
class Result(Message):
    """RESULT: `decode_body` reads the kind and returns the matching subclass."""

    opcode: ClassVar[int] = Opcode.RESULT
    kind: ClassVar[int]

    def encode_body(self, w: Writer, version: int) -> None:
        w.int(self.kind)
        self._encode_kind(w, version)

    def _encode_kind(self, w: Writer, version: int) -> None:
        raise NotImplementedError

    @classmethod
    def decode_body(cls, r: Reader, version: int) -> Self:
        kind = r.int()
        sub = _KINDS.get(kind)
        if sub is None:
            raise ProtocolError(f"unknown RESULT kind {kind}")
        if not issubclass(sub, cls):
            raise ProtocolError(f"expected a {cls.__name__} result, got kind {kind}")
        return cast(Self, sub._decode_kind(r, version))

    @classmethod
    def _decode_kind(cls, r: Reader, version: int) -> Result:
        raise NotImplementedError


@dataclass(slots=True)
class Void(Result):
    kind: ClassVar[int] = ResultKind.VOID

    def _encode_kind(self, w: Writer, version: int) -> None:
        pass

    @classmethod
    def _decode_kind(cls, r: Reader, version: int) -> Result:
        return cls()


@dataclass(slots=True)
class Rows(Result):
    kind: ClassVar[int] = ResultKind.ROWS
    metadata: RowsMetadata
    rows: list[list[bytes | None]] = field(default_factory=list)

    def _encode_kind(self, w: Writer, version: int) -> None:
        self.metadata.encode(w, version)
        ncols = self.metadata.column_count
        buf = w.buf
        pack = INT.pack
        buf += pack(len(self.rows))
        null = pack(-1)
        for row in self.rows:
            if len(row) != ncols:
                raise ValueError(f"row has {len(row)} cells, metadata says {ncols}")
            for cell in row:
                if cell is None:
                    buf += null
                else:
                    buf += pack(len(cell))
                    buf += cell

    @classmethod
    def _decode_kind(cls, r: Reader, version: int) -> Result:
        metadata = RowsMetadata.decode(r, version)
        return cls(metadata, _read_rows(r, metadata.column_count))


def _read_rows(r: Reader, ncols: int) -> list[list[bytes | None]]:
    nrows = _read_count(r, "row count")
    if ncols == 0:
        if nrows > MAX_EMPTY_ROWS:
            raise ProtocolError(f"{nrows} rows without columns")
        return [[] for _ in range(nrows)]
    view = r.buf
    pos = r.pos
    end = len(view)
    ncells = nrows * ncols
    if ncells * 4 > end - pos:
        raise ProtocolError(f"{nrows} rows of {ncols} cells cannot fit in {end - pos} bytes")
    # Slicing bytes copies once; slicing a memoryview then copying costs two objects per cell.
    # Use the underlying bytes when the view covers all of it (the usual case), else copy once.
    obj = view.obj
    src = obj if isinstance(obj, bytes) and len(obj) == end else view.tobytes()
    # One flat pass with no per-cell bounds checks: a cell running past the end leaves `pos`
    # beyond `end`, which makes the next unpack fail or the final check below trip.
    unpack = INT.unpack_from
    cells: list[bytes | None] = [None] * ncells
    try:
        for i in range(ncells):
            (n,) = unpack(src, pos)
            pos += 4
            if n >= 0:
                stop = pos + n
                cells[i] = src[pos:stop]
                pos = stop
    except struct.error:
        raise ProtocolError("truncated row data") from None
    if pos > end:
        raise ProtocolError("truncated row cell")
    r.pos = pos
    return [cells[i : i + ncols] for i in range(0, ncells, ncols)]


@dataclass(slots=True)
class SetKeyspace(Result):
    kind: ClassVar[int] = ResultKind.SET_KEYSPACE
    keyspace: str

    def _encode_kind(self, w: Writer, version: int) -> None:
        w.string(self.keyspace)

    @classmethod
    def _decode_kind(cls, r: Reader, version: int) -> Result:
        return cls(r.string())


@dataclass(slots=True)
class PreparedMetadata:
    """Bind-marker metadata of a Prepared result. `pk_indexes` is only on the wire from v4."""

    columns: list[ColumnSpec] = field(default_factory=list)
    pk_indexes: list[int] | None = None

    def encode(self, w: Writer, version: int) -> None:
        global_spec = _is_global(self.columns)
        w.int(MetadataFlag.GLOBAL_TABLES_SPEC if global_spec else 0).int(len(self.columns))
        if version >= 4:
            pk = self.pk_indexes or []
            w.int(len(pk))
            for i in pk:
                w.short(i)
        _write_columns(w, self.columns, global_spec, version)

    @classmethod
    def decode(cls, r: Reader, version: int) -> PreparedMetadata:
        flags = r.int()
        count = _read_count(r, "bind marker count")
        pk_indexes = None
        if version >= 4:
            pk_indexes = [r.short() for _ in range(_read_count(r, "partition key count"))]
        columns = _read_columns(r, count, bool(flags & MetadataFlag.GLOBAL_TABLES_SPEC))
        return cls(columns, pk_indexes)


def _no_metadata() -> RowsMetadata:
    return RowsMetadata(None, 0)


@dataclass(slots=True)
class Prepared(Result):
    """Prepared. `result_metadata_id` exists from v5 on, where it is mandatory."""

    kind: ClassVar[int] = ResultKind.PREPARED
    query_id: bytes
    result_metadata_id: bytes | None = None
    metadata: PreparedMetadata = field(default_factory=PreparedMetadata)
    result_metadata: RowsMetadata = field(default_factory=_no_metadata)

    def _encode_kind(self, w: Writer, version: int) -> None:
        w.short_bytes(self.query_id)
        if version >= 5:
            if self.result_metadata_id is None:
                raise ValueError("a v5 Prepared result needs a result_metadata_id")
            w.short_bytes(self.result_metadata_id)
        elif self.result_metadata_id is not None:
            raise ValueError("result_metadata_id needs protocol v5")
        self.metadata.encode(w, version)
        self.result_metadata.encode(w, version)

    @classmethod
    def _decode_kind(cls, r: Reader, version: int) -> Result:
        query_id = r.short_bytes()
        metadata_id = r.short_bytes() if version >= 5 else None
        metadata = PreparedMetadata.decode(r, version)
        return cls(query_id, metadata_id, metadata, RowsMetadata.decode(r, version))


class SchemaTarget:
    KEYSPACE = "KEYSPACE"
    TABLE = "TABLE"
    TYPE = "TYPE"
    FUNCTION = "FUNCTION"
    AGGREGATE = "AGGREGATE"


@dataclass(slots=True)
class SchemaChange(Result):
    """Schema_change result; the same fields form the body of a SCHEMA_CHANGE event.

    `name` is set for every target but KEYSPACE; `argument_types` for FUNCTION and AGGREGATE.
    """

    kind: ClassVar[int] = ResultKind.SCHEMA_CHANGE
    change_type: str
    target: str
    keyspace: str
    name: str | None = None
    argument_types: list[str] | None = None

    def _encode_kind(self, w: Writer, version: int) -> None:
        self.encode_fields(w)

    @classmethod
    def _decode_kind(cls, r: Reader, version: int) -> Result:
        return cls.decode_fields(r)

    def encode_fields(self, w: Writer) -> None:
        w.string(self.change_type).string(self.target).string(self.keyspace)
        if self.target == SchemaTarget.KEYSPACE:
            return
        if self.name is None:
            raise ValueError(f"a {self.target} schema change needs a name")
        w.string(self.name)
        if self.target in (SchemaTarget.FUNCTION, SchemaTarget.AGGREGATE):
            w.string_list(self.argument_types or [])

    @classmethod
    def decode_fields(cls, r: Reader) -> SchemaChange:
        change_type = r.string()
        target = r.string()
        keyspace = r.string()
        if target == SchemaTarget.KEYSPACE:
            return cls(change_type, target, keyspace)
        if target in (SchemaTarget.TABLE, SchemaTarget.TYPE):
            return cls(change_type, target, keyspace, r.string())
        if target in (SchemaTarget.FUNCTION, SchemaTarget.AGGREGATE):
            name = r.string()
            return cls(change_type, target, keyspace, name, r.string_list())
        raise ProtocolError(f"unknown schema change target {target!r}")


_KINDS: dict[int, type[Result]] = {
    ResultKind.VOID: Void,
    ResultKind.ROWS: Rows,
    ResultKind.SET_KEYSPACE: SetKeyspace,
    ResultKind.PREPARED: Prepared,
    ResultKind.SCHEMA_CHANGE: SchemaChange,
}
response(Result)
