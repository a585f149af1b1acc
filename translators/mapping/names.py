"""CQL identifiers (quoting, parsing ``keyspace.table``) and DynamoDB table names."""

from __future__ import annotations

import re

_UNQUOTED = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_LOWER_UNQUOTED = re.compile(r"[a-z][a-z0-9_]*")
_DYNAMODB_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def quote_identifier(name: str) -> str:
    """A CQL identifier as it must be written: bare when lower-case, otherwise double-quoted."""
    if _LOWER_UNQUOTED.fullmatch(name):
        return name
    return '"' + name.replace('"', '""') + '"'


def _parse_identifier(s: str, pos: int) -> tuple[str, int]:
    if pos < len(s) and s[pos] == '"':
        out: list[str] = []
        i = pos + 1
        while i < len(s):
            if s[i] == '"':
                if i + 1 < len(s) and s[i + 1] == '"':
                    out.append('"')
                    i += 2
                    continue
                if not out:
                    raise ValueError("empty quoted identifier")
                return "".join(out), i + 1
            out.append(s[i])
            i += 1
        raise ValueError("unterminated quoted identifier")
    m = _UNQUOTED.match(s, pos)
    if not m:
        raise ValueError(f"expected an identifier at position {pos}")
    return m.group(0).lower(), m.end()


def parse_identifier(s: str) -> str:
    """One CQL identifier: unquoted names are lower-cased, quoted ones kept verbatim."""
    name, end = _parse_identifier(s.strip(), 0)
    if end != len(s.strip()):
        raise ValueError(f"{s!r} is not a single CQL identifier")
    return name


def parse_table_name(s: str) -> tuple[str, str]:
    """``keyspace.table`` (either part may be double-quoted) → (keyspace, table) as Cassandra stores them."""
    s = s.strip()
    try:
        ks, pos = _parse_identifier(s, 0)
        if pos >= len(s) or s[pos] != ".":
            raise ValueError("expected keyspace.table")
        table, pos = _parse_identifier(s, pos + 1)
        if pos != len(s):
            raise ValueError("unexpected characters after the table name")
    except ValueError as e:
        raise ValueError(f"{s!r} is not a valid keyspace.table name: {e}") from None
    return ks, table


def default_dynamodb_table_name(keyspace: str, table: str, prefix: str = "") -> str:
    """``<prefix><keyspace>.<table>`` with characters DynamoDB refuses replaced by ``_``."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{prefix}{keyspace}.{table}")
    return name[:255]


def check_dynamodb_name(name: str) -> str | None:
    """Why `name` is not a valid DynamoDB table or index name, or None when it is."""
    if not _DYNAMODB_NAME.fullmatch(name):
        return "must be 3-255 characters of a-z, A-Z, 0-9, '_', '-' and '.'"
    return None
