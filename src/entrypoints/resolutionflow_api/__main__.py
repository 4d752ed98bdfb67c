"""``python -m resolutionflow_api``: serve with the settings of the environment.

``resolutionflow serve`` is the command for people; this is the same server for scripts and
tests that have no CLI at hand.
"""

from __future__ import annotations

import sys

from pydantic import ValidationError

from resolutionflow_api.server import run
from resolutionflow_app import Settings, StartupError


def main() -> None:
    try:
        run(Settings())
    except (StartupError, ValidationError) as error:
        sys.exit(f"resolutionflow: {error}")


if __name__ == "__main__":
    main()
