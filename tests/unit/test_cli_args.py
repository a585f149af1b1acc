"""Option values are refused when the arguments are read: exit 2 and one line naming the option and
what it accepts."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from proxy import cli_args
from proxy.cli import build_parser


@pytest.mark.parametrize(("check", "good", "bad"), [
    (cli_args.positive_int, ["1", "256", " 7"], ["0", "-5", "1.5", "x", ""]),
    (cli_args.non_negative_int, ["0", "3"], ["-1", "x"]),
    (cli_args.positive_float, ["0.1", "3", "1e3"], ["0", "-1", "nan", "inf", "x"]),
    (cli_args.non_negative_float, ["0", "2.5"], ["-0.1", "-inf", "nan", "x"]),
    (cli_args.percent, ["100", "0.01", "50"], ["0", "150", "100.1", "-3", "nan"]),
    (cli_args.port, ["1", "9464", "65535"], ["0", "65536", "-1", "http"]),
    (cli_args.at_most(1_000_000), ["1", "1000000"], ["0", "1000001"]),
])
def test_argument_types(check: Any, good: list[str], bad: list[str]) -> None:
    for text in good:
        check(text)
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError):
            check(text)


BAD_NUMBERS = [
    (["backfill", "--workers", "0"], "--workers: must be 1 or more, got 0"),
    (["backfill", "--splits", "-5"], "--splits: must be 1 or more, got -5"),
    (["backfill", "--page-size", "0"], "--page-size"),
    (["backfill", "--concurrency", "-1"], "--concurrency"),
    (["backfill", "--write-concurrency", "0"], "--write-concurrency"),
    (["backfill", "--rows-per-second", "-10"], "--rows-per-second: must be 0 or more, got -10"),
    (["backfill", "--write-units-per-second", "-1"], "--write-units-per-second"),
    (["backfill", "--metrics-port", "70000"], "--metrics-port: must be a TCP port"),
    (["backfill", "--progress-interval", "-1"], "--progress-interval"),
    (["validate", "--sample", "150"], "--sample: must be more than 0 and at most 100, got 150"),
    (["validate", "--sample", "0"], "--sample"),
    (["validate", "--scan-segments", "0"], "--scan-segments"),
    (["validate", "--splits", "abc"], "--splits: 'abc' is not a whole number"),
    (["restore-cassandra", "--segments", "0"], "--segments: must be 1 or more, got 0"),
    (["restore-cassandra", "--segments", "1000001"], "--segments: must be at most 1000000"),
    (["restore-cassandra", "--concurrency", "0"], "--concurrency"),
    (["restore-cassandra", "--page-size", "-2"], "--page-size"),
    (["restore-cassandra", "--write-concurrency", "0"], "--write-concurrency"),
    (["restore-cassandra", "--rows-per-second", "-1"], "--rows-per-second"),
]


@pytest.mark.parametrize(("argv", "expected"), BAD_NUMBERS, ids=[" ".join(a) for a, _ in BAD_NUMBERS])
def test_bad_numbers_exit_2_with_one_line(argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args([argv[0], "--mapping", "m.yaml", *argv[1:]])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err
    assert err.startswith(f"cql-dynamo-proxy {argv[0]}: argument ")


@pytest.mark.parametrize("argv", [
    ["phase", "set", "ks.t", "verify", "--share", "150"],
    ["phase", "set", "ks.t", "verify", "--share", "0"],
    ["phase", "status", "--timeout", "0"],
    ["phase", "audit", "--limit", "0"],
    ["tables", "create", "--mapping", "m.yaml", "--timeout", "-1"],
    ["mapping", "init", "--connect-timeout", "0"],
])
def test_other_commands_refuse_bad_numbers(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(argv)
    assert e.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_defaults_still_parse() -> None:
    a = build_parser().parse_args(["validate", "--mapping", "m.yaml"])
    assert (a.splits, a.workers, a.sample, a.scan_segments, a.rows_per_second) == (256, 1, 100.0, 4, 0)
    r = build_parser().parse_args(["restore-cassandra", "--mapping", "m.yaml"])
    assert (r.segments, r.page_size, r.write_concurrency) == (16, 500, 64)
