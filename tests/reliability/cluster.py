"""A throwaway PostgreSQL cluster of the test's own: initdb and pg_ctl under a temp dir, on a
free loopback port, so the tests can stop, freeze (SIGSTOP) and restart it.

Without the PostgreSQL binaries the tests skip with the reason; under CI=true that is a
failure.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import free_port

OWNER = "postgres"
"""initdb refuses to run as root: the cluster runs as this user when the tests are root."""


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true, so a missing PostgreSQL is a failure: {reason}")
    pytest.skip(reason)


@dataclass
class Cluster:
    bin: Path
    data: Path
    port: int
    user: str | None
    """Run as this user (when the tests run as root), else as the test's own user."""

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        done = subprocess.run(
            [*prefix, *command], check=False, capture_output=True, text=True, timeout=60
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed: {done.stderr or done.stdout}")
        return done

    def init(self) -> None:
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off "
            "-c max_connections=60 -c shared_buffers=16MB"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.data / "log.txt"),
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def processes(self) -> list[int]:
        """The postmaster and its children (the cluster's own processes only)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(postmaster)],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        return [postmaster, *(int(pid) for pid in children)]

    def signal(self, signum: signal.Signals) -> None:
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)


def cluster(directory: Path) -> Iterator[Cluster]:
    """A started cluster in ``directory``, stopped (and thawed) at the end."""
    binaries = _binaries()
    if binaries is None:
        _missing("no PostgreSQL binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin")
    assert binaries is not None
    user = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam(OWNER)
        except KeyError:
            _missing(f"running as root, and there is no {OWNER!r} user to run PostgreSQL as")
        user = OWNER
        os.chown(directory, owner.pw_uid, owner.pw_gid)
        directory.chmod(0o700)
    the_cluster = Cluster(binaries, directory / "data", free_port(), user)
    if user:
        (directory / "data").mkdir()
        os.chown(directory / "data", owner.pw_uid, owner.pw_gid)
    the_cluster.init()
    the_cluster.start()
    try:
        yield the_cluster
    finally:
        the_cluster.signal(signal.SIGCONT)
        the_cluster._run(
            str(binaries / "pg_ctl"),
            "-D",
            str(the_cluster.data),
            "-m",
            "immediate",
            "stop",
            check=False,
        )


def wait_until(predicate: object, seconds: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(step)
    return False
