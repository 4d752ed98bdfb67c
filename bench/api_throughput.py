"""HTTP API throughput: the real server against a minimal Litestar app on the same uvicorn.

    uv run python bench/api_throughput.py              # SQLite and PostgreSQL, ~80 s
    uv run python bench/api_throughput.py --seconds 4  # shorter measurements

For each backend (a SQLite file; a fresh PostgreSQL database at 127.0.0.1:5432, dropped at
the end, skipped with a message if the server cannot be reached) the real server process is
started as the product starts it (``python -m resolutionflow_api``, settings from the
environment, one worker, the offline LLM) on a free port, and beside it a baseline process:
a minimal Litestar app served by the same ``uvicorn.run`` call with the same options, whose
two routes return a fixed JSON body of the size the real endpoints returned (measured first).

The load generator is an asyncio httpx client with ``--connections`` keep-alive connections
in this process, on the same cores as the server; it drives the library and the baseline in
the same way; it costs CPU on the same cores too, so the script also reports each server
process's own CPU time per request. Each endpoint is measured for ``--seconds`` per server,
in ``--rounds`` interleaved library/baseline rounds (0.5 s of warm-up each):

- ``GET /api/v1/ai-sessions/{id}``: one chat session of 8 messages;
- ``POST /api/v1/ai-sessions/{id}/chat`` (offline LLM): every connection rotates through
  sessions of its own, so no two requests write one session at once (each turn adds two
  messages: the sessions grow during the run).

Not part of the test suite; nothing here is imported by the library.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from _common import (
    machine_summary,
    note,
    percentile,
    postgres_database,
    print_table,
    rows_on_backends,
)

KEY = re.compile(r"^\s+(rf_[0-9a-f]{12}_\S+)$", re.MULTILINE)
STARTUP_SECONDS = 60
SESSIONS_PER_CONNECTION = 4


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# -- the baseline server ---------------------------------------------------------------------


def serve_baseline(port: int, get_size: int, chat_size: int) -> None:
    """A minimal Litestar app, served by uvicorn exactly as `resolutionflow_api.server.run`
    serves the real one (one worker, the same options)."""
    import uvicorn
    from litestar import Litestar, Response, get, post

    def fixed(size: int) -> bytes:
        skeleton = json.dumps({"pad": ""}).encode()
        return json.dumps({"pad": "x" * max(0, size - len(skeleton))}).encode()

    get_body, chat_body = fixed(get_size), fixed(chat_size)

    @get("/fixed/{session_id:str}", sync_to_thread=False)
    def read(session_id: str) -> Response[bytes]:
        return Response(get_body, media_type="application/json")

    @post("/fixed/{session_id:str}/chat", status_code=200, sync_to_thread=False)
    def chat(session_id: str, data: dict[str, object]) -> Response[bytes]:
        return Response(chat_body, media_type="application/json")

    @get("/health", sync_to_thread=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app = Litestar([read, chat, health], signature_namespace={"Response": Response})
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="info", timeout_graceful_shutdown=5)


# -- server processes ------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    stdout: Path
    stderr: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"a server exited: {self.stderr.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"a server did not start: {self.stderr.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def server_process(command: list[str], directory: Path, env: dict[str, str]) -> Iterator[Server]:
    port = _free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RESOLUTIONFLOW_")}
    environment.pop("ANTHROPIC_API_KEY", None)
    environment |= {"RESOLUTIONFLOW_HOST": "127.0.0.1", "RESOLUTIONFLOW_PORT": str(port), **env}
    stdout, stderr = directory / f"stdout-{port}.txt", directory / f"stderr-{port}.txt"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [*command, str(port)] if "--baseline-server" in command else command,
            cwd=directory,
            env=environment,
            stdout=out,
            stderr=err,
        )
    server = Server(process, port, stdout, stderr)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


# -- the load generator ----------------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """User + system CPU time so far of the PostgreSQL server's processes on this machine
    (the backends that live through the measurement: the server's pool keeps them; a
    backend that exits meanwhile takes its CPU time with it)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() != "postgres":
                    continue
            except OSError:
                continue
            seconds = process_cpu_seconds(int(entry.name))
            if seconds == seconds:  # not NaN: the process may have gone meanwhile
                total += seconds
    return total


@dataclass(frozen=True)
class Result:
    latencies_ms: list[float]
    seconds: float
    errors: int
    server_cpu: float
    """The server process's CPU seconds during the measurement."""
    generator_cpu: float
    """This process's (the load generator's) CPU seconds during the measurement."""
    postgres_cpu: float = 0.0
    """The PostgreSQL server processes' CPU seconds during the measurement (0 on SQLite)."""

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p95_ms(self) -> float:
        return percentile(self.latencies_ms, 95)

    def __add__(self, other: Result) -> Result:
        return Result(
            self.latencies_ms + other.latencies_ms,
            self.seconds + other.seconds,
            self.errors + other.errors,
            self.server_cpu + other.server_cpu,
            self.generator_cpu + other.generator_cpu,
            self.postgres_cpu + other.postgres_cpu,
        )

    @property
    def server_cpu_ms(self) -> float:
        """Server CPU per request, in ms."""
        return self.server_cpu * 1000 / self.requests


async def load(
    base_url: str,
    headers: dict[str, str],
    request: Callable[[httpx.AsyncClient, int, int], object],
    *,
    connections: int,
    seconds: float,
    server_pid: int,
    warmup: float = 0.5,
    postgres: bool = False,
) -> Result:
    """``connections`` workers, each sending ``request(client, worker, n)`` back to back."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=30
    ) as client:
        latencies: list[float] = []
        errors = 0
        measuring = False
        stop_at = time.monotonic() + warmup + seconds

        async def worker(number: int) -> None:
            nonlocal errors
            n = 0
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                response = await request(client, number, n)  # type: ignore[misc]
                elapsed = time.perf_counter() - started
                n += 1
                if measuring:
                    latencies.append(elapsed * 1000)
                    if response.status_code >= 400:
                        errors += 1

        tasks = [asyncio.create_task(worker(i)) for i in range(connections)]
        await asyncio.sleep(warmup)
        measuring, began = True, time.monotonic()
        server_began, generator_began = process_cpu_seconds(server_pid), time.process_time()
        postgres_began = postgres_cpu_seconds() if postgres else 0.0
        await asyncio.gather(*tasks)
        took = time.monotonic() - began
        server_cpu = process_cpu_seconds(server_pid) - server_began
        generator_cpu = time.process_time() - generator_began
        postgres_cpu = postgres_cpu_seconds() - postgres_began if postgres else 0.0
    return Result(latencies, took, errors, server_cpu, generator_cpu, postgres_cpu)


# -- the run ---------------------------------------------------------------------------------


def measure_backend(
    backend: str, url: str, directory: Path, args: argparse.Namespace
) -> list[list[object]]:
    env = {
        "RESOLUTIONFLOW_DATABASE_URL": url,
        "RESOLUTIONFLOW_WORKERS": "1",
        "RESOLUTIONFLOW_LLM": "offline",
    }
    rows: list[list[object]] = []
    note(f"{backend}: starting the server")
    with server_process([sys.executable, "-m", "resolutionflow_api"], directory, env) as real:
        (key,) = KEY.findall(real.stdout.read_text())
        auth = {"Authorization": f"Bearer {key}"}
        sessions = prepare_sessions(real.base_url, auth, args.connections)
        reading = sessions[0][0]
        chat_size = len(
            httpx.post(
                f"{real.base_url}/api/v1/ai-sessions/{reading}/chat",
                json={"content": "Only one user is affected"},
                headers=auth,
                timeout=30,
            ).content
        )
        get_size = len(
            httpx.get(f"{real.base_url}/api/v1/ai-sessions/{reading}", headers=auth).content
        )
        note(f"{backend}: GET body {get_size} bytes, chat body {chat_size} bytes")
        baseline_command = [
            sys.executable,
            __file__,
            "--baseline-server",
            str(get_size),
            str(chat_size),
        ]
        with server_process(baseline_command, directory, {}) as baseline:
            for endpoint, library_path, baseline_path, method in (
                ("GET /ai-sessions/{id}", "/api/v1/ai-sessions/{id}", "/fixed/{id}", "GET"),
                (
                    "POST /ai-sessions/{id}/chat",
                    "/api/v1/ai-sessions/{id}/chat",
                    "/fixed/{id}/chat",
                    "POST",
                ),
            ):
                targets = {
                    "library": (real, library_path),
                    "baseline": (baseline, baseline_path),
                }
                note(f"{backend}: {endpoint}, {args.rounds} rounds of library and baseline")
                results: dict[str, Result] = {}
                for round_ in range(args.rounds):
                    # Alternate which goes first, so a machine that gets busier or quieter
                    # during the run affects both alike.
                    order = ["library", "baseline"][:: 1 if round_ % 2 == 0 else -1]
                    for name in order:
                        server, path = targets[name]
                        result = asyncio.run(
                            load(
                                server.base_url,
                                auth,
                                requester(method, path, sessions, reading),
                                connections=args.connections,
                                seconds=args.seconds / args.rounds,
                                server_pid=server.process.pid,
                                postgres=backend == "postgresql",
                            )
                        )
                        results[name] = results[name] + result if name in results else result
                library, base = results["library"], results["baseline"]
                if library.errors or base.errors:
                    note(f"{backend}: {endpoint}: {library.errors} + {base.errors} error responses")
                rows.append(
                    [
                        backend,
                        endpoint,
                        round(library.rps, 1),
                        round(base.rps, 1),
                        round(library.rps / base.rps, 3),
                        round(library.server_cpu_ms / base.server_cpu_ms, 2),
                        f"{library.p50_ms:.1f}/{library.p95_ms:.1f}",
                        f"{base.p50_ms:.1f}/{base.p95_ms:.1f}",
                        f"{library.server_cpu_ms:.2f}/{base.server_cpu_ms:.2f}",
                        f"{library.generator_cpu * 1000 / library.requests:.2f}"
                        f"/{base.generator_cpu * 1000 / base.requests:.2f}",
                        f"{library.postgres_cpu * 1000 / library.requests:.2f}"
                        if backend == "postgresql"
                        else "-",
                    ]
                )
    return rows


def prepare_sessions(base_url: str, auth: dict[str, str], connections: int) -> list[list[str]]:
    """Chat sessions of 6 messages, ``SESSIONS_PER_CONNECTION`` per connection."""
    sessions: list[list[str]] = []
    with httpx.Client(base_url=base_url, headers=auth, timeout=30) as client:
        for _ in range(connections):
            mine = []
            for _ in range(SESSIONS_PER_CONNECTION):
                created = client.post(
                    "/api/v1/ai-sessions",
                    json={
                        "session_type": "chat",
                        "message": "Outlook keeps asking for the password",
                    },
                )
                created.raise_for_status()
                session_id = created.json()["id"]
                for content in ("Only one user", "OWA works fine"):
                    client.post(
                        f"/api/v1/ai-sessions/{session_id}/chat", json={"content": content}
                    ).raise_for_status()
                mine.append(session_id)
            sessions.append(mine)
    return sessions


def requester(
    method: str, path: str, sessions: list[list[str]], reading: str
) -> Callable[[httpx.AsyncClient, int, int], object]:
    body = {"content": "The user says the password prompt came back after a restart"}

    def get(client: httpx.AsyncClient, worker: int, n: int) -> object:
        return client.get(path.format(id=reading))

    def chat(client: httpx.AsyncClient, worker: int, n: int) -> object:
        mine = sessions[worker]
        return client.post(path.format(id=mine[n % len(mine)]), json=body)

    return get if method == "GET" else chat


async def _postgres_rows(args: argparse.Namespace, directory: Path) -> list[list[object]]:
    async with postgres_database("rf_bench_api") as url:
        if url is None:
            return []
        return await asyncio.to_thread(measure_backend, "postgresql", url, directory, args)


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--baseline-server":
        serve_baseline(int(sys.argv[4]), int(sys.argv[2]), int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--seconds", type=float, default=6.0, help="measured per endpoint and server"
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved library/baseline rounds")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()

    print(machine_summary())
    print(
        f"{args.connections} connections from an httpx load generator in this process, "
        f"{args.seconds:g} s per endpoint and server in {args.rounds} interleaved rounds "
        "(each after 0.5 s of warm-up); one uvicorn worker each"
    )
    started = time.monotonic()
    rows = rows_on_backends(
        args.backend,
        "rf-bench-api-",
        lambda directory: measure_backend(
            "sqlite", f"sqlite:///{directory / 'bench.sqlite3'}", directory, args
        ),
        lambda directory: _postgres_rows(args, directory),
    )
    print()
    print_table(
        [
            "backend",
            "endpoint",
            "library req/s",
            "baseline req/s",
            "ratio",
            "server CPU x base",
            "library p50/p95 ms",
            "baseline p50/p95 ms",
            "server CPU ms/req lib/base",
            "generator CPU ms/req lib/base",
            "postgres CPU ms/req lib",
        ],
        rows,
    )
    print(
        "\nratio = library / baseline req/s. Server CPU: the server process's user + system"
        "\nCPU time per request (x base: library / baseline); generator CPU: this process's"
        "\n(the load generator's). PostgreSQL's own processes are not in the server CPU:"
        "\npostgres CPU is theirs (all of the machine's postgres processes) per library request."
        f"\nWhole run {time.monotonic() - started:.0f} s."
    )


if __name__ == "__main__":
    main()
