"""How long importing `resolutionflow_core` takes in a fresh interpreter.

``import resolutionflow_core`` alone loads its package only (the names are imported on
first use); ``from resolutionflow_core import *`` loads the modules behind those names (the
services, the aggregate and what they import), what ``import resolutionflow_core`` loaded
before the names were lazy.

Baselines measured in the same run: a bare interpreter, the standard-library modules the
core uses, and `from pydantic import BaseModel`. Bytecode is compiled first (an installed
wheel has it; without it every run would measure the compiler, e.g. where
PYTHONDONTWRITEBYTECODE is set). Prints the best and median of the runs, and the ratios.

    uv run python bench/import_time.py [--runs 40]
"""

from __future__ import annotations

import argparse
import compileall
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    "bare interpreter": "pass",
    "stdlib the core uses": "import dataclasses, enum, json, re, uuid, datetime, base64, typing",
    "from pydantic import BaseModel": "from pydantic import BaseModel",
    "import resolutionflow_core": "import resolutionflow_core",
    # The package imports its names on first use; all its names: the services and the aggregate.
    "from resolutionflow_core import * (all names)": "from resolutionflow_core import *",
    "... and parse a first marker block": (
        "import resolutionflow_core.markers as m;"
        "m.parse_markers('x\\n[QUESTIONS]\\n[\"a?\"]\\n[/QUESTIONS]')"
    ),
    "import resolutionflow_core, resolutionflow_memory": (
        "import resolutionflow_core, resolutionflow_memory"
    ),
}


def measure(code: str, runs: int) -> list[float]:
    """Wall times in ms of fresh interpreters running ``code``."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    for folder in (ROOT / "src", Path(sysconfig.get_paths()["purelib"])):
        compileall.compile_dir(folder, quiet=2)
    measure("import resolutionflow_core", 3)  # warm the OS caches
    results = {name: measure(code, args.runs) for name, code in CASES.items()}
    bare = min(results["bare interpreter"])
    pydantic = min(results["from pydantic import BaseModel"])
    print(f"{args.runs} runs each, wall time of a whole `python -c` process")
    print(f"{'case':52} {'best ms':>8} {'median':>8} {'- bare':>8} {'/ pydantic':>11}")
    for name, samples in results.items():
        best = min(samples)
        print(
            f"{name:52} {best:8.1f} {statistics.median(samples):8.1f} "
            f"{best - bare:8.1f} {best / pydantic:10.2f}x"
        )
    core = min(results["from resolutionflow_core import * (all names)"])
    print(
        f"\nAll the core's names: {core:.1f} ms in all, {core - bare:.1f} ms over a bare "
        f"interpreter (goal: well under 150 ms)."
    )


if __name__ == "__main__":
    main()
