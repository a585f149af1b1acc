"""The read path's straight path (translators/reads/fast_rows.py) answers every item exactly as the
general path (decode_item + project) does: random write histories go through the real write loop
(single-call UpdateItems, their overlays, the read-merge-write fallback) into an in-memory DynamoDB,
and each stored item is then read both ways, at a read time that lets some TTLs run out."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sidecar_pair import MemoryDynamoDB

from cql_protocol.cql import parse
from cql_protocol.types import TypeCode, native, serialize
from proxy.writes.dynamo_writer import DynamoWriter
from translators import item_codec
from translators.mapping import TableMapping, loads_mapping
from translators.reads import ReadPlan, plan_select
from translators.reads.fast_rows import NO_ROW, FastRows
from translators.reads.rows import decode_item, is_static_item, project
from translators.row_state import Mutation

MAPPING = loads_mapping("""
version: 1
tables:
  - cql: ks.t
    dynamodb_table: fr_t
    schema:
      columns: {p: int, c: int, a: text, b: bigint, d: blob, e: double, f: "frozen<list<int>>", s: "set<text>"}
      partition_key: [p]
      clustering: [c]
  - cql: ks.flat
    dynamodb_table: fr_flat
    schema:
      columns: {k: int, a: text, b: boolean, ts: timestamp}
      partition_key: [k]
""")
T = MAPPING.table("ks", "t")
FLAT = MAPPING.table("ks", "flat")
assert T is not None and FLAT is not None
INT = native(TypeCode.INT)
WRITE_NOW = 1_800_000_000
BASE_TS = 1_700_000_000_000_000
SELECTIONS = {"t": ["p, c, a, b", "a", "c, d, e, f", "b, p"], "flat": ["*", "a, ts", "k"]}

_VALUES = {
    "a": st.text(max_size=8), "b": st.one_of(st.integers(-2**63, 2**63 - 1), st.booleans()),
    "d": st.binary(max_size=16), "e": st.floats(allow_nan=False, width=64),
    "f": st.lists(st.integers(-2**31, 2**31 - 1), max_size=3), "ts": st.integers(-2**40, 2**40),
}


@st.composite
def mutations(draw: Any, tm: TableMapping) -> Mutation:
    regular = [c for c in tm.schema.columns if c not in tm.schema.primary_key and c != "s"]
    kind = draw(st.sampled_from(["insert", "update", "delete_cells", "delete_row", "set_add", "set_remove"]))
    ts = BASE_TS + draw(st.integers(0, 6))  # a narrow range: ties and out-of-order writes
    expiry = draw(st.sampled_from([0, 0, WRITE_NOW + 5, WRITE_NOW + 500]))
    cols = draw(st.lists(st.sampled_from(regular), unique=True, max_size=len(regular)))
    cells: dict[str, Any] = {}
    for c in cols:
        t = tm.schema.columns[c]
        if kind == "delete_cells":
            cells[c] = None
        elif c == "b":
            cells[c] = draw(st.booleans()) if t == native(TypeCode.BOOLEAN) else draw(st.integers(-2**63, 2**63 - 1))
        else:
            cells[c] = draw(_VALUES[c])
    if kind == "delete_row":
        return Mutation(ts=ts, delete_row=True)
    if kind in ("set_add", "set_remove"):
        if "s" not in tm.schema.columns:
            return Mutation(ts=ts, cells=cells, expiry=expiry)
        elems = draw(st.lists(st.sampled_from(["x", "y", "z"]), min_size=1, unique=True))
        return Mutation(ts=ts, expiry=expiry, collection_ops=[("s", "set:add" if kind == "set_add" else "set:remove", elems)])
    return Mutation(ts=ts, expiry=expiry, row_marker=kind == "insert", cells=cells)


def _plan(tm: TableMapping, columns: str, now: int) -> ReadPlan:
    key = "p" if tm is T else "k"
    stmt = parse(f"SELECT {columns} FROM ks.{tm.table} WHERE {key} = ?")
    return plan_select(stmt, tm, [serialize(INT, 1)], now=now, bind_types=(INT,))  # type: ignore[arg-type]


def _general(plan: ReadPlan, raw: dict[str, Any]) -> list[bytes | None] | None:
    d = decode_item(plan, item_codec.expand(item_codec.from_wire_item(raw)))
    if d is None or d.live is None or d.clustering is None:
        return None
    return project(plan, d, None)


def _stored(tm: TableMapping, history: list[tuple[int, Mutation]]) -> list[dict[str, Any]]:
    db = MemoryDynamoDB({tm.dynamodb_table: (tm.pk.attribute, tm.sk.attribute if tm.sk else None)})
    writer = DynamoWriter(db)  # type: ignore[arg-type]

    async def run() -> None:
        for row, m in history:
            clustering = (row,) if tm.sk is not None else ()
            await writer.apply_row(tm, (1,), clustering, m, now=WRITE_NOW)

    asyncio.run(run())
    return db.items(tm.dynamodb_table)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_the_straight_path_answers_as_the_general_path(data: Any) -> None:
    tm = data.draw(st.sampled_from([T, FLAT]))
    history = data.draw(st.lists(st.tuples(st.integers(0, 2), mutations(tm)), min_size=1, max_size=8))
    read_now = WRITE_NOW + data.draw(st.sampled_from([0, 10, 1000]))
    items = _stored(tm, history)
    for columns in SELECTIONS[tm.table]:
        plan = _plan(tm, columns, read_now)
        fast = FastRows.of(plan)
        assert fast is not None, f"SELECT {columns} is a straight-path read"
        for raw in items:
            if is_static_item(plan, raw):
                continue
            got = fast.cells(raw)
            assert got is not None, f"the straight path gave up on {raw}"
            want = _general(plan, raw)
            assert (None if got is NO_ROW else got) == want, (columns, raw)


def test_reads_it_does_not_take() -> None:
    for columns in ["*", "s", "writetime(a)", "ttl(a)", "count(*)", "DISTINCT p"]:
        assert FastRows.of(_plan(T, columns, WRITE_NOW)) is None, columns
    stmt = parse("SELECT a FROM ks.t WHERE p = 1 AND a = 'x' ALLOW FILTERING")
    assert FastRows.of(plan_select(stmt, T, [], now=WRITE_NOW)) is None  # a filter


def test_items_it_leaves_to_the_general_path() -> None:
    plan = _plan(FLAT, "*", WRITE_NOW)
    fast = FastRows.of(plan)
    assert fast is not None
    key = {"k": {"N": "1"}}
    assert fast.cells({**key, "_z": {"B": "eA=="}}) is None  # compressed
    assert fast.cells({**key, "a": {"S": "x"}}) is None  # no metadata (a counter row, a foreign item)
    meta = '{"d":0,"r":[5,0],"c":{"a":[5,0,0]},"l":{}}'
    assert fast.cells({**key, "a": {"N": "1"}, "_m": {"S": meta}}) is None  # not the column's type
    assert fast.cells({**key, "a": {"S": "x"}, "_m": {"S": meta}}) == [b"\x00\x00\x00\x01", b"x", None, None]
