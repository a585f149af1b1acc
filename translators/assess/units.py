"""DynamoDB capacity units, as DynamoDB rounds them. Pure.

A write unit is one write of up to 1 KB; a read unit one strongly consistent read of up to 4 KB
(an eventually consistent read costs half). Transactions cost double. GetItem and each item of a
BatchGetItem round up one item at a time; a Query or Scan rounds up the sum of the items it read.
A GSI is written (its projected size, rounded like a write) whenever its item is written.
"""

from __future__ import annotations

from collections.abc import Iterable

WRITE_UNIT = 1024
READ_UNIT = 4096


def _units(size: int, unit: int) -> int:
    return max(1, -(-size // unit))


def write_units(size: int, transactional: bool = False) -> float:
    return float(_units(size, WRITE_UNIT) * (2 if transactional else 1))


def read_units(size: int, consistent: bool = True, transactional: bool = False) -> float:
    n = float(_units(size, READ_UNIT))
    if transactional:
        return n * 2
    return n if consistent else n / 2


def item_reads(sizes: Iterable[int], consistent: bool = True) -> float:
    """GetItem / BatchGetItem: each item rounded on its own (a missing item still costs one unit)."""
    total = 0.0
    n = 0
    for s in sizes:
        total += read_units(s, consistent)
        n += 1
    return total if n else read_units(0, consistent)


def scan_reads(sizes: Iterable[int], consistent: bool = True) -> float:
    """Query / Scan: the items read, summed, then rounded once."""
    return read_units(sum(sizes), consistent)


def gsi_writes(gsi_sizes: Iterable[int]) -> float:
    """The writes of the GSIs holding the item (-1: not in that index)."""
    return sum(write_units(s) for s in gsi_sizes if s >= 0)
