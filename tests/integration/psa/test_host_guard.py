"""The host guard: only public https hosts, checked when the adapter is built, before each
request and when each connection opens (so a name cannot be rebound to a private address)."""

from __future__ import annotations

from collections.abc import Sequence

import httpcore
import httpx
import pytest

from resolutionflow_psa import (
    ConnectWisePSA,
    ConnectWiseSettings,
    HostGuard,
    PSAConfigurationError,
    PSAHostRefused,
)
from resolutionflow_psa.guard import _ERRORS, _httpx_errors
from tests.integration.psa.conftest import RETRY, Waits
from tests.integration.psa.stub import CLIENT_TIMEOUT, StubServer
from tests.integration.psa.stubs import ConnectWiseStub

PUBLIC = "93.184.216.34"


class Resolver:
    """A DNS that answers from a script: each name's answers in turn, the last one repeated."""

    def __init__(self, answers: dict[str, Sequence[Sequence[str]]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        script = self.answers[host]
        return list(script[min(self.asked.count(host), len(script)) - 1])


def connectwise(url: str, guard: HostGuard, **kwargs: object) -> ConnectWisePSA:
    settings = ConnectWiseSettings(
        base_url=url,
        company="acme",
        public_key="pub-key",
        private_key="priv-key",
        client_id="3c7a1f5e-client",
        timeout=CLIENT_TIMEOUT,
        retry=RETRY,
    )
    return ConnectWisePSA(settings, guard=guard, sleep=Waits(), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://na.myconnectwise.net/v4_6_release/apis/3.0", "plain http"),
        ("ftp://na.myconnectwise.net/", "only https"),
        ("https://10.0.0.5/apis/3.0", "private"),
        ("https://172.16.4.1/", "private"),
        ("https://192.168.1.10/", "private"),
        ("https://127.0.0.1/", "loopback"),
        ("https://127.8.9.10/", "loopback"),
        ("https://[::1]/", "loopback"),
        ("https://[::ffff:127.0.0.1]/", "loopback"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://[fe80::1]/", "link-local"),
        ("https://224.0.0.1/", "multicast"),
        ("https://239.255.255.250/", "multicast"),
        ("https://240.0.0.1/", "private|reserved"),
        ("https://0.0.0.0/", "unspecified"),
        ("https://100.64.0.1/", "not a public"),
        ("https://[fc00::1]/", "private"),
        ("https:///no-host", "no host|not a valid URL"),
    ],
)
def test_a_url_that_is_not_a_public_https_host_is_refused_when_the_adapter_is_built(
    url: str, reason: str
) -> None:
    with pytest.raises(PSAConfigurationError, match=reason):
        connectwise(url, HostGuard())


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("2002:7f00:1::", r"6to4 address embedding a loopback address \(127.0.0.1\)"),
        ("2002:a9fe:a9fe::", r"6to4 address embedding a link-local address \(169.254.169.254\)"),
        ("2002:a00:1::", r"6to4 address embedding a private address \(10.0.0.1\)"),
        ("2002:c0a8:101:1::5", r"6to4 address embedding a private address \(192.168.1.1\)"),
        ("64:ff9b::7f00:1", r"NAT64 address embedding a loopback address \(127.0.0.1\)"),
        ("64:ff9b::a9fe:a9fe", r"NAT64 address embedding a link-local address"),
        ("64:ff9b::ac10:1", r"NAT64 address embedding a private address \(172.16.0.1\)"),
        ("64:ff9b:1::a00:1", "local-use NAT64"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
        ("2001:0:a9fe:a9fe::1", "Teredo"),
        ("::7f00:1", r"IPv4-compatible IPv6 address \(deprecated; embeds 127.0.0.1\)"),
        ("::a9fe:a9fe", "IPv4-compatible"),
        ("::ffff:a9fe:a9fe", "link-local"),
        ("::ffff:0a00:0001", "private"),
    ],
)
def test_ipv6_transition_addresses_embedding_an_address_that_is_not_public_are_refused(
    address: str, reason: str
) -> None:
    for guard in (HostGuard(), HostGuard(allow_loopback=True)):
        with pytest.raises(PSAHostRefused, match=reason):
            guard.check_url(f"https://[{address}]/")


async def test_a_name_resolving_to_a_6to4_form_of_the_metadata_address_is_refused() -> None:
    resolver = Resolver({"psa.example.test": [["2002:a9fe:a9fe::1"]]})
    async with connectwise("https://psa.example.test/", HostGuard(resolver=resolver)) as psa:
        with pytest.raises(PSAHostRefused, match=r"6to4 .*169.254.169.254"):
            await psa.get_ticket("4711")


@pytest.mark.parametrize("address", ["2002:5db8:d822::1", "64:ff9b::5db8:d822"])
def test_transition_addresses_of_a_public_ipv4_address_are_accepted(address: str) -> None:
    assert HostGuard().check_url(f"https://[{address}]/").host == address


def test_credentials_in_the_url_are_refused() -> None:
    with pytest.raises(PSAConfigurationError, match="credentials"):
        HostGuard().check_url("https://acme+pub:priv@na.myconnectwise.net/")


@pytest.mark.parametrize(
    "url", ["https://na.myconnectwise.net/v4_6_release/apis/3.0", f"https://{PUBLIC}/"]
)
def test_a_public_https_url_is_accepted(url: str) -> None:
    assert HostGuard().check_url(url).scheme == "https"


def test_allowing_loopback_allows_plain_http_to_loopback_only() -> None:
    guard = HostGuard(allow_loopback=True)
    assert guard.check_url("http://127.0.0.1:8080/").port == 8080
    assert guard.check_url("https://[::1]:8443/").host == "::1"
    for url in ("http://10.0.0.1/", "https://10.0.0.1/", f"http://{PUBLIC}/"):
        with pytest.raises(PSAHostRefused):
            guard.check_url(url)


async def test_a_name_resolving_to_loopback_is_refused_before_any_request(
    server: StubServer,
) -> None:
    server.stub = stub = ConnectWiseStub()
    async with connectwise(f"https://localhost:{server.port}/apis/3.0", HostGuard()) as psa:
        with pytest.raises(PSAHostRefused, match="loopback"):
            await psa.get_ticket("4711")
    assert stub.requests == []


async def test_every_resolved_address_is_checked() -> None:
    resolver = Resolver({"psa.example.test": [[PUBLIC, "10.1.2.3"]]})
    async with connectwise("https://psa.example.test/", HostGuard(resolver=resolver)) as psa:
        with pytest.raises(PSAHostRefused, match=r"psa.example.test \(10.1.2.3\).*private"):
            await psa.get_ticket("4711")


async def test_a_name_rebound_to_loopback_after_the_check_is_refused_when_connecting(
    server: StubServer,
) -> None:
    server.stub = stub = ConnectWiseStub()
    resolver = Resolver({"rebind.example.test": [[PUBLIC], ["127.0.0.1"]]})
    guard = HostGuard(resolver=resolver)
    async with connectwise(f"https://rebind.example.test:{server.port}/", guard) as psa:
        with pytest.raises(PSAHostRefused, match="loopback"):
            await psa.get_ticket("4711")
    assert resolver.asked == ["rebind.example.test", "rebind.example.test"]
    assert stub.requests == []


async def test_the_connection_goes_to_the_address_that_was_checked(
    server: StubServer,
) -> None:
    server.stub = stub = ConnectWiseStub()
    resolver = Resolver({"psa.example.test": [["127.0.0.1"]]})
    guard = HostGuard(allow_loopback=True, resolver=resolver)
    url = f"http://psa.example.test:{server.port}/v4_6_release/apis/3.0"
    async with connectwise(url, guard) as psa:
        ticket = await psa.get_ticket("4711")
    assert ticket.summary == "VPN drops every ten minutes"
    assert stub.requests[0].headers["host"] == f"psa.example.test:{server.port}"


async def test_plain_http_to_a_name_that_is_not_loopback_is_refused() -> None:
    resolver = Resolver({"psa.example.test": [[PUBLIC]]})
    guard = HostGuard(allow_loopback=True, resolver=resolver)
    async with connectwise("http://psa.example.test/", guard) as psa:
        with pytest.raises(PSAHostRefused, match="plain http"):
            await psa.get_ticket("4711")


async def test_an_injected_client_is_still_guarded_before_each_request(
    server: StubServer,
) -> None:
    server.stub = stub = ConnectWiseStub()
    resolver = Resolver({"psa.example.test": [["192.168.0.7"]]})
    async with httpx.AsyncClient() as client:
        psa = connectwise(
            f"https://psa.example.test:{server.port}/", HostGuard(resolver=resolver), client=client
        )
        with pytest.raises(PSAHostRefused, match="private"):
            await psa.get_ticket("4711")
        await psa.aclose()
        assert not client.is_closed  # the caller's client stays the caller's
    assert stub.requests == []


def test_each_httpcore_error_is_raised_again_as_the_httpx_error_of_its_name() -> None:
    assert (httpcore.ReadTimeout, httpx.ReadTimeout) in _ERRORS
    for core_error, httpx_error in _ERRORS:
        assert core_error.__module__.startswith("httpcore")
        assert issubclass(httpx_error, httpx.TransportError)
        with pytest.raises(httpx.TransportError, match="boom") as raised, _httpx_errors():
            raise core_error("boom")
        assert type(raised.value) is httpx_error
        assert httpx_error.__name__ == core_error.__name__
