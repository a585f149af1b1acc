"""Non-deterministic calls become literals the statement text can carry."""

from __future__ import annotations

import uuid

from cql_protocol.cql import parse
from translators.pin_functions import pin

T = 1_800_000_000.5


def test_calls_become_constants_and_the_text_still_parses():
    stmt, changed = pin(parse("INSERT INTO t (id, at, d, u, ts, tm) VALUES (now(), toTimestamp(now()), "
                              "currentDate(), uuid(), currentTimestamp(), currentTime())"), T)
    assert changed
    text = stmt.to_cql()
    assert "now()" not in text and "uuid()" not in text
    assert "1800000000500" in text and "'2027-01-15'" in text
    assert parse(text) == stmt
    ids = [v.value for v in stmt.values if isinstance(v.value, uuid.UUID)]
    assert ids[0].version == 1 and ids[1].version == 4


def test_statements_without_such_calls_are_untouched():
    stmt = parse("UPDATE t SET a = blobAsText(0x61) WHERE id = 1")
    same, changed = pin(stmt, T)
    assert not changed and same is stmt


def test_batches_are_pinned_statement_by_statement():
    stmt, changed = pin(parse("BEGIN BATCH INSERT INTO t (id) VALUES (now()); "
                              "UPDATE t SET x = uuid() WHERE id = 2; APPLY BATCH"), T)
    assert changed and "now()" not in stmt.to_cql() and "uuid()" not in stmt.to_cql()
