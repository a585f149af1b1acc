"""An asyncio DynamoDB client for the hot path.

Low-level JSON in and out (the attribute-value wire format), signed by `sigv4.DynamoDBSigner`
with the operation in X-Amz-Target. Endpoint, credentials, the pooled connections, retries and the
request deadline are proxy.aws_client's: jittered exponential retries on throttling, 5xx answers,
timeouts and dropped connections; past the deadline a call raises `DynamoDBTimedOut`.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable
from typing import Any, Unpack

import orjson

from ..deadline import DeadlineExceeded
from .aws_client import AwsAnswerError, AwsClient, AwsOptions, AwsStats
from .sigv4 import DynamoDBSigner, FrozenCredentials

_TARGET_PREFIX = "DynamoDB_20120810."


def _json_default(obj: object) -> str:
    # B/BS attribute values travel as base64 text in DynamoDB's JSON protocol
    if isinstance(obj, bytes | bytearray | memoryview):
        return base64.b64encode(obj).decode()
    raise TypeError(f"cannot encode {type(obj).__name__} in a DynamoDB request")


def dumps(request: dict[str, Any]) -> bytes:
    return orjson.dumps(request, default=_json_default)
_RETRYABLE = frozenset({
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "TransactionInProgressException",
})
_THROTTLES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})
# Answers that refuse the client's credentials themselves: every other request would get them too.
CREDENTIALS_REFUSED = frozenset({
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "IncompleteSignatureException",
    "MissingAuthenticationTokenException",
    "ExpiredTokenException",
    "InvalidClientTokenId",
})


class DynamoDBError(AwsAnswerError):
    """An error answer from DynamoDB (or the last one, after retries)."""

    RETRYABLE = _RETRYABLE
    THROTTLES = _THROTTLES

    def __init__(self, code: str, message: str, status: int, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.body = body or {}


class ConditionalCheckFailed(DynamoDBError):
    """The write's condition was false: under last-write-wins, a newer write is already there."""

    @property
    def item(self) -> dict[str, Any] | None:
        item = self.body.get("Item")
        return item if isinstance(item, dict) else None


class TransactionCanceled(DynamoDBError):
    @property
    def reasons(self) -> list[dict[str, Any]]:
        r = self.body.get("CancellationReasons")
        return r if isinstance(r, list) else []


class DynamoDBUnavailable(Exception):
    """No answer after every retry: connection refused, timeouts, resets."""


class DynamoDBTimedOut(DynamoDBUnavailable, DeadlineExceeded):
    """No answer within the request's deadline (the last attempt may still be applied)."""


def _error_for(status: int, body: dict[str, Any]) -> DynamoDBError:
    code = str(body.get("__type", "")).rpartition("#")[2] or f"HTTP{status}"
    message = str(body.get("message") or body.get("Message") or "")
    if code == "ConditionalCheckFailedException":
        return ConditionalCheckFailed(code, message, status, body)
    if code == "TransactionCanceledException":
        return TransactionCanceled(code, message, status, body)
    return DynamoDBError(code, message, status, body)


# The operations the sidecar's data path calls: their series are exported (at 0) from the start.
OPERATIONS = ("PutItem", "UpdateItem", "DeleteItem", "GetItem", "Query", "Scan", "BatchWriteItem", "BatchGetItem",
              "TransactWriteItems")
# The operations that read or write items, and the kind of capacity each consumes: they are sent
# with ReturnConsumedCapacity TOTAL and what DynamoDB reports is counted by table.
CAPACITY_KIND = {
    "PutItem": "write", "UpdateItem": "write", "DeleteItem": "write", "BatchWriteItem": "write",
    "TransactWriteItems": "write",
    "GetItem": "read", "Query": "read", "Scan": "read", "BatchGetItem": "read", "TransactGetItems": "read",
}


class ClientStats(AwsStats):
    __slots__ = ("capacity",)

    def __init__(self) -> None:
        super().__init__(OPERATIONS)
        # capacity units DynamoDB reported, by (table, operation, kind)
        self.capacity: dict[tuple[str, str, str], float] = {}

    def expect_tables(self, tables: list[str]) -> None:
        """Exports every data-path operation of these tables (at 0) from the start."""
        for table in tables:
            for op in OPERATIONS:
                self.capacity.setdefault((table, op, CAPACITY_KIND[op]), 0.0)

    def add_capacity(self, operation: str, kind: str, consumed: object) -> None:
        """Counts an answer's ConsumedCapacity: one entry, or a list of one per table (batch and
        transaction calls). An entry that splits ReadCapacityUnits/WriteCapacityUnits is counted by
        those; otherwise its CapacityUnits are of the operation's kind."""
        if type(consumed) is dict and "ReadCapacityUnits" not in consumed and "WriteCapacityUnits" not in consumed:
            # what TOTAL gives for one item operation: the common case, kept short
            table, units = consumed.get("TableName"), consumed.get("CapacityUnits")
            if type(table) is str and type(units) is float:
                key = (table, operation, kind)
                self.capacity[key] = self.capacity.get(key, 0.0) + units
                return
        for entry in consumed if type(consumed) is list else (consumed,):
            if type(entry) is not dict:
                continue
            split: tuple[tuple[str, object], ...]
            if "ReadCapacityUnits" in entry or "WriteCapacityUnits" in entry:
                split = (("read", entry.get("ReadCapacityUnits")), ("write", entry.get("WriteCapacityUnits")))
            else:
                split = ((kind, entry.get("CapacityUnits")),)
            table = entry.get("TableName")
            for k, units in split:
                if isinstance(units, int | float) and not isinstance(units, bool) and units:
                    key = (table if type(table) is str else "", operation, k)
                    self.capacity[key] = self.capacity.get(key, 0.0) + units


class DynamoDBClient(AwsClient[DynamoDBSigner, tuple[str, bytes]]):
    """Each request is (X-Amz-Target, JSON body), POSTed to the endpoint."""

    service = "dynamodb"
    MAX_CONNECTIONS = 64
    TIMEOUT = 5.0
    unavailable_error = DynamoDBUnavailable
    timed_out_error = DynamoDBTimedOut
    stats: ClientStats

    def __init__(self, **options: Unpack[AwsOptions]) -> None:
        super().__init__(**options)
        self.endpoint = self.target.endpoint + "/"
        self.stats = ClientStats()

    def _signer(self, host: str) -> DynamoDBSigner:
        return DynamoDBSigner(self.region, host)

    def _send(self, request: tuple[str, bytes], creds: FrozenCredentials,
              dl: float | None) -> Awaitable[tuple[int, bytes]]:
        target, body = request
        found = self._pools.get(self.endpoint)  # the write path: no method call once the pool is there
        pool, signer = found if found is not None else self._pool(self.endpoint)
        return pool.post(signer.headers(target, body, creds), body, dl)

    def _answer_error(self, request: tuple[str, bytes], status: int, raw: bytes) -> DynamoDBError:
        try:
            parsed = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            parsed = {"message": raw[:200].decode("utf-8", "replace")}
        return _error_for(status, parsed if isinstance(parsed, dict) else {})

    async def call(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        """One DynamoDB operation, retried as documented; returns the decoded answer. An operation
        on items asks for its consumed capacity (unless the request says otherwise) and counts it."""
        kind = CAPACITY_KIND.get(operation)
        if kind is not None and "ReturnConsumedCapacity" not in request:
            # a copy: callers keep their request (the write queue journals it, pages reuse it)
            request = {**request, "ReturnConsumedCapacity": "TOTAL"}
        try:
            raw = await self._request(operation, operation, self.endpoint,
                                      (_TARGET_PREFIX + operation, dumps(request)))
        except DynamoDBError as e:
            # a refused write may still be charged; counted if the error answer says so
            if kind is not None and "ConsumedCapacity" in e.body:
                self.stats.add_capacity(operation, kind, e.body["ConsumedCapacity"])
            raise
        answer: dict[str, Any] = orjson.loads(raw) if raw else {}
        if kind is not None:
            consumed = answer.get("ConsumedCapacity")
            if consumed is not None:
                self.stats.add_capacity(operation, kind, consumed)
        return answer

    # -- conveniences ------------------------------------------------------------------------------
    async def put_item(self, **request: Any) -> dict[str, Any]:
        return await self.call("PutItem", request)

    async def update_item(self, **request: Any) -> dict[str, Any]:
        return await self.call("UpdateItem", request)

    async def delete_item(self, **request: Any) -> dict[str, Any]:
        return await self.call("DeleteItem", request)

    async def get_item(self, **request: Any) -> dict[str, Any]:
        return await self.call("GetItem", request)

    async def query(self, **request: Any) -> dict[str, Any]:
        return await self.call("Query", request)

    async def scan(self, **request: Any) -> dict[str, Any]:
        return await self.call("Scan", request)

    async def batch_write_item(self, **request: Any) -> dict[str, Any]:
        return await self.call("BatchWriteItem", request)

    async def batch_get_item(self, **request: Any) -> dict[str, Any]:
        return await self.call("BatchGetItem", request)

    async def transact_write_items(self, **request: Any) -> dict[str, Any]:
        return await self.call("TransactWriteItems", request)
