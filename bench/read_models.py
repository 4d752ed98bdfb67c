"""Read models: building the documents with `resolutionflow_app.read_models` against the
hand-written builders they replaced (``resolutionflow_api/responses.py`` at ``--baseline``,
read from git), in the same run, interleaved, CPU time beside wall time.

Three documents, built from in-memory sessions the offline assistant answered: a chat of 40
messages (markers parsed), a guided session of 11 steps, and a page of 50 history rows. Both
builders must produce the same JSON bytes (checked first). Goal: each ratio <= 4x in CPU
(a page of 50 rows stays well under a millisecond).

    uv run python bench/read_models.py [--baseline 9265577] [--runs 15] [--loops 200]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
from _common import print_table, verdict

from resolutionflow_app import read_models
from resolutionflow_core.access import Actor, Role
from resolutionflow_core.listing import SessionSummary
from resolutionflow_core.services import SessionService
from resolutionflow_core.session import IntakeType, Session
from resolutionflow_memory import InMemoryStorage, OfflineLLM

GOAL = 4.0


def baseline(revision: str) -> ModuleType:
    """The old response builders, as they were at ``revision``."""
    source = subprocess.run(
        ["git", "show", f"{revision}:src/entrypoints/resolutionflow_api/responses.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "old_responses.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_responses", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def sessions() -> tuple[Actor, Session, Session]:
    service = SessionService(uow=InMemoryStorage().unit_of_work, llm=OfflineLLM())
    actor = Actor("acme", "alice", Role.ENGINEER)
    turn = await service.start_chat(actor, "Outlook asks for the password")
    for i in range(19):
        turn = await service.send_message(actor, turn.session.id, f"Tried step {i}, still asks")
    guided = await service.start_guided(actor, IntakeType.FREE_TEXT, {"text": "Printer offline"})
    for i in range(10):
        guided = await service.answer_step(actor, guided.id, f"answer {i}")
    return actor, turn.session, guided


def timed(build: Callable[[], Any], loops: int) -> tuple[float, float]:
    """Microseconds per call, wall and CPU."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(loops):
        build()
    return (
        (time.perf_counter() - wall) / loops * 1e6,
        (time.process_time() - cpu) / loops * 1e6,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="9265577")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--loops", type=int, default=200)
    args = parser.parse_args()
    old = baseline(args.baseline)
    actor, chat, guided = asyncio.run(sessions())
    rows = [SessionSummary.of(chat), SessionSummary.of(guided)] * 25
    cases: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
        "chat, 40 messages": (
            lambda: old.session_read(chat, actor),
            lambda: read_models.session_read(chat, actor),
        ),
        f"guided, {len(guided.steps)} steps": (
            lambda: old.session_read(guided, actor),
            lambda: read_models.session_read(guided, actor),
        ),
        "page of 50 rows": (
            lambda: [old.summary_read(r) for r in rows],
            lambda: [read_models.summary_read(r) for r in rows],
        ),
    }
    for name, (before, after) in cases.items():
        same = msgspec.json.encode(before()) == msgspec.json.encode(after())
        assert same, f"{name}: the documents differ"
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, load average {load:.2f} at start; medians of {args.runs} runs")
    table = []
    for name, (before, after) in cases.items():
        times: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
        for _ in range(args.runs):
            times["old"].append(timed(before, args.loops))
            times["new"].append(timed(after, args.loops))
        old_wall, old_cpu = (statistics.median(t[i] for t in times["old"]) for i in (0, 1))
        new_wall, new_cpu = (statistics.median(t[i] for t in times["new"]) for i in (0, 1))
        ratio = new_cpu / old_cpu
        table.append(
            [name, old_wall, new_wall, new_wall / old_wall, old_cpu, new_cpu, ratio,
             verdict(ratio, GOAL)]
        )  # fmt: skip
    print_table(
        ["document", "old wall µs", "new wall µs", "ratio", "old CPU µs", "new CPU µs",
         "ratio", f"CPU <= {GOAL:g}x"],
        table,
    )  # fmt: skip
    sys.stdout.flush()


if __name__ == "__main__":
    main()
