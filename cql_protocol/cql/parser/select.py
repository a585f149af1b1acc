"""SELECT: selectors, modifiers (DISTINCT, JSON), WHERE, GROUP BY, ORDER BY, LIMIT, ALLOW FILTERING."""

from __future__ import annotations

from ..ast import Expr, Ordering, Select, SelectItem, WhereItem
from ..lexer import QNAME, RESERVED, WORD
from .clauses import _Clauses
from .expressions import _LITERAL_KINDS


class _Select(_Clauses):
    __slots__ = ()

    def select(self) -> Select:
        self.expect_kw("select")
        json = self.modifier_keyword("json")
        distinct = self.modifier_keyword("distinct")
        items: list[SelectItem] = []
        if not self.accept("*"):
            items.append(self.select_item())
            while self.accept(","):
                items.append(self.select_item())
        self.expect_kw("from")
        keyspace, table = self.table_name()
        where: tuple[WhereItem, ...] = ()
        if self.accept_kw("where"):
            where = self.where_clause()
        group_by: list[Expr] = []
        if self.at_kw("group") and self.peek(1).kind == WORD and self.peek(1).value == "by":
            self.advance()
            self.advance()
            group_by.append(self.expr(True))
            while self.accept(","):
                group_by.append(self.expr(True))
        order_by: list[Ordering] = []
        if self.accept_kw("order"):
            self.expect_kw("by")
            order_by.append(self.ordering())
            while self.accept(","):
                order_by.append(self.ordering())
        per_partition_limit = limit = None
        if self.at_kw("per") and self.peek(1).kind == WORD and self.peek(1).value == "partition":
            self.advance()
            self.advance()
            self.expect_kw("limit")
            per_partition_limit = self.int_value()
        if self.accept_kw("limit"):
            limit = self.int_value()
        allow_filtering = False
        if self.accept_kw("allow"):
            self.expect_kw("filtering")
            allow_filtering = True
        return Select(
            keyspace=keyspace,
            table=table,
            selectors=tuple(items),
            distinct=distinct,
            json=json,
            where=where,
            group_by=tuple(group_by),
            order_by=tuple(order_by),
            per_partition_limit=per_partition_limit,
            limit=limit,
            allow_filtering=allow_filtering,
            bind_markers=tuple(self.markers),
        )

    def modifier_keyword(self, word: str) -> bool:
        """JSON and DISTINCT are also valid column names: they are modifiers only when a selection
        follows (``SELECT json FROM t`` selects the column json)."""
        if not self.at_kw(word):
            return False
        nxt = self.peek(1)
        k = nxt.kind
        if k == WORD:
            starts = (nxt.value not in RESERVED and nxt.value != "as") or nxt.value in (
                "null",
                "nan",
                "infinity",
                "token",
            )
        else:
            starts = (
                k in _LITERAL_KINDS
                or k in ("*", "(", "[", "{", "-", "?", ":")
                or (k == QNAME and nxt.value != "")
            )
        if starts:
            self.advance()
        return starts

    def select_item(self) -> SelectItem:
        e = self.expr(True)
        if self.accept_kw("as"):
            return SelectItem(e, self.ident())
        return SelectItem(e)

    def ordering(self) -> Ordering:
        column = self.cident()
        ann = None
        if self.at_kw("ann") and self.peek(1).kind == WORD and self.peek(1).value == "of":
            self.advance()
            self.advance()
            ann = self.term()
        descending = False
        if self.accept_kw("desc"):
            descending = True
        else:
            self.accept_kw("asc")
        return Ordering(column, descending, ann)
