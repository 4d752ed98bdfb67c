"""Web pages against the JSON API: the dashboard and the history over 10,000 sessions.

    uv run python bench/web_pages.py            # 10,000 sessions, 40 timed runs per page
    uv run python bench/web_pages.py --quick    # 2,000 sessions, 10 runs

The real server process (``python -m resolutionflow_api``, one worker, SQLite, the offline
LLM) serves both the web app and the API. ``--sessions`` sessions are bulk-loaded over four
accounts (``history_list.load_sqlite``); an owner of the first account (who sees the whole
account) signs in to the web app, and an owner API key of the same account reads the API.
Each pair is timed interleaved in the same run, over one keep-alive connection each:

- ``GET /`` (the dashboard page: 10 active, 10 escalated, 10 recent) against
  ``GET /api/v1/dashboard?limit=10``;
- ``GET /sessions`` (the history page: 25 rows) against ``GET /api/v1/ai-sessions?limit=25``.

Goal (issue 11): each page's median ≤ 1.5 × the API's. It also reports the JavaScript the
app ships, gzipped (goal ≤ 60 KB). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.resources import files
from pathlib import Path

import httpx
from _common import machine_summary, note, print_table, verdict
from history_list import ACCOUNTS, load_sqlite

from resolutionflow_app.passwords import Argon2Passwords
from resolutionflow_core.access import Actor, Role
from resolutionflow_core.system import SystemClock
from resolutionflow_core.users import register_user
from resolutionflow_sqlalchemy import SqlStorage
from resolutionflow_sqlalchemy.keys import SqlKeyStore
from resolutionflow_sqlalchemy.users import SqlUserStore

GOAL = 1.5
JS_GOAL_KB = 60.0
EMAIL = "owner@bench.example"
PASSWORD = "bench password, not a secret"
PAIRS = {
    "dashboard": ("/", "/api/v1/dashboard?limit=10"),
    "history": ("/sessions", "/api/v1/ai-sessions?limit=25"),
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(directory: Path, url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("RESOLUTIONFLOW_", "ANTHROPIC_"))
    }
    env |= {
        "RESOLUTIONFLOW_DATABASE_URL": url,
        "RESOLUTIONFLOW_PORT": str(port),
        "RESOLUTIONFLOW_LLM": "offline",
    }
    out = (directory / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "resolutionflow_api"], cwd=directory, env=env, stdout=out, stderr=out
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"the server did not start: {(directory / 'server.log').read_text()}")


async def credentials(url: str) -> str:
    """An owner user of the first account (for the pages) and its API key (for the API)."""
    storage = SqlStorage.from_url(url)
    try:
        now = SystemClock().now()
        await register_user(
            SqlUserStore(storage.database), Argon2Passwords(), account_id=ACCOUNTS[0],
            email=EMAIL, role=Role.OWNER, password=PASSWORD, now=now,
        )  # fmt: skip
        key = await SqlKeyStore(storage.database).create(
            Actor(ACCOUNTS[0], EMAIL, Role.OWNER), "bench", now=now
        )
        return key.secret
    finally:
        await storage.dispose()


def signed_in(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    form = client.get("/sign-in")
    token = re.search(r'name="_csrf" value="([^"]+)"', form.text)
    assert token is not None
    data = {"_csrf": token.group(1), "account": ACCOUNTS[0], "email": EMAIL,
            "password": PASSWORD, "next": "/"}  # fmt: skip
    assert client.post("/sign-in", data=data).status_code == 303
    return client


def timed(client: httpx.Client, path: str) -> float:
    start = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - start) * 1000
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return elapsed


def javascript_kb() -> tuple[float, list[tuple[str, float]]]:
    static = Path(str(files("resolutionflow_web") / "static"))
    shipped = sorted(static.rglob("*.js"))
    sizes = [(p.name, len(gzip.compress(p.read_bytes(), 9)) / 1024) for p in shipped]
    return sum(size for _, size in sizes), sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2,000 sessions, 10 runs")
    args = parser.parse_args()
    if args.quick:
        args.sessions, args.runs, args.warmup = 2_000, 10, 2
    note(machine_summary())
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "web.sqlite3"
        url = f"sqlite:///{path}"
        port = _free_port()
        server = start_server(Path(directory), url, port)
        try:
            load_sqlite(path, args.sessions)
            secret = asyncio.run(credentials(url))
            base = f"http://127.0.0.1:{port}"
            web = signed_in(base)
            api = httpx.Client(
                base_url=base, timeout=30, headers={"Authorization": f"Bearer {secret}"}
            )
            rows = []
            for name, (page, endpoint) in PAIRS.items():
                samples: dict[str, list[float]] = {"page": [], "api": []}
                for index in range(args.warmup + args.runs):
                    order = [("page", web, page), ("api", api, endpoint)]
                    for label, client, target in order if index % 2 else order[::-1]:
                        elapsed = timed(client, target)
                        if index >= args.warmup:
                            samples[label].append(elapsed)
                page_ms = statistics.median(samples["page"])
                api_ms = statistics.median(samples["api"])
                ratio = page_ms / api_ms
                rows.append([name, page, endpoint, page_ms, api_ms, ratio, verdict(ratio, GOAL)])
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    print(f"\n{args.sessions:,} sessions, {args.runs} runs each, median wall ms (goal ≤ {GOAL}×)")
    print_table(["page", "path", "API", "page ms", "API ms", "ratio", ""], rows)
    total, sizes = javascript_kb()
    print(f"\nJavaScript shipped, gzipped: {total:.1f} KB (goal ≤ {JS_GOAL_KB:.0f} KB)")
    print_table(["file", "KB gz"], [[name, size] for name, size in sizes])


if __name__ == "__main__":
    main()
