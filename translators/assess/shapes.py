"""A statement's shape: its text with every literal replaced by `?`, so the same statement with
other values counts as one (`INSERT ... VALUES (1, 'a')` and `(2, 'b')` are one shape). Pure."""

from __future__ import annotations

import re

from cql_protocol.cql import lexer
from cql_protocol.cql.lexer import EOF, QNAME, WORD, Token, tokenize
from cql_protocol.errors import CQLError

_LITERALS = frozenset({lexer.STRING, lexer.INTEGER, lexer.FLOAT, lexer.BOOLEAN, lexer.DURATION, lexer.UUID, lexer.HEX,
                       lexer.NEG_NAN, lexer.NEG_INF})
MAX_SHAPE_CHARS = 400  # longer texts are cut: a shape names a statement, it does not store it


def normalise(query: str) -> str:
    """The shape of `query`: tokens joined by one space, literals as `?`, a list of markers in
    IN (...) as one `?` (IN with 2 or 20 values is one shape), quoted names kept quoted."""
    try:
        tokens = tokenize(query)
    except CQLError:
        return _cut(" ".join(query.split()))
    out: list[str] = []
    marker = False  # the last token was the `:` of a named marker
    for i, t in enumerate(tokens):
        kind = t.kind
        if kind == EOF:
            break
        if marker:
            marker = False
            if kind in (WORD, QNAME):
                out.append("?")
                continue
            out.append(":")
        if kind == ":" and (not out or (out[-1] not in ("?", ")", "}", "]") and not _name(tokens, i - 1))):
            marker = True
            continue
        if kind in _LITERALS:
            out.append("?")
        elif kind == WORD:
            out.append(t.value)
        elif kind == QNAME:
            out.append('"' + t.value.replace('"', '""') + '"')
        else:
            out.append(query[t.start:t.end])
    return _cut(_fold_lists(out))


def _name(tokens: list[Token], i: int) -> bool:
    """Whether token `i` is a name (a UDT literal's field before its `:`)."""
    return i >= 0 and tokens[i].kind in (WORD, QNAME)


_MAP_RUN = re.compile(r"\? : \?(?: , \? : \?)+")
_LIST_RUN = re.compile(r"\?(?: , \?)+")


def _fold_lists(tokens: list[str]) -> str:
    """`(?, ?, ?)` → `(?)`, `{? : ?, ? : ?}` → `{? : ?}`: how many values an IN list or a
    collection literal holds is not part of the shape."""
    text = " ".join(t for t in tokens if t != ";")
    text = _LIST_RUN.sub("?", _MAP_RUN.sub("? : ?", text))
    return _tighten(text)


def _tighten(text: str) -> str:
    """No space around `.` and inside brackets; one after a comma."""
    text = re.sub(r" ?\. ?", ".", text)
    text = re.sub(r"([(\[{]) ", r"\1", text)
    text = re.sub(r" ([)\]}])", r"\1", text)
    return text.replace(" ,", ",")


def _cut(text: str) -> str:
    return text if len(text) <= MAX_SHAPE_CHARS else text[:MAX_SHAPE_CHARS - 3] + "..."
