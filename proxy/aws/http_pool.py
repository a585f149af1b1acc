"""A small keep-alive HTTP/1.1 client for one host: DynamoDB's POSTs and S3's object requests.

aiohttp's general-purpose client costs roughly 100 µs of Python per request; this one writes each
request in one send and parses the answer in place, with TLS from the standard library. One request
at a time per connection (no pipelining), a bounded pool of idle connections.

Through a proxy when the environment names one, as botocore and curl read it: `https_proxy` /
`HTTPS_PROXY` for https endpoints (an HTTP CONNECT tunnel, TLS inside it end to end),
`http_proxy` / `HTTP_PROXY` for http ones (absolute-form requests), none for hosts `no_proxy` /
`NO_PROXY` lists (`*`, host names and their subdomains, IP addresses and networks, `:port`).
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import os
import ssl
import time
from collections import deque
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from ..deadline import MIN_ATTEMPT, DeadlineExceeded


class HttpError(OSError):
    """A transport-level failure: the connection broke or the answer was not HTTP."""


class ConnectFailed(HttpError):
    """No connection could be opened (refused, unreachable): the request was not sent."""


def _env(environ: Mapping[str, str], name: str) -> str:
    # the lowercase spelling first, as urllib, requests and curl read it
    return environ.get(name.lower()) or environ.get(name.upper()) or ""


def _host_matches(host: str, port: int, entry: str) -> bool:
    """Whether one no_proxy entry covers host:port (host already lowercase, without brackets)."""
    entry = entry.strip().lower()
    if not entry:
        return False
    if entry == "*":
        return True
    try:  # an address or a network, e.g. 10.0.0.0/8 or ::1
        return ipaddress.ip_address(host) in ipaddress.ip_network(entry.strip("[]"), strict=False)
    except ValueError:
        pass
    name, sep, entry_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
    if sep:
        if not entry_port.isdigit() or int(entry_port) != port:
            return False
        entry = name
    entry = entry.removeprefix("*").lstrip(".")
    # a domain covers itself and its subdomains, never a name that merely ends with it
    return host == entry or host.endswith("." + entry)


def bypasses_proxy(host: str, port: int, no_proxy: str) -> bool:
    """Whether `no_proxy` (comma- or space-separated) exempts host:port from the proxy."""
    host = host.lower().strip("[]")
    return any(_host_matches(host, port, e) for e in no_proxy.replace(" ", ",").split(","))


def proxy_for(url: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The proxy URL requests to `url` go through (None: direct), from the environment."""
    env = os.environ if environ is None else environ
    parts = urlsplit(url)
    proxy = _env(env, f"{parts.scheme}_proxy")
    if not proxy:
        return None
    if bypasses_proxy(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80),
                      _env(env, "no_proxy")):
        return None
    if "://" not in proxy:  # host:port, as requests and botocore accept it
        proxy = "http://" + proxy
    p = urlsplit(proxy)
    if p.scheme != "http" or not p.hostname:
        raise ValueError(f"proxy {proxy!r} for {url}: only http:// proxies are supported")
    return proxy


class _Tunnel(asyncio.Protocol):
    """The proxy's answer to CONNECT; the connection then carries TLS to the endpoint."""

    def __init__(self) -> None:
        self.reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._buf = bytearray()

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if b"\r\n\r\n" in self._buf and not self.reply.done():
            self.reply.set_result(bytes(self._buf))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.reply.done():
            self.reply.set_exception(ConnectFailed(f"the proxy closed the connection before answering CONNECT: "
                                                   f"{exc or 'EOF'}"))


class _Conn(asyncio.Protocol):
    __slots__ = ("_body_len", "_buf", "_head", "_no_body", "_status", "closed", "keep_alive", "transport", "waiter")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._buf = bytearray()
        self._status = 0
        self._body_len = -1
        self._head = True
        self._no_body = False
        self.keep_alive = True
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        w = self.waiter
        if w is not None and not w.done():
            w.set_exception(HttpError(f"connection closed by the server: {exc or 'EOF'}"))

    def request(self, data: bytes, no_body: bool = False) -> asyncio.Future[tuple[int, bytes]]:
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        self._buf.clear()
        self._head = True
        self._no_body = no_body  # HEAD: the answer's Content-Length describes a body never sent
        self._body_len = -1
        assert self.transport is not None
        self.transport.write(data)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        if self._head:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            try:
                self._parse_head(bytes(buf[:end]))
            except (ValueError, IndexError) as e:
                self._fail(HttpError(f"malformed HTTP answer: {e}"))
                return
            del buf[: end + 4]
            self._head = False
        if self._body_len >= 0 and len(buf) >= self._body_len:
            body = bytes(buf[: self._body_len])
            del buf[: self._body_len]
            w = self.waiter
            self.waiter = None
            if w is not None and not w.done():
                w.set_result((self._status, body))

    def _parse_head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        self._status = int(lines[0].split(b" ", 2)[1])
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            n = name.strip().lower()
            if n == b"content-length":
                length = int(value.strip())
            elif n == b"transfer-encoding" and value.strip().lower() != b"identity":
                raise ValueError("chunked answers are not expected from DynamoDB or S3")
            elif n == b"connection" and value.strip().lower() == b"close":
                self.keep_alive = False
        if self._no_body or self._status in (204, 304) or self._status < 200:
            length = 0  # answers that never carry a body (S3's DELETE is a 204)
        if length is None:
            raise ValueError("answer without Content-Length")
        self._body_len = length

    def expire(self) -> None:
        """The answer's time is up (a timer set by HttpPool.request)."""
        w = self.waiter
        if w is not None and not w.done():
            w.set_exception(TimeoutError())
        self.close()

    def _fail(self, exc: Exception) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_exception(exc)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class HttpPool:
    def __init__(self, url: str, *, max_connections: int = 64, timeout: float = 5.0,
                 connect_timeout: float = 2.0, ssl_context: ssl.SSLContext | None = None,
                 proxy: str | None = None) -> None:
        parts = urlsplit(url)
        self.https = parts.scheme == "https"
        self.hostname = parts.hostname or ""
        self.port = parts.port or (443 if self.https else 80)
        default = 443 if self.https else 80
        self.host_header = self.hostname if self.port == default else f"{self.hostname}:{self.port}"
        self.path = parts.path or "/"
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._ssl = (ssl_context or ssl.create_default_context()) if self.https else None
        self._idle: deque[_Conn] = deque()
        self.max_connections = max_connections
        self._slots = asyncio.Semaphore(max_connections)
        self.proxy = proxy
        self._proxy_addr: tuple[str, int] | None = None
        self._proxy_headers = ""
        # plain http through a proxy names the whole URL in the request line
        self._target_prefix = ""
        if proxy is not None:
            p = urlsplit(proxy)
            self._proxy_addr = (p.hostname or "", p.port or 80)
            if p.username is not None:
                token = base64.b64encode(f"{unquote(p.username)}:{unquote(p.password or '')}".encode()).decode()
                self._proxy_headers = f"Proxy-Authorization: Basic {token}\r\n"
            if not self.https:
                self._target_prefix = f"http://{self.host_header}"

    async def _open(self) -> _Conn:
        loop = asyncio.get_running_loop()
        if self._proxy_addr is None:
            _, conn = await loop.create_connection(_Conn, self.hostname, self.port, ssl=self._ssl,
                                                   server_hostname=self.hostname if self._ssl else None)
            return conn
        if self._ssl is None:
            _, conn = await loop.create_connection(_Conn, *self._proxy_addr)
            return conn
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        authority = f"{host}:{self.port}"
        raw, tunnel = await loop.create_connection(_Tunnel, *self._proxy_addr)
        try:
            raw.write(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n{self._proxy_headers}\r\n".encode())
            reply = await tunnel.reply
            status_line = reply.split(b"\r\n", 1)[0].decode("latin-1")
            fields = status_line.split(" ", 2)
            if len(fields) < 2 or not fields[1].startswith("2"):
                raise ConnectFailed(f"the proxy {self._proxy_addr[0]}:{self._proxy_addr[1]} refused CONNECT "
                                    f"{authority}: {status_line}")
            conn = _Conn()
            tls = await loop.start_tls(raw, conn, self._ssl, server_hostname=self.hostname)
        except BaseException:
            raw.close()
            raise
        if tls is None:
            raise ConnectFailed(f"the TLS handshake through the proxy with {authority} did not complete")
        conn.connection_made(tls)  # start_tls leaves this to the caller
        return conn

    async def _connect(self, deadline: float | None) -> _Conn:
        limit = self.connect_timeout
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeadlineExceeded(f"no time left to connect to {self.host_header}")
            cut = left < limit
            limit = min(limit, left)
        else:
            cut = False
        try:
            conn = await asyncio.wait_for(self._open(), limit)
        except TimeoutError:
            if cut:
                raise DeadlineExceeded(f"connecting to {self.host_header}: no answer within the deadline") from None
            raise HttpError(f"connecting to {self.host_header} timed out") from None
        except ssl.SSLError:
            raise  # a certificate problem is not an unreachable endpoint: said as it is
        except ConnectFailed:
            raise
        except OSError as e:
            # the proxy's address, never its URL: that may hold a password
            via = f" through the proxy {self._proxy_addr[0]}:{self._proxy_addr[1]}" if self._proxy_addr else ""
            raise ConnectFailed(f"connecting to {self.host_header}{via}: {e}") from e
        return conn

    async def post(self, headers: dict[str, str], body: bytes, deadline: float | None = None) -> tuple[int, bytes]:
        return await self.request("POST", self.path, headers, body, deadline)

    async def _slot(self, deadline: float) -> None:
        """Waits for a connection slot until the deadline."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded(f"no time left to wait for a connection to {self.host_header}")
        try:
            await asyncio.wait_for(self._slots.acquire(), left)
        except TimeoutError:
            raise DeadlineExceeded(f"all {self.max_connections} connections to {self.host_header} stayed busy "
                                   "until the deadline") from None

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes = b"",
                      deadline: float | None = None) -> tuple[int, bytes]:
        """One request on a pooled connection; `path` is sent as given (already encoded).
        `deadline` (time.monotonic()): the whole request, slot wait included, ends by then."""
        head = [f"{method} {self._target_prefix}{path} HTTP/1.1\r\nHost: {self.host_header}\r\n"
                f"Content-Length: {len(body)}\r\n"]
        if self._target_prefix:
            head.append(self._proxy_headers)
        head.extend(f"{k}: {v}\r\n" for k, v in headers.items())
        head.append("\r\n")
        data = "".join(head).encode() + body
        slots = self._slots
        if deadline is not None and slots.locked():
            await self._slot(deadline)
            if deadline - time.monotonic() < MIN_ATTEMPT:  # the slot came too late to be worth using
                slots.release()
                raise DeadlineExceeded(f"a connection to {self.host_header} freed up too late for the deadline")
        else:
            await slots.acquire()  # a free slot returns at once; without a deadline, waits as long as it takes
        try:
            conn = None
            while self._idle:
                c = self._idle.pop()
                if not c.closed:
                    conn = c
                    break
            if conn is None:
                conn = await self._connect(deadline)
            limit = self.timeout
            cut = False
            if deadline is not None:
                left = deadline - time.monotonic()
                if left < limit:
                    if left <= 0:
                        self._idle.append(conn)
                        raise DeadlineExceeded(f"no time left for a request to {self.host_header}")
                    limit, cut = left, True
            # a timer on the answer's future: cheaper than wait_for, which wraps it in another
            timer = asyncio.get_running_loop().call_later(limit, conn.expire)
            try:
                status, answer = await conn.request(data, method == "HEAD")
            except TimeoutError:
                if cut:
                    raise DeadlineExceeded(f"{method} to {self.host_header}: no answer within the deadline") from None
                raise
            except BaseException:
                conn.close()
                raise
            finally:
                timer.cancel()
            if conn.keep_alive and not conn.closed:
                self._idle.append(conn)
            else:
                conn.close()
            return status, answer
        finally:
            slots.release()

    async def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
