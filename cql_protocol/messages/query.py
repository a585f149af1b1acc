"""Statement requests: QUERY, PREPARE, EXECUTE, BATCH, plus cheap peeks for the proxy hot path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Protocol, Self

from ..errors import ProtocolError
from ..opcodes import FrameFlag, Opcode
from ..primitives import INT, SHORT, Buffer, Reader, Unset, Writer
from .base import Message, request

Value = bytes | Unset | None


class QueryFlag:
    VALUES = 0x0001
    SKIP_METADATA = 0x0002
    PAGE_SIZE = 0x0004
    WITH_PAGING_STATE = 0x0008
    WITH_SERIAL_CONSISTENCY = 0x0010
    WITH_DEFAULT_TIMESTAMP = 0x0020
    WITH_NAMES_FOR_VALUES = 0x0040
    WITH_KEYSPACE = 0x0080  # v5
    WITH_NOW_IN_SECONDS = 0x0100  # v5


class BatchType:
    LOGGED = 0
    UNLOGGED = 1
    COUNTER = 2


PREPARE_WITH_KEYSPACE = 0x01


def _write_flags(w: Writer, flags: int, version: int) -> None:
    # v3/v4 carry these flags in a [byte]; v5 widened them to an [int]
    if version >= 5:
        w.int(flags)
    else:
        w.byte(flags)


def _read_flags(r: Reader, version: int) -> int:
    return r.int() & 0xFFFFFFFF if version >= 5 else r.byte()


def _v5_only(version: int, what: str) -> None:
    if version < 5:
        raise ValueError(f"{what} needs protocol v5")


class _Trailing(Protocol):
    serial_consistency: int | None
    timestamp: int | None
    keyspace: str | None
    now_in_seconds: int | None


def _trailing_flags(t: _Trailing) -> int:
    f = 0
    if t.serial_consistency is not None:
        f |= QueryFlag.WITH_SERIAL_CONSISTENCY
    if t.timestamp is not None:
        f |= QueryFlag.WITH_DEFAULT_TIMESTAMP
    if t.keyspace is not None:
        f |= QueryFlag.WITH_KEYSPACE
    if t.now_in_seconds is not None:
        f |= QueryFlag.WITH_NOW_IN_SECONDS
    return f


def _write_trailing(w: Writer, t: _Trailing) -> None:
    """The optional fields both parameter blocks end with, in flag order."""
    if t.serial_consistency is not None:
        w.short(t.serial_consistency)
    if t.timestamp is not None:
        w.long(t.timestamp)
    if t.keyspace is not None:
        w.string(t.keyspace)
    if t.now_in_seconds is not None:
        w.int(t.now_in_seconds)


def _read_trailing(r: Reader, flags: int, version: int, t: _Trailing) -> None:
    if flags & QueryFlag.WITH_SERIAL_CONSISTENCY:
        t.serial_consistency = r.short()
    if flags & QueryFlag.WITH_DEFAULT_TIMESTAMP:
        t.timestamp = r.long()
    if version >= 5:
        if flags & QueryFlag.WITH_KEYSPACE:
            t.keyspace = r.string()
        if flags & QueryFlag.WITH_NOW_IN_SECONDS:
            t.now_in_seconds = r.int()


def _write_values(w: Writer, values: list[Value], names: list[str] | None) -> None:
    if names is not None and len(names) != len(values):
        raise ValueError(f"{len(names)} names for {len(values)} values")
    w.short(len(values))
    if names is None:
        for v in values:
            w.value(v)
    else:
        for name, v in zip(names, values, strict=True):
            w.string(name)
            w.value(v)


def _read_values(r: Reader, with_names: bool) -> tuple[list[Value], list[str] | None]:
    n = r.short()
    if not with_names:
        return [r.value() for _ in range(n)], None
    names: list[str] = []
    values: list[Value] = []
    for _ in range(n):
        names.append(r.string())
        values.append(r.value())
    return values, names


@dataclass(slots=True)
class QueryParameters:
    """<query_parameters> shared by QUERY and EXECUTE.

    `values` None means the Values flag is off (an empty list still sets it); `names` turns on
    names-for-values and must match `values` in length.
    """

    consistency: int
    values: list[Value] | None = None
    names: list[str] | None = None
    skip_metadata: bool = False
    page_size: int | None = None
    paging_state: bytes | None = None
    serial_consistency: int | None = None
    timestamp: int | None = None
    keyspace: str | None = None  # v5
    now_in_seconds: int | None = None  # v5

    def flags(self) -> int:
        f = 0
        if self.values is not None:
            f |= QueryFlag.VALUES
            if self.names is not None:
                f |= QueryFlag.WITH_NAMES_FOR_VALUES
        elif self.names is not None:
            raise ValueError("names given without values")
        if self.skip_metadata:
            f |= QueryFlag.SKIP_METADATA
        if self.page_size is not None:
            f |= QueryFlag.PAGE_SIZE
        if self.paging_state is not None:
            f |= QueryFlag.WITH_PAGING_STATE
        return f | _trailing_flags(self)

    def encode(self, w: Writer, version: int) -> None:
        flags = self.flags()
        if version < 5 and flags & (QueryFlag.WITH_KEYSPACE | QueryFlag.WITH_NOW_IN_SECONDS):
            raise ValueError("keyspace and now_in_seconds need protocol v5")
        w.short(self.consistency)
        _write_flags(w, flags, version)
        if self.values is not None:
            _write_values(w, self.values, self.names)
        if self.page_size is not None:
            w.int(self.page_size)
        if self.paging_state is not None:
            w.bytes_(self.paging_state)
        _write_trailing(w, self)

    @classmethod
    def decode(cls, r: Reader, version: int) -> QueryParameters:
        p = cls(r.short())
        flags = _read_flags(r, version)
        if flags & QueryFlag.VALUES:
            p.values, p.names = _read_values(r, bool(flags & QueryFlag.WITH_NAMES_FOR_VALUES))
        p.skip_metadata = bool(flags & QueryFlag.SKIP_METADATA)
        if flags & QueryFlag.PAGE_SIZE:
            p.page_size = r.int()
        if flags & QueryFlag.WITH_PAGING_STATE:
            p.paging_state = r.bytes_()
        _read_trailing(r, flags, version, p)
        return p


@request
@dataclass(slots=True)
class Query(Message):
    opcode: ClassVar[int] = Opcode.QUERY
    query: str
    params: QueryParameters

    def encode_body(self, w: Writer, version: int) -> None:
        w.long_string(self.query)
        self.params.encode(w, version)

    @classmethod
    def decode_body(cls, r: Reader, version: int) -> Self:
        query = r.long_string()
        return cls(query, QueryParameters.decode(r, version))


@request
@dataclass(slots=True)
class Prepare(Message):
    opcode: ClassVar[int] = Opcode.PREPARE
    query: str
    keyspace: str | None = None  # v5

    def encode_body(self, w: Writer, version: int) -> None:
        w.long_string(self.query)
        if version >= 5:
            w.int(PREPARE_WITH_KEYSPACE if self.keyspace is not None else 0)
            if self.keyspace is not None:
                w.string(self.keyspace)
        elif self.keyspace is not None:
            _v5_only(version, "PREPARE with a keyspace")

    @classmethod
    def decode_body(cls, r: Reader, version: int) -> Self:
        query = r.long_string()
        keyspace = None
        if version >= 5 and r.int() & PREPARE_WITH_KEYSPACE:
            keyspace = r.string()
        return cls(query, keyspace)


@request
@dataclass(slots=True)
class Execute(Message):
    """EXECUTE. In v5 `result_metadata_id` is always on the wire; None travels as an empty id."""

    opcode: ClassVar[int] = Opcode.EXECUTE
    query_id: bytes
    params: QueryParameters
    result_metadata_id: bytes | None = None  # v5

    def encode_body(self, w: Writer, version: int) -> None:
        w.short_bytes(self.query_id)
        if version >= 5:
            w.short_bytes(self.result_metadata_id or b"")
        elif self.result_metadata_id is not None:
            _v5_only(version, "result_metadata_id")
        self.params.encode(w, version)

    @classmethod
    def decode_body(cls, r: Reader, version: int) -> Self:
        query_id = r.short_bytes()
        # an empty id is how a v5 client says it has none
        metadata_id = (r.short_bytes() or None) if version >= 5 else None
        return cls(query_id, QueryParameters.decode(r, version), metadata_id)


class BatchKind:
    QUERY = 0
    PREPARED = 1


@dataclass(slots=True)
class BatchStatement:
    """One statement of a BATCH: a query string (kind 0) or a prepared id (kind 1)."""

    kind: int
    query: str | None = None
    query_id: bytes | None = None
    values: list[Value] = field(default_factory=list)
    names: list[str] | None = None

    @classmethod
    def of_query(cls, query: str, values: list[Value] | None = None) -> BatchStatement:
        return cls(BatchKind.QUERY, query=query, values=values or [])

    @classmethod
    def of_prepared(cls, query_id: bytes, values: list[Value] | None = None) -> BatchStatement:
        return cls(BatchKind.PREPARED, query_id=query_id, values=values or [])


@request
@dataclass(slots=True)
class Batch(Message):
    """BATCH. Names for values are per statement; the flag is set when any statement has names.

    (The spec warns servers cannot honour names in batches; the codec still round-trips them.)
    """

    opcode: ClassVar[int] = Opcode.BATCH
    batch_type: int
    statements: list[BatchStatement]
    consistency: int
    serial_consistency: int | None = None
    timestamp: int | None = None
    keyspace: str | None = None  # v5
    now_in_seconds: int | None = None  # v5

    def encode_body(self, w: Writer, version: int) -> None:
        with_names = any(s.names is not None for s in self.statements)
        w.byte(self.batch_type)
        w.short(len(self.statements))
        for s in self.statements:
            w.byte(s.kind)
            if s.kind == BatchKind.QUERY:
                if s.query is None:
                    raise ValueError("query statement without a query string")
                w.long_string(s.query)
            elif s.kind == BatchKind.PREPARED:
                if s.query_id is None:
                    raise ValueError("prepared statement without an id")
                w.short_bytes(s.query_id)
            else:
                raise ValueError(f"invalid batch statement kind {s.kind}")
            if with_names and s.names is None:
                raise ValueError("names for values must be given for every statement or none")
            _write_values(w, s.values, s.names)
        if self.keyspace is not None:
            _v5_only(version, "BATCH with a keyspace")
        if self.now_in_seconds is not None:
            _v5_only(version, "now_in_seconds")
        flags = _trailing_flags(self)
        if with_names:
            flags |= QueryFlag.WITH_NAMES_FOR_VALUES
        w.short(self.consistency)
        _write_flags(w, flags, version)
        _write_trailing(w, self)

    @classmethod
    def decode_body(cls, r: Reader, version: int) -> Self:
        # The names flag comes after the statements it describes: read them without names
        # first (what servers do), and again with names if the flags say so or the first
        # reading did not fit.
        start = r.pos
        try:
            batch_type, statements = _read_statements(r, with_names=False)
            consistency = r.short()
            flags = _read_flags(r, version)
            named = bool(flags & QueryFlag.WITH_NAMES_FOR_VALUES)
        except ProtocolError:
            named = True
        if named:
            r.pos = start
            batch_type, statements = _read_statements(r, with_names=True)
            consistency = r.short()
            flags = _read_flags(r, version)
            if not flags & QueryFlag.WITH_NAMES_FOR_VALUES:
                raise ProtocolError("BATCH flags are inconsistent with names for values")
        b = cls(batch_type, statements, consistency)
        _read_trailing(r, flags, version, b)
        return b


def _read_statements(r: Reader, *, with_names: bool) -> tuple[int, list[BatchStatement]]:
    batch_type = r.byte()
    statements = []
    for _ in range(r.short()):
        kind = r.byte()
        if kind == BatchKind.QUERY:
            s = BatchStatement(kind, query=r.long_string())
        elif kind == BatchKind.PREPARED:
            s = BatchStatement(kind, query_id=r.short_bytes())
        else:
            raise ProtocolError(f"invalid BATCH statement kind {kind}")
        s.values, s.names = _read_values(r, with_names)
        statements.append(s)
    return batch_type, statements


# -- hot-path peeks: no message objects, just the leading field ---------------------------------


def _body_start(body: Buffer, flags: int) -> tuple[memoryview, int]:
    """Skips a request's custom payload prefix (the only prefix a request body can have)."""
    view = memoryview(body)
    if not flags & FrameFlag.CUSTOM_PAYLOAD:
        return view, 0
    r = Reader(view)
    r.bytes_map()
    return view, r.pos


def peek_query_string(body: Buffer, flags: int = 0) -> str:
    """The [long string] opening a QUERY or PREPARE body (plain, i.e. decompressed).

    Pass the frame flags when the body may carry a custom payload before the message.
    """
    view, pos = _body_start(body, flags)
    if len(view) - pos < 4:
        raise ProtocolError("body too short for a query string")
    (n,) = INT.unpack_from(view, pos)
    end = pos + 4 + n
    if n < 0 or end > len(view):
        raise ProtocolError(f"invalid query string length {n}")
    try:
        return str(view[pos + 4 : end], "utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolError(f"invalid UTF-8 in query string: {e.reason}") from None


def peek_execute_id(body: Buffer, flags: int = 0) -> bytes:
    """The prepared statement id ([short bytes]) opening an EXECUTE body."""
    view, pos = _body_start(body, flags)
    if len(view) - pos < 2:
        raise ProtocolError("body too short for a statement id")
    (n,) = SHORT.unpack_from(view, pos)
    end = pos + 2 + n
    if end > len(view):
        raise ProtocolError(f"invalid statement id length {n}")
    return bytes(view[pos + 2 : end])
