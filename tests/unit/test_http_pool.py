"""The DynamoDB HTTP client against small loopback servers that answer in awkward ways."""

from __future__ import annotations

import asyncio
import re
import ssl
import subprocess

import pytest

from proxy.aws.http_pool import ConnectFailed, HttpError, HttpPool, bypasses_proxy, proxy_for
from tests.conftest import free_port

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"


async def _server(handler, ssl_ctx=None):
    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=ssl_ctx)
    port = server.sockets[0].getsockname()[1]
    return server, port


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(next(ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length")).split(b":")[1])
    return head + await reader.readexactly(length)


async def test_byte_by_byte_answers_and_keep_alive():
    connections = 0
    seen: list[bytes] = []

    async def handler(reader, writer):
        nonlocal connections
        connections += 1
        while True:
            try:
                seen.append(await _read_request(reader))
            except asyncio.IncompleteReadError:
                return
            for b in OK:
                writer.write(bytes([b]))
                await writer.drain()

    server, port = await _server(handler)
    pool = HttpPool(f"http://127.0.0.1:{port}/")
    for _ in range(3):
        assert await pool.post({"X-Amz-Target": "T"}, b'{"a":1}') == (200, b'{"ok":true}')
    assert connections == 1  # reused
    assert seen[0].startswith(b"POST / HTTP/1.1\r\nHost: 127.0.0.1:") and b"X-Amz-Target: T\r\n" in seen[0]
    assert seen[0].endswith(b'\r\n\r\n{"a":1}')
    await pool.close()
    server.close()


async def test_connection_close_is_honoured():
    connections = 0

    async def handler(reader, writer):
        nonlocal connections
        connections += 1
        await _read_request(reader)
        writer.write(OK.replace(b"Content-Length", b"Connection: close\r\nContent-Length"))
        await writer.drain()
        writer.close()

    server, port = await _server(handler)
    pool = HttpPool(f"http://127.0.0.1:{port}/")
    for _ in range(2):
        assert (await pool.post({}, b"{}"))[0] == 200
    assert connections == 2
    await pool.close()
    server.close()


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"short",  # then the server hangs up
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"garbage\r\n\r\n",
])
async def test_broken_answers_raise_http_error(answer):
    async def handler(reader, writer):
        await _read_request(reader)
        writer.write(answer)
        await writer.drain()
        writer.close()

    server, port = await _server(handler)
    pool = HttpPool(f"http://127.0.0.1:{port}/")
    with pytest.raises(HttpError):
        await pool.post({}, b"{}")
    await pool.close()
    server.close()


async def test_a_silent_server_times_out():
    async def handler(reader, writer):
        await _read_request(reader)
        await asyncio.sleep(5)

    server, port = await _server(handler)
    pool = HttpPool(f"http://127.0.0.1:{port}/", timeout=0.2)
    with pytest.raises(TimeoutError):
        await pool.post({}, b"{}")
    await pool.close()
    server.close()


async def test_tls(tmp_path):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(tmp_path / "k.pem"), "-out", str(tmp_path / "c.pem")],
                   check=True, capture_output=True)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")

    async def handler(reader, writer):
        await _read_request(reader)
        writer.write(OK)
        await writer.drain()

    server, port = await _server(handler, server_ctx)
    client_ctx = ssl.create_default_context(cafile=str(tmp_path / "c.pem"))
    pool = HttpPool(f"https://localhost:{port}/", ssl_context=client_ctx)
    assert (await pool.post({}, b"{}"))[0] == 200
    await pool.close()
    # without the CA the certificate is refused: TLS verification is on
    strict = HttpPool(f"https://localhost:{port}/")
    with pytest.raises(ssl.SSLError):
        await strict.post({}, b"{}")
    server.close()


# -- proxies ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "port", "no_proxy", "bypassed"), [
    ("dynamodb.eu-west-1.amazonaws.com", 443, "amazonaws.com", True),
    ("dynamodb.eu-west-1.amazonaws.com", 443, ".amazonaws.com", True),
    ("dynamodb.eu-west-1.amazonaws.com", 443, "*.amazonaws.com", True),
    ("amazonaws.com", 443, ".amazonaws.com", True),
    ("notamazonaws.com", 443, "amazonaws.com", False),  # a suffix only at a dot
    ("s3.local", 9000, "s3.local:9000", True),
    ("s3.local", 9001, "s3.local:9000", False),
    ("anything", 80, "*", True),
    ("10.1.2.3", 443, "10.0.0.0/8", True),
    ("11.1.2.3", 443, "10.0.0.0/8", False),
    ("127.0.0.1", 8000, "127.0.0.1", True),
    ("::1", 8000, "::1", True),
    ("[::1]", 8000, "::1", True),
    ("Example.COM", 443, "other.org, example.com", True),
    ("example.com", 443, "other.org example.com", True),
    ("example.com", 443, "", False),
    ("localhost", 443, "127.0.0.1", False),  # names are not resolved
])
def test_no_proxy_entries(host: str, port: int, no_proxy: str, bypassed: bool) -> None:
    assert bypasses_proxy(host, port, no_proxy) is bypassed


def test_the_proxy_follows_the_endpoints_scheme() -> None:
    env = {"HTTPS_PROXY": "http://secure:3128", "HTTP_PROXY": "plain:3128"}
    assert proxy_for("https://dynamodb.eu-west-1.amazonaws.com/", env) == "http://secure:3128"
    assert proxy_for("http://127.0.0.1:8000/", env) == "http://plain:3128"  # a bare host:port is http://
    assert proxy_for("http://127.0.0.1:8000/", {"HTTPS_PROXY": "http://secure:3128"}) is None
    # the lowercase spelling wins, as urllib and curl read them
    assert proxy_for("https://x/", {"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:1"}) \
        == "http://lower:1"
    assert proxy_for("https://x.internal/", {**env, "no_proxy": ".internal"}) is None
    assert proxy_for("https://x.internal/", {**env, "NO_PROXY": "internal"}) is None
    with pytest.raises(ValueError, match="only http:// proxies"):
        proxy_for("https://x/", {"HTTPS_PROXY": "https://tls-proxy:443"})


async def test_a_refused_connect_is_a_failed_connection() -> None:
    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    server, port = await _server(refuse)
    pool = HttpPool("https://dynamodb.eu-west-1.amazonaws.com/", proxy=f"http://127.0.0.1:{port}")
    with pytest.raises(ConnectFailed, match=re.escape("refused CONNECT dynamodb.eu-west-1.amazonaws.com:443: "
                                                      "HTTP/1.1 407")):
        await pool.post({}, b"{}")
    server.close()


async def test_a_proxy_that_does_not_answer_is_named() -> None:
    port = free_port()
    pool = HttpPool("https://dynamodb.eu-west-1.amazonaws.com/", proxy=f"http://user:secret@127.0.0.1:{port}")
    with pytest.raises(ConnectFailed, match=f"through the proxy 127.0.0.1:{port}") as e:
        await pool.post({}, b"{}")
    assert "secret" not in str(e.value)
