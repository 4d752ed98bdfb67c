"""The `resolutionflow` command (being built)."""

from __future__ import annotations


def main() -> None:
    raise SystemExit("resolutionflow: the command line is being built")
