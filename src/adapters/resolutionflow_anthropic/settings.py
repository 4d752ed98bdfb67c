"""Settings of the Anthropic LLM: model, limits and retry policy, read from the environment
with pydantic-settings (``ANTHROPIC_API_KEY`` and ``RESOLUTIONFLOW_ANTHROPIC_*``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar, Final, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from resolutionflow_core.errors import Misconfigured

DEFAULT_MODEL: Final = "claude-sonnet-5-5"
"""The current Claude Sonnet."""

DEFAULT_MAX_TOKENS: Final = 8_192
"""Room for a long chat reply, and for the thinking the model does before it."""

DEFAULT_TIMEOUT: Final = 120.0
"""Seconds one attempt may take (for a stream: the longest pause between two events)."""

DEFAULT_MAX_RETRIES: Final = 2
"""Retries of 408/409/429/5xx/529 answers and connection errors, by the SDK, with backoff."""

DEFAULT_MAX_RETRY_WAIT: Final = 20.0
"""The longest ``retry-after`` waited for; a longer one fails at once, saying how long."""

DEFAULT_STREAM_RETRY_DELAY: Final = 1.0
"""Seconds before the one retry of a stream that failed before its first text."""

StructuredOutput = Literal["json_schema", "tool"]
"""How structured answers are asked for: JSON outputs (``output_config.format``) or a
forced tool call (``tool_choice``), which Claude Sonnet 5.5 and thinking models refuse."""

Effort = Literal["low", "medium", "high", "xhigh", "max"]

ENV_API_KEY: Final = "ANTHROPIC_API_KEY"
ENV_PREFIX: Final = "RESOLUTIONFLOW_ANTHROPIC_"

_NO_KEY: Final = (
    f"the Anthropic LLM needs an API key: set {ENV_API_KEY} "
    "(or RESOLUTIONFLOW_LLM=offline to use the offline assistant)"
)
_EXPECTED: Final[Mapping[str, str]] = {
    "model": "the name of a Claude model",
    "max_tokens": "a whole number of at least 1",
    "timeout": "a number of seconds above 0",
    "max_retries": "a whole number of at least 0",
    "max_retry_wait": "a number of seconds",
    "stream_retry_delay": "a number of seconds",
    "structured_output": "json_schema or tool",
    "effort": "one of low, medium, high, xhigh, max",
    "base_url": "a URL",
}
"""What each setting must be, said in the error that names its variable."""


class AnthropicConfigurationError(Misconfigured, ValueError):
    """The Anthropic LLM cannot start with these settings; the message says what to set."""


class AnthropicSettings(BaseSettings):
    """What the Anthropic LLM needs: ``ANTHROPIC_API_KEY`` and ``RESOLUTIONFLOW_ANTHROPIC_*``
    (``MODEL``, ``MAX_TOKENS``, ``TIMEOUT``...); keyword arguments win over the environment.

    `from_env` turns a validation error into `AnthropicConfigurationError` naming the
    variable; built directly, the settings raise pydantic's `ValidationError`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
        populate_by_name=True,
        str_strip_whitespace=True,
    )

    api_key: str = Field(
        repr=False, validation_alias=AliasChoices("api_key", ENV_API_KEY), min_length=1
    )
    model: str = Field(DEFAULT_MODEL, min_length=1)
    max_tokens: int = Field(DEFAULT_MAX_TOKENS, ge=1)
    timeout: float = Field(DEFAULT_TIMEOUT, gt=0, allow_inf_nan=False)
    max_retries: int = Field(DEFAULT_MAX_RETRIES, ge=0)
    max_retry_wait: float = Field(DEFAULT_MAX_RETRY_WAIT, ge=0, allow_inf_nan=False)
    stream_retry_delay: float = Field(DEFAULT_STREAM_RETRY_DELAY, ge=0, allow_inf_nan=False)
    structured_output: StructuredOutput = "json_schema"
    effort: Effort | None = None
    """``output_config.effort``; None leaves the model's default."""
    base_url: str | None = Field(None, min_length=1)
    """None: the SDK's default (``ANTHROPIC_BASE_URL`` or the public API)."""

    @field_validator("api_key", mode="before")
    @classmethod
    def _key_is_text(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    _environ: ClassVar[Mapping[str, str] | None] = None
    """The mapping read instead of the process environment (see `from_env`)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments, then the environment: no ``.env`` file, no secrets directory."""
        if cls._environ is not None:
            env_settings = _MappingSource(settings_cls, cls._environ)
        return init_settings, env_settings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AnthropicSettings:
        """The settings from ``environ`` (default: the process environment).

        Unset or blank variables take the defaults; a missing key or a malformed value
        raises `AnthropicConfigurationError` naming the variable.
        """
        try:
            return _from_mapping(os.environ if environ is None else environ)
        except ValidationError as error:
            raise AnthropicConfigurationError(_explained(error)) from None


class _MappingSource(EnvSettingsSource):
    """The environment source reading a given mapping (blank values left out)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._given = {key.lower(): value for key, value in environ.items() if value.strip()}
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return self._given


def _from_mapping(environ: Mapping[str, str]) -> AnthropicSettings:
    """The settings read from ``environ`` alone (the process environment is not looked at)."""
    reading = type("AnthropicSettingsFromMapping", (AnthropicSettings,), {"_environ": environ})
    read = reading()
    return AnthropicSettings.model_construct(**read.model_dump())


def _explained(error: ValidationError) -> str:
    """The first problem, naming the environment variable and what it must be."""
    problem = error.errors()[0]
    name = str(problem["loc"][0]) if problem["loc"] else ""
    if name in ("api_key", ENV_API_KEY):
        return _NO_KEY
    expected = _EXPECTED.get(name, "valid")
    return f"{ENV_PREFIX}{name.upper()} must be {expected} (got {problem.get('input')!r})"
