"""The alert rules load in Prometheus and behave as their unit tests say (deploy/prometheus/alerts.test.yaml),
and the scrape config is one Prometheus accepts: checked with the pinned promtool (deploy/local/tools),
built on first use."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.pinned_tools import pinned_tool

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(pinned_tool("promtool")), *args], cwd=PROMETHEUS, capture_output=True, text=True,
                          timeout=120)


def test_rules_pass_promtool_check() -> None:
    r = _promtool("check", "rules", "alerts.yaml")
    assert r.returncode == 0, f"promtool check rules failed:\n{r.stdout}\n{r.stderr}"


def test_scrape_config_is_valid() -> None:
    r = _promtool("check", "config", "scrape-config.yaml")
    assert r.returncode == 0, f"promtool check config failed:\n{r.stdout}\n{r.stderr}"


def test_rules_pass_their_unit_tests() -> None:
    r = _promtool("test", "rules", "alerts.test.yaml")
    assert r.returncode == 0, f"promtool test rules failed:\n{r.stdout}\n{r.stderr}"


def test_every_alert_has_a_unit_test() -> None:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yaml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    tests = yaml.safe_load((PROMETHEUS / "alerts.test.yaml").read_text())["tests"]
    # an alert is covered only where the test expects it to fire, not just to stay quiet
    fired = {a["alertname"] for t in tests for a in t["alert_rule_test"] if a.get("exp_alerts")}
    assert alerts - fired == set(), f"alerts no test sees firing: {sorted(alerts - fired)}"
