"""Load with integrity: N clients for T seconds against ``serve``, then every acknowledged
message is checked to be stored exactly once.

    uv run python bench/load.py                # 32 clients, 10 s, SQLite and PostgreSQL,
                                               # 1 and 2 workers (~2-3 min)
    uv run python bench/load.py --quick        # 8 clients, 3 s each

The real server (``python -m resolutionflow_api``, the offline LLM) is started per
configuration: SQLite (a file) and PostgreSQL (a fresh database at 127.0.0.1:5432, or
``RESOLUTIONFLOW_BENCH_POSTGRES``; skipped with a message without a server), each with 1 and
2 workers. Each client owns a chat session and loops: ``POST …/chat`` with its own
``Idempotency-Key`` (a 503 or 409 is retried with the same key, as a careful client does),
then ``GET`` the session. Reported per configuration: requests/s, p50/p99 latency, the
count of every status (with the problem's ``code``), and the integrity check: each
acknowledged message stored once, no message stored twice, and on SQLite
``PRAGMA integrity_check`` after the server stopped.

The load generator is one asyncio process on the same cores as the server. Not part of the
test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from _common import (
    machine_summary,
    percentile,
    postgres_database,
    print_table,
    rows_on_backends,
)
from api_throughput import KEY, server_process


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    acknowledged: dict[str, list[str]] = field(default_factory=dict)
    sent: dict[str, list[str]] = field(default_factory=dict)


async def _request(
    client: httpx.AsyncClient, run: Run, method: str, path: str, **options: object
) -> httpx.Response | None:
    started = time.perf_counter()
    try:
        response = await client.request(method, path, **options)  # type: ignore[arg-type]
    except httpx.TransportError as error:
        run.statuses[type(error).__name__] += 1
        return None
    run.latencies.append(time.perf_counter() - started)
    code = ""
    if response.headers.get("content-type", "").startswith("application/problem"):
        code = f" {response.json().get('code')}"
    run.statuses[f"{response.status_code}{code}"] += 1
    return response


async def _client(base_url: str, auth: dict[str, str], index: int, until: float, run: Run) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        created = await client.post(
            "/api/v1/ai-sessions",
            json={"session_type": "chat", "message": f"bench client {index}"},
            headers=auth,
        )
        session = created.json()["id"]
        run.acknowledged[session], run.sent[session] = [], []
        number = 0
        while time.monotonic() < until:
            number += 1
            content, key = f"client {index} message {number}", str(uuid.uuid4())
            run.sent[session].append(content)
            while time.monotonic() < until + 10:  # finish what was started
                response = await _request(
                    client,
                    run,
                    "POST",
                    f"/api/v1/ai-sessions/{session}/chat",
                    json={"content": content},
                    headers=auth | {"Idempotency-Key": key},
                )
                if response is not None and response.status_code == 200:
                    run.acknowledged[session].append(content)
                    break
                if response is not None and response.status_code not in (409, 503):
                    break
                await asyncio.sleep(0.05)
            await _request(client, run, "GET", f"/api/v1/ai-sessions/{session}", headers=auth)


async def _integrity(base_url: str, auth: dict[str, str], run: Run) -> list[str]:
    wrong = []
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        for session, sent in run.sent.items():
            read = (await client.get(f"/api/v1/ai-sessions/{session}", headers=auth)).json()
            stored = Counter(m["content"] for m in read["messages"] if m["role"] == "user")
            acknowledged = set(run.acknowledged[session])
            for content in sent:
                if content in acknowledged and stored[content] != 1:
                    wrong.append(f"{content!r}: acknowledged, stored {stored[content]}x")
                elif stored[content] > 1:
                    wrong.append(f"{content!r}: stored {stored[content]}x")
    return wrong


def measure(
    backend: str, url: str, workers: int, directory: Path, args: argparse.Namespace
) -> list[object]:
    env = {
        "RESOLUTIONFLOW_DATABASE_URL": url,
        "RESOLUTIONFLOW_LLM": "offline",
        "RESOLUTIONFLOW_WORKERS": str(workers),
        "RESOLUTIONFLOW_RELAY_IN_PROCESS": "false",
    }
    command = [sys.executable, "-m", "resolutionflow_api"]
    run = Run()
    with server_process(command, directory, env) as server:
        keys = KEY.findall(server.stdout.read_text())
        auth = {"Authorization": f"Bearer {keys[0]}"}

        async def drive() -> list[str]:
            until = time.monotonic() + args.seconds
            await asyncio.gather(
                *(_client(server.base_url, auth, i, until, run) for i in range(args.clients))
            )
            return await _integrity(server.base_url, auth, run)

        started = time.monotonic()
        wrong = asyncio.run(drive())
        elapsed = time.monotonic() - started
    if backend == "sqlite":
        path = url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as connection:
            check = connection.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            wrong.append(f"PRAGMA integrity_check: {check}")
    acknowledged = sum(len(v) for v in run.acknowledged.values())
    lat = sorted(run.latencies)
    statuses = ", ".join(f"{status}: {n}" for status, n in sorted(run.statuses.items()))
    return [
        backend,
        workers,
        f"{len(lat) / elapsed:.0f}",
        f"{percentile(lat, 50) * 1000:.1f}",
        f"{percentile(lat, 99) * 1000:.1f}",
        statuses,
        acknowledged,
        "ok" if not wrong else f"{len(wrong)} wrong: {wrong[:3]}",
    ]


async def _postgres(args: argparse.Namespace, directory: Path) -> list[list[object]]:
    rows: list[list[object]] = []
    for workers in args.workers:
        async with postgres_database("rf_bench_load") as url:
            if url is None:
                break
            rows.append(
                await asyncio.to_thread(measure, "postgresql", url, workers, directory, args)
            )
    return rows


def _sqlite(args: argparse.Namespace, directory: Path) -> list[list[object]]:
    return [
        measure(
            "sqlite", f"sqlite:///{directory / f'load-{workers}.sqlite3'}", workers, directory, args
        )
        for workers in args.workers
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="8 clients, 3 s each")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.seconds = 8, 3.0
    print(machine_summary())
    print(f"{args.clients} clients, {args.seconds:g} s per configuration")
    rows = rows_on_backends(
        args.backend,
        "rf-bench-load-",
        lambda directory: _sqlite(args, directory),
        lambda directory: _postgres(args, directory),
    )
    print()
    print_table(
        [
            "backend",
            "workers",
            "req/s",
            "p50 ms",
            "p99 ms",
            "statuses",
            "acknowledged",
            "integrity",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
