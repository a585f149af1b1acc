"""`cql-dynamo-proxy`: the command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import TYPE_CHECKING, Any

from . import __version__, cli_args
from .assess import command as assess_command
from .aws import aws_endpoints
from .backfill import command as backfill_command
from .backfill import restore_command
from .config import SECRET_FIELDS, Config, ConfigError, load_config, startup_warnings
from .mapping_cli import COMMANDS as TRANSLATOR_COMMANDS
from .mapping_cli import add_subcommands as add_translator_subcommands
from .mapping_cli import run_subcommand as run_translator_subcommand
from .phases.phase_cli import add_phase_subcommand, run_phase_command

if TYPE_CHECKING:
    from .server import ProxyServer

log = logging.getLogger("proxy")

_HELP = {
    "listen": "HOST:PORT the sidecar accepts CQL clients on",
    "cassandra": "Cassandra contact points, HOST:PORT[,HOST:PORT...]",
    "admin": "HOST:PORT of the admin HTTP API (loopback by default)",
    "metrics": "HOST:PORT of a token-free listener for /metrics and /health/* (Prometheus, probes; default off)",
    "admin_token": "bearer token required by /metrics and /status (prefer --admin-token-file or CDP_ADMIN_TOKEN)",
    "admin_token_file": "file holding the admin token (content without the trailing newline)",
    "advertise": "HOST[:PORT] drivers see in system.local (default: the address they dialled)",
    "peers": "other sidecars to list in system.peers, HOST:PORT[,...]",
    "cassandra_username": "user the sidecar logs in to Cassandra with (default: the client's own)",
    "cassandra_password": "password for --cassandra-username (prefer --cassandra-password-file or "
                          "CDP_CASSANDRA_PASSWORD)",
    "cassandra_password_file": "file holding the password for --cassandra-username",
    "client_users": "user:password[,...] the sidecar accepts when it logs in with its own user (prefer "
                    "--client-users-file or CDP_CLIENT_USERS)",
    "client_users_file": "file of user:password entries, one a line, for --client-users",
    "tls_cert": "PEM certificate chain for TLS towards clients",
    "tls_key": "PEM private key for --tls-cert",
    "tls_client_ca": "CA bundle; when set, clients must present a certificate it signed",
    "cassandra_tls": "use TLS towards Cassandra",
    "cassandra_tls_ca": "CA bundle to verify Cassandra's certificate (none: encrypt without verifying)",
    "cassandra_tls_cert": "client certificate for Cassandra (mutual TLS)",
    "cassandra_tls_key": "key for --cassandra-tls-cert",
    "cassandra_tls_verify_hostname": "check Cassandra's certificate name against its address",
    "max_connections": "client connections accepted at once",
    "max_in_flight_per_connection": "requests awaiting a response per client connection",
    "max_in_flight": "requests awaiting a response across all clients",
    "max_frame_bytes": "largest request frame a client may send, compressed or once decompressed (default 16 MiB, Cassandra's)",
    "connect_timeout": "seconds to wait for a Cassandra connection",
    "shutdown_grace": "seconds in-flight requests get to finish on SIGTERM",
    "handshake_timeout": "seconds from accept to READY/AUTH_SUCCESS before a client is closed (0: off)",
    "partial_frame_timeout": "seconds a client may take to send one frame, first byte to last (0: off)",
    "idle_timeout": "seconds without a frame from a client, nothing in flight, before it is closed (0: off)",
    "log_level": "DEBUG, INFO, WARNING or ERROR",
    "mapping": "mapping file (YAML): which tables go to DynamoDB, their keys and phases",
    "phases": "phase overrides at start: KS.TABLE=PHASE[,KS.TABLE=PHASE...]",
    "dynamodb_endpoint": "DynamoDB endpoint URL (default: the mapping's, else AWS's)",
    "dynamodb_region": "AWS region (default: the mapping's, else the AWS configuration's)",
    "dynamodb_max_connections": "pooled HTTP connections to DynamoDB",
    "dynamodb_deadline": "seconds a client request may wait on DynamoDB/S3 (connection wait and retries included) "
                         "before it gets its error or its fallback; keep it under the drivers' request timeout",
    "single_call_writes": "write a row newer than its whole DynamoDB item in one UpdateItem (--no-single-call-writes: "
                          "read, merge and put every write, as sidecars before it did)",
    "s3_endpoint": "S3 endpoint URL for large_items: s3 (default: AWS's; a custom one is addressed path-style)",
    "s3_region": "region S3 requests are signed for (default: DynamoDB's)",
    "s3_max_connections": "pooled HTTP connections per S3 endpoint",
    "state_dir": "directory for the queued-write journal and dead letters",
    "queue_capacity": "queued DynamoDB writes per table before writers wait",
    "queue_workers": "concurrent DynamoDB writers per table",
    "backpressure_timeout": "seconds a write waits for queue room before it is dead-lettered",
    "uvloop": "use uvloop when installed",
    "control": "where the fleet's phases live: file:/DIR or dynamodb:TABLE (default: STATE_DIR/control)",
    "sidecar_id": "this sidecar's name in the fleet view (default: hostname:listen-port)",
    "control_poll_interval": "seconds between polls of the control store for a new phase version",
    "control_heartbeat_interval": "seconds between heartbeats to the control store",
    "verify_sample": "percentage of reads in phase verify also read from DynamoDB and compared",
    "verify_concurrency": "comparisons in flight at most in phase verify (beyond: not compared)",
    "assess_sample": "percentage of requests per statement shape whose DynamoDB cost is worked out in full "
                     "for the assessment (0: assessment off; every request is counted either way)",
    "assess_max_shapes": "statement shapes kept per table by the assessment (beyond: counted as other shapes)",
    "assess_window": "seconds of request and unit rates the assessment keeps for its averages and peaks",
    "fallback_read_repair": "in dynamo_fallback, copy partitions DynamoDB missed and Cassandra had into DynamoDB",
}


def _add_config_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML file with any of the options below (names with underscores)")
    for f in fields(Config):
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not MISSING else None
        help_text = f"{_HELP.get(f.name, '')} [env CDP_{f.name.upper()}; default {default!r}]"
        if isinstance(default, bool):
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            p.add_argument(flag, dest=f.name, default=None, metavar=f.name.upper(), help=help_text)


def build_parser() -> argparse.ArgumentParser:
    parser = cli_args.Parser(
        prog="cql-dynamo-proxy",
        description="CQL sidecar that moves live Cassandra tables to DynamoDB without touching the application.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the sidecar")
    _add_config_options(serve)
    aws_endpoints.add_profile_option(serve)
    add_translator_subcommands(sub)
    dl = sub.add_parser("dead-letters", help="replay DynamoDB writes that failed for good")
    dl_sub = dl.add_subparsers(dest="dl_command", required=True)
    replay = dl_sub.add_parser("replay", help="apply every dead-lettered write again; keep the ones that still fail")
    replay.add_argument("--state-dir", default=".cdp-state", help="the sidecar's --state-dir")
    replay.add_argument("--mapping", help="the sidecar's mapping file (needed for translated CQL writes)")
    replay.add_argument("--dynamodb-endpoint", default=None)
    replay.add_argument("--dynamodb-region", default=None)
    aws_endpoints.add_profile_option(replay)
    replay.add_argument("--forget-unresolved", action="store_true",
                        help="drop the unresolved conditional writes (once restore-cassandra or a check made them moot)")
    replay.add_argument("--single-call-writes", action=argparse.BooleanOptionalAction, default=True,
                        help="as the sidecar's flag: --no-single-call-writes while older sidecars still write the "
                             "same tables (they read no per-cell overlay attributes)")
    add_phase_subcommand(sub)
    backfill_command.add_subcommands(sub)
    restore_command.add_subcommand(sub)
    assess_command.add_subcommand(sub)
    replay.add_argument("--s3-endpoint", default=None, help="S3 endpoint for tables with large_items: s3")
    return parser


def _overrides(ns: argparse.Namespace) -> dict[str, Any]:
    return {f.name: getattr(ns, f.name, None) for f in fields(Config)}


async def _serve(cfg: Config, server: ProxyServer) -> None:
    from .admin.app import start_admin

    await server.start()
    ahost, aport = cfg.admin_addr
    runners = await start_admin(server, ahost, aport, cfg.admin_token, cfg.metrics_addr)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"cql-dynamo-proxy {__version__} ready: CQL on {cfg.listen_addr[0]}:{server.listen_port}, "
          f"admin on http://{ahost}:{aport}"
          + (f", metrics on http://{cfg.metrics_addr[0]}:{cfg.metrics_addr[1]}" if cfg.metrics_addr else ""),
          flush=True)
    await stop.wait()
    log.info("signal received: draining (up to %.0fs)", cfg.shutdown_grace)
    await server.shutdown()
    for runner in runners:
        await runner.cleanup()


async def _replay_dead_letters(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .aws.dynamodb_client import DynamoDBClient, DynamoDBError, DynamoDBUnavailable
    from .aws.s3_client import S3Client
    from .server import load_mapping_or_fail, uses_s3
    from .writes.dual_write import DualWrite
    from .writes.dynamo_writer import DynamoWriter
    from .writes.journal import DeadLetters
    from .writes.large_items import LargeItems
    from .writes.write_queue import replay_dead_letters

    if not Path(args.state_dir).is_dir():
        raise ConfigError(f"--state-dir {args.state_dir}: no such directory")
    mapping = load_mapping_or_fail(args.mapping) if args.mapping else None
    dead = DeadLetters(Path(args.state_dir) / "dead-letters.jsonl")
    try:
        total = len(dead.read())
    except (ValueError, OSError) as e:
        raise ConfigError(f"cannot read {dead.path}: {e}") from None
    if not total:  # nothing to send: DynamoDB need not even answer
        print(f"0 dead-lettered writes (in {dead.path})")
        return 0
    # a bad AWS setup (no region, no credentials) raises AwsSetupError, a ConfigError: exit 2
    client = DynamoDBClient(region=args.dynamodb_region or (mapping.region if mapping else None) or None,
                            endpoint=args.dynamodb_endpoint or (mapping.endpoint if mapping else None) or None)
    async with client:
        large = None
        if mapping is not None and uses_s3(mapping):
            large = LargeItems(S3Client(region=client.region, endpoint=args.s3_endpoint or None))
        try:
            writer = DynamoWriter(client, large=large, single_call=args.single_call_writes)
            applier = DualWrite(mapping, writer).apply_record if mapping else None
            ok, failing, unresolved = await replay_dead_letters(dead, client, applier, args.forget_unresolved)
        except DynamoDBUnavailable as e:
            print(f"cql-dynamo-proxy dead-letters: DynamoDB does not answer ({e}); the {len(dead.read())} "
                  f"writes not applied are kept in {dead.path}", file=sys.stderr)
            return 1
        except DynamoDBError as e:  # credentials refused (the other errors are kept per write)
            print(f"cql-dynamo-proxy dead-letters: DynamoDB at {client.endpoint.rstrip('/')} refused the "
                  f"credentials ({e}); the {len(dead.read())} writes not applied are kept in {dead.path}",
                  file=sys.stderr)
            return 2
        finally:
            if large is not None:
                await large.s3.close()
    print(f"{total} dead-lettered writes: {ok} applied, {failing} still failing (kept in {dead.path})")
    if unresolved:
        print(f"{unresolved} unresolved conditional writes (DynamoDB-first, outcome unknown): "
              + ("forgotten" if args.forget_unresolved else
                 f"kept in {dead.path}; Cassandra may lack their shadow: run restore-cassandra for their tables "
                 "before a step back to a Cassandra-authoritative phase, then replay with --forget-unresolved"))
    return 0 if failing == 0 and (unresolved == 0 or args.forget_unresolved) else 1


def _batch(command: str, run: Callable[[], int]) -> int:
    """A batch command ends with one line even on an error nobody foresaw (with CDP_TRACEBACK=1,
    its traceback). validate's code for a run that could not finish its comparison is 3."""
    try:
        return run()
    except ConfigError:
        raise
    except Exception as e:
        if os.environ.get("CDP_TRACEBACK"):
            raise
        print(f"cql-dynamo-proxy {command}: unexpected error: {type(e).__name__}: {e} "
              "(CDP_TRACEBACK=1 shows where)", file=sys.stderr)
        return 3 if command == "validate" else 1


def _config_error(e: ConfigError) -> int:
    what = "AWS configuration" if isinstance(e, aws_endpoints.AwsSetupError) else "configuration error"
    print(f"cql-dynamo-proxy: {what}: {e}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    aws_endpoints.use_profile(args)
    try:
        return _run(args)
    except aws_endpoints.AwsSetupError as e:  # any command, found wherever its first AWS client is built
        print(f"cql-dynamo-proxy {args.command}: AWS configuration: {e}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command in TRANSLATOR_COMMANDS:
        return run_translator_subcommand(args)
    if args.command == "phase":
        return run_phase_command(args)
    if args.command == assess_command.COMMAND:
        return assess_command.run(args)
    if args.command in backfill_command.COMMANDS:
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        return _batch(args.command, lambda: backfill_command.run(args))
    if args.command == restore_command.COMMAND:
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        return _batch(args.command, lambda: restore_command.run(args))
    if args.command == "dead-letters":
        try:
            return _batch(args.command, lambda: asyncio.run(_replay_dead_letters(args)))
        except ConfigError as e:
            return _config_error(e)
    try:
        cfg = load_config(args.config, _overrides(args))
    except ConfigError as e:
        return _config_error(e)
    logging.basicConfig(
        level=getattr(logging, cfg.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.command == "serve":
        for warning in startup_warnings(cfg, [k for k in SECRET_FIELDS if getattr(args, k, None) is not None]):
            log.warning("%s", warning)
        runner: Any = asyncio.run
        if cfg.uvloop:
            try:
                import uvloop

                runner = uvloop.run
            except ImportError:
                log.warning("uvloop not installed: the default event loop costs about 1.7x more CPU per request")
        from .server import ProxyServer
        from .startup_check import TableMissing

        try:
            server = ProxyServer(cfg)
        except ConfigError as e:
            return _config_error(e)
        try:
            runner(_serve(cfg, server))
        except ConfigError as e:  # found at start, e.g. no AWS credentials for a DynamoDB control table
            return _config_error(e)
        except TableMissing as e:
            print(f"cql-dynamo-proxy: cannot start: {e}", file=sys.stderr)
            return 2
        except OSError as e:  # a port in use or not of this host, a state directory that cannot be made
            print(f"cql-dynamo-proxy: cannot start: {e}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
