"""Cheap statement classification for routing, without a full parse.

``classify(cql)`` returns ``(kind, keyspace, table)``. Kinds: SELECT, INSERT, UPDATE, DELETE, BATCH,
USE, and for statements outside the translated subset the statement's name (``CREATE TABLE``,
``DROP KEYSPACE``, ``ALTER TABLE``, ``TRUNCATE``, ``CREATE INDEX``, ``GRANT``, ``LIST ROLES``,
``DESCRIBE``, ...); UNKNOWN when the text starts with nothing recognisable. `keyspace` is the one
written in the statement (None when unqualified: the session's keyspace applies). `table` is the
table the statement reads or changes (for CREATE INDEX and CREATE/DROP TRIGGER the indexed table, for
materialized views the view); None for BATCH (parse it to see its tables) and for statements on
keyspaces, types, functions and roles. For USE and keyspace DDL, `keyspace` is the keyspace named.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator

from .lexer import QNAME, WORD, Token

SELECT = "SELECT"
INSERT = "INSERT"
UPDATE = "UPDATE"
DELETE = "DELETE"
BATCH = "BATCH"
USE = "USE"
UNKNOWN = "UNKNOWN"
TRANSLATED_KINDS = frozenset({SELECT, INSERT, UPDATE, DELETE, BATCH, USE})

# Only what routing needs: words, quoted names, and everything else as single characters, with
# strings and comments skipped whole so that their contents are never mistaken for keywords.
_LIGHT_RE = re.compile(
    r"""
     [ \t\r\n]+ | --[^\n\r]* | //[^\n\r]* | /\*.*?(?:\*/|\Z)
    |(?P<s>'(?:[^']|'')*'?|\$\$.*?(?:\$\$|\Z))
    |(?P<q>"(?:[^"]|"")*"?)
    |(?P<w>[A-Za-z][A-Za-z0-9_]*)
    |(?P<o>.)
    """,
    re.VERBOSE | re.DOTALL,
)

_Pair = tuple[str, str]  # ("w", lower-cased word) | ("q", quoted name) | ("o", other)

_OBJECTS = {
    "keyspace": "KEYSPACE",
    "schema": "KEYSPACE",
    "table": "TABLE",
    "columnfamily": "TABLE",
    "index": "INDEX",
    "type": "TYPE",
    "function": "FUNCTION",
    "aggregate": "AGGREGATE",
    "trigger": "TRIGGER",
    "user": "USER",
    "role": "ROLE",
    "identity": "IDENTITY",
}


def _light_pairs(text: str) -> Iterator[_Pair]:
    pos = 0
    n = len(text)
    match = _LIGHT_RE.match
    while pos < n:
        m = match(text, pos)
        if m is None:  # pragma: no cover - the last alternative matches any character
            return
        pos = m.end()
        kind = m.lastgroup
        if kind == "w":
            yield "w", m.group().lower()
        elif kind == "q":
            raw = m.group()
            body = raw[1:-1] if len(raw) > 1 and raw.endswith('"') else raw[1:]
            yield "q", body.replace('""', '"')
        elif kind == "s":
            yield "s", ""
        elif kind == "o":
            yield "o", m.group()


def _token_pairs(tokens: Iterable[Token]) -> Iterator[_Pair]:
    for t in tokens:
        if t.kind == WORD:
            yield "w", t.value
        elif t.kind == QNAME:
            yield "q", t.value
        else:
            yield "o", t.kind


class _Cursor:
    __slots__ = ("buf", "it")

    def __init__(self, it: Iterator[_Pair]) -> None:
        self.it = it
        self.buf: list[_Pair] = []

    def peek(self) -> _Pair | None:
        if not self.buf:
            nxt = next(self.it, None)
            if nxt is None:
                return None
            self.buf.append(nxt)
        return self.buf[0]

    def next(self) -> _Pair | None:
        p = self.peek()
        if p is not None:
            self.buf.pop()
        return p

    def word(self) -> str | None:
        p = self.peek()
        if p is not None and p[0] == "w":
            self.buf.pop()
            return p[1]
        return None

    def skip_words(self, *words: str) -> None:
        while True:
            p = self.peek()
            if p is None or p[0] != "w" or p[1] not in words:
                return
            self.buf.pop()

    def skip_to(self, word: str) -> bool:
        while True:
            p = self.next()
            if p is None:
                return False
            if p == ("w", word):
                return True

    def name(self) -> str | None:
        p = self.peek()
        if p is not None and p[0] in ("w", "q"):
            self.buf.pop()
            return p[1]
        return None

    def qualified(self) -> tuple[str | None, str | None]:
        first = self.name()
        if first is None:
            return None, None
        if self.peek() == ("o", "."):
            self.buf.pop()
            return first, self.name()
        return None, first


def _classify(c: _Cursor) -> tuple[str, str | None, str | None]:
    w = c.word()
    if w == "select" or w == "delete":
        if not c.skip_to("from"):
            return w.upper(), None, None
        ks, t = c.qualified()
        return w.upper(), ks, t
    if w == "insert":
        c.skip_words("into")
        ks, t = c.qualified()
        return INSERT, ks, t
    if w == "update":
        ks, t = c.qualified()
        return UPDATE, ks, t
    if w == "begin":
        return BATCH, None, None
    if w == "use":
        return USE, c.name(), None
    if w == "truncate":
        c.skip_words("table", "columnfamily")
        ks, t = c.qualified()
        return "TRUNCATE", ks, t
    if w in ("create", "alter", "drop"):
        return _ddl(w, c)
    if w in ("grant", "revoke"):
        return w.upper(), None, None
    if w == "list":
        what = c.word()
        if what in ("roles", "users", "superusers"):
            return f"LIST {what.upper()}", None, None
        return "LIST PERMISSIONS", None, None
    if w in ("describe", "desc"):
        return "DESCRIBE", None, None
    if w == "add":
        return "ADD IDENTITY", None, None
    return UNKNOWN, None, None


def _ddl(verb: str, c: _Cursor) -> tuple[str, str | None, str | None]:
    if verb == "create" and c.peek() == ("w", "or"):
        c.skip_words("or", "replace")
    obj = c.word()
    if obj == "custom":
        obj = c.word()
    if obj == "materialized":
        c.skip_words("view")
        what = "MATERIALIZED VIEW"
    elif obj is not None and obj in _OBJECTS:
        what = _OBJECTS[obj]
    else:
        return verb.upper(), None, None
    kind = f"{verb.upper()} {what}"
    if c.peek() == ("w", "if"):
        c.skip_words("if", "not", "exists")
    if what == "KEYSPACE":
        return kind, c.name(), None
    if what in ("TABLE", "MATERIALIZED VIEW"):
        ks, t = c.qualified()
        return kind, ks, t
    if what == "INDEX":
        if verb == "create":
            if not c.skip_to("on"):
                return kind, None, None
            ks, t = c.qualified()
            return kind, ks, t
        ks, _ = c.qualified()
        return kind, ks, None
    if what == "TRIGGER":
        if not c.skip_to("on"):
            return kind, None, None
        ks, t = c.qualified()
        return kind, ks, t
    if what in ("TYPE", "FUNCTION", "AGGREGATE"):
        ks, _ = c.qualified()
        return kind, ks, None
    return kind, None, None


@functools.lru_cache(maxsize=4096)
def classify(statement: str) -> tuple[str, str | None, str | None]:
    """(kind, keyspace, table) of `statement`; never raises. See the module docstring."""
    return _classify(_Cursor(_light_pairs(statement)))


def unsupported_kind(tokens: Iterable[Token]) -> str | None:
    """The statement kind when `tokens` start a statement outside the translated subset."""
    kind = _classify(_Cursor(_token_pairs(tokens)))[0]
    return None if kind in TRANSLATED_KINDS or kind == UNKNOWN else kind
