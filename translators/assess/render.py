"""The assessment as text for people (`assess` without --json). Pure; stable between runs of
the same traffic: sorted, no time of day in the body."""

from __future__ import annotations

from typing import Any

KB = 1024


def _size(n: int) -> str:
    if n >= KB * KB:
        return f"{n / KB / KB:.1f} MB"
    if n >= KB:
        return f"{n / KB:.1f} KB"
    return f"{n} B"


def _money(x: float) -> str:
    return f"${x:,.2f}"


def _units(x: float) -> str:
    return f"{x:,.1f}" if x < 100 else f"{x:,.0f}"


def render(doc: dict[str, Any], header: str = "") -> str:
    out: list[str] = []
    if header:
        out += [header, ""]
    out.append(f"sidecars: {', '.join(doc['sidecars'])}; observed {doc['observed_seconds']:.0f} s")
    for t in doc["tables"]:
        out.append("")
        out += _table(t)
    return "\n".join(out) + "\n"


def _table(t: dict[str, Any]) -> list[str]:
    lines = [f"== {t['table']} -> DynamoDB {t['dynamodb_table']} "
             f"(large_items: {t['large_items']}, {t['gsis']} GSI{'s' if t['gsis'] != 1 else ''})",
             f"requests: {t['requests']:,}"]
    if not t["requests"]:
        lines.append("  no request seen")
        return lines
    lines.append("")
    lines.append(f"blockers ({len(t['blockers'])}):" if t["blockers"] else "blockers: none")
    for b in t["blockers"]:
        where = f" [{b['shape']}]" if "shape" in b else ""
        lines.append(f"  - {b['kind']} x{b['count']:,}{where}: {b['reason']}")
    lines += ["", "shapes (blockers first):"]
    for s in t["shapes"]:
        per = f"{s['rcu_per_request']:g} RCU + {s['wcu_per_request']:g} WCU per request"
        bound = " (at least)" if s["lower_bound"] else ""
        rows = f", {s['rows_per_request']:g} rows/request" if s["rows_per_request"] is not None else ""
        lines.append(f"  {s['count']:>10,}  {s['kind']:<5} {s['served']:<32} {per}{bound}{rows}")
        lines.append(f"              {s['shape']}")
        for msg, n in s["refused"]:
            lines.append(f"              refused x{n:,}: {msg}")
    r = t["rates"]
    lines += ["", "rates per second (average / peak):",
              f"  requests {r['requests_per_s']['avg']:g} / {r['requests_per_s']['peak']:g}; "
              f"read units {r['rcu_per_s']['avg']:g} / {r['rcu_per_s']['peak']:g}; "
              f"write units {r['wcu_per_s']['avg']:g} / {r['wcu_per_s']['peak']:g}"]
    c = t["cost"]
    od, pr = c["on_demand"], c["provisioned"]
    storage = f"storage {_size(t['storage_bytes'])}" if t["storage_bytes"] is not None else "storage not estimated"
    lines += ["", f"monthly cost (prices {c['prices']['region']} as of {c['prices']['as_of']}; {storage}):",
              f"  on-demand    {_money(od['total']):>12}  (reads {_money(od['reads'])}, writes {_money(od['writes'])}, "
              f"storage {_money(od['storage'])})",
              f"  provisioned  {_money(pr['total']):>12}  ({pr['rcu']:,} RCU, {pr['wcu']:,} WCU at "
              f"{pr['target_utilisation']:.0%} of the peak; storage {_money(pr['storage'])})"]
    i, k = t["items"], t["keys"]
    lines += ["", f"item sizes ({i['sampled']:,} sampled): p50 {_size(i['p50'])}, p99 {_size(i['p99'])}, "
                  f"max {_size(i['max'])} (limit 400 KB)"]
    if i["over_limit"]:
        lines.append(f"  over 400 KB: {i['over_limit']:,} ({i['compress_fits']:,} fit compressed, "
                     f"{i['needs_s3']:,} need large_items: s3)")
    lines.append(f"key sizes: partition key max {k['partition_key_max']:,} B (limit {k['partition_key_limit']:,}), "
                 f"sort key max {k['sort_key_max']:,} B (limit {k['sort_key_limit']:,})"
                 + (f"; {k['over_limit']:,} over" if k["over_limit"] else ""))
    hot = t["hot_partitions"][:5]
    if hot:
        lines += ["", "busiest partitions (peak units in one second):"]
        for h in hot:
            name = h.get("key", h["key_hash"])
            flag = "  OVER the per-partition limit" if h["over_limit"] else ""
            lines.append(f"  {name}: {_units(h['peak_rcu_s'])} RCU/s, {_units(h['peak_wcu_s'])} WCU/s{flag}")
    return lines
