"""What the sidecar has seen of one mapped table: statement shapes with their counts and sampled
costs, request and unit rates in time buckets, item and key sizes, the busiest partitions. Pure;
`to_json`/`merge` let several sidecars' figures be added up.

Counts are of every request; units, sizes and partitions come from the sampled ones (every
request of a new shape is sampled at first, then one in `period`): a shape's units per request are
its sampled mean, and a sampled request stands for `period` requests in the partition figures.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

from .items import MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES, ItemFacts
from .serving import Costed, reason_key

OTHER = "(other shapes)"  # where shapes beyond the per-table cap are counted
RESERVOIR = 2048  # item sizes kept per table for the percentiles
HOT_KEPT = 20  # partitions kept per table, busiest first
MAX_REASONS = 5  # refusal reasons kept per shape


@dataclass(slots=True)
class ShapeStats:
    kind: str
    count: int = 0
    sampled: int = 0
    rcu: float = 0.0  # summed over the sampled requests
    wcu: float = 0.0
    rows: int = 0  # rows returned to the sampled reads
    how: dict[str, int] = field(default_factory=dict)  # how the sampled requests would be served
    reasons: dict[str, list[Any]] = field(default_factory=dict)  # reason key → [message, count]
    scan: bool = False
    lower_bound: bool = False

    @property
    def mean_rcu(self) -> float:
        return self.rcu / self.sampled if self.sampled else 0.0

    @property
    def mean_wcu(self) -> float:
        return self.wcu / self.sampled if self.sampled else 0.0

    def add_sample(self, c: Costed, rows: int = 0) -> None:
        self.sampled += 1
        self.rcu += c.rcu
        self.wcu += c.wcu
        self.rows += rows
        self.how[c.how] = self.how.get(c.how, 0) + 1
        self.scan = self.scan or c.scan
        self.lower_bound = self.lower_bound or c.lower_bound
        if c.refused is not None:
            k = reason_key(c.refused)
            r = self.reasons.get(k)
            if r is not None:
                r[1] += 1
            elif len(self.reasons) < MAX_REASONS:
                self.reasons[k] = [c.refused, 1]

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "count": self.count, "sampled": self.sampled, "rcu": self.rcu, "wcu": self.wcu,
                "rows": self.rows, "how": dict(sorted(self.how.items())),
                "reasons": dict(sorted(self.reasons.items())), "scan": self.scan, "lower_bound": self.lower_bound}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ShapeStats:
        return cls(d["kind"], int(d["count"]), int(d["sampled"]), float(d["rcu"]), float(d["wcu"]), int(d["rows"]),
                   {k: int(v) for k, v in d["how"].items()}, {k: [v[0], int(v[1])] for k, v in d["reasons"].items()},
                   bool(d["scan"]), bool(d["lower_bound"]))

    def merge(self, o: ShapeStats) -> None:
        self.count += o.count
        self.sampled += o.sampled
        self.rcu += o.rcu
        self.wcu += o.wcu
        self.rows += o.rows
        for k, n in o.how.items():
            self.how[k] = self.how.get(k, 0) + n
        for k, (msg, n) in o.reasons.items():
            if k in self.reasons:
                self.reasons[k][1] += n
            elif len(self.reasons) < MAX_REASONS:
                self.reasons[k] = [msg, n]
        self.scan = self.scan or o.scan
        self.lower_bound = self.lower_bound or o.lower_bound


@dataclass(slots=True)
class TableStats:
    table: str
    dynamodb_table: str = ""
    large_items: str = "reject"
    gsis: int = 0
    bucket_seconds: int = 60
    shapes: dict[str, ShapeStats] = field(default_factory=dict)
    buckets: dict[int, list[float]] = field(default_factory=dict)  # start (epoch s) → [requests, rcu, wcu]
    sizes: list[int] = field(default_factory=list)  # a uniform sample of item sizes
    sizes_seen: int = 0
    max_size: int = 0
    over_limit: int = 0  # sampled items over 400 KB
    compress_fits: int = 0  # of those, the ones `large_items: compress` would bring under it
    pk_max: int = 0
    sk_max: int = 0
    keys_over: int = 0  # sampled items whose partition or sort key is over DynamoDB's limit
    hot: dict[str, list[Any]] = field(default_factory=dict)  # key hash → [key text, peak rcu/s, peak wcu/s]
    # the bucket requests go to now, kept at hand (the request path adds to it)
    _bucket: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0], repr=False, compare=False)
    _bucket_start: int = field(default=-(10 ** 9), repr=False, compare=False)

    # -- recording ------------------------------------------------------------------------------
    def add_to_bucket(self, now: float, rcu: float, wcu: float) -> None:
        b = self._bucket
        if not self._bucket_start <= now < self._bucket_start + self.bucket_seconds:
            start = int(now) - int(now) % self.bucket_seconds
            b = self.buckets.setdefault(start, [0.0, 0.0, 0.0])
            self._bucket, self._bucket_start = b, start
        b[0] += 1
        b[1] += rcu
        b[2] += wcu

    def prune(self, now: float, window: float) -> None:
        old = [t for t in self.buckets if t + self.bucket_seconds < now - window]
        for t in old:
            del self.buckets[t]
        if self._bucket_start in old:
            self._bucket_start = -(10 ** 9)

    def add_item(self, f: ItemFacts, rng: random.Random) -> None:
        self.sizes_seen += 1
        if len(self.sizes) < RESERVOIR:
            self.sizes.append(f.raw_size)
        else:
            j = rng.randrange(self.sizes_seen)
            if j < RESERVOIR:
                self.sizes[j] = f.raw_size
        self.max_size = max(self.max_size, f.raw_size)
        if f.over_limit:
            self.over_limit += 1
            if f.compressed_size <= 400 * 1024:
                self.compress_fits += 1
        self.pk_max = max(self.pk_max, f.pk_bytes)
        self.sk_max = max(self.sk_max, f.sk_bytes)
        if f.pk_bytes > MAX_PARTITION_KEY_BYTES or f.sk_bytes > MAX_SORT_KEY_BYTES:
            self.keys_over += 1

    def add_partition_peak(self, key: str, rcu_s: float, wcu_s: float) -> None:
        """A partition's units in one second; the busiest HOT_KEPT partitions are kept."""
        h = key_hash(key)
        cur = self.hot.get(h)
        if cur is not None:
            cur[1] = max(cur[1], rcu_s)
            cur[2] = max(cur[2], wcu_s)
            return
        self.hot[h] = [key, rcu_s, wcu_s]
        if len(self.hot) > HOT_KEPT:
            del self.hot[min(self.hot, key=lambda k: heat(self.hot[k][1], self.hot[k][2]))]

    # -- across sidecars ------------------------------------------------------------------------
    def to_json(self, show_keys: bool = False) -> dict[str, Any]:
        return {
            "table": self.table, "dynamodb_table": self.dynamodb_table, "large_items": self.large_items,
            "gsis": self.gsis, "bucket_seconds": self.bucket_seconds,
            "shapes": {k: s.to_json() for k, s in sorted(self.shapes.items())},
            "buckets": [[t, *b] for t, b in sorted(self.buckets.items())],
            "sizes": sorted(self.sizes), "sizes_seen": self.sizes_seen, "max_size": self.max_size,
            "over_limit": self.over_limit, "compress_fits": self.compress_fits,
            "pk_max": self.pk_max, "sk_max": self.sk_max, "keys_over": self.keys_over,
            "hot": {h: [v[0] if show_keys else None, v[1], v[2]] for h, v in sorted(self.hot.items())},
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TableStats:
        t = cls(d["table"], d["dynamodb_table"], d["large_items"], int(d["gsis"]), int(d["bucket_seconds"]))
        t.shapes = {k: ShapeStats.from_json(v) for k, v in d["shapes"].items()}
        t.buckets = {int(b[0]): [float(x) for x in b[1:4]] for b in d["buckets"]}
        t.sizes = [int(x) for x in d["sizes"]]
        for name in ("sizes_seen", "max_size", "over_limit", "compress_fits", "pk_max", "sk_max", "keys_over"):
            setattr(t, name, int(d[name]))
        t.hot = {h: [v[0], float(v[1]), float(v[2])] for h, v in d["hot"].items()}
        return t

    def merge(self, o: TableStats) -> None:
        for k, s in o.shapes.items():
            mine = self.shapes.get(k)
            if mine is None:
                self.shapes[k] = ShapeStats.from_json(s.to_json())
            else:
                mine.merge(s)
        if o.bucket_seconds != self.bucket_seconds:
            raise ValueError(f"{self.table}: sidecars count in buckets of {self.bucket_seconds} and "
                             f"{o.bucket_seconds} seconds")
        for t, b in o.buckets.items():
            mine_b = self.buckets.setdefault(t, [0.0, 0.0, 0.0])
            for i in range(3):
                mine_b[i] += b[i]
        # each side's sizes stand for its own items: keep both in proportion
        total = self.sizes_seen + o.sizes_seen
        if total and len(self.sizes) + len(o.sizes) > RESERVOIR:
            mine_n = round(RESERVOIR * self.sizes_seen / total)
            self.sizes = _spread(self.sizes, mine_n) + _spread(o.sizes, RESERVOIR - mine_n)
        else:
            self.sizes = self.sizes + o.sizes
        self.sizes_seen = total
        self.max_size = max(self.max_size, o.max_size)
        self.over_limit += o.over_limit
        self.compress_fits += o.compress_fits
        self.pk_max = max(self.pk_max, o.pk_max)
        self.sk_max = max(self.sk_max, o.sk_max)
        self.keys_over += o.keys_over
        for h, (key, r, w) in o.hot.items():
            # the same partition seen by two sidecars in the same second adds up; peaks kept apart
            # can only be maxed, a lower bound of the partition's true peak
            cur = self.hot.get(h)
            if cur is None:
                self.hot[h] = [key, r, w]
            else:
                cur[1], cur[2] = max(cur[1], r), max(cur[2], w)
        if len(self.hot) > HOT_KEPT:
            keep = sorted(self.hot, key=lambda k: -heat(self.hot[k][1], self.hot[k][2]))[:HOT_KEPT]
            self.hot = {k: self.hot[k] for k in keep}


def _spread(xs: list[int], n: int) -> list[int]:
    """`n` values evenly picked from the sorted `xs` (all of them when there are fewer)."""
    xs = sorted(xs)
    if n >= len(xs):
        return xs
    if n <= 0:
        return []
    return [xs[(i * len(xs)) // n] for i in range(n)]


def key_hash(key: str) -> str:
    return hashlib.blake2b(key.encode(), digest_size=6).hexdigest()


def heat(rcu_s: float, wcu_s: float) -> float:
    """How close a partition comes to DynamoDB's per-partition limits (1: at the limit)."""
    return max(rcu_s / 3000.0, wcu_s / 1000.0)
