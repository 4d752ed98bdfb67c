"""The PSA adapters against stubs of their REST APIs on 127.0.0.1, through the real httpx
client over a real socket. One stub server serves the session; each test installs a fresh
stub. Retry waits are recorded instead of slept, so the suite runs in seconds."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import TypeVar

import pytest

from resolutionflow_psa import (
    AutotaskPSA,
    AutotaskSettings,
    ConnectWisePSA,
    ConnectWiseSettings,
    HaloPSA,
    HaloPSASettings,
    HostGuard,
    RetryPolicy,
)
from tests.integration.psa.stub import CLIENT_TIMEOUT, StubServer
from tests.integration.psa.stubs import (
    AT_CREDENTIALS,
    AT_PREFIX,
    CW_CREDENTIALS,
    CW_PREFIX,
    HALO_CREDENTIALS,
    AutotaskStub,
    ConnectWiseStub,
    HaloStub,
)

SettingsT = TypeVar("SettingsT")

RETRY = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.04, max_retry_after=5.0)

LOOPBACK = HostGuard(allow_loopback=True)
"""The guard as tests must set it to reach the stub on 127.0.0.1."""


class Waits(list[float]):
    """A `sleep` that records how long the adapter wanted to wait, and returns at once."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def half() -> float:
    """The adapters' jitter source, fixed at the middle."""
    return 0.5


def stub_settings(
    kind: Callable[..., SettingsT],
    base_url: str,
    credentials: Mapping[str, str],
    overrides: dict[str, object],
) -> SettingsT:
    """An adapter's settings that reach the stub at ``base_url`` with the credentials it
    expects (the stub's defaults), the tests' timeout and retry policy, then ``overrides``."""
    values = {"base_url": base_url, **credentials, "timeout": CLIENT_TIMEOUT, "retry": RETRY}
    return kind(**(values | overrides))


@pytest.fixture(scope="session")
def server() -> Iterator[StubServer]:
    with StubServer().running() as running:
        yield running


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
def clock() -> Clock:
    return Clock()


# -- ConnectWise -------------------------------------------------------------------------------


def connectwise_settings(server: StubServer, **overrides: object) -> ConnectWiseSettings:
    base_url = f"{server.url}{CW_PREFIX}"
    return stub_settings(ConnectWiseSettings, base_url, CW_CREDENTIALS, overrides)


@pytest.fixture
def cw_stub(server: StubServer) -> ConnectWiseStub:
    server.stub = stub = ConnectWiseStub()
    return stub


@pytest.fixture
async def connectwise(
    server: StubServer, cw_stub: ConnectWiseStub, waits: Waits
) -> AsyncIterator[ConnectWisePSA]:
    settings = connectwise_settings(server)
    async with ConnectWisePSA(settings, guard=LOOPBACK, sleep=waits, chance=half) as psa:
        yield psa


# -- HaloPSA -------------------------------------------------------------------------------------


def halo_settings(server: StubServer, **overrides: object) -> HaloPSASettings:
    return stub_settings(HaloPSASettings, server.url, HALO_CREDENTIALS, overrides)


@pytest.fixture
def halo_stub(server: StubServer) -> HaloStub:
    server.stub = stub = HaloStub()
    return stub


@pytest.fixture
async def halo(
    server: StubServer, halo_stub: HaloStub, waits: Waits, clock: Clock
) -> AsyncIterator[HaloPSA]:
    settings = halo_settings(server)
    async with HaloPSA(settings, guard=LOOPBACK, sleep=waits, chance=half, clock=clock) as psa:
        yield psa


# -- Autotask ------------------------------------------------------------------------------------


def autotask_settings(server: StubServer, **overrides: object) -> AutotaskSettings:
    base_url = f"{server.url}{AT_PREFIX.removesuffix('/V1.0')}"
    return stub_settings(AutotaskSettings, base_url, AT_CREDENTIALS, overrides)


@pytest.fixture
def at_stub(server: StubServer) -> AutotaskStub:
    server.stub = stub = AutotaskStub()
    return stub


@pytest.fixture
async def autotask(
    server: StubServer, at_stub: AutotaskStub, waits: Waits, clock: Clock
) -> AsyncIterator[AutotaskPSA]:
    settings = autotask_settings(server)
    async with AutotaskPSA(settings, guard=LOOPBACK, sleep=waits, chance=half, clock=clock) as psa:
        yield psa
