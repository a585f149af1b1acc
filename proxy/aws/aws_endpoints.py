"""Where the project's AWS clients go, and as whom: region, endpoint, credentials and CA bundle.

One resolution for the hot-path DynamoDB and S3 clients and for the boto3 clients the tools create,
asked of botocore when a client is built (no network, except for credentials that come from STS
or instance metadata). Precedence, first found wins:

1. what the caller passes: a command-line flag, else the mapping file's `dynamodb.endpoint`/`region`;
2. `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL_S3`, then `AWS_ENDPOINT_URL`;
3. the profile's `services` section in the AWS config file, then its `endpoint_url`
   (2 and 3 in botocore's order, the AWS CLI's too; AWS_IGNORE_CONFIGURED_ENDPOINT_URLS skips both);
4. AWS's own endpoint for the region, by botocore's partition rules (FIPS, dual-stack, China and
   GovCloud partitions).

The region comes from the caller, else `AWS_DEFAULT_REGION` or the profile's `region`; with none,
`AwsSetupError`: a default region would point a migration at tables in the wrong region.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..config import ConfigError
from .sigv4 import FrozenCredentials

CredentialSource = Callable[[], FrozenCredentials]


class AwsSetupError(ConfigError):
    """The AWS configuration cannot serve: unknown profile, no region, no credentials, an STS that
    refuses or does not answer, a malformed endpoint. One line; the commands exit 2 on it."""


class CredentialsUnavailable(OSError):
    """Temporary credentials could not be refreshed (STS down): a transient failure of one request."""


@dataclass(frozen=True)
class Target:
    """Where one service's requests go."""

    service: str
    region: str
    endpoint: str  # scheme://host[:port][/path], without a trailing slash
    custom: bool  # given or configured (path-style for S3); False: AWS's own (virtual-hosted for S3)
    source: str  # where the endpoint came from, for log lines and errors


def add_profile_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default=None,
                        help="AWS profile: its credentials, region, endpoint_url and ca_bundle (as AWS_PROFILE)")


def use_profile(args: argparse.Namespace) -> None:
    """--profile, for the whole process: botocore, boto3 and worker processes all read AWS_PROFILE."""
    profile = getattr(args, "profile", None)
    if profile:
        os.environ["AWS_PROFILE"] = profile


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def session(profile: str | None = None) -> Any:
    """A botocore session for `profile` (None: AWS_PROFILE, else the default profile), its
    configuration read now so an unknown profile is said here."""
    import botocore.session
    from botocore.exceptions import BotoCoreError

    s = botocore.session.Session(profile=profile)
    try:
        s.get_scoped_config()
    except BotoCoreError as e:  # ProfileNotFound, a config file that does not parse
        raise AwsSetupError(_one_line(e)) from None
    return s


def _region(s: Any, region: str | None, service: str) -> str:
    found = region or s.get_config_variable("region")
    if not found:
        raise AwsSetupError(f"no AWS region for {service}: give it on the command line or in the mapping "
                            "(dynamodb.region), or set AWS_DEFAULT_REGION or the profile's region in the AWS "
                            "config file" + ("; AWS_REGION is set, but the Python SDK reads AWS_DEFAULT_REGION"
                                             if os.environ.get("AWS_REGION") else ""))
    return str(found)


def _configured_source(service: str) -> str:
    """Which setting gave a configured endpoint (the environment first, as botocore reads it)."""
    specific = f"AWS_ENDPOINT_URL_{service.upper()}"
    if os.environ.get(specific):
        return specific
    if os.environ.get("AWS_ENDPOINT_URL"):
        return "AWS_ENDPOINT_URL"
    return "the AWS config file"


def _checked(url: str, where: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AwsSetupError(f"endpoint {url!r} ({where}) is not an http:// or https:// URL")
    try:
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        raise AwsSetupError(f"endpoint {url!r} ({where}) has an invalid port") from None
    return url.rstrip("/")


def resolve(service: str, *, region: str | None = None, endpoint: str | None = None,
            profile: str | None = None) -> Target:
    """Region and endpoint of `service` ("dynamodb" or "s3") by the precedence above."""
    if endpoint and region:  # all given: the AWS configuration is not even read
        return Target(service, region, _checked(endpoint, "given"), True, "given")
    s = session(profile)
    found_region = _region(s, region, service)
    if endpoint:
        return Target(service, found_region, _checked(endpoint, "given"), True, "given")
    from botocore.configprovider import ConfiguredEndpointProvider

    if not s.get_config_variable("ignore_configured_endpoint_urls"):
        configured = ConfiguredEndpointProvider(full_config=s.full_config, scoped_config=s.get_scoped_config(),
                                                client_name=service).provide()
        if configured:
            source = _configured_source(service)
            return Target(service, found_region, _checked(str(configured), source), True, source)
    return Target(service, found_region, _aws_endpoint(s, service, found_region), False, "AWS partition rules")


# an operation without parameters per service, whose URL is the service's regional endpoint
_PROBE = {"dynamodb": "list_tables", "s3": "list_buckets"}


def _aws_endpoint(s: Any, service: str, region: str) -> str:
    """The URL botocore would send requests to: its endpoint rules run for one call that a
    `before-call` handler answers itself, so nothing is signed or sent (client.meta.endpoint_url
    is an older table that differs, e.g. for S3's FIPS endpoint in us-east-1)."""
    from botocore.awsrequest import AWSResponse
    from botocore.exceptions import BotoCoreError

    seen: list[str] = []

    def capture(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        seen.append(params["url"])
        return AWSResponse(params["url"], 200, {}, None), {}

    try:
        # dummy keys: building the client must not look for credentials; the FIPS and dual-stack
        # choices of the profile or the environment apply
        client = s.create_client(service, region_name=region, aws_access_key_id="-", aws_secret_access_key="-")
        client.meta.events.register(f"before-call.{service}", capture)
        getattr(client, _PROBE[service])()
    except BotoCoreError as e:  # InvalidRegionError, no endpoint for the region
        raise AwsSetupError(f"{service} in region {region!r}: {_one_line(e)}") from None
    parts = urlsplit(seen[0])
    return f"{parts.scheme}://{parts.netloc}"


class _OneLineErrors(logging.Filter):
    """botocore logs a failed credential refresh with its whole traceback: the commands say the
    failure in their own line, and a sidecar's log should not fill with stacks while STS is down."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.getMessage().rstrip('.')}: {_one_line(record.exc_info[1])}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


_ONE_LINE = _OneLineErrors()


def _fetched(s: Any) -> Any:
    """The session's credentials, fetched once (the session keeps them for its clients)."""
    from botocore.exceptions import BotoCoreError, ClientError

    logger = logging.getLogger("botocore.credentials")
    if _ONE_LINE not in logger.filters:
        logger.addFilter(_ONE_LINE)
    level = logger.level
    logger.setLevel(logging.ERROR)  # a failure now is the command's own error line, said once
    try:
        creds = s.get_credentials()
        if creds is None:
            raise AwsSetupError("no AWS credentials found (environment, profile, web identity, container "
                                "or instance role)")
        creds.get_frozen_credentials()
    except (BotoCoreError, ClientError) as e:
        raise AwsSetupError(f"cannot get AWS credentials: {_one_line(e)}") from None
    finally:
        logger.setLevel(level)
    return creds


def credentials(profile: str | None = None) -> CredentialSource:
    """botocore's standard chain (environment, profile, web identity, assume role, container and
    instance metadata) as a cheap getter. The first credentials are fetched now: an STS that
    refuses or does not answer stops the command at its start, not its first write."""
    from botocore.exceptions import BotoCoreError, ClientError

    creds = _fetched(session(profile))

    def get() -> FrozenCredentials:
        try:
            f = creds.get_frozen_credentials()  # refreshes temporary credentials near expiry
        except (BotoCoreError, ClientError) as e:
            # an OSError: the clients count it as a failed attempt and retry, as for a dropped connection
            raise CredentialsUnavailable(f"cannot refresh AWS credentials: {_one_line(e)}") from None
        return FrozenCredentials(f.access_key, f.secret_key, f.token)

    return get


def ca_bundle(profile: str | None = None) -> str | None:
    """AWS_CA_BUNDLE or the profile's `ca_bundle`: the certificates TLS endpoints must chain to."""
    value = session(profile).get_config_variable("ca_bundle")
    return str(value) if value else None


@functools.lru_cache(maxsize=8)
def _context(bundle: str | None) -> ssl.SSLContext:
    try:
        # with a bundle, only its certificates are trusted, as botocore's `verify=<bundle>`
        return ssl.create_default_context(cafile=bundle)
    except (OSError, ssl.SSLError) as e:
        raise AwsSetupError(f"CA bundle {bundle}: {e.strerror if isinstance(e, OSError) and e.strerror else e}"
                            ) from None


def tls_context(profile: str | None = None) -> ssl.SSLContext:
    """The TLS context of HTTPS endpoints: the CA bundle's when one is set, else the system's."""
    return _context(ca_bundle(profile))


def boto3_client(target: Target, profile: str | None = None) -> Any:
    """A boto3 client for the resolved target: the same endpoint and region as the project's own
    clients (boto3 reads the CA bundle and the proxy variables itself). Its credentials are fetched
    now, so a bad setup is an AwsSetupError here rather than a botocore error at the first call."""
    import boto3
    from botocore.exceptions import BotoCoreError

    s = session(profile)
    _fetched(s)
    try:
        return boto3.session.Session(botocore_session=s).client(
            target.service, region_name=target.region, endpoint_url=target.endpoint)
    except BotoCoreError as e:
        raise AwsSetupError(_one_line(e)) from None
