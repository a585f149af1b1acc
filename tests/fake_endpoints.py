"""HTTP endpoints that misbehave the way a sick DynamoDB or S3 does, on a free loopback port, each
in a thread of its own (usable from async unit tests and from integration tests that point a
sidecar process at them):

- `hang`: accepts, reads the requests, never answers (a black-holed service behind a load balancer);
- `slow`: answers each request `delay` seconds late with `200 {}`;
- `reset`: accepts, reads the request, then resets the connection;
- `no_accept`: a listener that never accepts, its accept queue filled, so that new connects hang
  in the SYN handshake (a black-holed address).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from types import TracebackType

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: 2\r\n\r\n{}"


class FakeEndpoint:
    def __init__(self, mode: str, delay: float = 0.0) -> None:
        if mode not in ("hang", "slow", "reset", "no_accept"):
            raise ValueError(mode)
        self.mode = mode
        self.delay = delay
        self.connections = 0
        self.requests = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._socks: list[socket.socket] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._threads: list[threading.Thread] = []
        if mode == "no_accept":
            self._listener.listen(0)
            self._fill_backlog()
        else:
            self._listener.listen(128)
            self._listener.settimeout(0.2)
            self._spawn(self._accept_loop)

    def _spawn(self, fn: object, *args: object) -> None:
        t = threading.Thread(target=fn, args=args, daemon=True)  # type: ignore[arg-type]
        t.start()
        self._threads.append(t)

    def _fill_backlog(self) -> None:
        # with backlog 0 Linux queues one connection; a few more make sure the queue is full and
        # every later SYN is dropped, so a client's connect waits (and retransmits) until it gives up
        for _ in range(3):
            s = socket.socket()
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                s.connect(("127.0.0.1", self.port))
            self._socks.append(s)
        time.sleep(0.1)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._socks.append(conn)
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        buf = b""
        while not self._stop.is_set():
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            buf += data
            while True:
                request, buf = _take_request(buf)
                if request is None:
                    break
                with self._lock:
                    self.requests += 1
                if self.mode == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    conn.close()
                    return
                if self.mode == "slow":
                    if self._stop.wait(self.delay):
                        return
                    try:
                        conn.sendall(ANSWER)
                    except OSError:
                        return
                # hang: keep reading, never answer

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            with contextlib.suppress(OSError):
                s.close()

    def __enter__(self) -> FakeEndpoint:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _take_request(buf: bytes) -> tuple[bytes | None, bytes]:
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None, buf
    length = 0
    for line in buf[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    total = end + 4 + length
    if len(buf) < total:
        return None, buf
    return buf[:total], buf[total:]
