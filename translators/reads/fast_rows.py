"""The common read answered straight from DynamoDB's JSON: selected plain columns of the table's
rows, no filter, no static or metadata selector, one CQL table per DynamoDB table. The cells go
from the wire attribute to the CQL bytes without the row state, its Python values and the
projection the general path (rows.decode_item + rows.project) builds; visibility follows the same
rules (row_state.visible): a cell lives when newer than the row tombstone and not expired, a row
exists with a live marker or any live cell. Anything else is the general path's, and a property
test holds both to the same answers."""

from __future__ import annotations

import struct
from binascii import a2b_base64
from collections.abc import Callable
from typing import Any

import orjson

from cql_protocol.types import CqlType, NativeType, TypeCode
from translators import canonical, item_codec, values
from translators.reads.plan import Item, ReadPlan
from translators.row_state import fold_overlays

CellBytes = Callable[[dict[str, Any]], bytes]
NO_ROW: list[bytes | None] = []  # `cells` of an item that is not a live row (compare with `is`)


def _packer(fmt: str) -> CellBytes:
    pack = struct.Struct(fmt).pack
    return lambda a: pack(int(a["N"]))


_NATIVE: dict[int, CellBytes] = {
    TypeCode.VARCHAR: lambda a: a["S"].encode(),
    TypeCode.ASCII: lambda a: a["S"].encode(),
    TypeCode.BLOB: lambda a: a2b_base64(a["B"]) if type(a["B"]) is str else bytes(a["B"]),
    TypeCode.INT: _packer(">i"),
    TypeCode.BIGINT: _packer(">q"),
    TypeCode.SMALLINT: _packer(">h"),
    TypeCode.TINYINT: _packer(">b"),
    TypeCode.TIMESTAMP: _packer(">q"),
    TypeCode.BOOLEAN: lambda a: b"\x01" if a["BOOL"] is True else b"\x00",
}


def cell_bytes(t: CqlType) -> CellBytes:
    """Wire attribute → CQL bytes of a non-null value of `t` (the general conversion for the types
    without a shortcut)."""
    if type(t) is NativeType:
        fast = _NATIVE.get(t.code)
        if fast is not None:
            return fast
    enc = canonical.canonical_encoder(t)
    return lambda a: enc(values.from_attribute(t, item_codec.from_wire(a)))


class FastRows:
    """Built per plan; `cells(raw)` answers one wire item: its result cells, `NO_ROW` when the item
    is not a live row of the table, or None when this item needs the general path."""

    __slots__ = ("_cols", "_now", "_regular")

    def __init__(self, plan: ReadPlan, cols: list[tuple[str, str, CellBytes, bool]], regular: dict[str, str]) -> None:
        self._cols = cols  # (column, attribute, converter, is a key column) per selected column
        self._now = plan.now
        self._regular = regular  # column → attribute of the plain regular columns (a live one makes a row)

    @staticmethod
    def of(plan: ReadPlan) -> FastRows | None:
        tm = plan.tm
        if (plan.filters or plan.aggregate or plan.distinct or plan.uses_static or plan.static_rows
                or tm.pk.prefix or (tm.sk is not None and (tm.sk.encoding == "constant" or tm.sk.prefix))
                or tm.schema.is_counter_table()):
            return None
        schema = tm.schema
        keys = set(schema.primary_key)
        cols = []
        for s in plan.selection:
            col = s.column
            if s.kind != "column" or col is None or col in schema.static:
                return None
            t = schema.columns[col]
            if col not in keys and item_codec.is_collection(t):
                return None
            cols.append((col, tm.attribute_name(col), cell_bytes(t), col in keys))
        regular = {c: tm.attribute_name(c) for c, t in schema.columns.items()
                   if c not in keys and c not in schema.static and not item_codec.is_collection(t)}
        return FastRows(plan, cols, regular)

    def cells(self, raw: Item) -> list[bytes | None] | None:
        try:
            return self._cells(raw)
        except (KeyError, ValueError, TypeError, IndexError, struct.error, orjson.JSONDecodeError):
            return None  # not the shape this path reads (an attribute of another type...): the general path

    def _cells(self, raw: Item) -> list[bytes | None] | None:
        meta_attr = raw.get(item_codec.META)
        if meta_attr is None or item_codec.COMPRESSED in raw or item_codec.POINTER in raw:
            return None
        m = orjson.loads(meta_attr["S"])
        overlays = None
        for name, attr in raw.items():
            if name.startswith("_m") and (name.startswith(item_codec.OVERLAY) or name == item_codec.MARKER_OVERLAY):
                if overlays is None:
                    overlays = {}
                overlays["" if name == item_codec.MARKER_OVERLAY else name[len(item_codec.OVERLAY):]] = attr["S"]
        if overlays:
            fold_overlays(m, overlays)
        deleted = int(m.get("d", 0))
        now = self._now
        cells: dict[str, Any] = m.get("c", {})
        exists = False
        r = m.get("r")
        if r is not None and int(r[0]) > deleted and (not r[1] or int(r[1]) > now):
            exists = True
        out: list[bytes | None] = []
        for col, attr_name, conv, is_key in self._cols:
            a = raw.get(attr_name)
            if is_key:
                if a is None:
                    return None  # a key stored only in the item's keys: the general path decodes it
                out.append(conv(a))
                continue
            c = cells.get(col)
            if c is None or c[2] or int(c[0]) <= deleted or (c[1] and int(c[1]) <= now) or a is None:
                out.append(None)
            else:
                out.append(conv(a))
                exists = True
        if not exists and not self._any_live(raw, m, cells, deleted, now):
            return NO_ROW
        return out

    def _any_live(self, raw: Item, m: dict[str, Any], cells: dict[str, Any], deleted: int, now: int) -> bool:
        regular = self._regular
        for col, c in cells.items():
            name = regular.get(col)
            if (name is not None and not c[2] and int(c[0]) > deleted and (not c[1] or int(c[1]) > now)
                    and (a := raw.get(name)) is not None and "NULL" not in a):
                return True
        for cm in m.get("l", {}).values():
            floor = max(deleted, int(cm["t"]))
            for _key, ts, exp, value in cm["e"]:
                if value is not None and int(ts) > floor and (not exp or int(exp) > now):
                    return True
        return False
