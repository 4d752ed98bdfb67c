"""The wheel installs only uniquely named packages, each with its py.typed marker."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.process  # starts processes: `pytest -m "not process"` skips it

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("uv") is None, reason="uv is not on PATH")
def test_the_wheel_has_no_generic_top_level_package(tmp_path: Path) -> None:
    subprocess.run(
        ["uv", "build", "--wheel", "--out-dir", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {
        name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")
    }
    assert top_level == {
        "resolutionflow_core",
        "resolutionflow_memory",
        "resolutionflow_sqlalchemy",
        "resolutionflow_anthropic",
        "resolutionflow_psa",
        "resolutionflow_app",
        "resolutionflow_api",
        "resolutionflow_cli",
        "resolutionflow_web",
    }
    for package in top_level:
        assert f"{package}/py.typed" in names
    assert not any("__pycache__" in name or name.startswith("tests/") for name in names)
    migrations = "resolutionflow_sqlalchemy/migrations"
    assert f"{migrations}/script.py.mako" in names
    assert f"{migrations}/versions/0001_baseline.py" in names
    assert "resolutionflow_web/templates/base.html" in names
    assert "resolutionflow_web/static/vendor/htmx-2.0.11.min.js" in names
    assert "resolutionflow_web/static/vendor/htmx.LICENSE" in names
