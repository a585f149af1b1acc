"""Our DynamoDB signer produces exactly botocore's signature."""

from __future__ import annotations

import json

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from proxy.aws.sigv4 import DynamoDBSigner, FrozenCredentials


@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzEXAMPLETOKEN=="])
@pytest.mark.parametrize(("url", "host"), [("https://dynamodb.eu-west-1.amazonaws.com/", "dynamodb.eu-west-1.amazonaws.com"),
                                           ("http://127.0.0.1:8000/", "127.0.0.1:8000")])
def test_signature_matches_botocore(token, url, host, monkeypatch):
    body = json.dumps({"TableName": "t", "Item": {"pk": {"S": "é"}}}).encode()
    now = 1_790_000_000.0
    target = "DynamoDB_20120810.PutItem"
    ours = DynamoDBSigner("eu-west-1", host).headers(target, body, FrozenCredentials("AKID", "s3cr3t/key", token), now)

    import datetime

    fixed = datetime.datetime.fromtimestamp(now, datetime.UTC).replace(tzinfo=None)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: fixed)
    req = AWSRequest(method="POST", url=url, data=body,
                     headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target})
    SigV4Auth(Credentials("AKID", "s3cr3t/key", token), "dynamodb", "eu-west-1").add_auth(req)
    assert req.headers["X-Amz-Date"] == ours["X-Amz-Date"]
    assert req.headers["Authorization"] == ours["Authorization"]


def test_signing_key_is_cached_per_day():
    s = DynamoDBSigner("us-east-1", "h")
    creds = FrozenCredentials("a", "b")
    s.headers("T", b"{}", creds, 1_790_000_000.0)
    first = s._key_cache
    s.headers("T", b"{}", creds, 1_790_000_100.0)
    assert s._key_cache is first
    s.headers("T", b"{}", creds, 1_790_000_000.0 + 86400)
    assert s._key_cache is not first
