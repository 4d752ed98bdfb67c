"""Settings, from ``RESOLUTIONFLOW_*`` environment variables (and nothing else by default).

The defaults run the whole service on one machine with no set-up: an embedded SQLite file
in the current directory and the offline LLM (the Anthropic one once a key is configured).
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///resolutionflow.sqlite3"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RESOLUTIONFLOW_", extra="ignore")

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="sqlite:///path/file.sqlite3 (the default, in the current directory) "
        "or postgresql://user:password@host:5432/database",
    )
    llm: Literal["offline", "anthropic"] | None = Field(
        None,
        description="Which LLM answers: 'anthropic' (needs ANTHROPIC_API_KEY) or 'offline'; "
        "by default Anthropic when ANTHROPIC_API_KEY is set, else offline",
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)
    max_request_bytes: int = Field(
        1_048_576, ge=1024, description="Larger request bodies are refused with 413"
    )
    migrate_on_start: bool = Field(True, description="Apply database migrations on serve")
    secret_key: str | None = Field(
        None,
        repr=False,
        description="Fernet key sealing PSA credentials at rest (`resolutionflow secret-key` "
        "makes one), or several comma-separated, the newest first (it seals, all open; "
        "`resolutionflow secret-key rotate` re-seals with it); without it no PSA connection "
        "can be saved or used",
    )
    key_cache_seconds: float = Field(
        5.0,
        ge=0,
        le=300,
        description="How long a successful API-key check is remembered by one process; a "
        "key revoked elsewhere stops working within this time (0: check every request)",
    )
    database_timeout: float = Field(
        5.0,
        gt=0,
        le=300,
        description="Seconds the database gets to connect, to run one statement (PostgreSQL) "
        "and for a writer to get the write lock (SQLite); past it the request is a 503 "
        "`database_unavailable`",
    )
    request_timeout: float = Field(
        120.0,
        ge=0,
        le=3600,
        description="Seconds a request may take until its response starts (the assistant's "
        "answer included); past it, 503 `request_timeout` (0: no limit)",
    )
    idempotency_lease_seconds: float = Field(
        15.0,
        gt=0,
        le=3600,
        description="A request holding an Idempotency-Key renews its claim this often "
        "(a third of it); a claim not renewed for this long belongs to a request that died, "
        "and the next request with the key takes it over",
    )
    relay_in_process: bool = Field(
        True, description="Deliver due PSA notes from inside the API process"
    )

    def chosen_llm(self) -> Literal["offline", "anthropic"]:
        if self.llm is not None:
            return self.llm
        return "anthropic" if os.environ.get("ANTHROPIC_API_KEY") else "offline"
