"""The pinned tools (helm, promtool) for deployment checks, built on first use by deploy/local/tools."""

from __future__ import annotations

import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

_SCRIPT = Path(__file__).resolve().parent.parent / "deploy" / "local" / "tools"


@cache
def pinned_tool(name: str) -> Path:
    """The tool's binary; a test that needs it fails (never skips) when it cannot be built."""
    proc = subprocess.run([sys.executable, str(_SCRIPT), "path", name], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"could not get the pinned {name}: {proc.stderr.strip() or proc.stdout.strip()}")
    return Path(proc.stdout.strip().splitlines()[-1])
