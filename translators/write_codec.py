"""Translated writes ↔ JSON-safe records, for the journal of queued writes.

Values are stored as DynamoDB attribute values of their column (or element) type, so any CQL value
survives the trip exactly; bytes become base64 when the record is serialised.
"""

from __future__ import annotations

from typing import Any

from cql_protocol.types import CqlType, ListType, MapType, SetType

from . import values
from .item_codec import from_wire
from .mapping import Mapping, TableMapping
from .row_state import Mutation
from .statements.results import CounterWrite, RangeDelete, RowKey, RowWrite, Write


def _enc(t: CqlType, v: Any) -> Any:
    return None if v is None else values.to_attribute(t, v) or {"NULL": True}


def _dec(t: CqlType, a: Any) -> Any:
    return None if a is None else values.from_attribute(t, from_wire(a))


def _key(tm: TableMapping, part: tuple[Any, ...], clus: tuple[Any, ...]) -> dict[str, Any]:
    cols = tm.schema.columns
    return {"p": [_enc(cols[c], v) for c, v in zip(tm.schema.partition_key, part, strict=True)],
            "c": [_enc(cols[c], v) for c, v in zip(tm.schema.clustering_columns, clus, strict=False)]}


def _unkey(tm: TableMapping, d: dict[str, Any]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    cols = tm.schema.columns
    part = tuple(_dec(cols[c], a) for c, a in zip(tm.schema.partition_key, d["p"], strict=True))
    clus = tuple(_dec(cols[c], a) for c, a in zip(tm.schema.clustering_columns, d["c"], strict=False))
    return part, clus


def _op_payload(t: CqlType, op: str, payload: Any, encode: bool) -> Any:
    f = _enc if encode else _dec
    verb = op.partition(":")[2]
    if payload is None:
        return None
    if isinstance(t, MapType):
        if verb in ("put", "overwrite"):
            pairs = payload.items() if isinstance(payload, dict) else payload
            out = [(f(t.key, k), f(t.value, v)) for k, v in pairs]
            if encode:
                return [list(kv) for kv in out]
            try:
                return dict(out)
            except TypeError:  # unhashable keys (frozen collections) stay pairs
                return out
        return [f(t.key, k) for k in payload]  # remove_keys
    assert isinstance(t, ListType | SetType)
    if verb == "set_index":
        idx, v = payload
        return [idx, f(t.element, v)]
    return [f(t.element, e) for e in payload]


def encode_write(w: Write) -> dict[str, Any]:
    tm = w.table
    cols = tm.schema.columns
    if isinstance(w, RowWrite):
        m = w.mutation
        return {"k": "row", "t": tm.cql_name, **_key(tm, w.key.partition, w.key.clustering),
                "ts": m.ts, "x": m.expiry, "rm": m.row_marker, "dr": m.delete_row,
                "cells": {c: _enc(cols[c], v) for c, v in m.cells.items()},
                "ops": [[c, op, _op_payload(cols[c], op, p, True)] for c, op, p in m.collection_ops]}
    if isinstance(w, CounterWrite):
        return {"k": "counter", "t": tm.cql_name, **_key(tm, w.key.partition, w.key.clustering), "d": w.deltas}
    cl = tm.schema.clustering_columns
    nxt = cols[cl[len(w.clustering_eq)]] if len(w.clustering_eq) < len(cl) else None
    return {"k": "range", "t": tm.cql_name, **_key(tm, w.partition, w.clustering_eq), "ts": w.ts,
            "lo": None if w.lower is None or nxt is None else [_enc(nxt, w.lower[0]), w.lower[1]],
            "hi": None if w.upper is None or nxt is None else [_enc(nxt, w.upper[0]), w.upper[1]]}


def decode_write(d: dict[str, Any], mapping: Mapping) -> Write:
    tm = next((t for t in mapping.tables.values() if t.cql_name == d["t"]), None)
    if tm is None:
        raise KeyError(f"table {d['t']} is no longer in the mapping")
    cols = tm.schema.columns
    part, clus = _unkey(tm, d)
    if d["k"] == "row":
        m = Mutation(ts=d["ts"], expiry=d["x"], row_marker=d["rm"], delete_row=d["dr"],
                     cells={c: _dec(cols[c], a) for c, a in d["cells"].items()},
                     collection_ops=[(c, op, _op_payload(cols[c], op, p, False)) for c, op, p in d["ops"]])
        for c, op, p in m.collection_ops:
            if op.endswith(":set_index") and p is not None:
                m.collection_ops[m.collection_ops.index((c, op, p))] = (c, op, tuple(p))
        return RowWrite(tm, RowKey(part, clus), m)
    if d["k"] == "counter":
        return CounterWrite(tm, RowKey(part, clus), dict(d["d"]))
    cl = tm.schema.clustering_columns
    nxt = cols[cl[len(clus)]] if len(clus) < len(cl) else None
    lo = None if d["lo"] is None or nxt is None else (_dec(nxt, d["lo"][0]), d["lo"][1])
    hi = None if d["hi"] is None or nxt is None else (_dec(nxt, d["hi"][0]), d["hi"][1])
    return RangeDelete(tm, part, clus, lo, hi, d["ts"])
