"""Where the AWS clients go, from every source of a region or an endpoint, without the network: a
temporary AWS config and credentials file and a scrubbed environment, so nothing of the machine's
own AWS setup (~/.aws, AWS_* variables) can decide a result."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest

from proxy.aws import aws_endpoints
from proxy.aws.aws_endpoints import AwsSetupError, resolve
from proxy.aws.dynamodb_client import DynamoDBClient, DynamoDBUnavailable
from proxy.aws.s3_client import S3Client, S3Unavailable
from proxy.aws.sigv4 import FrozenCredentials
from proxy.provision import make_client

CONFIG = """\
[default]
region = eu-west-1

[profile fips]
region = us-gov-west-1
use_fips_endpoint = true

[profile fips-east]
region = us-east-1
use_fips_endpoint = true

[profile dual]
region = us-east-1
use_dualstack_endpoint = true

[profile china]
region = cn-north-1

[profile gov]
region = us-gov-west-1

[profile noregion]
output = json

[profile global]
region = ap-southeast-2
endpoint_url = http://global-config:4566

[profile services]
region = ap-southeast-2
endpoint_url = http://global-config:4566
services = local

[profile bundle]
region = eu-west-1
ca_bundle = {bundle}

[services local]
dynamodb =
  endpoint_url = http://dynamodb-config:8000
"""

CREDENTIALS = """\
[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key = default-secret

[fips]
aws_access_key_id = AKIDFIPS
aws_secret_access_key = fips-secret
"""


def _creds() -> FrozenCredentials:
    return FrozenCredentials("AKIDTEST", "secret", None)


@pytest.fixture
def aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An AWS setup of the test's own: only the files written here, no AWS_* or proxy variable."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name.lower().endswith("_proxy") or name.lower() == "no_proxy":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))  # ~/.aws of the developer cannot be read
    config = tmp_path / "config"
    config.write_text(CONFIG.format(bundle=tmp_path / "bundle.pem"))
    creds = tmp_path / "credentials"
    creds.write_text(CREDENTIALS)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata wait when nothing is found
    return tmp_path


# -- endpoints: the order of the sources ---------------------------------------------------------


def test_a_given_endpoint_and_region_need_no_aws_configuration(aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nope")  # not even read
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://env:1")
    t = resolve("dynamodb", region="eu-central-1", endpoint="http://flag:8000/")
    assert (t.region, t.endpoint, t.custom, t.source) == ("eu-central-1", "http://flag:8000", True, "given")


def test_a_given_endpoint_beats_every_configured_one(aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://env-dynamodb:1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://env-global:1")
    t = resolve("dynamodb", endpoint="http://flag:8000", profile="services")
    assert (t.endpoint, t.region) == ("http://flag:8000", "ap-southeast-2")


def test_the_service_variable_beats_the_services_section_and_the_global_settings(
        aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://env-dynamodb:1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://env-global:1")
    t = resolve("dynamodb", profile="services")
    assert (t.endpoint, t.custom, t.source) == ("http://env-dynamodb:1", True, "AWS_ENDPOINT_URL_DYNAMODB")
    # the S3 variable is S3's alone
    assert resolve("s3", profile="services").endpoint == "http://env-global:1"


def test_the_services_section_beats_the_profiles_endpoint_url(aws: Path) -> None:
    t = resolve("dynamodb", profile="services")
    assert (t.endpoint, t.custom, t.source) == ("http://dynamodb-config:8000", True, "the AWS config file")
    assert resolve("s3", profile="services").endpoint == "http://global-config:4566"


def test_environment_variables_beat_the_config_file(aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # AWS's order (botocore, the AWS CLI): a variable, even the global one, before any file setting
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://env-global:1")
    t = resolve("dynamodb", profile="services")
    assert (t.endpoint, t.source) == ("http://env-global:1", "AWS_ENDPOINT_URL")


def test_the_global_variable_beats_the_profiles_endpoint_url(aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve("dynamodb", profile="global").endpoint == "http://global-config:4566"
    assert resolve("s3", profile="global").endpoint == "http://global-config:4566"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://env-global:1")
    t = resolve("dynamodb", profile="global")
    assert (t.endpoint, t.source) == ("http://env-global:1", "AWS_ENDPOINT_URL")


def test_configured_endpoints_can_be_ignored_as_botocore_allows(aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://env-dynamodb:1")
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    t = resolve("dynamodb", region="eu-west-1")
    assert (t.endpoint, t.custom) == ("https://dynamodb.eu-west-1.amazonaws.com", False)


# -- endpoints: AWS's own, by partition ------------------------------------------------------------


@pytest.mark.parametrize(("profile", "dynamodb", "s3"), [
    # in GovCloud DynamoDB's regional endpoint is itself FIPS-validated: botocore's rules send there
    ("fips", "https://dynamodb.us-gov-west-1.amazonaws.com", "https://s3-fips.us-gov-west-1.amazonaws.com"),
    ("fips-east", "https://dynamodb-fips.us-east-1.amazonaws.com", "https://s3-fips.us-east-1.amazonaws.com"),
    ("dual", "https://dynamodb.us-east-1.api.aws", "https://s3.dualstack.us-east-1.amazonaws.com"),
    ("china", "https://dynamodb.cn-north-1.amazonaws.com.cn", "https://s3.cn-north-1.amazonaws.com.cn"),
    ("gov", "https://dynamodb.us-gov-west-1.amazonaws.com", "https://s3.us-gov-west-1.amazonaws.com"),
    (None, "https://dynamodb.eu-west-1.amazonaws.com", "https://s3.eu-west-1.amazonaws.com"),
])
def test_aws_endpoints_follow_the_partition_rules(aws: Path, profile: str | None, dynamodb: str, s3: str) -> None:
    d = resolve("dynamodb", profile=profile)
    assert (d.endpoint, d.custom, d.source) == (dynamodb, False, "AWS partition rules")
    assert resolve("s3", profile=profile).endpoint == s3


def test_fips_and_dual_stack_from_the_environment(aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_USE_FIPS_ENDPOINT", "true")
    assert resolve("dynamodb", region="us-west-2").endpoint == "https://dynamodb-fips.us-west-2.amazonaws.com"
    monkeypatch.delenv("AWS_USE_FIPS_ENDPOINT")
    monkeypatch.setenv("AWS_USE_DUALSTACK_ENDPOINT", "true")
    assert resolve("dynamodb", region="eu-west-1").endpoint == "https://dynamodb.eu-west-1.api.aws"


# -- regions -------------------------------------------------------------------------------------


def test_region_order_given_then_environment_then_profile(aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve("dynamodb").region == "eu-west-1"  # the default profile's
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ca-central-1")
    assert resolve("dynamodb").region == "ca-central-1"
    assert resolve("dynamodb", region="sa-east-1").region == "sa-east-1"
    assert resolve("dynamodb", region="sa-east-1").endpoint == "https://dynamodb.sa-east-1.amazonaws.com"


def test_no_region_is_an_error_not_us_east_1(aws: Path) -> None:
    for service in ("dynamodb", "s3"):
        with pytest.raises(AwsSetupError, match=f"no AWS region for {service}.*AWS_DEFAULT_REGION"):
            resolve(service, profile="noregion")
    with pytest.raises(AwsSetupError, match="no AWS region"):  # a custom endpoint still signs for a region
        resolve("dynamodb", endpoint="http://127.0.0.1:8000", profile="noregion")


def test_a_region_botocore_refuses_is_an_error(aws: Path) -> None:
    with pytest.raises(AwsSetupError, match="not a region"):
        resolve("dynamodb", region="not a region!")


# -- profiles, endpoints, credentials, CA bundle ---------------------------------------------------


def test_an_unknown_profile_is_one_line(aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(AwsSetupError, match="nope") as e:
        resolve("dynamodb", profile="nope")
    assert "\n" not in str(e.value)
    monkeypatch.setenv("AWS_PROFILE", "nope")
    for call in (lambda: resolve("s3"), lambda: aws_endpoints.credentials(), lambda: aws_endpoints.ca_bundle()):
        with pytest.raises(AwsSetupError, match="nope"):
            call()


@pytest.mark.parametrize("url", ["dynamodb.local:8000", "ftp://x", "http://", "http://host:port"])
def test_a_malformed_endpoint_is_an_error(aws: Path, url: str) -> None:
    with pytest.raises(AwsSetupError, match="endpoint"):
        resolve("dynamodb", region="eu-west-1", endpoint=url)


def test_a_malformed_configured_endpoint_is_an_error(aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "localhost:8000")
    with pytest.raises(AwsSetupError, match="AWS_ENDPOINT_URL_DYNAMODB"):
        resolve("dynamodb")


def test_credentials_by_profile_and_none_found(aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert aws_endpoints.credentials()().access_key == "AKIDDEFAULT"
    assert aws_endpoints.credentials("fips")().access_key == "AKIDFIPS"
    monkeypatch.setenv("AWS_PROFILE", "fips")
    assert aws_endpoints.credentials()().access_key == "AKIDFIPS"
    with pytest.raises(AwsSetupError, match="no AWS credentials found"):
        aws_endpoints.credentials("dual")


def test_ca_bundle_from_the_environment_before_the_profile(aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert aws_endpoints.ca_bundle() is None
    assert aws_endpoints.ca_bundle("bundle") == str(aws / "bundle.pem")
    monkeypatch.setenv("AWS_CA_BUNDLE", "/from/env.pem")
    assert aws_endpoints.ca_bundle("bundle") == "/from/env.pem"
    with pytest.raises(AwsSetupError, match=r"CA bundle /from/env\.pem"):
        aws_endpoints.tls_context("bundle")  # a bundle that is not there says so at the start


# -- the clients use the resolution --------------------------------------------------------------


def test_both_clients_and_boto3_go_where_the_resolution_says(aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000")
    client = DynamoDBClient(profile="fips")
    assert (client.endpoint, client.region) == ("http://127.0.0.1:8000/", "us-gov-west-1")
    assert make_client().meta.endpoint_url == "http://127.0.0.1:8000"
    monkeypatch.setenv("AWS_PROFILE", "china")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB")
    assert DynamoDBClient(credentials=_creds).endpoint == "https://dynamodb.cn-north-1.amazonaws.com.cn/"
    assert make_client("cn-northwest-1").meta.endpoint_url == "https://dynamodb.cn-northwest-1.amazonaws.com.cn"


def test_s3_is_virtual_hosted_on_aws_and_path_style_elsewhere(aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s3 = S3Client(profile="china", credentials=_creds)
    assert s3._route("bucket", "a/b") == ("https://bucket.s3.cn-north-1.amazonaws.com.cn", "/a/b")
    # dots in a bucket name break the wildcard certificate: path-style on AWS's host
    assert s3._route("my.bucket", "k") == ("https://s3.cn-north-1.amazonaws.com.cn", "/my.bucket/k")
    assert s3.describe() == "https://s3.cn-north-1.amazonaws.com.cn"
    dual = S3Client(profile="dual", credentials=_creds)
    assert dual._route("bucket", None) == ("https://bucket.s3.dualstack.us-east-1.amazonaws.com", "/")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000")
    local = S3Client(profile="china", credentials=_creds)
    assert local._route("bucket", "k") == ("http://127.0.0.1:9000", "/bucket/k")
    assert local.region == "cn-north-1"


def test_an_unsupported_proxy_is_said_when_the_client_is_built(aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "socks5://127.0.0.1:1080")
    with pytest.raises(AwsSetupError, match="only http:// proxies"):
        DynamoDBClient(region="eu-west-1", credentials=_creds)
    with pytest.raises(AwsSetupError, match="only http:// proxies"):
        S3Client(region="eu-west-1", credentials=_creds)


def test_credentials_that_cannot_be_refreshed_fail_the_request_not_the_process(aws: Path) -> None:
    def refresh() -> FrozenCredentials:
        raise aws_endpoints.CredentialsUnavailable("cannot refresh AWS credentials: STS does not answer")

    async def call(client: DynamoDBClient | S3Client) -> None:
        async with client:
            if isinstance(client, DynamoDBClient):
                await client.get_item(TableName="t", Key={"pk": {"S": "a"}})
            else:
                await client.get_object("bucket", "key")

    # nothing listens on the endpoint: the request never gets that far
    d = DynamoDBClient(region="eu-west-1", endpoint="http://127.0.0.1:9", credentials=refresh, max_attempts=2,
                       base_backoff=0.001)
    with pytest.raises(DynamoDBUnavailable, match="cannot refresh AWS credentials"):
        asyncio.run(call(d))
    assert d.stats.retries == 1
    s3 = S3Client(region="eu-west-1", endpoint="http://127.0.0.1:9", credentials=refresh, max_attempts=2,
                  base_backoff=0.001)
    with pytest.raises(S3Unavailable, match="cannot refresh AWS credentials"):
        asyncio.run(call(s3))


def test_botocores_refresh_failures_are_logged_on_one_line(aws: Path, caplog: pytest.LogCaptureFixture) -> None:
    aws_endpoints.credentials()
    try:
        raise RuntimeError("Could not connect to the endpoint URL\nsecond line")
    except RuntimeError:
        logging.getLogger("botocore.credentials").warning("Refreshing temporary credentials failed.", exc_info=True)
    record = caplog.records[-1]
    assert record.exc_info is None
    assert record.getMessage() == "Refreshing temporary credentials failed: Could not connect to the endpoint URL"
