#!/usr/bin/env python3
"""The demo: a whole migration on real Cassandra and DynamoDB Local, on loopback. A small
application that only knows the sidecar's address runs all along while its table goes through
every phase: dual writes, the cutover gate refusing DynamoDB before its history is there, the
history copied by `backfill`, `validate`, reads compared, DynamoDB taking over, and finally
Cassandra switched off.

Run with `make demo`. The back ends stay up afterwards (`make backends-down` stops them).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from decimal import Decimal
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


def refused(*args: str) -> str:
    """A command the demo expects to be refused (exit 1): its reason."""
    r = subprocess.run([sys.executable, "-m", "proxy.cli", *args], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, **AWS_ENV})
    if r.returncode != 1:
        raise SystemExit(f"cql-dynamo-proxy {' '.join(args)} was not refused (exit {r.returncode}):\n"
                         f"{r.stdout}{r.stderr}")
    return r.stderr


def main() -> int:
    step("Starting the real back ends (first run downloads Cassandra 5.0 and DynamoDB Local)")
    subprocess.run([sys.executable, str(ROOT / "deploy/local/backends"), "up", "cassandra", "dynamodb"], check=True)
    create_schema()
    history = write_history()
    print(f"    {history} cart items already in Cassandra before the migration starts (the history)")

    step("Mapping the shop keyspace to DynamoDB: `mapping init`, then `tables create`")
    work = ROOT / ".demo"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir()
    mapping = work / "mapping.yaml"
    prefix = f"demo{uuid.uuid4().hex[:4]}_"
    cli("mapping", "init", "--cassandra", "127.0.0.1:9042", "--keyspace", "shop", "--table-prefix", prefix,
        "-o", str(mapping), "--force")
    print(cli("mapping", "check", str(mapping)).rstrip())
    print(cli("tables", "create", "--mapping", str(mapping), "--endpoint-url", DYNAMODB,
              "--region", "us-east-1").rstrip())

    port, admin_port = int(os.environ.get("DEMO_PORT", free_port())), free_port()
    token = uuid.uuid4().hex
    admin = ("--admin", f"127.0.0.1:{admin_port}", "--token", token)
    step(f"Starting the sidecar on 127.0.0.1:{port}; every table in phase cassandra (pure pass-through)")
    log_path = work / "sidecar.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "proxy.cli", "serve", "--listen", f"127.0.0.1:{port}",
             "--cassandra", "127.0.0.1:9042", "--admin", f"127.0.0.1:{admin_port}", "--mapping", str(mapping),
             "--dynamodb-endpoint", DYNAMODB, "--state-dir", str(work / "state"),
             "--control", f"file:{work / 'control'}", "--control-poll-interval", "0.2",
             "--verify-sample", "100"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, **AWS_ENV, "CDP_ADMIN_TOKEN": token},
        )
    app: App | None = None
    try:
        deadline = time.monotonic() + 20
        while "ready: CQL on" not in log_path.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                print(log_path.read_text())
                return 1
            time.sleep(0.1)
        app = App(port)
        app.start()
        app.wait(200)

        flip("dual_write", admin, app, "new writes now land in both stores")
        step("The cutover gate: DynamoDB cannot take over before the history is copied and proven equal")
        print(indent(refused("phase", "set", "shop.cart_items", "dynamo_fallback", "--by", "demo", *admin)))
        control = f"file:{work / 'control'}"
        step("Copying the history: `backfill` (last write wins: it never overwrites a newer live write)")
        out = cli("backfill", "--mapping", str(mapping), "--cassandra", "127.0.0.1:9042", "--dynamodb-endpoint",
                  DYNAMODB, "--control", control, "--summary", str(work / "backfill.json"),
                  "--ledger", str(work / "backfill-ledger.jsonl"))
        print(indent(out))
        step("Proving the stores equal: `validate` (recorded in the control store for the gate)")
        print(indent(cli("validate", "--mapping", str(mapping), "--cassandra", "127.0.0.1:9042",
                         "--dynamodb-endpoint", DYNAMODB, "--control", control,
                         "--report", str(work / "validate.jsonl"))))
        flip("verify", admin, app, "reads are answered by Cassandra and compared with DynamoDB")
        show_metrics(admin_port, token, ("cdp_verify_reads_total", "cdp_verify_mismatches_total"))
        step("`phase status`: backfill done, validate clean, the cutover gate open")
        print(indent(cli("phase", "status", *admin)))
        flip("dynamo_fallback", admin, app, "DynamoDB answers and decides; Cassandra is the fallback and shadow")
        flip("dynamo", admin, app, "DynamoDB only")
        show_metrics(admin_port, token, ("cdp_dynamo_reads_total", "cdp_authoritative_writes_total",
                                         "cdp_fallback_misses_total"))

        step("Stopping Cassandra: the application keeps running on DynamoDB alone")
        subprocess.run([sys.executable, str(ROOT / "deploy/local/backends"), "down", "cassandra"], check=True)
        app.wait(300)
        fresh = fresh_driver(port)
        print(f"    a new driver connected with Cassandra down: {fresh}")
        app.stop()
        print(f"\n    the application made {app.ops} operations through every phase with {len(app.errors)} "
              f"errors{': ' + app.errors[0] if app.errors else ''}")
        print("    phases and audit trail:")
        print(indent(cli("phase", "audit", *admin)))
    finally:
        if app is not None:
            app.stop()
        proc.terminate()
        proc.wait(30)
    step("Starting Cassandra again so the back ends are as the demo found them")
    subprocess.run([sys.executable, str(ROOT / "deploy/local/backends"), "up", "cassandra"], check=True)
    step("Done. The back ends are still running; `make backends-down` stops them.")
    return 0 if app is None or not app.errors else 1


def indent(text: str) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines())


def flip(phase: str, admin: tuple[str, ...], app: App, what: str) -> None:
    step(f"`phase set shop.cart_items {phase}`: {what}")
    print(indent(cli("phase", "set", "shop.cart_items", phase, "--by", "demo", *admin)))
    deadline = time.monotonic() + 10
    while True:
        status = json.loads(cli("phase", "status", "--json", *admin))
        if status.get("converged"):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"the fleet did not converge: {status}")
        time.sleep(0.2)
    app.wait(300)
    print(f"    the application keeps running: {app.ops} operations so far, {len(app.errors)} errors")


def show_metrics(admin_port: int, token: str, names: tuple[str, ...]) -> None:
    for line in admin_get(admin_port, "/metrics", token).splitlines():
        if line.startswith(names):
            print("   ", line)


class App(threading.Thread):
    """The unmodified application: it only knows the sidecar's address. It adds items to carts,
    reads carts back and checks it reads what it wrote."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        from cassandra.cluster import Cluster

        self.cluster = Cluster(["127.0.0.1"], port=port, compression="lz4")
        self.session = self.cluster.connect()
        self.ops = 0
        self.errors: list[str] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        s = self.session
        ins = s.prepare("INSERT INTO shop.cart_items (cart_id, item, qty, price, tags) VALUES (?, ?, ?, ?, ?)")
        sel = s.prepare("SELECT item, qty FROM shop.cart_items WHERE cart_id = ?")
        carts = [uuid.uuid4() for _ in range(50)]
        i = 0
        while not self._stop_event.is_set():
            i += 1
            cart = carts[i % len(carts)]
            try:
                s.execute(ins, (cart, f"sku-{i % 7}", i, Decimal(i) / 4, {"demo"}))
                rows = {r.item: r.qty for r in s.execute(sel, (cart,))}
                if rows.get(f"sku-{i % 7}") != i:
                    self.errors.append(f"read back {rows.get(f'sku-{i % 7}')} after writing {i}")
                self.ops += 2
            except Exception as e:
                self.errors.append(f"{type(e).__name__}: {e}")

    def wait(self, ops: int) -> None:
        target = self.ops + ops
        deadline = time.monotonic() + 60
        while self.ops < target and time.monotonic() < deadline and self.is_alive():
            time.sleep(0.05)

    def stop(self) -> None:
        if not self._stop_event.is_set():
            self._stop_event.set()
            self.join(30)
            self.cluster.shutdown()


def fresh_driver(port: int) -> str:
    from cassandra.cluster import Cluster

    cluster = Cluster(["127.0.0.1"], port=port)
    try:
        s = cluster.connect()
        n = len(list(s.execute("SELECT * FROM shop.cart_items LIMIT 10")))
        cols = list(cluster.metadata.keyspaces["shop"].tables["cart_items"].columns)
        return f"schema columns {cols}, read {n} rows"
    finally:
        cluster.shutdown()


def write_history() -> int:
    from cassandra.cluster import Cluster
    from cassandra.concurrent import execute_concurrent_with_args

    cluster = Cluster(["127.0.0.1"], port=9042)
    s = cluster.connect()
    ins = s.prepare("INSERT INTO shop.cart_items (cart_id, item, qty, price, tags) VALUES (?, ?, ?, ?, ?)")
    args = [(uuid.uuid4(), f"old-{i}", i, Decimal(i), {"history"}) for i in range(1000)]
    execute_concurrent_with_args(s, ins, args, concurrency=64)
    cluster.shutdown()
    return len(args)


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


if __name__ == "__main__":
    sys.exit(main())
