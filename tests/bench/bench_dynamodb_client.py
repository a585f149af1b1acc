#!/usr/bin/env python3
"""Client CPU per conditional PutItem: the sidecar's DynamoDB client against plain boto3, same run.

    .venv/bin/python tests/bench/bench_dynamodb_client.py [--requests 3000] [--endpoint URL] [--deadline 2]

Both write the same items (1 KiB binary value, last-write-wins condition) to the same table in
DynamoDB Local. CPU is this process's own (time.process_time), so DynamoDB Local's work is not
counted; wall-clock rate and latency percentiles are printed too, but they are DynamoDB Local's.
The sidecar's client asks for the consumed capacity of every item operation and counts it; each
level also runs with `ReturnConsumedCapacity: NONE` in the request (nothing asked, nothing
parsed), so the difference is what that accounting costs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import boto3

from proxy.aws.dynamodb_client import DynamoDBClient
from proxy.aws.sigv4 import FrozenCredentials
from proxy.deadline import within

VALUE = os.urandom(1024)
COND = "attribute_not_exists(pk) OR #ts < :ts"


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000


def bench_boto3(endpoint: str, table: str, n: int) -> tuple[float, float, list[float]]:
    c = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                     aws_access_key_id="test", aws_secret_access_key="test")
    lat = []
    for i in range(50):  # warm-up
        c.put_item(TableName=table, Item={"pk": {"S": f"w{i}"}, "_ts": {"N": "1"}, "v": {"B": VALUE}})
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        c.put_item(TableName=table, Item={"pk": {"S": f"b{i}"}, "_ts": {"N": str(i)}, "v": {"B": VALUE}},
                   ConditionExpression=COND, ExpressionAttributeNames={"#ts": "_ts"},
                   ExpressionAttributeValues={":ts": {"N": str(i)}})
        lat.append(time.perf_counter() - t)
    return time.process_time() - cpu0, time.perf_counter() - wall0, lat


async def bench_ours(endpoint: str, table: str, n: int, concurrency: int,
                     deadline: float | None = None, capacity: bool = True) -> tuple[float, float, list[float]]:
    """`deadline`: each request inside a request-deadline scope of that many seconds, as the
    sidecar runs its client-facing DynamoDB calls. `capacity` False: the requests ask for no
    consumed capacity."""
    creds = FrozenCredentials("test", "test")
    async with DynamoDBClient(region="us-east-1", endpoint=endpoint, credentials=lambda: creds,
                              max_connections=max(concurrency, 1)) as c:
        for i in range(50):
            await c.put_item(TableName=table, Item={"pk": {"S": f"w{i}"}, "_ts": {"N": "1"}, "v": {"B": VALUE}})
        lat: list[float] = []
        it = iter(range(n))

        # items of their own: the condition admits one write of each
        tag = ("" if deadline is None else "d") + ("" if capacity else "n")
        extra = {} if capacity else {"ReturnConsumedCapacity": "NONE"}

        async def put(i: int) -> None:
            await c.put_item(TableName=table,
                             Item={"pk": {"S": f"o{concurrency}{tag}-{i}"}, "_ts": {"N": str(i)}, "v": {"B": VALUE}},
                             ConditionExpression=COND, ExpressionAttributeNames={"#ts": "_ts"},
                             ExpressionAttributeValues={":ts": {"N": str(i)}}, **extra)

        async def worker() -> None:
            for i in it:
                t = time.perf_counter()
                if deadline is None:
                    await put(i)
                else:
                    async with within(deadline, "bench"):
                        await put(i)
                lat.append(time.perf_counter() - t)

        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        return time.process_time() - cpu0, time.perf_counter() - wall0, lat


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--endpoint", default=f"http://127.0.0.1:{os.environ.get('CDP_DYNAMODB_PORT', '8000')}")
    p.add_argument("--concurrency", default="1,16")
    p.add_argument("--deadline", type=float, default=0.0,
                   help="also run each level with every request in a request-deadline scope of this many seconds")
    args = p.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    table = f"bench_client_{uuid.uuid4().hex[:6]}"
    admin = boto3.client("dynamodb", endpoint_url=args.endpoint, region_name="us-east-1",
                         aws_access_key_id="test", aws_secret_access_key="test")
    admin.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                       AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                       BillingMode="PAY_PER_REQUEST")
    try:
        n = args.requests
        rows = []
        cpu, wall, lat = bench_boto3(args.endpoint, table, n)
        base = cpu / n
        rows.append(("boto3 (sequential)", cpu / n, n / wall, lat))
        for conc in [int(x) for x in args.concurrency.split(",")]:
            cpu, wall, lat = asyncio.run(bench_ours(args.endpoint, table, n, conc))
            rows.append((f"sidecar client, {conc} in flight", cpu / n, n / wall, lat))
            cpu, wall, lat = asyncio.run(bench_ours(args.endpoint, table, n, conc, capacity=False))
            rows.append(("  same, no capacity asked", cpu / n, n / wall, lat))
            if args.deadline:
                cpu, wall, lat = asyncio.run(bench_ours(args.endpoint, table, n, conc, args.deadline))
                rows.append((f"  same, in a {args.deadline:g} s deadline", cpu / n, n / wall, lat))
        print(f"conditional PutItem, 1 KiB binary value, {n} requests each, DynamoDB Local at {args.endpoint}")
        print(f"{'client':<32}{'CPU/req':>10}{'vs boto3':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
        for name, per, rate, lat in rows:
            print(f"{name:<32}{per * 1e6:>8.0f}us{base / per:>9.1f}x{rate:>9.0f}{pct(lat, .5):>9.2f}{pct(lat, .99):>9.2f}")
        print(f"(median boto3 latency {statistics.median(rows[0][3]) * 1000:.2f} ms)")
    finally:
        admin.delete_table(TableName=table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
