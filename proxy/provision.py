"""Creates the DynamoDB tables a mapping needs: keys, GSIs, on-demand billing and TTL.

`plan()` compares the mapping with what exists (when given a client) and returns actions;
`apply()` runs them. Idempotent: a table that already has the right keys is left alone, missing
GSIs are added one UpdateTable at a time (DynamoDB creates one per call), and a table whose keys
differ is reported before anything is changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from translators.mapping import TOKEN_INDEX, Mapping
from translators.table_definitions import (
    GsiDefinition,
    KeyAttr,
    TableDefinition,
    _fmt_keys,
    table_definitions,
)
from translators.token_fill import token_update


class ProvisionError(Exception):
    pass


@dataclass(frozen=True)
class Action:
    table: str

    changes = True

    def describe(self) -> str:
        raise NotImplementedError

    def run(self, client: Any, waiter: _Waiter) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class CreateTable(Action):
    definition: TableDefinition

    def describe(self) -> str:
        d = self.definition
        s = f"create table {d.name} ({_fmt_keys(d.partition_key, d.sort_key)}; on-demand) for {', '.join(d.sources)}"
        if d.gsis:
            s += "; GSIs " + ", ".join(g.describe() for g in d.gsis)
        return s

    def run(self, client: Any, waiter: _Waiter) -> str:
        d = self.definition
        try:
            client.create_table(**d.create_request())
        except client.exceptions.ResourceInUseException:
            # Created meanwhile (another run): fine if its keys are ours.
            problem = _key_mismatch(d, waiter.describe(d.name))
            if problem:
                raise ProvisionError(problem) from None
            waiter.until_active(d.name)
            return f"table {d.name} already exists with the same keys: ok"
        waiter.until_active(d.name)
        return f"created table {d.name}"


@dataclass(frozen=True)
class AddIndex(Action):
    definition: TableDefinition
    gsi: GsiDefinition

    def describe(self) -> str:
        return f"add GSI {self.gsi.describe()} to {self.table}"

    def run(self, client: Any, waiter: _Waiter) -> str:
        waiter.until_active(self.table)
        current = waiter.describe(self.table)
        if any(g.get("IndexName") == self.gsi.name for g in current.get("GlobalSecondaryIndexes", [])):
            waiter.until_active(self.table, index=self.gsi.name)
            return f"GSI {self.gsi.name} on {self.table} already exists: ok"
        client.update_table(
            TableName=self.table,
            AttributeDefinitions=self.definition.attribute_definitions([self.gsi]),
            GlobalSecondaryIndexUpdates=[{"Create": self.gsi.to_api()}],
        )
        waiter.until_active(self.table, index=self.gsi.name)
        return f"added GSI {self.gsi.name} to {self.table}"


@dataclass(frozen=True)
class FillTokenKeys(Action):
    """token_index set on a table with items: each item gets its token keys (`_tb`, `_tk`), or
    token-range reads would miss it. Sidecars must already run the mapping with token_index, so
    their writes keep the keys (an item they rewrite without them would drop out again)."""

    mapping: Mapping
    sources: tuple[str, ...]

    def describe(self) -> str:
        return f"give the items of {self.table} their token index keys ({', '.join(self.sources)})"

    def run(self, client: Any, waiter: _Waiter) -> str:
        tms = [tm for tm in self.mapping.tables.values() if tm.cql_name in self.sources]
        updated = 0
        for page in client.get_paginator("scan").paginate(TableName=self.table, ConsistentRead=True):
            for item in page.get("Items", []):
                req = token_update(tms, item)
                if req is None:
                    continue
                try:
                    client.update_item(**req)
                    updated += 1
                except client.exceptions.ConditionalCheckFailedException:
                    pass  # deleted meanwhile
        return f"gave {updated} items of {self.table} their token index keys"


@dataclass(frozen=True)
class EnableTtl(Action):
    attribute: str

    def describe(self) -> str:
        return f"enable TTL on {self.table} (attribute {self.attribute})"

    def run(self, client: Any, waiter: _Waiter) -> str:
        from botocore.exceptions import ClientError

        waiter.until_active(self.table)
        try:
            client.update_time_to_live(
                TableName=self.table,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": self.attribute},
            )
        except ClientError as e:
            if "already enabled" not in str(e).lower():
                raise
        return f"enabled TTL on {self.table} ({self.attribute})"


@dataclass(frozen=True)
class NoChange(Action):
    what: str

    changes = False

    def describe(self) -> str:
        return f"{self.what}: ok, nothing to do"

    def run(self, client: Any, waiter: _Waiter) -> str:
        return self.describe()


# ---------------------------------------------------------------------------------------------
# Plan and apply
# ---------------------------------------------------------------------------------------------


class _Waiter:
    def __init__(self, client: Any, timeout: float, poll: float) -> None:
        self.client = client
        self.timeout = timeout
        self.poll = poll

    def describe(self, table: str) -> dict[str, Any]:
        return dict(self.client.describe_table(TableName=table)["Table"])

    def until_active(self, table: str, index: str | None = None) -> None:
        """Waits for the table (and `index`, when given) to be ACTIVE, with no index being built."""
        deadline = time.monotonic() + self.timeout
        while True:
            t = self.describe(table)
            statuses = {g["IndexName"]: g.get("IndexStatus") for g in t.get("GlobalSecondaryIndexes", [])}
            ready = t.get("TableStatus") == "ACTIVE" and all(s == "ACTIVE" for s in statuses.values())
            if index is not None and index not in statuses:
                ready = False
            if ready:
                return
            if time.monotonic() > deadline:
                msg = (f"table {table} is not ACTIVE after {self.timeout:.0f}s "
                       f"(status {t.get('TableStatus')}, indexes {statuses})")
                if any(s == "CREATING" for s in statuses.values()):
                    msg += ("; note: DynamoDB Local builds indexes on a 10-thread pool that each TTL-enabled table "
                            "also holds a thread of, so with 6 or more TTL-enabled tables an added index never "
                            "finishes there")
                raise ProvisionError(msg)
            time.sleep(self.poll)


def _existing_keys(desc: dict[str, Any]) -> tuple[KeyAttr, KeyAttr | None]:
    types = {a["AttributeName"]: a["AttributeType"] for a in desc.get("AttributeDefinitions", [])}
    pk: KeyAttr | None = None
    sk: KeyAttr | None = None
    for k in desc.get("KeySchema", []):
        pair = (k["AttributeName"], types.get(k["AttributeName"], "?"))
        if k["KeyType"] == "HASH":
            pk = pair
        else:
            sk = pair
    assert pk is not None
    return pk, sk


def _key_mismatch(d: TableDefinition, desc: dict[str, Any]) -> str | None:
    pk, sk = _existing_keys(desc)
    if (pk, sk) != (d.partition_key, d.sort_key):
        return (f"table {d.name} exists with keys ({_fmt_keys(pk, sk)}) but the mapping needs "
                f"({_fmt_keys(d.partition_key, d.sort_key)}); nothing was changed. Map the CQL table to another "
                "DynamoDB table, or delete the existing one if it holds nothing of value")
    return None


def _gsi_mismatch(table: str, g: GsiDefinition, existing: dict[str, Any], types: dict[str, str]) -> str | None:
    keys = {k["KeyType"]: (k["AttributeName"], types.get(k["AttributeName"], "?")) for k in existing["KeySchema"]}
    have = (keys.get("HASH"), keys.get("RANGE"))
    projection = existing.get("Projection", {}).get("ProjectionType")
    if have != (g.partition_key, g.sort_key) or projection != g.projection:
        hk = _fmt_keys(have[0], have[1]) if have[0] else "?"
        return (f"GSI {g.name} on {table} exists with ({hk}; projection {projection}) but the mapping needs "
                f"({_fmt_keys(g.partition_key, g.sort_key)}; projection {g.projection}); nothing was changed")
    return None


def _is_not_found(client: Any, e: Exception) -> bool:
    return isinstance(e, client.exceptions.ResourceNotFoundException)


def plan(mapping: Mapping, client: Any | None = None) -> list[Action]:
    """The actions that make DynamoDB match `mapping`.

    Without a client: the actions for an account where none of the tables exist. With one (only
    Describe calls are made): the actions still needed. Raises ProvisionError listing every
    conflict (a table or GSI with other keys, TTL on another attribute) so nothing is half-done.
    """
    actions: list[Action] = []
    conflicts: list[str] = []
    for d in table_definitions(mapping):
        if client is None:
            actions += [CreateTable(d.name, d), EnableTtl(d.name, d.ttl_attribute)]
            continue
        try:
            desc = client.describe_table(TableName=d.name)["Table"]
        except Exception as e:
            if not _is_not_found(client, e):
                raise
            actions += [CreateTable(d.name, d), EnableTtl(d.name, d.ttl_attribute)]
            continue
        problem = _key_mismatch(d, desc)
        if problem:
            conflicts.append(problem)
            continue
        actions.append(NoChange(d.name, f"table {d.name} exists with keys ({_fmt_keys(d.partition_key, d.sort_key)})"))
        types = {a["AttributeName"]: a["AttributeType"] for a in desc.get("AttributeDefinitions", [])}
        existing = {g["IndexName"]: g for g in desc.get("GlobalSecondaryIndexes", [])}
        for g in d.gsis:
            if g.name not in existing:
                actions.append(AddIndex(d.name, d, g))
                if g.name == TOKEN_INDEX:
                    actions.append(FillTokenKeys(d.name, mapping, d.sources))
                continue
            problem = _gsi_mismatch(d.name, g, existing[g.name], types)
            if problem:
                conflicts.append(problem)
            else:
                actions.append(NoChange(d.name, f"GSI {g.name} on {d.name} exists"))
        ttl = client.describe_time_to_live(TableName=d.name).get("TimeToLiveDescription", {})
        status, attr = ttl.get("TimeToLiveStatus", "DISABLED"), ttl.get("AttributeName")
        if status in ("ENABLED", "ENABLING") and attr == d.ttl_attribute:
            actions.append(NoChange(d.name, f"TTL on {d.name} ({attr})"))
        elif status in ("ENABLED", "ENABLING"):
            conflicts.append(f"table {d.name} has TTL on attribute {attr!r} but the mapping uses "
                             f"{d.ttl_attribute!r}; nothing was changed")
        elif status == "DISABLING":
            conflicts.append(f"TTL on {d.name} is being disabled; retry once that is done (up to an hour)")
        else:
            actions.append(EnableTtl(d.name, d.ttl_attribute))
    if conflicts:
        raise ProvisionError("\n".join(conflicts))
    return actions


def apply(actions: Sequence[Action], client: Any, *, timeout: float = 600.0, poll: float = 2.0,
          progress: Callable[[str], None] | None = None) -> list[str]:
    """Runs the actions in order, waiting for tables and indexes to become ACTIVE; returns what was done."""
    waiter = _Waiter(client, timeout, poll)
    done: list[str] = []
    for a in actions:
        line = a.run(client, waiter)
        done.append(line)
        if progress:
            progress(line)
    return done


def make_client(region: str | None = None, endpoint: str | None = None) -> Any:
    """A boto3 DynamoDB client going where the sidecar's and the batch commands' clients go: region
    and endpoint resolved once by proxy.aws.aws_endpoints (raises AwsSetupError)."""
    from proxy.aws.aws_endpoints import boto3_client, resolve

    return boto3_client(resolve("dynamodb", region=region, endpoint=endpoint))
