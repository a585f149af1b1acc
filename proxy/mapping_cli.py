"""The `mapping` and `tables` subcommands: write or check a mapping file, create the DynamoDB
tables it needs. Their dependencies (the Cassandra driver, boto3) are imported only when a
command runs."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

COMMANDS = ("mapping", "tables")

EXIT_OK, EXIT_FAILURE, EXIT_INVALID = 0, 1, 2


def add_subcommands(sub: Any) -> None:
    """Registers `mapping init|check` and `tables create` on the CLI's subparsers object."""
    mapping = sub.add_parser("mapping", help="create or check a mapping file (CQL tables -> DynamoDB tables)")
    msub = mapping.add_subparsers(dest="mapping_command", required=True)

    init = msub.add_parser("init", help="write a mapping for the tables of a live Cassandra",
                           description="Reads system_schema and writes a mapping that works as it is: one "
                           "DynamoDB table per CQL table, keys from the key type rules, a GSI per secondary index, "
                           "phase cassandra.")
    init.add_argument("--cassandra", default=os.environ.get("CDP_CASSANDRA"),
                      help="contact points HOST[:PORT][,HOST[:PORT]...] [env CDP_CASSANDRA]")
    init.add_argument("--username", default=os.environ.get("CDP_CASSANDRA_USERNAME"),
                      help="Cassandra user [env CDP_CASSANDRA_USERNAME]")
    init.add_argument("--password", default=None,
                      help="Cassandra password (visible in ps: prefer --password-file or the env) "
                           "[env CDP_CASSANDRA_PASSWORD]")
    init.add_argument("--password-file", default=os.environ.get("CDP_CASSANDRA_PASSWORD_FILE"), metavar="PATH",
                      help="file holding the Cassandra password [env CDP_CASSANDRA_PASSWORD_FILE]")
    init.add_argument("--keyspace", action="append", default=[], metavar="KS",
                      help="import every table of this keyspace (repeatable; default: all application keyspaces)")
    init.add_argument("--table", action="append", default=[], metavar="KS.TABLE",
                      help="import this table (repeatable; quoted identifiers allowed)")
    init.add_argument("--table-prefix", default="", metavar="PREFIX",
                      help="prefix of the DynamoDB table names (e.g. an environment name)")
    init.add_argument("--region", default=None, help="DynamoDB region written into the mapping")
    init.add_argument("--endpoint-url", default=None, help="DynamoDB endpoint written into the mapping (e.g. DynamoDB Local)")
    init.add_argument("--connect-timeout", type=_seconds, default=10.0, help="seconds to wait for Cassandra")
    init.add_argument("-o", "--output", default="-", metavar="FILE", help="where to write the mapping ('-': stdout)")
    init.add_argument("--force", action="store_true", help="overwrite FILE if it exists")

    check = msub.add_parser("check", help="validate a mapping file and print its key layout")
    check.add_argument("file", metavar="FILE")

    tables = sub.add_parser("tables", help="manage the DynamoDB tables of a mapping")
    tsub = tables.add_subparsers(dest="tables_command", required=True)
    create = tsub.add_parser("create", help="create the DynamoDB tables, GSIs and TTL a mapping needs (idempotent)")
    create.add_argument("--mapping", required=True, metavar="FILE")
    create.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    create.add_argument("--offline", action="store_true",
                        help="with --dry-run: plan without contacting DynamoDB, as if no table existed")
    create.add_argument("--endpoint-url", default=None, help="DynamoDB endpoint (default: the mapping's, then AWS's)")
    create.add_argument("--region", default=None, help="AWS region (default: the mapping's, then the AWS config)")
    from .aws.aws_endpoints import add_profile_option

    add_profile_option(create)
    create.add_argument("--timeout", type=_seconds, default=600.0, help="seconds to wait for each table or GSI")


def _seconds(text: str) -> float:
    """A time limit: a finite number above 0 (0 or less would give up before asking)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


def run_subcommand(args: argparse.Namespace) -> int:
    if args.command == "mapping":
        return _mapping_init(args) if args.mapping_command == "init" else _mapping_check(args)
    if args.command == "tables":
        return _tables_create(args)
    raise ValueError(f"not a translators command: {args.command}")


def _err(msg: str) -> None:
    print(f"cql-dynamo-proxy: {msg}", file=sys.stderr)


def _contact_points(value: str) -> tuple[list[str], int]:
    hosts: list[str] = []
    ports: set[int] = set()
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        if part.startswith("["):
            host, _, rest = part[1:].partition("]")
            port = rest.lstrip(":") or "9042"
        elif part.count(":") == 1:
            host, port = part.split(":")
        else:
            host, port = part, "9042"
        if not port.isdigit():
            raise ValueError(f"bad port in {part!r}")
        hosts.append(host)
        ports.add(int(port))
    if not hosts:
        raise ValueError("no contact point given")
    if len(ports) > 1:
        raise ValueError("all contact points must use the same port")
    return hosts, ports.pop()


def _connect_failure(e: Exception) -> tuple[bool, str]:
    """Whether the driver's connection error is a refused login, and its reason in one line."""
    from cassandra import AuthenticationFailed

    errors = getattr(e, "errors", None)
    per_host = list(errors.values()) if isinstance(errors, dict) and errors else [e]
    refused = all(isinstance(x, AuthenticationFailed) for x in per_host)
    # the driver's text is "Tried connecting to [...]. Last error: <reason>"
    return refused, "; ".join(sorted({str(x).rpartition("Last error: ")[2] or type(x).__name__ for x in per_host}))


def _mapping_init(args: argparse.Namespace) -> int:
    import logging

    from translators.mapping import MappingError, build_mapping, dump_mapping, loads_mapping
    from translators.schema_import import SchemaImportError

    from .schema_reader import import_schema_with_notes

    if not args.cassandra:
        _err("mapping init needs --cassandra HOST:PORT (or CDP_CASSANDRA)")
        return EXIT_INVALID
    if args.password is not None:
        _err("warning: --password on the command line can be read by any local user (ps); use --password-file "
             "or CDP_CASSANDRA_PASSWORD")
    password = args.password if args.password is not None else os.environ.get("CDP_CASSANDRA_PASSWORD")
    if password is None and args.password_file:
        try:
            with open(args.password_file) as fh:
                password = fh.read().rstrip("\r\n")
        except OSError as e:
            _err(f"cannot read --password-file {args.password_file}: {e.strerror}")
            return EXIT_INVALID
    out = None if args.output == "-" else Path(args.output)
    if out is not None and out.exists() and not args.force:
        _err(f"{out} exists; use --force to overwrite it")
        return EXIT_INVALID
    if out is not None and not out.parent.is_dir():  # found before the schema is read, not after
        _err(f"cannot write {out}: no directory {out.parent}")
        return EXIT_INVALID
    try:
        hosts, port = _contact_points(args.cassandra)
    except ValueError as e:
        _err(f"--cassandra: {e}")
        return EXIT_INVALID

    logging.getLogger("cassandra").setLevel(logging.ERROR)
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import Cluster, UnresolvableContactPoints

    auth = PlainTextAuthProvider(args.username, password or "") if args.username else None
    try:
        cluster = Cluster(hosts, port=port, auth_provider=auth, connect_timeout=args.connect_timeout,
                          control_connection_timeout=args.connect_timeout)
    except UnresolvableContactPoints:  # the driver resolves the names when it is built
        _err(f"--cassandra {args.cassandra}: no such host")
        return EXIT_INVALID
    try:
        try:
            session = cluster.connect()
        except Exception as e:
            refused, why = _connect_failure(e)
            _err(f"Cassandra at {args.cassandra} refused the login: {why}" if refused else
                 f"cannot connect to Cassandra at {args.cassandra}: {why}")
            return EXIT_INVALID if refused else EXIT_FAILURE
        try:
            result = import_schema_with_notes(session, args.keyspace or None, args.table or None,
                                              table_prefix=args.table_prefix)
        except SchemaImportError as e:
            _err(str(e))
            return EXIT_INVALID
    finally:
        cluster.shutdown()

    source = str(out) if out else "<stdout>"
    try:
        mapping = build_mapping(result.tables, args.region, args.endpoint_url, source=source)
        text = dump_mapping(mapping, result.notes)
        loads_mapping(text, source)  # what is written must load back
    except MappingError as e:
        _err(f"the generated mapping is invalid (please report this):\n{e}")
        return EXIT_FAILURE
    for w in result.warnings():
        print(f"note: {w}", file=sys.stderr)
    if not result.tables:
        print("warning: no tables found", file=sys.stderr)
    if out is None:
        sys.stdout.write(text)
        return EXIT_OK
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    print(f"wrote {out}: {len(mapping.tables)} tables", file=sys.stderr)
    return EXIT_OK


def _load(path: str) -> Any:
    from translators.mapping import MappingError, load_mapping

    try:
        return load_mapping(path)
    except MappingError as e:
        print(str(e), file=sys.stderr)
        return None
    except OSError as e:
        _err(f"cannot read {path}: {e.strerror or e}")
        return None


def _mapping_check(args: argparse.Namespace) -> int:
    from translators.mapping import summarize

    mapping = _load(args.file)
    if mapping is None:
        return EXIT_INVALID
    n_dt = len(mapping.dynamodb_tables())
    print(f"{args.file}: valid (version {mapping.version}), {len(mapping.tables)} CQL tables in {n_dt} DynamoDB tables")
    for line in summarize(mapping):
        print(line)
    return EXIT_OK


def _tables_create(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from .aws.aws_endpoints import AwsSetupError
    from .provision import ProvisionError, apply, make_client, plan

    mapping = _load(args.mapping)
    if mapping is None:
        return EXIT_INVALID
    if args.offline and not args.dry_run:
        _err("--offline only makes sense with --dry-run")
        return EXIT_INVALID
    endpoint = args.endpoint_url or mapping.endpoint
    if endpoint and urlsplit(endpoint).scheme not in ("http", "https"):
        _err(f"DynamoDB endpoint {endpoint!r} must be http://HOST[:PORT] or https://HOST[:PORT]")
        return EXIT_INVALID
    try:
        client = None if args.offline else make_client(args.region or mapping.region, endpoint)
        actions = plan(mapping, client)
        changes = [a for a in actions if a.changes]
        print(f"plan for {args.mapping}: {len(changes)} change(s)")
        for a in actions:
            print(f"  {'+' if a.changes else '='} {a.describe()}")
        if args.dry_run:
            print("dry run: nothing was changed")
            return EXIT_OK
        if not changes:
            print("nothing to do")
            return EXIT_OK
        apply(changes, client, timeout=args.timeout, progress=lambda line: print(f"  done: {line}", flush=True))
    except ProvisionError as e:
        _err(str(e))
        return EXIT_FAILURE
    except AwsSetupError as e:
        _err(f"AWS configuration: {e}")
        return EXIT_INVALID
    except (BotoCoreError, ClientError) as e:
        _err(f"DynamoDB: {e}")
        return EXIT_FAILURE
    print(f"done: {len(changes)} change(s) applied")
    return EXIT_OK
