"""INSERT and INSERT JSON → row writes."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from cql_protocol.cql.ast import Insert
from cql_protocol.primitives import UNSET
from translators.row_state import Mutation
from translators.statements.clauses import _Clauses
from translators.statements.common import TEXT
from translators.statements.json_values import _json_names, _no_json_constant
from translators.statements.results import RowKey, RowWrite, Write


class _Insert(_Clauses):
    def insert(self, s: Insert, ts: int, expiry: int) -> list[Write]:
        if self.is_counter:
            raise self.invalid("INSERT statements are not allowed on counter tables, use UPDATE instead")
        given: dict[str, Any] = {}
        if s.json is not None:
            given = self.json_row(s)
        else:
            for col, term in zip(s.columns, s.values, strict=True):
                given[col] = self.value(term, self.column(col), col)
        key = {c: given.pop(c) for c in (*self.pk, *self.ck) if c in given}
        missing = [c for c in self.pk if c not in key]
        if missing:
            raise self.invalid(f"Some partition key parts are missing: {', '.join(missing)}")
        for c, v in key.items():
            self.check_key(c, v)
        statics = {c: v for c, v in given.items() if c in self.static}
        regular = {c: v for c, v in given.items() if c not in self.static}
        has_ck = any(c in key for c in self.ck)
        static_only = bool(statics) and not regular and not has_ck
        missing = [c for c in self.ck if c not in key]
        if missing and not static_only:
            raise self.invalid(f"Some clustering keys are missing: {', '.join(missing)}")
        partition = tuple(key[c] for c in self.pk)
        cond = self.condition_of(s)
        out: list[Write] = []
        if not static_only:
            m = Mutation(ts, expiry, row_marker=True)
            for c, v in regular.items():
                self.set_column(m, c, v)
            out.append(RowWrite(self.tm, RowKey(partition, tuple(key[c] for c in self.ck)), m, cond))
        if statics and any(v is not UNSET for v in statics.values()):
            m = Mutation(ts, expiry)
            for c, v in statics.items():
                self.set_column(m, c, v)
            out.append(RowWrite(self.tm, RowKey(partition, ()), m, cond))
        return out

    # -- INSERT JSON -------------------------------------------------------------------------

    def json_row(self, s: Insert) -> dict[str, Any]:
        assert s.json is not None
        text = self.value(s.json, TEXT, "[json]")
        if text is None:
            raise self.invalid("Got null for INSERT JSON values")
        if text is UNSET:
            raise self.invalid("Invalid unset value for INSERT JSON")
        try:
            obj = json.loads(text, parse_float=Decimal, parse_constant=_no_json_constant)
        except ValueError as e:
            raise self.invalid(f"Could not decode JSON string as a map: {e}. (String was: {text})") from None
        if obj is None:
            raise self.invalid("Got null for INSERT JSON values")
        if not isinstance(obj, dict):
            raise self.invalid(f"Could not decode JSON string as a map: not a JSON object. (String was: {text})")
        by_column = _json_names(obj)
        out: dict[str, Any] = {}
        for col, t in self.types.items():
            if col in by_column:
                raw = by_column.pop(col)
                out[col] = None if raw is None else self.from_json(t, raw, col)
            elif col in self.pk or col in self.ck:
                continue  # reported as a missing key part
            else:
                out[col] = UNSET if s.json_default_unset else None
        if by_column:
            raise self.invalid(f"JSON values map contains unrecognized column: {next(iter(by_column))}")
        return out
