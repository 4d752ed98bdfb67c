"""Importing the core loads only the standard library; pydantic comes with the first
marker block parsed, everything heavier never."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.process  # starts processes: `pytest -m "not process"` skips it

HEAVY = ("sqlalchemy", "alembic", "litestar", "anthropic", "httpx", "typer", "rich", "asyncpg")


def test_importing_the_core_loads_no_adapter_framework_or_client_library() -> None:
    probe = (
        "import json, sys; from resolutionflow_core import *;"  # all the names: their modules
        "print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(result.stdout))
    assert "resolutionflow_core" in loaded
    assert loaded.isdisjoint(HEAVY), sorted(loaded.intersection(HEAVY))
    assert "pydantic" not in loaded, "pydantic is loaded lazily, on the first marker block"
    assert not any(
        name.startswith("resolutionflow_") and name != "resolutionflow_core" for name in loaded
    )


def test_the_heavy_libraries_are_installed_so_the_check_above_means_something() -> None:
    probe = "import sqlalchemy, litestar, anthropic, httpx, typer"
    subprocess.run([sys.executable, "-c", probe], check=True)
