"""The assessment of each mapped table, from the figures of one or several sidecars: shapes with
how DynamoDB would serve them (blockers first), units and rates, a monthly cost, item and key
sizes, hot partitions. Pure; the body holds no time of day, so two days' reports can be diffed."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from translators.item_size import MAX_ITEM_SIZE

from .items import MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES
from .serving import INVALID, REFUSED
from .stats import TableStats, heat

HOURS_PER_MONTH = 730.0
PARTITION_RCU, PARTITION_WCU = 3000.0, 1000.0


@dataclass(frozen=True, slots=True)
class Prices:
    """DynamoDB prices (USD) of one region at one date; the user's file may replace them."""

    region: str
    as_of: str
    read_request_per_million: float  # on-demand, per million read request units
    write_request_per_million: float
    rcu_hour: float  # provisioned, per RCU per hour
    wcu_hour: float
    storage_gb_month: float

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Prices:
        try:
            p = cls(str(d["region"]), str(d["as_of"]), float(d["on_demand"]["read_request_per_million"]),
                    float(d["on_demand"]["write_request_per_million"]), float(d["provisioned"]["rcu_hour"]),
                    float(d["provisioned"]["wcu_hour"]), float(d["storage_gb_month"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"a price table needs region, as_of, on_demand.read_request_per_million, "
                             f"on_demand.write_request_per_million, provisioned.rcu_hour, provisioned.wcu_hour "
                             f"and storage_gb_month as numbers ({type(e).__name__}: {e})") from None
        if min(p.read_request_per_million, p.write_request_per_million, p.rcu_hour, p.wcu_hour,
               p.storage_gb_month) < 0:
            raise ValueError("prices cannot be negative")
        return p


def merge_snapshots(snapshots: Iterable[Mapping[str, Any]]) -> tuple[dict[str, TableStats], float, list[str]]:
    """Several sidecars' /assess answers → the tables added up, the longest observation, the sidecars."""
    tables: dict[str, TableStats] = {}
    seconds = 0.0
    names = []
    for snap in snapshots:
        names.append(str(snap.get("sidecar", "?")))
        seconds = max(seconds, float(snap["observed_seconds"]))
        for name, d in snap["tables"].items():
            t = TableStats.from_json(d)
            if name in tables:
                tables[name].merge(t)
            else:
                tables[name] = t
    return tables, seconds, sorted(names)


def percentile(sorted_xs: list[int], p: float) -> int:
    if not sorted_xs:
        return 0
    i = min(len(sorted_xs) - 1, max(0, math.ceil(p / 100.0 * len(sorted_xs)) - 1))
    return sorted_xs[i]


def table_report(t: TableStats, seconds: float, prices: Prices, *, target_utilisation: float = 0.7,
                 storage_bytes: int | None = None) -> dict[str, Any]:
    seconds = max(seconds, 1.0)
    shapes: list[dict[str, Any]] = []
    rcu_total = wcu_total = 0.0
    requests = 0
    for text, s in t.shapes.items():
        rcu = s.mean_rcu * s.count
        wcu = s.mean_wcu * s.count
        rcu_total += rcu
        wcu_total += wcu
        requests += s.count
        served = max(s.how.items(), key=lambda kv: (kv[1], kv[0]))[0] if s.how else "not sampled"
        refused = sorted(([m, n] for m, n in s.reasons.values()), key=lambda r: (-r[1], r[0]))
        shapes.append({
            "shape": text, "kind": s.kind, "count": s.count, "sampled": s.sampled, "served": served,
            "served_as": dict(sorted(s.how.items())), "refused": refused, "scan": s.scan,
            "rcu_per_request": round(s.mean_rcu, 3), "wcu_per_request": round(s.mean_wcu, 3),
            "rcu": round(rcu, 1), "wcu": round(wcu, 1),
            "rows_per_request": round(s.rows / s.sampled, 2) if s.sampled and s.kind == "read" and s.how.get(
                REFUSED, 0) < s.sampled else None,
            "lower_bound": s.lower_bound,
        })
    shapes.sort(key=lambda x: (_rank(x), -int(x["count"]), str(x["shape"])))
    peak = [0.0, 0.0, 0.0]
    for b in t.buckets.values():
        for i in range(3):
            peak[i] = max(peak[i], b[i] / t.bucket_seconds)
    avg = [requests / seconds, rcu_total / seconds, wcu_total / seconds]
    sizes = sorted(t.sizes)
    storage = storage_bytes if storage_bytes is not None else None
    return {
        "table": t.table, "dynamodb_table": t.dynamodb_table, "large_items": t.large_items, "gsis": t.gsis,
        "requests": requests,
        "blockers": _blockers(t, shapes),
        "shapes": shapes,
        "rates": {name: {"avg": round(avg[i], 3), "peak": round(max(peak[i], avg[i]), 3)}
                  for i, name in enumerate(("requests_per_s", "rcu_per_s", "wcu_per_s"))},
        "cost": _cost(prices, avg, peak, target_utilisation, storage),
        "items": {
            "sampled": t.sizes_seen, "p50": percentile(sizes, 50), "p99": percentile(sizes, 99),
            "max": t.max_size, "limit": MAX_ITEM_SIZE, "over_limit": t.over_limit,
            "compress_fits": t.compress_fits, "needs_s3": t.over_limit - t.compress_fits,
        },
        "keys": {"partition_key_max": t.pk_max, "partition_key_limit": MAX_PARTITION_KEY_BYTES,
                 "sort_key_max": t.sk_max, "sort_key_limit": MAX_SORT_KEY_BYTES, "over_limit": t.keys_over},
        "hot_partitions": [
            {"key_hash": h, **({"key": v[0]} if v[0] is not None else {}), "peak_rcu_s": round(v[1], 1),
             "peak_wcu_s": round(v[2], 1), "over_limit": heat(v[1], v[2]) > 1.0}
            for h, v in sorted(t.hot.items(), key=lambda kv: (-heat(kv[1][1], kv[1][2]), kv[0]))
        ],
        "storage_bytes": storage,
    }


def _rank(s: dict[str, Any]) -> int:
    """Blockers first: refused shapes, then full scans, then the rest."""
    if s["served"] == REFUSED or (s["refused"] and s["served"] != INVALID):
        return 0
    return 1 if s["scan"] else 2


def _blockers(t: TableStats, shapes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for s in shapes:
        if s["served"] == INVALID:
            continue
        for msg, n in s["refused"]:
            out.append({"kind": "refused", "shape": s["shape"], "count": n, "reason": msg})
        if s["scan"]:
            out.append({"kind": "scan", "shape": s["shape"], "count": s["count"],
                        "reason": "served by a Scan of the whole DynamoDB table (its units grow with the table)"})
    if t.over_limit:
        out.append({"kind": "large_items", "count": t.over_limit,
                    "reason": f"items over 400 KB: {t.compress_fits} fit once compressed (large_items: compress), "
                              f"{t.over_limit - t.compress_fits} need large_items: s3 (table policy: {t.large_items})"})
    if t.keys_over:
        out.append({"kind": "key_size", "count": t.keys_over,
                    "reason": f"keys over DynamoDB's limits (partition key {MAX_PARTITION_KEY_BYTES} bytes, "
                              f"sort key {MAX_SORT_KEY_BYTES} bytes)"})
    for h, v in sorted(t.hot.items()):
        if heat(v[1], v[2]) > 1.0:
            out.append({"kind": "hot_partition", "count": 1, "key_hash": h,
                        "reason": f"a partition at {v[1]:.0f} RCU/s and {v[2]:.0f} WCU/s, over DynamoDB's "
                                  f"{PARTITION_RCU:.0f} RCU/s / {PARTITION_WCU:.0f} WCU/s per partition"})
    return out


def _cost(p: Prices, avg: list[float], peak: list[float], target: float, storage: int | None) -> dict[str, Any]:
    month = HOURS_PER_MONTH * 3600.0
    storage_cost = (storage / 1e9 * p.storage_gb_month) if storage is not None else 0.0
    od_reads = avg[1] * month / 1e6 * p.read_request_per_million
    od_writes = avg[2] * month / 1e6 * p.write_request_per_million
    # provisioned to carry the peak at the target utilisation (autoscaling's own target)
    rcu = max(1, math.ceil(max(peak[1], avg[1]) / target))
    wcu = max(1, math.ceil(max(peak[2], avg[2]) / target))
    pr_reads = rcu * p.rcu_hour * HOURS_PER_MONTH
    pr_writes = wcu * p.wcu_hour * HOURS_PER_MONTH
    return {
        "prices": {"region": p.region, "as_of": p.as_of},
        "on_demand": {"reads": round(od_reads, 2), "writes": round(od_writes, 2), "storage": round(storage_cost, 2),
                      "total": round(od_reads + od_writes + storage_cost, 2)},
        "provisioned": {"rcu": rcu, "wcu": wcu, "target_utilisation": target,
                        "reads": round(pr_reads, 2), "writes": round(pr_writes, 2), "storage": round(storage_cost, 2),
                        "total": round(pr_reads + pr_writes + storage_cost, 2)},
    }


def build(snapshots: Iterable[Mapping[str, Any]], prices: Prices, *, target_utilisation: float = 0.7,
          storage: Mapping[str, int] | None = None) -> dict[str, Any]:
    tables, seconds, names = merge_snapshots(snapshots)
    return {
        "sidecars": names, "observed_seconds": round(seconds, 1),
        "tables": [table_report(t, seconds, prices, target_utilisation=target_utilisation,
                                storage_bytes=(storage or {}).get(name)) for name, t in sorted(tables.items())],
    }
