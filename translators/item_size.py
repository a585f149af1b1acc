"""The size DynamoDB counts for an item and its attribute values (400 KB limit)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from translators.cql_values import _b64decode

if TYPE_CHECKING:
    from translators.values import Attribute

MAX_ITEM_SIZE = 400 * 1024


def number_size(text: str) -> int:
    """Bytes DynamoDB counts for a number: 1 per two significant digits, plus 1."""
    s = text.lstrip("+-")
    e = s.find("E")
    if e < 0:
        e = s.find("e")
    if e >= 0:
        s = s[:e]
    n = len(s.replace(".", "").strip("0")) or 1
    return (n + 1) // 2 + 1


def attribute_size(a: Attribute) -> int:
    """Bytes an attribute value counts for (without its name), per the DynamoDB item size rules."""
    if "S" in a:
        return _utf8_len(a["S"])
    if "N" in a:
        return number_size(a["N"])
    if "B" in a:
        return _binary_len(a["B"])
    if "BOOL" in a or "NULL" in a:
        return 1
    if "L" in a:
        return 3 + sum(1 + attribute_size(x) for x in a["L"])
    if "M" in a:
        return 3 + sum(1 + _utf8_len(k) + attribute_size(x) for k, x in a["M"].items())
    if "SS" in a:
        return sum(_utf8_len(s) for s in a["SS"])
    if "NS" in a:
        return sum(number_size(s) for s in a["NS"])
    if "BS" in a:
        return sum(_binary_len(b) for b in a["BS"])
    raise ValueError(f"not an attribute value: {a!r}")


def item_size(item: Mapping[str, Attribute]) -> int:
    """The size DynamoDB counts for an item (400 KB limit): names plus values; lists and maps
    add 3 bytes, and 1 byte per element."""
    return sum(_utf8_len(name) + attribute_size(a) for name, a in item.items())


def _utf8_len(s: str) -> int:
    return len(s) if s.isascii() else len(s.encode("utf-8", "surrogatepass"))


def _binary_len(b: Any) -> int:
    if isinstance(b, str):  # JSON-level base64
        return len(_b64decode(b))
    return len(b)
