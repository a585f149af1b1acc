#!/usr/bin/env python3
"""The demo: real Cassandra and DynamoDB Local on loopback, a sidecar in front of Cassandra, and a
small application that only knows the sidecar's address.

Run with `make demo`. The back ends stay up afterwards (`make backends-down` stops them).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def step(msg: str) -> None:
    print(f"\n==> {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def admin_get(port: int, path: str, token: str) -> str:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return str(r.read().decode())


AWS_ENV = {"AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo", "AWS_DEFAULT_REGION": "us-east-1"}
DYNAMODB = f"http://127.0.0.1:{os.environ.get('CDP_DYNAMODB_PORT', '8000')}"


def cli(*args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "proxy.cli", *args], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, **AWS_ENV})
    if r.returncode != 0:
        raise SystemExit(f"cql-dynamo-proxy {' '.join(args)} failed:\n{r.stdout}{r.stderr}")
    return r.stdout


def main() -> int:
    step("Starting the real back ends (first run downloads Cassandra 5.0 and DynamoDB Local)")
    subprocess.run([sys.executable, str(ROOT / "deploy/local/backends"), "up", "cassandra", "dynamodb"], check=True)
    create_schema()

    step("Mapping the shop keyspace to DynamoDB: `mapping init`, then `tables create`")
    work = ROOT / ".demo"
    work.mkdir(exist_ok=True)
    mapping = work / "mapping.yaml"
    prefix = f"demo{uuid.uuid4().hex[:4]}_"
    cli("mapping", "init", "--cassandra", "127.0.0.1:9042", "--keyspace", "shop", "--table-prefix", prefix,
        "-o", str(mapping), "--force")
    print(cli("mapping", "check", str(mapping)).rstrip())
    print(cli("tables", "create", "--mapping", str(mapping), "--endpoint-url", DYNAMODB,
              "--region", "us-east-1").rstrip())

    port, admin_port = int(os.environ.get("DEMO_PORT", free_port())), free_port()
    token = uuid.uuid4().hex
    step(f"Starting the sidecar on 127.0.0.1:{port} with shop.cart_items in phase dual_write")
    log_path = work / "sidecar.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "proxy.cli", "serve", "--listen", f"127.0.0.1:{port}",
             "--cassandra", "127.0.0.1:9042", "--admin", f"127.0.0.1:{admin_port}", "--mapping", str(mapping),
             "--phases", "shop.cart_items=dual_write", "--dynamodb-endpoint", DYNAMODB,
             "--state-dir", str(work / "state")],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, **AWS_ENV, "CDP_ADMIN_TOKEN": token},
        )
    try:
        deadline = time.monotonic() + 20
        while "ready: CQL on" not in log_path.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                print(log_path.read_text())
                return 1
            time.sleep(0.1)
        run_app(port)
        compare_stores(mapping)
        step("What the operator sees: GET /status and a few Prometheus series from /metrics")
        print(json.dumps({k: v for k, v in json.loads(admin_get(admin_port, "/status", token)).items()
                          if k != "config"}, indent=2))
        for line in admin_get(admin_port, "/metrics", token).splitlines():
            if line.startswith(("cdp_request_duration_seconds_count", "cdp_client_connections_open",
                                "cdp_dual_writes_total", "cdp_dynamodb_requests_total")) \
                    and not line.endswith(" 0.0"):
                print("   ", line)
    finally:
        proc.terminate()
        proc.wait(30)
    step("Done. The back ends are still running; `make backends-down` stops them.")
    return 0


def create_schema() -> None:
    from cassandra.cluster import Cluster

    cluster = Cluster(["127.0.0.1"], port=9042)
    s = cluster.connect()
    s.execute("CREATE KEYSPACE IF NOT EXISTS shop WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    s.execute("DROP TABLE IF EXISTS shop.cart_items")  # a fresh table each run: the demo starts empty
    s.execute("CREATE TABLE shop.cart_items (cart_id uuid, item text, qty int, "
              "price decimal, tags set<text>, PRIMARY KEY (cart_id, item))")
    cluster.shutdown()


def compare_stores(mapping_path: Path) -> None:
    import boto3
    from cassandra.cluster import Cluster

    from translators.compare import compare
    from translators.driver_values import row_from_driver
    from translators.mapping import load_mapping

    step("Comparing the two stores row by row")
    tm = load_mapping(mapping_path).table("shop", "cart_items")
    assert tm is not None
    cluster = Cluster(["127.0.0.1"], port=9042)
    rows = [row_from_driver(dict(tm.schema.columns), r)
            for r in cluster.connect().execute("SELECT * FROM shop.cart_items")]
    cluster.shutdown()
    ddb = boto3.client("dynamodb", endpoint_url=DYNAMODB, region_name="us-east-1",
                       aws_access_key_id="demo", aws_secret_access_key="demo")
    items = ddb.get_paginator("scan").paginate(TableName=tm.dynamodb_table, ConsistentRead=True)
    all_items = [it for page in items for it in page["Items"]]
    diffs = compare(tm, rows, all_items)
    print(f"    Cassandra rows: {len(rows)}, DynamoDB items: {len(all_items)}, differences: {len(diffs)}")
    for d in diffs[:5]:
        print(f"      {d}")
    sample = all_items[0]
    shown = {k: v for k, v in sample.items() if not k.startswith("_")}
    print(f"    one item in {tm.dynamodb_table}: {shown}")


def run_app(port: int) -> None:
    from cassandra.cluster import Cluster
    from cassandra.concurrent import execute_concurrent_with_args

    step("The application connects to the sidecar as if it were a Cassandra node")
    cluster = Cluster(["127.0.0.1"], port=port, compression="lz4")
    session = cluster.connect()
    print(f"    protocol v{cluster.protocol_version}, hosts the driver knows: "
          f"{[str(h.endpoint) for h in cluster.metadata.all_hosts()]}")
    local = session.execute("SELECT rpc_address, release_version, tokens FROM system.local").one()
    print(f"    system.local says: rpc_address={local.rpc_address} release={local.release_version} "
          f"tokens={sorted(local.tokens)}")
    carts = [uuid.uuid4() for _ in range(100)]
    ins = session.prepare("INSERT INTO shop.cart_items (cart_id, item, qty, price, tags) VALUES (?, ?, ?, ?, ?)")
    t0 = time.perf_counter()
    args = [(c, f"sku-{i}", i + 1, i * 2.5, {"demo"}) for c in carts for i in range(10)]
    execute_concurrent_with_args(session, ins, args, concurrency=64)
    dt = time.perf_counter() - t0
    print(f"    wrote {len(args)} cart items through the sidecar (to Cassandra and DynamoDB) in {dt:.2f}s "
          f"({len(args) / dt:.0f}/s)")
    session.execute("UPDATE shop.cart_items SET qty = 99, tags = tags + {'updated'} "
                    f"WHERE cart_id = {carts[0]} AND item = 'sku-0'")
    session.execute(f"DELETE FROM shop.cart_items WHERE cart_id = {carts[1]} AND item = 'sku-1'")
    rows = list(session.execute(session.prepare("SELECT item, qty FROM shop.cart_items WHERE cart_id = ?"),
                                (carts[0],)))
    print(f"    cart {carts[0]} has {len(rows)} items: {[(r.item, r.qty) for r in rows[:3]]} ...")
    cluster.shutdown()


if __name__ == "__main__":
    sys.exit(main())
