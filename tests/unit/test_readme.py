"""The README's library example runs and prints what the README says it prints."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.process  # starts processes: `pytest -m "not process"` skips it

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_example_prints_what_the_readme_shows(tmp_path: Path) -> None:
    text = README.read_text()
    match = re.search(r"```python\n(.*?)```\n\nprints\n\n```text\n(.*?)```", text, re.S)
    assert match, "the README lost its example or its printed output"
    code, expected = match.groups()
    script = tmp_path / "example.py"
    script.write_text(code)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout == expected
