"""The DynamoDB key layout of a CQL table (`derive_keys`) and its one-line description."""

from __future__ import annotations

from cql_protocol.types import NativeType

from .column_types import _SORTABLE_INT, _TEXT, KeyType, scalar_key_type
from .model import KeySpec, TableSchema


class KeyRuleError(ValueError):
    """A key layout that cannot be built. `field` is the sort_key setting at fault, if one is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def derive_keys(
    schema: TableSchema,
    *,
    pk_attribute: str = "pk",
    pk_prefix: str = "",
    sk_attribute: str = "sk",
    sk_prefix: str = "",
    sk_encoding: str = "auto",
    sk_requested: bool = False,
) -> tuple[KeySpec, KeySpec | None]:
    """The DynamoDB key layout of a CQL table. The key type rules:

    Partition key:
      * one column, no prefix: keeps its type, encoding ``plain`` — text/ascii/varchar/uuid/
        timeuuid/inet/boolean/duration → S; tinyint/smallint/int/bigint/varint/decimal/counter/
        timestamp/date/time/float/double → N; blob → B (any other type: composite S);
      * several columns or any prefix → S, encoding ``composite``.
    Sort key:
      * no clustering columns → no sort key, unless a prefix is given (single-table designs): then
        the sort key is the constant prefix, encoding ``constant``, S;
      * one ASC text/ascii/varchar clustering column, no prefix → ``plain`` S;
      * one ASC tinyint/smallint/int/bigint/timestamp/date/time column, no prefix → ``plain`` N;
      * anything else (DESC, several columns, other types, a prefix, or static columns, whose
        static row needs a sort key no clustering value can take) → ``bytecomparable`` B.
    `sk_encoding` ``plain`` where the rules give ``bytecomparable`` is an error, ``bytecomparable``
    is always possible when there are clustering columns. `sk_requested` says a sort_key block was
    written: without clustering columns it then needs a prefix.
    """
    pk_cols = schema.partition_key
    plain_pk = scalar_key_type(schema.columns[pk_cols[0]]) if len(pk_cols) == 1 and not pk_prefix else None
    if plain_pk is not None:
        pk = KeySpec(pk_attribute, pk_cols, "", "plain", plain_pk)
    else:
        pk = KeySpec(pk_attribute, pk_cols, pk_prefix, "composite", "S")

    clustering = schema.clustering
    if not clustering:
        if sk_encoding != "auto":
            raise KeyRuleError(
                f"encoding {sk_encoding!r} needs clustering columns; this table has none, so its sort key "
                "(if any) is the constant prefix", "encoding")
        if sk_prefix:
            return pk, KeySpec(sk_attribute, (), sk_prefix, "constant", "S")
        if sk_requested:
            raise KeyRuleError("the table has no clustering columns: a sort key needs a prefix (its constant "
                               "value), or leave sort_key out", "prefix")
        return pk, None

    plain_sk: KeyType | None = None
    why_not = ""
    if sk_prefix:
        why_not = "a prefix is set"
    elif schema.static:
        # the static row needs a sort key no clustering value can take; a plain key has none
        why_not = "the table has static columns"
    elif len(clustering) > 1:
        why_not = "there are several clustering columns"
    else:
        name, order = clustering[0]
        t = schema.columns[name]
        if order != "asc":
            why_not = f"{name} is DESC"
        elif isinstance(t, NativeType) and t.code in _TEXT:
            plain_sk = "S"
        elif isinstance(t, NativeType) and t.code in _SORTABLE_INT:
            plain_sk = "N"
        else:
            why_not = f"{name} is {t.cql()}, whose DynamoDB order differs from CQL's"
    columns = schema.clustering_columns
    if sk_encoding == "plain" and plain_sk is None:
        raise KeyRuleError(
            f"encoding 'plain' is not possible: {why_not} (plain needs one ascending text or "
            "tinyint/smallint/int/bigint/timestamp/date/time clustering column and no prefix)", "encoding")
    if plain_sk is not None and sk_encoding != "bytecomparable":
        return pk, KeySpec(sk_attribute, columns, "", "plain", plain_sk)
    return pk, KeySpec(sk_attribute, columns, sk_prefix, "bytecomparable", "B")


def describe_key(spec: KeySpec, schema: TableSchema) -> str:
    """One line, e.g. ``sk (B) = 'ITEM#' + bytecomparable(item asc)``."""
    parts: list[str] = []
    if spec.prefix:
        parts.append(repr(spec.prefix))
    if spec.encoding == "plain":
        parts.append(spec.columns[0])
    elif spec.encoding == "composite":
        parts.append(f"composite({', '.join(spec.columns)})")
    elif spec.encoding == "bytecomparable":
        order = dict(schema.clustering)
        cols = ", ".join(f"{c} {order.get(c, 'asc')}" for c in spec.columns)
        parts.append(f"bytecomparable({cols})")
    return f"{spec.attribute} ({spec.dynamodb_type}) = {' + '.join(parts)}"
