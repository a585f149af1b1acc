"""The AWS clients on the way to DynamoDB Local: through an HTTP proxy (a CONNECT tunnel for an
https endpoint, absolute-form requests for an http one) unless NO_PROXY exempts the host, and TLS
verified against AWS_CA_BUNDLE or the profile's ca_bundle. The project's own client and the boto3
client of `tables create` must both do it."""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import SSLError

from proxy.aws.dynamodb_client import DynamoDBClient, DynamoDBUnavailable
from proxy.provision import make_client
from tests.net_relays import ConnectProxy, TlsFront, make_ca

from .stores import ddb

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return make_ca(tmp_path_factory.mktemp("aws_ca"))


@pytest.fixture(scope="module")
def table(dynamodb: str) -> Iterator[str]:
    name = f"aws_net_{uuid.uuid4().hex[:8]}"
    client = ddb(dynamodb)
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    client.put_item(TableName=name, Item={"pk": {"S": "seen"}, "via": {"S": "dynamodb-local"}})
    yield name
    client.delete_table(TableName=name)


@pytest.fixture(scope="module")
def front(certs: tuple[Path, Path, Path], dynamodb: str) -> Iterator[TlsFront]:
    with TlsFront(certs[1], certs[2], dynamodb) as f:
        yield f


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    with ConnectProxy() as p:
        yield p


@pytest.fixture(autouse=True)
def aws_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Dummy credentials and region, no proxy or CA bundle of the machine's, no ~/.aws."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name.lower().endswith("_proxy") or name.lower() == "no_proxy":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return tmp_path


def _get(endpoint: str, table: str, **kw: Any) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with DynamoDBClient(endpoint=endpoint, **kw) as client:
            return await client.get_item(TableName=table, Key={"pk": {"S": "seen"}})

    return asyncio.run(go())


def _seen(answer: dict[str, Any]) -> str:
    return str(answer["Item"]["via"]["S"])


# -- CA bundle -------------------------------------------------------------------------------------


def test_tls_is_verified_against_the_ca_bundle(front: TlsFront, table: str, certs: tuple[Path, Path, Path],
                                               aws_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = f"https://localhost:{front.port}"
    with pytest.raises(DynamoDBUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        _get(endpoint, table, max_attempts=1)
    with pytest.raises(SSLError):
        make_client(endpoint=endpoint).get_item(TableName=table, Key={"pk": {"S": "seen"}})

    monkeypatch.setenv("AWS_CA_BUNDLE", str(certs[0]))
    assert _seen(_get(endpoint, table)) == "dynamodb-local"
    assert _seen(make_client(endpoint=endpoint).get_item(TableName=table, Key={"pk": {"S": "seen"}})) \
        == "dynamodb-local"

    # the same from the profile's ca_bundle
    monkeypatch.delenv("AWS_CA_BUNDLE")
    (aws_env / "config").write_text(f"[profile private-ca]\nca_bundle = {certs[0]}\n")
    monkeypatch.setenv("AWS_PROFILE", "private-ca")
    assert _seen(_get(endpoint, table)) == "dynamodb-local"
    assert _seen(make_client(endpoint=endpoint).get_item(TableName=table, Key={"pk": {"S": "seen"}})) \
        == "dynamodb-local"


# -- proxies -------------------------------------------------------------------------------------


def test_https_goes_through_a_connect_tunnel_unless_no_proxy_exempts_it(
        front: TlsFront, table: str, certs: tuple[Path, Path, Path], proxy: ConnectProxy,
        monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = f"https://localhost:{front.port}"
    monkeypatch.setenv("AWS_CA_BUNDLE", str(certs[0]))
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "example.com,.internal,10.0.0.0/8,localhost:1")  # none of them matches
    assert _seen(_get(endpoint, table)) == "dynamodb-local"
    assert proxy.tunnels == [f"localhost:{front.port}"]
    # boto3 (`tables create`) reads the same variables
    make_client(endpoint=endpoint).get_item(TableName=table, Key={"pk": {"S": "seen"}})
    assert proxy.tunnels == [f"localhost:{front.port}"] * 2

    for exempt in ("localhost", f"localhost:{front.port}", "*"):
        monkeypatch.setenv("NO_PROXY", exempt)
        assert _seen(_get(endpoint, table)) == "dynamodb-local"
        make_client(endpoint=endpoint).get_item(TableName=table, Key={"pk": {"S": "seen"}})
        assert len(proxy.tunnels) == 2, exempt

    monkeypatch.setenv("no_proxy", "127.0.0.0/8")  # an address range, in the lowercase spelling
    monkeypatch.delenv("NO_PROXY")
    assert _seen(_get(f"https://127.0.0.1:{front.port}", table)) == "dynamodb-local"
    assert len(proxy.tunnels) == 2
    assert not proxy.forwarded


def test_the_proxy_gets_its_credentials_once_per_tunnel(front: TlsFront, table: str, certs: tuple[Path, Path, Path],
                                                        proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CA_BUNDLE", str(certs[0]))
    monkeypatch.setenv("https_proxy", f"http://cdp:s%40cret@127.0.0.1:{proxy.port}")
    assert _seen(_get(f"https://localhost:{front.port}", table)) == "dynamodb-local"
    assert proxy.authorizations == ["Basic " + base64.b64encode(b"cdp:s@cret").decode()]


def test_http_endpoints_use_http_proxy_and_not_https_proxy(dynamodb: str, table: str, proxy: ConnectProxy,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    assert _seen(_get(dynamodb, table)) == "dynamodb-local"
    assert not proxy.tunnels and not proxy.forwarded
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    assert _seen(_get(dynamodb, table)) == "dynamodb-local"
    assert proxy.forwarded == [dynamodb.rstrip("/") + "/"] and not proxy.tunnels
