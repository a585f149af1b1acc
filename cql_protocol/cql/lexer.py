"""CQL tokenizer with Cassandra's lexical rules (src/antlr/Lexer.g).

Where several token rules match, the longest match wins, as in Cassandra: ``1h30m`` is one duration,
``123e4567-e89b-12d3-a456-426614174000`` one uuid, ``x-1`` lexes as ``x`` and the integer ``-1``,
``P1D`` is a duration but ``P1DX`` an identifier. Keywords come out as WORD tokens (the parser decides
which words are reserved); unquoted words are lower-cased, quoted names keep their case.
"""

from __future__ import annotations

import re
from typing import NoReturn

from ..errors import SyntaxError_

# Token kinds. Punctuation tokens use their own text as kind.
WORD = "WORD"
QNAME = "QNAME"
STRING = "STRING"
INTEGER = "INTEGER"
FLOAT = "FLOAT"
BOOLEAN = "BOOLEAN"
DURATION = "DURATION"
UUID = "UUID"
HEX = "HEX"
NEG_NAN = "NEG_NAN"
NEG_INF = "NEG_INF"
EOF = "EOF"

# Words that can never be identifiers (Cassandra's ReservedKeywords, 5.0).
# fmt: off
RESERVED = frozenset([
    "add", "allow", "alter", "and", "apply", "asc", "authorize", "batch", "begin", "by", "columnfamily",
    "create", "delete", "desc", "describe", "drop", "entries", "execute", "from", "full", "grant", "if",
    "in", "index", "infinity", "insert", "into", "is", "keyspace", "limit", "materialized", "modify",
    "nan", "norecursive", "not", "null", "of", "on", "or", "order", "primary", "rename", "revoke",
    "schema", "select", "set", "table", "to", "token", "truncate", "unlogged", "update", "use", "using",
    "view", "where", "with"
])

# Keywords usable as identifiers but not as function names.
UNRESERVED_NON_FUNCTION = frozenset([
    "ttl", "count", "writetime", "maxwritetime", "key", "cast", "json", "distinct"
])

NATIVE_TYPES = frozenset([
    "ascii", "bigint", "blob", "boolean", "counter", "date", "decimal", "double", "duration", "float",
    "inet", "int", "smallint", "text", "time", "timestamp", "timeuuid", "tinyint", "uuid", "varchar",
    "varint"
])

# Every other keyword of the grammar; they are identifiers wherever an identifier may stand.
UNRESERVED = frozenset([
    "access", "aggregate", "aggregates", "all", "ann", "as", "called", "cidrs", "cluster", "clustering",
    "compact", "contains", "custom", "datacenters", "default", "exists", "filtering", "finalfunc",
    "frozen", "function", "functions", "group", "hashed", "identity", "initcond", "input", "internals",
    "keys", "keyspaces", "language", "like", "list", "login", "map", "masked", "mbean", "mbeans",
    "nologin", "nosuperuser", "only", "options", "partition", "password", "per", "permission",
    "permissions", "replace", "returns", "role", "roles", "select_masked", "sfunc", "static", "storage",
    "stype", "superuser", "superusers", "tables", "trigger", "tuple", "type", "types", "unmask",
    "unset", "user", "users", "values", "vector"
]) | UNRESERVED_NON_FUNCTION | NATIVE_TYPES
# fmt: on

ALL_KEYWORDS = RESERVED | UNRESERVED | {"true", "false"}

_UNIT = r"(?:(?i:mo|ms|us|ns|y|w|d|h|m|s)|\u00b5[sS])"
_ISO_TIME = r"T(?:\d+H(?:\d+M)?(?:\d+S)?|\d+M(?:\d+S)?|\d+S)"
_ISO_DURATION = (
    r"-?P(?:\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"
    rf"|{_ISO_TIME}"
    r"|\d+W"
    rf"|(?:\d+Y(?:\d+M)?(?:\d+D)?|\d+M(?:\d+D)?|\d+D)(?:{_ISO_TIME})?"
    r")(?![A-Za-z0-9_])"  # P1DX is an identifier: the longest match wins
)
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

# The scanner dispatches on the first character; each class has its own small pattern, with the
# alternatives ordered so that the first match is the longest one.
_WS_RE = re.compile(r"[ \t\r\n]+")
_WORD_RE = re.compile(rf"(?P<uuid>{_UUID})|(?P<duration>{_ISO_DURATION})|(?P<word>[A-Za-z][A-Za-z0-9_]*)")
_NUMERIC_RE = re.compile(
    rf"(?P<uuid>{_UUID})"
    r"|(?P<hex>0[xX][0-9a-fA-F]*)"
    rf"|(?P<duration>-?\d+{_UNIT}(?:\d+{_UNIT})*|{_ISO_DURATION})"
    r"|(?P<number>-?\d+(?:\.(?!\.)\d*)?(?:[eE][+-]?\d+)?)"
    r"|(?P<negspecial>-(?i:nan|infinity)(?![A-Za-z0-9_]))"
)
_STRING_RE = re.compile(r"'(?:[^']|'')*'")
_PGSTRING_RE = re.compile(r"\$\$.*?\$\$", re.DOTALL)
_QNAME_RE = re.compile(r'"(?:[^"]|"")*"')
_LINE_COMMENT_RE = re.compile(r"[^\n\r]*")
_TWO_CHAR_OPS = frozenset({"..", "<=", ">=", "!=", "+=", "-="})
_ONE_CHAR_OPS = frozenset("()[]{},;.:=<>+-*/%?")
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_DIGITS = frozenset("0123456789")
_WHITESPACE = frozenset(" \t\r\n")


class Token:
    """One significant token. `value` is the decoded form (lower-cased word, unescaped string)."""

    __slots__ = ("end", "kind", "start", "value")

    def __init__(self, kind: str, value: str, start: int, end: int) -> None:
        self.kind = kind
        self.value = value
        self.start = start
        self.end = end

    def __repr__(self) -> str:
        return f"Token({self.kind}, {self.value!r}, {self.start}:{self.end})"


def tokenize(text: str, hidden: list[tuple[int, int]] | None = None) -> list[Token]:
    """Significant tokens of `text`, ending with an EOF token. Raises SyntaxError_ on lexical errors.

    Spans of whitespace and comments go to `hidden` when given (error snippets count them)."""
    tokens: list[Token] = []
    append = tokens.append
    pos = 0
    n = len(text)
    while pos < n:
        c = text[pos]
        if c in _WHITESPACE:
            m = _WS_RE.match(text, pos)
            assert m is not None
            end = m.end()
            if hidden is not None:
                hidden.append((pos, end))
            pos = end
            continue
        if c in _LETTERS:
            m = _WORD_RE.match(text, pos)
            assert m is not None
            end = m.end()
            kind = m.lastgroup
            if kind == "word":
                w = m.group().lower()
                append(Token(BOOLEAN if w == "true" or w == "false" else WORD, w, pos, end))
            else:
                append(Token(DURATION if kind == "duration" else UUID, m.group(), pos, end))
            pos = end
            continue
        nxt = text[pos + 1 : pos + 2]
        if c in _DIGITS or (c == "-" and nxt != "-"):
            m = _NUMERIC_RE.match(text, pos)
            if m is not None:
                end = m.end()
                kind = m.lastgroup
                v = m.group()
                if kind == "number":
                    append(Token(FLOAT if "." in v or "e" in v or "E" in v else INTEGER, v, pos, end))
                elif kind == "negspecial":
                    append(Token(NEG_NAN if v[1] in "nN" else NEG_INF, v, pos, end))
                else:
                    append(Token(_NUMERIC_KINDS[kind or ""], v, pos, end))
                pos = end
                continue
        if (c == "-" and nxt == "-") or (c == "/" and nxt == "/"):
            m = _LINE_COMMENT_RE.match(text, pos + 2)
            assert m is not None
            end = m.end()
        elif c == "/" and nxt == "*":
            close = text.find("*/", pos + 2)
            if close < 0:
                _unterminated(text, "*")
            end = close + 2
        elif c == "'":
            m = _STRING_RE.match(text, pos)
            if m is None:
                _unterminated(text, "'")
            end = m.end()
            append(Token(STRING, text[pos + 1 : end - 1].replace("''", "'"), pos, end))
            pos = end
            continue
        elif c == '"':
            m = _QNAME_RE.match(text, pos)
            if m is None:
                _unterminated(text, '"')
            end = m.end()
            append(Token(QNAME, text[pos + 1 : end - 1].replace('""', '"'), pos, end))
            pos = end
            continue
        elif c == "$" and nxt == "$":
            m = _PGSTRING_RE.match(text, pos)
            if m is None:
                _unterminated(text, "$")
            end = m.end()
            append(Token(STRING, text[pos + 2 : end - 2], pos, end))
            pos = end
            continue
        else:
            op = c + nxt
            if op not in _TWO_CHAR_OPS:
                if c not in _ONE_CHAR_OPS:
                    _bad_character(text, pos)
                op = c
            end = pos + len(op)
            append(Token(op, op, pos, end))
            pos = end
            continue
        if hidden is not None:  # a comment
            hidden.append((pos, end))
        pos = end
    append(Token(EOF, "<EOF>", n, n))
    return tokens


_NUMERIC_KINDS = {"uuid": UUID, "hex": HEX, "duration": DURATION}


def raw_spans(text: str) -> list[tuple[int, int]]:
    """Spans of all tokens including whitespace and comments (Cassandra counts those in error snippets)."""
    hidden: list[tuple[int, int]] = []
    try:
        tokens = tokenize(text, hidden)
    except SyntaxError_:
        return []
    spans = hidden + [(t.start, t.end) for t in tokens if t.kind != EOF]
    spans.sort()
    return spans


def _unterminated(text: str, closer: str) -> NoReturn:
    _raise_at(text, len(text), f"mismatched character '<EOF>' expecting '{closer}'")


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based line and 0-based column of `offset`, as in ANTLR error headers."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1)


def _raise_at(text: str, offset: int, message: str) -> NoReturn:
    line, col = line_col(text, offset)
    raise SyntaxError_(f"line {line}:{col} {message}")


def _bad_character(text: str, pos: int) -> NoReturn:
    _raise_at(text, pos, f"no viable alternative at character '{_escape(text[pos])}'")


def _escape(s: str) -> str:
    return s.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def error_display(text: str, token: Token) -> str:
    """The offending token as ANTLR prints it in messages."""
    if token.kind == EOF:
        return "'<EOF>'"
    return "'" + _escape(text[token.start : token.end]) + "'"


_FIRST_TOKEN_OFFSET = 10
_LAST_TOKEN_OFFSET = 2


def snippet(text: str, token: Token) -> str:
    """Cassandra's query snippet: up to 10 tokens before the offending one (whitespace included) and 2
    after, the offending token in brackets. Empty when the snippet would reach the end of input, which
    is what Cassandra does (its EOF token has no position)."""
    spans = raw_spans(text)
    if token.kind == EOF:
        return ""
    index = next((i for i, (s, _) in enumerate(spans) if s == token.start), None)
    if index is None:
        return ""
    first = max(0, index - _FIRST_TOKEN_OFFSET)
    last = index + _LAST_TOKEN_OFFSET
    if last >= len(spans):
        return ""
    lines = text.split("\n")
    while len(lines) > 1 and lines[-1] == "":
        lines.pop()
    f_line, f_col = line_col(text, spans[first][0])
    t_line, t_col = line_col(text, spans[last][0])
    o_line, o_col = line_col(text, spans[index][0])
    t_end = t_col + spans[last][1] - spans[last][0]
    o_end = o_col + spans[index][1] - spans[index][0]
    include_start = f_line == 1 and f_col == 0
    include_end = t_line == len(lines) and t_end == len(lines[-1])
    to_text = lines[t_line - 1]
    lines[t_line - 1] = to_text[:t_end]
    o_text = lines[o_line - 1]
    lines[o_line - 1] = o_text[:o_col] + "[" + o_text[o_col:o_end] + "]" + o_text[o_end:]
    lines[f_line - 1] = lines[f_line - 1][f_col:]
    body = "".join(lines[f_line - 1 : t_line])
    return " (" + ("" if include_start else "...") + body + ("" if include_end else "...") + ")"
