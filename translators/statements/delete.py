"""DELETE → row writes (columns, elements, fields, rows) or range deletions."""

from __future__ import annotations

from cql_protocol.cql.ast import ColumnRef, Delete, ElementRef, FieldRef
from cql_protocol.primitives import UNSET
from cql_protocol.types import ListType, MapType, SetType, UDTType
from translators.row_state import Mutation
from translators.statements.clauses import _Clauses
from translators.statements.common import INT, _copy, _multicell
from translators.statements.results import RangeDelete, RowKey, RowWrite, Write


class _Delete(_Clauses):
    def delete(self, s: Delete, ts: int) -> list[Write]:
        cond = self.condition_of(s)
        for tg in s.targets:
            col = tg.name if isinstance(tg, ColumnRef) else tg.column
            self.column(col)
            if col in self.pk or col in self.ck:
                raise self.invalid(f"Invalid identifier {col} for deletion (should not be a PRIMARY KEY part)")
        w = self.where(s.where, "DELETE", allow_slice=not s.targets)
        self.check_conditional_in(w, cond, "deletions")
        n = len(self.ck)
        out: list[Write] = []
        if not s.targets:
            full = w.prefix == n and w.lower is None and w.upper is None
            if cond is not None and not full and (w.prefix or w.lower or w.upper):
                raise self.invalid("DELETE statements must restrict all PRIMARY KEY columns with equality relations"
                                   " in order to use IF conditions")
            for p in w.partitions:
                for c in w.clusterings:
                    if full:
                        out.append(RowWrite(self.tm, RowKey(p, c), Mutation(ts, delete_row=True), cond))
                    else:
                        out.append(RangeDelete(self.tm, p, c, w.lower, w.upper, ts, cond))
            return out

        static_only = all((t.name if isinstance(t, ColumnRef) else t.column) in self.static for t in s.targets)
        if static_only:
            if w.prefix:
                raise self.invalid("Invalid restrictions on clustering columns since the DELETE statement "
                                   "modifies only static columns")
        elif w.prefix < n:
            raise self.invalid("Range deletions are not supported for specific columns")
        regular = Mutation(ts)
        static = Mutation(ts)
        for tg in s.targets:
            col = tg.name if isinstance(tg, ColumnRef) else tg.column
            self.delete_target(static if col in self.static else regular, tg)
        for p in w.partitions:
            if not static_only and (regular.cells or regular.collection_ops):
                for c in w.clusterings:
                    out.append(RowWrite(self.tm, RowKey(p, c), _copy(regular), cond))
            if static.cells or static.collection_ops:
                out.append(RowWrite(self.tm, RowKey(p, ()), _copy(static), cond))
        return out

    def delete_target(self, m: Mutation, tg: ColumnRef | ElementRef | FieldRef) -> None:
        if isinstance(tg, ColumnRef):
            kind = _multicell(self.types[tg.name])
            if kind is None:
                m.cells[tg.name] = None
            else:
                m.collection_ops.append((tg.name, f"{kind}:delete", None))
            return
        col = tg.column
        t = self.types[col]
        kind = _multicell(t)
        if isinstance(tg, FieldRef):
            if isinstance(t, UDTType) and not t.frozen:
                raise self.unsupported(f"deleting a single field of a non-frozen user type ({tg.to_cql()}) is not "
                                       f"supported; set the whole value of {col}")
            if isinstance(t, UDTType):
                raise self.invalid(f"Frozen UDT column {col} does not support field deletion")
            raise self.invalid(f"Invalid deletion operation for non-UDT column {col}")
        if kind == "list":
            idx = self.value(tg.key, INT, f"idx({col})")
            if idx is None:
                raise self.invalid("Invalid null value for list index")
            if idx is UNSET:
                raise self.invalid("Invalid unset value for list index")
            m.collection_ops.append((col, "list:set_index", (idx, None)))
        elif kind == "map":
            assert isinstance(t, MapType)
            k = self.value(tg.key, t.key, f"key({col})")
            if k is None:
                raise self.invalid("Invalid null map key")
            if k is UNSET:
                raise self.invalid("Invalid unset map key")
            m.collection_ops.append((col, "map:remove_keys", [k]))
        elif kind == "set":
            assert isinstance(t, SetType)
            e = self.value(tg.key, t.element, f"value({col})")
            if e is None:
                raise self.invalid("Invalid null set element")
            if e is UNSET:
                raise self.invalid("Invalid unset set element")
            m.collection_ops.append((col, "set:remove", [e]))
        elif isinstance(t, ListType | SetType | MapType):
            raise self.invalid(f"Invalid deletion operation for frozen collection column {col}")
        else:
            raise self.invalid(f"Invalid deletion operation for non collection column {col}")
