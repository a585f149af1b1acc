"""A client, a sidecar and its back ends in memory, for unit tests of the request path.

`SidecarPair` wires a real `ProxyServer` (constructed, never started) and a real `ClientSession`
to recording transports:

- the client side encodes requests with the project's codec and reads what the sidecar wrote to
  it with `FrameReader(responses=True)`;
- `CassandraPeer` stands behind the session's `UpstreamConnection` (handed out by `MemoryPool` in
  place of the TCP pool): it keeps every frame that reached Cassandra, answers each with a scripted
  message, and delivers the answers from the event loop as a socket would (or holds them until
  `release()`);
- `MemoryDynamoDB` is what `DynamoWriter` and `DynamoReader` call: GetItem, PutItem, UpdateItem,
  DeleteItem and Query on dictionaries, with the condition, key condition and update expressions
  the project writes (anything else fails loudly rather than being ignored);
- `settle()` runs the loop until nothing is pending: no answer on its way and no task left.

Nothing here opens a socket. Tests must run in an event loop (pytest-asyncio's auto mode).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import tempfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from cql_protocol.frame import Frame, FrameReader
from cql_protocol.messages import (
    Authenticate,
    AuthResponse,
    AuthSuccess,
    Message,
    Options,
    Prepare,
    Prepared,
    Query,
    Ready,
    SetKeyspace,
    Startup,
    Supported,
    Void,
    decode_frame,
    encode_message,
)
from cql_protocol.opcodes import Opcode
from proxy.aws.dynamodb_client import ConditionalCheckFailed
from proxy.config import Config
from proxy.reads.dynamo_reader import DynamoReader
from proxy.reads.read_path import ReadPath
from proxy.server import ProxyServer
from proxy.session.client_session import ClientSession
from proxy.session.upstream import UpstreamConnection
from proxy.writes.dual_write import DualWrite
from proxy.writes.dynamo_writer import DynamoWriter

Item = dict[str, Any]


class RecordingTransport:
    """What asyncio hands a protocol, in memory: writes are kept (or passed to `sink`)."""

    def __init__(self, sink: Callable[[bytes], None] | None = None, sockname: tuple[str, int] | None = None) -> None:
        self.data = bytearray()
        self.sink = sink
        self.closed = False
        self.reading = True
        self.sockname = sockname

    def write(self, data: bytes) -> None:
        if self.sink is not None:
            self.sink(bytes(data))
        else:
            self.data += data

    def take(self) -> bytes:
        out = bytes(self.data)
        self.data.clear()
        return out

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def is_reading(self) -> bool:
        return self.reading

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.sockname if name == "sockname" and self.sockname is not None else default


# -- Cassandra ------------------------------------------------------------------------------------

CASSANDRA_SUPPORTED = {"COMPRESSION": ["snappy", "lz4", "zstd"], "CQL_VERSION": ["3.4.7"],
                       "PROTOCOL_VERSIONS": ["3/v3", "4/v4", "5/v5", "6/v6-beta"]}


def prepared_id(query: str) -> bytes:
    """The id Cassandra gives a prepared statement: the MD5 of its text."""
    return hashlib.md5(query.encode()).digest()


class CassandraPeer:
    """The Cassandra node behind one session: every frame it got, and a scripted answer to each.

    Answers: READY (or AUTHENTICATE when `authenticator` is set, then AUTH_SUCCESS) to STARTUP,
    SUPPORTED to OPTIONS; for QUERY and PREPARE the message scripted under the statement's text in
    `results` (QUERY: else VOID, SET_KEYSPACE for USE; PREPARE: else PREPARED with Cassandra's id),
    for EXECUTE the one under the id, for BATCH VOID. `results` values may be callables of the
    request message. Answers travel through the loop; `hold` keeps them until `release()`."""

    def __init__(self) -> None:
        self.reader = FrameReader(responses=False)
        self.frames: list[Frame] = []  # every frame that reached Cassandra, as it arrived
        self._seen = 0
        self.results: dict[str | bytes, Message | Callable[[Message], Message]] = {}
        self.authenticator: str | None = None
        self.hold = False
        self.held: list[bytes] = []
        self.undelivered = 0
        self.compression: str | None = None
        self.transport = RecordingTransport(sink=self._received)
        self.upstream: UpstreamConnection | None = None

    def new_frames(self) -> list[Frame]:
        """The frames that reached Cassandra since the last call."""
        out = self.frames[self._seen:]
        self._seen = len(self.frames)
        return out

    def _received(self, data: bytes) -> None:
        self.reader.feed(data)
        for f in self.reader.frames():
            self.frames.append(f)
            msg = decode_frame(f).message
            answer = self.answer(msg)
            if isinstance(msg, Startup):  # Cassandra compresses from its READY on
                self.compression = self.reader.compression = msg.options.get("COMPRESSION")
            out = encode_message(answer, f.version, f.stream, response=True, compress=self.compression).encode()
            if self.hold:
                self.held.append(out)
            else:
                self._send(out)

    def answer(self, msg: Message) -> Message:
        if isinstance(msg, Startup):
            return Authenticate(self.authenticator) if self.authenticator else Ready()
        if isinstance(msg, AuthResponse):
            return AuthSuccess(None)
        if isinstance(msg, Options):
            return Supported(CASSANDRA_SUPPORTED)
        key: str | bytes | None = getattr(msg, "query", None)
        if key is None:
            key = getattr(msg, "query_id", None)
        scripted = self.results.get(key) if key is not None else None
        if scripted is not None:
            return scripted(msg) if callable(scripted) else scripted
        if isinstance(msg, Prepare):
            return Prepared(prepared_id(msg.query))
        if isinstance(msg, Query) and msg.query.lstrip().lower().startswith("use "):
            return SetKeyspace(msg.query.split()[1].strip('";'))
        return Void()

    def _send(self, data: bytes) -> None:
        self.undelivered += 1
        asyncio.get_running_loop().call_soon(self._deliver, data)

    def _deliver(self, data: bytes) -> None:
        self.undelivered -= 1
        if self.upstream is not None and not self.upstream.closed:
            self.upstream.data_received(data)

    def release(self) -> None:
        """Sends the answers held back while `hold` was set (and stops holding)."""
        self.hold = False
        held, self.held = self.held, []
        for data in held:
            self._send(data)


class MemoryPool:
    """The session's Cassandra pool: every connection goes to the one in-memory peer."""

    def __init__(self, peer: CassandraPeer) -> None:
        self.peer = peer
        self.connects = 0

    async def connect(self, factory: Callable[[], UpstreamConnection]) -> tuple[RecordingTransport,
                                                                                UpstreamConnection]:
        self.connects += 1
        proto = factory()
        proto.connection_made(self.peer.transport)  # type: ignore[arg-type]
        self.peer.upstream = proto
        return self.peer.transport, proto


# -- DynamoDB -------------------------------------------------------------------------------------


def _wire_default(obj: object) -> str:
    if isinstance(obj, bytes | bytearray | memoryview):  # B values travel as base64 text
        return base64.b64encode(bytes(obj)).decode()
    raise TypeError(f"not JSON: {type(obj).__name__}")


def _on_the_wire(value: Any) -> Any:
    """`value` as DynamoDB's JSON protocol carries it (what the real service would see)."""
    return orjson.loads(orjson.dumps(value, default=_wire_default))


def _scalar(attr: Item) -> tuple[str, Any]:
    ((kind, v),) = attr.items()
    if kind == "N":
        return kind, Decimal(v)
    if kind == "B":
        return kind, base64.b64decode(v)
    if kind in ("SS", "NS", "BS"):
        return kind, frozenset(v)
    return kind, v


_TERM = re.compile(
    r"\s*(?:(?P<fn>attribute_exists|attribute_not_exists)\(\s*(?P<fa>[#\w.]+)\s*\)"
    r"|begins_with\(\s*(?P<ba>[#\w.]+)\s*,\s*(?P<bv>:\w+)\s*\)"
    r"|(?P<wa>[#\w.]+)\s+BETWEEN\s+(?P<lo>:\w+)\s+AND\s+(?P<hi>:\w+)"
    r"|(?P<ca>[#\w.]+)\s*(?P<op><>|<=|>=|=|<|>)\s*(?P<cv>:\w+))\s*(?P<more>AND\b)?",
)


class MemoryDynamoDB:
    """DynamoDB in dictionaries, for unit tests: the operations and expressions the data path
    uses. `keys`: each table's (partition key attribute, sort key attribute or None). Requests and
    answers go through the JSON wire form; `calls` records every (operation, request)."""

    def __init__(self, keys: dict[str, tuple[str, str | None]]) -> None:
        self.keys = keys
        self.tables: dict[str, dict[bytes, Item]] = {t: {} for t in keys}
        self.calls: list[tuple[str, Item]] = []

    def items(self, table: str) -> list[Item]:
        return list(self.tables[table].values())

    def put(self, table: str, item: Item) -> None:
        """Stores an item directly (test set-up)."""
        wire = _on_the_wire(item)
        self.tables[table][self._key_id(table, wire)] = wire

    async def call(self, operation: str, request: Item) -> Item:
        req = _on_the_wire(request)
        self.calls.append((operation, req))
        await asyncio.sleep(0)  # a round trip: other tasks run meanwhile, as they would on the network
        run = getattr(self, "_" + operation, None)
        if run is None:
            raise NotImplementedError(f"the in-memory DynamoDB has no {operation}")
        answer: Item = _on_the_wire(run(req))
        return answer

    async def get_item(self, **request: Any) -> Item:
        return await self.call("GetItem", request)

    async def put_item(self, **request: Any) -> Item:
        return await self.call("PutItem", request)

    async def update_item(self, **request: Any) -> Item:
        return await self.call("UpdateItem", request)

    async def delete_item(self, **request: Any) -> Item:
        return await self.call("DeleteItem", request)

    async def query(self, **request: Any) -> Item:
        return await self.call("Query", request)

    # -- operations ------------------------------------------------------------------------------
    def _key_id(self, table: str, item: Item) -> bytes:
        pk, sk = self.keys[table]
        names = [pk] if sk is None else [pk, sk]
        missing = [n for n in names if n not in item]
        if missing:
            raise ValueError(f"{table}: the key lacks {missing}")
        return orjson.dumps([item[n] for n in names], option=orjson.OPT_SORT_KEYS)

    def _check(self, req: Item, current: Item | None) -> None:
        expr = req.get("ConditionExpression")
        if expr is not None and not any(self._holds(d, req, current or {}) for d in _disjuncts(expr)):
            body: Item = {"__type": "ConditionalCheckFailedException"}
            if req.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current is not None:
                body["Item"] = current
            raise ConditionalCheckFailed("ConditionalCheckFailedException", "The conditional request failed", 400,
                                         body)

    def _GetItem(self, req: Item) -> Item:
        item = self.tables[req["TableName"]].get(self._key_id(req["TableName"], req["Key"]))
        return {"Item": item} if item is not None else {}

    def _PutItem(self, req: Item) -> Item:
        table = self.tables[req["TableName"]]
        kid = self._key_id(req["TableName"], req["Item"])
        self._check(req, table.get(kid))
        table[kid] = req["Item"]
        return {}

    def _DeleteItem(self, req: Item) -> Item:
        table = self.tables[req["TableName"]]
        kid = self._key_id(req["TableName"], req["Key"])
        self._check(req, table.get(kid))
        table.pop(kid, None)
        return {}

    def _UpdateItem(self, req: Item) -> Item:
        table = self.tables[req["TableName"]]
        kid = self._key_id(req["TableName"], req["Key"])
        current = table.get(kid)
        self._check(req, current)
        item = dict(current or req["Key"])
        names = req.get("ExpressionAttributeNames", {})
        vals = req.get("ExpressionAttributeValues", {})
        for clause, body in re.findall(r"\b(SET|ADD|REMOVE)\s+(.*?)(?=\s+\b(?:SET|ADD|REMOVE)\b|$)",
                                       req["UpdateExpression"]):
            for part in (p.strip() for p in _top_level(body, ",")):
                if clause == "SET":
                    path, _, v = (x.strip() for x in part.partition("="))
                    item[names.get(path, path)] = _set_value(v, item, names, vals)
                elif clause == "REMOVE":
                    item.pop(names.get(part, part), None)
                else:
                    path, v = part.split()
                    name, delta = names.get(path, path), vals[v]
                    old = item.get(name)
                    if "N" in delta:
                        item[name] = {"N": str(Decimal(old["N"] if old else "0") + Decimal(delta["N"]))}
                    else:
                        ((kind, members),) = delta.items()
                        item[name] = {kind: sorted(set(old[kind] if old else []) | set(members))}
        table[kid] = item
        return {}

    def _Query(self, req: Item) -> Item:
        for unsupported in ("IndexName", "FilterExpression", "ProjectionExpression", "Select"):
            if unsupported in req:
                raise NotImplementedError(f"the in-memory DynamoDB does not do Query with {unsupported}")
        name = req["TableName"]
        _, sk = self.keys[name]
        found = [i for i in self.tables[name].values() if self._holds(req["KeyConditionExpression"], req, i)]
        if sk is not None:
            found.sort(key=lambda i: _scalar(i[sk])[1], reverse=req.get("ScanIndexForward", True) is False)
        start = req.get("ExclusiveStartKey")
        if start is not None:
            kid = self._key_id(name, start)
            at = next(n for n, i in enumerate(found) if self._key_id(name, i) == kid)
            found = found[at + 1:]
        limit = req.get("Limit")
        out: Item = {}
        if limit is not None and len(found) > limit:
            found = found[:limit]
            pk_attr, sk_attr = self.keys[name]
            last = found[-1]
            out["LastEvaluatedKey"] = {k: last[k] for k in (pk_attr, sk_attr) if k is not None}
        out["Items"] = found
        out["Count"] = out["ScannedCount"] = len(found)
        return out

    def _holds(self, expr: str, req: Item, item: Item) -> bool:
        """Whether `item` satisfies a condition or key condition: terms joined by AND."""
        names = req.get("ExpressionAttributeNames", {})
        vals = req.get("ExpressionAttributeValues", {})
        pos, ok = 0, True
        while True:
            m = _TERM.match(expr, pos)
            if m is None:
                raise NotImplementedError(f"the in-memory DynamoDB cannot read {expr[pos:]!r} in {expr!r}")
            g = m.groupdict()
            attr = names.get(g["fa"] or g["ba"] or g["wa"] or g["ca"], g["fa"] or g["ba"] or g["wa"] or g["ca"])
            present = item.get(attr)
            if g["fn"] is not None:
                ok &= (present is not None) == (g["fn"] == "attribute_exists")
            elif present is None:
                ok = False
            else:
                kind, v = _scalar(present)
                if g["bv"] is not None:
                    bk, bv = _scalar(vals[g["bv"]])
                    ok &= kind == bk and v[: len(bv)] == bv
                elif g["lo"] is not None:
                    (lk, lo), (hk, hi) = _scalar(vals[g["lo"]]), _scalar(vals[g["hi"]])
                    ok &= kind == lk == hk and lo <= v <= hi
                else:
                    ck, cv = _scalar(vals[g["cv"]])
                    ok &= kind == ck and _compare(g["op"], v, cv)
            pos = m.end()
            if not g["more"]:
                break
        if expr[pos:].strip():
            raise NotImplementedError(f"the in-memory DynamoDB cannot read {expr[pos:]!r} in {expr!r}")
        return ok


def _top_level(text: str, sep: str) -> list[str]:
    """`text` split at each `sep` outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i + len(sep)
    return [*parts, text[start:]]


def _disjuncts(expr: str) -> list[str]:
    """A condition's terms joined by OR, each an AND of terms (outer parentheses dropped)."""
    out = []
    for d in (x.strip() for x in _top_level(expr, " OR ")):
        out.append(d[1:-1] if d.startswith("(") and d.endswith(")") else d)
    return out


_SET_VALUE = re.compile(r"(?::\w+|if_not_exists\(\s*(?P<a>[#\w.:]+)\s*,\s*(?P<d>:\w+)\s*\))(?:\s*\+\s*(?P<p>:\w+))?")


def _set_value(v: str, item: Item, names: dict[str, str], vals: Item) -> Any:
    """`:v`, `if_not_exists(#a, :v)`, either `+ :w` (numbers)."""
    m = _SET_VALUE.fullmatch(v)
    if m is None:
        raise NotImplementedError(f"SET ... = {v!r}")
    base = vals[v.split()[0]] if m["a"] is None else item.get(names.get(m["a"], m["a"]), vals[m["d"]])
    if m["p"] is None:
        return base
    return {"N": str(Decimal(base["N"]) + Decimal(vals[m["p"]]["N"]))}


def _compare(op: str, a: Any, b: Any) -> bool:
    return {"=": a == b, "<>": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


# -- the pair -------------------------------------------------------------------------------------


class SidecarPair:
    """A client connected to a real ClientSession of a real (never started) ProxyServer, with
    Cassandra (`peer`) and, given a mapping, DynamoDB (`dynamo`) in memory. Construct it inside a
    running event loop; `close()` ends the session."""

    def __init__(self, mapping: str | None = None, version: int = 4, **config: Any) -> None:
        if mapping is not None:
            with tempfile.TemporaryDirectory() as d:
                path = Path(d) / "mapping.yaml"
                path.write_text(mapping)
                self.server = ProxyServer(Config(mapping=str(path), **config))
        else:
            self.server = ProxyServer(Config(**config))
        self.peer = CassandraPeer()
        self.server.pool = MemoryPool(self.peer)  # type: ignore[assignment]
        self.dynamo: MemoryDynamoDB | None = None
        m = self.server.mapping
        if m is not None:  # the mapped paths, as ProxyServer.start makes them, over the double
            self.dynamo = MemoryDynamoDB({tm.dynamodb_table: (tm.pk.attribute, tm.sk.attribute if tm.sk else None)
                                          for tm in m.tables.values()})
            cfg = self.server.cfg
            client: Any = self.dynamo
            self.server.dual = DualWrite(m, DynamoWriter(client), self.server.table_phase,
                                         deadline=cfg.dynamodb_deadline)
            self.server.reads = ReadPath(m, DynamoReader(client), self.server.dual, cfg.verify_sample,
                                         cfg.verify_concurrency, deadline=cfg.dynamodb_deadline)
        self.version = version
        self._baseline = asyncio.all_tasks()
        self.client = RecordingTransport(sockname=("127.0.0.1", 9042))
        self.reader = FrameReader(responses=True)
        self.session = ClientSession(self.server)
        self.session.connection_made(self.client)  # type: ignore[arg-type]

    # -- the client ------------------------------------------------------------------------------
    def request(self, msg: Message, stream: int, *, compress: str | None = None) -> Frame:
        """Sends one request; returns the frame as the client encoded it."""
        f = encode_message(msg, self.version, stream, response=False, compress=compress)
        self.send_bytes(f.encode())
        return f

    def send_bytes(self, data: bytes) -> None:
        self.session.data_received(data)

    def answers(self) -> list[Frame]:
        """The frames the sidecar wrote to the client since the last call."""
        self.reader.feed(self.client.take())
        return self.reader.frames()

    def answer(self) -> tuple[int, Message]:
        """The one answer the client got since the last look: (stream, message)."""
        frames = self.answers()
        assert len(frames) == 1, [(f.stream, Opcode(f.opcode).name) for f in frames]
        return frames[0].stream, decode_frame(frames[0]).message

    async def connect(self, options: dict[str, str] | None = None) -> None:
        """STARTUP on stream 0 and its READY: the session is ready."""
        self.request(Startup({"CQL_VERSION": "3.0.0", **(options or {})}), 0)
        await self.settle()
        stream, msg = self.answer()
        assert (stream, msg) == (0, Ready())
        if options and "COMPRESSION" in options:
            self.reader.compression = options["COMPRESSION"]
        self.peer.new_frames()

    # -- the loop --------------------------------------------------------------------------------
    async def settle(self, timeout: float = 2.0) -> None:
        """Runs the loop until no answer is on its way from Cassandra and every task started
        since the pair was made is done (mapped paths answer from tasks)."""
        loop = asyncio.get_running_loop()
        me = asyncio.current_task()
        deadline = loop.time() + timeout
        quiet = spins = 0
        while quiet < 3:  # a few quiet passes: callbacks scheduled by the last ones run too
            await asyncio.sleep(0 if spins < 200 else 0.001)
            spins += 1
            busy = [t for t in asyncio.all_tasks() if t is not me and t not in self._baseline and not t.done()]
            quiet = 0 if busy or self.peer.undelivered else quiet + 1
            if loop.time() > deadline:
                raise AssertionError(f"not settled after {timeout} s: {busy}, {self.peer.undelivered} answers "
                                     "from Cassandra undelivered")

    def close(self) -> None:
        self.session.close("client")
        self.session.connection_lost(None)


def rows_of(msg: Message) -> list[list[bytes | None]]:
    rows = getattr(msg, "rows", None)
    assert rows is not None, msg
    return list(rows)


__all__ = ["CassandraPeer", "MemoryDynamoDB", "MemoryPool", "RecordingTransport", "SidecarPair", "prepared_id",
           "rows_of"]
