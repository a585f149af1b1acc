"""Message codec: spec byte vectors, round trips per protocol version, and cross-checks against
the Python driver (it encodes requests we decode, and decodes responses we encode)."""

from __future__ import annotations

import contextlib
import io
import struct
import uuid

import pytest
from cassandra import ConsistencyLevel as CL
from cassandra import protocol as drv
from cassandra.connection import locally_supported_compressions, segment_codec_lz4
from cassandra.protocol_features import ProtocolFeatures
from cassandra.query import BatchType as DrvBatchType
from cassandra.segment import SegmentCodec

from cql_protocol.errors import (
    BadCredentials,
    ConfigError,
    CQLError,
    ErrorCode,
    InvalidRequest,
    IsBootstrapping,
    Overloaded,
    ProtocolError,
    ServerError,
    SyntaxError_,
    Unauthorized,
    UnsupportedVersion,
)
from cql_protocol.frame import Frame, FrameReader, FrameWriter
from cql_protocol.messages import (
    REQUESTS,
    RESPONSES,
    AuthChallenge,
    Authenticate,
    AuthResponse,
    AuthSuccess,
    Batch,
    BatchStatement,
    BatchType,
    ColumnSpec,
    Envelope,
    ErrorMessage,
    Event,
    Execute,
    Message,
    Options,
    Prepare,
    Prepared,
    PreparedMetadata,
    Query,
    QueryParameters,
    Ready,
    Register,
    RemoteError,
    Result,
    Rows,
    RowsMetadata,
    SchemaChange,
    SetKeyspace,
    Startup,
    Supported,
    Void,
    decode_frame,
    encode_envelope,
    encode_message,
    peek_execute_id,
    peek_query_string,
)
from cql_protocol.opcodes import REQUEST_OPCODES, RESPONSE_OPCODES, FrameFlag, Opcode
from cql_protocol.primitives import UNSET, Reader
from cql_protocol.types import INT, TEXT, ListType, MapType

LZ4_COMPRESS, LZ4_DECOMPRESS = locally_supported_compressions["lz4"]
VERSIONS = (3, 4, 5)


def h(s: str) -> bytes:
    return bytes.fromhex(s.replace(" ", "").replace("\n", ""))


def decode(cls: type[Message], body: bytes, version: int) -> Message:
    return cls.decode_body(Reader(body), version)


def wire_roundtrip(msg: Message, version: int, *, response: bool, compress: bool = False) -> Envelope:
    """Message -> frame -> bytes -> FrameReader -> frame -> message."""
    frame = encode_message(msg, version, 7, response=response, compress=compress)
    reader = FrameReader(responses=response)
    reader.feed(frame.encode())
    (got,) = reader.frames()
    env = decode_frame(got)
    assert env.stream == 7 and env.version == version
    return env


def test_registries_cover_every_opcode() -> None:
    assert set(REQUESTS) == set(REQUEST_OPCODES)
    assert set(RESPONSES) == set(RESPONSE_OPCODES)
    for op, cls in {**REQUESTS, **RESPONSES}.items():
        assert cls.opcode == op


# -- byte vectors written from the spec --------------------------------------------------------

CQL_VERSION = b"\x00\x0bCQL_VERSION"
PASSWORD_AUTH = b"\x00\x2forg.apache.cassandra.auth.PasswordAuthenticator"

VECTORS: list[tuple[str, Message, int, bytes]] = [
    # (id, message, version, body)
    ("startup", Startup({"CQL_VERSION": "3.0.0"}), 4, h("0001") + CQL_VERSION + b"\x00\x053.0.0"),
    (
        "startup-2",
        Startup({"CQL_VERSION": "3.0.0", "COMPRESSION": "lz4"}),
        5,
        h("0002") + CQL_VERSION + b"\x00\x053.0.0" + b"\x00\x0bCOMPRESSION\x00\x03lz4",
    ),
    ("options", Options(), 4, b""),
    (
        "supported",
        Supported({"COMPRESSION": ["lz4", "snappy"], "CQL_VERSION": ["3.4.5"]}),
        4,
        h("0002") + b"\x00\x0bCOMPRESSION" + h("0002") + b"\x00\x03lz4\x00\x06snappy"
        + CQL_VERSION + h("0001") + b"\x00\x053.4.5",
    ),
    ("ready", Ready(), 4, b""),
    ("authenticate", Authenticate("org.apache.cassandra.auth.PasswordAuthenticator"), 4, PASSWORD_AUTH),
    ("auth-response", AuthResponse(b"\x00cassandra\x00cassandra"), 4, h("00000014") + b"\x00cassandra\x00cassandra"),
    ("auth-response-null", AuthResponse(None), 4, h("ffffffff")),
    ("auth-challenge", AuthChallenge(b""), 4, h("00000000")),
    ("auth-challenge-2", AuthChallenge(b"\x01\x02"), 5, h("00000002 0102")),
    ("auth-success-null", AuthSuccess(None), 4, h("ffffffff")),
    ("auth-success", AuthSuccess(b"ok"), 3, h("00000002") + b"ok"),
    (
        "register",
        Register(["TOPOLOGY_CHANGE", "STATUS_CHANGE", "SCHEMA_CHANGE"]),
        4,
        h("0003") + b"\x00\x0fTOPOLOGY_CHANGE\x00\x0dSTATUS_CHANGE\x00\x0dSCHEMA_CHANGE",
    ),
    # QUERY: <query><consistency><flags>...; flags are a [byte] before v5 and an [int] from v5
    ("query-v3", Query("SELECT 1", QueryParameters(1)), 3, h("00000008") + b"SELECT 1" + h("0001 00")),
    ("query-v4", Query("SELECT 1", QueryParameters(1)), 4, h("00000008") + b"SELECT 1" + h("0001 00")),
    ("query-v5", Query("SELECT 1", QueryParameters(1)), 5, h("00000008") + b"SELECT 1" + h("0001 00000000")),
    (
        "query-all-v4",
        Query(
            "Q",
            QueryParameters(
                4,
                values=[h("0000002a"), None, UNSET],
                skip_metadata=True,
                page_size=5000,
                paging_state=h("cafe"),
                serial_consistency=9,
                timestamp=0x0102030405060708,
            ),
        ),
        4,
        h("00000001") + b"Q"
        + h("0004 3f 0003 00000004 0000002a ffffffff fffffffe 00001388 00000002 cafe 0009 0102030405060708"),
    ),
    (
        "query-all-v5",
        Query(
            "Q",
            QueryParameters(
                4,
                values=[h("0000002a"), None, UNSET],
                skip_metadata=True,
                page_size=5000,
                paging_state=h("cafe"),
                serial_consistency=9,
                timestamp=0x0102030405060708,
                keyspace="ks",
                now_in_seconds=100,
            ),
        ),
        5,
        h("00000001") + b"Q"
        + h("0004 000001bf 0003 00000004 0000002a ffffffff fffffffe 00001388 00000002 cafe 0009 0102030405060708")
        + b"\x00\x02ks" + h("00000064"),
    ),
    (
        "query-named",
        Query("Q", QueryParameters(1, values=[b"\x01"], names=["k"])),
        4,
        h("00000001") + b"Q" + h("0001 41 0001 0001") + b"k" + h("00000001 01"),
    ),
    ("query-empty-values", Query("Q", QueryParameters(1, values=[])), 4, h("00000001") + b"Q" + h("0001 01 0000")),
    ("prepare-v4", Prepare("SELECT 1"), 4, h("00000008") + b"SELECT 1"),
    ("prepare-v5", Prepare("SELECT 1"), 5, h("00000008") + b"SELECT 1" + h("00000000")),
    ("prepare-v5-ks", Prepare("SELECT 1", "ks"), 5, h("00000008") + b"SELECT 1" + h("00000001 0002") + b"ks"),
    ("execute-v4", Execute(h("abcd"), QueryParameters(1)), 4, h("0002 abcd 0001 00")),
    (
        "execute-v5",
        Execute(h("abcd"), QueryParameters(1, values=[b"x"]), h("010203")),
        5,
        h("0002 abcd 0003 010203 0001 00000001 0001 00000001") + b"x",
    ),
    (
        "batch-v4",
        Batch(
            BatchType.UNLOGGED,
            [BatchStatement.of_query("INSERT", [b"\x01"]), BatchStatement.of_prepared(h("ab"), [None])],
            consistency=1,
            serial_consistency=8,
            timestamp=0x10,
        ),
        4,
        h("01 0002") + h("00 00000006") + b"INSERT" + h("0001 00000001 01")
        + h("01 0001 ab 0001 ffffffff") + h("0001 30 0008 0000000000000010"),
    ),
    (
        "batch-v5",
        Batch(BatchType.LOGGED, [BatchStatement.of_prepared(h("ab"))], consistency=6, keyspace="ks", now_in_seconds=7),
        5,
        h("00 0001 01 0001 ab 0000 0006 00000180 0002") + b"ks" + h("00000007"),
    ),
    (
        "batch-names",
        Batch(BatchType.COUNTER, [BatchStatement(0, query="U", values=[b"\x05"], names=["n"])], consistency=1),
        4,
        h("02 0001 00 00000001") + b"U" + h("0001 0001") + b"n" + h("00000001 05") + h("0001 40"),
    ),
    # RESULT
    ("void", Void(), 4, h("00000001")),
    ("set-keyspace", SetKeyspace("ks"), 4, h("00000003 0002") + b"ks"),
    (
        "rows-global",
        Rows(
            RowsMetadata([ColumnSpec("ks", "t", "k", INT), ColumnSpec("ks", "t", "v", TEXT)]),
            [[h("00000001"), b"a"], [h("00000002"), None]],
        ),
        4,
        h("00000002 00000001 00000002 0002") + b"ks" + h("0001") + b"t"
        + h("0001") + b"k" + h("0009") + h("0001") + b"v" + h("000d")
        + h("00000002 00000004 00000001 00000001 61 00000004 00000002 ffffffff"),
    ),
    (
        "rows-two-tables",
        Rows(RowsMetadata([ColumnSpec("a", "t", "x", INT), ColumnSpec("b", "t", "y", INT)]), []),
        4,
        h("00000002 00000000 00000002")
        + h("0001") + b"a" + h("0001") + b"t" + h("0001") + b"x" + h("0009")
        + h("0001") + b"b" + h("0001") + b"t" + h("0001") + b"y" + h("0009") + h("00000000"),
    ),
    (
        "rows-collections",
        Rows(RowsMetadata([ColumnSpec("ks", "t", "m", MapType(TEXT, ListType(INT)))]), [[b""]]),
        4,
        h("00000002 00000001 00000001 0002") + b"ks" + h("0001") + b"t" + h("0001") + b"m"
        + h("0021 000d 0020 0009") + h("00000001 00000000"),
    ),
    (
        "rows-no-metadata-paged",
        Rows(RowsMetadata(None, 2, paging_state=h("07")), [[None, b"\x01"]]),
        4,
        h("00000002 00000006 00000002 00000001 07 00000001 ffffffff 00000001 01"),
    ),
    (
        "rows-metadata-changed-v5",
        Rows(RowsMetadata([ColumnSpec("ks", "t", "k", INT)], new_metadata_id=b"id"), []),
        5,
        h("00000002 00000009 00000001 0002") + b"id" + h("0002") + b"ks" + h("0001") + b"t"
        + h("0001") + b"k" + h("0009 00000000"),
    ),
    (
        "prepared-v3",
        Prepared(h("0102"), None, PreparedMetadata([ColumnSpec("ks", "t", "k", INT)]), RowsMetadata(None, 0)),
        3,
        h("00000004 0002 0102 00000001 00000001 0002") + b"ks" + h("0001") + b"t"
        + h("0001") + b"k" + h("0009") + h("00000004 00000000"),
    ),
    (
        "prepared-v4",
        Prepared(
            h("0102"),
            None,
            PreparedMetadata([ColumnSpec("ks", "t", "k", INT)], [0]),
            RowsMetadata([ColumnSpec("ks", "t", "v", TEXT)]),
        ),
        4,
        h("00000004 0002 0102 00000001 00000001 00000001 0000 0002") + b"ks" + h("0001") + b"t"
        + h("0001") + b"k" + h("0009")
        + h("00000001 00000001 0002") + b"ks" + h("0001") + b"t" + h("0001") + b"v" + h("000d"),
    ),
    (
        "prepared-v5",
        Prepared(h("0102"), h("beef"), PreparedMetadata([], []), RowsMetadata(None, 0)),
        5,
        h("00000004 0002 0102 0002 beef 00000000 00000000 00000000 00000004 00000000"),
    ),
    (
        "schema-keyspace",
        SchemaChange("CREATED", "KEYSPACE", "ks"),
        4,
        h("00000005 0007") + b"CREATED" + h("0008") + b"KEYSPACE" + h("0002") + b"ks",
    ),
    (
        "schema-table",
        SchemaChange("DROPPED", "TABLE", "ks", "t"),
        4,
        h("00000005 0007") + b"DROPPED" + h("0005") + b"TABLE" + h("0002") + b"ks" + h("0001") + b"t",
    ),
    (
        "schema-function",
        SchemaChange("CREATED", "FUNCTION", "ks", "f", ["int", "text"]),
        4,
        h("00000005 0007") + b"CREATED" + h("0008") + b"FUNCTION" + h("0002") + b"ks" + h("0001") + b"f"
        + h("0002 0003") + b"int" + h("0004") + b"text",
    ),
    # EVENT
    (
        "event-topology",
        Event("TOPOLOGY_CHANGE", "NEW_NODE", ("10.0.0.1", 9042)),
        4,
        b"\x00\x0fTOPOLOGY_CHANGE\x00\x08NEW_NODE" + h("04 0a000001 00002352"),
    ),
    (
        "event-status-v6addr",
        Event("STATUS_CHANGE", "UP", ("::1", 9042)),
        4,
        b"\x00\x0dSTATUS_CHANGE\x00\x02UP" + h("10 00000000000000000000000000000001 00002352"),
    ),
    (
        "event-schema",
        Event.schema_change(SchemaChange("UPDATED", "TYPE", "ks", "udt")),
        4,
        b"\x00\x0dSCHEMA_CHANGE\x00\x07UPDATED\x00\x04TYPE\x00\x02ks\x00\x03udt",
    ),
    # ERROR
    ("err-server", ErrorMessage(ErrorCode.SERVER_ERROR, "boom"), 4, h("00000000 0004") + b"boom"),
    ("err-protocol", ErrorMessage(ErrorCode.PROTOCOL_ERROR, "x"), 4, h("0000000a 0001") + b"x"),
    (
        "err-unavailable",
        ErrorMessage(ErrorCode.UNAVAILABLE, "x", consistency=4, required=3, alive=1),
        4,
        h("00001000 0001") + b"x" + h("0004 00000003 00000001"),
    ),
    (
        "err-write-timeout",
        ErrorMessage(ErrorCode.WRITE_TIMEOUT, "x", consistency=1, received=0, block_for=1, write_type="SIMPLE"),
        4,
        h("00001100 0001") + b"x" + h("0001 00000000 00000001 0006") + b"SIMPLE",
    ),
    (
        "err-write-timeout-cas-v4",
        ErrorMessage(ErrorCode.WRITE_TIMEOUT, "x", consistency=8, received=1, block_for=2, write_type="CAS"),
        4,
        h("00001100 0001") + b"x" + h("0008 00000001 00000002 0003") + b"CAS",
    ),
    (
        "err-write-timeout-cas-v5",
        ErrorMessage(
            ErrorCode.WRITE_TIMEOUT, "x", consistency=8, received=1, block_for=2, write_type="CAS", contentions=5
        ),
        5,
        h("00001100 0001") + b"x" + h("0008 00000001 00000002 0003") + b"CAS" + h("0005"),
    ),
    (
        "err-read-timeout",
        ErrorMessage(ErrorCode.READ_TIMEOUT, "x", consistency=1, received=1, block_for=2, data_present=True),
        4,
        h("00001200 0001") + b"x" + h("0001 00000001 00000002 01"),
    ),
    (
        "err-read-failure-v4",
        ErrorMessage(
            ErrorCode.READ_FAILURE, "x", consistency=1, received=1, block_for=2, num_failures=1, data_present=False
        ),
        4,
        h("00001300 0001") + b"x" + h("0001 00000001 00000002 00000001 00"),
    ),
    (
        "err-read-failure-v5",
        ErrorMessage(
            ErrorCode.READ_FAILURE,
            "x",
            consistency=1,
            received=1,
            block_for=2,
            reasonmap={"10.0.0.2": 1},
            data_present=False,
        ),
        5,
        h("00001300 0001") + b"x" + h("0001 00000001 00000002 00000001 04 0a000002 0001 00"),
    ),
    (
        "err-write-failure-v4",
        ErrorMessage(
            ErrorCode.WRITE_FAILURE, "x", consistency=1, received=0, block_for=1, num_failures=2, write_type="BATCH"
        ),
        4,
        h("00001500 0001") + b"x" + h("0001 00000000 00000001 00000002 0005") + b"BATCH",
    ),
    (
        "err-write-failure-v5",
        ErrorMessage(
            ErrorCode.WRITE_FAILURE,
            "x",
            consistency=1,
            received=0,
            block_for=1,
            reasonmap={"::1": 3, "10.0.0.1": 0},
            write_type="COUNTER",
        ),
        5,
        h("00001500 0001") + b"x" + h("0001 00000000 00000001 00000002")
        + h("10 00000000000000000000000000000001 0003 04 0a000001 0000 0007") + b"COUNTER",
    ),
    (
        "err-function-failure",
        ErrorMessage(ErrorCode.FUNCTION_FAILURE, "x", keyspace="ks", function="f", arg_types=["int"]),
        4,
        h("00001400 0001") + b"x" + h("0002") + b"ks" + h("0001") + b"f" + h("0001 0003") + b"int",
    ),
    (
        "err-already-exists",
        ErrorMessage(ErrorCode.ALREADY_EXISTS, "x", keyspace="ks", table=""),
        4,
        h("00002400 0001") + b"x" + h("0002") + b"ks" + h("0000"),
    ),
    (
        "err-unprepared",
        ErrorMessage(ErrorCode.UNPREPARED, "x", statement_id=h("abcd")),
        4,
        h("00002500 0001") + b"x" + h("0002 abcd"),
    ),
    ("err-cdc", ErrorMessage(ErrorCode.CDC_WRITE_FAILURE, "x"), 5, h("00001600 0001") + b"x"),
    (
        "err-cas-unknown",
        ErrorMessage(ErrorCode.CAS_WRITE_UNKNOWN, "x", consistency=9, received=1, block_for=2),
        5,
        h("00001700 0001") + b"x" + h("0009 00000001 00000002"),
    ),
    ("err-syntax", ErrorMessage(ErrorCode.SYNTAX_ERROR, "bad"), 4, h("00002000 0003") + b"bad"),
]


@pytest.mark.parametrize(("msg", "version", "body"), [v[1:] for v in VECTORS], ids=[v[0] for v in VECTORS])
def test_byte_vectors(msg: Message, version: int, body: bytes) -> None:
    assert msg.body(version) == body
    cls = Result if isinstance(msg, Result) else type(msg)
    assert decode(cls, body, version) == msg


@pytest.mark.parametrize(("msg", "version", "body"), [v[1:] for v in VECTORS], ids=[v[0] for v in VECTORS])
def test_truncated_vectors_raise_protocol_error_only(msg: Message, version: int, body: bytes) -> None:
    cls = Result if isinstance(msg, Result) else type(msg)
    for n in range(len(body)):
        with contextlib.suppress(ProtocolError):
            decode(cls, body[:n], version)


def test_rows_decode_accepts_per_column_table_specs_and_reencodes_globally() -> None:
    spelled_out = (
        h("00000002 00000000 00000002")
        + h("0002") + b"ks" + h("0001") + b"t" + h("0001") + b"k" + h("0009")
        + h("0002") + b"ks" + h("0001") + b"t" + h("0001") + b"v" + h("000d")
        + h("00000000")
    )
    rows = decode(Result, spelled_out, 4)
    assert rows == Rows(RowsMetadata([ColumnSpec("ks", "t", "k", INT), ColumnSpec("ks", "t", "v", TEXT)]))
    # same columns, now with the Global_tables_spec flag
    assert rows.body(4)[4:8] == h("00000001")


def test_rows_reject_impossible_counts() -> None:
    with pytest.raises(ProtocolError):
        decode(Result, h("00000002 00000004 00000003 7fffffff"), 4)  # 2^31 rows of 3 cells
    with pytest.raises(ProtocolError):
        decode(Result, h("00000002 00000004 00000000 7fffffff"), 4)  # 2^31 empty rows
    with pytest.raises(ProtocolError):
        decode(Result, h("00000002 00000004 ffffffff 00000000"), 4)  # negative column count
    with pytest.raises(ProtocolError):
        decode(Result, h("00000002 00000004 00000001 00000001 00000005 0102"), 4)  # short cell


def test_rows_decode_from_memoryview_slice() -> None:
    msg = Rows(RowsMetadata(None, 2), [[b"a", None], [b"", b"bcd"]])
    body = b"junk" + msg.body(4)
    got = Result.decode_body(Reader(memoryview(body)[4:]), 4)
    assert got == msg
    assert all(type(c) is bytes for row in got.rows for c in row if c is not None)


def test_result_subclass_decode_checks_kind() -> None:
    assert Rows.decode_body(Reader(Rows(RowsMetadata(None, 0)).body(4)), 4) == Rows(RowsMetadata(None, 0))
    with pytest.raises(ProtocolError):
        Rows.decode_body(Reader(h("00000001")), 4)
    with pytest.raises(ProtocolError):
        Result.decode_body(Reader(h("00000009")), 4)


def test_unknown_schema_target_and_event_type() -> None:
    with pytest.raises(ProtocolError):
        decode(Result, h("00000005 0007") + b"CREATED" + h("0004") + b"ROLE" + h("0001") + b"r", 4)
    with pytest.raises(ProtocolError):
        decode(Event, h("0003") + b"FOO", 4)


# -- version-specific encode rules ------------------------------------------------------------


@pytest.mark.parametrize(
    "msg",
    [
        Query("Q", QueryParameters(1, keyspace="ks")),
        Query("Q", QueryParameters(1, now_in_seconds=1)),
        Prepare("Q", keyspace="ks"),
        Execute(b"id", QueryParameters(1), result_metadata_id=b"m"),
        Batch(0, [], 1, keyspace="ks"),
        Batch(0, [], 1, now_in_seconds=3),
        Prepared(b"id", b"m"),
    ],
)
def test_v5_only_fields_are_refused_before_v5(msg: Message) -> None:
    for v in (3, 4):
        with pytest.raises(ValueError):
            msg.body(v)


def test_v5_prepared_needs_metadata_id() -> None:
    with pytest.raises(ValueError):
        Prepared(b"id").body(5)


def test_execute_v5_without_metadata_id_sends_empty_id() -> None:
    body = Execute(b"\x01", QueryParameters(1)).body(5)
    assert body == h("0001 01 0000 0001 00000000")
    assert decode(Execute, body, 5) == Execute(b"\x01", QueryParameters(1))


def test_inconsistent_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        Query("Q", QueryParameters(1, values=[b"a"], names=["a", "b"])).body(4)
    with pytest.raises(ValueError):
        Query("Q", QueryParameters(1, names=["a"])).body(4)
    with pytest.raises(ValueError):
        Rows(RowsMetadata(None, 2), [[b"a"]]).body(4)
    with pytest.raises(ValueError):
        Rows(RowsMetadata(None, 1, new_metadata_id=b"x")).body(5)
    with pytest.raises(ValueError):
        Batch(0, [BatchStatement(5)], 1).body(4)
    with pytest.raises(ValueError):
        Batch(0, [BatchStatement(0, "a", names=["x"], values=[b""]), BatchStatement(0, "b")], 1).body(4)
    with pytest.raises(ValueError):
        Event("STATUS_CHANGE", "UP").body(4)
    with pytest.raises(ValueError):
        Event("SCHEMA_CHANGE", "DROPPED", schema=SchemaChange("CREATED", "KEYSPACE", "ks")).body(4)
    with pytest.raises(ValueError):
        SchemaChange("CREATED", "TABLE", "ks").body(4)


def test_v5_flag_bits_are_ignored_before_v5() -> None:
    # 0x80 in a v4 [byte] flag is not "with keyspace": nothing is read for it
    body = h("00000001") + b"Q" + h("0001 80")
    assert decode(Query, body, 4) == Query("Q", QueryParameters(1))


def test_batch_with_names_decodes_in_two_passes() -> None:
    msg = Batch(
        BatchType.LOGGED,
        [
            BatchStatement(0, query="A", values=[b"1", None], names=["x", "y"]),
            BatchStatement(1, query_id=b"\x09", values=[], names=[]),
        ],
        consistency=4,
        timestamp=5,
    )
    for v in VERSIONS:
        assert decode(Batch, msg.body(v), v) == msg


# -- round trips through frames ---------------------------------------------------------------

COLS = [ColumnSpec("ks", "t", "k", INT), ColumnSpec("ks", "t2", "v", TEXT)]
REQUEST_SAMPLES: list[Message] = [
    Startup({"CQL_VERSION": "3.0.0", "DRIVER_NAME": "dé"}),
    Options(),
    AuthResponse(b"\x00u\x00p"),
    AuthResponse(None),
    Register(["SCHEMA_CHANGE"]),
    Query("SELECT * FROM ks.t WHERE k = ?", QueryParameters(1, values=[b"\x00\x00\x00\x01"], page_size=10)),
    Query("SELECT ✓", QueryParameters(0, values=[None, UNSET], names=["a", "b"], skip_metadata=True)),
    Query("Q", QueryParameters(10, paging_state=b"p" * 300, serial_consistency=9, timestamp=-1)),
    Prepare("SELECT * FROM t"),
    Execute(b"\xff" * 16, QueryParameters(6, values=[b"x" * 1000], paging_state=b"")),
    Batch(BatchType.UNLOGGED, [BatchStatement.of_query("A"), BatchStatement.of_prepared(b"\x01", [UNSET])], 1),
    Batch(BatchType.COUNTER, [], 1, serial_consistency=9, timestamp=123),
]
REQUEST_SAMPLES_V5: list[Message] = [
    Query("Q", QueryParameters(1, keyspace="ks", now_in_seconds=99)),
    Prepare("Q", "ks"),
    Execute(b"\x01", QueryParameters(1, keyspace="k2"), b"\x02"),
    Batch(0, [BatchStatement.of_query("A")], 1, keyspace="ks", now_in_seconds=0),
]
RESPONSE_SAMPLES: list[Message] = [
    Ready(),
    Authenticate("x.Y"),
    Supported({"CQL_VERSION": ["3.4.7"], "PROTOCOL_VERSIONS": ["3/v3", "4/v4", "5/v5"]}),
    AuthChallenge(b"\x01"),
    AuthSuccess(None),
    Void(),
    SetKeyspace("ks"),
    Rows(RowsMetadata(COLS), [[b"\x00\x00\x00\x01", b"a"]] * 3),
    Rows(RowsMetadata(COLS[:1], paging_state=b"\x00" * 20), [[None]]),
    Rows(RowsMetadata(None, 3), [[b"", None, b"\x00"]]),
    Rows(RowsMetadata([]), []),
    Prepared(b"\x01" * 16, None, PreparedMetadata(COLS, [1]), RowsMetadata(COLS)),
    SchemaChange("CREATED", "AGGREGATE", "ks", "agg", ["int"]),
    Event("TOPOLOGY_CHANGE", "REMOVED_NODE", ("2001:db8::7", 9042)),
    Event.schema_change(SchemaChange("DROPPED", "KEYSPACE", "ks")),
    ErrorMessage(ErrorCode.INVALID, "no"),
    ErrorMessage(ErrorCode.UNAVAILABLE, "u", consistency=1, required=1, alive=0),
    ErrorMessage(ErrorCode.READ_TIMEOUT, "t", consistency=1, received=0, block_for=1, data_present=False),
    ErrorMessage(ErrorCode.ALREADY_EXISTS, "ae", keyspace="ks", table="t"),
    ErrorMessage(ErrorCode.UNPREPARED, "up", statement_id=b"\x01\x02"),
    ErrorMessage(0x4321, "unknown code keeps its message"),
]


def _versions_for(msg: Message) -> tuple[int, ...]:
    if isinstance(msg, Prepared):
        return (4,)  # v3 drops pk indexes, v5 needs a metadata id: see the per-version test
    if isinstance(msg, ErrorMessage) and msg.code in (ErrorCode.READ_FAILURE, ErrorCode.WRITE_FAILURE):
        return (3, 4)
    return VERSIONS


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("msg", REQUEST_SAMPLES, ids=lambda m: type(m).__name__)
def test_request_roundtrip(msg: Message, compress: bool) -> None:
    for v in VERSIONS:
        assert wire_roundtrip(msg, v, response=False, compress=compress).message == msg


@pytest.mark.parametrize("msg", REQUEST_SAMPLES_V5, ids=lambda m: type(m).__name__)
def test_request_roundtrip_v5_fields(msg: Message) -> None:
    assert wire_roundtrip(msg, 5, response=False).message == msg


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("msg", RESPONSE_SAMPLES, ids=lambda m: type(m).__name__)
def test_response_roundtrip(msg: Message, compress: bool) -> None:
    for v in _versions_for(msg):
        assert wire_roundtrip(msg, v, response=True, compress=compress).message == msg


def test_prepared_roundtrip_each_version() -> None:
    md = PreparedMetadata(COLS, [1, 0])
    assert wire_roundtrip(Prepared(b"q", None, md), 4, response=True).message == Prepared(b"q", None, md)
    assert wire_roundtrip(Prepared(b"q", b"r", md), 5, response=True).message == Prepared(b"q", b"r", md)
    # v3 has no partition key indexes on the wire
    got = wire_roundtrip(Prepared(b"q", None, md), 3, response=True).message
    assert got == Prepared(b"q", None, PreparedMetadata(COLS, None))


def test_failure_errors_convert_between_versions() -> None:
    e = ErrorMessage(ErrorCode.READ_FAILURE, "r", consistency=1, received=0, block_for=1,
                     reasonmap={"10.1.1.1": 0, "10.1.1.2": 6}, data_present=True)
    v5 = decode(ErrorMessage, e.body(5), 5)
    assert v5 == e and v5.failure_count == 2
    v4 = decode(ErrorMessage, e.body(4), 4)
    assert v4.num_failures == 2 and v4.reasonmap is None and v4.failure_count == 2
    w = ErrorMessage(ErrorCode.WRITE_FAILURE, "w", consistency=1, received=0, block_for=1, num_failures=3,
                     write_type="SIMPLE")
    assert decode(ErrorMessage, w.body(5), 5).reasonmap == {}


def test_error_with_missing_extras_still_encodes() -> None:
    body = ErrorMessage(ErrorCode.WRITE_TIMEOUT, "t").body(4)
    assert body == h("00001100 0001") + b"t" + h("0000 00000000 00000000 0006") + b"SIMPLE"


# -- envelope prefixes --------------------------------------------------------------------------

TRACE = uuid.UUID("01234567-89ab-cdef-0123-456789abcdef")


def test_response_prefix_order_and_flags() -> None:
    env = Envelope(Ready(), 7, 4, tracing_id=TRACE, warnings=["warn"], custom_payload={"k": b"v", "n": None})
    frame = encode_envelope(env, response=True)
    assert frame.flags == FrameFlag.TRACING | FrameFlag.WARNING | FrameFlag.CUSTOM_PAYLOAD
    assert frame.encode() == (
        h("84 0e 0007 02 00000029")
        + TRACE.bytes
        + h("0001 0004") + b"warn"
        + h("0002 0001") + b"k" + h("00000001") + b"v" + h("0001") + b"n" + h("ffffffff")
    )
    got = decode_frame(frame)
    assert got == Envelope(Ready(), 7, 4, True, TRACE, ["warn"], {"k": b"v", "n": None})


def test_request_prefix_tracing_flag_has_no_id_in_body() -> None:
    msg = Query("Q", QueryParameters(1))
    frame = encode_message(msg, 4, 1, response=False, tracing=True, custom_payload={"a": b"b"})
    assert frame.flags == FrameFlag.TRACING | FrameFlag.CUSTOM_PAYLOAD
    assert bytes(frame.body) == h("0001 0001") + b"a" + h("00000001") + b"b" + msg.body(4)
    env = decode_frame(frame)
    assert env.tracing and env.tracing_id is None and env.custom_payload == {"a": b"b"}
    assert env.message == msg


def test_envelope_misuse() -> None:
    with pytest.raises(ValueError):
        encode_message(Ready(), 4, 0, response=False)  # a response sent as a request
    with pytest.raises(ValueError):
        encode_message(Options(), 4, 0, response=True)
    with pytest.raises(ValueError):
        encode_message(Ready(), 4, 0, response=True, tracing=True)  # tracing flag without an id
    with pytest.raises(ValueError):
        encode_message(Options(), 4, 0, response=False, warnings=["w"])
    with pytest.raises(ValueError):
        encode_message(Ready(), 3, 0, response=True, warnings=["w"])
    with pytest.raises(ValueError):
        encode_message(Options(), 3, 0, response=False, custom_payload={})


def test_v3_ignores_v4_prefix_flags() -> None:
    # v3 defines neither custom payloads nor warnings: the flags are unused bits there
    frame = Frame(3, FrameFlag.CUSTOM_PAYLOAD | FrameFlag.WARNING, 0, Opcode.READY, b"", True)
    assert decode_frame(frame).message == Ready()


def test_v5_compression_flag_is_ignored() -> None:
    body = Query("Q", QueryParameters(1)).body(5)
    env = decode_frame(Frame(5, FrameFlag.COMPRESSED, 0, Opcode.QUERY, body, False))
    assert env.message == Query("Q", QueryParameters(1))


def test_trailing_bytes_are_tolerated() -> None:
    body = Query("Q", QueryParameters(1)).body(4) + b"future extension"
    assert decode_frame(Frame(4, 0, 0, Opcode.QUERY, body, False)).message == Query("Q", QueryParameters(1))
    assert decode_frame(Frame(4, 0, 0, Opcode.READY, b"\x00", True)).message == Ready()


def test_decode_frame_rejects_misdirected_opcode() -> None:
    with pytest.raises(ProtocolError):
        decode_frame(Frame(4, 0, 0, Opcode.READY, b"", False))
    with pytest.raises(ProtocolError):
        decode_frame(Frame(4, 0, 0, 0x04, b"", True))


def test_decode_frame_wraps_unexpected_exceptions(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken(Options):
        @classmethod
        def decode_body(cls, r: Reader, version: int) -> Broken:
            raise KeyError("boom")

    monkeypatch.setitem(REQUESTS, Opcode.OPTIONS, Broken)
    with pytest.raises(ProtocolError, match="KeyError"):
        decode_frame(Frame(4, 0, 0, Opcode.OPTIONS, b"", False))


def test_corrupt_compressed_body_is_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        decode_frame(Frame(4, FrameFlag.COMPRESSED, 0, Opcode.QUERY, h("00000010 ffff"), False))


# -- hot-path peeks -----------------------------------------------------------------------------


def test_peek_query_string() -> None:
    q = Query("SELECT ☃ FROM t", QueryParameters(1)).body(4)
    assert peek_query_string(q) == "SELECT ☃ FROM t"
    assert peek_query_string(memoryview(Prepare("P").body(5))) == "P"
    frame = encode_message(Prepare("P2"), 4, 0, response=False, custom_payload={"x": b"y"})
    assert peek_query_string(frame.body, frame.flags) == "P2"
    for bad in (b"", h("000000"), h("00000005 41"), h("ffffffff"), h("00000001 ff")):
        with pytest.raises(ProtocolError):
            peek_query_string(bad)


def test_peek_execute_id() -> None:
    e = Execute(h("deadbeef"), QueryParameters(1))
    assert peek_execute_id(e.body(4)) == h("deadbeef")
    assert peek_execute_id(e.body(5)) == h("deadbeef")
    frame = encode_message(e, 4, 0, response=False, custom_payload={})
    assert peek_execute_id(frame.body, frame.flags) == h("deadbeef")
    for bad in (b"", b"\x00", h("0003 0102")):
        with pytest.raises(ProtocolError):
            peek_execute_id(bad)


# -- exceptions <-> ERROR -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [
        ServerError("s"),
        ProtocolError("p"),
        BadCredentials("b"),
        Overloaded("o"),
        IsBootstrapping("i"),
        SyntaxError_("line 1:0 no viable alternative"),
        Unauthorized("u"),
        InvalidRequest("i"),
        ConfigError("c"),
    ],
)
def test_typed_exception_roundtrip(exc: CQLError) -> None:
    msg = ErrorMessage.from_exception(exc)
    assert msg == ErrorMessage(exc.code, exc.message)
    back = decode(ErrorMessage, msg.body(4), 4)
    assert isinstance(back, ErrorMessage)
    e2 = back.to_exception()
    assert type(e2) is type(exc) and e2.message == exc.message


def test_unsupported_version_becomes_protocol_error() -> None:
    msg = ErrorMessage.from_exception(UnsupportedVersion(6, 0, 5))
    assert msg.code == ErrorCode.PROTOCOL_ERROR
    assert "Invalid or unsupported protocol version (6)" in msg.message


def test_exception_attributes_fill_error_extras() -> None:
    class Unavailable(CQLError):
        code = ErrorCode.UNAVAILABLE

        def __init__(self) -> None:
            super().__init__("Cannot achieve consistency level QUORUM")
            self.consistency = 4
            self.required = 2
            self.alive = 1

    msg = ErrorMessage.from_exception(Unavailable())
    assert msg == ErrorMessage(ErrorCode.UNAVAILABLE, msg.message, consistency=4, required=2, alive=1)


def test_codes_without_a_class_become_remote_errors() -> None:
    err = ErrorMessage(ErrorCode.WRITE_TIMEOUT, "wt", consistency=1, received=0, block_for=1, write_type="SIMPLE")
    exc = err.to_exception()
    assert isinstance(exc, RemoteError)
    assert exc.code == ErrorCode.WRITE_TIMEOUT and exc.details == err
    assert ErrorMessage.from_exception(exc) == err
    odd = ErrorMessage(0x4321, "rate limited").to_exception()
    assert isinstance(odd, RemoteError) and odd.error_code == 0x4321
    assert ErrorMessage.from_exception(odd).code == 0x4321


# -- cross-checks with the Python driver ------------------------------------------------------

FEATURES = ProtocolFeatures()


def driver_encode(msg: object, version: int, stream: int = 3, compress: bool = False) -> bytes:
    return bytes(
        drv.ProtocolHandler.encode_message(
            msg, stream, version, LZ4_COMPRESS if compress else None, False, FEATURES
        )
    )


def read_one(data: bytes, *, responses: bool) -> Frame:
    reader = FrameReader(responses=responses)
    reader.feed(data)
    frames = reader.frames()
    assert len(frames) == 1 and reader.buffered() == 0
    return frames[0]


def driver_decode(frame: Frame, result_metadata: list | None = None) -> object:
    data = frame.encode()
    vbyte, flags, stream, opcode, _ = struct.unpack(">BBhBi", data[:9])
    return drv.ProtocolHandler.decode_message(
        vbyte & 0x7F, FEATURES, {}, stream, flags, opcode, data[9:], LZ4_DECOMPRESS, result_metadata
    )


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("compress", [False, True])
def test_driver_query_decodes_and_matches_our_bytes(version: int, compress: bool) -> None:
    dmsg = drv.QueryMessage(
        "SELECT * FROM ks.t WHERE k = ? AND c > ?",
        CL.LOCAL_QUORUM,
        serial_consistency_level=CL.LOCAL_SERIAL,
        fetch_size=500,
        paging_state=b"\x00\x01page",
        timestamp=1_700_000_000_000_000,
        keyspace="ks" if version >= 5 else None,
        query_params=[b"\x00\x00\x00\x07", None],
    )
    data = driver_encode(dmsg, version, stream=11, compress=compress)
    frame = read_one(data, responses=False)
    assert frame.compressed == (compress and version < 5)  # v5 compresses segments instead
    env = decode_frame(frame)
    expected = Query(
        "SELECT * FROM ks.t WHERE k = ? AND c > ?",
        QueryParameters(
            CL.LOCAL_QUORUM,
            values=[b"\x00\x00\x00\x07", None],
            page_size=500,
            paging_state=b"\x00\x01page",
            serial_consistency=CL.LOCAL_SERIAL,
            timestamp=1_700_000_000_000_000,
            keyspace="ks" if version >= 5 else None,
        ),
    )
    assert env.message == expected and env.stream == 11 and env.version == version
    if not compress:
        assert encode_message(expected, version, 11, response=False).encode() == data


@pytest.mark.parametrize("version", VERSIONS)
def test_driver_execute(version: int) -> None:
    dmsg = drv.ExecuteMessage(
        b"\x12" * 16,
        [b"v", drv._UNSET_VALUE, None],
        CL.ONE,
        fetch_size=100,
        result_metadata_id=b"\x34" * 16 if version >= 5 else None,
    )
    data = driver_encode(dmsg, version)
    env = decode_frame(read_one(data, responses=False))
    expected = Execute(
        b"\x12" * 16,
        QueryParameters(CL.ONE, values=[b"v", UNSET, None], page_size=100),
        b"\x34" * 16 if version >= 5 else None,
    )
    assert env.message == expected
    assert encode_message(expected, version, 3, response=False).encode() == data


@pytest.mark.parametrize("version", VERSIONS)
def test_driver_batch(version: int) -> None:
    dmsg = drv.BatchMessage(
        DrvBatchType.UNLOGGED,
        [(False, "INSERT INTO t (k) VALUES (?)", [b"\x01"]), (True, b"\xab\xcd", [None, drv._UNSET_VALUE])],
        CL.QUORUM,
        serial_consistency_level=CL.SERIAL,
        timestamp=42,
        keyspace="ks" if version >= 5 else None,
    )
    data = driver_encode(dmsg, version)
    env = decode_frame(read_one(data, responses=False))
    expected = Batch(
        BatchType.UNLOGGED,
        [
            BatchStatement.of_query("INSERT INTO t (k) VALUES (?)", [b"\x01"]),
            BatchStatement.of_prepared(b"\xab\xcd", [None, UNSET]),
        ],
        CL.QUORUM,
        serial_consistency=CL.SERIAL,
        timestamp=42,
        keyspace="ks" if version >= 5 else None,
    )
    assert env.message == expected
    assert encode_message(expected, version, 3, response=False).encode() == data


@pytest.mark.parametrize("version", VERSIONS)
def test_driver_connection_setup_requests(version: int) -> None:
    cases: list[tuple[object, Message]] = [
        (drv.StartupMessage("3.0.0", {"COMPRESSION": "lz4"}), Startup({"COMPRESSION": "lz4", "CQL_VERSION": "3.0.0"})),
        (drv.OptionsMessage(), Options()),
        (drv.RegisterMessage(["TOPOLOGY_CHANGE", "STATUS_CHANGE"]), Register(["TOPOLOGY_CHANGE", "STATUS_CHANGE"])),
        (drv.AuthResponseMessage(b"\x00cassandra\x00cassandra"), AuthResponse(b"\x00cassandra\x00cassandra")),
        (drv.PrepareMessage("SELECT * FROM t WHERE k = ?"), Prepare("SELECT * FROM t WHERE k = ?")),
    ]
    if version >= 5:
        cases.append((drv.PrepareMessage("SELECT 1", keyspace="ks"), Prepare("SELECT 1", "ks")))
    for dmsg, ours in cases:
        data = driver_encode(dmsg, version, stream=0)
        assert decode_frame(read_one(data, responses=False)).message == ours
        assert encode_message(ours, version, 0, response=False).encode() == data


@pytest.mark.parametrize("version", (4, 5))
def test_driver_request_with_tracing_and_custom_payload(version: int) -> None:
    dmsg = drv.QueryMessage("SELECT now() FROM system.local", CL.ONE)
    dmsg.tracing = True
    dmsg.custom_payload = {"proxy": b"\x01", "empty": b""}
    env = decode_frame(read_one(driver_encode(dmsg, version), responses=False))
    assert env.tracing and env.tracing_id is None
    assert env.custom_payload == {"proxy": b"\x01", "empty": b""}
    assert env.message == Query("SELECT now() FROM system.local", QueryParameters(CL.ONE))


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("compress", [False, True])
def test_driver_decodes_our_setup_responses(version: int, compress: bool) -> None:
    def roundtrip(msg: Message) -> object:
        return driver_decode(encode_message(msg, version, 5, response=True, compress=compress))

    assert isinstance(roundtrip(Ready()), drv.ReadyMessage)
    auth = roundtrip(Authenticate("org.apache.cassandra.auth.PasswordAuthenticator"))
    assert isinstance(auth, drv.AuthenticateMessage)
    assert auth.authenticator == "org.apache.cassandra.auth.PasswordAuthenticator"
    sup = roundtrip(Supported({"CQL_VERSION": ["3.4.7"], "COMPRESSION": ["lz4", "snappy"]}))
    assert isinstance(sup, drv.SupportedMessage)
    assert sup.cql_versions == ["3.4.7"] and sup.options == {"COMPRESSION": ["lz4", "snappy"]}
    ch = roundtrip(AuthChallenge(b"\x01\x02"))
    assert isinstance(ch, drv.AuthChallengeMessage) and ch.challenge == b"\x01\x02"
    ok = roundtrip(AuthSuccess(b""))
    assert isinstance(ok, drv.AuthSuccessMessage) and ok.token == ""


@pytest.mark.parametrize("version", VERSIONS)
def test_driver_decodes_our_rows(version: int) -> None:
    cols = [ColumnSpec("ks", "t", "k", INT), ColumnSpec("ks", "t", "v", TEXT), ColumnSpec("ks", "t", "l", ListType(INT))]
    lst = h("00000002 00000004 00000001 00000004 00000002")
    rows = [[h("00000001"), "héllo".encode(), lst], [h("fffffffe"), None, None]]
    msg = Rows(RowsMetadata(cols, paging_state=b"\x05\x06"), rows)
    frame = encode_message(msg, version, 9, response=True, tracing_id=TRACE)
    res = driver_decode(frame)
    assert isinstance(res, drv.ResultMessage)
    assert res.kind == drv.RESULT_KIND_ROWS and res.stream_id == 9 and res.trace_id == TRACE
    assert res.column_names == ["k", "v", "l"]
    assert [tuple(r) for r in res.parsed_rows] == [(1, "héllo", [1, 2]), (-2, None, None)]
    assert res.paging_state == b"\x05\x06"


def test_driver_decodes_our_rows_without_metadata() -> None:
    msg = Rows(RowsMetadata(None, 1), [[h("0000000a")]])
    md = [("ks", "t", "k", drv.Int32Type)]
    res = driver_decode(encode_message(msg, 4, 1, response=True), result_metadata=md)
    assert [tuple(r) for r in res.parsed_rows] == [(10,)]


@pytest.mark.parametrize("version", VERSIONS)
def test_driver_decodes_our_other_results(version: int) -> None:
    def roundtrip(msg: Message) -> drv.ResultMessage:
        res = driver_decode(encode_message(msg, version, 2, response=True, warnings=["w1"] if version > 3 else None))
        assert isinstance(res, drv.ResultMessage)
        if version > 3:
            assert res.warnings == ["w1"]
        return res

    assert roundtrip(Void()).kind == drv.RESULT_KIND_VOID
    assert roundtrip(SetKeyspace("my_ks")).new_keyspace == "my_ks"
    sc = roundtrip(SchemaChange("CREATED", "TABLE", "ks", "tbl")).schema_change_event
    assert sc == {"change_type": "CREATED", "target_type": "TABLE", "keyspace": "ks", "table": "tbl"}
    fn = roundtrip(SchemaChange("DROPPED", "FUNCTION", "ks", "f", ["int", "text"])).schema_change_event
    assert fn["function"].name == "f" and fn["function"].argument_types == ["int", "text"]

    bind = [ColumnSpec("ks", "t", "k", INT), ColumnSpec("ks", "t", "c", TEXT)]
    result_cols = [ColumnSpec("ks", "t", "v", TEXT)]
    prepared = Prepared(
        b"\x77" * 16,
        b"\x88" * 16 if version >= 5 else None,
        PreparedMetadata(bind, [0]),
        RowsMetadata(result_cols),
    )
    res = roundtrip(prepared)
    assert res.kind == drv.RESULT_KIND_PREPARED and res.query_id == b"\x77" * 16
    assert [(c.name, c.type.typename) for c in res.bind_metadata] == [("k", "int"), ("c", "varchar")]
    assert [c[2] for c in res.column_metadata] == ["v"]
    if version >= 4:
        assert res.pk_indexes == [0]
    if version >= 5:
        assert res.result_metadata_id == b"\x88" * 16


def test_driver_decodes_our_v5_metadata_changed() -> None:
    msg = Rows(RowsMetadata([ColumnSpec("ks", "t", "k", INT)], new_metadata_id=b"\x99" * 16), [[h("00000003")]])
    res = driver_decode(encode_message(msg, 5, 1, response=True))
    assert res.result_metadata_id == b"\x99" * 16
    assert [tuple(r) for r in res.parsed_rows] == [(3,)]


@pytest.mark.parametrize("version", VERSIONS)
def test_driver_decodes_our_events(version: int) -> None:
    def roundtrip(msg: Message) -> drv.EventMessage:
        ev = driver_decode(encode_message(msg, version, -1, response=True))
        assert isinstance(ev, drv.EventMessage) and ev.stream_id == -1
        return ev

    ev = roundtrip(Event("TOPOLOGY_CHANGE", "NEW_NODE", ("10.0.0.9", 9042)))
    assert ev.event_type == "TOPOLOGY_CHANGE"
    assert ev.event_args == {"change_type": "NEW_NODE", "address": ("10.0.0.9", 9042)}
    ev = roundtrip(Event("STATUS_CHANGE", "DOWN", ("fe80::1", 19042)))
    assert ev.event_args == {"change_type": "DOWN", "address": ("fe80::1", 19042)}
    ev = roundtrip(Event.schema_change(SchemaChange("UPDATED", "KEYSPACE", "ks")))
    assert ev.event_args == {"change_type": "UPDATED", "target_type": "KEYSPACE", "keyspace": "ks"}


@pytest.mark.parametrize("version", VERSIONS)
def test_driver_decodes_our_errors(version: int) -> None:
    def roundtrip(msg: ErrorMessage) -> drv.ErrorMessage:
        err = driver_decode(encode_message(msg, version, 4, response=True))
        assert isinstance(err, drv.ErrorMessage)
        assert err.code == msg.code and err.message == msg.message
        return err

    e = roundtrip(ErrorMessage(ErrorCode.UNAVAILABLE, "u", consistency=CL.QUORUM, required=3, alive=1))
    assert isinstance(e, drv.UnavailableErrorMessage)
    assert e.info == {"consistency": CL.QUORUM, "required_replicas": 3, "alive_replicas": 1}

    e = roundtrip(ErrorMessage(ErrorCode.WRITE_TIMEOUT, "w", consistency=1, received=0, block_for=1, write_type="BATCH_LOG"))
    assert e.info == {"consistency": 1, "received_responses": 0, "required_responses": 1, "write_type": 4}

    e = roundtrip(ErrorMessage(ErrorCode.READ_TIMEOUT, "r", consistency=2, received=1, block_for=2, data_present=True))
    assert e.info == {"consistency": 2, "received_responses": 1, "required_responses": 2, "data_retrieved": True}

    reasons = {"10.0.0.1": 1, "10.0.0.2": 2}
    e = roundtrip(ErrorMessage(ErrorCode.READ_FAILURE, "rf", consistency=1, received=0, block_for=1,
                               num_failures=2, reasonmap=reasons, data_present=False))
    assert e.info["failures"] == 2 and e.info["data_retrieved"] is False
    assert e.info["error_code_map"] == (reasons if version >= 5 else None)

    e = roundtrip(ErrorMessage(ErrorCode.WRITE_FAILURE, "wf", consistency=1, received=0, block_for=1,
                               reasonmap=reasons, write_type="COUNTER"))
    assert e.info["failures"] == 2 and e.info["write_type"] == 3
    assert e.info["error_code_map"] == (reasons if version >= 5 else None)

    e = roundtrip(ErrorMessage(ErrorCode.FUNCTION_FAILURE, "ff", keyspace="ks", function="f", arg_types=["int"]))
    assert e.info == {"keyspace": "ks", "function": "f", "arg_types": ["int"]}

    e = roundtrip(ErrorMessage(ErrorCode.ALREADY_EXISTS, "ae", keyspace="ks", table="t"))
    assert e.info == {"keyspace": "ks", "table": "t"}

    e = roundtrip(ErrorMessage(ErrorCode.UNPREPARED, "up", statement_id=b"\x01\x02\x03"))
    assert isinstance(e, drv.PreparedQueryNotFound) and e.info == b"\x01\x02\x03"

    for code, cls in [
        (ErrorCode.SERVER_ERROR, drv.ServerError),
        (ErrorCode.PROTOCOL_ERROR, drv.ProtocolException),
        (ErrorCode.BAD_CREDENTIALS, drv.BadCredentials),
        (ErrorCode.OVERLOADED, drv.OverloadedErrorMessage),
        (ErrorCode.IS_BOOTSTRAPPING, drv.IsBootstrappingErrorMessage),
        (ErrorCode.TRUNCATE_ERROR, drv.TruncateError),
        (ErrorCode.CDC_WRITE_FAILURE, drv.CDCWriteException),
        (ErrorCode.SYNTAX_ERROR, drv.SyntaxException),
        (ErrorCode.UNAUTHORIZED, drv.UnauthorizedErrorMessage),
        (ErrorCode.INVALID, drv.InvalidRequestException),
        (ErrorCode.CONFIG_ERROR, drv.ConfigurationException),
    ]:
        assert isinstance(roundtrip(ErrorMessage(code, "m")), cls)


def test_driver_decodes_our_v5_cas_write_timeout() -> None:
    # the driver ignores the v5 contentions field; it must still parse everything before it
    msg = ErrorMessage(ErrorCode.WRITE_TIMEOUT, "cas", consistency=8, received=0, block_for=2, write_type="CAS",
                       contentions=3)
    e = driver_decode(encode_message(msg, 5, 0, response=True))
    assert e.info["write_type"] == 5 and e.info["required_responses"] == 2


def test_driver_v5_segmented_request_stream() -> None:
    """Requests the driver would send once v5 framing is on, read by a segmented FrameReader."""
    for codec, compressed in ((SegmentCodec(), False), (segment_codec_lz4, True)):
        buf = io.BytesIO()
        msgs = [drv.QueryMessage(f"SELECT {i}", CL.ONE) for i in range(3)]
        for i, m in enumerate(msgs):
            codec.encode(buf, driver_encode(m, 5, stream=i))
        reader = FrameReader(responses=False)
        reader.use_segments(compressed)
        reader.feed(buf.getvalue())
        got = [decode_frame(f) for f in reader.frames()]
        assert [(e.stream, e.message) for e in got] == [
            (i, Query(f"SELECT {i}", QueryParameters(CL.ONE))) for i in range(3)
        ]
        # and our segmented responses back through the driver's codec
        writer = FrameWriter()
        writer.use_segments(compressed)
        wire = writer.encode([(encode_message(Void(), 5, i, response=True), None) for i in range(3)])
        stream = io.BytesIO(wire)
        header = codec.decode_header(stream)
        payload = codec.decode(stream, header).payload
        assert header.is_self_contained
        for i in range(3):
            n = struct.unpack_from(">i", payload, 5)[0]
            env, payload = payload[: 9 + n], payload[9 + n :]
            _, fl, st, op, _ = struct.unpack(">BBhBi", env[:9])
            res = drv.ProtocolHandler.decode_message(5, FEATURES, {}, st, fl, op, env[9:], None, None)
            assert st == i and res.kind == drv.RESULT_KIND_VOID
