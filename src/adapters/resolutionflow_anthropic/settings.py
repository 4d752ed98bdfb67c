"""Settings of the Anthropic LLM: model, limits and retry policy, read from the environment."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, TypeVar

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

T = TypeVar("T")


class AnthropicConfigurationError(ValueError):
    """The Anthropic LLM cannot start with these settings; the message says what to set."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AnthropicSettings:
    """What the Anthropic LLM needs; `from_env` reads it from ``ANTHROPIC_API_KEY`` and
    ``RESOLUTIONFLOW_ANTHROPIC_*``."""

    api_key: str = field(repr=False)
    model: str = DEFAULT_MODEL
    max_tokens: int = DEFAULT_MAX_TOKENS
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    max_retry_wait: float = DEFAULT_MAX_RETRY_WAIT
    stream_retry_delay: float = DEFAULT_STREAM_RETRY_DELAY
    structured_output: StructuredOutput = "json_schema"
    effort: Effort | None = None
    """``output_config.effort``; None leaves the model's default."""
    base_url: str | None = None
    """None: the SDK's default (``ANTHROPIC_BASE_URL`` or the public API)."""

    def __post_init__(self) -> None:
        if not isinstance(self.api_key, str) or not self.api_key.strip():
            raise AnthropicConfigurationError(
                f"the Anthropic LLM needs an API key: set {ENV_API_KEY} "
                "(or RESOLUTIONFLOW_LLM=offline to use the offline assistant)"
            )
        if not self.model.strip():
            raise AnthropicConfigurationError(f"{ENV_PREFIX}MODEL must name a Claude model")
        _require(self.max_tokens >= 1, "MAX_TOKENS", "a whole number of at least 1")
        _require(_positive(self.timeout), "TIMEOUT", "a number of seconds above 0")
        _require(self.max_retries >= 0, "MAX_RETRIES", "a whole number of at least 0")
        _require(_at_least_zero(self.max_retry_wait), "MAX_RETRY_WAIT", "a number of seconds")
        _require(
            _at_least_zero(self.stream_retry_delay), "STREAM_RETRY_DELAY", "a number of seconds"
        )
        _require(
            self.structured_output in _STRUCTURED_OUTPUTS,
            "STRUCTURED_OUTPUT",
            "json_schema or tool",
        )
        _require(
            self.effort is None or self.effort in _EFFORTS,
            "EFFORT",
            "one of " + ", ".join(_EFFORTS),
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AnthropicSettings:
        """The settings from ``environ`` (default: the process environment).

        Unset variables take the defaults; a missing key or a malformed value raises
        `AnthropicConfigurationError` naming the variable.
        """
        env = os.environ if environ is None else environ

        def read(name: str, parse: Callable[[str], T], default: T) -> T:
            raw = env.get(ENV_PREFIX + name, "").strip()
            if not raw:
                return default
            try:
                return parse(raw)
            except ValueError:
                raise AnthropicConfigurationError(
                    f"{ENV_PREFIX}{name}={raw!r} is not valid"
                ) from None

        return cls(
            api_key=env.get(ENV_API_KEY, "").strip(),
            model=read("MODEL", str, DEFAULT_MODEL),
            max_tokens=read("MAX_TOKENS", int, DEFAULT_MAX_TOKENS),
            timeout=read("TIMEOUT", float, DEFAULT_TIMEOUT),
            max_retries=read("MAX_RETRIES", int, DEFAULT_MAX_RETRIES),
            max_retry_wait=read("MAX_RETRY_WAIT", float, DEFAULT_MAX_RETRY_WAIT),
            stream_retry_delay=read("STREAM_RETRY_DELAY", float, DEFAULT_STREAM_RETRY_DELAY),
            structured_output=read("STRUCTURED_OUTPUT", _structured_output, "json_schema"),
            effort=read("EFFORT", _effort, None),
            base_url=read("BASE_URL", str, None),
        )


_STRUCTURED_OUTPUTS: Final[dict[str, StructuredOutput]] = {
    "json_schema": "json_schema",
    "tool": "tool",
}
_EFFORTS: Final[dict[str, Effort]] = {
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
    "max": "max",
}


def _structured_output(raw: str) -> StructuredOutput:
    if raw not in _STRUCTURED_OUTPUTS:
        raise ValueError(raw)
    return _STRUCTURED_OUTPUTS[raw]


def _effort(raw: str) -> Effort:
    if raw not in _EFFORTS:
        raise ValueError(raw)
    return _EFFORTS[raw]


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def _at_least_zero(value: float) -> bool:
    return math.isfinite(value) and value >= 0


def _require(ok: bool, name: str, expected: str) -> None:
    if not ok:
        raise AnthropicConfigurationError(f"{ENV_PREFIX}{name} must be {expected}")
