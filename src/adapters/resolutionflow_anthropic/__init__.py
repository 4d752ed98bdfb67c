"""The LLM port on the official anthropic SDK (being built)."""
