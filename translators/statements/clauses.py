"""The clauses INSERT, UPDATE and DELETE share: USING TIMESTAMP and TTL, IF conditions, the columns
set, and WHERE (the partition keys and clustering prefixes it names)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cql_protocol.cql.ast import (
    ColumnRef,
    ColumnTuple,
    Delete,
    ElementRef,
    Insert,
    InValues,
    Operator,
    Relation,
    TokenRef,
    Update,
)
from cql_protocol.primitives import UNSET
from cql_protocol.types import CqlType, ListType, TupleType, serialize
from translators.row_state import Mutation
from translators.statements.common import _MAX_TTL, BIGINT, INT, _multicell
from translators.statements.results import LwtCondition
from translators.statements.terms import _Terms

_CHECK_OPS = frozenset({Operator.EQ, Operator.NEQ, Operator.LT, Operator.LTE, Operator.GT, Operator.GTE})


@dataclass
class _Where:
    partitions: list[tuple[Any, ...]]
    clusterings: list[tuple[Any, ...]]  # all of the same length: the restricted prefix
    prefix: int
    lower: tuple[Any, bool] | None = None
    upper: tuple[Any, bool] | None = None
    has_in: tuple[bool, bool] = (False, False)  # (partition key, clustering)


class _Clauses(_Terms):
    def using_timestamp(self, term: Any) -> int | None:
        v = self.value(term, BIGINT, "[timestamp]")
        if v is None:
            raise self.invalid("Invalid null value of timestamp")
        if v is UNSET:
            return None
        return int(v)

    def using_ttl(self, term: Any) -> int:
        v = self.value(term, INT, "[ttl]")
        if v is None or v is UNSET:
            return 0
        ttl = int(v)
        if ttl < 0:
            raise self.invalid(f"A TTL must be greater or equal to 0, but was {ttl}")
        if ttl > _MAX_TTL:
            raise self.invalid(f"ttl is too large. requested ({ttl}) maximum ({_MAX_TTL})")
        return ttl

    def condition_of(self, s: Insert | Update | Delete) -> LwtCondition | None:
        if isinstance(s, Insert):
            return LwtCondition(if_not_exists=True) if s.if_not_exists else None
        if not (s.if_exists or s.conditions):
            return None
        checks: list[tuple[str, str, Any]] = []
        for c in s.conditions:
            lhs = c.lhs
            if not isinstance(lhs, ColumnRef) or c.operator not in _CHECK_OPS or isinstance(c.value, InValues):
                return LwtCondition(if_exists=s.if_exists, conditions=s.conditions, checks=None,
                                    unresolved=c.to_cql())
            t = self.column(lhs.name)
            v = self.value(c.value, t, lhs.name)
            if v is UNSET:
                raise self.invalid(f"Invalid unset value for column {lhs.name}")
            checks.append((lhs.name, c.operator.value, v))
        return LwtCondition(if_exists=s.if_exists, conditions=s.conditions, checks=tuple(checks))

    def set_column(self, m: Mutation, col: str, v: Any) -> None:
        """`col = v` (an INSERT value or an UPDATE assignment)."""
        if v is UNSET:
            return
        t = self.types[col]
        kind = _multicell(t)
        if kind is None:
            m.cells[col] = v
        elif v is None:
            m.collection_ops.append((col, f"{kind}:overwrite", {} if kind == "map" else []))
        else:
            m.collection_ops.append((col, f"{kind}:overwrite", v))

    def check_key(self, col: str, v: Any) -> None:
        if v is UNSET:
            raise self.invalid(f"Invalid unset value for column {col}")
        if v is None:
            part = "partition key part" if col in self.pk else "clustering key part"
            raise self.invalid(f"Invalid null value for {part} {col}")
        if len(self.pk) == 1 and col in self.pk and v in ("", b""):
            raise self.invalid("Key may not be empty")

    def check_conditional_in(self, w: _Where, cond: LwtCondition | None, what: str) -> None:
        if cond is None:
            return
        if w.has_in[0]:
            raise self.invalid(f"IN on the partition key is not supported with conditional {what}")
        if w.has_in[1]:
            raise self.invalid(f"IN on the clustering key columns is not supported with conditional {what}")

    def where(self, where: Sequence[Any], kind: str, allow_slice: bool) -> _Where:
        """The partition keys and clustering prefixes a WHERE clause names (IN expanded)."""
        eq: dict[str, int] = {}  # column → index of its group
        groups: list[tuple[tuple[str, ...], list[tuple[Any, ...]]]] = []
        slice_col: str | None = None
        lower: tuple[Any, bool] | None = None
        upper: tuple[Any, bool] | None = None
        in_pk = in_ck = False
        for r in where:
            if not isinstance(r, Relation):
                raise self.invalid(f"Custom index expressions are not supported in {kind} statements")
            lhs = r.lhs
            if isinstance(lhs, TokenRef):
                raise self.invalid(f"The token function cannot be used in WHERE clauses for {kind} statements")
            if isinstance(lhs, ElementRef):
                raise self.invalid(f"Non PRIMARY KEY columns found in where clause: {lhs.column}")
            cols = lhs.columns if isinstance(lhs, ColumnTuple) else (lhs.name,)
            for c in cols:
                self.column(c)
                if c not in self.pk and c not in self.ck:
                    raise self.invalid(f"Non PRIMARY KEY columns found in where clause: {c}")
            op = r.operator
            if op in (Operator.LT, Operator.LTE, Operator.GT, Operator.GTE):
                if any(c in self.pk for c in cols):
                    raise self.invalid("Only EQ and IN relation are supported on the partition key (unless you use "
                                       "the token() function)")
                if not allow_slice:
                    if kind == "DELETE":
                        raise self.invalid("Range deletions are not supported for specific columns")
                    raise self.invalid(f"Slice restrictions are not supported on the clustering columns in {kind} "
                                       f"statements")
                if len(cols) > 1:
                    raise self.unsupported(f"multi-column slice restrictions ({r.to_cql()}) in DELETE are not "
                                           f"supported; restrict a single clustering column")
                c = cols[0]
                if slice_col is not None and slice_col != c:
                    raise self.invalid(f"Clustering column \"{c}\" cannot be restricted (preceding column "
                                       f"\"{slice_col}\" is restricted by a non-EQ relation)")
                slice_col = c
                v = self.value(r.value, self.types[c], c)
                if v is None or v is UNSET:
                    raise self.invalid(f"Invalid {'null' if v is None else 'unset'} value for column {c}")
                bound = (v, op in (Operator.LTE, Operator.GTE))
                if op in (Operator.GT, Operator.GTE):
                    if lower is not None:
                        raise self.invalid(f"More than one restriction was found for the start bound on {c}")
                    lower = bound
                else:
                    if upper is not None:
                        raise self.invalid(f"More than one restriction was found for the end bound on {c}")
                    upper = bound
                continue
            if op not in (Operator.EQ, Operator.IN):
                raise self.invalid(f"Unsupported \"{op.value}\" relation: {r.to_cql()} in {kind} statements")
            if len(cols) > 1:
                if any(c in self.pk for c in cols):
                    raise self.invalid(f"Multi-column relations can only be applied to clustering columns but was "
                                       f"applied to: {next(c for c in cols if c in self.pk)}")
                pos = [self.ck.index(c) for c in cols]
                if pos != list(range(pos[0], pos[0] + len(pos))):
                    raise self.invalid(f"Clustering columns must appear in the PRIMARY KEY order in multi-column "
                                       f"relations: {lhs.to_cql()}")
            rows = self.relation_values(r, cols, op)
            for c in cols:
                if c in eq:
                    raise self.invalid(f"{c} cannot be restricted by more than one relation if it includes an Equal")
                eq[c] = len(groups)
            if op is Operator.IN:
                if cols[0] in self.pk:
                    in_pk = True
                else:
                    in_ck = True
            groups.append((cols, rows))

        missing = [c for c in self.pk if c not in eq]
        if missing:
            raise self.invalid(f"Some partition key parts are missing: {', '.join(missing)}")
        partitions = self.combine([groups[eq[c]] for c in self.pk], self.pk)

        # clustering: a prefix of EQ/IN restrictions, then at most one slice on the next column
        chosen: list[tuple[tuple[str, ...], list[tuple[Any, ...]]]] = []
        i = 0
        while i < len(self.ck) and self.ck[i] in eq:
            g = groups[eq[self.ck[i]]]
            chosen.append(g)
            i += len(g[0])
        prefix = i
        for c in self.ck[prefix:]:
            if c in eq:
                if slice_col is not None and self.ck.index(slice_col) < self.ck.index(c):
                    raise self.invalid(f"Clustering column \"{c}\" cannot be restricted (preceding column "
                                       f"\"{slice_col}\" is restricted by a non-EQ relation)")
                prev = self.ck[self.ck.index(c) - 1]
                raise self.invalid(f"PRIMARY KEY column \"{c}\" cannot be restricted as preceding column "
                                   f"\"{prev}\" is not restricted")
        if slice_col is not None:
            at = self.ck.index(slice_col)
            if at < prefix:
                raise self.invalid(f"Column \"{slice_col}\" cannot be restricted by both an equality and an "
                                   f"inequality relation")
            if at > prefix:
                raise self.invalid(f"PRIMARY KEY column \"{slice_col}\" cannot be restricted as preceding column "
                                   f"\"{self.ck[at - 1]}\" is not restricted")
        clusterings = self.combine(chosen, self.ck[:prefix])
        return _Where(partitions, clusterings, prefix, lower, upper, (in_pk, in_ck))

    def relation_values(self, r: Relation, cols: tuple[str, ...], op: Operator) -> list[tuple[Any, ...]]:
        """The value tuples an = or IN relation allows for `cols`."""
        single = len(cols) == 1
        t: CqlType = self.types[cols[0]] if single else TupleType(tuple(self.types[c] for c in cols))
        name = cols[0] if single else "(" + ", ".join(cols) + ")"
        if op is Operator.EQ:
            assert not isinstance(r.value, InValues)
            items = [self.value(r.value, t, name)]
        elif isinstance(r.value, InValues):
            items = [self.value(v, t, name) for v in r.value.values]
        else:
            whole = self.value(r.value, ListType(t), f"in({name})")
            if whole is None:
                raise self.invalid(f"Invalid null value for IN restriction on {name}")
            if whole is UNSET:
                raise self.invalid(f"Invalid unset value for IN restriction on {name}")
            items = list(whole)
        rows: list[tuple[Any, ...]] = []
        for v in items:
            if v is UNSET:
                raise self.invalid(f"Invalid unset value for column {cols[0]}")
            if v is None:
                raise self.invalid(f"Invalid null value in condition for column {cols[0]}")
            row = (v,) if single else tuple(v)
            for c, x in zip(cols, row, strict=True):
                self.check_key(c, x)
            rows.append(row)
        return rows

    def combine(self, groups: Sequence[tuple[tuple[str, ...], list[tuple[Any, ...]]]],
                cols: Sequence[str]) -> list[tuple[Any, ...]]:
        """Every combination of the groups' values, without duplicates (compared as Cassandra does:
        by serialized value), in order."""
        if all(len(rows) == 1 for _, rows in groups):  # the usual case: one key, nothing to compare
            return [tuple(x for _, rows in groups for x in rows[0])]
        out: list[tuple[Any, ...]] = []
        seen: set[tuple[bytes, ...]] = set()
        types = [self.types[c] for c in cols]
        for parts in itertools.product(*(rows for _, rows in groups)):
            row = tuple(x for part in parts for x in part)
            ident = tuple(serialize(t, v) for t, v in zip(types, row, strict=True))
            if ident not in seen:
                seen.add(ident)
                out.append(row)
        return out
