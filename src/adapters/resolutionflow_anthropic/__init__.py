"""The LLM port on Claude, through the official anthropic SDK.

Build it with ``AnthropicLLM.from_settings(AnthropicSettings.from_env())``; asking for it
without ``ANTHROPIC_API_KEY`` raises `AnthropicConfigurationError`, saying what to set.
See ``docs/llm.md`` for the settings, the prompts and what each API failure becomes.
"""

from resolutionflow_anthropic.errors import LLMRequestRejected
from resolutionflow_anthropic.llm import AnthropicLLM
from resolutionflow_anthropic.settings import (
    DEFAULT_MODEL,
    AnthropicConfigurationError,
    AnthropicSettings,
)
from resolutionflow_anthropic.system_prompts import PromptName, SystemPrompt

__all__ = [
    "DEFAULT_MODEL",
    "AnthropicConfigurationError",
    "AnthropicLLM",
    "AnthropicSettings",
    "LLMRequestRejected",
    "PromptName",
    "SystemPrompt",
]
