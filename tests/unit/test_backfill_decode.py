"""Rows of the backfill's scans as the driver hands them over (each value's bytes) → decoded values
→ mutations, for every family of CQL types, and a row that cannot be decoded failing alone."""

from __future__ import annotations

import asyncio
import decimal
import math
import uuid
from typing import Any

import pytest
from cassandra.protocol import ProtocolHandler

from cql_protocol.messages import Rows, encode_message
from cql_protocol.messages.result import ColumnSpec, RowsMetadata
from cql_protocol.opcodes import Opcode
from cql_protocol.typeparse import parse_cql_type
from cql_protocol.types import Duration, ListType, TypeCode, deserialize, native, serialize
from proxy.backfill import decode
from proxy.backfill.rows import RowDecodeError, ScanLayout
from proxy.backfill.runner import Task, backfill_range
from proxy.backfill.source import raw_values
from proxy.backfill.writer import WriteStats
from translators.mapping import loads_mapping
from translators.row_state import merge, visible

NATIVE_SAMPLES: dict[str, list[Any]] = {
    "ascii": ["", "abc"],
    "bigint": [0, -(2**63), 2**63 - 1],
    "blob": [b"", b"\x00\xff"],
    "boolean": [True, False],
    "counter": [5, -3],
    "date": [0, -(2**31), 2**31 - 1],
    "decimal": [decimal.Decimal("0.000"), decimal.Decimal("-1E+400")],
    "double": [0.0, -0.0, 1.5, math.inf],
    "duration": [Duration(1, 2, 3), Duration(-1, -2, -3)],
    "float": [0.5, -math.inf],
    "inet": ["10.0.0.1", "::1"],
    "int": [0, -(2**31), 2**31 - 1],
    "smallint": [-(2**15), 2**15 - 1],
    "text": ["", "é ✓"],
    "time": [0, 86_399_999_999_999],
    "timestamp": [0, -(2**62), 2**62],  # far outside Python's datetime range
    "timeuuid": [uuid.UUID("6b1a1c10-0b1e-11ef-8000-000000000001")],
    "tinyint": [-128, 127],
    "uuid": [uuid.uuid4()],
    "varint": [0, -(10**40)],
}


@pytest.mark.parametrize("cql", sorted(NATIVE_SAMPLES))
def test_native_values_decode_as_the_codec_does(cql):
    t = parse_cql_type(cql)
    dec = decode.decoder(t)
    for v in NATIVE_SAMPLES[cql]:
        b = serialize(t, v)
        got = dec(b)
        assert got == deserialize(t, b) and type(got) is type(deserialize(t, b)), (cql, v)
    assert dec(b"") == deserialize(t, b"")  # an empty value (not a null) as the codec reads it


@pytest.mark.parametrize("cql", ["int", "bigint", "double", "boolean", "uuid", "text"])
def test_malformed_values_raise(cql):
    bad = b"\xff\xfe\xfd" if cql == "text" else b"\x01\x02\x03"
    with pytest.raises(Exception):  # noqa: B017 - which exception does not matter, only that one is raised
        decode.decoder(parse_cql_type(cql))(bad)


def test_writetime_and_ttl_lists_with_and_without_nulls():
    longs, ints = ListType(native(TypeCode.BIGINT)), ListType(native(TypeCode.INT))
    for wt in ([], [1, 2**60], [None, 5, None], [None]):
        assert decode.timestamps(serialize(longs, wt)) == wt
    for ttl in ([], [10, 20], [None, 30], [None, None, None]):
        assert decode.ttls(serialize(ints, ttl)) == ttl
    for bad in (b"\x00\x00\x00\x02\x00\x00\x00\x08", b"\x00\x00\x00\x01\x00\x00\x00\x04\x00\x00\x00\x01"):
        with pytest.raises(Exception):  # noqa: B017
            decode.timestamps(bad)


MAPPING = """
version: 1
tables:
  - cql: ks.t
    schema:
      types:
        inner_t: {x: int, "Mixed Case": text}
        outer_t: {a: int, b: text, n: frozen<inner_t>, l: "frozen<list<int>>"}
      columns:
        p: int
        c: int
        u: outer_t
        fu: frozen<outer_t>
        su: outer_t
        tup: "tuple<int, text, frozen<tuple<text, int>>>"
        ds: "set<double>"
        ml: "map<frozen<list<int>>, text>"
        mu: "map<int, frozen<inner_t>>"
        lv: "list<frozen<vector<float, 2>>>"
        v: "vector<float, 3>"
        vt: "vector<text, 2>"
        vu: "vector<frozen<inner_t>, 2>"
        d: duration
        ts: timestamp
        bad: text
      partition_key: [p]
      clustering: [c]
      static: [su]
"""


def _layout() -> ScanLayout:
    tm = loads_mapping(MAPPING).table("ks", "t")
    assert tm is not None
    return ScanLayout(tm)


def _raw(lay: ScanLayout, token: int, keys: dict[str, Any], cols: dict[str, tuple[Any, Any, Any]]) -> list[Any]:
    """A row as the driver hands it over: every value serialized as Cassandra sends it."""
    longs, ints = ListType(native(TypeCode.BIGINT)), ListType(native(TypeCode.INT))
    schema = lay.tm.schema.columns
    row: list[Any] = [None] * len(lay.select)
    row[0] = serialize(native(TypeCode.BIGINT), token)
    for c, v in keys.items():
        row[lay.key_at[c]] = None if v is None else serialize(schema[c], v)
    for col in lay.columns:
        if col.name not in cols:
            continue
        v, wt, ttl = cols[col.name]
        row[col.value_at] = v if isinstance(v, bytes) and col.name == "bad" else serialize(col.type, v)
        listed = col.kind in ("set", "map", "list", "udt")
        row[col.ts_at] = serialize(longs if listed else native(TypeCode.BIGINT), wt)
        if ttl is not None:
            row[col.ttl_at] = serialize(ints if listed else native(TypeCode.INT), ttl)
    return row


def _state(works: list[Any], now: int) -> Any:
    state = None
    for m in works[0].mutations:
        state = merge(state, m, now)
    return state


def test_non_frozen_udt_with_unset_fields_is_one_cell_at_its_newest_field():
    lay = _layout()
    udt = {"a": 1, "b": "x", "n": None, "l": None}
    # a set at 100 with TTL 50, b at 200 without TTL; n and l never set
    row = lay.decode(_raw(lay, 7, {"p": 1, "c": 2}, {"u": (udt, [100, 200, None, None], [50, None, None, None])}))
    (w,) = lay.convert(row, now=1000)
    (m,) = [m for m in w.mutations if "u" in m.cells]
    # b has no TTL, so the whole value never expires (it outlives a)
    assert (m.ts, m.expiry, m.cells["u"]) == (200, 0, udt)
    # every field with a TTL: the longest one
    row = lay.decode(_raw(lay, 7, {"p": 1, "c": 2}, {"u": (udt, [100, 200, None, None], [50, 80, None, None])}))
    (w,) = lay.convert(row, now=1000)
    (m,) = [m for m in w.mutations if "u" in m.cells]
    assert (m.ts, m.expiry) == (200, 1080)


def test_a_udt_with_no_field_set_is_absent():
    lay = _layout()
    empty = {"a": None, "b": None, "n": None, "l": None}
    row = lay.decode(_raw(lay, 7, {"p": 1, "c": 2}, {"u": (empty, [None] * 4, [None] * 4)}))
    (w,) = lay.convert(row, now=0)
    assert all("u" not in m.cells for m in w.mutations)


def test_every_family_of_types_round_trips_through_the_mutations():
    lay = _layout()
    values: dict[str, tuple[Any, Any, Any]] = {
        "fu": ({"a": 1, "b": None, "n": {"x": 2, "Mixed Case": "m"}, "l": [1, 2]}, 10, 100),
        "tup": ((1, None, ("a", None)), 11, None),
        # 0.0 and -0.0 are two elements to Cassandra (and one to Python's ==)
        "ds": ([-0.0, 0.0, 2.5], [12, 13, 14], [None, None, 60]),
        "ml": ([([1, 2], "a"), ([3], "b")], [15, 16], None),  # keys Python cannot hash: a list of pairs
        "mu": ({1: {"x": 1, "Mixed Case": None}}, [17], [None]),
        "lv": ([[1.0, 2.0], [3.0, 4.0]], [18, 18], None),
        "v": ([1.0, 2.0, 3.0], 19, None),
        "vt": (["a", "bc"], 20, None),
        "vu": ([{"x": 1, "Mixed Case": "q"}, {"x": None, "Mixed Case": None}], 21, None),
        "d": (Duration(1, 2, 3), 22, None),
        "ts": (-(2**62), 23, None),  # year -146 million: no datetime holds it
        "su": ({"a": None, "b": "sb", "n": None, "l": None}, [None, 24, None, None], [None] * 4),
    }
    row = lay.decode(_raw(lay, 7, {"p": 1, "c": 2}, values))
    regular, static = lay.convert(row, now=1000)
    got = visible(_state([regular], 1000), 1000)
    assert got is not None
    for c in ("fu", "tup", "mu", "lv", "v", "vt", "vu", "d", "ts"):
        assert got[c] == values[c][0], c
    assert [math.copysign(1, x) for x in got["ds"][:2]] == [-1.0, 1.0] and got["ds"][2] == 2.5
    assert got["ml"] == values["ml"][0]
    by_ts = {m.ts: m for m in regular.mutations}
    assert by_ts[14].expiry == 1060 and ("ds", "set:add", [2.5]) in by_ts[14].collection_ops
    assert by_ts[10].expiry == 1100 and by_ts[10].row_marker  # the oldest cell carries the marker
    assert static.static and visible(_state([static], 1000), 1000) == {"su": values["su"][0]}


def test_a_row_that_cannot_be_decoded_names_its_table_key_and_column():
    lay = _layout()
    raw = _raw(lay, 7, {"p": 1, "c": 2}, {"bad": (b"\xff\xfe", 5, None)})
    with pytest.raises(RowDecodeError) as ei:
        lay.decode(raw)
    e = ei.value
    assert (e.table, e.key, e.undecoded) == ("ks.t", (1, 2), frozenset())
    assert e.column == "bad (text)" and "0xfffe" in e.reason and "utf-8" in e.reason
    assert str(e).startswith("ks.t (1, 2): column bad (text): ")
    # a key that cannot be decoded is shown as its bytes
    raw = _raw(lay, 7, {"p": 1, "c": 2}, {})
    raw[lay.key_at["c"]] = b"\x01"
    with pytest.raises(RowDecodeError) as ei:
        lay.decode(raw)
    assert ei.value.key == (1, "0x01") and ei.value.undecoded == frozenset({"c"})


def test_values_that_do_not_match_their_timestamps_fail_the_row_not_the_scan():
    lay = _layout()
    row = lay.decode(_raw(lay, 7, {"p": 1, "c": 2}, {"ds": ([1.0, 2.0], [12], None)}))
    with pytest.raises(RowDecodeError, match=r"ks.t \(1, 2\): column ds"):
        lay.convert(row, now=0)


def test_the_drivers_rows_hold_bytes_whatever_cassandra_sends():
    # WRITETIME of a non-frozen UDT with unset fields, as Cassandra 5.0 sends it: the compiled
    # decoder rejects it (and, in a connection, that drops the connection); the raw handler does not
    longs = ListType(native(TypeCode.BIGINT))
    cols = [ColumnSpec("ks", "t", "k", native(TypeCode.INT)), ColumnSpec("ks", "t", "writetime(u)", longs)]
    wt = serialize(longs, [5, None, None])
    msg = Rows(RowsMetadata(cols), [[serialize(native(TypeCode.INT), 1), wt], [None, None]])
    body = bytes(encode_message(msg, 4, 1, response=True).body)

    def decoded(handler: Any) -> Any:
        return handler.decode_message(4, None, {}, 1, 0, Opcode.RESULT, body, None, None)

    with pytest.raises(Exception, match="Length must be positive"):
        decoded(ProtocolHandler)
    got = decoded(raw_values(ProtocolHandler))
    assert [list(r) for r in got.parsed_rows] == [[serialize(native(TypeCode.INT), 1), wt], [None, None]]


class _Source:
    def __init__(self, pages: list[list[Any]]) -> None:
        self.pages = pages
        self.calls = 0

    def replica(self, keyspace: str, r: Any) -> None:
        return None

    async def execute(self, cql: str, params: Any, *, host: Any = None, paging_state: bytes | None = None,
                      page_size: int | None = None) -> tuple[list[Any], bytes | None]:
        self.calls += 1
        i = int(paging_state or b"0")
        return self.pages[i], (str(i + 1).encode() if i + 1 < len(self.pages) else None)


class _Writer:
    def __init__(self) -> None:
        self.rows: list[Any] = []

    async def write(self, tm: Any, works: list[Any], stats: WriteStats, source: Any = None) -> list[Any]:
        self.rows.extend(w.partition + w.clustering for w in works if not w.static)
        stats.written += len(works)
        return []  # nothing created: no check against Cassandra after the write


class _Ctx:
    def __init__(self, lay: ScanLayout, pages: list[list[Any]]) -> None:
        self.tables = {"ks.t": lay.tm}
        self.source = _Source(pages)
        self.writer = _Writer()
        self._lay = lay

    def layout(self, table: str) -> ScanLayout:
        return self._lay


def test_a_bad_row_fails_alone_and_is_not_read_again():
    lay = _layout()
    good = [_raw(lay, 7, {"p": 1, "c": c}, {"ts": (c, 5, None)}) for c in range(3)]
    bad = _raw(lay, 7, {"p": 1, "c": 9}, {"bad": (b"\xff", 5, None)})
    ctx = _Ctx(lay, [[good[0], bad, good[1]], [good[2]]])
    events: list[dict[str, Any]] = []
    asyncio.run(backfill_range(ctx, Task("ks.t", "0:10"), events.append))  # type: ignore[arg-type]
    assert ctx.writer.rows == [(1, 0), (1, 1), (1, 2)]  # the rows around it, and the next page, are written
    assert ctx.source.calls == 2  # one read per page: nothing retried
    pages = [e for e in events if e["kind"] == "page"]
    assert pages[0]["stats"]["failed"] == 1 and pages[0]["state"] is None  # that page is read again next run
    assert pages[0]["stats"]["errors"][0].startswith("ks.t (1, 9): column bad (text): cannot decode 1 bytes 0xff")
    assert events[-1]["kind"] == "failed" and "1 rows failed" in events[-1]["error"]
