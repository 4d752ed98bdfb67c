"""The host guard: the adapters talk only to a public https host the operator configured.

A PSA connection's URL comes from an account's settings, so it must not become a way into
the network the service runs in (SSRF). The guard refuses:

- any scheme but https (plain http only with ``allow_loopback``, and only to loopback);
- user info in the URL;
- any address that is not public: private, loopback, link-local, multicast, reserved,
  unspecified, shared (CGNAT), documentation ranges, and IPv4-mapped IPv6 forms of those;
- IPv6 transition addresses that embed such an IPv4 address: 6to4 (``2002::/16``), NAT64
  (``64:ff9b::/96``); and Teredo (``2001::/32``), local-use NAT64 (``64:ff9b:1::/48``) and
  IPv4-compatible addresses (``::/96``) whatever they embed.

It checks three times: the URL when an adapter is built (scheme, literal IPs); every resolved
address before each request; and, through `GuardedTransport`, every resolved address when
a connection is opened, connecting to the very address it checked. The last check is what
defeats DNS rebinding (a name that resolves to a public address when checked and to
127.0.0.1 a moment later): the socket goes to an address that passed. Redirects are never
followed and no proxy is used (a proxy would resolve names where the guard cannot see).

``allow_loopback=True`` is for tests against a stub on 127.0.0.1: loopback addresses pass,
and so does http when every address of the host is loopback. Nothing in the settings turns
it on: only the code that builds the adapter can.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sequence,
)
from dataclasses import dataclass
from types import TracebackType
from typing import Final

import anyio
import httpcore
import httpx

from resolutionflow_psa.errors import PSAConfigurationError, PSAHostRefused, PSAUnavailable

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""Resolves a host name and port to IP address strings (tests inject their own)."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host``, in its order, without repeats."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    return addresses


@dataclass(frozen=True, slots=True)
class HostGuard:
    """Decides which URLs and addresses an adapter may reach."""

    allow_loopback: bool = False
    resolver: Resolver | None = None

    # -- configuration time ------------------------------------------------------------

    def check_url(self, url: str | httpx.URL) -> httpx.URL:
        """The URL, parsed, if its scheme and (literal) host may be used; else `PSAHostRefused`."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as error:
            raise PSAConfigurationError(f"not a valid URL: {url!r} ({error})") from None
        host = parsed.host
        if not host:
            raise PSAHostRefused(f"{_shown(parsed)}: the URL has no host")
        if parsed.userinfo:
            raise PSAConfigurationError(
                f"{_shown(parsed)}: credentials do not belong in the URL; use the settings"
            )
        if parsed.scheme == "http":
            if not self.allow_loopback:
                raise PSAHostRefused(f"{_shown(parsed)}: plain http is refused, use https")
        elif parsed.scheme != "https":
            raise PSAHostRefused(f"{_shown(parsed)}: only https URLs are allowed")
        literal = _literal(host)
        if literal is not None:
            self._check_address(literal, host=host, plain_http=parsed.scheme == "http")
        return parsed

    # -- request and connect time -------------------------------------------------------

    async def check_request(self, url: httpx.URL) -> list[str]:
        """Every address ``url``'s host resolves to, if all of them may be used."""
        checked = self.check_url(url)
        addresses = await self._resolve(checked.host, _port(checked))
        for address in addresses:
            self._check_address(address, host=checked.host, plain_http=checked.scheme == "http")
        return addresses

    async def allowed_addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for ``host`` (all checked); `PSAHostRefused` if any fails."""
        addresses = await self._resolve(host, port)
        for address in addresses:
            self._check_address(address, host=host, plain_http=False)
        return addresses

    def client(
        self, *, timeout: float, ssl_context: ssl.SSLContext | None = None
    ) -> httpx.AsyncClient:
        """An `httpx.AsyncClient` whose connections go only to addresses this guard allows."""
        return httpx.AsyncClient(
            transport=GuardedTransport(self, ssl_context=ssl_context),
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
        )

    # -- internals ------------------------------------------------------------------------

    async def _resolve(self, host: str, port: int) -> list[str]:
        literal = _literal(host)
        if literal is not None:
            return [str(literal)]
        resolve = self.resolver or system_resolver
        try:
            addresses = list(await resolve(host, port))
        except OSError as error:
            raise PSAUnavailable(f"could not resolve {host}: {error}") from None
        if not addresses:
            raise PSAHostRefused(f"{host} resolves to no address")
        return addresses

    def _check_address(self, address: str | IPAddress, *, host: str, plain_http: bool) -> None:
        ip = address if not isinstance(address, str) else _parse(address, host)
        reason = _refusal(ip, allow_loopback=self.allow_loopback)
        if reason is None and plain_http and not _unwrap(ip).is_loopback:
            reason = "plain http is allowed only to loopback"
        if reason is not None:
            shown = host if host == str(ip) else f"{host} ({ip})"
            raise PSAHostRefused(f"refusing to connect to {shown}: {reason}")


_TEREDO: Final = ipaddress.IPv6Network("2001::/32")
_SIX_TO_FOUR: Final = ipaddress.IPv6Network("2002::/16")
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL: Final = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV4_COMPATIBLE: Final = ipaddress.IPv6Network("::/96")


def _refusal(ip: IPAddress, *, allow_loopback: bool) -> str | None:
    """Why ``ip`` may not be reached, or None if it may."""
    ip = _unwrap(ip)
    if isinstance(ip, ipaddress.IPv6Address):
        transition = _transition_refusal(ip)
        if transition is not None:
            return transition or None
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "not a public address"
    return None


def _transition_refusal(ip: ipaddress.IPv6Address) -> str | None:
    """For an IPv6 transition address (6to4, Teredo, NAT64, IPv4-compatible), why it is
    refused, or ``""`` if it may be reached; None for any other address.

    These forms carry an IPv4 address that a relay or gateway on the way turns back into
    IPv4 traffic, so ``[2002:7f00:1::]`` can reach 127.0.0.1 and ``[64:ff9b::a9fe:a9fe]``
    the metadata service. Python's ``ipaddress`` calls some of them global, so the embedded
    address is checked here, and loopback is never allowed through them (not even in tests).
    """
    if ip in _TEREDO:
        # The client address is obfuscated and the traffic tunnelled over UDP: nothing a PSA
        # is served from, and nothing the guard can check.
        client = ip.teredo[1] if ip.teredo else None
        return f"a Teredo address (tunnelling to {client})" if client else "a Teredo address"
    if ip in _NAT64_LOCAL:
        return "a local-use NAT64 address (64:ff9b:1::/48)"
    if ip in _SIX_TO_FOUR or ip in _NAT64:
        form = "6to4" if ip in _SIX_TO_FOUR else "NAT64"
        embedded = ip.sixtofour or ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        reason = _refusal(embedded, allow_loopback=False)
        if reason is not None:
            return f"a {form} address embedding {reason} ({embedded})"
        # NAT64 of a public IPv4 (DNS64 on an IPv6-only host) is as public as that IPv4;
        # a 6to4 address goes on to the ordinary checks of the IPv6 address itself.
        return "" if form == "NAT64" else None
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:
        embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        return f"an IPv4-compatible IPv6 address (deprecated; embeds {embedded})"
    return None


def _unwrap(ip: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped IPv6 one (``::ffff:127.0.0.1``)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _parse(address: str, host: str) -> IPAddress:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        raise PSAHostRefused(f"{host} resolves to {address!r}, not an IP address") from None


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def _shown(url: httpx.URL) -> str:
    """The URL without user info or query, for messages."""
    return f"{url.scheme}://{url.host}{f':{url.port}' if url.port else ''}"


# -- the transport that checks at connect time ----------------------------------------------


class _GuardedNetwork(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to addresses the guard allowed, by address (so a second
    resolution can never swap in another one). TLS still verifies the host name: httpcore
    takes the SNI and certificate name from the request's URL, not from the socket."""

    def __init__(self, guard: HostGuard) -> None:
        self._guard = guard
        self._network = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[_SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self._guard.allowed_addresses(host, port)
        except PSAUnavailable as error:
            raise httpcore.ConnectError(str(error)) from None
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._network.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None  # `allowed_addresses` never returns an empty list
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[_SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise PSAHostRefused("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._network.sleep(seconds)


_SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


class GuardedTransport(httpx.AsyncBaseTransport):
    """httpx's connection pool over `_GuardedNetwork`: no proxies, no unix sockets."""

    def __init__(self, guard: HostGuard, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
            max_connections=20,
            max_keepalive_connections=10,
            keepalive_expiry=30.0,
            network_backend=_GuardedNetwork(guard),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, httpx.AsyncByteStream):  # pragma: no cover
            raise TypeError("GuardedTransport needs an async request body")
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = await self._pool.handle_async_request(core_request)
        if not isinstance(response.stream, AsyncIterable):  # pragma: no cover
            raise TypeError("httpcore answered with a sync stream")
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.aclose()


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            with _httpx_errors():
                await close()


# httpcore's errors → httpx's of the same name, most specific first (as httpx's own
# transport maps them).
_ERROR_NAMES: Final = (
    "ConnectTimeout",
    "ReadTimeout",
    "WriteTimeout",
    "PoolTimeout",
    "TimeoutException",
    "ConnectError",
    "ReadError",
    "WriteError",
    "NetworkError",
    "UnsupportedProtocol",
    "LocalProtocolError",
    "RemoteProtocolError",
    "ProtocolError",
)
_ERRORS: Final[tuple[tuple[type[Exception], type[httpx.TransportError]], ...]] = tuple(
    (getattr(httpcore, name), getattr(httpx, name)) for name in _ERROR_NAMES
)


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as error:
        for core_error, httpx_error in _ERRORS:
            if isinstance(error, core_error):
                raise httpx_error(str(error)) from error
        raise
