"""The options backfill, validate and restore-cassandra share: where the tables are, how to reach
both stores, and how a run reports."""

from __future__ import annotations

import argparse
import os

from ..aws.aws_endpoints import add_profile_option
from ..cli_args import non_negative_float, port


def add_tables_options(p: argparse.ArgumentParser, consistency_of: str) -> None:
    """The mapping, Cassandra and the tables of the run. `consistency_of`: "reads" or "writes"."""
    p.add_argument("--mapping", required=True, help="the mapping file (YAML)")
    p.add_argument("--cassandra", default="127.0.0.1:9042", help="contact points HOST:PORT[,HOST:PORT...]")
    p.add_argument("--cassandra-username", default=os.environ.get("CDP_CASSANDRA_USERNAME"),
                   help="user to log in with [env CDP_CASSANDRA_USERNAME]; the password comes from "
                        "CDP_CASSANDRA_PASSWORD or the file named by CDP_CASSANDRA_PASSWORD_FILE")
    p.add_argument("--consistency", default="LOCAL_QUORUM", help=f"consistency level of the Cassandra {consistency_of}")
    p.add_argument("--table", action="append", default=[], metavar="KS.TABLE",
                   help="a table of the mapping (repeatable; default: every table of the mapping)")


def add_aws_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dynamodb-endpoint", default=None, help="DynamoDB endpoint URL (default: the mapping's)")
    p.add_argument("--dynamodb-region", default=None)
    add_profile_option(p)
    p.add_argument("--s3-endpoint", default=None, help="S3 endpoint for tables with large_items: s3")


def add_metrics_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metrics-port", type=port, default=None, help="serve Prometheus metrics on HOST:PORT")
    # loopback unless asked: a job pod (the Spark driver) is scraped from outside it
    p.add_argument("--metrics-host", default=os.environ.get("CDP_METRICS_HOST", "127.0.0.1"),
                   help="address the --metrics-port server binds, 0.0.0.0 for every interface "
                        "[env CDP_METRICS_HOST; default 127.0.0.1]")


def add_report_options(p: argparse.ArgumentParser) -> None:
    """Metrics while it runs, and the summary at the end."""
    add_metrics_options(p)
    p.add_argument("--metrics-file", default=None, help="write Prometheus metrics to this textfile as it goes")
    p.add_argument("--summary", default=None, help="write the summary report (JSON) here")
    p.add_argument("--progress-interval", type=non_negative_float, default=5.0,
                   help="seconds between progress lines")
