"""How long `import resolutionflow_core` takes in a fresh interpreter.

Baselines measured in the same run: a bare interpreter (`python -c pass`) and
`import pydantic` (the core's one dependency). Prints medians and ratios.

    uv run python bench/import_time.py [--runs 30]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    "bare interpreter": "pass",
    "import pydantic": "import pydantic",
    "import resolutionflow_core": "import resolutionflow_core",
    "import resolutionflow_core + memory adapters": (
        "import resolutionflow_core, resolutionflow_memory"
    ),
}


def measure(code: str, runs: int) -> float:
    """Median wall time in ms of a fresh interpreter running ``code``."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    measure("pass", 3)  # warm the OS caches
    results = {name: measure(code, args.runs) for name, code in CASES.items()}
    bare = results["bare interpreter"]
    pydantic = results["import pydantic"]
    print(f"{'case':48} {'median ms':>10} {'over bare':>10} {'vs pydantic':>12}")
    for name, ms in results.items():
        print(f"{name:48} {ms:10.1f} {ms - bare:10.1f} {ms / pydantic:11.2f}x")
    core = results["import resolutionflow_core"] - bare
    print(
        f"\nimport resolutionflow_core costs {core:.1f} ms over a bare interpreter "
        f"({core - (pydantic - bare):.1f} ms beyond pydantic itself)."
    )


if __name__ == "__main__":
    main()
