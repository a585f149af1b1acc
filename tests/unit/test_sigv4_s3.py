"""Our S3 signer produces exactly botocore's S3 signature (path-style and virtual-hosted)."""

from __future__ import annotations

import datetime
import hashlib

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from proxy.aws.s3_client import object_path
from proxy.aws.sigv4 import EMPTY_SHA256, FrozenCredentials, S3Signer

NOW = 1_790_000_000.0


def _botocore(method: str, url: str, body: bytes, token: str | None, headers: dict[str, str],
              monkeypatch: pytest.MonkeyPatch) -> AWSRequest:
    fixed = datetime.datetime.fromtimestamp(NOW, datetime.UTC).replace(tzinfo=None)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: fixed)
    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    # sign the payload on https too (botocore's default there is UNSIGNED-PAYLOAD)
    req.context["client_config"] = type("C", (), {"s3": {"payload_signing_enabled": True}})()
    req.context["has_streaming_input"] = False
    S3SigV4Auth(Credentials("AKID", "s3cr3t/key", token), "s3", "eu-west-1").add_auth(req)
    return req


@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzEXAMPLETOKEN=="])
@pytest.mark.parametrize(("method", "body"), [("PUT", b"\x00\x01payload \xff" * 100), ("GET", b""), ("DELETE", b""),
                                              ("HEAD", b"")])
@pytest.mark.parametrize(("base", "host", "bucket_in_path"), [
    ("http://127.0.0.1:9000", "127.0.0.1:9000", True),
    ("https://s3.eu-west-1.amazonaws.com", "s3.eu-west-1.amazonaws.com", True),
    ("https://my-bucket.s3.eu-west-1.amazonaws.com", "my-bucket.s3.eu-west-1.amazonaws.com", False),
])
def test_signature_matches_botocore(token, method, body, base, host, bucket_in_path, monkeypatch):
    key = "shop.cart items/ab+cd=/7-0f~é"
    path = object_path("my-bucket" if bucket_in_path else None, key)
    payload_hash = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
    extra = {"Content-Type": "application/octet-stream"} if method == "PUT" else {}
    ours = S3Signer("eu-west-1", host).s3_headers(method, path, payload_hash,
                                                   FrozenCredentials("AKID", "s3cr3t/key", token), now=NOW,
                                                   extra=extra)
    req = _botocore(method, base + path, body, token, extra, monkeypatch)
    assert req.headers["X-Amz-Content-SHA256"] == ours["X-Amz-Content-SHA256"]
    assert req.headers["X-Amz-Date"] == ours["X-Amz-Date"]
    assert req.headers["Authorization"] == ours["Authorization"]


def test_object_path_encodes_each_segment_once():
    assert object_path("b", "t/ab/1-x") == "/b/t/ab/1-x"
    assert object_path("b", "a b/c+d") == "/b/a%20b/c%2Bd"
    assert object_path(None, "k~ey") == "/k~ey"
