"""Lightweight transactions decided on DynamoDB's copy of a row (DynamoDB-authoritative phases).

`evaluate` applies an IF clause to the row as a Cassandra read would see it; `applied_row` builds
the ``[applied]`` result exactly as Cassandra 5.0 shapes it:

- applied: one column, ``[applied]`` = true;
- IF NOT EXISTS refused: ``[applied]`` then every column of the existing row, ``SELECT *`` order;
- IF EXISTS refused (the row is absent), or IF conditions on an absent row: ``[applied]`` only;
- IF conditions refused on an existing row: ``[applied]`` then the condition columns in the order
  the conditions name them (each once).
"""

from __future__ import annotations

from typing import Any

from cql_protocol.messages import ColumnSpec, Rows, RowsMetadata
from cql_protocol.types import BOOLEAN, CqlType, serialize

from .cql_values import values_equal
from .mapping import TableMapping
from .statements.results import LwtCondition, Untranslatable

APPLIED = "[applied]"
_TRUE = serialize(BOOLEAN, True)
_FALSE = serialize(BOOLEAN, False)


def resolved_checks(tm: TableMapping, cond: LwtCondition) -> tuple[tuple[str, str, Any], ...]:
    if cond.checks is None:
        raise Untranslatable(tm.cql_name, f"the condition {cond.unresolved} can only be evaluated by "
                                          "Cassandra, and DynamoDB decides conditional writes in this phase")
    return cond.checks


def evaluate(tm: TableMapping, cond: LwtCondition, row: dict[str, Any] | None) -> bool:
    """Whether Cassandra would apply a write with this IF clause to `row` (None: no such row)."""
    if cond.if_not_exists:
        return row is None
    if cond.if_exists and row is None:
        return False
    checks = resolved_checks(tm, cond)
    if row is None:
        # only `col = null` (and `!= v`) hold for a row that does not exist
        return all(_holds(tm.schema.columns[c], op, None, v) for c, op, v in checks) if checks else False
    return all(_holds(tm.schema.columns[c], op, row.get(c), v) for c, op, v in checks)


def _holds(t: CqlType, op: str, have: Any, want: Any) -> bool:
    if op == "=":
        return values_equal(t, have, want)
    if op == "!=":
        return not values_equal(t, have, want)
    if have is None or want is None:
        return False  # Cassandra: ordering comparisons with null are false
    try:
        if op == "<":
            return bool(have < want)
        if op == "<=":
            return bool(have <= want)
        if op == ">":
            return bool(have > want)
        return bool(have >= want)
    except TypeError:
        return False


def applied_row(tm: TableMapping, cond: LwtCondition, applied: bool, row: dict[str, Any] | None,
                key: dict[str, Any], version: int) -> Rows:
    """The Rows message Cassandra answers a conditional write with. `key` holds the primary key
    values of the written row (shown when the row exists and IF NOT EXISTS was refused)."""
    ks, table = tm.keyspace, tm.table
    cols: list[ColumnSpec] = [ColumnSpec(ks, table, APPLIED, BOOLEAN)]
    cells: list[bytes | None] = [_TRUE if applied else _FALSE]
    if not applied and row is not None:
        types = tm.schema.columns
        if cond.if_not_exists:
            names = list(types)
            full = {**row, **key}
        else:
            names = list(dict.fromkeys(c for c, _, _ in (cond.checks or ())))
            full = row
        for name in names:
            cols.append(ColumnSpec(ks, table, name, types[name]))
            v = full.get(name)
            cells.append(None if v is None else serialize(types[name], v, version))
    return Rows(RowsMetadata(cols), [cells])
