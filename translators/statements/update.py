"""UPDATE → row writes (assignments, collection and element updates) or counter writes."""

from __future__ import annotations

from cql_protocol.cql.ast import (
    Addition,
    Assignment,
    Prepend,
    SetElement,
    SetField,
    SetValue,
    Subtraction,
    Update,
)
from cql_protocol.primitives import UNSET
from cql_protocol.types import CqlType, ListType, MapType, SetType, UDTType
from translators.row_state import Mutation
from translators.statements.clauses import _Clauses, _Where
from translators.statements.common import _INT64, INT, _copy, _is_counter, _map_value, _multicell
from translators.statements.results import CounterWrite, RowKey, RowWrite, Write


class _Update(_Clauses):
    def update(self, s: Update, ts: int, expiry: int) -> list[Write]:
        for a in s.assignments:
            if a.column in self.pk or a.column in self.ck:
                raise self.invalid(f"PRIMARY KEY part {a.column} found in SET part")
            self.column(a.column)
        static_only = bool(s.assignments) and all(a.column in self.static for a in s.assignments)
        cond = self.condition_of(s)
        w = self.where(s.where, "UPDATE", allow_slice=False)
        self.check_conditional_in(w, cond, "updates")
        if static_only:
            if w.prefix:
                raise self.invalid("Invalid restrictions on clustering columns since the UPDATE statement "
                                   "modifies only static columns")
        elif w.prefix < len(self.ck):
            raise self.invalid(f"Some clustering keys are missing: {', '.join(self.ck[w.prefix:])}")

        if self.is_counter:
            if cond is not None:
                raise self.invalid("Conditional updates are not supported on counter tables")
            return self.counter_update(s, w)

        regular = Mutation(ts, expiry)
        static = Mutation(ts, expiry)
        for a in s.assignments:
            self.assign(static if a.column in self.static else regular, a)
        out: list[Write] = []
        for p in w.partitions:
            if regular.cells or regular.collection_ops:  # nothing to write when every value is unset
                for c in w.clusterings:
                    out.append(RowWrite(self.tm, RowKey(p, c), _copy(regular), cond))
            if static.cells or static.collection_ops:
                out.append(RowWrite(self.tm, RowKey(p, ()), _copy(static), cond))
        return out

    def assign(self, m: Mutation, a: Assignment) -> None:
        col = a.column
        t = self.types[col]
        kind = _multicell(t)
        if _is_counter(t):
            raise self.invalid(f"Invalid operation ({a.to_cql()}) for counter column {col} in a non-counter table")
        if isinstance(a, SetValue):
            self.set_column(m, col, self.value(a.value, t, col))
        elif isinstance(a, SetElement):
            self.set_element(m, a, t, kind)
        elif isinstance(a, SetField):
            if isinstance(t, UDTType) and not t.frozen:
                raise self.unsupported(f"setting a single field of a non-frozen user type ({a.to_cql()}) is not "
                                       f"supported; set the whole value of {col}")
            if isinstance(t, UDTType):
                raise self.invalid(f"Invalid operation ({a.to_cql()}) for frozen UDT column {col}")
            raise self.invalid(f"Invalid operation ({a.to_cql()}) for non-UDT column {col}")
        elif isinstance(a, Addition | Subtraction | Prepend):
            self.collection_update(m, a, t, kind)
        else:  # pragma: no cover - the parser makes no other assignment
            raise self.unsupported(f"unsupported assignment {a.to_cql()}")

    def set_element(self, m: Mutation, a: SetElement, t: CqlType, kind: str | None) -> None:
        col = a.column
        if kind == "list":
            assert isinstance(t, ListType)
            idx = self.value(a.key, INT, f"idx({col})")
            if idx is None:
                raise self.invalid("Invalid null value for list index")
            if idx is UNSET:
                raise self.invalid("Invalid unset value for list index")
            v = self.value(a.value, t.element, f"value({col})")
            if v is UNSET:
                return
            m.collection_ops.append((col, "list:set_index", (idx, v)))
        elif kind == "map":
            assert isinstance(t, MapType)
            k = self.value(a.key, t.key, f"key({col})")
            if k is None:
                raise self.invalid("Invalid null map key")
            if k is UNSET:
                raise self.invalid("Invalid unset map key")
            v = self.value(a.value, t.value, f"value({col})")
            if v is UNSET:
                return
            if v is None:
                m.collection_ops.append((col, "map:remove_keys", [k]))
            else:
                m.collection_ops.append((col, "map:put", _map_value([(k, v)])))
        elif isinstance(t, ListType | MapType):
            raise self.invalid(f"Invalid operation ({a.to_cql()}) for frozen collection column {col}")
        else:
            raise self.invalid(f"Invalid operation ({a.to_cql()}) for non list or map column {col}")

    def collection_update(self, m: Mutation, a: Addition | Subtraction | Prepend, t: CqlType,
                          kind: str | None) -> None:
        col = a.column
        if kind is None:
            if isinstance(t, ListType | SetType | MapType):
                raise self.invalid(f"Invalid operation ({a.to_cql()}) for frozen collection column {col}")
            what = "list" if isinstance(a, Prepend) else "counter"
            raise self.invalid(f"Invalid operation ({a.to_cql()}) for non {what} column {col}")
        if isinstance(a, Prepend) and kind != "list":
            raise self.invalid(f"Invalid operation ({a.to_cql()}) for non list column {col}")
        if kind == "map" and isinstance(a, Subtraction):
            assert isinstance(t, MapType)
            v = self.value(a.value, SetType(t.key), col)  # m = m - {k1, k2}: a set of keys
            op = "map:remove_keys"
        else:
            v = self.value(a.value, t, col)
            op = {
                ("list", Addition): "list:append", ("list", Subtraction): "list:remove_values",
                ("list", Prepend): "list:prepend", ("set", Addition): "set:add",
                ("set", Subtraction): "set:remove", ("map", Addition): "map:put",
            }[(kind, type(a))]
        if v is None or v is UNSET:
            return  # adding or removing nothing
        m.collection_ops.append((col, op, v))

    def counter_update(self, s: Update, w: _Where) -> list[Write]:
        deltas: dict[str, int] = {}
        for a in s.assignments:
            t = self.types[a.column]
            if not _is_counter(t):  # pragma: no cover - counter tables hold only counters
                raise self.invalid(f"Cannot mix counter and non counter columns in the same table ({a.column})")
            if isinstance(a, SetValue):
                raise self.invalid(f"Cannot set the value of counter column {a.column} (counters can only be "
                                   f"incremented/decremented, not set)")
            if not isinstance(a, Addition | Subtraction):
                raise self.invalid(f"Invalid operation ({a.to_cql()}) for counter column {a.column}")
            v = self.value(a.value, t, a.column)
            if v is None:
                raise self.invalid("Invalid null value for counter increment/decrement")
            if v is UNSET:
                continue
            d = int(v)
            if isinstance(a, Subtraction):
                if d == _INT64[0]:
                    raise self.invalid(f"The negation of {d} overflows supported counter precision "
                                       f"(signed 8 bytes integer)")
                d = -d
            deltas[a.column] = deltas.get(a.column, 0) + d
        out: list[Write] = []
        if not deltas:
            return out
        static = {c: d for c, d in deltas.items() if c in self.static}
        regular = {c: d for c, d in deltas.items() if c not in self.static}
        for p in w.partitions:
            if regular:
                for c in w.clusterings:
                    out.append(CounterWrite(self.tm, RowKey(p, c), dict(regular)))
            if static:
                out.append(CounterWrite(self.tm, RowKey(p, ()), dict(static)))
        return out
