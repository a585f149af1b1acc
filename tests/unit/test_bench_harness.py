"""The pure parts of the benchmarks' harness (tests/bench): spreading concurrency over load-generator
processes, the Go load generator's options and results, the relay's configuration, the comparison
of each hop with direct Cassandra, and the driver options."""

from __future__ import annotations

import array
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from bench_loadgen import latencies, loadgen_args, parse_result, shares
from bench_passthrough import compare_hops, parse_args
from bench_relay import haproxy_config


@pytest.mark.parametrize(("concurrency", "procs"), [(1, 2), (8, 2), (7, 3), (128, 2), (2, 5), (33, 4)])
def test_shares_spread_concurrency_evenly_over_processes(concurrency: int, procs: int) -> None:
    parts = shares(concurrency, procs)
    assert sum(parts) == concurrency
    assert len(parts) == min(concurrency, procs)
    assert max(parts) - min(parts) <= 1
    assert min(parts) >= 1


def test_loadgen_args_name_every_endpoint_and_the_workload_parameters() -> None:
    cfg = {"endpoints": {"direct": "127.0.0.1:9042", "sidecar": "127.0.0.1:4000"}, "protocol": 4,
           "compression": "snappy", "keyspace": "ks", "table": "t", "workloads": ["get", "query"],
           "partitions": 500, "rows": 20}
    args = loadgen_args(cfg, seed=3)
    pairs = dict(zip(args[1::2], args[2::2], strict=False))  # after -serve, flag/value pairs
    assert args[0] == "-serve"
    assert pairs["-keyspace"] == "ks" and pairs["-table"] == "t"
    assert pairs["-workload"] == "get,query"
    assert pairs["-compression"] == "snappy" and pairs["-protocol"] == "4" and pairs["-seed"] == "3"
    assert pairs["-partitions"] == "500" and pairs["-rows"] == "20"
    endpoints = [args[i + 1] for i, a in enumerate(args) if a == "-endpoint"]
    assert endpoints == ["direct=127.0.0.1:9042", "sidecar=127.0.0.1:4000"]
    assert "-keys" not in args and "-read-ratio" not in args  # not given: the program's defaults


def test_latencies_expand_the_histogram_into_seconds() -> None:
    lat = latencies([[250.0, 2], [1500.5, 1]])
    assert list(lat) == [0.00025, 0.00025, 0.0015005]


def test_parse_result_gives_the_harness_result_dict() -> None:
    line = json.dumps({"target": "direct", "workload": "kv", "concurrency": 2, "duration": 1.0, "ops": 3,
                       "completed": 4, "errors": 1, "first_error": "timeout", "wall_s": 1.01, "cpu_s": 0.02,
                       "user_s": 0.015, "sys_s": 0.005, "latency_ms": {"p50": 0.3},
                       "hist": [[300.0, 3], [900.0, 1]], "seq": 1})
    r = parse_result(line)
    assert (r["ops"], r["completed"], r["errors"], r["first_error"], r["cpu"]) == (3, 4, 1, "timeout", 0.02)
    lat = array.array("d")
    lat.frombytes(r["lat"])
    assert sorted(lat) == [0.0003, 0.0003, 0.0003, 0.0009]


def test_parse_result_raises_the_load_generators_error() -> None:
    with pytest.raises(RuntimeError, match="no endpoint"):
        parse_result('{"error": "no endpoint \\"x\\""}')


def test_haproxy_config_relays_tcp_on_one_thread() -> None:
    text = haproxy_config(("127.0.0.1", 45000), ("10.0.0.5", 9042))
    lines = [line.strip() for line in text.splitlines()]
    assert "mode tcp" in lines and "nbthread 1" in lines
    assert "bind 127.0.0.1:45000" in lines
    assert "server cassandra 10.0.0.5:9042" in lines
    assert not any(line.startswith(("log ", "option httplog", "mode http")) for line in lines)


def test_haproxy_accepts_the_generated_config(tmp_path: Path) -> None:
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        pytest.skip("haproxy is not installed")
    cfg = tmp_path / "relay.cfg"
    cfg.write_text(haproxy_config(("127.0.0.1", 45000), ("127.0.0.1", 9042)))
    r = subprocess.run([haproxy, "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def summary(ops: float, rounds: list[float], p50: float, p99: float, hop_us: float | None) -> dict[str, Any]:
    return {"ops_per_s": ops, "round_ops_per_s": rounds, "latency_ms": {"p50": p50, "p99": p99},
            "hop_cpu_us_per_request": hop_us}


def test_compare_hops_ratios_cpu_and_the_aim() -> None:
    level = {"direct": summary(1000, [900, 1100], 1.0, 3.0, None),
             "relay": summary(900, [810, 1100], 1.1, 3.5, 20.0),
             "sidecar": summary(950, [900, 990], 1.2, 3.2, 23.0)}
    compare_hops(level)
    assert level["relay"]["ratio"] == pytest.approx(0.9)
    assert level["sidecar"]["ratio"] == pytest.approx(0.95)
    assert level["sidecar"]["round_ratio_min"] == pytest.approx(0.9)
    assert level["sidecar"]["round_ratio_max"] == pytest.approx(1.0)
    assert level["sidecar"]["added_p50_ms"] == pytest.approx(0.2)
    assert level["throughput_ratio"] == pytest.approx(0.95)  # the older top-level key, the sidecar's
    assert level["sidecar_relay_cpu"] == pytest.approx(1.15)
    assert level["meets_aim"] is True
    level["sidecar"]["hop_cpu_us_per_request"] = 30.0  # 1.5 times the relay's CPU
    compare_hops(level)
    assert level["meets_aim"] is False


def test_compare_hops_without_a_relay_or_direct() -> None:
    level = {"sidecar": summary(950, [950], 1.2, 3.2, 23.0)}
    compare_hops(level)
    assert "ratio" not in level["sidecar"] and "sidecar_relay_cpu" not in level
    level = {"direct": summary(0, [0], math.nan, math.nan, None), "sidecar": summary(5, [5], 1, 1, 1.0)}
    compare_hops(level)
    assert math.isnan(level["sidecar"]["ratio"])


@pytest.mark.parametrize(("argv", "ok"), [
    ([], True),
    (["--compression", "snappy"], True),
    (["--compression", "lz4"], False),  # no lz4 compressor for gocql from the module proxy
    (["--driver", "python", "--compression", "lz4"], True),
    (["--driver", "python", "--compression", "snappy"], False),
    (["--procs", "0"], False),
    (["--targets", "direct,proxy"], False),
])
def test_driver_options(argv: list[str], ok: bool, capsys: pytest.CaptureFixture[str]) -> None:
    if ok:
        args = parse_args(argv)
        assert args.driver == ("python" if "python" in argv else "go")
        assert args.target_list == ["direct", "relay", "sidecar"]
    else:
        with pytest.raises(SystemExit):
            parse_args(argv)
        assert "error:" in capsys.readouterr().err
