"""Exit codes, and every refusal turned into one line: what was refused and why.

Domain errors are mapped here once, like the API maps them to HTTP statuses. Scripts can
rely on the codes:

====  =================================================================================
code  meaning
====  =================================================================================
0     done
1     refused: the domain said no (lifecycle, permission, wrong kind of session, a value
      it does not accept, a concurrent change)
2     usage or configuration: a bad option or argument, bad settings, a database that
      needs ``resolutionflow db upgrade``, an LLM or PSA that is not set up or refuses the
      settings (a host, credentials), a request the LLM or PSA refuses as such; an
      operator must change something, trying again as it is cannot help
3     not found: the session, API key or ticket does not exist (for this account)
4     unavailable: the database, the LLM or the PSA could not be reached or answered
      unusably; what you sent is saved where the message says; try again
130   interrupted (Ctrl-C)
====  =================================================================================
"""

from __future__ import annotations

from enum import IntEnum

from resolutionflow_core.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    Misconfigured,
    NotAllowed,
    NotFound,
    NotSetUp,
    ProviderRejected,
    Unavailable,
    UnusableAnswer,
    category_of,
)


class ExitCode(IntEnum):
    OK = 0
    REFUSED = 1
    USAGE = 2
    NOT_FOUND = 3
    UNAVAILABLE = 4
    INTERRUPTED = 130


class CliError(Exception):
    """A refusal made by the command line itself (bad input, missing key...)."""

    def __init__(self, message: str, code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


EXIT_CODE_OF_CATEGORY: dict[type[DomainError] | None, ExitCode] = {
    InvalidInput: ExitCode.REFUSED,
    NotAllowed: ExitCode.REFUSED,
    Conflict: ExitCode.REFUSED,
    NotFound: ExitCode.NOT_FOUND,
    NotSetUp: ExitCode.USAGE,
    Misconfigured: ExitCode.USAGE,
    ProviderRejected: ExitCode.USAGE,
    Unavailable: ExitCode.UNAVAILABLE,
    UnusableAnswer: ExitCode.UNAVAILABLE,
    None: ExitCode.REFUSED,
}
"""The exit code of each error category (`resolutionflow_core.errors`), decided once."""


def refusal(error: BaseException) -> tuple[ExitCode, str] | None:
    """The exit code and the one-line message for ``error``; ``None`` if it is a bug."""
    from resolutionflow_app import StartupError

    if isinstance(error, CliError):
        return error.code, one_line(error.message)
    if isinstance(error, StartupError):
        return ExitCode.USAGE, one_line(str(error))
    if isinstance(error, DomainError):
        return EXIT_CODE_OF_CATEGORY[category_of(error)], one_line(error.message)
    database_problem = _database_problem(error)
    if database_problem is not None:
        return ExitCode.UNAVAILABLE, one_line(f"database unavailable: {database_problem}")
    return None


def _database_problem(error: BaseException) -> str | None:
    """What went wrong talking to the database, or ``None`` if ``error`` is not that."""
    # Imported here: only a failing command pays for it.
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(error, OperationalError | DBAPIError):
        return str(error.orig) if error.orig is not None else type(error).__name__
    if isinstance(error, ConnectionError | TimeoutError):
        return str(error) or type(error).__name__
    if isinstance(error, OSError) and error.errno is not None:
        return error.strerror or str(error)
    return None


def one_line(text: str) -> str:
    """``text`` on a single line (messages may quote multi-line input)."""
    return " ".join(text.split()) or "refused"
