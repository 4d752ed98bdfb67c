"""CLI start-up: whole ``resolutionflow`` processes against ``python -c "import sqlalchemy"``.

Cases, each a fresh process (bytecode compiled beforehand, as in an installed wheel), on a
SQLite database in a temporary directory holding a few sessions:

- ``python -c "import sqlalchemy"``, the reference (the goal: ``sessions list`` ≤ 1.3× it);
- ``resolutionflow --version`` and ``--help`` (the goal: no SQLAlchemy imported at all);
- ``resolutionflow sessions list`` and ``resolutionflow sessions show ID``;
- with ``--libraries``, a second, labelled reference: ``python -c "import ..."`` of the
  third-party modules ``sessions list`` cannot run without (`LIBRARIES`: SQLAlchemy and
  its SQLite dialect, Typer with the pydantic adapters it builds for every option,
  pydantic-settings, rich's console and table, asyncio), once as a plain process and once
  with the garbage collector handled as the CLI handles it (`resolutionflow_cli.startup`):
  what ``sessions list`` takes above the latter is this project's own code and work; and
  a third time without the pydantic stack (`PYDANTIC_STACK`), to show what it costs; and a
  fourth time with this project's modules that ``sessions list`` loads (found by running
  it once) imported after the libraries: the step from the floor to it is what importing
  the project's code costs, and the step from it to ``sessions list`` the command's work.

The cases run in interleaved rounds (a busy machine slows them alike); medians and bests
of wall time, and the median CPU time (user + system) of each process beside it.
Each process runs the console script's code through the same interpreter
(``python -c "from resolutionflow_cli.main import main; main()"``), so the comparison is not
skewed by the launcher.

    uv run python bench/cli_startup.py [--quick] [--runs N] [--before DIR] [--libraries]
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine_summary, print_table

GOAL = 1.3
CLI = "import sys; from resolutionflow_cli.main import main; sys.argv[0] = 'resolutionflow'; main()"
LIBRARIES = (
    "sqlalchemy",
    "sqlalchemy.dialects.sqlite.pysqlite",
    "typer",
    "typer._adapters",  # Typer 0.29 coerces every option through a pydantic TypeAdapter
    "pydantic_settings",
    "rich.console",
    "rich.table",
    "asyncio",
)
"""What ``sessions list`` imports from other projects and cannot do without."""

PYDANTIC_STACK = ("typer._adapters", "pydantic_settings")
"""The `LIBRARIES` that load pydantic (the core itself does not at import time)."""


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one whole process; it must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{argv[2:]} failed ({done.returncode}): {done.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def prepare(env: dict[str, str]) -> str:
    """Migrate the database, add two sessions, and return one's id."""
    cli = [sys.executable, "-c", CLI]
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    for text in ("The printer on floor 2 is offline", "Outlook keeps asking for the password"):
        subprocess.run(
            [*cli, "sessions", "new", "--type", "guided", text],
            env=env,
            check=True,
            capture_output=True,
        )
    listed = subprocess.run(
        [*cli, "sessions", "list", "--json"], env=env, check=True, capture_output=True, text=True
    )
    import json

    data = json.loads(listed.stdout)
    items = data["items"] if isinstance(data, dict) else data
    return str(items[0]["id"])


PROBE = (
    "import atexit, sys; atexit.register(lambda: print(' '.join(sorted(m for m in sys.modules"
    " if m.startswith('resolutionflow_'))), file=sys.stderr)); " + CLI
)
"""The CLI, printing the project's modules it loaded when it exits."""


def own_modules(env: dict[str, str]) -> list[str]:
    """This project's modules that ``sessions list`` loads (with ``env``'s PYTHONPATH)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "sessions", "list"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stderr.strip().splitlines()[-1].split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 rounds instead of 20")
    parser.add_argument("--runs", type=int, help="rounds")
    parser.add_argument(
        "--before",
        type=Path,
        help="a checkout (or `git archive` of src/) of an earlier version: its `--version`, "
        "`sessions list` and `show` run in the same rounds, from its src/ put first on PYTHONPATH",
    )
    parser.add_argument(
        "--libraries",
        action="store_true",
        help="also time the import of the third-party modules `sessions list` needs (LIBRARIES)",
    )
    args = parser.parse_args()
    rounds = args.runs or (5 if args.quick else 20)
    if args.before is not None:
        compileall.compile_dir(args.before / "src", quiet=2)
    for folder in [Path(__file__).resolve().parents[1] / "src", *map(Path, sys.path)]:
        if folder.name in ("src", "site-packages") and folder.is_dir():
            compileall.compile_dir(folder, quiet=2)
    with tempfile.TemporaryDirectory(prefix="rf-cli-") as tmp:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("RESOLUTIONFLOW_", "ANTHROPIC_"))
        }
        env["RESOLUTIONFLOW_DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'cli.sqlite3'}"
        env["RESOLUTIONFLOW_LLM"] = "offline"
        session_id = prepare(env)
        cli = [sys.executable, "-c", CLI]
        cases = {
            'python -c "import sqlalchemy"': [sys.executable, "-c", "import sqlalchemy"],
            "resolutionflow --version": [*cli, "--version"],
            "resolutionflow --help": [*cli, "--help"],
            "resolutionflow sessions list": [*cli, "sessions", "list"],
            "resolutionflow sessions show ID": [*cli, "sessions", "show", session_id],
        }
        if args.libraries:
            code = f"import {', '.join(LIBRARIES)}"
            cases["libraries only (see LIBRARIES)"] = [sys.executable, "-c", code]
            # The same, with the collector handled as the CLI's `startup` does: the floor
            # the command's own code and work stand on.
            paused = f"import gc; gc.set_threshold(100_000, 10, 10); {code}; gc.freeze()"
            cases["libraries only, collector as the CLI"] = [sys.executable, "-c", paused]
            # And without the pydantic stack (Typer's adapters, pydantic-settings and the
            # pydantic they load): what the floor would be if the command did not need it.
            rest = ", ".join(name for name in LIBRARIES if name not in PYDANTIC_STACK)
            bare = f"import gc; gc.set_threshold(100_000, 10, 10); import {rest}; gc.freeze()"
            cases["libraries but pydantic, collector as the CLI"] = [sys.executable, "-c", bare]
        envs = dict.fromkeys(cases, env)
        own = "libraries and the project's modules, collector as the CLI"
        if args.before is not None:
            src = args.before.resolve() / "src"
            before = dict(env)
            before["PYTHONPATH"] = os.pathsep.join(
                str(folder) for folder in (src, src / "adapters", src / "entrypoints")
            )
            for name in (
                "resolutionflow --version",
                "resolutionflow sessions list",
                "resolutionflow sessions show ID",
            ):
                cases[f"before: {name}"] = cases[name]
                envs[f"before: {name}"] = before
        if args.libraries:
            # What `sessions list` imports of this project, after the libraries (and with
            # `--before`, what the earlier version's imports): no command is run. The
            # collector as the CLI handles it, in its order: the console script's module
            # (and Typer) under the usual thresholds, then the high one. Raised from the
            # start, the young generation's count would cross it during these imports and
            # one collection would walk ~100,000 objects (~20 ms) that the CLI never walks.
            for label, environment in [(own, env)] + (
                [(f"before: {own}", before)] if args.before is not None else []
            ):
                modules = ", ".join(own_modules(environment))
                loading = (
                    "import gc, resolutionflow_cli.main; gc.set_threshold(100_000, 10, 10); "
                    f"{code}; import {modules}; gc.freeze()"
                )
                cases[label] = [sys.executable, "-c", loading]
                envs[label] = environment
        times: dict[str, list[float]] = {name: [] for name in cases}
        cpu: dict[str, list[float]] = {name: [] for name in cases}
        names = list(cases)
        for index in range(rounds + 1):  # the first round warms the OS caches, untimed
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                elapsed, used = run(cases[name], envs[name])
                if index:
                    times[name].append(elapsed * 1000)
                    cpu[name].append(used * 1000)
    print(f"CLI start-up, whole processes, {rounds} interleaved rounds")
    print(machine_summary())
    print()
    reference = statistics.median(times[names[0]])
    cpu_reference = statistics.median(cpu[names[0]])
    rows: list[list[object]] = []
    for name in names:
        median = statistics.median(times[name])
        cpu_median = statistics.median(cpu[name])
        ratio = median / reference
        goal = f"<= {GOAL}x" if name.startswith("resolutionflow sessions") else "-"
        passed = ("PASS" if ratio <= GOAL else "MISS") if goal != "-" else "-"
        rows.append(
            [
                name,
                min(times[name]),
                median,
                f"{ratio:.2f}x",
                cpu_median,
                f"{cpu_median / cpu_reference:.2f}x",
                goal,
                passed,
            ]
        )
    print_table(
        [
            "case",
            "best ms",
            "median ms",
            "vs import sqlalchemy",
            "CPU ms",
            "CPU vs import sqlalchemy",
            "goal",
            "verdict",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
