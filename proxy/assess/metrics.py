"""Prometheus series of the assessment: requests and projected DynamoDB units per table and
statement shape. Shapes are labelled by a short hash of their text (the text is in
cdp_assess_shape_info), at most --assess-max-shapes per table plus `other`; the per-table series
exist at 0 for every mapped table from the start."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from translators.assess.serving import REFUSED
from translators.assess.stats import OTHER, key_hash

from ..metrics import Family
from .collector import Assessor

SHAPE_TEXT_LABEL = 160  # characters of a shape's text in its info label


def shape_id(text: str) -> str:
    return "other" if text == OTHER else key_hash(text)


def assess_metrics(a: Assessor) -> Iterable[Family]:
    req = CounterMetricFamily("cdp_assess_requests", "Requests on a mapped table, by statement shape",
                              labels=["table", "shape"])
    rcu = CounterMetricFamily("cdp_assess_read_units", "DynamoDB read units the requests would consume "
                              "(sampled mean per request times requests), by statement shape", labels=["table", "shape"])
    wcu = CounterMetricFamily("cdp_assess_write_units", "DynamoDB write units the requests would consume "
                              "(GSI writes included), by statement shape", labels=["table", "shape"])
    blocked = CounterMetricFamily("cdp_assess_refused_requests", "Requests of shapes DynamoDB would refuse "
                                  "(the sidecar's refusal in phase dynamo), by table", labels=["table"])
    total_r = CounterMetricFamily("cdp_assess_table_read_units", "Projected DynamoDB read units, by table",
                                  labels=["table"])
    total_w = CounterMetricFamily("cdp_assess_table_write_units", "Projected DynamoDB write units, by table",
                                  labels=["table"])
    over = CounterMetricFamily("cdp_assess_items_over_limit", "Sampled items over DynamoDB's 400 KB item limit, "
                               "by table", labels=["table"])
    info = GaugeMetricFamily("cdp_assess_shape_info", "A statement shape: its text and how DynamoDB would serve it",
                             labels=["table", "shape", "kind", "served", "text"])
    for t in sorted(a.tables.values(), key=lambda t: t.table):
        r_sum = w_sum = refused = 0.0
        for text, s in sorted(t.shapes.items()):
            sid = shape_id(text)
            req.add_metric([t.table, sid], s.count)
            r, w = s.mean_rcu * s.count, s.mean_wcu * s.count
            rcu.add_metric([t.table, sid], r)
            wcu.add_metric([t.table, sid], w)
            r_sum += r
            w_sum += w
            if s.sampled:
                refused += s.count * s.how.get(REFUSED, 0) / s.sampled
            served = max(s.how.items(), key=lambda kv: (kv[1], kv[0]))[0] if s.how else "not sampled"
            info.add_metric([t.table, sid, s.kind, served, text[:SHAPE_TEXT_LABEL]], 1)
        blocked.add_metric([t.table], round(refused))
        total_r.add_metric([t.table], r_sum)
        total_w.add_metric([t.table], w_sum)
        over.add_metric([t.table], t.over_limit)
    yield from (req, rcu, wcu, blocked, total_r, total_w, over, info)
