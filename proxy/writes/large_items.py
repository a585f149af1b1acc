"""`large_items: s3` at run time: storing the payload of oversized items in S3, resolving pointers
on every read, and cleaning up the objects an item no longer points at.

Order of a write (see docs/dual-write.md): the object is uploaded first, then the conditional
PutItem points at it, so no reader ever follows a pointer to an object that is not there yet; the
object of the item's previous version is deleted only after the new put succeeded. Deletes are best
effort: a failure leaves an orphan object (logged, counted), never a dangling pointer.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from translators import values
from translators.mapping import Mapping, TableMapping
from translators.s3_pointer import Pointer, offload, pointer_of, restore

from ..aws.s3_client import S3Client, S3Error, S3Unavailable

log = logging.getLogger(__name__)

Item = dict[str, Any]


class LargeItemError(Exception):
    """A pointer that cannot be followed (no S3 configured, object missing or altered)."""


class PayloadGone(LargeItemError):
    """The object is gone: the item was replaced (and its old object deleted) after it was read.
    Reading the item again gives its current pointer."""


class LargeItemStats:
    __slots__ = ("cleanup_failures", "offloaded", "orphans_removed", "resolved")

    def __init__(self) -> None:
        self.offloaded = 0  # items written as pointer + object
        self.resolved = 0  # pointers followed on reads
        self.orphans_removed = 0  # objects of puts that lost their condition
        self.cleanup_failures = 0  # objects we meant to delete and could not (left as orphans)


class LargeItems:
    def __init__(self, s3: S3Client) -> None:
        self.s3 = s3
        self.stats = LargeItemStats()

    async def check_buckets(self, mapping: Mapping) -> None:
        """At start: every bucket a table in a writing phase uses exists and answers."""
        buckets = sorted({tm.s3_bucket for tm in mapping.tables.values()
                          if tm.large_items == "s3" and tm.s3_bucket})
        for bucket in buckets:
            users = ", ".join(tm.cql_name for tm in mapping.tables.values() if tm.s3_bucket == bucket)
            try:
                await self.s3.head_bucket(bucket)
            except S3Error as e:
                why = ("does not exist" if e.status == 404 else
                       "is not accessible with these credentials (s3:ListBucket is needed)" if e.status == 403 else
                       f"answered {e}")
                raise LargeItemError(f"s3_bucket {bucket!r} of {users} {why} at {self.s3.describe()}") from None
            except S3Unavailable as e:
                raise LargeItemError(f"s3_bucket {bucket!r} of {users}: S3 is not reachable ({e})") from None

    async def load(self, item: Item | None) -> Item | None:
        """The item with its S3 payload back in place (an item without a pointer is returned as is)."""
        ptr = pointer_of(item)
        if ptr is None or item is None:
            return item
        try:
            body = await self.s3.get_object(ptr.bucket, ptr.key)
        except S3Error as e:
            if e.status == 404:
                raise PayloadGone(f"the item's payload {ptr} is missing from S3") from None
            raise
        self.stats.resolved += 1
        try:
            return restore(item, body)
        except ValueError as e:
            raise LargeItemError(str(e)) from None

    async def stage(self, tm: TableMapping, item: Item, previous: Item | None) -> Staged:
        """Prepares `item` for its conditional put: over 400 KB on an `s3` table, its payload is
        uploaded now and the returned `Staged.item` is the pointer item."""
        prev = pointer_of(previous)
        if tm.large_items != "s3" or values.item_size(item) <= values.MAX_ITEM_SIZE:
            return Staged(self, tm, item, None, prev)
        if not tm.s3_bucket:
            raise LargeItemError(f"{tm.cql_name}: large_items is s3 but no s3_bucket is set")
        small, ptr, body = offload(tm, item, tm.s3_bucket, os.urandom(6).hex())
        await self.s3.put_object(ptr.bucket, ptr.key, body)
        self.stats.offloaded += 1
        return Staged(self, tm, small, ptr, prev)

    async def delete(self, ptr: Pointer, why: str) -> bool:
        try:
            await self.s3.delete_object(ptr.bucket, ptr.key)
            return True
        except (S3Error, S3Unavailable) as e:
            self.stats.cleanup_failures += 1
            log.warning("could not delete %s (%s), left as an orphan: %s", ptr, why, e)
            return False


@dataclass
class Staged:
    """An item ready for its conditional put, and the object clean-up that goes with its outcome."""

    store: LargeItems | None
    tm: TableMapping
    item: Item
    new: Pointer | None  # the object uploaded for this put
    previous: Pointer | None  # the object the item pointed at before it

    async def committed(self) -> None:
        """The put succeeded: the previous version's object is garbage."""
        if self.store is not None and self.previous is not None and self.previous != self.new:
            await self.store.delete(self.previous, "replaced by a newer version of the item")

    async def settle(self, current: Item | None) -> None:
        """The put's outcome was not confirmed (condition failed, possibly after a retried put that
        did land): the item as read now tells whether it points at our object."""
        if self.store is None or self.new is None:
            return
        if pointer_of(current) == self.new:
            await self.committed()
        elif await self.store.delete(self.new, "its put lost the race for the item version"):
            self.store.stats.orphans_removed += 1


def passthrough(tm: TableMapping, item: Item) -> Staged:
    """For writers without S3: the item goes in as it is."""
    return Staged(None, tm, item, None, None)


async def load(item: Item | None, store: LargeItems | None) -> Item | None:
    """Every DynamoDB item read goes through here before it is decoded."""
    if store is not None:
        return await store.load(item)
    ptr = pointer_of(item)
    if ptr is not None:
        raise LargeItemError(f"the item points to {ptr} but this sidecar has no S3 client (large_items: s3 "
                             "needs a table in a writing phase with an s3_bucket)")
    return item


async def stage(store: LargeItems | None, tm: TableMapping, item: Item, previous: Item | None) -> Staged:
    if store is None:
        if tm.large_items == "s3" and values.item_size(item) > values.MAX_ITEM_SIZE:
            raise LargeItemError(f"{tm.cql_name}: large_items is s3 but this writer has no S3 client")
        return passthrough(tm, item)
    return await store.stage(tm, item, previous)
