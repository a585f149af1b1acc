"""The fleet's control table in DynamoDB.

One table (created on demand, PAY_PER_REQUEST), keys `pk` (S) and `sk` (S):

| pk | sk | holds |
|---|---|---|
| `phases` | `current` | the PhaseSet: `version` (N), `tables` (S, JSON), `updated_at` (N), `updated_by` (S) |
| `audit` | version, 12 digits | one change: `entry` (S, JSON) |
| `sidecar` | sidecar id | a heartbeat: `version`, `applied_at`, `last_beat`, `started_at` (N), `host` (S), `expires_at` (TTL) |
| `run` | `ks.table#backfill`, `ks.table#validate` | the table's latest run: `record` (S, JSON), `started_at` (N) |

A change is one transaction: the PhaseSet put, conditional on the version the writer read, and the
audit entry, so two concurrent changes cannot both win and no change goes unaudited.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson

from ..aws.dynamodb_client import (
    ConditionalCheckFailed,
    DynamoDBClient,
    DynamoDBError,
    DynamoDBUnavailable,
    TransactionCanceled,
)
from .control_store import AuditEntry, ControlStore, ControlStoreError, Heartbeat, VersionConflict
from .cutover import RunRecord
from .model import PhaseError, PhaseSet

log = logging.getLogger(__name__)

HEARTBEAT_TTL = 7 * 24 * 3600  # DynamoDB's TTL removes beats of sidecars that vanished without a goodbye
_CURRENT = {"pk": {"S": "phases"}, "sk": {"S": "current"}}


def _n(item: dict[str, Any], name: str) -> float:
    return float(item[name]["N"])


class DynamoDBControlStore(ControlStore):
    def __init__(self, client: DynamoDBClient, table: str, *, create_timeout: float = 60.0) -> None:
        self.client = client
        self.table = table
        self.create_timeout = create_timeout
        self._ready = False
        self._ready_lock = asyncio.Lock()

    @property
    def description(self) -> str:
        return f"dynamodb:{self.table} at {self.client.endpoint}"

    @property
    def spec(self) -> str:
        return f"dynamodb:{self.table}"

    async def _call(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        if not self._ready:
            await self.ensure_table()
        return await self._raw(operation, request)

    async def _raw(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self.client.call(operation, request)
        except DynamoDBUnavailable as e:
            raise ControlStoreError(str(e)) from None
        except DynamoDBError as e:
            if isinstance(e, TransactionCanceled | ConditionalCheckFailed):
                raise
            raise ControlStoreError(f"{operation} on {self.table}: {e}") from None

    async def ensure_table(self) -> None:
        """Creates the table when missing (any sidecar may; the loser of a race just waits)."""
        async with self._ready_lock:
            if self._ready:
                return
            status = await self._status()
            if status is None:
                log.info("creating the control table %s", self.table)
                try:
                    await self._raw("CreateTable", {
                        "TableName": self.table,
                        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                                 {"AttributeName": "sk", "AttributeType": "S"}],
                        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                      {"AttributeName": "sk", "KeyType": "RANGE"}],
                        "BillingMode": "PAY_PER_REQUEST",
                    })
                except ControlStoreError as e:
                    if "ResourceInUseException" not in str(e):
                        raise
                status = await self._status()
            deadline = time.monotonic() + self.create_timeout
            while status != "ACTIVE":
                if time.monotonic() > deadline:
                    raise ControlStoreError(f"control table {self.table} is not ACTIVE after "
                                            f"{self.create_timeout:.0f}s (status {status})")
                await asyncio.sleep(0.5)
                status = await self._status()
            try:
                await self._raw("UpdateTimeToLive", {"TableName": self.table, "TimeToLiveSpecification":
                                                     {"Enabled": True, "AttributeName": "expires_at"}})
            except ControlStoreError as e:
                # already enabled, or not permitted: stale beats are also filtered by age
                log.debug("control table TTL not changed: %s", e)
            self._ready = True

    async def _status(self) -> str | None:
        try:
            r = await self.client.call("DescribeTable", {"TableName": self.table})
        except DynamoDBUnavailable as e:
            raise ControlStoreError(str(e)) from None
        except DynamoDBError as e:
            if e.code == "ResourceNotFoundException":
                return None
            raise ControlStoreError(f"DescribeTable {self.table}: {e}") from None
        return str(r.get("Table", {}).get("TableStatus", ""))

    async def load(self) -> PhaseSet | None:
        r = await self._call("GetItem", {"TableName": self.table, "Key": _CURRENT, "ConsistentRead": True})
        item = r.get("Item")
        if not item:
            return None
        try:
            return PhaseSet.from_json({
                "version": int(item["version"]["N"]),
                "tables": orjson.loads(item["tables"]["S"]),
                "updated_at": _n(item, "updated_at"),
                "updated_by": item.get("updated_by", {}).get("S", ""),
            })
        except (KeyError, ValueError, orjson.JSONDecodeError, PhaseError) as e:
            raise ControlStoreError(f"{self.table}: malformed phase set item: {e!r}") from None

    async def commit(self, new: PhaseSet, expected_version: int, audit: AuditEntry) -> None:
        doc = new.to_json()
        put: dict[str, Any] = {
            "TableName": self.table,
            "Item": {**_CURRENT, "version": {"N": str(new.version)},
                     "tables": {"S": orjson.dumps(doc["tables"]).decode()},
                     "updated_at": {"N": repr(new.updated_at)}, "updated_by": {"S": new.updated_by or "-"}},
        }
        if expected_version == 0:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "version = :v"
            put["ExpressionAttributeValues"] = {":v": {"N": str(expected_version)}}
        audit_put = {
            "TableName": self.table,
            "Item": {"pk": {"S": "audit"}, "sk": {"S": f"{audit.version:012d}"},
                     "entry": {"S": orjson.dumps(audit.to_json()).decode()}},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        try:
            await self._call("TransactWriteItems", {"TransactItems": [{"Put": put}, {"Put": audit_put}]})
        except TransactionCanceled as e:
            if any(r.get("Code") == "ConditionalCheckFailed" for r in e.reasons) or "ConditionalCheckFailed" in str(e):
                current = None
                try:
                    ps = await self.load()
                    current = ps.version if ps else 0
                except ControlStoreError:
                    pass
                raise VersionConflict(expected_version, current) from None
            raise ControlStoreError(f"TransactWriteItems on {self.table}: {e}") from None

    async def audit(self, limit: int = 100) -> list[AuditEntry]:
        r = await self._call("Query", {
            "TableName": self.table, "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": "audit"}}, "ScanIndexForward": False,
            "Limit": max(1, limit), "ConsistentRead": True,
        })
        out = []
        for item in r.get("Items", []):
            try:
                out.append(AuditEntry.from_json(orjson.loads(item["entry"]["S"])))
            except (KeyError, ValueError, TypeError, orjson.JSONDecodeError):
                log.warning("skipping a malformed audit item %s in %s", item.get("sk"), self.table)
        return out

    async def heartbeat(self, beat: Heartbeat) -> None:
        await self._call("PutItem", {"TableName": self.table, "Item": {
            "pk": {"S": "sidecar"}, "sk": {"S": beat.sidecar_id}, "host": {"S": beat.host or "-"},
            "version": {"N": str(beat.version)}, "applied_at": {"N": repr(beat.applied_at)},
            "last_beat": {"N": repr(beat.last_beat)}, "started_at": {"N": repr(beat.started_at)},
            "expires_at": {"N": str(int(beat.last_beat) + HEARTBEAT_TTL)},
        }})

    async def heartbeats(self) -> list[Heartbeat]:
        out: list[Heartbeat] = []
        request: dict[str, Any] = {
            "TableName": self.table, "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": "sidecar"}}, "ConsistentRead": True,
        }
        while True:
            r = await self._call("Query", request)
            for item in r.get("Items", []):
                try:
                    out.append(Heartbeat(item["sk"]["S"], item.get("host", {}).get("S", ""),
                                         int(item["version"]["N"]), _n(item, "applied_at"),
                                         _n(item, "last_beat"), _n(item, "started_at")))
                except (KeyError, ValueError):
                    log.warning("skipping a malformed heartbeat item %s in %s", item.get("sk"), self.table)
            if not r.get("LastEvaluatedKey"):
                return out
            request["ExclusiveStartKey"] = r["LastEvaluatedKey"]

    async def remove_heartbeat(self, sidecar_id: str) -> None:
        await self._call("DeleteItem", {"TableName": self.table,
                                        "Key": {"pk": {"S": "sidecar"}, "sk": {"S": sidecar_id}}})

    async def record_run(self, run: RunRecord) -> bool:
        started = {"N": repr(run.started_at)}
        try:
            await self._call("PutItem", {
                "TableName": self.table,
                "Item": {"pk": {"S": "run"}, "sk": {"S": f"{run.table}#{run.kind}"}, "started_at": started,
                         "record": {"S": orjson.dumps(run.to_json()).decode()}},
                "ConditionExpression": "attribute_not_exists(pk) OR started_at <= :s",
                "ExpressionAttributeValues": {":s": started},
            })
        except ConditionalCheckFailed:
            return False  # a run that started later is recorded already
        return True

    async def runs(self) -> list[RunRecord]:
        out: list[RunRecord] = []
        request: dict[str, Any] = {
            "TableName": self.table, "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": "run"}}, "ConsistentRead": True,
        }
        while True:
            r = await self._call("Query", request)
            for item in r.get("Items", []):
                try:
                    out.append(RunRecord.from_json(orjson.loads(item["record"]["S"])))
                except (KeyError, PhaseError, orjson.JSONDecodeError):
                    # as if never recorded: the gate asks for the run again
                    log.warning("skipping a malformed run item %s in %s", item.get("sk"), self.table)
            if not r.get("LastEvaluatedKey"):
                return out
            request["ExclusiveStartKey"] = r["LastEvaluatedKey"]

    async def close(self) -> None:
        await self.client.close()
