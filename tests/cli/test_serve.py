"""``resolutionflow serve`` hands its settings to ``resolutionflow_api.server.run``."""

from __future__ import annotations

import importlib
import socket

import pytest

from resolutionflow_app import Settings, StartupError
from resolutionflow_cli.commands import serve
from tests.cli.conftest import Cli


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    """Replaces the server's blocking ``run`` with one that records its settings."""
    server = importlib.import_module(serve.SERVER_MODULE)
    calls: list[Settings] = []
    monkeypatch.setattr(server, "run", calls.append)
    monkeypatch.setattr(serve, "check_can_listen", lambda host, port: None)  # other servers
    return calls


def test_serve_runs_the_api_with_the_options_over_the_settings(
    cli: Cli, served: list[Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESOLUTIONFLOW_PORT", "8123")
    cli.ok("serve", "--host", "0.0.0.0", "--workers", "3")
    (settings,) = served
    assert (settings.host, settings.port, settings.workers) == ("0.0.0.0", 8123, 3)
    assert settings.database_url == cli.database_url
    cli.ok("serve", "--port", "9000")
    assert (served[1].host, served[1].port, served[1].workers) == ("127.0.0.1", 9000, 1)


def test_serve_refuses_a_port_out_of_range(cli: Cli, served: list[Settings]) -> None:
    line = cli.refused(2, "serve", "--port", "70000")
    assert "--port" in line
    assert served == []


def test_a_startup_error_is_one_line_and_exit_2(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    def cannot_start(settings: Settings) -> None:
        raise StartupError("RESOLUTIONFLOW_LLM=anthropic, but ANTHROPIC_API_KEY is not set")

    monkeypatch.setattr(importlib.import_module(serve.SERVER_MODULE), "run", cannot_start)
    line = cli.refused(2, "serve")
    assert line == (
        "resolutionflow: error: RESOLUTIONFLOW_LLM=anthropic, but ANTHROPIC_API_KEY is not set"
    )


def test_serve_without_the_api_installed_says_what_to_install(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serve, "SERVER_MODULE", "resolutionflow_api.not_there")
    line = cli.refused(2, "serve")
    assert "the HTTP API is not available" in line
    assert "resolutionflow[api]" in line


def _busy_port() -> tuple[socket.socket, int]:
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder, holder.getsockname()[1]


def test_a_busy_port_is_one_line_and_the_unavailable_code(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Settings] = []
    monkeypatch.setattr(importlib.import_module(serve.SERVER_MODULE), "run", calls.append)
    holder, port = _busy_port()
    with holder:
        line = cli.refused(4, "serve", "--host", "127.0.0.1", "--port", str(port))

    assert line.startswith(f"resolutionflow: unavailable: port {port} is in use (")
    assert "choose another with --port" in line
    assert calls == []  # refused before migrating or starting anything


def test_a_server_that_cannot_start_exits_with_the_unavailable_code(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    def uvicorn_gives_up(settings: Settings) -> None:
        raise SystemExit(3)  # what uvicorn does when it cannot bind

    monkeypatch.setattr(importlib.import_module(serve.SERVER_MODULE), "run", uvicorn_gives_up)
    monkeypatch.setattr(serve, "check_can_listen", lambda host, port: None)

    line = cli.refused(4, "serve", "--port", "8765")

    assert line == (
        "resolutionflow: unavailable: the server could not start on 127.0.0.1:8765 "
        "(see the log above)"
    )


def test_an_address_that_is_not_this_machines_is_a_usage_error(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importlib.import_module(serve.SERVER_MODULE), "run", lambda s: None)

    # 192.0.2.1 (TEST-NET-1, numeric: no name lookup) is no address of this machine.
    line = cli.refused(2, "serve", "--host", "192.0.2.1", "--port", "8765")

    assert line.startswith("resolutionflow: error: cannot listen on 192.0.2.1:8765 (")
