"""``resolutionflow serve`` hands its settings to ``resolutionflow_api.server.run``."""

from __future__ import annotations

import importlib

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
